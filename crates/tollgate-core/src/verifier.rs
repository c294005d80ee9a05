//! The verification engine: token string + policy + key source -> a verified token or a precise
//! error, in two phases: everything up to the key request and, once the key is at hand, the
//! signature and the claims. Reads bottom-up from `jws` (split, header) and
//! `registered` (claims checks).

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Weak};
use std::time::SystemTime;

use crate::b64;
use crate::bearer;
use crate::claims::AccessClaims;
use crate::clock::{Clock, TimeSource};
use crate::crypto::CryptoProvider;
use crate::error::{Error, Malformed};
use crate::header_memo::HeaderMemo;
use crate::jws::{self, Opened, TokenHeader};
use crate::key::VerificationKey;
use crate::registered::{self, ClaimsSink};
use crate::revocation::{FailureMode, RevocationCheck, Screen};
use crate::scan::{self, Unwanted};
use crate::source::{KeyRequest, KeyResult, KeySource};
use crate::telemetry::VerificationCounters;
use crate::token_cache::{CacheKey, TokenCache, TokenCacheConfig, TokenCacheStats};
use crate::token_verifier::{PendingVerification, TokenVerifier, Verification, VerificationFuture};
use crate::validation::Validation;
use crate::verified_token::{Entry, Verdict, VerifiedToken};

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
/// let verified = verifier.verify(token).await.unwrap();
/// let claims = verified.claims::<StandardClaims>().unwrap();
/// assert_eq!(claims.registered.sub.as_deref(), Some("user-1"));
///
/// let err = verifier.verify("not.a.token").await.unwrap_err();
/// assert_eq!(err.code().as_str(), "invalid_token");
/// # });
/// ```
///
/// # Two phases
/// [`start`](Verifier::start) decides synchronously whatever needs no waiting: the cache, the
/// size cap, the split, the header, the key lookup when the key source has the key at hand
/// (a [`KeySet`](crate::KeySet), a fresh JWKS cache) and the signature and claims after it.
/// Only when the key source has to wait does it return a [`PendingVerification`], a `'static`
/// future owning the token, which alone polls the key source. [`verify`](Verifier::verify)
/// and [`verify_at`](Verifier::verify_at) are that plus an `.await`.
///
/// # One result
/// Every entry point yields a [`VerifiedToken`]: the claims are deserialized on demand, as any
/// type and shared per type with later verifications of the same token (a cache hit parses
/// nothing), or read as JSON. Checking a signature without any claim (non-JWT payloads,
/// conformance tests) is not authentication and is not a `Verifier` method: see
/// [`signature::verify_signature`](crate::signature::verify_signature).
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    validation: Validation,
    keys: Arc<dyn KeySource>,
    crypto: CryptoProvider,
    cache: Option<Arc<TokenCache>>,
    headers: HeaderMemo,
    access: Arc<AccessClaims>,
    revocation: Option<Screen>,
    clock: TimeSource,
    counters: Arc<VerificationCounters>,
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
    revocation: Option<Screen>,
    clock: TimeSource,
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

    /// Checks every token this verifier accepts for revocation, cache hits included (the cache
    /// may skip the signature, never this check); when `check` cannot answer, `mode` decides
    /// (fail closed, 503, by default). See [`revocation`](crate::revocation).
    ///
    /// ```
    /// use tollgate_core::revocation::{FailureMode, RevocationList};
    /// use tollgate_core::{Algorithm, CryptoProvider, Error, KeySet, Validation, Verifier,
    ///                     VerificationKey};
    ///
    /// let revoked = RevocationList::new();
    /// let key = VerificationKey::hmac(b"0123456789abcdef0123456789abcdef")?;
    /// let policy = Validation::builder([Algorithm::HS256]).audience("my-api").build()?;
    /// let verifier = Verifier::builder(policy, KeySet::from(key), CryptoProvider::default())
    ///     .revocation(revoked.clone(), FailureMode::FailClosed)
    ///     .build();
    /// // sub "user-1", no iat: once the subject is revoked, it cannot show it is newer.
    /// let token = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlLmNvbSIsImF1ZCI6Im15LWFwaSIsInN1YiI6InVzZXItMSIsImV4cCI6NDEwMjQ0NDgwMH0.1YFUOF9s-hTXa0XGtoQTwyKGVH3FIdXNiQiiFrX4Upw";
    /// # let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// assert!(rt.block_on(verifier.verify(token)).is_ok());
    /// revoked.revoke_subject("user-1", 1_700_000_000);
    /// let err = rt.block_on(verifier.verify(token)).unwrap_err();
    /// assert!(matches!(err, Error::Revoked(_)));
    /// assert_eq!(err.public_description(), "the access token was revoked");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn revocation(mut self, check: impl RevocationCheck, mode: FailureMode) -> Self {
        self.revocation = Some(Screen::new(Arc::new(check), mode));
        self
    }

    /// The clock tokens are judged by (default the system clock): a
    /// [`ManualClock`](crate::clock::ManualClock) tests expiry, `nbf`, leeway and cache
    /// lifetimes without sleeping. [`verify_at`](Verifier::verify_at) still uses the instant it
    /// is given.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = TimeSource::new(clock);
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
                cache: self.cache.and_then(TokenCache::new).map(Arc::new),
                headers: HeaderMemo::default(),
                access: Arc::new(self.access),
                revocation: self.revocation,
                clock: self.clock,
                counters: Arc::default(),
            }),
        }
    }
}

/// What the verified-token cache says about a token.
pub(crate) enum Lookup {
    /// Cached: verified, or refused by the time rules re-applied now.
    Hit(Result<Arc<Entry>, Error>),
    /// Not cached; the token's cache key when it may be cached.
    Miss(Option<CacheKey>),
}

/// The cache a verification was not answered from: it counts the miss and, when the token may
/// be cached (`key`), admits it on its second sighting, as verified by `origin`.
#[derive(Clone, Copy)]
pub(crate) struct Missed<'c> {
    pub(crate) cache: &'c Arc<TokenCache>,
    pub(crate) key: Option<CacheKey>,
    pub(crate) origin: usize,
}

impl Verifier {
    /// A verifier for `validation` with keys from `keys`, checking signatures with `crypto`;
    /// the defaults of [`Verifier::builder`].
    pub fn new(validation: Validation, keys: impl KeySource, crypto: CryptoProvider) -> Self {
        Verifier::builder(validation, keys, crypto).build()
    }

    /// Configures a verifier: where roles and scopes live, the verified-token cache.
    ///
    /// `keys` is any [`KeySource`]; a key source already shared elsewhere is passed as its
    /// `Arc<dyn KeySource>` and used as is (not wrapped in a second `Arc`), so every verifier
    /// built from it sees the same keys.
    pub fn builder(
        validation: Validation,
        keys: impl KeySource,
        crypto: CryptoProvider,
    ) -> VerifierBuilder {
        VerifierBuilder {
            validation,
            keys: shared(keys),
            crypto,
            cache: Some(TokenCacheConfig::default()),
            access: AccessClaims::default(),
            revocation: None,
            clock: TimeSource::default(),
        }
    }

    /// Where this verifier's tokens carry roles and scopes.
    pub fn access_claims(&self) -> &AccessClaims {
        &self.inner.access
    }

    /// The policy.
    pub fn validation(&self) -> &Validation {
        &self.inner.validation
    }

    /// The key source.
    pub fn keys(&self) -> &Arc<dyn KeySource> {
        &self.inner.keys
    }

    /// Hits, misses and size of the verified-token cache (`None` when caching is off).
    pub fn token_cache_stats(&self) -> Option<TokenCacheStats> {
        self.inner.cache.as_deref().map(TokenCache::stats)
    }

    /// Whether this verifier caches verified tokens.
    pub(crate) fn caches_tokens(&self) -> bool {
        self.inner.cache.is_some()
    }

    /// Verifies a token now. The claims are decoded when asked for, as any type
    /// ([`VerifiedToken::claims`], shared per type) or as JSON ([`VerifiedToken::claims_json`]);
    /// with the cache on, every verification of the same token string shares one
    /// [`VerifiedToken`]. The future owns what it needs (`'static`): it is
    /// [`start`](Self::start), awaited.
    pub fn verify(&self, token: &str) -> VerificationFuture {
        self.start(token).into_future()
    }

    /// Verifies a token as of `now` (for tests, tools and explaining a past rejection); the
    /// same as [`verify`](Self::verify) otherwise, cache included.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use tollgate_core::{Algorithm, CryptoProvider, KeySet, Validation, Verifier,
    ///                     VerificationKey};
    ///
    /// let key = VerificationKey::hmac(b"0123456789abcdef0123456789abcdef")?;
    /// let policy = Validation::builder([Algorithm::HS256]).audience("my-api").build()?;
    /// let verifier = Verifier::new(policy, KeySet::from(key), CryptoProvider::default());
    /// // exp is 4102444800 (2100-01-01).
    /// let token = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlLmNvbSIsImF1ZCI6Im15LWFwaSIsInN1YiI6InVzZXItMSIsImV4cCI6NDEwMjQ0NDgwMH0.1YFUOF9s-hTXa0XGtoQTwyKGVH3FIdXNiQiiFrX4Upw";
    /// let after = UNIX_EPOCH + Duration::from_secs(4_102_444_800 + 3600);
    /// # let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// let err = rt.block_on(verifier.verify_at(token, after)).unwrap_err();
    /// assert_eq!(err.code().as_str(), "invalid_token");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify_at(&self, token: &str, now: SystemTime) -> VerificationFuture {
        self.start_at(token, registered::unix_seconds(now))
            .into_future()
    }

    /// Starts verifying `token` now: [`Verification::Done`] for a cached token and for every
    /// verification whose key the key source has at hand (a [`KeySet`](crate::KeySet), a JWKS
    /// cache that is fresh) or that is refused before the key lookup;
    /// [`Verification::Pending`] when the key source has to wait (a fetch), as a `'static`
    /// future that owns the token and is the only thing that polls the key source. What the
    /// tower layer calls in `Service::call`: most requests are decided there, with no future.
    ///
    /// ```
    /// use tollgate_core::{Algorithm, CryptoProvider, KeySet, Validation, Verification, Verifier,
    ///                     VerificationKey};
    ///
    /// let key = VerificationKey::hmac(b"0123456789abcdef0123456789abcdef")?;
    /// let policy = Validation::builder([Algorithm::HS256]).audience("my-api").build()?;
    /// let verifier = Verifier::new(policy, KeySet::from(key), CryptoProvider::default());
    /// let token = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlLmNvbSIsImF1ZCI6Im15LWFwaSIsInN1YiI6InVzZXItMSIsImV4cCI6NDEwMjQ0NDgwMH0.1YFUOF9s-hTXa0XGtoQTwyKGVH3FIdXNiQiiFrX4Upw";
    /// let Verification::Done(Ok(verified)) = verifier.start(token) else { unreachable!() };
    /// assert_eq!(verified.subject(), Some("user-1"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start(&self, token: &str) -> Verification {
        self.start_at(token, self.inner.clock.now())
    }

    /// The verified-token cache's answer alone, with no other effect (no verification, no
    /// count): `Some` when the token is cached (verified, or refused because it has expired
    /// since). For tests ([`testing::cached`](crate::testing::cached)); requests go through
    /// [`start`](Self::start), which answers a cached token the same way.
    #[cfg(feature = "testing")]
    pub(crate) fn cached(&self, token: &str) -> Option<Result<VerifiedToken, Error>> {
        let cache = self.inner.cache.as_ref()?;
        match self.lookup(cache, token.as_bytes(), self.inner.clock.now()) {
            Lookup::Hit(result) => Some(result.map(VerifiedToken::from_entry)),
            Lookup::Miss(_) => None,
        }
    }

    /// [`start`](Self::start) at `now` (Unix seconds).
    pub(crate) fn start_at(&self, token: &str, now: i64) -> Verification {
        self.finish(self.verification_at(token, now), now)
    }

    /// The last step of every verification of this verifier (a cache hit or a full one, also
    /// when a `MultiIssuer` routed it here): the revocation check, if any, then the count.
    pub(crate) fn finish(&self, verification: Verification, now: i64) -> Verification {
        let verification = match &self.inner.revocation {
            Some(screen) => screen.apply(verification, now),
            None => verification,
        };
        self.inner.counters.counted(verification)
    }

    /// [`start_at`](Self::start_at) before its [`finish`](Self::finish).
    pub(crate) fn verification_at(&self, token: &str, now: i64) -> Verification {
        let Ok(verification) = self.verification_of(token.as_bytes(), now, || {
            Ok::<_, std::convert::Infallible>(token)
        });
        verification
    }

    /// The verification of the token whose bytes are `presented`, at `now`: the cache's answer,
    /// else the full verification of the text `token` gives for them, or its error. A caller
    /// holding a `&str` gives it back as is; [`TokenVerifier::start_presented`] checks the
    /// `b64token` grammar there, after the cache (only verified tokens are cached, and every
    /// verified token is a `b64token`, so a hit never needs the check).
    fn verification_of<'t, E>(
        &self,
        presented: &'t [u8],
        now: i64,
        token: impl FnOnce() -> Result<&'t str, E>,
    ) -> Result<Verification, E> {
        let Some(cache) = &self.inner.cache else {
            return Ok(self.start_missed(token()?, now, None));
        };
        Ok(match self.lookup(cache, presented, now) {
            Lookup::Hit(result) => Verification::Done(result.map(VerifiedToken::from_entry)),
            Lookup::Miss(key) => self.start_missed(
                token()?,
                now,
                Some(Missed {
                    cache,
                    key,
                    origin: 0,
                }),
            ),
        })
    }

    /// The answer of `cache` (this verifier's own) for the token `token` at `now`.
    fn lookup(&self, cache: &TokenCache, token: &[u8], now: i64) -> Lookup {
        let Some(key) = cache.key(token) else {
            return Lookup::Miss(None);
        };
        match cache.get(key, token, now) {
            Some(entry) => self.judge_hit(cache, key, entry, now),
            None => Lookup::Miss(Some(key)),
        }
    }

    /// Re-applies what a cached verdict cannot settle for good: the key source's trust, the
    /// time rules at `now` and the custom checks. `entry` is the cached verification of this
    /// token by this verifier (found in `cache` under `key`).
    pub(crate) fn judge_hit(
        &self,
        cache: &TokenCache,
        key: CacheKey,
        entry: Arc<Entry>,
        now: i64,
    ) -> Lookup {
        let inner = &*self.inner;
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
        if !inner.validation.checks.is_empty()
            && let Err(err) = registered::run_checks(&inner.validation, entry.json())
        {
            return Lookup::Hit(Err(err));
        }
        Lookup::Hit(Ok(entry))
    }

    /// Every check for a token `missed` (if any) did not answer, as far as it goes without
    /// waiting; the rest as a pending verification when the key source has to wait.
    pub(crate) fn start_missed(
        &self,
        token: &str,
        now: i64,
        missed: Option<Missed<'_>>,
    ) -> Verification {
        let opened = match self.open(token) {
            Ok(opened) => opened,
            Err(err) => return Verification::Done(self.conclude(token, Err(err), now, missed)),
        };
        // A pending lookup is dropped here unpolled (the `KeySource` contract: nothing has
        // happened yet); the pending verification asks again and is the only one that waits.
        let ready = self
            .inner
            .keys
            .key(KeyRequest {
                kid: opened.header.kid.as_deref(),
                alg: opened.header.alg,
            })
            .into_ready()
            .ok();
        match ready {
            Some(key) => {
                let outcome = self.check_token(&opened, key, now);
                Verification::Done(self.conclude(token, outcome, now, missed))
            }
            None => Verification::Pending(self.pending(token, opened, now, missed)),
        }
    }

    /// The rest of a verification whose key source has to wait, owning what it needs.
    fn pending(
        &self,
        token: &str,
        opened: Opened<'_>,
        now: i64,
        missed: Option<Missed<'_>>,
    ) -> PendingVerification {
        let verifier = self.clone();
        let token: Box<str> = token.into();
        let Opened {
            header,
            header_known,
            ..
        } = opened;
        let missed = missed.map(|m| (Arc::clone(m.cache), m.key, m.origin));
        PendingVerification::new(async move {
            let key = verifier
                .inner
                .keys
                .key(KeyRequest {
                    kid: header.kid.as_deref(),
                    alg: header.alg,
                })
                .await;
            let outcome = verifier
                .reopen(&token, header, header_known)
                .and_then(|opened| verifier.check_token(&opened, key, now));
            let missed = missed.as_ref().map(|(cache, key, origin)| Missed {
                cache,
                key: *key,
                origin: *origin,
            });
            verifier.conclude(&token, outcome, now, missed)
        })
    }

    /// Phase one: the size cap, the split, the header (remembered or parsed and checked) and
    /// the signature's length; everything the key request needs.
    fn open<'t>(&self, token: &'t str) -> Result<Opened<'t>, Error> {
        let inner = &*self.inner;
        let parts = jws::split(token, inner.validation.max_token_bytes)?;
        let remembered = inner.headers.get(parts.header);
        let header_known = remembered.is_some();
        let header = match remembered {
            Some(header) => header,
            None => Arc::new(jws::parse_header(&parts, &inner.validation)?),
        };
        Self::opened(parts, header, header_known)
    }

    /// [`open`](Self::open) again for a token that was opened before (by a pending
    /// verification, which cannot keep borrows of the caller's token), keeping its header.
    fn reopen<'t>(
        &self,
        token: &'t str,
        header: Arc<TokenHeader>,
        header_known: bool,
    ) -> Result<Opened<'t>, Error> {
        let parts = jws::split(token, self.inner.validation.max_token_bytes)?;
        Self::opened(parts, header, header_known)
    }

    /// The opened token once its header is known: the signature's length checked against it.
    fn opened<'t>(
        parts: jws::Parts<'t>,
        header: Arc<TokenHeader>,
        header_known: bool,
    ) -> Result<Opened<'t>, Error> {
        let signature_len = jws::signature_len(&parts, header.alg)?;
        Ok(Opened {
            parts,
            header,
            header_known,
            signature_len,
        })
    }

    /// Phase two, once the key is known: signature, then claims.
    fn check_token(
        &self,
        opened: &Opened<'_>,
        key: KeyResult,
        now: i64,
    ) -> Result<(Verdict, Arc<VerificationKey>), Error> {
        let (payload, key) = self.check_signature(opened, key)?;
        let verdict = self.check_payload(opened.header.clone(), payload, now)?;
        Ok((verdict, key))
    }

    /// The key permits the algorithm and the signature verifies; the decoded payload.
    fn check_signature(
        &self,
        opened: &Opened<'_>,
        key: KeyResult,
    ) -> Result<(Vec<u8>, Arc<VerificationKey>), Error> {
        let inner = &*self.inner;
        let Opened {
            parts,
            header,
            header_known,
            signature_len,
        } = opened;
        let key = key?;
        // Defence in depth: a custom key source must not hand back a key of the wrong kind.
        if let Err(reason) = key.permits(header.alg) {
            return Err(Error::KeyAlgorithmMismatch {
                alg: header.alg,
                reason,
            });
        }
        // Payload and signature are decoded only now: a token without a usable key costs no
        // decoding. Every signature of a key up to RSA-4096 fits on the stack.
        let payload = b64::decode(parts.payload).ok_or(Malformed::Base64)?;
        let mut on_stack = [0u8; 512];
        let on_heap;
        let signature: &[u8] = match on_stack.get_mut(..*signature_len) {
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
        if !header_known {
            inner.headers.remember(parts.header, header);
        }
        Ok((payload, key))
    }

    /// The registered claims, rules and checks of a payload whose signature verified.
    fn check_payload(
        &self,
        header: Arc<TokenHeader>,
        payload: Vec<u8>,
        now: i64,
    ) -> Result<Verdict, Error> {
        let validation = &self.inner.validation;
        let mut sink = ClaimsSink::new(validation);
        // The scan reads every member as strictly as the JSON view will, so every view of an
        // accepted token, built now or later, sees the same claims.
        if scan::scan_segment(&payload, &mut sink, Malformed::Payload, Unwanted::Validate).is_err()
        {
            return Err(Self::refusal_of_unreadable(&payload, validation, now));
        }
        let times = registered::check_claims(&sink, validation, now)?;
        let jkt = registered::confirmation_jkt(&sink)?;
        drop(sink);
        // The JSON view is built here only for the policy's own rules and checks; otherwise on
        // first use (most requests only read their typed claims).
        let json = if validation.rules.is_empty() && validation.checks.is_empty() {
            None
        } else {
            let json: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&payload).map_err(|_| Malformed::UnreadableClaims)?;
            for rule in &validation.rules {
                rule.check(&json, now, validation.leeway_secs)?;
            }
            registered::run_checks(validation, &json)?;
            Some(json)
        };
        Ok(Verdict {
            header,
            payload,
            times,
            jkt,
            json,
            access: self.inner.access.clone(),
        })
    }

    /// Why the strict payload scan refused `payload`, in the order of the checks: what a
    /// syntax-only scan refuses is [`Malformed::Payload`] (or a duplicate member); else the
    /// registered claims are judged (an expired token says so); else the payload is well-formed
    /// but holds a member no JSON view can hold (a lone surrogate, a number beyond f64, nesting
    /// past serde_json's limit): [`Malformed::UnreadableClaims`]. On the error path only.
    fn refusal_of_unreadable(payload: &[u8], validation: &Validation, now: i64) -> Error {
        let mut sink = ClaimsSink::new(validation);
        if let Err(err) = scan::scan_segment(payload, &mut sink, Malformed::Payload, Unwanted::Skip)
        {
            return err;
        }
        match registered::check_claims(&sink, validation, now) {
            Err(err) => err,
            Ok(_) => Malformed::UnreadableClaims.into(),
        }
    }

    /// The end of every full verification: counts it as a miss of the cache it was not
    /// answered from (once, whatever the outcome) and caches it when admitted.
    fn conclude(
        &self,
        token: &str,
        outcome: Result<(Verdict, Arc<VerificationKey>), Error>,
        now: i64,
        missed: Option<Missed<'_>>,
    ) -> Result<VerifiedToken, Error> {
        if let Some(missed) = &missed {
            missed.cache.record_miss();
        }
        let (verdict, verified_with) = outcome?;
        let entry = match missed {
            Some(Missed {
                cache,
                key: Some(key),
                origin,
            }) if cache.admit(key) => cache.insert(
                key,
                token,
                verdict,
                self.inner.validation.leeway_secs,
                &verified_with,
                now,
                origin,
            ),
            _ => Arc::new(Entry::new(
                Box::default(),
                verdict,
                i64::MIN,
                Weak::new(),
                0,
            )),
        };
        Ok(VerifiedToken::from_entry(entry))
    }

    /// Checks structure, header and signature only: no claim is looked at, nothing is cached.
    /// What [`signature::verify_signature`](crate::signature::verify_signature) is built on.
    pub(crate) async fn check_jws(&self, token: &str) -> Result<(TokenHeader, Vec<u8>), Error> {
        let opened = self.open(token)?;
        let key = self
            .inner
            .keys
            .key(KeyRequest {
                kid: opened.header.kid.as_deref(),
                alg: opened.header.alg,
            })
            .await;
        let (payload, _) = self.check_signature(&opened, key)?;
        Ok((TokenHeader::clone(&opened.header), payload))
    }
}

/// `keys` as the verifier holds it: an `Arc<dyn KeySource>` as it is (a source shared with
/// other verifiers stays one source, without a second `Arc` to go through on every lookup),
/// anything else in a new `Arc`.
fn shared<K: KeySource>(keys: K) -> Arc<dyn KeySource> {
    match (&keys as &dyn Any).downcast_ref::<Arc<dyn KeySource>>() {
        Some(already) => Arc::clone(already),
        None => Arc::new(keys),
    }
}

impl TokenVerifier for Verifier {
    fn start(&self, token: &str) -> Verification {
        Verifier::start(self, token)
    }

    fn start_presented(&self, token: &[u8]) -> Option<Verification> {
        let now = self.inner.clock.now();
        let verification = self
            .verification_of(token, now, || bearer::b64token_str(token).ok_or(()))
            .ok()?;
        Some(self.finish(verification, now))
    }
}
