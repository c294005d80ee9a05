//! [`AuthLayer`]: authenticates every request with a bearer token.
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
use http::{Request, Response};
use pin_project_lite::pin_project;
use tollgate_core::{ClaimPath, ConfigError, Verification, VerifiedToken};
use tower_layer::Layer;
use tower_service::Service;
use tracing::Instrument as _;

use crate::claims::{AuthContext, Authenticated};
use crate::guard::GuardFuture;
use crate::response::{Answering, AuthError, Challenge, ErrorResponder, Rfc6750Responder};
use crate::token::{TokenSources, find_token};

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
    answering: Answering,
    context: Arc<AuthContext>,
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
            .field("roles_override", &self.config.context.roles)
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
}

impl fmt::Debug for AuthLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayerBuilder")
            .field("mode", &self.mode)
            .field("realm", &self.realm)
            .field("resource_metadata", &self.resource_metadata)
            .field("custom_responder", &self.responder.is_some())
            .field("roles", &self.roles)
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
    /// extractors and guards behind it ([`Answering`]).
    pub fn error_responder(mut self, responder: impl ErrorResponder) -> Self {
        self.responder = Some(Arc::new(responder));
        self
    }

    /// Builds the layer.
    pub fn build(self) -> AuthLayer {
        let challenge = Challenge::new(self.realm, self.resource_metadata);
        let responder = self.responder.unwrap_or_else(|| Arc::new(Rfc6750Responder));
        let answering = Answering::shared(responder, challenge);
        AuthLayer {
            config: Arc::new(Config {
                verifier: self.verifier,
                mode: self.mode,
                sources: self.sources,
                context: Arc::new(AuthContext {
                    roles: self.roles,
                    answering: Some(answering.clone()),
                }),
                answering,
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
        // The inner service's response, or the layer's own answer without calling it.
        Decided { #[pin] future: GuardFuture<F> },
        // A full verification, then the inner service.
        Verifying { future: BoxResponseFuture<E> },
    }
}

impl<F, E> ResponseFuture<F, E> {
    fn inner(future: F) -> Self {
        ResponseFuture {
            state: State::Decided {
                future: GuardFuture::inner(future),
            },
        }
    }

    fn answered(response: Response<Body>) -> Self {
        ResponseFuture {
            state: State::Decided {
                future: GuardFuture::refused(response),
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
            StateProj::Decided { future } => future.poll(cx),
            StateProj::Verifying { future } => future.as_mut().poll(cx),
        }
    }
}

impl Config {
    /// Answers a refused request, and says why in the log.
    fn refuse(&self, error: AuthError) -> Response<Body> {
        let span = tracing::Span::current();
        span.record("outcome", "rejected");
        tracing::debug!(status = error.status().as_u16(), reason = %error, "request refused");
        self.answering.respond(&error)
    }

    /// Leaves the verified token in the request for extractors and guards.
    fn accept<B>(&self, request: &mut Request<B>, verified: VerifiedToken) {
        let span = tracing::Span::current();
        if !span.is_disabled() {
            span.record("outcome", "verified");
            if let Some(sub) = verified.subject() {
                span.record("sub", sub);
            }
            if let Some(iss) = verified.issuer() {
                span.record("iss", iss);
            }
            if let Some(kid) = &verified.header().kid {
                span.record("kid", kid.as_str());
            }
        }
        let auth = Authenticated::new(verified, self.context.clone());
        request.extensions_mut().insert(auth);
    }
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
        let span = tracing::debug_span!(
            "tollgate.auth",
            outcome = tracing::field::Empty,
            sub = tracing::field::Empty,
            iss = tracing::field::Empty,
            kid = tracing::field::Empty,
            token_source = tracing::field::Empty,
        );
        let entered = span.enter();
        let config = &*self.config;
        let answered = ResponseFuture::answered;
        let found = find_token(&config.sources, request.headers(), request.uri().query());
        let token = match found {
            Err(why) => return answered(config.refuse(AuthError::InvalidRequest(why))),
            Ok(None) if config.mode == Mode::Required => {
                return answered(config.refuse(AuthError::MissingCredentials));
            }
            Ok(None) => {
                span.record("outcome", "anonymous");
                request.extensions_mut().insert(config.answering.clone());
                None
            }
            Ok(Some(found)) => {
                span.record("token_source", found.location.as_str());
                Some(found.token)
            }
        };
        if let Some(token) = token {
            match config.verifier.start(token) {
                Verification::Done(Ok(verified)) => config.accept(&mut request, verified),
                Verification::Done(Err(err)) => {
                    return answered(config.refuse(AuthError::Token(err)));
                }
                Verification::Pending(pending) => {
                    // The key source must wait (a fetch): only this remainder is boxed. It owns
                    // the token and is the only thing that polls the key source.
                    let clone = self.inner.clone();
                    let mut inner = std::mem::replace(&mut self.inner, clone);
                    let config = self.config.clone();
                    let future = async move {
                        match pending.await {
                            Ok(verified) => config.accept(&mut request, verified),
                            Err(err) => return Ok(config.refuse(AuthError::Token(err))),
                        }
                        let response = inner.call(request).await?;
                        Ok(response.map(Body::new))
                    };
                    drop(entered);
                    return ResponseFuture::verifying(Box::pin(future.instrument(span)));
                }
            }
        }
        drop(entered);
        let future = self.inner.call(request);
        if span.is_disabled() {
            ResponseFuture::inner(future)
        } else {
            // With the span recorded (tracing at debug level), the handler runs inside it.
            ResponseFuture::verifying(Box::pin(
                async move { Ok(future.await?.map(Body::new)) }.instrument(span),
            ))
        }
    }
}
