//! [`MemoryTokenStore`]: tokens kept as SHA-256 digests in a lock-free concurrent map, managed
//! through [`TokenManager`](crate::TokenManager) (issue, list, rotate, revoke, delete, expire,
//! usage, audit events), with static keys loaded synchronously ([`insert`](MemoryTokenStore::insert),
//! [`insert_from_env`](MemoryTokenStore::insert_from_env)).

mod builder;
pub(crate) mod credits;
mod env;
mod error;
mod hint;
mod index;
mod logs;
mod manage;
mod push;
mod record;
mod store;
mod table;

pub use builder::MemoryTokenStoreBuilder;
pub use error::InsertError;
pub use store::MemoryTokenStore;
