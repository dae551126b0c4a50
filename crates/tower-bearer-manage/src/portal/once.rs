//! [`OneTime`]: values kept in memory for one user, for a limited time, handed out once: a new
//! token's secret until its owner sees it, a notice until the next page shows it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use tower_bearer::TokenId;

use super::user::PortalUser;

struct Entry<V> {
    owner: PortalUser,
    until: SystemTime,
    value: V,
}

/// Values by token id, each for one user until a deadline. Expired entries are dropped on
/// every access, so the map holds only what is still waiting to be shown.
pub(crate) struct OneTime<V> {
    entries: Mutex<HashMap<TokenId, Entry<V>>>,
}

impl<V> OneTime<V> {
    pub(crate) fn new() -> Self {
        OneTime { entries: Mutex::new(HashMap::new()) }
    }

    /// Keeps `value` for `owner` until `until` (replacing what `key` had).
    pub(crate) fn put(&self, key: TokenId, owner: &PortalUser, value: V, until: SystemTime, now: SystemTime) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|_, e| e.until > now);
        entries.insert(key, Entry { owner: owner.clone(), until, value });
    }

    /// Takes out what `key` holds for `owner`, if its time has not passed. Another user's
    /// attempt leaves the value for its owner.
    pub(crate) fn take(&self, key: &TokenId, owner: &PortalUser, now: SystemTime) -> Option<V> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|_, e| e.until > now);
        if entries.get(key)?.owner.is(owner) { entries.remove(key).map(|e| e.value) } else { None }
    }

    /// How many values are waiting.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn a_value_is_taken_once_by_its_owner_before_its_deadline() {
        let ada = PortalUser::new("ada", "Ada");
        let eve = PortalUser::new("eve", "Eve");
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let later = now + Duration::from_secs(300);
        let once = OneTime::new();
        let id = TokenId::from("tid_1");
        once.put(id.clone(), &ada, "secret", later, now);
        assert_eq!(once.take(&id, &eve, now), None);
        assert_eq!(once.take(&id, &PortalUser::new("ada", "Ada").organization("acme"), now), None);
        assert_eq!(once.take(&id, &ada, now), Some("secret"));
        assert_eq!(once.take(&id, &ada, now), None);

        once.put(id.clone(), &ada, "again", later, now);
        assert_eq!(once.take(&id, &ada, later), None, "gone when the time has passed");
        assert_eq!(once.len(), 0);
    }

    #[test]
    fn expired_values_are_swept_when_others_are_put() {
        let ada = PortalUser::new("ada", "Ada");
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let once = OneTime::new();
        for i in 0..10 {
            once.put(TokenId::from(format!("tid_{i}")), &ada, i, now + Duration::from_secs(1), now);
        }
        once.put(
            TokenId::from("tid_new"),
            &ada,
            99,
            now + Duration::from_secs(60),
            now + Duration::from_secs(2),
        );
        assert_eq!(once.len(), 1);
    }
}
