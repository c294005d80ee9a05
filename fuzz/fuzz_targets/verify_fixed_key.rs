//! A whole `Verifier::verify` and `VerifiedToken::claims::<StandardClaims>` on arbitrary input, with fixed public keys (the
//! PyJWT fixture RSA 2048, P-256, P-384 and Ed25519 keys, as a JWK Set) and every asymmetric
//! algorithm allowed, for issuer `https://issuer.example.com` and audience `tollgate-tests`.
//! The seeds are the PyJWT fixture tokens (valid and invalid ones).
//!
//! Asserted: no error claims the static keys are unavailable; an accepted token has the
//! configured issuer, the audience, an `exp` not in the past (beyond the leeway), an allowed
//! asymmetric algorithm, and the shared typed claims agree with a fresh decoding of the payload
//! and with a second verification's.
#![no_main]

use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use tollgate_core::{Algorithm, CryptoProvider, StandardClaims, Verifier};
use tollgate_fuzz::{
    AUDIENCE, ISSUER, MAX_INPUT, block_on, fixture_public_keys, self_test_fixture_tokens,
    strict_policy,
};

static VERIFIER: LazyLock<Verifier> = LazyLock::new(|| {
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

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT {
        return;
    }
    let token = String::from_utf8_lossy(data);
    let verified = match block_on(VERIFIER.verify(&token))
        .and_then(|verified| Ok((verified.claims::<StandardClaims>()?, verified)))
    {
        Ok(verified) => verified,
        Err(err) => {
            assert!(
                !err.is_transient(),
                "static keys reported unavailable: {err:?}"
            );
            let _ = (
                err.code().http_status(),
                err.public_description(),
                err.to_string(),
            );
            return;
        }
    };
    let (typed, verified) = verified;
    let claims = &typed.registered;
    assert_eq!(
        claims.iss.as_deref(),
        Some(ISSUER),
        "accepted another issuer"
    );
    assert!(claims.aud.contains(AUDIENCE), "accepted another audience");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let leeway = VERIFIER.validation().leeway().as_secs() as i64;
    let exp = claims
        .exp
        .unwrap_or_else(|| panic!("accepted a token without exp"));
    assert!(
        exp + leeway >= now,
        "accepted an expired token (exp {exp}, now {now})"
    );
    assert_eq!(verified.expires_at(), Some(exp));
    let alg = verified.header().alg;
    assert!(
        !alg.is_symmetric() && VERIFIER.validation().allows(alg),
        "accepted {alg:?}"
    );

    let fresh = serde_json::from_slice::<StandardClaims>(verified.payload())
        .unwrap_or_else(|e| panic!("claims() read the payload, a fresh decoding refused: {e:?}"));
    assert_eq!(*typed, fresh, "shared vs fresh decoding");
    if let Ok(again) = block_on(VERIFIER.verify(&token)) {
        let again = again
            .claims::<StandardClaims>()
            .unwrap_or_else(|e| panic!("verify accepted, claims() refused: {e:?}"));
        assert_eq!(*again, *typed, "second verification vs first");
    }
});
