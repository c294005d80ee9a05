#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! DPoP-bound tokens and DPoP proofs minted by an independent implementation, jwcrypto (Python),
//! committed in `tests/fixtures/dpop/` (see its README and `generate.py`): Tollgate must agree on
//! every thumbprint (`cnf.jkt`), accept the valid proofs (ES256, RS256, PS256, EdDSA) and refuse
//! each broken one for the documented reason, with the policy `tollgate serve` uses
//! ([`DPOP_PROOF_ALGORITHMS`]) on every crypto backend of the build. The proofs carry a fixed
//! `iat`: the verifier's clock is injected.

use serde_json::Value;
use tollgate::core::config::DPOP_PROOF_ALGORITHMS;
use tollgate::core::dpop::{
    DpopError, DpopVerifier, ProofCheck, ProofRequest, VerifiedProof, jwk_thumbprint,
};
use tollgate::core::{Algorithm, CryptoProvider, KeySet, Validation, VerifiedToken, Verifier};

const FIXTURES: &str = include_str!("fixtures/dpop/fixtures.json");

fn fixtures() -> Value {
    serde_json::from_str(FIXTURES).unwrap()
}

fn text<'a>(value: &'a Value, name: &str) -> &'a str {
    value[name]
        .as_str()
        .unwrap_or_else(|| panic!("fixture member {name:?} missing in {value}"))
}

/// A jwcrypto issuer's token, verified (its `cnf.jkt` read by the verification scan).
async fn verified(fixtures: &Value, crypto: CryptoProvider, token: &str) -> VerifiedToken {
    let validation = Validation::builder([Algorithm::ES256])
        .issuer(text(fixtures, "issuer"))
        .audience(text(fixtures, "audience"))
        .build()
        .unwrap();
    let keys = KeySet::from_jwks(&fixtures["issuer_jwks"].to_string()).unwrap();
    // The tokens are issued at the proofs' fixed iat: verified a little after it.
    let iat = fixtures["iat"].as_u64().unwrap();
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(iat + 10);
    Verifier::new(validation, keys, crypto)
        .verify_at(token, at)
        .await
        .unwrap_or_else(|e| panic!("jwcrypto token refused: {e}"))
}

/// A verifier as `serve` builds it, for the fixtures' URL, at `now`.
fn dpop_verifier(fixtures: &Value, crypto: CryptoProvider, now: i64) -> DpopVerifier {
    DpopVerifier::builder(text(fixtures, "public_url"))
        .unwrap()
        .algorithms(DPOP_PROOF_ALGORITHMS)
        .unwrap()
        .crypto(crypto)
        .clock(move || now)
        .build()
}

async fn check(
    verifier: &DpopVerifier,
    fixtures: &Value,
    proof: &str,
    token: &str,
    token_jkt: Option<&str>,
) -> Result<VerifiedProof, DpopError> {
    let request = ProofRequest {
        proof,
        method: text(fixtures, "method"),
        path: text(fixtures, "path"),
        access_token: token,
        token_jkt,
    };
    match verifier.check(request) {
        ProofCheck::Done(result) => result,
        ProofCheck::Pending(pending) => pending.await,
    }
}

/// The fixture's name for an error: the variant, `MissingClaim:<claim>` for a missing claim.
fn name(error: &DpopError) -> String {
    if let DpopError::MissingClaim(claim) = error {
        return format!("MissingClaim:{claim}");
    }
    let debug = format!("{error:?}");
    let end = debug.find(['(', ' ', '{']).unwrap_or(debug.len());
    debug[..end].to_owned()
}

#[tokio::test]
async fn thumbprints_agree_with_jwcrypto() {
    let fixtures = fixtures();
    let keys = fixtures["keys"].as_object().unwrap();
    assert!(keys.len() >= 5);
    for (name, key) in keys {
        assert_eq!(
            jwk_thumbprint(&key["jwk"].to_string()).unwrap(),
            text(key, "jkt"),
            "{name}"
        );
    }
    for crypto in CryptoProvider::available() {
        for (name, entry) in fixtures["tokens"].as_object().unwrap() {
            let token = verified(&fixtures, *crypto, text(entry, "token")).await;
            assert_eq!(
                token.confirmation_jkt(),
                entry["cnf_jkt"].as_str(),
                "{name}"
            );
            if let Some(bound) = keys.get(name.as_str()) {
                assert_eq!(token.confirmation_jkt(), Some(text(bound, "jkt")), "{name}");
            }
        }
    }
}

#[tokio::test]
async fn every_case_is_decided_as_jwcrypto_expects() {
    let fixtures = fixtures();
    let iat = fixtures["iat"].as_i64().unwrap();
    let cases = fixtures["cases"].as_array().unwrap();
    assert!(cases.len() >= 15);
    let mut valid = 0;
    for crypto in CryptoProvider::available() {
        // One verifier for all cases: each proof has its own jti, so none is a replay.
        let verifier = dpop_verifier(&fixtures, *crypto, iat + 10);
        for case in cases {
            let case_name = text(case, "name");
            let entry = &fixtures["tokens"][text(case, "token")];
            let token = text(entry, "token");
            let jkt = verified(&fixtures, *crypto, token).await;
            let result = check(
                &verifier,
                &fixtures,
                text(case, "proof"),
                token,
                jkt.confirmation_jkt(),
            )
            .await;
            let expect = text(case, "expect");
            match (&result, expect) {
                (Ok(proof), "valid") => {
                    valid += 1;
                    assert_eq!(Some(proof.jkt()), jkt.confirmation_jkt(), "{case_name}");
                    assert_eq!(proof.issued_at(), iat, "{case_name}");
                    assert!(proof.jti().starts_with("jwcrypto-"), "{case_name}");
                }
                (Ok(_), expected) => {
                    panic!(
                        "{case_name} ({}): accepted, expected {expected}",
                        case["why"]
                    )
                }
                (Err(error), expected) => assert_eq!(
                    name(error),
                    expected,
                    "{case_name} ({}): {error}",
                    case["why"]
                ),
            }
        }
    }
    assert_eq!(valid, 4 * CryptoProvider::available().len());
}

#[tokio::test]
async fn iat_window_and_replay_with_an_injected_clock() {
    let fixtures = fixtures();
    let iat = fixtures["iat"].as_i64().unwrap();
    let case = fixtures["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "valid-ES256")
        .unwrap();
    let token = text(&fixtures["tokens"]["ES256"], "token");
    let jkt = fixtures["tokens"]["ES256"]["cnf_jkt"].as_str();
    let proof = text(case, "proof");
    for crypto in CryptoProvider::available() {
        for (now, expected) in [
            (iat, "valid"),
            (iat + 300, "valid"),
            (iat + 301, "Stale"),
            (iat - 60, "valid"),
            (iat - 61, "FromTheFuture"),
        ] {
            let verifier = dpop_verifier(&fixtures, *crypto, now);
            let result = check(&verifier, &fixtures, proof, token, jkt).await;
            match result {
                Ok(_) => assert_eq!(expected, "valid", "now = iat {:+}", now - iat),
                Err(error) => assert_eq!(name(&error), expected, "now = iat {:+}", now - iat),
            }
        }
        let verifier = dpop_verifier(&fixtures, *crypto, iat + 1);
        assert!(check(&verifier, &fixtures, proof, token, jkt).await.is_ok());
        let replay = check(&verifier, &fixtures, proof, token, jkt).await;
        assert_eq!(replay.unwrap_err(), DpopError::Replayed);
        // Unbound: the token has no cnf.jkt.
        let unbound = text(&fixtures["tokens"]["unbound"], "token");
        let verifier = dpop_verifier(&fixtures, *crypto, iat + 1);
        let result = check(&verifier, &fixtures, proof, unbound, None).await;
        // The proof's ath is for the ES256 token, so either check may speak first; both refuse.
        assert!(
            matches!(
                result,
                Err(DpopError::UnboundToken | DpopError::AccessTokenHashMismatch)
            ),
            "{result:?}"
        );
    }
}
