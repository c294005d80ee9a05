//! Test kit: a development issuer to start inside your own tests (feature `testing`).
//!
//! [`DevIssuer`] serves OpenID discovery and a JWKS over a real loopback port, mints tokens with
//! the claims you choose, and rotates keys, so a protected handler is tested through the same
//! remote-JWKS path production uses.
//!
//! ```
//! use axum::{Router, routing::get};
//! use tollgate::testing::DevIssuer;
//! use tollgate::{AuthLayer, RequireRole};
//!
//! tollgate::role!(Admin = "admin");
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let issuer = DevIssuer::start().await?;
//! let app: Router = Router::new()
//!     .route("/admin", get(|_: RequireRole<Admin>| async { "hi" }))
//!     .layer(AuthLayer::new(issuer.verifier()?));
//! let token = issuer.token().subject("alice").roles(["admin"]).sign()?;
//! # let _ = (app, token);
//! # Ok(())
//! # }
//! ```
//!
//! Tokens minted here are for tests and local development only.
//!
//! Expiry is tested without sleeping with a [`ManualClock`] (re-exported from
//! [`tollgate_core::clock`]) given to the verifier:
//!
//! ```
//! use std::time::Duration;
//! use tollgate::testing::{DevIssuer, ManualClock};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let issuer = DevIssuer::start().await?;
//! let clock = ManualClock::now_frozen();
//! let verifier = issuer.verifier_builder_with_clock(&clock)?.build();
//! let token = issuer.token().subject("alice").sign()?;
//! assert!(verifier.verify(&token).await.is_ok());
//! clock.advance(Duration::from_secs(24 * 3600)); // long past the token's exp
//! assert!(verifier.verify(&token).await.is_err());
//! # Ok(())
//! # }
//! ```
//!
//! The keys ([`SigningKey`]) are [`tollgate_core::testing`]'s, re-exported: one test signer for
//! the whole workspace, built on aws-lc-rs rather than on the verification code it tests.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Map, Value, json};
pub use tollgate_core::clock::ManualClock;
use tollgate_core::remote::JwksSource;
pub use tollgate_core::testing::{SigningKey, SigningKeyError};
use tollgate_core::{Algorithm, CryptoProvider, Validation, Verifier, VerifierBuilder};

/// The audience dev tokens carry unless told otherwise.
pub const DEFAULT_AUDIENCE: &str = "tollgate-dev";

struct IssuerState {
    issuer: String,
    audience: String,
    keys: RwLock<Vec<Arc<SigningKey>>>,
    jwks_requests: AtomicU64,
}

impl IssuerState {
    fn keys(&self) -> Vec<Arc<SigningKey>> {
        self.keys
            .read()
            .map(|k| k.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    fn jwks(&self) -> Value {
        let keys: Vec<Value> = self.keys().iter().filter_map(|k| k.public_jwk()).collect();
        json!({ "keys": keys })
    }

    fn key_for(&self, alg: Algorithm) -> Option<Arc<SigningKey>> {
        self.keys().into_iter().find(|k| k.algorithm() == alg)
    }
}

/// A development issuer on `127.0.0.1` with fresh ES256 and RS256 keys.
///
/// Routes: `/.well-known/openid-configuration`, `/.well-known/jwks.json`, and `/token` (GET with
/// query `sub`, `roles`, `scope`, `aud`, `ttl`, `alg`: mints a token; development only).
/// The server stops when the `DevIssuer` is dropped.
pub struct DevIssuer {
    state: Arc<IssuerState>,
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevIssuer")
            .field("issuer", &self.state.issuer)
            .finish_non_exhaustive()
    }
}

impl Drop for DevIssuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn fresh_keys() -> Result<Vec<Arc<SigningKey>>, SigningKeyError> {
    Ok(vec![
        Arc::new(SigningKey::generate(Algorithm::ES256)?),
        Arc::new(SigningKey::generate(Algorithm::RS256)?),
    ])
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[derive(Deserialize)]
struct MintQuery {
    sub: Option<String>,
    roles: Option<String>,
    scope: Option<String>,
    aud: Option<String>,
    ttl: Option<i64>,
    alg: Option<String>,
}

async fn mint(
    State(state): State<Arc<IssuerState>>,
    Query(query): Query<MintQuery>,
) -> axum::response::Response {
    let alg = match query
        .alg
        .as_deref()
        .map(str::parse::<Algorithm>)
        .transpose()
    {
        Ok(alg) => alg.unwrap_or(Algorithm::ES256),
        Err(e) => return (axum::http::StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let mut builder = TokenBuilder::new(state.clone()).algorithm(alg);
    if let Some(sub) = query.sub {
        builder = builder.subject(sub);
    }
    if let Some(roles) = query.roles {
        builder = builder.roles(roles.split(',').filter(|r| !r.is_empty()));
    }
    if let Some(scope) = query.scope {
        builder = builder.scopes(scope.split([' ', ',']).filter(|s| !s.is_empty()));
    }
    if let Some(aud) = query.aud {
        builder = builder.audience(aud);
    }
    if let Some(ttl) = query.ttl {
        builder = builder.ttl_secs(ttl);
    }
    match builder.sign() {
        Ok(token) => ([(header::CONTENT_TYPE, "text/plain")], token).into_response(),
        Err(e) => (axum::http::StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

impl DevIssuer {
    /// Starts an issuer on a free loopback port.
    pub async fn start() -> std::io::Result<DevIssuer> {
        DevIssuer::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), DEFAULT_AUDIENCE).await
    }

    /// Starts an issuer on `addr` whose tokens carry `audience`.
    pub async fn start_on(addr: SocketAddr, audience: &str) -> std::io::Result<DevIssuer> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let keys = fresh_keys().map_err(std::io::Error::other)?;
        let state = Arc::new(IssuerState {
            issuer: format!("http://{addr}"),
            audience: audience.to_owned(),
            keys: RwLock::new(keys),
            jwks_requests: AtomicU64::new(0),
        });
        let discovery_state = state.clone();
        let router = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || {
                    let state = discovery_state.clone();
                    async move {
                        axum::Json(json!({
                            "issuer": state.issuer,
                            "jwks_uri": format!("{}/.well-known/jwks.json", state.issuer),
                            "token_endpoint": format!("{}/token", state.issuer),
                            "response_types_supported": ["token"],
                            "subject_types_supported": ["public"],
                            "id_token_signing_alg_values_supported": ["ES256", "RS256"],
                        }))
                    }
                }),
            )
            .route(
                "/.well-known/jwks.json",
                get(|State(state): State<Arc<IssuerState>>| async move {
                    state.jwks_requests.fetch_add(1, Ordering::Relaxed);
                    (
                        [
                            (header::CONTENT_TYPE, "application/jwk-set+json"),
                            (header::CACHE_CONTROL, "max-age=300"),
                        ],
                        state.jwks().to_string(),
                    )
                }),
            )
            .route("/token", get(mint))
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::warn!(error = %e, "dev issuer stopped");
            }
        });
        Ok(DevIssuer {
            state,
            addr,
            server,
        })
    }

    /// The issuer URL (`iss` of its tokens), e.g. `http://127.0.0.1:41234`.
    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    /// The socket address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The audience its tokens carry by default.
    pub fn audience(&self) -> &str {
        &self.state.audience
    }

    /// The JWKS URL.
    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.state.issuer)
    }

    /// The current public keys as a JWK Set.
    pub fn jwks(&self) -> Value {
        self.state.jwks()
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_requests(&self) -> u64 {
        self.state.jwks_requests.load(Ordering::Relaxed)
    }

    /// Replaces every key with a fresh one (new `kid`s): tokens signed before no longer verify
    /// once a verifier refetches the JWKS.
    pub fn rotate_keys(&self) -> Result<(), SigningKeyError> {
        let keys = fresh_keys()?;
        match self.state.keys.write() {
            Ok(mut current) => *current = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
        Ok(())
    }

    /// Starts a token for this issuer: `sub` `dev-user`, its audience, valid for an hour, ES256.
    pub fn token(&self) -> TokenBuilder {
        TokenBuilder::new(self.state.clone())
    }

    /// The validation policy matching this issuer: its `iss`, its audience, ES256 and RS256.
    pub fn validation(&self) -> Validation {
        Validation::builder([Algorithm::ES256, Algorithm::RS256])
            .issuer(self.issuer())
            .audience(self.audience())
            .build()
            .unwrap_or_else(|_| unreachable_policy())
    }

    /// A verifier for this issuer's tokens that fetches keys from its JWKS over HTTP, with
    /// [`validation`](Self::validation)'s policy (its issuer and audience) and the default
    /// [`AccessClaims`](tollgate_core::AccessClaims) (roles at `roles`, scopes at `scope`/`scp`,
    /// as [`TokenBuilder::roles`] and [`TokenBuilder::scopes`] write them).
    pub fn verifier(&self) -> Result<Verifier, tollgate_core::remote::RemoteError> {
        Ok(self.verifier_builder()?.build())
    }

    /// The [`verifier`](Self::verifier) before it is built, e.g. to read roles elsewhere:
    ///
    /// ```
    /// # use tollgate::testing::DevIssuer;
    /// use tollgate::core::{AccessClaims, ClaimPath};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let issuer = DevIssuer::start().await?;
    /// let verifier = issuer
    ///     .verifier_builder()?
    ///     .access_claims(AccessClaims::default().roles_at([ClaimPath::new("cognito:groups")?]))
    ///     .build();
    /// # let _ = verifier;
    /// # Ok(())
    /// # }
    /// ```
    pub fn verifier_builder(&self) -> Result<VerifierBuilder, tollgate_core::remote::RemoteError> {
        Ok(self.builder_from(
            JwksSource::builder(self.jwks_url())
                .ttl_bounds(Duration::from_secs(1), Duration::from_secs(300))
                .build()?,
        ))
    }

    /// The [`verifier_builder`](Self::verifier_builder) with `clock` deciding every time rule:
    /// the tokens' `exp`/`nbf`, the token cache and the age of the fetched key set, so a test
    /// moves time with [`ManualClock::advance`] instead of sleeping.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::testing::{DevIssuer, ManualClock};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let issuer = DevIssuer::start().await?;
    /// let clock = ManualClock::now_frozen();
    /// let verifier = issuer.verifier_builder_with_clock(&clock)?.build();
    /// let token = issuer.token().subject("alice").sign()?;
    /// assert!(verifier.verify(&token).await.is_ok());
    /// clock.advance(Duration::from_secs(2 * 3600));
    /// assert!(verifier.verify(&token).await.is_err(), "expired by the clock");
    /// # Ok(())
    /// # }
    /// ```
    pub fn verifier_builder_with_clock(
        &self,
        clock: &ManualClock,
    ) -> Result<VerifierBuilder, tollgate_core::remote::RemoteError> {
        let keys = JwksSource::builder(self.jwks_url())
            .ttl_bounds(Duration::from_secs(1), Duration::from_secs(300))
            .clock(clock.clone())
            .build()?;
        Ok(self.builder_from(keys).clock(clock.clone()))
    }

    fn builder_from(&self, keys: JwksSource) -> VerifierBuilder {
        Verifier::builder(self.validation(), keys, CryptoProvider::default())
    }
}

#[allow(clippy::panic)]
fn unreachable_policy() -> Validation {
    // The policy above has algorithms and non-empty strings: building it cannot fail.
    panic!("dev issuer policy is valid by construction")
}

/// Builds a token for a [`DevIssuer`]; from [`DevIssuer::token`].
#[must_use]
pub struct TokenBuilder {
    state: Arc<IssuerState>,
    claims: Map<String, Value>,
    alg: Algorithm,
    typ: String,
}

impl std::fmt::Debug for TokenBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenBuilder")
            .field("claims", &self.claims)
            .field("alg", &self.alg)
            .finish()
    }
}

impl TokenBuilder {
    fn new(state: Arc<IssuerState>) -> Self {
        let now = now();
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(state.issuer));
        claims.insert("aud".into(), json!(state.audience));
        claims.insert("sub".into(), json!("dev-user"));
        claims.insert("iat".into(), json!(now));
        claims.insert("nbf".into(), json!(now));
        claims.insert("exp".into(), json!(now + 3600));
        TokenBuilder {
            state,
            claims,
            alg: Algorithm::ES256,
            typ: "JWT".into(),
        }
    }

    /// Sets `sub`.
    pub fn subject(self, sub: impl Into<String>) -> Self {
        self.claim("sub", json!(sub.into()))
    }

    /// Sets `aud`.
    pub fn audience(self, aud: impl Into<String>) -> Self {
        self.claim("aud", json!(aud.into()))
    }

    /// Sets `roles` (an array).
    pub fn roles<R: Into<String>>(self, roles: impl IntoIterator<Item = R>) -> Self {
        let roles: Vec<String> = roles.into_iter().map(Into::into).collect();
        self.claim("roles", json!(roles))
    }

    /// Sets `scope` (space-separated).
    pub fn scopes<S: Into<String>>(self, scopes: impl IntoIterator<Item = S>) -> Self {
        let scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        self.claim("scope", json!(scopes.join(" ")))
    }

    /// Sets any claim (replacing it).
    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.claims.insert(name.to_owned(), value);
        self
    }

    /// Removes a claim.
    pub fn without(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Valid for `ttl` from now.
    pub fn ttl(self, ttl: Duration) -> Self {
        self.ttl_secs(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2))
    }

    /// Valid for `secs` seconds from now; negative values make an expired token.
    pub fn ttl_secs(self, secs: i64) -> Self {
        self.claim("exp", json!(now().saturating_add(secs)))
    }

    /// Expired an hour ago.
    pub fn expired(self) -> Self {
        let now = now();
        self.claim("iat", json!(now - 7200))
            .claim("nbf", json!(now - 7200))
            .claim("exp", json!(now - 3600))
    }

    /// Signs with the issuer's key for `alg` (ES256 or RS256).
    pub fn algorithm(mut self, alg: Algorithm) -> Self {
        self.alg = alg;
        self
    }

    /// Sets the header `typ` (default `JWT`; `at+jwt` for RFC 9068 access tokens).
    pub fn typ(mut self, typ: impl Into<String>) -> Self {
        self.typ = typ.into();
        self
    }

    /// The claims so far.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// Signs the token.
    pub fn sign(self) -> Result<String, SigningKeyError> {
        let key = self
            .state
            .key_for(self.alg)
            .ok_or_else(|| SigningKeyError(format!("the dev issuer has no {} key", self.alg)))?;
        key.sign(&self.claims, &self.typ)
    }
}
