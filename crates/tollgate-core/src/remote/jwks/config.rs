//! A key-set source's options: the defaults, their bounds, the document format, and what a built
//! source keeps of its builder.

use crate::clock::Instants;
use std::time::{Duration, Instant};

use crate::algorithm::Algorithm;
use crate::remote::error::RemoteError;

/// Default connect timeout of the built-in HTTP client.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default bound on one whole fetch (connect, headers and body).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default limit on redirects followed by the built-in HTTP client.
pub const DEFAULT_MAX_REDIRECTS: usize = 3;
/// Default limit on the size of a key-set document.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Default lower bound on how long a fetched set is fresh (`Cache-Control: max-age` clamp).
pub const DEFAULT_MIN_TTL: Duration = Duration::from_secs(5 * 60);
/// Default upper bound on how long a fetched set is fresh (`Cache-Control: max-age` clamp).
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Default freshness when the response has no `max-age`.
pub const DEFAULT_FALLBACK_TTL: Duration = Duration::from_secs(10 * 60);
/// Default longest time after a refetch that did not find a `kid` during which unknown `kid`s are
/// refused without fetching. The cooldown starts at [`MIN_UNKNOWN_KID_COOLDOWN`] and doubles
/// with every fruitless refetch up to this while unknown `kid`s keep coming.
pub const DEFAULT_UNKNOWN_KID_COOLDOWN: Duration = Duration::from_secs(30);
/// First cooldown after a fruitless refetch for an unknown `kid`: a lone junk token delays a real
/// new key by at most this long.
pub const MIN_UNKNOWN_KID_COOLDOWN: Duration = Duration::from_secs(2);
/// Longest time between two refreshes by
/// [`JwksSource::spawn_background_refresh`](super::JwksSource::spawn_background_refresh), whatever the
/// set's TTL: keys an issuer publishes ahead of use are picked up within this.
pub const MAX_BACKGROUND_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Longest duration any timing option accepts; larger values are a configuration error, so no
/// deadline computed from them can overflow.
pub const MAX_TIMING_OPTION: Duration = Duration::from_secs(366 * 24 * 60 * 60);
/// Default time past expiry during which the last good keys are still used while refreshes fail.
pub const DEFAULT_STALE_IF_ERROR: Duration = Duration::from_secs(60 * 60);
/// Google's certificates for Firebase Authentication ID tokens (`securetoken`), a
/// [`KeyFormat::PemCertificates`] document.
pub const FIREBASE_SECURETOKEN_CERTS_URL: &str =
    "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com";

pub(super) const MIN_BACKOFF: Duration = Duration::from_secs(1);
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Most unknown `kid`s remembered at once.
pub(super) const MAX_MISSED_KIDS: usize = 1024;

/// The shape of the key document at the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum KeyFormat {
    /// A JWK Set, `{"keys": [...]}` (RFC 7517). Keys are parsed leniently: unusable ones are
    /// skipped, symmetric keys are never accepted.
    #[default]
    Jwks,
    /// A JSON object mapping `kid` to a PEM `CERTIFICATE` (or `PUBLIC KEY`), as Google publishes
    /// for Firebase Authentication and other service accounts. Every key is restricted to
    /// `algorithm` (`RS256` for Google). The certificates themselves are not validated: they
    /// only carry the keys.
    PemCertificates {
        /// The one algorithm the keys verify.
        algorithm: Algorithm,
    },
}

/// The options a built source keeps (the builder's, checked).
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(super) max_response_bytes: usize,
    pub(super) timeout: Duration,
    pub(super) min_ttl: Duration,
    pub(super) max_ttl: Duration,
    pub(super) fallback_ttl: Duration,
    pub(super) unknown_kid_cooldown: Duration,
    pub(super) stale_if_error: Duration,
    pub(super) min_backoff: Duration,
    pub(super) max_backoff: Duration,
    pub(super) format: KeyFormat,
    pub(super) issuer: Option<String>,
    /// Where freshness decisions take the time from ([`JwksSourceBuilder::clock`]).
    ///
    /// [`JwksSourceBuilder::clock`]: super::JwksSourceBuilder::clock
    pub(super) instants: Instants,
}

impl Config {
    pub(super) fn check(&self) -> Result<(), RemoteError> {
        let timings = [
            self.timeout,
            self.min_ttl,
            self.max_ttl,
            self.fallback_ttl,
            self.unknown_kid_cooldown,
            self.stale_if_error,
            self.min_backoff,
            self.max_backoff,
        ];
        if timings.iter().any(|d| *d > MAX_TIMING_OPTION) {
            return Err(RemoteError::InvalidOption(
                "timing options (TTLs, timeouts, cooldown, backoff, stale window) must be at most \
                 366 days",
            ));
        }
        if self.min_ttl > self.max_ttl || self.min_ttl < Duration::from_secs(1) {
            return Err(RemoteError::InvalidOption(
                "TTL bounds must satisfy 1 s <= min <= max",
            ));
        }
        if self.min_backoff > self.max_backoff || self.min_backoff.is_zero() {
            return Err(RemoteError::InvalidOption(
                "retry backoff must be positive with min <= max",
            ));
        }
        if self.timeout.is_zero() || self.max_response_bytes == 0 {
            return Err(RemoteError::InvalidOption(
                "timeout and max response size must be positive",
            ));
        }
        Ok(())
    }
}

/// `at + delay`, saturating instead of panicking (options are capped at build time, so this only
/// matters for an `Instant` near the platform's limit).
pub(super) fn later(at: Instant, delay: Duration) -> Instant {
    at.checked_add(delay)
        .or_else(|| at.checked_add(MAX_TIMING_OPTION))
        .unwrap_or(at)
}
