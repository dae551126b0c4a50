//! The token-lifecycle examples (`portal_tokens`, `scoped_keys`, `personal_tokens`) in process:
//! each example's own setup code (compiled into this binary from `examples/`), served on a
//! loopback port and driven through its whole flow over real HTTP.

use std::time::{Duration, SystemTime};

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

/// One request to the portal's page as the signed-in customer (the stand-in session cookie),
/// in process: status, `Location`, body.
async fn portal_page(
    app: &axum::Router,
    method: Method,
    path: &str,
    form: Option<String>,
) -> (StatusCode, String, String) {
    let mut request =
        http::Request::builder().method(method).uri(path).header("cookie", "portal_session=user_42");
    if form.is_some() {
        request = request
            .header("content-type", "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "same-origin");
    }
    let request = request.body(form.map_or_else(axum::body::Body::empty, axum::body::Body::from)).unwrap();
    let response = tower::ServiceExt::oneshot(app.clone(), request).await.unwrap();
    let status = response.status();
    let location =
        response.headers().get("location").map(|l| l.to_str().unwrap().to_owned()).unwrap_or_default();
    let body = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
    (status, location, String::from_utf8(body.to_vec()).unwrap())
}

fn csrf_of(page: &str) -> String {
    let re = regex::Regex::new(r#"name="csrf" value="([^"]+)""#).unwrap();
    re.captures_iter(page).last().expect("a form")[1].to_owned()
}

#[tokio::test]
async fn portal_tokens_example() {
    capture_logs();
    let app = portal_tokens::app(portal_tokens::api_tokens(), [3; 32]);
    let ex = Served::start(app.clone()).await;
    let api_url = ex.url("/api/projects");

    // Signing in sets the portal's session; the page is the customer's.
    let signed = send(Method::GET, &ex.url("/sign-in"), None, None).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    let (status, _, list) = portal_page(&app, Method::GET, "/portal/tokens", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains("API tokens") && list.contains("Ada (ACME)"), "{list}");

    // A named token, its secret shown once.
    let form = format!("csrf={}&name=CI+deploy&scope=api&expires=", csrf_of(&list));
    let (status, created, _) = portal_page(&app, Method::POST, "/portal/tokens", Some(form)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, shown) = portal_page(&app, Method::GET, &created, None).await;
    assert_eq!(status, StatusCode::OK);
    let secret = regex::Regex::new(r#"id="secret" type="text" value="(pt_live_[^"]+)""#)
        .unwrap()
        .captures(&shown)
        .unwrap()[1]
        .to_owned();
    assert_eq!(secret.len(), token_len("pt_live_"));
    let (status, _, again) = portal_page(&app, Method::GET, &created, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!again.contains(&secret), "shown once");

    // The token opens the API; the listing shows its hint, never the secret.
    let used = get(&api_url, &secret).await;
    assert_eq!(used.status, StatusCode::OK, "{}", used.body);
    assert_eq!(used.json()["token"], "CI deploy");
    let (_, _, list) = portal_page(&app, Method::GET, "/portal/tokens", None).await;
    assert!(
        list.contains("CI deploy") && list.contains(&format!("pt_live_…{}", &secret[secret.len() - 4..]))
    );
    assert!(!list.contains(&secret));

    // Revoked after a confirmation: the API refuses it at once.
    let id = created.rsplit('/').next().unwrap().to_owned();
    let (status, _, confirm) =
        portal_page(&app, Method::GET, &format!("/portal/tokens/{id}/revoke"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(confirm.contains("Revoke “CI deploy”?"));
    let form = format!("csrf={}", csrf_of(&confirm));
    let (status, _, _) =
        portal_page(&app, Method::POST, &format!("/portal/tokens/{id}/revoke"), Some(form)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let refused = get(&api_url, &secret).await;
    assert_eq!((refused.status, refused.body.as_str()), (StatusCode::UNAUTHORIZED, UNAUTHENTICATED));

    // Nobody signed in: sent to sign in; a made-up token: refused before any lookup.
    let anonymous = send(Method::GET, &ex.url("/portal/tokens"), None, None).await;
    assert_eq!(
        (anonymous.status, anonymous.headers["location"].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/sign-in")
    );
    let made_up = get(&api_url, "pt_live_not-a-real-token").await;
    assert_eq!(made_up.status, StatusCode::UNAUTHORIZED);
    assert_never_logged(&[&secret]);
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
    let page_app = app.clone();
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
            // The verifier's view: `exp` plus its leeway (30 s by default), the moment it stops
            // accepting the token.
            "expires_at": 4_086_460_800_u64 + 30,
        })
    );
    // The same token on the page the signed-in user manages her tokens on.
    let page = |cookie: &'static str| {
        let request = http::Request::get("/account/tokens").header("cookie", cookie);
        tower::ServiceExt::oneshot(page_app.clone(), request.body(axum::body::Body::empty()).unwrap())
    };
    let listed = page("demo_session=alice").await.unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let body = http_body_util::BodyExt::collect(listed.into_body()).await.unwrap().to_bytes();
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("ci (read-only)") && body.contains("Personal API tokens"), "{body}");
    assert_eq!(
        page("demo_session=mallory").await.unwrap().status(),
        StatusCode::SEE_OTHER,
        "sent to sign in"
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
