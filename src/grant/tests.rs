//! The one rule, by example (each finding of issue 21 that it decides) and by property: no
//! path widens a grant, checked against an oracle written in terms of what a token can *do*
//! (which requests it is admitted for, how many, until when), not of how `decide` compares.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;

use super::*;
use crate::token::id::TokenId;

const ADMIN: &str = "tokens:admin";

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn now() -> SystemTime {
    at(1_000)
}

fn actor(grant: &Grant) -> Actor<'_> {
    Actor { grant, token_id: None, superseded: false }
}

fn acme(subject: &str, scopes: &str) -> Grant {
    Grant::new(subject).with_organization("acme").with_scopes(Scopes::parse(scopes))
}

fn per(n: u32, secs: u64) -> RateLimit {
    RateLimit::new(n, Duration::from_secs(secs)).unwrap()
}

#[test]
fn a_wildcard_key_is_not_an_admin() {
    // Issue 21, finding 1: `*` minted `["tokens:admin", "*"]`, then managed others' tokens.
    let rules = MintRules::new();
    let wildcard = acme("ada", "*");
    let escalated = acme("ada", "tokens:admin *");
    assert_eq!(
        rules.decide(actor(&wildcard), Action::Mint(&escalated), now()),
        Err(Refusal::ScopeNotHeld(ADMIN.into()))
    );
    assert!(!rules.is_admin(&wildcard));
    assert_eq!(rules.visibility(&wildcard).subject, Some("ada"));
    // Nor can it mint for another subject, or act on the owner's admin key.
    assert_eq!(
        rules.decide(actor(&wildcard), Action::Mint(&acme("bob", "read")), now()),
        Err(Refusal::OtherTenant)
    );
    let owner_admin = acme("ada", "tokens:admin");
    let id = TokenId::from("tid_admin");
    let successor = owner_admin.clone();
    for action in [
        Action::Manage { id: &id, target: &owner_admin },
        Action::Rotate { id: &id, target: &owner_admin, successor: &successor },
    ] {
        assert_eq!(rules.decide(actor(&wildcard), action, now()), Err(Refusal::ScopeNotHeld(ADMIN.into())));
    }
    // `*` still covers ordinary scopes, and an admin holds its scope by name.
    assert_eq!(rules.decide(actor(&wildcard), Action::Mint(&acme("ada", "invoices:read")), now()), Ok(()));
    let admin = acme("ada", "tokens:admin *");
    assert_eq!(rules.decide(actor(&admin), Action::Mint(&acme("bob", "tokens:admin")), now()), Ok(()));
}

#[test]
fn rotating_mints_within_the_rotator() {
    // Finding 2: a restricted key rotated an unrestricted sibling and received its secret.
    let rules = MintRules::new();
    let restricted = acme("ada", "*")
        .with_audience(["https://api"])
        .with_rate_limit(per(10, 1))
        .with_credits(Credits::new(100));
    let sibling = acme("ada", "read");
    let id = TokenId::from("tid_sibling");
    let refused = rules.decide(
        actor(&restricted),
        Action::Rotate { id: &id, target: &sibling, successor: &sibling },
        now(),
    );
    assert_eq!(refused, Err(Refusal::Looser("audience")));
    // Revoking it is fine: revocation hands out nothing.
    assert_eq!(rules.decide(actor(&restricted), Action::Manage { id: &id, target: &sibling }, now()), Ok(()));
}

#[test]
fn no_organization_is_a_tenant_of_its_own() {
    // Finding 4: a caller without an organization listed and acted on every organization's.
    let rules = MintRules::new();
    let loner = Grant::new("ada").with_scopes(Scopes::parse("* tokens:admin"));
    let visible = rules.visibility(&loner);
    assert_eq!(
        visible,
        Visibility { organization: None, subject: Some("ada") },
        "no admin without an organization"
    );
    let acme_token = acme("ada", "read");
    let id = TokenId::from("tid_acme");
    assert_eq!(
        rules.decide(actor(&loner), Action::Manage { id: &id, target: &acme_token }, now()),
        Err(Refusal::NotFound(id.clone()))
    );
    assert_eq!(rules.decide(actor(&loner), Action::Mint(&acme_token), now()), Err(Refusal::OtherTenant));
    assert_eq!(
        rules.decide(actor(&loner), Action::Mint(&Grant::new("bob")), now()),
        Err(Refusal::OtherTenant),
        "the admin scope reaches other subjects only within an organization"
    );
}

#[test]
fn kinds_change_only_to_no_looser_ones_and_reserved_kinds_are_not_minted() {
    // Finding 5: a key limited by its kind's default minted an unlimited key of another kind.
    let defaults = DefaultLimits::none().for_kind("trial", per(10, 60));
    let rules = MintRules::new().with_default_limits(defaults);
    let trial = acme("ada", "read").with_kind("trial");
    for new in [
        acme("ada", "read").with_kind("pro"),
        acme("ada", "read"),
        acme("ada", "read").with_rate_limit(per(11, 60)),
    ] {
        assert_eq!(
            rules.decide(actor(&trial), Action::Mint(&new), now()),
            Err(Refusal::Looser("rate_limit")),
            "{new:?}"
        );
    }
    for new in [
        acme("ada", "read").with_kind("trial"),
        acme("ada", "read").with_kind("pro").with_rate_limit(per(5, 60)),
    ] {
        assert_eq!(rules.decide(actor(&trial), Action::Mint(&new), now()), Ok(()), "{new:?}");
    }
    // OAuth access tokens come from the OAuth endpoints only: a token cannot pose as a client's.
    let admin = acme("ada", "* tokens:admin");
    let posing = acme("ada", "read").with_kind("oauth_access");
    assert_eq!(
        rules.decide(actor(&admin), Action::Mint(&posing), now()),
        Err(Refusal::ReservedKind("oauth_access".into()))
    );
    let custom = MintRules::new().reserve_kind("session");
    assert!(custom.is_reserved("session") && custom.is_reserved("oauth_access"));
}

#[test]
fn expiry_limits_and_state_bound_every_action() {
    let rules = MintRules::new();
    let soon = acme("ada", "*").with_expires_at(at(2_000));
    assert_eq!(
        rules.decide(actor(&soon), Action::Mint(&acme("ada", "r")), now()),
        Err(Refusal::OutlivesActor)
    );
    let later = acme("ada", "r").with_expires_at(at(2_001));
    assert_eq!(rules.decide(actor(&soon), Action::Mint(&later), now()), Err(Refusal::OutlivesActor));
    assert_eq!(
        rules.decide(actor(&soon), Action::Mint(&later.clone().with_expires_at(at(2_000))), now()),
        Ok(())
    );
    assert_eq!(rules.decide(actor(&soon), Action::List, at(2_000)), Err(Refusal::Expired));
    let replaced = Actor { grant: &soon, token_id: None, superseded: true };
    assert_eq!(
        rules.decide(replaced, Action::Mint(&acme("ada", "r").with_expires_at(at(1_500))), now()),
        Err(Refusal::Superseded)
    );
    assert_eq!(rules.decide(replaced, Action::List, now()), Ok(()), "a replaced token still reads");
    let metered = acme("ada", "*").with_rate_limit(per(10, 1)).with_credits(Credits::new(100));
    for (new, what) in [
        (acme("ada", "r").with_credits(Credits::new(1)), "rate_limit"),
        (acme("ada", "r").with_rate_limit(per(20, 1)), "rate_limit"),
        (acme("ada", "r").with_rate_limit(per(10, 2)).with_credits(Credits::new(101)), "credits"),
        (
            acme("ada", "r")
                .with_rate_limit(per(5, 1))
                .with_credits(Credits::new(1).refilled(1, Duration::from_secs(60))),
            "credits",
        ),
    ] {
        assert_eq!(rules.decide(actor(&metered), Action::Mint(&new), now()), Err(Refusal::Looser(what)));
    }
    let itself = TokenId::from("tid_self");
    let me = Actor { grant: &soon, token_id: Some(&itself), superseded: false };
    assert_eq!(rules.decide(me, Action::Manage { id: &itself, target: &soon }, now()), Ok(()));
}

#[test]
fn terms_are_shared_by_clones_and_copied_on_change() {
    let a = Grant::new("u").with_organization("o").with_kind("k");
    let b = a.clone().with_subject("v");
    assert!(a.shares_terms_with(&b));
    let c = b.clone().with_kind("other");
    assert!(!b.shares_terms_with(&c));
    assert_eq!((a.kind(), c.kind(), c.organization()), (Some("k"), Some("other"), Some("o")));
    assert!(Grant::new("u").shares_terms_with(&Grant::new("v")));
}

#[test]
fn the_inline_part_stays_small() {
    assert!(std::mem::size_of::<Grant>() <= 40, "{}", std::mem::size_of::<Grant>());
}

#[test]
fn the_every_attribute_example_sets_every_attribute() {
    let example = Grant::every_attribute_example();
    // No `..`: a new attribute does not compile here until the example sets it.
    let Grant { subject, expires_at, terms } = &example;
    let Terms { organization, scopes, kind, audience, rate_limit, credits, confirmation } =
        &**terms.as_ref().unwrap();
    assert!(!subject.is_empty() && expires_at.is_some() && !scopes.is_empty() && confirmation.is_some());
    assert!(organization.is_some() && kind.is_some() && audience.len() > 1);
    assert!(rate_limit.is_some() && credits.is_some_and(|c| c.refill().is_some()));
}

// ---- properties ----

const SCOPES: [&str; 4] = ["read", "write", ADMIN, "*"];
const RESOURCES: [&str; 2] = ["https://a", "https://b"];
const KINDS: [Option<&str>; 4] = [None, Some("trial"), Some("pro"), Some("oauth_access")];
/// Thumbprints of the keys a token may be bound to; `None` is a plain bearer token.
const KEYS: [Option<&str>; 3] = [None, Some("jkt-one"), Some("jkt-two")];

fn grants() -> impl Strategy<Value = Grant> {
    (
        0..2_usize,
        0..3_usize,
        proptest::bits::u8::masked(0b1111),
        proptest::bits::u8::masked(0b11),
        proptest::option::of(1_000_u64..1_004),
        0..KINDS.len(),
        proptest::option::of((1_u32..4, 1_u64..3)),
        proptest::option::of((0_u64..3, proptest::option::of((0_u64..3, 1_u64..3)))),
        0..KEYS.len(),
    )
        .prop_map(|(subject, org, scopes, audience, expires, kind, limit, credits, key)| {
            let mut g = Grant::new(["ada", "bob"][subject])
                .with_scopes(
                    SCOPES
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| scopes & (1 << i) != 0)
                        .map(|(_, s)| *s)
                        .collect::<Scopes>(),
                )
                .with_expiry(expires.map(at));
            if let Some(org) = [None, Some("acme"), Some("initech")][org] {
                g = g.with_organization(org);
            }
            let aud: Vec<&str> = RESOURCES
                .iter()
                .enumerate()
                .filter(|(i, _)| audience & (1 << i) != 0)
                .map(|(_, r)| *r)
                .collect();
            if !aud.is_empty() {
                g = g.with_audience(aud);
            }
            if let Some(kind) = KINDS[kind] {
                g = g.with_kind(kind);
            }
            if let Some((n, secs)) = limit {
                g = g.with_rate_limit(per(n, secs));
            }
            if let Some((initial, refill)) = credits {
                let c = Credits::new(initial);
                g = g.with_credits(match refill {
                    Some((amount, secs)) => c.refilled(amount, Duration::from_secs(secs)),
                    None => c,
                });
            }
            if let Some(jkt) = KEYS[key] {
                g = g.with_confirmation(jkt);
            }
            g
        })
}

fn defaults() -> impl Strategy<Value = DefaultLimits> {
    (proptest::option::of((1_u32..4, 1_u64..3)), proptest::option::of((1_u32..4, 1_u64..3))).prop_map(
        |(trial, others)| {
            let mut d = DefaultLimits::none();
            if let Some((n, s)) = trial {
                d = d.for_kind("trial", per(n, s));
            }
            if let Some((n, s)) = others {
                d = d.for_others(per(n, s));
            }
            d
        },
    )
}

/// Whether a token of `g` is admitted by a layer requiring `scope` for `resource` at `t`,
/// presented by a client holding the key `holder` (or none).
fn admitted(g: &Grant, scope: &str, resource: &str, t: SystemTime, holder: Option<&str>) -> bool {
    g.scopes().grants(scope)
        && (g.audience().len() == 0 || g.is_for(resource))
        && !g.is_expired_at(t)
        && g.confirmation().is_none_or(|bound| Some(bound) == holder)
}

/// The most requests a token can make in `window` under `limit` (GCRA: a burst of
/// `requests`, then one per interval); `u128::MAX` for no limit.
fn most_requests(limit: Option<RateLimit>, window: Duration) -> u128 {
    limit.map_or(u128::MAX, |l| {
        u128::from(l.requests()) + window.as_nanos() / (l.period() / l.requests()).as_nanos()
    })
}

/// The most credits a plan yields over `periods` seconds; `u128::MAX` for no plan.
fn most_credits(credits: Option<Credits>, secs: u64) -> u128 {
    credits.map_or(u128::MAX, |c| {
        let refills = c
            .refill()
            .map_or(0, |(amount, every)| u128::from(amount) * u128::from(secs / every.as_secs().max(1)));
        u128::from(c.initial()) + refills
    })
}

/// Everything `new` can do, `actor` can do: the oracle, by enumeration of what is observable.
fn can_do_no_more(new: &Grant, actor: &Grant, rules: &MintRules) -> Result<(), String> {
    if new.organization() != actor.organization() {
        return Err("tenant".into());
    }
    if new.subject() != actor.subject() && !(actor.organization().is_some() && actor.scopes().contains(ADMIN))
    {
        return Err("subject".into());
    }
    for held_by_name in [ADMIN, "*"] {
        if new.scopes().contains(held_by_name) && !actor.scopes().contains(held_by_name) {
            return Err(format!("{held_by_name} without holding it by name"));
        }
    }
    for t in [999, 1_000, 1_001, 1_002, 1_003, 1_004, 5_000].map(at) {
        for scope in SCOPES.iter().copied().chain(["other"]) {
            for resource in RESOURCES.iter().copied().chain(["https://c"]) {
                for holder in KEYS {
                    if admitted(new, scope, resource, t, holder)
                        && !admitted(actor, scope, resource, t, holder)
                    {
                        return Err(format!(
                            "admitted for {scope} on {resource} at {t:?} held by {holder:?}"
                        ));
                    }
                }
            }
        }
    }
    let limits = rules.default_limits();
    for window in [0, 1, 7, 3_600].map(Duration::from_secs) {
        if most_requests(limits.effective(new), window) > most_requests(limits.effective(actor), window) {
            return Err(format!("more requests in {window:?}"));
        }
    }
    for secs in [0, 1, 2, 6, 3_600] {
        if most_credits(new.credits(), secs) > most_credits(actor.credits(), secs) {
            return Err(format!("more credits over {secs} s"));
        }
    }
    if new.kind().is_some_and(|k| rules.is_reserved(k)) {
        return Err("reserved kind".into());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    /// No mint widens: whatever `decide` allows, the new token can do no more than its issuer.
    #[test]
    fn no_mint_widens_a_grant(issuer in grants(), new in grants(), d in defaults()) {
        let rules = MintRules::new().with_default_limits(d);
        if rules.decide(actor(&issuer), Action::Mint(&new), now()).is_ok() {
            prop_assert_eq!(can_do_no_more(&new, &issuer, &rules), Ok(()));
        }
    }

    /// Nor does a rotation: the secret handed out does no more than the rotator, and the
    /// rotated token is the rotator's own or within its reach.
    #[test]
    fn no_rotation_widens_a_grant(rotator in grants(), target in grants(), d in defaults(), renew in 0_u64..3) {
        let rules = MintRules::new().with_default_limits(d);
        let id = TokenId::from("tid_target");
        let successor = target.clone().with_expiry(target.expires_at().map(|t| t + Duration::from_secs(renew)));
        let action = Action::Rotate { id: &id, target: &target, successor: &successor };
        if rules.decide(actor(&rotator), action, now()).is_ok() {
            prop_assert_eq!(can_do_no_more(&successor, &rotator, &rules), Ok(()));
            prop_assert_eq!(target.organization(), rotator.organization());
        }
    }

    /// The rule is not vacuous: an expired actor does nothing, and a current one may always
    /// mint a copy of itself (unless of a reserved kind).
    #[test]
    fn a_current_token_may_copy_itself(issuer in grants(), d in defaults()) {
        let rules = MintRules::new().with_default_limits(d);
        let decided = rules.decide(actor(&issuer), Action::Mint(&issuer), now());
        if issuer.is_expired_at(now()) {
            prop_assert_eq!(decided, Err(Refusal::Expired));
        } else if let Some(kind) = issuer.kind().filter(|k| rules.is_reserved(k)) {
            prop_assert_eq!(decided, Err(Refusal::ReservedKind(kind.to_owned())));
        } else {
            prop_assert_eq!(decided, Ok(()));
        }
    }

    /// Acting on a token of another tenant never succeeds, and never says why.
    #[test]
    fn no_tenant_acts_on_another(a in grants(), target in grants()) {
        let rules = MintRules::new();
        let id = TokenId::from("tid_x");
        let decided = rules.decide(actor(&a), Action::Manage { id: &id, target: &target }, now());
        if a.organization() != target.organization() && !a.is_expired_at(now()) {
            prop_assert_eq!(decided, Err(Refusal::NotFound(id.clone())));
        }
        let v = rules.visibility(&a);
        prop_assert_eq!(v.organization, a.organization());
        prop_assert!(v.subject.is_some() || (a.organization().is_some() && a.scopes().contains(ADMIN)));
    }
}
