//! The time a verifier judges tokens by: the system clock, or one a test moves by hand, so expiry,
//! `nbf`, leeway and cache lifetimes are tested without sleeping.
//!
//! ```
//! use std::time::Duration;
//! use tollgate_core::clock::ManualClock;
//! use tollgate_core::{Algorithm, CryptoProvider, Error, KeySet, Validation, Verifier,
//!                     VerificationKey};
//!
//! let clock = ManualClock::at(4_102_444_800 - 10); // ten seconds before the token's exp
//! let key = VerificationKey::hmac(b"0123456789abcdef0123456789abcdef")?;
//! let policy = Validation::builder([Algorithm::HS256]).audience("my-api").build()?;
//! let verifier = Verifier::builder(policy, KeySet::from(key), CryptoProvider::default())
//!     .clock(clock.clone())
//!     .build();
//! let token = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlLmNvbSIsImF1ZCI6Im15LWFwaSIsInN1YiI6InVzZXItMSIsImV4cCI6NDEwMjQ0NDgwMH0.1YFUOF9s-hTXa0XGtoQTwyKGVH3FIdXNiQiiFrX4Upw";
//! # let rt = tokio::runtime::Builder::new_current_thread().build()?;
//! assert!(rt.block_on(verifier.verify(token)).is_ok());
//! clock.advance(Duration::from_secs(120)); // past exp and the default 60 s leeway
//! assert!(matches!(rt.block_on(verifier.verify(token)), Err(Error::Expired { .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
#[cfg(feature = "remote")]
use std::time::Instant;
use std::time::{Duration, SystemTime};

use crate::registered::unix_seconds;

/// A source of the current time, in whole Unix seconds (what JWT time claims use).
///
/// Closures `Fn() -> i64` implement it.
pub trait Clock: Send + Sync + 'static {
    /// Now, in seconds since the Unix epoch.
    fn now(&self) -> i64;
}

impl<F: Fn() -> i64 + Send + Sync + 'static> Clock for F {
    fn now(&self) -> i64 {
        self()
    }
}

/// The system clock (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        unix_seconds(SystemTime::now())
    }
}

/// A clock that stands still until told to move: [`set`](Self::set) and
/// [`advance`](Self::advance). Clones share the time, so a test keeps one and hands another to
/// the verifier.
#[derive(Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock showing `unix_seconds`.
    pub fn at(unix_seconds: i64) -> Self {
        ManualClock(Arc::new(AtomicI64::new(unix_seconds)))
    }

    /// A clock showing the system time now (and then standing still).
    pub fn now_frozen() -> Self {
        ManualClock::at(SystemClock.now())
    }

    /// Shows `unix_seconds` from now on.
    pub fn set(&self, unix_seconds: i64) {
        self.0.store(unix_seconds, Ordering::SeqCst);
    }

    /// Moves the clock forward by `by` (whole seconds; saturating).
    pub fn advance(&self, by: Duration) {
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                Some(now.saturating_add(secs))
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ManualClock")
            .field(&Clock::now(self))
            .finish()
    }
}

/// A verifier's clock as it holds it: the system clock without an indirect call.
#[derive(Clone, Default)]
pub(crate) struct TimeSource(Option<Arc<dyn Clock>>);

impl TimeSource {
    pub(crate) fn new(clock: impl Clock) -> Self {
        TimeSource(Some(Arc::new(clock)))
    }

    pub(crate) fn now(&self) -> i64 {
        match &self.0 {
            Some(clock) => clock.now(),
            None => SystemClock.now(),
        }
    }

    pub(crate) fn is_system(&self) -> bool {
        self.0.is_none()
    }
}

impl fmt::Debug for TimeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_system() { "system" } else { "custom" })
    }
}

/// Instants for key sources' freshness decisions (cache lifetimes, stale windows, backoff,
/// cooldowns): the monotonic clock, or, with a custom [`Clock`], instants that move with it in
/// whole seconds, so a test that advances a [`ManualClock`] ages a cached key set too.
#[cfg(feature = "remote")]
#[derive(Clone, Default)]
pub(crate) struct Instants(Option<(Arc<dyn Clock>, Instant, i64)>);

/// Furthest a custom clock can move instants ahead (Instant cannot represent everything).
#[cfg(feature = "remote")]
const MAX_INSTANT_OFFSET: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

#[cfg(feature = "remote")]
impl Instants {
    /// Instants following `clock`, starting from the monotonic now.
    pub(crate) fn following(clock: impl Clock) -> Self {
        let base_unix = clock.now();
        Instants(Some((Arc::new(clock), Instant::now(), base_unix)))
    }

    pub(crate) fn now(&self) -> Instant {
        let Some((clock, base, base_unix)) = &self.0 else {
            return Instant::now();
        };
        let moved = clock.now().saturating_sub(*base_unix);
        let by = Duration::from_secs(moved.unsigned_abs()).min(MAX_INSTANT_OFFSET);
        let moved_to = if moved >= 0 {
            base.checked_add(by)
        } else {
            base.checked_sub(by)
        };
        moved_to.unwrap_or(*base)
    }
}

#[cfg(feature = "remote")]
impl fmt::Debug for Instants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_none() {
            "monotonic"
        } else {
            "custom"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
        let clock = ManualClock::at(100);
        let shared = clock.clone();
        assert_eq!(Clock::now(&shared), 100);
        clock.advance(Duration::from_secs(5));
        assert_eq!(Clock::now(&shared), 105);
        clock.set(7);
        assert_eq!(TimeSource::new(shared).now(), 7);
        clock.set(i64::MAX - 1);
        clock.advance(Duration::from_secs(u64::MAX));
        assert_eq!(Clock::now(&clock), i64::MAX, "saturates");
    }

    #[cfg(feature = "remote")]
    #[test]
    fn instants_follow_a_custom_clock_in_whole_seconds() {
        let clock = ManualClock::at(1_000);
        let instants = Instants::following(clock.clone());
        let start = instants.now();
        clock.advance(Duration::from_secs(90));
        assert_eq!(
            instants.now().duration_since(start),
            Duration::from_secs(90)
        );
        clock.set(i64::MAX);
        assert!(instants.now() >= start, "no overflow");
        clock.set(i64::MIN);
        assert!(instants.now() <= start + Duration::from_secs(90));
        let monotonic = Instants::default();
        assert!(monotonic.now() >= start);
    }

    #[test]
    fn closures_are_clocks_and_the_default_is_the_system_clock() {
        assert_eq!(TimeSource::new(|| 42).now(), 42);
        let system = TimeSource::default();
        assert!(system.is_system());
        assert!((system.now() - SystemClock.now()).abs() <= 1);
    }
}
