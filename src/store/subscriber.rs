//! [`RevocationSubscriber`]: what a push channel of revocations made on other instances
//! delivers to.

use crate::store::revocation::Revocation;
use crate::token::hash::TokenHash;

/// Receives the revocations other instances make, from a push channel such as the Postgres
/// store's `LISTEN/NOTIFY` listener: a cache drops the token's cached answer, a verifier of
/// signed tokens adds it to its deny list.
///
/// The channel reports its state: while it is down, a subscriber cannot know what it missed,
/// and must not answer from what it holds alone (a cache stops caching valid tokens; a deny
/// list has the store check each token). Every method returns whether the subscriber still
/// exists: the channel stops once it does not.
pub trait RevocationSubscriber: Send + Sync + 'static {
    /// A token was revoked, deleted or rotated elsewhere: `hash` is its digest, `revocation`
    /// the record of it when the token had an expiry (tokens without one are refused by their
    /// store's lookup alone).
    fn revoked(&self, hash: &TokenHash, revocation: Option<&Revocation>) -> bool;

    /// Forget everything learnt from the store (an operator's flush).
    fn reset(&self) -> bool;

    /// The channel is up (`true`: everything revoked since is delivered) or down.
    fn set_connected(&self, connected: bool) -> bool;

    /// Whether the subscriber still exists.
    fn is_alive(&self) -> bool;

    /// Whether the channel must deliver the revocations in effect, through
    /// [`replay`](Self::replay), each time it connects, before
    /// [`set_connected(true)`](Self::set_connected): a deny list must, a cache (empty at each
    /// connection) need not.
    fn wants_replay(&self) -> bool {
        false
    }

    /// The revocations in effect when the channel connected (see
    /// [`wants_replay`](Self::wants_replay)).
    fn replay(&self, revocations: Vec<Revocation>) -> bool {
        drop(revocations);
        self.is_alive()
    }
}

/// A boxed subscriber is one: a store's push can be handed what
/// [`TokenStore::subscribe_revocations`](crate::TokenStore::subscribe_revocations) received.
impl<T: RevocationSubscriber + ?Sized> RevocationSubscriber for Box<T> {
    fn revoked(&self, hash: &TokenHash, revocation: Option<&Revocation>) -> bool {
        (**self).revoked(hash, revocation)
    }

    fn reset(&self) -> bool {
        (**self).reset()
    }

    fn set_connected(&self, connected: bool) -> bool {
        (**self).set_connected(connected)
    }

    fn is_alive(&self) -> bool {
        (**self).is_alive()
    }

    fn wants_replay(&self) -> bool {
        (**self).wants_replay()
    }

    fn replay(&self, revocations: Vec<Revocation>) -> bool {
        (**self).replay(revocations)
    }
}
