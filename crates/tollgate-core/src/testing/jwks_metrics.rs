//! A [`JwksMetrics`] hook that counts what it is told, for tests of key-source activity.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::remote::{JwksMetrics, RemoteError};

/// Counts every call of the [`JwksMetrics`] hook, so a test can check what a
/// [`JwksSource`](crate::remote::JwksSource) reported beside what its
/// [`stats`](crate::remote::JwksSource::stats) say (both must agree: a fetch counted twice, or
/// not at all, is a bug either way).
///
/// ```
/// use std::sync::Arc;
/// use tollgate_core::remote::JwksSource;
/// use tollgate_core::testing::CountingJwksMetrics;
///
/// let metrics = Arc::new(CountingJwksMetrics::default());
/// let source = JwksSource::builder("https://issuer.example.com/jwks")
///     .metrics(metrics.clone())
///     .build()?;
/// // Nothing is fetched before a token asks for a key.
/// assert_eq!(metrics.fetches(), 0);
/// # let _ = source;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct CountingJwksMetrics {
    fetches: AtomicU64,
    failures: AtomicU64,
    not_modified: AtomicU64,
    cache_hits: AtomicU64,
    unknown_kids: AtomicU64,
}

impl CountingJwksMetrics {
    /// Fetches about to be sent.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::SeqCst)
    }
    /// Fetches that failed.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::SeqCst)
    }
    /// `304 Not Modified` answers.
    pub fn not_modified(&self) -> u64 {
        self.not_modified.load(Ordering::SeqCst)
    }
    /// Keys served from the cache without waiting.
    pub fn cache_hits(&self) -> u64 {
        self.cache_hits.load(Ordering::SeqCst)
    }
    /// Tokens refused for an unknown `kid`.
    pub fn unknown_kids(&self) -> u64 {
        self.unknown_kids.load(Ordering::SeqCst)
    }
}

impl JwksMetrics for CountingJwksMetrics {
    fn fetch(&self, _url: &str) {
        self.fetches.fetch_add(1, Ordering::SeqCst);
    }
    fn fetch_failure(&self, _url: &str, _error: &RemoteError) {
        self.failures.fetch_add(1, Ordering::SeqCst);
    }
    fn not_modified(&self, _url: &str) {
        self.not_modified.fetch_add(1, Ordering::SeqCst);
    }
    fn cache_hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::SeqCst);
    }
    fn unknown_kid_rejected(&self, _kid: &str) {
        self.unknown_kids.fetch_add(1, Ordering::SeqCst);
    }
}
