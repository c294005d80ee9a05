//! A set of verification keys and the rules for picking one for a token.

use std::path::Path;
use std::sync::Arc;

use crate::algorithm::{Algorithm, KeyFamily};
use crate::error::{KeyError, KeyLookupError};
use crate::jwk::{self, JwkOutcome};
use crate::key::VerificationKey;

/// Most keys read from one JWK Set; the rest are ignored with a warning.
pub const MAX_KEYS_PER_SET: usize = 100;

/// A set of keys, e.g. a JWK Set. Also a [`KeySource`](crate::KeySource) for static keys.
///
/// Selection rules for a token with header `kid` and `alg` ([`KeySet::find`]):
/// - with a `kid`: the keys with that `kid`; if none, keys configured without a `kid`;
///   no candidate is [`KeyLookupError::UnknownKid`];
/// - without a `kid`: every key; exactly one must be able to verify `alg`;
/// - the chosen key must permit `alg` (family, own `alg`, secret length), else
///   [`KeyLookupError::AlgorithmMismatch`]; two usable candidates are
///   [`KeyLookupError::Ambiguous`].
///
/// ```
/// use tollgate_core::{Algorithm, KeySet};
///
/// let jwks = r#"{"keys":[
///   {"kty":"OKP","crv":"Ed25519","kid":"k1","alg":"EdDSA",
///    "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
///   {"kty":"RSA","use":"enc","alg":"RSA-OAEP","kid":"enc","n":"AQAB","e":"AQAB"}
/// ]}"#;
/// let keys = KeySet::from_jwks(jwks).unwrap();
/// assert_eq!(keys.len(), 1, "the encryption key is skipped, not fatal");
/// assert!(keys.find(Some("k1"), Algorithm::EdDSA).is_ok());
/// assert!(keys.find(Some("k1"), Algorithm::HS256).is_err());
/// ```
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: Vec<Arc<VerificationKey>>,
}

impl KeySet {
    /// An empty set.
    pub fn new() -> Self {
        KeySet::default()
    }

    /// Adds a key.
    pub fn push(&mut self, key: VerificationKey) {
        self.keys.push(Arc::new(key));
    }

    /// Adds a key, builder style.
    pub fn with(mut self, key: VerificationKey) -> Self {
        self.push(key);
        self
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set has no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys.
    pub fn iter(&self) -> impl Iterator<Item = &VerificationKey> {
        self.keys.iter().map(|k| k.as_ref())
    }

    /// Whether some key carries this `kid`.
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid() == Some(kid))
    }

    /// Parses a public JWK Set (`{"keys":[...]}`) or a single JWK.
    ///
    /// Lenient per key: keys for encryption, of unknown types or algorithms, and symmetric
    /// (`oct`) keys are skipped with a debug log; malformed or weak keys (e.g. RSA under 2048
    /// bits) are skipped with a warning. Fails only when the document is not a JWK Set or no
    /// usable key remains.
    pub fn from_jwks(json: &str) -> Result<Self, KeyError> {
        Self::parse(json, false)
    }

    /// Like [`KeySet::from_jwks`] but also accepts symmetric `oct` keys (HMAC secrets). Only for
    /// sets you hold privately, never for a set fetched from an identity provider.
    pub fn from_jwks_with_secrets(json: &str) -> Result<Self, KeyError> {
        Self::parse(json, true)
    }

    /// Reads a JWK Set or JWK from a file (public keys only).
    pub fn from_jwks_file(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| KeyError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::from_jwks(&text)
    }

    /// Parses a JWK Set, keeping the usable keys; `Ok` even when none is usable.
    ///
    /// Keys whose `kid` appears on more than one signature key are dropped as ambiguous, and a
    /// set mixing shared secrets with public keys is refused.
    pub fn parse_lenient(json: &str, allow_symmetric: bool) -> Result<Self, KeyError> {
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| KeyError::Invalid(format!("JWK Set is not valid JSON: {e}")))?;
        let entries: Vec<&serde_json::Value> = match value.get("keys") {
            Some(serde_json::Value::Array(keys)) => keys.iter().collect(),
            Some(_) => return Err(KeyError::Invalid("JWK Set `keys` must be an array".into())),
            None if value.get("kty").is_some() => vec![&value],
            None => return Err(KeyError::Invalid("not a JWK Set: no `keys` array".into())),
        };
        if entries.len() > MAX_KEYS_PER_SET {
            tracing::warn!(
                count = entries.len(),
                max = MAX_KEYS_PER_SET,
                "JWK Set too large; extra keys ignored"
            );
        }
        let entries: Vec<&serde_json::Value> = entries.into_iter().take(MAX_KEYS_PER_SET).collect();
        let kid_of = |entry: &serde_json::Value| {
            entry.get("kid").and_then(|k| k.as_str()).map(str::to_owned)
        };
        let mut set = KeySet::new();
        // kids of entries meant for signatures (usable or malformed); a kid seen twice is ambiguous.
        let mut signature_kids: Vec<String> = Vec::new();
        let mut duplicate_kids: Vec<String> = Vec::new();
        for (index, entry) in entries.into_iter().enumerate() {
            let kid = kid_of(entry);
            let log_kid = kid
                .as_deref()
                .map(|k| k.chars().take(64).collect::<String>());
            let outcome = jwk::parse_jwk(entry, allow_symmetric);
            if !matches!(outcome, JwkOutcome::Skipped(_))
                && let Some(kid) = &kid
            {
                if signature_kids.contains(kid) {
                    duplicate_kids.push(kid.clone());
                } else {
                    signature_kids.push(kid.clone());
                }
            }
            match outcome {
                JwkOutcome::Key(key) => set.keys.push(Arc::new(*key)),
                JwkOutcome::Skipped(reason) => {
                    tracing::debug!(index, kid = log_kid, %reason, "skipping JWK not usable for signature verification");
                }
                JwkOutcome::Invalid(err) => {
                    tracing::warn!(index, kid = log_kid, error = %err, "skipping invalid JWK");
                }
            }
        }
        if !duplicate_kids.is_empty() {
            tracing::warn!(kids = ?duplicate_kids, "JWK Set repeats key ids; dropping those keys as ambiguous");
            set.keys.retain(|k| {
                !k.kid()
                    .is_some_and(|kid| duplicate_kids.iter().any(|d| d == kid))
            });
        }
        let symmetric = set
            .keys
            .iter()
            .filter(|k| k.family() == KeyFamily::Hmac)
            .count();
        if symmetric > 0 && symmetric < set.keys.len() {
            return Err(KeyError::Invalid(
                "the key set mixes shared secrets and public keys; keep them in separate sets"
                    .into(),
            ));
        }
        Ok(set)
    }

    fn parse(json: &str, allow_symmetric: bool) -> Result<Self, KeyError> {
        let set = Self::parse_lenient(json, allow_symmetric)?;
        if set.is_empty() {
            return Err(KeyError::NoUsableKeys);
        }
        Ok(set)
    }

    /// Picks the key for a token (see the type's docs for the rules).
    pub fn find(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<&Arc<VerificationKey>, KeyLookupError> {
        match kid {
            Some(kid) => match self.pick(alg, |k| k.kid() == Some(kid))? {
                Some(key) => Ok(key),
                None => self.pick(alg, |k| k.kid().is_none())?.ok_or_else(|| {
                    KeyLookupError::UnknownKid {
                        kid: kid.to_owned(),
                    }
                }),
            },
            None => match self.pick(alg, |_| true) {
                Ok(Some(key)) => Ok(key),
                Ok(None) | Err(KeyLookupError::AlgorithmMismatch { .. }) => {
                    Err(KeyLookupError::NoKeyForAlgorithm { alg })
                }
                Err(other) => Err(other),
            },
        }
    }

    /// The one candidate able to verify `alg`; `Ok(None)` when there is no candidate at all.
    fn pick(
        &self,
        alg: Algorithm,
        candidate: impl Fn(&VerificationKey) -> bool,
    ) -> Result<Option<&Arc<VerificationKey>>, KeyLookupError> {
        let mut found: Option<&Arc<VerificationKey>> = None;
        let mut mismatch = None;
        for key in self.keys.iter().filter(|k| candidate(k)) {
            match key.permits(alg) {
                Ok(()) if found.is_some() => return Err(KeyLookupError::Ambiguous),
                Ok(()) => found = Some(key),
                Err(m) => mismatch = Some(m),
            }
        }
        match (found, mismatch) {
            (Some(key), _) => Ok(Some(key)),
            (None, Some(reason)) => Err(KeyLookupError::AlgorithmMismatch { alg, reason }),
            (None, None) => Ok(None),
        }
    }
}

impl FromIterator<VerificationKey> for KeySet {
    fn from_iter<I: IntoIterator<Item = VerificationKey>>(iter: I) -> Self {
        KeySet {
            keys: iter.into_iter().map(Arc::new).collect(),
        }
    }
}

impl From<VerificationKey> for KeySet {
    fn from(key: VerificationKey) -> Self {
        KeySet::new().with(key)
    }
}
