//! The verified-token cache: a client reuses one access token for its whole lifetime, so after
//! the first full verification later requests with the same token skip the signature check.
//!
//! Invariants:
//! - keyed by the SHA-256 digest of the whole token string (strict base64url makes the string
//!   canonical, so a re-spelled token cannot alias a cached one);
//! - an entry lives until the earliest of the token's `exp` (plus leeway) and the cache's
//!   maximum TTL, and the policy's time rules are re-applied on every hit;
//! - an entry is used only while the key that verified it is alive: when a key source drops the
//!   key (rotation, JWKS refresh), the entry is ignored and the token is verified again;
//! - bounded: a fixed number of entries spread over shards, tokens over a size cap never cached;
//! - admitted on the second sighting of a token, so tokens used once cost no insert or eviction;
//! - readers take one shard's read lock, never a global lock.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock, Weak};
use std::time::Duration;

use crate::key::VerificationKey;
use crate::verifier::{TimeClaims, TokenHeader};

/// Default number of cached tokens.
pub const DEFAULT_CACHE_ENTRIES: usize = 10_000;
/// Default longest time a token stays cached (its `exp` may end it sooner).
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(300);
/// Default largest token cached, in bytes (Envoy's figure).
pub const DEFAULT_CACHE_MAX_TOKEN_BYTES: usize = 4 * 1024;

const SHARDS: usize = 16;

/// Configures the verified-token cache of a [`Verifier`](crate::Verifier).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenCacheConfig {
    /// Most tokens cached (default 10,000).
    pub max_entries: usize,
    /// Longest time a token stays cached (default 5 min).
    pub max_ttl: Duration,
    /// Largest token cached, in bytes (default 4 KiB).
    pub max_token_bytes: usize,
}

impl Default for TokenCacheConfig {
    fn default() -> Self {
        TokenCacheConfig {
            max_entries: DEFAULT_CACHE_ENTRIES,
            max_ttl: DEFAULT_CACHE_TTL,
            max_token_bytes: DEFAULT_CACHE_MAX_TOKEN_BYTES,
        }
    }
}

/// Counters of the verified-token cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCacheStats {
    /// Verifications answered from the cache.
    pub hits: u64,
    /// Verifications that ran in full.
    pub misses: u64,
    /// Tokens currently cached.
    pub entries: usize,
}

pub(crate) type Digest = [u8; 32];

/// The digest is uniformly random already: its first eight bytes are a perfect hash.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes.iter().take(8) {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
}

type Shard = RwLock<HashMap<Digest, Arc<Entry>, BuildHasherDefault<DigestHasher>>>;

/// One verified token.
pub(crate) struct Entry {
    pub(crate) header: Arc<TokenHeader>,
    pub(crate) payload: Box<[u8]>,
    pub(crate) times: TimeClaims,
    /// Unix second after which the entry must not be used.
    valid_until: i64,
    key: Weak<VerificationKey>,
    /// The claims as the first caller's type, shared by later callers asking for the same type.
    typed: OnceLock<(TypeId, Arc<dyn Any + Send + Sync>)>,
}

impl Entry {
    /// An entry for a verifier without a cache.
    pub(crate) fn uncached(header: TokenHeader, payload: Vec<u8>, times: TimeClaims) -> Entry {
        Entry {
            header: Arc::new(header),
            payload: payload.into_boxed_slice(),
            times,
            valid_until: i64::MIN,
            key: Weak::new(),
            typed: OnceLock::new(),
        }
    }

    /// The shared typed claims, when they were stored as `T`.
    pub(crate) fn typed<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let (type_id, value) = self.typed.get()?;
        if *type_id != TypeId::of::<T>() {
            return None;
        }
        value.clone().downcast::<T>().ok()
    }

    /// Stores typed claims (first writer wins).
    pub(crate) fn set_typed<T: Send + Sync + 'static>(&self, value: Arc<T>) {
        let _ = self.typed.set((TypeId::of::<T>(), value));
    }
}

/// Admission filter: a token is cached on its second sighting, so a stream of tokens that are
/// each used once (a crawler, an attacker, a benchmark's pool) never pays for inserting and
/// evicting entries. One bit per digest slot; cleared after `DOORKEEPER_BITS / 4` admissions so it
/// never saturates.
struct Doorkeeper {
    bits: Box<[AtomicU64]>,
    marked: AtomicU64,
}

const DOORKEEPER_BITS: usize = 1 << 17;

impl Doorkeeper {
    fn new() -> Self {
        Doorkeeper {
            bits: (0..DOORKEEPER_BITS / 64)
                .map(|_| AtomicU64::new(0))
                .collect(),
            marked: AtomicU64::new(0),
        }
    }

    /// Marks `digest` as seen; whether it had been seen before.
    fn seen_before(&self, digest: &Digest) -> bool {
        let index =
            (usize::from(digest[0]) | usize::from(digest[1]) << 8 | usize::from(digest[2]) << 16)
                % DOORKEEPER_BITS;
        let mask = 1u64 << (index % 64);
        let previous = self.bits[index / 64].fetch_or(mask, Ordering::Relaxed);
        if previous & mask != 0 {
            return true;
        }
        if self.marked.fetch_add(1, Ordering::Relaxed) + 1 >= (DOORKEEPER_BITS / 4) as u64 {
            self.marked.store(0, Ordering::Relaxed);
            for word in self.bits.iter() {
                word.store(0, Ordering::Relaxed);
            }
        }
        false
    }
}

pub(crate) struct TokenCache {
    doorkeeper: Doorkeeper,
    shards: Box<[Shard]>,
    per_shard: usize,
    max_ttl_secs: i64,
    max_token_bytes: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl TokenCache {
    pub(crate) fn new(config: TokenCacheConfig) -> Option<TokenCache> {
        if config.max_entries == 0 || config.max_ttl.is_zero() {
            return None;
        }
        Some(TokenCache {
            doorkeeper: Doorkeeper::new(),
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            per_shard: config.max_entries.div_ceil(SHARDS),
            max_ttl_secs: i64::try_from(config.max_ttl.as_secs())
                .unwrap_or(i64::MAX)
                .max(1),
            max_token_bytes: config.max_token_bytes,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        })
    }

    pub(crate) fn cacheable(&self, token: &str) -> bool {
        token.len() <= self.max_token_bytes
    }

    /// Whether a verified token should be stored: only from its second sighting on.
    pub(crate) fn admit(&self, digest: &Digest) -> bool {
        self.doorkeeper.seen_before(digest)
    }

    fn shard(&self, digest: &Digest) -> &Shard {
        &self.shards[usize::from(digest[8]) % self.shards.len()]
    }

    /// The live entry for `digest`, if any.
    pub(crate) fn get(&self, digest: &Digest, now: i64) -> Option<Arc<Entry>> {
        let found = {
            let shard = self.shard(digest).read().unwrap_or_else(|p| p.into_inner());
            shard.get(digest).cloned()
        };
        match found {
            Some(entry) if now < entry.valid_until && entry.key.strong_count() > 0 => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(entry)
            }
            Some(_) => {
                self.remove(digest);
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    pub(crate) fn remove(&self, digest: &Digest) {
        let mut shard = self
            .shard(digest)
            .write()
            .unwrap_or_else(|p| p.into_inner());
        shard.remove(digest);
    }

    /// Caches a token verified at `now` with `key`; returns the entry.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn insert(
        &self,
        digest: Digest,
        header: TokenHeader,
        payload: Vec<u8>,
        times: TimeClaims,
        leeway_secs: u64,
        key: &Arc<VerificationKey>,
        now: i64,
    ) -> Arc<Entry> {
        let mut valid_until = now.saturating_add(self.max_ttl_secs);
        if let Some(exp) = times.exp {
            valid_until = valid_until.min(exp.saturating_add(leeway_secs as i64));
        }
        let entry = Arc::new(Entry {
            header: Arc::new(header),
            payload: payload.into_boxed_slice(),
            times,
            valid_until,
            key: Arc::downgrade(key),
            typed: OnceLock::new(),
        });
        let mut shard = self
            .shard(&digest)
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if shard.len() >= self.per_shard && !shard.contains_key(&digest) {
            // Evict one entry in O(1): a dead one among the first few in hash order (which is
            // random), else the first. Scanning the whole shard here made every miss of a full
            // cache pay for hundreds of entries.
            let victim = shard
                .iter()
                .take(8)
                .find(|(_, e)| now >= e.valid_until || e.key.strong_count() == 0)
                .or_else(|| shard.iter().next())
                .map(|(k, _)| *k);
            if let Some(victim) = victim {
                shard.remove(&victim);
            }
        }
        shard.insert(digest, entry.clone());
        entry
    }

    pub(crate) fn stats(&self) -> TokenCacheStats {
        TokenCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self
                .shards
                .iter()
                .map(|s| s.read().map(|m| m.len()).unwrap_or(0))
                .sum(),
        }
    }
}
