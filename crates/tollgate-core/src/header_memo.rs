//! Protected headers already seen on verified tokens.
//!
//! An issuer signs every token with the same few headers (`{"alg":"RS256","kid":"k1","typ":"JWT"}`),
//! so the header segment of a new token has almost always been decoded, scanned and checked
//! against the policy before. Remembering the outcome per exact segment string skips that work
//! (base64, a JSON scan, three small allocations) on cache misses.
//!
//! Invariants:
//! - a segment is remembered only after a token carrying it passed its signature check, so
//!   unauthenticated input never fills the memo, and it is bounded ([`MAX_HEADERS`]);
//! - the memo belongs to one `Verifier`, so a remembered header was accepted by that verifier's
//!   policy (algorithm allow-list, `typ`, `crit`, `b64`, `cty`, `kid` length): the checks of
//!   `parse_header` depend on nothing but the segment and the policy;
//! - lookups compare the whole segment string; the map's hash is keyed per memo (random), so
//!   segments cannot be chosen to collide.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::jws::TokenHeader;
use crate::keyed_hash::KeyedHash;

/// Most distinct headers remembered: an issuer has a handful of keys in its set at a time.
const MAX_HEADERS: usize = 32;

/// Longest header segment remembered, in bytes.
const MAX_SEGMENT: usize = 512;

/// What was established about exact segment strings, bounded: [`HeaderMemo`] for access tokens,
/// and the DPoP proof keys (one per client, so many more entries). Full, it starts again rather
/// than track ages: entries are cheap to establish again, and only verified segments get in.
pub(crate) struct SegmentMemo<V> {
    entries: RwLock<HashMap<Box<str>, V, KeyedHash>>,
    max_entries: usize,
    max_segment: usize,
}

impl<V: Clone> SegmentMemo<V> {
    pub(crate) fn new(max_entries: usize, max_segment: usize) -> Self {
        SegmentMemo {
            entries: RwLock::new(HashMap::with_hasher(KeyedHash::random())),
            max_entries,
            max_segment,
        }
    }

    /// What was remembered for this exact segment, if anything.
    pub(crate) fn get(&self, segment: &str) -> Option<V> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries.get(segment).cloned()
    }

    /// Remembers `value` for `segment` (only ever after the signature over it verified).
    pub(crate) fn remember(&self, segment: &str, value: V) {
        if segment.len() > self.max_segment {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.max_entries && !entries.contains_key(segment) {
            entries.clear();
        }
        entries.insert(segment.into(), value);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.read().map(|e| e.len()).unwrap_or(0)
    }
}

/// The checked headers of one verifier's verified tokens (see the module docs).
pub(crate) struct HeaderMemo(SegmentMemo<Arc<TokenHeader>>);

impl Default for HeaderMemo {
    fn default() -> Self {
        HeaderMemo(SegmentMemo::new(MAX_HEADERS, MAX_SEGMENT))
    }
}

impl HeaderMemo {
    /// The checked header of a verified token with this exact header segment, if any.
    pub(crate) fn get(&self, segment: &str) -> Option<Arc<TokenHeader>> {
        self.0.get(segment)
    }

    /// Remembers the header of a token whose signature verified.
    pub(crate) fn remember(&self, segment: &str, header: &Arc<TokenHeader>) {
        self.0.remember(segment, header.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::Algorithm;

    fn header(kid: &str) -> Arc<TokenHeader> {
        Arc::new(TokenHeader {
            alg: Algorithm::RS256,
            kid: Some(kid.into()),
            typ: None,
        })
    }

    #[test]
    fn remembers_exact_segments_within_bounds() {
        let memo = HeaderMemo::default();
        memo.remember("eyJh", &header("a"));
        assert_eq!(memo.get("eyJh").unwrap().kid.as_deref(), Some("a"));
        assert!(memo.get("eyJ").is_none());
        assert!(memo.get("eyJhX").is_none());
        memo.remember(&"x".repeat(MAX_SEGMENT + 1), &header("long"));
        assert!(memo.get(&"x".repeat(MAX_SEGMENT + 1)).is_none());
        for i in 0..MAX_HEADERS * 3 {
            memo.remember(&format!("seg{i}"), &header("k"));
            assert!(memo.0.len() <= MAX_HEADERS);
        }
    }
}
