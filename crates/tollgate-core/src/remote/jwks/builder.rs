//! [`JwksSourceBuilder`]: a key-set source's options, checked when it is built.

use std::sync::Arc;
use std::time::Duration;

use super::config::{
    Config, DEFAULT_CONNECT_TIMEOUT, DEFAULT_FALLBACK_TTL, DEFAULT_MAX_REDIRECTS,
    DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_MAX_TTL, DEFAULT_MIN_TTL, DEFAULT_STALE_IF_ERROR,
    DEFAULT_TIMEOUT, DEFAULT_UNKNOWN_KID_COOLDOWN, KeyFormat, MAX_BACKOFF, MIN_BACKOFF,
};
use crate::clock::{Clock, Instants};
use crate::remote::error::RemoteError;
use crate::remote::fetch;
use crate::remote::metrics::JwksMetrics;

/// Configures a [`JwksSource`](super::JwksSource); from
/// [`JwksSource::builder`](super::JwksSource::builder).
#[derive(Clone, Debug)]
pub struct JwksSourceBuilder {
    pub(super) url: String,
    pub(super) client: Option<reqwest::Client>,
    pub(super) connect_timeout: Duration,
    pub(super) max_redirects: usize,
    pub(super) allow_insecure_http: bool,
    pub(super) metrics: Option<Arc<dyn JwksMetrics>>,
    /// What the built source keeps.
    pub(super) config: Config,
}

impl JwksSourceBuilder {
    pub(super) fn new(url: String) -> Self {
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
                instants: Instants::default(),
            },
        }
    }

    /// The issuer whose keys these are. The source then reports it through
    /// [`KeySource::issuer`](crate::KeySource::issuer), and a [`Verifier`](crate::Verifier) whose policy lists no issuer
    /// accepts only that issuer's tokens. Provider presets set it.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.config.issuer = Some(issuer.into());
        self
    }

    /// Replaces the URL, e.g. to point [`JwksSource::firebase`](super::JwksSource::firebase) at
    /// a mirror.
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

    /// The clock the cached key set ages by (default the monotonic clock): a
    /// [`ManualClock`](crate::clock::ManualClock) advanced past the set's lifetime makes the
    /// next lookup refetch, and past the stale window fail closed, without sleeping. Only the
    /// freshness decisions follow it; timeouts and the background refresh timer stay real.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.config.instants = Instants::following(clock);
        self
    }

    /// Reports activity to `metrics` besides the built-in
    /// [`JwksSource::stats`](super::JwksSource::stats) counters.
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
}
