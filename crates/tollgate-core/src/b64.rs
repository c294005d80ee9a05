//! Strict base64url (RFC 7515 section 2): no padding, URL alphabet only, canonical trailing bits.
//!
//! Canonical decoding matters beyond correctness: the verified-token cache is keyed by the token
//! string, so two spellings of the same bytes must not both verify.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Decodes strict base64url; `None` for padding, foreign characters or non-zero trailing bits.
pub(crate) fn decode(input: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(input).ok()
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
/// were written. `None` as for [`decode`], or when `out` is too small.
pub(crate) fn decode_into(input: &str, out: &mut [u8]) -> Option<usize> {
    URL_SAFE_NO_PAD.decode_slice(input, out).ok()
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
}
