//! [`AuthLayer`]: authenticates every request with a bearer token, or a DPoP-bound token and its
//! proof ([`AuthLayerBuilder::dpop`]).
//!
//! ```
//! use axum::{Router, routing::get};
//! use tollgate::{AuthLayer, Claims};
//! use tollgate_core::{Algorithm, CryptoProvider, KeySet, StandardClaims, Validation, Verifier,
//!                     VerificationKey};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = VerificationKey::hmac(b"0123456789abcdef0123456789abcdef")?;
//! let policy = Validation::builder([Algorithm::HS256]).audience("my-api").build()?;
//! let verifier = Verifier::new(policy, KeySet::from(key), CryptoProvider::default());
//!
//! async fn me(Claims(claims): Claims<StandardClaims>) -> String {
//!     claims.registered.sub.unwrap_or_default()
//! }
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .layer(AuthLayer::builder(verifier).realm("my-api").build());
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::body::Body;
use http::{HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tollgate_core::dpop::{
    DpopError, DpopMode, DpopVerifier, PendingProof, ProofCheck, ProofRequest, VerifiedProof,
    check_bearer,
};
use tollgate_core::{ClaimPath, ConfigError, PendingVerification, Verification, VerifiedToken};
use tower_layer::Layer;
use tower_service::Service;
use tracing::Instrument as _;

use crate::claims::{AuthContext, Authenticated};
use crate::guard::GuardFuture;
use crate::https::HttpsPolicy;
use crate::response::{Answering, AuthError, Challenge, ErrorResponder, Rfc6750Responder};
use crate::token::{AuthScheme, InvalidRequest, Presented, TokenSources, find_proof, find_token};

/// The `DPoP-Nonce` response header (RFC 9449 8.1, 9).
const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// What the layer verifies tokens with: defined in `tollgate-core` (so the Lambda authorizer and
/// other integrations need no tower), re-exported here.
pub use tollgate_core::TokenVerifier;

/// Whether a request without a token is refused or let through
/// ([`AuthLayerBuilder::optional`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// No token: 401. The default.
    Required,
    /// No token: passed through without claims. A token that is present but bad is still a 401.
    Optional,
}

struct Config {
    verifier: Arc<dyn TokenVerifier>,
    mode: Mode,
    sources: TokenSources,
    /// For failures before a scheme is known (no token, two `Authorization` headers).
    answering: Answering,
    /// Per scheme presented: the request's context (its answering challenges in that scheme).
    bearer: Arc<AuthContext>,
    dpop_context: Arc<AuthContext>,
    /// The proof checker; `None` when DPoP is off.
    dpop: Option<DpopVerifier>,
    dpop_mode: DpopMode,
    /// [`AuthLayerBuilder::require_https`]; `None`: any transport.
    https: Option<HttpsPolicy>,
    /// [`AuthLayerBuilder::trace_subject`].
    trace_subject: bool,
}

/// A tower [`Layer`] that verifies the bearer token of every request and puts the result
/// ([`Authenticated`]) in the request extensions, for [`Claims`](crate::Claims) and the guards.
///
/// Cheap to clone. Works with `Router::layer`, `Router::route_layer`, `ServiceBuilder`, and any
/// `Service<http::Request<B>>` whose response body is an `http_body::Body` (axum, tonic,
/// `lambda_http`).
#[derive(Clone)]
pub struct AuthLayer {
    config: Arc<Config>,
}

impl fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("mode", &self.config.mode)
            .field("sources", &self.config.sources)
            .field("answering", &self.config.answering)
            .field("roles_override", &self.config.bearer.roles)
            .field("dpop_mode", &self.config.dpop_mode)
            .field("dpop", &self.config.dpop)
            .field("https", &self.config.https)
            .field("trace_subject", &self.config.trace_subject)
            .finish_non_exhaustive()
    }
}

impl AuthLayer {
    /// Requires a valid `Authorization: Bearer` token on every request.
    pub fn new(verifier: impl TokenVerifier) -> Self {
        AuthLayer::builder(verifier).build()
    }

    /// Configures the layer.
    pub fn builder(verifier: impl TokenVerifier) -> AuthLayerBuilder {
        AuthLayerBuilder {
            verifier: Arc::new(verifier),
            mode: Mode::Required,
            sources: TokenSources::default(),
            realm: Some("api".into()),
            resource_metadata: None,
            responder: None,
            roles: None,
            dpop: None,
            https: None,
            trace_subject: false,
        }
    }
}

/// Configures an [`AuthLayer`].
#[must_use]
pub struct AuthLayerBuilder {
    verifier: Arc<dyn TokenVerifier>,
    mode: Mode,
    sources: TokenSources,
    realm: Option<String>,
    resource_metadata: Option<String>,
    responder: Option<Arc<dyn ErrorResponder>>,
    roles: Option<ClaimPath>,
    dpop: Option<(DpopVerifier, DpopMode)>,
    https: Option<HttpsPolicy>,
    trace_subject: bool,
}

impl fmt::Debug for AuthLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayerBuilder")
            .field("mode", &self.mode)
            .field("realm", &self.realm)
            .field("resource_metadata", &self.resource_metadata)
            .field("custom_responder", &self.responder.is_some())
            .field("roles", &self.roles)
            .field("dpop", &self.dpop)
            .field("https", &self.https)
            .field("trace_subject", &self.trace_subject)
            .finish_non_exhaustive()
    }
}

impl AuthLayerBuilder {
    /// Lets requests without a token through, without claims: handlers take
    /// `Option<Claims<T>>`, and `Claims<T>` and the guards still answer 401 for them. A token
    /// that is present but bad is still refused. Without this call a token is required.
    ///
    /// The one way to choose: a call that says what it does at the call site (the required case
    /// is the default, so a mode value would only ever carry this one other choice). Chosen at
    /// run time, it reads `let builder = if anonymous { builder.optional() } else { builder };`.
    pub fn optional(mut self) -> Self {
        self.mode = Mode::Optional;
        self
    }

    /// The `realm` of the `WWW-Authenticate` challenge (default `"api"`).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Omits `realm` from challenges.
    pub fn no_realm(mut self) -> Self {
        self.realm = None;
        self
    }

    /// Also reads the token from this cookie.
    ///
    /// Cookies are sent by browsers automatically: protect state-changing routes against CSRF
    /// (e.g. `SameSite=Strict` cookies) when you enable this.
    pub fn cookie(mut self, name: impl Into<String>) -> Self {
        self.sources.cookie = Some(name.into());
        self
    }

    /// Also reads the token from this query parameter (usually `access_token`, RFC 6750 2.3),
    /// for clients that cannot set headers such as browser WebSockets.
    ///
    /// **Warning:** URLs end up in access logs, browser history and `Referer` headers; use
    /// short-lived tokens and only on the routes that need it.
    pub fn query_parameter(mut self, name: impl Into<String>) -> Self {
        self.sources.query = Some(name.into());
        self
    }

    /// Adds `resource_metadata="<url>"` (RFC 9728) to challenges, pointing clients (e.g. MCP
    /// clients) at the protected-resource metadata.
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata = Some(url.into());
        self
    }

    /// Overrides where roles are read from, for every guard and
    /// [`Authenticated::roles`](crate::Authenticated::roles) behind this layer: a
    /// [`ClaimPath`] such as `realm_access.roles`, `cognito:groups`,
    /// `https://example.com/roles` or `resource_access."my.client".roles`.
    ///
    /// By default roles are read where the verifier's
    /// [`AccessClaims`](tollgate_core::AccessClaims) say (default `roles`; a provider preset
    /// brings its own), which is usually the better place to configure them: every layer,
    /// guard and authorizer using that verifier then agrees. This path *replaces* the
    /// verifier's role paths (it is not added to them); scopes are unaffected.
    pub fn roles_claim(self, path: &str) -> Result<Self, ConfigError> {
        Ok(self.roles_path(ClaimPath::new(path)?))
    }

    /// Like [`roles_claim`](Self::roles_claim), with a path already built (e.g. with
    /// [`ClaimPath::nested`], no quoting needed).
    pub fn roles_path(mut self, path: ClaimPath) -> Self {
        self.roles = Some(path);
        self
    }

    /// Replaces the answer to failures (a closure `Fn(&AuthError, &Challenge) -> Response<Body>`
    /// or an [`ErrorResponder`]): the layer's own 400, 401 and 503, and the rejections of the
    /// extractors and guards behind it ([`Answering`]). It answers gRPC calls too, with a
    /// [`Challenge`] that says [`is_grpc`](Challenge::is_grpc): the default responder then answers
    /// the gRPC way, a custom one may call [`grpc_response`](crate::grpc::grpc_response).
    pub fn error_responder(mut self, responder: impl ErrorResponder) -> Self {
        self.responder = Some(Arc::new(responder));
        self
    }

    /// Accepts DPoP-bound tokens (RFC 9449) with their proofs, checked by `verifier`:
    ///
    /// - [`DpopMode::Off`] (the default without this call): only `Authorization: Bearer`.
    ///   `DPoP` is then another scheme, like `Basic`: no token, so a bare 401 `Bearer`
    ///   challenge (RFC 6750 3.1), or anonymous behind an [`optional`](Self::optional) layer,
    ///   exactly as before DPoP existed. The proof is not looked at.
    /// - [`DpopMode::Allowed`]: `Bearer` and `DPoP`. A request without credentials is challenged
    ///   with both (two `WWW-Authenticate` values).
    /// - [`DpopMode::Required`]: only `Authorization: DPoP <token>` with one `DPoP` proof; a
    ///   bearer token (header, cookie or query) is refused with 401 `invalid_token` and a
    ///   `DPoP` challenge.
    ///
    /// In every mode a token bound to a key (`cnf.jkt`) presented as `Bearer` is refused
    /// ([`check_bearer`]), and a `DPoP`-scheme token must be bound. The access token's
    /// verification may come from the verifier's cache; the proof is checked on every request
    /// (`htm`, `htu` = the verifier's public URL + the request path as this layer sees it,
    /// `iat`, `ath`, `cnf.jkt`, single use of `jti`), never cached. With server nonces on, a
    /// proof without the current nonce is answered 401 `use_dpop_nonce` with a `DPoP-Nonce`
    /// header, and every DPoP response that passes carries the next nonce. Expose `DPoP-Nonce`
    /// and `WWW-Authenticate` to browsers (`Access-Control-Expose-Headers`) when serving them
    /// cross-origin.
    ///
    /// The path is the request's as this layer sees it: behind `Router::nest("/v1", ..)`, a
    /// layer inside the nested router sees the path without `/v1`, so the public URL must then
    /// end in `/v1`.
    ///
    /// ```
    /// use tollgate::AuthLayer;
    /// use tollgate::core::dpop::{DpopMode, DpopVerifier};
    /// use tollgate::core::{Algorithm, CryptoProvider, KeySet, Validation, Verifier};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let keys = KeySet::new();
    /// let policy = Validation::builder([Algorithm::RS256]).audience("my-api").build()?;
    /// let verifier = Verifier::new(policy, keys, CryptoProvider::default());
    /// // The URL clients call: configured, never read from the Host header.
    /// let dpop = DpopVerifier::builder("https://api.example.com")?
    ///     .nonces(None)
    ///     .build();
    /// let layer = AuthLayer::builder(verifier).dpop(dpop, DpopMode::Allowed).build();
    /// # let _ = layer;
    /// # Ok(())
    /// # }
    /// ```
    pub fn dpop(mut self, verifier: DpopVerifier, mode: DpopMode) -> Self {
        self.dpop = Some((verifier, mode));
        self
    }

    /// Refuses a token that arrived over plain HTTP (RFC 6750 5.3) with 400 `invalid_request`,
    /// "the token must be sent over HTTPS" ([`InvalidRequest::InsecureTransport`]), before any
    /// cryptography. `policy` says how a request's scheme is judged: its URI's scheme, or the
    /// forwarded headers of the [trusted proxies](HttpsPolicy::trust_proxy) only, and whether
    /// loopback clients are exempt. Requests without a token are not affected (a missing token
    /// is still a 401, or anonymous behind an [`optional`](Self::optional) layer). Off by
    /// default.
    ///
    /// ```
    /// use std::net::{IpAddr, Ipv4Addr};
    /// use tollgate::{AuthLayer, HttpsPolicy};
    /// use tollgate::core::{Algorithm, CryptoProvider, KeySet, Validation, Verifier};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let keys = KeySet::new();
    /// let policy = Validation::builder([Algorithm::RS256]).audience("my-api").build()?;
    /// let verifier = Verifier::new(policy, keys, CryptoProvider::default());
    /// // TLS ends at the load balancer 10.0.0.7, which sets X-Forwarded-Proto.
    /// let https = HttpsPolicy::new().trust_proxy(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)));
    /// let layer = AuthLayer::builder(verifier).require_https(https).build();
    /// // Serve with `app.into_make_service_with_connect_info::<SocketAddr>()` so that the layer
    /// // knows the TCP peer.
    /// # let _ = layer;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// [`InvalidRequest::InsecureTransport`]: crate::InvalidRequest::InsecureTransport
    pub fn require_https(mut self, policy: HttpsPolicy) -> Self {
        self.https = Some(policy);
        self
    }

    /// Whether the layer's `tollgate.auth` span records the token's `sub`, and its refusal events
    /// the detailed error (which can quote claim values, e.g. an audience or a claim that does not
    /// fit the handler's type). Default `false`: the span holds the outcome, `iss`, `kid`,
    /// `scheme`, `token_source`, the DPoP key's `jkt` and, on refusal, `reason`
    /// ([`AuthError::reason`]), never the token or another claim's value.
    pub fn trace_subject(mut self, on: bool) -> Self {
        self.trace_subject = on;
        self
    }

    /// Builds the layer.
    pub fn build(self) -> AuthLayer {
        let (dpop, dpop_mode) = match self.dpop {
            Some((_, DpopMode::Off)) | None => (None, DpopMode::Off),
            Some((verifier, mode)) => (Some(verifier), mode),
        };
        let mut sources = self.sources;
        sources.dpop = dpop.is_some();
        let mut challenge = Challenge::new(self.realm, self.resource_metadata);
        if let Some(verifier) = &dpop {
            challenge = challenge.dpop(dpop_mode, verifier.algs_challenge());
        }
        let responder = self.responder.unwrap_or_else(|| Arc::new(Rfc6750Responder));
        let context = |scheme| {
            Arc::new(AuthContext {
                roles: self.roles.clone(),
                trace_claims: self.trace_subject,
                answering: Some(Answering::shared(
                    responder.clone(),
                    challenge.clone().presented(scheme),
                )),
            })
        };
        let bearer = context(AuthScheme::Bearer);
        let dpop_context = context(AuthScheme::Dpop);
        let answering = Answering::shared(responder, challenge);
        AuthLayer {
            config: Arc::new(Config {
                verifier: self.verifier,
                mode: self.mode,
                sources,
                answering,
                bearer,
                dpop_context,
                dpop,
                dpop_mode,
                https: self.https,
                trace_subject: self.trace_subject,
            }),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service of [`AuthLayer`].
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S: fmt::Debug> fmt::Debug for AuthService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

type BoxResponseFuture<E> = Pin<Box<dyn Future<Output = Result<Response<Body>, E>> + Send>>;

pin_project! {
    /// The response future of [`AuthService`]: the inner service's response, or the layer's own
    /// answer. A request decided inside `call` (a cached token, keys at hand, or refused) costs
    /// no allocation here; only a verification that waits for a key fetch is boxed.
    pub struct ResponseFuture<F, E> {
        #[pin]
        state: State<F, E>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, E> {
        // The inner service's response (with the next DPoP nonce, when there is one), or the
        // layer's own answer without calling it.
        Decided { #[pin] future: GuardFuture<F>, nonce: Option<HeaderValue> },
        // A full verification, then the inner service.
        Verifying { future: BoxResponseFuture<E> },
    }
}

impl<F, E> ResponseFuture<F, E> {
    fn inner(future: F, nonce: Option<HeaderValue>) -> Self {
        ResponseFuture {
            state: State::Decided {
                future: GuardFuture::inner(future),
                nonce,
            },
        }
    }

    fn answered(response: Response<Body>) -> Self {
        ResponseFuture {
            state: State::Decided {
                future: GuardFuture::refused(response),
                nonce: None,
            },
        }
    }

    fn verifying(future: BoxResponseFuture<E>) -> Self {
        ResponseFuture {
            state: State::Verifying { future },
        }
    }
}

impl<F, E> fmt::Debug for ResponseFuture<F, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl<F, B, E> Future for ResponseFuture<F, E>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Decided { future, nonce } => match future.poll(cx) {
                Poll::Ready(Ok(mut response)) => {
                    if let Some(nonce) = nonce.take() {
                        response.headers_mut().insert(DPOP_NONCE, nonce);
                    }
                    Poll::Ready(Ok(response))
                }
                other => other,
            },
            StateProj::Verifying { future } => future.as_mut().poll(cx),
        }
    }
}

/// A request let through: its token, and its proof for a DPoP request.
struct Accepted {
    verified: VerifiedToken,
    proof: Option<VerifiedProof>,
    scheme: AuthScheme,
}

/// A request refused, answered in the challenge of the scheme it presented (`None`: not known).
struct Refused(AuthError, Option<AuthScheme>);

/// A verified token checked against its scheme (and proof): decided, or waiting for the replay
/// store.
enum Bound {
    Done(Result<Accepted, Refused>),
    WaitProof {
        verified: VerifiedToken,
        pending: PendingProof,
    },
}

impl Bound {
    fn refused(error: impl Into<AuthError>, scheme: AuthScheme) -> Self {
        Bound::Done(Err(Refused(error.into(), Some(scheme))))
    }

    async fn settle(self) -> Result<Accepted, Refused> {
        match self {
            Bound::Done(done) => done,
            Bound::WaitProof { verified, pending } => match pending.await {
                Ok(proof) => Ok(Accepted {
                    verified,
                    proof: Some(proof),
                    scheme: AuthScheme::Dpop,
                }),
                Err(err) => Err(Refused(AuthError::Dpop(err), Some(AuthScheme::Dpop))),
            },
        }
    }
}

/// What the layer decided for a request without waiting, owning everything it needs (nothing
/// borrows the request, which accepting it then changes).
enum Step {
    Bound(Bound),
    /// Let through without a token ([`AuthLayerBuilder::optional`]).
    Anonymous,
    /// The token's verification waits for its keys; the proof and token are copied out of the
    /// request for the check after it.
    WaitToken {
        pending: PendingVerification,
        scheme: AuthScheme,
        dpop: Option<(String, String)>,
    },
}

impl Step {
    fn refused(error: AuthError, scheme: Option<AuthScheme>) -> Self {
        Step::Bound(Bound::Done(Err(Refused(error, scheme))))
    }
}

/// The parts of a request the layer's decision reads.
#[derive(Clone, Copy)]
struct Seen<'r> {
    headers: &'r http::HeaderMap,
    query: Option<&'r str>,
    method: &'r str,
    path: &'r str,
    scheme: Option<&'r http::uri::Scheme>,
    extensions: &'r http::Extensions,
}

impl<'r> Seen<'r> {
    fn of<B>(request: &'r Request<B>) -> Self {
        Seen {
            headers: request.headers(),
            query: request.uri().query(),
            method: request.method().as_str(),
            path: request.uri().path(),
            scheme: request.uri().scheme(),
            extensions: request.extensions(),
        }
    }
}

impl Config {
    /// Answers a refused request (with these headers) in the challenge of the scheme it
    /// presented, the gRPC way for a gRPC call, and says why in the log. A `use_dpop_nonce`
    /// answer gets a fresh `DPoP-Nonce` (unless the responder set one).
    fn refuse(
        &self,
        error: AuthError,
        presented: Option<AuthScheme>,
        headers: &http::HeaderMap,
        span: &tracing::Span,
    ) -> Response<Body> {
        span.record("outcome", "rejected");
        span.record("reason", error.reason());
        let status = error.status().as_u16();
        if self.trace_subject {
            tracing::debug!(status, reason = error.reason(), detail = %error, "request refused");
        } else {
            // The detailed error can quote claims (an audience, a claim that does not parse).
            tracing::debug!(status, reason = error.reason(), "request refused");
        }
        let answering = match presented {
            None => Some(&self.answering),
            Some(AuthScheme::Bearer) => self.bearer.answering.as_ref(),
            Some(AuthScheme::Dpop) => self.dpop_context.answering.as_ref(),
        };
        let grpc = crate::grpc::is_grpc_request(headers);
        let mut response = answering
            .unwrap_or(&self.answering)
            .respond_as(&error, grpc);
        if error.needs_dpop_nonce()
            && !response.headers().contains_key(DPOP_NONCE)
            && let Some(nonce) = self.next_nonce()
        {
            response.headers_mut().insert(DPOP_NONCE, nonce);
        }
        response
    }

    /// The nonce a DPoP client uses next (`None` when nonces are off).
    fn next_nonce(&self) -> Option<HeaderValue> {
        let nonce = self.dpop.as_ref()?.current_nonce()?;
        HeaderValue::from_str(&nonce).ok()
    }

    /// Decides a request as far as it can without waiting.
    #[inline]
    fn decide(&self, seen: Seen<'_>, span: &tracing::Span) -> Step {
        let found = match find_token(&self.sources, seen.headers, seen.query) {
            Err(why) => return Step::refused(AuthError::InvalidRequest(why), None),
            Ok(None) if self.mode == Mode::Required => {
                return Step::refused(AuthError::MissingCredentials, None);
            }
            Ok(None) => return Step::Anonymous,
            Ok(Some(found)) => found,
        };
        if !span.is_disabled() {
            span.record("token_source", found.location.as_str());
            span.record("scheme", found.scheme.as_str());
        }
        let scheme = found.scheme;
        // A refusal before the verifier: a malformed token is refused first, as it was when
        // every token was checked where it was found (a deferred check is made now).
        let refused = |err: AuthError| match found.token.text() {
            Err(malformed) => Step::refused(AuthError::InvalidRequest(malformed), None),
            Ok(_) => Step::refused(err, Some(scheme)),
        };
        if let Some(https) = &self.https
            && !https.allows(seen.scheme, seen.headers, seen.extensions)
        {
            return refused(AuthError::InvalidRequest(InvalidRequest::InsecureTransport));
        }
        // The scheme and the proof header are checked before any cryptography.
        // (With DPoP off, `find_token` never reports the DPoP scheme.)
        let proof = match (scheme, self.dpop_mode) {
            (AuthScheme::Bearer, DpopMode::Required) => {
                return refused(AuthError::SchemeNotAccepted(scheme));
            }
            (AuthScheme::Dpop, _) => match (find_proof(seen.headers), found.token.text()) {
                (Ok(proof), Ok(token)) => Some((proof, token)),
                (Err(err), _) => return refused(AuthError::Dpop(err)),
                (_, Err(malformed)) => {
                    return Step::refused(AuthError::InvalidRequest(malformed), None);
                }
            },
            (AuthScheme::Bearer, _) => None,
        };
        let verification = match found.token {
            Presented::Checked(token) => self.verifier.start(token),
            // The cache first: a hit proves the grammar.
            Presented::Unchecked(bytes) => match self.verifier.start_presented(bytes) {
                Some(verification) => verification,
                None => {
                    let malformed = InvalidRequest::MalformedAuthorization;
                    return Step::refused(AuthError::InvalidRequest(malformed), None);
                }
            },
        };
        match verification {
            Verification::Done(Ok(verified)) => {
                Step::Bound(self.bind(verified, scheme, proof, seen.method, seen.path))
            }
            Verification::Done(Err(err)) => Step::refused(AuthError::Token(err), Some(scheme)),
            Verification::Pending(pending) => Step::WaitToken {
                pending,
                scheme,
                dpop: proof.map(|(proof, token)| (proof.to_owned(), token.to_owned())),
            },
        }
    }

    /// Checks that a verified token fits the scheme it came with: a bearer token must not be
    /// bound to a key; a DPoP token must be, and the proof must verify (on every request, the
    /// token's verification may have been a cache hit).
    fn bind(
        &self,
        verified: VerifiedToken,
        scheme: AuthScheme,
        proof: Option<(&str, &str)>,
        method: &str,
        path: &str,
    ) -> Bound {
        if scheme == AuthScheme::Bearer {
            return match check_bearer(&verified) {
                Ok(()) => Bound::Done(Ok(Accepted {
                    verified,
                    proof: None,
                    scheme,
                })),
                Err(err) => Bound::refused(err, scheme),
            };
        }
        // `decide` found the proof (the DPoP scheme is only read with a verifier); refused all
        // the same if not, never treated as a bearer request.
        let (Some(dpop), Some((proof, access_token))) = (&self.dpop, proof) else {
            return Bound::refused(DpopError::MissingProof, scheme);
        };
        let Some(token_jkt) = verified.confirmation_jkt() else {
            return Bound::refused(DpopError::UnboundToken, scheme);
        };
        let check = dpop.check(ProofRequest {
            proof,
            method,
            path,
            access_token,
            token_jkt: Some(token_jkt),
        });
        match check {
            ProofCheck::Done(Ok(proof)) => Bound::Done(Ok(Accepted {
                verified,
                proof: Some(proof),
                scheme,
            })),
            ProofCheck::Done(Err(err)) => Bound::refused(err, scheme),
            ProofCheck::Pending(pending) => Bound::WaitProof { verified, pending },
        }
    }

    /// Leaves the verified token (and proof) in the request for extractors and guards; returns
    /// the nonce for the response of a DPoP request when nonces are on.
    fn accept<B>(
        &self,
        request: &mut Request<B>,
        accepted: Accepted,
        span: &tracing::Span,
    ) -> Option<HeaderValue> {
        let Accepted {
            verified,
            proof,
            scheme,
        } = accepted;
        if !span.is_disabled() {
            span.record("outcome", "verified");
            if self.trace_subject
                && let Some(sub) = verified.subject()
            {
                span.record("sub", sub);
            }
            if let Some(iss) = verified.issuer() {
                span.record("iss", iss);
            }
            if let Some(kid) = &verified.header().kid {
                span.record("kid", kid.as_str());
            }
            if let Some(proof) = &proof {
                span.record("jkt", proof.jkt());
            }
        }
        let (context, nonce) = match scheme {
            AuthScheme::Bearer => (&self.bearer, None),
            AuthScheme::Dpop => (&self.dpop_context, self.next_nonce()),
        };
        let auth = Authenticated::new(verified, context.clone(), proof);
        request.extensions_mut().insert(auth);
        nonce
    }
}

/// Adds the next DPoP nonce to a response.
fn with_nonce(mut response: Response<Body>, nonce: Option<HeaderValue>) -> Response<Body> {
    if let Some(nonce) = nonce {
        response.headers_mut().insert(DPOP_NONCE, nonce);
    }
    response
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for AuthService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: 'static,
    ReqBody: Send + 'static,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // No span unless a subscriber wants it: with `tracing`'s `log` feature on (axum's default
        // features turn it on), even a disabled span calls into `log` when it is created and
        // recorded: about 230 instructions per request, 4% of what a cache hit adds.
        let span = if tracing::enabled!(tracing::Level::DEBUG) {
            tracing::debug_span!(
                "tollgate.auth",
                outcome = tracing::field::Empty,
                sub = tracing::field::Empty,
                iss = tracing::field::Empty,
                kid = tracing::field::Empty,
                token_source = tracing::field::Empty,
                scheme = tracing::field::Empty,
                jkt = tracing::field::Empty,
                reason = tracing::field::Empty,
            )
        } else {
            tracing::Span::none()
        };
        let entered = span.enter();
        let config = &*self.config;
        let answered = ResponseFuture::answered;
        let waiting = match config.decide(Seen::of(&request), &span) {
            Step::Bound(Bound::Done(Ok(accepted))) => {
                let nonce = config.accept(&mut request, accepted, &span);
                drop(entered);
                return self.pass(request, nonce, span);
            }
            Step::Bound(Bound::Done(Err(Refused(error, presented)))) => {
                return answered(config.refuse(error, presented, request.headers(), &span));
            }
            Step::Anonymous => {
                span.record("outcome", "anonymous");
                request.extensions_mut().insert(config.answering.clone());
                drop(entered);
                return self.pass(request, None, span);
            }
            Step::Bound(waiting @ Bound::WaitProof { .. }) => Ok(waiting),
            Step::WaitToken {
                pending,
                scheme,
                dpop,
            } => Err((pending, scheme, dpop)),
        };
        // A key fetch or the replay store must wait: only this remainder is boxed. It owns what
        // it checks and is the only thing that polls the key source and the store.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let config = self.config.clone();
        // The future runs inside `span` (`instrument` below) and records its outcome in it.
        let own_span = span.clone();
        let future = async move {
            let bound = match waiting {
                Ok(bound) => bound,
                Err((pending, scheme, dpop)) => match pending.await {
                    Ok(verified) => {
                        let seen = Seen::of(&request);
                        let proof = dpop
                            .as_ref()
                            .map(|(proof, token)| (proof.as_str(), token.as_str()));
                        config.bind(verified, scheme, proof, seen.method, seen.path)
                    }
                    Err(err) => Bound::refused(err, scheme),
                },
            };
            let nonce = match bound.settle().await {
                Ok(accepted) => config.accept(&mut request, accepted, &own_span),
                Err(Refused(error, presented)) => {
                    return Ok(config.refuse(error, presented, request.headers(), &own_span));
                }
            };
            let response = inner.call(request).await?;
            Ok(with_nonce(response.map(Body::new), nonce))
        };
        drop(entered);
        ResponseFuture::verifying(Box::pin(future.instrument(span)))
    }
}

impl<S> AuthService<S> {
    /// Passes a request decided inside `call` to the inner service. Inlined: as a function of
    /// its own it took the request and returned the inner future through `memcpy` calls, about
    /// 120 instructions per request.
    #[inline(always)]
    fn pass<ReqBody, ResBody>(
        &mut self,
        request: Request<ReqBody>,
        nonce: Option<HeaderValue>,
        span: tracing::Span,
    ) -> ResponseFuture<S::Future, S::Error>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
        S::Future: Send + 'static,
        ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let future = self.inner.call(request);
        if span.is_disabled() {
            ResponseFuture::inner(future, nonce)
        } else {
            // With the span recorded (tracing at debug level), the handler runs inside it.
            ResponseFuture::verifying(Box::pin(
                async move { Ok(with_nonce(future.await?.map(Body::new), nonce)) }.instrument(span),
            ))
        }
    }
}
