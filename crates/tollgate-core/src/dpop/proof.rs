//! One proof's checks (RFC 9449 4.3), in order, up to but not including the replay store.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Map, Value};
use subtle::ConstantTimeEq as _;

use super::error::DpopError;
use super::replay::ReplayKey;
use super::thumbprint;
use super::{Config, ProofRequest};
use crate::algorithm::Algorithm;
use crate::b64;
use crate::claims::MAX_NUMERIC_DATE;
use crate::error::{Error, KeyError};
use crate::jwk::{JwkOutcome, parse_jwk};
use crate::jws;
use crate::key::VerificationKey;
use crate::scan::{self, Loose, MemberSink, Unwanted};

/// Largest proof accepted, checked before any decoding. A proof is a header with one public key
/// (an RSA-8192 `jwk` is ~1.4 KiB of base64url), a few claims and a signature (RSA-8192: ~1.4
/// KiB): 8 KiB leaves room without letting a request make the server decode much.
pub const MAX_PROOF_BYTES: usize = 8 * 1024;

/// Longest `jti` accepted (RFC 9449 11.1: refuse oversized ones).
pub const MAX_JTI_BYTES: usize = 256;

/// JWK members that only a private (or symmetric) key has (RFC 7518 6.2.2, 6.3.2, 6.4).
pub(crate) const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// What the checks established, before the replay store is asked.
pub(crate) struct Checked {
    pub(crate) jkt: String,
    pub(crate) jti: String,
    pub(crate) iat: i64,
    pub(crate) alg: Algorithm,
    pub(crate) replay_key: ReplayKey,
}

#[derive(Default)]
struct HeaderSink<'a> {
    typ: Option<Loose<'a>>,
    alg: Option<Loose<'a>>,
    jwk: Option<Loose<'a>>,
    crit: bool,
}

impl<'a> MemberSink<'a> for HeaderSink<'a> {
    fn wants(&self, name: &str) -> bool {
        matches!(name, "typ" | "alg" | "jwk")
    }

    fn wants_members(&self, name: &str) -> bool {
        name == "jwk"
    }

    fn member(&mut self, name: &str, value: Option<Loose<'a>>) -> Result<(), String> {
        match name {
            "typ" => self.typ = value,
            "alg" => self.alg = value,
            "jwk" => self.jwk = value,
            "crit" => self.crit = true,
            // kid, jku, x5u, x5c: never used to find the key (RFC 9449 4.3 check 7 uses `jwk`).
            _ => {}
        }
        Ok(())
    }
}

#[derive(Default)]
struct ClaimsSink<'a> {
    jti: Option<Loose<'a>>,
    htm: Option<Loose<'a>>,
    htu: Option<Loose<'a>>,
    iat: Option<Loose<'a>>,
    ath: Option<Loose<'a>>,
    nonce: Option<Loose<'a>>,
}

impl<'a> MemberSink<'a> for ClaimsSink<'a> {
    fn wants(&self, name: &str) -> bool {
        matches!(name, "jti" | "htm" | "htu" | "iat" | "ath" | "nonce")
    }

    fn member(&mut self, name: &str, value: Option<Loose<'a>>) -> Result<(), String> {
        let slot = match name {
            "jti" => &mut self.jti,
            "htm" => &mut self.htm,
            "htu" => &mut self.htu,
            "iat" => &mut self.iat,
            "ath" => &mut self.ath,
            "nonce" => &mut self.nonce,
            _ => return Ok(()),
        };
        *slot = value;
        Ok(())
    }
}

fn malformed(what: &str) -> DpopError {
    DpopError::Malformed(what.to_owned())
}

/// A string claim: `Ok(None)` when absent.
fn string_claim<'v>(
    value: &'v Option<Loose<'_>>,
    name: &str,
) -> Result<Option<&'v str>, DpopError> {
    match value {
        None => Ok(None),
        Some(Loose::Str(s)) => Ok(Some(s.as_ref())),
        Some(other) => Err(DpopError::Malformed(format!(
            "`{name}` must be a string, not {}",
            other.kind()
        ))),
    }
}

/// A present string claim.
fn required(value: &Option<Loose<'_>>, name: &'static str) -> Result<String, DpopError> {
    string_claim(value, name)?
        .map(str::to_owned)
        .ok_or(DpopError::MissingClaim(name))
}

/// The `alg` names a proof may use: the JWA names, plus `Ed25519` (the fully specified name of
/// draft-ietf-jose-fully-specified-algorithms, which npm `dpop` and oidc-provider emit) for
/// EdDSA.
fn proof_algorithm(name: &str) -> Option<Algorithm> {
    if name == "Ed25519" {
        return Some(Algorithm::EdDSA);
    }
    Algorithm::from_name(name)
}

/// A `jwk` member as the JWK parser reads it. The scan keeps the `jwk` one level deep, so a
/// nested object or an array of non-strings arrives as `Other` and becomes `null`, which the
/// parser refuses wherever it looks.
fn to_value(value: &Loose<'_>) -> Value {
    match value {
        Loose::Number(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
        Loose::Str(s) => Value::String(s.as_ref().to_owned()),
        Loose::Strings(items) => Value::Array(
            items
                .iter()
                .map(|s| Value::String(s.as_ref().to_owned()))
                .collect(),
        ),
        Loose::Bool(b) => Value::Bool(*b),
        Loose::Object(_) | Loose::Other(_) => Value::Null,
    }
}

/// The proof key from the header's `jwk`: public only, usable for `alg`, built by the JWK
/// parser; and its RFC 7638 thumbprint.
fn proof_key(
    config: &Config,
    members: &[(Cow<'_, str>, Loose<'_>)],
    alg: Algorithm,
) -> Result<(VerificationKey, String), DpopError> {
    if members
        .iter()
        .any(|(name, _)| PRIVATE_MEMBERS.contains(&name.as_ref()))
    {
        return Err(DpopError::PrivateKeyInProof);
    }
    let object: Map<String, Value> = members
        .iter()
        .map(|(name, value)| (name.as_ref().to_owned(), to_value(value)))
        .collect();
    let key = match parse_jwk(&Value::Object(object), false) {
        JwkOutcome::Key(key) => *key,
        JwkOutcome::Skipped(reason) => {
            return Err(DpopError::InvalidKey(KeyError::Unusable(reason)));
        }
        JwkOutcome::Invalid(err) => return Err(DpopError::InvalidKey(err)),
    };
    key.permits(alg)
        .map_err(|m| DpopError::InvalidKey(KeyError::AlgorithmMismatch(alg, m)))?;
    let canonical = thumbprint::canonical_json(members).ok_or_else(|| {
        DpopError::InvalidKey(KeyError::Invalid(
            "the JWK lacks a thumbprint member".into(),
        ))
    })?;
    Ok((key, thumbprint::thumbprint(&config.crypto, &canonical)))
}

/// What a proof header establishes: its algorithm, the public key of its `jwk` and that key's
/// thumbprint. Depends on nothing but the header segment and the verifier's algorithm
/// allow-list, so it is remembered per exact segment once a proof with it verified.
pub(crate) struct ProofKey {
    alg: Algorithm,
    key: VerificationKey,
    jkt: String,
}

/// Check 2 of the module's list: the header segment's `typ`, `alg` and `jwk`.
fn open_header(config: &Config, segment: &str) -> Result<ProofKey, DpopError> {
    let header_json =
        b64::decode(segment).ok_or_else(|| malformed("the header is not base64url"))?;
    let mut header = HeaderSink::default();
    scan::scan_object(&header_json, &mut header, Unwanted::Skip).map_err(|err| {
        if err.is_duplicate() {
            malformed("the header repeats a member name")
        } else {
            malformed("the header is not a JSON object")
        }
    })?;
    // Media types are case-insensitive (RFC 2045 5.1), so `DPoP+JWT` is accepted too; RFC
    // 9449 4.2 gives only the lowercase spelling, and no `application/` prefix.
    match &header.typ {
        Some(Loose::Str(typ)) if typ.eq_ignore_ascii_case("dpop+jwt") => {}
        _ => return Err(DpopError::WrongType),
    }
    let alg_name = match &header.alg {
        Some(Loose::Str(alg)) => alg.as_ref(),
        Some(_) => return Err(malformed("`alg` must be a string")),
        None => return Err(malformed("the header has no `alg`")),
    };
    let alg = match proof_algorithm(alg_name) {
        Some(alg) if !alg.is_symmetric() && config.algorithms.contains(&alg) => alg,
        _ => return Err(DpopError::AlgorithmNotAllowed(alg_name.to_owned())),
    };
    if header.crit {
        return Err(malformed(
            "the header has `crit`, and no extension is understood",
        ));
    }
    let members = match &header.jwk {
        Some(Loose::Object(members)) => members,
        Some(_) => return Err(malformed("`jwk` must be a JSON object")),
        None => return Err(malformed("the header has no `jwk`")),
    };
    let (key, jkt) = proof_key(config, members, alg)?;
    Ok(ProofKey { alg, key, jkt })
}

/// Checks 1 to 10 of the module's list for `request` at `now`.
pub(crate) fn check(
    config: &Config,
    request: &ProofRequest<'_>,
    now: i64,
) -> Result<Checked, DpopError> {
    // 1. Size, then the compact serialization.
    let parts = jws::split(request.proof, MAX_PROOF_BYTES).map_err(|err| match err {
        Error::TokenTooLarge { size, max } => {
            DpopError::Malformed(format!("the proof is {size} bytes, more than {max}"))
        }
        _ => malformed("the proof is not a compact JWS of three segments"),
    })?;

    // 2. The header: typ, alg, jwk (remembered for a header whose proof verified before).
    let remembered = config.keys.get(parts.header);
    let proof_key = match &remembered {
        Some(known) => Arc::clone(known),
        None => Arc::new(open_header(config, parts.header)?),
    };
    let ProofKey { alg, key, jkt } = &*proof_key;
    let (alg, jkt) = (*alg, jkt.clone());

    // 3. The signature, with that key. A wrong length (a DER-encoded ECDSA signature) is refused
    //    before decoding.
    let signature_len = jws::signature_len(&parts, alg).map_err(|_| DpopError::InvalidSignature)?;
    let mut signature = vec![0u8; signature_len];
    let written = b64::decode_into(parts.signature, &mut signature)
        .ok_or_else(|| malformed("the signature is not base64url"))?;
    signature.truncate(written);
    if !config
        .crypto
        .verify(alg, key, parts.signing_input.as_bytes(), &signature)
    {
        return Err(DpopError::InvalidSignature);
    }
    if remembered.is_none() {
        config.keys.remember(parts.header, Arc::clone(&proof_key));
    }

    // 4. The claims.
    let payload =
        b64::decode(parts.payload).ok_or_else(|| malformed("the payload is not base64url"))?;
    let mut claims = ClaimsSink::default();
    scan::scan_object(&payload, &mut claims, Unwanted::Skip).map_err(|err| {
        if err.is_duplicate() {
            malformed("the claims repeat a member name")
        } else {
            malformed("the claims are not a JSON object")
        }
    })?;
    let jti = required(&claims.jti, "jti")?;
    if jti.is_empty() || jti.len() > MAX_JTI_BYTES {
        return Err(DpopError::Malformed(format!(
            "`jti` must have 1 to {MAX_JTI_BYTES} bytes"
        )));
    }
    let htm = required(&claims.htm, "htm")?;
    let htu = required(&claims.htu, "htu")?;
    let iat = match &claims.iat {
        None => return Err(DpopError::MissingClaim("iat")),
        Some(Loose::Number(n)) if n.is_finite() && *n >= 0.0 && *n <= MAX_NUMERIC_DATE as f64 => {
            n.floor() as i64
        }
        Some(_) => return Err(malformed("`iat` must be a NumericDate")),
    };
    let ath = string_claim(&claims.ath, "ath")?;
    let nonce = string_claim(&claims.nonce, "nonce")?;

    // 5. The method, exactly (RFC 9110 9.1: methods are case-sensitive).
    if htm != request.method {
        return Err(DpopError::MethodMismatch {
            expected: request.method.to_owned(),
            found: htm,
        });
    }

    // 6. The URI, both sides normalised.
    let expected =
        config
            .public_url
            .expected(request.path)
            .map_err(|_| DpopError::UriMismatch {
                expected: config.public_url.describe(request.path),
                found: htu.clone(),
            })?;
    match super::htu::normalise_htu(&htu) {
        Ok(found) if found == expected => {}
        Ok(found) => return Err(DpopError::UriMismatch { expected, found }),
        Err(_) => {
            return Err(DpopError::UriMismatch {
                expected,
                found: htu,
            });
        }
    }

    // 7. The time window.
    if now.saturating_sub(iat) > config.max_age {
        return Err(DpopError::Stale { iat, now });
    }
    if iat.saturating_sub(now) > config.max_future {
        return Err(DpopError::FromTheFuture { iat, now });
    }

    // 8. The server nonce.
    if let Some(nonces) = &config.nonces {
        let nonce = nonce.ok_or(DpopError::NonceRequired)?;
        if !nonces.accepts(&config.crypto, nonce, now) {
            return Err(DpopError::NonceInvalid);
        }
    }

    // 9. The access token hash (always required at a resource server, RFC 9449 4.3 check 11).
    let ath = ath.ok_or(DpopError::MissingClaim("ath"))?;
    let expected_ath = thumbprint::encode(&config.crypto.sha256(request.access_token.as_bytes()));
    if !bool::from(ath.as_bytes().ct_eq(expected_ath.as_bytes())) {
        return Err(DpopError::AccessTokenHashMismatch);
    }

    // 10. The binding of the token to this key.
    let token_jkt = request.token_jkt.ok_or(DpopError::UnboundToken)?;
    if !bool::from(token_jkt.as_bytes().ct_eq(jkt.as_bytes())) {
        return Err(DpopError::KeyMismatch);
    }

    let mut replay_input = Vec::with_capacity(jkt.len() + 1 + jti.len());
    replay_input.extend_from_slice(jkt.as_bytes());
    replay_input.push(b'.');
    replay_input.extend_from_slice(jti.as_bytes());
    let replay_key = ReplayKey(config.crypto.sha256(&replay_input));
    Ok(Checked {
        jkt,
        jti,
        iat,
        alg,
        replay_key,
    })
}
