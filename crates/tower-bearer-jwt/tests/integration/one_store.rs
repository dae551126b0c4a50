//! Several `SignedTokens` over one `MemoryTokenStore`: what any of them revokes, deletes or
//! rotates, every other refuses from the moment the call returns, including one built
//! afterwards. The memory store tells each verifier's deny list itself; the application
//! wires nothing. A property test holds every instance to a model of the tokens' states.

use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use tower_bearer::{
    Clock, IssuedToken, MemoryTokenStore, NewToken, PresentedToken, TokenManager, TokenState, TokenStore,
};
use tower_bearer_jwt::{KeySet, SignedTokens, SigningKey};

const ISSUER: &str = "https://auth.example.com";
const API: &str = "https://api.example.com";

fn keys() -> KeySet {
    KeySet::new(SigningKey::hs256("h1", b"one secret for every instance!!!").unwrap()).unwrap()
}

fn instance(store: &MemoryTokenStore) -> SignedTokens<MemoryTokenStore> {
    SignedTokens::builder(store.clone(), keys(), ISSUER, API).leeway(Duration::ZERO).build()
}

async fn answer(tokens: &SignedTokens<MemoryTokenStore>, token: &IssuedToken) -> &'static str {
    match tokens.lookup(&PresentedToken::new(token.secret().expose_secret())).await.unwrap() {
        TokenState::Active(_) => "active",
        TokenState::Expired(_) => "expired",
        TokenState::Revoked(_) => "revoked",
        _ => "unknown",
    }
}

#[tokio::test]
async fn what_one_instance_revokes_every_other_refuses() {
    let clock = Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let store = MemoryTokenStore::builder().clock(clock.clone()).build();
    let (a, b) = (instance(&store), instance(&store));
    let issue = |name: &str| NewToken::for_subject(name).expires_at(clock.now() + Duration::from_secs(3_600));
    let (revoked, deleted, rotated) = (
        a.issue(issue("r")).await.unwrap(),
        a.issue(issue("d")).await.unwrap(),
        a.issue(issue("o")).await.unwrap(),
    );
    for token in [&revoked, &deleted, &rotated] {
        // Both remember the token as valid before it is revoked.
        assert_eq!((answer(&a, token).await, answer(&b, token).await), ("active", "active"));
    }
    assert!(a.revoke(revoked.id()).await.unwrap());
    assert!(b.delete(deleted.id()).await.unwrap());
    let successor = b.rotate_until(rotated.id(), Duration::from_secs(60), None).await.unwrap();
    let late = instance(&store);
    for tokens in [&a, &b, &late] {
        assert_eq!(answer(tokens, &revoked).await, "revoked");
        assert_eq!(answer(tokens, &deleted).await, "revoked");
        assert_eq!(answer(tokens, &rotated).await, "active", "during the rotation's grace");
        assert_eq!(answer(tokens, &successor).await, "active");
    }
    clock.advance(Duration::from_secs(60));
    for tokens in [&a, &b, &late] {
        assert_eq!(answer(tokens, &rotated).await, "revoked", "once the grace is over");
    }
    assert_eq!(store.revocations().await.unwrap().len(), 3);
}

#[derive(Clone, Debug)]
enum Step {
    /// Another instance over the store, from now on.
    Build,
    Revoke {
        token: usize,
        by: usize,
    },
    Delete {
        token: usize,
        by: usize,
    },
    Rotate {
        token: usize,
        by: usize,
        grace: u64,
    },
    Present {
        token: usize,
        to: usize,
    },
    Advance(u64),
}

fn step() -> impl Strategy<Value = Step> {
    let (token, by) = (0..8_usize, 0..4_usize);
    prop_oneof![
        1 => Just(Step::Build),
        1 => (token.clone(), by.clone()).prop_map(|(token, by)| Step::Revoke { token, by }),
        1 => (token.clone(), by.clone()).prop_map(|(token, by)| Step::Delete { token, by }),
        1 => (token.clone(), by.clone(), prop_oneof![Just(0_u64), Just(30), Just(120)])
            .prop_map(|(token, by, grace)| Step::Rotate { token, by, grace }),
        6 => (token, by).prop_map(|(token, to)| Step::Present { token, to }),
        2 => (0..200_u64).prop_map(Step::Advance),
    ]
}

/// What the model knows of a token: its secret, its expiry and from when it is refused.
struct Known {
    token: IssuedToken,
    expires: SystemTime,
    refused_from: Option<SystemTime>,
}

impl Known {
    fn expected(&self, now: SystemTime) -> &'static str {
        if now >= self.expires {
            "expired"
        } else if self.refused_from.is_some_and(|from| now >= from) {
            "revoked"
        } else {
            "active"
        }
    }

    fn refuse_from(&mut self, from: SystemTime) {
        self.refused_from = Some(self.refused_from.map_or(from, |earlier| earlier.min(from)));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Instances built at any point over one store, each operation made through any of them,
    /// each token asked of any of them: every answer is the model's (a token is refused from
    /// its revocation, deletion or the end of its rotation's grace, until it expires).
    #[test]
    fn every_instance_refuses_what_any_revoked(steps in proptest::collection::vec(step(), 1..60)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let clock = Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
            let store = MemoryTokenStore::builder().clock(clock.clone()).build();
            let mut instances = vec![instance(&store)];
            let mut known: Vec<Known> = Vec::new();
            for lifetime in [300_u64, 900, 3_600] {
                let expires = clock.now() + Duration::from_secs(lifetime);
                let new = NewToken::for_subject("ada").expires_at(expires);
                let token = instances[0].issue(new).await.unwrap();
                let expires = token.info().principal.expires_at().unwrap();
                known.push(Known { token, expires, refused_from: None });
            }
            for step in steps {
                let now = clock.now();
                match step {
                    Step::Build => {
                        if instances.len() < 4 {
                            instances.push(instance(&store));
                        }
                    }
                    Step::Revoke { token, by } => {
                        let (Some(k), Some(tokens)) = (known.get_mut(token), instances.get(by)) else {
                            continue;
                        };
                        if tokens.revoke(k.token.id()).await.unwrap() {
                            k.refuse_from(now);
                        }
                    }
                    Step::Delete { token, by } => {
                        let (Some(k), Some(tokens)) = (known.get_mut(token), instances.get(by)) else {
                            continue;
                        };
                        if tokens.delete(k.token.id()).await.unwrap() {
                            k.refuse_from(now);
                        }
                    }
                    Step::Rotate { token, by, grace } => {
                        let (Some(k), Some(tokens)) = (known.get_mut(token), instances.get(by)) else {
                            continue;
                        };
                        let grace = Duration::from_secs(grace);
                        if let Ok(successor) = tokens.rotate_until(k.token.id(), grace, None).await {
                            k.refuse_from(now + grace);
                            let expires = successor.info().principal.expires_at().unwrap();
                            known.push(Known { token: successor, expires, refused_from: None });
                        }
                    }
                    Step::Present { token, to } => {
                        let (Some(k), Some(tokens)) = (known.get(token), instances.get(to)) else { continue };
                        let answered = answer(tokens, &k.token).await;
                        prop_assert_eq!(answered, k.expected(now), "token {} of instance {}", token, to);
                    }
                    Step::Advance(secs) => {
                        clock.advance(Duration::from_secs(secs));
                    }
                }
            }
            Ok(())
        })?;
    }
}
