//! What the writer keeps of what a client chooses, so that it stays bounded: a path to
//! [`MAX_PATH_BYTES`] (cut at a character boundary, ending in [`TRUNCATED`]), a method of the
//! application's own to [`MAX_METHOD_BYTES`]; and [`OTHER_PATH`], recorded in place of the paths
//! of requests that name no known token (the requests anyone can make) once the writer keeps
//! no more of them until its next write of the log.

use std::borrow::Cow;

/// The longest path kept whole, in bytes; a longer one is cut and ends with [`TRUNCATED`].
pub(super) const MAX_PATH_BYTES: usize = 256;

/// The longest method name kept (a method of the application's own), in bytes.
pub(super) const MAX_METHOD_BYTES: usize = 32;

/// The end of a path or method that was cut.
pub(super) const TRUNCATED: &str = "…";

/// The path recorded for a request that names no known token once the writer keeps no more
/// of their paths until its next write.
pub(super) const OTHER_PATH: &str = "<other>";

/// The part of `text` kept when it is longer than `max` bytes (cut at a character boundary,
/// room left for [`TRUNCATED`]); `None` when it is kept whole.
fn cut(text: &str, max: usize) -> Option<&str> {
    if text.len() <= max {
        return None;
    }
    let mut end = max - TRUNCATED.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Some(&text[..end])
}

/// `text` as the writer keeps it: whole, or cut to `max` bytes ending with [`TRUNCATED`].
pub(super) fn kept(text: &str, max: usize) -> Cow<'_, str> {
    match cut(text, max) {
        None => Cow::Borrowed(text),
        Some(prefix) => Cow::Owned(format!("{prefix}{TRUNCATED}")),
    }
}

/// Whether `text` is kept as `kept`.
pub(super) fn is_kept_as(kept: &str, text: &str, max: usize) -> bool {
    match cut(text, max) {
        None => kept == text,
        Some(prefix) => kept.len() == prefix.len() + TRUNCATED.len() && kept.starts_with(prefix),
    }
}
