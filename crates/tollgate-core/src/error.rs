//! Errors: what failed, the RFC 6750 code it maps to, and a description safe to send to clients.

use std::fmt;

use crate::algorithm::{Algorithm, KeyFamily};

/// An RFC 6750 section 3.1 error code, plus the one server-side condition a bearer check has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `invalid_request`: the request is malformed (e.g. two `Authorization` headers). HTTP 400.
    InvalidRequest,
    /// `invalid_token`: the token is expired, revoked, malformed or invalid. HTTP 401.
    InvalidToken,
    /// `insufficient_scope`: the token lacks a required role or scope. HTTP 403.
    InsufficientScope,
    /// `temporarily_unavailable`: keys could not be obtained, so no token can be checked
    /// right now. HTTP 503; the client may retry.
    TemporarilyUnavailable,
}

impl ErrorCode {
    /// The wire name, e.g. `"invalid_token"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }

    /// The HTTP status code RFC 6750 pairs with this error.
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidRequest => 400,
            ErrorCode::InvalidToken => 401,
            ErrorCode::InsufficientScope => 403,
            ErrorCode::TemporarilyUnavailable => 503,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a key may not verify a given algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMismatch {
    /// The algorithm needs another kind of key (e.g. `HS256` against an RSA key).
    Family {
        /// What the algorithm needs.
        needed: KeyFamily,
        /// What the key is.
        actual: KeyFamily,
    },
    /// The key is restricted to another algorithm by its own `alg`.
    KeyAlgorithm {
        /// The key's own algorithm.
        key_alg: Algorithm,
    },
    /// The HMAC secret is shorter than the algorithm's hash output.
    SecretTooShort {
        /// Secret length in bytes.
        len: usize,
        /// Bytes the algorithm needs.
        needed: usize,
    },
}

impl fmt::Display for KeyMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyMismatch::Family { needed, actual } => {
                write!(
                    f,
                    "the algorithm needs an {needed} but the key is an {actual}"
                )
            }
            KeyMismatch::KeyAlgorithm { key_alg } => {
                write!(f, "the key is restricted to {key_alg}")
            }
            KeyMismatch::SecretTooShort { len, needed } => {
                write!(
                    f,
                    "the HMAC secret has {len} bytes, the algorithm needs {needed}"
                )
            }
        }
    }
}

/// Why a token's structure was refused before any cryptography.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// Not exactly three dot-separated segments (JWE, JSON serialization, truncated...).
    Segments,
    /// A segment is empty.
    EmptySegment,
    /// A segment is not strict, unpadded, canonical base64url.
    Base64,
    /// The header is not a UTF-8 JSON object with the right member types.
    Header,
    /// A header or claims member name appears twice.
    DuplicateMember,
    /// The payload is not a UTF-8 JSON object.
    Payload,
    /// The signature has the wrong length for the algorithm.
    SignatureLength,
    /// The header's `kid` is longer than 256 bytes.
    KidTooLong,
    /// The payload holds a value no claims view can represent: a lone UTF-16 surrogate escape,
    /// a number beyond the range of `f64`, nesting deeper than 127 levels (`serde_json`'s limit).
    UnreadableClaims,
}

impl Malformed {
    const fn describe(self) -> &'static str {
        match self {
            Malformed::Segments => "the token must have exactly three dot-separated segments",
            Malformed::EmptySegment => "a token segment is empty",
            Malformed::Base64 => "a token segment is not valid unpadded base64url",
            Malformed::Header => "the token header is not a valid JSON object",
            Malformed::DuplicateMember => "the token repeats a JSON member name",
            Malformed::Payload => "the token payload is not a JSON object",
            Malformed::SignatureLength => "the token signature has the wrong length",
            Malformed::KidTooLong => "the token key id is too long",
            Malformed::UnreadableClaims => "the token payload holds a value that cannot be read",
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// A token was refused (or could not be checked).
///
/// `Display` is detailed, for logs and the `tollgate inspect` command; [`Error::public_description`]
/// is what a client may see (no expected issuer or audience values, no key material).
/// [`Error::code`] gives the RFC 6750 error code and HTTP status.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The token is longer than the configured cap, checked before any decoding.
    #[error("token is {size} bytes, more than the {max}-byte limit")]
    TokenTooLarge {
        /// Token length in bytes.
        size: usize,
        /// The configured cap.
        max: usize,
    },
    /// The token's structure is invalid.
    #[error("malformed token: {0}")]
    Malformed(Malformed),
    /// The header's `alg` is `none` (in any spelling), which is never accepted.
    #[error("unsigned tokens (alg {alg:?}) are never accepted")]
    AlgNone {
        /// The `alg` as sent.
        alg: String,
    },
    /// The header's `alg` is not one this policy allows (or not one Tollgate knows).
    #[error("algorithm {alg:?} is not allowed (allowed: {allowed:?})")]
    AlgorithmNotAllowed {
        /// The `alg` as sent.
        alg: String,
        /// The policy's allow-list.
        allowed: Vec<Algorithm>,
    },
    /// The header has `crit` (RFC 7515 4.1.11); Tollgate understands no extensions.
    #[error("the token requires header extensions this verifier does not understand (crit)")]
    CriticalHeader,
    /// The header uses a feature that is refused (e.g. `b64: false`, nested `cty: JWT`).
    #[error("unsupported token header: {0}")]
    UnsupportedHeader(&'static str),
    /// The header's `typ` is not one the policy accepts.
    #[error("token type {actual:?} is not accepted (expected one of {expected:?})")]
    WrongType {
        /// Accepted types.
        expected: Vec<String>,
        /// The `typ` as sent, if any.
        actual: Option<String>,
    },
    /// No key has the token's `kid`.
    #[error("no key with id {kid:?}")]
    UnknownKey {
        /// The `kid` as sent.
        kid: String,
    },
    /// The token has no `kid` and no single key can verify its algorithm.
    #[error("the token has no key id and no single key can verify {alg}")]
    NoKey {
        /// The token's algorithm.
        alg: Algorithm,
    },
    /// Several keys could verify the token and it does not say which.
    #[error("several keys match the token; refusing to guess")]
    AmbiguousKey,
    /// The selected key may not verify this algorithm: algorithm confusion, or a key restricted
    /// to another algorithm.
    #[error("algorithm {alg} not allowed for key: {reason}")]
    KeyAlgorithmMismatch {
        /// The token's algorithm.
        alg: Algorithm,
        /// Why the key refuses it.
        reason: KeyMismatch,
    },
    /// Keys could not be obtained (e.g. the JWKS endpoint is down and nothing is cached).
    #[error("key source unavailable: {0}")]
    KeySourceUnavailable(String),
    /// The signature does not verify.
    #[error("invalid signature")]
    InvalidSignature,
    /// `exp` has passed (`now >= exp + leeway`).
    #[error("token expired at {exp} (now {now}, leeway {leeway} s)")]
    Expired {
        /// `exp`, seconds since the epoch.
        exp: i64,
        /// The time of the check.
        now: i64,
        /// Leeway in seconds.
        leeway: u64,
    },
    /// `nbf` is in the future beyond the leeway.
    #[error("token not valid before {nbf} (now {now}, leeway {leeway} s)")]
    NotYetValid {
        /// `nbf`, seconds since the epoch.
        nbf: i64,
        /// The time of the check.
        now: i64,
        /// Leeway in seconds.
        leeway: u64,
    },
    /// `iat` is in the future beyond the leeway.
    #[error("token issued in the future at {iat} (now {now}, leeway {leeway} s)")]
    IssuedInFuture {
        /// `iat`, seconds since the epoch.
        iat: i64,
        /// The time of the check.
        now: i64,
        /// Leeway in seconds.
        leeway: u64,
    },
    /// A required claim is absent.
    #[error("required claim `{0}` is missing")]
    MissingClaim(String),
    /// A claim has the wrong JSON type or an out-of-range value.
    #[error("claim `{claim}` is invalid: {reason}")]
    InvalidClaim {
        /// The claim name.
        claim: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `iss` is not an accepted issuer.
    #[error("issuer {actual:?} is not accepted (expected one of {expected:?})")]
    WrongIssuer {
        /// Accepted issuers.
        expected: Vec<String>,
        /// The `iss` as sent.
        actual: String,
    },
    /// No `aud` value is an accepted audience.
    #[error("audience {actual:?} is not accepted (expected one of {expected:?})")]
    WrongAudience {
        /// Accepted audiences.
        expected: Vec<String>,
        /// The `aud` values as sent.
        actual: Vec<String>,
    },
    /// A custom claim check refused the token.
    #[error("claim check failed: {0}")]
    ClaimCheck(String),
    /// The claims do not fit the application's claims type (or, for claims trusted from
    /// upstream, could not be read): 401 `invalid_token`. Also the rejection of the tower crate's
    /// `Claims<T>` extractor.
    #[error("claims do not match the expected shape: {0}")]
    ClaimsShape(String),
    /// The token is valid but lacks a required role or scope: 403 `insufficient_scope`. What
    /// the tower crate's guards answer.
    #[error("insufficient scope: requires {required}")]
    InsufficientScope {
        /// What was required, as a space-separated list (the RFC 6750 `scope` attribute).
        required: String,
    },
    /// The token is valid but was revoked ([`revocation`](crate::revocation)).
    #[error("revoked: {0}")]
    Revoked(crate::revocation::rules::Revoked),
    /// The revocation state could not be read and the verifier fails closed (503).
    #[error("revocation state unavailable: {0}")]
    RevocationUnavailable(String),
}

impl Error {
    /// The RFC 6750 error code (and so the HTTP status) for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::KeySourceUnavailable(_) | Error::RevocationUnavailable(_) => {
                ErrorCode::TemporarilyUnavailable
            }
            Error::InsufficientScope { .. } => ErrorCode::InsufficientScope,
            _ => ErrorCode::InvalidToken,
        }
    }

    /// A description safe to show a client: says what kind of check failed, so a client knows
    /// e.g. to refresh an expired token, without echoing configuration or key material.
    pub fn public_description(&self) -> &'static str {
        match self {
            Error::TokenTooLarge { .. } => "the access token is too large",
            Error::Malformed(m) => m.describe(),
            Error::AlgNone { .. } => "unsigned tokens are not accepted",
            Error::AlgorithmNotAllowed { .. } => "the token signing algorithm is not accepted",
            Error::CriticalHeader => "the token requires unsupported header extensions",
            Error::UnsupportedHeader(_) => "the token header is not supported",
            Error::WrongType { .. } => "the token type is not accepted",
            Error::UnknownKey { .. } | Error::NoKey { .. } | Error::AmbiguousKey => {
                "the token signing key is not recognized"
            }
            Error::KeyAlgorithmMismatch { .. } => "the token algorithm does not match its key",
            Error::KeySourceUnavailable(_) => "signing keys are temporarily unavailable",
            Error::InvalidSignature => "the token signature is invalid",
            Error::Expired { .. } => "the access token expired",
            Error::NotYetValid { .. } => "the access token is not valid yet",
            Error::IssuedInFuture { .. } => "the access token was issued in the future",
            Error::MissingClaim(_) => "the token lacks a required claim",
            Error::InvalidClaim { .. } => "the token has an invalid claim",
            Error::WrongIssuer { .. } => "the token issuer is not accepted",
            Error::WrongAudience { .. } => "the token audience is not accepted",
            Error::ClaimCheck(_) => "the token claims are not accepted",
            Error::ClaimsShape(_) => "the token claims are not accepted",
            Error::InsufficientScope { .. } => "the token lacks the required role or scope",
            Error::Revoked(_) => "the access token was revoked",
            Error::RevocationUnavailable(_) => "token revocation state is temporarily unavailable",
        }
    }

    /// A stable, snake_case name of the kind of failure: the `reason` label of the
    /// [`telemetry`](crate::telemetry) metrics (few values, never a claim or a key id).
    ///
    /// ```
    /// assert_eq!(tollgate_core::Error::InvalidSignature.reason(), "invalid_signature");
    /// ```
    pub fn reason(&self) -> &'static str {
        match self {
            Error::TokenTooLarge { .. } => "too_large",
            Error::Malformed(_) => "malformed",
            Error::AlgNone { .. } => "alg_none",
            Error::AlgorithmNotAllowed { .. } => "algorithm_not_allowed",
            Error::CriticalHeader => "critical_header",
            Error::UnsupportedHeader(_) => "unsupported_header",
            Error::WrongType { .. } => "wrong_type",
            Error::UnknownKey { .. } => "unknown_key",
            Error::NoKey { .. } => "no_key",
            Error::AmbiguousKey => "ambiguous_key",
            Error::KeyAlgorithmMismatch { .. } => "key_algorithm_mismatch",
            Error::KeySourceUnavailable(_) => "keys_unavailable",
            Error::InvalidSignature => "invalid_signature",
            Error::Expired { .. } => "expired",
            Error::NotYetValid { .. } => "not_yet_valid",
            Error::IssuedInFuture { .. } => "issued_in_future",
            Error::MissingClaim(_) => "missing_claim",
            Error::InvalidClaim { .. } => "invalid_claim",
            Error::WrongIssuer { .. } => "wrong_issuer",
            Error::WrongAudience { .. } => "wrong_audience",
            Error::ClaimCheck(_) => "claim_check",
            Error::ClaimsShape(_) => "claims_shape",
            Error::InsufficientScope { .. } => "insufficient_scope",
            Error::Revoked(_) => "revoked",
            Error::RevocationUnavailable(_) => "revocation_unavailable",
        }
    }

    /// Whether the failure is on the server side (keys unavailable) rather than the token.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::KeySourceUnavailable(_) | Error::RevocationUnavailable(_)
        )
    }
}

impl From<Malformed> for Error {
    fn from(m: Malformed) -> Self {
        Error::Malformed(m)
    }
}

impl From<KeyLookupError> for Error {
    fn from(err: KeyLookupError) -> Self {
        match err {
            KeyLookupError::UnknownKid { kid } => Error::UnknownKey { kid },
            KeyLookupError::NoKeyForAlgorithm { alg } => Error::NoKey { alg },
            KeyLookupError::Ambiguous => Error::AmbiguousKey,
            KeyLookupError::AlgorithmMismatch { alg, reason } => {
                Error::KeyAlgorithmMismatch { alg, reason }
            }
            KeyLookupError::Unavailable(reason) => Error::KeySourceUnavailable(reason),
        }
    }
}

/// A key source could not produce a key for a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyLookupError {
    /// No key has this `kid` (a remote source has already refetched, or is cooling down).
    #[error("no key with id {kid:?}")]
    UnknownKid {
        /// The `kid` asked for.
        kid: String,
    },
    /// No `kid` was given and no single key can verify the algorithm.
    #[error("no key for {alg}")]
    NoKeyForAlgorithm {
        /// The algorithm asked for.
        alg: Algorithm,
    },
    /// More than one key could verify the token.
    #[error("several keys match")]
    Ambiguous,
    /// The matching key may not verify this algorithm.
    #[error("algorithm {alg} not allowed for key: {reason}")]
    AlgorithmMismatch {
        /// The algorithm asked for.
        alg: Algorithm,
        /// Why the key refuses it.
        reason: KeyMismatch,
    },
    /// The source has no keys to offer right now.
    #[error("key source unavailable: {0}")]
    Unavailable(String),
}

/// A key or key set could not be loaded. These are configuration errors, raised at start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// HMAC secret shorter than the hash output size.
    #[error("HMAC secret is {len} bytes; at least {min} are required")]
    SecretTooShort {
        /// Secret length.
        len: usize,
        /// Minimum.
        min: usize,
    },
    /// RSA modulus too small.
    #[error("RSA key is {bits} bits; at least {min} are required")]
    RsaTooSmall {
        /// Modulus size.
        bits: usize,
        /// Minimum.
        min: usize,
    },
    /// The RSA modulus has the ROCA fingerprint (CVE-2017-15361): it was made by the flawed
    /// Infineon RSALib, and its private key can be recovered from it.
    #[error("RSA modulus has the ROCA weakness (CVE-2017-15361); regenerate the key")]
    RocaVulnerable,
    /// A key restricted to an algorithm it cannot verify.
    #[error("algorithm {0} does not suit this key: {1}")]
    AlgorithmMismatch(Algorithm, KeyMismatch),
    /// The key is well-formed but not a signature-verification key we support.
    #[error("key not usable for signature verification: {0}")]
    Unusable(String),
    /// The key or key set is malformed.
    #[error("invalid key: {0}")]
    Invalid(String),
    /// A JWK Set has no usable signature-verification key.
    #[error("the key set has no usable signature-verification key")]
    NoUsableKeys,
    /// A key file could not be read.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
}

/// A verification policy could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No algorithm allowed: nothing could ever verify.
    #[error("the algorithm allow-list is empty")]
    NoAlgorithms,
    /// A leeway longer than allowed.
    #[error("leeway of {0} s is too large (at most 600 s)")]
    LeewayTooLarge(u64),
    /// A token size cap outside the allowed range.
    #[error("max token size {0} is out of range (256 bytes to 64 KiB)")]
    MaxTokenSize(usize),
    /// An empty issuer, audience or type string.
    #[error("empty {0} in the policy")]
    EmptyValue(&'static str),
    /// A claim path that cannot be parsed.
    #[error(
        "invalid claim path {0:?} (use `roles`, `realm_access.roles`, `cognito:groups`, \
         `https://example.com/roles` or `resource_access.\"my.client\".roles`)"
    )]
    ClaimPath(String),
    /// The policy neither names an audience nor says that any audience is acceptable.
    #[error(
        "no audience decision: call .audience(\"<your API's identifier>\") with the value your \
         provider puts in `aud`, or .any_audience() if every token this issuer signs, for any \
         client, may call this API"
    )]
    NoAudienceDecision,
    /// More required claims than a policy may list.
    #[error("{0} required claims configured; at most 128 are supported")]
    TooManyRequiredClaims(usize),
    /// An issuer template without exactly one `{tenantid}` after a non-empty prefix.
    #[error("issuer template {0:?} must contain {{tenantid}} once, after the URL's start")]
    IssuerTemplate(String),
    /// A [`MultiIssuer`](crate::MultiIssuer) routing that cannot work: no issuer, one
    /// configured twice, an unusable tenant list.
    #[error("invalid multi-issuer routing: {0}")]
    Routing(&'static str),
    /// A DPoP verifier's public URL is not `http(s)://host[:port][/base/path]` (see
    /// [`DpopVerifier::builder`](crate::dpop::DpopVerifier::builder)).
    #[error("invalid DPoP public URL {url:?}: {reason}")]
    DpopPublicUrl {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A symmetric (HMAC) algorithm in a DPoP proof allow-list: a proof must be signed with the
    /// client's private key (RFC 9449 4.2).
    #[error("{0} cannot sign DPoP proofs: proofs need an asymmetric algorithm")]
    DpopAlgorithm(Algorithm),
}
