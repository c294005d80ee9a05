//! Errors of remote key sources.

/// A remote key source could not be configured, or a fetch failed.
///
/// Configuration errors ([`InvalidUrl`](RemoteError::InvalidUrl),
/// [`InsecureUrl`](RemoteError::InsecureUrl), [`Client`](RemoteError::Client)) come from
/// `build()`; the others from a fetch (and are logged, then reported to a verifier as
/// [`KeyLookupError::Unavailable`](crate::KeyLookupError::Unavailable) when no usable keys
/// remain).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The URL cannot be parsed, or is not an absolute `http(s)` URL with a host.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A plain `http` URL to a host that is not loopback, without `allow_insecure_http(true)`.
    #[error("refusing plain-http URL {0:?}: use https (or allow_insecure_http for testing)")]
    InsecureUrl(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// An option is out of range (e.g. a minimum TTL above the maximum).
    #[error("invalid option: {0}")]
    InvalidOption(&'static str),
    /// No tokio runtime to spawn a background task on.
    #[error("no tokio runtime is running")]
    NoRuntime,
    /// Connecting, sending or receiving failed (including timeouts).
    #[error("fetching {url} failed: {reason}")]
    Transport {
        /// The URL fetched.
        url: String,
        /// The transport error.
        reason: String,
    },
    /// The fetch did not finish within the configured timeout.
    #[error("fetching {url} timed out")]
    Timeout {
        /// The URL fetched.
        url: String,
    },
    /// The server answered with an unexpected status.
    #[error("fetching {url} returned HTTP {status}")]
    Status {
        /// The URL fetched.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The response body is larger than the configured maximum.
    #[error("response from {url} is larger than {max} bytes")]
    TooLarge {
        /// The URL fetched.
        url: String,
        /// The configured maximum.
        max: usize,
    },
    /// The document is not what was expected (not JSON, not a JWK Set, missing members...).
    #[error("invalid document from {url}: {reason}")]
    InvalidDocument {
        /// The URL fetched.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The key set has no usable signature-verification key.
    #[error("the key set at {url} has no usable signature-verification key")]
    NoUsableKeys {
        /// The URL fetched.
        url: String,
    },
    /// The discovery document names another issuer than the one configured (exact comparison).
    #[error("discovery document names issuer {actual:?}, expected {expected:?}")]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The document's `issuer`.
        actual: String,
    },
}

impl RemoteError {
    /// Whether this is a configuration error (as opposed to a failed fetch).
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            RemoteError::InvalidUrl { .. }
                | RemoteError::InsecureUrl(_)
                | RemoteError::Client(_)
                | RemoteError::InvalidOption(_)
                | RemoteError::NoRuntime
        )
    }
}
