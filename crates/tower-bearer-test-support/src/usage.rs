//! The usage log contract, run against every [`UsageLog`]: the memory one and the SQL store on
//! SQLite and PostgreSQL.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tower_bearer::grant::{Grant, MintRules};
use tower_bearer::manage::usage::{Granularity, UsageCount, UsageLog, UsageOutcome, UsageQuery};
use tower_bearer::{Scopes, TokenId};

fn at(minutes: u64) -> SystemTime {
    // A day boundary: 1_800_000_000 s is 20 833 days and 28 800 s.
    UNIX_EPOCH + Duration::from_secs(1_799_971_200 + minutes * 60)
}

fn count(token: Option<(&str, Option<&str>)>, outcome: UsageOutcome, minutes: u64, n: u64) -> UsageCount {
    UsageCount {
        token_id: token.map(|(id, _)| TokenId::from(id)),
        organization: token.and_then(|(_, org)| org.map(str::to_owned)),
        subject: token.map(|(id, _)| format!("subject of {id}")),
        outcome,
        granularity: Granularity::Minute,
        bucket: at(minutes),
        count: n,
    }
}

fn totals(counts: &[UsageCount]) -> Vec<(Option<&str>, UsageOutcome, u64, u64)> {
    counts
        .iter()
        .map(|c| {
            let minutes = (c.bucket.duration_since(at(0)).unwrap_or_default().as_secs()) / 60;
            (c.token_id.as_ref().map(TokenId::as_str), c.outcome, minutes, c.count)
        })
        .collect()
}

/// The usage log contract, on any empty [`UsageLog`]: counts of several adds (several
/// instances) add up per bucket, token and outcome; reads filter by granularity, range, token,
/// subject and tenant (unknown tokens only for readers of every tenant), in order; a purge
/// drops one granularity's old buckets.
pub async fn usage<L: UsageLog>(log: &L) {
    let ada = Some(("tid_ada", Some("acme")));
    let bob = Some(("tid_bob", Some("umbrella")));
    let solo = Some(("tid_solo", None));
    use UsageOutcome::{Admitted, Revoked, Unknown};
    // Two instances' flushes of the same minutes.
    let first = vec![
        count(ada, Admitted, 0, 5),
        count(ada, Revoked, 0, 1),
        count(None, Unknown, 0, 7),
        count(bob, Admitted, 1, 2),
        count(solo, Admitted, 2, 1),
    ];
    let second = vec![count(ada, Admitted, 0, 3), count(None, Unknown, 0, 1), count(bob, Admitted, 1, 4)];
    log.add_usage(first).await.unwrap();
    log.add_usage(second).await.unwrap();
    log.add_usage(Vec::new()).await.unwrap();
    let mut hour = count(ada, Admitted, 0, 8);
    hour.granularity = Granularity::Hour;
    // A bucket is rounded down to its start.
    hour.bucket = at(13);
    log.add_usage(vec![hour]).await.unwrap();

    let minutes = UsageQuery::new(Granularity::Minute, at(0), at(60));
    let all = log.usage(&minutes).await.unwrap();
    assert_eq!(
        totals(&all),
        vec![
            (None, Unknown, 0, 8),
            (Some("tid_ada"), Admitted, 0, 8),
            (Some("tid_ada"), Revoked, 0, 1),
            (Some("tid_bob"), Admitted, 1, 6),
            (Some("tid_solo"), Admitted, 2, 1),
        ],
        "summed over adds, ordered by bucket, token (unknown first), outcome"
    );
    assert_eq!(all[1].organization.as_deref(), Some("acme"));
    assert_eq!(all[1].subject.as_deref(), Some("subject of tid_ada"));
    assert_eq!(all[0].organization, None);

    let range = UsageQuery::new(Granularity::Minute, at(1), at(2));
    assert_eq!(totals(&log.usage(&range).await.unwrap()), vec![(Some("tid_bob"), Admitted, 1, 6)]);
    let ada_only = minutes.clone().token_id(TokenId::from("tid_ada"));
    assert_eq!(log.usage(&ada_only).await.unwrap().len(), 2);
    let by_subject = minutes.clone().subject("subject of tid_solo");
    assert_eq!(totals(&log.usage(&by_subject).await.unwrap()), vec![(Some("tid_solo"), Admitted, 2, 1)]);
    let umbrella = minutes.clone().organization("umbrella");
    assert_eq!(totals(&log.usage(&umbrella).await.unwrap()), vec![(Some("tid_bob"), Admitted, 1, 6)]);
    // A caller without an organization sees its own counts exactly: no unknown tokens', no
    // other tenant's; an organization's admin, every count of its tenant.
    let rules = MintRules::new();
    let loner = minutes.clone().within(&rules, &Grant::new("subject of tid_solo"));
    assert_eq!(totals(&log.usage(&loner).await.unwrap()), vec![(Some("tid_solo"), Admitted, 2, 1)]);
    let acme_admin =
        Grant::new("root").with_organization("acme").with_scopes(Scopes::parse(rules.admin_scope()));
    let acme = log.usage(&minutes.clone().within(&rules, &acme_admin)).await.unwrap();
    assert_eq!(totals(&acme), vec![(Some("tid_ada"), Admitted, 0, 8), (Some("tid_ada"), Revoked, 0, 1)]);

    let hours = log.usage(&UsageQuery::new(Granularity::Hour, at(0), at(60))).await.unwrap();
    assert_eq!(totals(&hours), vec![(Some("tid_ada"), Admitted, 0, 8)]);

    assert_eq!(log.purge_usage(Granularity::Minute, at(1)).await.unwrap(), 3);
    assert_eq!(log.usage(&minutes).await.unwrap().len(), 2);
    assert_eq!(log.usage(&UsageQuery::new(Granularity::Hour, at(0), at(60))).await.unwrap().len(), 1);
}
