//! The SQLite change feed, held to a property: a cache over one store on a file answers as the
//! store does, after any sequence of revocations, deletions and rotations made through the
//! cache, through the store under it, or by another process on the same file (another store),
//! once the cache has polled the feed.
#![cfg(feature = "sqlite")]

use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use tower_bearer::stores::CacheConfig;
use tower_bearer::{
    CachedTokenStore, IssuedToken, NewToken, Principal, TokenManager, TokenState, TokenStore,
};
use tower_bearer_sqlx::SqlTokenStore;
use tower_bearer_test_support::{state, temp_dir};

/// A lookup's answer, comparable: the state's name, and the principal's subject, expiry and
/// whether it has a successor.
type Said = (&'static str, Option<(String, Option<SystemTime>, bool)>);

async fn answer<S: TokenStore>(store: &S, secret: &str) -> Said {
    let of = |p: &Principal| Some((p.subject().to_owned(), p.expires_at(), p.replaced_by().is_some()));
    match &state(store, secret).await {
        TokenState::Active(p) => ("active", of(p)),
        TokenState::Expired(p) => ("expired", of(p)),
        TokenState::Revoked(p) => ("revoked", of(p)),
        _ => ("unknown", None),
    }
}

/// Who makes a change: the cache, the store under it, or another store on the file.
#[derive(Clone, Copy, Debug)]
enum Through {
    Cache,
    Store,
    Elsewhere,
}

#[derive(Clone, Debug)]
enum Step {
    Look(usize),
    Revoke(usize, Through),
    Delete(usize, Through),
    Rotate { token: usize, grace_secs: u64, through: Through },
}

fn step() -> impl Strategy<Value = Step> {
    let token = 0..3_usize;
    let through = prop_oneof![Just(Through::Cache), Just(Through::Store), Just(Through::Elsewhere)];
    prop_oneof![
        2 => token.clone().prop_map(Step::Look),
        1 => (token.clone(), through.clone()).prop_map(|(t, by)| Step::Revoke(t, by)),
        1 => (token.clone(), through.clone()).prop_map(|(t, by)| Step::Delete(t, by)),
        1 => (token, prop_oneof![Just(0_u64), Just(120)], through)
            .prop_map(|(token, grace_secs, through)| Step::Rotate { token, grace_secs, through }),
    ]
}

/// Whether `cache` answers as `store` for every token, within five seconds of polls.
async fn agree(
    cache: &CachedTokenStore<SqlTokenStore>,
    store: &SqlTokenStore,
    tokens: &[IssuedToken],
) -> bool {
    for _ in 0..500 {
        let mut all = true;
        for token in tokens {
            let secret = token.secret().expose_secret();
            all &= answer(cache, secret).await == answer(store, secret).await;
        }
        if all {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

async fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let dir = temp_dir();
    let path = dir.path().join("shared.db");
    let open = || {
        SqlTokenStore::builder().revocation_poll_interval(Duration::from_millis(10)).open_sqlite(path.clone())
    };
    let (store, elsewhere) = (open().await.unwrap(), open().await.unwrap());
    // An hour: only the feed (or a change through the cache) can make a change visible.
    let config = CacheConfig::default()
        .positive_ttl(Duration::from_secs(3600))
        .negative_ttl(Duration::from_secs(3600));
    let cache = CachedTokenStore::with_config(store.clone(), config);
    prop_assert!(store.revocation_pushes()[0].wait_until_subscribed(Duration::from_secs(5)).await);
    let mut tokens = Vec::new();
    for i in 0..3 {
        // One with an expiry (its revocation is recorded), two without.
        let new = NewToken::for_subject(format!("user{i}"));
        let new = if i == 0 { new.expires_in(Duration::from_secs(3_600)) } else { new };
        tokens.push(elsewhere.issue(new).await.unwrap());
    }
    for step in steps {
        let changed = match step {
            Step::Look(i) => {
                answer(&cache, tokens[i].secret().expose_secret()).await;
                false
            }
            Step::Revoke(i, through) => {
                let id = tokens[i].id().clone();
                let _ = match through {
                    Through::Cache => cache.revoke(&id).await,
                    Through::Store => store.revoke(&id).await,
                    Through::Elsewhere => elsewhere.revoke(&id).await,
                };
                true
            }
            Step::Delete(i, through) => {
                let id = tokens[i].id().clone();
                let _ = match through {
                    Through::Cache => cache.delete(&id).await,
                    Through::Store => store.delete(&id).await,
                    Through::Elsewhere => elsewhere.delete(&id).await,
                };
                true
            }
            Step::Rotate { token, grace_secs, through } => {
                let (id, grace) = (tokens[token].id().clone(), Duration::from_secs(grace_secs));
                let rotated = match through {
                    Through::Cache => cache.rotate(&id, grace).await,
                    Through::Store => store.rotate(&id, grace).await,
                    Through::Elsewhere => elsewhere.rotate(&id, grace).await,
                };
                if let Ok(successor) = rotated {
                    tokens.push(successor);
                }
                true
            }
        };
        if changed {
            prop_assert!(
                agree(&cache, &store, &tokens).await,
                "the cache disagrees with the store after {step:?}"
            );
        }
    }
    prop_assert!(cache.is_caching_active_tokens(), "the feed's push is still trusted");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn a_cache_on_a_shared_file_answers_as_the_store_after_any_change(steps in prop::collection::vec(step(), 1..16)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(run(steps))?;
    }
}
