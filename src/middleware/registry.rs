//! A table of live values by number, so that a response future can find its layer's policy
//! when a handler refuses a request, without holding (and counting) a reference on every
//! request.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

/// Live values by number; the numbers of dropped values are reused.
pub(crate) struct Registry<T> {
    slots: Mutex<Slots<T>>,
}

struct Slots<T> {
    entries: Vec<Weak<T>>,
    free: Vec<u32>,
}

impl<T> Registry<T> {
    /// An empty table, usable as a `static`.
    pub(crate) const fn new() -> Self {
        Registry { slots: Mutex::new(Slots { entries: Vec::new(), free: Vec::new() }) }
    }

    fn slots(&self) -> MutexGuard<'_, Slots<T>> {
        // Each step leaves the table consistent: a panic cannot leave it half-changed.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Numbers `value` (once per layer configuration, at start-up).
    pub(crate) fn register(&self, value: Weak<T>) -> u32 {
        let mut slots = self.slots();
        match slots.free.pop() {
            Some(id) => {
                slots.entries[id as usize] = value;
                id
            }
            None => {
                slots.entries.push(value);
                u32::try_from(slots.entries.len() - 1).unwrap_or(u32::MAX)
            }
        }
    }

    /// Frees the number of a value being dropped.
    pub(crate) fn unregister(&self, id: u32) {
        let mut slots = self.slots();
        if let Some(entry) = slots.entries.get_mut(id as usize) {
            *entry = Weak::new();
            slots.free.push(id);
        }
    }

    /// The value numbered `id`, if it is still alive (cold: a handler refused a request).
    pub(crate) fn lookup(&self, id: u32) -> Option<Arc<T>> {
        self.slots().entries.get(id as usize)?.upgrade()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_found_while_alive_and_its_number_reused_after() {
        let registry = Registry::new();
        let first = Arc::new("first");
        let id = registry.register(Arc::downgrade(&first));
        assert!(registry.lookup(id).is_some_and(|found| Arc::ptr_eq(&found, &first)));
        drop(first);
        assert!(registry.lookup(id).is_none());
        registry.unregister(id);
        let second = Arc::new("second");
        assert_eq!(registry.register(Arc::downgrade(&second)), id);
        assert!(registry.lookup(id).is_some_and(|found| Arc::ptr_eq(&found, &second)));
        assert!(registry.lookup(id + 1).is_none());
    }
}
