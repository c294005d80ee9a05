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
}
