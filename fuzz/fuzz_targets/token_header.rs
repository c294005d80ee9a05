//! Token splitting, base64url and the protected header: `signature::verify_signature` and
//! `Verifier::verify` with static key sets (the PyJWT fixture HMAC secret; the fixture RSA, EC and
//! Ed25519 public keys).
//!
//! Input: the first byte picks how the rest becomes a token.
//! - `0`: the rest is the token (lossy UTF-8).
//! - `1`: the rest is split on NUL bytes; each part is base64url-encoded and the parts are
//!   joined with `.` (so header and payload JSON get past the base64 layer; any segment count).
//! - `2`: the rest is the header JSON; the payload is fixed valid claims and the token is
//!   HS256-signed with the fixture secret (so the header reaches every check after the
//!   signature).
//!
//! Asserted: never a "keys unavailable" error (the keys are static); `verify` succeeds only
//! if `verify_signature` does, with the same header; a verified header's algorithm is allowed
//! by the policy and of the verifier's key family; in mode 2 only HS256 can verify.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tollgate_core::{Algorithm, CryptoProvider, KeyFamily, StandardClaims, Verifier};
use tollgate_fuzz::{
    AUDIENCE, ISSUER, MAX_INPUT, b64url, block_on, fixture_public_keys, hs256_verifier,
    self_test_fixture_tokens, sign_hs256, strict_policy,
};

static HMAC: LazyLock<Verifier> = LazyLock::new(hs256_verifier);
static ASYMMETRIC: LazyLock<Verifier> = LazyLock::new(|| {
    let algorithms = Algorithm::ALL.into_iter().filter(|alg| !alg.is_symmetric());
    let verifier = Verifier::builder(
        strict_policy(algorithms),
        fixture_public_keys(),
        CryptoProvider::default(),
    )
    .token_cache(None)
    .build();
    self_test_fixture_tokens(&verifier);
    verifier
});

fn check(verifier: &Verifier, token: &str, signed_hs256: bool) {
    let jws = block_on(tollgate_core::signature::verify_signature(verifier, token));
    // `verify` accepts a token and `claims::<StandardClaims>` reads it: both are the full path.
    let full = block_on(verifier.verify(token)).and_then(|verified| {
        let claims = verified.claims::<StandardClaims>()?;
        Ok((verified, claims))
    });
    for err in [jws.as_ref().err(), full.as_ref().err()]
        .into_iter()
        .flatten()
    {
        assert!(
            !err.is_transient(),
            "static keys reported unavailable: {err:?}"
        );
        let _ = (err.code(), err.public_description(), err.to_string());
    }
    if let Ok((verified, claims)) = &full {
        let jws = jws
            .as_ref()
            .unwrap_or_else(|e| panic!("verify accepted what verify_signature refused: {e:?}"));
        assert_eq!(
            *verified.header(),
            jws.header,
            "the two paths read different headers"
        );
        let claims = &claims.registered;
        assert_eq!(claims.iss.as_deref(), Some(ISSUER));
        assert!(claims.aud.contains(AUDIENCE));
    }
    if let Ok(jws) = &jws {
        let alg = jws.header.alg;
        assert!(verifier.validation().allows(alg), "{alg:?} is not allowed");
        let hmac = alg.key_family() == KeyFamily::Hmac;
        assert_eq!(
            hmac,
            std::ptr::eq(verifier, &*HMAC),
            "{alg:?} verified by the wrong set"
        );
        if signed_hs256 {
            assert_eq!(
                alg,
                Algorithm::HS256,
                "an HS256 signature verified as {alg:?}"
            );
        }
    }
}

const CLAIMS: &str = r#"{"iss":"https://issuer.example.com","aud":"tollgate-tests","sub":"user-1","exp":4102444800}"#;

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT {
        return;
    }
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (token, signed) = match mode % 3 {
        0 => (String::from_utf8_lossy(rest).into_owned(), false),
        1 => {
            let parts: Vec<String> = rest.split(|&b| b == 0).map(b64url).collect();
            (parts.join("."), false)
        }
        _ => (sign_hs256(rest, CLAIMS.as_bytes()), true),
    };
    check(&HMAC, &token, signed);
    check(&ASYMMETRIC, &token, false);
});
