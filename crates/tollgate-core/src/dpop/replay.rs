//! Replay memory for DPoP proofs: the [`ReplayStore`] trait and the in-process
//! [`MemoryReplayStore`].

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// What a replay store remembers of one proof: 32 bytes, SHA-256 over the proof key's
/// thumbprint, `.` and the proof's `jti`. Hashing both means one client's `jti` cannot collide
/// with another's and every stored entry has the same small size, however long the `jti`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplayKey(pub(crate) [u8; 32]);

impl ReplayKey {
    /// The key's bytes (e.g. for a Redis key: prefix them and hex- or base64-encode).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for ReplayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplayKey(")?;
        for byte in &self.0[..4] {
            write!(f, "{byte:02x}")?;
        }
        write!(f, "..)")
    }
}

/// A replay store could not answer: the proof is refused as
/// [`DpopError::ReplayStoreUnavailable`](super::DpopError::ReplayStoreUnavailable) (503).
///
/// ```
/// let err = tollgate_core::dpop::ReplayError::new("redis: connection refused");
/// assert_eq!(err.to_string(), "redis: connection refused");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReplayError(String);

impl ReplayError {
    /// An error with this message (for logs; clients only see a generic description).
    pub fn new(message: impl Into<String>) -> Self {
        ReplayError(message.into())
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

type BoxedReplay = Pin<Box<dyn Future<Output = Result<bool, ReplayError>> + Send + 'static>>;

/// The answer of [`ReplayStore::insert_if_absent`]: ready at once (an in-memory store), or a
/// future (a network store). `Ok(true)` = first use, `Ok(false)` = replay.
pub struct ReplayFuture(Inner);

enum Inner {
    Ready(Option<Result<bool, ReplayError>>),
    Pending(BoxedReplay),
}

impl ReplayFuture {
    /// An answer known now.
    pub fn ready(result: Result<bool, ReplayError>) -> Self {
        ReplayFuture(Inner::Ready(Some(result)))
    }

    /// An answer still to come.
    pub fn pending(f: impl Future<Output = Result<bool, ReplayError>> + Send + 'static) -> Self {
        ReplayFuture(Inner::Pending(Box::pin(f)))
    }

    /// The answer when it is known now, else the future (what lets a check finish without
    /// allocating a future when the store answers at once).
    pub(crate) fn into_ready(self) -> Result<Result<bool, ReplayError>, ReplayFuture> {
        match self.0 {
            Inner::Ready(Some(result)) => Ok(result),
            other => Err(ReplayFuture(other)),
        }
    }
}

impl fmt::Debug for ReplayFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Ready(result) => f.debug_tuple("ReplayFuture::Ready").field(result).finish(),
            Inner::Pending(_) => f.write_str("ReplayFuture::Pending"),
        }
    }
}

impl Future for ReplayFuture {
    type Output = Result<bool, ReplayError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            Inner::Ready(result) => Poll::Ready(
                result
                    .take()
                    .unwrap_or_else(|| Err(ReplayError::new("replay answer polled twice"))),
            ),
            Inner::Pending(future) => future.as_mut().poll(cx),
        }
    }
}

/// Shared replay memory: records each proof once for as long as it could be accepted.
///
/// One per deployment when proofs must be single-use across instances (a Redis implementation
/// lives in another crate); [`MemoryReplayStore`] remembers per process.
pub trait ReplayStore: Send + Sync + fmt::Debug + 'static {
    /// Records `key` for `ttl` unless it is already there: `Ok(true)` = first use, `Ok(false)` =
    /// replay. Must be atomic (insert-if-absent), e.g. Redis `SET key 1 NX PX ttl`: two
    /// concurrent calls with one key must not both see `true`.
    fn insert_if_absent(&self, key: ReplayKey, ttl: Duration) -> ReplayFuture;
}

impl<S: ReplayStore + ?Sized> ReplayStore for Arc<S> {
    fn insert_if_absent(&self, key: ReplayKey, ttl: Duration) -> ReplayFuture {
        (**self).insert_if_absent(key, ttl)
    }
}

/// Default capacity of a [`MemoryReplayStore`].
pub const DEFAULT_REPLAY_ENTRIES: usize = 100_000;

const SHARDS: usize = 16;

#[derive(Default)]
struct Shard {
    /// Replay key -> expiry, in milliseconds since the store's epoch.
    entries: HashMap<[u8; 32], u64>,
    /// No entry expires before this (ms); lets a full shard skip a purge that would free nothing.
    next_expiry: u64,
}

/// A bounded, sharded, in-process [`ReplayStore`].
///
/// Entries live for their `ttl` (a DPoP verifier asks for its proof window, 6 minutes by
/// default). A shard that is full first drops its expired entries; if it is still full the insert
/// **fails closed**: the proof is refused as `ReplayStoreUnavailable` (503) instead of evicting an
/// unexpired entry, because an evicted proof could be replayed. Size it for the proofs a
/// process accepts in one window (`max_entries` / 360 s = sustained proofs per second; the
/// default 100,000 holds ~275 per second).
///
/// Memory: 40 bytes of key and expiry per entry in a hash table between half and 7/8 full;
/// `benches/dpop.rs` (`replay_store_memory`) measured 86 bytes of resident memory per entry at
/// one million entries, so the default capacity costs about 9 MiB when full.
///
/// Each shard holds one lock across the lookup and the insert, so insert-if-absent is atomic.
/// The store remembers per process: behind a load balancer with several instances, a proof can
/// be replayed once against each, unless a shared store is used.
///
/// ```
/// use std::time::Duration;
/// use tollgate_core::dpop::{MemoryReplayStore, ReplayStore};
///
/// let store = MemoryReplayStore::new(1_000);
/// # let key = tollgate_core::dpop::ReplayKey::from_bytes([7; 32]);
/// let first = store.insert_if_absent(key, Duration::from_secs(60));
/// # let rt = tokio::runtime::Builder::new_current_thread().build()?;
/// assert_eq!(rt.block_on(first), Ok(true));
/// assert_eq!(rt.block_on(store.insert_if_absent(key, Duration::from_secs(60))), Ok(false));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct MemoryReplayStore {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
    epoch: Instant,
}

impl MemoryReplayStore {
    /// A store holding at most `max_entries` unexpired proofs (at least 16: one per shard).
    pub fn new(max_entries: usize) -> Self {
        MemoryReplayStore {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: max_entries.div_ceil(SHARDS).max(1),
            epoch: Instant::now(),
        }
    }

    /// How many entries are held (expired ones not yet purged included).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).entries.len())
            .sum()
    }

    /// Whether the store holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most entries it holds.
    pub fn capacity(&self) -> usize {
        self.per_shard * SHARDS
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn insert(&self, key: ReplayKey, ttl: Duration) -> Result<bool, ReplayError> {
        let now = self.now_ms();
        let expiry = now.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
        // The key is a SHA-256 output: any byte of it spreads evenly.
        let index = usize::from(key.0[0]) % SHARDS;
        let mut shard = self.shards[index].lock().unwrap_or_else(|p| p.into_inner());
        let shard = &mut *shard;
        if let Some(existing) = shard.entries.get_mut(&key.0) {
            if *existing > now {
                return Ok(false);
            }
            // Expired: this is a first use again (the proof's window has passed anyway).
            *existing = expiry;
            shard.next_expiry = shard.next_expiry.min(expiry);
            return Ok(true);
        }
        if shard.entries.len() >= self.per_shard {
            if shard.next_expiry <= now {
                shard.entries.retain(|_, until| *until > now);
                shard.next_expiry = shard.entries.values().copied().min().unwrap_or(u64::MAX);
            }
            if shard.entries.len() >= self.per_shard {
                tracing::warn!(
                    capacity = self.capacity(),
                    "DPoP replay store full of unexpired proofs; refusing rather than evicting"
                );
                return Err(ReplayError::new(format!(
                    "in-memory replay store full ({} unexpired proofs)",
                    self.capacity()
                )));
            }
        }
        if shard.entries.is_empty() {
            shard.next_expiry = expiry;
        } else {
            shard.next_expiry = shard.next_expiry.min(expiry);
        }
        shard.entries.insert(key.0, expiry);
        Ok(true)
    }
}

impl Default for MemoryReplayStore {
    /// [`DEFAULT_REPLAY_ENTRIES`] entries.
    fn default() -> Self {
        MemoryReplayStore::new(DEFAULT_REPLAY_ENTRIES)
    }
}

impl fmt::Debug for MemoryReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryReplayStore")
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}

impl ReplayStore for MemoryReplayStore {
    fn insert_if_absent(&self, key: ReplayKey, ttl: Duration) -> ReplayFuture {
        ReplayFuture::ready(self.insert(key, ttl))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn key(i: u32) -> ReplayKey {
        let mut bytes = [0u8; 32];
        bytes[..4].copy_from_slice(&i.to_be_bytes());
        bytes[4] = 1;
        ReplayKey(bytes)
    }

    #[test]
    fn first_use_then_replay() {
        let store = MemoryReplayStore::new(100);
        assert_eq!(store.insert(key(1), Duration::from_secs(60)), Ok(true));
        assert_eq!(store.insert(key(1), Duration::from_secs(60)), Ok(false));
        assert_eq!(store.insert(key(2), Duration::from_secs(60)), Ok(true));
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn full_shard_fails_closed_then_purges_expired() {
        // 16 entries: one per shard. All keys below land in shard 0 (first byte 0).
        let store = MemoryReplayStore::new(16);
        assert_eq!(store.insert(key(1), Duration::from_millis(30)), Ok(true));
        assert!(
            store.insert(key(2), Duration::from_secs(60)).is_err(),
            "full of an unexpired entry: refused, not evicted"
        );
        assert_eq!(
            store.insert(key(1), Duration::from_secs(60)),
            Ok(false),
            "kept"
        );
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(
            store.insert(key(2), Duration::from_secs(60)),
            Ok(true),
            "the expired entry was purged"
        );
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn expired_entry_is_a_first_use_again() {
        let store = MemoryReplayStore::new(100);
        assert_eq!(store.insert(key(1), Duration::from_millis(1)), Ok(true));
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(store.insert(key(1), Duration::from_secs(1)), Ok(true));
    }

    #[test]
    fn concurrent_inserts_of_one_key_accept_once() {
        // Room for every key in the one shard they all land in.
        let store = Arc::new(MemoryReplayStore::new(16 * 256));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    (0..200)
                        .filter(|i| store.insert(key(*i), Duration::from_secs(60)) == Ok(true))
                        .count()
                })
            })
            .collect();
        let accepted: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(accepted, 200, "each key accepted by exactly one thread");
    }
}
