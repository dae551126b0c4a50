//! Revocation through faults (issue 24): six instances on one throwaway PostgreSQL, each with
//! its own pool, its own cache (an hour's positive TTL, so only the push can end an entry) and
//! its own listener, under continuous load while one of them revokes a token every 10 ms.
//! Phases: steady state, a database restart, every listener's connection terminated, a server
//! stopped for two seconds. For each phase the test prints how long revocations took to reach
//! the other instances, and every admission of a request that started after the revoke had
//! returned (a late admission).
//!
//! The table's columns, per phase (a revocation belongs to the phase in which `revoke`
//! returned): `propagation`, over the (other instance, revoked token) pairs, from the revoke's
//! return to the start of the first refused request after which that instance admitted the
//! token no more (a 503 counts as refused: it admits nothing); `late`, the pairs with a late
//! admission, how many such requests, and the latest one's start after the revoke; `503s`;
//! `down`, the answer time of requests made while the server was stopped; `recovery`, from
//! `pg_ctl start` returning to the slowest instance's first admission; `relisten`, from the
//! fault to the last listener subscribed again (0 when they were back before `pg_ctl`
//! returned).
//!
//! The figures are printed, not asserted tightly: a loaded two-core CI machine would make a
//! tight bound flake. What is asserted: every revoked token ends up refused by every instance,
//! no late admission comes a second or more after the revoke, and nothing panics.
#![cfg(feature = "postgres")]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use http::StatusCode;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use tower_bearer::{IssuedToken, NewToken, TokenManager};
use tower_bearer_test_support::pg::PgCluster;

use super::instances::{Instance, cluster, until};

const INSTANCES: usize = 6;
/// Enough for one revocation every `REVOKE_EVERY` through all the phases.
const TOKENS: usize = 1500;
const REVOKE_EVERY: Duration = Duration::from_millis(10);
/// Tokens of the rotation each instance asks for per millisecond: the whole set every 300 ms,
/// so that each token is in every instance's cache when it is revoked.
const PER_TICK: usize = 5;
/// How long each phase runs once its fault is over.
const SETTLE: Duration = Duration::from_secs(2);
/// The correctness bound asserted.
const LATE_LIMIT: Duration = Duration::from_secs(1);
/// Issue 24's targets, printed against the figures.
const TARGET_P99: Duration = Duration::from_millis(50);
const TARGET_LATE: Duration = Duration::from_millis(100);

/// One request through an instance's layer.
#[derive(Clone, Copy)]
struct Answer {
    token: usize,
    start: Instant,
    end: Instant,
    status: StatusCode,
}

/// What the load, the revoker and the driver share.
struct Run {
    tokens: Vec<IssuedToken>,
    /// The tokens revoked, in order, with the instant `revoke` returned.
    revoked: watch::Sender<Vec<(usize, Instant)>>,
    done: AtomicBool,
}

/// A stretch of the run, and the fault in it.
struct Phase {
    name: &'static str,
    from: Instant,
    /// The server was down from the first instant to the second.
    down: Option<(Instant, Instant)>,
    /// The server was started again (after a stop).
    back: Option<Instant>,
    /// How long after the fault (`back`, or the kill) every listener had subscribed again.
    relisten: Option<Duration>,
}

impl Phase {
    fn new(name: &'static str) -> Self {
        Phase { name, from: Instant::now(), down: None, back: None, relisten: None }
    }
}

async fn ask(instance: &Instance, run: &Run, token: usize) -> Answer {
    let start = Instant::now();
    let status = instance.status(&run.tokens[token]).await;
    Answer { token, start, end: Instant::now(), status }
}

/// An instance's traffic: every millisecond, the next few tokens of the rotation, revoked ones
/// included.
async fn rotate(instance: Arc<Instance>, run: Arc<Run>, first: usize) -> Vec<Answer> {
    let mut answers = Vec::new();
    let mut next = first;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    while !run.done.load(Ordering::SeqCst) {
        tick.tick().await;
        for _ in 0..PER_TICK {
            answers.push(ask(&instance, &run, next).await);
            next = (next + 1) % run.tokens.len();
        }
    }
    answers
}

/// Follows each revocation on an instance: a task per revoked token asks for it every
/// millisecond until it is refused as revoked. One task per token, so that a request waiting on
/// the database does not hold back the others, and the moment each revocation reaches the
/// instance is seen to the millisecond.
async fn probe(instance: Arc<Instance>, run: Arc<Run>) -> Vec<Answer> {
    let mut followers = Vec::new();
    let mut known = 0;
    let mut revocations = run.revoked.subscribe();
    while revocations.changed().await.is_ok() && !run.done.load(Ordering::SeqCst) {
        let revoked = revocations.borrow_and_update()[known..].to_vec();
        known += revoked.len();
        for (token, _) in revoked {
            followers.push(tokio::spawn(follow(instance.clone(), run.clone(), token)));
        }
    }
    let mut answers = Vec::new();
    for follower in followers {
        answers.extend(follower.await.unwrap());
    }
    answers
}

async fn follow(instance: Arc<Instance>, run: Arc<Run>, token: usize) -> Vec<Answer> {
    let mut answers = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    while !run.done.load(Ordering::SeqCst) {
        tick.tick().await;
        let answer = ask(&instance, &run, token).await;
        answers.push(answer);
        if answer.status == StatusCode::UNAUTHORIZED {
            break;
        }
    }
    answers
}

/// An instance's requests, the rotation's and the probe's, in the order they started.
async fn load(instance: Arc<Instance>, run: Arc<Run>, first: usize) -> Vec<Answer> {
    let probing = tokio::spawn(probe(instance.clone(), run.clone()));
    let mut answers = rotate(instance, run, first).await;
    answers.extend(probing.await.unwrap());
    answers.sort_by_key(|a| a.start);
    answers
}

/// Revokes a token every `REVOKE_EVERY` through `by`; returns how many revokes failed. A failed
/// revoke may still have committed, so its token is not followed.
async fn revoke(by: Arc<Instance>, run: Arc<Run>) -> usize {
    let mut failed = 0;
    let mut tick = tokio::time::interval(REVOKE_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    for n in 0..run.tokens.len() {
        tick.tick().await;
        if run.done.load(Ordering::SeqCst) {
            break;
        }
        // A stride through the rotation: consecutive revocations are of tokens far apart in it.
        let token = n * 7 % run.tokens.len();
        match by.cache.revoke(run.tokens[token].id()).await {
            Ok(revoked) => {
                let at = Instant::now();
                assert!(revoked, "each token is revoked once");
                run.revoked.send_modify(|revoked| revoked.push((token, at)));
            }
            Err(_) => failed += 1,
        }
    }
    failed
}

async fn issue(by: &Arc<Instance>, count: usize) -> Vec<IssuedToken> {
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let by = by.clone();
            tokio::spawn(async move {
                let mut tokens = Vec::new();
                for _ in 0..count.div_ceil(4) {
                    tokens.push(by.cache.issue(NewToken::for_subject("load")).await.unwrap());
                }
                tokens
            })
        })
        .collect();
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.extend(task.await.unwrap());
    }
    tokens.truncate(count);
    tokens
}

fn subscriptions(instances: &[Arc<Instance>]) -> Vec<u64> {
    instances.iter().map(|i| i.listener.status().subscriptions).collect()
}

/// How long, from `since`, until every listener has subscribed once more than `before`.
async fn relisten(instances: &[Arc<Instance>], before: &[u64], since: Instant) -> Duration {
    for (instance, &count) in instances.iter().zip(before) {
        let back = instance
            .listener
            .wait_for(PgCluster::PATIENCE, |s| s.subscribed && s.subscriptions > count)
            .await;
        assert!(back.is_some(), "the listener subscribed again: {:?}", instance.listener.status());
    }
    since.elapsed()
}

/// Terminates every connection that ran `LISTEN` last: the listeners'.
async fn kill_listeners(url: &str) -> i64 {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let killed = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'LISTEN %'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    killed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_stay_within_the_bound_through_restarts_killed_listeners_and_outages() {
    let wall = Instant::now();
    let mut cluster = cluster!();
    let mut instances = Vec::new();
    for _ in 0..INSTANCES {
        instances.push(Arc::new(Instance::start(&cluster, Duration::from_secs(5)).await));
    }
    let run = Arc::new(Run {
        tokens: issue(&instances[0], TOKENS).await,
        revoked: watch::Sender::default(),
        done: AtomicBool::new(false),
    });
    let loads: Vec<_> = instances
        .iter()
        .enumerate()
        .map(|(i, instance)| tokio::spawn(load(instance.clone(), run.clone(), i * TOKENS / INSTANCES)))
        .collect();
    let warm =
        until(PgCluster::PATIENCE, async || instances.iter().all(|i| i.cache.entry_count() >= TOKENS as u64));
    assert!(warm.await.is_some(), "every token is cached on every instance");
    let revoker = tokio::spawn(revoke(instances[0].clone(), run.clone()));
    let mut phases = Vec::new();

    phases.push(Phase::new("steady"));
    tokio::time::sleep(SETTLE).await;

    let mut phase = Phase::new("restart");
    let before = subscriptions(&instances);
    tokio::task::block_in_place(|| {
        cluster.stop();
        cluster.restart();
    });
    let back = Instant::now();
    phase.back = Some(back);
    phase.relisten = Some(relisten(&instances, &before, back).await);
    phases.push(phase);
    tokio::time::sleep_until((back + SETTLE).into()).await;

    let mut phase = Phase::new("listeners killed");
    let mut relistened = Duration::ZERO;
    for _ in 0..2 {
        let before = subscriptions(&instances);
        let killed_at = Instant::now();
        assert_eq!(kill_listeners(&cluster.url()).await, INSTANCES as i64, "every instance's listener");
        relistened = relistened.max(relisten(&instances, &before, killed_at).await);
        tokio::time::sleep_until((killed_at + SETTLE / 2).into()).await;
    }
    phase.relisten = Some(relistened);
    phases.push(phase);

    let mut phase = Phase::new("server stopped");
    let before = subscriptions(&instances);
    tokio::task::block_in_place(|| cluster.stop());
    let down = Instant::now();
    tokio::time::sleep(SETTLE).await;
    let up = Instant::now();
    tokio::task::block_in_place(|| cluster.restart());
    let back = Instant::now();
    phase.down = Some((down, up));
    phase.back = Some(back);
    phase.relisten = Some(relisten(&instances, &before, back).await);
    phases.push(phase);
    tokio::time::sleep_until((back + SETTLE).into()).await;

    run.done.store(true, Ordering::SeqCst);
    // Wakes the probes, which wait for revocations, to see that the run is over.
    run.revoked.send_modify(|_| {});
    let failed = revoker.await.unwrap();
    let mut answers = Vec::new();
    for load in loads {
        answers.push(load.await.unwrap());
    }
    let ran = wall.elapsed();

    let revoked = run.revoked.borrow().clone();
    let report = Report::new(&answers, &revoked);
    println!(
        "\n{INSTANCES} instances, {} tokens, {} revoked ({failed} revokes failed while the database was \
         down), {} requests",
        TOKENS,
        revoked.len(),
        answers.iter().map(Vec::len).sum::<usize>()
    );
    println!(
        "{:<17} {:>5} {:>26} {:>22} {:>6} {:>16} {:>9} {:>9}",
        "phase",
        "revs",
        "propagation p50/p99/max",
        "late pairs/reqs/worst",
        "503s",
        "down mean/max",
        "recovery",
        "relisten"
    );
    let mut slowest = Duration::ZERO;
    for (i, phase) in phases.iter().enumerate() {
        let to = phases.get(i + 1).map(|p| p.from);
        let (row, p99) = report.row(phase, to, &answers);
        println!("{row}");
        slowest = slowest.max(p99);
    }
    let worst = report.worst_late();
    println!(
        "issue 24's targets (p99 <= {TARGET_P99:?}, no admission {TARGET_LATE:?} or more after a revoke \
         returned): {}",
        if slowest <= TARGET_P99 && worst < TARGET_LATE { "met" } else { "NOT met" }
    );

    // The pairs still not refused when the load stopped: asked until they are.
    for (instance, token) in report.unrefused() {
        let refused = until(PgCluster::PATIENCE, async || {
            instances[instance].status(&run.tokens[token]).await == StatusCode::UNAUTHORIZED
        });
        assert!(refused.await.is_some(), "instance {instance} refuses revoked token {token}");
    }
    println!("wall time {ran:?} (with setup)");
    assert!(!revoked.is_empty());
    assert!(worst < LATE_LIMIT, "a request admitted {worst:?} after the revoke returned");
}

/// What happened to each (instance, revoked token) pair.
struct Pair {
    instance: usize,
    token: usize,
    revoked_at: Instant,
    /// Admissions of requests that started after the revoke returned: how many, and the latest
    /// start's distance from it.
    late: (usize, Duration),
    /// From the revoke's return to the first refused request after which none was admitted.
    propagation: Option<Duration>,
}

struct Report {
    pairs: Vec<Pair>,
}

impl Report {
    fn new(answers: &[Vec<Answer>], revoked: &[(usize, Instant)]) -> Self {
        let mut pairs = Vec::new();
        for (instance, answers) in answers.iter().enumerate() {
            let mut by_token: HashMap<usize, Vec<&Answer>> = HashMap::new();
            for answer in answers {
                by_token.entry(answer.token).or_default().push(answer);
            }
            for &(token, revoked_at) in revoked {
                let asked = by_token.get(&token).map(Vec::as_slice).unwrap_or_default();
                let after: Vec<_> = asked.iter().filter(|a| a.start > revoked_at).collect();
                let admitted: Vec<_> = after.iter().filter(|a| a.status == StatusCode::OK).collect();
                let late = admitted.last().map_or(Duration::ZERO, |a| a.start - revoked_at);
                let settled = admitted.last().map_or(revoked_at, |a| a.start);
                let propagation = after
                    .iter()
                    .find(|a| a.start > settled && a.status != StatusCode::OK)
                    .map(|a| a.start - revoked_at);
                pairs.push(Pair { instance, token, revoked_at, late: (admitted.len(), late), propagation });
            }
        }
        Report { pairs }
    }

    fn unrefused(&self) -> Vec<(usize, usize)> {
        self.pairs.iter().filter(|p| p.propagation.is_none()).map(|p| (p.instance, p.token)).collect()
    }

    fn worst_late(&self) -> Duration {
        self.pairs.iter().map(|p| p.late.1).max().unwrap_or_default()
    }

    /// The phase's line of the table, and its propagation's p99.
    fn row(&self, phase: &Phase, to: Option<Instant>, answers: &[Vec<Answer>]) -> (String, Duration) {
        let within = |at: Instant| at >= phase.from && to.is_none_or(|to| at < to);
        let pairs: Vec<_> = self.pairs.iter().filter(|p| within(p.revoked_at)).collect();
        // The revoking instance drops its own entry before `revoke` returns; the push is about
        // the others.
        let mut propagation: Vec<_> =
            pairs.iter().filter(|p| p.instance != 0).filter_map(|p| p.propagation).collect();
        propagation.sort();
        let late: Vec<_> = pairs.iter().filter(|p| p.late.0 > 0).collect();
        let worst = late.iter().map(|p| p.late.1).max().unwrap_or_default();
        let all = || answers.iter().flatten().filter(|a| within(a.start));
        let unavailable = all().filter(|a| a.status == StatusCode::SERVICE_UNAVAILABLE).count();
        let down = phase.down.map_or("-".to_owned(), |(from, until)| {
            let took: Vec<_> =
                all().filter(|a| a.start >= from && a.start < until).map(|a| a.end - a.start).collect();
            let mean = took.iter().sum::<Duration>() / u32::try_from(took.len().max(1)).unwrap();
            format!("{}/{}", ms(mean), ms(took.iter().max().copied().unwrap_or_default()))
        });
        // From the server being back to each instance's first admission; the slowest instance.
        let recovery = phase.back.map_or("-".to_owned(), |back| {
            let first = |answers: &Vec<Answer>| {
                answers.iter().find(|a| a.end >= back && a.status == StatusCode::OK).map(|a| a.end - back)
            };
            ms(answers.iter().filter_map(first).max().unwrap_or_default())
        });
        let p99 = percentile(&propagation, 0.99);
        let row = format!(
            "{:<17} {:>5} {:>26} {:>22} {:>6} {:>16} {:>9} {:>9}",
            phase.name,
            pairs.len() / answers.len(),
            format!(
                "{}/{}/{}",
                ms(percentile(&propagation, 0.5)),
                ms(p99),
                ms(propagation.last().copied().unwrap_or_default())
            ),
            format!("{}/{}/{}", late.len(), late.iter().map(|p| p.late.0).sum::<usize>(), ms(worst)),
            unavailable,
            down,
            recovery,
            phase.relisten.map_or("-".to_owned(), ms),
        );
        (row, p99)
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[rank]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}
