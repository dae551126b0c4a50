//! [`CircuitBreakerTokenStore`]: fail fast while a store is known to be down (feature `tokio`).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use crate::store::answer::Answer;
use crate::store::error::StoreError;
use crate::store::lookup::TokenStore;
use crate::store::state::TokenState;
use crate::store::subscriber::RevocationSubscriber;
use crate::token::presented::PresentedToken;

/// Wraps a store so that, once it has failed `failures` lookups in a row, lookups fail at once
/// (503, without asking the store) instead of each waiting for a database that is gone; a
/// probe in the background asks the store again every `probe_every`, and the first answer
/// closes the breaker. No request pays for a probe.
///
/// Put it outside a [`TimeoutTokenStore`](crate::TimeoutTokenStore), so that a hung database
/// counts as failed after the timeout, and inside a
/// [`CachedTokenStore`](crate::CachedTokenStore) if you serve cached answers meanwhile. A
/// push channel that knows the database is gone (a dropped `LISTEN` connection) can open it at
/// once with [`trip`](Self::trip). A probe asks for a random token no one holds, so the store
/// answers "unknown" when it is up. Needs a tokio runtime with the time driver.
///
/// Cloning is cheap; clones share the breaker.
///
/// ```
/// use std::time::Duration;
/// use tower_bearer::{BearerAuthLayer, CallbackTokenStore, CircuitBreakerTokenStore, PresentedToken, TimeoutTokenStore};
///
/// let database = CallbackTokenStore::new(|_token: PresentedToken<'_>| async {
///     Ok::<_, std::convert::Infallible>(None)
/// });
/// let store = TimeoutTokenStore::new(database, Duration::from_secs(2));
/// let store = CircuitBreakerTokenStore::new(store, 3, Duration::from_millis(500));
/// let layer = BearerAuthLayer::new(store);
/// ```
pub struct CircuitBreakerTokenStore<T> {
    shared: Arc<Shared<T>>,
}

struct Shared<T> {
    inner: T,
    /// Failures in a row that open the breaker (at least 1).
    threshold: u32,
    probe_every: Duration,
    failures: AtomicU32,
    open: AtomicBool,
}

impl<T: TokenStore> CircuitBreakerTokenStore<T> {
    /// `inner`, opened by `failures` failed lookups in a row (0 counts as 1), probed every
    /// `probe_every` while open.
    pub fn new(inner: T, failures: u32, probe_every: Duration) -> Self {
        let shared = Shared {
            inner,
            threshold: failures.max(1),
            probe_every,
            failures: AtomicU32::new(0),
            open: AtomicBool::new(false),
        };
        #[cfg(feature = "metrics")]
        crate::monitoring::breaker_open(false);
        CircuitBreakerTokenStore { shared: Arc::new(shared) }
    }

    /// Whether lookups fail at once now.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.shared.open.load(Ordering::Acquire)
    }

    /// Opens the breaker now (a push channel saw the database go), and starts probing. Outside
    /// a tokio runtime there is no one to probe, so the breaker stays closed.
    pub fn trip(&self) {
        Shared::open(&self.shared);
    }

    /// A hook that [`trip`](Self::trip)s this breaker, for whatever learns first that the
    /// store is down (the Postgres store's revocation listener, through its `on_loss`). It
    /// does not keep the breaker alive: once the breaker is dropped, calling it does nothing
    /// and returns `false`.
    pub fn tripper(&self) -> impl Fn() -> bool + Send + Sync + 'static {
        let shared = Arc::downgrade(&self.shared);
        move || shared.upgrade().map(|shared| Shared::open(&shared)).is_some()
    }

    /// The wrapped store.
    pub fn get_ref(&self) -> &T {
        &self.shared.inner
    }
}

impl<T: TokenStore> Shared<T> {
    /// Notes a lookup's outcome: a failure may open the breaker, any answer resets the count.
    fn record(self: &Arc<Self>, answer: &Result<TokenState, StoreError>) {
        match answer {
            Ok(_) => self.failures.store(0, Ordering::Relaxed),
            Err(_) => {
                if self.failures.fetch_add(1, Ordering::Relaxed) + 1 >= self.threshold {
                    Shared::open(self);
                }
            }
        }
    }

    /// Opens the breaker and, if this call opened it, starts the one probe.
    fn open(self: &Arc<Self>) {
        // Without a runtime nothing could probe, and an open breaker would stay open.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        if self.open.swap(true, Ordering::AcqRel) {
            return;
        }
        #[cfg(feature = "metrics")]
        crate::monitoring::breaker_open(true);
        let shared = Arc::clone(self);
        runtime.spawn(async move {
            // A token no one holds: a store that is up answers "unknown".
            let probe = PresentedToken::new(format!("probe-{:032x}", rand_u128())).into_owned();
            loop {
                tokio::time::sleep(shared.probe_every).await;
                // After a restart a pool holds one dead connection per connection it had, each
                // failing once and at once: a probe that fails that fast is asked again at
                // once (a few times), so that they do not cost an interval each.
                for _ in 0..QUICK_PROBES {
                    let asked = tokio::time::Instant::now();
                    if shared.inner.lookup(&probe).await.is_ok() {
                        shared.failures.store(0, Ordering::Relaxed);
                        shared.open.store(false, Ordering::Release);
                        #[cfg(feature = "metrics")]
                        crate::monitoring::breaker_open(false);
                        return;
                    }
                    if asked.elapsed() > QUICK_FAILURE {
                        break;
                    }
                }
            }
        });
    }
}

/// How many probes in a row a round makes while each fails within [`QUICK_FAILURE`].
const QUICK_PROBES: usize = 16;
const QUICK_FAILURE: Duration = Duration::from_millis(5);

/// 128 random bits for the probe's token.
fn rand_u128() -> u128 {
    let mut bytes = [0; 16];
    // A probe token is not a secret: should the OS generator fail, zeros are as good.
    let _ = getrandom::fill(&mut bytes);
    u128::from_ne_bytes(bytes)
}

impl<T: TokenStore> TokenStore for CircuitBreakerTokenStore<T> {
    fn lookup(&self, token: &PresentedToken<'_>) -> Answer<Result<TokenState, StoreError>> {
        if self.is_open() {
            return Answer::Now(Err(StoreError::unavailable(
                "the token store is known to be down (circuit open)",
            )));
        }
        match self.shared.inner.lookup(token) {
            Answer::Now(answer) => {
                self.shared.record(&answer);
                Answer::Now(answer)
            }
            Answer::Later(future) => {
                let shared = Arc::clone(&self.shared);
                Answer::later(async move {
                    let answer = future.await;
                    shared.record(&answer);
                    answer
                })
            }
        }
    }

    /// Passed on to the store behind the breaker.
    fn subscribe_revocations(&self, subscriber: Box<dyn RevocationSubscriber>) -> bool {
        self.shared.inner.subscribe_revocations(subscriber)
    }
}

impl<T> Clone for CircuitBreakerTokenStore<T> {
    fn clone(&self) -> Self {
        CircuitBreakerTokenStore { shared: Arc::clone(&self.shared) }
    }
}

impl<T: fmt::Debug> fmt::Debug for CircuitBreakerTokenStore<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerTokenStore")
            .field("inner", &self.shared.inner)
            .field("threshold", &self.shared.threshold)
            .field("probe_every", &self.shared.probe_every)
            .field("open", &self.shared.open.load(Ordering::Relaxed))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use tokio::time::Instant;

    use super::*;
    use crate::stores::callback::CallbackTokenStore;

    /// A store whose database is up or down, counting the lookups it is asked.
    fn database() -> (Arc<AtomicBool>, Arc<AtomicUsize>, impl TokenStore) {
        let up = Arc::new(AtomicBool::new(true));
        let asked = Arc::new(AtomicUsize::new(0));
        let (is_up, count) = (up.clone(), asked.clone());
        let store = CallbackTokenStore::new(move |_token: PresentedToken<'static>| {
            count.fetch_add(1, Ordering::SeqCst);
            let up = is_up.load(Ordering::SeqCst);
            async move {
                // A database that is down answers after a timeout's worth of waiting.
                if up {
                    Ok(None::<crate::Principal>)
                } else {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    Err(StoreError::timeout())
                }
            }
        });
        (up, asked, store)
    }

    async fn look(store: &impl TokenStore) -> Result<TokenState, StoreError> {
        store.lookup(&PresentedToken::new("some-token")).await
    }

    #[tokio::test(start_paused = true)]
    async fn failures_in_a_row_open_it_and_then_lookups_fail_at_once_without_asking() {
        let (up, asked, database) = database();
        let store = CircuitBreakerTokenStore::new(database, 3, Duration::from_millis(500));
        up.store(false, Ordering::SeqCst);
        for _ in 0..2 {
            assert!(look(&store).await.is_err());
            assert!(!store.is_open(), "two failures are not three");
        }
        assert!(look(&store).await.is_err());
        assert!(store.is_open());
        let asked_before = asked.load(Ordering::SeqCst);
        // Answered at once: no future, no time passes on the (paused) clock.
        let started = Instant::now();
        let Answer::Now(Err(refused)) = store.lookup(&PresentedToken::new("some-token")) else {
            panic!("an open breaker answers at once, with an error");
        };
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(refused.kind(), crate::store::StoreErrorKind::Unavailable);
        assert_eq!(asked.load(Ordering::SeqCst), asked_before, "the store is not asked");
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_resets_the_count() {
        let (up, _asked, database) = database();
        let store = CircuitBreakerTokenStore::new(database, 2, Duration::from_millis(500));
        up.store(false, Ordering::SeqCst);
        assert!(look(&store).await.is_err());
        up.store(true, Ordering::SeqCst);
        assert!(look(&store).await.is_ok());
        up.store(false, Ordering::SeqCst);
        assert!(look(&store).await.is_err());
        assert!(!store.is_open(), "not two in a row");
    }

    #[tokio::test(start_paused = true)]
    async fn the_background_probe_closes_it_once_the_store_answers() {
        let (up, asked, database) = database();
        let store = CircuitBreakerTokenStore::new(database, 1, Duration::from_millis(500));
        store.trip();
        assert!(store.is_open());
        up.store(false, Ordering::SeqCst);
        // Probes while the database is down: it stays open.
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(store.is_open());
        assert!(asked.load(Ordering::SeqCst) >= 2, "it probed");
        up.store(true, Ordering::SeqCst);
        // A probe in flight when the database came back still fails (it waited 2 s); the next
        // one answers.
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(!store.is_open());
        assert!(look(&store).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn its_tripper_opens_it_and_outlives_it_harmlessly() {
        let (_, asked, store) = database();
        let breaker = CircuitBreakerTokenStore::new(store, 3, Duration::from_millis(100));
        let trip = breaker.tripper();
        assert!(trip());
        assert!(breaker.is_open());
        assert!(
            matches!(look(&breaker).await, Err(e) if e.kind() == crate::store::StoreErrorKind::Unavailable)
        );
        assert_eq!(asked.load(Ordering::SeqCst), 0, "answered without asking");
        drop(breaker);
        // The probe holds the breaker until the store answers it (it is up: at the first).
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(!trip(), "gone: nothing to trip");
    }

    #[tokio::test(start_paused = true)]
    async fn tripping_twice_starts_one_probe() {
        let (_up, asked, database) = database();
        let store = CircuitBreakerTokenStore::new(database, 1, Duration::from_millis(500));
        store.trip();
        store.clone().trip();
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(asked.load(Ordering::SeqCst), 1, "one probe, not two");
        assert!(!store.is_open());
    }

    #[tokio::test(start_paused = true)]
    async fn probes_that_fail_at_once_are_asked_again_at_once() {
        // Five dead pooled connections, each failing once and at once, then a live one.
        let asked = Arc::new(AtomicUsize::new(0));
        let count = asked.clone();
        let database = CallbackTokenStore::new(move |_token: PresentedToken<'static>| {
            let dead = count.fetch_add(1, Ordering::SeqCst) < 5;
            async move {
                if dead {
                    Err(StoreError::unavailable("connection reset"))
                } else {
                    Ok(None::<crate::Principal>)
                }
            }
        });
        let store = CircuitBreakerTokenStore::new(database, 1, Duration::from_millis(500));
        store.trip();
        tokio::time::sleep(Duration::from_millis(501)).await;
        assert!(!store.is_open(), "closed within one interval, not six");
        assert_eq!(asked.load(Ordering::SeqCst), 6);
    }

    #[test]
    fn a_threshold_of_zero_counts_as_one_and_no_runtime_means_no_breaker() {
        let (_up, _asked, database) = database();
        let store = CircuitBreakerTokenStore::new(database, 0, Duration::from_secs(1));
        assert_eq!(store.shared.threshold, 1);
        store.trip();
        assert!(!store.is_open(), "outside a runtime nothing could close it again");
    }
}
