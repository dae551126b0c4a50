//! [`KeyCache`]: the issuer's public keys, fetched from its JWKS URL and kept, fetched again
//! within the refetch limits, with a backoff after failed fetches.

use std::sync::{PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::Uri;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::Connect;
use serde_json::Value;
use tower_bearer::{Clock, StoreError};
use tower_bearer_jwt::{ClaimsMemo, KeySet};

use super::document::get;

/// The wait after a failed fetch of the key set before the next attempt; it doubles with each
/// failure in a row, up to [`LONGEST_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// The longest wait between two attempts to fetch the key set of a failing issuer.
const LONGEST_BACKOFF: Duration = Duration::from_secs(60);

/// Where the keys come from, the limits on fetching them, and the keys at hand (the setters
/// of [`JwtStoreBuilder`](super::JwtStoreBuilder) document each limit).
pub(crate) struct KeyCache<C> {
    client: Client<C, Full<Bytes>>,
    pub(super) jwks_uri: Uri,
    pub(super) refetch_interval: Duration,
    pub(super) max_key_age: Duration,
    pub(super) timeout: Duration,
    /// How many tokens the memo of each key set remembers (0: none).
    pub(super) memo_capacity: usize,
    keys: RwLock<Keys>,
    /// One fetch at a time; the others wait for its keys.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Keys {
    /// `None` until a fetch succeeds.
    set: Option<Fetched>,
    /// When the keys at hand were fetched.
    fetched_at: Option<SystemTime>,
    /// When the last fetch was attempted, whatever came of it.
    attempted_at: Option<SystemTime>,
    /// The failed attempts since the last that succeeded.
    failures: u32,
}

/// A key set, the JWKS document it was read from, and what tokens verified with it meant:
/// a memo lives and dies with its key set, so a token signed by a key the issuer withdrew is
/// never answered from memory once the set without that key is in use.
struct Fetched {
    set: KeySet,
    jwks: Bytes,
    memo: ClaimsMemo,
}

impl Keys {
    /// Whether the keys at hand are missing or older than `max_age`.
    fn stale(&self, now: SystemTime, max_age: Duration) -> bool {
        self.fetched_at.is_none_or(|at| now.duration_since(at).unwrap_or_default() >= max_age)
    }
}

/// The wait after `failures` failed fetches in a row: none, then one second, doubling, at most
/// [`LONGEST_BACKOFF`].
fn backoff(failures: u32) -> Duration {
    match failures.checked_sub(1) {
        None => Duration::ZERO,
        Some(doublings) => FIRST_BACKOFF.saturating_mul(1_u32 << doublings.min(16)).min(LONGEST_BACKOFF),
    }
}

impl<C> KeyCache<C> {
    /// The keys at `jwks_uri`, fetched through `client`, with the default limits: a refetch a
    /// minute at most, keys kept an hour, 5 seconds a fetch; with a memo of `memo_capacity`
    /// tokens per key set. Nothing fetched yet.
    pub(crate) fn new(client: Client<C, Full<Bytes>>, jwks_uri: Uri, memo_capacity: usize) -> Self {
        KeyCache {
            client,
            jwks_uri,
            refetch_interval: Duration::from_secs(60),
            max_key_age: Duration::from_secs(3600),
            timeout: Duration::from_secs(5),
            memo_capacity,
            keys: RwLock::new(Keys::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// `verify` with the keys at hand and their memo, if the keys are fresh enough by `clock`;
    /// `verify` answers `None` when they do not know the token's `kid`.
    pub(crate) fn with_keys<R>(
        &self,
        clock: &Clock,
        verify: impl FnOnce(&KeySet, &ClaimsMemo) -> Option<R>,
    ) -> Option<R> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let now = clock.now();
        if keys.stale(now, self.max_key_age) {
            return None;
        }
        let fetched = keys.set.as_ref()?;
        verify(&fetched.set, &fetched.memo)
    }
}

impl<C: Connect + Clone + Send + Sync + 'static> KeyCache<C> {
    /// Fetches the key set when the keys at hand are stale (missing, or older than the maximum
    /// age), or else when a token named an unknown `kid` and the last attempt is older than
    /// the refetch interval; either way only once the wait after failed attempts has passed.
    /// One fetch at a time: those that waited see its outcome and do not fetch again.
    pub(crate) async fn refresh(&self, clock: &Clock) -> Result<(), StoreError> {
        let _one_at_a_time = self.fetching.lock().await;
        let now = clock.now();
        let (stale, wait) = {
            let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
            let stale = keys.stale(now, self.max_key_age);
            let backoff = backoff(keys.failures);
            let wait = if stale { backoff } else { self.refetch_interval.max(backoff) };
            let since = keys.attempted_at.map(|at| now.duration_since(at).unwrap_or_default());
            (stale, since.and_then(|since| wait.checked_sub(since)).filter(|left| !left.is_zero()))
        };
        match wait {
            // Too soon to ask again: the keys at hand answer, if they are fresh.
            Some(_) if !stale => return Ok(()),
            Some(left) => {
                return Err(StoreError::unavailable(format!(
                    "the issuer's JWKS could not be fetched; next attempt in {} s",
                    left.as_secs_f64().ceil()
                )));
            }
            None => {}
        }
        let fetched = self.fetch_keys().await;
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        keys.attempted_at = Some(now);
        match fetched {
            Ok((set, jwks)) => {
                // The same document again: the same keys, and what they verified still holds.
                if keys.set.as_ref().is_none_or(|at_hand| at_hand.jwks != jwks) {
                    keys.set = Some(Fetched { set, jwks, memo: ClaimsMemo::new(self.memo_capacity) });
                }
                keys.fetched_at = Some(now);
                keys.failures = 0;
                Ok(())
            }
            Err(e) => {
                keys.failures = keys.failures.saturating_add(1);
                Err(e)
            }
        }
    }

    /// The issuer's key set, by `kid`: members without one, or that cannot verify (secret
    /// and private keys included), left out, so that the good keys keep verifying whatever
    /// else the issuer publishes; and the document it was read from.
    async fn fetch_keys(&self) -> Result<(KeySet, Bytes), StoreError> {
        let body = get(&self.client, &self.jwks_uri, self.timeout).await.map_err(StoreError::unavailable)?;
        serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|document| KeySet::from_jwks_lenient(&document).ok())
            .map(|set| (set, body))
            .ok_or_else(|| StoreError::unavailable("the JWKS is not a key set"))
    }
}
