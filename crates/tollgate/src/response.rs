//! Failure answers per RFC 6750 section 3, and the hook to replace them.

use std::fmt;
use std::sync::Arc;

use axum_core::body::Body;
use axum_core::response::IntoResponse;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};
use tollgate_core::ErrorCode;

use crate::token::InvalidRequest;

/// Why a request was not let through. Every answer of Tollgate's layers, extractors and guards
/// is one of these, answered by the [`ErrorResponder`] in effect with
/// [`description`](Self::description) as the client-facing text.
///
/// The failures of a token (its verification, its claims' shape, a missing role or scope) are
/// [`tollgate_core::Error`]s, one variant and one client text each: the errors the core
/// verifier, the Lambda authorizer and the CLI report too. This type adds only the failures of
/// the request itself.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No bearer token: 401 with a bare challenge (RFC 6750 3.1: no error code).
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
}

/// The client text of [`AuthError::MissingCredentials`].
const MISSING_CREDENTIALS: &str = "a bearer token is required";

impl From<InvalidRequest> for AuthError {
    fn from(why: InvalidRequest) -> Self {
        AuthError::InvalidRequest(why)
    }
}

impl AuthError {
    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::MissingCredentials => StatusCode::UNAUTHORIZED,
            AuthError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
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
        }
    }

    /// The client-facing text (the challenge's `error_description` and the default body's): safe
    /// to show clients, never configuration or key material. For a token failure it is
    /// [`tollgate_core::Error::public_description`].
    pub fn description(&self) -> &'static str {
        match self {
            AuthError::MissingCredentials => MISSING_CREDENTIALS,
            AuthError::InvalidRequest(why) => why.description(),
            AuthError::Token(err) => err.public_description(),
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
}

/// The parts of the `WWW-Authenticate` challenge that come from configuration: the `realm`
/// (default `"api"`) and the RFC 9728 `resource_metadata` URL (default none).
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
        if let Some(required) = error.required_scope() {
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
        Answering {
            inner: Arc::new(AnsweringParts {
                challenge,
                responder,
            }),
        }
    }

    /// The challenge parameters the responder is given.
    pub fn challenge(&self) -> &Challenge {
        &self.inner.challenge
    }

    /// The answer to `error`.
    pub fn respond(&self, error: &AuthError) -> Response<Body> {
        self.inner.responder.respond(error, &self.inner.challenge)
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
