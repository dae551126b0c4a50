//! [`Clock`]: where the crate reads the time. The system's wall clock by default, read cheaply
//! and exactly where it matters; or a manual clock that a test moves, so that expiry, TTLs,
//! grace periods and rate windows are tested without sleeping.
//!
//! Every request through the memory store notes when its token was last used, and every
//! token with an expiry is checked against the time. `SystemTime::now()` is a full
//! `CLOCK_REALTIME` read (through the vDSO, reading and scaling the TSC); on Linux
//! the kernel also keeps `CLOCK_REALTIME_COARSE`, the time of the last timer tick, which is a
//! plain load of a few words, several times cheaper (BENCHMARKS.md), and lags the real time by at
//! most one tick (1–10 ms).
//!
//! - Usage timestamps ([`coarse_unix_millis`]) take the coarse clock as it is: a `last_used_at`
//!   a few milliseconds early is still the right minute.
//! - Expiry ([`is_expired`]) stays exact: the coarse clock settles every token whose expiry is
//!   comfortably in the future (coarse time ≤ real time < coarse time + one tick), and only a
//!   token within [`EXACT_WINDOW`] of its expiry pays for the precise clock.
//!
//! Elsewhere than Linux, both read `SystemTime::now()`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The time as the layer and the stores read it: the system clock, or a manual one.
///
/// Every component that reads the time (the layer's expiry check, the memory store's
/// timestamps and expiry, the cache's TTLs, the SQL store, the OAuth endpoint) takes a `Clock`
/// in its builder and uses the system clock unless given another. A manual clock stands still
/// until [`advance`](Self::advance)d, and its clones share its time, so a test gives one clock
/// to every component and moves them all at once:
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tower_bearer::{BearerAuthLayer, Clock, MemoryTokenStore};
///
/// let clock = Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
/// let store = MemoryTokenStore::builder().clock(clock.clone()).build();
/// let layer = BearerAuthLayer::new(store).clock(clock.clone());
/// clock.advance(Duration::from_secs(3600)); // an hour passes, for both
/// ```
#[derive(Clone, Default)]
pub struct Clock {
    /// Nanoseconds since the Unix epoch of a manual clock; `None` for the system clock.
    manual: Option<Arc<AtomicU64>>,
}

impl Clock {
    /// The system's wall clock (the default).
    #[must_use]
    pub fn system() -> Self {
        Clock::default()
    }

    /// A clock standing at `start` until advanced. Times before 1970 read as 1970, times
    /// after 2554 as 2554.
    #[must_use]
    pub fn manual(start: SystemTime) -> Self {
        Clock { manual: Some(Arc::new(AtomicU64::new(unix_nanos(start)))) }
    }

    /// The current time.
    #[must_use]
    pub fn now(&self) -> SystemTime {
        match &self.manual {
            None => SystemTime::now(),
            Some(nanos) => UNIX_EPOCH + Duration::from_nanos(nanos.load(Ordering::SeqCst)),
        }
    }

    /// Moves a manual clock (and its clones) forward by `by`, saturating in 2554. Returns
    /// `false`, and does nothing, on the system clock.
    pub fn advance(&self, by: Duration) -> bool {
        let Some(nanos) = &self.manual else { return false };
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // `fetch_update` never fails with a closure that always answers `Some`.
        let _ = nanos.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| Some(n.saturating_add(by)));
        true
    }

    /// Whether this is a manual clock.
    #[must_use]
    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }

    /// Whether `at` has passed (a token expiring then has expired; one valid from then is
    /// valid): on the system clock, exactly as `at <= now()` but usually without reading the
    /// precise clock.
    #[inline]
    pub(crate) fn has_passed(&self, at: SystemTime) -> bool {
        match &self.manual {
            None => is_expired(at),
            Some(_) => at <= self.now(),
        }
    }

    /// Milliseconds since the Unix epoch, on the system clock possibly a tick (a few
    /// milliseconds) behind: a cheaper read than [`now`](Self::now), for stamps that need no
    /// more (usage, audit events). A manual clock answers exactly.
    #[inline]
    #[must_use]
    pub fn coarse_unix_millis(&self) -> u64 {
        match &self.manual {
            None => coarse_unix_millis(),
            Some(_) => unix_millis(self.now()),
        }
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.manual {
            None => f.write_str("Clock::System"),
            Some(_) => f.debug_tuple("Clock::Manual").field(&self.now()).finish(),
        }
    }
}

/// How close to its expiry a token must be for [`is_expired`] to read the precise clock.
/// Far more than a timer tick (at most 10 ms at `HZ=100`), so that a coarse clock a little
/// behind (a tick delayed on a busy machine) can never accept an expired token.
const EXACT_WINDOW: Duration = Duration::from_secs(1);

/// The coarse clock's reading as time since the Unix epoch: the one place that knows which
/// platforms have it. `None` before 1970 or for a nonsense reading.
#[inline]
fn coarse_since_epoch() -> Option<Duration> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if coarse_is_trustworthy() {
        // Straight from the reading: no `SystemTime` round trip (its `duration_since` is an
        // out-of-line call with a checked subtraction).
        return coarse_reading();
    }
    SystemTime::now().duration_since(UNIX_EPOCH).ok()
}

/// `CLOCK_REALTIME_COARSE` as time since the Unix epoch.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[inline]
fn coarse_reading() -> Option<Duration> {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
    match (u64::try_from(ts.tv_sec), u32::try_from(ts.tv_nsec)) {
        (Ok(secs), Ok(nanos)) if nanos < 1_000_000_000 => Some(Duration::new(secs, nanos)),
        _ => None,
    }
}

/// Whether the coarse clock behaves as [`is_expired`] assumes: never ahead of the precise
/// clock, and less than half of [`EXACT_WINDOW`] behind it. Checked once, on first use; if
/// not (a kernel without a working coarse clock, a tick far longer than usual), every read
/// is precise and an expired token can never pass.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn coarse_is_trustworthy() -> bool {
    static TRUSTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRUSTED.get_or_init(|| {
        (0..3).all(|_| {
            let before = SystemTime::now().duration_since(UNIX_EPOCH).ok();
            let coarse = coarse_reading();
            let after = SystemTime::now().duration_since(UNIX_EPOCH).ok();
            matches!((before, coarse, after), (Some(b), Some(c), Some(a)) if c <= a && b.saturating_sub(c) < EXACT_WINDOW / 2)
        })
    })
}

/// The current time, possibly up to one timer tick behind.
#[inline]
fn coarse_now() -> SystemTime {
    // Without a usable coarse reading, the precise clock answers.
    coarse_since_epoch().map_or_else(SystemTime::now, |d| UNIX_EPOCH + d)
}

/// Milliseconds since the Unix epoch by the coarse clock (0 before 1970).
#[inline]
fn coarse_unix_millis() -> u64 {
    coarse_since_epoch().map_or(0, millis_of)
}

/// Milliseconds since the Unix epoch (0 before 1970).
#[inline]
pub(crate) fn unix_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, millis_of)
}

/// Nanoseconds since the Unix epoch (0 before 1970, saturating in 2554).
pub(crate) fn unix_nanos(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Whole milliseconds of `d`. Not `Duration::as_millis`: a `u128` division (a libcall), and
/// this runs per request.
#[inline]
fn millis_of(d: Duration) -> u64 {
    d.as_secs() * 1000 + u64::from(d.subsec_millis())
}

/// Whether a token expiring at `expires_at` has expired: exactly as `expires_at <=
/// SystemTime::now()`, but usually without reading the precise clock.
#[inline]
fn is_expired(expires_at: SystemTime) -> bool {
    // The coarse clock is never ahead of the real one, and never a whole window behind it, so
    // an expiry more than a window past the coarse time is still in the future.
    if coarse_now().checked_add(EXACT_WINDOW).is_some_and(|bound| expires_at > bound) {
        return false;
    }
    expires_at <= SystemTime::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coarse_clock_is_close_behind_the_precise_one() {
        for _ in 0..1000 {
            let before = SystemTime::now();
            let coarse = coarse_now();
            let after = SystemTime::now();
            // Never ahead of a precise reading taken after it (allowing for clock steps between
            // the reads would make this flaky only if the system clock were set during the test).
            assert!(coarse <= after, "coarse clock ahead of the real one");
            let lag = before.duration_since(coarse).unwrap_or_default();
            assert!(lag < EXACT_WINDOW, "coarse clock {lag:?} behind");
        }
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn the_coarse_clock_is_checked_before_it_is_trusted() {
        // On this machine the check passes; where it did not, every read would be precise.
        assert!(coarse_is_trustworthy());
    }

    #[test]
    fn expiry_is_exact_at_the_boundary() {
        let now = SystemTime::now();
        assert!(is_expired(now));
        assert!(is_expired(now - Duration::from_millis(1)));
        assert!(is_expired(UNIX_EPOCH));
        assert!(!is_expired(now + Duration::from_secs(5)));
        assert!(!is_expired(now + EXACT_WINDOW / 2), "inside the window: the precise clock decides");
        assert!(!is_expired(now + Duration::from_secs(86_400 * 365 * 100)));
    }

    #[test]
    fn a_manual_clock_stands_still_until_advanced_and_is_shared() {
        let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let clock = Clock::manual(start);
        let copy = clock.clone();
        assert_eq!(clock.now(), start);
        assert!(!clock.has_passed(start + Duration::from_nanos(1)));
        assert!(copy.advance(Duration::from_secs(60)));
        assert_eq!(clock.now(), start + Duration::from_secs(60));
        assert!(clock.has_passed(start + Duration::from_secs(60)));
        assert_eq!(clock.coarse_unix_millis(), 1_700_000_060_000);
        assert!(clock.advance(Duration::MAX), "saturates instead of overflowing");
        assert!(!Clock::system().advance(Duration::from_secs(1)));
        assert!(!Clock::system().is_manual() && clock.is_manual());
        assert_eq!(Clock::manual(UNIX_EPOCH - Duration::from_secs(5)).now(), UNIX_EPOCH);
    }

    #[test]
    fn unix_millis_matches_the_slow_conversion() {
        let at = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        assert_eq!(unix_millis(at), 1_700_000_000_123);
        assert_eq!(unix_millis(UNIX_EPOCH - Duration::from_secs(1)), 0);
        let now = coarse_unix_millis();
        let precise = unix_millis(SystemTime::now());
        assert!(now <= precise && precise - now < 1000);
    }
}
