//! [`RevocationListener`]: pushes Postgres revocations to a [`RevocationSubscriber`] (a
//! [`CachedTokenStore`], a deny list of signed tokens) with `LISTEN/NOTIFY`.
//!
//! Every revoke, rotate and delete of a Postgres [`SqlTokenStore`] runs
//! `pg_notify(<channel>, '<digest hex> [<revocation>]')` in its own transaction, so the
//! notification is sent exactly when the change commits (and never for a change that rolled
//! back). Each instance's listener holds one connection subscribed to the channel and hands
//! each notification to its subscriber.
//!
//! The bound it gives is documented on [`RevocationListener`](crate::RevocationListener).

use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions, Postgres};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::db::SqlDb;
use crate::revocations::parse_payload;
use crate::status::StatusReport;
use crate::store::SqlTokenStore;
use tower_bearer::store::RevocationSubscriber;
use tower_bearer::{TokenId, TokenManager};

/// Payloads starting with this are heartbeats, not revocations.
const PING_PREFIX: &str = "ping:";
const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Starts the Postgres listener pushing to `subscriber` (see [`RevocationListener`]).
pub(crate) fn spawn<R: RevocationSubscriber>(
    store: &SqlTokenStore,
    db: &SqlDb<Postgres>,
    subscriber: R,
    status: StatusReport,
) -> tokio::task::JoinHandle<()> {
    let config = Config {
        store: store.clone(),
        pool: db.pool.clone(),
        channel: db.channel.clone(),
        interval: store.inner.heartbeat.0,
        timeout: store.inner.heartbeat.1,
        nonce: TokenId::random().as_str()[4..].to_owned(),
    };
    tokio::spawn(run(config, subscriber, status))
}

struct Config {
    /// The store, to read the revocations in effect from at each subscription.
    store: SqlTokenStore,
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
    SubscriberGone,
}

async fn run<R: RevocationSubscriber>(config: Config, subscriber: R, status: StatusReport) {
    let mut backoff = INITIAL_BACKOFF;
    while subscriber.is_alive() && !config.pool.is_closed() {
        if let Ok(Ok(listener)) = tokio::time::timeout(config.timeout, subscribe(&config)).await {
            let (tx, rx) = mpsc::unbounded_channel();
            let reader = tokio::spawn(read(listener, tx));
            // After LISTEN took effect: a revocation committed from now on is both in the
            // database and queued for `pump`; one before it, in the database.
            let replayed = !subscriber.wants_replay()
                || match tokio::time::timeout(config.timeout, config.store.revocations()).await {
                    Ok(Ok(revocations)) => subscriber.replay(revocations),
                    _ => false,
                };
            if !replayed || !subscriber.set_connected(true) {
                reader.abort();
                if !subscriber.is_alive() {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
            status.subscribed();
            backoff = INITIAL_BACKOFF;
            let ended = pump(rx, &config, &subscriber).await;
            reader.abort();
            // Whatever the subscriber holds may have missed a notification.
            let alive = subscriber.set_connected(false);
            status.lost();
            if !alive || ended == Ended::SubscriberGone {
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

/// Hands notifications to the subscriber and runs the heartbeat, until the subscription is
/// lost.
async fn pump<R: RevocationSubscriber>(
    mut rx: mpsc::UnboundedReceiver<Option<String>>,
    config: &Config,
    subscriber: &R,
) -> Ended {
    let mut seq = 0_u64;
    let mut expected: Option<String> = None;
    let mut deadline = Instant::now() + config.interval;
    let mut flushes = FlushLimiter::default();
    loop {
        let wake = flushes.pending_until().map_or(deadline, |at| at.min(deadline));
        let received = tokio::time::timeout_at(wake, rx.recv()).await;
        if flushes.due(Instant::now()) && !subscriber.reset() {
            return Ended::SubscriberGone;
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
                let alive = match parse_payload(&payload) {
                    Some((hash, revocation)) => subscriber.revoked(&hash, revocation.as_ref()),
                    None if flushes.request(Instant::now()) => subscriber.reset(),
                    None => subscriber.is_alive(),
                };
                if !alive {
                    return Ended::SubscriberGone;
                }
            }
            Ok(Some(None) | None) => return Ended::Lost,
            Err(_) => {
                if expected.is_some() {
                    // Our own heartbeat did not come back: the subscription is not delivering.
                    return Ended::Lost;
                }
                if !subscriber.is_alive() {
                    return Ended::SubscriberGone;
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

#[cfg(test)]
mod tests {
    use super::*;

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
