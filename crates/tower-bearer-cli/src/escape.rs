//! Text from the database made safe for a terminal: control and invisible characters escaped,
//! so a token name cannot move the cursor or hide what follows it.

use std::borrow::Cow;

/// Whether `c` would reach a terminal as something other than itself: control characters,
/// and what Rust's `Debug` escapes (invisible formatting, unassigned code points).
pub(crate) fn needs_escape(c: char) -> bool {
    c.is_control() || (!matches!(c, '"' | '\'' | '\\') && c.escape_debug().nth(1).is_some())
}

/// `text` with control and invisible characters escaped (`\n`, `\u{1b}`), as Rust writes them.
pub(crate) fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}
