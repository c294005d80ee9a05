//! Failure answers per RFC 6750 section 3, and the hook to replace them.

use std::fmt;
use std::sync::Arc;

use axum_core::body::Body;
use axum_core::response::IntoResponse;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use tollgate_core::ErrorCode;
use tollgate_core::dpop::{DpopError, DpopMode};

use crate::grpc::wire::{GRPC_MESSAGE, GRPC_STATUS, is_grpc_request, percent_encode_message};
use crate::token::{AuthScheme, InvalidRequest};

/// Why a request was not let through. Every answer of Tollgate's layers, extractors and guards
/// is one of these, answered by the [`ErrorResponder`] in effect with
/// [`description`](Self::description) as the client-facing text.
///
/// The failures of a token (its verification, its claims' shape, a missing role or scope) are
/// [`tollgate_core::Error`]s, one variant and one client text each: the errors the core
/// verifier, the Lambda authorizer and the CLI report too; the failures of a DPoP proof are
/// [`DpopError`]s, likewise. This type adds only the failures of the request itself.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No access token: 401 with a bare challenge (RFC 6750 3.1: no error code).
    #[error("{MISSING_CREDENTIALS}")]
    MissingCredentials,
    /// Malformed credentials: 400 `invalid_request`.
    #[error("{}", .0.description())]
    InvalidRequest(InvalidRequest),
    /// The token was refused, or could not be checked: the core error decides the answer, e.g.
    /// 401 `invalid_token` (expired, forged, claims that do not fit the extractor's type:
    /// [`ClaimsShape`](tollgate_core::Error::ClaimsShape)), 403 `insufficient_scope` (a guard's
    /// role or scope is missing: [`InsufficientScope`](tollgate_core::Error::InsufficientScope),
    /// whose `required` becomes the challenge's `scope`), or 503 (keys unavailable).
    #[error(transparent)]
    Token(#[from] tollgate_core::Error),
    /// The DPoP proof, or the way a token was presented, was refused (RFC 9449): 401
    /// `invalid_dpop_proof` (a proof that does not verify or does not fit the request or the
    /// token), 401 `use_dpop_nonce` (the proof needs the server nonce sent in `DPoP-Nonce`),
    /// 401 `invalid_token` (an unbound token presented as DPoP, a bound token presented as
    /// Bearer), 400 `invalid_request` (several proofs), 503 (the replay store is unavailable).
    #[error(transparent)]
    Dpop(#[from] DpopError),
    /// The token was presented with a scheme that is not accepted here: `Bearer` where DPoP is
    /// [required](tollgate_core::dpop::DpopMode::Required), and for
    /// [`DpopProof`](crate::DpopProof) on a bearer request. 401 `invalid_token`, challenging
    /// with the scheme that is accepted. (With DPoP [off](tollgate_core::dpop::DpopMode::Off)
    /// the layer reads `DPoP` as another scheme, i.e. no credentials, so it never reports
    /// `SchemeNotAccepted(Dpop)`; the variant is for layers of other crates.)
    #[error("{}", scheme_not_accepted(*.0))]
    SchemeNotAccepted(AuthScheme),
}

/// The client text of [`AuthError::MissingCredentials`].
const MISSING_CREDENTIALS: &str = "a bearer token is required";

const fn scheme_not_accepted(scheme: AuthScheme) -> &'static str {
    match scheme {
        AuthScheme::Bearer => "this resource requires a DPoP-bound token and the DPoP scheme",
        AuthScheme::Dpop => "this resource does not accept the DPoP scheme; use Bearer",
    }
}

impl From<InvalidRequest> for AuthError {
    fn from(why: InvalidRequest) -> Self {
        AuthError::InvalidRequest(why)
    }
}

impl AuthError {
    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::MissingCredentials | AuthError::SchemeNotAccepted(_) => {
                StatusCode::UNAUTHORIZED
            }
            AuthError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            AuthError::Token(err) => {
                StatusCode::from_u16(err.code().http_status()).unwrap_or(StatusCode::UNAUTHORIZED)
            }
            AuthError::Dpop(err) => {
                StatusCode::from_u16(err.http_status()).unwrap_or(StatusCode::UNAUTHORIZED)
            }
        }
    }

    /// The nearest RFC 6750 error code; `None` when credentials are missing. A DPoP error
    /// whose code RFC 6750 does not have (`invalid_dpop_proof`, `use_dpop_nonce`) is
    /// [`InvalidToken`](ErrorCode::InvalidToken) here: the exact code is
    /// [`challenge_error`](Self::challenge_error).
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            AuthError::MissingCredentials => None,
            AuthError::InvalidRequest(_) => Some(ErrorCode::InvalidRequest),
            AuthError::Token(err) => Some(err.code()),
            AuthError::SchemeNotAccepted(_) => Some(ErrorCode::InvalidToken),
            AuthError::Dpop(err) => Some(match err.code() {
                "invalid_request" => ErrorCode::InvalidRequest,
                _ if err.is_transient() => ErrorCode::TemporarilyUnavailable,
                _ => ErrorCode::InvalidToken,
            }),
        }
    }

    /// The `error` parameter of the challenge and the default body: an RFC 6750 code, or one
    /// of RFC 9449's (`invalid_dpop_proof`, `use_dpop_nonce`); `None` when credentials are
    /// missing.
    ///
    /// ```
    /// use tollgate::AuthError;
    /// use tollgate::core::dpop::DpopError;
    ///
    /// assert_eq!(AuthError::Dpop(DpopError::Replayed).challenge_error(), Some("invalid_dpop_proof"));
    /// assert_eq!(AuthError::Dpop(DpopError::NonceRequired).challenge_error(), Some("use_dpop_nonce"));
    /// assert_eq!(AuthError::MissingCredentials.challenge_error(), None);
    /// ```
    pub fn challenge_error(&self) -> Option<&'static str> {
        match self {
            AuthError::Dpop(err) => Some(err.code()),
            other => other.code().map(ErrorCode::as_str),
        }
    }

    /// The client-facing text (the challenge's `error_description` and the default body's): safe
    /// to show clients, never configuration or key material. For a token failure it is
    /// [`tollgate_core::Error::public_description`], for a DPoP failure
    /// [`DpopError::client_message`].
    pub fn description(&self) -> &'static str {
        match self {
            AuthError::MissingCredentials => MISSING_CREDENTIALS,
            AuthError::InvalidRequest(why) => why.description(),
            AuthError::Token(err) => err.public_description(),
            AuthError::Dpop(err) => err.client_message(),
            AuthError::SchemeNotAccepted(scheme) => scheme_not_accepted(*scheme),
        }
    }

    /// A stable, snake_case name of the kind of failure, for logs and metrics (few values, never
    /// a claim, a key id or a token): [`tollgate_core::Error::reason`] for a token failure,
    /// [`InvalidRequest::reason`] for a malformed request, a `dpop_`-prefixed name for a DPoP
    /// failure, `missing_credentials` and `scheme_not_accepted` for the others. The layer records
    /// it as the `reason` field of its `tollgate.auth` span.
    ///
    /// ```
    /// use tollgate::AuthError;
    /// use tollgate::core::dpop::DpopError;
    ///
    /// assert_eq!(AuthError::MissingCredentials.reason(), "missing_credentials");
    /// assert_eq!(AuthError::Dpop(DpopError::Replayed).reason(), "dpop_replayed");
    /// assert_eq!(AuthError::from(tollgate::core::Error::InvalidSignature).reason(), "invalid_signature");
    /// ```
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::MissingCredentials => "missing_credentials",
            AuthError::InvalidRequest(why) => why.reason(),
            AuthError::Token(err) => err.reason(),
            AuthError::Dpop(err) => err.reason(),
            AuthError::SchemeNotAccepted(_) => "scheme_not_accepted",
        }
    }

    /// The gRPC status code of the answer to a gRPC call ([`grpc_response`](crate::grpc::grpc_response)):
    /// 16 `UNAUTHENTICATED` for a 401 and for a 400 `invalid_request` (the gRPC authentication
    /// conventions answer every credential problem with `UNAUTHENTICATED`;
    /// `INVALID_ARGUMENT` is about the request message, which was never read), 7
    /// `PERMISSION_DENIED` for a 403, 14 `UNAVAILABLE` for a 503, 13 `INTERNAL` otherwise.
    ///
    /// ```
    /// use tollgate::AuthError;
    ///
    /// assert_eq!(AuthError::MissingCredentials.grpc_status(), 16);
    /// let forbidden = AuthError::from(tollgate::core::Error::InsufficientScope { required: "admin".into() });
    /// assert_eq!(forbidden.grpc_status(), 7);
    /// ```
    pub fn grpc_status(&self) -> u8 {
        match self.status() {
            StatusCode::UNAUTHORIZED | StatusCode::BAD_REQUEST => 16,
            StatusCode::FORBIDDEN => 7,
            StatusCode::SERVICE_UNAVAILABLE => 14,
            _ => 13,
        }
    }

    /// What a guard required and the token lacks, space-separated (the challenge's `scope`);
    /// `None` for other failures.
    pub fn required_scope(&self) -> Option<&str> {
        match self {
            AuthError::Token(tollgate_core::Error::InsufficientScope { required }) => {
                Some(required)
            }
            _ => None,
        }
    }

    /// Whether the server nonce is what the client lacks (`use_dpop_nonce`): the answer carries
    /// a fresh `DPoP-Nonce` header.
    pub fn needs_dpop_nonce(&self) -> bool {
        matches!(
            self,
            AuthError::Dpop(DpopError::NonceRequired | DpopError::NonceInvalid)
        )
    }

    /// The scheme this failure is about, whatever scheme the request used: `DPoP` for a proof
    /// failure or a malformed `DPoP` credential, `Bearer` for a bound token sent as Bearer or a
    /// malformed `Bearer` credential; for a scheme that is not accepted, the one that is.
    /// `None` when the failure is the same in both (no token, two `Authorization` headers, a
    /// refused token).
    fn scheme(&self) -> Option<AuthScheme> {
        match self {
            AuthError::Dpop(DpopError::BoundTokenAsBearer) => Some(AuthScheme::Bearer),
            AuthError::Dpop(_) => Some(AuthScheme::Dpop),
            AuthError::SchemeNotAccepted(AuthScheme::Bearer) => Some(AuthScheme::Dpop),
            AuthError::SchemeNotAccepted(AuthScheme::Dpop) => Some(AuthScheme::Bearer),
            AuthError::InvalidRequest(InvalidRequest::MalformedAuthorization) => {
                Some(AuthScheme::Bearer)
            }
            AuthError::InvalidRequest(InvalidRequest::MalformedDpopAuthorization) => {
                Some(AuthScheme::Dpop)
            }
            _ => None,
        }
    }
}

/// The parts of the `WWW-Authenticate` challenges that come from configuration: the `realm`
/// (default `"api"`), the RFC 9728 `resource_metadata` URL (default none), and which schemes are
/// accepted ([`dpop`](Self::dpop): `Bearer` only by default).
///
/// A layer gives its responder the challenge of the scheme the request presented
/// ([`presented`](Self::presented)), so that a failure in one scheme is answered in that
/// scheme's challenge only (RFC 9449 7.2); a request with no usable credentials is challenged
/// with every accepted scheme.
///
/// ```
/// use tollgate::{AuthError, Challenge};
///
/// let challenge = Challenge::default()
///     .realm("orders")
///     .resource_metadata("https://api.example.com/.well-known/oauth-protected-resource");
/// let value = challenge.www_authenticate(&AuthError::MissingCredentials);
/// assert_eq!(
///     value.as_ref().and_then(|v| v.to_str().ok()),
///     Some(r#"Bearer realm="orders", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource""#)
/// );
/// ```
///
/// With DPoP allowed, a request without credentials gets both challenges:
///
/// ```
/// use tollgate::{AuthError, Challenge};
/// use tollgate::core::dpop::DpopMode;
///
/// let challenge = Challenge::default().dpop(DpopMode::Allowed, "ES256 EdDSA");
/// let values: Vec<_> = challenge
///     .www_authenticate_all(&AuthError::MissingCredentials)
///     .map(|v| v.to_str().unwrap_or_default().to_owned())
///     .collect();
/// assert_eq!(values, [r#"Bearer realm="api""#, r#"DPoP realm="api", algs="ES256 EdDSA""#]);
/// ```
#[derive(Debug, Clone)]
pub struct Challenge {
    realm: Option<Arc<str>>,
    resource_metadata: Option<Arc<str>>,
    dpop: DpopMode,
    algs: Option<Arc<str>>,
    presented: Option<AuthScheme>,
    /// The request is a gRPC call (`content-type: application/grpc*`): answer the gRPC way.
    grpc: bool,
}

impl Default for Challenge {
    fn default() -> Self {
        Challenge {
            realm: Some("api".into()),
            resource_metadata: None,
            dpop: DpopMode::Off,
            algs: None,
            presented: None,
            grpc: false,
        }
    }
}

/// Appends `name="value"` (`value` as an RFC 9110 quoted-string, control characters dropped),
/// preceded by `, ` unless it is the first parameter after the scheme.
fn push_param(out: &mut String, scheme: AuthScheme, name: &str, value: &str) {
    if out.len() > scheme.as_str().len() {
        out.push(',');
    }
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    let plain = value
        .bytes()
        .all(|b| b != b'"' && b != b'\\' && (b' '..0x7f).contains(&b));
    if plain {
        out.push_str(value);
    } else {
        for c in value.chars().filter(|c| !c.is_control()) {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out.push('"');
}

impl Challenge {
    pub(crate) fn new(realm: Option<String>, resource_metadata: Option<String>) -> Self {
        Challenge {
            realm: realm.map(Arc::from),
            resource_metadata: resource_metadata.map(Arc::from),
            ..Challenge::default()
        }
    }

    /// Sets the `realm`.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(Arc::from(realm.into()));
        self
    }

    /// Omits `realm`.
    pub fn no_realm(mut self) -> Self {
        self.realm = None;
        self
    }

    /// Adds `resource_metadata="<url>"` (RFC 9728), pointing clients at the protected-resource
    /// metadata.
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata = Some(Arc::from(url.into()));
        self
    }

    /// Which schemes are accepted (RFC 9449 7.1): `Off`, only `Bearer` challenges (the
    /// default); `Allowed`, both; `Required`, only `DPoP` challenges. `algs` is the
    /// space-separated list of proof algorithms for the `DPoP` challenge's `algs` parameter
    /// ([`DpopVerifier::algs_challenge`](tollgate_core::dpop::DpopVerifier::algs_challenge));
    /// empty leaves it out.
    pub fn dpop(mut self, mode: DpopMode, algs: &str) -> Self {
        self.dpop = mode;
        self.algs = (!algs.is_empty()).then(|| Arc::from(algs));
        self
    }

    /// The challenge for a request that presented its token with `scheme`: a failure that is not
    /// about one scheme (a refused token, a missing role) is answered in that scheme's challenge
    /// only. The layer gives its responder this for every request carrying a token.
    pub fn presented(mut self, scheme: AuthScheme) -> Self {
        self.presented = Some(scheme);
        self
    }

    /// The scheme the request presented its token with, when the layer saw one.
    pub fn presented_scheme(&self) -> Option<AuthScheme> {
        self.presented
    }

    /// The DPoP mode the challenges follow ([`dpop`](Self::dpop)).
    pub fn dpop_mode(&self) -> DpopMode {
        self.dpop
    }

    /// Marks the challenge as one for a gRPC call (a request whose `content-type` starts with
    /// `application/grpc`): [`Answering`] gives its responder such a challenge for gRPC requests,
    /// and [`Rfc6750Responder`] then answers with [`grpc_response`](crate::grpc::grpc_response).
    pub fn grpc(mut self, grpc: bool) -> Self {
        self.grpc = grpc;
        self
    }

    /// Whether the request being answered is a gRPC call ([`grpc`](Self::grpc)): a custom
    /// [`ErrorResponder`] that keeps gRPC answers usable by gRPC clients branches on this, e.g. to
    /// [`grpc_response`](crate::grpc::grpc_response).
    pub fn is_grpc(&self) -> bool {
        self.grpc
    }

    fn accepts(&self, scheme: AuthScheme) -> bool {
        !matches!(
            (self.dpop, scheme),
            (DpopMode::Off, AuthScheme::Dpop) | (DpopMode::Required, AuthScheme::Bearer)
        )
    }

    /// The schemes challenged for `error`, in order: the scheme the failure is about, else the
    /// one the request presented, else every accepted one; a scheme that is not accepted is
    /// replaced by the accepted ones.
    fn schemes(&self, error: &AuthError) -> [Option<AuthScheme>; 2] {
        if error.status() == StatusCode::SERVICE_UNAVAILABLE {
            return [None, None];
        }
        match error.scheme().or(self.presented) {
            Some(scheme) if self.accepts(scheme) => [Some(scheme), None],
            _ => [
                self.accepts(AuthScheme::Bearer)
                    .then_some(AuthScheme::Bearer),
                self.accepts(AuthScheme::Dpop).then_some(AuthScheme::Dpop),
            ],
        }
    }

    /// The one `WWW-Authenticate` value for `error`, for responders that set a single header,
    /// e.g. `Bearer realm="api", error="invalid_token", error_description="the access token
    /// expired"`; `None` for errors that carry no challenge (503). When several schemes are
    /// challenged (DPoP allowed, no usable credentials) this is the first, `Bearer`:
    /// [`www_authenticate_all`](Self::www_authenticate_all) gives every value.
    pub fn www_authenticate(&self, error: &AuthError) -> Option<HeaderValue> {
        self.schemes(error)
            .into_iter()
            .flatten()
            .next()
            .and_then(|scheme| self.challenge_for(scheme, error))
    }

    /// Every `WWW-Authenticate` value for `error`, one per challenged scheme (RFC 9449 7.2): the
    /// scheme the failure is about or the request presented, else every accepted scheme (with
    /// DPoP allowed, `Bearer` then `DPoP`). Empty for errors that carry no challenge (503).
    pub fn www_authenticate_all(
        &self,
        error: &AuthError,
    ) -> impl Iterator<Item = HeaderValue> + use<> {
        let [first, second] = self.schemes(error);
        [
            first.and_then(|s| self.challenge_for(s, error)),
            second.and_then(|s| self.challenge_for(s, error)),
        ]
        .into_iter()
        .flatten()
    }

    /// Every challenge for `error` in one `WWW-Authenticate` value, comma-separated
    /// (`Bearer realm="api", DPoP realm="api", algs="ES256"`): the same list as
    /// [`www_authenticate_all`](Self::www_authenticate_all), as one field (RFC 9110 5.3 and
    /// 11.6.1 allow either). For transports that keep one value per header name, such as API
    /// Gateway HTTP API (payload 2.0) and Lambda function URL responses through `lambda_http`,
    /// which drop the second `WWW-Authenticate`.
    ///
    /// ```
    /// use tollgate::{AuthError, Challenge};
    /// use tollgate::core::dpop::DpopMode;
    ///
    /// let challenge = Challenge::default().dpop(DpopMode::Allowed, "ES256");
    /// let value = challenge.www_authenticate_joined(&AuthError::MissingCredentials);
    /// assert_eq!(
    ///     value.as_ref().and_then(|v| v.to_str().ok()),
    ///     Some(r#"Bearer realm="api", DPoP realm="api", algs="ES256""#)
    /// );
    /// ```
    pub fn www_authenticate_joined(&self, error: &AuthError) -> Option<HeaderValue> {
        let mut values = self.www_authenticate_all(error);
        let first = values.next()?;
        let Some(second) = values.next() else {
            return Some(first);
        };
        let mut joined = first.as_bytes().to_vec();
        joined.extend_from_slice(b", ");
        joined.extend_from_slice(second.as_bytes());
        HeaderValue::from_bytes(&joined).ok()
    }

    /// The `WWW-Authenticate` value of `scheme` for `error`, whichever schemes are accepted:
    /// `Bearer realm=.., error=.., error_description=.., scope=.., resource_metadata=..` or
    /// `DPoP realm=.., algs=.., error=.., ...`; `None` only if it cannot be a header value.
    ///
    /// ```
    /// use tollgate::{AuthError, AuthScheme, Challenge};
    /// use tollgate::core::dpop::{DpopError, DpopMode};
    ///
    /// let challenge = Challenge::default().dpop(DpopMode::Required, "ES256");
    /// let value = challenge.challenge_for(AuthScheme::Dpop, &AuthError::Dpop(DpopError::Replayed));
    /// assert_eq!(
    ///     value.as_ref().and_then(|v| v.to_str().ok()),
    ///     Some(r#"DPoP realm="api", algs="ES256", error="invalid_dpop_proof", error_description="the DPoP proof was already used""#)
    /// );
    /// ```
    pub fn challenge_for(&self, scheme: AuthScheme, error: &AuthError) -> Option<HeaderValue> {
        // One buffer, sized for the usual challenge: refusals are on the attacker's budget.
        let mut value = String::with_capacity(160);
        value.push_str(scheme.as_str());
        if let Some(realm) = &self.realm {
            push_param(&mut value, scheme, "realm", realm);
        }
        if let (AuthScheme::Dpop, Some(algs)) = (scheme, &self.algs) {
            push_param(&mut value, scheme, "algs", algs);
        }
        if let Some(code) = error.challenge_error() {
            push_param(&mut value, scheme, "error", code);
            push_param(&mut value, scheme, "error_description", error.description());
        }
        if let Some(required) = error.required_scope() {
            push_param(&mut value, scheme, "scope", required);
        }
        if let Some(url) = &self.resource_metadata {
            push_param(&mut value, scheme, "resource_metadata", url);
        }
        HeaderValue::from_str(&value).ok()
    }
}

/// Turns a failure into the HTTP answer. Closures `Fn(&AuthError, &Challenge) -> Response<Body>`
/// implement it.
///
/// A responder answers gRPC calls too: for a request whose `content-type` starts with
/// `application/grpc`, the [`Challenge`] it is given says [`is_grpc`](Challenge::is_grpc).
/// [`Rfc6750Responder`] then answers the gRPC way ([`grpc_response`](crate::grpc::grpc_response));
/// a custom responder decides for itself, and usually does the same:
/// `if challenge.is_grpc() { return tollgate::grpc::grpc_response(error, challenge); }`.
/// (A gRPC client that gets a plain HTTP 401 or 403 instead still sees `UNAUTHENTICATED` or
/// `PERMISSION_DENIED`, from the gRPC HTTP-status mapping, but without the message.)
///
/// ```
/// use axum_core::body::Body;
/// use http::{Response, StatusCode};
/// use tollgate::{AuthError, Challenge, ErrorResponder};
///
/// /// Same status and challenge, but a problem+json body.
/// fn problem(error: &AuthError, challenge: &Challenge) -> Response<Body> {
///     let body = format!(r#"{{"type":"about:blank","status":{}}}"#, error.status().as_u16());
///     let mut response = Response::new(Body::from(body));
///     *response.status_mut() = error.status();
///     if let Some(value) = challenge.www_authenticate(error) {
///         response.headers_mut().insert(http::header::WWW_AUTHENTICATE, value);
///     }
///     response
/// }
/// let responder: &dyn ErrorResponder = &problem;
/// let answer = responder.respond(&AuthError::MissingCredentials, &Challenge::default());
/// assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
/// ```
pub trait ErrorResponder: Send + Sync + 'static {
    /// Builds the answer for `error`.
    fn respond(&self, error: &AuthError, challenge: &Challenge) -> Response<Body>;
}

impl<F> ErrorResponder for F
where
    F: Fn(&AuthError, &Challenge) -> Response<Body> + Send + Sync + 'static,
{
    fn respond(&self, error: &AuthError, challenge: &Challenge) -> Response<Body> {
        self(error, challenge)
    }
}

/// The default answer: RFC 6750 challenge and a small JSON body
/// `{"error": "...", "error_description": "..."}`; for a gRPC call
/// ([`Challenge::is_grpc`]), [`grpc_response`](crate::grpc::grpc_response).
#[derive(Debug, Clone, Copy, Default)]
pub struct Rfc6750Responder;

impl ErrorResponder for Rfc6750Responder {
    fn respond(&self, error: &AuthError, challenge: &Challenge) -> Response<Body> {
        if challenge.is_grpc() {
            return grpc_response(error, challenge);
        }
        let code = error.challenge_error().unwrap_or("unauthorized");
        let body = ErrorBody {
            error: code,
            error_description: error.description(),
        };
        // Serializing two strings cannot fail; an empty body would still carry the challenge.
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = error.status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        for value in challenge.www_authenticate_all(error) {
            headers.append(WWW_AUTHENTICATE, value);
        }
        if error.status() == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// The JSON body of [`Rfc6750Responder`].
#[derive(serde::Serialize)]
struct ErrorBody {
    error: &'static str,
    error_description: &'static str,
}

/// How failures are answered: an [`ErrorResponder`] and the [`Challenge`] it is given.
///
/// Every Tollgate layer that passes a request on leaves its `Answering` with the request (inside
/// [`Authenticated`](crate::Authenticated), or on its own in the request extensions for a request
/// let through without a token), and the extractors and guards behind it answer through it. So
/// the responder given to [`AuthLayerBuilder::error_responder`](crate::AuthLayerBuilder::error_responder)
/// (or to a trusted-claims layer) shapes every answer a request can get: the layer's 400, 401
/// and 503, the extractors' rejections and the guards' 403. A layer of another crate that
/// trusts claims verified elsewhere builds one with [`Answering::new`] and attaches it with
/// [`Authenticated::with_answering`](crate::Authenticated::with_answering). Without one,
/// answers are [`Rfc6750Responder`]'s with the default challenge.
///
/// Cheap to clone (one reference count).
///
/// ```
/// use axum_core::body::Body;
/// use http::{Response, StatusCode};
/// use tollgate::{Answering, AuthError, Challenge};
///
/// let answering = Answering::new(
///     |error: &AuthError, _: &Challenge| {
///         let mut response = Response::new(Body::from("sign in first"));
///         *response.status_mut() = error.status();
///         response
///     },
///     Challenge::default().realm("orders"),
/// );
/// let answer = answering.respond(&AuthError::MissingCredentials);
/// assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
/// ```
#[derive(Clone)]
pub struct Answering {
    inner: Arc<AnsweringParts>,
}

struct AnsweringParts {
    challenge: Challenge,
    /// The same challenge for gRPC calls ([`Challenge::is_grpc`]), made once per layer.
    grpc_challenge: Challenge,
    responder: Arc<dyn ErrorResponder>,
}

impl Default for Answering {
    fn default() -> Self {
        Answering::shared(Arc::new(Rfc6750Responder), Challenge::default())
    }
}

impl fmt::Debug for Answering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Answering")
            .field("challenge", &self.inner.challenge)
            .finish_non_exhaustive()
    }
}

impl Answering {
    /// Answers with `responder`, giving it `challenge`.
    pub fn new(responder: impl ErrorResponder, challenge: Challenge) -> Self {
        Answering::shared(Arc::new(responder), challenge)
    }

    /// Like [`new`](Self::new), with a responder already shared.
    pub(crate) fn shared(responder: Arc<dyn ErrorResponder>, challenge: Challenge) -> Self {
        let grpc_challenge = challenge.clone().grpc(true);
        let challenge = challenge.grpc(false);
        Answering {
            inner: Arc::new(AnsweringParts {
                challenge,
                grpc_challenge,
                responder,
            }),
        }
    }

    /// The challenge parameters the responder is given.
    pub fn challenge(&self) -> &Challenge {
        &self.inner.challenge
    }

    /// The answer to `error`, for a plain HTTP request (the challenge is not marked gRPC).
    pub fn respond(&self, error: &AuthError) -> Response<Body> {
        self.respond_as(error, false)
    }

    /// The answer to `error` for the request with these headers: a gRPC call
    /// ([`is_grpc_request`](crate::grpc::is_grpc_request)) is given the challenge marked
    /// [`is_grpc`](Challenge::is_grpc), so that the default responder answers it the gRPC way.
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue, StatusCode};
    /// use tollgate::{Answering, AuthError};
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("content-type", HeaderValue::from_static("application/grpc+proto"));
    /// let answer = Answering::default().respond_to(&AuthError::MissingCredentials, &headers);
    /// assert_eq!(answer.status(), StatusCode::OK);
    /// assert_eq!(answer.headers()["grpc-status"], "16");
    /// ```
    pub fn respond_to(&self, error: &AuthError, headers: &HeaderMap) -> Response<Body> {
        self.respond_as(error, is_grpc_request(headers))
    }

    /// The answer to `error`, for a gRPC call or not.
    pub(crate) fn respond_as(&self, error: &AuthError, grpc: bool) -> Response<Body> {
        let challenge = if grpc {
            &self.inner.grpc_challenge
        } else {
            &self.inner.challenge
        };
        self.inner.responder.respond(error, challenge)
    }
}

/// The rejection of Tollgate's extractors and guards: answers as the layer is configured to.
#[derive(Debug)]
pub struct AuthRejection {
    error: AuthError,
    answering: Option<Answering>,
    /// The rejected request is a gRPC call.
    grpc: bool,
}

impl AuthRejection {
    /// The rejection of a request: answered by `answering` (the layer in front of it, if
    /// any), the gRPC way for a gRPC call (`claims::rejection` reads both from the request).
    pub(crate) fn new(error: AuthError, answering: Option<Answering>, grpc: bool) -> Self {
        AuthRejection {
            error,
            answering,
            grpc,
        }
    }

    /// What went wrong.
    pub fn error(&self) -> &AuthError {
        &self.error
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> axum_core::response::Response {
        self.answering
            .unwrap_or_default()
            .respond_as(&self.error, self.grpc)
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for AuthRejection {}

/// The gRPC answer to `error`: a trailers-only response (HTTP 200, empty body) with
/// `content-type: application/grpc`, `grpc-status` ([`AuthError::grpc_status`]),
/// `grpc-message` ([`AuthError::description`], percent-encoded) and every `WWW-Authenticate`
/// challenge of [`Challenge::www_authenticate_all`], which gRPC clients see as metadata of the
/// status (e.g. `tonic::Status::metadata`).
///
/// [`Rfc6750Responder`](crate::Rfc6750Responder) answers gRPC calls with this; a custom
/// [`ErrorResponder`](crate::ErrorResponder) can too:
///
/// ```
/// use axum_core::body::Body;
/// use http::{Response, StatusCode};
/// use tollgate::{AuthError, Challenge};
///
/// fn respond(error: &AuthError, challenge: &Challenge) -> Response<Body> {
///     if challenge.is_grpc() {
///         return tollgate::grpc::grpc_response(error, challenge);
///     }
///     let mut response = Response::new(Body::from("sign in first"));
///     *response.status_mut() = error.status();
///     response
/// }
/// let answer = respond(&AuthError::MissingCredentials, &Challenge::default().grpc(true));
/// assert_eq!(answer.status(), StatusCode::OK);
/// assert_eq!(answer.headers()["grpc-status"], "16");
/// assert_eq!(answer.headers()["grpc-message"], "a bearer token is required");
/// assert_eq!(answer.headers()["www-authenticate"], r#"Bearer realm="api""#);
/// ```
pub fn grpc_response(error: &AuthError, challenge: &Challenge) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(
        GRPC_STATUS,
        HeaderValue::from(u16::from(error.grpc_status())),
    );
    // Percent-encoded text is visible ASCII and spaces: always a valid header value.
    if let Ok(message) = HeaderValue::from_str(&percent_encode_message(error.description())) {
        headers.insert(GRPC_MESSAGE, message);
    }
    for value in challenge.www_authenticate_all(error) {
        headers.append(WWW_AUTHENTICATE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge_for(challenge: &Challenge, error: &AuthError) -> Option<String> {
        challenge
            .www_authenticate(error)
            .map(|value| value.to_str().unwrap().to_owned())
    }

    #[test]
    fn challenges_list_parameters_in_order_and_quote_values() {
        let bare = Challenge::new(None, None);
        assert_eq!(
            challenge_for(&bare, &AuthError::MissingCredentials).as_deref(),
            Some("Bearer")
        );
        let full = Challenge::new(
            Some("my \"api\"\\\u{7}x".into()),
            Some("https://api.example/.well-known/oauth-protected-resource".into()),
        );
        let scope = AuthError::Token(tollgate_core::Error::InsufficientScope {
            required: "orders:read admin".into(),
        });
        assert_eq!(
            challenge_for(&full, &scope).as_deref(),
            Some(
                "Bearer realm=\"my \\\"api\\\"\\\\x\", error=\"insufficient_scope\", \
                 error_description=\"the token lacks the required role or scope\", \
                 scope=\"orders:read admin\", \
                 resource_metadata=\"https://api.example/.well-known/oauth-protected-resource\""
            )
        );
        assert_eq!(
            challenge_for(&Challenge::default(), &AuthError::MissingCredentials).as_deref(),
            Some("Bearer realm=\"api\"")
        );
    }

    #[test]
    fn challenged_schemes_follow_the_mode_the_error_and_the_presented_scheme() {
        use tollgate_core::dpop::DpopError;
        let schemes = |challenge: &Challenge, error: &AuthError| -> Vec<String> {
            challenge
                .www_authenticate_all(error)
                .map(|v| v.to_str().unwrap().split(' ').next().unwrap().to_owned())
                .collect()
        };
        let expired = AuthError::Token(tollgate_core::Error::Expired {
            exp: 1,
            now: 2,
            leeway: 0,
        });
        let missing = AuthError::MissingCredentials;
        let replayed = AuthError::Dpop(DpopError::Replayed);
        let bound = AuthError::Dpop(DpopError::BoundTokenAsBearer);
        let no_bearer = AuthError::SchemeNotAccepted(AuthScheme::Bearer);
        let no_dpop = AuthError::SchemeNotAccepted(AuthScheme::Dpop);
        let down = AuthError::Dpop(DpopError::ReplayStoreUnavailable("x".into()));
        let off = Challenge::default();
        let allowed = Challenge::default().dpop(DpopMode::Allowed, "ES256");
        let required = Challenge::default().dpop(DpopMode::Required, "ES256");
        let cases: [(&Challenge, &AuthError, &[&str]); 12] = [
            (&off, &missing, &["Bearer"]),
            (&allowed, &missing, &["Bearer", "DPoP"]),
            (&required, &missing, &["DPoP"]),
            (&allowed, &expired, &["Bearer", "DPoP"]),
            (&allowed, &replayed, &["DPoP"]),
            (&allowed, &bound, &["Bearer"]),
            (&allowed, &no_bearer, &["DPoP"]),
            (&allowed, &no_dpop, &["Bearer"]),
            // A scheme that is not accepted is never challenged: the accepted ones instead.
            (&off, &replayed, &["Bearer"]),
            (&off, &no_bearer, &["Bearer"]),
            (&required, &no_dpop, &["DPoP"]),
            (&allowed, &down, &[]),
        ];
        for (challenge, error, expected) in cases {
            assert_eq!(
                schemes(challenge, error),
                expected,
                "{:?} {error:?}",
                challenge.dpop_mode()
            );
        }
        // The presented scheme decides for failures that are not about one scheme.
        let presented = allowed.clone().presented(AuthScheme::Dpop);
        assert_eq!(presented.presented_scheme(), Some(AuthScheme::Dpop));
        assert_eq!(schemes(&presented, &expired), ["DPoP"]);
        assert_eq!(schemes(&presented, &bound), ["Bearer"]);
        assert_eq!(
            schemes(&allowed.clone().presented(AuthScheme::Bearer), &expired),
            ["Bearer"]
        );
        // Codes and statuses of the DPoP failures.
        assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(replayed.code(), Some(ErrorCode::InvalidToken));
        assert_eq!(replayed.challenge_error(), Some("invalid_dpop_proof"));
        let two = AuthError::Dpop(DpopError::MultipleProofs);
        assert_eq!(two.status(), StatusCode::BAD_REQUEST);
        assert_eq!(two.code(), Some(ErrorCode::InvalidRequest));
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(down.code(), Some(ErrorCode::TemporarilyUnavailable));
        assert!(AuthError::Dpop(DpopError::NonceInvalid).needs_dpop_nonce());
        assert!(!replayed.needs_dpop_nonce());
        assert_eq!(no_bearer.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(no_bearer.challenge_error(), Some("invalid_token"));
        assert_eq!(no_bearer.to_string(), no_bearer.description());
    }

    #[test]
    fn token_failures_answer_with_the_core_vocabulary() {
        use tollgate_core::Error;
        let failures = [
            Error::InsufficientScope {
                required: "admin".into(),
            },
            Error::ClaimsShape("missing field `tenant`".into()),
            Error::InvalidSignature,
        ];
        for failure in failures {
            let error = AuthError::from(failure.clone());
            assert_eq!(error.description(), failure.public_description());
            assert_eq!(error.code(), Some(failure.code()));
            assert_eq!(error.status().as_u16(), failure.code().http_status());
            assert_eq!(
                error.to_string(),
                failure.to_string(),
                "logs see the detail"
            );
            assert!(
                !error.description().contains("tenant"),
                "no detail for clients"
            );
        }
        let scope = AuthError::from(Error::InsufficientScope {
            required: "a b".into(),
        });
        assert_eq!(scope.status(), StatusCode::FORBIDDEN);
        assert_eq!(scope.required_scope(), Some("a b"));
        assert_eq!(
            scope.description(),
            "the token lacks the required role or scope"
        );
        let shape = AuthError::from(Error::ClaimsShape("x".into()));
        assert_eq!(shape.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(shape.required_scope(), None);
        assert_eq!(shape.description(), "the token claims are not accepted");
        assert_eq!(
            AuthError::MissingCredentials.to_string(),
            AuthError::MissingCredentials.description()
        );
        let invalid = AuthError::from(InvalidRequest::MultipleTokens);
        assert_eq!(invalid.to_string(), invalid.description());
    }

    #[test]
    fn answering_is_buildable_and_shared() {
        let answering = Answering::new(
            |error: &AuthError, challenge: &Challenge| {
                let value = challenge.www_authenticate(error);
                let mut response = Response::new(Body::from("custom"));
                *response.status_mut() = StatusCode::IM_A_TEAPOT;
                if let Some(value) = value {
                    response.headers_mut().insert(WWW_AUTHENTICATE, value);
                }
                response
            },
            Challenge::default()
                .no_realm()
                .resource_metadata("https://m.example"),
        );
        let clone = answering.clone();
        assert!(Arc::ptr_eq(&answering.inner, &clone.inner), "one Arc");
        let response = clone.respond(&AuthError::MissingCredentials);
        assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
        assert_eq!(
            response.headers()[WWW_AUTHENTICATE],
            "Bearer resource_metadata=\"https://m.example\""
        );
        let default = Answering::default().respond(&AuthError::MissingCredentials);
        assert_eq!(default.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(default.headers()[WWW_AUTHENTICATE], "Bearer realm=\"api\"");
    }

    #[test]
    fn unavailable_keys_answer_without_a_challenge() {
        let error = AuthError::Token(tollgate_core::Error::KeySourceUnavailable("down".into()));
        assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(challenge_for(&Challenge::default(), &error), None);
        let response = Rfc6750Responder.respond(&error, &Challenge::default());
        assert_eq!(response.headers()[RETRY_AFTER], "5");
    }

    #[test]
    fn default_body_is_the_rfc6750_pair_as_json() {
        let error = AuthError::InvalidRequest(InvalidRequest::MultipleTokens);
        let response = Rfc6750Responder.respond(&error, &Challenge::default());
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
        let body = futures_body(response);
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"], "invalid_request");
        assert_eq!(json["error_description"], error.description());
        assert_eq!(json.as_object().unwrap().len(), 2);
    }

    fn futures_body(response: Response<Body>) -> Vec<u8> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(axum::body::to_bytes(response.into_body(), 4096))
            .unwrap()
            .to_vec()
    }
}
