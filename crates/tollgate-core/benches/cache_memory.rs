//! Memory of the verified-token cache: resident memory before and after caching 100,000 distinct
//! tokens, and bytes per entry. Run: `cargo bench -p tollgate-core --bench cache_memory`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::*;
use tollgate_core::{Algorithm, TokenCacheConfig};

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    const N: usize = 100_000;
    let verifier = default_verifier().with_token_cache(Some(TokenCacheConfig {
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
    let before = rss_bytes();
    for token in &tokens {
        block_on(verifier.verify_shared::<Value>(token)).unwrap();
    }
    let after = rss_bytes();
    let stats = verifier.token_cache_stats().unwrap();
    println!(
        "tokens cached: {} (average token {avg_len} bytes)",
        stats.entries
    );
    println!(
        "RSS before: {:.1} MiB, after: {:.1} MiB",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0
    );
    println!(
        "bytes per cached entry (with shared serde_json::Value claims): {}",
        (after.saturating_sub(before)) / stats.entries.max(1) as u64
    );
}
