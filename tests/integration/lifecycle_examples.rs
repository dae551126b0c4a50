//! The token-lifecycle examples (`portal_tokens`, `scoped_keys`, `personal_tokens`) in process:
//! each example's own setup code (compiled into this binary from `examples/`), served on a
//! loopback port and driven through its whole flow over real HTTP.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{Method, StatusCode};
use serde_json::{Value, json};
use tower_bearer::{Clock, TokenManager};

use crate::client::{Reply, Served, send};

#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/personal_tokens.rs"]
mod personal_tokens;
#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/portal_tokens.rs"]
mod portal_tokens;
#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/scoped_keys.rs"]
mod scoped_keys;

/// Starts capturing the binary's `tracing` output (feature `tracing`), for
/// [`assert_never_logged`].
fn capture_logs() {
    #[cfg(feature = "tracing")]
    crate::trace_capture::install();
}

/// No secret in anything the crate logged (feature `tracing`; without it nothing is logged).
fn assert_never_logged(secrets: &[&str]) {
    #[cfg(feature = "tracing")]
    {
        let logged = crate::trace_capture::install().output();
        for secret in secrets {
            assert!(!logged.contains(secret), "a secret was logged");
        }
    }
    #[cfg(not(feature = "tracing"))]
    let _ = secrets;
}

async fn get(url: &str, token: &str) -> Reply {
    send(Method::GET, url, Some(token), None).await
}

async fn post_json(url: &str, token: &str, body: &Value) -> Reply {
    send(Method::POST, url, Some(token), Some(("application/json", &body.to_string()))).await
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Asserts that `value` is Unix seconds within `[low, high]`, and returns it.
#[track_caller]
fn assert_secs_between(value: &Value, low: u64, high: u64) -> u64 {
    let secs = value.as_u64().unwrap_or_else(|| panic!("not Unix seconds: {value}"));
    assert!((low..=high).contains(&secs), "{secs} not in {low}..={high}");
    secs
}

/// Length of a generated token: prefix, 43 random base62 characters, 6 checksum characters.
fn token_len(prefix: &str) -> usize {
    prefix.len() + 43 + 6
}

const INSUFFICIENT_SCOPE_BODY: &str =
    r#"{"error":"insufficient_scope","error_description":"the access token lacks the required scope"}"#;
const INVALID_TOKEN_BODY: &str =
    r#"{"error":"invalid_token","error_description":"the access token is invalid"}"#;
const EXPIRED_TOKEN_BODY: &str =
    r#"{"error":"invalid_token","error_description":"the access token expired"}"#;

// ---------------------------------------------------------------------------------------------
// portal_tokens
// ---------------------------------------------------------------------------------------------

const UNAUTHENTICATED: &str = r#"{"message":"Unauthenticated."}"#;

#[tokio::test]
async fn portal_tokens_example() {
    capture_logs();
    let portal_tokens::Demo { app, session } = portal_tokens::demo().await.unwrap();
    let session = session.secret().expose_secret().to_owned();
    let ex = Served::start(app).await;
    assert!(session.starts_with("ps_live_") && session.len() == token_len("ps_live_"), "{session}");
    let tokens_url = ex.url("/portal/tokens");
    let api_url = ex.url("/api/projects");

    // Nothing yet.
    let empty = get(&tokens_url, &session).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert_eq!(empty.json(), json!({ "tokens": [] }));

    // Create: the secret is shown in this response and nowhere else.
    let before = now_secs();
    let created = post_json(&tokens_url, &session, &json!({ "name": "CI deploy" })).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let created = created.json();
    let secret = created["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("pt_live_") && secret.len() == token_len("pt_live_"), "{secret}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("tid_"), "{id}");
    let hint = format!("pt_live_…{}", &secret[secret.len() - 4..]);
    let created_at = assert_secs_between(&created["created_at"], before, now_secs());
    let metadata = json!({
        "id": id,
        "name": "CI deploy",
        "hint": hint,
        "scopes": ["api"],
        "created_at": created_at,
        "last_used_at": null,
    });
    let mut expected = metadata.clone();
    expected["token"] = json!(secret);
    expected["notice"] = json!("Copy this token now: it will not be shown again.");
    assert_eq!(created, expected);

    // The list shows metadata only, never the secret.
    let listed = get(&tokens_url, &session).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.json(), json!({ "tokens": [metadata] }));
    assert!(!listed.body.contains(&secret));

    // Use it on the API.
    // Usage is stamped with the coarse clock, up to a timer tick (≤ 10 ms) behind.
    let used_from = now_secs().saturating_sub(1);
    let projects = get(&api_url, &secret).await;
    assert_eq!(projects.status, StatusCode::OK, "{}", projects.body);
    assert_eq!(
        projects.json(),
        json!({
            "owner": "user_42",
            "projects": [{ "id": "prj_1", "name": "Website" }, { "id": "prj_2", "name": "Mobile app" }],
        })
    );

    // The list now shows when it was last used.
    let listed = get(&tokens_url, &session).await.json();
    let token = &listed["tokens"][0];
    assert_secs_between(&token["last_used_at"], used_from, now_secs());
    assert_eq!(token["id"], id.as_str());
    assert!(token.get("token").is_none(), "{listed}");

    // Each credential works only where it belongs: the API takes no session token and the
    // portal no API token (wrong format, refused before any lookup).
    let session_on_api = get(&api_url, &session).await;
    assert_eq!(session_on_api.status, StatusCode::UNAUTHORIZED);
    assert_eq!(session_on_api.body, UNAUTHENTICATED);
    let token_on_portal = get(&tokens_url, &secret).await;
    assert_eq!(token_on_portal.status, StatusCode::UNAUTHORIZED);
    assert_eq!(token_on_portal.body, UNAUTHENTICATED);

    // Bad requests.
    let unnamed = post_json(&tokens_url, &session, &json!({ "name": "  " })).await;
    assert_eq!(unnamed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unnamed.body, r#"{"message":"The name field is required."}"#);
    let not_json =
        send(Method::POST, &tokens_url, Some(&session), Some(("text/plain", "name=CI deploy"))).await;
    assert_eq!(not_json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Revoke: 204, then the token is gone from the list and the API refuses it.
    let unknown =
        send(Method::DELETE, &ex.url("/portal/tokens/tid_000000000000000000000000"), Some(&session), None)
            .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body, r#"{"message":"Token not found."}"#);
    let revoked = send(Method::DELETE, &format!("{tokens_url}/{id}"), Some(&session), None).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.body);
    assert_eq!(revoked.body, "");
    let again = send(Method::DELETE, &format!("{tokens_url}/{id}"), Some(&session), None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&tokens_url, &session).await.json(), json!({ "tokens": [] }));

    let refused = get(&api_url, &secret).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.body, UNAUTHENTICATED);
    assert_eq!(
        refused.challenge(),
        Some(r#"Bearer realm="api", error="invalid_token", error_description="the access token is invalid""#)
    );

    // Neither token was ever logged.
    assert_never_logged(&[&secret, &session]);
}

// ---------------------------------------------------------------------------------------------
// scoped_keys
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_keys_example() {
    capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.db");
    let clock = Clock::manual(SystemTime::now());
    let scoped_keys::Demo { app, store, audit, admin } =
        scoped_keys::demo(&path, clock.clone()).await.unwrap();
    let admin = admin.expect("the first start mints the admin key");
    let (admin, admin_id) = (admin.secret().expose_secret().to_owned(), admin.id().to_string());
    assert!(admin.starts_with("sk_live_") && admin.len() == token_len("sk_live_"), "{admin}");
    let ex = Served::start(app).await;
    let tokens_url = ex.url("/v1/tokens");
    let mut secrets = vec![admin.clone()];

    // The admin key lists its organization's keys: itself, full access, no expiry.
    let listed = get(&tokens_url, &admin).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let listed = listed.json();
    assert_eq!(listed["tokens"][0]["id"], admin_id.as_str());
    assert_eq!(listed["tokens"][0]["scopes"], json!(["*", "tokens:admin"]));
    assert_eq!(listed["tokens"][0]["expires_at"], Value::Null);
    assert_eq!(listed["tokens"][0]["hint"], format!("sk_live_…{}", &admin[admin.len() - 4..]));

    // A read-only key expiring in an hour: shown once.
    let created = post_json(
        &tokens_url,
        &admin,
        &json!({ "name": "dashboard", "scopes": ["tokens:read"], "expires_in": 3600 }),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let created = created.json();
    let reader = created["token"].as_str().unwrap().to_owned();
    secrets.push(reader.clone());
    assert_eq!(
        (created["name"].as_str(), created["organization"].as_str()),
        (Some("dashboard"), Some("acme"))
    );
    let listed = get(&tokens_url, &reader).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert!(!listed.body.contains(&reader) && !listed.body.contains(&admin), "never a secret in a listing");
    let refused = post_json(&tokens_url, &reader, &json!({ "name": "x" })).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.body, INSUFFICIENT_SCOPE_BODY);
    assert_eq!(get(&ex.url("/v1/audit"), &reader).await.status, StatusCode::FORBIDDEN);

    // A key that may write keys mints only what it holds, and nothing outliving it.
    let ci = post_json(
        &tokens_url,
        &admin,
        &json!({ "name": "ci", "scopes": ["tokens:write", "tokens:read"], "expires_in": 600 }),
    )
    .await;
    let ci = ci.json()["token"].as_str().unwrap().to_owned();
    secrets.push(ci.clone());
    let escalate = post_json(&tokens_url, &ci, &json!({ "scopes": ["audit:read"], "expires_in": 60 })).await;
    assert_eq!(escalate.status, StatusCode::FORBIDDEN);
    assert_eq!(escalate.challenge().map(|c| c.contains(r#"scope="audit:read""#)), Some(true));
    let forever = post_json(&tokens_url, &ci, &json!({ "scopes": ["tokens:read"] })).await;
    assert_eq!(forever.status, StatusCode::BAD_REQUEST, "{}", forever.body);
    let rotate_admin = send(Method::POST, &format!("{tokens_url}/{admin_id}/rotate"), Some(&ci), None).await;
    assert_eq!(rotate_admin.status, StatusCode::FORBIDDEN, "rotating would hand it the admin secret");

    // Bad input names the field.
    let typo = post_json(&tokens_url, &admin, &json!({ "name": "x", "expires_in": "1h" })).await;
    assert_eq!(typo.status, StatusCode::BAD_REQUEST);
    assert!(typo.body.contains("expires_in"), "{}", typo.body);
    let form = send(Method::POST, &tokens_url, Some(&admin), Some(("text/plain", "name=x"))).await;
    assert_eq!(form.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Expiry on the example's clock.
    let short = post_json(
        &tokens_url,
        &admin,
        &json!({ "name": "short", "scopes": ["tokens:read"], "expires_in": 2 }),
    )
    .await;
    let short = short.json()["token"].as_str().unwrap().to_owned();
    secrets.push(short.clone());
    assert_eq!(get(&tokens_url, &short).await.status, StatusCode::OK);
    clock.advance(Duration::from_secs(3));
    let expired = get(&tokens_url, &short).await;
    assert_eq!((expired.status, expired.body.as_str()), (StatusCode::UNAUTHORIZED, EXPIRED_TOKEN_BODY));

    // Rotation with a grace period, then revocation.
    let reader_id = created["id"].as_str().unwrap();
    let rotated =
        post_json(&format!("{tokens_url}/{reader_id}/rotate"), &admin, &json!({ "grace_secs": 60 })).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let successor = rotated.json()["token"].as_str().unwrap().to_owned();
    secrets.push(successor.clone());
    assert_eq!(get(&tokens_url, &reader).await.status, StatusCode::OK, "in its grace");
    clock.advance(Duration::from_secs(61));
    assert_eq!(get(&tokens_url, &reader).await.status, StatusCode::UNAUTHORIZED, "after its grace");
    let successor_id = rotated.json()["id"].as_str().unwrap().to_owned();
    let revoked = send(Method::DELETE, &format!("{tokens_url}/{successor_id}"), Some(&admin), None).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let refused = get(&tokens_url, &successor).await;
    assert_eq!((refused.status, refused.body.as_str()), (StatusCode::UNAUTHORIZED, INVALID_TOKEN_BODY));

    // The audit log: lifecycle events and request outcomes, written off the request path.
    assert!(audit.flush().await);
    let log = get(&ex.url("/v1/audit?limit=1000"), &admin).await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    let events = log.json()["events"].as_array().unwrap().clone();
    let has = |event: &str, token: &str| events.iter().any(|e| e["event"] == event && e["token_id"] == token);
    assert!(
        has("token.issued", &admin_id)
            && has("token.rotated", reader_id)
            && has("token.revoked", &successor_id)
    );
    assert!(events.iter().any(|e| e["event"] == "request.rejected" && e["reason"] == "expired_token"));
    let rejected = get(&ex.url("/v1/audit?event=request.rejected"), &admin).await.json();
    assert!(rejected["events"].as_array().unwrap().iter().all(|e| e["event"] == "request.rejected"));

    // The API describes itself.
    let openapi = send(Method::GET, &ex.url("/openapi.json"), None, None).await;
    assert_eq!(openapi.status, StatusCode::OK);
    assert_eq!(openapi.json()["openapi"], "3.1.0");

    // A restart on the same file mints no second admin key, though the first is revoked.
    assert!(store.revoke(&tower_bearer::TokenId::from(admin_id.as_str())).await.unwrap());
    audit.shutdown().await;
    let again = scoped_keys::demo(&path, clock.clone()).await.unwrap();
    assert!(again.admin.is_none());
    assert_never_logged(&secrets.iter().map(String::as_str).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------------
// personal_tokens
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn personal_tokens_example() {
    capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tokens.db");
    let personal_tokens::Portal { app, session, .. } = personal_tokens::portal(&db).await.unwrap();
    let session = session.secret().expose_secret().to_owned();
    let portal = Served::start(app).await;
    // The other service: the portal's keys from its published JWKS, nothing else.
    let jwks = personal_tokens::fetch_jwks(&portal.url("/.well-known/jwks.json")).await.unwrap();
    assert!(jwks["keys"].as_array().unwrap().iter().all(|k| k.get("d").is_none()), "public keys only");
    let (verifier, listener) =
        personal_tokens::verifier(&db, &jwks, Duration::from_millis(20)).await.unwrap();
    assert!(listener.wait_until_subscribed(Duration::from_secs(5)).await);
    let verifier = Served::start(verifier).await;

    // A personal token: a description, a UTC expiration date, reduced permissions; shown once.
    let created = post_json(
        &portal.url("/user/tokens"),
        &session,
        &json!({ "description": "ci (read-only)", "expires_on": "2099-06-30", "scopes": ["repo:read"] }),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let created = created.json();
    let (token, id) =
        (created["token"].as_str().unwrap().to_owned(), created["id"].as_str().unwrap().to_owned());
    assert_eq!(token.split('.').count(), 3, "a signed token");
    assert_eq!(created["expires_at"], 4_086_460_800_u64, "2099-06-30T00:00:00Z");

    // Verified by the other service without asking the portal: it carries everything.
    let me = get(&verifier.url("/user"), &token).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(
        me.json(),
        json!({
            "subject": "alice",
            "organization": "acme",
            "kind": "personal",
            "token_id": id,
            "description": "ci (read-only)",
            "scopes": ["repo:read"],
            "expires_at": 4_086_460_800_u64,
        })
    );
    // Reduced permissions: no writes, and no more than the creator holds.
    let repo = json!({ "name": "hello-world" });
    let forbidden = post_json(&portal.url("/user/repos"), &token, &repo).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert_eq!(forbidden.body, INSUFFICIENT_SCOPE_BODY);
    assert_eq!(post_json(&portal.url("/user/repos"), &session, &repo).await.status, StatusCode::CREATED);
    let wider = json!({ "description": "x", "expires_on": "2099-01-01", "scopes": ["admin"] });
    assert_eq!(
        post_json(&portal.url("/user/tokens"), &session, &wider).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let no_manage = json!({ "description": "x", "expires_on": "2099-01-01", "scopes": [] });
    assert_eq!(
        post_json(&portal.url("/user/tokens"), &token, &no_manage).await.status,
        StatusCode::FORBIDDEN
    );
    for bad in [
        json!({ "description": "", "expires_on": "2099-01-01", "scopes": [] }),
        json!({ "description": "x", "expires_on": "2099-02-30", "scopes": [] }),
        json!({ "description": "x", "expires_on": "30/06/2099", "scopes": [] }),
        json!({ "description": "x", "expires_on": "2099-01-01", "scopes": "repo:read" }),
    ] {
        let refused = post_json(&portal.url("/user/tokens"), &session, &bad).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }

    // Revoked in the portal: refused there at once, and by the other service within its
    // poll interval.
    let revoked =
        send(Method::DELETE, &portal.url(&format!("/user/tokens/{id}")), Some(&session), None).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(get(&portal.url("/user"), &token).await.status, StatusCode::UNAUTHORIZED);
    let start = std::time::Instant::now();
    while get(&verifier.url("/user"), &token).await.status != StatusCode::UNAUTHORIZED {
        assert!(start.elapsed() < Duration::from_secs(5), "the other service refuses the revoked token");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let again = send(Method::DELETE, &portal.url(&format!("/user/tokens/{id}")), Some(&session), None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);

    // Forged and malformed tokens are refused alike.
    let mut forged = token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(get(&verifier.url("/user"), &forged).await.status, StatusCode::UNAUTHORIZED);
    let missing = send(Method::GET, &verifier.url("/user"), None, None).await;
    assert_eq!(missing.challenge(), Some(r#"Bearer realm="verifier""#));

    assert_never_logged(&[&session, &token]);
}
