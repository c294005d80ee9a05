//! The verified-token cache: a client reuses one access token for its whole lifetime, so after
//! the first full verification later requests with the same token skip the signature check.
//!
//! Invariants:
//! - looked up by a keyed 64-bit hash of the whole token string (random key per cache), and a
//!   hit requires a constant-time comparison of the whole stored token: two tokens share an entry
//!   only if they are byte-for-byte equal (strict base64url makes that canonical). The hash only
//!   spreads entries; it carries no security weight, because only verified tokens are ever
//!   stored and every hit is confirmed by the comparison;
//! - an entry lives until the earliest of the token's `exp` (plus leeway) and the cache's
//!   maximum TTL, and the policy's time rules are re-applied on every hit;
//! - an entry is used only while the key that verified it is alive: when a key source drops the
//!   key (rotation, JWKS refresh), the entry is ignored and the token is verified again;
//! - bounded: a fixed number of entries spread over shards, tokens over a size cap never cached;
//! - only verified tokens are stored, and only on their second sighting, so tokens used once
//!   cost no insert or eviction;
//! - readers take one shard's read lock, never a global lock.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::key::VerificationKey;
use crate::keyed_hash::{KeyedHash, word};
use crate::telemetry::CacheCounters;
use crate::verified_token::{Entry, Verdict};

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
    /// Most tokens the cache holds ([`TokenCacheConfig::max_entries`]).
    pub capacity: usize,
}

/// A token's lookup key: the cache's keyed hash of the whole token string.
pub(crate) type CacheKey = u64;

/// The key is a keyed hash already: hashing it again would only cost time.
#[derive(Default)]
struct PrehashedKey(u64);

impl Hasher for PrehashedKey {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes.iter().take(8) {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

type Shard = RwLock<HashMap<CacheKey, Arc<Entry>, BuildHasherDefault<PrehashedKey>>>;

/// Byte equality whose running time depends only on the lengths, so a lookup reveals nothing
/// about how much of a cached token a guess got right.
///
/// The differences are folded eight bytes at a time with no branch on the data, and only the
/// final word goes through `subtle` (its optimization barrier keeps the compiler from turning the
/// fold into an early exit). `subtle`'s own slice comparison puts a barrier on every byte, which
/// made each cache hit pay about 1 ns per token byte (~0.7 us for a typical token, the whole
/// cost of a hit again).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    if a.len() != b.len() {
        return false;
    }
    let (a_words, b_words) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail = a_words
        .remainder()
        .iter()
        .zip(b_words.remainder())
        .fold(0u64, |acc, (x, y)| acc | u64::from(x ^ y));
    let difference = a_words
        .zip(b_words)
        .fold(tail, |acc, (x, y)| acc | (word(x) ^ word(y)));
    bool::from(difference.ct_eq(&0))
}

/// Admission filter: a token is cached on its second sighting, so a stream of tokens that are
/// each used once (a crawler, an attacker, a benchmark's pool) never pays for inserting and
/// evicting entries. One bit per key slot; cleared after `DOORKEEPER_BITS / 4` admissions so it
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

    /// Marks `key` as seen; whether it had been seen before.
    fn seen_before(&self, key: CacheKey) -> bool {
        // Bits 8.. of the key: independent of the shard bits (32..36) and of the low bits the
        // shard's table uses.
        let index = (key >> 8) as usize % DOORKEEPER_BITS;
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
    hasher: KeyedHash,
    doorkeeper: Doorkeeper,
    shards: Box<[Shard]>,
    per_shard: usize,
    max_ttl_secs: i64,
    max_token_bytes: usize,
    /// The configuration it was built from (for a verifier derived from this one).
    config: TokenCacheConfig,
    hits: AtomicU64,
    misses: AtomicU64,
    counters: CacheCounters,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish()
    }
}

impl TokenCache {
    pub(crate) fn new(config: TokenCacheConfig) -> Option<TokenCache> {
        if config.max_entries == 0 || config.max_ttl.is_zero() {
            return None;
        }
        Some(TokenCache {
            hasher: KeyedHash::random(),
            doorkeeper: Doorkeeper::new(),
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            per_shard: config.max_entries.div_ceil(SHARDS),
            max_ttl_secs: i64::try_from(config.max_ttl.as_secs())
                .unwrap_or(i64::MAX)
                .max(1),
            max_token_bytes: config.max_token_bytes,
            config,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            counters: CacheCounters::default(),
        })
    }

    /// The lookup key of `token`, or `None` when the token is too large to be cached.
    pub(crate) fn key(&self, token: &[u8]) -> Option<CacheKey> {
        (token.len() <= self.max_token_bytes).then(|| self.hasher.hash(token))
    }

    /// Whether a verified token should be stored: only from its second sighting on.
    pub(crate) fn admit(&self, key: CacheKey) -> bool {
        self.doorkeeper.seen_before(key)
    }

    fn shard(&self, key: CacheKey) -> &Shard {
        &self.shards[(key >> 32) as usize % self.shards.len()]
    }

    /// The live entry for `token` (whose key is `key`), if any. Counts hits only: a miss is
    /// counted by [`TokenCache::record_miss`] when the full verification runs.
    pub(crate) fn get(&self, key: CacheKey, token: &[u8], now: i64) -> Option<Arc<Entry>> {
        let found = {
            let shard = self.shard(key).read().unwrap_or_else(|p| p.into_inner());
            shard.get(&key).cloned()
        }?;
        if !constant_time_eq(&found.token, token) {
            return None;
        }
        if now < found.valid_until && found.key.strong_count() > 0 {
            self.hits.fetch_add(1, Ordering::Relaxed);
            self.counters.lookup(true);
            Some(found)
        } else {
            self.remove(key);
            None
        }
    }

    /// Counts a verification that could not be answered from the cache.
    pub(crate) fn record_miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
        self.counters.lookup(false);
    }

    pub(crate) fn remove(&self, key: CacheKey) {
        let mut shard = self.shard(key).write().unwrap_or_else(|p| p.into_inner());
        shard.remove(&key);
    }

    /// Caches `token`, verified at `now` with `key` by the verifier `origin` (see
    /// [`Entry::origin`]); returns the entry.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn insert(
        &self,
        cache_key: CacheKey,
        token: &str,
        verdict: Verdict,
        leeway_secs: u64,
        key: &Arc<VerificationKey>,
        now: i64,
        origin: usize,
    ) -> Arc<Entry> {
        let mut valid_until = now.saturating_add(self.max_ttl_secs);
        if let Some(exp) = verdict.times.exp {
            valid_until = valid_until.min(exp.saturating_add(leeway_secs as i64));
        }
        let entry = Arc::new(Entry::new(
            token.as_bytes().into(),
            verdict,
            valid_until,
            Arc::downgrade(key),
            origin,
        ));
        let mut shard = self
            .shard(cache_key)
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if shard.len() >= self.per_shard && !shard.contains_key(&cache_key) {
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
                self.counters.eviction();
            }
        }
        // Two distinct verified tokens with the same 64-bit key: the newer one takes the slot.
        shard.insert(cache_key, entry.clone());
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
            capacity: self.config.max_entries,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn constant_time_eq_compares_whole_slices() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
        // A difference in any byte, in a whole word or in the tail, is seen.
        let token: Vec<u8> = (0..37u8).collect();
        assert!(constant_time_eq(&token, &token.clone()));
        for at in 0..token.len() {
            let mut changed = token.clone();
            changed[at] ^= 0x80;
            assert!(!constant_time_eq(&token, &changed), "byte {at}");
        }
    }
}
