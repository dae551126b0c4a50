//! Metered API keys: a rate limit and credits per key, on 127.0.0.1:3000.
//!
//! ```text
//! cargo run --example metered_keys
//! ```
//!
//! It issues two keys and prints the curl lines to try:
//!
//! - a `starter` key, limited to 5 requests per 10 seconds (set on the key when it is issued),
//!   with 100 credits refilled every day;
//! - a `trial` key, with no limit of its own: it gets the default for its kind (2 requests per
//!   minute), and 3 credits that never come back.
//!
//! A search costs one credit, a report five; `/v1/usage` is free and shows what is left, read
//! through the management API: `remaining` (what requests can still spend this period),
//! `leased` (credits instances of a shared store hold in leases not yet accounted for: never
//! in memory, where every spend is exact) and `spent` (gone for good this period). Over a
//! limit, the answer is 429 with `Retry-After` and the IETF `RateLimit-Policy` / `RateLimit`
//! fields (sent on every answer here, `advertise(true)`); out of credits, 429 with the reason
//! `credits_exhausted`.
//!
//! The starter key may also make keys of its own through the management API under
//! `/v1/manage` (`POST /v1/manage/tokens`), each within its limits: a `rate_limit` no looser
//! than 5 per 10 s and `credits` no more than 100 a day, or the answer is 400 naming the field
//! and the starter key's own limit. Set `PORT` to listen elsewhere.

use std::time::{Duration, UNIX_EPOCH};

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tower_bearer::grant::{DefaultLimits, MintRules};
use tower_bearer::{
    AuthError, BearerAuthLayer, Clock, Credits, CreditsLayer, ManageError, MemoryTokenStore, NewToken,
    Principal, RateLimit, RateLimitLayer, TokenManager,
};
use tower_bearer_manage::ManagementApi;

/// The demo: its router and the two keys it prints.
pub struct Demo {
    pub app: Router,
    /// 5 requests per 10 s of its own, 100 credits a day; makes keys within those.
    pub starter: String,
    /// The `trial` kind's default limit (2 per minute), 3 credits.
    pub trial: String,
}

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Two metered keys in a memory store on `clock`, and the API they open.
pub async fn demo(clock: Clock) -> Result<Demo, ManageError> {
    // One definition of the kinds' default limits, for the layer that applies them and for
    // the store, which compares effective limits when a key makes another.
    let defaults =
        DefaultLimits::none().for_kind("trial", RateLimit::per_minute(2).expect("2 per minute is a limit"));
    let store = MemoryTokenStore::builder()
        .clock(clock.clone())
        .rules(MintRules::new().with_default_limits(defaults.clone()))
        .build();
    let starter = store
        .issue(
            NewToken::for_subject("acme")
                .name("starter key")
                .scopes(["tokens:read", "tokens:write"])
                .rate_limit(RateLimit::new(5, Duration::from_secs(10)).expect("5 per 10 s is a limit"))
                .credits(Credits::new(100).refilled(100, DAY)),
        )
        .await?;
    let trial = store
        .issue(NewToken::for_subject("initech").name("trial key").kind("trial").credits(Credits::new(3)))
        .await?;

    let limits = RateLimitLayer::new().default_limits(defaults).advertise(true).clock(clock.clone());
    let search = get(search).layer(CreditsLayer::new(store.clone()));
    let report = post(report).layer(CreditsLayer::new(store.clone()).cost(5));
    let app = Router::new()
        .route("/v1/search", search)
        .route("/v1/reports", report)
        .route("/v1/usage", get(usage))
        .with_state(store.clone())
        .nest("/v1/manage", ManagementApi::new(store.clone()).router())
        // The auth layer runs the rate limit itself, on valid keys only, counted by key id.
        .route_layer(BearerAuthLayer::new(store).clock(clock).rate_limit(limits));
    Ok(Demo {
        app,
        starter: starter.secret().expose_secret().to_owned(),
        trial: trial.secret().expose_secret().to_owned(),
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Demo { app, starter, trial } = demo(Clock::system()).await?;
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    let base = format!("http://{}", listener.local_addr()?);
    println!("listening on {base}");
    println!("starter key (5 requests per 10 s, 100 credits a day): {starter}");
    println!("trial key (2 requests per minute, 3 credits): {trial}");
    println!();
    println!("try:");
    println!(
        "  for i in 1 2 3 4 5 6; do curl -s -o /dev/null -w '%{{http_code}}\\n' -H 'Authorization: Bearer {starter}' {base}/v1/search; done   # 200 x5, then 429"
    );
    println!(
        "  curl -i -H 'Authorization: Bearer {starter}' {base}/v1/search          # 429, Retry-After, RateLimit"
    );
    println!("  curl -s -H 'Authorization: Bearer {starter}' {base}/v1/usage           # credits left");
    println!(
        "  curl -s -H 'Authorization: Bearer {starter}' -H 'Content-Type: application/json' {base}/v1/manage/tokens \\\n      -d '{{\"name\":\"ci\",\"rate_limit\":{{\"requests\":2,\"period_secs\":10}},\"credits\":{{\"initial\":20}}}}'   # a key within the starter's limits"
    );
    println!(
        "  curl -i -X POST -H 'Authorization: Bearer {trial}' {base}/v1/reports   # 429 credits_exhausted (5 > 3)"
    );
    axum::serve(listener, app).await?;
    Ok(())
}

async fn search(principal: Principal) -> Json<Value> {
    Json(json!({ "customer": principal.subject(), "results": [] }))
}

async fn report(principal: Principal) -> Json<Value> {
    Json(json!({ "customer": principal.subject(), "report": "queued" }))
}

/// What is left of the caller's credits, through the management API, in three figures that
/// add up to what the current period started with (`allowance`):
///
/// - `remaining`: credits nobody holds, what requests can still spend this period;
/// - `leased`: credits instances of a shared store (SQL) took in leases and have not accounted
///   for yet: neither available to other instances nor known to be spent (part of them may
///   be); always 0 in memory;
/// - `spent`: credits gone for good this period (`allowance - remaining - leased`).
///
/// Requests have used at most `spent + leased` this period.
async fn usage(
    State(store): State<MemoryTokenStore>,
    principal: Principal,
) -> Result<Json<Value>, AuthError> {
    let id = principal.token_id().ok_or(AuthError::Denied)?;
    let info = store.get(id).await.map_err(|_| AuthError::Denied)?.ok_or(AuthError::Denied)?;
    let now = store.clock().now();
    let credits = info.credits.zip(principal.credits()).map(|(balance, plan)| {
        // A refill that came due since the store last wrote the balance counts.
        let c = balance.as_of(plan, now);
        let next_refill = c.next_refill_at.and_then(|at| at.duration_since(UNIX_EPOCH).ok());
        json!({
            "remaining": c.remaining,
            "leased": c.leased,
            "spent": c.spent(),
            "allowance": c.allowance,
            "next_refill_unix": next_refill.map(|d| d.as_secs()),
        })
    });
    let limit = principal
        .rate_limit()
        .map(|l| json!({ "requests": l.requests(), "per_seconds": l.period().as_secs() }));
    Ok(Json(json!({ "key": id.as_str(), "credits": credits, "rate_limit": limit })))
}
