//! The management API, one contract run on the memory store, SQLite and PostgreSQL: create
//! (shown once), list by pages, show, rotate, revoke, the audit log; tenants and scopes; bad
//! input answered with the right status and the field named.

use axum::Router;
use axum::body::Body;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use tower_bearer::manage::audit::AuditLog;
use tower_bearer::{BearerAuthLayer, MemoryTokenStore, NewToken, TokenManager};
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
    let cases: [(&str, Option<&str>, StatusCode, &str); 6] = [
        ("/v1/tokens", Some(r#"{"name":"x","expires_in":"soon"}"#), StatusCode::BAD_REQUEST, "expires_in"),
        ("/v1/tokens", Some(r#"{"nmae":"x"}"#), StatusCode::BAD_REQUEST, "nmae"),
        ("/v1/tokens", Some(r#"{"name":"x""#), StatusCode::BAD_REQUEST, "JSON"),
        ("/v1/tokens", Some(r#"{"expires_at":1}"#), StatusCode::BAD_REQUEST, "expires_at"),
        (
            "/v1/tokens",
            Some(&format!(r#"{{"name":"{}"}}"#, "x".repeat(2000))),
            StatusCode::PAYLOAD_TOO_LARGE,
            "1024",
        ),
        ("/v1/tokens?limit=many", None, StatusCode::BAD_REQUEST, "limit"),
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
    contract(MemoryTokenStore::new(), tower_bearer::manage::audit::MemoryAuditLog::new()).await;
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
        .audit_log(tower_bearer::manage::audit::MemoryAuditLog::new())
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

    let without = ManagementApi::new(store).openapi("https://api.example.com/v1");
    assert!(without["paths"].get("/audit").is_none(), "no audit route, not documented");
}
