//! Trusted Easy Auth claims: App Service Authentication already signed the user in, read the
//! principal it forwards instead of verifying a token again.
//!
//! [`EasyAuthLayer`] takes the place of [`AuthLayer`](tollgate::AuthLayer) when App Service
//! Authentication ("Easy Auth", on App Service and Azure Functions) sits in front of the app. It
//! reads the `X-MS-CLIENT-PRINCIPAL` header ([`CLIENT_PRINCIPAL`]: base64 of
//! `{"auth_typ", "name_typ", "role_typ", "claims": [{"typ", "val"}, ...]}`), rebuilds a claims
//! object from it and inserts the same [`Authenticated`] the `AuthLayer` would, so
//! [`Claims<T>`](tollgate::Claims) and the role and scope guards work unchanged. The decoded
//! [`ClientPrincipal`] is in the request extensions too.
//!
//! A request without the header (Easy Auth's "Allow anonymous requests" forwards those) is
//! answered **401**. A repeated header is a **400** `invalid_request`; a header over the size
//! cap ([`EasyAuthLayer::max_header_bytes`], checked before decoding), or that is not base64 of
//! a principal, is a **401** `invalid_token`. The refusal's response carries the
//! [`PrincipalError`] in its extensions. Nothing panics.
//!
//! # Trust boundary
//! Nothing is verified here: the header is a claim anyone can write. The layer is only as safe
//! as these facts, which you must make true:
//! - App Service Authentication is **enabled on this app** (Function App or Web App). Easy
//!   Auth strips `X-MS-*` headers that clients send and writes its own; without it, the
//!   client's header reaches the app as sent;
//! - Easy Auth is the **only ingress**: no other path reaches the process (a VNet-integrated
//!   private endpoint that bypasses the front end, another container in the same network,
//!   a sidecar, a local `func start`, where nothing strips the header);
//! - Easy Auth checks what your application needs: "Require authentication", the allowed
//!   token audiences, the allowed client applications and tenants. It does not check roles or
//!   scopes; the guards do.
//!
//! When those facts cannot be guaranteed, verify the bearer token in the app with the
//! `AuthLayer` instead (it works the same under Easy Auth, which forwards `Authorization`
//! as sent). Static Web Apps' principal has another shape (`identityProvider`, `userId`,
//! `userDetails`, `userRoles`) and is refused here.
//!
//! # How the claims are rebuilt
//! Every `{typ, val}` becomes a claim named `typ`: a string, or an array of strings when `typ`
//! repeats. Then:
//! - the roles claim ([`EasyAuthLayer::roles_claim`], default `roles`) becomes the array of
//!   the values of every claim whose `typ` is the principal's `role_typ`, `roles` or
//!   `http://schemas.microsoft.com/ws/2008/06/identity/claims/role`, plus those of a claim
//!   already named like the roles claim (duplicates removed), at that path (a nested path such
//!   as `realm_access.roles` gets the objects it needs; when a member on the way is there but
//!   not an object, no roles are written);
//! - the long claim type URIs that Entra ID has a short name for are copied to it, unless the
//!   short claim is present: `http://schemas.microsoft.com/identity/claims/objectidentifier`
//!   to `oid`, `…/tenantid` to `tid`, `…/scope` to `scp`, and
//!   `http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier` to `sub`. The
//!   originals stay;
//! - `exp`, `nbf`, `iat` and `auth_time` become numbers when they are whole seconds, and are
//!   dropped otherwise (Easy Auth already checked them; its session may outlive them).
//!
//! ```
//! use axum::{Router, routing::get};
//! use tollgate::{Claims, RequireRole};
//! use tollgate::core::StandardClaims;
//! use tollgate_azure::EasyAuthLayer;
//!
//! tollgate::role!(Admin = "admin");
//!
//! async fn me(Claims(claims): Claims<StandardClaims>) -> String {
//!     claims.registered.sub.unwrap_or_default()
//! }
//!
//! let app: Router = Router::new()
//!     .route("/api/me", get(me))
//!     .route("/api/admin", get(|_: RequireRole<Admin>| async { "hello admin" }))
//!     // Easy Auth is enabled on this app and is its only ingress: see the trust boundary.
//!     .layer(EasyAuthLayer::trust_easy_auth());
//! ```

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::body::Body;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use http::{HeaderMap, HeaderName, Request, Response};
use serde::Deserialize;
use serde_json::{Map, Value};
use tollgate::core::{AccessClaims, ClaimPath, ConfigError};
use tollgate::{Answering, AuthError, Authenticated, ErrorResponder, InvalidRequest};
use tower_layer::Layer;
use tower_service::Service;

/// `X-MS-CLIENT-PRINCIPAL`: the signed-in principal, as Easy Auth forwards it.
pub const CLIENT_PRINCIPAL: HeaderName = HeaderName::from_static("x-ms-client-principal");

/// The default cap on the header's length, before decoding: 16 KiB.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;

/// The role claim type of WS-Federation, which Easy Auth reports as `role_typ` for Entra ID.
const ROLE_URI: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role";

/// Long claim type URIs and the short names Entra ID tokens use for them.
const SHORT_NAMES: [(&str, &str); 4] = [
    (
        "http://schemas.microsoft.com/identity/claims/objectidentifier",
        "oid",
    ),
    (
        "http://schemas.microsoft.com/identity/claims/tenantid",
        "tid",
    ),
    ("http://schemas.microsoft.com/identity/claims/scope", "scp"),
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
        "sub",
    ),
];

/// Time claims that are converted to numbers.
const TIME_CLAIMS: [&str; 4] = ["exp", "nbf", "iat", "auth_time"];

/// Standard base64 (Easy Auth pads; unpadded input is accepted too).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a request's `X-MS-CLIENT-PRINCIPAL` was refused. The [`Display`](fmt::Display) is for
/// logs and never repeats the header's content; clients get
/// [`auth_error`](Self::auth_error)'s answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrincipalError {
    /// No `X-MS-CLIENT-PRINCIPAL` header: 401 (no error code, RFC 6750 3.1).
    #[error("no X-MS-CLIENT-PRINCIPAL header")]
    Missing,
    /// More than one `X-MS-CLIENT-PRINCIPAL` header: 400 `invalid_request`.
    #[error("more than one X-MS-CLIENT-PRINCIPAL header")]
    Repeated,
    /// The header is longer than the cap: 401 `invalid_token`.
    #[error("X-MS-CLIENT-PRINCIPAL is {size} bytes, more than the {max}-byte limit")]
    TooLarge {
        /// The header's length in bytes.
        size: usize,
        /// The cap.
        max: usize,
    },
    /// The header is not standard base64: 401 `invalid_token`.
    #[error("X-MS-CLIENT-PRINCIPAL is not base64")]
    Base64,
    /// The decoded header is not a principal's JSON (`claims` an array of `{typ, val}`
    /// strings): 401 `invalid_token`.
    #[error(
        "X-MS-CLIENT-PRINCIPAL is not an Easy Auth principal (JSON line {line}, column {column})"
    )]
    Json {
        /// Where the JSON went wrong (1-based; 0 at the end of the input).
        line: usize,
        /// Where the JSON went wrong (1-based; 0 at the end of the input).
        column: usize,
    },
}

impl PrincipalError {
    /// The refusal, as the layer hands it to the [`ErrorResponder`]: no header is
    /// [`AuthError::MissingCredentials`], a repeated one [`InvalidRequest::MultipleTokens`], and
    /// an unreadable one (too large, not base64, not a principal) the same
    /// [`ClaimsShape`](tollgate::core::Error::ClaimsShape) as claims that do not fit the
    /// handler's type (401 `invalid_token`, "the token claims are not accepted").
    ///
    /// ```
    /// use tollgate_azure::PrincipalError;
    ///
    /// assert_eq!(PrincipalError::Missing.auth_error().status(), 401);
    /// assert_eq!(PrincipalError::Repeated.auth_error().status(), 400);
    /// assert_eq!(PrincipalError::Base64.auth_error().status(), 401);
    /// ```
    pub fn auth_error(&self) -> AuthError {
        match self {
            PrincipalError::Missing => AuthError::MissingCredentials,
            PrincipalError::Repeated => AuthError::InvalidRequest(InvalidRequest::MultipleTokens),
            other => AuthError::Token(tollgate::core::Error::ClaimsShape(other.to_string())),
        }
    }
}

/// One claim of a [`ClientPrincipal`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct PrincipalClaim {
    /// The claim type: a token claim's name (`roles`, `name`), or a WS-Federation URI for the
    /// ones Easy Auth maps (`http://schemas.microsoft.com/identity/claims/objectidentifier`).
    pub typ: String,
    /// The value, always a string.
    pub val: String,
}

/// The decoded `X-MS-CLIENT-PRINCIPAL` of App Service Authentication. The layer leaves it in
/// the request extensions next to [`Authenticated`].
///
/// ```
/// use base64::Engine as _;
/// use tollgate::core::ClaimPath;
/// use tollgate_azure::ClientPrincipal;
///
/// let json = r#"{"auth_typ":"aad","name_typ":"name","role_typ":"roles","claims":[
///     {"typ":"name","val":"Jane"},{"typ":"roles","val":"admin"},{"typ":"roles","val":"reader"},
///     {"typ":"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier","val":"u1"}]}"#;
/// let header = base64::engine::general_purpose::STANDARD.encode(json);
/// let principal = ClientPrincipal::decode(header.as_bytes(), 16 * 1024)?;
/// assert_eq!(principal.auth_typ.as_deref(), Some("aad"));
/// assert_eq!(principal.name(), Some("Jane"));
///
/// let claims = principal.to_claims(&ClaimPath::default());
/// assert_eq!(claims["sub"], "u1");
/// assert_eq!(claims["roles"], serde_json::json!(["admin", "reader"]));
/// # Ok::<(), tollgate_azure::PrincipalError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ClientPrincipal {
    /// The identity provider: `aad`, `google`, `github`, `facebook`, `twitter`, `apple`, or a
    /// custom OpenID Connect provider's name.
    #[serde(default)]
    pub auth_typ: Option<String>,
    /// The claim type holding the user's name.
    #[serde(default)]
    pub name_typ: Option<String>,
    /// The claim type holding roles.
    #[serde(default)]
    pub role_typ: Option<String>,
    /// The claims, in order, repeated types included.
    pub claims: Vec<PrincipalClaim>,
}

impl ClientPrincipal {
    /// Reads the one `X-MS-CLIENT-PRINCIPAL` header of a request; longer than `max_bytes` is an
    /// error, checked before decoding.
    pub fn from_headers(headers: &HeaderMap, max_bytes: usize) -> Result<Self, PrincipalError> {
        let mut values = headers.get_all(CLIENT_PRINCIPAL).iter();
        let value = values.next().ok_or(PrincipalError::Missing)?;
        if values.next().is_some() {
            return Err(PrincipalError::Repeated);
        }
        ClientPrincipal::decode(value.as_bytes(), max_bytes)
    }

    /// Decodes a header value (base64 of the principal's JSON); longer than `max_bytes` is an
    /// error, checked before decoding.
    pub fn decode(encoded: &[u8], max_bytes: usize) -> Result<Self, PrincipalError> {
        if encoded.len() > max_bytes {
            return Err(PrincipalError::TooLarge {
                size: encoded.len(),
                max: max_bytes,
            });
        }
        let json = BASE64.decode(encoded).map_err(|_| PrincipalError::Base64)?;
        serde_json::from_slice(&json).map_err(|err| PrincipalError::Json {
            line: err.line(),
            column: err.column(),
        })
    }

    /// The value of the first claim of type [`name_typ`](Self::name_typ).
    pub fn name(&self) -> Option<&str> {
        let name_typ = self.name_typ.as_deref()?;
        self.claims
            .iter()
            .find(|claim| claim.typ == name_typ)
            .map(|claim| claim.val.as_str())
    }

    /// The claims object, rebuilt as the [module docs](self) describe, with roles at
    /// `roles_claim`.
    pub fn to_claims(&self, roles_claim: &ClaimPath) -> Map<String, Value> {
        let roles_name = roles_claim.top_level();
        let is_role = |typ: &str| {
            typ == "roles"
                || typ == ROLE_URI
                || Some(typ) == roles_name
                || self.role_typ.as_deref() == Some(typ)
        };
        let mut claims = Map::new();
        let mut roles: Vec<&str> = Vec::new();
        for PrincipalClaim { typ, val } in &self.claims {
            if is_role(typ) && !roles.contains(&val.as_str()) {
                roles.push(val);
            }
            let value = Value::String(val.clone());
            match claims.get_mut(typ) {
                None => {
                    claims.insert(typ.clone(), value);
                }
                Some(Value::Array(items)) => items.push(value),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, value]);
                }
            }
        }
        for (long, short) in SHORT_NAMES {
            if !claims.contains_key(short)
                && let Some(value) = claims.get(long).cloned()
            {
                claims.insert(short.to_owned(), value);
            }
        }
        if !roles.is_empty() {
            let roles = roles.into_iter().map(|r| Value::String(r.to_owned()));
            insert_at(&mut claims, roles_claim, Value::Array(roles.collect()));
        }
        for name in TIME_CLAIMS {
            let seconds = match claims.get(name) {
                None => continue,
                Some(Value::String(text)) => text.parse::<i64>().ok(),
                Some(_) => None,
            };
            match seconds {
                Some(seconds) => claims.insert(name.to_owned(), Value::from(seconds)),
                None => claims.remove(name),
            };
        }
        claims
    }
}

/// Puts `value` at `path`, creating the objects on the way; gives up (nothing written) when a
/// member on the way is not an object.
fn insert_at(claims: &mut Map<String, Value>, path: &ClaimPath, value: Value) {
    let mut segments = path.segments().peekable();
    let mut object = claims;
    while let Some(name) = segments.next() {
        if segments.peek().is_none() {
            object.insert(name.to_owned(), value);
            return;
        }
        let next = object
            .entry(name.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        match next {
            Value::Object(inner) => object = inner,
            _ => {
                tracing::debug!(path = %path, "roles claim path blocked by a non-object claim");
                return;
            }
        }
    }
}

#[derive(Clone)]
struct Config {
    roles: ClaimPath,
    max_header_bytes: usize,
    /// Answers refusals here, and travels with every request passed on (inside its
    /// [`Authenticated`]) so the extractors and guards behind answer the same way.
    answering: Answering,
}

/// A tower layer that trusts the principal App Service Authentication forwards. See the
/// [module docs](self) for the trust boundary. Cheap to clone.
#[derive(Clone)]
pub struct EasyAuthLayer {
    config: Arc<Config>,
}

impl fmt::Debug for EasyAuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EasyAuthLayer")
            .field("roles", &self.config.roles)
            .field("max_header_bytes", &self.config.max_header_bytes)
            .finish_non_exhaustive()
    }
}

impl EasyAuthLayer {
    /// Trusts `X-MS-CLIENT-PRINCIPAL`: only for an app behind App Service Authentication that
    /// has no other ingress (see the [trust boundary](self#trust-boundary)). Roles at `roles`,
    /// headers up to [`DEFAULT_MAX_HEADER_BYTES`].
    ///
    /// ```
    /// use tollgate_azure::EasyAuthLayer;
    ///
    /// let layer = EasyAuthLayer::trust_easy_auth()
    ///     .roles_claim("groups")?
    ///     .max_header_bytes(8 * 1024);
    /// # let _ = layer;
    /// # Ok::<(), tollgate::core::ConfigError>(())
    /// ```
    pub fn trust_easy_auth() -> Self {
        EasyAuthLayer {
            config: Arc::new(Config {
                roles: ClaimPath::default(),
                max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
                answering: Answering::default(),
            }),
        }
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// Where roles are put and read from, for every guard (default `roles`). The role-typed
    /// claims of the principal are gathered there (see the [module docs](self)).
    pub fn roles_claim(mut self, path: &str) -> Result<Self, ConfigError> {
        self.config_mut().roles = ClaimPath::new(path)?;
        Ok(self)
    }

    /// The cap on the header's length in bytes, checked before decoding (default
    /// [`DEFAULT_MAX_HEADER_BYTES`]).
    pub fn max_header_bytes(mut self, max: usize) -> Self {
        self.config_mut().max_header_bytes = max;
        self
    }

    /// Replaces every answer of the requests through this layer (default: RFC 6750 with a JSON
    /// body): the 401 or 400 to a missing or malformed principal (it receives
    /// [`PrincipalError::auth_error`]), and the rejections of [`Claims<T>`](tollgate::Claims)
    /// and the guards behind it (their 401s and 403s; see [`Answering`]).
    pub fn error_responder(mut self, responder: impl ErrorResponder) -> Self {
        let config = self.config_mut();
        config.answering = Answering::new(responder, config.answering.challenge().clone());
        self
    }
}

impl<S> Layer<S> for EasyAuthLayer {
    type Service = EasyAuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        EasyAuthService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service of [`EasyAuthLayer`].
#[derive(Clone)]
pub struct EasyAuthService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S: fmt::Debug> fmt::Debug for EasyAuthService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EasyAuthService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// The response future of [`EasyAuthService`]: the same pass-or-refuse future as the guards'.
pub type EasyAuthFuture<F> = tollgate::GuardFuture<F>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for EasyAuthService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = EasyAuthFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        match ClientPrincipal::from_headers(request.headers(), self.config.max_header_bytes) {
            Ok(principal) => {
                let claims = principal.to_claims(&self.config.roles);
                let auth = Authenticated::from_trusted_claims(
                    claims,
                    AccessClaims::default().roles_at([self.config.roles.clone()]),
                )
                .with_answering(self.config.answering.clone());
                tracing::debug!(
                    sub = auth.subject(),
                    idp = principal.auth_typ.as_deref(),
                    "trusted Easy Auth principal"
                );
                let extensions = request.extensions_mut();
                extensions.insert(auth);
                extensions.insert(principal);
                EasyAuthFuture::inner(self.inner.call(request))
            }
            Err(err) => {
                match err {
                    PrincipalError::Missing => {
                        tracing::debug!("no Easy Auth principal: request refused");
                    }
                    // Easy Auth writes one well-formed header: anything else came from
                    // elsewhere (or a misconfiguration) and is worth a look.
                    _ => tracing::warn!(error = %err, "bad Easy Auth principal: request refused"),
                }
                let mut response = self
                    .config
                    .answering
                    .respond_to(&err.auth_error(), request.headers());
                response.extensions_mut().insert(err);
                EasyAuthFuture::refused(response)
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn principal(claims: &[(&str, &str)], role_typ: Option<&str>) -> ClientPrincipal {
        ClientPrincipal {
            auth_typ: Some("aad".into()),
            name_typ: Some("name".into()),
            role_typ: role_typ.map(str::to_owned),
            claims: claims
                .iter()
                .map(|(typ, val)| PrincipalClaim {
                    typ: (*typ).to_owned(),
                    val: (*val).to_owned(),
                })
                .collect(),
        }
    }

    #[test]
    fn size_is_checked_before_decoding() {
        let garbage = [b'!'; 32];
        assert_eq!(
            ClientPrincipal::decode(&garbage, 31),
            Err(PrincipalError::TooLarge { size: 32, max: 31 })
        );
        assert_eq!(
            ClientPrincipal::decode(&garbage, 32),
            Err(PrincipalError::Base64)
        );
    }

    #[test]
    fn json_errors_do_not_repeat_the_input() {
        let encoded = BASE64.encode(r#"{"claims":[{"typ":"sub","val":"secret-value"}],"x":"#);
        let err = ClientPrincipal::decode(encoded.as_bytes(), 1024).err();
        assert!(matches!(err, Some(PrincipalError::Json { .. })), "{err:?}");
        let shown = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn padding_is_optional() {
        let json = r#"{"claims":[]}"#;
        let padded = BASE64.encode(json);
        let unpadded = padded.trim_end_matches('=');
        assert_ne!(padded, unpadded, "the example needs padding");
        let decoded = ClientPrincipal::decode(unpadded.as_bytes(), 1024);
        assert_eq!(decoded.map(|p| p.claims.len()), Ok(0));
    }

    #[test]
    fn time_claims() {
        let claims = principal(
            &[
                ("exp", "1700003600"),
                ("iat", "yesterday"),
                ("nbf", "1"),
                ("nbf", "2"),
            ],
            None,
        )
        .to_claims(&ClaimPath::default());
        assert_eq!(claims.get("exp"), Some(&Value::from(1700003600)));
        assert_eq!(claims.get("iat"), None, "not whole seconds: dropped");
        assert_eq!(claims.get("nbf"), None, "repeated: dropped");
    }

    #[test]
    fn custom_role_typ_and_nested_roles_path() {
        let path = ClaimPath::new("realm_access.roles").unwrap();
        let claims = principal(
            &[("group", "a"), ("group", "b"), ("roles", "c")],
            Some("group"),
        )
        .to_claims(&path);
        assert_eq!(claims["group"], serde_json::json!(["a", "b"]));
        assert_eq!(claims["roles"], "c", "the original stays");
        assert_eq!(
            claims["realm_access"],
            serde_json::json!({"roles": ["a", "b", "c"]})
        );
        assert_eq!(path.strings(&claims), ["a", "b", "c"]);

        // A string claim where an object is needed: no roles, nothing overwritten.
        let claims = principal(&[("realm_access", "x"), ("roles", "admin")], None).to_claims(&path);
        assert_eq!(claims["realm_access"], "x");
        assert!(path.strings(&claims).is_empty());
    }

    #[test]
    fn uri_roles_claim() {
        let path = ClaimPath::new(ROLE_URI).unwrap();
        let claims = principal(&[(ROLE_URI, "admin"), ("roles", "reader")], None).to_claims(&path);
        assert_eq!(claims[ROLE_URI], serde_json::json!(["admin", "reader"]));
        assert_eq!(path.strings(&claims), ["admin", "reader"]);
    }
}
