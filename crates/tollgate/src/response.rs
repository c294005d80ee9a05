//! Failure answers per RFC 6750 section 3, and the hook to replace them.

use std::fmt;
use std::sync::Arc;

use axum_core::body::Body;
use axum_core::response::IntoResponse;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};
use tollgate_core::ErrorCode;

use crate::token::InvalidRequest;

/// Why a request was not let through.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AuthError {
    /// No bearer token: 401 with a bare challenge (RFC 6750 3.1: no error code).
    MissingCredentials,
    /// Malformed credentials: 400 `invalid_request`.
    InvalidRequest(InvalidRequest),
    /// The token was refused (401 `invalid_token`), or keys were unavailable (503).
    Token(tollgate_core::Error),
    /// A guard's roles or scopes are missing: 403 `insufficient_scope`.
    InsufficientScope {
        /// What was required, space-separated (the `scope` attribute of the challenge).
        required: String,
    },
    /// The claims do not fit the extractor's type: 401 `invalid_token`.
    ClaimsShape(String),
}

impl AuthError {
    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::MissingCredentials | AuthError::ClaimsShape(_) => StatusCode::UNAUTHORIZED,
            AuthError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            AuthError::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            AuthError::Token(err) => {
                StatusCode::from_u16(err.code().http_status()).unwrap_or(StatusCode::UNAUTHORIZED)
            }
        }
    }

    /// The RFC 6750 error code; `None` when credentials are missing.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            AuthError::MissingCredentials => None,
            AuthError::InvalidRequest(_) => Some(ErrorCode::InvalidRequest),
            AuthError::Token(err) => Some(err.code()),
            AuthError::InsufficientScope { .. } => Some(ErrorCode::InsufficientScope),
            AuthError::ClaimsShape(_) => Some(ErrorCode::InvalidToken),
        }
    }

    /// A description safe to show clients (never configuration or key material).
    pub fn description(&self) -> &'static str {
        match self {
            AuthError::MissingCredentials => "a bearer token is required",
            AuthError::InvalidRequest(why) => why.description(),
            AuthError::Token(err) => err.public_description(),
            AuthError::InsufficientScope { .. } => "the token lacks the required role or scope",
            AuthError::ClaimsShape(_) => "the token claims are not accepted",
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Token(err) => write!(f, "{err}"),
            AuthError::ClaimsShape(why) => write!(f, "claims do not fit the handler's type: {why}"),
            AuthError::InsufficientScope { required } => {
                write!(f, "insufficient scope: requires {required}")
            }
            other => f.write_str(other.description()),
        }
    }
}

impl std::error::Error for AuthError {}

/// The parts of the `WWW-Authenticate` challenge that come from configuration.
#[derive(Debug, Clone)]
pub struct Challenge {
    realm: Option<Arc<str>>,
    resource_metadata: Option<Arc<str>>,
}

impl Default for Challenge {
    fn default() -> Self {
        Challenge {
            realm: Some("api".into()),
            resource_metadata: None,
        }
    }
}

/// Quotes a value as an RFC 7230 quoted-string, dropping control characters.
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

impl Challenge {
    pub(crate) fn new(realm: Option<String>, resource_metadata: Option<String>) -> Self {
        Challenge {
            realm: realm.map(Arc::from),
            resource_metadata: resource_metadata.map(Arc::from),
        }
    }

    /// The `WWW-Authenticate` value for `error`, e.g.
    /// `Bearer realm="api", error="invalid_token", error_description="the access token expired"`;
    /// `None` for errors that carry no challenge (503).
    pub fn www_authenticate(&self, error: &AuthError) -> Option<HeaderValue> {
        if error.status() == StatusCode::SERVICE_UNAVAILABLE {
            return None;
        }
        let mut params: Vec<String> = Vec::new();
        if let Some(realm) = &self.realm {
            params.push(format!("realm={}", quoted(realm)));
        }
        if let Some(code) = error.code() {
            params.push(format!("error={}", quoted(code.as_str())));
            params.push(format!("error_description={}", quoted(error.description())));
        }
        if let AuthError::InsufficientScope { required } = error {
            params.push(format!("scope={}", quoted(required)));
        }
        if let Some(url) = &self.resource_metadata {
            params.push(format!("resource_metadata={}", quoted(url)));
        }
        let value = if params.is_empty() {
            "Bearer".to_owned()
        } else {
            format!("Bearer {}", params.join(", "))
        };
        HeaderValue::from_str(&value).ok()
    }
}

/// Turns a failure into the HTTP answer. Closures `Fn(&AuthError, &Challenge) -> Response<Body>`
/// implement it.
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
/// `{"error": "...", "error_description": "..."}`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rfc6750Responder;

impl ErrorResponder for Rfc6750Responder {
    fn respond(&self, error: &AuthError, challenge: &Challenge) -> Response<Body> {
        let code = error.code().map_or("unauthorized", ErrorCode::as_str);
        let body = serde_json::json!({ "error": code, "error_description": error.description() });
        let mut response = Response::new(Body::from(body.to_string()));
        *response.status_mut() = error.status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(value) = challenge.www_authenticate(error) {
            headers.insert(WWW_AUTHENTICATE, value);
        }
        if error.status() == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// How the layer answers failures; shared with extractors and guards through request extensions.
#[derive(Clone)]
pub struct Answering {
    pub(crate) challenge: Challenge,
    pub(crate) responder: Arc<dyn ErrorResponder>,
}

impl Default for Answering {
    fn default() -> Self {
        Answering {
            challenge: Challenge::default(),
            responder: Arc::new(Rfc6750Responder),
        }
    }
}

impl fmt::Debug for Answering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Answering")
            .field("challenge", &self.challenge)
            .finish_non_exhaustive()
    }
}

impl Answering {
    pub(crate) fn respond(&self, error: &AuthError) -> Response<Body> {
        self.responder.respond(error, &self.challenge)
    }
}

/// The rejection of Tollgate's extractors and guards: answers as the layer is configured to.
#[derive(Debug)]
pub struct AuthRejection {
    error: AuthError,
    answering: Option<Answering>,
}

impl AuthRejection {
    pub(crate) fn new(error: AuthError, answering: Option<&Answering>) -> Self {
        AuthRejection {
            error,
            answering: answering.cloned(),
        }
    }

    /// What went wrong.
    pub fn error(&self) -> &AuthError {
        &self.error
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> axum_core::response::Response {
        self.answering.unwrap_or_default().respond(&self.error)
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for AuthRejection {}
