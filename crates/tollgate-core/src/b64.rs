//! Strict base64url (RFC 7515 section 2): no padding, URL alphabet only, canonical trailing bits.
//!
//! Canonical decoding matters beyond correctness: the verified-token cache is keyed by the token
//! string, so two spellings of the same bytes must not both verify.
//!
//! The decoder is our own, table-driven and branch-free per block: every full verification
//! decodes the payload and the signature (about 500 characters), and the `base64` crate's
//! general-purpose engine spent about 8 instructions per character on it.
//! The tests check it against that engine (still used to encode) on every length and alphabet.

/// Set in a looked-up value when the byte is outside the alphabet: above the 24 bits four valid
/// sextets fill, so an OR of looked-up values shows an invalid byte anywhere in it.
const INVALID: u32 = 1 << 24;

/// Each byte's sextet in the base64url alphabet shifted to its place in a quad (`0`: the first
/// character, bits 18..24; `3`: the last, bits 0..6), [`INVALID`] for every other byte. Four
/// tables (4 KiB) make a quad four loads and three ORs.
static SEXTETS: [[u32; 256]; 4] = {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut tables = [[INVALID; 256]; 4];
    let mut i = 0;
    while i < 64 {
        let c = ALPHABET[i] as usize;
        let sextet = i as u32;
        tables[0][c] = sextet << 18;
        tables[1][c] = sextet << 12;
        tables[2][c] = sextet << 6;
        tables[3][c] = sextet;
        i += 1;
    }
    tables
};

/// Decodes strict base64url; `None` for padding, foreign characters or non-zero trailing bits.
pub(crate) fn decode(input: &str) -> Option<Vec<u8>> {
    let mut out = vec![0u8; decoded_len(input.len())?];
    let written = decode_into(input, &mut out)?;
    out.truncate(written);
    Some(out)
}

/// How many bytes `encoded` base64url characters decode to; `None` for an impossible length.
pub(crate) const fn decoded_len(encoded: usize) -> Option<usize> {
    match encoded % 4 {
        1 => None,
        0 => Some(encoded / 4 * 3),
        rest => Some(encoded / 4 * 3 + rest - 1),
    }
}

/// Decodes strict base64url into `out`, which must hold [`decoded_len`] bytes; returns how many
/// were written. `None` as for [`decode`], or when `out` is too small. On `None`, `out` may hold
/// partial output.
pub(crate) fn decode_into(input: &str, out: &mut [u8]) -> Option<usize> {
    let input = input.as_bytes();
    let len = decoded_len(input.len())?;
    let out = out.get_mut(..len)?;
    // No branch on the data inside the loop: invalid bytes are collected in `seen` and judged
    // once at the end.
    let mut seen = 0u32;
    let [t0, t1, t2, t3] = &SEXTETS;
    let sextets = |c: &[u8; 4]| {
        t0[usize::from(c[0])]
            | t1[usize::from(c[1])]
            | t2[usize::from(c[2])]
            | t3[usize::from(c[3])]
    };
    // Eight characters (six bytes) at a time while eight bytes of room remain, written as one
    // eight-byte store whose last two bytes the next block overwrites: about a third fewer
    // instructions per character than three one-byte stores per quad.
    let (mut at, mut written) = (0, 0);
    while let (Some(chars), Some(room)) = (input.get(at..at + 8), out.get_mut(written..written + 8))
    {
        let (Ok(first), Ok(second)) = (
            <&[u8; 4]>::try_from(&chars[..4]),
            <&[u8; 4]>::try_from(&chars[4..]),
        ) else {
            break;
        };
        let (high, low) = (sextets(first), sextets(second));
        seen |= high | low;
        let six = (u64::from(high) << 40) | (u64::from(low) << 16);
        room.copy_from_slice(&six.to_be_bytes());
        at += 8;
        written += 6;
    }
    let (Some(input), Some(out)) = (input.get(at..), out.get_mut(written..)) else {
        return None;
    };
    let quads = input.chunks_exact(4);
    let tail = quads.remainder();
    let mut out_quads = out.chunks_exact_mut(3);
    for (quad, bytes) in quads.zip(&mut out_quads) {
        let Ok(quad) = <&[u8; 4]>::try_from(quad) else {
            return None;
        };
        let bits = sextets(quad);
        seen |= bits;
        bytes[0] = (bits >> 16) as u8;
        bytes[1] = (bits >> 8) as u8;
        bytes[2] = bits as u8;
    }
    let out_tail = out_quads.into_remainder();
    // The 2- or 3-character end (1 is an impossible length, refused above), read as the start
    // of a quad: its unused low bits must be zero (canonical).
    let bits = match *tail {
        [] => 0,
        [a, b] => t0[usize::from(a)] | t1[usize::from(b)],
        [a, b, c] => t0[usize::from(a)] | t1[usize::from(b)] | t2[usize::from(c)],
        _ => return None,
    };
    let unused_mask = match tail.len() {
        2 => 0xffff,
        3 => 0xff,
        _ => 0,
    };
    if (seen | bits) & INVALID != 0 || bits & unused_mask != 0 {
        return None;
    }
    for (i, byte) in out_tail.iter_mut().enumerate() {
        *byte = (bits >> (16 - 8 * i)) as u8;
    }
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_canonical_unpadded() {
        assert_eq!(decode("Zm9v").as_deref(), Some(&b"foo"[..]));
        assert_eq!(decode("Zm8").as_deref(), Some(&b"fo"[..]));
        assert_eq!(decode("_-8").as_deref(), Some(&[0xff, 0xef][..]));
    }

    #[test]
    fn rejects_padding_alphabet_whitespace_and_trailing_bits() {
        assert_eq!(decode("Zm8="), None, "padding");
        assert_eq!(decode("+/8"), None, "standard alphabet");
        assert_eq!(decode("Zm 9v"), None, "whitespace");
        assert_eq!(
            decode("Zm9"),
            None,
            "non-zero trailing bits (canonical is Zm8)"
        );
        assert_eq!(decode("Z"), None, "impossible length");
    }

    #[test]
    fn decodes_into_a_buffer_of_exactly_the_decoded_length() {
        for input in ["", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "_-8"] {
            let expected = decode(input).unwrap();
            assert_eq!(decoded_len(input.len()), Some(expected.len()), "{input}");
            let mut out = vec![0u8; expected.len()];
            assert_eq!(
                decode_into(input, &mut out),
                Some(expected.len()),
                "{input}"
            );
            assert_eq!(out, expected);
        }
        assert_eq!(decoded_len(5), None);
        let mut small = [0u8; 1];
        assert_eq!(decode_into("Zm9v", &mut small), None, "too small a buffer");
        assert_eq!(decode_into("Zm9=", &mut [0u8; 3]), None, "padding");
        assert_eq!(decode_into("Zm9", &mut [0u8; 2]), None, "non-canonical");
    }

    /// The reference: the `base64` crate's strict URL-safe engine without padding.
    fn reference(input: &str) -> Option<Vec<u8>> {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(input)
            .ok()
    }

    #[test]
    fn agrees_with_the_reference_on_every_length_and_ending() {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        for len in 0..64usize {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let encoded = engine.encode(&bytes);
            assert_eq!(decode(&encoded), Some(bytes.clone()), "len {len}");
            // Every character replaced by every byte at the first, a middle and the last
            // position: the same answer as the reference (foreign bytes, trailing bits).
            for at in [0, encoded.len() / 2, encoded.len().saturating_sub(1)] {
                if encoded.is_empty() {
                    continue;
                }
                for c in 0..=255u8 {
                    let mut changed = encoded.clone().into_bytes();
                    changed[at] = c;
                    let Ok(changed) = String::from_utf8(changed) else {
                        continue;
                    };
                    assert_eq!(decode(&changed), reference(&changed), "{changed:?}");
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_the_reference_on_any_text(
            chars in proptest::collection::vec(
                proptest::sample::select(
                    b"ABCXYZabcxyz0189-_=+/.".to_vec()
                ),
                0..80,
            )
        ) {
            let input: String = chars.into_iter().map(char::from).collect();
            proptest::prop_assert_eq!(decode(&input), reference(&input));
            let mut out = [0u8; 64];
            let expected = reference(&input).filter(|d| d.len() <= out.len());
            let written = decode_into(&input, &mut out);
            proptest::prop_assert_eq!(written.map(|n| out[..n].to_vec()), expected);
        }
    }
}
