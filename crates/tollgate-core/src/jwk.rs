//! JWK (RFC 7517) parsing: lenient per key in a set, strict about what a usable key is.

use serde_json::Value;

use crate::algorithm::{Algorithm, KeyFamily};
use crate::b64;
use crate::error::KeyError;
use crate::key::VerificationKey;

/// Longest `kid` accepted in a key set; longer ones are skipped.
pub(crate) const MAX_KID_LEN: usize = 256;

/// What became of one JWK.
pub(crate) enum JwkOutcome {
    /// Usable for signature verification.
    Key(Box<VerificationKey>),
    /// Well-formed but not for us (encryption key, unsupported type or algorithm).
    Skipped(String),
    /// Claims to be a signature key but is malformed or too weak.
    Invalid(KeyError),
}

fn member<'a>(
    jwk: &'a serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, KeyError> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(KeyError::Invalid(format!(
            "JWK member `{name}` must be a string"
        ))),
    }
}

fn required_b64(jwk: &serde_json::Map<String, Value>, name: &str) -> Result<Vec<u8>, KeyError> {
    let text =
        member(jwk, name)?.ok_or_else(|| KeyError::Invalid(format!("JWK is missing `{name}`")))?;
    b64::decode(text)
        .ok_or_else(|| KeyError::Invalid(format!("JWK member `{name}` is not base64url")))
}

/// Parses one JWK. `allow_symmetric` admits `oct` keys (never from a remote, public key set).
pub(crate) fn parse_jwk(value: &Value, allow_symmetric: bool) -> JwkOutcome {
    let Some(jwk) = value.as_object() else {
        return JwkOutcome::Invalid(KeyError::Invalid("JWK is not a JSON object".into()));
    };
    match parse_object(jwk, allow_symmetric) {
        Ok(Ok(key)) => JwkOutcome::Key(Box::new(key)),
        Ok(Err(reason)) => JwkOutcome::Skipped(reason),
        Err(err) => JwkOutcome::Invalid(err),
    }
}

// In this module rather than `key.rs` so that keys never depend on their JWK encoding.
impl VerificationKey {
    /// A key from one JWK given as JSON text. Unlike in a JWK Set, a key we cannot use is an
    /// error here. Symmetric (`oct`) keys are accepted: the caller asked for this one key.
    ///
    /// ```
    /// use tollgate_core::{Algorithm, KeyError, VerificationKey};
    ///
    /// let key = VerificationKey::from_jwk(
    ///     r#"{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#,
    /// )?;
    /// assert_eq!(key.kid(), Some("k1"));
    /// assert!(key.permits(Algorithm::EdDSA).is_ok());
    /// // An encryption key is well-formed but unusable here.
    /// let enc = VerificationKey::from_jwk(r#"{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"}"#);
    /// assert!(matches!(enc, Err(KeyError::Unusable(_))));
    /// # Ok::<(), KeyError>(())
    /// ```
    pub fn from_jwk(json: &str) -> Result<Self, KeyError> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| KeyError::Invalid(format!("JWK is not valid JSON: {e}")))?;
        match parse_jwk(&value, true) {
            JwkOutcome::Key(key) => Ok(*key),
            JwkOutcome::Skipped(reason) => Err(KeyError::Unusable(reason)),
            JwkOutcome::Invalid(err) => Err(err),
        }
    }
}

type Parsed = Result<Result<VerificationKey, String>, KeyError>;

fn parse_object(jwk: &serde_json::Map<String, Value>, allow_symmetric: bool) -> Parsed {
    let kty =
        member(jwk, "kty")?.ok_or_else(|| KeyError::Invalid("JWK is missing `kty`".into()))?;
    if let Some(usage) = member(jwk, "use")?
        && usage != "sig"
    {
        return Ok(Err(format!("key use is {usage:?}, not \"sig\"")));
    }
    if let Some(ops) = jwk.get("key_ops") {
        let Some(ops) = ops.as_array() else {
            return Err(KeyError::Invalid("JWK `key_ops` must be an array".into()));
        };
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return Ok(Err("key_ops does not include \"verify\"".into()));
        }
    }
    let algorithm = match member(jwk, "alg")? {
        None => None,
        Some(name) => match Algorithm::from_name(name) {
            Some(alg) => Some(alg),
            None => {
                return Ok(Err(format!(
                    "key algorithm {name:?} is not a supported signature algorithm"
                )));
            }
        },
    };
    let kid = member(jwk, "kid")?;
    if kid.is_some_and(|k| k.len() > MAX_KID_LEN) {
        return Err(KeyError::Invalid(format!(
            "JWK `kid` longer than {MAX_KID_LEN} bytes"
        )));
    }

    let key = match kty {
        "RSA" => {
            if jwk.contains_key("d") {
                tracing::warn!(
                    kid,
                    "JWK carries RSA private key material; only its public part is used"
                );
            }
            VerificationKey::rsa_from_components(
                &required_b64(jwk, "n")?,
                &required_b64(jwk, "e")?,
            )?
        }
        "EC" => {
            let family = match member(jwk, "crv")? {
                Some("P-256") => KeyFamily::EcP256,
                Some("P-384") => KeyFamily::EcP384,
                Some(other) => return Ok(Err(format!("EC curve {other:?} is not supported"))),
                None => return Err(KeyError::Invalid("EC JWK is missing `crv`".into())),
            };
            VerificationKey::ec_from_coordinates(
                family,
                &required_b64(jwk, "x")?,
                &required_b64(jwk, "y")?,
            )?
        }
        "OKP" => match member(jwk, "crv")? {
            Some("Ed25519") => VerificationKey::ed25519(&required_b64(jwk, "x")?)?,
            Some(other) => return Ok(Err(format!("OKP curve {other:?} is not supported"))),
            None => return Err(KeyError::Invalid("OKP JWK is missing `crv`".into())),
        },
        "oct" if allow_symmetric => VerificationKey::hmac(required_b64(jwk, "k")?)?,
        "oct" => return Ok(Err("symmetric key in a public key set".into())),
        other => return Ok(Err(format!("key type {other:?} is not supported"))),
    };
    let key = match algorithm {
        Some(alg) => key.with_algorithm(alg)?,
        None => key,
    };
    Ok(Ok(match kid {
        Some(kid) => key.with_kid(kid),
        None => key,
    }))
}
