//! Property tests: the verified-token cache never answers for a token that differs from the
//! cached one in any byte. A cached token is looked up by a hash of the whole string and
//! confirmed by a comparison of the whole string, so a string with one character changed,
//! removed or added must go through the full verification, which refuses it (a compact JWS has
//! no byte outside the signed input and the signature; strict base64url leaves no second
//! spelling of either).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::{Value, json};
use tollgate_core::testing::SigningKey;
use tollgate_core::{
    Algorithm, CryptoProvider, Error, KeySet, Malformed, TokenCacheConfig, Validation,
    VerificationKey, VerifiedToken, Verifier,
};

const SECRET: &[u8] = b"prop-cache secret, at least thirty-two bytes long";

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    }
}

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
        .issuer("https://issuer.example.com")
        .audience("api")
        .build()
        .unwrap();
    let keys = KeySet::from(VerificationKey::hmac(SECRET).unwrap().with_kid("k1"));
    Verifier::builder(policy, keys, CryptoProvider::default())
        .token_cache(Some(TokenCacheConfig::default()))
        .build()
}

/// HS256 with header `{"alg", "kid": "k1", "typ"}` (the workspace's test signer).
fn sign(claims: &Value) -> String {
    let key = SigningKey::hmac(SECRET).unwrap().with_kid("k1");
    key.sign(claims.as_object().unwrap(), "JWT").unwrap()
}

fn claims(sub: &str, extra: &str) -> Value {
    json!({
        "iss": "https://issuer.example.com", "aud": "api", "sub": sub,
        "exp": 4_102_444_800u64, "extra": extra
    })
}

/// Verifies `token` until it is answered from the cache; returns the cached verification.
fn cached(verifier: &Verifier, token: &str) -> VerifiedToken {
    let first = block_on(verifier.verify(token)).unwrap();
    let second = block_on(verifier.verify(token)).unwrap();
    let third = block_on(verifier.verify(token)).unwrap();
    assert!(!first.ptr_eq(&second), "admitted on the second sighting");
    assert!(
        second.ptr_eq(&third),
        "the third is answered from the cache"
    );
    third
}

/// A change of one character of a token, or one character removed or inserted.
#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, char),
    Remove(usize),
    Insert(usize, char),
}

/// Characters to put in: the token alphabet and its neighbours (so edits often stay
/// well-formed base64url), `=`, `.`, whitespace, and any character at all.
fn replacement() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::sample::select(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                .chars()
                .collect::<Vec<_>>()
        ),
        1 => prop::sample::select(vec!['=', '.', '+', '/', ' ', '\t', '\0', '~', 'é']),
        1 => any::<char>(),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        6 => (any::<usize>(), replacement()).prop_map(|(at, c)| Edit::Replace(at, c)),
        1 => any::<usize>().prop_map(Edit::Remove),
        1 => (any::<usize>(), replacement()).prop_map(|(at, c)| Edit::Insert(at, c)),
    ]
}

/// `token` (ASCII) edited; `None` when the edit leaves it unchanged.
fn apply(token: &str, edit: &Edit) -> Option<String> {
    let mut chars: Vec<char> = token.chars().collect();
    match *edit {
        Edit::Replace(at, c) => {
            let at = at % chars.len();
            if chars[at] == c {
                return None;
            }
            chars[at] = c;
        }
        Edit::Remove(at) => {
            chars.remove(at % chars.len());
        }
        Edit::Insert(at, c) => chars.insert(at % (chars.len() + 1), c),
    }
    Some(chars.into_iter().collect())
}

/// Where an edit landed.
fn in_signature(token: &str, edited: &str) -> bool {
    let signature_start = token.rfind('.').unwrap() + 1;
    let common = token
        .bytes()
        .zip(edited.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    common >= signature_start && edited.matches('.').count() == 2
}

proptest! {
    #![proptest_config(config(256))]

    /// An edited token is never the cached verification, is not in the cache, and is refused;
    /// an edit inside the signature is refused as an invalid signature or a malformed token.
    /// The original is still answered from the cache afterwards.
    #[test]
    fn an_edited_token_is_never_answered_from_the_cache(
        sub in "\\PC{0,16}",
        extra in "[ -~]{0,64}",
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let verifier = verifier();
        let token = sign(&claims(&sub, &extra));
        let hit = cached(&verifier, &token);
        for edit in &edits {
            let Some(edited) = apply(&token, edit) else { continue };
            prop_assert!(tollgate_core::testing::cached(&verifier, &edited).is_none(), "{edited:?} answered from the cache");
            // Twice: a refused token is not admitted on its second sighting either.
            for _ in 0..2 {
                let outcome = block_on(verifier.verify(&edited));
                if let Ok(verified) = &outcome {
                    prop_assert!(!verified.ptr_eq(&hit), "{edited:?} got the cached entry");
                }
                let err = match outcome {
                    Ok(_) => return Err(TestCaseError::fail(format!("{edited:?} verified"))),
                    Err(err) => err,
                };
                if in_signature(&token, &edited) {
                    prop_assert!(
                        matches!(err, Error::InvalidSignature | Error::Malformed(_)),
                        "{edited:?}: {err:?}"
                    );
                }
                let now = verifier.start(&edited).done();
                prop_assert!(matches!(now, Some(Err(_))), "{edited:?}: {now:?}");
                let typed = block_on(verifier.verify(&edited));
                prop_assert!(typed.is_err(), "{edited:?} verified as typed claims");
            }
        }
        let again = block_on(verifier.verify(&token)).unwrap();
        prop_assert!(again.ptr_eq(&hit));
        prop_assert!(tollgate_core::testing::cached(&verifier, &token).unwrap().unwrap().ptr_eq(&hit));
    }

    /// Changing one character of the signature segment to another base64url character gives an
    /// invalid signature (length and alphabet unchanged) or bad base64 (non-canonical trailing
    /// bits in the last character), never anything else.
    #[test]
    fn a_changed_signature_character_is_an_invalid_signature(
        sub in "[a-z]{1,8}",
        at in any::<usize>(),
        c in prop::sample::select(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                .chars()
                .collect::<Vec<_>>()
        ),
    ) {
        let verifier = verifier();
        let token = sign(&claims(&sub, ""));
        let hit = cached(&verifier, &token);
        let start = token.rfind('.').unwrap() + 1;
        let at = start + at % (token.len() - start);
        prop_assume!(token.as_bytes()[at] != c as u8);
        let mut edited = token.clone().into_bytes();
        edited[at] = c as u8;
        let edited = String::from_utf8(edited).unwrap();
        let err = block_on(verifier.verify(&edited)).unwrap_err();
        if at == token.len() - 1 {
            prop_assert!(
                matches!(err, Error::InvalidSignature | Error::Malformed(Malformed::Base64)),
                "{err:?}"
            );
        } else {
            prop_assert_eq!(err, Error::InvalidSignature);
        }
        prop_assert!(block_on(verifier.verify(&token)).unwrap().ptr_eq(&hit));
    }

    /// Two valid tokens that differ (here: in one claim) are two cache entries: each is answered
    /// with its own claims, never the other's.
    #[test]
    fn distinct_valid_tokens_have_distinct_entries(
        a in "\\PC{0,12}",
        b in "\\PC{0,12}",
    ) {
        prop_assume!(a != b);
        let verifier = verifier();
        let token_a = sign(&claims(&a, ""));
        let token_b = sign(&claims(&b, ""));
        let hit_a = cached(&verifier, &token_a);
        let hit_b = cached(&verifier, &token_b);
        prop_assert!(!hit_a.ptr_eq(&hit_b));
        for _ in 0..2 {
            let again_a = block_on(verifier.verify(&token_a)).unwrap();
            let again_b = block_on(verifier.verify(&token_b)).unwrap();
            prop_assert!(again_a.ptr_eq(&hit_a));
            prop_assert!(again_b.ptr_eq(&hit_b));
            prop_assert_eq!(again_a.subject(), Some(a.as_str()));
            prop_assert_eq!(again_b.subject(), Some(b.as_str()));
        }
    }
}
