//! Memory of the verified-token cache: resident memory before and after caching 100,000 distinct
//! tokens, and bytes per entry, as the tower layer leaves them (token, payload, header and the
//! handler's typed claims), then with the JSON view that role and scope guards build on top.
//! Run: `cargo bench -p tollgate-core --bench cache_memory`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use tollgate_test_support as support;

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use support::*;
use tollgate_core::{Algorithm, TokenCacheConfig};

/// What a handler typically extracts.
#[derive(Deserialize)]
#[allow(dead_code)]
struct AppClaims {
    sub: String,
    email: String,
    roles: Vec<String>,
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

fn main() {
    const N: usize = 100_000;
    let verifier = default_verifier_with_cache(Some(TokenCacheConfig {
        max_entries: N,
        max_ttl: Duration::from_secs(3600),
        ..TokenCacheConfig::default()
    }));
    // Typical access-token claims: ~10 members, ~600-byte tokens.
    let tokens: Vec<String> = (0..N)
        .map(|i| {
            let mut c = claims();
            c["jti"] = json!(format!("token-{i}"));
            c["client_id"] = json!("web-app");
            c["email"] = json!(format!("user{i}@example.com"));
            sign(Algorithm::HS256, &c)
        })
        .collect();
    let avg_len = tokens.iter().map(String::len).sum::<usize>() / N;
    let before = tollgate_test_support::resident_bytes();
    for token in &tokens {
        // Admitted on the second sighting.
        for _ in 0..2 {
            let verified = block_on(verifier.verify(token)).unwrap();
            verified.claims::<AppClaims>().unwrap();
        }
    }
    let cached = tollgate_test_support::resident_bytes();
    for token in &tokens {
        // Shards fill unevenly, so a few tokens were evicted again; those have no view to build.
        if let Some(Ok(verified)) = tollgate_core::testing::cached(&verifier, token) {
            assert!(!verified.claims_json().is_empty());
        }
    }
    let with_json = tollgate_test_support::resident_bytes();
    let stats = verifier.token_cache_stats().unwrap();
    let entries = stats.entries.max(1) as u64;
    println!(
        "tokens cached: {} (average token {avg_len} bytes)",
        stats.entries
    );
    println!(
        "RSS before: {:.1} MiB, cached: {:.1} MiB, with JSON views: {:.1} MiB",
        mib(before),
        mib(cached),
        mib(with_json)
    );
    println!(
        "bytes per cached entry (token, payload, header, typed claims, map slot): {}",
        cached.saturating_sub(before) / entries
    );
    println!(
        "bytes per cached entry once guards built the JSON view: {}",
        with_json.saturating_sub(before) / entries
    );
}
