//! The lifecycle contract, written against the `TokenManager` trait only: every managing
//! store (memory, SQLite, Postgres, and a cache in front of any of them) must pass it. The
//! memory store is the reference: the SQL tests run these same functions on it too.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http::StatusCode;
use tower_bearer::grant::{Grant, MintRules};
use tower_bearer::manage::LifecycleEvent;
use tower_bearer::middleware::InvalidToken;
use tower_bearer::store::StoreErrorKind;
use tower_bearer::{
    AuthError, BearerAuthLayer, ManageError, NewToken, Principal, Scopes, TokenFormat, TokenHash, TokenId,
    TokenManager,
};

use tower_bearer::manage::TokenQuery;
use tower_bearer::manage::audit::{AuditEvent, AuditKind, AuditLog, AuditQuery};

use crate::{is_active, is_revoked, is_unknown, outcome, principal_of, state, status};

/// Application code written against the trait, as it would be for any store (the same
/// function as in `tests/lifecycle.rs`).
pub async fn manage<S: TokenManager>(store: &S) -> Result<(), ManageError> {
    let issued = store.issue(NewToken::for_subject("carol").name("generic")).await?;
    assert_eq!(store.list("carol").await?.len(), 1);
    assert_eq!(store.get(issued.id()).await?.unwrap().principal.token_name(), Some("generic"));
    let rotated = store.rotate(issued.id(), Duration::ZERO).await?;
    assert!(store.get(issued.id()).await?.is_none());
    store.record_usage(rotated.id(), SystemTime::now()).await?;
    assert!(store.get(rotated.id()).await?.unwrap().last_used_at.is_some());
    let reader = Principal::builder("carol").scopes(Scopes::parse("read")).build();
    assert!(store.issue_as(&reader, NewToken::for_subject("carol").scopes(["write"])).await.is_err());
    assert!(store.revoke(rotated.id()).await?);
    assert_eq!(store.purge_expired().await?, 0);
    let spare = store.issue(NewToken::for_subject("carol")).await?;
    assert!(store.delete(spare.id()).await?);
    assert!(store.list("carol").await?.is_empty());
    management_rules(store).await;
    crate::token_model::one_token_model(store).await;
    crate::token_model::grant_round_trip(store).await;
    listing(store).await?;
    Ok(())
}

/// Listing a page at a time: every live token of an organization once, oldest first, through
/// cursors in their text form; filters by subject; revoked tokens left out.
pub async fn listing<S: TokenManager>(store: &S) -> Result<(), ManageError> {
    let mut issued = Vec::new();
    for i in 0..7 {
        let subject = if i % 2 == 0 { "pat" } else { "sam" };
        issued.push(
            store.issue(NewToken::for_subject(subject).organization("paging").name(format!("t{i}"))).await?,
        );
    }
    let revoked = issued.remove(3);
    assert!(store.revoke(revoked.id()).await?);
    let mut seen = Vec::new();
    let mut query = TokenQuery::new().organization("paging").limit(4);
    let mut pages = 0;
    loop {
        let page = store.list_page(&query).await?;
        pages += 1;
        assert!(page.items.len() <= 4);
        seen.extend(page.items.iter().map(|t| t.id.clone()));
        match page.next {
            Some(next) => {
                query = query.after(next.to_string().parse().expect("a cursor the store handed out"))
            }
            None => break,
        }
    }
    let expected: Vec<_> = issued.iter().map(|t| t.id().clone()).collect();
    assert_eq!(seen, expected, "every live token once, oldest first");
    assert_eq!(pages, 2);
    let pat = store.list_page(&TokenQuery::new().organization("paging").subject("pat")).await?;
    assert_eq!(pat.items.len(), 4);
    assert!(pat.next.is_none());
    assert!(pat.items.iter().all(|t| t.principal.subject() == "pat"));
    assert!(store.list_page(&TokenQuery::new().organization("nobody")).await?.items.is_empty());
    for t in &issued {
        store.delete(t.id()).await?;
    }
    Ok(())
}

/// The rules for managing tokens through a token, on any store (security review #11,
/// findings 1, 2 and 5): tenants, superseded tokens, self-rotation, out-of-range arguments.
pub async fn management_rules<S: TokenManager>(store: &S) {
    let admin = store.rules().admin_scope().to_owned();
    let alice_token = |scopes: &[&str]| {
        NewToken::for_subject("rules-alice")
            .organization("acme")
            .scopes(scopes.iter().copied().collect::<Scopes>())
    };

    // A token replaced by a rotation still authenticates during the grace, but manages
    // nothing: not its successor, not itself, not a new token.
    let owner = store.issue(alice_token(&["tokens:write", "x"])).await.unwrap();
    let successor = store.rotate(owner.id(), Duration::from_secs(3600)).await.unwrap();
    let old = principal_of(store, owner.secret().expose_secret()).await;
    assert_eq!(old.replaced_by(), Some(successor.id()));
    assert!(matches!(store.revoke_as(&old, successor.id()).await, Err(ManageError::Superseded)));
    assert!(matches!(store.rotate_as(&old, owner.id(), Duration::ZERO).await, Err(ManageError::Superseded)));
    assert!(matches!(store.issue_as(&old, alice_token(&["x"])).await, Err(ManageError::Superseded)));
    let new = principal_of(store, successor.secret().expose_secret()).await;
    assert_eq!(new.replaced_by(), None, "a successor is not itself replaced");
    assert!(store.revoke_as(&new, owner.id()).await.unwrap(), "the successor ends the grace");

    // A token rotating itself gets a successor that expires no later than it does.
    let expires = store.clock().now() + Duration::from_secs(3600);
    let short = store.issue(alice_token(&["x"]).expires_at(expires)).await.unwrap();
    let short_principal = principal_of(store, short.secret().expose_secret()).await;
    let renewed = store.rotate_as(&short_principal, short.id(), Duration::ZERO).await.unwrap();
    let renewed_expiry = renewed.info().principal.expires_at().unwrap();
    assert!(renewed_expiry <= short_principal.expires_at().unwrap(), "{renewed_expiry:?} past {expires:?}");

    // Tenants: the same organization always; another subject only with the admin scope, held
    // by name (the wildcard does not grant it).
    let alice = principal_of(store, successor.secret().expose_secret()).await;
    let for_bob = NewToken::for_subject("rules-bob").organization("acme").scopes(["x"]);
    assert!(matches!(store.issue_as(&alice, for_bob.clone()).await, Err(ManageError::OtherTenant)));
    let elsewhere = alice_token(&["x"]).organization("evil");
    assert!(matches!(store.issue_as(&alice, elsewhere).await, Err(ManageError::OtherTenant)));
    let wildcard = store.issue(alice_token(&["*"])).await.unwrap();
    let wildcard = principal_of(store, wildcard.secret().expose_secret()).await;
    assert!(matches!(store.issue_as(&wildcard, for_bob.clone()).await, Err(ManageError::OtherTenant)));
    let acme_admin = store
        .issue(NewToken::for_subject("rules-carol").organization("acme").scopes([
            admin.as_str(),
            "x",
            "tokens:write",
        ]))
        .await
        .unwrap();
    let acme_admin = principal_of(store, acme_admin.secret().expose_secret()).await;
    let bobs = store.issue_as(&acme_admin, for_bob).await.expect("an admin issues for another subject");

    // Alice's namesake in another organization, with the same scopes, cannot see her tokens.
    let impostor = store
        .issue(NewToken::for_subject("rules-alice").organization("evil").scopes([
            "tokens:write",
            "x",
            admin.as_str(),
        ]))
        .await
        .unwrap();
    let impostor = principal_of(store, impostor.secret().expose_secret()).await;
    assert!(matches!(store.revoke_as(&impostor, successor.id()).await, Err(ManageError::NotFound(_))));
    assert!(matches!(
        store.rotate_as(&impostor, successor.id(), Duration::ZERO).await,
        Err(ManageError::NotFound(_))
    ));
    assert!(matches!(store.revoke_as(&alice, bobs.id()).await, Err(ManageError::NotFound(_))));
    assert!(store.revoke_as(&acme_admin, bobs.id()).await.unwrap(), "the organization's admin manages bob's");

    // A manager whose token expired since it was admitted manages nothing.
    let lapsed = acme_admin.to_builder().expires_at(store.clock().now() - Duration::from_secs(1)).build();
    assert!(matches!(store.revoke_as(&lapsed, successor.id()).await, Err(ManageError::ManagerExpired)));
    assert!(matches!(store.issue_as(&lapsed, alice_token(&["x"])).await, Err(ManageError::ManagerExpired)));

    // Out-of-range arguments are errors, and leave the store as it was.
    let listed = store.list("rules-alice").await.unwrap().len();
    assert!(matches!(store.rotate(successor.id(), Duration::MAX).await, Err(ManageError::OutOfRange(_))));
    assert!(is_active(&state(store, successor.secret().expose_secret()).await), "the token still works");
    assert_eq!(store.list("rules-alice").await.unwrap().len(), listed, "no token was added");
    let forever = alice_token(&["x"]).expires_in(Duration::MAX);
    assert!(matches!(store.issue(forever).await, Err(ManageError::OutOfRange(_))));
}

/// A lifetime (`NewToken::expires_in`) counts from the store's clock, not the system's, and
/// the expiry `issue_as` checks against its actor is the one issued. `store` must read a clock
/// at least a day behind the system's (a `Clock::manual` in the past).
pub async fn lifetimes_count_from_the_store_clock<S: TokenManager>(store: &S) {
    let now = store.clock().now();
    let behind = SystemTime::now().duration_since(now).unwrap_or_default();
    assert!(behind >= Duration::from_secs(86_400), "the store's clock must be a day behind");
    let hour = Duration::from_secs(3_600);
    let lifetime = |hours| NewToken::for_subject("lifetimes").scopes(["x"]).expires_in(hour * hours);
    // Within what the store keeps of a time (microseconds in SQL, seconds in a JWT).
    let expires_near = |token: &tower_bearer::IssuedToken, at: SystemTime| {
        let expiry = token.info().principal.expires_at().expect("an expiry");
        let apart = expiry.duration_since(at).unwrap_or_else(|e| e.duration());
        assert!(apart < Duration::from_secs(1), "{expiry:?} is not {at:?}");
    };
    let issued = store.issue(lifetime(1)).await.unwrap();
    expires_near(&issued, now + hour);

    // An actor with two hours left, by the store's clock, mints for one and not for three.
    let actor = store
        .issue(NewToken::for_subject("lifetimes").scopes(["x"]).expires_at(now + hour * 2))
        .await
        .unwrap();
    let actor = principal_of(store, actor.secret().expose_secret()).await;
    let minted = store.issue_as(&actor, lifetime(1)).await.unwrap();
    expires_near(&minted, now + hour);
    assert!(matches!(store.issue_as(&actor, lifetime(3)).await, Err(ManageError::OutlivesIssuer)));
}

pub type Events = Arc<Mutex<Vec<LifecycleEvent>>>;

/// A hook recording every lifecycle event, and where it records them.
pub fn recorder() -> (Events, impl Fn(&LifecycleEvent) + Send + Sync + 'static) {
    let events: Events = Arc::default();
    let sink = events.clone();
    (events, move |e: &LifecycleEvent| sink.lock().unwrap().push(e.clone()))
}

/// Every semantic of the memory store, through the trait and the layer. `store` issues
/// tokens of `format` and reports to `events`; `persisted` returns everything the store has
/// persisted, to prove no secret is in it (nothing, for the memory store).
pub async fn semantics<S: TokenManager + Clone>(
    store: S,
    format: &TokenFormat,
    events: &Events,
    persisted: impl AsyncFnOnce() -> Vec<u8>,
) {
    let layer = BearerAuthLayer::new(store.clone()).token_formats([format.clone()]);
    let scoped = BearerAuthLayer::new(store.clone()).require_scopes(["deploy"]);

    // Issue: the secret once, metadata everywhere else.
    let before = SystemTime::now() - Duration::from_millis(1);
    let alice = store
        .issue(
            NewToken::for_subject("alice")
                .organization("acme")
                .name("laptop")
                .kind("personal")
                .scopes(["read", "write"])
                .expires_in(Duration::from_secs(90 * 24 * 3600)),
        )
        .await
        .unwrap();
    let secret = alice.secret().expose_secret().to_owned();
    assert_eq!(format.check(&secret), Ok(()));
    let info = alice.info();
    let p = &info.principal;
    assert_eq!(
        (p.subject(), p.organization(), p.token_name(), p.token_kind(), p.token_id()),
        ("alice", Some("acme"), Some("laptop"), Some("personal"), Some(alice.id()))
    );
    assert_eq!(p.scopes(), &Scopes::parse("read write"));
    assert_eq!(
        info.hint.as_deref(),
        Some(format!("{}…{}", format.prefix(), &secret[secret.len() - 4..]).as_str())
    );
    assert!(info.created_at >= before && info.created_at <= SystemTime::now());
    assert_eq!(info.last_used_at, None);
    assert!(!format!("{alice:?}").contains(&secret));
    let got = store.get(alice.id()).await.unwrap().expect("get finds the live token");
    assert_eq!(
        (got.id.clone(), got.hint.clone(), got.created_at),
        (info.id.clone(), info.hint.clone(), info.created_at)
    );
    assert_eq!(got.principal.expires_at(), p.expires_at());
    assert_eq!(got.principal.scopes(), p.scopes());
    assert!(matches!(&events.lock().unwrap()[..], [LifecycleEvent::Issued(i)] if i.id == *alice.id()));

    // The layer: 200, 401 unknown, 403 scope.
    assert_eq!(status(&layer, &secret).await, StatusCode::OK);
    let unknown = format.generate();
    assert_eq!(
        outcome(&layer, unknown.expose_secret()).await,
        (StatusCode::UNAUTHORIZED, Some(AuthError::InvalidToken(InvalidToken::Unknown)))
    );
    assert!(is_unknown(&state(&store, unknown.expose_secret()).await));
    let (code, why) = outcome(&scoped, &secret).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert!(matches!(why, Some(AuthError::InsufficientScope(_))));

    // Listing: per owner, oldest first, metadata only.
    let deploy = store
        .issue(
            NewToken::for_subject("alice")
                .name("deploy")
                .scopes(["deploy"])
                .expires_in(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    let _bob = store.issue(NewToken::for_subject("bob").name("ci")).await.unwrap();
    let listed = store.list("alice").await.unwrap();
    let names: Vec<_> = listed.iter().map(|i| i.principal.token_name().unwrap()).collect();
    assert_eq!(names, ["laptop", "deploy"]);
    assert_eq!(store.list("bob").await.unwrap().len(), 1);
    assert!(store.list("carol").await.unwrap().is_empty());
    assert_eq!(status(&scoped, deploy.secret().expose_secret()).await, StatusCode::OK);

    // Usage: recorded explicitly, only ever forward.
    let t0 = SystemTime::now();
    store.record_usage(alice.id(), t0 + Duration::from_secs(10)).await.unwrap();
    store.record_usage(alice.id(), t0 - Duration::from_secs(10)).await.unwrap();
    let used = store.get(alice.id()).await.unwrap().unwrap().last_used_at.unwrap();
    assert!(used >= t0 + Duration::from_secs(10) - Duration::from_millis(1), "{used:?} {t0:?}");
    assert!(used <= t0 + Duration::from_secs(10));

    // Rotation without grace: the old token is revoked in the same step.
    let rotated = store.rotate(deploy.id(), Duration::ZERO).await.unwrap();
    assert_ne!(rotated.id(), deploy.id());
    assert_ne!(rotated.secret().expose_secret(), deploy.secret().expose_secret());
    let n = &rotated.info().principal;
    assert_eq!(
        (n.subject(), n.token_name(), n.scopes()),
        ("alice", Some("deploy"), &Scopes::parse("deploy"))
    );
    let lifetime = n.expires_at().unwrap().duration_since(rotated.info().created_at).unwrap();
    assert!(lifetime.abs_diff(Duration::from_secs(3600)) < Duration::from_secs(2), "{lifetime:?}");
    assert_eq!(
        outcome(&scoped, deploy.secret().expose_secret()).await,
        (StatusCode::UNAUTHORIZED, Some(AuthError::InvalidToken(InvalidToken::Revoked)))
    );
    assert!(is_revoked(&state(&store, deploy.secret().expose_secret()).await));
    assert_eq!(status(&scoped, rotated.secret().expose_secret()).await, StatusCode::OK);
    assert!(store.get(deploy.id()).await.unwrap().is_none());
    assert!(matches!(
        events.lock().unwrap().last(),
        Some(LifecycleEvent::Rotated { old, new, grace }) if old == deploy.id() && new.id == *rotated.id() && grace.is_zero()
    ));
    assert!(matches!(store.rotate(deploy.id(), Duration::ZERO).await, Err(ManageError::NotFound(_))));

    // Rotation with grace: both work for the grace, then the old one has expired.
    let graced = store.rotate(rotated.id(), Duration::from_millis(600)).await.unwrap();
    assert_eq!(status(&scoped, rotated.secret().expose_secret()).await, StatusCode::OK);
    assert_eq!(status(&scoped, graced.secret().expose_secret()).await, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        outcome(&scoped, rotated.secret().expose_secret()).await,
        (StatusCode::UNAUTHORIZED, Some(AuthError::InvalidToken(InvalidToken::Expired)))
    );
    assert_eq!(status(&scoped, graced.secret().expose_secret()).await, StatusCode::OK);

    // Revoke: at once, once, audited.
    assert!(store.revoke(alice.id()).await.unwrap());
    assert!(!store.revoke(alice.id()).await.unwrap(), "a second revoke finds nothing live");
    assert_eq!(
        outcome(&layer, &secret).await,
        (StatusCode::UNAUTHORIZED, Some(AuthError::InvalidToken(InvalidToken::Revoked)))
    );
    assert!(matches!(events.lock().unwrap().last(), Some(LifecycleEvent::Revoked(i)) if i.id == *alice.id()));
    assert!(!store.delete(alice.id()).await.unwrap(), "a revoked token is not live: nothing to delete");
    assert_eq!(store.list("alice").await.unwrap().len(), 2, "the rotated-with-grace pair");

    // Delete: without a trace.
    let spare = store.issue(NewToken::for_subject("alice").name("spare")).await.unwrap();
    assert!(store.delete(spare.id()).await.unwrap());
    assert!(is_unknown(&state(&store, spare.secret().expose_secret()).await));
    assert!(matches!(events.lock().unwrap().last(), Some(LifecycleEvent::Deleted(i)) if i.id == *spare.id()));

    // Expiry and purge.
    let past = SystemTime::now() - Duration::from_secs(1);
    let expired = store.issue(NewToken::for_subject("dave").expires_at(past)).await.unwrap();
    assert_eq!(
        outcome(&layer, expired.secret().expose_secret()).await,
        (StatusCode::UNAUTHORIZED, Some(AuthError::InvalidToken(InvalidToken::Expired)))
    );
    // The grace-expired old token and this one.
    assert_eq!(store.purge_expired().await.unwrap(), 2);
    assert_eq!(store.purge_expired().await.unwrap(), 0);
    assert!(store.get(expired.id()).await.unwrap().is_none());
    assert!(is_unknown(&state(&store, expired.secret().expose_secret()).await));
    assert!(matches!(
        events.lock().unwrap().last(),
        Some(LifecycleEvent::ExpiredPurged(infos)) if infos.len() == 2 && infos.iter().any(|i| i.id == *expired.id())
    ));

    // Issuing through a principal: never more than it holds.
    let reader = Principal::builder("alice").scopes(Scopes::parse("tokens:read")).build();
    assert!(matches!(
        store.issue_as(&reader, NewToken::for_subject("alice").scopes(["tokens:write"])).await,
        Err(ManageError::ScopeNotHeld(s)) if s == "tokens:write"
    ));

    // Whatever the store persisted holds no secret it issued.
    let dump = persisted().await;
    for s in [
        &secret,
        deploy.secret().expose_secret(),
        rotated.secret().expose_secret(),
        graced.secret().expose_secret(),
    ] {
        assert!(!contains(&dump, s.as_bytes()), "a token secret reached the store's storage");
    }
    let dump = format!("{:?}", events.lock().unwrap());
    assert!(!dump.contains(&secret) && !dump.contains(&TokenHash::of(&secret).to_hex()));
    assert!(is_active(&state(&store, graced.secret().expose_secret()).await));
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The store failed: the layer answers 503 with the store's error kind.
pub fn is_unavailable(outcome: &(StatusCode, Option<AuthError>)) -> bool {
    outcome.0 == StatusCode::SERVICE_UNAVAILABLE
        && matches!(
            outcome.1,
            Some(AuthError::StoreUnavailable(StoreErrorKind::Unavailable | StoreErrorKind::Timeout))
        )
}

/// The audit log contract, on any empty [`AuditLog`]: appended in order, read a page at a
/// time through positions, filtered by token, kind and tenant, purged by time.
pub async fn audit_log<L: AuditLog>(log: &L) {
    use std::time::UNIX_EPOCH;

    let at = |s: u64| UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s);
    let events: Vec<AuditEvent> = (0..30)
        .map(|i| {
            let kind = if i % 3 == 0 { AuditKind::Rejected } else { AuditKind::Authenticated };
            let principal = Principal::builder(if i % 2 == 0 { "ann" } else { "bob" })
                .organization(if i < 20 { "acme" } else { "umbrella" })
                .token_id(format!("tid_audit{}", i % 4))
                .build();
            let mut e = AuditEvent::new(kind, at(i)).with_principal(&principal);
            e.method = Some("GET".into());
            e.path = Some(format!("/v1/things/{i}"));
            if kind == AuditKind::Rejected {
                e.status = Some(401);
                e.reason = Some("revoked_token".into());
            }
            e
        })
        .collect();
    log.append(events[..10].to_vec()).await.unwrap();
    log.append(events[10..].to_vec()).await.unwrap();

    let mut seen = Vec::new();
    let mut query = AuditQuery::new().limit(7);
    loop {
        let page = log.audit_page(&query).await.unwrap();
        assert!(page.items.len() <= 7);
        seen.extend(page.items);
        match page.next {
            Some(next) => query = query.after(next),
            None => break,
        }
    }
    assert!(seen.windows(2).all(|w| w[0].seq < w[1].seq), "positions increase");
    assert_eq!(
        seen.iter().map(|r| r.event.clone()).collect::<Vec<_>>(),
        events,
        "everything, in order, intact"
    );

    let rejected_of_tid0 = AuditQuery::new().token_id(TokenId::from("tid_audit0")).kind(AuditKind::Rejected);
    let page = log.audit_page(&rejected_of_tid0).await.unwrap();
    let paths: Vec<_> = page.items.iter().map(|r| r.event.path.clone().unwrap()).collect();
    assert_eq!(paths, ["/v1/things/0", "/v1/things/12", "/v1/things/24"]);
    let umbrella = AuditQuery::new().organization("umbrella").subject("bob");
    assert_eq!(log.audit_page(&umbrella).await.unwrap().items.len(), 5);
    // A caller without an organization reads the events of its tenant exactly: none of
    // acme's or umbrella's (issue 21: `None` used to mean any organization).
    let rules = MintRules::new();
    let loner = Grant::new("bob");
    assert!(log.audit_page(&AuditQuery::new().within(&rules, &loner)).await.unwrap().items.is_empty());
    let acme_admin =
        Grant::new("root").with_organization("acme").with_scopes(Scopes::parse(rules.admin_scope()));
    assert_eq!(
        log.audit_page(&AuditQuery::new().within(&rules, &acme_admin).limit(100)).await.unwrap().items.len(),
        20
    );

    assert_eq!(log.purge_audit(at(25)).await.unwrap(), 25);
    let left = log.audit_page(&AuditQuery::new()).await.unwrap();
    assert_eq!(left.items.len(), 5);
    assert_eq!(left.items[0].event, events[25]);
}
