//! [`RemoteKeySets`]: the keys of the clients that publish theirs at a `jwks_uri`, one
//! [`KeyCache`] per URL (`JwtStore`'s: the same refetch limits and backoff), shared by the
//! endpoints made from one token endpoint.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::Uri;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::Connect;
use tower_bearer::{Clock, StoreError};
use tower_bearer_jwt::{AlgorithmPolicy, Jws, JwsError, VerifiedJws};

use crate::jwt_store::keys::KeyCache;

/// The most URLs whose keys are kept. URLs come from the registry, not from requests, so only
/// a registry of more clients than this reaches it; then the caches start over (each URL is
/// fetched again when next needed).
const MOST_URLS: usize = 4096;

/// One URL's keys, whatever the connector that fetches them.
trait RemoteKeys: Send + Sync {
    /// `jws` verified with the keys at hand; `None` when they are stale or do not know its
    /// `kid`.
    fn verify(
        &self,
        clock: &Clock,
        jws: &Jws<'_>,
        policy: &AlgorithmPolicy,
    ) -> Option<Result<VerifiedJws, JwsError>>;

    /// Fetches the keys if [`KeyCache::refresh`] finds it is time.
    fn refresh<'a>(
        &'a self,
        clock: &'a Clock,
    ) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;
}

impl<C: Connect + Clone + Send + Sync + 'static> RemoteKeys for KeyCache<C> {
    fn verify(
        &self,
        clock: &Clock,
        jws: &Jws<'_>,
        policy: &AlgorithmPolicy,
    ) -> Option<Result<VerifiedJws, JwsError>> {
        self.with_keys(clock, |keys, _| match jws.verify_with(keys, policy) {
            Err(JwsError::UnknownKey) => None,
            verified => Some(verified),
        })
    }

    fn refresh<'a>(
        &'a self,
        clock: &'a Clock,
    ) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>> {
        Box::pin(KeyCache::refresh(self, clock))
    }
}

/// Makes the cache of a URL, with the configured HTTP client.
type Open = Arc<dyn Fn(Uri) -> Arc<dyn RemoteKeys> + Send + Sync>;

/// The key caches by URL.
pub(crate) struct RemoteKeySets {
    caches: papaya::HashMap<Arc<str>, Arc<dyn RemoteKeys>>,
    open: Open,
}

impl RemoteKeySets {
    /// No keys yet; fetched through `client` when needed.
    pub(crate) fn new<C>(client: Client<C, Full<Bytes>>) -> Self
    where
        C: Connect + Clone + Send + Sync + 'static,
    {
        let open: Open = Arc::new(move |uri| Arc::new(KeyCache::new(client.clone(), uri, 0)));
        RemoteKeySets { caches: papaya::HashMap::new(), open }
    }

    /// `jws` verified with the keys at `uri` (`text` as registered): those at hand, else
    /// fetched (when they are stale, or do not know its `kid`, within the cache's limits).
    /// `Err` when they could not be fetched; `Ok(Err(UnknownKey))` when no key has its `kid`.
    pub(crate) async fn verify(
        &self,
        text: &Arc<str>,
        uri: &Uri,
        clock: &Clock,
        jws: &Jws<'_>,
        policy: &AlgorithmPolicy,
    ) -> Result<Result<VerifiedJws, JwsError>, StoreError> {
        let keys = self.keys_at(text, uri);
        if let Some(verified) = keys.verify(clock, jws, policy) {
            return Ok(verified);
        }
        keys.refresh(clock).await?;
        Ok(keys.verify(clock, jws, policy).unwrap_or(Err(JwsError::UnknownKey)))
    }

    fn keys_at(&self, text: &Arc<str>, uri: &Uri) -> Arc<dyn RemoteKeys> {
        let caches = self.caches.pin();
        if let Some(keys) = caches.get(text) {
            return keys.clone();
        }
        if caches.len() >= MOST_URLS {
            caches.clear();
        }
        caches.get_or_insert_with(text.clone(), || (self.open)(uri.clone())).clone()
    }
}
