//! What the layer leaves in the request, and the extractors that read it.

use std::fmt;
use std::sync::Arc;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tollgate_core::dpop::VerifiedProof;
use tollgate_core::{AccessClaims, ClaimPath, TokenHeader, VerifiedToken};

use crate::response::{Answering, AuthError, AuthRejection};

/// What a layer shares with every request it passes on: an override of where roles are read
/// from, and how failures are answered. One `Arc` per layer, so marking a request authenticated
/// costs one reference count.
#[derive(Clone, Default)]
pub(crate) struct AuthContext {
    /// [`AuthLayerBuilder::roles_claim`](crate::AuthLayerBuilder::roles_claim): replaces the
    /// role paths of the verifier's [`AccessClaims`]. `None`: the verifier's paths.
    pub(crate) roles: Option<ClaimPath>,
    pub(crate) answering: Option<Answering>,
    /// [`AuthLayerBuilder::trace_subject`](crate::AuthLayerBuilder::trace_subject): logs may
    /// quote claim values.
    pub(crate) trace_claims: bool,
}

/// A verified token, as the layer leaves it in the request extensions.
///
/// Handlers usually take [`Claims<T>`] or a guard instead; this type is for middleware and for
/// reading roles and scopes directly. Cheap to clone.
///
/// Roles and scopes are read where the verifier's [`AccessClaims`] say
/// ([`Verifier::builder`](tollgate_core::Verifier::builder)`.access_claims(..)`; default: roles
/// at `roles`, scopes at `scope` and `scp`), unless the layer overrides the role path with
/// [`roles_claim`](crate::AuthLayerBuilder::roles_claim). Every guard reads them through
/// [`roles`](Self::roles) and [`scopes`](Self::scopes).
///
/// A request that presented a DPoP-bound token with a valid proof also carries the
/// [`VerifiedProof`] ([`dpop`](Self::dpop), or the [`DpopProof`](crate::DpopProof) extractor).
#[derive(Clone)]
pub struct Authenticated {
    claims: ClaimsSource,
    context: Arc<AuthContext>,
    /// The DPoP proof of this request (never cached: checked on every request).
    proof: Option<Arc<VerifiedProof>>,
}

#[derive(Clone)]
enum ClaimsSource {
    /// Verified here; shared with the verifier's token cache, so typed claims are reused across
    /// requests that present the same token. Carries the verifier's [`AccessClaims`].
    Token(VerifiedToken),
    /// Verified upstream ([`Authenticated::from_trusted_claims`]).
    Trusted {
        claims: Arc<Map<String, Value>>,
        header: Arc<TokenHeader>,
        access: Arc<AccessClaims>,
    },
}

impl Authenticated {
    pub(crate) fn new(
        token: VerifiedToken,
        context: Arc<AuthContext>,
        proof: Option<VerifiedProof>,
    ) -> Self {
        Authenticated {
            claims: ClaimsSource::Token(token),
            context,
            proof: proof.map(Arc::new),
        }
    }

    /// Claims that something upstream already verified (e.g. API Gateway's JWT authorizer, for
    /// `tollgate-lambda`'s trusted-claims layer; Azure Easy Auth), so that [`Claims<T>`] and the
    /// guards work without verifying a token here. Roles and scopes are read where `access`
    /// says: the same [`AccessClaims`] the verifier upstream used (Keycloak's realm and client
    /// roles, Auth0's `permissions` as scopes), or `AccessClaims::default().roles_at([path])`
    /// for one role claim.
    ///
    /// **No verification happens**: only call this with claims from a channel the client cannot
    /// write to. No token header was seen, so [`header`](Self::header) is a placeholder
    /// (`alg` RS256, no `kid`, no `typ`) and must not be relied on.
    pub fn from_trusted_claims(claims: Map<String, Value>, access: AccessClaims) -> Self {
        let header = TokenHeader {
            alg: tollgate_core::Algorithm::RS256,
            kid: None,
            typ: None,
        };
        Authenticated {
            claims: ClaimsSource::Trusted {
                claims: Arc::new(claims),
                header: Arc::new(header),
                access: Arc::new(access),
            },
            context: Arc::new(AuthContext::default()),
            proof: None,
        }
    }

    /// The DPoP proof this request presented with its token (RFC 9449), checked by the layer on
    /// this very request: `None` for a bearer request (and for trusted claims). Its
    /// [`jkt`](VerifiedProof::jkt) is the thumbprint of the client's key, equal to the token's
    /// `cnf.jkt`.
    pub fn dpop(&self) -> Option<&VerifiedProof> {
        self.proof.as_deref()
    }

    pub(crate) fn shared_proof(&self) -> Option<&Arc<VerifiedProof>> {
        self.proof.as_ref()
    }

    /// All claims.
    pub fn claims(&self) -> &Map<String, Value> {
        match &self.claims {
            ClaimsSource::Token(token) => token.claims_json(),
            ClaimsSource::Trusted { claims, .. } => claims,
        }
    }

    /// The token header.
    pub fn header(&self) -> &TokenHeader {
        match &self.claims {
            ClaimsSource::Token(token) => token.header(),
            ClaimsSource::Trusted { header, .. } => header,
        }
    }

    /// The verified token, when it was verified by this process (not for
    /// [`from_trusted_claims`](Self::from_trusted_claims)).
    pub fn token(&self) -> Option<&VerifiedToken> {
        match &self.claims {
            ClaimsSource::Token(token) => Some(token),
            ClaimsSource::Trusted { .. } => None,
        }
    }

    /// `sub`, if present.
    pub fn subject(&self) -> Option<&str> {
        self.claims().get("sub").and_then(Value::as_str)
    }

    /// `iss`, if present.
    pub fn issuer(&self) -> Option<&str> {
        self.claims().get("iss").and_then(Value::as_str)
    }

    /// Where the roles and scopes of this request are read: the verifier's [`AccessClaims`]
    /// (or the trusted claims' ones). A layer's
    /// [`roles_claim`](crate::AuthLayerBuilder::roles_claim) override is not part of it;
    /// [`roles`](Self::roles) applies it.
    pub fn access_claims(&self) -> &AccessClaims {
        match &self.claims {
            ClaimsSource::Token(token) => token.access_claims(),
            ClaimsSource::Trusted { access, .. } => access,
        }
    }

    /// The roles: at the layer's [`roles_claim`](crate::AuthLayerBuilder::roles_claim) when it
    /// set one, else at the role paths of the verifier's [`AccessClaims`] (default `roles`).
    /// Arrays and whitespace-separated strings alike ([`ClaimPath::strings`]).
    pub fn roles(&self) -> Vec<&str> {
        if let Some(path) = &self.context.roles {
            return path.strings(self.claims());
        }
        match &self.claims {
            ClaimsSource::Token(token) => token.roles(),
            ClaimsSource::Trusted { claims, access, .. } => access.roles(claims),
        }
    }

    /// The scopes, at the scope paths of the verifier's [`AccessClaims`] (default `scope` and
    /// `scp`).
    pub fn scopes(&self) -> Vec<&str> {
        match &self.claims {
            ClaimsSource::Token(token) => token.scopes(),
            ClaimsSource::Trusted { claims, access, .. } => access.scopes(claims),
        }
    }

    /// Whether the token has this role.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles().contains(&role)
    }

    /// Whether the token has this scope.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().contains(&scope)
    }

    /// The claims as the application's type.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        match &self.claims {
            ClaimsSource::Token(token) => serde_json::from_slice(token.payload()),
            ClaimsSource::Trusted { claims, .. } => T::deserialize(&**claims),
        }
    }

    /// The claims as `T`, shared: for a token verified here, deserialized once per token and
    /// reused by every later request presenting it.
    pub(crate) fn shared<T>(&self) -> Result<Arc<T>, tollgate_core::Error>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        match &self.claims {
            ClaimsSource::Token(token) => token.claims::<T>(),
            ClaimsSource::Trusted { claims, .. } => T::deserialize(&**claims)
                .map(Arc::new)
                .map_err(|e| tollgate_core::Error::ClaimsShape(e.to_string())),
        }
    }

    /// Makes the extractors and guards behind this request answer with `answering` (see
    /// [`Answering`]): for layers that build an `Authenticated` themselves (trusted claims), so
    /// that their [`ErrorResponder`](crate::ErrorResponder) also shapes the rejections of
    /// [`Claims<T>`] and the 403s of the guards. The [`AuthLayer`](crate::AuthLayer) does this
    /// for the requests it verifies.
    ///
    /// ```
    /// use tollgate::{Answering, AuthError, Authenticated, Challenge};
    /// use tollgate::core::AccessClaims;
    ///
    /// let answering = Answering::new(
    ///     |error: &AuthError, _: &Challenge| {
    ///         let mut response = http::Response::new(axum_core::body::Body::from("no"));
    ///         *response.status_mut() = error.status();
    ///         response
    ///     },
    ///     Challenge::default(),
    /// );
    /// let claims = serde_json::json!({"sub": "user-1"});
    /// let serde_json::Value::Object(claims) = claims else { unreachable!() };
    /// let auth = Authenticated::from_trusted_claims(claims, AccessClaims::default())
    ///     .with_answering(answering);
    /// # let _ = auth;
    /// ```
    pub fn with_answering(mut self, answering: Answering) -> Self {
        // A trusted-claims context is this request's own: no copy is made.
        Arc::make_mut(&mut self.context).answering = Some(answering);
        self
    }

    pub(crate) fn answering(&self) -> Option<&Answering> {
        self.context.answering.as_ref()
    }
}

impl fmt::Debug for Authenticated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticated")
            .field("sub", &self.subject())
            .field("iss", &self.issuer())
            .field("kid", &self.header().kid)
            .field("dpop_jkt", &self.dpop().map(VerifiedProof::jkt))
            .finish_non_exhaustive()
    }
}

/// How the layer that handled this request answers failures: inside [`Authenticated`] (the
/// layer that authenticated it), else on its own (a request let through without a token).
pub(crate) fn answering_in(extensions: &http::Extensions) -> Option<&Answering> {
    extensions
        .get::<Authenticated>()
        .and_then(Authenticated::answering)
        .or_else(|| extensions.get::<Answering>())
}

/// The rejection of the request with these parts: answered by the layer in front of it, the
/// gRPC way for a gRPC call.
pub(crate) fn rejection(error: AuthError, parts: &Parts) -> AuthRejection {
    AuthRejection::new(
        error,
        answering_in(&parts.extensions).cloned(),
        crate::grpc::is_grpc_request(&parts.headers),
    )
}

/// Reads the layer's verification result and answering config from a request.
pub(crate) fn authenticated(parts: &Parts) -> Result<&Authenticated, AuthRejection> {
    parts
        .extensions
        .get::<Authenticated>()
        .ok_or_else(|| rejection(AuthError::MissingCredentials, parts))
}

/// The verified claims as the handler's type: any `Deserialize + Clone` struct.
///
/// Rejects with 401 when the request carries no verified token (the layer is missing, or in
/// optional mode the client sent none), and with 401 `invalid_token` when the claims do not fit
/// `T`. The typed value is deserialized once per token and shared by every later request that
/// presents the same token (the verifier's token cache keeps it); each extraction clones it.
/// Where a token is optional, take `Option<Claims<T>>`.
///
/// ```
/// use serde::Deserialize;
/// use tollgate::Claims;
///
/// #[derive(Clone, Deserialize)]
/// struct User {
///     sub: String,
///     #[serde(default)]
///     roles: Vec<String>,
/// }
///
/// async fn me(Claims(user): Claims<User>) -> String {
///     format!("{} has {} roles", user.sub, user.roles.len())
/// }
/// # let _ = axum::Router::<()>::new().route("/me", axum::routing::get(me));
/// ```
#[derive(Debug, Clone)]
pub struct Claims<T>(pub T);

fn typed<T>(parts: &Parts) -> Result<Option<T>, AuthRejection>
where
    T: DeserializeOwned + Clone + Send + Sync + 'static,
{
    let Some(auth) = parts.extensions.get::<Authenticated>() else {
        return Ok(None);
    };
    match auth.shared::<T>() {
        Ok(value) => Ok(Some(T::clone(&value))),
        Err(err) => {
            if auth.context.trace_claims {
                tracing::debug!(reason = err.reason(), detail = %err, "claims do not fit the extractor's type");
            } else {
                // The deserializer's message can quote a claim's value.
                tracing::debug!(
                    reason = err.reason(),
                    "claims do not fit the extractor's type"
                );
            }
            Err(rejection(AuthError::Token(err), parts))
        }
    }
}

impl<S, T> FromRequestParts<S> for Claims<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Clone + Send + Sync + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match typed::<T>(parts)? {
            Some(claims) => Ok(Claims(claims)),
            None => Err(rejection(AuthError::MissingCredentials, parts)),
        }
    }
}

/// `Option<Claims<T>>`: the claims when a token was sent and verified, `None` when the request
/// carries no verified token (behind an [`optional`](crate::AuthLayerBuilder::optional) layer).
/// Claims that do not fit `T` are still a rejection (401 `invalid_token`), not `None`.
///
/// ```
/// use tollgate::Claims;
/// use tollgate::core::StandardClaims;
///
/// async fn greet(claims: Option<Claims<StandardClaims>>) -> String {
///     match claims {
///         Some(Claims(claims)) => format!("hello {}", claims.registered.sub.unwrap_or_default()),
///         None => "hello stranger".to_owned(),
///     }
/// }
/// # let _ = axum::Router::<()>::new().route("/", axum::routing::get(greet));
/// ```
impl<S, T> OptionalFromRequestParts<S> for Claims<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Clone + Send + Sync + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(typed::<T>(parts)?.map(Claims))
    }
}

impl<S> FromRequestParts<S> for Authenticated
where
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        authenticated(parts).cloned()
    }
}
