//! The memory store's two indexes over its records: by digest (the lookup) and by token id
//! (management). An entry of either is one pointer to the record both share.

use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use papaya::Equivalent;

use super::record::Record;
use crate::token::hash::TokenHash;
use crate::token::id::TokenId;

/// What an index finds its records by.
pub(super) trait IndexKey {
    type Key: Hash + Eq;

    fn of(record: &Record) -> &Self::Key;
}

/// The digest index: a record by the SHA-256 digest of its secret.
pub(super) enum ByDigest {}

/// The id index: a live record by its token id.
pub(super) enum ById {}

impl IndexKey for ByDigest {
    type Key = TokenHash;

    fn of(record: &Record) -> &TokenHash {
        &record.digest
    }
}

impl IndexKey for ById {
    type Key = TokenId;

    fn of(record: &Record) -> &TokenId {
        record.id()
    }
}

/// A record in the index `K`: hashed and compared by its key there.
pub(super) struct Indexed<K>(Arc<Record>, PhantomData<K>);

impl<K> Indexed<K> {
    pub(super) fn new(record: Arc<Record>) -> Self {
        Indexed(record, PhantomData)
    }

    /// The shared record.
    pub(super) fn record(&self) -> Arc<Record> {
        self.0.clone()
    }
}

impl<K> Clone for Indexed<K> {
    fn clone(&self) -> Self {
        Indexed::new(self.0.clone())
    }
}

impl<K> Deref for Indexed<K> {
    type Target = Record;

    fn deref(&self) -> &Record {
        &self.0
    }
}

impl<K: IndexKey> Hash for Indexed<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        K::of(&self.0).hash(state);
    }
}

impl<K: IndexKey> PartialEq for Indexed<K> {
    fn eq(&self, other: &Self) -> bool {
        K::of(&self.0) == K::of(&other.0)
    }
}

impl<K: IndexKey> Eq for Indexed<K> {}

impl Equivalent<Indexed<ByDigest>> for TokenHash {
    fn equivalent(&self, indexed: &Indexed<ByDigest>) -> bool {
        self == ByDigest::of(indexed)
    }
}

impl Equivalent<Indexed<ById>> for TokenId {
    fn equivalent(&self, indexed: &Indexed<ById>) -> bool {
        self == ById::of(indexed)
    }
}
