//! Tests of the effective-access cache.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::UNIX_EPOCH;

use tokio::sync::{Barrier, Semaphore};

use super::*;
use tower_bearer::store::StoreErrorKind;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

/// A membership table whose calls are counted, and optionally held until released one by
/// one (`open(n)` lets the n-th call answer), to make calls overlap.
struct Db {
    calls: AtomicUsize,
    members: Mutex<HashMap<(String, Option<String>), Scopes>>,
    failing: AtomicBool,
    gated: bool,
    gates: [Semaphore; 4],
}

impl Default for Db {
    fn default() -> Self {
        Db {
            calls: AtomicUsize::new(0),
            members: Mutex::default(),
            failing: AtomicBool::new(false),
            gated: false,
            gates: std::array::from_fn(|_| Semaphore::new(0)),
        }
    }
}

impl Db {
    fn gated() -> Self {
        Db { gated: true, ..Db::default() }
    }

    fn with(self, subject: &str, organization: Option<&str>, scopes: &str) -> Self {
        self.set(subject, organization, Some(scopes));
        self
    }

    fn set(&self, subject: &str, organization: Option<&str>, scopes: Option<&str>) {
        let key = (subject.to_owned(), organization.map(str::to_owned));
        let mut members = self.members.lock().unwrap();
        match scopes {
            Some(scopes) => members.insert(key, Scopes::parse(scopes)),
            None => members.remove(&key),
        };
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn open(&self, call: usize) {
        self.gates[call].add_permits(1);
    }
}

/// The handle the cache owns, while the test keeps another.
struct DbHandle(Arc<Db>);

impl AccessResolver for DbHandle {
    async fn current_scopes(
        &self,
        subject: &str,
        organization: Option<&str>,
    ) -> Result<Option<Scopes>, StoreError> {
        let db = &self.0;
        let call = db.calls.fetch_add(1, Ordering::SeqCst);
        // Read at the start: a slow call answers with what the database held then.
        let answer = if db.failing.load(Ordering::SeqCst) {
            Err(StoreError::unavailable("db down"))
        } else {
            let key = (subject.to_owned(), organization.map(str::to_owned));
            Ok(db.members.lock().unwrap().get(&key).cloned())
        };
        if db.gated {
            db.gates[call].acquire().await.unwrap().forget();
        }
        answer
    }
}

fn access(db: Db) -> (Arc<Db>, EffectiveAccess<DbHandle>) {
    access_for(db, DEFAULT_TTL)
}

fn access_for(db: Db, ttl: Duration) -> (Arc<Db>, EffectiveAccess<DbHandle>) {
    let db = Arc::new(db);
    (db.clone(), EffectiveAccess::with_ttl(DbHandle(db), ttl))
}

/// Lets spawned tasks run until the resolver has been called `n` times (failing rather
/// than hanging if it never is).
async fn until_calls(db: &Db, n: usize) {
    for _ in 0..10_000 {
        if db.calls() >= n {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the resolver was called {} times, not {n}", db.calls());
}

fn some(scopes: &str) -> Option<Scopes> {
    Some(Scopes::parse(scopes))
}

#[tokio::test]
async fn hit_within_ttl_does_not_ask_again() {
    let (db, access) = access(Db::default().with("ada", Some("acme"), "a b"));
    assert_eq!(access.cached("ada", Some("acme"), at(0)), None);
    assert_eq!(access.resolve("ada", Some("acme"), at(0)).await.unwrap(), some("a b"));
    assert_eq!(access.cached("ada", Some("acme"), at(9)), Some(some("a b")));
    // `resolve` finds the answer too, if another request cached it in between.
    assert_eq!(access.resolve("ada", Some("acme"), at(9)).await.unwrap(), some("a b"));
    assert_eq!(db.calls(), 1);
}

#[tokio::test]
async fn answer_expires_after_ttl() {
    let (db, access) = access(Db::default().with("ada", None, "a"));
    access.resolve("ada", None, at(0)).await.unwrap();
    db.set("ada", None, Some("b"));
    assert_eq!(access.cached("ada", None, at(10)), None);
    assert_eq!(access.resolve("ada", None, at(10)).await.unwrap(), some("b"));
    assert_eq!(db.calls(), 2);
    // Before its fetch (the clock stepped back): not trusted either.
    assert_eq!(access.cached("ada", None, at(5)), None);
}

#[tokio::test]
async fn ttl_is_configurable_and_zero_always_asks() {
    let (db, access) = access_for(Db::default().with("ada", None, "a"), Duration::from_secs(2));
    access.resolve("ada", None, at(0)).await.unwrap();
    assert!(access.cached("ada", None, at(1)).is_some());
    assert!(access.cached("ada", None, at(2)).is_none());
    assert_eq!(db.calls(), 1);
    let (db, access) = access_for(Db::default().with("ada", None, "a"), Duration::ZERO);
    access.resolve("ada", None, at(3)).await.unwrap();
    assert!(access.cached("ada", None, at(3)).is_none());
    access.resolve("ada", None, at(3)).await.unwrap();
    assert_eq!(db.calls(), 2);
    let (_db, huge) = access_for(Db::default().with("ada", None, "a"), Duration::MAX);
    huge.resolve("ada", None, at(3)).await.unwrap();
    assert!(huge.cached("ada", None, at(1_000_000)).is_some());
}

#[tokio::test]
async fn invalidate_asks_again() {
    let (db, access) = access(Db::default().with("ada", Some("acme"), "a").with("bob", Some("acme"), "b"));
    access.resolve("ada", Some("acme"), at(0)).await.unwrap();
    access.resolve("bob", Some("acme"), at(0)).await.unwrap();
    db.set("ada", Some("acme"), None);
    access.invalidate("ada", Some("acme"));
    assert_eq!(access.cached("ada", Some("acme"), at(1)), None);
    assert_eq!(access.cached("bob", Some("acme"), at(1)), Some(some("b")));
    assert_eq!(access.resolve("ada", Some("acme"), at(1)).await.unwrap(), None);
    assert_eq!(db.calls(), 3);

    access.invalidate_all();
    assert_eq!(access.cached("ada", Some("acme"), at(1)), None);
    assert_eq!(access.cached("bob", Some("acme"), at(1)), None);
    access.invalidate("nobody", None);
    access.invalidate("", Some(""));
}

#[tokio::test]
async fn invalidation_during_a_call_keeps_its_answer_out_of_the_cache() {
    let (db, access) = access(Db::gated().with("ada", Some("acme"), "a"));
    let before = tokio::spawn(access.resolve("ada", Some("acme"), at(0)));
    until_calls(&db, 1).await; // read "a", not answered yet
    db.set("ada", Some("acme"), None);
    access.invalidate("ada", Some("acme"));
    db.open(0);
    // The request that started before the invalidation gets what was read then...
    assert_eq!(before.await.unwrap().unwrap(), some("a"));
    // ...but no request after it does.
    assert_eq!(access.cached("ada", Some("acme"), at(0)), None);
    db.open(1);
    assert_eq!(access.resolve("ada", Some("acme"), at(0)).await.unwrap(), None);
    assert_eq!(db.calls(), 2);
}

#[tokio::test]
async fn request_after_invalidation_does_not_join_an_older_call() {
    for invalidate_all in [false, true] {
        let (db, access) = access(Db::gated().with("ada", Some("acme"), "a"));
        let before = tokio::spawn(access.resolve("ada", Some("acme"), at(0)));
        until_calls(&db, 1).await;
        db.set("ada", Some("acme"), None);
        if invalidate_all {
            access.invalidate_all();
        } else {
            access.invalidate("ada", Some("acme"));
        }
        let after = tokio::spawn(access.resolve("ada", Some("acme"), at(0)));
        until_calls(&db, 2).await; // its own call, not the older one
        // The newer call answers first; the older one, landing last, must not replace it.
        db.open(1);
        assert_eq!(after.await.unwrap().unwrap(), None);
        db.open(0);
        assert_eq!(before.await.unwrap().unwrap(), some("a"));
        assert_eq!(access.cached("ada", Some("acme"), at(1)), Some(None));
        assert_eq!(db.calls(), 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_make_one_call() {
    let (db, access) = access(Db::gated().with("ada", Some("acme"), "a"));
    let barrier = Arc::new(Barrier::new(51));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (access, barrier) = (access.clone(), barrier.clone());
            tokio::spawn(async move {
                let resolving = access.resolve("ada", Some("acme"), at(0));
                barrier.wait().await;
                resolving.await
            })
        })
        .collect();
    barrier.wait().await; // every request has started (joined or made the call)
    db.open(0);
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), some("a"));
    }
    assert_eq!(db.calls(), 1);
}

#[tokio::test]
async fn errors_reach_every_waiter_and_are_not_cached() {
    let (db, access) = access(Db::gated().with("ada", None, "a"));
    db.failing.store(true, Ordering::SeqCst);
    let waiters: Vec<_> = (0..10).map(|_| tokio::spawn(access.resolve("ada", None, at(0)))).collect();
    until_calls(&db, 1).await;
    db.open(0);
    for waiter in waiters {
        let e = waiter.await.unwrap().unwrap_err();
        assert_eq!(e.kind(), StoreErrorKind::Unavailable);
        let cause = std::error::Error::source(&e).unwrap();
        assert_eq!(cause.to_string(), "db down");
    }
    assert_eq!(db.calls(), 1);
    assert_eq!(access.cached("ada", None, at(0)), None);
    db.failing.store(false, Ordering::SeqCst);
    db.open(1);
    assert_eq!(access.resolve("ada", None, at(0)).await.unwrap(), some("a"));
    assert_eq!(db.calls(), 2);
}

#[tokio::test]
async fn timeouts_stay_timeouts() {
    let access = EffectiveAccess::new(|_: &str, _: Option<&str>| async { Err(StoreError::timeout()) });
    let e = access.resolve("ada", None, at(0)).await.unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Timeout);
}

#[tokio::test]
async fn removed_user_is_cached_like_any_answer() {
    let (db, access) = access(Db::default());
    assert_eq!(access.resolve("ada", Some("acme"), at(0)).await.unwrap(), None);
    assert_eq!(access.cached("ada", Some("acme"), at(5)), Some(None));
    assert_eq!(access.resolve("ada", Some("acme"), at(5)).await.unwrap(), None);
    assert_eq!(db.calls(), 1);
}

#[tokio::test]
async fn organizations_are_separate_keys() {
    let (db, access) = access(
        Db::default().with("ada", Some("acme"), "a").with("ada", Some("globex"), "g").with("ada", None, "n"),
    );
    assert_eq!(access.resolve("ada", Some("acme"), at(0)).await.unwrap(), some("a"));
    assert_eq!(access.resolve("ada", Some("globex"), at(0)).await.unwrap(), some("g"));
    assert_eq!(access.resolve("ada", None, at(0)).await.unwrap(), some("n"));
    assert_eq!(access.resolve("ada", Some(""), at(0)).await.unwrap(), None);
    assert_eq!(db.calls(), 4);
    access.invalidate("ada", Some("acme"));
    assert_eq!(access.cached("ada", Some("acme"), at(0)), None);
    assert_eq!(access.cached("ada", Some("globex"), at(0)), Some(some("g")));
    assert_eq!(access.cached("ada", None, at(0)), Some(some("n")));
}

#[tokio::test]
async fn abandoned_call_is_made_again() {
    let (db, access) = access(Db::gated().with("ada", None, "a"));
    let abandoned = tokio::spawn(access.resolve("ada", None, at(0)));
    until_calls(&db, 1).await;
    abandoned.abort();
    let _ = abandoned.await;
    db.open(1);
    assert_eq!(access.resolve("ada", None, at(0)).await.unwrap(), some("a"));
    assert_eq!(db.calls(), 2);
}

#[tokio::test]
async fn call_older_than_the_ttl_is_not_joined() {
    let (db, access) = access(Db::gated().with("ada", None, "a"));
    let old = tokio::spawn(access.resolve("ada", None, at(0)));
    until_calls(&db, 1).await;
    db.set("ada", None, Some("b"));
    db.open(1);
    assert_eq!(access.resolve("ada", None, at(10)).await.unwrap(), some("b"));
    db.open(0);
    assert_eq!(old.await.unwrap().unwrap(), some("a"));
    assert_eq!(access.cached("ada", None, at(10)), Some(some("b")));
}

#[tokio::test]
async fn panicking_resolver_fails_closed() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let access = EffectiveAccess::new(move |subject: &str, _: Option<&str>| {
        let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
        let subject = subject.to_owned();
        async move {
            tokio::task::yield_now().await;
            assert!(!first, "resolver bug");
            Ok(Some(Scopes::from([subject])))
        }
    });
    let waiters: Vec<_> = (0..3).map(|_| tokio::spawn(access.resolve("ada", None, at(0)))).collect();
    for waiter in waiters {
        assert_eq!(waiter.await.unwrap().unwrap_err().kind(), StoreErrorKind::Unavailable);
    }
    assert_eq!(access.cached("ada", None, at(0)), None);
    assert_eq!(access.resolve("ada", None, at(0)).await.unwrap(), some("ada"));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn memory_is_bounded() {
    let (_db, access) = access_for(Db::default(), Duration::from_secs(1));
    for i in 0..20_000u64 {
        access.resolve(&format!("user{i}"), None, at(i)).await.unwrap();
        assert!(access.inner.entries.len() <= 2 * SWEEP_MIN);
    }
    assert!(lock(&access.inner.slow).flights.is_empty());
}

#[tokio::test]
async fn abandoned_calls_are_swept() {
    let (_db, access) = access(Db::default());
    for i in 0..1000 {
        drop(access.resolve(&format!("user{i}"), None, at(0)));
        assert!(lock(&access.inner.slow).flights.len() <= 2 * FLIGHT_SWEEP_MIN);
    }
}

#[test]
fn handles_can_be_shared_and_futures_returned_from_lookups() {
    fn shared<T: Clone + Send + Sync + 'static>() {}
    fn lookup_future<T: Future + Send + Unpin + 'static>() {}
    shared::<EffectiveAccess<DbHandle>>();
    lookup_future::<Resolving>();
}

#[test]
fn debug_shows_no_users() {
    let (_db, access) = access(Db::default());
    let shown = format!("{access:?}");
    assert!(shown.contains("EffectiveAccess") && shown.contains("ttl"), "{shown}");
}

#[tokio::test]
async fn debug_hides_cached_users() {
    let (_db, access) = access(Db::default().with("secret-user", None, "secret-scope"));
    access.resolve("secret-user", None, at(0)).await.unwrap();
    let shown = format!("{access:?}");
    assert!(!shown.contains("secret"), "{shown}");
}

#[test]
fn intersect_keeps_what_both_grant() {
    let cases = [
        ("a b", "b c", "b"),
        ("a b", "a b c", "a b"),
        ("a b c", "a b", "a b"),
        ("a", "", ""),
        ("", "*", ""),
        ("*", "a b", "a b"),
        ("a b", "*", "a b"),
        ("*", "*", "*"),
        ("* x", "*", "* x"),
        ("* x", "y", "y"),
        // A wildcard token does not take the admin scope from its user (issue 21): only a
        // token holding it by name does.
        ("*", "a tokens:admin", "a"),
        ("* tokens:admin", "tokens:admin x", "tokens:admin x"),
        ("tokens:admin", "*", ""),
    ];
    for (token, current, expected) in cases {
        let got = intersect(&Scopes::parse(token), &Scopes::parse(current), &MintRules::new());
        assert_eq!(got, Scopes::parse(expected), "{token:?} ∩ {current:?}");
    }
}

#[test]
fn intersect_grants_exactly_what_both_grant() {
    let universe = ["a", "b", "c", Scopes::WILDCARD];
    let subsets: Vec<Scopes> = (0..16u8)
        .map(|mask| {
            universe.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, s)| *s).collect()
        })
        .collect();
    for token in &subsets {
        for current in &subsets {
            let effective = intersect(token, current, &MintRules::new());
            for scope in ["a", "b", "c", "d", Scopes::WILDCARD] {
                assert_eq!(
                    effective.grants(scope),
                    token.grants(scope) && current.grants(scope),
                    "{token:?} ∩ {current:?} on {scope}"
                );
            }
            assert!(effective.iter().all(|s| token.grants(s) && current.grants(s)));
        }
    }
}
