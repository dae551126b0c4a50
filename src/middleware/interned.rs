//! Process-lifetime copies of the texts rejections are built from.

use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};

/// `text` for the life of the process, one copy per distinct text.
///
/// Prebuilt challenges and bodies are static bytes so that copying one into a response copies a
/// pointer: shared `Bytes` would cost an atomic increment and decrement per rejection, on a
/// reference count every core contends for during a flood of bad tokens. The set grows with
/// distinct layer configurations (realm, error format, scope requirement), never with requests.
pub(super) fn intern(text: String) -> &'static str {
    static TEXTS: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut texts = TEXTS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(&known) = texts.get(text.as_str()) {
        return known;
    }
    let leaked: &'static str = Box::leak(text.into_boxed_str());
    texts.insert(leaked);
    leaked
}
