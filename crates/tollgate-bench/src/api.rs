//! The library calls of the benchmarks whose spelling the issue-13 redesign may change, behind one
//! seam, so the very same harness (servers, token minting, Lua scripts) is built against the
//! library before the redesign and after it and the two are measured in the same rounds.
//!
//! `run.sh` with `BEFORE_REV=<rev>` exports that revision, copies this crate over its
//! `crates/tollgate-bench` and builds it with `--features legacy-api`: the `legacy-api` branches
//! below are written against the API of the code before the redesign (e808fa0 and earlier), the
//! others against the current one. Everything not listed here is spelled the same in both.

use tollgate_core::remote::MultiIssuer;
use tollgate_core::{KeySource, TokenCacheStats, Validation, Verifier};

/// How a benchmark verifier caches verified tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    /// The default token cache (what a user gets without configuring anything).
    Default,
    /// No token cache: every request runs every check.
    Off,
    /// A cache of at most this many entries (the in-memory churn case).
    Entries(usize),
}

/// A verifier of `policy` with `keys` on the default crypto provider, caching as `cache` says.
pub fn verifier(policy: Validation, keys: impl KeySource, cache: Cache) -> Verifier {
    #[cfg(feature = "legacy-api")]
    {
        use tollgate_core::{CryptoProvider, TokenCacheConfig};
        let verifier = Verifier::new(policy, keys, CryptoProvider::default());
        match cache {
            Cache::Default => verifier,
            Cache::Off => verifier.with_token_cache(None),
            Cache::Entries(max_entries) => verifier.with_token_cache(Some(TokenCacheConfig {
                max_entries,
                ..TokenCacheConfig::default()
            })),
        }
    }
    #[cfg(not(feature = "legacy-api"))]
    {
        use tollgate_core::{CryptoProvider, TokenCacheConfig};
        let builder = Verifier::builder(policy, keys, CryptoProvider::default());
        match cache {
            Cache::Default => builder,
            Cache::Off => builder.token_cache(None),
            Cache::Entries(max_entries) => builder.token_cache(Some(TokenCacheConfig {
                max_entries,
                ..TokenCacheConfig::default()
            })),
        }
        .build()
    }
}

/// The verifier's token-cache counters (`None` without a cache).
pub fn cache_stats(verifier: &Verifier) -> Option<TokenCacheStats> {
    verifier.token_cache_stats()
}

/// The token-cache counters of a [`MultiIssuer`] built by [`multi_issuer`] from `verifiers`:
/// before the redesign each routed verifier cached its own tokens (their counters are summed);
/// since, the router has one cache for all issuers, asked before the token is decoded.
pub fn multi_issuer_cache_stats(
    multi: &MultiIssuer,
    verifiers: &[Verifier],
) -> Option<TokenCacheStats> {
    #[cfg(feature = "legacy-api")]
    {
        let _ = multi;
        sum(verifiers.iter().filter_map(cache_stats))
    }
    #[cfg(not(feature = "legacy-api"))]
    {
        let _ = verifiers;
        multi.token_cache_stats()
    }
}

/// The sum of some caches' counters (`None` for no cache).
#[allow(clippy::needless_update)]
pub fn sum(stats: impl IntoIterator<Item = TokenCacheStats>) -> Option<TokenCacheStats> {
    stats.into_iter().reduce(|a, b| TokenCacheStats {
        hits: a.hits + b.hits,
        misses: a.misses + b.misses,
        entries: a.entries + b.entries,
        // `capacity` (current API only) is summed too; the older API has no such field.
        ..summed_capacity(a, b)
    })
}

#[cfg(not(feature = "legacy-api"))]
fn summed_capacity(a: TokenCacheStats, b: TokenCacheStats) -> TokenCacheStats {
    TokenCacheStats {
        capacity: a.capacity + b.capacity,
        ..a
    }
}

#[cfg(feature = "legacy-api")]
fn summed_capacity(a: TokenCacheStats, _: TokenCacheStats) -> TokenCacheStats {
    a
}

/// A [`MultiIssuer`] routing each `(iss, verifier)` pair's tokens to its verifier.
pub fn multi_issuer(issuers: impl IntoIterator<Item = (&'static str, Verifier)>) -> MultiIssuer {
    issuers
        .into_iter()
        .fold(MultiIssuer::builder(), |builder, (iss, verifier)| {
            builder.verifier(iss, verifier)
        })
        .build()
        .expect("multi-issuer configuration")
}
