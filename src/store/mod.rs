//! The store contract: what a [`TokenStore`](crate::TokenStore) answers ([`Answer`]: now or
//! later), the errors it fails
//! with, the credit ledger a store may keep, the revocations stores share between
//! instances, and the [`ReplayCache`] of single-use identifiers. The stores this crate provides are in [`stores`](crate::stores).
//!
//! Which store to pick: see the [guide](https://docs.rs/tower-bearer/latest/tower_bearer/#which-crate--which-store-do-i-need).

pub(crate) mod answer;
pub(crate) mod error;
pub(crate) mod ledger;
pub(crate) mod lookup;
pub(crate) mod replay;
pub(crate) mod revocation;
pub(crate) mod state;
pub(crate) mod subscriber;

pub use answer::Answer;
pub use error::StoreErrorKind;
pub use replay::ReplayCache;
pub use subscriber::RevocationSubscriber;
