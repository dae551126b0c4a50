//! A cache in front of a memory store subscribes to the store's push as it is built: a token
//! revoked, deleted or rotated on the store itself, not through the cache, loses its cached
//! answer at once, however long the cache's TTL. The property test holds the cache to the
//! store's own answers over any sequence of changes made through either.

use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use tower_bearer::stores::CacheConfig;
use tower_bearer::{
    CachedTokenStore, Clock, MemoryTokenStore, NewToken, PresentedToken, TokenManager, TokenState, TokenStore,
};
use tower_bearer_test_support::at_once;

/// An hour: only the push can make a change visible through the cache within a test.
fn cache_over(store: &MemoryTokenStore, clock: &Clock) -> CachedTokenStore<MemoryTokenStore> {
    let config = CacheConfig::default()
        .positive_ttl(Duration::from_secs(3600))
        .negative_ttl(Duration::from_secs(3600))
        .clock(clock.clone());
    CachedTokenStore::with_config(store.clone(), config)
}

/// A lookup's answer, comparable: the state's name, and the principal's subject, expiry and
/// whether it has a successor.
type Said = (&'static str, Option<(String, Option<SystemTime>, bool)>);

fn answer<S: TokenStore>(store: &S, secret: &str) -> Said {
    let state = at_once(store.lookup(&PresentedToken::new(secret))).unwrap();
    let of = |p: &tower_bearer::Principal| {
        Some((p.subject().to_owned(), p.expires_at(), p.replaced_by().is_some()))
    };
    match &state {
        TokenState::Active(p) => ("active", of(p)),
        TokenState::Expired(p) => ("expired", of(p)),
        TokenState::Revoked(p) => ("revoked", of(p)),
        _ => ("unknown", None),
    }
}

#[test]
fn changes_made_on_the_store_reach_the_cache_in_front_of_it_at_once() {
    let clock = Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let store = MemoryTokenStore::builder().clock(clock.clone()).build();
    let cache = cache_over(&store, &clock);
    let issue = |name: &str| {
        let new =
            NewToken::for_subject("ada").name(name).expires_at(clock.now() + Duration::from_secs(86_400));
        at_once(store.issue(new)).unwrap()
    };
    let (revoked, deleted, rotated) = (issue("r"), issue("d"), issue("o"));
    for token in [&revoked, &deleted, &rotated] {
        assert_eq!(answer(&cache, token.secret().expose_secret()).0, "active");
    }
    assert_eq!(cache.entry_count(), 3, "cached");

    assert!(at_once(store.revoke(revoked.id())).unwrap());
    assert_eq!(answer(&cache, revoked.secret().expose_secret()).0, "revoked");
    assert!(at_once(store.delete(deleted.id())).unwrap());
    assert_eq!(answer(&cache, deleted.secret().expose_secret()).0, "unknown");
    let successor = at_once(store.rotate(rotated.id(), Duration::from_secs(60))).unwrap();
    let (state, principal) = answer(&cache, rotated.secret().expose_secret());
    assert_eq!(
        (state, principal.map(|(_, at, replaced)| (at, replaced))),
        ("active", Some((Some(clock.now() + Duration::from_secs(60)), true)))
    );
    assert_eq!(answer(&cache, successor.secret().expose_secret()).0, "active");
}

/// One step: a lookup through the cache, a change through the store or through the cache,
/// or time passing.
#[derive(Clone, Debug)]
enum Step {
    Look(usize),
    Revoke { token: usize, through_cache: bool },
    Delete { token: usize, through_cache: bool },
    Rotate { token: usize, grace_secs: u64, through_cache: bool },
    Wait(u64),
}

fn step() -> impl Strategy<Value = Step> {
    let token = 0..4_usize;
    let change = || (token.clone(), any::<bool>());
    prop_oneof![
        3 => token.clone().prop_map(Step::Look),
        1 => change().prop_map(|(token, through_cache)| Step::Revoke { token, through_cache }),
        1 => change().prop_map(|(token, through_cache)| Step::Delete { token, through_cache }),
        1 => (token, prop_oneof![Just(0_u64), Just(30), Just(120)], any::<bool>())
            .prop_map(|(token, grace_secs, through_cache)| Step::Rotate { token, grace_secs, through_cache }),
        1 => prop_oneof![Just(1_u64), Just(45), Just(600)].prop_map(Step::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// After every step, every token (and every successor a rotation issued) gets the same
    /// answer through the cache as from the store: no change made on either side is hidden by
    /// a cached answer.
    #[test]
    fn the_cache_answers_as_the_store_after_any_change(steps in prop::collection::vec(step(), 1..60)) {
        let clock = Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        let store = MemoryTokenStore::builder().clock(clock.clone()).build();
        let cache = cache_over(&store, &clock);
        let mut tokens: Vec<_> = (0..4)
            .map(|i| {
                // Two with an expiry (revocations the store keeps), two without.
                let new = NewToken::for_subject(format!("user{i}"));
                let new = if i < 2 { new.expires_at(clock.now() + Duration::from_secs(3_600)) } else { new };
                at_once(store.issue(new)).unwrap()
            })
            .collect();
        for step in steps {
            match step {
                Step::Look(i) => {
                    answer(&cache, tokens[i].secret().expose_secret());
                }
                Step::Revoke { token, through_cache } => {
                    let id = tokens[token].id().clone();
                    let _ = if through_cache {
                        at_once(cache.revoke(&id))
                    } else {
                        at_once(store.revoke(&id))
                    };
                }
                Step::Delete { token, through_cache } => {
                    let id = tokens[token].id().clone();
                    let _ = if through_cache {
                        at_once(cache.delete(&id))
                    } else {
                        at_once(store.delete(&id))
                    };
                }
                Step::Rotate { token, grace_secs, through_cache } => {
                    let (id, grace) = (tokens[token].id().clone(), Duration::from_secs(grace_secs));
                    let rotated = if through_cache {
                        at_once(cache.rotate(&id, grace))
                    } else {
                        at_once(store.rotate(&id, grace))
                    };
                    if let Ok(successor) = rotated {
                        tokens.push(successor);
                    }
                }
                Step::Wait(secs) => {
                    clock.advance(Duration::from_secs(secs));
                }
            }
            for token in &tokens {
                let secret = token.secret().expose_secret();
                prop_assert_eq!(answer(&cache, secret), answer(&store, secret), "{:?}", token.id());
            }
        }
    }
}
