//! The SQL store's [`TokenManager`]: each operation one statement or one transaction (with
//! its audit events, when the store records them), its event emitted after the commit.

use std::time::{Duration, SystemTime};

use tower_bearer::grant::MintRules;
use tower_bearer::manage::{LifecycleEvent, Page, PageCursor, Revocation, TokenQuery};
use tower_bearer::{Clock, IssuedToken, ManageError, NewToken, StoreError, TokenId, TokenInfo, TokenManager};

use crate::micros::micros;
use crate::revocations::RevocationRow;
use crate::row::{LifecycleAudit, PageQuery, Rotated, Rotation, TokenRow, is_unique_violation, store_error};
use crate::store::{Inner, SqlTokenStore};

/// A collision of 256 random bits does not happen; a unique violation that repeats is a bug
/// somewhere else, and is reported instead of retried forever.
const INSERT_ATTEMPTS: usize = 4;

impl Inner {
    /// How a change at `at` is audited in its own transaction (by the event `event_of` makes
    /// of the row it changed, the same the lifecycle hook hears after the commit), or `None`
    /// when the store does not record lifecycle events.
    fn audit<'a>(
        &self,
        at: SystemTime,
        event_of: &'a (dyn Fn(&TokenRow) -> LifecycleEvent + Sync),
    ) -> Option<LifecycleAudit<'a>> {
        self.audit_lifecycle.then_some(LifecycleAudit { event_of, at })
    }
}

/// What an expiry purge says of `row`: a revoked token's purge is not an event (its
/// revocation was).
fn purged(row: &TokenRow) -> Option<TokenInfo> {
    row.revoked_at.is_none().then(|| row.info())
}

impl TokenManager for SqlTokenStore {
    fn rules(&self) -> &MintRules {
        &self.inner.rules
    }

    fn clock(&self) -> Clock {
        self.inner.clock.clone()
    }

    async fn issue(&self, new: NewToken) -> Result<IssuedToken, ManageError> {
        let inner = &*self.inner;
        let new = new.issued_at(inner.clock.now());
        new.validate()?;
        for _ in 0..INSERT_ATTEMPTS {
            let secret = inner.format.generate();
            let now = inner.clock.now();
            let row = TokenRow::new(&TokenId::random(), &new, secret.hint(), micros(now));
            let issued = |row: &TokenRow| LifecycleEvent::Issued(row.info());
            let inserted = inner.db.insert(secret.hash().as_bytes(), &row, inner.audit(now, &issued)).await;
            match inserted {
                Ok(()) => {
                    inner.events.emit(&issued(&row));
                    return Ok(IssuedToken::new(secret, row.info()));
                }
                Err(e) if is_unique_violation(&e) => {}
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(ManageError::Store(StoreError::unavailable("token digest or id collided repeatedly")))
    }

    async fn list(&self, subject: &str) -> Result<Vec<TokenInfo>, ManageError> {
        let rows = self.inner.db.list(subject).await.map_err(store_error)?;
        Ok(rows.iter().map(TokenRow::info).collect())
    }

    async fn list_page(&self, query: &TokenQuery) -> Result<Page<TokenInfo>, ManageError> {
        let size = query.page_size();
        let page = PageQuery {
            subject: query.subject.as_deref(),
            organization: query.organization.sql_params(),
            after: query.after.as_ref().map(|c| (c.created_us(), c.id().as_str())),
            limit: i64::try_from(size + 1).unwrap_or(i64::MAX),
        };
        let rows = self.inner.db.page(&page).await.map_err(store_error)?;
        Ok(Page::from_one_extra(rows.iter().map(TokenRow::info).collect(), size, PageCursor::of))
    }

    async fn get(&self, id: &TokenId) -> Result<Option<TokenInfo>, ManageError> {
        let row = self.inner.db.get(id.as_str()).await.map_err(store_error)?;
        Ok(row.as_ref().map(TokenRow::info))
    }

    async fn revoke(&self, id: &TokenId) -> Result<bool, ManageError> {
        let now = self.inner.clock.now();
        let revoked = |row: &TokenRow| LifecycleEvent::Revoked(row.info());
        let audit = self.inner.audit(now, &revoked);
        let row = self.inner.db.revoke(id.as_str(), micros(now), audit).await.map_err(store_error)?;
        Ok(row.map(|row| self.inner.events.emit(&revoked(&row))).is_some())
    }

    async fn rotate_until(
        &self,
        id: &TokenId,
        grace: Duration,
        not_after: Option<SystemTime>,
    ) -> Result<IssuedToken, ManageError> {
        let inner = &*self.inner;
        for _ in 0..INSERT_ATTEMPTS {
            let now = inner.clock.now();
            // Checked before anything changes: a failed rotation leaves the store as it was.
            let until = now.checked_add(grace).ok_or(ManageError::OutOfRange("grace"))?;
            let grace_until = (!grace.is_zero()).then(|| micros(until));
            let secret = inner.format.generate();
            let new_id = TokenId::random();
            let new_hash = secret.hash();
            let rotation = Rotation {
                now: micros(now),
                grace_until,
                not_after: not_after.map(micros),
                new_hash: new_hash.as_bytes(),
                new_id: &new_id,
                hint: secret.hint(),
            };
            let replaced =
                |new: &TokenRow| LifecycleEvent::Rotated { old: id.clone(), new: new.info(), grace };
            let rotated = inner.db.rotate(id.as_str(), rotation, inner.audit(now, &replaced)).await;
            match rotated.map_err(store_error)? {
                Rotated::NotFound => return Err(ManageError::NotFound(id.clone())),
                Rotated::Conflict => {}
                Rotated::Done(new) => {
                    inner.events.emit(&replaced(&new));
                    return Ok(IssuedToken::new(secret, new.info()));
                }
            }
        }
        Err(ManageError::Store(StoreError::unavailable("token digest or id collided repeatedly")))
    }

    async fn delete(&self, id: &TokenId) -> Result<bool, ManageError> {
        let now = self.inner.clock.now();
        let deleted = |row: &TokenRow| LifecycleEvent::Deleted(row.info());
        let audit = self.inner.audit(now, &deleted);
        let row = self.inner.db.delete(id.as_str(), micros(now), audit).await.map_err(store_error)?;
        Ok(row.map(|row| self.inner.events.emit(&deleted(&row))).is_some())
    }

    async fn purge_expired(&self) -> Result<usize, ManageError> {
        let now = self.inner.clock.now();
        let one = |row: &TokenRow| LifecycleEvent::ExpiredPurged(purged(row).into_iter().collect());
        let audit = self.inner.audit(now, &one);
        let rows = self.inner.db.purge_expired(micros(now), audit).await.map_err(store_error)?;
        let purged: Vec<TokenInfo> = rows.iter().filter_map(purged).collect();
        let count = purged.len();
        if count > 0 {
            self.inner.events.emit(&LifecycleEvent::ExpiredPurged(purged));
        }
        Ok(count)
    }

    async fn record_usage(&self, id: &TokenId, at: SystemTime) -> Result<(), ManageError> {
        self.inner.db.record_usage(id.as_str(), micros(at)).await.map_err(store_error)
    }

    async fn revocations(&self) -> Result<Vec<Revocation>, ManageError> {
        let now = micros(self.inner.clock.now());
        let rows = self.inner.db.revocations(now).await.map_err(store_error)?;
        Ok(rows.iter().map(RevocationRow::revocation).collect())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use tower_bearer::{PresentedToken, TokenStore};

    use super::*;
    use crate::tests::assert_send;

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn every_operation_can_be_spawned() {
        let store = SqlTokenStore::open("sqlite::memory:").await.unwrap();
        let id = TokenId::from("tid_x");
        assert_send(&store.issue(NewToken::for_subject("s")));
        assert_send(&store.list("s"));
        assert_send(&store.get(&id));
        assert_send(&store.revoke(&id));
        assert_send(&store.rotate(&id, Duration::ZERO));
        assert_send(&store.delete(&id));
        assert_send(&store.purge_expired());
        assert_send(&store.record_usage(&id, SystemTime::now()));
        assert_send(&store.migrate());
        assert_send(&store.lookup(&PresentedToken::new("t")));
    }
}
