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
    /// runtime; a cache or a verifier of signed tokens built over this store subscribes so,
    /// with nothing for the application to wire. The push is listed by
    /// [`revocation_pushes`](SqlTokenStore::revocation_pushes). Outside a runtime nothing
    /// starts and it returns `false`: a deny list then has each token's record read, a cache
    /// relies on its TTL.
    fn subscribe_revocations(&self, subscriber: Box<dyn RevocationSubscriber>) -> bool {
        if tokio::runtime::Handle::try_current().is_err() {
            return false;
        }
        let push = self.push_revocations(subscriber);
        self.running_pushes().push(push);
        true
    }
}
