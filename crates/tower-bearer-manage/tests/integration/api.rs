//! The management API, one contract run on the memory store, SQLite and PostgreSQL: create
//! (shown once), list by pages, show, rotate, revoke, the audit log; tenants and scopes; bad
//! input answered with the right status and the field named.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use tower_bearer::limit::CreditLedger;
use tower_bearer::manage::audit::AuditLog;
use tower_bearer::{BearerAuthLayer, Clock, CreditsLayer, MemoryTokenStore, NewToken, TokenManager};
use tower_bearer_manage::{AuditWriter, ManagementApi};
use tower_bearer_sqlx::SqlTokenStore;
use tower_bearer_test_support::pg::PgCluster;

struct Reply {
    status: StatusCode,
    body: Value,
}

async fn call(app: &Router, method: Method, path: &str, token: &str, body: Option<&str>) -> Reply {
    let mut req =
        Request::builder().method(method).uri(path).header("authorization", format!("Bearer {token}"));
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req.body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned()))).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    Reply { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

/// The whole contract, on `store` with `log` as its audit log.
async fn contract<S, L>(store: S, log: L)
where
    S: TokenManager + Clone,
    L: AuditLog + Clone,
{
    let audit = AuditWriter::builder().spawn(log.clone());
    let api = ManagementApi::new(store.clone()).audit_log(log).body_limit(1024);
    let app = Router::new()
        .nest("/v1", api.router())
        .layer(BearerAuthLayer::new(store.clone()).on_event(audit.request_hook()));
    let all = ["tokens:read", "tokens:write", "audit:read", "tokens:admin", "reports:read"];
    let admin = store.issue(NewToken::for_subject("ada").organization("acme").scopes(all)).await.unwrap();
    let admin = admin.secret().expose_secret().to_owned();
    let other_org = store.issue(NewToken::for_subject("eve").organization("evil").scopes(all)).await.unwrap();
    let other_org = other_org.secret().expose_secret().to_owned();

    // Create: 201, the secret once.
    let created = call(
        &app,
        Method::POST,
        "/v1/tokens",
        &admin,
        Some(r#"{"name":"ci","scopes":["tokens:read","reports:read"],"expires_in":3600}"#),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let (id, reader) =
        (created.body["id"].as_str().unwrap().to_owned(), created.body["token"].as_str().unwrap().to_owned());
    assert_eq!(created.body["name"], "ci");
    assert_eq!(created.body["organization"], "acme");
    assert_eq!(created.body["scopes"], json!(["reports:read", "tokens:read"]));
    assert!(created.body["expires_at"].as_u64().is_some());
    let shown = call(&app, Method::GET, &format!("/v1/tokens/{id}"), &admin, None).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.body.get("token").is_none(), "shown once: never again");
    assert_eq!(shown.body["hint"].as_str().map(|h| h.contains(&reader)), Some(false));

    // For a member of the organization, by the admin.
    let bob = call(
        &app,
        Method::POST,
        "/v1/tokens",
        &admin,
        Some(r#"{"subject":"bob","scopes":["reports:read"]}"#),
    )
    .await;
    assert_eq!(bob.status, StatusCode::CREATED);
    assert_eq!(bob.body["subject"], "bob");

    // Scopes: the reader cannot write, nor mint what it does not hold.
    let refused =
        call(&app, Method::POST, "/v1/tokens", &reader, Some(r#"{"scopes":["tokens:write"]}"#)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.body["error"], "insufficient_scope");
    let widened =
        call(&app, Method::POST, "/v1/tokens", &admin, Some(r#"{"scopes":["billing:write"]}"#)).await;
    assert_eq!(widened.status, StatusCode::FORBIDDEN, "a scope the issuer does not hold");

    // Listing: pages with a cursor; a reader sees its own tokens, an admin the organization's.
    for i in 0..5 {
        let body = format!(r#"{{"name":"bulk{i}","scopes":["reports:read"]}}"#);
        assert_eq!(
            call(&app, Method::POST, "/v1/tokens", &admin, Some(&body)).await.status,
            StatusCode::CREATED
        );
    }
    let mut names = Vec::new();
    let mut path = "/v1/tokens?limit=3".to_owned();
    loop {
        let page = call(&app, Method::GET, &path, &admin, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let tokens = page.body["tokens"].as_array().unwrap();
        assert!(tokens.len() <= 3);
        names.extend(tokens.iter().map(|t| t["subject"].as_str().unwrap().to_owned()));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/tokens?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(names.len(), 8, "ada's admin key, ci, bob's and 5 bulk: {names:?}");
    assert!(!names.contains(&"eve".to_owned()), "never another organization's");
    let bobs = call(&app, Method::GET, "/v1/tokens?subject=bob", &admin, None).await;
    assert_eq!(bobs.body["tokens"].as_array().unwrap().len(), 1);
    let own = call(&app, Method::GET, "/v1/tokens", &reader, None).await;
    assert_eq!(own.body["tokens"].as_array().unwrap().len(), 7, "ada's, not bob's");
    let snooping = call(&app, Method::GET, "/v1/tokens?subject=bob", &reader, None).await;
    assert_eq!(snooping.body["tokens"], json!([]));

    // Another tenant: 404, as an unknown token.
    for (method, path) in
        [(Method::GET, format!("/v1/tokens/{id}")), (Method::DELETE, format!("/v1/tokens/{id}"))]
    {
        assert_eq!(call(&app, method, &path, &other_org, None).await.status, StatusCode::NOT_FOUND);
    }
    assert_eq!(
        call(&app, Method::GET, "/v1/tokens/tid_nope", &admin, None).await.status,
        StatusCode::NOT_FOUND
    );

    // Rotate with grace: a new secret; the old one works until the grace ends.
    let rotated =
        call(&app, Method::POST, &format!("/v1/tokens/{id}/rotate"), &admin, Some(r#"{"grace_secs":60}"#))
            .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let successor = rotated.body["token"].as_str().unwrap().to_owned();
    assert_eq!(call(&app, Method::GET, "/v1/tokens", &reader, None).await.status, StatusCode::OK);
    assert_eq!(call(&app, Method::GET, "/v1/tokens", &successor, None).await.status, StatusCode::OK);

    // Revoke: 204, then 401 for it, 404 for a second revocation.
    let new_id = rotated.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        call(&app, Method::DELETE, &format!("/v1/tokens/{new_id}"), &admin, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, Method::GET, "/v1/tokens", &successor, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, Method::DELETE, &format!("/v1/tokens/{new_id}"), &admin, None).await.status,
        StatusCode::NOT_FOUND
    );

    // Bad input: the status, and the field named.
    let too_long = format!(r#"{{"name":"{}"}}"#, "x".repeat(2000));
    let cases: [(&str, Option<&str>, StatusCode, &str); 7] = [
        ("/v1/tokens", Some(r#"{"name":"x","expires_in":"soon"}"#), StatusCode::BAD_REQUEST, "expires_in"),
        ("/v1/tokens", Some(r#"{"nmae":"x"}"#), StatusCode::BAD_REQUEST, "nmae"),
        ("/v1/tokens", Some(r#"{"name":"x""#), StatusCode::BAD_REQUEST, "JSON"),
        ("/v1/tokens", Some(r#"{"expires_at":1}"#), StatusCode::BAD_REQUEST, "expires_at"),
        ("/v1/tokens", Some(&too_long), StatusCode::PAYLOAD_TOO_LARGE, "1024"),
        ("/v1/tokens?limit=many", None, StatusCode::BAD_REQUEST, "limit"),
        // The OAuth endpoints' kind: no caller mints one, not even an admin.
        ("/v1/tokens", Some(r#"{"kind":"oauth_access"}"#), StatusCode::BAD_REQUEST, "`kind`"),
    ];
    for (path, body, status, named) in cases {
        let method = if body.is_some() { Method::POST } else { Method::GET };
        let reply = call(&app, method, path, &admin, body).await;
        assert_eq!(reply.status, status, "{path} {body:?}: {}", reply.body);
        let description = reply.body["error_description"].as_str().unwrap_or_default();
        assert!(description.contains(named), "{description:?} names {named}");
    }
    let plain = Request::post("/v1/tokens")
        .header("authorization", format!("Bearer {admin}"))
        .header("content-type", "text/plain")
        .body(Body::from("name=x"))
        .unwrap();
    assert_eq!(app.clone().oneshot(plain).await.unwrap().status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // The audit log: the requests above, the tenant's own only, filtered by token and type.
    assert!(audit.flush().await);
    let events = call(&app, Method::GET, "/v1/audit?limit=1000", &admin, None).await;
    assert_eq!(events.status, StatusCode::OK, "{}", events.body);
    let events = events.body["events"].as_array().unwrap().clone();
    assert!(events.len() > 20);
    assert!(events.iter().all(|e| e["organization"] == "acme"), "never another organization's events");
    let refused = call(&app, Method::GET, "/v1/audit?event=request.rejected", &admin, None).await;
    let refused = refused.body["events"].as_array().unwrap().clone();
    assert!(refused.iter().any(|e| e["reason"] == "revoked_token" && e["status"] == 401));
    // The API's own refusals too, with the path the layer saw and the scope's reason.
    let scope_refusals: Vec<_> = refused
        .iter()
        .filter(|e| e["reason"] == "insufficient_scope" && e["method"] == "POST" && e["path"] == "/v1/tokens")
        .collect();
    assert_eq!(scope_refusals.len(), 2, "the reader's write, the admin's widening: {refused:?}");
    assert!(scope_refusals.iter().all(|e| e["status"] == 403));
    assert_eq!(
        call(&app, Method::GET, "/v1/audit?event=token.stolen", &admin, None).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(call(&app, Method::GET, "/v1/audit", &reader, None).await.status, StatusCode::FORBIDDEN);
    audit.shutdown().await;
}

#[tokio::test]
async fn the_api_on_the_memory_store() {
    contract(MemoryTokenStore::new(), MemoryTokenStore::new()).await;
}

#[tokio::test]
async fn the_api_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlTokenStore::builder().open_sqlite(dir.path().join("t.db")).await.unwrap();
    contract(store.clone(), store).await;
}

#[tokio::test]
async fn the_api_on_postgres() {
    let Some(cluster) = PgCluster::start() else { return };
    let store = SqlTokenStore::open(&cluster.url()).await.unwrap();
    contract(store.clone(), store).await;
}

#[test]
fn the_openapi_document_describes_the_api_as_mounted() {
    let store = MemoryTokenStore::new();
    let with_audit = ManagementApi::new(store.clone())
        .audit_log(MemoryTokenStore::new())
        .scopes("keys:read", "keys:write", "logs:read")
        .openapi("/v1");
    assert_eq!(with_audit["openapi"], "3.1.0");
    assert_eq!(with_audit["servers"][0]["url"], "/v1");
    let paths = with_audit["paths"].as_object().unwrap();
    let mut routes: Vec<String> = paths
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object().unwrap().keys().map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect();
    routes.sort();
    assert_eq!(
        routes,
        [
            "DELETE /tokens/{id}",
            "GET /audit",
            "GET /notices",
            "GET /tokens",
            "GET /tokens/{id}",
            "POST /tokens",
            "POST /tokens/{id}/rotate"
        ]
    );
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path}");
            assert_eq!(op["security"][0]["bearer"], json!([]), "{method} {path}");
        }
    }
    let schemas = with_audit["components"]["schemas"].as_object().unwrap();
    for schema in
        ["TokenView", "IssuedView", "TokenList", "AuditList", "ErrorBody", "CreateRequest", "RotateRequest"]
    {
        assert!(schemas.contains_key(schema), "{schema}");
    }
    assert_eq!(with_audit["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let description = with_audit["info"]["description"].as_str().unwrap();
    assert!(description.contains("`keys:write`") && description.contains("`logs:read`"), "{description}");
    // The issued view carries the secret; the plain view never does.
    assert!(schemas["TokenView"]["properties"].get("token").is_none());
    // Metered keys: the create body's limits and audience, the views' plan and balance.
    let create = &schemas["CreateRequest"]["properties"];
    assert_eq!(create["audience"]["type"], json!(["array", "null"]), "{create}");
    let view = &schemas["TokenView"]["properties"];
    for (properties, field, schema) in [
        (create, "rate_limit", "RateLimitRequest"),
        (create, "credits", "CreditsRequest"),
        (view, "rate_limit", "RateLimitView"),
        (view, "credits", "CreditsView"),
    ] {
        let reference = serde_json::to_string(&properties[field]).unwrap();
        assert!(reference.contains(&format!("#/components/schemas/{schema}")), "{field}: {reference}");
    }
    assert!(view["audience"].is_object());
    // The key a token is bound to (DPoP): optional in the body, as RFC 9449 §10 names it.
    assert_eq!(create["dpop_jkt"]["type"], json!(["string", "null"]), "{create}");
    assert_eq!(create["dpop_jkt"]["pattern"], "^[A-Za-z0-9_-]{43}$", "{create}");
    assert!(view["dpop_jkt"].to_string().contains("description"), "{view}");
    let fields = |schema: &str| -> Vec<String> {
        let mut keys: Vec<String> =
            schemas[schema]["properties"].as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(fields("RateLimitRequest"), ["period_secs", "requests"]);
    assert_eq!(schemas["RateLimitRequest"]["properties"]["requests"]["minimum"], 1);
    assert_eq!(fields("CreditsRequest"), ["initial", "refill"]);
    assert_eq!(fields("RefillRequest"), ["amount", "every_secs"]);
    assert_eq!(fields("CreditsView"), ["balance", "initial", "refill"]);
    assert_eq!(fields("BalanceView"), ["allowance", "leased", "next_refill_at", "remaining", "spent"]);
    for (schema, field) in
        [("BalanceView", "leased"), ("BalanceView", "spent"), ("CreateRequest", "rate_limit")]
    {
        let text = schemas[schema]["properties"][field].to_string();
        assert!(text.contains("description"), "{schema}.{field} is described: {text}");
    }

    let without = ManagementApi::new(store).openapi("https://api.example.com/v1");
    assert!(without["paths"].get("/audit").is_none(), "no audit route, not documented");
}

/// An API with a route that spends one credit per request, on `store`.
fn metered_app<S: TokenManager + CreditLedger + Clone>(store: &S) -> Router {
    let spend = get(|| async { "spent" }).layer(CreditsLayer::new(store.clone()));
    Router::new()
        .nest("/v1", ManagementApi::new(store.clone()).router())
        .route("/v1/search", spend)
        .layer(BearerAuthLayer::new(store.clone()).clock(store.clock().clone()))
}

const HOUR: u64 = 3_600;
const RESOURCE: &str = "https://api.example.com";

/// What [`metered_keys`] leaves for a store-specific test to go on with.
struct Metered {
    app: Router,
    admin: String,
    /// The metered key: 10 credits an hour, 3 of them spent.
    token: String,
    id: String,
    /// When it was created, in Unix seconds.
    created: u64,
}

impl Metered {
    /// The balance figures of the metered key as the API shows them: remaining, leased, spent.
    async fn balance(&self) -> (Value, Value, Value) {
        let shown = call(&self.app, Method::GET, &format!("/v1/tokens/{}", self.id), &self.admin, None).await;
        assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
        let b = &shown.body["credits"]["balance"];
        (b["remaining"].clone(), b["leased"].clone(), b["spent"].clone())
    }

    /// One request of the metered key to the route that spends a credit.
    async fn spend(&self) {
        let request = Request::get("/v1/search").header("authorization", format!("Bearer {}", self.token));
        let response = self.app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    /// A refill shows as soon as it is due, before any request writes it; then one request
    /// leaves `after_one` (remaining, leased, spent).
    async fn refill(&self, clock: &Clock, after_one: (u64, u64, u64)) {
        clock.advance(Duration::from_secs(HOUR));
        assert_eq!(self.balance().await, (json!(10), json!(0), json!(0)), "refilled");
        let shown = call(&self.app, Method::GET, &format!("/v1/tokens/{}", self.id), &self.admin, None).await;
        assert_eq!(shown.body["credits"]["balance"]["next_refill_at"], json!(self.created + 2 * HOUR));
        self.spend().await;
        let (remaining, leased, spent) = after_one;
        assert_eq!(self.balance().await, (json!(remaining), json!(leased), json!(spent)));
    }
}

/// Metered keys through the API on `store` (on `clock`): created with a rate limit, credits and
/// an audience, shown with their plan and balance; a metered key creates only keys within its
/// own limits, told which field and what its own limit is; bad limits named; after 3 requests,
/// the balance `after_three` (remaining, leased, spent).
async fn metered_keys<S>(store: S, clock: &Clock, after_three: (u64, u64, u64)) -> Metered
where
    S: TokenManager + CreditLedger + Clone,
{
    let app = metered_app(&store);
    let admin = store
        .issue(NewToken::for_subject("ada").organization("acme").scopes(["tokens:read", "tokens:write"]))
        .await
        .unwrap();
    let admin = admin.secret().expose_secret().to_owned();

    let body = json!({
        "name": "metered",
        "scopes": ["tokens:read", "tokens:write"],
        "rate_limit": {"requests": 5, "period_secs": 10},
        "credits": {"initial": 10, "refill": {"amount": 10, "every_secs": HOUR}},
        "audience": [RESOURCE],
    });
    let created = call(&app, Method::POST, "/v1/tokens", &admin, Some(&body.to_string())).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let now = clock.now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(created.body["rate_limit"], json!({"requests": 5, "period_secs": 10}));
    assert_eq!(created.body["audience"], json!([RESOURCE]));
    assert_eq!(
        created.body["credits"],
        json!({
            "initial": 10,
            "refill": {"amount": 10, "every_secs": HOUR},
            "balance": {"remaining": 10, "leased": 0, "spent": 0, "allowance": 10, "next_refill_at": now + HOUR},
        })
    );
    let id = created.body["id"].as_str().unwrap().to_owned();
    let token = created.body["token"].as_str().unwrap().to_owned();
    let listed = call(&app, Method::GET, "/v1/tokens", &admin, None).await;
    let tokens = listed.body["tokens"].as_array().unwrap();
    let row = tokens.iter().find(|t| t["id"] == id.as_str()).unwrap();
    assert_eq!(
        (&row["rate_limit"], &row["credits"]),
        (&created.body["rate_limit"], &created.body["credits"])
    );
    let unmetered = tokens.iter().find(|t| t["id"] != id.as_str()).unwrap();
    assert_eq!(
        (&unmetered["rate_limit"], &unmetered["credits"], &unmetered["audience"]),
        (&Value::Null, &Value::Null, &json!([]))
    );

    // The metered key creates keys within its limits only: each refusal names the field and
    // says what the key's own limit is.
    let within = json!({
        "rate_limit": {"requests": 5, "period_secs": 20},
        "credits": {"initial": 5},
        "audience": [RESOURCE],
    });
    let mut looser = Vec::new();
    for (field, replaced) in [
        ("audience", json!(null)),
        ("rate_limit", json!(null)),
        ("rate_limit", json!({"requests": 6, "period_secs": 20})),
        ("credits", json!(null)),
        ("credits", json!({"initial": 11})),
        ("credits", json!({"initial": 5, "refill": {"amount": 5, "every_secs": 60}})),
    ] {
        let mut body = within.clone();
        body[field] = replaced;
        let refused = call(&app, Method::POST, "/v1/tokens", &token, Some(&body.to_string())).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{body}: {}", refused.body);
        let description = refused.body["error_description"].as_str().unwrap().to_owned();
        let expected = format!("invalid `{field}`: looser than the caller's own");
        assert!(description.starts_with(&expected), "{description}");
        looser.push(description);
    }
    assert!(looser[0].contains(RESOURCE), "{}", looser[0]);
    assert!(looser[1].contains("at most 5 requests per 10 s"), "{}", looser[1]);
    assert!(looser[3].contains("at most 10 credits, refilled to at most 10 every 3600 s"), "{}", looser[3]);
    let child = call(&app, Method::POST, "/v1/tokens", &token, Some(&within.to_string())).await;
    assert_eq!(child.status, StatusCode::CREATED, "{}", child.body);
    assert_eq!(child.body["rate_limit"], json!({"requests": 5, "period_secs": 20}));
    assert_eq!(child.body["credits"]["refill"], Value::Null);

    // Bad limits: 400, the field named.
    for (body, named) in [
        (
            json!({"rate_limit": {"requests": 0, "period_secs": 10}}),
            "`rate_limit.requests`: must be at least 1",
        ),
        (json!({"rate_limit": {"requests": 5_000_000_000_u64, "period_secs": 10}}), "`rate_limit.requests`"),
        (
            json!({"rate_limit": {"requests": 5, "period_secs": 0}}),
            "`rate_limit.period_secs`: must be from 1",
        ),
        (
            json!({"rate_limit": {"requests": 5, "period_secs": 4_000_000_000_u64}}),
            "`rate_limit.period_secs`",
        ),
        (
            json!({"rate_limit": {"requests": 2_000_000_000, "period_secs": 1}}),
            "`rate_limit`: more than one request per nanosecond",
        ),
        (json!({"rate_limit": {"requests": 5}}), "period_secs"),
        (json!({"credits": {"initial": 0}}), "`credits.initial`"),
        (json!({"credits": {"initial": -1}}), "`credits.initial`"),
        (
            json!({"credits": {"initial": 5, "refill": {"amount": 0, "every_secs": 60}}}),
            "`credits.refill.amount`",
        ),
        (
            json!({"credits": {"initial": 5, "refill": {"amount": 5, "every_secs": 0}}}),
            "`credits.refill.every_secs`: must be from 1",
        ),
        (json!({"credits": {"initial": 5, "refill": {"amount": 5, "every": 60}}}), "every"),
        (json!({"audience": [""]}), "`audience[0]`"),
        (json!({"audience": [RESOURCE, "two words"]}), "`audience[1]`"),
    ] {
        let reply = call(&app, Method::POST, "/v1/tokens", &admin, Some(&body.to_string())).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}: {}", reply.body);
        let description = reply.body["error_description"].as_str().unwrap_or_default();
        assert!(description.contains(named), "{body}: {description:?} names {named}");
    }
    let starts_empty = json!({"credits": {"initial": 0, "refill": {"amount": 5, "every_secs": 60}}});
    let reply = call(&app, Method::POST, "/v1/tokens", &admin, Some(&starts_empty.to_string())).await;
    assert_eq!(reply.status, StatusCode::CREATED, "0 credits until the first refill: {}", reply.body);

    // Three requests: the balance as the store knows it, in three figures that add up.
    let metered = Metered { app, admin, token, id, created: now };
    for _ in 0..3 {
        metered.spend().await;
    }
    let (remaining, leased, spent) = after_three;
    assert_eq!(metered.balance().await, (json!(remaining), json!(leased), json!(spent)));
    metered
}

/// 2027-01-15 08:00 UTC.
fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

#[tokio::test]
async fn metered_keys_through_the_api_on_the_memory_store() {
    let clock = Clock::manual(start());
    let store = MemoryTokenStore::builder().clock(clock.clone()).build();
    // No leases in memory: spent is exact.
    let metered = metered_keys(store, &clock, (7, 0, 3)).await;
    metered.refill(&clock, (9, 0, 1)).await;
}

/// With leases of 4: the first request leased 4 credits and the next two spent from the
/// lease, so none is accounted as spent until the lease comes back; after a refill, a request
/// leases 4 of the new period's 10.
async fn leased_then_returned(store: SqlTokenStore, clock: &Clock) {
    let metered = metered_keys(store.clone(), clock, (6, 4, 0)).await;
    store.release_credits().await.unwrap();
    assert_eq!(metered.balance().await, (json!(7), json!(0), json!(3)), "the unspent credit came back");
    metered.refill(clock, (6, 4, 0)).await;
}

#[tokio::test]
async fn metered_keys_through_the_api_on_sqlite_with_leases() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(start());
    let store = SqlTokenStore::builder()
        .clock(clock.clone())
        .credit_lease(4)
        .open_sqlite(dir.path().join("t.db"))
        .await
        .unwrap();
    leased_then_returned(store, &clock).await;
}

#[tokio::test]
async fn metered_keys_through_the_api_on_postgres_with_leases() {
    let Some(cluster) = PgCluster::start() else { return };
    let clock = Clock::manual(start());
    let store =
        SqlTokenStore::builder().clock(clock.clone()).credit_lease(4).open(&cluster.url()).await.unwrap();
    leased_then_returned(store, &clock).await;
}

/// Every attribute of a grant goes through the API's create body and comes back in its view,
/// and the stored token grants exactly `Grant::every_attribute_example()` (issue 21: the body
/// could not carry limits, so metered keys could not be made through the API).
#[tokio::test]
async fn every_attribute_of_the_grant_round_trips_through_the_api() {
    let store = MemoryTokenStore::new();
    let app = Router::new()
        .nest("/v1", ManagementApi::new(store.clone()).router())
        .layer(BearerAuthLayer::new(store.clone()));
    let grant = tower_bearer::Grant::every_attribute_example();
    let admin = NewToken::for_subject("admin").organization("org_every").scopes(["*", "tokens:admin"]);
    let admin = store.issue(admin).await.unwrap().secret().expose_secret().to_owned();
    let body = json!({
        "subject": "user_every",
        "kind": "service",
        "scopes": ["reports:read", "reports:write"],
        "audience": ["https://api.example.com", "https://reports.example.com"],
        "expires_at": 4_102_444_800_u64,
        "rate_limit": { "requests": 120, "period_secs": 60 },
        "credits": { "initial": 5_000, "refill": { "amount": 1_000, "every_secs": 86_400 } },
        "dpop_jkt": grant.confirmation(),
    });
    let created = call(&app, Method::POST, "/v1/tokens", &admin, Some(&body.to_string())).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let stored = store.get(&tower_bearer::TokenId::from(id.as_str())).await.unwrap().unwrap();
    assert_eq!(stored.principal.grant(), &grant);
    let shown = call(&app, Method::GET, &format!("/v1/tokens/{id}"), &admin, None).await.body;
    for (field, value) in [
        ("subject", json!("user_every")),
        ("organization", json!("org_every")),
        ("kind", json!("service")),
        ("scopes", json!(["reports:read", "reports:write"])),
        ("audience", json!(["https://api.example.com", "https://reports.example.com"])),
        ("expires_at", json!(4_102_444_800_u64)),
        ("rate_limit", json!({ "requests": 120, "period_secs": 60 })),
        ("dpop_jkt", json!(grant.confirmation())),
    ] {
        assert_eq!(shown[field], value, "{field} in {shown}");
    }
    assert_eq!(shown["credits"]["initial"], 5_000, "{shown}");
    assert_eq!(shown["credits"]["refill"], json!({ "amount": 1_000, "every_secs": 86_400 }), "{shown}");
}

/// A token bound to a key (DPoP) through the API: `dpop_jkt` in the create body binds it, and
/// its views show it (`null` for a bearer token); a value that is no RFC 7638 thumbprint is a
/// 400 naming the field.
#[tokio::test]
async fn dpop_jkt_binds_a_token_through_the_api_and_a_bad_one_is_named() {
    const JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
    let store = MemoryTokenStore::new();
    let app = Router::new()
        .nest("/v1", ManagementApi::new(store.clone()).router())
        .layer(BearerAuthLayer::new(store.clone()));
    let admin = NewToken::for_subject("ada").organization("acme").scopes(["tokens:read", "tokens:write"]);
    let admin = store.issue(admin).await.unwrap().secret().expose_secret().to_owned();
    let body = json!({ "name": "bound", "dpop_jkt": JKT }).to_string();
    let created = call(&app, Method::POST, "/v1/tokens", &admin, Some(&body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["dpop_jkt"], JKT);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let stored = store.get(&tower_bearer::TokenId::from(id.as_str())).await.unwrap().unwrap();
    assert_eq!(stored.principal.grant().confirmation(), Some(JKT));
    let listed = call(&app, Method::GET, "/v1/tokens", &admin, None).await.body;
    let shown: Vec<(&Value, &Value)> =
        listed["tokens"].as_array().unwrap().iter().map(|t| (&t["name"], &t["dpop_jkt"])).collect();
    assert_eq!(shown, [(&Value::Null, &Value::Null), (&json!("bound"), &json!(JKT))]);

    let padded = format!("{}=", &JKT[..42]);
    for bad in [json!("short"), json!(format!("{JKT}A")), json!(padded), json!(JKT.replace('-', "+"))] {
        let body = json!({ "dpop_jkt": bad }).to_string();
        let refused = call(&app, Method::POST, "/v1/tokens", &admin, Some(&body)).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{bad}");
        let description = refused.body["error_description"].as_str().unwrap();
        assert!(
            description.starts_with("invalid `dpop_jkt`: must be the RFC 7638 SHA-256 thumbprint"),
            "{description}"
        );
    }
    let refused = call(&app, Method::POST, "/v1/tokens", &admin, Some(r#"{"dpop_jkt": 7}"#)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body["error_description"].as_str().unwrap().contains("`dpop_jkt`"), "{}", refused.body);
}
