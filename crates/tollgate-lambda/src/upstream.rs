//! Trusted upstream claims: API Gateway already verified the token, read its claims from the
//! request context instead of verifying again.
//!
//! [`TrustedClaimsLayer`] takes the place of [`AuthLayer`](tollgate::AuthLayer) when an API
//! Gateway authorizer sits in front of the function. It reads the claims that API Gateway put in
//! the event's `requestContext` and inserts the same [`Authenticated`] the `AuthLayer` would, so
//! [`Claims<T>`](tollgate::Claims) and the guards work unchanged:
//!
//! | [`Upstream`] | event | where the claims are |
//! |---|---|---|
//! | `Jwt` | HTTP API (payload 2.0), JWT authorizer | `requestContext.authorizer.jwt.claims` (+ `.scopes`) |
//! | `Jwt` | REST API, Cognito user pool authorizer | `requestContext.authorizer.claims` |
//! | `Lambda` | HTTP API (payload 2.0), Lambda authorizer | `requestContext.authorizer.lambda` (its `context`) |
//! | `Lambda` | REST API, Lambda authorizer | `requestContext.authorizer` (`principalId` + `context`) |
//!
//! A request without such a context (a route without an authorizer, a function URL, an ALB, an
//! IAM-authorized route, a source not enabled) is answered **401**; nothing panics.
//!
//! # Trust boundary
//! Nothing is verified here. The layer is only as safe as these facts, which you must make true:
//! - the function is invoked **only** by API Gateway (its resource policy allows only your API,
//!   and it has no function URL or other trigger), because whoever invokes a Lambda function
//!   writes the whole event, `requestContext` included;
//! - **every** route that reaches the function has the authorizer attached (a route without one
//!   gets a 401 here, which is safe, but only because the context is then missing);
//! - the authorizer checks what your application needs (issuer, audience, and scopes: API
//!   Gateway's JWT authorizer cannot tell access tokens from ID tokens unless you require scopes);
//! - for Lambda authorizers, the authorizer's `context` holds only claims from a verified token
//!   ([`Authorizer`](crate::Authorizer) does that).
//!
//! The client's own headers never count: the claims come from `requestContext` only, which API
//! Gateway writes. When those facts cannot be guaranteed, verify the token in the function with
//! the `AuthLayer` instead.
//!
//! # How the claims are rebuilt
//! API Gateway hands the JWT authorizer's claims over as strings, arrays flattened to
//! `"[admin user]"`. The layer turns back into JSON arrays the strings of exactly that form
//! (`[`, words separated by single spaces, `]`, no brackets inside) found in the roles claims
//! and scope claims (the top-level ones: API Gateway flattens only top-level claims; see
//! [`TrustedClaimsLayer::roles_claim`] and [`TrustedClaimsLayer::access_claims`]), `scope`,
//! `scp` and `aud`; other claims stay as they came. Roles and scopes are then read the way the
//! [`AuthLayer`](tollgate::AuthLayer) reads them ([`ClaimPath::strings`]: an array, or a
//! whitespace-separated string, so `"admin"` and `["admin"]` are the same role). `exp`, `nbf`,
//! `iat` and `auth_time` become numbers when they are whole seconds and are dropped otherwise
//! (the REST Cognito authorizer writes dates such as `Tue Apr 04 18:39:39 UTC 2023`; API
//! Gateway already checked them). The JWT authorizer's
//! `scopes` list becomes `scp` when the claims carry neither `scope` nor `scp`. For a REST
//! Lambda authorizer, `principalId` becomes `sub` when the context has no `sub`, and
//! `integrationLatency` is dropped.
//!
//! ```
//! use axum::{Router, routing::get};
//! use tollgate::{Claims, RequireRole};
//! use tollgate_core::StandardClaims;
//! use tollgate_lambda::{TrustedClaimsLayer, Upstream};
//!
//! tollgate::role!(Admin = "admin");
//!
//! async fn me(Claims(claims): Claims<StandardClaims>) -> String {
//!     claims.registered.sub.unwrap_or_default()
//! }
//!
//! # fn main() -> Result<(), tollgate_core::ConfigError> {
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .route("/admin", get(|_: RequireRole<Admin>| async { "hello admin" }))
//!     .layer(TrustedClaimsLayer::new([Upstream::Jwt]).roles_claim("cognito:groups")?);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::body::Body;
use http::{Request, Response};
use lambda_http::request::RequestContext;
use serde_json::{Map, Value};
use tollgate::{Answering, AuthError, Authenticated, ErrorResponder};
use tollgate_core::{AccessClaims, ClaimPath, ConfigError};
use tower_layer::Layer;
use tower_service::Service;

/// Which API Gateway authorizer's claims are trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Upstream {
    /// API Gateway verified a JWT itself: the HTTP API JWT authorizer
    /// (`authorizer.jwt.claims`) or the REST API Cognito user pool authorizer
    /// (`authorizer.claims`).
    Jwt,
    /// A Lambda authorizer's `context`: `authorizer.lambda` (HTTP API) or the REST API
    /// `authorizer` map (which must carry `principalId`).
    Lambda,
}

impl Upstream {
    /// Both kinds.
    pub const ALL: [Upstream; 2] = [Upstream::Jwt, Upstream::Lambda];
}

/// Time claims that are converted to numbers.
const TIME_CLAIMS: [&str; 4] = ["exp", "nbf", "iat", "auth_time"];

#[derive(Clone)]
struct Config {
    jwt: bool,
    lambda: bool,
    access: AccessClaims,
    comma_separated_roles: bool,
    /// Answers refusals here, and travels with every request passed on (inside its
    /// [`Authenticated`]) so the extractors and guards behind answer the same way.
    answering: Answering,
}

/// A tower layer that trusts claims an API Gateway authorizer already verified. See the
/// [module docs](self) for the trust boundary. Cheap to clone.
#[derive(Clone)]
pub struct TrustedClaimsLayer {
    config: Arc<Config>,
}

impl fmt::Debug for TrustedClaimsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedClaimsLayer")
            .field("jwt", &self.config.jwt)
            .field("lambda", &self.config.lambda)
            .field("access", &self.config.access)
            .field("comma_separated_roles", &self.config.comma_separated_roles)
            .finish_non_exhaustive()
    }
}

impl TrustedClaimsLayer {
    /// Trusts the claims of these authorizers (others' contexts are ignored: 401).
    pub fn new(upstreams: impl IntoIterator<Item = Upstream>) -> Self {
        let mut config = Config {
            jwt: false,
            lambda: false,
            access: AccessClaims::default(),
            comma_separated_roles: false,
            answering: Answering::default(),
        };
        for upstream in upstreams {
            match upstream {
                Upstream::Jwt => config.jwt = true,
                Upstream::Lambda => config.lambda = true,
            }
        }
        TrustedClaimsLayer {
            config: Arc::new(config),
        }
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// Where roles are read from, for every guard (default `roles`; `cognito:groups` for
    /// Cognito): replaces the role paths of the [`access_claims`](Self::access_claims), keeps
    /// their scope paths. A top-level claim is rebuilt from API Gateway's flattened `"[a b]"`
    /// form.
    pub fn roles_claim(mut self, path: &str) -> Result<Self, ConfigError> {
        let path = ClaimPath::new(path)?;
        let config = self.config_mut();
        config.access = config.access.clone().roles_at([path]);
        Ok(self)
    }

    /// Where roles and scopes are read from (default [`AccessClaims::default`]: roles at
    /// `roles`, scopes at `scope` and `scp`): typically the same [`AccessClaims`] as the
    /// verifier behind the authorizer (`verifier.access_claims().clone()`), so that guards here
    /// see what they would see behind an [`AuthLayer`](tollgate::AuthLayer). Top-level role and
    /// scope claims are rebuilt from API Gateway's flattened `"[a b]"` form.
    pub fn access_claims(mut self, access: AccessClaims) -> Self {
        self.config_mut().access = access;
        self
    }

    /// Also splits the (top-level) roles claims on commas (`"admin,user"`), the form some REST
    /// API Cognito authorizers hand `cognito:groups` over in. Only for role names without
    /// commas.
    pub fn comma_separated_roles(mut self) -> Self {
        self.config_mut().comma_separated_roles = true;
        self
    }

    /// Replaces every answer of the requests through this layer (default: RFC 6750 with a JSON
    /// body): the 401 to a missing context, and the rejections of [`Claims<T>`](tollgate::Claims)
    /// and the guards behind it (their 401s and 403s; see [`Answering`]).
    pub fn error_responder(mut self, responder: impl ErrorResponder) -> Self {
        let config = self.config_mut();
        config.answering = Answering::new(responder, config.answering.challenge().clone());
        self
    }
}

impl<S> Layer<S> for TrustedClaimsLayer {
    type Service = TrustedClaimsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TrustedClaimsService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service of [`TrustedClaimsLayer`].
#[derive(Clone)]
pub struct TrustedClaimsService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S: fmt::Debug> fmt::Debug for TrustedClaimsService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedClaimsService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// The response future of [`TrustedClaimsService`]: the same pass-or-refuse future as the guards'.
pub type TrustedClaimsFuture<F> = tollgate::GuardFuture<F>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for TrustedClaimsService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = TrustedClaimsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let claims = request
            .extensions()
            .get::<RequestContext>()
            .and_then(|context| upstream_claims(context, &self.config));
        match claims {
            Some(claims) => {
                let auth = Authenticated::from_trusted_claims(claims, self.config.access.clone())
                    .with_answering(self.config.answering.clone());
                tracing::debug!(sub = auth.subject(), "trusted upstream claims");
                request.extensions_mut().insert(auth);
                TrustedClaimsFuture::inner(self.inner.call(request))
            }
            None => {
                tracing::debug!("no trusted authorizer context: request refused");
                let response = self
                    .config
                    .answering
                    .respond_to(&AuthError::MissingCredentials, request.headers());
                TrustedClaimsFuture::refused(response)
            }
        }
    }
}

/// The claims of the request context, when an enabled upstream left some.
fn upstream_claims(context: &RequestContext, config: &Config) -> Option<Map<String, Value>> {
    let mut claims = match context {
        RequestContext::ApiGatewayV2(context) => {
            let authorizer = context.authorizer.as_ref()?;
            match &authorizer.jwt {
                Some(jwt) if config.jwt => {
                    let mut claims: Map<String, Value> = jwt
                        .claims
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                        .collect();
                    if let Some(scopes) = &jwt.scopes
                        && !scopes.is_empty()
                        && !claims.contains_key("scope")
                        && !claims.contains_key("scp")
                    {
                        let scopes = scopes.iter().cloned().map(Value::String).collect();
                        claims.insert("scp".to_owned(), Value::Array(scopes));
                    }
                    claims
                }
                _ if config.lambda && !authorizer.fields.is_empty() => {
                    authorizer.fields.clone().into_iter().collect()
                }
                _ => return None,
            }
        }
        RequestContext::ApiGatewayV1(context) => {
            let fields = &context.authorizer.fields;
            match fields.get("claims") {
                Some(Value::Object(claims)) if config.jwt => claims.clone(),
                _ if config.lambda && fields.get("principalId").is_some_and(Value::is_string) => {
                    let mut claims: Map<String, Value> = fields.clone().into_iter().collect();
                    claims.remove("integrationLatency");
                    if !claims.contains_key("sub")
                        && let Some(principal) = claims.get("principalId").cloned()
                    {
                        claims.insert("sub".to_owned(), principal);
                    }
                    claims
                }
                _ => return None,
            }
        }
        _ => return None,
    };
    normalize(&mut claims, config);
    Some(claims)
}

/// Undoes API Gateway's stringification where it is unambiguous (see the module docs).
fn normalize(claims: &mut Map<String, Value>, config: &Config) {
    // API Gateway flattens top-level claims only: a nested path has no member name to rebuild.
    let roles: Vec<&str> = config
        .access
        .role_paths()
        .iter()
        .filter_map(ClaimPath::top_level)
        .collect();
    let scopes = config
        .access
        .scope_paths()
        .iter()
        .filter_map(ClaimPath::top_level);
    let mut flattened: Vec<&str> = roles.clone();
    for name in scopes.chain(["scope", "scp", "aud"]) {
        if !flattened.contains(&name) {
            flattened.push(name);
        }
    }
    for name in flattened {
        if let Some(Value::String(text)) = claims.get(name)
            && let Some(items) = parse_flattened(text)
        {
            let items = items.into_iter().map(Value::String).collect();
            claims.insert(name.to_owned(), Value::Array(items));
        }
    }
    if config.comma_separated_roles {
        for name in roles {
            if let Some(Value::String(text)) = claims.get(name) {
                let items: Vec<Value> = text
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_owned()))
                    .collect();
                claims.insert(name.to_owned(), Value::Array(items));
            }
        }
    }
    for name in TIME_CLAIMS {
        if let Some(Value::String(text)) = claims.get(name) {
            match text.parse::<i64>() {
                Ok(seconds) => {
                    claims.insert(name.to_owned(), Value::from(seconds));
                }
                Err(_) => {
                    claims.remove(name);
                }
            }
        }
    }
}

/// `"[a b c]"` -> `["a", "b", "c"]`; `"[]"` -> `[]`; anything else (no brackets, brackets
/// inside, doubled or edge spaces) -> `None`.
pub(crate) fn parse_flattened(text: &str) -> Option<Vec<String>> {
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    if inner.contains(['[', ']']) {
        return None;
    }
    if inner.is_empty() {
        return Some(Vec::new());
    }
    let words: Vec<&str> = inner.split(' ').collect();
    if words
        .iter()
        .any(|w| w.is_empty() || w.contains(char::is_whitespace))
    {
        return None;
    }
    Some(words.into_iter().map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    use super::parse_flattened;

    #[test]
    fn flattened_arrays() {
        assert_eq!(
            parse_flattened("[admin user]"),
            Some(vec!["admin".into(), "user".into()])
        );
        assert_eq!(parse_flattened("[admin]"), Some(vec!["admin".into()]));
        assert_eq!(parse_flattened("[]"), Some(vec![]));
        assert_eq!(parse_flattened("admin user"), None);
        assert_eq!(parse_flattened("[admin user"), None);
        assert_eq!(parse_flattened("admin]"), None);
        assert_eq!(parse_flattened("[ admin]"), None);
        assert_eq!(parse_flattened("[admin  user]"), None);
        assert_eq!(parse_flattened("[admin ]"), None);
        assert_eq!(parse_flattened("[[admin] user]"), None);
        assert_eq!(parse_flattened("[a\tb]"), None);
        assert_eq!(parse_flattened("["), None);
    }
}
