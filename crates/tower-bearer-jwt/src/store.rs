//! [`SignedTokens`]: signed tokens issued, verified and revoked through the same traits as
//! opaque ones.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tower_bearer::manage::{Page, Revocation, TokenQuery};
use tower_bearer::store::{Answer, RevocationSubscriber};
use tower_bearer::{
    Clock, IssuedToken, ManageError, NewToken, PresentedToken, Principal, StoreError, TokenId, TokenInfo,
    TokenManager, TokenSecret, TokenState, TokenStore,
};

use crate::claims::{LATEST, claims_of};
use crate::deny::{Denial, DenyList, secs};
use crate::effective::{Access, restricted};
use crate::jwks::Jwks;
use crate::jws::Jws;
use crate::jwt::{Expect, sign, verify};
use crate::key_set::KeySet;
use crate::memo::ClaimsMemo;

/// Self-contained signed access tokens (RFC 9068 JWTs) on top of a token store that keeps
/// their records: tokens are verified in this process with the [`KeySet`], no store round
/// trip, and still revoked at once.
///
/// - **Issuing** goes through [`TokenManager`]: `issue(NewToken)` records the token in the
///   inner store (so it is listed, rotated, revoked and audited like any other) and returns a
///   JWT whose `jti` is the record's id, shown once: `typ: at+jwt`; claims `iss`, `sub`,
///   `aud` (the token's audience, else the set's), `exp` (the token's, else now plus the
///   [default lifetime](crate::SignedTokensBuilder::default_lifetime): RFC 9068 requires one; an
///   expiry after the year 9999 is refused, [`ManageError::OutOfRange`], before anything is
///   recorded), `iat`, `jti`, `client_id` (the subject), `scope`, and `organization`,
///   `token_kind` and `token_name` when the token has them.
/// - **Verifying**: a token of JWS shape is checked here: `kid` known, `alg` the key's own
///   (never `none`, never HMAC over a public key), signature, `typ`, `iss`, `aud`, `exp` and
///   `nbf` (with the [leeway](crate::SignedTokensBuilder::leeway) on both, on the store's
///   [`Clock`]; the principal's expiry is `exp` plus the leeway; an `exp` after the year 9999
///   is refused, and no claim value makes verification panic), then the deny list; answered
///   at once. What a token means (verified, its claims read, the principal built) is
///   remembered by the token's SHA-256 digest, for 4 096 tokens unless
///   [configured](crate::SignedTokensBuilder::claims_memo): a token presented again costs its
///   digest and a lookup, not a signature check. The times and the deny list are checked on
///   every request.
///   Any other token goes to the inner store: one layer accepts API keys and signed
///   tokens alike, with the same RFC 6750 answers.
/// - **Revoking** (`revoke`, `delete`, or a rotation's end of grace) puts the `jti` on a deny
///   list kept until the token's own expiry: refused by every request of this process that
///   starts after the call returns. The list is trusted only while the store pushes every
///   revocation to it ([`TokenStore::subscribe_revocations`], called when the verifier is
///   built): the memory store at once; a SQL store (`tower-bearer-sqlx`, built within a tokio
///   runtime) replays the revocations in its database, then pushes those of every instance,
///   by Postgres in milliseconds, polled on a shared SQLite file. Before the push connects,
///   while it is down, and over a store that pushes nothing, each signed token is checked
///   against its record instead (one read per request).
/// - **Effective access** (optional,
///   [`effective_access`](crate::SignedTokensBuilder::effective_access)): the token's scopes are cut
///   to what its user holds now.
///
/// [`new`](Self::new) takes the default settings; [`builder`](Self::builder) configures the
/// others. Clones share the deny list (and the claims memo). Instances built apart over one
/// store, in one process or several, see each other's revocations through the store's push,
/// with nothing to wire.
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
    pub(crate) inner: Arc<Inner<M>>,
}

pub(crate) struct Inner<M> {
    pub(crate) store: M,
    pub(crate) keys: KeySet,
    pub(crate) issuer: String,
    pub(crate) audience: String,
    pub(crate) leeway: Duration,
    pub(crate) default_lifetime: Duration,
    pub(crate) deny: Arc<DenyList>,
    /// What the payloads of recent tokens meant.
    pub(crate) memo: ClaimsMemo,
    pub(crate) access: Option<Box<dyn Access>>,
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

impl<M: TokenManager> SignedTokens<M> {
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
        let claims = claims_of(info, &self.inner.issuer, &self.inner.audience)
            .ok_or(ManageError::OutOfRange("expires_at"))?;
        let jwt = sign(&self.inner.keys, &claims)
            .ok_or_else(|| ManageError::Store(StoreError::unavailable("the signing key cannot sign")))?;
        Ok(TokenSecret::new(jwt))
    }

    /// Fails before anything is recorded when the key set cannot sign (a verifier's set,
    /// from a JWKS): no record is left behind for a token that was never handed out.
    fn check_can_sign(&self) -> Result<(), ManageError> {
        match self.inner.keys.signing_key() {
            Some(_) => Ok(()),
            None => Err(ManageError::Store(StoreError::unavailable(
                "this key set only verifies (no signing key): tokens are issued where the signing key is",
            ))),
        }
    }

    /// Signs the token the inner store just recorded.
    fn signed(&self, issued: IssuedToken) -> Result<IssuedToken, ManageError> {
        let (_opaque, info) = issued.into_parts();
        // The inner store's own secret for the record is dropped here, never shown: only the
        // JWT authenticates.
        Ok(IssuedToken::new(self.sign(&info)?, info))
    }

    /// Denies `id` (expiring at `until`) from `from`, in this process at once (a shared
    /// store also records and pushes it).
    fn deny(&self, id: &TokenId, from: SystemTime, until: Option<SystemTime>, replaced_by: Option<TokenId>) {
        let revocation =
            Revocation::new(id.clone(), from, until.unwrap_or(SystemTime::UNIX_EPOCH + MAX_TIME));
        self.inner.deny.deny(&match replaced_by {
            Some(successor) => revocation.replaced_by(successor),
            None => revocation,
        });
    }

    /// The answer for a token of JWS shape: the claims checked, then the deny list, or the
    /// token's record when the list may be incomplete.
    fn lookup_signed(&self, token: &Jws<'_>) -> Answer<Result<TokenState, StoreError>> {
        // Read precisely only where a time decides: near `nbf` or `exp`, on a denied token,
        // for effective access. A token seen before, far from both, costs no clock read.
        let clock = self.inner.store.clock();
        let (principal, expired) =
            match verify(&self.inner.keys, token, &self.expect(), &self.inner.memo, &clock) {
                TokenState::Active(principal) => (principal, false),
                TokenState::Expired(principal) => (principal, true),
                _ => return Answer::Now(Ok(TokenState::Unknown)),
            };
        // RFC 9068 §2.2: `jti` is required, and without it a token could not be revoked.
        let Some(id) = principal.token_id().cloned() else {
            return Answer::Now(Ok(TokenState::Unknown));
        };
        if expired {
            return Answer::Now(Ok(TokenState::Expired(principal)));
        }
        let inner = &self.inner;
        if inner.deny.is_current() {
            let state = inner.denied(&id, principal, &clock);
            let (Some(access), TokenState::Active(p)) = (inner.access.as_deref(), &state) else {
                return Answer::Now(Ok(state));
            };
            let now = clock.now();
            if let Some(current) = access.cached(p.subject(), p.organization(), now) {
                return Answer::Now(Ok(restricted(state, current, inner.store.rules())));
            }
            let resolving = access.resolve(p.subject(), p.organization(), now);
            let inner = self.inner.clone();
            return Answer::Later(Box::pin(async move {
                Ok(restricted(state, resolving.await?, inner.store.rules()))
            }));
        }
        let inner = self.inner.clone();
        Answer::Later(Box::pin(async move {
            let state = inner.check_record(&id, principal).await?;
            inner.restrict(state, clock.now()).await
        }))
    }
}

/// Far enough in the future for a token without an expiry (signed tokens always have one).
const MAX_TIME: Duration = Duration::from_secs(u32::MAX as u64);

impl<M: TokenManager> Inner<M> {
    /// `state`, restricted to what its user holds now when effective access is on.
    async fn restrict(&self, state: TokenState, now: SystemTime) -> Result<TokenState, StoreError> {
        let (Some(access), TokenState::Active(p)) = (self.access.as_deref(), &state) else {
            return Ok(state);
        };
        let current = match access.cached(p.subject(), p.organization(), now) {
            Some(current) => current,
            None => access.resolve(p.subject(), p.organization(), now).await?,
        };
        Ok(restricted(state, current, self.store.rules()))
    }

    /// The state of the valid signed token `id` by the deny list.
    fn denied(&self, id: &TokenId, principal: Principal, clock: &Clock) -> TokenState {
        match self.deny.get(id) {
            Some(denial) if secs(clock.now()) >= denial.from => TokenState::Revoked(principal),
            Some(Denial { replaced_by: Some(successor), .. }) => {
                TokenState::Active(principal.to_builder().replaced_by(successor).build())
            }
            _ => TokenState::Active(principal),
        }
    }

    /// The state of the valid signed token `id`, by its record in the store: while the deny
    /// list may have missed a revocation made elsewhere.
    async fn check_record(&self, id: &TokenId, principal: Principal) -> Result<TokenState, StoreError> {
        let record = self.store.get(id).await.map_err(|e| match e {
            ManageError::Store(e) => e,
            _ => StoreError::unavailable("the token's record could not be read"),
        })?;
        let now = self.store.clock().now();
        Ok(match record {
            // Revoked or deleted (or purged: a signed token is valid only with its record).
            None => TokenState::Revoked(principal),
            // Rotated: the record's expiry is the end of the grace.
            Some(info) if info.principal.expires_at().is_some_and(|at| at <= now) => {
                TokenState::Revoked(principal)
            }
            Some(info) => match info.principal.replaced_by() {
                Some(successor) => {
                    TokenState::Active(principal.to_builder().replaced_by(successor.clone()).build())
                }
                None => TokenState::Active(principal),
            },
        })
    }
}

impl<M: TokenManager> TokenStore for SignedTokens<M> {
    fn lookup(&self, token: &PresentedToken<'_>) -> Answer<Result<TokenState, StoreError>> {
        if let Some(jws) = Jws::split_bytes(token.expose_secret_bytes()) {
            return match self.lookup_signed(&jws) {
                Answer::Now(answer) => Answer::Now(answer),
                Answer::Later(future) => Answer::Later(future),
            };
        }
        match self.inner.store.lookup(token) {
            Answer::Now(answer) => Answer::Now(answer),
            Answer::Later(future) => Answer::Later(future),
        }
    }

    /// Passed on to the store the records are kept in.
    fn subscribe_revocations(&self, subscriber: Box<dyn RevocationSubscriber>) -> bool {
        self.inner.store.subscribe_revocations(subscriber)
    }
}

impl<M: TokenManager> TokenManager for SignedTokens<M> {
    fn rules(&self) -> &tower_bearer::grant::MintRules {
        self.inner.store.rules()
    }

    fn clock(&self) -> Clock {
        self.inner.store.clock()
    }

    async fn issue(&self, new: NewToken) -> Result<IssuedToken, ManageError> {
        self.check_can_sign()?;
        let now = self.clock().now();
        let new = new.issued_at(now);
        let new = match new.expiry() {
            Some(_) => new,
            None => {
                let at = now.checked_add(self.inner.default_lifetime);
                new.expires_at(at.ok_or(ManageError::OutOfRange("default_lifetime"))?)
            }
        };
        // A token no verifier accepts is not issued (nor recorded).
        if new.expiry().is_some_and(|at| secs(at) > LATEST) {
            return Err(ManageError::OutOfRange("expires_at"));
        }
        let issued = self.inner.store.issue(new).await?;
        self.signed(issued)
    }

    async fn list(&self, subject: &str) -> Result<Vec<TokenInfo>, ManageError> {
        self.inner.store.list(subject).await
    }

    async fn get(&self, id: &TokenId) -> Result<Option<TokenInfo>, ManageError> {
        self.inner.store.get(id).await
    }

    async fn list_page(&self, query: &TokenQuery) -> Result<Page<TokenInfo>, ManageError> {
        self.inner.store.list_page(query).await
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
        self.check_can_sign()?;
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

    async fn revocations(&self) -> Result<Vec<Revocation>, ManageError> {
        self.inner.store.revocations().await
    }
}
