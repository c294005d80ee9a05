//! [`JwksSource`]: a JWK Set fetched over HTTPS, cached, refreshed and refetched on demand.
//!
//! Read bottom-up: [`config`] (defaults, bounds, format), [`builder`] (the options),
//! [`refresh`] (the cache and its refresh state machine), then the public source here.

mod builder;
mod config;
mod refresh;

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

pub use builder::JwksSourceBuilder;
pub use config::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_FALLBACK_TTL, DEFAULT_MAX_REDIRECTS,
    DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_MAX_TTL, DEFAULT_MIN_TTL, DEFAULT_STALE_IF_ERROR,
    DEFAULT_TIMEOUT, DEFAULT_UNKNOWN_KID_COOLDOWN, FIREBASE_SECURETOKEN_CERTS_URL, KeyFormat,
    MAX_BACKGROUND_INTERVAL, MAX_TIMING_OPTION, MIN_UNKNOWN_KID_COOLDOWN,
};

use config::later;
use refresh::{Cached, Decision, Shared};

use crate::algorithm::Algorithm;
use crate::key_set::KeySet;
use crate::remote::error::RemoteError;
use crate::remote::fetch;
use crate::remote::metrics::JwksStats;
use crate::source::{KeyFuture, KeyRequest, KeySource};

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
///   closed with [`KeyLookupError::Unavailable`](crate::KeyLookupError::Unavailable) (HTTP 503).
///
/// Cloning is cheap and clones share the cache.
///
/// ```no_run
/// use std::time::Duration;
/// use tollgate_core::remote::JwksSource;
/// use tollgate_core::{Algorithm, CryptoProvider, Validation, Verifier};
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
/// let verified = verifier.verify(token).await?;
/// # let _ = verified;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct JwksSource {
    shared: Arc<Shared>,
}

impl JwksSourceBuilder {
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
        Ok(JwksSource {
            shared: Arc::new(Shared::new(url, client, config, self.metrics)),
        })
    }
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
                    Some(shared) => shared.background_delay(shared.config.instants.now()),
                    None => return,
                };
                if let Ok(_closed) = tokio::time::timeout(delay, shutdown.changed()).await {
                    // The sender went away: the source was dropped.
                    return;
                }
                let Some(shared) = weak.upgrade() else { return };
                if shared
                    .background_delay(shared.config.instants.now())
                    .is_zero()
                {
                    shared.refresh_now().await;
                }
            }
        }))
    }
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
            .is_some_and(|cached| shared.usable(cached, shared.config.instants.now()))
    }

    /// Takes `keys` as a set fetched just now, fresh for the fallback TTL, then refreshed like
    /// any fetched set; refused (handed back) when the source already holds keys.
    fn preload(&self, keys: KeySet) -> Result<(), KeySet> {
        let shared = &*self.shared;
        if keys.is_empty() || shared.cache.load().is_some() {
            return Err(keys);
        }
        let now = shared.config.instants.now();
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
        // `decide` counts only answers given now (cache hits, refused unknown `kid`s); a
        // refresh is an `async` block, so nothing is fetched or counted until it is polled (the
        // `KeySource` contract: a verifier may drop it unpolled and ask again).
        match shared.decide(request.kid, request.alg, shared.config.instants.now()) {
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
