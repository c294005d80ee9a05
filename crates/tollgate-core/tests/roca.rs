//! Keys with the ROCA fingerprint (CVE-2017-15361) are refused at load time, in every encoding,
//! with their own error; ordinary keys, and the same modulus without the fingerprint, load.
//!
//! The vulnerable keys are published test vectors of the ROCA detection tool (see
//! `fixtures/roca/README.md`), not keys made to fit this crate's check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use tollgate_core::{Algorithm, KeyError, KeyFamily, KeySet, VerificationKey};

fn fixture(dir: &str, name: &str) -> Vec<u8> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", dir, name]
        .iter()
        .collect();
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The DER of a one-block PEM file.
fn pem_der(pem: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(pem).unwrap();
    let body: String = text
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    STANDARD.decode(body).unwrap()
}

/// The modulus and exponent of the 2048..2050-bit RSA key in `der` (SPKI or certificate): the
/// first `INTEGER` of 257 bytes and the `INTEGER` right after it.
fn rsa_components(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let at = der
        .windows(4)
        .position(|w| w == [0x02, 0x82, 0x01, 0x01])
        .expect("a 257-byte INTEGER");
    let n = der[at + 4..at + 4 + 257].to_vec();
    let rest = &der[at + 4 + 257..];
    assert_eq!(rest[0], 0x02, "the exponent follows the modulus");
    let e = rest[2..2 + usize::from(rest[1])].to_vec();
    (n, e)
}

fn rsa_jwk(n: &[u8], e: &[u8]) -> String {
    serde_json::json!({
        "kty": "RSA",
        "kid": "roca",
        "n": URL_SAFE_NO_PAD.encode(n),
        "e": URL_SAFE_NO_PAD.encode(e),
    })
    .to_string()
}

/// Adds 2 to a big-endian odd number: still odd, no longer fingerprinted.
fn plus_two(n: &[u8]) -> Vec<u8> {
    let mut out = n.to_vec();
    let mut carry = 2u16;
    for byte in out.iter_mut().rev() {
        let sum = u16::from(*byte) + carry;
        *byte = (sum & 0xff) as u8;
        carry = sum >> 8;
        if carry == 0 {
            break;
        }
    }
    assert_eq!(carry, 0);
    out
}

#[test]
fn roca_spki_key_is_refused_in_every_encoding() {
    let pem = fixture("roca", "pubkey03.pem");
    assert_eq!(
        VerificationKey::from_pem(&pem).err(),
        Some(KeyError::RocaVulnerable)
    );
    let der = pem_der(&pem);
    assert_eq!(
        VerificationKey::from_der(&der).err(),
        Some(KeyError::RocaVulnerable)
    );
    let (n, e) = rsa_components(&der);
    assert_eq!(
        VerificationKey::rsa_from_components(&n, &e).err(),
        Some(KeyError::RocaVulnerable)
    );
    assert_eq!(
        VerificationKey::from_jwk(&rsa_jwk(&n, &e)).err(),
        Some(KeyError::RocaVulnerable)
    );
    // In a JWK Set the key is skipped like any invalid key: here it is the only one.
    let set = format!(r#"{{"keys":[{}]}}"#, rsa_jwk(&n, &e));
    assert_eq!(KeySet::from_jwks(&set).err(), Some(KeyError::NoUsableKeys));
    let error = KeyError::RocaVulnerable.to_string();
    assert!(error.contains("CVE-2017-15361"), "{error}");
}

#[test]
fn roca_certificate_is_refused() {
    let pem = fixture("roca", "cert04.pem");
    assert_eq!(
        VerificationKey::from_pem(&pem).err(),
        Some(KeyError::RocaVulnerable)
    );
    assert_eq!(
        VerificationKey::from_der(&pem_der(&pem)).err(),
        Some(KeyError::RocaVulnerable)
    );
}

/// The same moduli plus 2 lack the fingerprint and load: what refuses the fixtures is the ROCA
/// check, not their size or shape.
#[test]
fn the_same_moduli_without_the_fingerprint_load() {
    for file in ["pubkey03.pem", "cert04.pem"] {
        let (n, e) = rsa_components(&pem_der(&fixture("roca", file)));
        let key = VerificationKey::rsa_from_components(&plus_two(&n), &e)
            .unwrap_or_else(|err| panic!("{file}: {err:?}"));
        assert_eq!(key.family(), KeyFamily::Rsa);
        assert!(key.permits(Algorithm::RS256).is_ok());
    }
}

#[test]
fn ordinary_rsa_keys_load() {
    for file in ["rsa.spki.pem", "rsa.pkcs1.pem"] {
        let key = VerificationKey::from_pem(fixture("pyjwt", file))
            .unwrap_or_else(|err| panic!("{file}: {err:?}"));
        assert_eq!(key.family(), KeyFamily::Rsa, "{file}");
    }
    let key = VerificationKey::from_der(&fixture("pyjwt", "rsa.spki.der")).unwrap();
    assert!(key.permits(Algorithm::PS256).is_ok());
}
