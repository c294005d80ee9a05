//! The verification engine: token string + policy + key source -> typed claims or a precise error.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;

use crate::algorithm::Algorithm;
use crate::b64;
use crate::claims::AccessClaims;
use crate::crypto::CryptoProvider;
use crate::error::{Error, Malformed};
use crate::header_memo::HeaderMemo;
use crate::jwk::MAX_KID_LEN;
use crate::key::VerificationKey;
use crate::scan::{self, Loose, MemberSink};
use crate::source::{KeyRequest, KeySource};
use crate::token_cache::{CacheKey, TokenCache, TokenCacheConfig, TokenCacheStats};
use crate::validation::{MAX_NUMERIC_DATE, Validation};
use crate::verified_token::{Entry, Verdict, VerifiedToken};

/// The protected header of a verified token (only the members Tollgate acts on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHeader {
    /// The signature algorithm.
    pub alg: Algorithm,
    /// The key id, if any.
    pub kid: Option<String>,
    /// The media type (`typ`), if any.
    pub typ: Option<String>,
}

/// A verified token: its claims as the application's type, and facts about it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Verified<T> {
    /// The claims.
    pub claims: T,
    /// The header (shared with the token cache).
    pub header: Arc<TokenHeader>,
    /// `exp` in seconds since the epoch, when present.
    pub expires_at: Option<i64>,
}

/// A JWS whose signature verified, before any claim is looked at. For non-JWT payloads and
/// conformance testing; applications want [`Verifier::verify`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VerifiedJws {
    /// The header.
    pub header: TokenHeader,
    /// The decoded payload bytes.
    pub payload: Vec<u8>,
}

/// Verifies tokens against a [`Validation`] policy with keys from a [`KeySource`].
///
/// Cheap to clone (one `Arc`); share one per policy across requests and threads.
///
/// ```
/// use tollgate_core::{Algorithm, CryptoProvider, KeySet, StandardClaims, Validation, Verifier,
///                     VerificationKey};
///
/// let key = VerificationKey::hmac(b"0123456789abcdef0123456789abcdef").unwrap();
/// let policy = Validation::builder([Algorithm::HS256])
///     .issuer("https://issuer.example.com")
///     .audience("my-api")
///     .build()
///     .unwrap();
/// let verifier = Verifier::new(policy, KeySet::from(key), CryptoProvider::default());
///
/// // A token signed with that secret: {"alg":"HS256"} . {"iss":..., "aud":"my-api",
/// // "sub":"user-1", "exp": 4102444800}
/// let token = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlLmNvbSIsImF1ZCI6Im15LWFwaSIsInN1YiI6InVzZXItMSIsImV4cCI6NDEwMjQ0NDgwMH0.1YFUOF9s-hTXa0XGtoQTwyKGVH3FIdXNiQiiFrX4Upw";
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// let verified = verifier.verify::<StandardClaims>(token).await.unwrap();
/// assert_eq!(verified.claims.registered.sub.as_deref(), Some("user-1"));
///
/// let err = verifier.verify::<StandardClaims>("not.a.token").await.unwrap_err();
/// assert_eq!(err.code().as_str(), "invalid_token");
/// # });
/// ```
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    validation: Validation,
    keys: Arc<dyn KeySource>,
    crypto: CryptoProvider,
    cache: Option<TokenCache>,
    headers: HeaderMemo,
    access: Arc<AccessClaims>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("validation", &self.inner.validation)
            .field("keys", &self.inner.keys)
            .field("crypto", &self.inner.crypto)
            .field("access", &self.inner.access)
            .finish()
    }
}

/// Configures a [`Verifier`]: from [`Verifier::builder`].
///
/// ```
/// use tollgate_core::{AccessClaims, Algorithm, ClaimPath, CryptoProvider, KeySet,
///                     TokenCacheConfig, Validation, Verifier, VerificationKey};
///
/// let key = VerificationKey::hmac([7u8; 32])?;
/// let policy = Validation::builder([Algorithm::HS256]).audience("my-api").build()?;
/// let verifier = Verifier::builder(policy, KeySet::from(key), CryptoProvider::default())
///     .access_claims(AccessClaims::default().roles_at([ClaimPath::new("groups")?]))
///     .token_cache(Some(TokenCacheConfig::default()))
///     .build();
/// assert_eq!(verifier.access_claims().role_paths()[0].as_str(), "groups");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub struct VerifierBuilder {
    validation: Validation,
    keys: Arc<dyn KeySource>,
    crypto: CryptoProvider,
    cache: Option<TokenCacheConfig>,
    access: AccessClaims,
}

impl fmt::Debug for VerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierBuilder")
            .field("validation", &self.validation)
            .field("keys", &self.keys)
            .field("access", &self.access)
            .finish_non_exhaustive()
    }
}

impl VerifierBuilder {
    /// Where roles and scopes are read (default [`AccessClaims::default`]).
    pub fn access_claims(mut self, access: AccessClaims) -> Self {
        self.access = access;
        self
    }

    /// The verified-token cache (`None` turns it off; default [`TokenCacheConfig::default`]).
    pub fn token_cache(mut self, config: Option<TokenCacheConfig>) -> Self {
        self.cache = config;
        self
    }

    /// Builds the verifier. When the policy lists no issuer and the key source knows its
    /// issuer ([`KeySource::issuer`]), the policy is bound to that issuer.
    pub fn build(self) -> Verifier {
        let mut validation = self.validation;
        if validation.issuers.is_empty()
            && let Some(issuer) = self.keys.issuer()
        {
            validation.issuers.push(issuer.to_owned());
        }
        Verifier {
            inner: Arc::new(Inner {
                validation,
                keys: self.keys,
                crypto: self.crypto,
                cache: self.cache.and_then(TokenCache::new),
                headers: HeaderMemo::default(),
                access: Arc::new(self.access),
            }),
        }
    }
}

/// What the verified-token cache says about a token.
enum Lookup {
    /// Cached: verified, or refused by the time rules re-applied now.
    Hit(Result<Arc<Entry>, Error>),
    /// Not cached; the token's cache key when it may be cached.
    Miss(Option<CacheKey>),
}

/// Pieces of a compact JWS, borrowed from the token.
pub(crate) struct Parts<'t> {
    pub(crate) header: &'t str,
    pub(crate) payload: &'t str,
    pub(crate) signature: &'t str,
    pub(crate) signing_input: &'t str,
}

/// Checks the size cap and splits a compact JWS into exactly three segments (bounded: a fourth
/// `.` is refused without scanning further); the header must not be empty.
pub(crate) fn split(token: &str, max: usize) -> Result<Parts<'_>, Error> {
    if token.len() > max {
        return Err(Error::TokenTooLarge {
            size: token.len(),
            max,
        });
    }
    let mut segments = token.splitn(4, '.');
    let (Some(header), Some(payload), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(Malformed::Segments.into());
    };
    if header.is_empty() {
        return Err(Malformed::EmptySegment.into());
    }
    let signing_input = &token[..header.len() + 1 + payload.len()];
    Ok(Parts {
        header,
        payload,
        signature,
        signing_input,
    })
}

#[derive(Default)]
struct HeaderSink<'a> {
    alg: Option<Loose<'a>>,
    kid: Option<Loose<'a>>,
    typ: Option<Loose<'a>>,
    cty: Option<Loose<'a>>,
    b64: Option<Loose<'a>>,
    crit: bool,
}

impl<'a> MemberSink<'a> for HeaderSink<'a> {
    fn wants(&self, name: &str) -> bool {
        matches!(name, "alg" | "kid" | "typ" | "cty" | "b64")
    }

    fn member(&mut self, name: &str, value: Option<Loose<'a>>) -> Result<(), String> {
        match name {
            "alg" => self.alg = value,
            "kid" => self.kid = value,
            "typ" => self.typ = value,
            "cty" => self.cty = value,
            "b64" => self.b64 = value,
            "crit" => self.crit = true,
            // jku, x5u, jwk, x5c, x5t: never used to find a key; skipped unparsed.
            _ => {}
        }
        Ok(())
    }
}

/// Scans a decoded header or payload into `sink`: a duplicate member name is
/// [`Malformed::DuplicateMember`], anything else wrong is `invalid`.
pub(crate) fn scan_json<'de, S: MemberSink<'de>>(
    json: &'de [u8],
    sink: &mut S,
    invalid: Malformed,
) -> Result<(), Error> {
    scan::scan_object(json, sink).map_err(|err| {
        if scan::is_duplicate(&err) {
            Malformed::DuplicateMember.into()
        } else {
            invalid.into()
        }
    })
}

fn optional_string(value: Option<Loose<'_>>) -> Result<Option<String>, Error> {
    match value {
        None => Ok(None),
        Some(Loose::Str(s)) => Ok(Some(s.into_owned())),
        Some(_) => Err(Malformed::Header.into()),
    }
}

fn parse_header(parts: &Parts<'_>, validation: &Validation) -> Result<TokenHeader, Error> {
    let json = b64::decode(parts.header).ok_or(Malformed::Base64)?;
    let mut sink = HeaderSink::default();
    scan_json(&json, &mut sink, Malformed::Header)?;
    let alg = match sink.alg {
        Some(Loose::Str(alg)) => alg,
        _ => return Err(Malformed::Header.into()),
    };
    if alg.eq_ignore_ascii_case("none") {
        return Err(Error::AlgNone {
            alg: alg.into_owned(),
        });
    }
    let alg = match Algorithm::from_name(&alg) {
        Some(known) if validation.allows(known) => known,
        _ => {
            return Err(Error::AlgorithmNotAllowed {
                alg: alg.into_owned(),
                allowed: validation.algorithms.clone(),
            });
        }
    };
    if sink.crit {
        return Err(Error::CriticalHeader);
    }
    match sink.b64 {
        None | Some(Loose::Bool(true)) => {}
        Some(_) => return Err(Error::UnsupportedHeader("unencoded payload (b64)")),
    }
    let cty = optional_string(sink.cty)?;
    if cty.as_deref().is_some_and(|c| {
        // `JWT` or `application/JWT` (RFC 7515 4.1.10: the prefix may be omitted).
        let bare = match c.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &c[12..],
            _ => c,
        };
        bare.eq_ignore_ascii_case("JWT")
    }) {
        return Err(Error::UnsupportedHeader("nested JWT (cty: JWT)"));
    }
    let kid = optional_string(sink.kid)?;
    if kid.as_ref().is_some_and(|k| k.len() > MAX_KID_LEN) {
        return Err(Malformed::KidTooLong.into());
    }
    let typ = optional_string(sink.typ)?;
    if !validation.type_accepted(typ.as_deref()) {
        return Err(Error::WrongType {
            expected: validation.types.clone(),
            actual: typ,
        });
    }
    Ok(TokenHeader { alg, kid, typ })
}

/// The registered claims as scanned, plus which required claims were seen.
#[derive(Default)]
struct ClaimsSink<'a> {
    exp: Option<Loose<'a>>,
    nbf: Option<Loose<'a>>,
    iat: Option<Loose<'a>>,
    iss: Option<Loose<'a>>,
    aud: Option<Loose<'a>>,
    sub: Option<Loose<'a>>,
    /// The policy's required claims, borrowed: a verification allocates nothing of the policy.
    required: &'a [String],
    /// Bit i set when `required[i]` was present.
    required_seen: u128,
}

impl<'a> MemberSink<'a> for ClaimsSink<'a> {
    fn wants(&self, name: &str) -> bool {
        matches!(name, "exp" | "nbf" | "iat" | "iss" | "aud" | "sub")
    }

    fn member(&mut self, name: &str, value: Option<Loose<'a>>) -> Result<(), String> {
        match name {
            "exp" => self.exp = value,
            "nbf" => self.nbf = value,
            "iat" => self.iat = value,
            "iss" => self.iss = value,
            "aud" => self.aud = value,
            "sub" => self.sub = value,
            _ => {}
        }
        if let Some(index) = self.required.iter().position(|r| r == name) {
            self.required_seen |= 1u128 << index.min(127);
        }
        Ok(())
    }
}

/// A NumericDate (RFC 7519 2): a JSON number, finite, in range. Returns (floor, ceil).
fn numeric_date(claim: &str, value: &Loose<'_>) -> Result<(i64, i64), Error> {
    let invalid = |reason: String| Error::InvalidClaim {
        claim: claim.to_owned(),
        reason,
    };
    match value {
        Loose::Number(n) if n.is_finite() && *n >= 0.0 && *n <= MAX_NUMERIC_DATE as f64 => {
            Ok((n.floor() as i64, n.ceil() as i64))
        }
        Loose::Number(_) => Err(invalid("NumericDate out of range".into())),
        other => Err(invalid(format!(
            "must be a JSON number, not {}",
            other.kind()
        ))),
    }
}

/// The time claims of a verified token, ready to be re-checked at any instant.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TimeClaims {
    /// `exp`, floored.
    pub(crate) exp: Option<i64>,
    /// `nbf`, rounded up.
    pub(crate) nbf: Option<i64>,
    /// `iat`, rounded up.
    pub(crate) iat: Option<i64>,
}

impl TimeClaims {
    /// Applies the policy's time rules at `now`.
    pub(crate) fn check(&self, validation: &Validation, now: i64) -> Result<(), Error> {
        let leeway = validation.leeway_secs;
        let leeway_i = leeway as i64;
        if let Some(exp) = self.exp
            && now >= exp.saturating_add(leeway_i)
        {
            return Err(Error::Expired { exp, now, leeway });
        }
        if let Some(nbf) = self.nbf
            && now.saturating_add(leeway_i) < nbf
        {
            return Err(Error::NotYetValid { nbf, now, leeway });
        }
        if let Some(iat) = self.iat
            && validation.reject_future_iat
            && iat > now.saturating_add(leeway_i)
        {
            return Err(Error::IssuedInFuture { iat, now, leeway });
        }
        Ok(())
    }
}

fn check_claims(
    sink: &ClaimsSink<'_>,
    validation: &Validation,
    now: i64,
) -> Result<TimeClaims, Error> {
    let exp = match &sink.exp {
        Some(value) => Some(numeric_date("exp", value)?.0),
        None if validation.require_exp => return Err(Error::MissingClaim("exp".into())),
        None => None,
    };
    let times = TimeClaims {
        exp,
        nbf: sink
            .nbf
            .as_ref()
            .map(|v| numeric_date("nbf", v))
            .transpose()?
            .map(|(_, ceil)| ceil),
        iat: sink
            .iat
            .as_ref()
            .map(|v| numeric_date("iat", v))
            .transpose()?
            .map(|(_, ceil)| ceil),
    };
    times.check(validation, now)?;

    let iss = match &sink.iss {
        None => None,
        Some(Loose::Str(iss)) => Some(iss.as_ref()),
        Some(other) => {
            return Err(Error::InvalidClaim {
                claim: "iss".into(),
                reason: format!("must be a string, not {}", other.kind()),
            });
        }
    };
    if !validation.issuers.is_empty() {
        let iss = iss.ok_or_else(|| Error::MissingClaim("iss".into()))?;
        if !validation.issuers.iter().any(|accepted| accepted == iss) {
            return Err(Error::WrongIssuer {
                expected: validation.issuers.clone(),
                actual: iss.to_owned(),
            });
        }
    }

    let audiences: Vec<&str> = match &sink.aud {
        None => Vec::new(),
        Some(Loose::Str(aud)) => vec![aud.as_ref()],
        Some(Loose::Strings(auds)) => auds.iter().map(|a| a.as_ref()).collect(),
        Some(other) => {
            return Err(Error::InvalidClaim {
                claim: "aud".into(),
                reason: format!(
                    "must be a string or an array of strings, not {}",
                    other.kind()
                ),
            });
        }
    };
    if !validation.audiences.is_empty() {
        if sink.aud.is_none() {
            return Err(Error::MissingClaim("aud".into()));
        }
        if !audiences
            .iter()
            .any(|aud| validation.audiences.iter().any(|accepted| accepted == aud))
        {
            return Err(Error::WrongAudience {
                expected: validation.audiences.clone(),
                actual: audiences.iter().map(|a| (*a).to_owned()).collect(),
            });
        }
    }

    if let Some(sub) = &sink.sub
        && !matches!(sub, Loose::Str(_))
    {
        return Err(Error::InvalidClaim {
            claim: "sub".into(),
            reason: format!("must be a string, not {}", sub.kind()),
        });
    }

    for (index, name) in validation.required_claims.iter().enumerate() {
        if sink.required_seen & (1u128 << index.min(127)) == 0 {
            return Err(Error::MissingClaim(name.clone()));
        }
    }
    Ok(times)
}

/// The policy's custom checks, on a miss and again on every cache hit: a check may read outside
/// state (a denylist), so its verdict is never cached. Typed [`ClaimRule`](crate::ClaimRule)s
/// are functions of the claims and time only, and a rule that passed stays passed, so their
/// verdict is kept with the cached token.
fn run_checks(
    validation: &Validation,
    claims: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), Error> {
    for check in &validation.checks {
        check.check(claims).map_err(Error::ClaimCheck)?;
    }
    Ok(())
}

fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

impl Verifier {
    /// A verifier for `validation` with keys from `keys`, checking signatures with `crypto`;
    /// the defaults of [`Verifier::builder`].
    pub fn new(validation: Validation, keys: impl KeySource, crypto: CryptoProvider) -> Self {
        Verifier::builder(validation, keys, crypto).build()
    }

    /// Like [`Verifier::new`] with a key source already shared elsewhere.
    pub fn with_shared_keys(
        validation: Validation,
        keys: Arc<dyn KeySource>,
        crypto: CryptoProvider,
    ) -> Self {
        Verifier::builder_shared(validation, keys, crypto).build()
    }

    /// Configures a verifier: where roles and scopes live, the verified-token cache.
    pub fn builder(
        validation: Validation,
        keys: impl KeySource,
        crypto: CryptoProvider,
    ) -> VerifierBuilder {
        Verifier::builder_shared(validation, Arc::new(keys), crypto)
    }

    /// Like [`Verifier::builder`] with a key source already shared elsewhere.
    pub fn builder_shared(
        validation: Validation,
        keys: Arc<dyn KeySource>,
        crypto: CryptoProvider,
    ) -> VerifierBuilder {
        VerifierBuilder {
            validation,
            keys,
            crypto,
            cache: Some(TokenCacheConfig::default()),
            access: AccessClaims::default(),
        }
    }

    /// Where this verifier's tokens carry roles and scopes.
    pub fn access_claims(&self) -> &AccessClaims {
        &self.inner.access
    }

    /// The same verifier with roles and scopes read elsewhere (a new verifier: its own token
    /// cache, empty).
    pub fn with_access_claims(self, access: AccessClaims) -> Self {
        let inner = &self.inner;
        Verifier {
            inner: Arc::new(Inner {
                validation: inner.validation.clone(),
                keys: inner.keys.clone(),
                crypto: inner.crypto,
                cache: inner
                    .cache
                    .as_ref()
                    .and_then(|c| TokenCache::new(c.config())),
                headers: HeaderMemo::default(),
                access: Arc::new(access),
            }),
        }
    }

    /// The policy.
    pub fn validation(&self) -> &Validation {
        &self.inner.validation
    }

    /// The key source.
    pub fn keys(&self) -> &Arc<dyn KeySource> {
        &self.inner.keys
    }

    /// Replaces the verified-token cache configuration (`None` turns caching off). On by
    /// default with [`TokenCacheConfig::default`]. Call before sharing the verifier: clones made
    /// earlier keep the old cache.
    pub fn with_token_cache(self, config: Option<TokenCacheConfig>) -> Self {
        let inner = &self.inner;
        let cache = config.and_then(TokenCache::new);
        Verifier {
            inner: Arc::new(Inner {
                validation: inner.validation.clone(),
                keys: inner.keys.clone(),
                crypto: inner.crypto,
                cache,
                headers: HeaderMemo::default(),
                access: inner.access.clone(),
            }),
        }
    }

    /// Hits, misses and size of the verified-token cache (`None` when caching is off).
    pub fn token_cache_stats(&self) -> Option<TokenCacheStats> {
        self.inner.cache.as_ref().map(TokenCache::stats)
    }

    /// Verifies a token now and deserializes its claims into `T`.
    pub async fn verify<T: DeserializeOwned>(&self, token: &str) -> Result<Verified<T>, Error> {
        self.verify_at(token, SystemTime::now()).await
    }

    /// Verifies a token as of `now` (for tests and for explaining a past rejection).
    pub async fn verify_at<T: DeserializeOwned>(
        &self,
        token: &str,
        now: SystemTime,
    ) -> Result<Verified<T>, Error> {
        let entry = self.verified_entry(token, unix_seconds(now)).await?;
        let claims = serde_json::from_slice::<T>(&entry.payload)
            .map_err(|e| Error::ClaimsShape(e.to_string()))?;
        Ok(Verified {
            claims,
            header: entry.header.clone(),
            expires_at: entry.times.exp,
        })
    }

    /// Verifies a token now; the claims come as an `Arc<T>` shared with later verifications of
    /// the same token, so a cache hit costs no deserialization.
    pub async fn verify_shared<T>(&self, token: &str) -> Result<Verified<Arc<T>>, Error>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        let verified = self.verify_token(token).await?;
        Ok(Verified {
            claims: verified.claims::<T>()?,
            header: verified.shared_header(),
            expires_at: verified.expires_at(),
        })
    }

    /// Verifies a token now, leaving the claims undecoded until asked for
    /// ([`VerifiedToken::claims`], [`VerifiedToken::claims_json`]). With the cache on, every
    /// verification of the same token string shares one [`VerifiedToken`]. What the tower layer
    /// uses.
    pub async fn verify_token(&self, token: &str) -> Result<VerifiedToken, Error> {
        self.verified_entry(token, unix_seconds(SystemTime::now()))
            .await
            .map(VerifiedToken::from_entry)
    }

    /// Answers from the verified-token cache alone, synchronously: `Some` when the token is
    /// cached (verified, or refused because it has expired since), `None` when it has to be
    /// verified in full with [`Verifier::verify_token`]. Lets a caller skip setting up an async
    /// verification on the hot path.
    pub fn cached(&self, token: &str) -> Option<Result<VerifiedToken, Error>> {
        match self.lookup(token, unix_seconds(SystemTime::now())) {
            Lookup::Hit(result) => Some(result.map(VerifiedToken::from_entry)),
            Lookup::Miss(_) => None,
        }
    }

    /// Verifies `token` if that needs no waiting: `Some` for a cached token and for a full
    /// verification whose key the key source already holds (a [`KeySet`](crate::KeySet), a JWKS
    /// cache that is fresh), `None` when the key source has to fetch first (then call
    /// [`Verifier::verify_token`]). Lets the tower layer decide most requests inside
    /// `Service::call`, with no future to box.
    pub fn verify_now(&self, token: &str) -> Option<Result<VerifiedToken, Error>> {
        // A hit needs no future at all; a miss goes on with the key already computed.
        let now = unix_seconds(SystemTime::now());
        let key = match self.lookup(token, now) {
            Lookup::Hit(result) => return Some(result.map(VerifiedToken::from_entry)),
            Lookup::Miss(key) => key,
        };
        let future = std::pin::pin!(self.verify_missed(token, now, key));
        // A key source that must fetch returns Pending; the abandoned attempt is dropped before
        // anything was counted or cached, and the caller starts the verification again.
        match future.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(result) => Some(result.map(VerifiedToken::from_entry)),
            Poll::Pending => None,
        }
    }

    /// The cache's answer for `token` at `now`.
    fn lookup(&self, token: &str, now: i64) -> Lookup {
        let inner = &*self.inner;
        let Some(cache) = &inner.cache else {
            return Lookup::Miss(None);
        };
        let Some(key) = cache.key(token) else {
            return Lookup::Miss(None);
        };
        let Some(entry) = cache.get(key, token, now) else {
            return Lookup::Miss(Some(key));
        };
        // A cached token is accepted only while its key would be: the key source may have failed
        // closed since (keys past their stale window), and then the token goes the full way.
        if !inner.keys.still_trusted() {
            return Lookup::Miss(Some(key));
        }
        if let Err(err) = entry.times.check(&inner.validation, now) {
            if matches!(err, Error::Expired { .. }) {
                cache.remove(key);
            }
            return Lookup::Hit(Err(err));
        }
        if let Err(err) = run_checks(&inner.validation, &entry.json) {
            return Lookup::Hit(Err(err));
        }
        Lookup::Hit(Ok(entry))
    }

    /// The verified token, from the cache when possible.
    async fn verified_entry(&self, token: &str, now: i64) -> Result<Arc<Entry>, Error> {
        match self.lookup(token, now) {
            Lookup::Hit(result) => result,
            Lookup::Miss(key) => self.verify_missed(token, now, key).await,
        }
    }

    /// Every check for a token the cache did not answer; caches it when admitted.
    async fn verify_missed(
        &self,
        token: &str,
        now: i64,
        key: Option<CacheKey>,
    ) -> Result<Arc<Entry>, Error> {
        let inner = &*self.inner;
        let outcome = self.verify_full(token, now).await;
        // Counted once the verification is over, so a verification abandoned while waiting for
        // keys (see `verify_now`) is not counted twice.
        if let Some(cache) = &inner.cache {
            cache.record_miss();
        }
        let (verdict, verified_with) = outcome?;
        match (&inner.cache, key) {
            (Some(cache), Some(key)) if cache.admit(key) => Ok(cache.insert(
                key,
                token,
                verdict,
                inner.validation.leeway_secs,
                &verified_with,
                now,
            )),
            _ => Ok(Arc::new(Entry::new(
                Box::default(),
                verdict,
                i64::MIN,
                Weak::new(),
            ))),
        }
    }

    /// Every check, without the cache.
    async fn verify_full(
        &self,
        token: &str,
        now: i64,
    ) -> Result<(Verdict, Arc<VerificationKey>), Error> {
        let validation = &self.inner.validation;
        let (header, payload, key) = self.verify_jws_parts(token).await?;
        let mut sink = ClaimsSink {
            required: &validation.required_claims,
            ..ClaimsSink::default()
        };
        scan_json(&payload, &mut sink, Malformed::Payload)?;
        let times = check_claims(&sink, validation, now)?;
        drop(sink);
        // Every view of the token is built from this one parse (the scan above skipped members
        // it does not need without reading them): a member the JSON view cannot hold (a lone
        // surrogate, a number beyond f64, nesting past serde_json's limit) refuses the token
        // instead of leaving an authenticated request with no visible claims.
        let json: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&payload).map_err(|_| Malformed::UnreadableClaims)?;
        for rule in &validation.rules {
            rule.check(&json, now, validation.leeway_secs)?;
        }
        run_checks(validation, &json)?;
        let verdict = Verdict {
            header,
            payload,
            times,
            json,
            access: self.inner.access.clone(),
        };
        Ok((verdict, key))
    }

    /// Checks structure, header and signature only: no claim is looked at. The payload may be
    /// any bytes. For conformance testing and non-JWT JWS payloads.
    pub async fn verify_signature(&self, token: &str) -> Result<VerifiedJws, Error> {
        let (header, payload, _) = self.verify_jws_parts(token).await?;
        Ok(VerifiedJws {
            header: TokenHeader::clone(&header),
            payload,
        })
    }

    async fn verify_jws_parts(
        &self,
        token: &str,
    ) -> Result<(Arc<TokenHeader>, Vec<u8>, Arc<VerificationKey>), Error> {
        let inner = &*self.inner;
        let parts = split(token, inner.validation.max_token_bytes)?;
        let remembered = inner.headers.get(parts.header);
        let seen_before = remembered.is_some();
        let header = match remembered {
            Some(header) => header,
            None => Arc::new(parse_header(&parts, &inner.validation)?),
        };
        if parts.signature.is_empty() {
            return Err(Malformed::EmptySegment.into());
        }
        let signature_len = b64::decoded_len(parts.signature.len()).ok_or(Malformed::Base64)?;
        if header
            .alg
            .fixed_signature_len()
            .is_some_and(|len| len != signature_len)
        {
            return Err(Malformed::SignatureLength.into());
        }
        let key = inner
            .keys
            .key(KeyRequest {
                kid: header.kid.as_deref(),
                alg: header.alg,
            })
            .await?;
        // Defence in depth: a custom key source must not hand back a key of the wrong kind.
        if let Err(reason) = key.permits(header.alg) {
            return Err(Error::KeyAlgorithmMismatch {
                alg: header.alg,
                reason,
            });
        }
        // Payload and signature are decoded only now: a token without a usable key costs no
        // decoding, and buffers that never live across an await are not part of the future.
        // Every signature of a key up to RSA-4096 fits on the stack.
        let payload = b64::decode(parts.payload).ok_or(Malformed::Base64)?;
        let mut on_stack = [0u8; 512];
        let on_heap;
        let signature: &[u8] = match on_stack.get_mut(..signature_len) {
            Some(buffer) => {
                let written = b64::decode_into(parts.signature, buffer).ok_or(Malformed::Base64)?;
                &buffer[..written]
            }
            None => {
                on_heap = b64::decode(parts.signature).ok_or(Malformed::Base64)?;
                &on_heap
            }
        };
        if !inner
            .crypto
            .verify(header.alg, &key, parts.signing_input.as_bytes(), signature)
        {
            return Err(Error::InvalidSignature);
        }
        if !seen_before {
            inner.headers.remember(parts.header, &header);
        }
        Ok((header, payload, key))
    }
}
