//! The one token model on a store (issue 21), part of the lifecycle contract: every attribute
//! of a grant stored and read back, and the rules of `MintRules::decide` through the
//! `TokenManager::*_as` operations.

use std::time::Duration;

use tower_bearer::manage::TokenQuery;
use tower_bearer::{Credits, Grant, ManageError, NewToken, RateLimit, TokenManager};

use crate::principal_of;

/// What a token grants, stored and read back: every attribute of
/// [`Grant::every_attribute_example`] survives issuing, the lookup, `get`, listing and
/// rotation (whose successor differs only in its expiry).
pub async fn grant_round_trip<S: TokenManager>(store: &S) {
    let grant = Grant::every_attribute_example();
    let issued = store.issue(NewToken::for_grant(grant.clone()).name("every attribute")).await.unwrap();
    assert_eq!(issued.info().principal.grant(), &grant, "issued");
    let looked_up = principal_of(store, issued.secret().expose_secret()).await;
    assert_eq!(looked_up.grant(), &grant, "looked up");
    assert_eq!(looked_up.token_name(), Some("every attribute"));
    assert_eq!(store.get(issued.id()).await.unwrap().unwrap().principal.grant(), &grant, "get");
    let page = store.list_page(&TokenQuery::new().organization("org_every")).await.unwrap();
    assert_eq!(page.items.iter().map(|t| t.principal.grant()).collect::<Vec<_>>(), [&grant], "listed");
    let rotated = store.rotate(issued.id(), Duration::ZERO).await.unwrap();
    let successor = principal_of(store, rotated.secret().expose_secret()).await;
    assert_eq!(successor.grant(), &grant.clone().with_expiry(successor.expires_at()), "rotated");
    assert!(store.delete(rotated.id()).await.unwrap());
}

/// The one token model on a store (issue 21): a wildcard key is no admin, rotation mints
/// within the rotator, a missing organization is a tenant of its own, reserved kinds are not
/// minted through a token.
pub async fn one_token_model<S: TokenManager>(store: &S) {
    let admin = store.rules().admin_scope().to_owned();
    let issue = async |new: NewToken| {
        let issued = store.issue(new).await.unwrap();
        (principal_of(store, issued.secret().expose_secret()).await, issued.id().clone())
    };
    let ada =
        |scopes: &[&str]| NewToken::for_subject("model-ada").organization("model").scopes(scopes.to_vec());

    // Finding 1: `*` does not mint the admin scope, nor act on a token holding it.
    let (wildcard, _) = issue(ada(&["*"])).await;
    let escalate = ada(&[admin.as_str(), "*"]);
    assert!(
        matches!(store.issue_as(&wildcard, escalate).await, Err(ManageError::ScopeNotHeld(s)) if s == admin)
    );
    let (_, owner_admin) = issue(ada(&[admin.as_str()])).await;
    assert!(matches!(
        store.rotate_as(&wildcard, &owner_admin, Duration::ZERO).await,
        Err(ManageError::ScopeNotHeld(s)) if s == admin
    ));
    assert!(matches!(store.revoke_as(&wildcard, &owner_admin).await, Err(ManageError::ScopeNotHeld(_))));

    // Finding 2: a restricted key does not rotate an unrestricted sibling into its hands.
    let limit = RateLimit::per_second(10).unwrap();
    let restricted = ada(&["*"]).audience(["https://api"]).rate_limit(limit).credits(Credits::new(100));
    let (restricted, _) = issue(restricted).await;
    let (_, sibling) = issue(ada(&["read"])).await;
    assert!(matches!(
        store.rotate_as(&restricted, &sibling, Duration::ZERO).await,
        Err(ManageError::LooserLimits("audience"))
    ));
    assert!(store.get(&sibling).await.unwrap().is_some(), "the refused rotation changed nothing");

    // Finding 4: no organization lists only its own subject's tokens without one.
    let (loner, loner_id) = issue(NewToken::for_subject("model-ada").scopes(["*", admin.as_str()])).await;
    let everything = TokenQuery::new();
    let seen = store.list_page_as(&loner, everything).await.unwrap();
    assert_eq!(seen.items.iter().map(|t| &t.id).collect::<Vec<_>>(), [&loner_id]);
    assert!(matches!(store.revoke_as(&loner, &sibling).await, Err(ManageError::NotFound(_))));
    let (admin_p, _) = issue(ada(&[admin.as_str(), "*"])).await;
    let org_page = store.list_page_as(&admin_p, TokenQuery::new()).await.unwrap();
    assert!(org_page.items.iter().all(|t| t.principal.organization() == Some("model")));
    assert!(org_page.items.len() >= 5);

    // Finding 5: kinds the OAuth endpoints rely on are not minted through a token.
    let posing = ada(&["read"]).kind("oauth_access").name("client-1");
    assert!(matches!(store.issue_as(&admin_p, posing).await, Err(ManageError::ReservedKind(_))));

    for t in store.list_page(&TokenQuery::new().organization("model")).await.unwrap().items {
        store.delete(&t.id).await.unwrap();
    }
    store.delete(&loner_id).await.unwrap();
}
