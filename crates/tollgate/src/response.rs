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

/// Appends `name="value"` (`value` as an RFC 9110 quoted-string, control characters dropped),
/// preceded by `, ` unless it is the first parameter.
fn push_param(out: &mut String, name: &str, value: &str) {
    if out.len() > "Bearer".len() {
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
        }
    }

    /// The `WWW-Authenticate` value for `error`, e.g.
    /// `Bearer realm="api", error="invalid_token", error_description="the access token expired"`;
    /// `None` for errors that carry no challenge (503).
    pub fn www_authenticate(&self, error: &AuthError) -> Option<HeaderValue> {
        if error.status() == StatusCode::SERVICE_UNAVAILABLE {
            return None;
        }
        // One buffer, sized for the usual challenge: refusals are on the attacker's budget.
        let mut value = String::with_capacity(128);
        value.push_str("Bearer");
        if let Some(realm) = &self.realm {
            push_param(&mut value, "realm", realm);
        }
        if let Some(code) = error.code() {
            push_param(&mut value, "error", code.as_str());
            push_param(&mut value, "error_description", error.description());
        }
        if let AuthError::InsufficientScope { required } = error {
            push_param(&mut value, "scope", required);
        }
        if let Some(url) = &self.resource_metadata {
            push_param(&mut value, "resource_metadata", url);
        }
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
        if let Some(value) = challenge.www_authenticate(error) {
            headers.insert(WWW_AUTHENTICATE, value);
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
        let scope = AuthError::InsufficientScope {
            required: "orders:read admin".into(),
        };
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
