//! The portal's limits: with the host's `max_rate_limit` and `max_credits`, the create form
//! asks for a rate limit and credits within them (empty: the host's), shows what is wrong
//! with a choice next to its field, and the list and the one-time page show what a token
//! got (the list, a key binding too); without them, no such fields and no limits. A kind the
//! store reserves cannot be the portal's.

use std::time::{Duration, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use http::header::{COOKIE, LOCATION};
use http::request::Parts;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_bearer::grant::MintRules;
use tower_bearer::{Clock, Credits, MemoryTokenStore, RateLimit, TokenId, TokenManager};
use tower_bearer_manage::{PortalUser, TokenPortal};

const MONTH: Duration = Duration::from_secs(30 * 86_400);

/// Ada, signed in to the host (no cookie needed: these tests have one user).
fn ada(_: &Parts) -> Option<PortalUser> {
    Some(PortalUser::new("user_ada", "Ada Lovelace").organization("acme"))
}

fn store() -> MemoryTokenStore {
    let now = UNIX_EPOCH + Duration::from_secs(1_793_611_800);
    MemoryTokenStore::builder().clock(Clock::manual(now)).build()
}

fn portal(store: &MemoryTokenStore) -> TokenPortal<MemoryTokenStore> {
    TokenPortal::new(store.clone(), ada, [7; 32]).scopes([("reports:read", "Read reports")])
}

/// A page's status, body and `Location`.
async fn send(app: &Router, request: Request<Body>) -> (StatusCode, String, Option<String>) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let location = response.headers().get(LOCATION).map(|l| l.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap(), location)
}

async fn list_page(app: &Router) -> String {
    send(app, Request::get("/").header(COOKIE, "s=1").body(Body::empty()).unwrap()).await.1
}

/// Posts the create form with `fields` (after the page's CSRF token, a name and a permission).
async fn create(app: &Router, fields: &str) -> (StatusCode, String, Option<String>) {
    let page = list_page(app).await;
    let csrf = page.split(r#"name="csrf" value=""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    let form = format!("csrf={csrf}&name=CI&scope=reports%3Aread&expires=2027-01-31&{fields}");
    let request = Request::post("/")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .body(Body::from(form))
        .unwrap();
    send(app, request).await
}

/// The id of the token a successful create made.
fn created_id(reply: &(StatusCode, String, Option<String>)) -> TokenId {
    assert_eq!(reply.0, StatusCode::SEE_OTHER, "{}", reply.1);
    TokenId::from(reply.2.as_deref().unwrap().strip_prefix("/created/").unwrap())
}

#[tokio::test]
async fn the_portal_creates_tokens_within_the_hosts_limits() {
    let store = store();
    let per_minute = RateLimit::per_minute(100).unwrap();
    let monthly = Credits::new(1_000).refilled(1_000, MONTH);
    let app: Router = portal(&store).max_rate_limit(per_minute).max_credits(monthly).router();
    let page = list_page(&app).await;
    for field in [
        r#"<label for="rate_limit">Requests per minute</label>"#,
        r#"How many requests the token may make per minute. At most 100; leave it empty for 100."#,
        r#"<label for="credits">Credits every 30 days</label>"#,
        r#"name="credits" value="" inputmode="numeric""#,
    ] {
        assert!(page.contains(field), "{field}: {page}");
    }

    // Chosen within the host's limits.
    let id = created_id(&create(&app, "rate_limit=10&credits=250").await);
    let info = store.get(&id).await.unwrap().unwrap();
    assert_eq!(info.principal.rate_limit(), RateLimit::per_minute(10));
    assert_eq!(info.principal.credits(), Some(Credits::new(250).refilled(250, MONTH)));
    let shown = send(&app, Request::get(format!("/created/{id}")).body(Body::empty()).unwrap()).await;
    assert!(
        shown.1.contains(
            "<dt>Limits</dt><dd>10 requests per minute · 250 of 250 credits left, refilled every 30 days</dd>"
        ),
        "{}",
        shown.1
    );
    // Left empty: the host's own.
    let id = created_id(&create(&app, "rate_limit=&credits=").await);
    let info = store.get(&id).await.unwrap().unwrap();
    assert_eq!((info.principal.rate_limit(), info.principal.credits()), (Some(per_minute), Some(monthly)));
    let list = list_page(&app).await;
    assert!(list.contains(r#"<th scope="col">Limits</th>"#));
    assert!(
        list.contains("<td>100 requests per minute · 1000 of 1000 credits left, refilled every 30 days</td>")
    );

    // Beyond them, or not a number: the form again, the error next to its field.
    for (fields, field, max) in [
        ("rate_limit=101", "rate_limit", 100),
        ("rate_limit=0", "rate_limit", 100),
        ("credits=1001", "credits", 1_000),
        ("credits=lots", "credits", 1_000),
    ] {
        let (status, body, _) = create(&app, fields).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{fields}");
        let message = format!("Enter a whole number from 1 to {max}, or leave it empty for {max}.");
        assert!(
            body.contains(&format!(
                r#"<p class="error" id="{field}-error"><span class="vh">Error: </span>{message}</p>"#
            )),
            "{fields}: {body}"
        );
        assert!(body.contains(&format!(r##"<li><a href="#{field}">{message}</a></li>"##)), "summed up");
        assert!(
            body.contains(&format!(r#"aria-describedby="{field}-hint {field}-error" aria-invalid="true""#))
        );
    }
    assert_eq!(store.list("user_ada").await.unwrap().len(), 2, "nothing more created");
}

#[tokio::test]
async fn without_the_hosts_limits_the_portal_has_no_limit_fields() {
    let store = store();
    let app: Router = portal(&store).router();
    let page = list_page(&app).await;
    assert!(!page.contains("rate_limit") && !page.contains(r#"name="credits""#), "{page}");
    // Fields sent anyway are ignored: no limits.
    let id = created_id(&create(&app, "rate_limit=5&credits=5").await);
    let info = store.get(&id).await.unwrap().unwrap();
    assert_eq!((info.principal.rate_limit(), info.principal.credits()), (None, None));
    assert!(!list_page(&app).await.contains("Limits"), "no limits column");

    // Credits never refilled: "Credits", at most the host's.
    let app: Router = portal(&store).max_credits(Credits::new(50)).router();
    let page = list_page(&app).await;
    assert!(page.contains(r#"<label for="credits">Credits</label>"#) && !page.contains("rate_limit"));
    let id = created_id(&create(&app, "credits=7").await);
    assert_eq!(store.get(&id).await.unwrap().unwrap().principal.credits(), Some(Credits::new(7)));
}

/// A token bound to a key (made elsewhere, of the portal's kind: the portal makes bearer
/// tokens) says so in the list, with the key's thumbprint; a bearer token does not.
#[tokio::test]
async fn the_list_shows_a_token_bound_to_a_key() {
    const JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
    let store = store();
    let app: Router = portal(&store).router();
    let ada = || {
        tower_bearer::NewToken::for_subject("user_ada")
            .organization("acme")
            .kind("personal")
            .scopes(["reports:read"])
    };
    let _ = store.issue(ada().name("bearer")).await.unwrap();
    assert!(!list_page(&app).await.contains("bound to a key"));
    let _ = store.issue(ada().name("bound").confirmation(JKT)).await.unwrap();
    let page = list_page(&app).await;
    assert!(page.contains(&format!("bound to a key <code>{JKT}</code>")), "{page}");
    assert_eq!(page.matches("bound to a key").count(), 1, "the bearer token's row says nothing");
}

#[test]
#[should_panic(expected = "the portal's kind \"oauth_access\" is reserved by the store")]
fn the_portals_kind_cannot_be_a_reserved_one() {
    let _: Router = portal(&store()).kind("oauth_access").router();
}

#[test]
#[should_panic(expected = "the portal's kind \"personal\" is reserved by the store")]
fn the_default_kind_cannot_be_one_the_store_reserves() {
    let store = MemoryTokenStore::builder().rules(MintRules::new().reserve_kind("personal")).build();
    let _: Router = portal(&store).router();
}
