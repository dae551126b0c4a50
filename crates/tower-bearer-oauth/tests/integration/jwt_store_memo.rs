//! `JwtStore`'s claims memo: a token seen before is answered from memory, and the answer is
//! always the one a store without a memo gives, whatever the sequence of presentations,
//! forgeries, passing time and key sets the issuer publishes (a property test against a
//! reference store with `claims_memo(0)` over the same JWKS and clock).

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use serde_json::{Value, json};
use tower_bearer::{Clock, Principal, TokenState};
use tower_bearer_oauth::JwtStore;
use tower_bearer_test_support::state;

use crate::jwks::{K1, K1_X, K2, K2_X, jwk, jwks_server, sign};

const ISSUER: &str = "https://issuer.example.com";
const API: &str = "https://api.example.com";
const NOW: u64 = 1_800_000_000;

/// The claims of token `n`: valid from `nbf` to `exp`, seconds after [`NOW`].
fn claims(n: usize, nbf: u64, exp: u64) -> Value {
    json!({ "iss": ISSUER, "aud": API, "sub": format!("user-{n}"), "scope": "reports:read",
            "jti": format!("jti-{n}"), "iat": NOW, "nbf": NOW + nbf, "exp": NOW + exp })
}

/// How a token is presented: as the issuer signed it, or forged.
#[derive(Clone, Copy, Debug)]
enum Form {
    Issued,
    /// The same claims, signed by a key the issuer does not publish under this `kid`.
    OtherKey,
    /// The signature's first character changed.
    AlteredSignature,
    /// A wider scope in the payload, the signature kept.
    WidenedScope,
}

/// Which keys the issuer publishes.
#[derive(Clone, Copy, Debug)]
enum Published {
    K1,
    K2,
    Both,
}

#[derive(Clone, Debug)]
enum Step {
    Present(usize, Form),
    Advance(u64),
    Publish(Published),
}

fn step() -> impl Strategy<Value = Step> {
    let form = prop_oneof![
        6 => Just(Form::Issued),
        1 => Just(Form::OtherKey),
        1 => Just(Form::AlteredSignature),
        1 => Just(Form::WidenedScope),
    ];
    let published = prop_oneof![Just(Published::K1), Just(Published::K2), Just(Published::Both)];
    prop_oneof![
        6 => (0..3_usize, form).prop_map(|(n, form)| Step::Present(n, form)),
        2 => (0..400_u64).prop_map(Step::Advance),
        1 => published.prop_map(Step::Publish),
    ]
}

/// The three tokens: one of k1 valid for ten minutes, one of k1 not valid for its first 100
/// seconds, one of k2 (unknown until the issuer publishes k2).
fn tokens() -> [(String, Value, &'static str); 3] {
    let (a, b, c) = (claims(0, 0, 600), claims(1, 100, 900), claims(2, 0, 1_200));
    [(sign("k1", K1, &a), a, "k1"), (sign("k1", K1, &b), b, "k1"), (sign("k2", K2, &c), c, "k2")]
}

fn present(token: &str, claims: &Value, kid: &str, form: Form) -> String {
    let (signed, signature) = token.rsplit_once('.').unwrap();
    match form {
        Form::Issued => token.to_owned(),
        Form::OtherKey => sign(kid, if kid == "k1" { K2 } else { K1 }, claims),
        Form::AlteredSignature => {
            let first = if signature.starts_with('A') { 'B' } else { 'A' };
            format!("{signed}.{first}{}", &signature[1..])
        }
        Form::WidenedScope => {
            let header = signed.split('.').next().unwrap();
            let mut wider = claims.clone();
            wider["scope"] = json!("reports:read reports:write admin");
            format!("{header}.{}.{signature}", URL_SAFE_NO_PAD.encode(wider.to_string()))
        }
    }
}

/// What a state says, comparable: its kind and the principal's subject, scopes, token id and
/// expiry.
fn summary(state: &TokenState) -> String {
    let principal = |p: &Principal| {
        let id = p.token_id().map(|id| id.as_str().to_owned());
        format!("{} [{}] {id:?} {:?}", p.subject(), p.scopes(), p.expires_at())
    };
    match state {
        TokenState::Active(p) => format!("active {}", principal(p)),
        TokenState::Expired(p) => format!("expired {}", principal(p)),
        TokenState::Revoked(p) => format!("revoked {}", principal(p)),
        _ => "unknown".to_owned(),
    }
}

#[test]
fn the_memo_answers_as_a_store_without_one() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let config = proptest::test_runner::Config { cases: 48, failure_persistence: None, ..Default::default() };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let tokens = tokens();
    let case = (prop_oneof![Just(1_usize), Just(2), Just(4_096)], prop::collection::vec(step(), 1..40));
    runner
        .run(&case, |(capacity, steps)| {
            runtime.block_on(async {
                let jwks = jwks_server(vec![jwk("k1", K1_X)]).await;
                let clock = Clock::manual(UNIX_EPOCH + Duration::from_secs(NOW));
                let store = |memo: usize| {
                    JwtStore::builder(&jwks.url, ISSUER)
                        .unwrap()
                        .audience(API)
                        .leeway(Duration::from_secs(5))
                        .refetch_interval(Duration::from_secs(60))
                        .max_key_age(Duration::from_secs(300))
                        .claims_memo(memo)
                        .clock(clock.clone())
                        .build()
                };
                let (remembering, reference) = (store(capacity), store(0));
                for step in &steps {
                    match *step {
                        Step::Present(n, form) => {
                            let (token, claims, kid) = &tokens[n];
                            let presented = present(token, claims, kid, form);
                            let answer = summary(&state(&remembering, &presented).await);
                            prop_assert_eq!(&answer, &summary(&state(&reference, &presented).await));
                            if !matches!(form, Form::Issued) {
                                prop_assert_eq!(answer.as_str(), "unknown", "a forgery: {:?}", form);
                            }
                        }
                        Step::Advance(secs) => {
                            clock.advance(Duration::from_secs(secs));
                        }
                        Step::Publish(published) => {
                            let keys = match published {
                                Published::K1 => vec![jwk("k1", K1_X)],
                                Published::K2 => vec![jwk("k2", K2_X)],
                                Published::Both => vec![jwk("k1", K1_X), jwk("k2", K2_X)],
                            };
                            *jwks.set.lock().unwrap() = json!({ "keys": keys });
                        }
                    }
                }
                Ok(())
            })
        })
        .unwrap();
}

/// The same token, remembered while k1 is published, is refused once the issuer withdrew k1
/// and the store uses the set without it; a store that fetched the same set again keeps
/// answering from memory.
#[tokio::test]
async fn a_remembered_token_is_refused_once_its_key_is_withdrawn() {
    let jwks = jwks_server(vec![jwk("k1", K1_X)]).await;
    let clock = Clock::manual(UNIX_EPOCH + Duration::from_secs(NOW));
    let store = JwtStore::builder(&jwks.url, ISSUER)
        .unwrap()
        .audience(API)
        .max_key_age(Duration::from_secs(300))
        .clock(clock.clone())
        .build();
    let token = sign("k1", K1, &claims(0, 0, 3_600));
    assert!(matches!(state(&store, &token).await, TokenState::Active(_)));
    assert!(matches!(state(&store, &token).await, TokenState::Active(_)), "answered from memory");
    // The same set, fetched again once the first is too old: still the same keys.
    clock.advance(Duration::from_secs(301));
    assert!(matches!(state(&store, &token).await, TokenState::Active(_)));
    // k1 withdrawn: once the set in use is too old, the new one is fetched and the token fails.
    *jwks.set.lock().unwrap() = json!({ "keys": [jwk("k2", K2_X)] });
    assert!(matches!(state(&store, &token).await, TokenState::Active(_)), "the set at hand still has k1");
    clock.advance(Duration::from_secs(301));
    assert!(matches!(state(&store, &token).await, TokenState::Unknown));
    assert!(matches!(state(&store, &token).await, TokenState::Unknown), "and is not remembered");
    assert_eq!(jwks.fetches.load(std::sync::atomic::Ordering::SeqCst), 3);
}
