//! [`SqlTokenStore`] as a [`TokenStore`]: a lookup is one indexed query, and whatever keeps the
//! store's answers (a cache, a deny list) is given the push of every instance's revocations.

use tower_bearer::store::{Answer, RevocationSubscriber};
use tower_bearer::{PresentedToken, StoreError, TokenState, TokenStore};

use crate::store::SqlTokenStore;

impl TokenStore for SqlTokenStore {
    fn lookup(&self, token: &PresentedToken<'_>) -> Answer<Result<TokenState, StoreError>> {
        Answer::Later(Box::pin(self.inner.clone().lookup(*token.hash())))
    }

    /// Starts a push of every instance's revocations to `subscriber`
    /// ([`push_revocations`](SqlTokenStore::push_revocations)) when called within a tokio
    /// runtime; a verifier of signed tokens built over this store subscribes its deny list
    /// so, with nothing for the application to wire. The push is listed by
    /// [`revocation_pushes`](SqlTokenStore::revocation_pushes). Outside a runtime, or for a
    /// subscriber SQLite cannot feed (a cache), nothing starts and it returns `false`: the
    /// subscriber then trusts nothing it holds alone.
    fn subscribe_revocations(&self, subscriber: Box<dyn RevocationSubscriber>) -> bool {
        if tokio::runtime::Handle::try_current().is_err() {
            return false;
        }
        let Some(push) = self.push_revocations(subscriber) else {
            return false;
        };
        let mut pushes = self.inner.pushes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        pushes.retain(|push| !push.is_finished());
        pushes.push(push);
        true
    }
}
