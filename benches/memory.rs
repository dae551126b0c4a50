//! Bytes per stored token in `MemoryTokenStore`, principal included, at 100 k and 1 M tokens.
//!
//! A counting global allocator tracks the live heap. Each token gets a realistic principal, as
//! if loaded from a database: subject `user_123456`, a random token id (assigned by the store),
//! two scopes parsed per token, an expiry. The figure is the live-heap delta after inserting
//! `n` tokens, divided by `n`; the secrets themselves are generated into a reused buffer and
//! never stored.
//!
//! Reported per token:
//! - `requested`: bytes asked of the allocator (what the data structures need);
//! - `malloc`: the same rounded up to glibc's chunk sizes (16-byte steps, 8 bytes of header,
//!   32 bytes minimum): what the process actually spends;
//! - `RSS`: the resident-set growth (pages touched), the operator's view; meaningful for the
//!   first row of each size only (later rows reuse memory the earlier ones freed);
//! - `peak`: the largest live heap while inserting (the map's resizes keep two tables alive);
//! - a breakdown: the principals alone, and a plain `HashMap<digest, Principal>` (the least any
//!   store could keep).
//!
//! ```text
//! cargo bench --bench memory
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use tower_bearer::{MemoryTokenStore, Principal, Scopes, TokenHash};

/// The system allocator, counting live bytes (requested and as glibc chunks) and the peak.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static LIVE_CHUNKS: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

/// glibc malloc's chunk for a request: size plus an 8-byte header, in 16-byte steps, at least 32.
fn chunk(size: usize) -> isize {
    ((size + 8).div_ceil(16) * 16).max(32) as isize
}

fn grew(size: usize) {
    let live = LIVE.fetch_add(size as isize, Ordering::Relaxed) + size as isize;
    PEAK.fetch_max(live, Ordering::Relaxed);
    LIVE_CHUNKS.fetch_add(chunk(size), Ordering::Relaxed);
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
}

fn shrank(size: usize) {
    LIVE.fetch_sub(size as isize, Ordering::Relaxed);
    LIVE_CHUNKS.fetch_sub(chunk(size), Ordering::Relaxed);
    ALLOCATIONS.fetch_sub(1, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (every allocation goes through
        // this allocator).
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, and the caller upholds `realloc`'s contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            shrank(layout.size());
            grew(new_size);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[derive(Clone, Copy)]
struct Heap {
    live: isize,
    chunks: isize,
    allocations: usize,
    rss: isize,
}

fn rss_bytes() -> isize {
    // Second field of /proc/self/statm: resident pages.
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<isize>().ok()))
        .map_or(0, |pages| pages * 4096)
}

fn heap() -> Heap {
    Heap {
        live: LIVE.load(Ordering::Relaxed),
        chunks: LIVE_CHUNKS.load(Ordering::Relaxed),
        allocations: ALLOCATIONS.load(Ordering::Relaxed),
        rss: rss_bytes(),
    }
}

/// A token secret for index `i`, written into `buf`: `tok_` + 48 hex digits.
fn secret(buf: &mut String, i: u64) -> &str {
    use std::fmt::Write;
    buf.clear();
    let mix = |x: u64| x.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29) ^ 0xa076_1d64_78bd_642f;
    let _ = write!(buf, "tok_{:016x}{:016x}{:016x}", mix(i), mix((i + 1) << 32), mix(i ^ 0x55));
    buf
}

/// A realistic principal: subject, two scopes parsed for this token, an expiry. The store
/// assigns the random token id.
fn principal(i: u64, expires_at: SystemTime) -> Principal {
    Principal::builder(format!("user_{i:06}"))
        .scopes(Scopes::parse("invoices:read profile"))
        .expires_at(expires_at)
        .build()
}

/// A realistic principal of a multi-tenant API: a subject, its organization (one of 1 000
/// customers), three scopes, an expiry.
fn tenant_principal(i: u64, expires_at: SystemTime) -> Principal {
    Principal::builder(format!("user_{i:06}"))
        .organization(format!("org_{:04}", i % 1_000))
        .scopes(Scopes::parse("invoices:read invoices:write profile"))
        .expires_at(expires_at)
        .build()
}

struct Row {
    label: &'static str,
    n: usize,
    what: &'static str,
    before: Heap,
    after: Heap,
    peak: isize,
    secs: f64,
}

impl Row {
    fn print(&self) {
        let n = self.n as f64;
        println!(
            "| {} | {} | {:.0} | {:.0} | {} | {:.1} | {:.0} | {:.0} | {:.1} |",
            self.label,
            self.what,
            (self.after.live - self.before.live) as f64 / n,
            (self.after.chunks - self.before.chunks) as f64 / n,
            // Memory freed by an earlier measurement is reused without growing the RSS.
            match self.after.rss - self.before.rss {
                grown if grown > 0 => format!("{:.0}", grown as f64 / n),
                _ => "(reused)".to_owned(),
            },
            (self.after.allocations - self.before.allocations) as f64 / n,
            (self.peak - self.before.live) as f64 / n,
            (self.after.live - self.before.live) as f64 / 1e6,
            self.secs,
        );
    }
}

/// Measures building something of `n` tokens with `build`, keeping it alive until measured.
fn measure<T>(label: &'static str, n: usize, what: &'static str, build: impl FnOnce() -> T) -> Row {
    let before = heap();
    PEAK.store(before.live, Ordering::Relaxed);
    let started = Instant::now();
    let built = black_box(build());
    let secs = started.elapsed().as_secs_f64();
    let after = heap();
    let peak = PEAK.load(Ordering::Relaxed);
    drop(built);
    Row { label, n, what, before, after, peak, secs }
}

fn main() {
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`) run a smoke test.
    let full = std::env::args().any(|a| a == "--bench");
    let sizes: &[(&str, usize)] =
        if full { &[("100k", 100_000), ("1M", 1_000_000)] } else { &[("2k", 2_000)] };
    let expires_at = SystemTime::now() + Duration::from_secs(30 * 86_400);
    let mut rows = Vec::new();
    for &(label, n) in sizes {
        let mut buf = String::with_capacity(64);
        let baseline = heap();
        rows.push(measure(label, n, "MemoryTokenStore (principal included)", || {
            let store = MemoryTokenStore::new();
            for i in 0..n as u64 {
                store.insert(secret(&mut buf, i), principal(i, expires_at)).expect("insert");
            }
            store
        }));
        let leaked = heap().live - baseline.live;
        assert!(leaked.abs() < 1 << 20, "{leaked} bytes still live after dropping the store");
        rows.push(measure(label, n, "MemoryTokenStore, with organization and three scopes", || {
            let store = MemoryTokenStore::new();
            for i in 0..n as u64 {
                store.insert(secret(&mut buf, i), tenant_principal(i, expires_at)).expect("insert");
            }
            store
        }));

        rows.push(measure(label, n, "principals alone (Vec<Principal>, with a token id)", || {
            (0..n as u64)
                .map(|i| {
                    let p = principal(i, expires_at);
                    p.to_builder().token_id(tower_bearer::TokenId::random()).build()
                })
                .collect::<Vec<_>>()
        }));
        rows.push(measure(label, n, "map structure: papaya HashMap<TokenHash, u64>", || {
            let map = papaya::HashMap::new();
            let pinned = map.pin();
            for i in 0..n as u64 {
                pinned.insert(TokenHash::of(secret(&mut buf, i)), i);
            }
            drop(pinned);
            map
        }));
        rows.push(measure(label, n, "map structure: std HashMap<TokenHash, u64>", || {
            let mut map = HashMap::with_capacity(n);
            for i in 0..n as u64 {
                map.insert(TokenHash::of(secret(&mut buf, i)), i);
            }
            map
        }));
        rows.push(measure(label, n, "floor: std HashMap<TokenHash, Principal> (same principals)", || {
            let mut map = HashMap::with_capacity(n);
            for i in 0..n as u64 {
                let p =
                    principal(i, expires_at).to_builder().token_id(tower_bearer::TokenId::random()).build();
                map.insert(TokenHash::of(secret(&mut buf, i)), p);
            }
            map
        }));
    }
    println!(
        "\n| tokens | what | requested B/token | malloc B/token | RSS B/token | allocations/token \
         | peak B/token | live MB | build s |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for row in &rows {
        row.print();
    }
}
