//! HS256 shared secrets on Lambda: from the AWS Parameters and Secrets Lambda Extension, an
//! environment variable, or a file.
//!
//! [`ParametersSecretsSource`] is a [`KeySource`] that reads the secret from the extension's
//! local HTTP endpoint (`http://localhost:2773`, or `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT`),
//! authenticated with the `X-Aws-Parameters-Secrets-Token` header set to `AWS_SESSION_TOKEN`:
//!
//! - Secrets Manager: `GET /secretsmanager/get?secretId=<id>` -> `SecretString`
//!   ([`SecretId::SecretsManager`]);
//! - Parameter Store: `GET /systemparameters/get?name=<name>&withDecryption=true` ->
//!   `Parameter.Value` ([`SecretId::Parameter`]).
//!
//! The secret is read lazily on the first request of a container, kept for a TTL (default
//! 5 minutes), and re-read after it. When the extension cannot be reached and no secret was ever
//! read, lookups fail with [`KeyLookupError::Unavailable`] (the layer answers 503): never a
//! default secret, never an unauthenticated pass. A secret read earlier is still used for a
//! bounded time while re-reads fail ([`ParametersSecretsSourceBuilder::stale_if_error`]).
//!
//! # Rotation
//! A [`KeySource`] only hands out keys, so the re-read on a signature failure lives in
//! [`SecretVerifier`]: it wraps a [`Verifier`] over the source and, when a token fails with
//! [`Error::InvalidSignature`], re-reads the secret (at most once per
//! [`min_refresh_interval`](ParametersSecretsSourceBuilder::min_refresh_interval), default 30 s,
//! so a stream of forged tokens cannot turn into a stream of reads) and, if the secret changed,
//! verifies the token once more. The extension keeps its own cache (`SECRETS_MANAGER_TTL`,
//! `SSM_PARAMETER_STORE_TTL`, 300 s by default): a rotation becomes visible once that expires, so
//! lower it for faster pick-up, and keep accepting the previous secret at the issuer meanwhile.
//!
//! ```no_run
//! use tollgate::AuthLayer;
//! use tollgate_core::{Algorithm, CryptoProvider, Validation};
//! use tollgate_lambda::{ParametersSecretsSource, SecretId, SecretVerifier};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let source = ParametersSecretsSource::builder(SecretId::secrets_manager("prod/jwt-secret"))
//!     .json_key("signing_secret") // the secret is {"signing_secret": "..."}
//!     .build()?;
//! let policy = Validation::builder([Algorithm::HS256]).audience("my-api").build()?;
//! let layer = AuthLayer::new(SecretVerifier::new(policy, source, CryptoProvider::default()));
//! # let _ = layer;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::Url;
use serde_json::{Map, Value};
use tollgate_core::{
    AccessClaims, CryptoProvider, Error, KeyError, KeyFuture, KeyLookupError, KeyRequest,
    KeySource, PendingVerification, TokenVerifier, Validation, Verification, VerificationFuture,
    VerificationKey, VerifiedToken, Verifier,
};

/// The extension's default port.
pub const DEFAULT_EXTENSION_PORT: u16 = 2773;
/// The environment variable that changes the extension's port.
pub const PORT_VARIABLE: &str = "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT";
/// The header that authenticates requests to the extension.
pub const TOKEN_HEADER: &str = "X-Aws-Parameters-Secrets-Token";
/// Default time a secret is used before it is read again.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// Default least time between two re-reads forced by signature failures.
pub const DEFAULT_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// Default time past the TTL during which the last secret is still used while re-reads fail.
pub const DEFAULT_STALE_IF_ERROR: Duration = Duration::from_secs(15 * 60);
/// Default bound on one request to the extension.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest response read from the extension.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Where the secret lives.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretId {
    /// A Secrets Manager secret (name or ARN); its `SecretString` (`AWSCURRENT`).
    SecretsManager(String),
    /// A Parameter Store parameter (name or ARN), read with `withDecryption=true`.
    Parameter(String),
}

impl SecretId {
    /// A Secrets Manager secret.
    pub fn secrets_manager(id: impl Into<String>) -> Self {
        SecretId::SecretsManager(id.into())
    }

    /// A Parameter Store parameter (`SecureString` or `String`).
    pub fn parameter(name: impl Into<String>) -> Self {
        SecretId::Parameter(name.into())
    }
}

/// How the secret's text becomes key bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SecretEncoding {
    /// The UTF-8 bytes of the text (the default).
    #[default]
    Text,
    /// Standard base64 (padding optional), e.g. random bytes stored as text.
    Base64,
}

/// A secret could not be configured or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// An environment variable is missing or empty.
    #[error("environment variable {0} is not set")]
    MissingVariable(String),
    /// A file could not be read.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// The secret text could not be decoded or has not the expected shape.
    #[error("secret is not usable: {0}")]
    Format(String),
    /// The secret is not a usable HMAC key (e.g. shorter than 32 bytes).
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The extension endpoint is not a valid URL.
    #[error("invalid extension endpoint: {0}")]
    Endpoint(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

fn decode(text: &str, encoding: SecretEncoding) -> Result<Vec<u8>, SecretError> {
    match encoding {
        SecretEncoding::Text => Ok(text.as_bytes().to_vec()),
        SecretEncoding::Base64 => {
            let trimmed = text.trim().trim_end_matches('=');
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(trimmed)
                .map_err(|e| SecretError::Format(format!("not base64: {e}")))
        }
    }
}

/// An HMAC key from the environment variable `name` (its UTF-8 bytes, or base64).
/// At least 32 bytes for HS256 (48 for HS384, 64 for HS512), as for any HMAC key.
pub fn hmac_key_from_env(
    name: &str,
    encoding: SecretEncoding,
) -> Result<VerificationKey, SecretError> {
    let text = std::env::var(name)
        .ok()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| SecretError::MissingVariable(name.to_owned()))?;
    Ok(VerificationKey::hmac(decode(&text, encoding)?)?)
}

/// An HMAC key from a file (its content without a trailing line break, or base64).
pub fn hmac_key_from_file(
    path: impl AsRef<Path>,
    encoding: SecretEncoding,
) -> Result<VerificationKey, SecretError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| SecretError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let text = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    Ok(VerificationKey::hmac(decode(text, encoding)?)?)
}

struct Cached {
    key: Arc<VerificationKey>,
    /// The secret bytes' fingerprint, to tell whether a re-read changed anything.
    fingerprint: u64,
    fetched_at: Instant,
}

struct Shared {
    client: reqwest::Client,
    url: Url,
    token: Option<String>,
    id: SecretId,
    json_key: Option<String>,
    encoding: SecretEncoding,
    ttl: Duration,
    stale_if_error: Duration,
    min_refresh_interval: Duration,
    cache: RwLock<Option<Arc<Cached>>>,
    /// Serializes reads of the extension (one in flight), and remembers the last forced one.
    fetch: tokio::sync::Mutex<Option<Instant>>,
}

/// A [`KeySource`] for an HMAC secret held by the AWS Parameters and Secrets Lambda Extension.
/// See the [module docs](self). Cheap to clone (clones share the cache).
#[derive(Clone)]
pub struct ParametersSecretsSource {
    shared: Arc<Shared>,
}

impl fmt::Debug for ParametersSecretsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParametersSecretsSource")
            .field("url", &self.shared.url.as_str())
            .field("id", &self.shared.id)
            .field("json_key", &self.shared.json_key)
            .field("ttl", &self.shared.ttl)
            .finish_non_exhaustive()
    }
}

/// Configures a [`ParametersSecretsSource`].
#[must_use]
pub struct ParametersSecretsSourceBuilder {
    id: SecretId,
    endpoint: Option<String>,
    token: Option<String>,
    json_key: Option<String>,
    encoding: SecretEncoding,
    ttl: Duration,
    stale_if_error: Duration,
    min_refresh_interval: Duration,
    timeout: Duration,
}

/// The extension token (`AWS_SESSION_TOKEN`) is never printed.
impl fmt::Debug for ParametersSecretsSourceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParametersSecretsSourceBuilder")
            .field("id", &self.id)
            .field("endpoint", &self.endpoint)
            .field("json_key", &self.json_key)
            .field("encoding", &self.encoding)
            .field("ttl", &self.ttl)
            .field("stale_if_error", &self.stale_if_error)
            .field("min_refresh_interval", &self.min_refresh_interval)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ParametersSecretsSourceBuilder {
    /// The extension's base URL (default `http://localhost:<port>`, the port from
    /// `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT` or 2773). For tests.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The `X-Aws-Parameters-Secrets-Token` value (default: `AWS_SESSION_TOKEN`).
    pub fn session_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The secret is a JSON object; the key is the string at this member.
    pub fn json_key(mut self, key: impl Into<String>) -> Self {
        self.json_key = Some(key.into());
        self
    }

    /// How the text becomes key bytes (default [`SecretEncoding::Text`]).
    pub fn encoding(mut self, encoding: SecretEncoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// How long a read secret is used before it is read again (default 5 minutes).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long past the TTL the last secret is still used while re-reads fail (default
    /// 15 minutes; zero fails closed as soon as the TTL has passed).
    pub fn stale_if_error(mut self, window: Duration) -> Self {
        self.stale_if_error = window;
        self
    }

    /// Least time between two re-reads forced by signature failures (default 30 s).
    pub fn min_refresh_interval(mut self, interval: Duration) -> Self {
        self.min_refresh_interval = interval;
        self
    }

    /// Bound on one request to the extension (default 2 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Builds the source. Nothing is read until the first lookup.
    pub fn build(self) -> Result<ParametersSecretsSource, SecretError> {
        let base = match self.endpoint {
            Some(url) => url,
            None => {
                let port = std::env::var(PORT_VARIABLE)
                    .ok()
                    .and_then(|p| p.parse::<u16>().ok())
                    .unwrap_or(DEFAULT_EXTENSION_PORT);
                format!("http://localhost:{port}")
            }
        };
        let mut url = Url::parse(&base).map_err(|e| SecretError::Endpoint(e.to_string()))?;
        match &self.id {
            SecretId::SecretsManager(id) => {
                url.set_path("/secretsmanager/get");
                url.query_pairs_mut().append_pair("secretId", id);
            }
            SecretId::Parameter(name) => {
                url.set_path("/systemparameters/get");
                url.query_pairs_mut()
                    .append_pair("name", name)
                    .append_pair("withDecryption", "true");
            }
        }
        // Not `reqwest::Client::builder()`: in a build without `aws-lc-rs` reqwest has no TLS
        // provider of its own and that builder panics, even for this plain-http client.
        let client = tollgate_core::remote::http_client_builder()
            .map_err(|e| SecretError::Client(e.to_string()))?
            .connect_timeout(self.timeout)
            .timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(|e| SecretError::Client(e.to_string()))?;
        let token = self
            .token
            .or_else(|| std::env::var("AWS_SESSION_TOKEN").ok());
        Ok(ParametersSecretsSource {
            shared: Arc::new(Shared {
                client,
                url,
                token,
                id: self.id,
                json_key: self.json_key,
                encoding: self.encoding,
                ttl: self.ttl,
                stale_if_error: self.stale_if_error,
                min_refresh_interval: self.min_refresh_interval,
                cache: RwLock::new(None),
                fetch: tokio::sync::Mutex::new(None),
            }),
        })
    }
}

/// What a forced re-read found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refresh {
    /// A different secret was read and is now in use.
    Changed,
    /// The same secret was read again.
    Unchanged,
    /// Not read: the last forced re-read was too recent.
    RateLimited,
    /// The extension could not be reached or answered with something unusable.
    Failed,
}

fn fingerprint(bytes: &[u8]) -> u64 {
    use std::hash::{DefaultHasher, Hasher};
    let mut hasher = DefaultHasher::new();
    hasher.write(bytes);
    hasher.finish()
}

impl ParametersSecretsSource {
    /// Starts configuring a source for `id`.
    pub fn builder(id: SecretId) -> ParametersSecretsSourceBuilder {
        ParametersSecretsSourceBuilder {
            id,
            endpoint: None,
            token: None,
            json_key: None,
            encoding: SecretEncoding::default(),
            ttl: DEFAULT_TTL,
            stale_if_error: DEFAULT_STALE_IF_ERROR,
            min_refresh_interval: DEFAULT_MIN_REFRESH_INTERVAL,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Reads the secret now, e.g. during the init phase so that the first request does not wait.
    pub async fn prefetch(&self) -> Result<(), KeyLookupError> {
        self.current(Instant::now(), true).await.map(|_| ())
    }

    /// Re-reads the secret unless a forced re-read happened within the minimum interval; for
    /// [`SecretVerifier`] after a signature failure.
    pub async fn refresh_after_failure(&self) -> Refresh {
        let shared = &self.shared;
        let mut last = shared.fetch.lock().await;
        let now = Instant::now();
        if let Some(at) = *last
            && now.duration_since(at) < shared.min_refresh_interval
        {
            return Refresh::RateLimited;
        }
        *last = Some(now);
        let before = self.cached().map(|c| c.fingerprint);
        match self.fetch_and_store().await {
            Ok(cached) if Some(cached.fingerprint) == before => Refresh::Unchanged,
            Ok(_) => {
                tracing::info!(secret = ?shared.id, "shared secret changed (rotation)");
                Refresh::Changed
            }
            Err(_) => Refresh::Failed,
        }
    }

    fn cached(&self) -> Option<Arc<Cached>> {
        match self.shared.cache.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn store(&self, cached: Arc<Cached>) {
        match self.shared.cache.write() {
            Ok(mut guard) => *guard = Some(cached),
            Err(poisoned) => *poisoned.into_inner() = Some(cached),
        }
    }

    fn fresh(&self, now: Instant) -> Option<Arc<VerificationKey>> {
        self.cached()
            .filter(|c| now.duration_since(c.fetched_at) < self.shared.ttl)
            .map(|c| c.key.clone())
    }

    /// The current key: from the cache while fresh, else read (one read at a time).
    async fn current(
        &self,
        now: Instant,
        force: bool,
    ) -> Result<Arc<VerificationKey>, KeyLookupError> {
        if !force && let Some(key) = self.fresh(now) {
            return Ok(key);
        }
        let _guard = self.shared.fetch.lock().await;
        // Another caller may have read it while this one waited.
        if !force && let Some(key) = self.fresh(Instant::now()) {
            return Ok(key);
        }
        match self.fetch_and_store().await {
            Ok(cached) => Ok(cached.key.clone()),
            Err(reason) => match self.cached() {
                Some(stale)
                    if Instant::now().duration_since(stale.fetched_at)
                        < self.shared.ttl + self.shared.stale_if_error =>
                {
                    tracing::warn!(%reason, "secret re-read failed; using the last secret");
                    Ok(stale.key.clone())
                }
                _ => Err(KeyLookupError::Unavailable(reason)),
            },
        }
    }

    async fn fetch_and_store(&self) -> Result<Arc<Cached>, String> {
        let bytes = self.fetch().await.inspect_err(|reason| {
            tracing::warn!(secret = ?self.shared.id, %reason, "cannot read the shared secret");
        })?;
        let key = VerificationKey::hmac(&bytes).map_err(|e| {
            tracing::warn!(secret = ?self.shared.id, error = %e, "the shared secret is not a usable key");
            e.to_string()
        })?;
        let cached = Arc::new(Cached {
            key: Arc::new(key),
            fingerprint: fingerprint(&bytes),
            fetched_at: Instant::now(),
        });
        self.store(cached.clone());
        Ok(cached)
    }

    async fn fetch(&self) -> Result<Vec<u8>, String> {
        let shared = &self.shared;
        let mut request = shared.client.get(shared.url.clone());
        if let Some(token) = &shared.token {
            request = request.header(TOKEN_HEADER, token);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| format!("extension unreachable: {}", error_chain(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("extension answered {status}"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("reading the answer: {}", error_chain(&e)))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err("the answer is too large".into());
            }
            body.extend_from_slice(&chunk);
        }
        let document: Value =
            serde_json::from_slice(&body).map_err(|_| "the answer is not JSON".to_owned())?;
        let text = match &shared.id {
            SecretId::SecretsManager(_) => document.get("SecretString"),
            SecretId::Parameter(_) => document.get("Parameter").and_then(|p| p.get("Value")),
        }
        .and_then(Value::as_str)
        .ok_or_else(|| "the answer has no secret string".to_owned())?;
        let text = match &shared.json_key {
            None => text.to_owned(),
            Some(member) => {
                let object: Map<String, Value> = serde_json::from_str(text)
                    .map_err(|_| "the secret is not a JSON object".to_owned())?;
                object
                    .get(member)
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("the secret has no string member {member:?}"))?
                    .to_owned()
            }
        };
        decode(&text, shared.encoding).map_err(|e| e.to_string())
    }
}

fn error_chain(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl KeySource for ParametersSecretsSource {
    fn key<'a>(&'a self, request: KeyRequest<'a>) -> KeyFuture<'a> {
        let check = move |key: Arc<VerificationKey>| match key.permits(request.alg) {
            Ok(()) => Ok(key),
            Err(reason) => Err(KeyLookupError::AlgorithmMismatch {
                alg: request.alg,
                reason,
            }),
        };
        // A fresh secret answers at once; a read of the extension starts only when the
        // returned future is polled (the `KeySource` contract), never here.
        match self.fresh(Instant::now()) {
            Some(key) => KeyFuture::ready(check(key)),
            None => {
                KeyFuture::new(
                    async move { self.current(Instant::now(), false).await.and_then(check) },
                )
            }
        }
    }
}

/// A [`Verifier`] over a [`ParametersSecretsSource`] that re-reads the secret when a token's
/// signature does not verify, and verifies once more if the secret changed (rotation). A
/// [`TokenVerifier`], so it plugs into [`AuthLayer`](tollgate::AuthLayer) and
/// [`Authorizer`](crate::Authorizer).
#[derive(Clone, Debug)]
pub struct SecretVerifier {
    verifier: Verifier,
    source: ParametersSecretsSource,
    /// Kept to rebuild the verifier in [`with_access_claims`](Self::with_access_claims).
    crypto: CryptoProvider,
}

impl SecretVerifier {
    /// Verifies under `policy` with the secret from `source`.
    pub fn new(
        policy: Validation,
        source: ParametersSecretsSource,
        crypto: CryptoProvider,
    ) -> Self {
        SecretVerifier {
            verifier: Verifier::new(policy, source.clone(), crypto),
            source,
            crypto,
        }
    }

    /// Reads roles and scopes where `access` says (default [`AccessClaims::default`]), for
    /// guards behind an [`AuthLayer`](tollgate::AuthLayer) and an
    /// [`Authorizer`](crate::Authorizer)'s `context`.
    pub fn with_access_claims(self, access: AccessClaims) -> Self {
        // Built anew (a `Verifier` is immutable once built): this one is not shared yet.
        let verifier = Verifier::builder(
            self.verifier.validation().clone(),
            self.source.clone(),
            self.crypto,
        )
        .access_claims(access)
        .build();
        SecretVerifier { verifier, ..self }
    }

    /// Where roles and scopes are read.
    pub fn access_claims(&self) -> &AccessClaims {
        self.verifier.access_claims()
    }

    /// The source.
    pub fn source(&self) -> &ParametersSecretsSource {
        &self.source
    }

    /// Verifies `token` now, re-reading the secret once on a bad signature: the
    /// [`TokenVerifier::start`] of this verifier, awaited (claims through
    /// [`VerifiedToken::claims`]).
    pub fn verify(&self, token: &str) -> VerificationFuture {
        TokenVerifier::start(self, token).into_future()
    }
}

impl SecretVerifier {
    /// The second attempt after a bad signature: re-read the secret (rate limited) and verify
    /// once more only if it changed.
    async fn after_bad_signature(&self, token: &str) -> Result<VerifiedToken, Error> {
        match self.source.refresh_after_failure().await {
            Refresh::Changed => self.verifier.verify(token).await,
            _ => Err(Error::InvalidSignature),
        }
    }
}

impl TokenVerifier for SecretVerifier {
    /// Decided at once like the inner [`Verifier`]'s, except a bad signature: the secret may
    /// have been rotated, so that becomes a pending re-read and second attempt.
    fn start(&self, token: &str) -> Verification {
        match self.verifier.start(token) {
            Verification::Done(Err(Error::InvalidSignature)) => {
                let this = self.clone();
                let token: Box<str> = token.into();
                Verification::Pending(PendingVerification::new(async move {
                    this.after_bad_signature(&token).await
                }))
            }
            Verification::Pending(pending) => {
                let this = self.clone();
                let token: Box<str> = token.into();
                Verification::Pending(PendingVerification::new(async move {
                    match pending.await {
                        Err(Error::InvalidSignature) => this.after_bad_signature(&token).await,
                        other => other,
                    }
                }))
            }
            done => done,
        }
    }
}
