//! JWK thumbprints (RFC 7638): SHA-256 over the canonical JSON of a key's required members.

use std::borrow::Cow;

use crate::b64;
use crate::crypto::CryptoProvider;
use crate::scan::Loose;

/// The required members of each key type, in lexicographic order (RFC 7638 3.2; RFC 8037 2 for
/// `OKP`).
fn required_members(kty: &str) -> Option<&'static [&'static str]> {
    match kty {
        "EC" => Some(&["crv", "kty", "x", "y"]),
        "RSA" => Some(&["e", "kty", "n"]),
        "OKP" => Some(&["crv", "kty", "x"]),
        _ => None,
    }
}

/// The canonical JSON RFC 7638 hashes: the required members only, sorted, no whitespace.
/// `None` when a required member is absent or not a string (the key parser refuses such keys
/// first, so this is never reached for a key that verified).
pub(crate) fn canonical_json(members: &[(Cow<'_, str>, Loose<'_>)]) -> Option<String> {
    let string = |name: &str| {
        members.iter().find_map(|(n, v)| match v {
            Loose::Str(s) if n == name => Some(s.as_ref()),
            _ => None,
        })
    };
    let names = required_members(string("kty")?)?;
    let mut out = String::with_capacity(160);
    out.push('{');
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(name);
        out.push_str("\":");
        // serde_json's string escaping is RFC 7159's, which RFC 7638 3.3 prescribes; the values
        // a usable key has (base64url, curve and type names) need none, but a stray character
        // must not be able to change the structure.
        out.push_str(&serde_json::to_string(string(name)?).ok()?);
    }
    out.push('}');
    Some(out)
}

/// The base64url SHA-256 thumbprint of the canonical JSON.
pub(crate) fn thumbprint(crypto: &CryptoProvider, canonical: &str) -> String {
    encode(&crypto.sha256(canonical.as_bytes()))
}

/// Unpadded base64url.
pub(crate) fn encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes a base64url value of exactly `N` bytes.
pub(crate) fn decode_exact<const N: usize>(text: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    if b64::decoded_len(text.len()) != Some(N) {
        return None;
    }
    (b64::decode_into(text, &mut out)? == N).then_some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn rfc_7638_example() {
        // RFC 7638 3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let members = vec![
            (Cow::Borrowed("kty"), Loose::Str("RSA".into())),
            (Cow::Borrowed("n"), Loose::Str(n.into())),
            (Cow::Borrowed("e"), Loose::Str("AQAB".into())),
            (Cow::Borrowed("alg"), Loose::Str("RS256".into())),
            (Cow::Borrowed("kid"), Loose::Str("2011-04-29".into())),
        ];
        let canonical = canonical_json(&members).unwrap();
        assert_eq!(
            canonical,
            format!("{{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"{n}\"}}")
        );
        for crypto in CryptoProvider::available() {
            assert_eq!(
                thumbprint(crypto, &canonical),
                "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
            );
        }
    }

    #[test]
    fn missing_members_have_no_thumbprint() {
        let members = vec![(Cow::Borrowed("kty"), Loose::Str("EC".into()))];
        assert_eq!(canonical_json(&members), None);
        let members = vec![(Cow::Borrowed("kty"), Loose::Str("oct".into()))];
        assert_eq!(canonical_json(&members), None);
    }

    #[test]
    fn decodes_exact_lengths_only() {
        assert_eq!(decode_exact::<3>("Zm9v"), Some(*b"foo"));
        assert_eq!(decode_exact::<2>("Zm9v"), None);
        assert_eq!(decode_exact::<3>("Zm9"), None);
    }
}
