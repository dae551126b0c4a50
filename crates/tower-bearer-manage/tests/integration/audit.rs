//! The audit writer: request outcomes and lifecycle events reach the log in batches, off the
//! request path, none lost (a burst of 10 000 requests on SQLite, a log that fails for a
//! while, a graceful shutdown).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tower_bearer::manage::Page;
use tower_bearer::manage::audit::{AuditEvent, AuditKind, AuditLog, AuditQuery, AuditRecord};
use tower_bearer::{BearerAuthLayer, MemoryTokenStore, NewToken, StoreError, TokenManager};
use tower_bearer_manage::AuditWriter;
use tower_bearer_sqlx::SqlTokenStore;
use tower_bearer_test_support::status;

/// A log that counts its writes and refuses the first `failures` of them.
#[derive(Clone)]
pub(crate) struct Counting<L> {
    log: L,
    appends: Arc<AtomicUsize>,
    pub(crate) failures: Arc<AtomicUsize>,
}

impl<L: AuditLog + Clone> AuditLog for Counting<L> {
    async fn append(&self, events: Vec<AuditEvent>) -> Result<(), StoreError> {
        self.appends.fetch_add(1, Ordering::SeqCst);
        if self.failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(StoreError::unavailable("the audit database is down"));
        }
        self.log.append(events).await
    }

    async fn audit_page(&self, query: &AuditQuery) -> Result<Page<AuditRecord, u64>, StoreError> {
        self.log.audit_page(query).await
    }

    async fn purge_audit(&self, before: SystemTime) -> Result<u64, StoreError> {
        self.log.purge_audit(before).await
    }
}

pub(crate) fn counting<L>(log: L, failures: usize) -> Counting<L> {
    Counting { log, appends: Arc::default(), failures: Arc::new(AtomicUsize::new(failures)) }
}

/// Every event of `log`, read a page at a time.
pub(crate) async fn all<L: AuditLog>(log: &L) -> Vec<AuditEvent> {
    let mut events = Vec::new();
    let mut query = AuditQuery::new().limit(1000);
    loop {
        let page = log.audit_page(&query).await.unwrap();
        events.extend(page.items.into_iter().map(|r| r.event));
        match page.next {
            Some(next) => query = query.after(next),
            None => return events,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_10_000_requests_is_written_in_batches_and_none_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let sql = SqlTokenStore::builder().open_sqlite(dir.path().join("audit.db")).await.unwrap();
    let log = counting(sql.clone(), 0);
    let audit = AuditWriter::builder().batch_size(100).spawn(log.clone());
    let store = MemoryTokenStore::new();
    let token = store.issue(NewToken::for_subject("ada").organization("acme")).await.unwrap();
    let layer = BearerAuthLayer::new(store).on_event(audit.request_hook());
    let secret = token.secret().expose_secret().to_owned();
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let (layer, secret) = (layer.clone(), secret.clone());
            tokio::spawn(async move {
                for i in 0..1250 {
                    let token = if (t + i) % 10 == 0 { "made-up" } else { secret.as_str() };
                    status(&layer, token).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert!(audit.clone().shutdown().await);
    let events = all(&sql).await;
    assert_eq!(events.len(), 10_000, "every request, once");
    let writes = log.appends.load(Ordering::SeqCst);
    println!("10 000 request events written in {writes} writes");
    assert!(writes <= 10_000 / 100 + 1, "{writes} writes");
    let rejected = events.iter().filter(|e| e.kind == AuditKind::Rejected).count();
    assert_eq!(rejected, 1000);
    let accepted = events.iter().find(|e| e.kind == AuditKind::Authenticated).unwrap();
    assert_eq!(accepted.token_id.as_ref(), Some(token.id()));
    assert_eq!((accepted.subject.as_deref(), accepted.organization.as_deref()), (Some("ada"), Some("acme")));
    assert_eq!((accepted.method.as_deref(), accepted.path.as_deref()), (Some("GET"), Some("/v1/things")));
    let refused = events.iter().find(|e| e.kind == AuditKind::Rejected).unwrap();
    assert_eq!((refused.status, refused.reason.as_deref()), (Some(401), Some("unknown_token")));
    let stats = audit.stats();
    assert_eq!((stats.pending, stats.written), (0, 10_000));
}

#[tokio::test(start_paused = true)]
async fn a_failing_log_loses_nothing_and_a_lone_event_waits_at_most_the_interval() {
    let memory = MemoryTokenStore::new();
    let log = counting(memory.clone(), 3);
    let audit =
        AuditWriter::builder().batch_size(10).flush_interval(Duration::from_millis(200)).spawn(log.clone());
    let store = MemoryTokenStore::builder().on_lifecycle_event(audit.lifecycle_hook()).build();
    let t = store.issue(NewToken::for_subject("ada")).await.unwrap();
    let new = store.rotate(t.id(), Duration::from_secs(60)).await.unwrap();
    store.revoke(new.id()).await.unwrap();
    // A partial batch waits for the interval, then the log refuses three times (backoff 50,
    // 100, 200 ms of tokio's paused clock), then takes it.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(all(&memory).await.is_empty(), "not before the interval");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = all(&memory).await;
    let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [AuditKind::Issued, AuditKind::Rotated, AuditKind::Issued, AuditKind::Revoked]);
    assert_eq!(events[1].token_id.as_ref(), Some(t.id()), "the rotation is about the old token");
    assert_eq!(audit.stats().retries, 3);
    assert_eq!(log.appends.load(Ordering::SeqCst), 4);
    // Shutdown writes what is left.
    audit.record(AuditEvent::new(AuditKind::Leaked, SystemTime::now()));
    assert!(audit.clone().shutdown().await);
    assert_eq!(all(&memory).await.len(), 5);
    assert!(!audit.flush().await, "stopped for every clone");
}

/// Thousands of requests recorded before the writer has its log: all kept, every path right
/// (a thread shares the path string between its requests), in order.
#[tokio::test]
async fn requests_recorded_before_the_log_is_there_all_come_out_in_order() {
    use tower::ServiceExt;
    let audit = AuditWriter::builder().build();
    let store = MemoryTokenStore::new();
    let token = store.issue(NewToken::for_subject("ada")).await.unwrap();
    let secret = token.secret().expose_secret().to_owned();
    let app = tower::ServiceBuilder::new()
        .layer(BearerAuthLayer::new(store).on_event(audit.request_hook()))
        .service(tower::service_fn(|_req: http::Request<axum::body::Body>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(axum::body::Body::empty()))
        }));
    let paths: Vec<String> = (0..6000).map(|i| format!("/v1/things/{}", i / 7 % 5)).collect();
    for path in &paths {
        let request = http::Request::get(path.as_str()).header("authorization", format!("Bearer {secret}"));
        app.clone().oneshot(request.body(axum::body::Body::empty()).unwrap()).await.unwrap();
    }
    let log = MemoryTokenStore::builder().audit_capacity(10_000).build();
    assert!(audit.start(log.clone()));
    assert!(audit.flush().await);
    let events = all(&log).await;
    assert_eq!(events.len(), 6000);
    let seen: Vec<String> = events.iter().map(|e| e.path.clone().unwrap()).collect();
    let mut expected = paths.clone();
    expected.sort();
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(sorted, expected, "every path, each as often as it was requested");
    assert_eq!(seen, paths, "in order");
}

/// A service behind `layer` that answers 200, to send requests to.
fn service<T: tower_bearer::TokenStore>(
    layer: BearerAuthLayer<T>,
) -> impl tower::Service<http::Request<()>, Error = std::convert::Infallible> + Clone {
    use tower::Layer;
    layer.layer(tower::service_fn(|_req: http::Request<()>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(()))
    }))
}

/// Sends `GET path`, with `secret` as a bearer token if any.
async fn send<S>(service: &S, path: &str, secret: Option<&str>)
where
    S: tower::Service<http::Request<()>, Error = std::convert::Infallible> + Clone,
{
    use tower::ServiceExt;
    let mut request = http::Request::get(path);
    if let Some(secret) = secret {
        request = request.header("authorization", format!("Bearer {secret}"));
    }
    let _ = service.clone().oneshot(request.body(()).unwrap()).await;
}

type Reports = Arc<Mutex<Vec<(u64, u64)>>>;

/// A writer with a cap of `max_bytes` over `log`, whose drop reports go to the list returned.
fn capped<L: AuditLog>(log: L, max_bytes: usize) -> (AuditWriter, Reports) {
    let reports = Reports::default();
    let sink = reports.clone();
    let audit = AuditWriter::builder()
        .max_bytes(max_bytes)
        .batch_size(10)
        .flush_interval(Duration::from_millis(100))
        .on_drop(move |drops| sink.lock().unwrap().push((drops.count, drops.total)))
        .spawn(log);
    (audit, reports)
}

/// Issue 21, finding 8: past its cap, the writer drops what comes next (never what it holds),
/// counts it, and tells the application from its own task, the count since the last report.
#[tokio::test(start_paused = true)]
async fn past_its_cap_the_writer_drops_new_events_counts_them_and_reports_them_off_the_request_path() {
    let max = 256 << 10;
    let memory = MemoryTokenStore::builder().audit_capacity(100_000).build();
    let log = counting(memory.clone(), usize::MAX);
    let (audit, reports) = capped(log.clone(), max);
    let store = MemoryTokenStore::new();
    let token = store.issue(NewToken::for_subject("ada")).await.unwrap();
    let secret = token.secret().expose_secret().to_owned();
    let app = service(BearerAuthLayer::new(store).on_event(audit.request_hook()));
    // Nothing yields to the writer's task in these loops: what it does, it does later.
    for i in 0..50_000 {
        send(&app, "/v1/things", Some(&secret)).await;
        if i % 500 == 0 {
            assert!(audit.stats().held_bytes <= max as u64, "{:?}", audit.stats());
        }
    }
    let first = audit.stats();
    assert!(first.dropped > 0 && first.held_bytes <= max as u64, "{first:?}");
    assert_eq!(first.pending + first.dropped, 50_000, "every request held or counted");
    assert!(reports.lock().unwrap().is_empty(), "never reported on the request path");
    // The log is down: the task retries its first batch, and reports the drops meanwhile.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(reports.lock().unwrap().as_slice(), [(first.dropped, first.dropped)]);
    for _ in 0..10_000 {
        send(&app, "/v1/things", Some(&secret)).await;
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    let second = audit.stats();
    assert!(second.held_bytes <= max as u64, "{second:?}");
    assert_eq!(
        reports.lock().unwrap().as_slice(),
        [(first.dropped, first.dropped), (second.dropped - first.dropped, second.dropped)],
        "the count since the last report, once"
    );
    // Back: what was held is written, the oldest first, none lost but what was counted.
    log.failures.store(0, Ordering::SeqCst);
    assert!(audit.flush().await);
    let stats = audit.stats();
    assert_eq!(stats.written + stats.dropped, 60_000, "{stats:?}");
    let events = all(&memory).await;
    assert_eq!((stats.pending, events.len() as u64), (0, stats.written));
    assert!(events.windows(2).all(|w| w[0].at <= w[1].at), "in time order");
}

/// Issue 21, finding 8: a failing write is retried with a backoff that stops growing at 5 s,
/// holding one batch (counted against the cap), while what does not fit is dropped.
#[tokio::test(start_paused = true)]
async fn a_failing_write_is_retried_with_capped_backoff_holding_one_batch() {
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let log = Timed {
        log: counting(MemoryTokenStore::builder().audit_capacity(100_000).build(), usize::MAX),
        attempts: attempts.clone(),
    };
    let max = 64 << 10;
    let (audit, _) = capped(log.clone(), max);
    let at = SystemTime::now();
    for i in 0..5_000u64 {
        audit.record(AuditEvent::new(AuditKind::Leaked, at).with_reason(format!("event {i}")));
    }
    tokio::time::sleep(Duration::from_secs(60)).await;
    let gaps: Vec<u128> =
        attempts.lock().unwrap().windows(2).map(|w| (w[1] - w[0]).as_millis()).collect::<Vec<_>>();
    assert_eq!(gaps[..8], [50, 100, 200, 400, 800, 1600, 3200, 5000], "{gaps:?}");
    assert!(gaps[8..].iter().all(|gap| *gap == 5000), "{gaps:?}");
    let stats = audit.stats();
    assert!(stats.held_bytes <= max as u64 && stats.dropped > 0, "{stats:?}");
    assert_eq!(stats.pending + stats.dropped, 5_000, "{stats:?}");
    // One batch taken out of the rings, the rest waiting in them.
    assert_eq!(stats.written, 0);
    log.log.failures.store(0, Ordering::SeqCst);
    assert!(audit.flush().await);
    let stats = audit.stats();
    assert_eq!((stats.written + stats.dropped, stats.pending), (5_000, 0), "{stats:?}");
    let events = all(&log.log.log).await;
    let first: Vec<_> = events.iter().take(3).map(|e| e.reason.clone().unwrap()).collect();
    assert_eq!(first, ["event 0", "event 1", "event 2"], "the oldest kept, the newest dropped");
}

/// Issue 21, finding 8: 100 000 requests without a token, each to its own 1 KiB path, while
/// the log is down, held 103 MiB. Now: paths are cut to 256 bytes, and past the writer's
/// allowance of paths for requests that name no known token, they are recorded as `<other>`;
/// all of it within the cap (by the writer's own accounting).
#[tokio::test(start_paused = true)]
async fn a_flood_of_unauthenticated_requests_to_long_distinct_paths_stays_under_the_cap() {
    let memory = MemoryTokenStore::builder().audit_capacity(200_000).build();
    let log = counting(memory.clone(), usize::MAX);
    let audit = AuditWriter::builder().spawn(log.clone());
    let app = service(BearerAuthLayer::new(MemoryTokenStore::new()).on_event(audit.request_hook()));
    let filler = "x".repeat(1024);
    let max = 8 << 20;
    let mut peak = 0;
    for i in 0..100_000 {
        send(&app, &format!("/{i:06}/{filler}"), None).await;
        if i % 100 == 0 {
            peak = peak.max(audit.stats().held_bytes);
        }
        if i % 10_000 == 0 {
            // The writer's task takes a batch now and then, and fails to write it.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    let stats = audit.stats();
    peak = peak.max(stats.held_bytes);
    println!(
        "100 000 unauthenticated requests with 1 KiB paths, the log down: {peak} bytes at most, {stats:?}"
    );
    assert!(peak <= max, "{peak} bytes");
    assert!(peak < 4 << 20, "{peak} bytes: strings for the first paths only, 16 bytes a request after");
    assert_eq!(stats.pending + stats.dropped, 100_000, "{stats:?}");
    log.failures.store(0, Ordering::SeqCst);
    assert!(audit.flush().await);
    let events = all(&memory).await;
    let kept: Vec<&str> = events.iter().map(|e| e.path.as_deref().unwrap()).collect();
    assert!(kept.iter().all(|p| p.len() <= 256), "every path cut to 256 bytes");
    let others = kept.iter().filter(|p| **p == "<other>").count();
    assert!(others >= 100_000 - 10 * 1024, "{others} recorded as <other>");
    assert!(kept[0].starts_with("/000000/xxx") && kept[0].ends_with('…'), "{}", kept[0]);
    assert!(events.iter().all(|e| e.reason.as_deref() == Some("missing_credentials")));
}

/// A log that notes when each write was tried (tokio's clock).
#[derive(Clone)]
struct Timed<L> {
    log: L,
    attempts: Arc<Mutex<Vec<tokio::time::Instant>>>,
}

impl<L: AuditLog + Clone> AuditLog for Timed<L> {
    async fn append(&self, events: Vec<AuditEvent>) -> Result<(), StoreError> {
        self.attempts.lock().unwrap().push(tokio::time::Instant::now());
        self.log.append(events).await
    }

    async fn audit_page(&self, query: &AuditQuery) -> Result<Page<AuditRecord, u64>, StoreError> {
        self.log.audit_page(query).await
    }

    async fn purge_audit(&self, before: SystemTime) -> Result<u64, StoreError> {
        self.log.purge_audit(before).await
    }
}

/// Issue 21, finding 8: a request refused behind the layer (`RequireScopesLayer`, credits) was
/// recorded twice, `request.authenticated` then `request.rejected`. Each request is now one
/// audit event, with its outcome.
#[tokio::test]
async fn every_request_is_one_audit_event_wherever_it_was_refused() {
    use axum::handler::Handler;
    use axum::routing::get;
    use tower_bearer::{Credits, CreditsLayer, RequireScopesLayer};

    let memory = MemoryTokenStore::new();
    let audit = AuditWriter::builder().spawn(memory.clone());
    let store = MemoryTokenStore::new();
    let issued = store
        .issue(NewToken::for_subject("ada").scopes(["invoices:read"]).credits(Credits::new(1)))
        .await
        .unwrap();
    let secret = issued.secret().expose_secret().to_owned();
    let app = axum::Router::new()
        .route(
            "/v1/invoices",
            get((|| async { "list" }).layer(RequireScopesLayer::all(["invoices:read"])))
                .post((|| async { "created" }).layer(RequireScopesLayer::all(["invoices:write"]))),
        )
        .route("/v1/metered", get(|| async { "metered" }).route_layer(CreditsLayer::new(store.clone())))
        .route_layer(BearerAuthLayer::new(store).on_event(audit.request_hook()));
    let requests = [
        (http::Method::GET, "/v1/invoices", Some(secret.as_str()), 200),
        (http::Method::GET, "/v1/invoices", None, 401),
        (http::Method::POST, "/v1/invoices", Some(secret.as_str()), 403),
        (http::Method::GET, "/v1/metered", Some(secret.as_str()), 200),
        (http::Method::GET, "/v1/metered", Some(secret.as_str()), 429),
    ];
    for (method, path, secret, status) in &requests {
        use tower::ServiceExt;
        let mut request = http::Request::builder().method(method).uri(*path);
        if let Some(secret) = secret {
            request = request.header("authorization", format!("Bearer {secret}"));
        }
        let response = app.clone().oneshot(request.body(axum::body::Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status().as_u16(), *status, "{method} {path}");
    }
    assert!(audit.flush().await);
    let seen: Vec<_> = all(&memory)
        .await
        .into_iter()
        .map(|e| (e.kind, e.method.unwrap(), e.path.unwrap(), e.reason))
        .collect();
    let event = |kind, method: &str, path: &str, reason: Option<&str>| {
        (kind, method.to_owned(), path.to_owned(), reason.map(str::to_owned))
    };
    use AuditKind::{Authenticated, Rejected};
    assert_eq!(
        seen,
        [
            event(Authenticated, "GET", "/v1/invoices", None),
            event(Rejected, "GET", "/v1/invoices", Some("missing_credentials")),
            event(Rejected, "POST", "/v1/invoices", Some("insufficient_scope")),
            event(Authenticated, "GET", "/v1/metered", None),
            event(Rejected, "GET", "/v1/metered", Some("credits_exhausted")),
        ],
        "one audit event per request"
    );
}
