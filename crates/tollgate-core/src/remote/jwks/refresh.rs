//! The refresh state machine of a [`JwksSource`](super::JwksSource): the cached set and its
//! freshness, the single-flight fetch, `Cache-Control`/`ETag`, the unknown-`kid` cooldown, the
//! retry backoff and stale-if-error. Decisions from the cache alone are synchronous
//! ([`Shared::decide`]); only a refresh waits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use reqwest::Url;
use reqwest::header::HeaderMap;

use super::config::{
    Config, KeyFormat, MAX_BACKGROUND_INTERVAL, MAX_MISSED_KIDS, MIN_UNKNOWN_KID_COOLDOWN, later,
};
use crate::algorithm::Algorithm;
use crate::error::KeyLookupError;
use crate::key_set::KeySet;
use crate::registered::unix_seconds;
use crate::remote::certificates;
use crate::remote::error::RemoteError;
use crate::remote::fetch::{self, CacheDirective, Fetched};
use crate::remote::metrics::{Counters, JwksMetrics};
use crate::source::KeyResult;
use crate::telemetry;

/// A fetched key set and its freshness.
pub(super) struct Cached {
    pub(super) keys: KeySet,
    pub(super) expires_at: Instant,
    /// When the set was fetched or revalidated; for the background refresh.
    pub(super) fetched_at: Instant,
    pub(super) etag: Option<String>,
}

/// Failure and cooldown bookkeeping; locked briefly, never across an await.
pub(super) struct State {
    /// While failing: no fetch before this instant.
    pub(super) retry_at: Option<Instant>,
    /// The next retry delay.
    pub(super) backoff: Duration,
    /// The last fetch's error, cleared by a success.
    pub(super) last_error: Option<RemoteError>,
    /// Unknown `kid`s are refused without fetching until this instant.
    pub(super) cooldown_until: Option<Instant>,
    /// The length of the next cooldown: doubles while refetches for unknown `kid`s find nothing.
    pub(super) cooldown: Duration,
    /// `kid`s a refetch did not find, and when.
    pub(super) missed: HashMap<String, Instant>,
}

pub(super) struct Shared {
    pub(super) url: Url,
    pub(super) url_text: String,
    pub(super) client: reqwest::Client,
    pub(super) config: Config,
    pub(super) cache: ArcSwapOption<Cached>,
    /// Held by the one fetch in flight.
    pub(super) flight: tokio::sync::Mutex<()>,
    /// Fetch attempts completed (success or failure); lets waiters see that a fetch happened
    /// while they queued, so they do not fetch again.
    pub(super) attempts: AtomicU64,
    pub(super) state: Mutex<State>,
    pub(super) counters: Counters,
    pub(super) metrics: Option<Arc<dyn JwksMetrics>>,
    /// Dropped with the source, which stops the background refresh task.
    pub(super) shutdown: tokio::sync::watch::Sender<()>,
}

/// What a lookup in the cache decided.
pub(super) enum Decision<'a> {
    Answer(KeyResult),
    /// Fetch (single flight), then look up again.
    Refresh {
        wanted_kid: Option<&'a str>,
    },
}

impl Shared {
    /// The state of a source just built from checked options: nothing fetched yet.
    pub(super) fn new(
        url: Url,
        client: reqwest::Client,
        config: Config,
        metrics: Option<Arc<dyn JwksMetrics>>,
    ) -> Shared {
        let (shutdown, _) = tokio::sync::watch::channel(());
        Shared {
            url_text: url.to_string(),
            url,
            client,
            cache: ArcSwapOption::empty(),
            flight: tokio::sync::Mutex::new(()),
            attempts: AtomicU64::new(0),
            state: Mutex::new(State {
                retry_at: None,
                backoff: config.min_backoff,
                last_error: None,
                cooldown_until: None,
                cooldown: MIN_UNKNOWN_KID_COOLDOWN.min(config.unknown_kid_cooldown),
                missed: HashMap::new(),
            }),
            counters: Counters::default(),
            metrics,
            shutdown,
            config,
        }
    }

    pub(super) fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts an event and reports it to the metrics hook, if any.
    pub(super) fn record(&self, counter: &AtomicU64, report: impl FnOnce(&dyn JwksMetrics)) {
        Counters::bump(counter);
        if let Some(metrics) = self.metrics.as_deref() {
            report(metrics);
        }
    }

    /// Whether `cached` may still serve keys at `now`: fresh, or expired by less than the
    /// stale-if-error window.
    pub(super) fn usable(&self, cached: &Cached, now: Instant) -> bool {
        now < later(cached.expires_at, self.config.stale_if_error)
    }

    pub(super) fn reject_unknown(&self, kid: String) -> KeyResult {
        self.record(&self.counters.unknown_kid_rejections, |m| {
            m.unknown_kid_rejected(&kid)
        });
        telemetry::unknown_kid();
        Err(KeyLookupError::UnknownKid { kid })
    }

    pub(super) fn unavailable(&self) -> KeyLookupError {
        let why = match &self.lock_state().last_error {
            Some(err) => err.to_string(),
            None if self.cache.load().is_some() => {
                "the cached keys expired beyond the stale-if-error window".to_owned()
            }
            None => format!("no keys fetched yet from {}", self.url_text),
        };
        KeyLookupError::Unavailable(why)
    }

    /// The fast path: decide from the cache alone.
    pub(super) fn decide<'a>(
        &self,
        kid: Option<&'a str>,
        alg: Algorithm,
        now: Instant,
    ) -> Decision<'a> {
        let cached = self.cache.load();
        if let Some(cached) = cached.as_ref()
            && now < cached.expires_at
        {
            return match cached.keys.find(kid, alg) {
                Ok(key) => {
                    self.record(&self.counters.cache_hits, |m| m.cache_hit());
                    Decision::Answer(Ok(Arc::clone(key)))
                }
                Err(KeyLookupError::UnknownKid { kid: missing }) => {
                    let state = self.lock_state();
                    let cooling = state.cooldown_until.is_some_and(|t| now < t);
                    let backing_off = state.retry_at.is_some_and(|t| now < t);
                    if backing_off && state.last_error.is_some() {
                        // The refetch that would say whether this key exists failed: the
                        // token cannot be judged now (503, retry), which is not "bad token".
                        drop(state);
                        return Decision::Answer(Err(self.unavailable()));
                    }
                    if cooling || backing_off {
                        if state.missed.contains_key(&missing) {
                            tracing::trace!(kid = %missing, "unknown kid refused again during cooldown");
                        } else {
                            tracing::debug!(kid = %missing, "unknown kid refused during cooldown");
                        }
                        drop(state);
                        Decision::Answer(self.reject_unknown(missing))
                    } else {
                        Decision::Refresh { wanted_kid: kid }
                    }
                }
                Err(other) => Decision::Answer(Err(other)),
            };
        }
        // Stale or empty.
        let backing_off = self.lock_state().retry_at.is_some_and(|t| now < t);
        if backing_off {
            // Failing and backing off: no fetch now.
            return Decision::Answer(self.find_usable(cached.as_deref(), now, kid, alg));
        }
        Decision::Refresh { wanted_kid: kid }
    }

    /// Looks the key up in `cached` if it is [`usable`](Self::usable), else fails closed.
    pub(super) fn find_usable(
        &self,
        cached: Option<&Cached>,
        now: Instant,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> KeyResult {
        match cached {
            Some(cached) if self.usable(cached, now) => match cached.keys.find(kid, alg) {
                Ok(key) => Ok(Arc::clone(key)),
                Err(KeyLookupError::UnknownKid { .. })
                    if self.lock_state().last_error.is_some() =>
                {
                    // The refetch for this kid failed: unavailable, not unknown.
                    Err(self.unavailable())
                }
                Err(KeyLookupError::UnknownKid { kid }) => self.reject_unknown(kid),
                Err(other) => Err(other),
            },
            _ => Err(self.unavailable()),
        }
    }

    /// After a refresh: use whatever the cache holds now, stale within the window included.
    pub(super) fn find_after_refresh(&self, kid: Option<&str>, alg: Algorithm) -> KeyResult {
        self.find_usable(
            self.cache.load().as_deref(),
            self.config.instants.now(),
            kid,
            alg,
        )
    }

    /// Fetches now, unless a fetch is in flight: then waits for it instead.
    pub(super) async fn refresh_now(&self) {
        self.refresh(self.attempts.load(Ordering::Acquire), None)
            .await;
    }

    /// Single flight: the first caller fetches; callers that queued behind a fetch which
    /// completed meanwhile return without fetching. `observed` is [`Shared::attempts`] as read
    /// before the caller looked at the cache.
    pub(super) async fn refresh(&self, observed: u64, wanted_kid: Option<&str>) {
        let _flight = self.flight.lock().await;
        if self.attempts.load(Ordering::Acquire) != observed {
            return;
        }
        self.fetch_once(wanted_kid).await;
        self.attempts.fetch_add(1, Ordering::Release);
    }

    pub(super) async fn fetch_once(&self, wanted_kid: Option<&str>) {
        let current = self.cache.load_full();
        let etag = current.as_ref().and_then(|c| c.etag.as_deref());
        self.record(&self.counters.fetches, |m| m.fetch(&self.url_text));
        tracing::debug!(url = %self.url_text, conditional = etag.is_some(), "fetching key set");
        let result = fetch::get(
            &self.client,
            &self.url,
            etag,
            self.config.max_response_bytes,
            self.config.timeout,
        )
        .await;
        let now = self.config.instants.now();
        let not_modified = matches!(result, Ok(Fetched::NotModified { .. }));
        match result.and_then(|fetched| self.to_cached(fetched, current.as_deref(), now)) {
            Ok(cached) => {
                let result = if not_modified { "not_modified" } else { "ok" };
                telemetry::key_fetch(
                    &self.url_text,
                    result,
                    Some(unix_seconds(std::time::SystemTime::now())),
                );
                self.store(cached, wanted_kid, now)
            }
            Err(err) => {
                telemetry::key_fetch(&self.url_text, "error", None);
                self.fetch_failed(err, current.as_deref(), now)
            }
        }
    }

    /// The cache entry for a fetch's answer: the new set, or the current one revalidated by a
    /// `304 Not Modified`.
    pub(super) fn to_cached(
        &self,
        fetched: Fetched,
        current: Option<&Cached>,
        now: Instant,
    ) -> Result<Cached, RemoteError> {
        let (keys, etag, headers) = match fetched {
            Fetched::Body { body, headers } => (self.parse(&body)?, fetch::etag(&headers), headers),
            Fetched::NotModified { headers } => {
                let Some(current) = current else {
                    return Err(RemoteError::InvalidDocument {
                        url: self.url_text.clone(),
                        reason: "304 Not Modified without a cached set".into(),
                    });
                };
                self.record(&self.counters.not_modified, |m| {
                    m.not_modified(&self.url_text)
                });
                let etag = fetch::etag(&headers).or_else(|| current.etag.clone());
                (current.keys.clone(), etag, headers)
            }
        };
        let ttl = self.ttl(&headers);
        tracing::debug!(url = %self.url_text, keys = keys.len(), ttl_secs = ttl.as_secs(), "key set fetched or revalidated");
        Ok(Cached {
            keys,
            expires_at: later(now, ttl),
            fetched_at: now,
            etag,
        })
    }

    /// A successful fetch replaces the cached set and clears the failure state. When it was a
    /// refetch for `wanted_kid` and the set still lacks it, unknown `kid`s cool down.
    pub(super) fn store(&self, cached: Cached, wanted_kid: Option<&str>, now: Instant) {
        let missing = wanted_kid.filter(|kid| !cached.keys.contains_kid(kid));
        self.cache.store(Some(Arc::new(cached)));
        let mut state = self.lock_state();
        state.retry_at = None;
        state.backoff = self.config.min_backoff;
        state.last_error = None;
        let max_cooldown = self.config.unknown_kid_cooldown;
        let min_cooldown = MIN_UNKNOWN_KID_COOLDOWN.min(max_cooldown);
        let Some(kid) = missing else {
            if wanted_kid.is_some() {
                // The refetch found the new key: a real rotation; cool down briefly next time.
                state.cooldown = min_cooldown;
            }
            return;
        };
        // The refetch did not find it: cool down before fetching for unknown kids. The cooldown
        // starts short, so one junk token barely delays a real rotation, and doubles while junk
        // keeps coming (a flood costs at most a handful of fetches, then one per maximum
        // cooldown); a quiet spell of twice the maximum starts it short again.
        let quiet = state.cooldown_until.is_none_or(|until| {
            now.saturating_duration_since(until) >= max_cooldown.saturating_mul(2)
        });
        if quiet {
            state.cooldown = min_cooldown;
        }
        let cooldown = state.cooldown;
        state.cooldown = cooldown.saturating_mul(2).min(max_cooldown);
        state.cooldown_until = Some(later(now, cooldown));
        if state.missed.len() >= MAX_MISSED_KIDS {
            state
                .missed
                .retain(|_, at| now.saturating_duration_since(*at) < cooldown);
            if state.missed.len() >= MAX_MISSED_KIDS {
                state.missed.clear();
            }
        }
        let first = state.missed.insert(kid.to_owned(), now).is_none();
        drop(state);
        if first {
            tracing::warn!(url = %self.url_text, kid, "kid not found even after refetching the key set");
        }
    }

    /// A failed fetch leaves the cache untouched and backs off.
    pub(super) fn fetch_failed(&self, err: RemoteError, current: Option<&Cached>, now: Instant) {
        self.record(&self.counters.fetch_failures, |m| {
            m.fetch_failure(&self.url_text, &err)
        });
        let mut state = self.lock_state();
        let delay = state.backoff;
        state.retry_at = Some(later(now, delay));
        state.backoff = delay.saturating_mul(2).min(self.config.max_backoff);
        state.last_error = Some(err.clone());
        drop(state);
        let serving = match current {
            Some(c) if self.usable(c, now) => "keeping the cached keys",
            Some(_) => "cached keys too old to use: failing closed",
            None => "no keys: failing closed",
        };
        tracing::warn!(url = %self.url_text, error = %err, retry_in_ms = delay.as_millis() as u64, serving, "key set fetch failed");
    }

    pub(super) fn ttl(&self, headers: &HeaderMap) -> Duration {
        let config = &self.config;
        match fetch::cache_directive(headers) {
            CacheDirective::MaxAge(seconds) => {
                // Freshness left = max-age minus the time already spent in caches (RFC 9111).
                let left = seconds.saturating_sub(fetch::age(headers));
                Duration::from_secs(left).clamp(config.min_ttl, config.max_ttl)
            }
            CacheDirective::NoCache => config.min_ttl,
            CacheDirective::None => config.fallback_ttl,
        }
    }

    pub(super) fn parse(&self, body: &[u8]) -> Result<KeySet, RemoteError> {
        let invalid = |reason: String| RemoteError::InvalidDocument {
            url: self.url_text.clone(),
            reason,
        };
        let text = std::str::from_utf8(body).map_err(|_| invalid("not UTF-8".into()))?;
        let keys = match self.config.format {
            KeyFormat::Jwks => {
                KeySet::parse_lenient(text, false).map_err(|e| invalid(e.to_string()))?
            }
            KeyFormat::PemCertificates { algorithm } => {
                certificates::parse_pem_map(text, algorithm).map_err(invalid)?
            }
        };
        if keys.is_empty() {
            return Err(RemoteError::NoUsableKeys {
                url: self.url_text.clone(),
            });
        }
        Ok(keys)
    }

    /// How long the background task should sleep before the next refresh (zero: now).
    pub(super) fn background_delay(&self, now: Instant) -> Duration {
        if let Some(retry_at) = self.lock_state().retry_at {
            return retry_at.saturating_duration_since(now);
        }
        match self.cache.load().as_ref() {
            None => Duration::ZERO,
            Some(cached) => {
                let ttl = cached
                    .expires_at
                    .saturating_duration_since(cached.fetched_at);
                let margin = (ttl / 10).min(Duration::from_secs(60));
                let before_expiry = cached
                    .expires_at
                    .checked_sub(margin)
                    .unwrap_or(cached.expires_at)
                    .saturating_duration_since(now);
                // At least every few minutes, whatever the TTL: keys published ahead of use
                // (as Entra, Auth0 and Google do before rotating) are picked up early.
                let periodic = later(cached.fetched_at, MAX_BACKGROUND_INTERVAL)
                    .saturating_duration_since(now);
                before_expiry.min(periodic)
            }
        }
    }
}
