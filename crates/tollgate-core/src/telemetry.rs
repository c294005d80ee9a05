//! Metrics, through the [`metrics`](https://docs.rs/metrics) facade: Tollgate records, the
//! application chooses the exporter (Prometheus, StatsD, OpenTelemetry, ...) by installing a
//! recorder. Without one, recording costs one relaxed atomic load per call.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `tollgate_verifications_total` | counter | `outcome` (`accepted`, `refused`, `unavailable`), `reason` ([`Error::reason`], `none` when accepted) | every verification a [`Verifier`](crate::Verifier) or [`MultiIssuer`](crate::MultiIssuer) decided, cache hits included |
//! | `tollgate_token_cache_lookups_total` | counter | `result` (`hit`, `miss`) | verified-token cache lookups |
//! | `tollgate_token_cache_evictions_total` | counter | - | live entries evicted to make room |
//! | `tollgate_key_fetches_total` | counter | `result` (`ok`, `not_modified`, `error`) | key set / discovery fetches of remote key sources |
//! | `tollgate_key_set_refreshed_at_seconds` | gauge | `url` | Unix time of the last successful fetch of that key set: its age is now minus this |
//! | `tollgate_unknown_kid_rejections_total` | counter | - | tokens refused because no key has their `kid` |
//!
//! Call [`describe`] once after installing the recorder to give exporters the descriptions.
//!
//! ```
//! use tollgate_core::telemetry;
//!
//! // e.g. metrics_exporter_prometheus::PrometheusBuilder::new().install()?;
//! telemetry::describe();
//! assert_eq!(telemetry::VERIFICATIONS, "tollgate_verifications_total");
//! ```

use crate::error::Error;
use crate::token_verifier::{PendingVerification, Verification};
use crate::verified_token::VerifiedToken;

/// Counter: verifications by `outcome` and `reason`.
pub const VERIFICATIONS: &str = "tollgate_verifications_total";
/// Counter: verified-token cache lookups by `result`.
pub const TOKEN_CACHE_LOOKUPS: &str = "tollgate_token_cache_lookups_total";
/// Counter: live cache entries evicted to make room.
pub const TOKEN_CACHE_EVICTIONS: &str = "tollgate_token_cache_evictions_total";
/// Counter: remote key fetches by `result`.
pub const KEY_FETCHES: &str = "tollgate_key_fetches_total";
/// Gauge: Unix time of the last successful fetch of a key set, by `url`.
pub const KEY_SET_REFRESHED_AT: &str = "tollgate_key_set_refreshed_at_seconds";
/// Counter: tokens refused for an unknown `kid`.
pub const UNKNOWN_KID_REJECTIONS: &str = "tollgate_unknown_kid_rejections_total";

/// Registers the descriptions and units of every metric with the installed recorder.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge};
    describe_counter!(
        VERIFICATIONS,
        Unit::Count,
        "Token verifications by outcome (accepted, refused, unavailable) and refusal reason"
    );
    describe_counter!(
        TOKEN_CACHE_LOOKUPS,
        Unit::Count,
        "Verified-token cache lookups by result (hit, miss)"
    );
    describe_counter!(
        TOKEN_CACHE_EVICTIONS,
        Unit::Count,
        "Live verified-token cache entries evicted to make room"
    );
    describe_counter!(
        KEY_FETCHES,
        Unit::Count,
        "Remote key set fetches by result (ok, not_modified, error)"
    );
    describe_gauge!(
        KEY_SET_REFRESHED_AT,
        Unit::Seconds,
        "Unix time of the last successful fetch of a key set"
    );
    describe_counter!(
        UNKNOWN_KID_REJECTIONS,
        Unit::Count,
        "Tokens refused because no key has their kid"
    );
}

/// Counts the outcome of `verification` (when it is pending, once it ends).
pub(crate) fn counted(verification: Verification) -> Verification {
    match verification {
        Verification::Done(outcome) => {
            verification_outcome(&outcome);
            Verification::Done(outcome)
        }
        Verification::Pending(pending) => {
            Verification::Pending(PendingVerification::new(async move {
                let outcome = pending.await;
                verification_outcome(&outcome);
                outcome
            }))
        }
    }
}

fn verification_outcome(outcome: &Result<VerifiedToken, Error>) {
    let (outcome, reason) = match outcome {
        Ok(_) => ("accepted", "none"),
        Err(err) if err.is_transient() => ("unavailable", err.reason()),
        Err(err) => ("refused", err.reason()),
    };
    metrics::counter!(VERIFICATIONS, "outcome" => outcome, "reason" => reason).increment(1);
}

/// A verified-token cache lookup.
pub(crate) fn cache_lookup(hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    metrics::counter!(TOKEN_CACHE_LOOKUPS, "result" => result).increment(1);
}

/// A live cache entry evicted.
pub(crate) fn cache_eviction() {
    metrics::counter!(TOKEN_CACHE_EVICTIONS).increment(1);
}

/// The result of a remote key fetch; a successful one also sets the key set's refresh time.
#[cfg(feature = "remote")]
pub(crate) fn key_fetch(url: &str, result: &'static str, refreshed_at: Option<i64>) {
    metrics::counter!(KEY_FETCHES, "result" => result).increment(1);
    if let Some(at) = refreshed_at {
        metrics::gauge!(KEY_SET_REFRESHED_AT, "url" => url.to_owned()).set(at as f64);
    }
}

/// A token refused for an unknown `kid`.
#[cfg(feature = "remote")]
pub(crate) fn unknown_kid() {
    metrics::counter!(UNKNOWN_KID_REJECTIONS).increment(1);
}
