//! the rule of [`MintRules`]: the one function that decides what a token may do to other tokens.

use std::time::SystemTime;

use super::Grant;
use super::defaults::DefaultLimits;
use crate::grant::Credits;
use crate::grant::RateLimit;
use crate::scope::Scopes;
use crate::token::id::TokenId;

/// The admin scope of stores not configured otherwise.
const DEFAULT_ADMIN_SCOPE: &str = "tokens:admin";

/// The kind of the OAuth endpoints' access tokens: reserved by default.
const OAUTH_ACCESS_KIND: &str = "oauth_access";

/// The token that acts on others: its grant, its id, and whether a rotation replaced it
/// (see [`Principal::actor`](crate::Principal::actor)).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Actor<'a> {
    /// What the acting token grants.
    pub grant: &'a Grant,
    /// Its id, if the store assigns ids (a token may always revoke itself).
    pub token_id: Option<&'a TokenId>,
    /// Whether a rotation replaced it: it then authenticates, but manages nothing.
    pub superseded: bool,
}

/// What an [`Actor`] asks to do.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub(crate) enum Action<'a> {
    /// Issue a token with this grant.
    Mint(&'a Grant),
    /// Read the metadata of the token `id`, whose grant is `target`.
    Read {
        /// The token read.
        id: &'a TokenId,
        /// Its grant.
        target: &'a Grant,
    },
    /// Revoke or delete the token `id`, whose grant is `target`.
    Manage {
        /// The token acted on.
        id: &'a TokenId,
        /// Its grant.
        target: &'a Grant,
    },
    /// Replace the token `id` (grant `target`) by a new one with grant `successor`, whose
    /// secret the actor receives.
    Rotate {
        /// The token rotated.
        id: &'a TokenId,
        /// Its grant.
        target: &'a Grant,
        /// The replacement's grant.
        successor: &'a Grant,
    },
    /// List tokens: those of [`MintRules::visibility`].
    List,
}

/// Why the rule of [`MintRules`] refused. Never reveals another tenant's token: acting on one
/// answers [`NotFound`](Self::NotFound), as for a token that does not exist.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum Refusal {
    /// The acting token was replaced by a rotation: it manages nothing.
    #[error("the acting token was replaced by a rotation")]
    Superseded,
    /// The acting token has expired.
    #[error("the acting token has expired")]
    Expired,
    /// The acted-on token is another tenant's, or another subject's without the admin scope.
    #[error("no live token with id {0}")]
    NotFound(TokenId),
    /// The new token would belong to another organization, or to another subject without the
    /// admin scope.
    #[error("a token cannot act for another organization or, without the admin scope, another subject")]
    OtherTenant,
    /// The actor does not hold this scope (held by name for the admin scope and `*`).
    #[error("the acting token does not hold the scope {0:?}")]
    ScopeNotHeld(String),
    /// The new token would outlive the actor.
    #[error("the new token would outlive the acting token")]
    OutlivesActor,
    /// The new token's `audience`, `rate_limit`, `credits` or `confirmation` would be looser
    /// than the actor's (effective limits: a kind's default counts; a key-bound actor mints
    /// only tokens bound to its key).
    #[error("the new token's {0} would be looser than the acting token's")]
    Looser(&'static str),
    /// The kind is reserved for tokens the store's own endpoints mint (OAuth access tokens).
    #[error("the kind {0:?} is reserved")]
    ReservedKind(String),
}

/// What a listing may show an actor: one tenant exactly (`organization: None` is the tenant
/// of tokens without an organization, never "any"), and one subject unless the actor holds
/// the admin scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Visibility<'a> {
    /// The tenant: tokens of exactly this organization (or exactly none).
    pub organization: Option<&'a str>,
    /// Only this subject's tokens; `None` for an organization's admin.
    pub subject: Option<&'a str>,
}

/// The rules for one token acting on others, held by each store that keeps tokens
/// ([`TokenManager::rules`](crate::TokenManager::rules)) and applied by the one function
/// function `decide` (internal), through the `..._as` methods of `TokenManager`, for every store
/// and entry point.
///
/// | action | allowed when |
/// |---|---|
/// | any | the actor has not expired |
/// | mint, revoke, delete, rotate | the actor was not replaced by a rotation (a replaced token authenticates during its grace, and reads, but manages nothing) |
/// | mint | the new grant is *within* the actor's (below) |
/// | read, revoke, delete | the target is the actor itself; or it is *reachable* and every scope it has is *covered* |
/// | rotate | as revoke, and the successor's grant is *within* the actor's |
/// | list | the actor's tenant, and its subject unless it holds the admin scope |
///
/// - *reachable*: same organization exactly (none is a tenant of its own), and the same
///   subject unless the actor holds the admin scope *by name* and has an organization;
/// - *covered*: held by name, or by `*`, except the admin scope and `*` itself, which only
///   their own name covers: a wildcard key can neither mint the admin scope nor act on a
///   token that has it;
/// - *within*: reachable; every scope covered; expiring no later than the actor; restricted
///   to a subset of the actor's audience (if the actor has one); an effective rate limit
///   (own, else the kind's [`DefaultLimits`]) no faster nor burstier; credits no more, refilled
///   no more nor sooner; bound to the actor's key if the actor is bound to one (DPoP); and
///   not of a [reserved kind](Self::reserve_kind).
///
/// ```
/// use tower_bearer::{ManageError, MemoryTokenStore, NewToken, Principal, Scopes, TokenManager};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryTokenStore::new();
/// // A wildcard key of acme's ada: every scope but the admin scope.
/// let wildcard = Principal::builder("ada").organization("acme").scopes(Scopes::parse("*")).build();
/// let admin_key = NewToken::for_subject("ada").organization("acme").scopes(["tokens:admin"]);
/// let refused = store.issue_as(&wildcard, admin_key).await;
/// assert!(matches!(refused, Err(ManageError::ScopeNotHeld(scope)) if scope == "tokens:admin"));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct MintRules {
    admin_scope: Box<str>,
    limits: DefaultLimits,
    reserved_kinds: Vec<Box<str>>,
}

impl Default for MintRules {
    fn default() -> Self {
        MintRules {
            admin_scope: DEFAULT_ADMIN_SCOPE.into(),
            limits: DefaultLimits::none(),
            reserved_kinds: vec![OAUTH_ACCESS_KIND.into()],
        }
    }
}

impl MintRules {
    /// The defaults: admin scope `tokens:admin`, no default limits, kind `oauth_access`
    /// reserved.
    #[must_use]
    pub fn new() -> Self {
        MintRules::default()
    }

    /// The scope that lets a token act on other subjects' tokens of its own organization.
    #[must_use]
    pub fn with_admin_scope(mut self, scope: impl Into<String>) -> Self {
        self.admin_scope = scope.into().into_boxed_str();
        self
    }

    /// The default rate limits the `RateLimitLayer` applies (give both the same value), so
    /// that minting compares effective limits.
    #[must_use]
    pub fn with_default_limits(mut self, limits: DefaultLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Reserves `kind` for tokens the store's own endpoints mint (through
    /// [`TokenManager::issue`](crate::TokenManager::issue), not on behalf of another token).
    #[must_use]
    pub fn reserve_kind(mut self, kind: impl Into<String>) -> Self {
        self.reserved_kinds.push(kind.into().into_boxed_str());
        self
    }

    /// The admin scope.
    #[must_use]
    pub fn admin_scope(&self) -> &str {
        &self.admin_scope
    }

    /// The default rate limits minting compares with.
    pub fn default_limits(&self) -> &DefaultLimits {
        &self.limits
    }

    /// Whether `kind` is reserved.
    #[must_use]
    pub fn is_reserved(&self, kind: &str) -> bool {
        self.reserved_kinds.iter().any(|k| **k == *kind)
    }

    /// Whether `actor` holds the admin scope by name, within an organization.
    #[must_use]
    pub fn is_admin(&self, actor: &Grant) -> bool {
        actor.organization().is_some() && actor.scopes().contains(&self.admin_scope)
    }

    /// Decides whether `actor` may do `action` at `now`.
    ///
    /// # Errors
    ///
    /// The first [`Refusal`] found.
    pub(crate) fn decide(
        &self,
        actor: Actor<'_>,
        action: Action<'_>,
        now: SystemTime,
    ) -> Result<(), Refusal> {
        if actor.grant.is_expired_at(now) {
            return Err(Refusal::Expired);
        }
        let reads = matches!(action, Action::Read { .. } | Action::List);
        if actor.superseded && !reads {
            return Err(Refusal::Superseded);
        }
        match action {
            Action::Mint(new) => self.within(new, actor.grant),
            Action::Read { id, target } | Action::Manage { id, target } => self.manages(actor, id, target),
            Action::Rotate { id, target, successor } => {
                self.manages(actor, id, target)?;
                self.within(successor, actor.grant)
            }
            Action::List => Ok(()),
        }
    }

    /// What a listing may show `actor` (after [`decide`](Self::decide) allowed
    /// [`Action::List`]).
    #[must_use]
    pub(crate) fn visibility<'a>(&self, actor: &'a Grant) -> Visibility<'a> {
        Visibility {
            organization: actor.organization(),
            subject: (!self.is_admin(actor)).then(|| actor.subject()),
        }
    }

    fn reaches(&self, actor: &Grant, target: &Grant) -> bool {
        actor.organization() == target.organization()
            && (actor.subject() == target.subject() || self.is_admin(actor))
    }

    /// Whether `held` covers `scope` when one token (or a client registration) hands it to
    /// another: by name, or by `*` for any scope but the admin scope and `*` itself.
    #[must_use]
    pub fn covers(&self, held: &Scopes, scope: &str) -> bool {
        held.contains(scope)
            || (scope != &*self.admin_scope && scope != Scopes::WILDCARD && held.contains(Scopes::WILDCARD))
    }

    fn uncovered(&self, held: &Scopes, wanted: &Scopes) -> Result<(), Refusal> {
        match wanted.iter().find(|s| !self.covers(held, s)) {
            Some(missing) => Err(Refusal::ScopeNotHeld(missing.to_owned())),
            None => Ok(()),
        }
    }

    fn manages(&self, actor: Actor<'_>, id: &TokenId, target: &Grant) -> Result<(), Refusal> {
        if actor.token_id == Some(id) {
            return Ok(());
        }
        if !self.reaches(actor.grant, target) {
            return Err(Refusal::NotFound(id.clone()));
        }
        self.uncovered(actor.grant.scopes(), target.scopes())
    }

    /// Whether `new` is within `actor` in every dimension.
    fn within(&self, new: &Grant, actor: &Grant) -> Result<(), Refusal> {
        if !self.reaches(actor, new) {
            return Err(Refusal::OtherTenant);
        }
        self.uncovered(actor.scopes(), new.scopes())?;
        if let Some(limit) = actor.expires_at()
            && new.expires_at().is_none_or(|at| at > limit)
        {
            return Err(Refusal::OutlivesActor);
        }
        if actor.audience().len() > 0
            && (new.audience().len() == 0 || new.audience().any(|a| !actor.is_for(a)))
        {
            return Err(Refusal::Looser("audience"));
        }
        if let Some(kind) = new.kind()
            && self.is_reserved(kind)
        {
            return Err(Refusal::ReservedKind(kind.to_owned()));
        }
        if !rate_within(self.limits.effective(new), self.limits.effective(actor)) {
            return Err(Refusal::Looser("rate_limit"));
        }
        if !credits_within(new.credits(), actor.credits()) {
            return Err(Refusal::Looser("credits"));
        }
        // A bound token's holder proves a key; a token it mints needs that same proof, or
        // whoever copies the new token could use it.
        if actor.confirmation().is_some() && new.confirmation() != actor.confirmation() {
            return Err(Refusal::Looser("confirmation"));
        }
        Ok(())
    }
}

/// Whether a rate limit `new` is no looser than `held` (no limit is the loosest).
fn rate_within(new: Option<RateLimit>, held: Option<RateLimit>) -> bool {
    match (new, held) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(new), Some(held)) => new.requests() <= held.requests() && new.interval() >= held.interval(),
    }
}

/// Whether credits `new` are no more than `held` (no credits is unlimited).
fn credits_within(new: Option<Credits>, held: Option<Credits>) -> bool {
    match (new, held) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(new), Some(held)) => {
            let refill_within = match (new.refill(), held.refill()) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some((amount, every)), Some((held_amount, held_every))) => {
                    amount <= held_amount && every >= held_every
                }
            };
            new.initial() <= held.initial() && refill_within
        }
    }
}
