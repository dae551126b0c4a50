//! Managing tokens: [`NewToken`](crate::NewToken) in, [`IssuedToken`](crate::IssuedToken) out
//! (its secret shown once), then listing, rotation, revocation, expiry and usage, through the
//! one [`TokenManager`](crate::TokenManager) trait that every store keeping tokens implements;
//! the [`LifecycleEvent`]s they emit, the [`Revocation`]s they share between instances, and
//! the [`usage`] counts of how each token is used.

pub mod audit;
pub(crate) mod error;
pub(crate) mod event;
pub(crate) mod info;
pub(crate) mod issued;
pub(crate) mod manager;
pub(crate) mod marker;
pub(crate) mod new_token;
pub(crate) mod query;
pub mod usage;

pub use crate::store::revocation::Revocation;
pub use event::{LifecycleEvent, LifecycleEvents};
pub use marker::OnceMarkers;
pub use query::{Page, PageCursor, TenantFilter, TokenQuery};

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::new_token::NewToken;
    use crate::token::id::TokenId;

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
