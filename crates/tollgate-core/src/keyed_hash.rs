//! The keyed hash of the verified-token cache and the header memos.
//!
//! Both are looked up on the request path with attacker-chosen strings (a whole token, a header
//! segment). SipHash costs about 370 instructions on such a string; this multiply-fold over
//! 16-byte blocks costs about half. It is keyed with a random seed per map, so collisions cannot
//! be aimed at a map from outside, and both maps compare whole keys after the hash: it only
//! spreads entries and carries no security weight of its own.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

const MIX: u64 = 0x9E37_79B9_7F4A_7C15;

fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a).wrapping_mul(u128::from(b));
    (product as u64) ^ ((product >> 64) as u64)
}

/// Up to 8 bytes as a little-endian word, zero-padded (of a longer slice, its first eight).
/// Also the unit of the token cache's constant-time comparison and of the JSON scan's
/// member-name keys.
///
/// Short slices are read as two overlapping loads, not copied into a padded buffer: a copy of
/// variable length compiles to a `memcpy` call, about 20 instructions for a three-byte member
/// name, and this runs for every member of every scanned payload and every hashed token tail.
#[inline]
pub(crate) fn word(bytes: &[u8]) -> u64 {
    let len = bytes.len();
    if len >= 8 {
        return load::<8>(bytes, 0);
    }
    if len >= 4 {
        // Bytes 0..4 and len-4..len: together all of them, the overlap the same bytes twice.
        return load::<4>(bytes, 0) | load::<4>(bytes, len - 4) << ((len - 4) * 8);
    }
    if len == 0 {
        return 0;
    }
    // One to three bytes: the first, the middle and the last cover them.
    let byte = |at: usize| u64::from(bytes.get(at).copied().unwrap_or(0)) << (at * 8);
    byte(0) | byte(len / 2) | byte(len - 1)
}

/// `N` (4 or 8) bytes at `at` as a little-endian integer; 0 if the slice is too short (callers
/// never ask for that).
#[inline(always)]
fn load<const N: usize>(bytes: &[u8], at: usize) -> u64 {
    let Some(Ok(chunk)) = bytes.get(at..at + N).map(<[u8; N]>::try_from) else {
        return 0;
    };
    let mut padded = [0u8; 8];
    padded[..N].copy_from_slice(&chunk);
    u64::from_le_bytes(padded)
}

/// A random seed; builds [`KeyedHasher`]s for a `HashMap`, or hashes one byte string.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyedHash {
    seed: [u64; 2],
}

impl KeyedHash {
    /// A fresh random seed (from the standard library's per-process random keys).
    pub(crate) fn random() -> Self {
        let state = RandomState::new();
        KeyedHash {
            seed: [state.hash_one(0u8), state.hash_one(1u8)],
        }
    }

    /// The hash of `data` alone.
    pub(crate) fn hash(&self, data: &[u8]) -> u64 {
        let mut hasher = self.build_hasher();
        hasher.write(data);
        hasher.finish()
    }
}

impl BuildHasher for KeyedHash {
    type Hasher = KeyedHasher;

    fn build_hasher(&self) -> KeyedHasher {
        KeyedHasher {
            state: self.seed[0],
            seed: self.seed[1],
        }
    }
}

/// The streaming side of [`KeyedHash`]: every `write` (a `str` is its bytes, then `0xff`) folds
/// its length and bytes into the state.
pub(crate) struct KeyedHasher {
    state: u64,
    seed: u64,
}

impl Hasher for KeyedHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.state ^ (bytes.len() as u64).wrapping_mul(MIX);
        let mut blocks = bytes.chunks_exact(16);
        for block in &mut blocks {
            let (a, b) = block.split_at(8);
            h = fold(word(a) ^ h, word(b) ^ self.seed);
        }
        let tail = blocks.remainder();
        let (a, b) = tail.split_at(tail.len().min(8));
        self.state = fold(word(a) ^ h, word(b) ^ self.seed ^ MIX);
    }

    fn finish(&self) -> u64 {
        fold(self.state ^ self.seed, MIX)
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::KeyedHash;

    #[test]
    fn depends_on_every_byte_the_length_and_the_seed() {
        let hash = KeyedHash::random();
        let data: Vec<u8> = (0..100u8).map(|i| b'A' + i % 26).collect();
        let base = hash.hash(&data);
        for at in 0..data.len() {
            let mut changed = data.clone();
            changed[at] ^= 1;
            assert_ne!(hash.hash(&changed), base, "byte {at}");
        }
        assert_ne!(hash.hash(&data[..99]), base, "length");
        assert_ne!(KeyedHash::random().hash(&data), base, "seed");
        assert_eq!(hash.hash(&data), base, "deterministic");
    }

    #[test]
    fn a_word_is_its_bytes_zero_padded() {
        let bytes: Vec<u8> = (1..=12).collect();
        for len in 0..=12 {
            let mut padded = [0u8; 8];
            let take = len.min(8);
            padded[..take].copy_from_slice(&bytes[..take]);
            assert_eq!(
                super::word(&bytes[..len]),
                u64::from_le_bytes(padded),
                "{len} bytes"
            );
        }
        assert_eq!(super::word(&[0xff, 0, 0xff]), 0x00ff_00ff);
    }

    #[test]
    fn a_boxed_str_and_a_str_hash_alike() {
        // The memo's map key is a Box<str>, its lookups a &str.
        let hash = KeyedHash::random();
        let segment = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0";
        let boxed: Box<str> = segment.into();
        assert_eq!(hash.hash_one(&boxed), hash.hash_one(segment));
        assert_ne!(hash.hash_one(&segment[1..]), hash.hash_one(segment));
    }
}
