//! Effective access follows the user: a signed token's scopes are cut to what its user holds
//! now, a removed user is refused at once after an invalidation or within the TTL without one,
//! and a failing source fails closed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http::StatusCode;
use tower_bearer::{
    BearerAuthLayer, Clock, MemoryTokenStore, NewToken, Scopes, StoreError, TokenManager, TokenState,
};
use tower_bearer_jwt::{AccessResolver, EffectiveAccess, KeySet, SignedTokens, SigningKey};
use tower_bearer_test_support::{state, status};

/// The application's directory: what each (user, organization) holds; absent: removed.
#[derive(Clone, Default)]
struct Directory {
    members: Arc<Mutex<HashMap<(String, String), &'static str>>>,
    calls: Arc<AtomicUsize>,
    down: Arc<Mutex<bool>>,
}

impl Directory {
    fn set(&self, user: &str, org: &str, scopes: Option<&'static str>) {
        let mut members = self.members.lock().unwrap();
        match scopes {
            Some(scopes) => members.insert((user.into(), org.into()), scopes),
            None => members.remove(&(user.to_owned(), org.to_owned())),
        };
    }
}

impl AccessResolver for Directory {
    async fn current_scopes(
        &self,
        subject: &str,
        organization: Option<&str>,
    ) -> Result<Option<Scopes>, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if *self.down.lock().unwrap() {
            return Err(StoreError::unavailable("directory down"));
        }
        let key = (subject.to_owned(), organization.unwrap_or_default().to_owned());
        Ok(self.members.lock().unwrap().get(&key).map(|s| Scopes::parse(s)))
    }
}

fn scopes_of(state: &TokenState) -> Vec<String> {
    match state {
        TokenState::Active(p) => p.scopes().iter().map(str::to_owned).collect(),
        other => panic!("expected an active token, got {other:?}"),
    }
}

#[tokio::test]
async fn a_tokens_scopes_follow_what_its_user_holds_now() {
    let clock = Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let directory = Directory::default();
    directory.set("ada", "acme", Some("reports:read reports:write"));
    let access = EffectiveAccess::with_ttl(directory.clone(), Duration::from_secs(10));
    let keys = KeySet::new(SigningKey::hs256("h1", &[9; 32]).unwrap()).unwrap();
    let store = MemoryTokenStore::builder().clock(clock.clone()).build();
    let tokens = SignedTokens::builder(store, keys, "https://auth.example.com", "https://api.example.com")
        .effective_access(access.clone())
        .build();
    let layer = BearerAuthLayer::new(tokens.clone()).require_scopes(["reports:write"]);
    let token = tokens
        .issue(NewToken::for_subject("ada").organization("acme").scopes(["reports:read", "reports:write"]))
        .await
        .unwrap();
    let jwt = token.secret().expose_secret();
    // An opaque key of the same user is not affected.
    let key = tokens
        .store()
        .issue(NewToken::for_subject("ada").organization("acme").scopes(["reports:write"]))
        .await
        .unwrap();

    assert_eq!(status(&layer, jwt).await, StatusCode::OK);
    assert_eq!(scopes_of(&state(&tokens, jwt).await), ["reports:read", "reports:write"]);
    assert_eq!(directory.calls.load(Ordering::SeqCst), 1, "cached for the TTL");

    // Write access withdrawn: seen once the TTL passes.
    directory.set("ada", "acme", Some("reports:read"));
    assert_eq!(status(&layer, jwt).await, StatusCode::OK, "within the TTL");
    clock.advance(Duration::from_secs(11));
    assert_eq!(status(&layer, jwt).await, StatusCode::FORBIDDEN, "the token's scopes are cut to the user's");
    assert_eq!(scopes_of(&state(&tokens, jwt).await), ["reports:read"]);

    // Removed from the organization, with an explicit invalidation: refused at once.
    directory.set("ada", "acme", None);
    access.invalidate("ada", Some("acme"));
    assert!(matches!(state(&tokens, jwt).await, TokenState::Revoked(_)));
    assert_eq!(status(&layer, jwt).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&layer, key.secret().expose_secret()).await, StatusCode::OK);

    // The source failing: closed (503), and the failure is not cached.
    directory.set("ada", "acme", Some("reports:write"));
    *directory.down.lock().unwrap() = true;
    access.invalidate_all();
    assert_eq!(status(&layer, jwt).await, StatusCode::SERVICE_UNAVAILABLE);
    *directory.down.lock().unwrap() = false;
    assert_eq!(status(&layer, jwt).await, StatusCode::OK);
}
