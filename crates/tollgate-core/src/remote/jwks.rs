//! [`JwksSource`]: a JWK Set fetched over HTTPS, cached, refreshed and refetched on demand.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use reqwest::Url;
use reqwest::header::HeaderMap;

use super::error::RemoteError;
use super::fetch::{self, CacheDirective, Fetched};
use super::metrics::{Counters, JwksMetrics, JwksStats};
use crate::algorithm::Algorithm;
use crate::error::KeyLookupError;
use crate::key::VerificationKey;
use crate::key_set::{KeySet, MAX_KEYS_PER_SET};
use crate::source::{KeyFuture, KeyRequest, KeyResult, KeySource};

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
/// Longest time between two refreshes by [`JwksSource::spawn_background_refresh`], whatever the
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

const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Most unknown `kid`s remembered at once.
const MAX_MISSED_KIDS: usize = 1024;

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

/// Configures a [`JwksSource`]; from [`JwksSource::builder`].
#[derive(Clone, Debug)]
pub struct JwksSourceBuilder {
    url: String,
    client: Option<reqwest::Client>,
    connect_timeout: Duration,
    max_redirects: usize,
    allow_insecure_http: bool,
    metrics: Option<Arc<dyn JwksMetrics>>,
    /// What the built source keeps.
    config: Config,
}

impl JwksSourceBuilder {
    fn new(url: String) -> Self {
        JwksSourceBuilder {
            url,
            client: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            allow_insecure_http: false,
            metrics: None,
            config: Config {
                max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
                timeout: DEFAULT_TIMEOUT,
                min_ttl: DEFAULT_MIN_TTL,
                max_ttl: DEFAULT_MAX_TTL,
                fallback_ttl: DEFAULT_FALLBACK_TTL,
                unknown_kid_cooldown: DEFAULT_UNKNOWN_KID_COOLDOWN,
                stale_if_error: DEFAULT_STALE_IF_ERROR,
                min_backoff: MIN_BACKOFF,
                max_backoff: MAX_BACKOFF,
                format: KeyFormat::Jwks,
                issuer: None,
            },
        }
    }

    /// The issuer whose keys these are. The source then reports it through
    /// [`KeySource::issuer`], and a [`Verifier`](crate::Verifier) whose policy lists no issuer
    /// accepts only that issuer's tokens. Provider presets set it.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.config.issuer = Some(issuer.into());
        self
    }

    /// Replaces the URL, e.g. to point [`JwksSource::firebase`] at a mirror.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// Uses this HTTP client, e.g. one shared with the rest of the application, or one with a
    /// proxy or extra root certificates. Its own timeouts and redirect policy apply;
    /// [`timeout`](Self::timeout) still bounds every fetch. The default client has a 2 s
    /// connect timeout, a 5 s total timeout and follows at most 3 redirects, never to plain
    /// http.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// The connect timeout of the default client (default 2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Bound on a whole fetch, headers and body (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = timeout;
        self
    }

    /// Redirects the default client follows (default 3).
    pub fn max_redirects(mut self, max: usize) -> Self {
        self.max_redirects = max;
        self
    }

    /// Largest document accepted, enforced while the body streams in (default 256 KiB).
    pub fn max_response_bytes(mut self, max: usize) -> Self {
        self.config.max_response_bytes = max;
        self
    }

    /// Bounds for `Cache-Control: max-age` (defaults 5 min and 24 h; the minimum must be at least
    /// 1 s). `no-store` and `no-cache` count as the minimum.
    pub fn ttl_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.config.min_ttl = min;
        self.config.max_ttl = max;
        self
    }

    /// Freshness when the response has no `max-age` (default 10 min; clamped to the bounds).
    pub fn fallback_ttl(mut self, ttl: Duration) -> Self {
        self.config.fallback_ttl = ttl;
        self
    }

    /// After a refetch for an unknown `kid` that still lacks it, refuse unknown `kid`s without
    /// fetching for this long (default 30 s). A refetch that finds the `kid` starts no cooldown.
    pub fn unknown_kid_cooldown(mut self, cooldown: Duration) -> Self {
        self.config.unknown_kid_cooldown = cooldown;
        self
    }

    /// While refreshes fail, keep using the last good keys for this long past their expiry
    /// (default 1 h); after that, fail closed.
    pub fn stale_if_error(mut self, window: Duration) -> Self {
        self.config.stale_if_error = window;
        self
    }

    /// Retry delays after failed fetches: starts at `min`, doubles up to `max` (defaults 1 s and
    /// 60 s). Requests arriving during the delay get the cached keys (or fail closed) without a
    /// fetch.
    pub fn retry_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.config.min_backoff = min;
        self.config.max_backoff = max;
        self
    }

    /// Allows plain-http URLs to any host. Off by default: only `https` and loopback hosts
    /// (`127.0.0.0/8`, `::1`, `localhost`) are accepted. Applies to redirects of the default
    /// client too.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// The document format (default [`KeyFormat::Jwks`]).
    pub fn format(mut self, format: KeyFormat) -> Self {
        self.config.format = format;
        self
    }

    /// Reports activity to `metrics` besides the built-in [`JwksSource::stats`] counters.
    pub fn metrics(mut self, metrics: Arc<dyn JwksMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    pub(crate) fn insecure_http_allowed(&self) -> bool {
        self.allow_insecure_http
    }

    pub(crate) fn max_bytes(&self) -> usize {
        self.config.max_response_bytes
    }

    pub(crate) fn fetch_timeout(&self) -> Duration {
        self.config.timeout
    }

    /// The configured client, or a default one built from the options.
    pub(crate) fn http_client(&self) -> Result<reqwest::Client, RemoteError> {
        match &self.client {
            Some(client) => Ok(client.clone()),
            None => fetch::default_client(
                self.connect_timeout,
                self.config.timeout,
                self.max_redirects,
                self.allow_insecure_http,
            ),
        }
    }

    /// Checks the URL and options and builds the source. Nothing is fetched yet: call
    /// [`JwksSource::prefetch`] to fetch eagerly.
    pub fn build(self) -> Result<JwksSource, RemoteError> {
        let url = fetch::check_url(&self.url, self.allow_insecure_http)?;
        self.config.check()?;
        if self.connect_timeout.is_zero() || self.connect_timeout > MAX_TIMING_OPTION {
            return Err(RemoteError::InvalidOption(
                "the connect timeout must be positive and at most 366 days",
            ));
        }
        let client = self.http_client()?;
        let mut config = self.config;
        config.fallback_ttl = config.fallback_ttl.clamp(config.min_ttl, config.max_ttl);
        let (shutdown, _) = tokio::sync::watch::channel(());
        Ok(JwksSource {
            shared: Arc::new(Shared {
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
                metrics: self.metrics,
                shutdown,
                config,
            }),
        })
    }
}

/// A [`KeySource`] backed by a remote JWK Set (an identity provider's `jwks_uri`).
///
/// - **Cache hits are lock-free**: the current set lives in an atomically swapped cell; a token
///   whose `kid` is in a fresh set gets its key without waiting or allocating.
/// - **Lazy refresh, single flight**: a stale set is refreshed on the request path (no
///   background timer needed, so it works in AWS Lambda); at most one fetch is in flight, and
///   concurrent requests wait for it and then read the new set.
///   [`spawn_background_refresh`](Self::spawn_background_refresh) refreshes ahead of expiry
///   instead, for long-running servers.
/// - **HTTP caching**: `Cache-Control: max-age` (less any `Age`) sets the freshness, clamped to
///   [`ttl_bounds`](JwksSourceBuilder::ttl_bounds); `no-store`/`no-cache` count as the minimum;
///   without `max-age` the [`fallback_ttl`](JwksSourceBuilder::fallback_ttl) applies. A known
///   `ETag` is sent as `If-None-Match`, and `304 Not Modified` extends the freshness.
/// - **Key rotation**: a `kid` missing from a fresh set triggers one refetch. If the refetched
///   set still lacks it, unknown `kid`s are refused without fetching for the
///   [`unknown_kid_cooldown`](JwksSourceBuilder::unknown_kid_cooldown), so random `kid`s cannot
///   make the source hammer the identity provider.
/// - **Failures**: a failed fetch (transport, timeout, HTTP status, oversized or invalid
///   document, no usable key) leaves the cache untouched and is logged with `tracing::warn!`;
///   the last good keys are used up to [`stale_if_error`](JwksSourceBuilder::stale_if_error)
///   past their expiry; retries back off from 1 s to 60 s. With no keys at all, lookups fail
///   closed with [`KeyLookupError::Unavailable`] (HTTP 503).
///
/// Cloning is cheap and clones share the cache.
///
/// ```no_run
/// use std::time::Duration;
/// use tollgate_core::remote::JwksSource;
/// use tollgate_core::{Algorithm, CryptoProvider, StandardClaims, Validation, Verifier};
///
/// # async fn run(token: &str) -> Result<(), Box<dyn std::error::Error>> {
/// let keys = JwksSource::builder("https://idp.example.com/.well-known/jwks.json")
///     .ttl_bounds(Duration::from_secs(60), Duration::from_secs(6 * 60 * 60))
///     .build()?;
/// keys.prefetch().await?; // optional: fetch at start-up instead of on the first request
/// let policy = Validation::builder([Algorithm::RS256])
///     .issuer("https://idp.example.com")
///     .audience("my-api")
///     .build()?;
/// let verifier = Verifier::new(policy, keys, CryptoProvider::default());
/// let verified = verifier.verify::<StandardClaims>(token).await?;
/// # let _ = verified;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct JwksSource {
    shared: Arc<Shared>,
}

/// The options a built source keeps (the builder's, checked).
#[derive(Clone, Debug)]
struct Config {
    max_response_bytes: usize,
    timeout: Duration,
    min_ttl: Duration,
    max_ttl: Duration,
    fallback_ttl: Duration,
    unknown_kid_cooldown: Duration,
    stale_if_error: Duration,
    min_backoff: Duration,
    max_backoff: Duration,
    format: KeyFormat,
    issuer: Option<String>,
}

impl Config {
    fn check(&self) -> Result<(), RemoteError> {
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

/// A fetched key set and its freshness.
struct Cached {
    keys: KeySet,
    expires_at: Instant,
    /// When the set was fetched or revalidated; for the background refresh.
    fetched_at: Instant,
    etag: Option<String>,
}

/// Failure and cooldown bookkeeping; locked briefly, never across an await.
struct State {
    /// While failing: no fetch before this instant.
    retry_at: Option<Instant>,
    /// The next retry delay.
    backoff: Duration,
    /// The last fetch's error, cleared by a success.
    last_error: Option<RemoteError>,
    /// Unknown `kid`s are refused without fetching until this instant.
    cooldown_until: Option<Instant>,
    /// The length of the next cooldown: doubles while refetches for unknown `kid`s find nothing.
    cooldown: Duration,
    /// `kid`s a refetch did not find, and when.
    missed: HashMap<String, Instant>,
}

struct Shared {
    url: Url,
    url_text: String,
    client: reqwest::Client,
    config: Config,
    cache: ArcSwapOption<Cached>,
    /// Held by the one fetch in flight.
    flight: tokio::sync::Mutex<()>,
    /// Fetch attempts completed (success or failure); lets waiters see that a fetch happened
    /// while they queued, so they do not fetch again.
    attempts: AtomicU64,
    state: Mutex<State>,
    counters: Counters,
    metrics: Option<Arc<dyn JwksMetrics>>,
    /// Dropped with the source, which stops the background refresh task.
    shutdown: tokio::sync::watch::Sender<()>,
}

/// What a lookup in the cache decided.
enum Decision<'a> {
    Answer(KeyResult),
    /// Fetch (single flight), then look up again.
    Refresh {
        wanted_kid: Option<&'a str>,
    },
}

impl JwksSource {
    /// Starts configuring a source for the key set at `url`.
    pub fn builder(url: impl Into<String>) -> JwksSourceBuilder {
        JwksSourceBuilder::new(url.into())
    }

    /// A builder for Google's Firebase Authentication certificates
    /// ([`FIREBASE_SECURETOKEN_CERTS_URL`], [`KeyFormat::PemCertificates`] with `RS256`).
    /// Firebase ID tokens have issuer `https://securetoken.google.com/<project-id>` and audience
    /// `<project-id>`.
    pub fn firebase() -> JwksSourceBuilder {
        JwksSourceBuilder::new(FIREBASE_SECURETOKEN_CERTS_URL.to_owned()).format(
            KeyFormat::PemCertificates {
                algorithm: Algorithm::RS256,
            },
        )
    }

    /// The key set's URL.
    pub fn url(&self) -> &str {
        &self.shared.url_text
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> JwksStats {
        self.shared.counters.snapshot()
    }

    /// The cached keys, if any were fetched (fresh or not).
    pub fn cached_keys(&self) -> Option<KeySet> {
        self.shared.cache.load_full().map(|c| c.keys.clone())
    }

    /// Fetches the key set now (ignoring freshness and retry backoff), e.g. at start-up so
    /// that the first request does not wait and a misconfiguration shows early. Sources are
    /// lazy without it.
    pub async fn prefetch(&self) -> Result<(), RemoteError> {
        let shared = &self.shared;
        shared.refresh_now().await;
        match &shared.lock_state().last_error {
            Some(err) => Err(err.clone()),
            None if shared.cache.load().is_some() => Ok(()),
            None => Err(RemoteError::NoUsableKeys {
                url: shared.url_text.clone(),
            }),
        }
    }

    /// Spawns a tokio task that refreshes the set shortly before it expires (and retries with
    /// backoff after failures), so requests never wait for a fetch. For long-running servers;
    /// lazy refresh on the request path still applies. The task holds only a weak reference
    /// and ends when the last clone of the source is dropped; the handle can also abort it.
    pub fn spawn_background_refresh(&self) -> Result<tokio::task::JoinHandle<()>, RemoteError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| RemoteError::NoRuntime)?;
        let weak: Weak<Shared> = Arc::downgrade(&self.shared);
        let mut shutdown = self.shared.shutdown.subscribe();
        Ok(runtime.spawn(async move {
            loop {
                let delay = match weak.upgrade() {
                    Some(shared) => shared.background_delay(Instant::now()),
                    None => return,
                };
                if let Ok(_closed) = tokio::time::timeout(delay, shutdown.changed()).await {
                    // The sender went away: the source was dropped.
                    return;
                }
                let Some(shared) = weak.upgrade() else { return };
                if shared.background_delay(Instant::now()).is_zero() {
                    shared.refresh_now().await;
                }
            }
        }))
    }
}

impl Shared {
    fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts an event and reports it to the metrics hook, if any.
    fn record(&self, counter: &AtomicU64, report: impl FnOnce(&dyn JwksMetrics)) {
        Counters::bump(counter);
        if let Some(metrics) = self.metrics.as_deref() {
            report(metrics);
        }
    }

    /// Whether `cached` may still serve keys at `now`: fresh, or expired by less than the
    /// stale-if-error window.
    fn usable(&self, cached: &Cached, now: Instant) -> bool {
        now < later(cached.expires_at, self.config.stale_if_error)
    }

    fn reject_unknown(&self, kid: String) -> KeyResult {
        self.record(&self.counters.unknown_kid_rejections, |m| {
            m.unknown_kid_rejected(&kid)
        });
        Err(KeyLookupError::UnknownKid { kid })
    }

    fn unavailable(&self) -> KeyLookupError {
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
    fn decide<'a>(&self, kid: Option<&'a str>, alg: Algorithm, now: Instant) -> Decision<'a> {
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
    fn find_usable(
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
    fn find_after_refresh(&self, kid: Option<&str>, alg: Algorithm) -> KeyResult {
        self.find_usable(self.cache.load().as_deref(), Instant::now(), kid, alg)
    }

    /// Fetches now, unless a fetch is in flight: then waits for it instead.
    async fn refresh_now(&self) {
        self.refresh(self.attempts.load(Ordering::Acquire), None)
            .await;
    }

    /// Single flight: the first caller fetches; callers that queued behind a fetch which
    /// completed meanwhile return without fetching. `observed` is [`Shared::attempts`] as read
    /// before the caller looked at the cache.
    async fn refresh(&self, observed: u64, wanted_kid: Option<&str>) {
        let _flight = self.flight.lock().await;
        if self.attempts.load(Ordering::Acquire) != observed {
            return;
        }
        self.fetch_once(wanted_kid).await;
        self.attempts.fetch_add(1, Ordering::Release);
    }

    async fn fetch_once(&self, wanted_kid: Option<&str>) {
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
        let now = Instant::now();
        match result.and_then(|fetched| self.to_cached(fetched, current.as_deref(), now)) {
            Ok(cached) => self.store(cached, wanted_kid, now),
            Err(err) => self.fetch_failed(err, current.as_deref(), now),
        }
    }

    /// The cache entry for a fetch's answer: the new set, or the current one revalidated by a
    /// `304 Not Modified`.
    fn to_cached(
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
    fn store(&self, cached: Cached, wanted_kid: Option<&str>, now: Instant) {
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
    fn fetch_failed(&self, err: RemoteError, current: Option<&Cached>, now: Instant) {
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

    fn ttl(&self, headers: &HeaderMap) -> Duration {
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

    fn parse(&self, body: &[u8]) -> Result<KeySet, RemoteError> {
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
                parse_pem_map(text, algorithm).map_err(invalid)?
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
    fn background_delay(&self, now: Instant) -> Duration {
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

/// `at + delay`, saturating instead of panicking (options are capped at build time, so this only
/// matters for an `Instant` near the platform's limit).
fn later(at: Instant, delay: Duration) -> Instant {
    at.checked_add(delay)
        .or_else(|| at.checked_add(MAX_TIMING_OPTION))
        .unwrap_or(at)
}

/// Parses `{"kid": "-----BEGIN CERTIFICATE-----...", ...}`; invalid entries are skipped.
fn parse_pem_map(text: &str, algorithm: Algorithm) -> Result<KeySet, String> {
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| format!("not a JSON object: {e}"))?;
    let mut keys = KeySet::new();
    for (kid, value) in map.into_iter().take(MAX_KEYS_PER_SET) {
        let Some(pem) = value.as_str() else {
            tracing::warn!(kid, "skipping certificate-map entry that is not a string");
            continue;
        };
        match VerificationKey::from_pem(pem)
            .and_then(|k| k.with_kid(kid.clone()).with_algorithm(algorithm))
        {
            Ok(key) => keys.push(key),
            Err(err) => tracing::warn!(kid, error = %err, "skipping invalid certificate"),
        }
    }
    Ok(keys)
}

impl KeySource for JwksSource {
    fn issuer(&self) -> Option<&str> {
        self.shared.config.issuer.as_deref()
    }

    /// `false` once the cached set is past its stale-if-error window (or there is none): the
    /// source then fails closed, and so does every token it verified earlier.
    fn still_trusted(&self) -> bool {
        let shared = &*self.shared;
        shared
            .cache
            .load()
            .as_ref()
            .is_some_and(|cached| shared.usable(cached, Instant::now()))
    }

    /// Takes `keys` as a set fetched just now, fresh for the fallback TTL, then refreshed like
    /// any fetched set; refused (handed back) when the source already holds keys.
    fn preload(&self, keys: KeySet) -> Result<(), KeySet> {
        let shared = &*self.shared;
        if keys.is_empty() || shared.cache.load().is_some() {
            return Err(keys);
        }
        let now = Instant::now();
        let cached = Cached {
            keys,
            expires_at: later(now, shared.config.fallback_ttl),
            fetched_at: now,
            etag: None,
        };
        // Another thread may have fetched meanwhile: keep its set then.
        let previous = shared
            .cache
            .compare_and_swap(&None::<Arc<Cached>>, Some(Arc::new(cached)));
        if previous.is_some() {
            return Err(KeySet::new());
        }
        tracing::debug!(url = %shared.url_text, "key set preloaded");
        Ok(())
    }

    fn key<'a>(&'a self, request: KeyRequest<'a>) -> KeyFuture<'a> {
        let shared = &*self.shared;
        // Read the attempt count before the cache: a fetch completing after this point makes
        // `refresh` return without fetching again.
        let observed = shared.attempts.load(Ordering::Acquire);
        match shared.decide(request.kid, request.alg, Instant::now()) {
            Decision::Answer(result) => KeyFuture::ready(result),
            Decision::Refresh { wanted_kid } => KeyFuture::new(async move {
                shared.refresh(observed, wanted_kid).await;
                shared.find_after_refresh(request.kid, request.alg)
            }),
        }
    }
}

impl fmt::Debug for JwksSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = self.shared.cache.load();
        f.debug_struct("JwksSource")
            .field("url", &self.shared.url_text)
            .field("format", &self.shared.config.format)
            .field("issuer", &self.shared.config.issuer)
            .field("cached_keys", &cached.as_ref().map(|c| c.keys.len()))
            .field("stats", &self.stats())
            .finish()
    }
}
