//! DPoP proofs (RFC 9449 4.3) through `DpopVerifier::check`, with a fixed clock and a fresh
//! in-memory replay store per input.
//!
//! Input: the first byte picks how the rest becomes a proof.
//! - `0`: the rest is the proof (lossy UTF-8).
//! - `1`: the rest is the header JSON; the payload is fixed valid claims, and the proof is signed
//!   with the fixed Ed25519 key (so the header reaches the signature and every later check
//!   whenever it names that key).
//! - `2`: the rest is the payload JSON, under a valid header with the fixed key, signed (so the
//!   claims reach every check).
//! - `3`: the rest is split on NUL bytes into `htm`, `htu` and the request path; the proof is
//!   otherwise valid and signed (the URI normalisation on both sides).
//!
//! Asserted: never a transient error (the store is fresh and large); every error has a code and
//! a client message; an accepted proof carries the fixed key's thumbprint (computed here, apart
//! from the verifier), `EdDSA`, an `iat` in the window and `htm` `GET`.
#![no_main]

use std::sync::LazyLock;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tollgate_core::Algorithm;
use tollgate_core::dpop::{DpopVerifier, MemoryReplayStore, ProofCheck, ProofRequest};
use tollgate_fuzz::{MAX_INPUT, b64url, block_on};

const NOW: i64 = 1_900_000_000;
const ORIGIN: &str = "https://api.example.com";
const PATH: &str = "/orders";
const TOKEN: &str = "fuzz.access.token";

static KEY: LazyLock<Ed25519KeyPair> = LazyLock::new(|| {
    Ed25519KeyPair::from_seed_unchecked(&[7u8; 32]).unwrap_or_else(|e| panic!("fixed seed: {e}"))
});

static JWK: LazyLock<Value> = LazyLock::new(
    || json!({"kty": "OKP", "crv": "Ed25519", "x": b64url(KEY.public_key().as_ref())}),
);

/// RFC 7638: the required members in lexicographic order, no whitespace, SHA-256, base64url.
static JKT: LazyLock<String> = LazyLock::new(|| {
    let x = b64url(KEY.public_key().as_ref());
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    b64url(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes()).as_ref())
});

static ATH: LazyLock<String> = LazyLock::new(|| {
    b64url(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, TOKEN.as_bytes()).as_ref())
});

fn header() -> String {
    json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": *JWK}).to_string()
}

fn claims(htm: &str, htu: &str) -> String {
    json!({"jti": "fuzz-jti", "htm": htm, "htu": htu, "iat": NOW, "ath": *ATH}).to_string()
}

fn sign(header: &[u8], payload: &[u8]) -> String {
    let input = format!("{}.{}", b64url(header), b64url(payload));
    let signature = KEY.sign(input.as_bytes());
    format!("{input}.{}", b64url(signature.as_ref()))
}

/// A valid proof is accepted: otherwise every assertion on accepted proofs would be vacuous.
static SELF_TEST: LazyLock<()> = LazyLock::new(|| {
    let proof = sign(
        header().as_bytes(),
        claims("GET", "https://api.example.com/orders").as_bytes(),
    );
    assert!(
        matches!(outcome(&proof, PATH), Ok(ref v) if v.jkt() == JKT.as_str()),
        "the fixed valid proof is refused: {:?}",
        outcome(&proof, PATH)
    );
});

fn outcome(
    proof: &str,
    path: &str,
) -> Result<tollgate_core::dpop::VerifiedProof, tollgate_core::dpop::DpopError> {
    let verifier = DpopVerifier::builder(ORIGIN)
        .unwrap_or_else(|e| panic!("{e}"))
        .replay_store(MemoryReplayStore::new(1024))
        .clock(|| NOW)
        .build();
    let check = verifier.check(ProofRequest {
        proof,
        method: "GET",
        path,
        access_token: TOKEN,
        token_jkt: Some(&JKT),
    });
    match check {
        ProofCheck::Done(outcome) => outcome,
        ProofCheck::Pending(pending) => block_on(pending),
    }
}

fn check(proof: &str, path: &str) {
    match outcome(proof, path) {
        Ok(verified) => {
            assert_eq!(verified.jkt(), JKT.as_str(), "accepted with another key");
            assert_eq!(verified.algorithm(), Algorithm::EdDSA);
            assert!((NOW - 300..=NOW + 60).contains(&verified.issued_at()));
            assert!(!verified.jti().is_empty() && verified.jti().len() <= 256);
        }
        Err(err) => {
            assert!(!err.is_transient(), "a fresh store failed: {err:?}");
            assert!(!err.code().is_empty() && !err.client_message().is_empty());
            let _ = err.to_string();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT {
        return;
    }
    LazyLock::force(&SELF_TEST);
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => check(&String::from_utf8_lossy(rest), PATH),
        1 => check(
            &sign(
                rest,
                claims("GET", "https://api.example.com/orders").as_bytes(),
            ),
            PATH,
        ),
        2 => check(&sign(header().as_bytes(), rest), PATH),
        _ => {
            let mut parts = rest.splitn(3, |&b| b == 0).map(String::from_utf8_lossy);
            let (htm, htu, path) = (
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
            );
            let proof = sign(header().as_bytes(), claims(&htm, &htu).as_bytes());
            check(&proof, &path);
        }
    }
});
