//! The key parsers: `VerificationKey::from_pem` (SPKI, PKCS#1, X.509 certificate, refused private
//! keys), `from_der` (the same three DER shapes), and a Google/Firebase certificate map
//! (`{"kid": "-----BEGIN CERTIFICATE-----..."}`), parsed as `JwksSource` does it for
//! `KeyFormat::PemCertificates` (its own parser is private; this is its public-API equivalent:
//! each string through `from_pem`, `with_kid`, `with_algorithm(RS256)`).
//!
//! Every input goes through all three (each refuses the other formats at once).
//!
//! Asserted: a parsed key permits only algorithms of its family; a DER key is the same key as
//! the PEM wrapping it; a key pinned with `with_algorithm` permits that algorithm alone.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use tollgate_core::{Algorithm, VerificationKey};
use tollgate_fuzz::MAX_INPUT;

fn check_key(key: &VerificationKey) {
    for alg in Algorithm::ALL {
        if key.permits(alg).is_ok() {
            assert_eq!(alg.key_family(), key.family(), "{key:?} permits {alg:?}");
            if let Some(pinned) = key.algorithm() {
                assert_eq!(alg, pinned, "{key:?} pinned to {pinned:?} permits {alg:?}");
            }
        }
    }
}

/// The DER inside the first PEM block, if the text has one.
fn pem_body(text: &str) -> Option<Vec<u8>> {
    let start = text.find("-----BEGIN ")?;
    let after = &text[start..];
    let body_start = after.find("-----\n").or_else(|| after.find("-----\r\n"))?;
    let body = &after[body_start..].trim_start_matches('-');
    let end = body.find("-----END ")?;
    let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(b64).ok()
}

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT {
        return;
    }

    let from_pem = VerificationKey::from_pem(data);
    if let Ok(key) = &from_pem {
        check_key(key);
    }
    if let Ok(key) = VerificationKey::from_der(data) {
        check_key(&key);
    }

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A well-formed PEM key: its DER must give the same key.
    if let (Ok(pem_key), Some(der)) = (&from_pem, pem_body(text)) {
        if let Ok(der_key) = VerificationKey::from_der(&der) {
            assert_eq!(
                pem_key.family(),
                der_key.family(),
                "PEM vs DER of the same block"
            );
        }
    }

    // The certificate map.
    if let Ok(map) = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text) {
        for (kid, value) in map.iter().take(tollgate_core::MAX_KEYS_PER_SET) {
            let Some(pem) = value.as_str() else { continue };
            let Ok(key) = VerificationKey::from_pem(pem) else {
                continue;
            };
            let Ok(key) = key.with_kid(kid.clone()).with_algorithm(Algorithm::RS256) else {
                continue;
            };
            assert_eq!(key.kid(), Some(kid.as_str()));
            assert_eq!(key.algorithm(), Some(Algorithm::RS256));
            check_key(&key);
            assert!(key.permits(Algorithm::RS256).is_ok());
        }
    }
});
