//! A dudect-style timing-leak test of the token verification path (Reparaz, Balasch and
//! Verbauwhede, "Dude, is my code constant time?", 2017), with its own small harness.
//!
//! ```text
//! cargo bench -p tower-bearer-timing --bench timing -- --quick  # < 60 s; non-zero exit on a failed check
//! cargo bench -p tower-bearer-timing --bench timing             # longer, more measurements
//! TIMING_QUICK=1 cargo bench -p tower-bearer-timing --bench timing  # as --quick
//! ```
//!
//! # Method
//!
//! For each case two classes of inputs are defined. Each measurement picks its class at
//! random (the classes are interleaved, so drift in clock speed, cache or scheduling hits
//! both alike), builds `batch` fresh inputs of that class *outside* the timed region, then
//! times running the operation on them with `std::time::Instant` (no cycle counter). Welch's
//! t-test compares the two classes' timings: on every measurement, and, as dudect does, on
//! the measurements under each of a series of percentiles (cropping the long tail that
//! interrupts and page faults add, which would otherwise drown a small difference). The
//! largest |t| over these tests is the case's statistic. |t| > 4.5 is dudect's "probably not
//! constant time".
//!
//! # Cases, and what they compare
//!
//! The store keeps SHA-256 digests; a lookup hashes the presented token, probes a hash map by
//! the digest's first eight bytes and confirms a hit with a constant-time comparison of the
//! full digest. The time a probe takes depends on *where the digest lands in the map* (how
//! long the probe sequence is), which is a property of the digest, not of how many leading
//! characters of the token are right. A textbook fixed-vs-random test, with one fixed token
//! against random ones, would therefore measure the probe length of that one fixed digest
//! against the average, and could report a "leak" that tells an attacker nothing. So both
//! classes are built the same way — fresh tokens every measurement, every one of them unknown
//! to the store, so their digests are independent and uniformly distributed in both classes —
//! and differ only in how close the plaintext is to a stored token. Any significant difference
//! would mean the time depends on the plaintext's similarity to a real token: the leak a
//! guessing attacker could use.
//!
//! - `store: last char` — `MemoryTokenStore` lookup (hash + probe + compare) of a stored
//!   token with only its last character changed, vs a random token of the same length.
//! - `store: prefix` — a token that starts with the first half of a stored token (the rest
//!   random) vs one that ends with the second half of a stored token (its first half random,
//!   so its prefix is wrong from the first character).
//! - `TokenHash ==` — the constant-time digest comparison alone: a stored digest vs the same
//!   digest with its last byte changed, and vs a random digest.
//! - `control: plain ==` — the naive comparison the crate avoids: `==` on the secret byte
//!   strings (Rust's slice equality, a `memcmp` that stops at the first difference), stored
//!   token vs the last-character variant and vs a random token. It must show a large |t|:
//!   that is the evidence the harness can see an early-exit leak at all.
//! - `control: store path + plain ==` — the crate's full lookup followed by a plain `==` of
//!   the plaintext against the stored token (what a hand-written static-key check does): the
//!   same leak, measured under the same noise as the store cases. It must show a large |t|
//!   too: the harness sees an early exit of a few tens of nanoseconds under a lookup that
//!   costs hundreds.
//! - `null: random vs random` — both classes drawn identically (random tokens through the
//!   store). It must stay under the threshold: the evidence that noise alone does not cross
//!   it, so a crate case that did would not be a false alarm.
//!
//! The gate: every crate case must stay at or under the threshold, and the plain `==`
//! control must exceed it. A crate case that exceeds it is measured a second time, from
//! scratch, and fails only if it exceeds it again: a real leak does, a burst of noise from a
//! shared machine does not.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use tower_bearer::{MemoryTokenStore, PresentedToken, Principal, TokenHash, TokenStore};

/// dudect's "probably not constant time".
const THRESHOLD: f64 = 4.5;
/// How many percentile crops are tested besides the uncropped set.
const PERCENTILES: usize = 24;
/// A test enters the maximum only with at least this many measurements in each class.
const MIN_PER_CLASS: f64 = 2_000.0;
/// Measurements whose inputs are built together before they are timed.
const CHUNK: usize = 256;
/// Stored tokens. Many, so that the near-miss class (copies of stored tokens, one character
/// changed) is as fresh as the random class: with a small pool, every run's near-misses are
/// drawn from a few fixed tokens, and any incidental cost of *those particular bytes* (the
/// power a core draws hashing them, say) becomes a bias of random sign between runs that
/// millions of measurements resolve, a "leak" that has nothing to do with closeness.
const STORED: usize = 32_768;
/// Token length. Long enough that an early-exit `memcmp` (which compares 32 bytes or more at a
/// time) stops measurably earlier on a first-character difference than on a last-character
/// one; well within the crate's limit (4096) and typical of signed or structured tokens.
const TOKEN_LEN: usize = 512;

/// xorshift64*: fast, and good enough to pick classes and characters.
struct Rng(u64);

impl Rng {
    fn seeded() -> Self {
        Rng(RandomState::new().hash_one(Instant::now()) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() >> 33) as usize % n
    }

    /// A token of `len` characters drawn uniformly from [`CHARS`], the alphabet every class
    /// draws its random characters from: stored tokens and random ones then differ in nothing
    /// but which characters they are, never in how characters are distributed.
    fn token(&mut self, len: usize) -> String {
        (0..len).map(|_| char::from(CHARS[self.below(CHARS.len())])).collect()
    }
}

/// Welch's t-test over two classes, accumulated online (Welford).
#[derive(Clone, Copy, Default)]
struct Welch {
    n: [f64; 2],
    mean: [f64; 2],
    m2: [f64; 2],
}

impl Welch {
    fn push(&mut self, class: usize, x: f64) {
        self.n[class] += 1.0;
        let delta = x - self.mean[class];
        self.mean[class] += delta / self.n[class];
        self.m2[class] += delta * (x - self.mean[class]);
    }

    fn t(&self) -> f64 {
        let var = |c: usize| self.m2[c] / (self.n[c] - 1.0);
        let se = (var(0) / self.n[0] + var(1) / self.n[1]).sqrt();
        if se == 0.0 { 0.0 } else { (self.mean[0] - self.mean[1]) / se }
    }

    fn min_n(&self) -> f64 {
        self.n[0].min(self.n[1])
    }
}

/// How many measurements, of how many operations each.
#[derive(Clone, Copy)]
struct Plan {
    warmup: usize,
    measurements: usize,
    batch: usize,
}

struct Report {
    name: &'static str,
    /// The t of largest magnitude over the uncropped and cropped tests (positive: class 0
    /// slower), and the fraction of the measurements kept by the crop that gave it (1.0:
    /// uncropped).
    max_t: f64,
    kept: f64,
    /// Mean time per operation of each class, uncropped, in nanoseconds.
    mean_ns: [f64; 2],
    measurements: usize,
    seconds: f64,
}

/// Measures `op` on inputs of two classes from `make`, interleaved at random, and runs the
/// t-tests.
fn measure<T, R>(
    name: &'static str,
    plan: Plan,
    rng: &mut Rng,
    mut make: impl FnMut(usize, &mut Rng) -> T,
    op: impl Fn(&T) -> R,
) -> Report {
    let started = Instant::now();
    // As dudect does: the inputs of a whole chunk of measurements are built first, classes
    // interleaved at random, and then timed back to back, so no class-dependent work (and no
    // branch history or store-buffer state it would leave) sits right before a timed region.
    let mut classes: Vec<usize> = Vec::with_capacity(CHUNK);
    let mut inputs: Vec<T> = Vec::with_capacity(CHUNK * plan.batch);
    let mut times: Vec<f64> = Vec::with_capacity(CHUNK);
    let mut chunk = |rng: &mut Rng, times: &mut Vec<f64>, classes: &mut Vec<usize>| {
        classes.clear();
        inputs.clear();
        times.clear();
        for _ in 0..CHUNK {
            let class = (rng.next() >> 63) as usize;
            classes.push(class);
            inputs.extend((0..plan.batch).map(|_| make(class, rng)));
        }
        for batch in inputs.chunks(plan.batch) {
            let start = Instant::now();
            for input in batch {
                black_box(op(black_box(input)));
            }
            times.push(start.elapsed().as_nanos() as f64);
        }
    };

    // Warm-up: caches, branch predictors, clock speed; its measurements set the crops.
    let mut warm = Vec::new();
    while warm.len() < plan.warmup {
        chunk(rng, &mut times, &mut classes);
        warm.extend_from_slice(&times);
    }
    warm.sort_by(f64::total_cmp);
    let crops: Vec<(f64, f64)> = (0..PERCENTILES)
        .map(|i| {
            let p = 1.0 - 0.5f64.powf(10.0 * (i + 1) as f64 / PERCENTILES as f64);
            (p, warm[((p * warm.len() as f64) as usize).min(warm.len() - 1)])
        })
        .collect();

    let mut tests = vec![Welch::default(); 1 + PERCENTILES];
    for _ in 0..plan.measurements.div_ceil(CHUNK) {
        chunk(rng, &mut times, &mut classes);
        for (&class, &x) in classes.iter().zip(&times) {
            tests[0].push(class, x);
            for (test, &(_, limit)) in tests[1..].iter_mut().zip(&crops) {
                if x < limit {
                    test.push(class, x);
                }
            }
        }
    }

    let (max_t, kept) = tests
        .iter()
        .zip(std::iter::once(1.0).chain(crops.iter().map(|&(p, _)| p)))
        .filter(|(test, _)| test.min_n() >= MIN_PER_CLASS)
        .map(|(test, kept)| (test.t(), kept))
        .fold((0.0, 1.0), |best: (f64, f64), this| if this.0.abs() > best.0.abs() { this } else { best });
    let per_op = |c: usize| tests[0].mean[c] / plan.batch as f64;
    Report {
        name,
        max_t,
        kept,
        mean_ns: [per_op(0), per_op(1)],
        measurements: plan.measurements.div_ceil(CHUNK) * CHUNK,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// The stored tokens and a store holding them.
struct Fixture {
    tokens: Vec<String>,
    digests: Vec<TokenHash>,
    store: MemoryTokenStore,
}

/// 64 of the `b64token` characters, so six random bits pick one.
const CHARS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

impl Fixture {
    fn new(rng: &mut Rng) -> Self {
        let tokens: Vec<String> = (0..STORED).map(|_| rng.token(TOKEN_LEN)).collect();
        let store = MemoryTokenStore::new();
        for (i, t) in tokens.iter().enumerate() {
            store.insert(t, Principal::builder(format!("user{i}")).build()).expect("valid token");
        }
        let digests = tokens.iter().map(TokenHash::of).collect();
        Fixture { tokens, digests, store }
    }

    /// The one way every class builds its token, so that the classes differ in nothing but
    /// which characters they take from a stored token: a fresh buffer of exactly the token's
    /// length; every position reads the stored character and draws random bits; position
    /// `j` keeps the stored character if `keep(j)`, else takes a random one, which at
    /// position `differ` is forced to differ from the stored one (so the token is never a
    /// stored one).
    fn derive(&self, rng: &mut Rng, keep: impl Fn(usize) -> bool, differ: usize) -> (usize, String) {
        let i = rng.below(STORED);
        let stored = self.tokens[i].as_bytes();
        let mut out = Vec::with_capacity(TOKEN_LEN);
        let mut bits = 0u64;
        for (j, &s) in stored.iter().enumerate() {
            if j % 8 == 0 {
                bits = rng.next();
            }
            let r = usize::from((bits >> ((j % 8) * 8)) as u8 & 63);
            let mut c = if keep(j) { s } else { CHARS[r] };
            if j == differ && c == s {
                c = CHARS[(r + 1) % 64];
            }
            out.push(c);
        }
        (i, String::from_utf8(out).expect("ASCII"))
    }

    /// A stored token with only its last character changed (class 0), or a random token of
    /// the same length (class 1). Both unknown to the store.
    fn last_char(&self, class: usize, rng: &mut Rng) -> String {
        if class == 0 {
            self.derive(rng, |j| j < TOKEN_LEN - 1, TOKEN_LEN - 1).1
        } else {
            self.derive(rng, |_| false, 0).1
        }
    }

    /// A token starting with the first half of a stored token, the rest random (class 0), or
    /// ending with the second half of a stored token behind a wrong first half (class 1). Both
    /// unknown to the store.
    fn prefix(&self, class: usize, rng: &mut Rng) -> String {
        if class == 0 {
            self.derive(rng, |j| j < TOKEN_LEN / 2, TOKEN_LEN / 2).1
        } else {
            self.derive(rng, |j| j >= TOKEN_LEN / 2, 0).1
        }
    }

    /// A stored token (copied, in both classes, so both read it from a fresh buffer) and a
    /// candidate built as by `last_char`.
    fn pair(&self, class: usize, rng: &mut Rng) -> (String, String) {
        let (i, candidate) = if class == 0 {
            self.derive(rng, |j| j < TOKEN_LEN - 1, TOKEN_LEN - 1)
        } else {
            self.derive(rng, |_| false, 0)
        };
        (self.tokens[i].clone(), candidate)
    }

    /// A stored digest, and the same digest with its last byte changed (class 0) or a random
    /// digest (class 1); both built by overwriting a copy of the stored one.
    fn digests(&self, class: usize, rng: &mut Rng) -> (TokenHash, TokenHash) {
        let stored = self.digests[rng.below(STORED)];
        let mut other = *stored.as_bytes();
        let random: [u64; 4] = [rng.next(), rng.next(), rng.next(), rng.next()];
        if class == 0 {
            other[31] ^= (random[0] as u8) | 1;
        } else {
            for (chunk, r) in other.chunks_mut(8).zip(random) {
                chunk.copy_from_slice(&r.to_ne_bytes());
            }
        }
        (stored, TokenHash::from_bytes(other))
    }
}

fn lookup_unknown(store: &MemoryTokenStore, token: &str) -> bool {
    let found = store.lookup(&PresentedToken::new(token));
    matches!(found, tower_bearer::store::Answer::Now(Ok(tower_bearer::TokenState::Unknown)))
}

#[derive(Clone, Copy, PartialEq)]
enum Role {
    /// The crate: must not leak.
    Crate,
    /// The naive control: must leak, or the harness is blind.
    Control,
}

fn run_case(name: &'static str, fixture: &Fixture, rng: &mut Rng, quick: bool) -> Report {
    let scale = if quick { 1 } else { 6 };
    let store = &fixture.store;
    match name {
        "store: last char" => measure(
            name,
            Plan { warmup: 4_000, measurements: 400_000 * scale, batch: 4 },
            rng,
            |c, r| fixture.last_char(c, r),
            |t| lookup_unknown(store, t),
        ),
        "null: random vs random" => measure(
            name,
            Plan { warmup: 4_000, measurements: 400_000 * scale, batch: 4 },
            rng,
            |_, r| fixture.last_char(1, r),
            |t| lookup_unknown(store, t),
        ),
        "store: prefix" => measure(
            name,
            Plan { warmup: 4_000, measurements: 400_000 * scale, batch: 4 },
            rng,
            |c, r| fixture.prefix(c, r),
            |t| lookup_unknown(store, t),
        ),
        "TokenHash ==" => measure(
            name,
            Plan { warmup: 4_000, measurements: 400_000 * scale, batch: 64 },
            rng,
            |c, r| fixture.digests(c, r),
            |(a, b)| a == b,
        ),
        "control: plain ==" => measure(
            name,
            Plan { warmup: 4_000, measurements: 100_000 * scale, batch: 16 },
            rng,
            |c, r| fixture.pair(c, r),
            |(stored, candidate)| stored.as_bytes() == candidate.as_bytes(),
        ),
        "control: store path + plain ==" => measure(
            name,
            Plan { warmup: 4_000, measurements: 400_000 * scale, batch: 4 },
            rng,
            |c, r| fixture.pair(c, r),
            |(stored, candidate)| {
                lookup_unknown(store, candidate) && stored.as_bytes() == candidate.as_bytes()
            },
        ),
        _ => unreachable!("{name}"),
    }
}

fn print(report: &Report, role: Role, verdict: &str) {
    let role = match role {
        Role::Crate => "crate",
        Role::Control => "control",
    };
    println!(
        "{:<32} {:<7} t = {:>8.2}  (crop keeps {:>5.1}%)  class0 {:>8.1} ns/op  class1 {:>8.1} ns/op  n = {:>7}  {:>5.1} s  {verdict}",
        report.name,
        role,
        report.max_t,
        report.kept * 100.0,
        report.mean_ns[0],
        report.mean_ns[1],
        report.measurements,
        report.seconds,
    );
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; anything else unknown is ignored too.
    let quick = std::env::args().any(|a| a == "--quick")
        || std::env::var("TIMING_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let mut rng = Rng::seeded();
    let fixture = Fixture::new(&mut rng);

    // Sanity: the classes are what they claim (unknown to the store; the controls differ).
    for class in 0..2 {
        assert!(lookup_unknown(&fixture.store, &fixture.last_char(class, &mut rng)));
        assert!(lookup_unknown(&fixture.store, &fixture.prefix(class, &mut rng)));
        let (a, b) = fixture.digests(class, &mut rng);
        assert!(a != b);
    }
    assert!(!lookup_unknown(&fixture.store, &fixture.tokens[0]), "a stored token is found");

    let cases = [
        ("null: random vs random", Role::Crate),
        ("store: last char", Role::Crate),
        ("store: prefix", Role::Crate),
        ("TokenHash ==", Role::Crate),
        ("control: plain ==", Role::Control),
        ("control: store path + plain ==", Role::Control),
    ];
    println!(
        "dudect-style timing test ({} mode), token length {TOKEN_LEN}, {STORED} stored tokens, threshold |t| = {THRESHOLD}",
        if quick { "quick" } else { "full" }
    );
    let mut failed = Vec::new();
    for (name, role) in cases {
        let report = run_case(name, &fixture, &mut rng, quick);
        let over = report.max_t.abs() > THRESHOLD;
        match role {
            Role::Crate if over => {
                print(&report, role, "over the threshold: measuring again");
                let again = run_case(name, &fixture, &mut rng, quick);
                let still = again.max_t.abs() > THRESHOLD;
                print(&again, role, if still { "FAIL: leaks" } else { "ok (first run was noise)" });
                if still {
                    failed.push(format!("{name}: |t| = {:.2}, then {:.2}", report.max_t, again.max_t));
                }
            }
            Role::Crate => print(&report, role, "ok: no leak detected"),
            Role::Control if over => print(&report, role, "ok: leak detected, as it must be"),
            Role::Control => {
                print(&report, role, "FAIL: the harness did not see the naive comparison's leak");
                failed.push(format!("{name}: |t| = {:.2}, not over {THRESHOLD}", report.max_t));
            }
        }
    }
    if failed.is_empty() {
        println!("timing: ok");
        ExitCode::SUCCESS
    } else {
        println!("timing: FAILED\n  {}", failed.join("\n  "));
        ExitCode::FAILURE
    }
}
