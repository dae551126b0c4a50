//! [`SignedTokens`]: signed tokens issued, verified and revoked through the same traits as
//! opaque ones.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use tower_bearer::store::Lookup;
use tower_bearer::{
    Clock, IssuedToken, ManageError, NewToken, PresentedToken, Principal, Scopes, StoreError, TokenId,
    TokenInfo, TokenManager, TokenSecret, TokenState, TokenStore,
};

use crate::deny::{Denial, DenyList};
use crate::jwks::Jwks;
use crate::jwt::{Expect, Verified, looks_signed, sign, verify};
use crate::key_set::KeySet;

/// Self-contained signed access tokens (RFC 9068 JWTs) on top of a token store that keeps
/// their records: tokens are verified in this process with the [`KeySet`], no store round
/// trip, and still revoked at once.
///
/// - **Issuing** goes through [`TokenManager`]: `issue(NewToken)` records the token in the
///   inner store (so it is listed, rotated, revoked and audited like any other) and returns a
///   JWT whose `jti` is the record's id, shown once: `typ: at+jwt`; claims `iss`, `sub`,
///   `aud` (the token's audience, else the set's), `exp` (the token's, else now plus the
///   [default lifetime](Self::default_lifetime): RFC 9068 requires one), `iat`, `jti`,
///   `client_id` (the subject), `scope`, and `organization`, `token_kind` and `token_name`
///   when the token has them.
/// - **Verifying**: a token of JWS shape is checked here: `kid` known, `alg` the key's own
///   (never `none`, never HMAC over a public key), signature, `typ`, `iss`, `aud`, `exp` and
///   `nbf` (with the [leeway](Self::leeway), on the store's [`Clock`]), then the deny list;
///   answered at once. Any other token goes to the inner store: one layer accepts API keys
///   and signed tokens alike, with the same RFC 6750 answers.
/// - **Revoking** (`revoke`, `delete`, or a rotation's end of grace) puts the `jti` on a deny
///   list kept until the token's own expiry: refused by every request that starts after the
///   call returns, in this process.
///
/// ```
/// use tower_bearer::{BearerAuthLayer, MemoryTokenStore};
/// use tower_bearer_jwt::{KeySet, SignedTokens, SigningKey};
///
/// let keys = KeySet::new(SigningKey::hs256("k1", &[7; 32]).unwrap()).unwrap();
/// let tokens = SignedTokens::new(MemoryTokenStore::new(), keys, "https://auth.example.com", "https://api.example.com");
/// let layer = BearerAuthLayer::new(tokens.clone());
/// let jwks = tokens.jwks(); // a tower service for /.well-known/jwks.json
/// ```
pub struct SignedTokens<M> {
    inner: Arc<Inner<M>>,
}

struct Inner<M> {
    store: M,
    keys: KeySet,
    issuer: String,
    audience: String,
    leeway: Duration,
    default_lifetime: Duration,
    deny: DenyList,
}

impl<M> Clone for SignedTokens<M> {
    fn clone(&self) -> Self {
        SignedTokens { inner: self.inner.clone() }
    }
}

impl<M> fmt::Debug for SignedTokens<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedTokens")
            .field("issuer", &self.inner.issuer)
            .field("audience", &self.inner.audience)
            .field("keys", &self.inner.keys)
            .field("denied", &self.inner.deny.len())
            .finish_non_exhaustive()
    }
}

fn secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl<M: TokenManager> SignedTokens<M> {
    /// Signed tokens of `issuer` for `audience` (the resource tokens are for unless a token
    /// names its own), signed with `keys`, recorded in `store`. Leeway 30 seconds, default
    /// lifetime an hour.
    pub fn new(store: M, keys: KeySet, issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        let inner = Inner {
            store,
            keys,
            issuer: issuer.into(),
            audience: audience.into(),
            leeway: Duration::from_secs(30),
            default_lifetime: Duration::from_secs(3600),
            deny: DenyList::default(),
        };
        SignedTokens { inner: Arc::new(inner) }
    }

    fn inner_mut(&mut self) -> &mut Inner<M> {
        Arc::get_mut(&mut self.inner).expect("configure SignedTokens before cloning it")
    }

    /// The clock skew allowed on `exp` and `nbf` (default 30 seconds, at most 5 minutes).
    ///
    /// # Panics
    ///
    /// If cloned already.
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.inner_mut().leeway = leeway.min(Duration::from_secs(300));
        self
    }

    /// The lifetime of tokens issued without an expiry (default an hour).
    ///
    /// # Panics
    ///
    /// If cloned already.
    #[must_use]
    pub fn default_lifetime(mut self, lifetime: Duration) -> Self {
        self.inner_mut().default_lifetime = lifetime;
        self
    }

    /// The JWKS of the key set, as a tower service (mount it at `/.well-known/jwks.json`).
    #[must_use]
    pub fn jwks(&self) -> Jwks {
        Jwks::new(&self.inner.keys.jwks())
    }

    /// The store the records are kept in.
    #[must_use]
    pub fn store(&self) -> &M {
        &self.inner.store
    }

    fn expect(&self) -> Expect<'_> {
        Expect { issuer: &self.inner.issuer, audience: &self.inner.audience, leeway: self.inner.leeway }
    }

    /// The JWT for the token recorded as `info`.
    fn sign(&self, info: &TokenInfo) -> Result<TokenSecret, ManageError> {
        let p = &info.principal;
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.inner.issuer));
        claims.insert("sub".into(), json!(p.subject()));
        let audience: Vec<&str> = p.audience().collect();
        claims.insert(
            "aud".into(),
            if audience.is_empty() { json!(self.inner.audience) } else { json!(audience) },
        );
        let exp = p.expires_at().map(secs).ok_or(ManageError::OutOfRange("expires_at"))?;
        claims.insert("exp".into(), json!(exp));
        claims.insert("iat".into(), json!(secs(info.created_at)));
        claims.insert("jti".into(), json!(info.id.as_str()));
        claims.insert("client_id".into(), json!(p.subject()));
        claims.insert("scope".into(), json!(p.scopes().to_string()));
        for (name, value) in [
            ("organization", p.organization()),
            ("token_kind", p.token_kind()),
            ("token_name", p.token_name()),
        ] {
            if let Some(value) = value {
                claims.insert(name.into(), json!(value));
            }
        }
        let jwt = sign(&self.inner.keys, &Value::Object(claims))
            .ok_or_else(|| ManageError::Store(StoreError::unavailable("the signing key cannot sign")))?;
        Ok(TokenSecret::new(jwt))
    }

    /// Signs the token the inner store just recorded.
    fn signed(&self, issued: IssuedToken) -> Result<IssuedToken, ManageError> {
        let (_opaque, info) = issued.into_parts();
        // The inner store's own secret for the record is dropped here, never shown: only the
        // JWT authenticates.
        Ok(IssuedToken::new(self.sign(&info)?, info))
    }

    /// Denies `id` (expiring at `until`) from `from`.
    fn deny(&self, id: &TokenId, from: SystemTime, until: Option<SystemTime>, replaced_by: Option<TokenId>) {
        let now = self.inner.store.clock().now();
        let until = until.map_or(u64::MAX, secs).saturating_add(self.inner.leeway.as_secs());
        self.inner.deny.deny(id.clone(), Denial { from: secs(from), until, replaced_by }, secs(now));
    }

    fn state(&self, token: &str) -> TokenState {
        let now = self.inner.store.clock().now();
        let Some(verified) = verify(&self.inner.keys, token, &self.expect(), now) else {
            return TokenState::Unknown;
        };
        let (claims, expired) = match verified {
            Verified::Valid(claims) => (claims, false),
            Verified::Expired(claims) => (claims, true),
        };
        let mut principal = principal(&claims);
        if let Some(id) = principal.token_id().cloned()
            && let Some(denial) = self.inner.deny.get(&id)
        {
            if secs(now) >= denial.from {
                return TokenState::Revoked(principal);
            }
            if let Some(successor) = denial.replaced_by {
                principal = principal.to_builder().replaced_by(successor).build();
            }
        }
        if expired { TokenState::Expired(principal) } else { TokenState::Active(principal) }
    }
}

/// The principal a token's claims describe.
fn principal(claims: &Map<String, Value>) -> Principal {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let mut b = Principal::builder(text("sub").unwrap_or_default());
    if let Some(scope) = text("scope") {
        b = b.scopes(Scopes::parse(scope));
    }
    if let Some(jti) = text("jti") {
        b = b.token_id(jti);
    }
    if let Some(org) = text("organization") {
        b = b.organization(org);
    }
    if let Some(kind) = text("token_kind") {
        b = b.token_kind(kind);
    }
    if let Some(name) = text("token_name") {
        b = b.token_name(name);
    }
    match claims.get("aud") {
        Some(Value::String(aud)) => b = b.audience([aud.as_str()]),
        Some(Value::Array(auds)) => b = b.audience(auds.iter().filter_map(Value::as_str)),
        _ => {}
    }
    if let Some(exp) = claims.get("exp").and_then(Value::as_u64) {
        b = b.expires_at(UNIX_EPOCH + Duration::from_secs(exp));
    }
    b.build()
}

impl<M: TokenManager> TokenStore for SignedTokens<M> {
    type Future = M::Future;

    fn lookup(&self, token: &PresentedToken<'_>) -> Lookup<M::Future> {
        let secret = token.expose_secret();
        if looks_signed(secret) {
            return Lookup::Now(Ok(self.state(secret)));
        }
        self.inner.store.lookup(token)
    }
}

impl<M: TokenManager> TokenManager for SignedTokens<M> {
    fn admin_scope(&self) -> &str {
        self.inner.store.admin_scope()
    }

    fn clock(&self) -> Clock {
        self.inner.store.clock()
    }

    async fn issue(&self, new: NewToken) -> Result<IssuedToken, ManageError> {
        let new = match new.expiry() {
            Some(_) => new,
            None => {
                let at = self.clock().now().checked_add(self.inner.default_lifetime);
                new.expires_at(at.ok_or(ManageError::OutOfRange("default_lifetime"))?)
            }
        };
        let issued = self.inner.store.issue(new).await?;
        self.signed(issued)
    }

    async fn list(&self, subject: &str) -> Result<Vec<TokenInfo>, ManageError> {
        self.inner.store.list(subject).await
    }

    async fn get(&self, id: &TokenId) -> Result<Option<TokenInfo>, ManageError> {
        self.inner.store.get(id).await
    }

    async fn revoke(&self, id: &TokenId) -> Result<bool, ManageError> {
        let info = self.inner.store.get(id).await?;
        let revoked = self.inner.store.revoke(id).await?;
        if let Some(info) = info.filter(|_| revoked) {
            self.deny(id, self.clock().now(), info.principal.expires_at(), None);
        }
        Ok(revoked)
    }

    async fn rotate_until(
        &self,
        id: &TokenId,
        grace: Duration,
        not_after: Option<SystemTime>,
    ) -> Result<IssuedToken, ManageError> {
        let old = self.inner.store.get(id).await?;
        let issued = self.inner.store.rotate_until(id, grace, not_after).await?;
        if let Some(old) = old {
            let end = self.clock().now().checked_add(grace).unwrap_or_else(|| self.clock().now());
            self.deny(id, end, old.principal.expires_at(), Some(issued.id().clone()));
        }
        self.signed(issued)
    }

    async fn delete(&self, id: &TokenId) -> Result<bool, ManageError> {
        let info = self.inner.store.get(id).await?;
        let deleted = self.inner.store.delete(id).await?;
        if let Some(info) = info.filter(|_| deleted) {
            self.deny(id, self.clock().now(), info.principal.expires_at(), None);
        }
        Ok(deleted)
    }

    async fn purge_expired(&self) -> Result<usize, ManageError> {
        self.inner.store.purge_expired().await
    }

    async fn record_usage(&self, id: &TokenId, at: SystemTime) -> Result<(), ManageError> {
        self.inner.store.record_usage(id, at).await
    }
}
