//! Lifecycle notices on a manual clock: tokens expiring within the window, each noticed once
//! per expiry; revoked and expired tokens never.

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use tower_bearer::{Clock, MemoryTokenStore, NewToken, TokenManager};
use tower_bearer_manage::{ExpiryNotices, NoticeKind};

const DAY: Duration = Duration::from_secs(86_400);

#[tokio::test]
async fn each_token_is_noticed_once_per_expiry_within_the_window() {
    let clock = Clock::manual(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let store = MemoryTokenStore::builder().clock(clock.clone()).build();
    let soon = store.issue(NewToken::for_subject("ada").expires_at(clock.now() + 2 * DAY)).await.unwrap();
    let later = store.issue(NewToken::for_subject("bob").expires_at(clock.now() + 10 * DAY)).await.unwrap();
    let revoked = store.issue(NewToken::for_subject("cy").expires_at(clock.now() + DAY)).await.unwrap();
    let _never_expires = store.issue(NewToken::for_subject("dee")).await.unwrap();
    store.revoke(revoked.id()).await.unwrap();

    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let notices = ExpiryNotices::builder(store.clone())
        .window(3 * DAY)
        .on_notice(move |notice| {
            let NoticeKind::Expiring { expires_at } = notice.kind else { panic!("{notice:?}") };
            log.lock().unwrap().push((notice.token.id.clone(), expires_at));
        })
        .build();

    assert_eq!(notices.check().await.unwrap(), 1);
    assert_eq!(notices.check().await.unwrap(), 0, "once");
    assert_eq!(notices.expiring().await.unwrap().len(), 1, "still listed");
    clock.advance(7 * DAY + Duration::from_secs(1));
    // `soon` has expired (not listed, forgotten); `later` is three days away now.
    assert_eq!(notices.check().await.unwrap(), 1);
    assert_eq!(notices.check().await.unwrap(), 0);
    clock.advance(4 * DAY);
    assert_eq!(notices.check().await.unwrap(), 0, "expired: nothing to notice");
    let seen = seen.lock().unwrap();
    let ids: Vec<_> = seen.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(ids, [soon.id().clone(), later.id().clone()]);
    assert_eq!(seen[0].1, soon.info().principal.expires_at().unwrap());
}

#[tokio::test]
async fn a_rotated_token_is_noticed_in_its_turn() {
    let clock = Clock::manual(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let store = MemoryTokenStore::builder().clock(clock.clone()).build();
    let first = store.issue(NewToken::for_subject("ada").expires_at(clock.now() + DAY)).await.unwrap();
    let notices = ExpiryNotices::builder(store.clone()).window(2 * DAY).build();
    assert_eq!(notices.check().await.unwrap(), 1);
    // Rotated: a new token (a new id) with its own expiry, noticed in its turn.
    let rotated = store.rotate(first.id(), Duration::ZERO).await.unwrap();
    assert!(rotated.info().principal.expires_at().is_some());
    assert_eq!(notices.check().await.unwrap(), 1);
    assert_eq!(notices.check().await.unwrap(), 0);
}

async fn get_json(app: &axum::Router, path: &str, token: &str) -> (http::StatusCode, serde_json::Value) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let req = http::Request::get(path).header("authorization", format!("Bearer {token}"));
    let res = app.clone().oneshot(req.body(axum::body::Body::empty()).unwrap()).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

/// `GET /notices`: the tenant rules of the tokens (an admin sees its organization, a token
/// itself), the window on the store's clock, leaks from the audit log, and a bounded window.
#[tokio::test]
async fn the_api_lists_the_notices_of_the_callers_tenant() {
    use tower_bearer::BearerAuthLayer;
    use tower_bearer::manage::audit::{AuditEvent, AuditKind, AuditLog};
    use tower_bearer_manage::ManagementApi;

    let clock = Clock::manual(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let store = MemoryTokenStore::builder().clock(clock.clone()).build();
    let log = MemoryTokenStore::new();
    let in_a_day = clock.now() + DAY;
    let scopes = ["tokens:read", "tokens:admin"];
    let admin = store.issue(NewToken::for_subject("ada").organization("acme").scopes(scopes)).await.unwrap();
    let mine = store
        .issue(NewToken::for_subject("bob").organization("acme").scopes(["tokens:read"]).expires_at(in_a_day))
        .await
        .unwrap();
    let theirs =
        store.issue(NewToken::for_subject("eve").organization("evil").expires_at(in_a_day)).await.unwrap();
    let leak = |principal: &tower_bearer::Principal| {
        AuditEvent::new(AuditKind::Leaked, clock.now()).with_principal(principal)
    };
    log.append(vec![leak(&mine.info().principal), leak(&theirs.info().principal)]).await.unwrap();
    let app = axum::Router::new()
        .nest("/v1", ManagementApi::new(store.clone()).audit_log(log).router())
        .layer(BearerAuthLayer::new(store.clone()));
    let (admin, bob) = (admin.secret().expose_secret().to_owned(), mine.secret().expose_secret().to_owned());

    let (status, body) = get_json(&app, "/v1/notices", &admin).await;
    assert_eq!(status, http::StatusCode::OK, "{body}");
    let ids = |list: &serde_json::Value, field: &str| -> Vec<String> {
        list.as_array().unwrap().iter().map(|t| t[field].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(ids(&body["expiring"], "id"), [mine.id().as_str()]);
    assert_eq!(ids(&body["leaked"], "token_id"), [mine.id().as_str()]);
    // Bob sees his own; an hour's window holds nothing.
    let (_, body) = get_json(&app, "/v1/notices", &bob).await;
    assert_eq!(ids(&body["expiring"], "id"), [mine.id().as_str()]);
    let (_, body) = get_json(&app, "/v1/notices?within=3600", &bob).await;
    assert_eq!(body["expiring"], serde_json::json!([]));
    assert_eq!(body["leaked"].as_array().unwrap().len(), 1, "reported now: within any window");
    let (status, body) = get_json(&app, "/v1/notices?within=99999999999", &bob).await;
    assert_eq!(status, http::StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("within"), "{body}");
}

#[test]
fn the_openapi_document_describes_the_notices() {
    let document = tower_bearer_manage::ManagementApi::new(MemoryTokenStore::new()).openapi("/v1");
    let notices = &document["paths"]["/notices"]["get"];
    assert_eq!(notices["parameters"][0]["name"], "within", "{notices}");
    let list = &document["components"]["schemas"]["NoticeList"]["properties"];
    assert!(list["expiring"].to_string().contains("TokenView"), "{list}");
    assert!(list["leaked"].to_string().contains("AuditView"), "{list}");
}
