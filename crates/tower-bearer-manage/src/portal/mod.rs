//! [`TokenPortal`]: the page where the host application's signed-in users manage their own
//! tokens, as an axum router of server-rendered HTML.

mod assets;
mod csrf;
mod date;
mod form;
mod handlers;
mod once;
mod paths;
mod respond;
mod state;
mod user;
mod views;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::middleware::map_response;
use axum::routing::get;
use http::HeaderValue;
use http::request::Parts;
use tower_bearer::manage::usage::UsageLog;
use tower_bearer::{Credits, RateLimit, Scopes, TokenManager};

use self::csrf::CsrfKey;
use self::form::{CreateRules, ScopeChoice};
use self::once::OneTime;
use self::state::Portal;
pub use self::user::PortalUser;
use self::user::{UserExtractor, UserFn, UserSource};
use crate::usage_source::UsageSource;

/// The largest form body accepted.
const BODY_LIMIT: usize = 16 * 1024;

/// An embeddable page where the host application's signed-in user manages their own tokens:
/// lists them (name, hint, permissions, limits, created, last used, expiry), creates one (a
/// name, permissions from a list the host sets, an expiry date, and within the host's
/// [`max_rate_limit`](Self::max_rate_limit) and [`max_credits`](Self::max_credits) a rate
/// limit and credits) and sees its secret once, revokes one after a confirmation. Server-rendered HTML that works without JavaScript (a small
/// inline script only adds a copy button), with labelled fields, errors tied to them, and
/// nothing that a keyboard cannot reach.
///
/// The user comes from the host's own sign-in: a closure over the request
/// ([`new`](Self::new)), or one of the host's axum extractors
/// ([`from_extractor`](Self::from_extractor)). Nobody signed in: a 303 redirect to the host's
/// sign-in page ([`sign_in_at`](Self::sign_in_at)), or else a 403 page asking to sign in (not
/// 401: a 401 must carry a challenge the client can answer, RFC 9110 §15.5.2, and a browser
/// session has none).
///
/// | route (under where it is nested) | does |
/// |---|---|
/// | `GET /` | the user's tokens and the create form |
/// | `POST /` | creates a token, then 303 to its one-time page; or the form again with its errors (422) |
/// | `GET /created/{id}` | the new token's secret, once, to its creator, within [`show_secret_for`](Self::show_secret_for); then 404 |
/// | `GET /{id}/usage` | the token's last 30 days: a chart drawn on the server, and the same numbers as a table (with [`usage_log`](Self::usage_log)) |
/// | `GET /{id}/revoke` | "Revoke …?" with a confirm button |
/// | `POST /{id}/revoke` | revokes it, then 303 to the list, which says so |
///
/// Security:
///
/// - every form carries a CSRF token, HMAC-SHA256 under `csrf_key` of the user, the form, the
///   time and a nonce, good for 2 hours; a POST without a valid one, or one the browser says
///   came from another site (`Sec-Fetch-Site`, `Origin`), is a 403 page. Give every instance
///   the same random key, from the host's secret store;
/// - a user sees and revokes only tokens of their own subject and organization, of the
///   portal's [`kind`](Self::kind): any other token is 404, as an unknown one;
/// - the secret is kept in this process's memory from the POST to the first look at it (at
///   most [`show_secret_for`](Self::show_secret_for)), for its creator only: with several
///   instances, route a user to the same one (session affinity), or a creator may land on
///   another instance and find it gone (they revoke it and create another);
/// - every response is `Cache-Control: no-store`, may not be framed, and has a
///   Content-Security-Policy that allows only the page's own inline style and script (by
///   hash); every value on a page is HTML-escaped.
///
/// ```
/// use std::time::Duration;
///
/// use axum::Router;
/// use axum::body::Body;
/// use http::{Request, StatusCode};
/// use tower::ServiceExt;
/// use tower_bearer::MemoryTokenStore;
/// use tower_bearer_manage::{PortalUser, TokenPortal};
///
/// /// What the host's own session middleware puts in each request of a signed-in user.
/// #[derive(Clone)]
/// struct SignedIn {
///     id: String,
///     name: String,
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryTokenStore::new();
/// let csrf_key = [0x5e; 32]; // in production: 32 random bytes from the host's secret store
/// let portal = TokenPortal::new(
///     store,
///     |request: &http::request::Parts| {
///         let user = request.extensions.get::<SignedIn>()?;
///         Some(PortalUser::new(user.id.clone(), user.name.clone()))
///     },
///     csrf_key,
/// )
/// .scopes([("reports:read", "Read reports"), ("reports:write", "Create and edit reports")])
/// .max_lifetime(Duration::from_secs(365 * 86_400))
/// .title("API tokens");
/// let app: Router = Router::new().nest("/account/tokens", portal.router());
///
/// let anonymous = Request::get("/account/tokens").body(Body::empty()).unwrap();
/// assert_eq!(app.clone().oneshot(anonymous).await.unwrap().status(), StatusCode::FORBIDDEN);
/// let mut ada = Request::get("/account/tokens").body(Body::empty()).unwrap();
/// ada.extensions_mut().insert(SignedIn { id: "user_42".into(), name: "Ada".into() });
/// let page = app.oneshot(ada).await.unwrap();
/// assert_eq!(page.status(), StatusCode::OK);
/// assert_eq!(page.headers()["cache-control"], "no-store");
/// # }
/// ```
pub struct TokenPortal<S> {
    store: S,
    user: Box<dyn UserSource>,
    csrf_key: CsrfKey,
    rules: CreateRules,
    show_secret_for: Duration,
    kind: String,
    title: String,
    sign_in: Option<HeaderValue>,
    usage: Option<Arc<dyn UsageSource>>,
}

impl<S: TokenManager + Clone> TokenPortal<S> {
    /// The portal over `store`, for the user `user` finds in each request (`None`: nobody is
    /// signed in), its forms signed with `csrf_key`. No permissions to choose from until
    /// [`scopes`](Self::scopes); tokens may have no expiry until
    /// [`max_lifetime`](Self::max_lifetime).
    pub fn new<F>(store: S, user: F, csrf_key: [u8; 32]) -> Self
    where
        F: Fn(&Parts) -> Option<PortalUser> + Send + Sync + 'static,
    {
        Self::with_source(store, Box::new(UserFn(user)), csrf_key)
    }

    /// As [`new`](Self::new), with the user from the host's axum extractor `E` (its session
    /// extractor, say, with `impl From<E> for PortalUser`); its rejection means nobody is
    /// signed in.
    pub fn from_extractor<E>(store: S, csrf_key: [u8; 32]) -> Self
    where
        E: FromRequestParts<()> + Into<PortalUser> + 'static,
    {
        Self::with_source(store, Box::new(UserExtractor::<E>::new()), csrf_key)
    }

    fn with_source(store: S, user: Box<dyn UserSource>, csrf_key: [u8; 32]) -> Self {
        TokenPortal {
            store,
            user,
            csrf_key: CsrfKey::new(csrf_key),
            rules: CreateRules {
                scopes: Vec::new(),
                max_lifetime: None,
                max_rate_limit: None,
                max_credits: None,
            },
            show_secret_for: Duration::from_secs(5 * 60),
            kind: "personal".to_owned(),
            title: "Access tokens".to_owned(),
            sign_in: None,
            usage: None,
        }
    }

    /// The permissions users may give their tokens: `(scope, what the page calls it)`, in the
    /// order shown. A new token needs at least one; a submission naming another is refused.
    ///
    /// # Panics
    ///
    /// If a scope is not a valid scope name ([`Scopes::is_valid`]).
    #[must_use]
    pub fn scopes<I, N, L>(mut self, choices: I) -> Self
    where
        I: IntoIterator<Item = (N, L)>,
        N: Into<String>,
        L: Into<String>,
    {
        self.rules.scopes = choices
            .into_iter()
            .map(|(scope, label)| {
                let scope = scope.into();
                assert!(Scopes::is_valid(&scope), "not a valid scope name: {scope:?}");
                ScopeChoice { scope, label: label.into() }
            })
            .collect();
        self
    }

    /// Tokens must expire, at most `lifetime` from their creation (by default they may also
    /// never expire).
    #[must_use]
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.rules.max_lifetime = Some(lifetime);
        self
    }

    /// Every token the portal creates gets a rate limit of at most `limit`: the form asks for
    /// the requests per `limit`'s period, from 1 to its requests (left empty: `limit`
    /// itself). Without this, the form has no rate-limit field and tokens get none of their
    /// own (the application's default for the portal's [`kind`](Self::kind) applies).
    #[must_use]
    pub fn max_rate_limit(mut self, limit: RateLimit) -> Self {
        self.rules.max_rate_limit = Some(limit);
        self
    }

    /// Every token the portal creates gets credits of at most `credits`: the form asks how
    /// many, from 1 to `credits`' refill amount if they are refilled (the token is refilled
    /// to that many on the same schedule, and starts with as many, or `credits`' initial
    /// ones if fewer), else to its initial credits (left empty: `credits` itself). Without
    /// this, the form has no credits field and tokens are not metered.
    #[must_use]
    pub fn max_credits(mut self, credits: Credits) -> Self {
        self.rules.max_credits = Some(credits);
        self
    }

    /// How long a new token's secret waits for its creator's one look (default 5 minutes).
    #[must_use]
    pub fn show_secret_for(mut self, time: Duration) -> Self {
        self.show_secret_for = time;
        self
    }

    /// The kind of the tokens the portal creates, lists and revokes (default `personal`);
    /// the user's tokens of other kinds are neither shown nor touched. It cannot be a kind
    /// the store reserves (`oauth_access`: see [`router`](Self::router)).
    #[must_use]
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = kind.into();
        self
    }

    /// The page's heading (default "Access tokens").
    #[must_use]
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// Where to send a visitor nobody is signed in as: a 303 redirect to `url` (the host's
    /// sign-in page), instead of a 403 page asking to sign in.
    ///
    /// # Panics
    ///
    /// If `url` cannot be a `Location` header (control characters, say).
    #[must_use]
    pub fn sign_in_at(mut self, url: &str) -> Self {
        let location = HeaderValue::from_str(url);
        self.sign_in = Some(location.unwrap_or_else(|_| panic!("not a usable sign-in URL: {url:?}")));
        self
    }

    /// Shows each token's usage from `log` (the log the usage counter adds to): a "Usage"
    /// link in the list leads to the token's last 30 days, per day, as an SVG bar chart
    /// (admitted requests above the axis, solid; refused ones below it, hatched: told apart
    /// without colour) and as a table with what refused them. Drawn on the server: no script.
    #[must_use]
    pub fn usage_log<L: UsageLog>(mut self, log: L) -> Self {
        self.usage = Some(Arc::new(log));
        self
    }

    /// The routes, relative to where the host nests them (links and redirects follow).
    ///
    /// # Panics
    ///
    /// If the portal's [`kind`](Self::kind) is one the store reserves for tokens its own
    /// endpoints mint ([`MintRules::is_reserved`](tower_bearer::grant::MintRules::is_reserved):
    /// `oauth_access`, whose names the OAuth endpoints trust as client ids).
    pub fn router<T: Clone + Send + Sync + 'static>(self) -> Router<T> {
        assert!(
            !self.store.rules().is_reserved(&self.kind),
            "the portal's kind {:?} is reserved by the store: choose another with TokenPortal::kind",
            self.kind
        );
        let portal = Arc::new(Portal {
            store: self.store,
            user: self.user,
            csrf: self.csrf_key,
            rules: self.rules,
            show_secret_for: self.show_secret_for,
            kind: self.kind,
            title: self.title,
            sign_in: self.sign_in,
            secrets: OneTime::new(),
            revoked: OneTime::new(),
            usage: self.usage,
        });
        let has_usage = portal.usage.is_some();
        let mut router = Router::new()
            .route("/", get(handlers::list::<S>).post(handlers::create::<S>))
            .route("/created/{id}", get(handlers::created::<S>))
            .route("/{id}/revoke", get(handlers::confirm_revoke::<S>).post(handlers::revoke::<S>));
        if has_usage {
            router = router.route("/{id}/usage", get(handlers::usage::<S>));
        }
        router
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .layer(map_response(respond::security_headers))
            .with_state(portal)
    }
}

impl<S> fmt::Debug for TokenPortal<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPortal")
            .field("rules", &self.rules)
            .field("show_secret_for", &self.show_secret_for)
            .field("kind", &self.kind)
            .field("title", &self.title)
            .field("usage", &self.usage.is_some())
            .finish_non_exhaustive()
    }
}
