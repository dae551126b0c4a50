//! The audit writer: request outcomes and lifecycle events reach the log in batches, off the
//! request path, none lost (a burst of 10 000 requests on SQLite, a log that fails for a
//! while, a graceful shutdown).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use tower_bearer::manage::audit::{AuditEvent, AuditKind, AuditLog, AuditPage, AuditQuery, MemoryAuditLog};
use tower_bearer::{BearerAuthLayer, MemoryTokenStore, NewToken, StoreError, TokenManager};
use tower_bearer_manage::AuditWriter;
use tower_bearer_sqlx::SqlTokenStore;
use tower_bearer_test_support::status;

/// A log that counts its writes and refuses the first `failures` of them.
#[derive(Clone)]
struct Counting<L> {
    log: L,
    appends: Arc<AtomicUsize>,
    failures: Arc<AtomicUsize>,
}

impl<L: AuditLog + Clone> AuditLog for Counting<L> {
    async fn append(&self, events: Vec<AuditEvent>) -> Result<(), StoreError> {
        self.appends.fetch_add(1, Ordering::SeqCst);
        if self.failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(StoreError::unavailable("the audit database is down"));
        }
        self.log.append(events).await
    }

    async fn audit_page(&self, query: &AuditQuery) -> Result<AuditPage, StoreError> {
        self.log.audit_page(query).await
    }

    async fn purge_audit(&self, before: SystemTime) -> Result<u64, StoreError> {
        self.log.purge_audit(before).await
    }
}

fn counting<L>(log: L, failures: usize) -> Counting<L> {
    Counting { log, appends: Arc::default(), failures: Arc::new(AtomicUsize::new(failures)) }
}

async fn all<L: AuditLog>(log: &L) -> Vec<AuditEvent> {
    let mut events = Vec::new();
    let mut query = AuditQuery::new().limit(1000);
    loop {
        let page = log.audit_page(&query).await.unwrap();
        events.extend(page.records.into_iter().map(|r| r.event));
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
    let memory = MemoryAuditLog::new();
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
    assert!(memory.is_empty(), "not before the interval");
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
    assert_eq!(memory.len(), 5);
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
    let log = MemoryAuditLog::with_capacity(10_000);
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
