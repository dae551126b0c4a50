//! Managing tokens: [`NewToken`](crate::NewToken) in, [`IssuedToken`](crate::IssuedToken) out
//! (its secret shown once), then listing, rotation, revocation, expiry and usage, through the
//! one [`TokenManager`](crate::TokenManager) trait that every store keeping tokens implements;
//! the [`LifecycleEvent`]s they emit, and the [`Revocation`]s they share between instances.

pub mod audit;
pub(crate) mod error;
pub(crate) mod event;
pub(crate) mod info;
pub(crate) mod issued;
pub(crate) mod manager;
pub(crate) mod marker;
pub(crate) mod new_token;
pub(crate) mod query;
pub(crate) mod revocation;

pub use event::{LifecycleEvent, LifecycleEvents};
pub use marker::OnceMarkers;
pub use query::{BadCursor, MAX_PAGE, PageCursor, TokenPage, TokenQuery};
pub use revocation::Revocation;

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::error::ManageError;
    use super::info::TokenInfo;
    use super::new_token::NewToken;
    use crate::principal::Principal;
    use crate::scope::Scopes;
    use crate::token::id::TokenId;

    const ADMIN: &str = "tokens:admin";

    #[test]
    fn issuer_scopes_bound_new_tokens() {
        let reader = Principal::builder("u").scopes(Scopes::parse("tokens:read invoices:read")).build();
        let admin = Principal::builder("u").scopes(Scopes::parse("*")).build();
        let want_write = NewToken::for_subject("u").scopes(["tokens:write"]);
        assert!(
            matches!(want_write.check_issuer(&reader, ADMIN), Err(ManageError::ScopeNotHeld(s)) if s == "tokens:write")
        );
        assert!(want_write.check_issuer(&admin, ADMIN).is_ok());
        assert!(NewToken::for_subject("u").scopes(["invoices:read"]).check_issuer(&reader, ADMIN).is_ok());
        let want_all = NewToken::for_subject("u").scopes(["*"]);
        assert!(
            matches!(want_all.check_issuer(&reader, ADMIN), Err(ManageError::ScopeNotHeld(s)) if s == "*")
        );
    }

    #[test]
    fn derived_tokens_do_not_outlive_their_issuer() {
        let soon = SystemTime::now() + Duration::from_secs(60);
        let issuer = Principal::builder("u").scopes(Scopes::parse("*")).expires_at(soon).build();
        assert!(matches!(
            NewToken::for_subject("u").check_issuer(&issuer, ADMIN),
            Err(ManageError::OutlivesIssuer)
        ));
        let later = NewToken::for_subject("u").expires_at(soon + Duration::from_secs(1));
        assert!(matches!(later.check_issuer(&issuer, ADMIN), Err(ManageError::OutlivesIssuer)));
        assert!(NewToken::for_subject("u").expires_at(soon).check_issuer(&issuer, ADMIN).is_ok());
    }

    #[test]
    fn managers_hold_the_scopes_of_what_they_manage() {
        let now = SystemTime::now();
        let admin_p = NewToken::for_subject("u").scopes(["*"]).principal(TokenId::from("admin"));
        let admin = TokenInfo::new(TokenId::from("admin"), admin_p.clone(), now);
        let writer = Principal::builder("u").token_id("w").scopes(Scopes::parse("tokens:write")).build();
        assert!(matches!(admin.check_manager(&writer, ADMIN), Err(ManageError::ScopeNotHeld(s)) if s == "*"));
        assert!(admin.check_manager(&admin_p, ADMIN).is_ok(), "a token manages itself");
        let scoped = TokenInfo::new(
            TokenId::from("s"),
            Principal::builder("u").token_id("s").scopes(Scopes::parse("tokens:write")).build(),
            now,
        );
        assert!(scoped.check_manager(&writer, ADMIN).is_ok());
        assert!(scoped.check_manager(&admin_p, ADMIN).is_ok());
        let stranger = Principal::builder("v").scopes(Scopes::parse("*")).build();
        assert!(matches!(scoped.check_manager(&stranger, ADMIN), Err(ManageError::NotFound(_))));
    }

    #[test]
    fn a_rotation_may_not_hand_out_a_longer_lived_copy() {
        let now = SystemTime::now();
        let hour = Duration::from_secs(3600);
        let short_admin =
            Principal::builder("u").token_id("a").scopes(Scopes::parse("*")).expires_at(now + hour).build();
        let forever = TokenInfo::new(TokenId::from("f"), Principal::builder("u").token_id("f").build(), now);
        assert!(matches!(forever.check_rotator(&short_admin, ADMIN, now), Err(ManageError::OutlivesIssuer)));
        let brief = TokenInfo::new(
            TokenId::from("b"),
            Principal::builder("u").token_id("b").expires_at(now + Duration::from_secs(60)).build(),
            now,
        );
        assert_eq!(brief.rotated_expiry(now + hour), Some(now + hour + Duration::from_secs(60)));
        assert!(brief.check_rotator(&short_admin, ADMIN, now).is_ok());
    }

    #[test]
    fn principal_carries_everything() {
        let at = SystemTime::now();
        let p = NewToken::for_subject("s")
            .organization("o")
            .name("n")
            .kind("k")
            .scopes(["a"])
            .expires_at(at)
            .principal(TokenId::from("tid_x"));
        assert_eq!(
            (p.subject(), p.organization(), p.token_name(), p.token_kind(), p.token_id().unwrap().as_str()),
            ("s", Some("o"), Some("n"), Some("k"), "tid_x")
        );
        assert!(p.scopes().contains("a"));
        assert_eq!(p.expires_at(), Some(at));
    }
}
