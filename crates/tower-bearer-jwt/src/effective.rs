//! The effective access of a signed token's user, behind one object-safe trait, so that
//! [`SignedTokens`](crate::SignedTokens) keeps a resolver of any type without a type parameter.

use std::time::SystemTime;

use tower_bearer::grant::MintRules;
use tower_bearer::{Scopes, TokenState};

use crate::access::{AccessResolver, EffectiveAccess, Resolving, intersect};

/// An [`EffectiveAccess`] of any resolver.
pub(crate) trait Access: Send + Sync + 'static {
    fn cached(&self, subject: &str, organization: Option<&str>, now: SystemTime) -> Option<Option<Scopes>>;
    fn resolve(&self, subject: &str, organization: Option<&str>, now: SystemTime) -> Resolving;
}

impl<R: AccessResolver> Access for EffectiveAccess<R> {
    fn cached(&self, subject: &str, organization: Option<&str>, now: SystemTime) -> Option<Option<Scopes>> {
        EffectiveAccess::cached(self, subject, organization, now)
    }

    fn resolve(&self, subject: &str, organization: Option<&str>, now: SystemTime) -> Resolving {
        EffectiveAccess::resolve(self, subject, organization, now)
    }
}

/// The state of a valid token whose user holds `current` now: the token's scopes that
/// `current` also grants, or revoked for a user with no access left.
pub(crate) fn restricted(state: TokenState, current: Option<Scopes>, rules: &MintRules) -> TokenState {
    match (state, current) {
        (TokenState::Active(p), Some(current)) => {
            let scopes = intersect(p.scopes(), &current, rules);
            TokenState::Active(p.to_builder().scopes(scopes).build())
        }
        (TokenState::Active(p), None) => TokenState::Revoked(p),
        (other, _) => other,
    }
}
