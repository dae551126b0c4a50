//! `UsageCounter` exactness (issue 26): two instances (two stores, counters and layers) on one
//! PostgreSQL, thousands of requests of every kind across a minute boundary, then the counts
//! read back equal the requests sent, per token and outcome, by minute, hour and day; then one
//! instance restarted (its counter shut down, a new one built) and more requests: still exact.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::StatusCode;
use tower::ServiceExt as _;
use tower_bearer::manage::usage::{Granularity, UsageCount, UsageLog, UsageOutcome, UsageQuery};
use tower_bearer::{BearerAuthLayer, Clock, NewToken, Scopes, TokenId, TokenManager};
use tower_bearer_manage::UsageCounter;
use tower_bearer_sqlx::SqlTokenStore;
use tower_bearer_test_support::pg::PgCluster;
use tower_bearer_test_support::{app, get};

/// What a request presents, and on which route.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// `ada`'s token (scope `read`).
    Ada,
    /// `bob`'s token (scopes `read write`), on the route that requires `write`.
    BobWrite,
    /// `ada`'s token on the route that requires `write`: 403.
    AdaWrite,
    /// A revoked token.
    Revoked,
    /// A token that expires 15 s after the start.
    Expiring,
    /// A secret no store issued.
    Unknown,
    /// No token at all: not counted.
    Missing,
}

const KINDS: [Kind; 7] =
    [Kind::Ada, Kind::BobWrite, Kind::AdaWrite, Kind::Revoked, Kind::Expiring, Kind::Unknown, Kind::Missing];

/// One instance: a store on the shared database, its counter and its two routes' layers.
struct Instance {
    store: SqlTokenStore,
    counter: UsageCounter,
    read: BearerAuthLayer<SqlTokenStore>,
    write: BearerAuthLayer<SqlTokenStore>,
}

impl Instance {
    fn start(store: SqlTokenStore, clock: &Clock) -> Self {
        // Never flushed by time in this test (the manual clock does not move tokio's): the test
        // flushes, and the restart flushes on shutdown.
        let counter = UsageCounter::builder(store.clone())
            .flush_interval(Duration::from_secs(3_600))
            .clock(clock.clone())
            .batch_size(7)
            .build();
        let layer =
            BearerAuthLayer::new(store.clone()).clock(clock.clone()).on_outcome(counter.outcome_hook());
        let write = layer.clone().require_scopes(["write"]);
        Instance { store, counter, read: layer, write }
    }
}

struct Tokens {
    ada: (String, TokenId),
    bob: (String, TokenId),
    revoked: (String, TokenId),
    expiring: (String, TokenId),
}

/// The expected counters: granularity, bucket, token and outcome → requests.
type Expected = BTreeMap<(Granularity, SystemTime, Option<TokenId>, UsageOutcome), u64>;

/// Sends one request of `kind` to `instance` at the clock's time, checks the status, and
/// adds what it must count to `expected`.
async fn send(instance: &Instance, tokens: &Tokens, kind: Kind, clock: &Clock, expected: &mut Expected) {
    let expired = clock.now() >= tokens.expiring_at();
    let (layer, token, counted, status) = match kind {
        Kind::Ada => (&instance.read, Some(&tokens.ada), Some(UsageOutcome::Admitted), StatusCode::OK),
        Kind::BobWrite => (&instance.write, Some(&tokens.bob), Some(UsageOutcome::Admitted), StatusCode::OK),
        Kind::AdaWrite => {
            (&instance.write, Some(&tokens.ada), Some(UsageOutcome::InsufficientScope), StatusCode::FORBIDDEN)
        }
        Kind::Revoked => {
            (&instance.read, Some(&tokens.revoked), Some(UsageOutcome::Revoked), StatusCode::UNAUTHORIZED)
        }
        Kind::Expiring if expired => {
            (&instance.read, Some(&tokens.expiring), Some(UsageOutcome::Expired), StatusCode::UNAUTHORIZED)
        }
        Kind::Expiring => {
            (&instance.read, Some(&tokens.expiring), Some(UsageOutcome::Admitted), StatusCode::OK)
        }
        Kind::Unknown => (&instance.read, None, Some(UsageOutcome::Unknown), StatusCode::UNAUTHORIZED),
        Kind::Missing => (&instance.read, None, None, StatusCode::UNAUTHORIZED),
    };
    let secret = match kind {
        Kind::Unknown => Some("tb_no_store_issued_this_one"),
        Kind::Missing => None,
        _ => token.map(|(secret, _)| secret.as_str()),
    };
    let response = app(layer.clone().rejection_extension(true)).oneshot(get(secret)).await.unwrap();
    let refusal = response.extensions().get::<tower_bearer::AuthError>();
    assert_eq!(response.status(), status, "{kind:?}: {refusal:?}");
    let Some(outcome) = counted else { return };
    let token_id = match kind {
        Kind::Unknown => None,
        _ => token.map(|(_, id)| id.clone()),
    };
    for granularity in Granularity::ALL {
        let key = (granularity, granularity.bucket(clock.now()), token_id.clone(), outcome);
        *expected.entry(key).or_default() += 1;
    }
}

impl Tokens {
    fn expiring_at(&self) -> SystemTime {
        tokens_expiry()
    }
}

/// When the expiring token expires: 15 s after the start, in the next minute (5 s into it).
fn tokens_expiry() -> SystemTime {
    start() + Duration::from_secs(15)
}

/// Ten minutes into an hour, 50 s into a minute: the next minute is 10 s away, the hour's end
/// far.
fn start() -> SystemTime {
    // 1 800 000 000 s is an hour's start.
    let hour = 1_800_000_000;
    UNIX_EPOCH + Duration::from_secs(hour + 600 + 50)
}

/// Every counter the log holds from the start's day, as the expected map's keys.
async fn read_back(log: &SqlTokenStore) -> Expected {
    let mut read = Expected::new();
    let day = Granularity::Day.bucket(start());
    for granularity in Granularity::ALL {
        let query = UsageQuery::new(granularity, day, day + Duration::from_secs(86_400));
        for UsageCount { granularity, bucket, token_id, outcome, count, .. } in
            log.usage(&query).await.unwrap()
        {
            assert!(read.insert((granularity, bucket, token_id, outcome), count).is_none(), "one row each");
        }
    }
    read
}

/// Sends `rounds` of every kind, alternating instances (and kinds' order per round).
async fn traffic(
    instances: [&Instance; 2],
    tokens: &Tokens,
    clock: &Clock,
    rounds: usize,
    expected: &mut Expected,
) {
    for round in 0..rounds {
        for (i, kind) in KINDS.into_iter().enumerate() {
            let instance = instances[(round + i) % 2];
            send(instance, tokens, kind, clock, expected).await;
        }
    }
}

#[tokio::test]
async fn counts_are_exact_over_two_instances_on_postgres_and_a_restart() {
    let Some(cluster) = PgCluster::start() else { return };
    let clock = Clock::manual(start());
    let url = cluster.url();
    let open = || SqlTokenStore::builder().clock(clock.clone()).open(&url);
    let (store_a, store_b) = (open().await.unwrap(), open().await.unwrap());
    let issue = async |new: NewToken| {
        let issued = store_a.issue(new).await.unwrap();
        (issued.secret().expose_secret().to_owned(), issued.id().clone())
    };
    let tokens = Tokens {
        ada: issue(NewToken::for_subject("ada").organization("acme").scopes(Scopes::parse("read"))).await,
        bob: issue(NewToken::for_subject("bob").organization("umbrella").scopes(Scopes::parse("read write")))
            .await,
        revoked: issue(NewToken::for_subject("rev")).await,
        expiring: issue(NewToken::for_subject("exp").expires_at(tokens_expiry())).await,
    };
    assert!(store_a.revoke(&tokens.revoked.1).await.unwrap());
    let a = Instance::start(store_a, &clock);
    let b = Instance::start(store_b, &clock);
    let mut expected = Expected::new();

    // 7 × 300 requests in the first minute, as many in the next (the expiring token has
    // expired by then).
    traffic([&a, &b], &tokens, &clock, 300, &mut expected).await;
    clock.advance(Duration::from_secs(20));
    traffic([&a, &b], &tokens, &clock, 300, &mut expected).await;
    assert!(a.counter.flush().await && b.counter.flush().await);
    let read = read_back(&a.store).await;
    assert_eq!(read, expected);
    // Six counters a minute (the expiring token admitted in the first, expired in the
    // second), seven in the hour and the day; nothing for the requests without a token.
    assert_eq!(read.len(), 6 + 6 + 7 + 7);
    let sent: u64 = expected.iter().filter(|(k, _)| k.0 == Granularity::Day).map(|(_, n)| n).sum();
    assert_eq!(sent, 2 * 300 * 6);
    // Flushing again adds nothing.
    assert!(a.counter.flush().await && b.counter.flush().await);
    assert_eq!(read_back(&b.store).await, expected);

    // Instance A restarts: its counter's shutdown flushes what it counted since.
    traffic([&a, &b], &tokens, &clock, 100, &mut expected).await;
    let Instance { store, counter, .. } = a;
    assert!(counter.shutdown().await);
    let a = Instance::start(store, &clock);
    clock.advance(Duration::from_secs(60));
    traffic([&a, &b], &tokens, &clock, 200, &mut expected).await;
    assert!(a.counter.flush().await && b.counter.flush().await);
    assert_eq!(read_back(&a.store).await, expected);
    assert!(a.counter.shutdown().await && b.counter.shutdown().await);
    assert_eq!(read_back(&b.store).await, expected);
}
