//! The OAuth client registry contract, written against the `ClientRegistry` trait only: the
//! memory registry and the SQL one (SQLite and Postgres) pass the same function.

use std::time::{Duration, SystemTime};

use tower_bearer::Clock;
use tower_bearer_oauth::{ClientRegistry, NewClient};

/// Register, find, verify, rotate with and without grace, replace, remove; `clock` is the
/// registry's, moved to end a grace period.
pub async fn contract<R: ClientRegistry>(registry: &R, clock: &Clock) {
    let now = || clock.now();
    let new = NewClient::new("svc-billing")
        .client_id("billing")
        .allowed_scopes(["invoices:read", "invoices:write"])
        .access_token_ttl(Duration::from_secs(900));
    let first = registry.register(new).await.unwrap();
    assert_eq!(first.client_id, "billing");
    let secret1 = first.client_secret.expose_secret().to_owned();
    assert!(secret1.starts_with("cs_"));

    let record = registry.find("billing").await.unwrap().expect("registered");
    assert_eq!((record.subject.as_str(), record.access_token_ttl), ("svc-billing", Duration::from_secs(900)));
    assert!(record.allowed_scopes.grants("invoices:write"));
    assert!(record.verify(&secret1, now()));
    assert!(!record.verify("cs_wrong", now()));
    assert!(registry.find("nobody").await.unwrap().is_none());

    // With a grace period, both secrets work until it ends.
    let second = registry.rotate_secret("billing", Duration::from_secs(60)).await.unwrap().expect("known");
    let secret2 = second.client_secret.expose_secret().to_owned();
    let record = registry.find("billing").await.unwrap().unwrap();
    assert!(record.verify(&secret2, now()) && record.verify(&secret1, now()));
    clock.advance(Duration::from_secs(61));
    let record = registry.find("billing").await.unwrap().unwrap();
    assert!(record.verify(&secret2, now()) && !record.verify(&secret1, now()));

    // Without one, the old secret stops at once; a rotation drops any older secret.
    let third = registry.rotate_secret("billing", Duration::ZERO).await.unwrap().unwrap();
    let record = registry.find("billing").await.unwrap().unwrap();
    assert!(record.verify(third.client_secret.expose_secret(), now()));
    assert!(!record.verify(&secret2, now()) && !record.verify(&secret1, now()));
    assert!(registry.rotate_secret("nobody", Duration::ZERO).await.unwrap().is_none());

    // Registering an existing id replaces the client, secrets included.
    let replaced = registry.register(NewClient::new("svc-other").client_id("billing")).await.unwrap();
    let record = registry.find("billing").await.unwrap().unwrap();
    assert_eq!(record.subject, "svc-other");
    assert!(record.verify(replaced.client_secret.expose_secret(), now()));
    assert!(!record.verify(third.client_secret.expose_secret(), now()));

    // Random ids, distinct.
    let (a, b) = (
        registry.register(NewClient::new("svc")).await.unwrap(),
        registry.register(NewClient::new("svc")).await.unwrap(),
    );
    assert!(a.client_id.starts_with("client_") && a.client_id != b.client_id);

    assert!(registry.remove("billing").await.unwrap());
    assert!(!registry.remove("billing").await.unwrap());
    assert!(registry.find("billing").await.unwrap().is_none());
    let _ = SystemTime::now();
}
