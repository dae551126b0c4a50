//! Layer policies by number, so that a response future can find its layer's policy when a
//! handler refuses a request, without holding (and counting) a reference on every request.

use std::sync::{Arc, Mutex, PoisonError, Weak};

use super::policy::Policy;

/// Every live policy, by number; numbers of dropped policies are reused.
static POLICIES: Mutex<Slots> = Mutex::new(Slots { entries: Vec::new(), free: Vec::new() });

struct Slots {
    entries: Vec<Weak<Policy>>,
    free: Vec<u32>,
}

fn slots() -> std::sync::MutexGuard<'static, Slots> {
    // Each step leaves the table consistent: a panic cannot leave it half-changed.
    POLICIES.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Numbers `policy` (once per layer configuration, at start-up).
pub(crate) fn register(policy: Weak<Policy>) -> u32 {
    let mut slots = slots();
    match slots.free.pop() {
        Some(id) => {
            slots.entries[id as usize] = policy;
            id
        }
        None => {
            slots.entries.push(policy);
            u32::try_from(slots.entries.len() - 1).unwrap_or(u32::MAX)
        }
    }
}

/// Frees the number of a policy being dropped.
pub(crate) fn unregister(id: u32) {
    let mut slots = slots();
    if let Some(entry) = slots.entries.get_mut(id as usize) {
        *entry = Weak::new();
        slots.free.push(id);
    }
}

/// The policy numbered `id`, if it is still alive (cold: a handler refused a request).
pub(crate) fn lookup(id: u32) -> Option<Arc<Policy>> {
    slots().entries.get(id as usize)?.upgrade()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::policy::Config;

    #[test]
    fn a_policy_is_found_while_alive_and_its_number_reused_after() {
        let policy = Policy::new(Config::default());
        let (id, weak) = (policy.id, Arc::downgrade(&policy));
        assert!(lookup(id).is_some_and(|found| Arc::ptr_eq(&found, &policy)));
        drop(policy);
        // Another test may have taken the number since: it must not find the dropped policy.
        assert!(!lookup(id).is_some_and(|found| Weak::ptr_eq(&Arc::downgrade(&found), &weak)));
        let next = Policy::new(Config::default());
        assert!(lookup(next.id).is_some_and(|found| Arc::ptr_eq(&found, &next)));
    }
}
