//! Reads under a revoking writer: two threads drive the layer (`MemoryTokenStore`, a random
//! known token per request) while a third revokes one token and inserts its replacement every
//! 10 ms. Windows with and without the writer alternate (ABBA), at 100 k and 1 M tokens.
//!
//! Reports read throughput with and without the writer (median of the windows, and the ratio),
//! and how long one `revoke()` (and the replacement's `insert()`) takes: under the read load, and
//! alone on a quiet store.
//!
//! A custom harness (criterion measures one closure at a time, this needs threads running side by
//! side). Bounded: about a minute in all.
//!
//! ```text
//! cargo bench --bench concurrency
//! WINDOW_MS=3000 ROUNDS=4 cargo bench --bench concurrency   # longer windows, more rounds
//! ```

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::pin::pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{Request, Response};
use http_body_util::Full;
use tower::{Service, ServiceBuilder, service_fn};
use tower_bearer::{BearerAuthLayer, MemoryTokenStore, Principal, Scopes, TokenId, TokenManager};
use tower_bearer_test_support::at_once;

mod common;
use common::{Line, Rng, line, splitmix};

type Body = Full<Bytes>;

const READERS: usize = 2;
const WRITE_PERIOD: Duration = Duration::from_millis(10);

fn ok_fn(_req: Request<Body>) -> Ready<Result<Response<Body>, Infallible>> {
    ready(Ok(Response::new(Body::default())))
}

fn call<S, B>(service: &mut S, req: Request<Body>) -> u16
where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    let mut fut = pin!(service.call(req));
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(res)) => res.status().as_u16(),
        Poll::Ready(Err(never)) => match never {},
        Poll::Pending => panic!("the memory store answers at once"),
    }
}

fn principal(i: u64, scopes: &Scopes, expires_at: SystemTime) -> Principal {
    Principal::builder(format!("user_{i:06}"))
        .token_id(format!("tid_{i:024x}"))
        .scopes(scopes.clone())
        .expires_at(expires_at)
        .build()
}

/// What one window measured.
struct Window {
    reads_per_sec: f64,
    /// Reads per second of CPU time the readers got: insensitive to CPU taken by other
    /// processes on a shared machine, sensitive to what the writer does to the readers.
    reads_per_cpu_sec: f64,
    rejected: u64,
    reads: u64,
}

/// CPU time this thread has used (Linux: `/proc/thread-self/stat`, in 10 ms ticks).
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the command: state is field 3, utime 14 and stime 15 (1-based, man 5 proc).
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

struct Fixture {
    store: MemoryTokenStore,
    lines: Vec<Line>,
    /// Ids of the live tokens the writer may revoke, oldest first.
    ids: Mutex<std::collections::VecDeque<TokenId>>,
    next_replacement: AtomicU64,
    scopes: Scopes,
    expires_at: SystemTime,
}

impl Fixture {
    fn build(n: usize) -> Fixture {
        let store = MemoryTokenStore::new();
        let scopes = Scopes::from(["invoices:read", "profile"]);
        let expires_at = SystemTime::now() + Duration::from_secs(86_400);
        let lines: Vec<Line> = (0..n as u64).map(|i| line(1, i)).collect();
        let mut ids = std::collections::VecDeque::with_capacity(n);
        for (i, l) in lines.iter().enumerate() {
            ids.push_back(
                store.insert(l.secret(), principal(i as u64, &scopes, expires_at)).expect("insert"),
            );
        }
        Fixture {
            store,
            lines,
            ids: Mutex::new(ids),
            next_replacement: AtomicU64::new(0),
            scopes,
            expires_at,
        }
    }

    /// Revokes the oldest token and inserts a replacement; returns both durations.
    fn rotate_one(&self) -> (Duration, Duration) {
        let mut ids = self.ids.lock().expect("writer only");
        let victim = ids.pop_front().expect("tokens left");
        let started = Instant::now();
        let revoked = at_once(self.store.revoke(&victim)).expect("the memory store never fails");
        let revoke = started.elapsed();
        assert!(revoked);
        let k = self.next_replacement.fetch_add(1, Ordering::Relaxed);
        let secret = line(7, k);
        let p = principal(10_000_000 + k, &self.scopes, self.expires_at);
        let started = Instant::now();
        let id = self.store.insert(secret.secret(), p).expect("insert");
        let insert = started.elapsed();
        ids.push_back(id);
        (revoke, insert)
    }

    /// Two readers for `window`; with `writer`, a third thread rotating every 10 ms, whose
    /// revoke and insert times are appended to `revokes` / `inserts`.
    fn window(
        &self,
        window: Duration,
        writer: bool,
        seed: u64,
        revokes: &mut Vec<Duration>,
        inserts: &mut Vec<Duration>,
    ) -> Window {
        let stop = AtomicBool::new(false);
        let (reads, rejected, cpu, elapsed) = thread::scope(|s| {
            let readers: Vec<_> = (0..READERS)
                .map(|r| {
                    let (stop, lines, store) = (&stop, &self.lines, self.store.clone());
                    s.spawn(move || {
                        let mut service = ServiceBuilder::new()
                            .layer(BearerAuthLayer::new(store))
                            .service(service_fn(ok_fn as fn(_) -> _));
                        let mut rng = Rng(splitmix(seed * 31 + r as u64) | 1);
                        let (mut reads, mut rejected) = (0u64, 0u64);
                        let cpu_before = thread_cpu();
                        while !stop.load(Ordering::Relaxed) {
                            for _ in 0..256 {
                                let l = &lines[rng.below(lines.len())];
                                let req = Request::get("/v1/me")
                                    .header(AUTHORIZATION, l.value())
                                    .body(Body::default())
                                    .expect("request");
                                if call(&mut service, black_box(req)) != 200 {
                                    rejected += 1;
                                }
                            }
                            reads += 256;
                        }
                        let cpu = thread_cpu().zip(cpu_before).map_or(Duration::ZERO, |(b, a)| b - a);
                        (reads, rejected, cpu)
                    })
                })
                .collect();
            let writer = writer.then(|| {
                let stop = &stop;
                s.spawn(move || {
                    let mut times = Vec::new();
                    let mut next = Instant::now() + WRITE_PERIOD;
                    while !stop.load(Ordering::Relaxed) {
                        thread::sleep(next.saturating_duration_since(Instant::now()));
                        next += WRITE_PERIOD;
                        times.push(self.rotate_one());
                    }
                    times
                })
            });
            let started = Instant::now();
            thread::sleep(window);
            stop.store(true, Ordering::Relaxed);
            let elapsed = started.elapsed();
            let totals: Vec<(u64, u64, Duration)> =
                readers.into_iter().map(|h| h.join().expect("reader")).collect();
            if let Some(w) = writer {
                for (r, i) in w.join().expect("writer") {
                    revokes.push(r);
                    inserts.push(i);
                }
            }
            let sum = |f: fn(&(u64, u64, Duration)) -> u64| totals.iter().map(f).sum::<u64>();
            (sum(|t| t.0), sum(|t| t.1), totals.iter().map(|t| t.2).sum::<Duration>(), elapsed)
        });
        Window {
            reads_per_sec: reads as f64 / elapsed.as_secs_f64(),
            reads_per_cpu_sec: if cpu.is_zero() { f64::NAN } else { reads as f64 / cpu.as_secs_f64() },
            rejected,
            reads,
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`) run a smoke test.
    let full = std::env::args().any(|a| a == "--bench");
    let sizes: &[(&str, usize)] =
        if full { &[("100k", 100_000), ("1M", 1_000_000)] } else { &[("2k", 2_000)] };
    let window = Duration::from_millis(env_or("WINDOW_MS", if full { 2_000 } else { 100 }));
    let rounds = env_or("ROUNDS", if full { 3 } else { 1 });

    println!(
        "{READERS} reader threads through BearerAuthLayer + MemoryTokenStore (random known token per \
         request); writer: revoke + insert a replacement every {} ms; {rounds} rounds of \
         {} ms windows, with and without the writer (ABBA)\n",
        WRITE_PERIOD.as_millis(),
        window.as_millis()
    );
    let mut rows = Vec::new();
    for &(label, n) in sizes {
        let started = Instant::now();
        let fx = Fixture::build(n);
        eprintln!("{label}: store built in {:.1} s", started.elapsed().as_secs_f64());

        // Revocations alone, on a quiet store.
        let (mut quiet_revokes, mut quiet_inserts) = (Vec::new(), Vec::new());
        for _ in 0..200 {
            let (r, i) = fx.rotate_one();
            quiet_revokes.push(r);
            quiet_inserts.push(i);
        }

        // Warm-up window, not counted.
        fx.window(window / 4, false, 99, &mut Vec::new(), &mut Vec::new());
        let (mut without, mut with) = (Vec::new(), Vec::new());
        let (mut without_cpu, mut with_cpu) = (Vec::new(), Vec::new());
        let (mut revokes, mut inserts) = (Vec::new(), Vec::new());
        let (mut rejected, mut reads) = (0, 0);
        for round in 0..rounds {
            let order = if round % 2 == 0 { [false, true] } else { [true, false] };
            for writer in order {
                let w = fx.window(window, writer, round * 2 + u64::from(writer), &mut revokes, &mut inserts);
                eprintln!(
                    "  {label} round {round} {}: {:.2} M reads/s, {:.2} M reads per reader-CPU-second",
                    if writer { "with writer   " } else { "without writer" },
                    w.reads_per_sec / 1e6,
                    w.reads_per_cpu_sec / 1e6,
                );
                if writer {
                    with.push(w.reads_per_sec);
                    with_cpu.push(w.reads_per_cpu_sec);
                    rejected += w.rejected;
                    reads += w.reads;
                } else {
                    without.push(w.reads_per_sec);
                    without_cpu.push(w.reads_per_cpu_sec);
                }
            }
        }
        for v in [&mut revokes, &mut inserts, &mut quiet_revokes, &mut quiet_inserts] {
            v.sort();
        }
        let (a, b) = (median(&mut without), median(&mut with));
        let (a_cpu, b_cpu) = (median(&mut without_cpu), median(&mut with_cpu));
        let spread = |v: &[f64]| {
            let (lo, hi) = (v.first().copied().unwrap_or(0.0), v.last().copied().unwrap_or(0.0));
            format!("{:.2}–{:.2}", lo / 1e6, hi / 1e6)
        };
        rows.push(format!(
            "| {label} | {:.2} ({}) | {:.2} ({}) | {:.2} | {:.2} / {:.2} = {:.2} | {} | {} / {} / {} | {} / {} | {} / {} | {:.2} % |",
            a / 1e6,
            spread(&without),
            b / 1e6,
            spread(&with),
            b / a,
            b_cpu / 1e6,
            a_cpu / 1e6,
            b_cpu / a_cpu,
            revokes.len(),
            us(percentile(&revokes, 0.5)),
            us(percentile(&revokes, 0.99)),
            us(revokes.last().copied().unwrap_or_default()),
            us(percentile(&quiet_revokes, 0.5)),
            us(percentile(&quiet_revokes, 0.99)),
            us(percentile(&inserts, 0.5)),
            us(percentile(&inserts, 0.99)),
            100.0 * rejected as f64 / reads.max(1) as f64,
        ));
    }
    println!(
        "| tokens | reads/s without writer, M (min–max) | with writer, M (min–max) | ratio \
         | per reader-CPU-s with / without, M = ratio | revocations | revoke() under load µs p50 / p99 / max | revoke() quiet µs p50 / p99 | insert() under load µs \
         p50 / p99 | reads rejected (revoked token) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        println!("{row}");
    }
}
