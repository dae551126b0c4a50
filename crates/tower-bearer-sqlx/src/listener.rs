//! [`RevocationListener`]: pushes Postgres revocations into a
//! [`CachedTokenStore`] with `LISTEN/NOTIFY` (features `postgres` and `cache`).
//!
//! Every revoke, rotate and delete of a Postgres [`SqlTokenStore`] runs
//! `pg_notify(<channel>, '<digest hex>')` in its own transaction, so the notification is sent
//! exactly when the change commits (and never for a change that rolled back). Each instance's
//! listener holds one connection subscribed to the channel and drops the digest from its cache.
//!
//! The bound it gives is documented on [`RevocationListener`].

use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::db::Db;
use crate::store::SqlTokenStore;
use tower_bearer::store::CacheInvalidator;
use tower_bearer::{CachedTokenStore, TokenHash, TokenId, TokenStore};

/// Payloads starting with this are heartbeats, not revocations.
const PING_PREFIX: &str = "ping:";
const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The state of a [`RevocationListener`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenerStatus {
    /// Whether the listener is subscribed now (and the cache is caching active tokens).
    pub subscribed: bool,
    /// How many times it has subscribed, counting the first time.
    pub subscriptions: u64,
    /// How many times a subscription was lost (and the cache cleared).
    pub losses: u64,
}

/// A running subscription of a cache to a Postgres store's revocations, from
/// [`SqlTokenStore::listen_for_revocations`].
///
/// # The revocation bound
///
/// With the listener subscribed, a token revoked on any instance is rejected by every other
/// instance as soon as the notification arrives: a few milliseconds (the two-instance test
/// measures 2 to 5 ms on one machine, from `revoke` returning on one instance to the other
/// refusing the token). When the subscription breaks, the cache cannot trust what
/// it holds, so:
///
/// 1. the moment the loss is detected, the whole cache is cleared and active tokens are no
///    longer cached (every request asks the database, or gets 503 while it is down);
/// 2. the listener reconnects with exponential backoff (100 ms doubling to 5 s) and
///    re-subscribes; the cache is then cleared once more (a notification may have been missed
///    in between) and caching resumes.
///
/// A connection that is closed or reset (a database restart, a failover) is detected at once.
/// A connection that silently stops delivering (a dead network path) is detected by the
/// heartbeat: every `interval` the listener notifies its own channel and expects to hear
/// itself within `timeout` ([`SqlTokenStoreBuilder::listener_heartbeat`](super::SqlTokenStoreBuilder::listener_heartbeat),
/// 5 s + 5 s by default). So a revocation made elsewhere is missed by a cache for at most
/// `interval + timeout`, and never longer than the cache's positive TTL, which stays the
/// fallback. A notification whose payload is not a digest (`NOTIFY tower_bearer_revocations,
/// 'all'`) clears every cache: an operator's panic button. PostgreSQL lets any role that can
/// connect to the database `NOTIFY` any channel, so a role sending `'all'` in a loop could keep
/// every cache empty: full flushes are coalesced to at most one per second (a flush asked for
/// within the second happens at its end, never dropped). Keep roles you do not trust off the
/// database the store uses.
///
/// The listener runs on a task of its own for as long as the cache exists; dropping this handle
/// does not stop it ([`stop`](Self::stop) does, leaving the cache on its TTL alone).
#[derive(Debug)]
pub struct RevocationListener {
    status: watch::Receiver<ListenerStatus>,
    task: tokio::task::AbortHandle,
}

impl RevocationListener {
    /// The listener's current state.
    #[must_use]
    pub fn status(&self) -> ListenerStatus {
        *self.status.borrow()
    }

    /// Waits until the listener's state satisfies `condition`, for at most `timeout`. Returns
    /// the state, or `None` on timeout (or if the listener stopped).
    pub async fn wait_for(
        &self,
        timeout: Duration,
        mut condition: impl FnMut(&ListenerStatus) -> bool,
    ) -> Option<ListenerStatus> {
        let mut status = self.status.clone();
        match tokio::time::timeout(timeout, status.wait_for(|s| condition(s))).await {
            Ok(Ok(s)) => Some(*s),
            _ => None,
        }
    }

    /// Waits until the listener is subscribed, for at most `timeout`. Returns whether it is.
    pub async fn wait_until_subscribed(&self, timeout: Duration) -> bool {
        self.wait_for(timeout, |s| s.subscribed).await.is_some()
    }

    /// Stops the listener. The cache then relies on its TTL alone for revocations made
    /// elsewhere.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl SqlTokenStore {
    /// Subscribes `cache` to the revocations of every instance sharing this Postgres database:
    /// each revoke, rotate and delete (on any instance) drops the token's digest from `cache`
    /// when it commits. Until the first subscription succeeds, and whenever it is lost, `cache`
    /// caches no active token. Returns `None` on SQLite (nothing to listen to: revocations in
    /// this process go through the cache itself).
    ///
    /// Call it within a tokio runtime, once per cache; the listener runs on a task of its own,
    /// holding one database connection, until `cache` is dropped or
    /// [`RevocationListener::stop`].
    #[cfg_attr(docsrs, doc(cfg(all(feature = "postgres", feature = "cache"))))]
    #[allow(unreachable_patterns, reason = "reachable with both backends enabled")]
    pub fn listen_for_revocations<S: TokenStore>(
        &self,
        cache: &CachedTokenStore<S>,
    ) -> Option<RevocationListener> {
        let db = match &self.inner.db {
            Db::Postgres(db) => db,
            _ => return None,
        };
        let invalidator = cache.invalidator();
        // Before returning: no active token is cached until the subscription is confirmed.
        invalidator.set_push_connected(false);
        let (status_tx, status) = watch::channel(ListenerStatus::default());
        let config = Config {
            pool: db.pool.clone(),
            channel: db.channel.clone(),
            interval: self.inner.heartbeat.0,
            timeout: self.inner.heartbeat.1,
            nonce: TokenId::random().as_str()[4..].to_owned(),
        };
        let task = tokio::spawn(run(config, invalidator, status_tx));
        Some(RevocationListener { status, task: task.abort_handle() })
    }
}

struct Config {
    /// The store's pool: heartbeats are sent through it, so they cross the server to reach
    /// the listener's own connection.
    pool: PgPool,
    channel: String,
    interval: Duration,
    timeout: Duration,
    /// Tells this listener's heartbeats from other instances'.
    nonce: String,
}

#[derive(PartialEq, Eq)]
enum Ended {
    Lost,
    CacheGone,
}

async fn run(config: Config, invalidator: CacheInvalidator, status: watch::Sender<ListenerStatus>) {
    let mut backoff = INITIAL_BACKOFF;
    while invalidator.is_alive() && !config.pool.is_closed() {
        if let Ok(Ok(listener)) = tokio::time::timeout(config.timeout, subscribe(&config)).await {
            let (tx, rx) = mpsc::unbounded_channel();
            let reader = tokio::spawn(read(listener, tx));
            if !invalidator.set_push_connected(true) {
                reader.abort();
                return;
            }
            status.send_modify(|s| {
                s.subscribed = true;
                s.subscriptions += 1;
            });
            backoff = INITIAL_BACKOFF;
            let ended = pump(rx, &config, &invalidator).await;
            reader.abort();
            // Clear once: whatever is cached may have missed a notification.
            let alive = invalidator.set_push_connected(false);
            status.send_modify(|s| {
                s.subscribed = false;
                s.losses += 1;
            });
            if !alive || ended == Ended::CacheGone {
                return;
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// A fresh connection (in a pool of its own, so a wedged old one cannot block it) listening
/// on the channel.
async fn subscribe(config: &Config) -> Result<PgListener, sqlx::Error> {
    let options = (*config.pool.connect_options()).clone();
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(config.timeout)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with(options);
    let mut listener = PgListener::connect_with(&pool).await?;
    // A lost connection must surface as a loss, not be silently replaced.
    listener.eager_reconnect(false);
    listener.ignore_pool_close_event(true);
    listener.listen(&config.channel).await?;
    Ok(listener)
}

/// Forwards payloads; `None` once the connection is lost.
async fn read(mut listener: PgListener, tx: mpsc::UnboundedSender<Option<String>>) {
    loop {
        let payload = match listener.try_recv().await {
            Ok(Some(notification)) => Some(notification.payload().to_owned()),
            Ok(None) | Err(_) => None,
        };
        let lost = payload.is_none();
        if tx.send(payload).is_err() || lost {
            return;
        }
    }
}

/// Applies notifications to the cache and runs the heartbeat, until the subscription is lost.
async fn pump(
    mut rx: mpsc::UnboundedReceiver<Option<String>>,
    config: &Config,
    invalidator: &CacheInvalidator,
) -> Ended {
    let mut seq = 0_u64;
    let mut expected: Option<String> = None;
    let mut deadline = Instant::now() + config.interval;
    let mut flushes = FlushLimiter::default();
    loop {
        let wake = flushes.pending_until().map_or(deadline, |at| at.min(deadline));
        let received = tokio::time::timeout_at(wake, rx.recv()).await;
        if flushes.due(Instant::now()) && !invalidator.invalidate_all() {
            return Ended::CacheGone;
        }
        if received.is_err() && Instant::now() < deadline {
            // Woken for a coalesced flush, not by the heartbeat's deadline.
            continue;
        }
        match received {
            Ok(Some(Some(payload))) => {
                if expected.as_deref() == Some(payload.as_str()) {
                    expected = None;
                    deadline = Instant::now() + config.interval;
                    continue;
                }
                if payload.starts_with(PING_PREFIX) {
                    continue;
                }
                let alive = match parse_digest(&payload) {
                    Some(hash) => invalidator.invalidate(&hash),
                    None if flushes.request(Instant::now()) => invalidator.invalidate_all(),
                    None => invalidator.is_alive(),
                };
                if !alive {
                    return Ended::CacheGone;
                }
            }
            Ok(Some(None) | None) => return Ended::Lost,
            Err(_) => {
                if expected.is_some() {
                    // Our own heartbeat did not come back: the subscription is not delivering.
                    return Ended::Lost;
                }
                if !invalidator.is_alive() {
                    return Ended::CacheGone;
                }
                seq += 1;
                let ping = format!("{PING_PREFIX}{}:{seq}", config.nonce);
                let sent = tokio::time::timeout(
                    config.timeout,
                    sqlx::query("SELECT pg_notify($1, $2)")
                        .bind(&config.channel)
                        .bind(&ping)
                        .execute(&config.pool),
                )
                .await;
                if !matches!(sent, Ok(Ok(_))) {
                    return Ended::Lost;
                }
                expected = Some(ping);
                deadline = Instant::now() + config.timeout;
            }
        }
    }
}

/// Full flushes asked for by notifications: at most one per [`FLUSH_EVERY`]; one asked for
/// sooner is not dropped but done when the interval ends.
#[derive(Debug, Default)]
struct FlushLimiter {
    /// When the next flush may run; `None` before the first.
    next_allowed: Option<Instant>,
    /// A flush was asked for while not allowed.
    pending: bool,
}

/// The shortest time between two flushes asked for by notifications.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

impl FlushLimiter {
    /// A flush is asked for at `now`: whether to flush now (else it is pending).
    fn request(&mut self, now: Instant) -> bool {
        if self.next_allowed.is_none_or(|at| now >= at) {
            self.next_allowed = Some(now + FLUSH_EVERY);
            self.pending = false;
            true
        } else {
            self.pending = true;
            false
        }
    }

    /// When a pending flush will be due.
    fn pending_until(&self) -> Option<Instant> {
        self.next_allowed.filter(|_| self.pending)
    }

    /// Whether a pending flush is due at `now` (and is then taken).
    fn due(&mut self, now: Instant) -> bool {
        self.pending && self.request(now)
    }
}

fn parse_digest(payload: &str) -> Option<TokenHash> {
    let hex = payload.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(hex.chunks_exact(2)) {
        let digit = |c: u8| char::from(c).to_digit(16);
        *byte = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(TokenHash::from_bytes(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_parse_from_hex() {
        let h = TokenHash::of("x");
        assert_eq!(parse_digest(&h.to_hex()), Some(h));
        assert_eq!(parse_digest(&h.to_hex().to_uppercase()), Some(h));
        assert_eq!(parse_digest("all"), None);
        assert_eq!(parse_digest(&"g".repeat(64)), None);
        assert_eq!(parse_digest(&h.to_hex()[..62]), None);
    }

    #[test]
    fn flushes_are_coalesced_to_one_per_interval_and_never_dropped() {
        let start = Instant::now();
        let mut flushes = FlushLimiter::default();
        assert!(flushes.request(start), "the first flush runs at once");
        for i in 1..100 {
            assert!(!flushes.request(start + Duration::from_millis(i)), "a loop of requests is coalesced");
        }
        assert_eq!(flushes.pending_until(), Some(start + FLUSH_EVERY));
        assert!(!flushes.due(start + FLUSH_EVERY / 2));
        assert!(flushes.due(start + FLUSH_EVERY), "the coalesced flush happens at the interval's end");
        assert!(!flushes.due(start + FLUSH_EVERY * 3), "once");
        assert!(flushes.request(start + FLUSH_EVERY * 3));
    }
}
