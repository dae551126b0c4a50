//! The token-lifecycle examples (`portal_tokens`, `scoped_keys`, `personal_tokens`) in process:
//! each example's own setup code (compiled into this binary from `examples/`), served on a
//! loopback port and driven through its whole flow over real HTTP. `scoped_keys` runs twice,
//! on the memory store and on SQLite, with the same code: the one-line store switch.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{Method, StatusCode};
use serde_json::{Value, json};
use tower_bearer::Clock;

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

/// The id of the token named `name` in a `GET /v1/tokens` answer.
fn id_of(list: &Value, name: &str) -> String {
    let tokens = list["tokens"].as_array().unwrap_or_else(|| panic!("not a token list: {list}"));
    let token = tokens.iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("no {name:?}: {list}"));
    token["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn scoped_keys_example_on_the_memory_store() {
    let (audit, clock) = (Arc::default(), Clock::manual(SystemTime::now()));
    let store = scoped_keys::memory_store(&audit, &clock);
    scoped_keys_flow(scoped_keys::demo(store, audit, clock.clone()).await.unwrap(), &clock, true).await;
}

#[tokio::test]
async fn scoped_keys_example_on_sqlite() {
    let dir = tower_bearer_test_support::temp_dir();
    let (audit, clock) = (Arc::default(), Clock::manual(SystemTime::now()));
    let store = scoped_keys::sqlite_store(&audit, &clock, &dir.path().join("keys.db")).await.unwrap();
    // SQLite records `last_used_at` off the request path, so a read may not show it yet.
    scoped_keys_flow(scoped_keys::demo(store, audit, clock.clone()).await.unwrap(), &clock, false).await;
}

/// The whole flow, whichever store the example runs on. `usage_at_once`: the store records a
/// use before the request that made it is answered (the memory store does).
async fn scoped_keys_flow(demo: scoped_keys::Demo, clock: &Clock, usage_at_once: bool) {
    capture_logs();
    // The example's time is its clock's, not the system's.
    let now_secs = || clock.now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let admin = demo.admin.secret().expose_secret().to_owned();
    let admin_id = demo.admin.id().to_string();
    let ex = Served::start(demo.app).await;
    assert!(admin.starts_with("sk_live_") && admin.len() == token_len("sk_live_"), "{admin}");
    let tokens_url = ex.url("/v1/tokens");
    let mut secrets = vec![admin.clone()];

    // The admin key lists its account's tokens: itself, full access, no expiry.
    let listed = get(&tokens_url, &admin).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let listed = listed.json();
    assert_eq!(id_of(&listed, "admin key"), admin_id);
    let admin_meta = &listed["tokens"][0];
    assert_eq!(admin_meta["scopes"], json!(["*"]));
    assert_eq!(admin_meta["kind"], "admin");
    assert_eq!(admin_meta["expires_at"], Value::Null);
    assert_eq!(admin_meta["hint"], format!("sk_live_…{}", &admin[admin.len() - 4..]));
    let one = get(&format!("{tokens_url}/{admin_id}"), &admin).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    let without_usage = |mut meta: Value| {
        meta.as_object_mut().unwrap().remove("last_used_at");
        meta
    };
    if usage_at_once {
        assert_eq!(&one.json(), admin_meta);
    } else {
        assert_eq!(without_usage(one.json()), without_usage(admin_meta.clone()));
    }

    // The admin creates a read-only token that expires in an hour.
    let before = now_secs();
    let created = post_json(
        &tokens_url,
        &admin,
        &json!({ "name": "dashboard", "scopes": ["tokens:read"], "expires_in_secs": 3600 }),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let created = created.json();
    let reader = created["token"].as_str().unwrap().to_owned();
    secrets.push(reader.clone());
    assert!(reader.starts_with("sk_live_"), "{reader}");
    let created_at = assert_secs_between(&created["created_at"], before, now_secs());
    assert_secs_between(&created["expires_at"], created_at + 3599, now_secs() + 3600);
    assert_eq!(created["name"], "dashboard");
    assert_eq!(created["kind"], "scoped");
    assert_eq!(created["scopes"], json!(["tokens:read"]));
    assert_eq!(created["last_used_at"], Value::Null);

    // It may list (and the list never shows a secret) ...
    let listed = get(&tokens_url, &reader).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.json()["tokens"].as_array().unwrap().len(), 2);
    assert!(!listed.body.contains(&reader) && !listed.body.contains(&admin));
    // ... but not create: the route requires tokens:write.
    let refused = post_json(&tokens_url, &reader, &json!({ "name": "x", "scopes": ["tokens:read"] })).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.body, INSUFFICIENT_SCOPE_BODY);
    assert_eq!(
        refused.challenge(),
        Some(
            r#"Bearer realm="scoped-keys", error="insufficient_scope", error_description="the access token lacks the required scope", scope="tokens:write""#
        )
    );
    let no_audit = get(&ex.url("/v1/audit"), &reader).await;
    assert_eq!(no_audit.status, StatusCode::FORBIDDEN);

    // A token that may write tokens can mint only what it holds, and nothing outliving it.
    let ci = post_json(
        &tokens_url,
        &admin,
        &json!({ "name": "ci", "scopes": ["tokens:write", "tokens:read"], "expires_in_secs": 600 }),
    )
    .await;
    assert_eq!(ci.status, StatusCode::CREATED, "{}", ci.body);
    let ci = ci.json()["token"].as_str().unwrap().to_owned();
    secrets.push(ci.clone());
    let escalate = post_json(
        &tokens_url,
        &ci,
        &json!({ "name": "sneaky", "scopes": ["tokens:read", "audit:read"], "expires_in_secs": 60 }),
    )
    .await;
    assert_eq!(escalate.status, StatusCode::FORBIDDEN);
    assert_eq!(
        escalate.json(),
        json!({
            "error": "insufficient_scope",
            "error_description": "a token cannot grant or manage a scope it does not hold",
            "scope": "audit:read",
        })
    );
    let wildcard =
        post_json(&tokens_url, &ci, &json!({ "name": "all", "scopes": ["*"], "expires_in_secs": 60 })).await;
    assert_eq!(wildcard.status, StatusCode::FORBIDDEN);
    assert_eq!(wildcard.json()["scope"], "*");
    let forever = post_json(&tokens_url, &ci, &json!({ "name": "forever", "scopes": ["tokens:read"] })).await;
    assert_eq!(forever.status, StatusCode::FORBIDDEN);
    assert_eq!(
        forever.body,
        r#"{"error":"outlives_issuer","error_description":"a token cannot create a token that outlives it"}"#
    );
    let subset = post_json(
        &tokens_url,
        &ci,
        &json!({ "name": "ci-reader", "scopes": ["tokens:read"], "expires_in_secs": 60 }),
    )
    .await;
    assert_eq!(subset.status, StatusCode::CREATED, "{}", subset.body);
    secrets.push(subset.json()["token"].as_str().unwrap().to_owned());
    // Nor can it rotate or revoke the admin key (rotating would hand it the new admin secret).
    let rotate_admin = send(Method::POST, &format!("{tokens_url}/{admin_id}/rotate"), Some(&ci), None).await;
    assert_eq!(rotate_admin.status, StatusCode::FORBIDDEN);
    assert_eq!(rotate_admin.json()["scope"], "*");
    let revoke_admin = send(Method::DELETE, &format!("{tokens_url}/{admin_id}"), Some(&ci), None).await;
    assert_eq!(revoke_admin.status, StatusCode::FORBIDDEN);

    // Malformed requests.
    let no_scopes = post_json(&tokens_url, &admin, &json!({ "name": "x", "scopes": [] })).await;
    assert_eq!(no_scopes.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        no_scopes.body,
        r#"{"error":"invalid_request","error_description":"`scopes` must be a non-empty array of scope names"}"#
    );
    let bad_scope = post_json(&tokens_url, &admin, &json!({ "name": "x", "scopes": ["a b"] })).await;
    assert_eq!(bad_scope.status, StatusCode::UNPROCESSABLE_ENTITY);
    let not_json = send(Method::POST, &tokens_url, Some(&admin), Some(("text/plain", "name=x"))).await;
    assert_eq!(not_json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // A token with a short life is refused as expired once it passes.
    let short = post_json(
        &tokens_url,
        &admin,
        &json!({ "name": "short-lived", "scopes": ["tokens:read"], "expires_in_secs": 2 }),
    )
    .await;
    assert_eq!(short.status, StatusCode::CREATED, "{}", short.body);
    let short = short.json();
    let short_secret = short["token"].as_str().unwrap().to_owned();
    secrets.push(short_secret.clone());
    assert_eq!(get(&tokens_url, &short_secret).await.status, StatusCode::OK);
    // Its two seconds pass on the example's clock.
    clock.advance(Duration::from_secs(3));
    let expired = get(&tokens_url, &short_secret).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(expired.body, EXPIRED_TOKEN_BODY);
    assert_eq!(
        expired.challenge(),
        Some(
            r#"Bearer realm="scoped-keys", error="invalid_token", error_description="the access token expired""#
        )
    );

    // Revoke the read-only token: 204, then 401 for it, 404 for a second revoke.
    let reader_id = id_of(&get(&tokens_url, &admin).await.json(), "dashboard");
    let revoked = send(Method::DELETE, &format!("{tokens_url}/{reader_id}"), Some(&admin), None).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.body);
    let after = get(&tokens_url, &reader).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.body, INVALID_TOKEN_BODY);
    let again = send(Method::DELETE, &format!("{tokens_url}/{reader_id}"), Some(&admin), None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);

    // Rotate the admin key: the old value is 401 at once, the new one works.
    let rotated = send(Method::POST, &format!("{tokens_url}/{admin_id}/rotate"), Some(&admin), None).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let rotated = rotated.json();
    let new_admin = rotated["token"].as_str().unwrap().to_owned();
    secrets.push(new_admin.clone());
    assert_ne!(new_admin, admin);
    let new_admin_id = rotated["id"].as_str().unwrap().to_owned();
    assert_ne!(new_admin_id, admin_id);
    assert_eq!(rotated["replaces"], admin_id.as_str());
    assert_eq!(rotated["grace_secs"], 0);
    assert_eq!((rotated["name"].clone(), rotated["scopes"].clone()), (json!("admin key"), json!(["*"])));
    let old = get(&tokens_url, &admin).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    assert_eq!(old.body, INVALID_TOKEN_BODY);
    let listed = get(&tokens_url, &new_admin).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(id_of(&listed.json(), "admin key"), new_admin_id);

    // A rotation with a grace period keeps the old value working for that long.
    let graced = send(
        Method::POST,
        &format!("{tokens_url}/{new_admin_id}/rotate"),
        Some(&new_admin),
        Some(("application/json", r#"{"grace_secs":300}"#)),
    )
    .await;
    assert_eq!(graced.status, StatusCode::OK, "{}", graced.body);
    let graced = graced.json();
    assert_eq!(graced["grace_secs"], 300);
    let newest_admin = graced["token"].as_str().unwrap().to_owned();
    secrets.push(newest_admin.clone());
    assert_eq!(get(&tokens_url, &new_admin).await.status, StatusCode::OK);
    assert_eq!(get(&tokens_url, &newest_admin).await.status, StatusCode::OK);

    // The audit log: lifecycle and request events, newest last, never a secret.
    let audit = get(&ex.url("/v1/audit"), &newest_admin).await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
    for secret in &secrets {
        assert!(!audit.body.contains(secret.as_str()), "the audit log holds a secret: {}", audit.body);
    }
    let audit = audit.json();
    let events = audit["events"].as_array().unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "not oldest first: {seqs:?}");
    let has = |want: &Value| {
        let want = want.as_object().unwrap();
        events.iter().any(|e| want.iter().all(|(k, v)| &e[k] == v))
    };
    let expect = |want: Value| assert!(has(&want), "no event like {want} in {audit}");
    expect(json!({ "type": "token.issued", "token_id": admin_id, "name": "admin key", "scopes": ["*"] }));
    expect(json!({ "type": "token.issued", "name": "dashboard", "scopes": ["tokens:read"] }));
    expect(json!({ "type": "token.revoked", "token_id": reader_id, "name": "dashboard" }));
    expect(
        json!({ "type": "token.rotated", "token_id": admin_id, "new_token_id": new_admin_id, "grace_secs": 0 }),
    );
    expect(json!({ "type": "token.rotated", "token_id": new_admin_id, "grace_secs": 300 }));
    expect(json!({
        "type": "request", "method": "POST", "path": "/v1/tokens", "outcome": "rejected",
        "status": 403, "reason": "insufficient_scope",
    }));
    expect(json!({
        "type": "request", "method": "GET", "path": "/v1/tokens", "outcome": "rejected",
        "status": 401, "reason": "expired_token",
    }));
    expect(json!({
        "type": "request", "method": "GET", "path": "/v1/tokens", "outcome": "rejected",
        "status": 401, "reason": "revoked_token", "token_id": admin_id,
    }));
    expect(json!({
        "type": "request", "method": "POST", "path": format!("/v1/tokens/{admin_id}/rotate"),
        "outcome": "authenticated", "token_id": admin_id, "subject": "acct_acme",
    }));
    // The newest event is this very request.
    let last = events.last().unwrap();
    assert_eq!(
        (&last["type"], &last["method"], &last["path"], &last["outcome"]),
        (&json!("request"), &json!("GET"), &json!("/v1/audit"), &json!("authenticated"))
    );
    assert!(events.iter().all(|e| e["at"].as_u64().is_some()), "{audit}");

    // No secret was ever logged.
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
