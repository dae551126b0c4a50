//! [`ManagementApi`]: the token-management HTTP API, as an axum router an application mounts
//! behind its `BearerAuthLayer`.

mod body;
mod error;
mod handlers;
mod json;
mod limits;
mod notices;
mod openapi;
mod state;
mod usage;

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use tower_bearer::TokenManager;
use tower_bearer::manage::audit::AuditLog;
use tower_bearer::manage::usage::UsageLog;

use crate::api::state::{Api, ApiScopes, AuditSource};
use crate::usage_source::UsageSource;

/// The token-management API over any store that manages tokens: an axum [`Router`] to mount
/// at any prefix, behind the application's `BearerAuthLayer` (it reads the caller's
/// `Principal` from it).
///
/// | route | needs | does |
/// |---|---|---|
/// | `POST /tokens` `{"name","scopes","expires_at"\|"expires_in","kind","subject","rate_limit","credits","audience"}` | `tokens:write` | issues a token: 201, the secret shown once |
/// | `GET /tokens?limit&cursor&subject` | `tokens:read` | a page of tokens and `next_cursor` |
/// | `GET /tokens/{id}` | `tokens:read` | one token's metadata |
/// | `DELETE /tokens/{id}` | `tokens:write` | revokes it: 204 |
/// | `POST /tokens/{id}/rotate` `{"grace_secs"}` | `tokens:write` | a successor, its secret shown once; the old one works for the grace |
/// | `GET /audit?limit&cursor&token_id&event` | `audit:read` | a page of audit events and `next_cursor` (with [`audit_log`](Self::audit_log)) |
/// | `GET /tokens/{id}/usage?from&to&granularity` | `tokens:read` | the token's requests per outcome in every bucket of the range, zeros included (with [`usage_log`](Self::usage_log)) |
/// | `GET /usage?from&to&granularity` | `tokens:read` and the admin scope | the organization's requests per bucket and per token (with [`usage_log`](Self::usage_log)) |
///
/// Usage ranges are in Unix seconds, `from` rounded down to its bucket, `to` exclusive, at a
/// `granularity` of `minute`, `hour` or `day`; by default the last 30 days by day (today's
/// included), and at most 10000 buckets.
///
/// Tenants: a caller sees and manages the tokens of its own subject, or with the store's
/// admin scope (`tokens:admin` by default) those of its whole organization, never another's:
/// another tenant's token is 404, as an unknown one. A token never mints a scope it does not
/// hold, a token that outlives it, or one with looser limits: a caller with a rate limit
/// (its own, or its kind's default), credits or an audience creates only tokens with a
/// `rate_limit` (`{"requests","period_secs"}`), `credits` (`{"initial","refill":{"amount",
/// "every_secs"}}`) and `audience` within its own. Rotating needs the scopes of the token
/// rotated. Kinds the store reserves (`oauth_access`) cannot be created here.
///
/// The token views show its `rate_limit`, and its `credits` plan with its `balance`:
/// `remaining` (what requests can still spend this period), `leased` (held by instances of a
/// shared store, not yet accounted for) and `spent` (gone for good this period).
///
/// Errors: 400 `invalid_request` naming the field at fault (or the rule: a token outliving
/// its issuer; a limit looser than the caller's, with the caller's own), 413 over the body limit (64 KiB by default), 415 for a body that is not JSON,
/// 404 as above, 503 when the store fails; a missing scope is the layer's 403
/// `insufficient_scope` naming it, in the layer's format.
///
/// ```
/// use axum::Router;
/// use tower_bearer::{BearerAuthLayer, MemoryTokenStore};
/// use tower_bearer_manage::ManagementApi;
///
/// let store = MemoryTokenStore::new();
/// let api = ManagementApi::new(store.clone()).audit_log(store.clone());
/// let app: Router = Router::new()
///     .nest("/v1", api.router())
///     .layer(BearerAuthLayer::new(store));
/// ```
pub struct ManagementApi<S> {
    store: S,
    audit: Option<Arc<dyn AuditSource>>,
    usage: Option<Arc<dyn UsageSource>>,
    scopes: ApiScopes,
    body_limit: usize,
}

impl<S: TokenManager + Clone> ManagementApi<S> {
    /// The API over `store`, with the default scope names and no audit route.
    pub fn new(store: S) -> Self {
        ManagementApi {
            store,
            audit: None,
            usage: None,
            scopes: ApiScopes {
                read: "tokens:read".into(),
                write: "tokens:write".into(),
                audit: "audit:read".into(),
            },
            body_limit: 64 * 1024,
        }
    }

    /// Serves `GET /audit` from `log` (the log an [`AuditWriter`](crate::AuditWriter) writes
    /// to).
    #[must_use]
    pub fn audit_log<L: AuditLog>(mut self, log: L) -> Self {
        self.audit = Some(Arc::new(log));
        self
    }

    /// Serves `GET /tokens/{id}/usage` and `GET /usage` from `log` (the log the usage counter
    /// adds to).
    ///
    /// ```
    /// use tower_bearer::MemoryTokenStore;
    /// use tower_bearer_manage::ManagementApi;
    ///
    /// let store = MemoryTokenStore::new();
    /// let api = ManagementApi::new(store.clone()).usage_log(store);
    /// assert!(api.openapi("/v1")["paths"]["/usage"].is_object());
    /// ```
    #[must_use]
    pub fn usage_log<L: UsageLog>(mut self, log: L) -> Self {
        self.usage = Some(Arc::new(log));
        self
    }

    /// The scope names for reading tokens, managing them, and reading the audit log.
    #[must_use]
    pub fn scopes(
        mut self,
        read: impl Into<String>,
        write: impl Into<String>,
        audit: impl Into<String>,
    ) -> Self {
        self.scopes = ApiScopes { read: read.into(), write: write.into(), audit: audit.into() };
        self
    }

    /// The largest request body accepted, in bytes (default 64 KiB).
    #[must_use]
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The OpenAPI 3.1 document of the API as configured (scope names, audit route), for the
    /// API mounted at `base` (`/v1`, or a full URL): serve it at a route of the
    /// application's choosing.
    ///
    /// ```
    /// use axum::{Json, Router, routing::get};
    /// use tower_bearer::MemoryTokenStore;
    /// use tower_bearer_manage::ManagementApi;
    ///
    /// let api = ManagementApi::new(MemoryTokenStore::new());
    /// let document = api.openapi("/v1");
    /// assert_eq!(document["openapi"], "3.1.0");
    /// let docs: Router = Router::new().route("/openapi.json", get(move || async move { Json(document) }));
    /// ```
    #[must_use]
    pub fn openapi(&self, base: &str) -> serde_json::Value {
        openapi::document(
            base,
            &self.scopes,
            self.store.rules().admin_scope(),
            self.audit.is_some(),
            self.usage.is_some(),
        )
    }

    /// The routes, relative to where the application mounts them.
    pub fn router<T: Clone + Send + Sync + 'static>(self) -> Router<T> {
        let has_audit = self.audit.is_some();
        let has_usage = self.usage.is_some();
        let state = Arc::new(Api {
            store: self.store,
            audit: self.audit,
            usage: self.usage,
            scopes: self.scopes,
            body_limit: self.body_limit,
        });
        let mut router = Router::new()
            .route("/tokens", get(handlers::list::<S>).post(handlers::create::<S>))
            .route("/tokens/{id}", get(handlers::show::<S>).delete(handlers::revoke::<S>))
            .route("/tokens/{id}/rotate", post(handlers::rotate::<S>))
            .route("/notices", get(notices::notices::<S>));
        if has_audit {
            router = router.route("/audit", get(handlers::audit::<S>));
        }
        if has_usage {
            router = router
                .route("/tokens/{id}/usage", get(usage::token_usage::<S>))
                .route("/usage", get(usage::summary::<S>));
        }
        router.with_state(state)
    }
}

impl<S> fmt::Debug for ManagementApi<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagementApi")
            .field("scopes", &self.scopes)
            .field("audit", &self.audit.is_some())
            .field("usage", &self.usage.is_some())
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}
