//! [`EffectiveAccess`]: what a user may do *now*, asked of the application through an
//! [`AccessResolver`] and cached briefly, so that a signed token (whose scopes were fixed when
//! it was issued) loses what its user lost since.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use futures_util::FutureExt;
use futures_util::future::Shared;
use tower_bearer::grant::MintRules;
use tower_bearer::{Scopes, StoreError};

mod flight;

pub(crate) use flight::Resolving;
use flight::{BoxFlight, Flight, FlightOutput, State};

/// How long an answer is served unless [`EffectiveAccess::ttl`] says otherwise: short, since
/// it bounds how long a removed user keeps access when nobody invalidates.
const DEFAULT_TTL: Duration = Duration::from_secs(10);

/// Cache sizes below this are never swept.
const SWEEP_MIN: usize = 1024;

/// Flight maps below this size are never swept.
const FLIGHT_SWEEP_MIN: usize = 64;

/// Where a user's current permissions come from: the application's user and organization
/// database.
///
/// Implement it with an `async fn`, or pass a closure taking `(&str, Option<&str>)` that
/// returns a future owning what it needs (annotate the argument types, so that the closure
/// accepts any lifetime):
///
/// ```
/// use tower_bearer::{Scopes, StoreError};
/// use tower_bearer_jwt::EffectiveAccess;
///
/// let access = EffectiveAccess::new(|subject: &str, _organization: Option<&str>| {
///     let admin = subject == "root";
///     async move {
///         // In practice, a query on a connection pool cloned into the future.
///         Ok::<_, StoreError>(Some(if admin { Scopes::parse("*") } else { Scopes::parse("reports:read") }))
///     }
/// });
/// ```
pub trait AccessResolver: Send + Sync + 'static {
    /// The scopes `subject` holds now (in `organization`, when the token names one).
    ///
    /// - `Ok(Some(scopes))`: the request gets the token's scopes that these also grant;
    /// - `Ok(None)`: the user has no access any more (removed from the organization, disabled):
    ///   their tokens are refused;
    /// - `Err`: the source could not answer: requests fail closed (503), and nothing is cached.
    fn current_scopes(
        &self,
        subject: &str,
        organization: Option<&str>,
    ) -> impl Future<Output = Result<Option<Scopes>, StoreError>> + Send;
}

impl<F, Fut> AccessResolver for F
where
    F: Fn(&str, Option<&str>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<Scopes>, StoreError>> + Send,
{
    fn current_scopes(
        &self,
        subject: &str,
        organization: Option<&str>,
    ) -> impl Future<Output = Result<Option<Scopes>, StoreError>> + Send {
        self(subject, organization)
    }
}

/// An [`AccessResolver`]'s answers, cached per (subject, organization) for a short TTL
/// (10 seconds by default), with concurrent misses of one user coalesced into one call.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::RwLock;
/// use std::time::Duration;
/// use tower_bearer::{Scopes, StoreError};
/// use tower_bearer_jwt::{AccessResolver, EffectiveAccess};
///
/// /// Who belongs to which organization, with which scopes (in practice, a database table).
/// struct Members(RwLock<HashMap<(String, String), Scopes>>);
///
/// impl AccessResolver for Members {
///     async fn current_scopes(
///         &self,
///         subject: &str,
///         organization: Option<&str>,
///     ) -> Result<Option<Scopes>, StoreError> {
///         let Some(organization) = organization else { return Ok(None) };
///         let members = self.0.read().map_err(|_| StoreError::unavailable("members lock poisoned"))?;
///         Ok(members.get(&(subject.to_owned(), organization.to_owned())).cloned())
///     }
/// }
///
/// let members = HashMap::from([(("ada".into(), "acme".into()), Scopes::parse("reports:read"))]);
/// let access = EffectiveAccess::with_ttl(Members(RwLock::new(members)), Duration::from_secs(5));
///
/// // Ada leaves acme: her tokens for acme are refused from the next request on, rather than
/// // at most 5 seconds later.
/// access.invalidate("ada", Some("acme"));
/// ```
///
/// # How answers stay current
///
/// - An answer is served for at most the TTL after the resolver was asked for it; a user
///   removed without an [`invalidate`](Self::invalidate) loses access within the TTL.
/// - [`invalidate`](Self::invalidate) (and [`invalidate_all`](Self::invalidate_all)) takes
///   effect for every request that starts after it returns: the cached answer is dropped, a
///   resolver call already under way is neither joined by later requests nor cached when it
///   answers (it may have read the database before the change).
/// - Errors are never cached: every request waiting on the failed call gets the error, and the
///   next one asks again. A resolver that panics fails its waiting requests the same way.
/// - The time is the caller's (the store's [`Clock`](tower_bearer::Clock)), so a manual clock
///   moves the TTL too.
///
/// Memory stays bounded by the users seen within a TTL: expired answers are swept whenever the
/// cache has doubled since the last sweep.
///
/// Cloning is cheap; clones share the cache.
pub struct EffectiveAccess<R> {
    inner: Arc<Inner<R>>,
}

struct Inner<R> {
    resolver: R,
    /// How long an answer is served; set once, at construction.
    ttl: Duration,
    /// Read without a lock on every request; written only under `slow`.
    entries: papaya::HashMap<Key, Entry>,
    /// Taken by misses, landings and invalidations, never by hits. Landing an answer and
    /// invalidating its key happen one after the other, so an answer cannot be checked as
    /// current, then invalidated, then cached.
    slow: Mutex<Slow>,
}

struct Slow {
    /// The resolver call under way for each key. A flight that lands while still registered
    /// here was not invalidated since it started (invalidation unregisters it), which is what
    /// makes its answer safe to cache.
    flights: HashMap<Key, Flight>,
    next_flight: u64,
    flights_sweep_at: usize,
    entries_sweep_at: usize,
}

/// Who is asked about: the token's subject and organization.
#[derive(Clone)]
struct Key {
    subject: Box<str>,
    organization: Option<Box<str>>,
}

/// A [`Key`] borrowed from the request, so that a cache hit allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct KeyRef<'a> {
    subject: &'a str,
    organization: Option<&'a str>,
}

impl Key {
    fn new(key: KeyRef<'_>) -> Self {
        Key { subject: key.subject.into(), organization: key.organization.map(Into::into) }
    }

    fn as_ref(&self) -> KeyRef<'_> {
        KeyRef { subject: &self.subject, organization: self.organization.as_deref() }
    }
}

// Hashed exactly as its `KeyRef`, which papaya relies on to find a `Key` by `KeyRef`.
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_ref().hash(state);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.as_ref() == other.as_ref()
    }
}

impl Eq for Key {}

impl papaya::Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        *self == key.as_ref()
    }
}

/// An answer, and when the resolver was asked for it (the start of the call, so that its age
/// never understates how old the database read may be).
struct Entry {
    answer: Option<Scopes>,
    fetched_at: SystemTime,
}

/// Whether something from `at` is younger than `ttl` at `now`. A time in the future (the
/// system clock stepped back) counts as expired: trusting it would stretch the TTL by the step.
fn fresh(at: SystemTime, now: SystemTime, ttl: Duration) -> bool {
    now.duration_since(at).is_ok_and(|age| age < ttl)
}

fn lock(slow: &Mutex<Slow>) -> MutexGuard<'_, Slow> {
    // Every critical section leaves the maps consistent at each step.
    slow.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Slow {
    /// Registers a flight; drops abandoned and finished ones when the map has doubled. Returns
    /// the handles the sweep had to take, to be dropped once the lock is released: if one was
    /// the last, dropping it drops the resolver's future, whose `Drop` may do anything, even
    /// call back into this cache.
    #[must_use]
    fn add_flight(&mut self, key: Key, flight: Flight) -> Vec<Shared<BoxFlight>> {
        self.flights.insert(key, flight);
        let mut taken = Vec::new();
        if self.flights.len() >= self.flights_sweep_at {
            self.flights.retain(|_, flight| match flight.future.upgrade() {
                Some(shared) => {
                    let running = shared.peek().is_none();
                    taken.push(shared);
                    running
                }
                None => false,
            });
            self.flights_sweep_at = (self.flights.len() * 2).max(FLIGHT_SWEEP_MIN);
        }
        taken
    }
}

impl<R: AccessResolver> EffectiveAccess<R> {
    /// `resolver`'s answers, cached for 10 seconds.
    pub fn new(resolver: R) -> Self {
        EffectiveAccess::with_ttl(resolver, DEFAULT_TTL)
    }

    /// `resolver`'s answers, each served for `ttl`: the longest a user removed without an
    /// [`invalidate`](Self::invalidate) keeps access. Zero asks the resolver on every request;
    /// durations beyond 584 years count as 584 years. Set once: the clones share the cache, and
    /// with it its TTL.
    pub fn with_ttl(resolver: R, ttl: Duration) -> Self {
        let slow = Slow {
            flights: HashMap::new(),
            next_flight: 0,
            flights_sweep_at: FLIGHT_SWEEP_MIN,
            entries_sweep_at: SWEEP_MIN,
        };
        let inner = Inner {
            resolver,
            ttl: Duration::from_nanos(nanos(ttl)),
            entries: papaya::HashMap::new(),
            slow: Mutex::new(slow),
        };
        EffectiveAccess { inner: Arc::new(inner) }
    }

    fn current_ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// The resolver.
    pub fn get_ref(&self) -> &R {
        &self.inner.resolver
    }

    /// Forgets what is known of `subject` in `organization`: every request that starts after
    /// this returns asks the resolver anew (and a call already under way is neither joined by
    /// them nor cached). Call it when the user's membership or permissions change.
    pub fn invalidate(&self, subject: &str, organization: Option<&str>) {
        let key = KeyRef { subject, organization };
        let owned = Key::new(key);
        let mut slow = lock(&self.inner.slow);
        slow.flights.remove(&owned);
        self.inner.entries.pin().remove(&key);
    }

    /// Forgets everything (as [`invalidate`](Self::invalidate) for every user): after a bulk
    /// change, or when the source's change notifications may have been missed.
    pub fn invalidate_all(&self) {
        let mut slow = lock(&self.inner.slow);
        slow.flights.clear();
        self.inner.entries.pin().clear();
    }

    /// The cached answer for `subject` in `organization`, if still fresh at `now`: the fast
    /// path, without allocating or locking.
    pub(crate) fn cached(
        &self,
        subject: &str,
        organization: Option<&str>,
        now: SystemTime,
    ) -> Option<Option<Scopes>> {
        let entries = self.inner.entries.pin();
        let entry = entries.get(&KeyRef { subject, organization })?;
        fresh(entry.fetched_at, now, self.current_ttl()).then(|| entry.answer.clone())
    }

    /// Asks the resolver about `subject` in `organization`, joining a call for the same user
    /// under way if there is one, and caches the answer as fetched at `now`. The returned future
    /// owns what it needs (`'static`), so a store can return it from a lookup.
    pub(crate) fn resolve(&self, subject: &str, organization: Option<&str>, now: SystemTime) -> Resolving {
        let key = Key::new(KeyRef { subject, organization });
        let ttl = self.current_ttl();
        let mut slow = lock(&self.inner.slow);
        if let Some(shared) = slow.flights.get(&key).and_then(|flight| flight.join(now, ttl)) {
            return Resolving(State::Flight(shared));
        }
        // A call may have landed between the caller's `cached` and the lock.
        if let Some(answer) = self.cached(subject, organization, now) {
            return Resolving(State::Ready(answer));
        }
        let id = slow.next_flight;
        slow.next_flight = id.wrapping_add(1);
        // Lazy: the resolver is called when a waiting request first polls, outside the lock.
        let future: BoxFlight = Box::pin(fly(self.inner.clone(), key.clone(), id, now));
        let shared = future.shared();
        let taken = match shared.downgrade() {
            Some(weak) => slow.add_flight(key, Flight { id, started: now, future: weak }),
            None => Vec::new(),
        };
        drop(slow);
        drop(taken);
        Resolving(State::Flight(shared))
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// One resolver call, shared by every request that joins it.
async fn fly<R: AccessResolver>(
    inner: Arc<Inner<R>>,
    key: Key,
    id: u64,
    started: SystemTime,
) -> FlightOutput {
    let call = async { inner.resolver.current_scopes(&key.subject, key.organization.as_deref()).await };
    // `Shared` wakes none of the other waiters when the future panics, so they would hang:
    // a panicking resolver fails them closed instead, like a resolver error.
    let answer = match AssertUnwindSafe(call).catch_unwind().await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(StoreError::unavailable("access resolver panicked")),
    };
    inner.land(&key, id, started, answer.as_ref().ok());
    answer
}

impl<R> Inner<R> {
    /// A flight's end: unregisters it, and caches its answer unless the key was invalidated
    /// since it started.
    fn land(&self, key: &Key, id: u64, started: SystemTime, answer: Option<&Option<Scopes>>) {
        let mut slow = lock(&self.slow);
        if slow.flights.get(key).is_none_or(|flight| flight.id != id) {
            // Unregistered by an invalidation (or replaced after the TTL): the answer may
            // predate a change, or is stale anyway.
            return;
        }
        slow.flights.remove(key);
        let Some(answer) = answer else { return };
        let entries = self.entries.pin();
        // No newer answer can be overwritten: a flight registered for this key started after
        // every other flight for it that has landed.
        entries.insert(key.clone(), Entry { answer: answer.clone(), fetched_at: started });
        if entries.len() >= slow.entries_sweep_at {
            let ttl = self.ttl;
            // Entries asked after this flight started are kept: they are younger, not expired.
            entries.retain(|_, e| started.duration_since(e.fetched_at).unwrap_or_default() < ttl);
            slow.entries_sweep_at = (entries.len() * 2).max(SWEEP_MIN);
        }
    }
}

impl<R> Clone for EffectiveAccess<R> {
    fn clone(&self) -> Self {
        EffectiveAccess { inner: self.inner.clone() }
    }
}

impl<R> fmt::Debug for EffectiveAccess<R> {
    // Counts only: the entries name users and their permissions.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EffectiveAccess")
            .field("ttl", &self.inner.ttl)
            .field("entries", &self.inner.entries.len())
            .finish_non_exhaustive()
    }
}

/// The scopes a request gets: those both the token and the user's current permissions cover
/// ([`MintRules::covers`]: the token's wildcard covers the user's scopes but the admin scope,
/// which the token must hold by name). A wildcard on one side yields the other side's scopes
/// (so covered); on both, the wildcard.
pub(crate) fn intersect(token: &Scopes, current: &Scopes, rules: &MintRules) -> Scopes {
    // The usual case, the user still holding all the token's scopes, shares the token's set.
    if token.iter().all(|s| rules.covers(current, s)) {
        return token.clone();
    }
    // A scope is granted by both iff it is in one set and covered by the other (the wildcard
    // covers itself only by name, so it survives only when both hold it).
    token
        .iter()
        .filter(|s| rules.covers(current, s))
        .chain(current.iter().filter(|s| rules.covers(token, s)))
        .collect()
}

#[cfg(test)]
mod tests;
