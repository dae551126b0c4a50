//! A billing portal where a signed-in customer manages their own API tokens on a page
//! (`tower-bearer-manage`'s `TokenPortal`): create a named token, see its secret once, use it on
//! the API, revoke it.
//!
//! The portal's own sign-in is a stand-in (a cookie naming the customer, as a real portal's
//! session middleware would provide); the page takes the customer from it. API tokens
//! (`pt_live_...`, scope `api`, no expiry) work on `GET /api/projects` until revoked, after
//! which the API answers `401 {"message":"Unauthenticated."}` (`ErrorFormat::Message`).
//!
//! ```text
//! cargo run --example portal_tokens    # then open http://127.0.0.1:3005/sign-in in a browser
//! curl -i -H "Authorization: Bearer $T" http://127.0.0.1:3005/api/projects   # 200 ($T: from the page)
//! curl -i -H "Authorization: Bearer $T" http://127.0.0.1:3005/api/projects   # after revoking: 401
//! ```

use std::error::Error;
use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower_bearer::{BearerAuthLayer, ErrorFormat, MemoryTokenStore, Principal, TokenFormat};
use tower_bearer_manage::{PortalUser, TokenPortal};

/// The scope API tokens carry.
const API_SCOPE: &str = "api";
/// The stand-in session cookie of the demo customer.
const SESSION: &str = "portal_session=user_42";

/// The portal (its page under `/portal/tokens`), the API, and the token store, whose clock
/// the tests may drive.
pub fn app(api_tokens: MemoryTokenStore, csrf_key: [u8; 32]) -> Router {
    let page = TokenPortal::new(api_tokens.clone(), signed_in, csrf_key)
        .title("API tokens")
        .kind("api")
        .scopes([(API_SCOPE, "Use the projects API")])
        .sign_in_at("/sign-in");
    let api = BearerAuthLayer::new(api_tokens.clone())
        .realm("api")
        .token_formats([api_tokens.format().clone()])
        .require_scopes([API_SCOPE])
        .error_format(ErrorFormat::Message);
    Router::new()
        .nest("/portal/tokens", page.router())
        .route("/api/projects", get(projects).route_layer(api))
        .route("/sign-in", get(sign_in))
}

/// The store of API tokens: their own format, use recorded at most once a minute.
pub fn api_tokens() -> MemoryTokenStore {
    MemoryTokenStore::builder()
        .format(TokenFormat::new("pt_live_"))
        .usage_interval(Duration::from_secs(60))
        .build()
}

/// Who is signed in to the portal: the customer its session cookie names.
fn signed_in(request: &http::request::Parts) -> Option<PortalUser> {
    let cookies = request.headers.get(header::COOKIE)?.to_str().ok()?;
    cookies
        .split(';')
        .any(|c| c.trim() == SESSION)
        .then(|| PortalUser::new("user_42", "Ada (ACME)").organization("acme"))
}

/// `GET /sign-in`: the stand-in for the portal's sign-in; then the token page.
async fn sign_in() -> impl IntoResponse {
    let cookie = format!("{SESSION}; Path=/; HttpOnly; SameSite=Lax");
    (StatusCode::SEE_OTHER, [(header::SET_COOKIE, cookie), (header::LOCATION, "/portal/tokens".to_owned())])
}

/// `GET /api/projects`: what an API token opens.
async fn projects(principal: Principal) -> Json<Value> {
    Json(
        json!({ "owner": principal.subject(), "token": principal.token_name(), "projects": ["website", "billing"] }),
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let mut csrf_key = [0_u8; 32];
    getrandom::fill(&mut csrf_key)?;
    let listener = TcpListener::bind(("127.0.0.1", 3005)).await?;
    let base = format!("http://{}", listener.local_addr()?);
    println!("open {base}/sign-in in a browser (signs in the demo customer, then shows their tokens)");
    println!("then: curl -i -H 'Authorization: Bearer <the token shown once>' {base}/api/projects");
    axum::serve(listener, app(api_tokens(), csrf_key)).await?;
    Ok(())
}
