#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Tokens and keys minted by an independent implementation (PyJWT 2.10.1 + cryptography; see
//! `tests/fixtures/pyjwt/README.md`), so tollgate-core is checked against tokens it did not sign.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use tollgate_core::{
    Algorithm, ClaimPath, CryptoProvider, Error, KeyError, KeyFamily, KeySet, Malformed,
    StandardClaims, Validation, VerificationKey, VerifiedToken, Verifier,
};

const ISSUER: &str = "https://issuer.example.com";
const AUDIENCE: &str = "tollgate-tests";

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pyjwt")
        .join(name)
}

fn read_text(name: &str) -> String {
    std::fs::read_to_string(fixture_path(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
}

fn read_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
}

/// One entry of `tokens.json`.
struct Fixture {
    name: String,
    key: String,
    token: String,
    expect: String,
    claims: Value,
}

fn fixtures() -> Vec<Fixture> {
    let all: Value = serde_json::from_str(&read_text("tokens.json")).unwrap();
    let str_of = |entry: &Value, field: &str| -> String {
        entry[field]
            .as_str()
            .unwrap_or_else(|| panic!("tokens.json entry without string `{field}`: {entry}"))
            .to_owned()
    };
    all.as_array()
        .expect("tokens.json is an array")
        .iter()
        .map(|entry| Fixture {
            name: str_of(entry, "name"),
            key: str_of(entry, "key"),
            token: str_of(entry, "token"),
            expect: str_of(entry, "expect"),
            claims: entry["claims"].clone(),
        })
        .collect()
}

fn valid_fixtures() -> Vec<Fixture> {
    fixtures()
        .into_iter()
        .filter(|f| f.expect == "valid")
        .collect()
}

fn hmac_secret() -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(read_text("hmac.secret.b64u").trim())
        .unwrap()
}

fn policy() -> Validation {
    Validation::builder(Algorithm::ALL)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .leeway(Duration::ZERO)
        .build()
        .unwrap()
}

/// `jwks.json` plus the HMAC secret under kid `hmac-1`.
fn all_keys() -> KeySet {
    let mut keys = KeySet::from_jwks(&read_text("jwks.json")).unwrap();
    keys.push(
        VerificationKey::hmac(hmac_secret())
            .unwrap()
            .with_kid("hmac-1"),
    );
    keys
}

fn verifier_with(keys: KeySet, provider: CryptoProvider) -> Verifier {
    Verifier::new(policy(), keys, provider)
}

/// Every backend this build has.
fn providers() -> Vec<CryptoProvider> {
    CryptoProvider::available().to_vec()
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("expected an array, got {value}"))
        .iter()
        .map(|v| v.as_str().expect("string item"))
        .collect()
}

/// Verifies `token` and reads its claims as [`StandardClaims`]: a token whose claims do not fit
/// counts as refused, as it did when verification deserialized them.
async fn verify_standard(verifier: &Verifier, token: &str) -> Result<VerifiedToken, Error> {
    let verified = verifier.verify(token).await?;
    verified.claims::<StandardClaims>()?;
    Ok(verified)
}

/// Differences between a verified token's claims and what `tokens.json` says was signed.
fn claim_mismatches(verified: &VerifiedToken, expected: &Value) -> Vec<String> {
    let claims = verified.claims::<StandardClaims>().unwrap();
    let mut out = Vec::new();
    let mut check = |what: &str, actual: String, wanted: String| {
        if actual != wanted {
            out.push(format!("{what}: got {actual}, expected {wanted}"));
        }
    };
    check(
        "sub",
        format!("{:?}", claims.registered.sub.as_deref()),
        format!("{:?}", expected["sub"].as_str()),
    );
    check(
        "iss",
        format!("{:?}", claims.registered.iss.as_deref()),
        format!("{:?}", expected["iss"].as_str()),
    );
    let expected_aud: Vec<&str> = match &expected["aud"] {
        Value::String(one) => vec![one.as_str()],
        many => strings(many),
    };
    check(
        "aud",
        format!("{:?}", claims.registered.aud.0),
        format!("{expected_aud:?}"),
    );
    let expected_exp = expected["exp"].as_f64().map(|exp| exp.floor() as i64);
    check(
        "exp",
        format!("{:?}", claims.registered.exp),
        format!("{expected_exp:?}"),
    );
    check(
        "expires_at",
        format!("{:?}", verified.expires_at()),
        format!("{expected_exp:?}"),
    );
    for (path, wanted) in [
        ("roles", &expected["roles"]),
        ("realm_access.roles", &expected["realm_access"]["roles"]),
        ("cognito:groups", &expected["cognito:groups"]),
    ] {
        let path = ClaimPath::new(path).unwrap();
        check(
            &format!("ClaimPath {path}"),
            format!("{:?}", claims.strings_at(&path)),
            format!("{:?}", strings(wanted)),
        );
    }
    let expected_scopes: Vec<&str> = expected["scope"]
        .as_str()
        .expect("scope string")
        .split_ascii_whitespace()
        .collect();
    check(
        "scopes()",
        format!("{:?}", claims.scopes()),
        format!("{expected_scopes:?}"),
    );
    out
}

/// Whether `err` is the specific rejection `tokens.json` expects; `None` for an unknown `expect`.
fn is_expected_rejection(expect: &str, err: &Error) -> Option<bool> {
    Some(match expect {
        "expired" => matches!(err, Error::Expired { .. }),
        "not_yet_valid" => matches!(err, Error::NotYetValid { .. }),
        "issued_in_future" => matches!(err, Error::IssuedInFuture { .. }),
        "wrong_issuer" | "wrong_issuer_trailing_slash" => matches!(err, Error::WrongIssuer { .. }),
        "wrong_audience" => matches!(err, Error::WrongAudience { .. }),
        "missing_exp" => matches!(err, Error::MissingClaim(c) if c == "exp"),
        "exp_is_string" | "exp_is_null" => {
            matches!(err, Error::InvalidClaim { claim, .. } if claim == "exp")
        }
        "missing_iss" => matches!(err, Error::MissingClaim(c) if c == "iss"),
        "missing_aud" => matches!(err, Error::MissingClaim(c) if c == "aud"),
        // The 1024-bit key is not in the set (it cannot be loaded), so its kid is unknown.
        "unknown_kid" | "key_too_small" => matches!(err, Error::UnknownKey { .. }),
        "crit_header" => matches!(err, Error::CriticalHeader),
        "alg_confusion" => matches!(err, Error::KeyAlgorithmMismatch { .. }),
        _ => return None,
    })
}

#[tokio::test]
async fn every_pyjwt_token_has_its_expected_outcome() {
    for provider in providers() {
        pyjwt_tokens_on(provider).await;
    }
}

async fn pyjwt_tokens_on(provider: CryptoProvider) {
    let verifier = verifier_with(all_keys(), provider);
    let fixtures = fixtures();
    let mut failures = Vec::new();
    let mut expectations_seen = BTreeSet::new();
    let mut valid = 0;
    let mut rejected_as_expected = 0;
    for fixture in &fixtures {
        expectations_seen.insert(fixture.expect.clone());
        let result = verify_standard(&verifier, &fixture.token).await;
        match (fixture.expect.as_str(), result) {
            ("valid", Ok(verified)) => {
                valid += 1;
                for mismatch in claim_mismatches(&verified, &fixture.claims) {
                    failures.push(format!("{}: {mismatch}", fixture.name));
                }
            }
            ("valid", Err(err)) => failures.push(format!("{}: rejected: {err:?}", fixture.name)),
            (expect, Ok(_)) => {
                failures.push(format!("{}: ACCEPTED, expected {expect}", fixture.name));
            }
            (expect, Err(err)) => match is_expected_rejection(expect, &err) {
                Some(true) => rejected_as_expected += 1,
                Some(false) => {
                    failures.push(format!("{}: expected {expect}, got {err:?}", fixture.name))
                }
                None => failures.push(format!(
                    "{}: unknown expectation {expect:?} (got {err:?})",
                    fixture.name
                )),
            },
        }
    }
    println!(
        "PyJWT fixtures on {}: {} tokens, {valid} valid accepted, {rejected_as_expected} \
         rejected with the expected error",
        provider.name(),
        fixtures.len()
    );
    assert!(
        failures.is_empty(),
        "{}: {}",
        provider.name(),
        failures.join("\n")
    );
    assert_eq!(fixtures.len(), 32, "tokens.json changed size");
    assert_eq!(valid, 17, "valid tokens");
    for expect in [
        "valid",
        "expired",
        "not_yet_valid",
        "issued_in_future",
        "wrong_issuer",
        "wrong_issuer_trailing_slash",
        "wrong_audience",
        "missing_exp",
        "exp_is_string",
        "exp_is_null",
        "missing_iss",
        "missing_aud",
        "unknown_kid",
        "key_too_small",
        "crit_header",
        "alg_confusion",
    ] {
        assert!(
            expectations_seen.contains(expect),
            "no token expects {expect}"
        );
    }
}

#[test]
fn rsa_1024_key_is_refused_at_load_time() {
    let err = VerificationKey::from_pem(read_bytes("rsa-1024.spki.pem")).unwrap_err();
    assert!(
        matches!(
            err,
            KeyError::RsaTooSmall {
                bits: 1024,
                min: 2048
            }
        ),
        "{err:?}"
    );
}

#[test]
fn jwks_yields_exactly_the_four_signature_keys() {
    let keys = KeySet::from_jwks(&read_text("jwks.json")).unwrap();
    assert_eq!(keys.len(), 4, "{keys:?}");
    let kids: BTreeSet<&str> = keys.iter().filter_map(VerificationKey::kid).collect();
    assert_eq!(
        kids,
        BTreeSet::from(["ec-p256", "ec-p384", "ed25519", "rsa-2048"])
    );
    assert!(!keys.contains_kid("rsa-enc"), "`use: enc` key not skipped");
    assert!(!keys.contains_kid("weird"), "unknown-kty key not skipped");
    let families: Vec<(Option<&str>, KeyFamily, Option<Algorithm>)> = keys
        .iter()
        .map(|k| (k.kid(), k.family(), k.algorithm()))
        .collect();
    for expected in [
        (Some("rsa-2048"), KeyFamily::Rsa, None),
        (Some("ec-p256"), KeyFamily::EcP256, Some(Algorithm::ES256)),
        (Some("ec-p384"), KeyFamily::EcP384, Some(Algorithm::ES384)),
        (Some("ed25519"), KeyFamily::Ed25519, Some(Algorithm::EdDSA)),
    ] {
        assert!(families.contains(&expected), "{expected:?} in {families:?}");
    }
}

/// (file, PEM or DER, key name in tokens.json, family, tokens it must verify at least).
const KEY_FILES: &[(&str, bool, &str, KeyFamily, &[&str])] = &[
    (
        "rsa.spki.pem",
        true,
        "rsa-2048",
        KeyFamily::Rsa,
        &["valid-RS256", "valid-PS256"],
    ),
    (
        "rsa.pkcs1.pem",
        true,
        "rsa-2048",
        KeyFamily::Rsa,
        &["valid-RS256"],
    ),
    (
        "rsa.spki.der",
        false,
        "rsa-2048",
        KeyFamily::Rsa,
        &["valid-RS256"],
    ),
    (
        "ec-p256.pem",
        true,
        "ec-p256",
        KeyFamily::EcP256,
        &["valid-ES256"],
    ),
    (
        "ec-p256.spki.der",
        false,
        "ec-p256",
        KeyFamily::EcP256,
        &["valid-ES256"],
    ),
    (
        "ec-p384.pem",
        true,
        "ec-p384",
        KeyFamily::EcP384,
        &["valid-ES384"],
    ),
    (
        "ed25519.pem",
        true,
        "ed25519",
        KeyFamily::Ed25519,
        &["valid-EdDSA", "valid-no-kid-EdDSA"],
    ),
    (
        "ed25519.spki.der",
        false,
        "ed25519",
        KeyFamily::Ed25519,
        &["valid-EdDSA", "valid-no-kid-EdDSA"],
    ),
];

/// Each PEM/DER key, alone and without a kid (so any token kid falls back to it), verifies every
/// valid token signed by its private key, and no valid token signed by another key.
#[tokio::test]
async fn pem_and_der_keys_verify_their_tokens() {
    for provider in providers() {
        pem_and_der_keys_on(provider).await;
    }
}

async fn pem_and_der_keys_on(provider: CryptoProvider) {
    let valid = valid_fixtures();
    let mut failures = Vec::new();
    for &(file, is_pem, key_name, family, must_verify) in KEY_FILES {
        let bytes = read_bytes(file);
        let key = if is_pem {
            VerificationKey::from_pem(&bytes)
        } else {
            VerificationKey::from_der(&bytes)
        }
        .unwrap_or_else(|e| panic!("{file}: {e:?}"));
        assert_eq!(key.family(), family, "{file}");
        assert_eq!(key.kid(), None, "{file}");
        assert_eq!(key.algorithm(), None, "{file}");
        let verifier = verifier_with(KeySet::from(key), provider);

        let mut verified = BTreeSet::new();
        for fixture in &valid {
            let result = verify_standard(&verifier, &fixture.token).await;
            match (fixture.key == key_name, result) {
                (true, Ok(ok)) => {
                    for mismatch in claim_mismatches(&ok, &fixture.claims) {
                        failures.push(format!("{file} / {}: {mismatch}", fixture.name));
                    }
                    verified.insert(fixture.name.as_str());
                }
                (true, Err(err)) => {
                    failures.push(format!("{file} / {}: rejected: {err:?}", fixture.name));
                }
                (false, Ok(_)) => failures.push(format!(
                    "{file} / {}: ACCEPTED a token signed by {}",
                    fixture.name, fixture.key
                )),
                (false, Err(_)) => {}
            }
        }
        for name in must_verify {
            if !verified.contains(name) {
                failures.push(format!("{file}: {name} not verified"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{}: {}",
        provider.name(),
        failures.join("\n")
    );
}

/// Replaces the character at `index` with another base64url letter or digit. Not the last
/// character of a segment, so the result stays canonical base64url.
fn flip(segment: &str, index: usize) -> String {
    assert!(index + 1 < segment.len(), "would touch the last character");
    let mut chars: Vec<char> = segment.chars().collect();
    chars[index] = if chars[index] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

fn segments(token: &str) -> [&str; 3] {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    [parts[0], parts[1], parts[2]]
}

/// Whether a rejection is the one a tampering case calls for.
type ErrorCheck = fn(&Error) -> bool;

#[tokio::test]
async fn tampered_tokens_are_rejected() {
    for provider in providers() {
        tampered_tokens_on(provider).await;
    }
}

async fn tampered_tokens_on(provider: CryptoProvider) {
    let verifier = verifier_with(all_keys(), provider);
    let valid = valid_fixtures();
    assert!(!valid.is_empty());
    let mut failures = Vec::new();
    for fixture in &valid {
        let [header, payload, signature] = segments(&fixture.token);
        assert!(
            verify_standard(&verifier, &fixture.token).await.is_ok(),
            "{}: the untampered token must verify",
            fixture.name
        );

        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let cases: [(&str, String, ErrorCheck); 6] = [
            (
                "payload char 5 changed",
                format!("{header}.{}.{signature}", flip(payload, 4)),
                |_| true,
            ),
            (
                "signature char 5 changed",
                format!("{header}.{payload}.{}", flip(signature, 4)),
                |_| true,
            ),
            (
                "header middle char changed",
                format!("{}.{payload}.{signature}", flip(header, header.len() / 2)),
                |_| true,
            ),
            ("signature stripped", format!("{header}.{payload}."), |e| {
                matches!(e, Error::Malformed(Malformed::EmptySegment))
            }),
            (
                "`=` padding appended to the signature",
                format!("{header}.{payload}.{signature}="),
                |e| matches!(e, Error::Malformed(_)),
            ),
            (
                "header replaced by {\"alg\":\"none\"}",
                format!("{none_header}.{payload}.{signature}"),
                |e| matches!(e, Error::AlgNone { .. }),
            ),
        ];
        for (what, token, expected) in cases {
            assert_ne!(token, fixture.token);
            match verify_standard(&verifier, &token).await {
                Ok(_) => failures.push(format!("{} / {what}: ACCEPTED {token}", fixture.name)),
                Err(err) if !expected(&err) => {
                    failures.push(format!("{} / {what}: wrong error {err:?}", fixture.name))
                }
                Err(_) => {}
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{}: {}",
        provider.name(),
        failures.join("\n")
    );
}
