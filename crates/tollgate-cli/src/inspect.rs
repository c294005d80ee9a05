//! `tollgate inspect`: decode a token readably (never failing on what cannot be decoded), then run
//! the full verification and say exactly which check refuses it and why. With `--dpop PROOF
//! --url URL`, the DPoP proof (RFC 9449) is decoded and checked against the token the same way.
//!
//! Exit codes: 0 valid (or decoded, when no key was given; and the proof valid, with --dpop), 1
//! invalid, 2 usage or configuration error (including keys that cannot be fetched).

use std::io::Read as _;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, GeneralPurpose as Engine};
use clap::{ArgGroup, Args};
use serde_json::{Map, Value};
use tollgate::core::bearer;
use tollgate::core::config::DPOP_PROOF_ALGORITHMS;
use tollgate::core::dpop::{DpopError, DpopVerifier, ProofCheck, ProofRequest, jwk_thumbprint};
use tollgate::core::remote::{JwksSource, OidcSource};
use tollgate::core::{
    Algorithm, CryptoProvider, Error, KeySet, Validation, VerificationKey, Verifier,
};
use tollgate::testing::SigningKey;

use crate::Failure;
use crate::keys::parse_algorithm;
use crate::time;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("keys").args(["jwks", "issuer", "secret", "key_file"])))]
pub(crate) struct InspectArgs {
    /// The token; `-` reads it from stdin. Surrounding whitespace and a leading `Bearer` or
    /// `DPoP` (any case) are ignored.
    token: String,
    /// Verify with this JWK Set: an http(s) URL or a file.
    #[arg(long, value_name = "URL|FILE")]
    jwks: Option<String>,
    /// Verify with the keys of this OpenID Connect issuer (discovery); also the expected `iss`
    /// unless --iss is given.
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// Verify with this HMAC shared secret (HS256/HS384/HS512).
    #[arg(long, value_name = "SECRET")]
    secret: Option<String>,
    /// Verify with this key file: public key or certificate PEM/DER, or a PKCS#8 private key.
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// Require this audience (repeat for several: any one must be in `aud`).
    #[arg(long, alias = "aud", value_name = "AUD")]
    audience: Vec<String>,
    /// Require this issuer (repeat for several).
    #[arg(long, value_name = "ISS")]
    iss: Vec<String>,
    /// Accepted algorithms, comma-separated (default: every asymmetric one; HS256/384/512 with
    /// --secret). Pass your server's list to check exactly what it checks.
    #[arg(long, value_parser = parse_algorithm, value_delimiter = ',')]
    alg: Vec<Algorithm>,
    /// Leeway for exp/nbf/iat, in seconds.
    #[arg(long, default_value_t = 0, value_name = "SECS")]
    leeway: u64,
    /// A DPoP proof (the `DPoP` header's value) sent with the token: decode it and say which
    /// RFC 9449 check refuses it, as `tollgate serve` checks it (proofs ES256, RS256, PS256 or
    /// EdDSA; iat at most 300 s old, 60 s ahead; the token's cnf.jkt). Needs --url.
    #[arg(long, value_name = "PROOF", requires = "url")]
    dpop: Option<String>,
    /// With --dpop: the request's method (the proof's htm must equal it).
    #[arg(long, default_value = "GET", requires = "dpop")]
    method: String,
    /// With --dpop: the request's URL as the client called it (its origin is the server's
    /// AUTH_PUBLIC_URL; the proof's htu must equal it without query and fragment).
    #[arg(long, value_name = "URL", requires = "dpop")]
    url: Option<String>,
}

/// Lenient base64url: padding optional, non-canonical trailing bits accepted. Only for showing
/// what a token says; verification uses the strict decoder of `tollgate-core`.
const LENIENT: Engine = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Claims shown first, in this order; then the others.
const REGISTERED: [&str; 7] = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];
/// Claims holding NumericDates.
const TIME_CLAIMS: [&str; 5] = ["exp", "nbf", "iat", "auth_time", "updated_at"];

/// What decoding found, for the verification summary.
#[derive(Default)]
struct Decoded {
    kid: Option<String>,
    /// Whether header and claims both decoded to JSON objects.
    complete: bool,
    /// `cnf.jkt` as decoded (not verified): the key the token is bound to.
    cnf_jkt: Option<String>,
}

fn show_value(value: &Value) -> String {
    value.to_string()
}

fn show_claim(name: &str, value: &Value, now: i64) -> String {
    if TIME_CLAIMS.contains(&name) {
        if let Some(at) = value.as_i64() {
            return format!("{at} = {}", time::describe(at, now));
        }
        if let Some(at) = value.as_f64() {
            let floor = at.floor();
            if floor.is_finite() && floor.abs() < 1e15 {
                #[allow(clippy::cast_possible_truncation)]
                let whole = floor as i64;
                return format!("{at} = {} (not a whole number)", time::describe(whole, now));
            }
        }
        return format!("{} (not a NumericDate)", show_value(value));
    }
    show_value(value)
}

/// Decodes one segment to a JSON object, or says why not.
pub(crate) fn segment_object(segment: &str) -> Result<Map<String, Value>, String> {
    let bytes = LENIENT
        .decode(segment)
        .map_err(|e| format!("not base64url ({e})"))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!(
            "JSON but not an object: {}",
            truncate(&other.to_string())
        )),
        Err(e) => Err(format!(
            "not JSON ({e}): {:?}",
            truncate(&String::from_utf8_lossy(&bytes))
        )),
    }
}

fn truncate(text: &str) -> String {
    const MAX: usize = 120;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_owned(),
    }
}

/// Prints header, claims and signature length; never fails.
fn print_decoded(token: &str, now: i64) -> Decoded {
    let mut decoded = Decoded::default();
    let segments: Vec<&str> = token.split('.').collect();
    let plural = if segments.len() == 1 { "" } else { "s" };
    println!(
        "token: {} bytes, {} segment{plural}",
        token.len(),
        segments.len()
    );
    if !bearer::is_b64token(token.as_bytes()) {
        println!(
            "  not an RFC 6750 token (letters, digits, -._~+/ and trailing =): a server refuses \
             it as malformed (400 invalid_request)"
        );
    }
    match segments.len() {
        3 => {}
        5 => println!("  five segments: an encrypted token (JWE); only its header can be shown"),
        n => println!("  a signed JWT has 3 dot-separated segments, this has {n}"),
    }
    let header = segments.first().copied().unwrap_or_default();
    println!("header:");
    let mut header_ok = false;
    match segment_object(header) {
        Ok(map) => {
            header_ok = true;
            decoded.kid = map.get("kid").and_then(Value::as_str).map(str::to_owned);
            for (name, value) in &map {
                println!("  {name}: {}", show_value(value));
            }
        }
        Err(why) => println!("  cannot decode: {why}"),
    }
    if segments.len() == 3 {
        println!("claims:");
        match segments.get(1).map(|s| segment_object(s)) {
            Some(Ok(map)) => {
                decoded.complete = header_ok;
                decoded.cnf_jkt = map
                    .get("cnf")
                    .and_then(|cnf| cnf.get("jkt"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                for name in REGISTERED {
                    if let Some(value) = map.get(name) {
                        println!("  {name}: {}", show_claim(name, value, now));
                    }
                }
                for (name, value) in map
                    .iter()
                    .filter(|(n, _)| !REGISTERED.contains(&n.as_str()))
                {
                    println!("  {name}: {}", show_claim(name, value, now));
                }
                if !map.contains_key("exp") {
                    println!("  (no exp: verifiers that require it refuse this token)");
                }
            }
            Some(Err(why)) => println!("  cannot decode: {why}"),
            None => {}
        }
        match segments.get(2).map(|s| LENIENT.decode(s)) {
            Some(Ok(bytes)) if bytes.is_empty() => {
                println!("signature: none (unsigned tokens are never accepted)");
            }
            Some(Ok(bytes)) => println!("signature: {} bytes", bytes.len()),
            Some(Err(e)) => println!("signature: not base64url ({e})"),
            None => {}
        }
    }
    decoded
}

/// Where the keys come from, for messages.
struct Keys {
    /// e.g. `JWKS http://...`.
    description: String,
    /// The key ids available, once known.
    kids: Box<dyn Fn() -> Option<Vec<String>>>,
}

fn kids_of(set: &KeySet) -> Vec<String> {
    set.iter()
        .filter_map(|k| k.kid().map(str::to_owned))
        .collect()
}

/// A key file: public key/certificate, or a PKCS#8 private key (its public half).
fn key_from_file(path: &PathBuf) -> Result<VerificationKey, Failure> {
    let shown = path.display();
    let bytes =
        std::fs::read(path).map_err(|e| Failure::config(format!("cannot read {shown}: {e}")))?;
    let public = if bytes.starts_with(b"-----") || bytes.windows(5).any(|w| w == b"-----") {
        VerificationKey::from_pem(&bytes)
    } else {
        VerificationKey::from_der(&bytes)
    };
    if let Ok(key) = public {
        return Ok(key);
    }
    let private = [
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::RS256,
    ]
    .into_iter()
    .find_map(|alg| SigningKey::from_pkcs8(&bytes, alg).ok());
    let Some(mut jwk) = private.and_then(|key| key.public_jwk()) else {
        let why = public.err().map(|e| e.to_string()).unwrap_or_default();
        return Err(Failure::config(format!(
            "{shown}: not a public key, certificate or PKCS#8 private key ({why})"
        )));
    };
    // The key fits any kid and every algorithm of its family, like a configured public key.
    if let Some(members) = jwk.as_object_mut() {
        members.remove("kid");
        members.remove("alg");
    }
    VerificationKey::from_jwk(&jwk.to_string())
        .map_err(|e| Failure::config(format!("{shown}: {e}")))
}

/// The verifier for the chosen key option (fetching remote keys now), or `None` without one.
async fn verifier(
    args: &InspectArgs,
    validation: Validation,
) -> Result<Option<(Verifier, Keys)>, Failure> {
    let crypto = CryptoProvider::default();
    let fixed = |set: KeySet, description: String| {
        let kids = kids_of(&set);
        let keys = Keys {
            description,
            kids: Box::new(move || Some(kids.clone())),
        };
        Some((Verifier::new(validation.clone(), set, crypto), keys))
    };
    if let Some(jwks) = &args.jwks {
        if jwks.starts_with("http://") || jwks.starts_with("https://") {
            let source = JwksSource::builder(jwks.clone())
                .build()
                .map_err(|e| Failure::config(format!("--jwks: {e}")))?;
            source
                .prefetch()
                .await
                .map_err(|e| Failure::config(format!("cannot fetch the JWK Set: {e}")))?;
            let cached = source.clone();
            let keys = Keys {
                description: format!("JWKS {jwks}"),
                kids: Box::new(move || cached.cached_keys().map(|set| kids_of(&set))),
            };
            return Ok(Some((Verifier::new(validation, source, crypto), keys)));
        }
        let set = KeySet::from_jwks_file(jwks)
            .map_err(|e| Failure::config(format!("--jwks {jwks}: {e}")))?;
        return Ok(fixed(set, format!("the JWK Set file {jwks}")));
    }
    if let Some(issuer) = &args.issuer {
        let source = OidcSource::discover(issuer.clone())
            .await
            .map_err(|e| Failure::config(format!("discovery for {issuer} failed: {e}")))?;
        let jwks_uri = match source.jwks_source() {
            Some(jwks) => {
                jwks.prefetch()
                    .await
                    .map_err(|e| Failure::config(format!("cannot fetch the JWK Set: {e}")))?;
                jwks.url().to_owned()
            }
            None => String::new(),
        };
        let cached = source.clone();
        let keys = Keys {
            description: format!("the keys of {issuer} ({jwks_uri})"),
            kids: Box::new(move || {
                cached
                    .jwks_source()
                    .and_then(JwksSource::cached_keys)
                    .map(|set| kids_of(&set))
            }),
        };
        return Ok(Some((Verifier::new(validation, source, crypto), keys)));
    }
    if let Some(secret) = &args.secret {
        let key = VerificationKey::hmac(secret.as_bytes())
            .map_err(|e| Failure::config(format!("--secret: {e}")))?;
        return Ok(fixed(KeySet::from(key), "--secret".to_owned()));
    }
    if let Some(path) = &args.key_file {
        let key = key_from_file(path)?;
        return Ok(fixed(KeySet::from(key), path.display().to_string()));
    }
    Ok(None)
}

fn list(values: &[String]) -> String {
    format!("{values:?}")
}

/// Which check failed and why, in one line.
fn explain(error: &Error, decoded: &Decoded, keys: &Keys) -> String {
    let source = &keys.description;
    let kid_list = || match (keys.kids)() {
        Some(kids) if kids.is_empty() => " (its keys have no kid)".to_owned(),
        Some(kids) => format!(" (it has: {})", kids.join(", ")),
        None => String::new(),
    };
    match error {
        Error::TokenTooLarge { size, max } => {
            format!("size: the token is {size} bytes, over the {max}-byte cap")
        }
        Error::Malformed(why) => format!("structure: {why}"),
        Error::AlgNone { alg } => {
            format!("algorithm: unsigned tokens (alg {alg:?}) are never accepted")
        }
        Error::AlgorithmNotAllowed { alg, allowed } => {
            let allowed: Vec<&str> = allowed.iter().map(|a| a.as_str()).collect();
            format!(
                "algorithm: {alg:?} is not in the allow-list [{}] (--alg sets it)",
                allowed.join(", ")
            )
        }
        Error::CriticalHeader => {
            "header: `crit` lists extensions this verifier does not understand".to_owned()
        }
        Error::UnsupportedHeader(what) => format!("header: {what}"),
        Error::WrongType { expected, actual } => format!(
            "header: typ {} is not one of {}",
            actual
                .as_deref()
                .map_or("(none)".to_owned(), |t| format!("{t:?}")),
            list(expected)
        ),
        Error::UnknownKey { kid } => {
            format!("key: no key with kid {kid:?} in {source}{}", kid_list())
        }
        Error::NoKey { alg } => format!(
            "key: the token has no kid and no single key in {source} verifies {alg}{}",
            kid_list()
        ),
        Error::AmbiguousKey => format!(
            "key: several keys in {source} could verify the token and it has no kid to choose"
        ),
        Error::KeyAlgorithmMismatch { alg, reason } => format!(
            "key: the key {} in {source} cannot verify {alg}: {reason}",
            decoded
                .kid
                .as_deref()
                .map_or("picked".to_owned(), |k| format!("{k:?}"))
        ),
        Error::KeySourceUnavailable(why) => format!("keys: unavailable: {why}"),
        Error::InvalidSignature => match &decoded.kid {
            Some(kid) => format!("signature: does not verify with key {kid} ({source})"),
            None => format!("signature: does not verify with the key of {source}"),
        },
        Error::Expired { exp, now, leeway } => format!(
            "expired: exp {} is {} in the past; leeway {leeway} s",
            time::rfc3339(*exp).unwrap_or_else(|| exp.to_string()),
            time::span(now.abs_diff(*exp))
        ),
        Error::NotYetValid { nbf, now, leeway } => format!(
            "not yet valid: nbf {} is {} in the future; leeway {leeway} s",
            time::rfc3339(*nbf).unwrap_or_else(|| nbf.to_string()),
            time::span(nbf.abs_diff(*now))
        ),
        Error::IssuedInFuture { iat, now, leeway } => format!(
            "issued in the future: iat {} is {} ahead of now; leeway {leeway} s",
            time::rfc3339(*iat).unwrap_or_else(|| iat.to_string()),
            time::span(iat.abs_diff(*now))
        ),
        Error::MissingClaim(claim) => format!("claims: required claim {claim:?} is missing"),
        Error::InvalidClaim { claim, reason } => format!("claims: {claim:?} is invalid: {reason}"),
        Error::WrongIssuer { expected, actual } => format!(
            "issuer: token iss {actual:?} is not {}",
            match expected.as_slice() {
                [one] => format!("{one:?}"),
                many => format!("any of {}", list(many)),
            }
        ),
        Error::WrongAudience { expected, actual } => format!(
            "audience: token aud {} does not contain any of {}",
            list(actual),
            list(expected)
        ),
        other => format!("claims: {other}"),
    }
}

pub(crate) fn read_token(arg: &str) -> Result<String, Failure> {
    let raw = if arg == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::config(format!("cannot read the token from stdin: {e}")))?;
        text
    } else {
        arg.to_owned()
    };
    // Lenient on purpose: pasted text with a newline or a copied `Bearer ` (or `DPoP `)
    // prefix. A server never reads a header this way (`print_decoded` says when a server would
    // refuse it).
    let trimmed = raw.trim();
    let unprefixed = match trimmed.get(..5) {
        Some(prefix)
            if prefix.eq_ignore_ascii_case("dpop ") || prefix.eq_ignore_ascii_case("dpop\t") =>
        {
            trimmed[5..].trim_start()
        }
        _ => trimmed,
    };
    Ok(bearer::parse_lenient(unprefixed).to_owned())
}

/// Prints a proof's header and claims (as `print_decoded` does a token's); never fails.
fn print_proof(proof: &str, now: i64) {
    let segments: Vec<&str> = proof.split('.').collect();
    println!(
        "DPoP proof: {} bytes, {} segments",
        proof.len(),
        segments.len()
    );
    for (label, segment) in [("header", segments.first()), ("claims", segments.get(1))] {
        let Some(segment) = segment else { continue };
        println!("{label}:");
        match segment_object(segment) {
            Ok(map) => {
                for (name, value) in &map {
                    println!("  {name}: {}", show_claim(name, value, now));
                }
            }
            Err(why) => println!("  cannot decode: {why}"),
        }
    }
}

/// The thumbprint of the proof header's `jwk`, when it has a usable one (for messages).
fn proof_jkt(proof: &str) -> Option<String> {
    let header = segment_object(proof.split('.').next()?).ok()?;
    jwk_thumbprint(&header.get("jwk")?.to_string()).ok()
}

/// base64url(SHA-256(token)): what the proof's `ath` must be.
fn ath(token: &str) -> String {
    crate::dpop::ath(token)
}

/// Which DPoP check failed and why, in one line.
fn explain_dpop(error: &DpopError, proof: &str, token: &str, token_jkt: Option<&str>) -> String {
    let claims = proof
        .split('.')
        .nth(1)
        .and_then(|s| segment_object(s).ok())
        .unwrap_or_default();
    let claim = |name: &str| claims.get(name).map(show_value);
    match error {
        DpopError::Malformed(why) => format!("structure: {why}"),
        DpopError::MultipleProofs => "structure: several proofs in one value".to_owned(),
        DpopError::WrongType => format!(
            "header: typ {} is not \"dpop+jwt\"",
            segments_header_member(proof, "typ").unwrap_or_else(|| "(none)".to_owned())
        ),
        DpopError::AlgorithmNotAllowed(alg) => format!(
            "algorithm: {alg:?} is not accepted for proofs (serve accepts {})",
            DPOP_PROOF_ALGORITHMS.map(Algorithm::as_str).join(", ")
        ),
        DpopError::PrivateKeyInProof => {
            "key: the header's jwk holds the PRIVATE key (d...): the client leaked it; make a \
             new key"
                .to_owned()
        }
        DpopError::InvalidKey(why) => format!("key: the header's jwk is not usable: {why}"),
        DpopError::InvalidSignature => {
            "signature: does not verify with the header's jwk (another key signed it, the proof \
             was altered, or an ES256 signature is DER instead of raw r||s)"
                .to_owned()
        }
        DpopError::MissingClaim(name) => format!("claims: required claim {name:?} is missing"),
        DpopError::MethodMismatch { expected, found } => {
            format!("htm: the proof is for {found:?}, the request is {expected:?} (--method)")
        }
        DpopError::UriMismatch { expected, found } => format!(
            "htu: the proof is for {found:?}, the request is {expected:?} (--url without query \
             and fragment; the server's AUTH_PUBLIC_URL plus the path)"
        ),
        DpopError::Stale { iat, now } => format!(
            "iat: the proof was made {} ago, more than the 300 s a server accepts (iat {})",
            time::span(now.abs_diff(*iat)),
            time::rfc3339(*iat).unwrap_or_else(|| iat.to_string())
        ),
        DpopError::FromTheFuture { iat, now } => format!(
            "iat: the proof is dated {} ahead, more than the 60 s a server accepts (client \
             clock?)",
            time::span(iat.abs_diff(*now))
        ),
        DpopError::AccessTokenHashMismatch => format!(
            "ath: the proof's ath {} is not the token's hash \"{}\" (the proof was made for \
             another token)",
            claim("ath").unwrap_or_else(|| "(none)".to_owned()),
            ath(token)
        ),
        DpopError::KeyMismatch => format!(
            "binding: the token's cnf.jkt {:?} is not the proof key's thumbprint {:?} (the proof \
             is signed with another key than the token is bound to)",
            token_jkt.unwrap_or_default(),
            proof_jkt(proof).unwrap_or_default()
        ),
        DpopError::UnboundToken => {
            "binding: the token has no cnf.jkt, so it is not bound to a key; a DPoP request needs \
             a DPoP-bound token (`tollgate token --dpop`)"
                .to_owned()
        }
        DpopError::NonceRequired | DpopError::NonceInvalid => format!("nonce: {error}"),
        other => format!("proof: {other}"),
    }
}

/// A header member as shown, e.g. `"JWT"`.
fn segments_header_member(proof: &str, member: &str) -> Option<String> {
    let header = segment_object(proof.split('.').next()?).ok()?;
    header.get(member).map(show_value)
}

/// Decodes and checks `proof` against `token` (bound to `token_jkt`) for `--method` and
/// `--url`, as `serve` does; prints the verdict. `Ok` when the proof is valid.
fn check_proof(
    args: &InspectArgs,
    runtime: &tokio::runtime::Runtime,
    proof: &str,
    token: &str,
    token_jkt: Option<&str>,
    token_verified: bool,
) -> Result<(), Failure> {
    let url = crate::dpop::htu(args.url.as_deref().unwrap_or_default())?;
    let method = crate::dpop::method(&args.method)?;
    let origin = url.origin().ascii_serialization();
    let verifier = DpopVerifier::builder(&origin)
        .and_then(|builder| builder.algorithms(DPOP_PROOF_ALGORITHMS))
        .map_err(|e| Failure::config(format!("--url: {e}")))?
        .build();
    println!();
    print_proof(proof, time::now());
    println!();
    println!(
        "checking the proof for {method} {url} (public URL {origin}; proof algorithms {}; \
         nonces not checked)",
        verifier.algs_challenge()
    );
    let result = match verifier.check(ProofRequest {
        proof,
        method: &method,
        path: url.path(),
        access_token: token,
        token_jkt,
    }) {
        ProofCheck::Done(result) => result,
        ProofCheck::Pending(pending) => runtime.block_on(pending),
    };
    match result {
        Ok(verified) => {
            let bound = if token_verified {
                "which the token is bound to (cnf.jkt)"
            } else {
                "which the token says it is bound to (cnf.jkt, as decoded: the token is NOT \
                 VERIFIED)"
            };
            println!(
                "VALID DPoP proof: {} signature by key {}, {bound}; htm, htu, iat and ath match",
                verified.algorithm(),
                verified.jkt()
            );
            Ok(())
        }
        Err(error) => {
            println!(
                "INVALID DPoP proof: {}",
                explain_dpop(&error, proof, token, token_jkt)
            );
            println!(
                "  a server answers {} {}: {:?}",
                error.http_status(),
                error.code(),
                error.client_message()
            );
            Err(Failure::silent(1))
        }
    }
}

pub(crate) fn run(args: InspectArgs) -> Result<(), Failure> {
    let token = read_token(&args.token)?;
    let issuers = if args.iss.is_empty() {
        args.issuer.iter().cloned().collect()
    } else {
        args.iss.clone()
    };
    let algorithms = match (&args.alg, &args.secret) {
        (list, _) if !list.is_empty() => list.clone(),
        (_, Some(_)) => vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512],
        (_, None) => Algorithm::ALL
            .into_iter()
            .filter(|a| !a.is_symmetric())
            .collect(),
    };
    let mut validation = Validation::builder(algorithms.iter().copied())
        .issuers(issuers.iter().cloned())
        .leeway(Duration::from_secs(args.leeway));
    // No --audience: aud is not checked (shown as such below), an explicit decision here.
    validation = if args.audience.is_empty() {
        validation.any_audience()
    } else {
        validation.audiences(args.audience.iter().cloned())
    };
    let validation = validation
        .build()
        .map_err(|e| Failure::config(format!("invalid policy: {e}")))?;

    let now = time::now();
    let decoded = print_decoded(&token, now);
    println!();

    let runtime = crate::runtime()?;
    let proof = args.dpop.as_deref().map(|proof| proof.trim().to_owned());
    // The token is not verified (no key) or refused: the proof is still checked, against the
    // binding as decoded.
    let with_unverified_binding = |token_result: Result<(), Failure>| match &proof {
        Some(proof) => worst(
            token_result,
            check_proof(
                &args,
                &runtime,
                proof,
                &token,
                decoded.cnf_jkt.as_deref(),
                false,
            ),
        ),
        None => token_result,
    };
    let Some((verifier, keys)) = runtime.block_on(verifier(&args, validation))? else {
        println!(
            "NOT VERIFIED: no key given (--jwks, --issuer, --secret or --key-file); nothing above \
             is checked"
        );
        let token_result = if decoded.complete {
            Ok(())
        } else {
            Err(Failure::silent(1))
        };
        return with_unverified_binding(token_result);
    };
    let shown = |values: &[String]| {
        if values.is_empty() {
            "not checked".to_owned()
        } else {
            list(values)
        }
    };
    let algorithms: Vec<&str> = algorithms.iter().map(|a| a.as_str()).collect();
    let from_issuer = if args.iss.is_empty() && args.issuer.is_some() {
        " (from --issuer)"
    } else {
        ""
    };
    println!("verifying with {}", keys.description);
    println!(
        "  algorithms: {}; iss: {}{from_issuer}; aud: {}; leeway: {} s",
        algorithms.join(", "),
        shown(&issuers),
        shown(&args.audience),
        args.leeway
    );
    let result = runtime.block_on(verifier.verify(&token));
    match result {
        Ok(verified) => {
            let key = verified
                .header()
                .kid
                .as_deref()
                .map_or_else(|| "the configured key".to_owned(), |k| format!("key {k}"));
            println!(
                "VALID: signature verified with {key} ({}); every claim check passed",
                verified.header().alg
            );
            let jkt = verified.confirmation_jkt();
            match (&proof, jkt) {
                (Some(proof), _) => check_proof(&args, &runtime, proof, &token, jkt, true),
                (None, Some(jkt)) => {
                    println!(
                        "  DPoP-bound (cnf.jkt {jkt}): a server refuses it as Bearer; send it as \
                         `Authorization: DPoP` with a proof (check one with --dpop)"
                    );
                    Ok(())
                }
                (None, None) => Ok(()),
            }
        }
        Err(error) => {
            println!("INVALID: {}", explain(&error, &decoded, &keys));
            println!(
                "  a server answers {} {}: {:?}",
                error.code().http_status(),
                error.code(),
                error.public_description()
            );
            let token_result = if error.is_transient() {
                Err(Failure::silent(2))
            } else {
                Err(Failure::silent(1))
            };
            // Still worth knowing whether the proof would pass once the token does.
            with_unverified_binding(token_result)
        }
    }
}

/// The token's outcome unless the proof's is worse (a usage error beats an invalid verdict).
fn worst(token: Result<(), Failure>, proof: Result<(), Failure>) -> Result<(), Failure> {
    match (token, proof) {
        (Ok(()), proof) => proof,
        (Err(token), Ok(())) => Err(token),
        (Err(token), Err(proof)) => Err(if proof.code > token.code {
            proof
        } else {
            token
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_segments() {
        // {"a":1} with and without padding.
        assert!(segment_object("eyJhIjoxfQ").is_ok());
        assert!(segment_object("eyJhIjoxfQ==").is_ok());
        assert!(
            segment_object("!!!")
                .unwrap_err()
                .starts_with("not base64url")
        );
        // "[1]"
        assert!(
            segment_object("WzFd")
                .unwrap_err()
                .starts_with("JSON but not an object")
        );
        // "hello"
        assert!(
            segment_object("aGVsbG8")
                .unwrap_err()
                .starts_with("not JSON")
        );
    }

    #[test]
    fn token_argument_forms() {
        assert_eq!(
            read_token("  Bearer abc.def.ghi \n").unwrap(),
            "abc.def.ghi"
        );
        assert_eq!(read_token("abc.def.ghi").unwrap(), "abc.def.ghi");
        // The scheme in any case, a tab or several spaces after it (pasted, not a server's
        // header).
        assert_eq!(read_token("BEARER\tabc.def.ghi").unwrap(), "abc.def.ghi");
        assert_eq!(read_token("bearer   abc.def.ghi").unwrap(), "abc.def.ghi");
        // Anything else is kept for the decoder to show.
        assert_eq!(read_token(" not a token ").unwrap(), "not a token");
        // A copied DPoP authorization value.
        assert_eq!(read_token("DPoP abc.def.ghi").unwrap(), "abc.def.ghi");
        assert_eq!(read_token(" dpop\tabc.def.ghi").unwrap(), "abc.def.ghi");
        assert_eq!(read_token("dpopabc").unwrap(), "dpopabc");
    }

    #[test]
    fn time_claims_are_readable() {
        assert_eq!(
            show_claim("exp", &serde_json::json!(1_700_000_000), 1_700_000_180),
            "1700000000 = 2023-11-14T22:13:20Z (3 min ago)"
        );
        assert_eq!(
            show_claim("iat", &serde_json::json!("soon"), 0),
            "\"soon\" (not a NumericDate)"
        );
        assert_eq!(
            show_claim("sub", &serde_json::json!("alice"), 0),
            "\"alice\""
        );
    }
}
