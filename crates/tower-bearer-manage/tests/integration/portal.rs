//! The portal page: listing, creating (the secret shown once), revoking after a confirmation,
//! through the router as a host mounts it; CSRF, tenants, escaping and error messages; and the
//! whole flow in a real browser (headless Chromium over WebDriver), which also takes the
//! screenshots in docs/.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path};
use axum::response::IntoResponse;
use axum::routing::get;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use http::header::{COOKIE, LOCATION, SET_COOKIE};
use http::request::Parts;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use regex::Regex;
use tower::ServiceExt;
use tower_bearer::{BearerAuthLayer, Clock, MemoryTokenStore, NewToken, TokenId, TokenManager};
use tower_bearer_manage::{PortalUser, TokenPortal};
use tower_bearer_sqlx::SqlTokenStore;
use tower_bearer_test_support::pg::PgCluster;

const DAY: u64 = 86_400;
pub(super) const KEY: [u8; 32] = [42; 32];
pub(super) const SCOPES: [(&str, &str); 4] = [
    ("reports:read", "Read reports"),
    ("reports:write", "Create and edit reports"),
    ("deployments:write", "Trigger deployments"),
    ("metrics:read", "Read metrics"),
];
/// 2026-11-02 09:30 UTC, when every test happens.
pub(super) const NOW: u64 = 1_793_611_800;

pub(super) fn at(unix: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix)
}

/// The host's sign-in, as the tests play it: the user a `user` cookie names.
pub(super) fn signed_in(parts: &Parts) -> Option<PortalUser> {
    let cookies = parts.headers.get(COOKIE)?.to_str().ok()?;
    let user = cookies.split(';').find_map(|c| c.trim().strip_prefix("user="))?;
    let (subject, name, organization) = match user {
        "ada" => ("user_ada", "Ada Lovelace", "acme"),
        "eve" => ("user_eve", "Eve", "acme"),
        "ada-at-initech" => ("user_ada", "Ada Lovelace", "initech"),
        _ => return None,
    };
    Some(PortalUser::new(subject, name).organization(organization))
}

/// The same sign-in as an axum extractor, as a host with a session extractor has it.
struct SessionUser(PortalUser);

impl<S: Send + Sync> FromRequestParts<S> for SessionUser {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, StatusCode> {
        signed_in(parts).map(SessionUser).ok_or(StatusCode::UNAUTHORIZED)
    }
}

impl From<SessionUser> for PortalUser {
    fn from(user: SessionUser) -> Self {
        user.0
    }
}

/// The host's sign-in page, as the browser test plays it: sets the `user` cookie.
pub(super) async fn sign_in(Path(user): Path<String>) -> impl IntoResponse {
    let cookie = format!("user={user}; Path=/; HttpOnly; SameSite=Lax");
    (StatusCode::SEE_OTHER, [(SET_COOKIE, cookie), (LOCATION, "/account/tokens".to_owned())])
}

/// A host application: the portal under `/account/tokens`, an API its tokens open, a sign-in.
fn host<S: TokenManager + Clone>(store: &S, clock: &Clock, via_extractor: bool) -> Router {
    let portal = if via_extractor {
        TokenPortal::from_extractor::<SessionUser>(store.clone(), KEY)
    } else {
        TokenPortal::new(store.clone(), signed_in, KEY)
    };
    let portal = portal.scopes(SCOPES).title("API tokens").max_lifetime(Duration::from_secs(365 * DAY));
    let api = BearerAuthLayer::new(store.clone()).clock(clock.clone());
    Router::new()
        .nest("/account/tokens", portal.router())
        .route("/api/ping", get(|| async { "pong" }).route_layer(api))
        .route("/sign-in/{user}", get(sign_in))
}

fn setup() -> (MemoryTokenStore, Clock, Router) {
    let clock = Clock::manual(at(NOW));
    let store = MemoryTokenStore::builder().clock(clock.clone()).build();
    let app = host(&store, &clock, false);
    (store, clock, app)
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    /// The CSRF token of the page's (last) form.
    fn csrf(&self) -> String {
        let re = Regex::new(r#"name="csrf" value="([^"]+)""#).unwrap();
        re.captures_iter(&self.body).last().expect("a form with a CSRF token")[1].to_owned()
    }

    fn location(&self) -> &str {
        self.headers[LOCATION].to_str().unwrap()
    }
}

async fn send(
    app: &Router,
    method: Method,
    path: &str,
    user: &str,
    form: Option<String>,
    extra: &[(&str, &str)],
) -> Page {
    let mut request = Request::builder().method(method).uri(path).header(COOKIE, format!("user={user}"));
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    if form.is_some() {
        request = request.header("content-type", "application/x-www-form-urlencoded");
    }
    let request = request.body(form.map_or_else(Body::empty, Body::from)).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let body = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    Page { status, headers, body }
}

async fn get_page(app: &Router, path: &str, user: &str) -> Page {
    send(app, Method::GET, path, user, None, &[]).await
}

async fn post(app: &Router, path: &str, user: &str, form: String) -> Page {
    send(app, Method::POST, path, user, Some(form), &[("sec-fetch-site", "same-origin")]).await
}

async fn api_status(app: &Router, secret: &str) -> StatusCode {
    let request = Request::get("/api/ping").header("authorization", format!("Bearer {secret}"));
    app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap().status()
}

/// Creates a token through the form as `user`; its id.
async fn create(app: &Router, user: &str, name: &str) -> TokenId {
    let csrf = get_page(app, "/account/tokens", user).await.csrf();
    let form = format!("csrf={csrf}&name={name}&scope=reports%3Aread&expires=2027-01-31");
    let created = post(app, "/account/tokens", user, form).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    TokenId::from(created.location().strip_prefix("/account/tokens/created/").unwrap())
}

#[tokio::test]
async fn portal_lists_creates_shows_once_and_revokes() {
    let (store, _clock, app) = setup();
    lists_creates_shows_once_and_revokes(&store, &app).await;
}

#[tokio::test]
async fn the_portal_on_a_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(at(NOW));
    let store =
        SqlTokenStore::builder().clock(clock.clone()).open_sqlite(dir.path().join("t.db")).await.unwrap();
    lists_creates_shows_once_and_revokes(&store, &host(&store, &clock, false)).await;
}

#[tokio::test]
async fn the_portal_on_postgres() {
    let Some(cluster) = PgCluster::start() else { return };
    let clock = Clock::manual(at(NOW));
    let store = SqlTokenStore::builder().clock(clock.clone()).open(&cluster.url()).await.unwrap();
    lists_creates_shows_once_and_revokes(&store, &host(&store, &clock, false)).await;
}

/// The portal's whole flow, on any store.
async fn lists_creates_shows_once_and_revokes<S: TokenManager>(store: &S, app: &Router) {
    let app = app.clone();
    let list = get_page(&app, "/account/tokens", "ada").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("You have no tokens yet.") && list.body.contains("Signed in as"));
    assert_eq!(list.headers["cache-control"], "no-store");
    assert_eq!(list.headers["x-frame-options"], "DENY");
    let csp = list.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'sha256-"), "{csp}");
    assert!(list.body.contains(r#"min="2026-11-03""#) && list.body.contains(r#"value="2026-12-02""#));

    let form = format!(
        "csrf={}&name=Laptop+CLI&scope=reports%3Aread&scope=metrics%3Aread&expires=2027-01-31",
        list.csrf()
    );
    let created = post(&app, "/account/tokens", "ada", form).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER);
    let id = created.location().strip_prefix("/account/tokens/created/").unwrap().to_owned();
    let info = store.get(&TokenId::from(id.as_str())).await.unwrap().unwrap();
    assert_eq!((info.principal.subject(), info.principal.organization()), ("user_ada", Some("acme")));
    assert_eq!(
        (info.principal.token_name(), info.principal.token_kind()),
        (Some("Laptop CLI"), Some("personal"))
    );
    assert_eq!(info.principal.scopes().to_string(), "metrics:read reports:read");
    assert_eq!(info.principal.expires_at(), Some(at(1_801_353_600)), "2027-01-31 00:00 UTC");

    let shown = get_page(&app, created.location(), "ada").await;
    assert_eq!(shown.status, StatusCode::OK);
    let secret =
        Regex::new(r#"id="secret" type="text" value="([^"]+)""#).unwrap().captures(&shown.body).unwrap()[1]
            .to_owned();
    assert_eq!(api_status(&app, &secret).await, StatusCode::OK);
    let again = get_page(&app, created.location(), "ada").await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert!(again.body.contains("no longer shown") && !again.body.contains(&secret));

    let list = get_page(&app, "/account/tokens", "ada").await;
    assert!(list.body.contains("Laptop CLI") && list.body.contains(info.hint.as_deref().unwrap()));
    assert!(list.body.contains(&format!(r#"action="/account/tokens/{id}/revoke""#)));
    let confirm = get_page(&app, &format!("/account/tokens/{id}/revoke"), "ada").await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains("Revoke “Laptop CLI”?"));
    let revoked =
        post(&app, &format!("/account/tokens/{id}/revoke"), "ada", format!("csrf={}", confirm.csrf())).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(revoked.location(), format!("/account/tokens?revoked={id}"));
    assert_eq!(api_status(&app, &secret).await, StatusCode::UNAUTHORIZED);
    let list = get_page(&app, revoked.location(), "ada").await;
    assert!(list.body.contains("Revoked “Laptop CLI”") && list.body.contains("You have no tokens yet."));
    assert!(!get_page(&app, revoked.location(), "ada").await.body.contains("Revoked “"), "said once");
}

#[tokio::test]
async fn posts_without_a_valid_csrf_token_are_refused() {
    let (store, clock, app) = setup();
    let csrf = get_page(&app, "/account/tokens", "ada").await.csrf();
    let eves = get_page(&app, "/account/tokens", "eve").await.csrf();
    let form = |csrf: &str| format!("csrf={csrf}&name=x&scope=reports%3Aread&expires=2027-01-31");
    for bad in [String::new(), "1.2.3".to_owned(), eves, csrf.replace('.', "!")] {
        let refused = post(&app, "/account/tokens", "ada", form(&bad)).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{bad}");
        assert!(refused.body.contains("The form has expired"));
    }
    let cross_site = send(
        &app,
        Method::POST,
        "/account/tokens",
        "ada",
        Some(form(&csrf)),
        &[("sec-fetch-site", "cross-site")],
    );
    assert_eq!(cross_site.await.status, StatusCode::FORBIDDEN);
    let other_origin = send(
        &app,
        Method::POST,
        "/account/tokens",
        "ada",
        Some(form(&csrf)),
        &[("origin", "https://evil.example")],
    );
    assert_eq!(other_origin.await.status, StatusCode::FORBIDDEN);
    assert!(store.list("user_ada").await.unwrap().is_empty());

    // A create form's token does not revoke, and a revoke form's token expires.
    let id = create(&app, "ada", "ci").await;
    let revoke = format!("/account/tokens/{id}/revoke");
    assert_eq!(post(&app, &revoke, "ada", format!("csrf={csrf}")).await.status, StatusCode::FORBIDDEN);
    let confirm = get_page(&app, &revoke, "ada").await.csrf();
    clock.advance(Duration::from_secs(2 * 3600 + 1));
    assert_eq!(post(&app, &revoke, "ada", format!("csrf={confirm}")).await.status, StatusCode::FORBIDDEN);
    assert_eq!(store.list("user_ada").await.unwrap().len(), 1);
}

#[tokio::test]
async fn other_users_tokens_are_not_found() {
    let (store, clock, app) = setup();
    let id = create(&app, "ada", "adas+key").await;
    let session = NewToken::for_subject("user_ada").organization("acme").kind("session").name("web session");
    let session = store.issue(session).await.unwrap().id().clone();
    for (user, token) in [("eve", &id), ("ada-at-initech", &id), ("ada", &session)] {
        let list = get_page(&app, "/account/tokens", user).await;
        assert!(!list.body.contains("web session") && (user == "ada" || !list.body.contains("adas key")));
        let revoke = format!("/account/tokens/{token}/revoke");
        assert_eq!(get_page(&app, &revoke, user).await.status, StatusCode::NOT_FOUND, "{user}");
        assert_eq!(
            post(&app, &revoke, user, format!("csrf={}", list.csrf())).await.status,
            StatusCode::FORBIDDEN
        );
    }
    // A valid token for the revoke form does not get past the tenant check either: another
    // portal of the host, for session tokens, hands Ada one for her session.
    let sessions = TokenPortal::new(store.clone(), signed_in, KEY).kind("session");
    let both = app.clone().nest("/sessions", sessions.router());
    let confirm = get_page(&both, &format!("/sessions/{session}/revoke"), "ada").await;
    assert_eq!(confirm.status, StatusCode::OK);
    let wrong_portal = format!("/account/tokens/{session}/revoke");
    let refused = post(&both, &wrong_portal, "ada", format!("csrf={}", confirm.csrf())).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);

    // Eve looking at Ada's new secret leaves it for Ada.
    let next = create(&app, "ada", "second").await;
    let created = format!("/account/tokens/created/{next}");
    assert_eq!(get_page(&app, &created, "eve").await.status, StatusCode::NOT_FOUND);
    assert_eq!(get_page(&app, &created, "ada").await.status, StatusCode::OK);
    // And a secret not looked at in time is gone.
    let late = create(&app, "ada", "late").await;
    clock.advance(Duration::from_secs(5 * 60));
    assert_eq!(
        get_page(&app, &format!("/account/tokens/created/{late}"), "ada").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(store.list("user_ada").await.unwrap().len(), 4, "nothing revoked");
}

#[tokio::test]
async fn bad_input_is_shown_next_to_its_field() {
    let (store, _clock, app) = setup();
    let csrf = get_page(&app, "/account/tokens", "ada").await.csrf();
    let page = post(&app, "/account/tokens", "ada", format!("csrf={csrf}&name=+&expires=2026-11-02")).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("<title>Error: API tokens</title>"));
    for (field, message) in [
        ("name", "Enter a name for the token."),
        ("scopes", "Choose at least one permission."),
        ("expires", "Choose a date after today."),
    ] {
        assert!(
            page.body
                .contains(&format!(r#"aria-describedby="{field}-hint {field}-error" aria-invalid="true""#)),
            "{field}"
        );
        assert!(page.body.contains(&format!(
            r#"<p class="error" id="{field}-error"><span class="vh">Error: </span>{message}</p>"#
        )));
    }
    assert!(
        page.body.contains(r#"<input id="name" type="text" name="name" value=" ""#),
        "what was typed stays"
    );
    assert!(page.body.contains(r##"<li><a href="#name">Enter a name for the token.</a></li>"##), "summed up");
    let too_late = post(
        &app,
        "/account/tokens",
        "ada",
        format!("csrf={}&name=a&scope=reports%3Aread&expires=2028-01-01", page.csrf()),
    )
    .await;
    assert!(too_late.body.contains("Choose a date no later than 2027-11-02."));
    let unknown = post(
        &app,
        "/account/tokens",
        "ada",
        format!("csrf={}&name=a&scope=%2A&expires=2027-01-01", page.csrf()),
    )
    .await;
    assert!(unknown.body.contains("Choose permissions from the list."));
    assert!(store.list("user_ada").await.unwrap().is_empty());
}

#[tokio::test]
async fn names_are_escaped() {
    let (_store, _clock, app) = setup();
    let id = create(&app, "ada", "%3Cscript%3Ealert(%22x%22)%3C%2Fscript%3E").await;
    let shown = get_page(&app, &format!("/account/tokens/created/{id}"), "ada").await;
    let list = get_page(&app, "/account/tokens", "ada").await;
    let confirm = get_page(&app, &format!("/account/tokens/{id}/revoke"), "ada").await;
    for page in [shown, list, confirm] {
        assert!(page.body.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
        assert!(!page.body.contains("<script>alert"));
    }
}

#[tokio::test]
async fn nobody_signed_in_is_sent_to_sign_in_or_asked_to() {
    let clock = Clock::manual(at(NOW));
    let store = MemoryTokenStore::builder().clock(clock.clone()).build();
    for app in [host(&store, &clock, false), host(&store, &clock, true)] {
        // No challenge fits a browser session, so not 401 (which must carry one).
        let page = get_page(&app, "/account/tokens", "nobody").await;
        assert_eq!(page.status, StatusCode::FORBIDDEN);
        assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(page.body.contains("Sign in to manage your tokens"));
        assert_eq!(get_page(&app, "/account/tokens", "ada").await.status, StatusCode::OK);
    }
    let portal = TokenPortal::new(store.clone(), signed_in, KEY).sign_in_at("/sign-in?next=/account/tokens");
    let app = Router::new().nest("/account/tokens", portal.router());
    for path in ["/account/tokens", "/account/tokens/tid_x/revoke"] {
        let page = get_page(&app, path, "nobody").await;
        assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, "/sign-in?next=/account/tokens"));
    }
    let sign_in =
        std::panic::AssertUnwindSafe(|| TokenPortal::new(store, signed_in, KEY).sign_in_at("/a\nb"));
    let refused = std::panic::catch_unwind(sign_in);
    assert!(refused.is_err(), "a URL that cannot be a header is a mistake at start-up");
}

/// A chromedriver on a free local port, killed when dropped.
pub(super) struct ChromeDriver {
    child: Child,
    url: String,
    chromium: PathBuf,
}

impl ChromeDriver {
    /// A running chromedriver, or `None` (after saying why) when Chromium or its driver is not
    /// installed and `CI` is not set.
    ///
    /// # Panics
    ///
    /// When either is missing and `CI` is set (.ci/run installs both), or the driver fails.
    pub(super) fn start() -> Option<Self> {
        // On PATH, then where Debian keeps them.
        let find = |names: &[&str]| {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let dirs: Vec<_> =
                std::env::split_paths(&path).chain([PathBuf::from("/usr/lib/chromium")]).collect();
            let mut found = names.iter().flat_map(|name| dirs.iter().map(move |dir| dir.join(name)));
            found.find(|p| p.is_file())
        };
        let driver = find(&["chromedriver", "chromium-driver"]);
        let chromium = find(&["chromium", "chromium-browser"]);
        let (Some(driver), Some(chromium)) = (driver, chromium) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "Chromium or chromedriver not found and CI is set: the browser test must run in CI \
                 (install the `chromium` and `chromium-driver` packages; .ci/run does)"
            );
            eprintln!(
                "skipping the browser test: Chromium or chromedriver is not installed (Debian: chromium, chromium-driver)"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "chromedriver did not listen within 10 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(ChromeDriver { child, url: format!("http://127.0.0.1:{port}"), chromium })
    }

    pub(super) async fn session(&self) -> Client {
        let options = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": self.chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-extensions", "--lang=en-US", "--window-size=1200,900",
                    "--force-device-scale-factor=1", "--hide-scrollbars",
                ],
            },
        });
        let serde_json::Value::Object(capabilities) = options else { unreachable!() };
        ClientBuilder::new(HttpConnector::new()).capabilities(capabilities).connect(&self.url).await.unwrap()
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Ada's tokens for the screenshots, made over the months before [`NOW`] (where the clock is
/// left): a dashboard key that has expired, a laptop key used this morning, a CI key without
/// expiry; and Eve's, which the page must not show Ada.
pub(super) async fn demo_tokens(store: &MemoryTokenStore, clock: &Clock) {
    let ada = |name: &str, scopes: &[&str]| {
        NewToken::for_subject("user_ada")
            .organization("acme")
            .kind("personal")
            .name(name)
            .scopes(scopes.to_vec())
    };
    let tokens = [
        // Created 2026-05-03 08:40, expired 2026-10-31, last used 2026-10-30 07:26.
        (
            1_777_797_600,
            ada("Grafana dashboard", &["metrics:read"]).expires_at(at(1_793_404_800)),
            1_793_345_160,
        ),
        // Created 2026-08-14 16:05, expires 2027-02-14, last used 33 minutes ago.
        (
            1_786_723_500,
            ada("Laptop CLI", &["reports:read", "reports:write"]).expires_at(at(1_802_563_200)),
            NOW - 33 * 60,
        ),
        // Created 2026-09-01 10:12, no expiry, last used yesterday evening.
        (
            1_788_257_520,
            ada("CI deploy (GitHub Actions)", &["deployments:write", "reports:read"]),
            NOW - 10 * 3600 - 20 * 60,
        ),
    ];
    for (created, token, used) in tokens {
        clock.advance(at(created).duration_since(clock.now()).unwrap());
        let id = store.issue(token).await.unwrap().id().clone();
        store.record_usage(&id, at(used)).await.unwrap();
    }
    let eve = NewToken::for_subject("user_eve").organization("acme").kind("personal").name("Eve's key");
    let _ = store.issue(eve).await.unwrap();
    clock.advance(at(NOW).duration_since(clock.now()).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_in_a_real_browser() {
    let Some(driver) = ChromeDriver::start() else { return };
    let clock = Clock::manual(at(1_777_000_000));
    let store = MemoryTokenStore::builder().clock(clock.clone()).build();
    demo_tokens(&store, &clock).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let app = host(&store, &clock, true);
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let browser = driver.session().await;
    // The browser is closed whatever happens, so a failed run leaves no Chromium behind.
    let outcome = tokio::spawn(browse(browser.clone(), origin, store)).await;
    browser.close().await.unwrap();
    server.abort();
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

async fn browse(browser: Client, origin: String, store: MemoryTokenStore) {
    let portal = format!("{origin}/account/tokens");
    browser.goto(&portal).await.unwrap();
    assert_eq!(text(&browser, "h1").await, "Sign in to manage your tokens");
    // Signing in sets the host's session cookie (WebDriver's cookie command would leave the
    // domain null, which chromedriver refuses, or name the IP, which Chromium refuses).
    browser.goto(&format!("{origin}/sign-in/ada")).await.unwrap();
    assert_eq!(browser.current_url().await.unwrap().as_str(), portal);
    assert_eq!(browser.title().await.unwrap(), "API tokens");
    assert_eq!(browser.find_all(Locator::Css("tbody tr")).await.unwrap().len(), 3);
    assert!(text(&browser, "tbody").await.contains("expired 2026-10-31 00:00"));
    screenshot(&browser, "portal-list.png").await;

    // Create a token with the keyboard alone: the label leads to its field, Tab walks the
    // form's controls in order, Space ticks a box, Enter submits. What is checked is the order
    // of the form's own controls and what they submit, never how many stops a browser makes
    // inside a composite widget (a date field's parts, a calendar button): those differ
    // between browsers and versions.
    browser.find(Locator::XPath("//label[normalize-space()='Name']")).await.unwrap().click().await.unwrap();
    assert_eq!(focused_id(&browser).await.as_deref(), Some("name"));
    keyboard(&browser, "Deploy bot").await;
    for (label, check) in [
        ("Read reports", true),
        ("Create and edit reports", false),
        ("Trigger deployments", true),
        ("Read metrics", false),
    ] {
        press(&browser, Key::Tab).await;
        let field = labelled(&browser, label).await;
        assert_eq!(focused_id(&browser).await, field.attr("id").await.unwrap(), "Tab to {label}");
        if check {
            press(&browser, ' ').await;
        }
        assert_eq!(field.is_selected().await.unwrap(), check, "{label}");
    }
    press(&browser, Key::Tab).await;
    let expires = labelled(&browser, "Expires on").await;
    assert_eq!(focused_id(&browser).await, expires.attr("id").await.unwrap(), "Tab to the date");
    keyboard(&browser, "01312027").await; // the en-US order (--lang): month, day, year
    assert_eq!(expires.prop("value").await.unwrap().as_deref(), Some("2027-01-31"));
    // Tab leaves the date field after however many stops of its own the browser gives it; the
    // next control of the form must then be the submit button, with the date kept.
    let mut stops = 0;
    while focused_id(&browser).await.as_deref() == Some("expires") {
        assert!(stops < 10, "Tab did not leave the date field in 10 presses");
        press(&browser, Key::Tab).await;
        stops += 1;
    }
    let submit = browser.active_element().await.unwrap();
    assert_eq!(submit.tag_name().await.unwrap(), "button");
    assert_eq!(submit.text().await.unwrap(), "Create token");
    assert_eq!(expires.prop("value").await.unwrap().as_deref(), Some("2027-01-31"));
    press(&browser, Key::Enter).await;

    // The secret, once, with the copy button the script reveals.
    let secret = browser.wait().for_element(Locator::Id("secret")).await.unwrap();
    let secret = secret.prop("value").await.unwrap().unwrap();
    assert!(browser.find(Locator::Css("button[data-copy]")).await.unwrap().is_displayed().await.unwrap());
    let mine = store.list("user_ada").await.unwrap();
    let made = mine.iter().find(|t| t.principal.token_name() == Some("Deploy bot")).unwrap();
    assert_eq!(made.principal.scopes().to_string(), "deployments:write reports:read");
    assert_eq!(made.principal.expires_at(), Some(at(1_801_353_600)));
    assert!(secret.ends_with(made.hint.as_deref().unwrap().rsplit('…').next().unwrap()));
    screenshot(&browser, "portal-created.png").await;
    browser.refresh().await.unwrap();
    heading(&browser, "This token is no longer shown").await;
    assert!(browser.find(Locator::Id("secret")).await.is_err());

    // Revoke it, after confirming.
    browser.find(Locator::LinkText("Back to your tokens")).await.unwrap().click().await.unwrap();
    let row_button = "//tr[th[normalize-space()='Deploy bot']]//button";
    browser.wait().for_element(Locator::XPath(row_button)).await.unwrap().click().await.unwrap();
    heading(&browser, "Revoke “Deploy bot”?").await;
    browser
        .find(Locator::XPath("//button[normalize-space()='Revoke token']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let notice = browser.wait().for_element(Locator::Css(".notice")).await.unwrap();
    assert!(notice.text().await.unwrap().starts_with("Revoked “Deploy bot”."));
    assert_eq!(browser.find_all(Locator::Css("tbody tr")).await.unwrap().len(), 3);
    assert!(store.get(&made.id).await.unwrap().is_none());
    screenshot(&browser, "portal-revoked.png").await;
}

/// Waits for the page whose heading is `expected`: a click navigates, and an element found
/// on the page being left goes stale.
pub(super) async fn heading(browser: &Client, expected: &str) {
    let xpath = format!("//h1[normalize-space()='{expected}']");
    browser
        .wait()
        .for_element(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|e| panic!("no page {expected:?}: {e}"));
}

pub(super) async fn text(browser: &Client, css: &str) -> String {
    browser.find(Locator::Css(css)).await.unwrap().text().await.unwrap()
}

/// The field a label (found by its text) is for.
async fn labelled(browser: &Client, label: &str) -> Element {
    let xpath = format!("//label[starts-with(normalize-space(), '{label}')]");
    let id = browser.find(Locator::XPath(&xpath)).await.unwrap().attr("for").await.unwrap().unwrap();
    browser.find(Locator::Id(&id)).await.unwrap()
}

/// Types `keys` on the keyboard, as a person would: each key goes to whatever has focus then.
/// (WebDriver's send-keys to an element would focus that element first, which puts the
/// caret back into a date field's first part on every press.)
async fn keyboard(browser: &Client, keys: &str) {
    let mut typing = KeyActions::new("keyboard".to_owned());
    for key in keys.chars() {
        typing = typing.then(KeyAction::Down { value: key }).then(KeyAction::Up { value: key });
    }
    browser.perform_actions(typing).await.unwrap();
}

/// Presses one key ([`Key::Tab`], `' '`) on the keyboard.
async fn press(browser: &Client, key: impl Into<char>) {
    keyboard(browser, &key.into().to_string()).await;
}

/// The id of the element that has focus (`None` when it has none).
async fn focused_id(browser: &Client) -> Option<String> {
    browser.active_element().await.unwrap().attr("id").await.unwrap()
}

/// The whole page as a PNG: written to docs/ with `UPDATE_SCREENSHOTS=1`, checked otherwise.
pub(super) async fn screenshot(browser: &Client, file: &str) {
    // The window's height, less what is not page, fits the page's content and a margin.
    let script = "return Math.ceil(document.body.getBoundingClientRect().bottom) + 32 \
                  + window.outerHeight - window.innerHeight";
    let height = browser.execute(script, vec![]).await.unwrap().as_u64().unwrap();
    browser.set_window_size(1200, u32::try_from(height).unwrap()).await.unwrap();
    let png = browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000, "{file}: not a screenshot");
    if std::env::var_os("UPDATE_SCREENSHOTS").is_some_and(|v| v == "1") {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join(file), png).unwrap();
    }
    browser.set_window_size(1200, 900).await.unwrap();
}
