//! [`ReplayCache`]: remembers single-use identifiers (a DPoP proof's or a client assertion's
//! `jti`) until they expire, so that a second use is refused: in memory for one instance
//! (the [`MemoryTokenStore`](crate::MemoryTokenStore)), or in a shared database for a
//! fleet (`tower-bearer-sqlx`'s store).

use std::time::SystemTime;

use crate::store::answer::Answer;
use crate::store::error::StoreError;

/// Remembers identifiers that may be used once, each until its own deadline.
///
/// The identifier is a digest the caller makes of what it must not see twice, with a context
/// of its own in it (a DPoP proof's key and `jti`, a client's id and its assertion's `jti`),
/// so that callers sharing one cache never collide.
pub trait ReplayCache: Send + Sync + 'static {
    /// Records `id` as used until `until`, and answers whether this was its first use: `true`
    /// the first time an identifier is seen within its lifetime, `false` for every later
    /// time. An identifier is forgotten only after `until`; a cache that cannot tell, or
    /// cannot keep one more, answers an error (the caller refuses: a replay check that cannot
    /// be made fails closed), never `true`.
    fn first_use(&self, id: [u8; 32], until: SystemTime) -> Answer<Result<bool, StoreError>>;
}
