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
//! | `tollgate_dpop_proofs_total` | counter | `outcome` (`accepted`, `refused`, `unavailable`), `reason` (`DpopError::reason`: `dpop_replayed`, `dpop_uri_mismatch`, ...; `none` when accepted) | DPoP proofs a [`DpopVerifier`](crate::dpop::DpopVerifier) checked |
//!
//! Install the recorder before the first request (each verifier registers its counters once,
//! on first use) and call [`describe`] to give exporters the descriptions.
//!
//! ```
//! use tollgate_core::telemetry;
//!
//! // e.g. metrics_exporter_prometheus::PrometheusBuilder::new().install()?;
//! telemetry::describe();
//! assert_eq!(telemetry::VERIFICATIONS, "tollgate_verifications_total");
//! ```

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use metrics::Counter;

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
/// Counter: DPoP proofs checked, by `outcome` and `reason`.
pub const DPOP_PROOFS: &str = "tollgate_dpop_proofs_total";

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
    describe_counter!(
        DPOP_PROOFS,
        Unit::Count,
        "DPoP proofs checked, by outcome (accepted, refused, unavailable) and refusal reason"
    );
}

/// Every value of the `reason` label ([`Error::reason`]), for one handle each.
const REASONS: [&str; 25] = [
    "too_large",
    "malformed",
    "alg_none",
    "algorithm_not_allowed",
    "critical_header",
    "unsupported_header",
    "wrong_type",
    "unknown_key",
    "no_key",
    "ambiguous_key",
    "key_algorithm_mismatch",
    "keys_unavailable",
    "invalid_signature",
    "expired",
    "not_yet_valid",
    "issued_in_future",
    "missing_claim",
    "invalid_claim",
    "wrong_issuer",
    "wrong_audience",
    "claim_check",
    "claims_shape",
    "insufficient_scope",
    "revoked",
    "revocation_unavailable",
];

/// The counter handles one verifier (or router) records its verifications with.
///
/// Registered on first use, with the recorder installed at that moment, and kept: building a
/// metric key on every request cost about 900 instructions per cache hit (a third of a hit's
/// own cost) even with no recorder at all. So install the recorder before the first request.
#[derive(Default)]
pub(crate) struct VerificationCounters {
    accepted: OnceLock<Counter>,
    refused: [OnceLock<Counter>; REASONS.len()],
    unavailable: [OnceLock<Counter>; REASONS.len()],
}

impl fmt::Debug for VerificationCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VerificationCounters")
    }
}

impl VerificationCounters {
    /// Counts the outcome of `verification` (when it is pending, once it ends).
    pub(crate) fn counted(self: &Arc<Self>, verification: Verification) -> Verification {
        match verification {
            Verification::Done(outcome) => {
                self.count(&outcome);
                Verification::Done(outcome)
            }
            Verification::Pending(pending) => {
                let counters = Arc::clone(self);
                Verification::Pending(PendingVerification::new(async move {
                    let outcome = pending.await;
                    counters.count(&outcome);
                    outcome
                }))
            }
        }
    }

    fn count(&self, outcome: &Result<VerifiedToken, Error>) {
        let err = match outcome {
            Ok(_) => {
                let accepted = self.accepted.get_or_init(|| {
                    metrics::counter!(VERIFICATIONS, "outcome" => "accepted", "reason" => "none")
                });
                accepted.increment(1);
                return;
            }
            Err(err) => err,
        };
        let reason = err.reason();
        let (outcome, handles) = if err.is_transient() {
            ("unavailable", &self.unavailable)
        } else {
            ("refused", &self.refused)
        };
        match REASONS.iter().position(|r| *r == reason) {
            Some(index) => handles[index]
                .get_or_init(
                    || metrics::counter!(VERIFICATIONS, "outcome" => outcome, "reason" => reason),
                )
                .increment(1),
            // A reason added to `Error` but not to the table: still counted, unhandled.
            None => metrics::counter!(VERIFICATIONS, "outcome" => outcome, "reason" => reason)
                .increment(1),
        }
    }
}

/// The counter handles of one DPoP verifier (see [`VerificationCounters`] for why they are
/// kept); refusals, rarer, share a small locked table.
#[derive(Default)]
pub(crate) struct DpopCounters {
    accepted: OnceLock<Counter>,
    refused: Mutex<Vec<(&'static str, bool, Counter)>>,
}

impl DpopCounters {
    /// A proof check that ended: accepted, or refused for `reason` (`transient`: the replay
    /// store could not answer).
    pub(crate) fn count(&self, refusal: Option<(&'static str, bool)>) {
        let Some((reason, transient)) = refusal else {
            self.accepted
                .get_or_init(
                    || metrics::counter!(DPOP_PROOFS, "outcome" => "accepted", "reason" => "none"),
                )
                .increment(1);
            return;
        };
        let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, _, counter)) = refused
            .iter()
            .find(|(r, t, _)| *r == reason && *t == transient)
        {
            counter.increment(1);
            return;
        }
        let outcome = if transient { "unavailable" } else { "refused" };
        let counter = metrics::counter!(DPOP_PROOFS, "outcome" => outcome, "reason" => reason);
        counter.increment(1);
        refused.push((reason, transient, counter));
    }
}

impl fmt::Debug for DpopCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DpopCounters")
    }
}

/// The counter handles of one verified-token cache (see [`VerificationCounters`] for why they
/// are kept).
#[derive(Default)]
pub(crate) struct CacheCounters {
    hits: OnceLock<Counter>,
    misses: OnceLock<Counter>,
    evictions: OnceLock<Counter>,
}

impl CacheCounters {
    /// A lookup.
    pub(crate) fn lookup(&self, hit: bool) {
        let counter = if hit {
            self.hits
                .get_or_init(|| metrics::counter!(TOKEN_CACHE_LOOKUPS, "result" => "hit"))
        } else {
            self.misses
                .get_or_init(|| metrics::counter!(TOKEN_CACHE_LOOKUPS, "result" => "miss"))
        };
        counter.increment(1);
    }

    /// A cache entry evicted.
    pub(crate) fn eviction(&self) {
        self.evictions
            .get_or_init(|| metrics::counter!(TOKEN_CACHE_EVICTIONS))
            .increment(1);
    }
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

#[cfg(test)]
mod tests {
    use super::REASONS;
    use crate::error::Error;

    #[test]
    fn the_reason_table_holds_every_reason() {
        // One error of each kind whose reason is not derived from data.
        let samples = [
            Error::InvalidSignature,
            Error::CriticalHeader,
            Error::AmbiguousKey,
            Error::Revoked(crate::revocation::Revoked::Token),
            Error::RevocationUnavailable(String::new()),
            Error::KeySourceUnavailable(String::new()),
            Error::ClaimCheck(String::new()),
            Error::ClaimsShape(String::new()),
        ];
        for err in samples {
            assert!(REASONS.contains(&err.reason()), "{}", err.reason());
        }
        let mut sorted = REASONS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), REASONS.len(), "no duplicates");
    }
}
