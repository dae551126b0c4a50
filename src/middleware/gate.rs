//! [`Gate`]: how a check defined above the middleware (a rate limit, credits) plugs into the
//! layer: an admitted principal in, a pass or a refusal out, now or later.

use std::future::Future;
use std::pin::Pin;

use http::HeaderMap;

use crate::outcome::error::AuthError;
use crate::principal::Principal;
use crate::store::error::StoreError;

/// Why a gate refused: the error, the headers its answer carries (`Retry-After`, ...), and the
/// store's failure, if that was the cause (for the event, never for the client). Boxed: a
/// refusal is the rare answer, and a pass should not carry the size of one.
pub(crate) type Refusal = Box<Refused>;

/// What a [`Refusal`] holds.
pub(crate) type Refused = (AuthError, HeaderMap, Option<StoreError>);

/// A gate's answer that comes later (a ledger behind a network round trip).
pub(crate) type GateFuture = Pin<Box<dyn Future<Output = Result<(), Refusal>> + Send>>;

/// A gate's answer.
pub(crate) enum Verdict {
    /// The request goes on; these headers join its response.
    Pass(Option<Box<HeaderMap>>),
    /// The request is refused, in the layer's format.
    Refuse(Refusal),
    /// The answer comes later. No gate runs after one that answers later.
    Later(GateFuture),
}

/// A check the layer runs in line on every principal it admits, after its own checks.
pub(crate) trait Gate: Send + Sync {
    fn check(&self, principal: &Principal) -> Verdict;
}
