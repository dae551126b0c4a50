//! The management API's usage routes over a usage log filled directly: one token's series
//! (every bucket present, zeros included), the organization's summary for admins, the tenant
//! rules of the tokens themselves, bad ranges named.

use std::future::IntoFuture;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use tower_bearer::manage::usage::{Granularity, UsageCount, UsageLog, UsageOutcome};
use tower_bearer::{BearerAuthLayer, Clock, MemoryTokenStore, NewToken, TokenId, TokenManager};
use tower_bearer_manage::ManagementApi;

const DAY: u64 = 86_400;

/// 2027-01-15 08:00 UTC.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// The start of the day `n` days from today's.
fn day(n: i64) -> SystemTime {
    let today = Granularity::Day.bucket(now());
    if n >= 0 {
        today + Duration::from_secs(DAY * n as u64)
    } else {
        today - Duration::from_secs(DAY * (-n) as u64)
    }
}

fn secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

async fn get(app: &Router, path: &str, token: &str) -> (StatusCode, Value) {
    let req =
        Request::get(path).header("authorization", format!("Bearer {token}")).body(Body::empty()).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

struct Setup {
    app: Router,
    ada: String,
    bob: String,
    eve: String,
    ci: TokenId,
    bobs: TokenId,
    eves: TokenId,
}

/// Counts of `token` (of `owner`: organization, subject) with `outcome` on day `n`.
fn counted(
    token: Option<&TokenId>,
    owner: Option<(&str, &str)>,
    outcome: UsageOutcome,
    n: i64,
    count: u64,
) -> UsageCount {
    UsageCount {
        token_id: token.cloned(),
        organization: owner.map(|o| o.0.to_owned()),
        subject: owner.map(|o| o.1.to_owned()),
        outcome,
        granularity: Granularity::Day,
        bucket: day(n),
        count,
    }
}

async fn setup() -> Setup {
    let clock = Clock::manual(now());
    let store = MemoryTokenStore::builder().clock(clock).build();
    let all = ["tokens:read", "tokens:write", "tokens:admin"];
    let secret = |t: tower_bearer::IssuedToken| (t.info().id.clone(), t.secret().expose_secret().to_owned());
    let (_, ada) =
        secret(store.issue(NewToken::for_subject("ada").organization("acme").scopes(all)).await.unwrap());
    let (bobs, bob) = secret(
        store.issue(NewToken::for_subject("bob").organization("acme").scopes(["tokens:read"])).await.unwrap(),
    );
    let (eves, eve) =
        secret(store.issue(NewToken::for_subject("eve").organization("evil").scopes(all)).await.unwrap());
    let (ci, _) =
        secret(store.issue(NewToken::for_subject("ada").organization("acme").name("ci")).await.unwrap());
    let log = MemoryTokenStore::new();
    log.add_usage(vec![
        counted(Some(&ci), Some(("acme", "ada")), UsageOutcome::Admitted, -2, 5),
        counted(Some(&ci), Some(("acme", "ada")), UsageOutcome::RateLimited, -2, 2),
        counted(Some(&ci), Some(("acme", "ada")), UsageOutcome::Admitted, 0, 3),
        counted(Some(&ci), Some(("acme", "ada")), UsageOutcome::Admitted, -40, 1000), // before the range
        counted(Some(&bobs), Some(("acme", "bob")), UsageOutcome::Admitted, -1, 4),
        counted(Some(&eves), Some(("evil", "eve")), UsageOutcome::Admitted, -1, 100),
        counted(None, None, UsageOutcome::Unknown, -1, 9),
    ])
    .await
    .unwrap();
    let api = ManagementApi::new(store.clone()).usage_log(log);
    let app = Router::new()
        .nest("/v1", api.router())
        .layer(BearerAuthLayer::new(store.clone()).clock(store.clock().clone()));
    Setup { app, ada, bob, eve, ci, bobs, eves }
}

#[tokio::test]
async fn a_tokens_usage_is_every_bucket_of_the_last_30_days_zeros_included() {
    let s = setup().await;
    let (status, body) = get(&s.app, &format!("/v1/tokens/{}/usage", s.ci.as_str()), &s.ada).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_id"], s.ci.as_str());
    assert_eq!(body["granularity"], "day");
    let buckets = body["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 30, "the last 30 days, today's included");
    assert_eq!(buckets[29]["start"], secs(day(0)));
    assert_eq!(body["from"], secs(day(-29)));
    assert_eq!(body["to"], secs(day(1)));
    assert_eq!(buckets[27]["counts"]["admitted"], 5);
    assert_eq!(buckets[27]["counts"]["rate_limited"], 2);
    assert_eq!(buckets[27]["total"], 7);
    assert_eq!(buckets[29]["counts"]["admitted"], 3);
    let zero: Value = UsageOutcome::ALL.iter().map(|o| (o.as_str().to_owned(), json!(0))).collect();
    assert_eq!(buckets[28]["counts"], zero, "a day without requests is there, every outcome zero");
    assert_eq!(body["totals"]["admitted"], 8, "the count before the range is not in it");
    assert_eq!(body["totals"]["rate_limited"], 2);

    // A range and granularity of one's own: from rounded down to its bucket, to exclusive.
    let path = format!(
        "/v1/tokens/{}/usage?granularity=hour&from={}&to={}",
        s.ci.as_str(),
        secs(day(-2)) + 1_800,
        secs(day(-2)) + 6 * 3_600
    );
    let (status, body) = get(&s.app, &path, &s.ada).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["buckets"].as_array().unwrap().len(), 6);
    assert_eq!(body["from"], secs(day(-2)));
    assert_eq!(body["totals"]["admitted"], 0, "only day buckets were added to this log");
}

#[tokio::test]
async fn a_token_the_caller_may_not_see_has_no_usage_to_show() {
    let s = setup().await;
    let path = format!("/v1/tokens/{}/usage", s.ci.as_str());
    assert_eq!(get(&s.app, &path, &s.eve).await.0, StatusCode::NOT_FOUND, "another organization's");
    assert_eq!(
        get(&s.app, &path, &s.bob).await.0,
        StatusCode::NOT_FOUND,
        "another subject's, for a non-admin"
    );
    assert_eq!(get(&s.app, "/v1/tokens/tid_nope/usage", &s.ada).await.0, StatusCode::NOT_FOUND);
    let (status, body) = get(&s.app, &format!("/v1/tokens/{}/usage", s.bobs.as_str()), &s.bob).await;
    assert_eq!(status, StatusCode::OK, "one's own");
    assert_eq!(body["totals"]["admitted"], 4);
}

#[tokio::test]
async fn bad_ranges_are_named() {
    let s = setup().await;
    let base = format!("/v1/tokens/{}/usage", s.ci.as_str());
    for (query, named) in [
        ("granularity=week", "granularity"),
        ("from=100&to=50", "from"),
        ("granularity=minute&from=0", "buckets"),
        ("from=soon", "from"),
        ("colour=red", "colour"),
    ] {
        let (status, body) = get(&s.app, &format!("{base}?{query}"), &s.ada).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(body["error_description"].as_str().unwrap().contains(named), "{query}: {body}");
    }
}

#[tokio::test]
async fn the_summary_is_the_admins_organization_and_refused_to_others() {
    let s = setup().await;
    let (status, body) = get(&s.app, "/v1/usage", &s.ada).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let tokens: Vec<(Value, Value)> = body["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["token_id"].clone(), t["totals"]["admitted"].clone()))
        .collect();
    let mut expected = vec![(json!(s.ci.as_str()), json!(8)), (json!(s.bobs.as_str()), json!(4))];
    expected.sort_by(|a, b| a.0.as_str().cmp(&b.0.as_str()));
    assert_eq!(tokens, expected, "acme's tokens only: not evil's, not unknown tokens");
    let buckets = body["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 30);
    assert_eq!(buckets[28]["total"], 4);
    assert_eq!(buckets[27]["total"], 7);
    assert_eq!(body["totals"]["unknown"], 0);

    let (status, body) = get(&s.app, "/v1/usage", &s.bob).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not an admin");
    assert_eq!(body["error"], "insufficient_scope");

    let (_, body) = get(&s.app, "/v1/usage", &s.eve).await;
    assert_eq!(
        body["tokens"],
        json!([{ "token_id": s.eves.as_str(), "totals": body["totals"], "total": 100 }])
    );
}

#[test]
fn the_usage_routes_are_documented_when_served() {
    let api = ManagementApi::new(MemoryTokenStore::new());
    let without = api.openapi("/v1");
    assert!(without["paths"].get("/usage").is_none());
    let with = ManagementApi::new(MemoryTokenStore::new()).usage_log(MemoryTokenStore::new()).openapi("/v1");
    assert!(with["paths"]["/tokens/{id}/usage"]["get"]["parameters"].is_array());
    assert!(with["paths"]["/usage"]["get"]["responses"]["200"].is_object());
    assert!(with["components"]["schemas"]["UsageSummary"].is_object());
}

#[tokio::test]
async fn over_real_http_a_token_owner_reads_its_usage_and_another_tenant_does_not() {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let s = setup().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(axum::serve(listener, s.app.clone()).into_future());
    let client = Client::builder(TokioExecutor::new()).build_http::<Body>();
    let fetch = |path: String, token: String| {
        let client = client.clone();
        let uri = format!("{origin}{path}");
        async move {
            let req = Request::get(uri)
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap();
            let res = client.request(req).await.unwrap();
            let status = res.status();
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null))
        }
    };
    let path = format!("/v1/tokens/{}/usage?granularity=day", s.ci.as_str());
    let (status, body) = fetch(path.clone(), s.ada.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["buckets"].as_array().unwrap().len(), 30);
    assert_eq!(body["totals"]["admitted"], 8);
    assert_eq!(fetch(path, s.eve.clone()).await.0, StatusCode::NOT_FOUND);
    assert_eq!(fetch("/v1/usage".into(), s.bob.clone()).await.0, StatusCode::FORBIDDEN);
    server.abort();
}
