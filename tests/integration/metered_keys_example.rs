//! The `metered_keys` example, in process, over real HTTP, on a manual clock: the starter
//! key's own limit and the trial kind's default, 429 with its headers, credits per route cost,
//! the usage read through the management API (remaining, leased and spent apart), keys the
//! starter key makes through the management API within its limits, and the daily refill.

use std::time::{Duration, SystemTime};

use http::{Method, StatusCode};
use tower_bearer::Clock;

use crate::client::{Reply, Served, send};

#[path = "../../examples/metered_keys.rs"]
#[allow(dead_code, unreachable_pub)]
mod metered_keys;

async fn call(ex: &Served, method: Method, path: &str, token: &str) -> Reply {
    send(method, &ex.url(path), Some(token), None).await
}

#[tokio::test]
async fn metered_keys_example() {
    let clock = Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let metered_keys::Demo { app, starter, trial } = metered_keys::demo(clock.clone()).await.unwrap();
    let ex = Served::start(app).await;

    for remaining in (0..5).rev() {
        let ok = call(&ex, Method::GET, "/v1/search", &starter).await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
        assert_eq!(ok.headers["ratelimit-policy"], "\"token\";q=5;w=10");
        assert!(ok.headers["ratelimit"].to_str().unwrap().starts_with(&format!("\"token\";r={remaining};")));
    }
    let limited = call(&ex, Method::GET, "/v1/search", &starter).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers["retry-after"], "2");
    assert_eq!(limited.headers["ratelimit"], "\"token\";r=0;t=2");
    assert_eq!(limited.json()["error"], "rate_limited");

    clock.advance(Duration::from_secs(10));
    let usage = call(&ex, Method::GET, "/v1/usage", &starter).await;
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.body);
    let credits = &usage.json()["credits"];
    assert_eq!(credits["remaining"], 95, "five searches; the refused one spent nothing");
    assert_eq!(
        (&credits["leased"], &credits["spent"], &credits["allowance"]),
        (&0.into(), &5.into(), &100.into())
    );
    assert_eq!(usage.json()["rate_limit"]["requests"], 5);

    // The starter key makes a key within its limits, and none looser (the field named).
    let json = "application/json";
    let within = r#"{"name":"ci","rate_limit":{"requests":2,"period_secs":10},"credits":{"initial":20}}"#;
    let made = send(Method::POST, &ex.url("/v1/manage/tokens"), Some(&starter), Some((json, within))).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(made.json()["credits"]["balance"]["remaining"], 20);
    let looser = r#"{"name":"ci","rate_limit":{"requests":50,"period_secs":10},"credits":{"initial":20}}"#;
    let refused =
        send(Method::POST, &ex.url("/v1/manage/tokens"), Some(&starter), Some((json, looser))).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    let description = refused.json()["error_description"].as_str().unwrap().to_owned();
    assert!(
        description.contains("`rate_limit`") && description.contains("5 requests per 10 s"),
        "{description}"
    );

    // The trial key: the kind's default limit (2 per minute), and 3 credits.
    let report = call(&ex, Method::POST, "/v1/reports", &trial).await;
    assert_eq!(report.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(report.json()["error"], "credits_exhausted");
    assert!(report.headers.get("retry-after").is_none(), "trial credits never come back");
    assert_eq!(call(&ex, Method::GET, "/v1/search", &trial).await.status, StatusCode::OK);
    let limited = call(&ex, Method::GET, "/v1/search", &trial).await;
    assert_eq!(limited.json()["error"], "rate_limited", "the kind's 2 per minute: the report counted too");
    assert_eq!(limited.headers["ratelimit-policy"], "\"token\";q=2;w=60");
    clock.advance(Duration::from_secs(60));
    for _ in 0..2 {
        assert_eq!(call(&ex, Method::GET, "/v1/search", &trial).await.status, StatusCode::OK);
    }
    clock.advance(Duration::from_secs(60));
    assert_eq!(call(&ex, Method::GET, "/v1/search", &trial).await.json()["error"], "credits_exhausted");

    // A day later the starter key's credits are back to 100.
    clock.advance(Duration::from_secs(24 * 3600));
    assert_eq!(call(&ex, Method::POST, "/v1/reports", &starter).await.status, StatusCode::OK);
    let credits = call(&ex, Method::GET, "/v1/usage", &starter).await.json()["credits"].clone();
    assert_eq!((&credits["remaining"], &credits["spent"]), (&95.into(), &5.into()), "the report's 5");
}
