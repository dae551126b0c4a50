//! An instance killed with SIGKILL mid-traffic: what its audit log lost. A child process
//! (this test binary run again, see `tower_bearer_test_support::child`) answers requests for a
//! second through the layer, its [`AuditWriter`] batching their events into a throwaway
//! PostgreSQL, issues a token, and is killed. Request events not yet written are lost (at
//! most a flush interval of them); the token's lifecycle, written with the change, is not.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_bearer::manage::audit::AuditKind;
use tower_bearer::{BearerAuthLayer, NewToken, TokenManager};
use tower_bearer_manage::AuditWriter;
use tower_bearer_sqlx::SqlTokenStore;
use tower_bearer_test_support::pg::PgCluster;
use tower_bearer_test_support::{child, get};

use crate::audit::all;

const CHILD_DATABASE: &str = "TOWER_BEARER_TEST_CHILD_DATABASE";
const CHILD_TOKEN: &str = "TOWER_BEARER_TEST_CHILD_TOKEN";
/// How long the child answers requests, and its writer's flush interval.
const TRAFFIC_FOR: Duration = Duration::from_secs(1);
const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// Not a test: the child process of the test below, which runs this test binary again with
/// its orders in the environment (run on its own, it has none and returns at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child process of a crash test, started by it"]
async fn child_answering_audited_requests() {
    let (Ok(url), Ok(token)) = (std::env::var(CHILD_DATABASE), std::env::var(CHILD_TOKEN)) else {
        return;
    };
    let store = SqlTokenStore::open(&url).await.unwrap();
    let audit = AuditWriter::builder().flush_interval(FLUSH_INTERVAL).spawn(store.clone());
    let layer = BearerAuthLayer::new(store.clone()).on_event(audit.request_hook());
    let service =
        ServiceBuilder::new().layer(layer).service(service_fn(|_req: Request<Full<Bytes>>| async {
            Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
        }));
    let (started, mut answered) = (Instant::now(), 0);
    while started.elapsed() < TRAFFIC_FOR {
        let answer = service.clone().oneshot(get(Some(&token))).await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        answered += 1;
    }
    let _secret_unused =
        store.issue(NewToken::for_subject("ada").name("just before the crash")).await.unwrap();
    child::report_and_wait(&format!("answered {answered}")).await
}

/// How many events of `kind` the log holds.
async fn count(store: &SqlTokenStore, kind: AuditKind) -> usize {
    all(store).await.iter().filter(|event| event.kind == kind).count()
}

#[tokio::test]
async fn a_killed_instance_loses_request_events_within_a_flush_and_no_lifecycle_event() {
    let Some(cluster) = PgCluster::start() else { return };
    let url = cluster.url();
    let store = SqlTokenStore::open(&url).await.unwrap();
    let issued = store.issue(NewToken::for_subject("ada")).await.unwrap();

    let env = [(CHILD_DATABASE, url.as_str()), (CHILD_TOKEN, issued.secret().expose_secret())];
    let (process, report) = child::start("crashes::child_answering_audited_requests", &env);
    let answered: usize = report.strip_prefix("answered ").unwrap().parse().unwrap();
    child::kill_9(process);

    let written = count(&store, AuditKind::Authenticated).await;
    assert!(written > 0 && written <= answered, "{written} of {answered}");
    let lost = answered - written;
    println!(
        "audit events lost by kill -9: {lost} of {answered} requests answered in {TRAFFIC_FOR:?} \
         ({:.0} ms of traffic; flush interval {FLUSH_INTERVAL:?})",
        lost as f64 / answered as f64 * TRAFFIC_FOR.as_secs_f64() * 1000.0
    );
    assert_eq!(count(&store, AuditKind::Issued).await, 2, "both issues, written with their tokens");
}
