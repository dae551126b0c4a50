//! [`TokenState`]: what a store knows about a presented token.

use std::time::{Duration, SystemTime};

use crate::clock::Clock;
use crate::principal::Principal;

/// What a store knows about a presented token.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum TokenState {
    /// The token is live and belongs to this principal. The layer still checks the expiry the
    /// principal carries (a store need not) and the scopes.
    Active(Principal),
    /// The token belongs to this principal but its expiry has passed. The client is told the
    /// token expired (401 `invalid_token`).
    Expired(Principal),
    /// The token existed and was revoked. The client gets exactly the answer an unknown token
    /// gets; the distinction reaches only the audit events and the
    /// [`AuthError`](crate::AuthError) (in the response extensions, if the layer puts it there).
    Revoked(Principal),
    /// The store has never seen the token.
    Unknown,
}

impl TokenState {
    /// What a self-contained token that verified as `principal` (a signed token's claims, an
    /// introspection answer) is now, by `clock`: [`Unknown`](TokenState::Unknown) while
    /// `not_before` is more than `leeway` away, [`Expired`](TokenState::Expired) once the
    /// principal's expiry has passed (a verifier puts its leeway on that expiry when it builds
    /// the principal), [`Active`](TokenState::Active) otherwise. The one rule every verifier of
    /// such tokens applies, on every request.
    ///
    /// Exact at both boundaries. On the system clock it reads the precise time only for a
    /// token within a second of one of them (the cheap coarse clock settles the rest), as the
    /// layer's own expiry check does.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use tower_bearer::{Clock, Grant, Principal, TokenState};
    ///
    /// let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    /// let ada = Principal::for_grant(Grant::new("ada").with_expires_at(t0 + Duration::from_secs(60))).build();
    /// let at = |now| TokenState::of_verified(ada.clone(), Some(t0), &Clock::manual(now), Duration::from_secs(5));
    /// assert!(matches!(at(t0 - Duration::from_secs(6)), TokenState::Unknown));
    /// assert!(matches!(at(t0 - Duration::from_secs(5)), TokenState::Active(_)));
    /// assert!(matches!(at(t0 + Duration::from_secs(60)), TokenState::Expired(_)));
    /// ```
    #[must_use]
    pub fn of_verified(
        principal: Principal,
        not_before: Option<SystemTime>,
        clock: &Clock,
        leeway: Duration,
    ) -> TokenState {
        // Valid from `nbf - leeway`; a time before the earliest `SystemTime` has passed.
        let not_yet =
            not_before.is_some_and(|nbf| nbf.checked_sub(leeway).is_some_and(|from| !clock.has_passed(from)));
        if not_yet {
            TokenState::Unknown
        } else if principal.expires_at().is_some_and(|at| clock.has_passed(at)) {
            TokenState::Expired(principal)
        } else {
            TokenState::Active(principal)
        }
    }
}

/// A found token is [`Active`](TokenState::Active) (the layer still checks its expiry);
/// `None` is [`Unknown`](TokenState::Unknown).
impl From<Option<Principal>> for TokenState {
    fn from(found: Option<Principal>) -> Self {
        found.map_or(TokenState::Unknown, TokenState::Active)
    }
}

/// [`Active`](TokenState::Active): the layer still checks the principal's expiry.
impl From<Principal> for TokenState {
    fn from(found: Principal) -> Self {
        TokenState::Active(found)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use proptest::prelude::*;

    use super::TokenState;
    use crate::clock::Clock;
    use crate::grant::Grant;
    use crate::principal::Principal;

    /// The rule as written: unknown before `nbf - leeway`, expired from `exp`, by the time `now`.
    fn reference(nbf: Option<SystemTime>, exp: Option<SystemTime>, now: SystemTime, leeway: Duration) -> u8 {
        if nbf.is_some_and(|nbf| nbf > now + leeway) {
            0
        } else if exp.is_some_and(|exp| exp <= now) {
            1
        } else {
            2
        }
    }

    fn kind(state: &TokenState) -> u8 {
        match state {
            TokenState::Unknown => 0,
            TokenState::Expired(_) => 1,
            _ => 2,
        }
    }

    proptest! {
        /// On the system clock, where the coarse clock settles most tokens, the answer is the
        /// rule's at the precise time: whenever the rule gives one answer at a precise reading
        /// before and one after, the state is that answer (within a few milliseconds of either
        /// boundary, the two readings may differ and either answer is right).
        #[test]
        fn the_system_clock_answers_as_the_precise_time(
            nbf_ms in proptest::option::of(-3_000i64..3_000),
            exp_ms in proptest::option::of(-3_000i64..3_000),
            leeway_ms in 0u64..2_000,
        ) {
            let (clock, leeway) = (Clock::system(), Duration::from_millis(leeway_ms));
            let base = SystemTime::now();
            let at = |ms: i64| {
                let by = Duration::from_millis(ms.unsigned_abs());
                if ms < 0 { base - by } else { base + by }
            };
            let (nbf, exp) = (nbf_ms.map(at), exp_ms.map(at));
            let mut grant = Grant::new("ada");
            if let Some(exp) = exp {
                grant = grant.with_expires_at(exp);
            }
            let principal = Principal::for_grant(grant).build();
            let before = reference(nbf, exp, SystemTime::now(), leeway);
            let state = kind(&TokenState::of_verified(principal, nbf, &clock, leeway));
            let after = reference(nbf, exp, SystemTime::now(), leeway);
            if before == after {
                prop_assert_eq!(state, before);
            }
        }
    }

    #[test]
    fn each_boundary_is_exact_on_a_manual_clock() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let leeway = Duration::from_secs(5);
        let ada =
            Principal::for_grant(Grant::new("ada").with_expires_at(t0 + Duration::from_secs(60))).build();
        let clock = Clock::manual(t0 - leeway - Duration::from_nanos(1));
        let state = || kind(&TokenState::of_verified(ada.clone(), Some(t0), &clock, leeway));
        assert_eq!(state(), 0, "a nanosecond before nbf - leeway");
        clock.advance(Duration::from_nanos(1));
        assert_eq!(state(), 2, "from nbf - leeway");
        clock.advance(leeway + Duration::from_secs(60) - Duration::from_nanos(1));
        assert_eq!(state(), 2, "a nanosecond before exp");
        clock.advance(Duration::from_nanos(1));
        assert_eq!(state(), 1, "at exp");
        // A leeway reaching back before the epoch: `nbf` has passed.
        let early = Principal::for_grant(Grant::new("ada")).build();
        let at_epoch = Clock::manual(SystemTime::UNIX_EPOCH);
        let state = TokenState::of_verified(
            early,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1)),
            &at_epoch,
            leeway,
        );
        assert_eq!(kind(&state), 2);
    }
}
