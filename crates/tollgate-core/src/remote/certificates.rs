//! Certificate maps: `{"kid": "-----BEGIN CERTIFICATE-----...", ...}` documents, as Google
//! publishes for Firebase Authentication and other service accounts
//! ([`KeyFormat::PemCertificates`](super::KeyFormat::PemCertificates)).

use crate::algorithm::Algorithm;
use crate::key::VerificationKey;
use crate::key_set::{KeySet, MAX_KEYS_PER_SET};

/// Parses `{"kid": "-----BEGIN CERTIFICATE-----...", ...}`; invalid entries are skipped.
pub(crate) fn parse_pem_map(text: &str, algorithm: Algorithm) -> Result<KeySet, String> {
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| format!("not a JSON object: {e}"))?;
    let mut keys = KeySet::new();
    for (kid, value) in map.into_iter().take(MAX_KEYS_PER_SET) {
        let Some(pem) = value.as_str() else {
            tracing::warn!(kid, "skipping certificate-map entry that is not a string");
            continue;
        };
        match VerificationKey::from_pem(pem)
            .and_then(|k| k.with_kid(kid.clone()).with_algorithm(algorithm))
        {
            Ok(key) => keys.push(key),
            Err(err) => tracing::warn!(kid, error = %err, "skipping invalid certificate"),
        }
    }
    Ok(keys)
}
