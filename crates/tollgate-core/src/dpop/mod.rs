//! DPoP (RFC 9449): sender-constrained access tokens, checked at the resource server.
//!
//! A DPoP-bound access token carries `cnf.jkt`, the thumbprint of a key the client holds. With
//! every request the client sends `Authorization: DPoP <token>` and a `DPoP` header: a proof, a
//! small JWS signed with that key over the request's method and URI, the token's hash and a
//! unique `jti`. A stolen token is useless without the key, and a captured proof is useless for
//! another request, another token or a second time.
//!
//! [`DpopVerifier::check`] runs the checks of RFC 9449 4.3 on a request whose access token has
//! already been verified, in this order, each failure a typed [`DpopError`]:
//!
//! 1. size (at most [`MAX_PROOF_BYTES`]) and a compact JWS of three segments;
//! 2. header (strict JSON, no repeated member): `typ` `dpop+jwt` (ASCII case-insensitive, as media
//!    types are), `alg` asymmetric and allowed (`Ed25519` is read as `EdDSA`), no `crit`, `jwk` a
//!    public key (EC P-256/P-384, RSA >= 2048 bits, Ed25519) that suits `alg`. The key comes from
//!    `jwk` only, never `kid`, `jku`, `x5u` or `x5c`;
//! 3. signature with that key (ECDSA as raw `r || s`: a DER signature is refused by its length);
//! 4. claims (strict, no repeated member): `jti` (1 to [`MAX_JTI_BYTES`] bytes), `htm`, `htu`,
//!    `iat`;
//! 5. `htm` equals the method, case-sensitively;
//! 6. `htu` equals the public URL plus the request path, both in RFC 3986 normal form (query and
//!    fragment ignored, `.`/`..` segments refused);
//! 7. `iat` no older than `max_age` (300 s) and no further ahead than `max_future` (60 s);
//! 8. `nonce`, when server nonces are on: one of the current or previous window;
//! 9. `ath` = base64url(SHA-256(access token)), always required;
//! 10. the token's `cnf.jkt` equals the proof key's RFC 7638 thumbprint;
//! 11. the replay store has not seen this key and `jti` within the proof window.
//!
//! The external URL is configured, never derived from `Host` or `X-Forwarded-*` headers, which a
//! client chooses.
//!
//! ```
//! use tollgate_core::Algorithm;
//! use tollgate_core::dpop::{DpopVerifier, ProofCheck, ProofRequest};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = DpopVerifier::builder("https://api.example.com")?
//!     .algorithms([Algorithm::ES256, Algorithm::EdDSA])?
//!     .build();
//! assert_eq!(verifier.algs_challenge(), "ES256 EdDSA");
//! let check = verifier.check(ProofRequest {
//!     proof: "not-a-proof",
//!     method: "GET",
//!     path: "/orders",
//!     access_token: "eyJ...",
//!     token_jkt: Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"),
//! });
//! let ProofCheck::Done(Err(err)) = check else { unreachable!() };
//! assert_eq!(err.code(), "invalid_dpop_proof");
//! # Ok(())
//! # }
//! ```

mod error;
mod htu;
mod nonce;
mod proof;
mod replay;
mod thumbprint;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

pub use error::DpopError;
pub use proof::{MAX_JTI_BYTES, MAX_PROOF_BYTES};
pub use replay::{
    DEFAULT_REPLAY_ENTRIES, MemoryReplayStore, ReplayError, ReplayFuture, ReplayKey, ReplayStore,
};

use crate::algorithm::Algorithm;
use crate::clock::{Clock, TimeSource};
use crate::crypto::CryptoProvider;
use crate::error::{ConfigError, KeyError};
use crate::header_memo::SegmentMemo;
use crate::jwk::{JwkOutcome, parse_jwk};
use crate::scan::{self, Loose, MemberSink, Unwanted};
use crate::telemetry::DpopCounters;
use crate::verified_token::VerifiedToken;
use htu::PublicUrl;
use nonce::Nonces;

/// Which authorization schemes a layer accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DpopMode {
    /// Only `Bearer` (a `DPoP`-scheme request is refused). The default.
    #[default]
    Off,
    /// `Bearer` and `DPoP` (a DPoP-bound token must use `DPoP`).
    Allowed,
    /// Only `DPoP`.
    Required,
}

/// The proof algorithms accepted by default.
pub const DEFAULT_PROOF_ALGORITHMS: [Algorithm; 5] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::EdDSA,
];

/// Default oldest proof accepted (`iat` this far in the past).
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
/// Default furthest-ahead proof accepted (client clocks run fast).
pub const DEFAULT_MAX_FUTURE: Duration = Duration::from_secs(60);
/// Default nonce window: a nonce is accepted during its window and the next.
pub const DEFAULT_NONCE_WINDOW: Duration = Duration::from_secs(60);

/// What every check of one verifier shares.
pub(crate) struct Config {
    pub(crate) public_url: PublicUrl,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) algs_challenge: String,
    pub(crate) max_age: i64,
    pub(crate) max_future: i64,
    pub(crate) nonces: Option<Nonces>,
    pub(crate) crypto: CryptoProvider,
    store: Arc<dyn ReplayStore>,
    clock: TimeSource,
    /// The keys of proof headers whose signatures verified: a client signs every proof with
    /// the same header, so the JWK parse, the key preparation and the thumbprint run once per
    /// client (bounded; see [`proof::ProofKey`]).
    pub(crate) keys: SegmentMemo<Arc<proof::ProofKey>>,
    counters: DpopCounters,
}

/// Proof headers remembered: one per active client key.
const MAX_PROOF_KEYS: usize = 1024;

/// Longest proof header segment remembered (an RSA-4096 `jwk` header is about 1,100 bytes).
const MAX_PROOF_HEADER: usize = 2048;

impl Config {
    fn now(&self) -> i64 {
        self.clock.now()
    }

    /// How long the replay store must remember a proof: as long as it could be accepted
    /// (`iat` from `now - max_future` up to `now + max_age`), plus a second for the rounding of
    /// whole-second times.
    fn replay_ttl(&self) -> Duration {
        let secs = self
            .max_age
            .saturating_add(self.max_future)
            .saturating_add(1);
        Duration::from_secs(u64::try_from(secs).unwrap_or(0))
    }
}

/// Checks DPoP proofs for one resource server (see the [module](self)). Cheap to clone (one
/// `Arc`); share one across requests and threads.
#[derive(Clone)]
pub struct DpopVerifier {
    inner: Arc<Config>,
}

impl fmt::Debug for DpopVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &*self.inner;
        f.debug_struct("DpopVerifier")
            .field(
                "public_url",
                &format_args!("{}{}", c.public_url.origin(), c.public_url.base_path()),
            )
            .field("algorithms", &c.algorithms)
            .field("max_age", &c.max_age)
            .field("max_future", &c.max_future)
            .field("nonces", &c.nonces.is_some())
            .field("store", &c.store)
            .finish_non_exhaustive()
    }
}

/// Configures a [`DpopVerifier`]: from [`DpopVerifier::builder`].
#[must_use]
pub struct DpopVerifierBuilder {
    public_url: PublicUrl,
    algorithms: Vec<Algorithm>,
    max_age: Duration,
    max_future: Duration,
    store: Option<Arc<dyn ReplayStore>>,
    nonces: Option<Option<[u8; 32]>>,
    nonce_window: Duration,
    crypto: CryptoProvider,
    clock: TimeSource,
}

impl fmt::Debug for DpopVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopVerifierBuilder")
            .field("algorithms", &self.algorithms)
            .field("max_age", &self.max_age)
            .field("max_future", &self.max_future)
            .field("nonces", &self.nonces.is_some())
            .finish_non_exhaustive()
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl DpopVerifierBuilder {
    /// The proof algorithms accepted (default [`DEFAULT_PROOF_ALGORITHMS`]); asymmetric only.
    ///
    /// ```
    /// use tollgate_core::Algorithm;
    /// use tollgate_core::dpop::DpopVerifier;
    ///
    /// let builder = DpopVerifier::builder("https://api.example.com")?;
    /// assert!(builder.algorithms([Algorithm::HS256]).is_err());
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub fn algorithms(
        mut self,
        algs: impl IntoIterator<Item = Algorithm>,
    ) -> Result<Self, ConfigError> {
        let mut list = Vec::new();
        for alg in algs {
            if alg.is_symmetric() {
                return Err(ConfigError::DpopAlgorithm(alg));
            }
            if !list.contains(&alg) {
                list.push(alg);
            }
        }
        if list.is_empty() {
            return Err(ConfigError::NoAlgorithms);
        }
        self.algorithms = list;
        Ok(self)
    }

    /// Oldest proof accepted: a proof whose `iat` is more than this in the past is
    /// [`Stale`](DpopError::Stale) (default 300 s).
    pub fn max_age(mut self, d: Duration) -> Self {
        self.max_age = d;
        self
    }

    /// Furthest-ahead proof accepted: a proof whose `iat` is more than this in the future is
    /// [`FromTheFuture`](DpopError::FromTheFuture) (default 60 s).
    pub fn max_future(mut self, d: Duration) -> Self {
        self.max_future = d;
        self
    }

    /// Where proofs are remembered against replay (default [`MemoryReplayStore::default`]).
    /// An `Arc` of a store may be passed to share one store between verifiers.
    pub fn replay_store(mut self, store: impl ReplayStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Turns server nonces on (RFC 9449 9), with this HMAC secret; `None` draws a random one
    /// (then only this process accepts its nonces: instances behind one load balancer need a
    /// shared secret).
    pub fn nonces(mut self, secret: Option<[u8; 32]>) -> Self {
        self.nonces = Some(secret);
        self
    }

    /// How long one nonce window lasts (default 60 s, at least 1 s); a nonce is accepted during
    /// its window and the next one.
    pub fn nonce_window(mut self, d: Duration) -> Self {
        self.nonce_window = d;
        self
    }

    /// The crypto backend (default [`CryptoProvider::default`]).
    pub fn crypto(mut self, crypto: CryptoProvider) -> Self {
        self.crypto = crypto;
        self
    }

    /// The clock (default the system clock): a [`ManualClock`](crate::clock::ManualClock) or a
    /// closure returning Unix seconds; for tests and replaying old proofs.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = TimeSource::new(clock);
        self
    }

    /// Builds the verifier.
    pub fn build(self) -> DpopVerifier {
        let algs_challenge = self
            .algorithms
            .iter()
            .map(|alg| alg.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let window = self.nonce_window.as_secs().max(1);
        DpopVerifier {
            inner: Arc::new(Config {
                public_url: self.public_url,
                algs_challenge,
                algorithms: self.algorithms,
                max_age: secs(self.max_age),
                max_future: secs(self.max_future),
                nonces: self
                    .nonces
                    .map(|secret| Nonces::new(secret, window, &self.crypto)),
                crypto: self.crypto,
                store: self
                    .store
                    .unwrap_or_else(|| Arc::new(MemoryReplayStore::default())),
                clock: self.clock,
                keys: SegmentMemo::new(MAX_PROOF_KEYS, MAX_PROOF_HEADER),
                counters: DpopCounters::default(),
            }),
        }
    }
}

/// One request's proof and what it must match.
#[derive(Debug, Clone, Copy)]
pub struct ProofRequest<'a> {
    /// The single `DPoP` header value.
    pub proof: &'a str,
    /// The request method, e.g. `"GET"`.
    pub method: &'a str,
    /// The request path only (no query), appended to the public URL.
    pub path: &'a str,
    /// The access token from `Authorization: DPoP <token>` (for `ath`).
    pub access_token: &'a str,
    /// The access token's `cnf.jkt` ([`VerifiedToken::confirmation_jkt`]).
    pub token_jkt: Option<&'a str>,
}

/// A proof that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    jkt: String,
    jti: String,
    issued_at: i64,
    algorithm: Algorithm,
}

impl VerifiedProof {
    /// The RFC 7638 SHA-256 thumbprint of the proof key, base64url (equal to the token's
    /// `cnf.jkt`).
    pub fn jkt(&self) -> &str {
        &self.jkt
    }

    /// The proof's `jti`.
    pub fn jti(&self) -> &str {
        &self.jti
    }

    /// The proof's `iat`, Unix seconds.
    pub fn issued_at(&self) -> i64 {
        self.issued_at
    }

    /// The proof's algorithm (`EdDSA` for a proof that named it `Ed25519`).
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

/// The outcome of [`DpopVerifier::check`]: decided, or waiting for the replay store.
#[derive(Debug)]
pub enum ProofCheck {
    /// Decided without waiting (always so with the in-memory store).
    Done(Result<VerifiedProof, DpopError>),
    /// Every check passed but the replay store has to answer.
    Pending(PendingProof),
}

impl ProofCheck {
    /// The outcome as a future, whichever it is (for callers that `.await` anyway).
    pub async fn into_future(self) -> Result<VerifiedProof, DpopError> {
        match self {
            ProofCheck::Done(result) => result,
            ProofCheck::Pending(pending) => pending.await,
        }
    }
}

type BoxedProof = Pin<Box<dyn Future<Output = Result<VerifiedProof, DpopError>> + Send + 'static>>;

/// The rest of a proof check waiting for the replay store: a `'static + Send` future.
pub struct PendingProof(BoxedProof);

impl fmt::Debug for PendingProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PendingProof")
    }
}

impl Future for PendingProof {
    type Output = Result<VerifiedProof, DpopError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

fn replay_outcome(
    answer: Result<bool, ReplayError>,
    proof: VerifiedProof,
) -> Result<VerifiedProof, DpopError> {
    match answer {
        Ok(true) => Ok(proof),
        Ok(false) => Err(DpopError::Replayed),
        Err(err) => {
            tracing::warn!(error = %err, "DPoP replay store unavailable");
            Err(DpopError::ReplayStoreUnavailable(err.message().to_owned()))
        }
    }
}

impl DpopVerifier {
    /// Starts configuring a verifier for the resource server reachable at `public_url`:
    /// `scheme://host[:port]` with an optional base path (e.g. an API Gateway stage,
    /// `https://x.execute-api.eu-west-1.amazonaws.com/prod`); http or https only; no query,
    /// fragment or userinfo. A proof's `htu` must be `public_url` + the request path.
    ///
    /// ```
    /// use tollgate_core::dpop::DpopVerifier;
    ///
    /// assert!(DpopVerifier::builder("https://api.example.com/prod").is_ok());
    /// assert!(DpopVerifier::builder("ftp://api.example.com").is_err());
    /// assert!(DpopVerifier::builder("https://api.example.com/?q=1").is_err());
    /// ```
    pub fn builder(public_url: &str) -> Result<DpopVerifierBuilder, ConfigError> {
        let parsed = PublicUrl::parse(public_url).map_err(|reason| ConfigError::DpopPublicUrl {
            url: public_url.to_owned(),
            reason,
        })?;
        Ok(DpopVerifierBuilder {
            public_url: parsed,
            algorithms: DEFAULT_PROOF_ALGORITHMS.to_vec(),
            max_age: DEFAULT_MAX_AGE,
            max_future: DEFAULT_MAX_FUTURE,
            store: None,
            nonces: None,
            nonce_window: DEFAULT_NONCE_WINDOW,
            crypto: CryptoProvider::default(),
            clock: TimeSource::default(),
        })
    }

    /// The proof algorithms accepted.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.inner.algorithms
    }

    /// The accepted algorithms space-separated, for `algs="..."` in a `DPoP` challenge.
    pub fn algs_challenge(&self) -> &str {
        &self.inner.algs_challenge
    }

    /// The public URL in normal form (origin and base path), as `htu` values are compared.
    pub fn public_url(&self) -> String {
        format!(
            "{}{}",
            self.inner.public_url.origin(),
            self.inner.public_url.base_path()
        )
    }

    /// Whether server nonces are on.
    pub fn nonces_enabled(&self) -> bool {
        self.inner.nonces.is_some()
    }

    /// A fresh nonce for a `DPoP-Nonce` response header (`None` when nonces are off).
    pub fn current_nonce(&self) -> Option<String> {
        let nonces = self.inner.nonces.as_ref()?;
        Some(nonces.issue(&self.inner.crypto, self.inner.now()))
    }

    /// Checks a proof for a request already carrying a verified access token (see the
    /// [module](self) for the checks and their order). Decided at once ([`ProofCheck::Done`])
    /// unless the replay store has to wait; the in-memory store never does.
    pub fn check(&self, request: ProofRequest<'_>) -> ProofCheck {
        let config = &*self.inner;
        let checked = match proof::check(config, &request, config.now()) {
            Ok(checked) => checked,
            Err(err) => return ProofCheck::Done(self.counted(Err(err))),
        };
        let proof = VerifiedProof {
            jkt: checked.jkt,
            jti: checked.jti,
            issued_at: checked.iat,
            algorithm: checked.alg,
        };
        match config
            .store
            .insert_if_absent(checked.replay_key, config.replay_ttl())
            .into_ready()
        {
            Ok(answer) => ProofCheck::Done(self.counted(replay_outcome(answer, proof))),
            Err(pending) => {
                let verifier = self.clone();
                ProofCheck::Pending(PendingProof(Box::pin(async move {
                    verifier.counted(replay_outcome(pending.await, proof))
                })))
            }
        }
    }

    /// `outcome`, counted in `tollgate_dpop_proofs_total` ([`telemetry`](crate::telemetry)).
    fn counted(
        &self,
        outcome: Result<VerifiedProof, DpopError>,
    ) -> Result<VerifiedProof, DpopError> {
        let refusal = outcome
            .as_ref()
            .err()
            .map(|err| (err.reason(), err.is_transient()));
        self.inner.counters.count(refusal);
        outcome
    }
}

/// Refuses a DPoP-bound token (one with `cnf.jkt`) presented as a plain bearer token
/// (RFC 9449 7.2): [`DpopError::BoundTokenAsBearer`]. Every bearer path calls it, whatever the
/// DPoP mode, so a bound token stolen without its key cannot be replayed as `Bearer`.
///
/// ```
/// # fn check(token: &tollgate_core::VerifiedToken) {
/// use tollgate_core::dpop::{DpopError, check_bearer};
///
/// match check_bearer(token) {
///     Ok(()) => { /* an unbound token: fine as Bearer */ }
///     Err(DpopError::BoundTokenAsBearer) => { /* 401 invalid_token */ }
///     Err(_) => unreachable!(),
/// }
/// # }
/// ```
pub fn check_bearer(token: &VerifiedToken) -> Result<(), DpopError> {
    match token.confirmation_jkt() {
        Some(_) => Err(DpopError::BoundTokenAsBearer),
        None => Ok(()),
    }
}

#[derive(Default)]
struct JwkSink<'a> {
    members: Vec<(std::borrow::Cow<'a, str>, Loose<'a>)>,
}

impl<'a> MemberSink<'a> for JwkSink<'a> {
    fn wants(&self, _name: &str) -> bool {
        true
    }

    fn member(&mut self, name: &str, value: Option<Loose<'a>>) -> Result<(), String> {
        if let Some(value) = value {
            self.members.push((name.to_owned().into(), value));
        }
        Ok(())
    }
}

/// The RFC 7638 SHA-256 thumbprint (base64url) of a public JWK given as JSON text: the
/// `cnf.jkt` a token bound to that key carries. The key must be a usable public key (EC
/// P-256/P-384, RSA >= 2048 bits, Ed25519); private members are refused.
///
/// ```
/// use tollgate_core::dpop::jwk_thumbprint;
///
/// // RFC 7638 3.1's example key.
/// let jwk = r#"{"kty":"RSA","e":"AQAB","alg":"RS256","kid":"2011-04-29",
///   "n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}"#;
/// assert_eq!(jwk_thumbprint(jwk)?, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
/// # Ok::<(), tollgate_core::KeyError>(())
/// ```
pub fn jwk_thumbprint(jwk: &str) -> Result<String, KeyError> {
    let mut sink = JwkSink::default();
    scan::scan_object(jwk.as_bytes(), &mut sink, Unwanted::Skip)
        .map_err(|e| KeyError::Invalid(format!("JWK is not a JSON object: {e}")))?;
    if sink
        .members
        .iter()
        .any(|(name, _)| proof::PRIVATE_MEMBERS.contains(&name.as_ref()))
    {
        return Err(KeyError::Invalid(
            "the JWK holds private key material".into(),
        ));
    }
    let value: serde_json::Value = serde_json::from_str(jwk)
        .map_err(|e| KeyError::Invalid(format!("JWK is not valid JSON: {e}")))?;
    match parse_jwk(&value, false) {
        JwkOutcome::Key(_) => {}
        JwkOutcome::Skipped(reason) => return Err(KeyError::Unusable(reason)),
        JwkOutcome::Invalid(err) => return Err(err),
    }
    let canonical = thumbprint::canonical_json(&sink.members)
        .ok_or_else(|| KeyError::Invalid("the JWK lacks a thumbprint member".into()))?;
    Ok(thumbprint::thumbprint(
        &CryptoProvider::default(),
        &canonical,
    ))
}

impl ReplayKey {
    /// A key from its 32 bytes (for tests of a [`ReplayStore`]; a verifier derives keys from
    /// proofs).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        ReplayKey(bytes)
    }
}
