//! Counters and a metrics hook for remote key sources.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::RemoteError;

/// A hook for exporting a [`JwksSource`](super::JwksSource)'s activity to a metrics system.
/// Every method has a no-op default; implement the ones you export.
///
/// Calls happen inline (cache hits on the request path), so implementations should be cheap,
/// e.g. an atomic increment.
pub trait JwksMetrics: Send + Sync + fmt::Debug + 'static {
    /// An HTTP fetch of the key set is about to be sent.
    fn fetch(&self, url: &str) {
        let _ = url;
    }
    /// A fetch failed; the cache is unchanged.
    fn fetch_failure(&self, url: &str, error: &RemoteError) {
        let _ = (url, error);
    }
    /// The server answered `304 Not Modified`; the cached set's freshness was extended.
    fn not_modified(&self, url: &str) {
        let _ = url;
    }
    /// A key was served from the cache without waiting.
    fn cache_hit(&self) {}
    /// A token's `kid` was refused as unknown (after a refetch, or during the cooldown).
    fn unknown_kid_rejected(&self, kid: &str) {
        let _ = kid;
    }
}

/// The metrics hook that does nothing (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMetrics;

impl JwksMetrics for NoMetrics {}

/// A snapshot of a source's counters, from [`JwksSource::stats`](super::JwksSource::stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwksStats {
    /// HTTP fetches sent (successful or not).
    pub fetches: u64,
    /// Fetches that failed (transport, status, size, document).
    pub fetch_failures: u64,
    /// Fetches answered `304 Not Modified`.
    pub not_modified: u64,
    /// Keys served from the cache without waiting.
    pub cache_hits: u64,
    /// Tokens refused because of an unknown `kid`.
    pub unknown_kid_rejections: u64,
}

/// The source's own counters: relaxed atomics, one increment per event.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) fetches: AtomicU64,
    pub(crate) fetch_failures: AtomicU64,
    pub(crate) not_modified: AtomicU64,
    pub(crate) cache_hits: AtomicU64,
    pub(crate) unknown_kid_rejections: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> JwksStats {
        JwksStats {
            fetches: self.fetches.load(Ordering::Relaxed),
            fetch_failures: self.fetch_failures.load(Ordering::Relaxed),
            not_modified: self.not_modified.load(Ordering::Relaxed),
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
            unknown_kid_rejections: self.unknown_kid_rejections.load(Ordering::Relaxed),
        }
    }
}
