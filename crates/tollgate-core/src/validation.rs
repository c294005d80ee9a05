//! The verification policy: which algorithms, issuers, audiences, times and types are accepted.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::algorithm::Algorithm;
use crate::error::ConfigError;
use crate::rules::ClaimRule;

/// Default cap on the token length, checked before any decoding.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Default clock-skew leeway for `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// Largest leeway a policy accepts.
pub const MAX_LEEWAY: Duration = Duration::from_secs(600);

/// A custom check over the claims, run after the signature and registered claims passed.
///
/// Closures `Fn(&Map<String, Value>) -> Result<(), String>` implement it; the `Err` text goes to
/// logs, the client sees only that the claims were not accepted.
///
/// ```
/// use tollgate_core::{Algorithm, Validation};
///
/// let policy = Validation::builder([Algorithm::RS256])
///     .audience("my-api")
///     .check(|claims: &serde_json::Map<String, serde_json::Value>| {
///         match claims.get("token_use").and_then(|v| v.as_str()) {
///             Some("access") => Ok(()),
///             other => Err(format!("token_use is {other:?}, expected \"access\"")),
///         }
///     })
///     .build()
///     .unwrap();
/// # let _ = policy;
/// ```
pub trait ClaimCheck: Send + Sync + 'static {
    /// Accepts or refuses the claims.
    fn check(&self, claims: &Map<String, Value>) -> Result<(), String>;
}

impl<F> ClaimCheck for F
where
    F: Fn(&Map<String, Value>) -> Result<(), String> + Send + Sync + 'static,
{
    fn check(&self, claims: &Map<String, Value>) -> Result<(), String> {
        self(claims)
    }
}

/// A verification policy. Build one with [`Validation::builder`]; there is no default, because
/// there is no safe default algorithm list.
///
/// Rules, in the order they run (cheap structural checks before any cryptography):
/// 1. the token is at most [`max_token_bytes`](ValidationBuilder::max_token_bytes) long;
/// 2. exactly three non-empty segments of strict base64url; JSON objects without duplicate names;
/// 3. `alg` is in the allow-list (`none` never is), no `crit`, no `b64: false`, no nested JWT;
/// 4. `typ`, when [`types`](ValidationBuilder::types) are set (case-insensitive, `application/`
///    prefix optional, RFC 7515 4.1.9);
/// 5. the key picked by `kid` permits `alg`, and the signature verifies;
/// 6. `exp` present (unless [`require_exp(false)`](ValidationBuilder::require_exp)) and
///    `now < exp + leeway`; `nbf` when present `now + leeway >= nbf`; `iat` when present not after
///    `now + leeway`; all time claims JSON numbers in `0..=253402300799`;
/// 7. `iss` exactly one of the issuers and `aud` containing one of the audiences, when configured
///    (then a token without them is refused); [`required claims`](ValidationBuilder::require_claim)
///    present; when the policy lists no issuer, a [`Verifier`](crate::Verifier) whose key source
///    knows its issuer ([`KeySource::issuer`](crate::KeySource::issuer): OIDC discovery, every
///    provider preset) requires that one;
/// 8. typed [`ClaimRule`]s, then custom [`ClaimCheck`]s.
///
/// The audience is always a decision: [`build`](ValidationBuilder::build) refuses a policy with
/// neither an [`audience`](ValidationBuilder::audience) nor
/// [`any_audience`](ValidationBuilder::any_audience).
///
/// ```
/// use std::time::Duration;
/// use tollgate_core::{Algorithm, Validation};
///
/// let policy = Validation::builder([Algorithm::RS256, Algorithm::ES256])
///     .issuer("https://issuer.example.com")
///     .audience("my-api")
///     .leeway(Duration::from_secs(30))
///     .types(["at+jwt"])
///     .build()
///     .unwrap();
/// assert!(policy.allows(Algorithm::RS256));
/// assert!(!policy.allows(Algorithm::HS256));
/// ```
#[derive(Clone)]
pub struct Validation {
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) issuers: Vec<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) leeway_secs: u64,
    pub(crate) require_exp: bool,
    pub(crate) reject_future_iat: bool,
    pub(crate) required_claims: Vec<String>,
    pub(crate) types: Vec<String>,
    pub(crate) max_token_bytes: usize,
    pub(crate) checks: Vec<Arc<dyn ClaimCheck>>,
    pub(crate) rules: Vec<ClaimRule>,
    pub(crate) any_audience: bool,
}

/// Most distinct required claims a policy may list (one bit each in the verifier's scan),
/// checked by [`ValidationBuilder::build`].
pub const MAX_REQUIRED_CLAIMS: usize = 128;

impl Validation {
    /// Starts a policy that accepts exactly these algorithms.
    pub fn builder(algorithms: impl IntoIterator<Item = Algorithm>) -> ValidationBuilder {
        ValidationBuilder {
            inner: Validation {
                algorithms: algorithms.into_iter().collect(),
                issuers: Vec::new(),
                audiences: Vec::new(),
                leeway_secs: DEFAULT_LEEWAY.as_secs(),
                require_exp: true,
                reject_future_iat: true,
                required_claims: Vec::new(),
                types: Vec::new(),
                max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
                checks: Vec::new(),
                rules: Vec::new(),
                any_audience: false,
            },
        }
    }

    /// Whether `alg` is in the allow-list.
    pub fn allows(&self, alg: Algorithm) -> bool {
        self.algorithms.contains(&alg)
    }

    /// The allowed algorithms.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// The accepted issuers (empty: `iss` not checked).
    pub fn issuers(&self) -> &[String] {
        &self.issuers
    }

    /// The accepted audiences (empty: `aud` not checked).
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// Whether the policy accepts any audience ([`ValidationBuilder::any_audience`]).
    pub fn accepts_any_audience(&self) -> bool {
        self.any_audience
    }

    /// The claim rules ([`ValidationBuilder::rule`]).
    pub fn rules(&self) -> &[ClaimRule] {
        &self.rules
    }

    /// The leeway for time claims.
    pub fn leeway(&self) -> Duration {
        Duration::from_secs(self.leeway_secs)
    }

    /// The token length cap in bytes.
    pub fn max_token_bytes(&self) -> usize {
        self.max_token_bytes
    }

    /// Whether `typ` matches the accepted types (always true when none are configured).
    pub(crate) fn type_accepted(&self, typ: Option<&str>) -> bool {
        if self.types.is_empty() {
            return true;
        }
        let Some(typ) = typ else { return false };
        let bare = strip_application_prefix(typ);
        self.types
            .iter()
            .any(|want| strip_application_prefix(want).eq_ignore_ascii_case(bare))
    }
}

fn strip_application_prefix(media_type: &str) -> &str {
    match media_type.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &media_type[12..],
        _ => media_type,
    }
}

impl fmt::Debug for Validation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validation")
            .field("algorithms", &self.algorithms)
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .field("leeway_secs", &self.leeway_secs)
            .field("require_exp", &self.require_exp)
            .field("reject_future_iat", &self.reject_future_iat)
            .field("required_claims", &self.required_claims)
            .field("types", &self.types)
            .field("max_token_bytes", &self.max_token_bytes)
            .field("checks", &self.checks.len())
            .field("rules", &self.rules)
            .field("any_audience", &self.any_audience)
            .finish()
    }
}

/// Builds a [`Validation`]; see there for the rules.
#[derive(Clone, Debug)]
#[must_use]
pub struct ValidationBuilder {
    inner: Validation,
}

impl ValidationBuilder {
    /// Accepts tokens whose `iss` equals this (exactly: no trailing-slash or case folding).
    /// May be called several times.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.inner.issuers.push(issuer.into());
        self
    }

    /// Accepts tokens from any of these issuers.
    pub fn issuers<I: Into<String>>(mut self, issuers: impl IntoIterator<Item = I>) -> Self {
        self.inner
            .issuers
            .extend(issuers.into_iter().map(Into::into));
        self
    }

    /// Accepts tokens whose `aud` contains this. May be called several times.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.inner.audiences.push(audience.into());
        self
    }

    /// Accepts tokens whose `aud` contains any of these.
    pub fn audiences<A: Into<String>>(mut self, audiences: impl IntoIterator<Item = A>) -> Self {
        self.inner
            .audiences
            .extend(audiences.into_iter().map(Into::into));
        self
    }

    /// Accepts tokens for any audience: the explicit decision for an API that every client of
    /// the issuer may call, or whose audience is decided by a [`rule`](Self::rule) instead of
    /// `aud` (Cognito access tokens carry their app client in `client_id` and no `aud`). Without
    /// this or an [`audience`](Self::audience), [`build`](Self::build) refuses the policy:
    /// skipping the audience check is never a silent default.
    pub fn any_audience(mut self) -> Self {
        self.inner.any_audience = true;
        self
    }

    /// Adds a typed [`ClaimRule`], run after the registered claims passed, before custom
    /// [`check`](Self::check)s.
    pub fn rule(mut self, rule: ClaimRule) -> Self {
        self.inner.rules.push(rule);
        self
    }

    /// Clock-skew leeway for `exp`, `nbf`, `iat` (default 60 s, at most 600 s; whole seconds).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.inner.leeway_secs = leeway.as_secs();
        self
    }

    /// Whether `exp` is required (default `true`; RFC 9068 requires it for access tokens).
    pub fn require_exp(mut self, required: bool) -> Self {
        self.inner.require_exp = required;
        self
    }

    /// Whether an `iat` later than now + leeway is refused (default `true`).
    pub fn reject_future_iat(mut self, reject: bool) -> Self {
        self.inner.reject_future_iat = reject;
        self
    }

    /// Requires a top-level claim to be present (e.g. `sub`, `jti`).
    pub fn require_claim(mut self, name: impl Into<String>) -> Self {
        self.inner.required_claims.push(name.into());
        self
    }

    /// Requires the header `typ` to be one of these, e.g. `["at+jwt"]` for RFC 9068 access
    /// tokens (compared case-insensitively, `application/` prefix optional).
    pub fn types<T: Into<String>>(mut self, types: impl IntoIterator<Item = T>) -> Self {
        self.inner.types.extend(types.into_iter().map(Into::into));
        self
    }

    /// Caps the token length in bytes (default 8 KiB; 256 bytes to 64 KiB).
    pub fn max_token_bytes(mut self, max: usize) -> Self {
        self.inner.max_token_bytes = max;
        self
    }

    /// Adds a custom claim check.
    pub fn check(mut self, check: impl ClaimCheck) -> Self {
        self.inner.checks.push(Arc::new(check));
        self
    }

    /// Checks the policy and builds it. Refused: no algorithm, no audience decision
    /// ([`audience`](Self::audience) or [`any_audience`](Self::any_audience)), a leeway over
    /// [`MAX_LEEWAY`], a size cap outside 256 B to 64 KiB, an empty value, more than
    /// [`MAX_REQUIRED_CLAIMS`] required claims.
    pub fn build(mut self) -> Result<Validation, ConfigError> {
        let v = &mut self.inner;
        if v.algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithms);
        }
        if v.audiences.is_empty() && !v.any_audience {
            return Err(ConfigError::NoAudienceDecision);
        }
        // Checked once here, so a verification never has to: each required claim has one bit
        // of a `u128` in the claims scan. A name listed twice counts once (and would otherwise
        // never be seen at its second place).
        let mut distinct = std::collections::HashSet::new();
        v.required_claims
            .retain(|name| distinct.insert(name.clone()));
        if v.required_claims.len() > MAX_REQUIRED_CLAIMS {
            return Err(ConfigError::TooManyRequiredClaims(v.required_claims.len()));
        }
        v.algorithms.sort();
        v.algorithms.dedup();
        if v.leeway_secs > MAX_LEEWAY.as_secs() {
            return Err(ConfigError::LeewayTooLarge(v.leeway_secs));
        }
        if !(256..=64 * 1024).contains(&v.max_token_bytes) {
            return Err(ConfigError::MaxTokenSize(v.max_token_bytes));
        }
        for (what, list) in [
            ("issuer", &v.issuers),
            ("audience", &v.audiences),
            ("type", &v.types),
            ("required claim", &v.required_claims),
        ] {
            if list.iter().any(|s| s.is_empty()) {
                return Err(ConfigError::EmptyValue(what));
            }
        }
        Ok(self.inner)
    }
}
