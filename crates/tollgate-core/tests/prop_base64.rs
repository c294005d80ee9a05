//! Property tests: strict base64url (RFC 7515 section 2) through the public verifier. Every byte
//! string has exactly one accepted spelling per segment: unpadded, URL alphabet, zero trailing
//! bits, nothing inserted. The verified-token cache is keyed by the token string, so a second
//! spelling of the same bytes that also verified would be a second cache identity for one token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::json;
use tollgate_core::testing::SigningKey;
use tollgate_core::{
    Algorithm, CryptoProvider, Error, KeySet, Malformed, Validation, VerificationKey, Verifier,
};

const SECRET: &[u8] = b"prop-base64 secret of at least thirty-two bytes!";
const URL_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    }
}

/// Static key sources answer synchronously: one poll completes a verification.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

fn verifier() -> Verifier {
    let policy = Validation::builder([Algorithm::HS256])
        .any_audience()
        .require_exp(false)
        .build()
        .unwrap();
    let key = VerificationKey::hmac(SECRET).unwrap();
    Verifier::new(policy, KeySet::from(key), CryptoProvider::default())
}

fn hs256(message: &[u8]) -> Vec<u8> {
    SigningKey::hmac(SECRET)
        .unwrap()
        .sign_bytes(message)
        .unwrap()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `header.payload.signature` with a valid HS256 signature over exactly these two spellings.
fn signed(header: &str, payload: &str) -> String {
    let input = format!("{header}.{payload}");
    let signature = b64(&hs256(input.as_bytes()));
    format!("{input}.{signature}")
}

/// A header that varies in length and content: unknown members are ignored by the verifier.
fn header_json(filler: &str) -> String {
    json!({"alg": "HS256", "x": filler}).to_string()
}

/// An independent reference of the accepted language: the strict decoder written out, without
/// the `base64` crate. `None` for anything not canonical unpadded base64url.
fn reference_decode(input: &str) -> Option<Vec<u8>> {
    let bytes = input.as_bytes();
    if bytes.len() % 4 == 1 {
        return None;
    }
    let mut values = Vec::with_capacity(bytes.len());
    for &c in bytes {
        values.push(URL_ALPHABET.iter().position(|&a| a == c)? as u32);
    }
    let mut out = Vec::new();
    for chunk in values.chunks(4) {
        let mut acc = 0u32;
        for (i, v) in chunk.iter().enumerate() {
            acc |= v << (18 - 6 * i);
        }
        let produced = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => unreachable!("length % 4 == 1 refused above"),
        };
        let kept_bits = 8 * produced;
        // Bits past the last whole byte must be zero (canonical).
        let mask = (1u32 << (24 - kept_bits)) - 1;
        if acc & mask != 0 {
            return None;
        }
        for i in 0..produced {
            out.push((acc >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

/// A way to misspell a canonical segment.
#[derive(Debug, Clone)]
enum Spelling {
    /// `=` padding (the full RFC 4648 padding when the length needs it, else one `=`).
    Padded,
    /// `+` and `/` for every `-` and `_` (only a misspelling when the segment has one).
    StandardAlphabet,
    /// The unused low bits of the last character set to this non-zero pattern.
    TrailingBits(u8),
    /// A whitespace character inserted at this position (modulo length + 1).
    Whitespace(char, usize),
}

fn spelling() -> impl Strategy<Value = Spelling> {
    prop_oneof![
        Just(Spelling::Padded),
        Just(Spelling::StandardAlphabet),
        (1u8..16).prop_map(Spelling::TrailingBits),
        (
            prop::sample::select(vec![' ', '\t', '\n', '\r', '\u{0b}', '\u{0c}']),
            any::<usize>()
        )
            .prop_map(|(c, at)| Spelling::Whitespace(c, at)),
    ]
}

/// `canonical` spelled the other way, or `None` when this spelling does not apply to it (no
/// `-`/`_` to swap; no unused trailing bits).
fn misspell(canonical: &str, how: &Spelling) -> Option<String> {
    match how {
        Spelling::Padded => Some(match canonical.len() % 4 {
            2 => format!("{canonical}=="),
            3 => format!("{canonical}="),
            _ => format!("{canonical}="),
        }),
        Spelling::StandardAlphabet => {
            let swapped: String = canonical
                .chars()
                .map(|c| match c {
                    '-' => '+',
                    '_' => '/',
                    other => other,
                })
                .collect();
            (swapped != canonical).then_some(swapped)
        }
        Spelling::TrailingBits(pattern) => {
            let unused = match canonical.len() % 4 {
                2 => 4,
                3 => 2,
                _ => return None,
            };
            let bits = u32::from(*pattern) & ((1 << unused) - 1);
            if bits == 0 {
                return None;
            }
            let last = *canonical.as_bytes().last()?;
            let value = URL_ALPHABET.iter().position(|&a| a == last)? as u32;
            let mut out = canonical[..canonical.len() - 1].to_owned();
            out.push(URL_ALPHABET[(value | bits) as usize] as char);
            Some(out)
        }
        Spelling::Whitespace(c, at) => {
            let at = at % (canonical.len() + 1);
            let mut out = canonical.to_owned();
            out.insert(at, *c);
            Some(out)
        }
    }
}

fn is_base64_refusal(err: &Error) -> bool {
    matches!(err, Error::Malformed(Malformed::Base64))
}

proptest! {
    #![proptest_config(config(256))]

    /// The canonical spelling of any payload bytes (and of any header) verifies, and the payload
    /// comes back byte for byte.
    #[test]
    fn canonical_spelling_is_accepted(
        payload in prop::collection::vec(any::<u8>(), 0..160),
        filler in "[ -~]{0,40}",
    ) {
        let verifier = verifier();
        let token = signed(&b64(header_json(&filler).as_bytes()), &b64(&payload));
        let verified = block_on(tollgate_core::signature::verify_signature(&verifier, &token)).unwrap();
        prop_assert_eq!(verified.payload, payload);
        prop_assert_eq!(verified.header.alg, Algorithm::HS256);
    }

    /// Any other spelling of the header or payload bytes is refused as bad base64, although the
    /// signature is valid over exactly that spelling (so nothing but the decoder can refuse it).
    #[test]
    fn other_spellings_of_header_or_payload_are_refused(
        payload in prop::collection::vec(any::<u8>(), 0..160),
        filler in "[ -~]{0,40}",
        in_header in any::<bool>(),
        how in spelling(),
    ) {
        let header = b64(header_json(&filler).as_bytes());
        let payload = b64(&payload);
        let (header, payload) = if in_header {
            let Some(bad) = misspell(&header, &how) else { return Ok(()) };
            (bad, payload)
        } else {
            let Some(bad) = misspell(&payload, &how) else { return Ok(()) };
            (header, bad)
        };
        // Inserting whitespace never creates a segment separator, so there are three segments.
        let token = signed(&header, &payload);
        let verifier = verifier();
        let err = block_on(tollgate_core::signature::verify_signature(&verifier, &token)).unwrap_err();
        prop_assert!(is_base64_refusal(&err), "{token:?}: {err:?}");
    }

    /// Any other spelling of a valid signature is refused. A spelling that keeps the length
    /// (alphabet, trailing bits) is bad base64; one that changes it (padding, an inserted
    /// character) is caught earlier by the fixed HS256 signature length, before any decoding.
    #[test]
    fn other_spellings_of_the_signature_are_refused(
        payload in prop::collection::vec(any::<u8>(), 0..160),
        how in spelling(),
    ) {
        let token = signed(&b64(header_json("").as_bytes()), &b64(&payload));
        let (input, signature) = token.rsplit_once('.').unwrap();
        let Some(bad) = misspell(signature, &how) else { return Ok(()) };
        let token = format!("{input}.{bad}");
        let verifier = verifier();
        let err = block_on(tollgate_core::signature::verify_signature(&verifier, &token)).unwrap_err();
        if bad.len() == signature.len() {
            prop_assert!(is_base64_refusal(&err), "{token:?}: {err:?}");
        } else {
            prop_assert!(
                is_base64_refusal(&err)
                    || matches!(err, Error::Malformed(Malformed::SignatureLength)),
                "{token:?}: {err:?}"
            );
        }
    }

}

proptest! {
    #![proptest_config(config(1024))]

    /// The accepted language of a payload segment is exactly canonical base64url: for arbitrary
    /// strings over the base64 characters of both alphabets, `=` and whitespace, signed as
    /// they are, the verifier accepts iff the independent reference decoder does, with the
    /// same bytes.
    #[test]
    fn payload_language_matches_the_reference(
        segment in "[A-Za-z0-9_+/=\\- ]{0,24}",
    ) {
        let token = signed(&b64(header_json("").as_bytes()), &segment);
        let verifier = verifier();
        let outcome = block_on(tollgate_core::signature::verify_signature(&verifier, &token));
        match reference_decode(&segment) {
            Some(bytes) => prop_assert_eq!(outcome.unwrap().payload, bytes),
            None => {
                let err = outcome.unwrap_err();
                prop_assert!(is_base64_refusal(&err), "{segment:?}: {err:?}");
            }
        }
    }

    /// Through the full claims verification (`verify`), with a cache warmed by the canonical
    /// token: the canonical spelling verifies, every other spelling of its payload is refused as
    /// bad base64 and never answered from the cache.
    #[test]
    fn verify_accepts_only_the_canonical_claims_spelling(
        sub in "\\PC{0,30}",
        how in spelling(),
    ) {
        let verifier = verifier();
        let claims = json!({"sub": sub, "exp": 4_102_444_800u64}).to_string();
        let header = b64(br#"{"alg":"HS256"}"#);
        let payload = b64(claims.as_bytes());
        let canonical = signed(&header, &payload);
        for _ in 0..3 {
            let verified =
                block_on(verifier.verify(&canonical)).unwrap();
            let claims = verified.claims::<serde_json::Value>().unwrap();
            prop_assert_eq!(claims["sub"].as_str(), Some(sub.as_str()));
        }
        let Some(bad) = misspell(&payload, &how) else { return Ok(()) };
        let token = signed(&header, &bad);
        let err = block_on(verifier.verify(&token)).unwrap_err();
        prop_assert!(is_base64_refusal(&err), "{token:?}: {err:?}");
    }
}

/// The reference decoder agrees with the canonical encoder on every byte string (a check of the
/// test's own model).
#[test]
fn reference_decoder_round_trips_the_encoder() {
    for len in 0..40usize {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 73 + 19) as u8).collect();
        assert_eq!(reference_decode(&b64(&bytes)), Some(bytes.clone()), "{len}");
    }
    assert_eq!(reference_decode("Zm8"), Some(b"fo".to_vec()));
    assert_eq!(reference_decode("Zm9"), None);
    assert_eq!(reference_decode("Zm8="), None);
    assert_eq!(reference_decode("+/8"), None);
    assert_eq!(reference_decode("Z"), None);
}

/// Today's answer to a padded or whitespace-lengthened HS256 signature: refused by the
/// fixed-length check (`SignatureLength`), which runs before any decoding, not as bad base64.
/// Pinned so that a change of that order is deliberate.
#[test]
fn lengthened_signature_is_refused_by_its_length() {
    let verifier = verifier();
    let token = signed(&b64(header_json("").as_bytes()), &b64(b"{}"));
    for lengthened in [format!("{token}="), format!("{token} ")] {
        assert_eq!(
            block_on(tollgate_core::signature::verify_signature(
                &verifier,
                &lengthened
            ))
            .unwrap_err(),
            Error::Malformed(Malformed::SignatureLength),
            "{lengthened:?}"
        );
    }
}
