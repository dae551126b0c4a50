//! The store's statements run on either database: [`SqlDb`]'s operations, written once over
//! sqlx's [`Database`](sqlx::Database) for every [`Dialect`].

use sqlx::query::Query;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Row, Type};
use tower_bearer::TokenHash;
use tower_bearer::manage::audit::{AuditEvent, AuditRecord};

use crate::audit::{AuditFilter, bind_event, record};
use crate::db::SqlDb;
use crate::dialect::Dialect;
use crate::metering::{self, Account, Hold};
use crate::oauth_clients::OAuthClientRow;
use crate::revocations::RevocationRow;
use crate::row::{LifecycleAudit, PageQuery, Rotated, Rotation, TokenRow, is_unique_violation};

/// Rows per audit `INSERT`: well under both databases' limits on bound parameters (9 per row).
const AUDIT_ROWS_PER_INSERT: usize = 500;

// sqlx states what a database can bind, read and run as bounds on other types (`i64: Encode<DB>`),
// which Rust does not carry along with `DB: Dialect`: they are stated here, once, for every
// operation below.
impl<DB> SqlDb<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    for<'q> i32: Decode<'q, DB> + Type<DB>,
    for<'q> Option<i32>: Encode<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> String: Decode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q [u8]>: Encode<'q, DB>,
    for<'q> Vec<u8>: Decode<'q, DB> + Type<DB>,
{
    pub(crate) async fn lookup(&self, hash: &[u8; 32]) -> Result<Option<TokenRow>, sqlx::Error> {
        let found = sqlx::query(&self.sql.lookup).bind(hash.as_slice()).fetch_optional(&self.pool).await?;
        found.as_ref().map(TokenRow::read::<DB>).transpose()
    }

    /// Inserts a new token, with the audit events of its issue in the same transaction.
    pub(crate) async fn insert(
        &self,
        hash: &[u8; 32],
        row: &TokenRow,
        audit: Option<LifecycleAudit<'_>>,
    ) -> Result<(), sqlx::Error> {
        let Some(audit) = audit else {
            return self.insert_with(&self.pool, hash, row).await;
        };
        let mut tx = self.pool.begin_with(DB::BEGIN_WRITE).await?;
        self.insert_with(&mut *tx, hash, row).await?;
        self.append_audit_in(&mut tx, &audit.events(row)).await?;
        tx.commit().await
    }

    async fn insert_with<'e>(
        &self,
        executor: impl Executor<'e, Database = DB>,
        hash: &[u8; 32],
        row: &TokenRow,
    ) -> Result<(), sqlx::Error> {
        let query = sqlx::query(&self.sql.insert)
            .bind(row.id.as_str())
            .bind(hash.as_slice())
            .bind(row.hint.as_deref())
            .bind(row.subject.as_str())
            .bind(row.organization.as_deref())
            .bind(row.name.as_deref())
            .bind(row.kind.as_deref())
            .bind(DB::list(&row.scopes)?)
            .bind(DB::list(&row.audience)?)
            .bind(row.created_at)
            .bind(row.expires_at);
        metering::bind(query, &row.metering)
            .bind(row.confirmation.as_deref())
            .execute(executor)
            .await
            .map(drop)
    }

    pub(crate) async fn get(&self, id: &str) -> Result<Option<TokenRow>, sqlx::Error> {
        let found = sqlx::query(&self.sql.get).bind(id).fetch_optional(&self.pool).await?;
        found.as_ref().map(TokenRow::read::<DB>).transpose()
    }

    pub(crate) async fn page(&self, page: &PageQuery<'_>) -> Result<Vec<TokenRow>, sqlx::Error> {
        let rows = sqlx::query(&self.sql.page)
            .bind(page.subject)
            .bind(page.organization.0)
            .bind(page.after.map(|(us, _)| us))
            .bind(page.after.map(|(_, id)| id))
            .bind(page.limit)
            .bind(page.organization.1)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(TokenRow::read::<DB>).collect()
    }

    pub(crate) async fn list(&self, subject: &str) -> Result<Vec<TokenRow>, sqlx::Error> {
        let rows = sqlx::query(&self.sql.list).bind(subject).fetch_all(&self.pool).await?;
        rows.iter().map(TokenRow::read::<DB>).collect()
    }

    pub(crate) async fn revoke(
        &self,
        id: &str,
        now: i64,
        audit: Option<LifecycleAudit<'_>>,
    ) -> Result<Option<TokenRow>, sqlx::Error> {
        self.end_validity(sqlx::query(&self.sql.revoke).bind(id).bind(now), now, audit).await
    }

    pub(crate) async fn delete(
        &self,
        id: &str,
        now: i64,
        audit: Option<LifecycleAudit<'_>>,
    ) -> Result<Option<TokenRow>, sqlx::Error> {
        self.end_validity(sqlx::query(&self.sql.delete).bind(id), now, audit).await
    }

    /// Runs a statement returning `token_hash` and the row of a token refused from `now`, and
    /// records, audits and announces the revocation, in one transaction.
    async fn end_validity<'q>(
        &self,
        statement: Query<'q, DB, DB::Arguments<'q>>,
        now: i64,
        audit: Option<LifecycleAudit<'_>>,
    ) -> Result<Option<TokenRow>, sqlx::Error> {
        let mut tx = self.pool.begin_with(DB::BEGIN_WRITE).await?;
        let Some(changed) = statement.fetch_optional(&mut *tx).await? else {
            return Ok(None);
        };
        let hash: Vec<u8> = changed.try_get("token_hash")?;
        let changed = TokenRow::read::<DB>(&changed)?;
        let revocation = match changed.revocation(now, None) {
            Some(revocation) => Some(self.record(&mut *tx, &revocation).await?),
            None => None,
        };
        if let Some(audit) = audit {
            self.append_audit_in(&mut tx, &audit.events(&changed)).await?;
        }
        DB::announce(&mut tx, &self.channel, &hash, revocation.as_ref()).await?;
        tx.commit().await?;
        Ok(Some(changed))
    }

    /// Records `revocation` in the caller's transaction; returns it merged with any earlier
    /// record of the same token.
    async fn record<'e>(
        &self,
        executor: impl Executor<'e, Database = DB>,
        revocation: &RevocationRow,
    ) -> Result<RevocationRow, sqlx::Error> {
        let merged = sqlx::query(&self.sql.record_revocation)
            .bind(revocation.id.as_str())
            .bind(revocation.refused_from)
            .bind(revocation.kept_until)
            .bind(revocation.replaced_by.as_deref())
            .fetch_one(executor)
            .await?;
        RevocationRow::read(&merged)
    }

    /// Replaces the live token `id` by `new_hash` / `new_id` (expiring no later than
    /// `not_after`) in one transaction; the old one is revoked, or expires at `grace_until`,
    /// replaced. `audit` is given the new token's row.
    pub(crate) async fn rotate(
        &self,
        id: &str,
        rotation: Rotation<'_>,
        audit: Option<LifecycleAudit<'_>>,
    ) -> Result<Rotated, sqlx::Error> {
        let Rotation { now, grace_until, not_after, new_hash, new_id, hint } = rotation;
        let mut tx = self.pool.begin_with(DB::BEGIN_WRITE).await?;
        let Some(old) = sqlx::query(&self.sql.lock_live).bind(id).fetch_optional(&mut *tx).await? else {
            return Ok(Rotated::NotFound);
        };
        let old_hash: Vec<u8> = old.try_get("token_hash")?;
        let old = TokenRow::read::<DB>(&old)?;
        let new = old.successor(new_id, hint, now, not_after);
        match self.insert_with(&mut *tx, new_hash, &new).await {
            // The transaction is aborted; dropping it rolls back.
            Err(e) if is_unique_violation(&e) => return Ok(Rotated::Conflict),
            other => other?,
        }
        match grace_until {
            None => sqlx::query(&self.sql.revoke_locked).bind(id).bind(now),
            Some(until) => sqlx::query(&self.sql.shorten).bind(id).bind(until).bind(new_id.as_str()),
        }
        .execute(&mut *tx)
        .await?;
        let revocation = match old.revocation(grace_until.unwrap_or(now), Some(new_id.as_str())) {
            Some(revocation) => Some(self.record(&mut *tx, &revocation).await?),
            None => None,
        };
        if let Some(audit) = audit {
            self.append_audit_in(&mut tx, &audit.events(&new)).await?;
        }
        // With a grace period the old token's expiry changed: caches must drop it too.
        DB::announce(&mut tx, &self.channel, &old_hash, revocation.as_ref()).await?;
        tx.commit().await?;
        Ok(Rotated::Done(Box::new(new)))
    }

    /// Deletes the tokens (and revocation records, and single-use ids) expired at `now`, with
    /// the audit events of each deleted token in the same transaction.
    pub(crate) async fn purge_expired(
        &self,
        now: i64,
        audit: Option<LifecycleAudit<'_>>,
    ) -> Result<Vec<TokenRow>, sqlx::Error> {
        let mut tx = self.pool.begin_with(DB::BEGIN_WRITE).await?;
        sqlx::query(&self.sql.purge_revocations).bind(now).execute(&mut *tx).await?;
        sqlx::query(&self.sql.purge_replay_ids).bind(now).execute(&mut *tx).await?;
        let rows = sqlx::query(&self.sql.purge).bind(now).fetch_all(&mut *tx).await?;
        let rows = rows.iter().map(TokenRow::read::<DB>).collect::<Result<Vec<_>, _>>()?;
        if let Some(audit) = audit {
            let events: Vec<AuditEvent> = rows.iter().flat_map(|row| audit.events(row)).collect();
            self.append_audit_in(&mut tx, &events).await?;
        }
        tx.commit().await?;
        Ok(rows)
    }

    /// The revocations kept beyond `now`.
    pub(crate) async fn revocations(&self, now: i64) -> Result<Vec<RevocationRow>, sqlx::Error> {
        let rows = sqlx::query(&self.sql.revocations_in_effect).bind(now).fetch_all(&self.pool).await?;
        rows.iter().map(RevocationRow::read).collect()
    }

    pub(crate) async fn record_usage(&self, id: &str, at: i64) -> Result<(), sqlx::Error> {
        sqlx::query(&self.sql.record_usage).bind(id).bind(at).execute(&self.pool).await.map(drop)
    }

    pub(crate) async fn touch(&self, hash: &[u8; 32], at: i64) -> Result<(), sqlx::Error> {
        sqlx::query(&self.sql.touch).bind(hash.as_slice()).bind(at).execute(&self.pool).await.map(drop)
    }

    /// The credit bookkeeping of token `id`, if it has credits.
    pub(crate) async fn credits(&self, id: &str) -> Result<Option<Account>, sqlx::Error> {
        let found = sqlx::query(&self.sql.credits).bind(id).fetch_optional(&self.pool).await?;
        found.as_ref().map(Account::read).transpose()
    }

    /// Writes `write` over token `id`'s bookkeeping if it still is `read`, and records `hold`
    /// (the lease this write takes, if any) with it. Returns whether it did.
    pub(crate) async fn take_credits(
        &self,
        id: &str,
        read: Account,
        write: Account,
        hold: Option<Hold<'_>>,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin_with(DB::BEGIN_WRITE).await?;
        let swap = Account::bind_swap(sqlx::query(&self.sql.take_credits).bind(id), read, write);
        if DB::rows_affected(&swap.execute(&mut *tx).await?) != 1 {
            return Ok(false);
        }
        if let Some(hold) = hold {
            sqlx::query(&self.sql.hold_lease)
                .bind(id)
                .bind(hold.holder)
                .bind(hold.taken)
                .bind(write.period_start)
                .bind(hold.until)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Moves the deadline of `holder`'s lease of token `id` (period `period_start`) to
    /// `until`. Returns whether the lease is still there (else it was reclaimed: spent).
    pub(crate) async fn renew_lease(
        &self,
        id: &str,
        holder: &str,
        period_start: i64,
        until: i64,
    ) -> Result<bool, sqlx::Error> {
        let query = sqlx::query(&self.sql.renew_lease).bind(id).bind(holder).bind(period_start).bind(until);
        Ok(DB::rows_affected(&query.execute(&self.pool).await?) == 1)
    }

    /// Gives back the `unused` credits of `holder`'s lease of token `id` made in the period
    /// starting at `period_start`, and ends the lease. Nothing comes back if the lease was
    /// reclaimed (its credits counted as spent) or a refill started another period since.
    /// Returns whether the credits came back.
    pub(crate) async fn give_back(
        &self,
        id: &str,
        holder: &str,
        unused: i64,
        period_start: i64,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin_with(DB::BEGIN_WRITE).await?;
        let Some(lease) =
            sqlx::query(&self.sql.drop_lease).bind(id).bind(holder).fetch_optional(&mut *tx).await?
        else {
            return Ok(false);
        };
        let (taken, start): (i64, i64) = (lease.try_get("taken")?, lease.try_get("period_start")?);
        let current = start == period_start;
        if current {
            let query =
                sqlx::query(&self.sql.return_credits).bind(id).bind(unused).bind(taken).bind(period_start);
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(current)
    }

    /// Reclaims token `id`'s leases whose deadline is `now` or before: they leave its leased
    /// count and count as spent (their holder may have spent any part of them). Returns how
    /// many credits they held.
    pub(crate) async fn reclaim_leases(&self, id: &str, now: i64) -> Result<i64, sqlx::Error> {
        let mut tx = self.pool.begin_with(DB::BEGIN_WRITE).await?;
        let expired = sqlx::query(&self.sql.expired_leases).bind(id).bind(now).fetch_all(&mut *tx).await?;
        let mut reclaimed = 0_i64;
        for lease in &expired {
            let (taken, start): (i64, i64) = (lease.try_get("taken")?, lease.try_get("period_start")?);
            sqlx::query(&self.sql.forget_leased).bind(id).bind(taken).bind(start).execute(&mut *tx).await?;
            reclaimed = reclaimed.saturating_add(taken);
        }
        tx.commit().await?;
        Ok(reclaimed)
    }

    /// Sets marker `name` at `at` unless it is set; returns whether this call set it.
    pub(crate) async fn set_marker(&self, name: &str, at: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(&self.sql.set_marker).bind(name).bind(at).execute(&self.pool).await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    /// Records single-use id `id` as used until `until`; returns whether this was its first
    /// use at `now` (unseen, or its last use expired).
    /// Deletes at most `limit` single-use ids whose use expired at `now` or before; how many.
    pub(crate) async fn purge_replay_batch(&self, now: i64, limit: i64) -> Result<u64, sqlx::Error> {
        let query = sqlx::query(&self.sql.purge_replay_batch).bind(now).bind(limit);
        Ok(DB::rows_affected(&query.execute(&self.pool).await?))
    }

    pub(crate) async fn use_once(&self, id: &[u8; 32], until: i64, now: i64) -> Result<bool, sqlx::Error> {
        let query = sqlx::query(&self.sql.use_once).bind(id.as_slice()).bind(until).bind(now);
        Ok(DB::rows_affected(&query.execute(&self.pool).await?) == 1)
    }

    /// Appends `events` to the audit log, one multi-row `INSERT` per chunk.
    pub(crate) async fn append_audit(&self, events: &[AuditEvent]) -> Result<(), sqlx::Error> {
        let mut connection = self.pool.acquire().await?;
        self.append_audit_in(&mut connection, events).await
    }

    /// [`append_audit`](Self::append_audit) on `connection` (a transaction's, to write the
    /// events with the change they record).
    async fn append_audit_in(
        &self,
        connection: &mut DB::Connection,
        events: &[AuditEvent],
    ) -> Result<(), sqlx::Error> {
        for chunk in events.chunks(AUDIT_ROWS_PER_INSERT) {
            let sql = self.sql.append_audit::<DB>(chunk.len());
            let insert = chunk.iter().fold(sqlx::query(&sql), bind_event);
            insert.execute(&mut *connection).await?;
        }
        Ok(())
    }

    pub(crate) async fn audit_page(&self, filter: &AuditFilter<'_>) -> Result<Vec<AuditRecord>, sqlx::Error> {
        let rows = sqlx::query(&self.sql.audit_page)
            .bind(filter.after)
            .bind(filter.token_id)
            .bind(filter.kind)
            .bind(filter.subject)
            .bind(filter.organization)
            .bind(filter.limit)
            .bind(filter.no_organization)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(record).collect()
    }

    /// Drops the audit events from before `before`; returns how many.
    pub(crate) async fn purge_audit(&self, before: i64) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(&self.sql.purge_audit).bind(before).execute(&self.pool).await?;
        Ok(DB::rows_affected(&done))
    }

    /// Inserts `client`, or replaces the one with its id.
    pub(crate) async fn put_client(&self, client: &OAuthClientRow) -> Result<(), sqlx::Error> {
        let (previous_hash, previous_until) = client.previous_columns();
        sqlx::query(&self.sql.put_client)
            .bind(client.client_id.as_str())
            .bind(client.subject.as_str())
            .bind(DB::list(&client.allowed_scopes)?)
            .bind(client.ttl_column())
            .bind(client.secret_column())
            .bind(previous_hash)
            .bind(previous_until)
            .bind(client.jwks.as_deref())
            .bind(client.jwks_uri.as_deref())
            .execute(&self.pool)
            .await
            .map(drop)
    }

    pub(crate) async fn get_client(&self, client_id: &str) -> Result<Option<OAuthClientRow>, sqlx::Error> {
        let found = sqlx::query(&self.sql.get_client).bind(client_id).fetch_optional(&self.pool).await?;
        found.as_ref().map(OAuthClientRow::read::<DB>).transpose()
    }

    /// Writes `client`'s secrets over its row if the current secret there still is `current`
    /// (`None`: still none); returns whether it did.
    pub(crate) async fn swap_client_secrets(
        &self,
        client: &OAuthClientRow,
        current: Option<&TokenHash>,
    ) -> Result<bool, sqlx::Error> {
        let (previous_hash, previous_until) = client.previous_columns();
        let done = sqlx::query(&self.sql.swap_client_secrets)
            .bind(client.client_id.as_str())
            .bind(client.secret_column())
            .bind(previous_hash)
            .bind(previous_until)
            .bind(current.map(|digest| digest.as_bytes().as_slice()))
            .execute(&self.pool)
            .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    /// Removes client `client_id`; returns whether it was there.
    pub(crate) async fn remove_client(&self, client_id: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(&self.sql.remove_client).bind(client_id).execute(&self.pool).await?;
        Ok(DB::rows_affected(&done) == 1)
    }
}
