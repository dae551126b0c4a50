//! The claims memo of `SignedTokens`: a token verified once is not verified and read again,
//! and remembering it never lets through what a verifier checking every token afresh would
//! refuse.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use http::StatusCode;
use proptest::prelude::*;
use sha2::Sha256;
use tower_bearer::{
    BearerAuthLayer, Clock, IssuedToken, MemoryTokenStore, NewToken, PresentedToken, TokenManager,
    TokenState, TokenStore,
};
use tower_bearer_jwt::{KeySet, SignedTokens, SigningKey};
use tower_bearer_test_support::reason;

const ISSUER: &str = "https://auth.example.com";
const API: &str = "https://api.example.com";
const OURS: &[u8] = b"the secret this verifier holds!!";
const THEIRS: &[u8] = b"a secret under the same key id!!";

fn keys() -> KeySet {
    KeySet::new(SigningKey::hs256("h1", OURS).unwrap()).unwrap()
}

/// A verifier over `store`, with its own memo (empty) and deny list.
fn verifier(store: &MemoryTokenStore) -> SignedTokens<MemoryTokenStore> {
    SignedTokens::builder(store.clone(), keys(), ISSUER, API).leeway(Duration::ZERO).build()
}

/// `jwt`'s header and payload, signed with `secret`.
fn resigned(jwt: &str, secret: &[u8]) -> String {
    let (signed, _) = jwt.rsplit_once('.').unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// `jwt` with its payload's `scope` widened, its signature kept.
fn widened(jwt: &str) -> String {
    let mut parts = jwt.split('.');
    let (header, payload, signature) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["scope"] = serde_json::json!("reports:read admin");
    format!("{header}.{}.{signature}", URL_SAFE_NO_PAD.encode(claims.to_string()))
}

/// `jwt` with its signature's first character changed (a different signature, still base64url).
fn altered(jwt: &str) -> String {
    let (signed, signature) = jwt.rsplit_once('.').unwrap();
    let first = if signature.starts_with('A') { 'B' } else { 'A' };
    format!("{signed}.{first}{}", &signature[1..])
}

/// `jwt`'s header and payload under `other`'s signature: each part known to the memo, not
/// together.
fn swapped(jwt: &str, other: &str) -> String {
    let (signed, _) = jwt.rsplit_once('.').unwrap();
    let (_, signature) = other.rsplit_once('.').unwrap();
    format!("{signed}.{signature}")
}

#[tokio::test]
async fn a_remembered_token_is_known_by_all_its_bytes() {
    let clock = Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let store = MemoryTokenStore::builder().clock(clock.clone()).build();
    let signed = verifier(&store);
    let jwt = signed
        .issue(
            NewToken::for_subject("ada")
                .scopes(["reports:read"])
                .expires_at(clock.now() + Duration::from_secs(60)),
        )
        .await
        .unwrap()
        .secret()
        .expose_secret()
        .to_owned();
    let layer = BearerAuthLayer::new(signed.clone()).clock(clock.clone());
    assert_eq!(reason(&layer, &jwt).await, (StatusCode::OK, None));
    // The token is remembered now; its payload under any other signature, or its signature
    // over another payload, is another token, checked in full.
    assert_eq!(resigned(&jwt, OURS), jwt, "the test signs as the verifier does");
    for forged in [resigned(&jwt, THEIRS), altered(&jwt), widened(&jwt)] {
        assert_eq!(reason(&layer, &forged).await, (StatusCode::UNAUTHORIZED, Some("unknown_token")));
    }
    assert_eq!(reason(&layer, &jwt).await, (StatusCode::OK, None));
    clock.advance(Duration::from_secs(60));
    assert_eq!(reason(&layer, &jwt).await, (StatusCode::UNAUTHORIZED, Some("expired_token")));
}

/// What a lookup answered, comparably: the state and who it names.
fn answered(state: &TokenState) -> String {
    let (name, principal) = match state {
        TokenState::Active(p) => ("active", Some(p)),
        TokenState::Expired(p) => ("expired", Some(p)),
        TokenState::Revoked(p) => ("revoked", Some(p)),
        TokenState::Unknown => ("unknown", None),
        _ => ("other", None),
    };
    let who = principal.map(|p| {
        format!(
            "{} {:?} {} {:?}",
            p.subject(),
            p.token_id().map(|id| id.as_str()),
            p.scopes(),
            p.expires_at()
        )
    });
    format!("{name} {who:?}")
}

/// A step of a test: a token presented as issued, under another key, with its signature
/// changed, with its scope widened, or under another token's signature; time passing; a
/// token revoked.
#[derive(Clone, Debug)]
enum Step {
    Present { token: usize, form: u8 },
    Advance(u64),
    Revoke(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..3_usize, 0..5_u8).prop_map(|(token, form)| Step::Present { token, form }),
        1 => (1..200_u64).prop_map(Step::Advance),
        1 => (0..3_usize).prop_map(Step::Revoke),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// One verifier keeps its memo (off, smaller than the tokens in use, or the default)
    /// across a sequence of steps; at each presentation a verifier built afresh over the same
    /// store and keys (an empty memo; the store replays the revocations so far) is asked too,
    /// and both answer the same: remembering never admits a forgery, an expired or a revoked
    /// token, and never changes who a token names.
    #[test]
    fn the_memo_answers_as_a_fresh_verifier(
        steps in proptest::collection::vec(step(), 1..40),
        capacity in prop_oneof![Just(0_usize), Just(2), Just(4096)],
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let clock = Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
            let store = MemoryTokenStore::builder().clock(clock.clone()).build();
            // With room for two, three tokens keep the memo full: swept as time passes, and
            // refusing newcomers in between.
            let remembering = SignedTokens::builder(store.clone(), keys(), ISSUER, API)
                .leeway(Duration::ZERO)
                .claims_memo(capacity)
                .build();
            let mut issued = Vec::new();
            for (i, lifetime) in [60_u64, 300, 3600].into_iter().enumerate() {
                let new = NewToken::for_subject(format!("user{i}"))
                    .scopes(["reports:read"])
                    .expires_at(clock.now() + Duration::from_secs(lifetime));
                let token = remembering.issue(new).await.unwrap();
                // Read once, so that the memo holds what it can before the steps.
                let first = remembering.lookup(&PresentedToken::new(token.secret().expose_secret())).await.unwrap();
                prop_assert!(matches!(first, TokenState::Active(_)));
                issued.push(token);
            }
            for step in steps {
                match step {
                    Step::Advance(secs) => {
                        clock.advance(Duration::from_secs(secs));
                    }
                    Step::Revoke(i) => {
                        let token: &IssuedToken = &issued[i];
                        remembering.revoke(token.id()).await.unwrap();
                    }
                    Step::Present { token, form } => {
                        let jwt = issued[token].secret().expose_secret();
                        let presented = match form {
                            0 => jwt.to_owned(),
                            1 => resigned(jwt, THEIRS),
                            2 => altered(jwt),
                            3 => widened(jwt),
                            _ => swapped(jwt, issued[(token + 1) % issued.len()].secret().expose_secret()),
                        };
                        let presented = PresentedToken::new(&presented);
                        let remembered = remembering.lookup(&presented).await.unwrap();
                        let fresh = verifier(&store).lookup(&presented).await.unwrap();
                        prop_assert_eq!(answered(&remembered), answered(&fresh));
                        if form != 0 {
                            prop_assert!(matches!(remembered, TokenState::Unknown));
                        }
                    }
                }
            }
            Ok(())
        })?;
    }
}
