//! API Gateway Lambda authorizers on the same policy as the layer.
//!
//! An [`Authorizer`] verifies the bearer token of an authorizer event with a
//! [`TokenVerifier`] (a [`Verifier`](tollgate_core::Verifier) or a
//! [`MultiIssuer`](tollgate_core::remote::MultiIssuer)) and answers in the shape API Gateway
//! expects, using the `aws_lambda_events` types:
//!
//! | event | method | answer |
//! |---|---|---|
//! | REST API `TOKEN` authorizer | [`Authorizer::token`] | IAM policy + `context` |
//! | REST API `REQUEST` authorizer | [`Authorizer::request`] | IAM policy + `context` |
//! | HTTP API authorizer, payload 2.0, simple responses | [`Authorizer::http_simple`] | `{"isAuthorized", "context"}` |
//!
//! # Allow, Deny, or "Unauthorized"
//! API Gateway turns the authorizer's answer into the client's status:
//!
//! - **no token, or not a bearer token, or not even shaped like a JWT** (no `Authorization`
//!   header, another scheme, not `Bearer` and one RFC 6750 token as
//!   [`tollgate_core::bearer::parse`] and the layer read it, not three base64url segments, over
//!   the size cap), **or more than one** (see [Repeated headers](#repeated-headers)): the error
//!   `"Unauthorized"` ([`AuthorizerError::Unauthorized`]), which API Gateway answers with
//!   **401**. The client has to authenticate; nothing is cached.
//! - **a token that fails verification** (signature, expiry, issuer, audience, unknown key...):
//!   a **Deny** policy (`principalId` `"unauthorized"`, empty `context`), which API Gateway
//!   answers with **403** and caches for the token (the
//!   cache key is the token, so no other client is affected). With
//!   [`AuthorizerBuilder::invalid_token_unauthorized`] these are 401s as well, so that clients
//!   refresh an expired token instead of giving up.
//! - **keys unavailable** (the JWKS endpoint is down and nothing is cached): an error other than
//!   `"Unauthorized"` ([`AuthorizerError::Unavailable`]); API Gateway answers **500** and does
//!   not cache it, so the next request is authorized afresh instead of being denied for the
//!   whole cache TTL. Fail closed, never Allow.
//! - **a DPoP-bound token presented as `Bearer`** (it has `cnf.jkt`,
//!   [`tollgate_core::dpop::check_bearer`]): refused like a token that fails verification (Deny,
//!   or `"Unauthorized"` with [`AuthorizerBuilder::invalid_token_unauthorized`]). Without its
//!   proof, a bound token is what a thief would send. See [DPoP](#dpop).
//! - **a valid token**: an **Allow** policy with `principalId` = `sub` and a `context` map of the
//!   chosen claims ([`AuthorizerBuilder::context_claims`]).
//!
//! For the HTTP API simple response, every refusal is `{"isAuthorized": false}` (403; API Gateway
//! itself answers 401 without calling the authorizer when the identity source is missing), and
//! unavailable keys are an error (500).
//!
//! # Repeated headers
//! The token must be the only value of its header in the whole event, or a backend reading
//! another copy would see a token nobody verified. A `REQUEST` event is refused
//! (`"Unauthorized"`; for the HTTP API simple response `{"isAuthorized": false}`) when
//!
//! - `headers` or `multiValueHeaders` holds more than one value for the header: a list of
//!   several, or the name under keys that differ only in case (`authorization`,
//!   `Authorization` and `AUTHORIZATION` are one header, so two such keys are two values);
//! - `headers` and `multiValueHeaders` both have the header with different values;
//! - the value contains a comma: HTTP APIs (payload 2.0) join a repeated header into one value
//!   with commas (`Bearer a.b.c,Bearer d.e.f`), and a JWT never contains one. (The same rule
//!   applies to a `TOKEN` event's `authorizationToken`.)
//!
//! The `aws_lambda_events` types keep only one value when `headers` has the same name under
//! differently-cased keys, before the authorizer sees the event. To have those keys counted,
//! let the runtime deserialize the payload as [`AuthorizerEvent`]
//! (`LambdaEvent<AuthorizerEvent<ApiGatewayCustomAuthorizerRequestTypeRequest>>`, as in the
//! example below); [`Authorizer::request`] and [`Authorizer::http_simple`] take it as well as the
//! plain types, and on a plain type check what that type kept.
//!
//! # DPoP
//! An authorizer accepts bearer tokens only. `Authorization: DPoP <token>` is refused with
//! `"Unauthorized"` (401; for the HTTP API simple response `{"isAuthorized": false}`), logged at
//! debug level as a DPoP request an authorizer cannot check, and a DPoP-bound token sent as
//! `Bearer` is refused (above). Why an authorizer does not check proofs:
//!
//! - **API Gateway caches the answer** by the identity sources (for 300 s by default) and
//!   replays it without calling the authorizer: a proof is single-use and bound to one method and
//!   URI, so a cached Allow would let a replayed proof (or one for another route) through. Only
//!   with caching off (TTL 0) is every request seen.
//! - **The replay store is the function's**: `jti`s must be remembered across every concurrent
//!   authorizer instance (a shared store such as Redis); an in-process store is per container.
//! - A `TOKEN` authorizer sees one header, never the `DPoP` proof; a `REQUEST` authorizer sees
//!   headers, method and path, but `htu` must be the URL the client called (custom domain, base
//!   path mapping, stage), which the event does not state reliably.
//!
//! What works: verify DPoP in the function itself, with the same `Router` under `lambda_http`
//! and [`AuthLayerBuilder::dpop`](tollgate::AuthLayerBuilder::dpop), its
//! [`DpopVerifier`](tollgate_core::dpop::DpopVerifier) configured with the public stage URL
//! (e.g. `https://abc123.execute-api.eu-west-1.amazonaws.com/prod`, or the custom domain), and
//! no Lambda authorizer on those routes (or one whose `REQUEST` answer is not cached and that
//! only checks the token, leaving the proof to the function).
//!
//! # Policy resource and caching
//! API Gateway caches the policy (for 300 s by default) by token and replays it for **every
//! method** of the API. A policy naming only the `methodArn` of the first request then denies
//! the others with 403. The authorizer decides on the token alone, so by default the policy
//! covers the whole stage: `arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/*/*`
//! ([`PolicyResource::Stage`]). [`PolicyResource::MethodArn`] names the exact method instead; use
//! it only with caching disabled (TTL 0).
//!
//! # Context values
//! REST API `context` values can only be strings, numbers and booleans. Arrays of those are
//! written in API Gateway's own flattened form, `"[admin user]"` (which
//! [`TrustedClaimsLayer`](crate::TrustedClaimsLayer) reads back as an array); an array with an
//! element containing whitespace or brackets cannot be written unambiguously and is left out, as
//! are objects and `null`. The HTTP API simple response keeps the claims' JSON values as they are.
//!
//! Roles and scopes can go into `context` as the guards read them
//! ([`AuthorizerBuilder::context_roles`], [`AuthorizerBuilder::context_scopes`]): with the
//! verifier's [`AccessClaims`](tollgate_core::AccessClaims), merged over all its paths
//! (Cognito's `cognito:groups`, Keycloak's realm and client roles, an Auth0 namespaced claim),
//! whether the token wrote them as a string or an array. A
//! [`TrustedClaimsLayer`](crate::TrustedClaimsLayer) behind the authorizer then reads them back
//! at that key.
//!
//! ```no_run
//! use lambda_http::aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequest;
//! use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};
//! use tollgate_core::{Algorithm, CryptoProvider, KeySet, Validation, Verifier};
//! use tollgate_lambda::Authorizer;
//!
//! # async fn main_() -> Result<(), lambda_runtime::Error> {
//! # let keys = KeySet::new();
//! let policy = Validation::builder([Algorithm::RS256])
//!     .issuer("https://issuer.example.com")
//!     .audience("my-api")
//!     .build()?;
//! let authorizer = Authorizer::builder(Verifier::new(policy, keys, CryptoProvider::default()))
//!     .context_claims(["email"])?
//!     .context_roles("roles") // the verifier's AccessClaims reading, as `roles`
//!     .build();
//! let authorizer = &authorizer;
//! lambda_runtime::run(service_fn(
//!     move |event: LambdaEvent<ApiGatewayCustomAuthorizerRequest>| async move {
//!         authorizer.token(event.payload).await
//!     },
//! ))
//! .await
//! # }
//! ```
//!
//! A `REQUEST` authorizer, with the event's header maps kept as received:
//!
//! ```no_run
//! use lambda_http::aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
//! use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};
//! use tollgate_core::{Algorithm, CryptoProvider, KeySet, Validation, Verifier};
//! use tollgate_lambda::{Authorizer, AuthorizerEvent};
//!
//! type RequestEvent = AuthorizerEvent<ApiGatewayCustomAuthorizerRequestTypeRequest>;
//!
//! # async fn main_() -> Result<(), lambda_runtime::Error> {
//! # let keys = KeySet::new();
//! # let policy = Validation::builder([Algorithm::RS256]).any_audience().build()?;
//! let authorizer = Authorizer::new(Verifier::new(policy, keys, CryptoProvider::default()));
//! let authorizer = &authorizer;
//! lambda_runtime::run(service_fn(move |event: LambdaEvent<RequestEvent>| async move {
//!     authorizer.request(event.payload).await
//! }))
//! .await
//! # }
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequest,
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse,
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request,
};
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use http::HeaderMap;
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};
use tollgate::TokenVerifier;
use tollgate_core::{ClaimPath, ConfigError, VerifiedToken};

/// The IAM policy version API Gateway expects.
pub const POLICY_VERSION: &str = "2012-10-17";
/// The action of every statement.
pub const INVOKE_ACTION: &str = "execute-api:Invoke";

/// What the `Resource` of the returned policy names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PolicyResource {
    /// Every method of the stage: `arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/*/*`.
    /// Correct with API Gateway's policy cache (the default).
    #[default]
    Stage,
    /// Exactly the `methodArn` of the event. Only with the authorizer cache disabled (TTL 0):
    /// a cached policy is replayed for other methods, which it then denies.
    MethodArn,
}

/// Why an authorizer did not answer with a policy. Returned from the Lambda handler, it becomes
/// the invocation error whose message API Gateway reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorizerError {
    /// No usable bearer token. The message is exactly `Unauthorized`, which API Gateway answers
    /// with 401.
    #[error("Unauthorized")]
    Unauthorized,
    /// Keys are unavailable; API Gateway answers 500 and caches nothing.
    #[error("signing keys are temporarily unavailable")]
    Unavailable,
    /// The event lacks what the answer needs (e.g. no `methodArn`); API Gateway answers 500.
    #[error("invalid authorizer event: {0}")]
    InvalidEvent(&'static str),
}

impl From<AuthorizerError> for lambda_http::lambda_runtime::Diagnostic {
    fn from(error: AuthorizerError) -> Self {
        let error_type = match error {
            AuthorizerError::Unauthorized => "Unauthorized",
            AuthorizerError::Unavailable => "KeysUnavailable",
            AuthorizerError::InvalidEvent(_) => "InvalidEvent",
        };
        lambda_http::lambda_runtime::Diagnostic {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// The REST API authorizer response: principal, IAM policy, `context`.
pub type PolicyResponse = ApiGatewayCustomAuthorizerResponse<Map<String, Value>>;
/// The HTTP API simple response: `isAuthorized` and `context`.
pub type SimpleResponse = ApiGatewayV2CustomAuthorizerSimpleResponse<Map<String, Value>>;

/// An authorizer event (`E`: [`ApiGatewayCustomAuthorizerRequestTypeRequest`] or
/// [`ApiGatewayV2CustomAuthorizerV2Request`]) with its `headers` and `multiValueHeaders` exactly
/// as API Gateway wrote them: every key, in its case, with every value.
///
/// Deserialized from the event JSON (the Lambda runtime does it for
/// `LambdaEvent<AuthorizerEvent<E>>`), it lets [`Authorizer::request`] and
/// [`Authorizer::http_simple`] refuse an `Authorization` header given under two keys that differ
/// only in case, which the plain `E` has already merged into one value (see
/// [Repeated headers](self#repeated-headers)). Converted from a plain `E` (`From`), only what `E`
/// kept is checked.
#[derive(Debug, Clone)]
pub struct AuthorizerEvent<E> {
    event: E,
    /// `None` when converted from `E`: the raw maps are gone.
    raw: Option<RawHeaders>,
}

/// The header maps of an event as received: `(key, value)` in order, duplicates kept.
#[derive(Debug, Clone, Default)]
struct RawHeaders {
    headers: Vec<(String, Value)>,
    multi_value_headers: Vec<(String, Value)>,
}

impl<E> AuthorizerEvent<E> {
    /// The event as `aws_lambda_events` reads it.
    pub fn event(&self) -> &E {
        &self.event
    }

    /// The event as `aws_lambda_events` reads it.
    pub fn into_event(self) -> E {
        self.event
    }
}

impl<E> From<E> for AuthorizerEvent<E> {
    /// An event whose raw header maps are no longer known: checked on what `E` kept.
    fn from(event: E) -> Self {
        AuthorizerEvent { event, raw: None }
    }
}

impl<'de, E: DeserializeOwned> Deserialize<'de> for AuthorizerEvent<E> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EventVisitor(PhantomData))
    }
}

/// Reads the event object once: the header maps entry by entry (so no key is lost to another
/// one with the same name), everything else as JSON, then `E` from the same members.
struct EventVisitor<E>(PhantomData<E>);

impl<'de, E: DeserializeOwned> Visitor<'de> for EventVisitor<E> {
    type Value = AuthorizerEvent<E>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an API Gateway authorizer event (a JSON object)")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut access: M) -> Result<Self::Value, M::Error> {
        let mut object = Map::new();
        let mut raw = RawHeaders::default();
        while let Some(key) = access.next_key::<String>()? {
            let entries = match key.as_str() {
                "headers" => &mut raw.headers,
                "multiValueHeaders" => &mut raw.multi_value_headers,
                _ => {
                    let value = access.next_value::<Value>()?;
                    object.insert(key, value);
                    continue;
                }
            };
            let value = match access.next_value::<HeaderEntries>()?.0 {
                None => Value::Null,
                Some(list) => {
                    let map = list.iter().cloned().collect::<Map<_, _>>();
                    entries.extend(list);
                    Value::Object(map)
                }
            };
            object.insert(key, value);
        }
        let event = serde_json::from_value(Value::Object(object)).map_err(de::Error::custom)?;
        Ok(AuthorizerEvent {
            event,
            raw: Some(raw),
        })
    }
}

/// A header map as its entries (`None` for `null`).
struct HeaderEntries(Option<Vec<(String, Value)>>);

impl<'de> Deserialize<'de> for HeaderEntries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = HeaderEntries;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a header map or null")
            }

            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(HeaderEntries(None))
            }

            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(HeaderEntries(None))
            }

            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_map(self)
            }

            fn visit_map<M: MapAccess<'de>>(self, mut access: M) -> Result<Self::Value, M::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = access.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(HeaderEntries(Some(entries)))
            }
        }
        deserializer.deserialize_option(EntriesVisitor)
    }
}

/// A Lambda authorizer for API Gateway built on a [`TokenVerifier`]. See the
/// [module docs](self) for the answers. Cheap to clone.
#[derive(Clone)]
pub struct Authorizer {
    inner: Arc<Config>,
}

struct Config {
    verifier: Arc<dyn TokenVerifier>,
    resource: PolicyResource,
    context_claims: Vec<ClaimPath>,
    context_roles: Option<String>,
    context_scopes: Option<String>,
    principal_claim: ClaimPath,
    header: http::HeaderName,
    invalid_token_unauthorized: bool,
}

impl fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorizer")
            .field("resource", &self.inner.resource)
            .field("context_claims", &self.inner.context_claims)
            .field("context_roles", &self.inner.context_roles)
            .field("context_scopes", &self.inner.context_scopes)
            .field("principal_claim", &self.inner.principal_claim)
            .field("header", &self.inner.header)
            .field(
                "invalid_token_unauthorized",
                &self.inner.invalid_token_unauthorized,
            )
            .finish_non_exhaustive()
    }
}

/// Configures an [`Authorizer`].
#[must_use]
pub struct AuthorizerBuilder {
    config: Config,
}

impl fmt::Debug for AuthorizerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizerBuilder")
            .field("resource", &self.config.resource)
            .finish_non_exhaustive()
    }
}

impl AuthorizerBuilder {
    /// What the policy's `Resource` names (default [`PolicyResource::Stage`]).
    pub fn resource(mut self, resource: PolicyResource) -> Self {
        self.config.resource = resource;
        self
    }

    /// The claims copied into the answer's `context` ([`ClaimPath`]s such as `email`,
    /// `realm_access.roles` or `https://example.com/roles`; the key is the path in
    /// [`ClaimPath::as_str`] form). Default: none.
    pub fn context_claims<I: AsRef<str>>(
        mut self,
        claims: impl IntoIterator<Item = I>,
    ) -> Result<Self, ConfigError> {
        self.config.context_claims = claims
            .into_iter()
            .map(|c| ClaimPath::new(c.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(self)
    }

    /// Also puts the token's roles in `context` under `key`, read the way every guard reads
    /// them: with the verifier's [`AccessClaims`](tollgate_core::AccessClaims)
    /// ([`VerifiedToken::roles`]: all role paths merged, a string `"admin"` and an array
    /// `["admin"]` alike). Written as an array (REST: `"[admin user]"`), so that a
    /// [`TrustedClaimsLayer`](crate::TrustedClaimsLayer) whose roles claim is `key` reads back
    /// the same roles. Default: not written.
    pub fn context_roles(mut self, key: impl Into<String>) -> Self {
        self.config.context_roles = Some(key.into());
        self
    }

    /// Also puts the token's scopes in `context` under `key`, read with the verifier's
    /// [`AccessClaims`](tollgate_core::AccessClaims) ([`VerifiedToken::scopes`]), written as an
    /// array like [`context_roles`](Self::context_roles). Default: not written.
    pub fn context_scopes(mut self, key: impl Into<String>) -> Self {
        self.config.context_scopes = Some(key.into());
        self
    }

    /// The claim used as `principalId` (default `sub`). A verified token without it is denied.
    pub fn principal_claim(mut self, path: &str) -> Result<Self, ConfigError> {
        self.config.principal_claim = ClaimPath::new(path)?;
        Ok(self)
    }

    /// The header a `REQUEST` authorizer reads the token from (default `Authorization`).
    pub fn header(mut self, name: http::HeaderName) -> Self {
        self.config.header = name;
        self
    }

    /// Answers tokens that fail verification with `"Unauthorized"` (401) instead of a Deny
    /// policy (403), e.g. so that clients refresh expired tokens.
    pub fn invalid_token_unauthorized(mut self) -> Self {
        self.config.invalid_token_unauthorized = true;
        self
    }

    /// Builds the authorizer.
    pub fn build(self) -> Authorizer {
        Authorizer {
            inner: Arc::new(self.config),
        }
    }
}

/// The outcome of verifying the token of an event.
enum Decision {
    Allow {
        principal: String,
        token: VerifiedToken,
    },
    Deny,
}

impl Authorizer {
    /// An authorizer with the defaults: stage-wide policy, `principalId` from `sub`, no context.
    pub fn new(verifier: impl TokenVerifier) -> Self {
        Authorizer::builder(verifier).build()
    }

    /// Configures an authorizer.
    pub fn builder(verifier: impl TokenVerifier) -> AuthorizerBuilder {
        AuthorizerBuilder {
            config: Config {
                verifier: Arc::new(verifier),
                resource: PolicyResource::default(),
                context_claims: Vec::new(),
                context_roles: None,
                context_scopes: None,
                principal_claim: sub_path(),
                header: http::header::AUTHORIZATION,
                invalid_token_unauthorized: false,
            },
        }
    }

    /// Answers a REST API `TOKEN` authorizer event (`authorizationToken` is the header value,
    /// `Bearer <jwt>`).
    pub async fn token(
        &self,
        event: ApiGatewayCustomAuthorizerRequest,
    ) -> Result<PolicyResponse, AuthorizerError> {
        self.rest_policy(
            event.method_arn.as_deref(),
            event.authorization_token.as_deref(),
        )
        .await
    }

    /// Answers a REST API `REQUEST` authorizer event: the token is read from the configured
    /// header (default `Authorization`), which must have one value in the whole event
    /// (`headers` and `multiValueHeaders`, any case; see
    /// [Repeated headers](self#repeated-headers)). Pass an [`AuthorizerEvent`] deserialized from
    /// the event JSON to have differently-cased keys in `headers` counted too.
    pub async fn request(
        &self,
        event: impl Into<AuthorizerEvent<ApiGatewayCustomAuthorizerRequestTypeRequest>>,
    ) -> Result<PolicyResponse, AuthorizerError> {
        let AuthorizerEvent { event, raw } = event.into();
        let name = &self.inner.header;
        let sources = match &raw {
            Some(raw) => vec![
                raw_values(&raw.headers, name),
                raw_values(&raw.multi_value_headers, name),
            ],
            None => vec![
                map_values(&event.headers, name),
                map_values(&event.multi_value_headers, name),
            ],
        };
        let header = one_value(&sources);
        self.rest_policy(event.method_arn.as_deref(), header).await
    }

    /// The REST authorizer steps shared by `TOKEN` and `REQUEST` events.
    async fn rest_policy(
        &self,
        method_arn: Option<&str>,
        authorization: Option<&str>,
    ) -> Result<PolicyResponse, AuthorizerError> {
        let method_arn = method_arn.ok_or(AuthorizerError::InvalidEvent("no methodArn"))?;
        let resource = self.resource_for(method_arn)?;
        let token = bearer(authorization)?;
        let decision = self.decide(token).await?;
        Ok(self.policy(decision, resource))
    }

    /// Answers an HTTP API authorizer event (payload format 2.0) with the simple response.
    /// `context` holds the chosen claims with their JSON values. The header must have one value
    /// without commas (HTTP APIs join a repeated header with commas; see
    /// [Repeated headers](self#repeated-headers)).
    pub async fn http_simple(
        &self,
        event: impl Into<AuthorizerEvent<ApiGatewayV2CustomAuthorizerV2Request>>,
    ) -> Result<SimpleResponse, AuthorizerError> {
        let AuthorizerEvent { event, raw } = event.into();
        let name = &self.inner.header;
        // Payload 2.0 has no `multiValueHeaders`: only `headers` reaches the backend.
        let sources = match &raw {
            Some(raw) => vec![raw_values(&raw.headers, name)],
            None => vec![map_values(&event.headers, name)],
        };
        let mut response = SimpleResponse::default();
        let header = one_value(&sources);
        let decision = match bearer(header) {
            Ok(token) => match self.decide(token).await {
                Ok(decision) => decision,
                Err(AuthorizerError::Unauthorized) => Decision::Deny,
                Err(other) => return Err(other),
            },
            Err(_) => Decision::Deny,
        };
        if let Decision::Allow { token, .. } = decision {
            response.is_authorized = true;
            let claims = token.claims_json();
            for path in &self.inner.context_claims {
                if let Some(value) = path.lookup(claims) {
                    response
                        .context
                        .insert(path.as_str().to_owned(), value.clone());
                }
            }
            for (key, value) in self.access_context(&token) {
                response.context.insert(key.to_owned(), value);
            }
        }
        Ok(response)
    }

    async fn decide(&self, token: &str) -> Result<Decision, AuthorizerError> {
        match self.inner.verifier.verify(token).await {
            Ok(verified) => match tollgate_core::dpop::check_bearer(&verified) {
                Ok(()) => Ok(self.allow(verified)),
                Err(err) => {
                    tracing::debug!(error = %err, "authorizer: DPoP-bound token sent as Bearer");
                    self.refused()
                }
            },
            Err(err) if err.is_transient() => {
                tracing::warn!(error = %err, "authorizer: keys unavailable");
                Err(AuthorizerError::Unavailable)
            }
            Err(
                err @ (tollgate_core::Error::Malformed(_)
                | tollgate_core::Error::TokenTooLarge { .. }),
            ) => {
                tracing::debug!(error = %err, "authorizer: malformed token");
                Err(AuthorizerError::Unauthorized)
            }
            Err(err) => {
                tracing::debug!(error = %err, "authorizer: token refused");
                self.refused()
            }
        }
    }

    /// The answer to a token that is refused: Deny, or `"Unauthorized"` when so configured.
    fn refused(&self) -> Result<Decision, AuthorizerError> {
        if self.inner.invalid_token_unauthorized {
            Err(AuthorizerError::Unauthorized)
        } else {
            Ok(Decision::Deny)
        }
    }

    fn allow(&self, token: VerifiedToken) -> Decision {
        let principal = self
            .inner
            .principal_claim
            .lookup(token.claims_json())
            .and_then(Value::as_str)
            .map(str::to_owned);
        match principal {
            Some(principal) if !principal.is_empty() => Decision::Allow { principal, token },
            _ => {
                tracing::debug!(
                    claim = %self.inner.principal_claim,
                    "authorizer: verified token has no principal; denied"
                );
                Decision::Deny
            }
        }
    }

    /// The roles and scopes chosen for `context` ([`AuthorizerBuilder::context_roles`],
    /// [`AuthorizerBuilder::context_scopes`]), as JSON arrays.
    fn access_context(&self, token: &VerifiedToken) -> Vec<(&str, Value)> {
        let array = |items: Vec<&str>| Value::from(items);
        let mut out = Vec::new();
        if let Some(key) = &self.inner.context_roles {
            out.push((key.as_str(), array(token.roles())));
        }
        if let Some(key) = &self.inner.context_scopes {
            out.push((key.as_str(), array(token.scopes())));
        }
        out
    }

    fn resource_for(&self, method_arn: &str) -> Result<String, AuthorizerError> {
        match self.inner.resource {
            PolicyResource::MethodArn => Ok(method_arn.to_owned()),
            PolicyResource::Stage => stage_wildcard(method_arn).ok_or(
                AuthorizerError::InvalidEvent("methodArn is not an execute-api ARN"),
            ),
        }
    }

    fn policy(&self, decision: Decision, resource: String) -> PolicyResponse {
        let mut statement = IamPolicyStatement::default();
        statement.action = vec![INVOKE_ACTION.to_owned()];
        statement.resource = vec![resource];
        let mut response = PolicyResponse::default();
        match decision {
            Decision::Allow { principal, token } => {
                statement.effect = IamPolicyEffect::Allow;
                response.principal_id = Some(principal);
                response.context = rest_context(&self.inner.context_claims, token.claims_json());
                for (key, value) in self.access_context(&token) {
                    match flat_value(&value) {
                        Some(flat) => {
                            response.context.insert(key.to_owned(), flat);
                        }
                        None => tracing::debug!(
                            key,
                            "authorizer: roles or scopes cannot be a context value; left out"
                        ),
                    }
                }
            }
            Decision::Deny => {
                statement.effect = IamPolicyEffect::Deny;
                response.principal_id = Some("unauthorized".to_owned());
            }
        }
        let mut document = ApiGatewayCustomAuthorizerPolicy::default();
        document.version = Some(POLICY_VERSION.to_owned());
        document.statement = vec![statement];
        response.policy_document = document;
        response
    }
}

/// `sub`, as a claim path ("sub" is a valid single-segment path, so the fallback never runs).
fn sub_path() -> ClaimPath {
    ClaimPath::new("sub").unwrap_or_default()
}

/// The values of header `name` in a parsed map (`None`: not text).
fn map_values<'h>(headers: &'h HeaderMap, name: &http::HeaderName) -> Vec<Option<&'h str>> {
    headers
        .get_all(name)
        .iter()
        .map(|value| value.to_str().ok())
        .collect()
}

/// The values of header `name` in a raw map: every key equal to it ignoring ASCII case, each
/// string one value, each list element one value (`None`: not a string).
fn raw_values<'h>(entries: &'h [(String, Value)], name: &http::HeaderName) -> Vec<Option<&'h str>> {
    let mut values = Vec::new();
    for (key, value) in entries {
        if !key.eq_ignore_ascii_case(name.as_str()) {
            continue;
        }
        match value {
            Value::Array(items) => values.extend(items.iter().map(Value::as_str)),
            other => values.push(other.as_str()),
        }
    }
    values
}

/// The one value of a header across the event's header maps: `None` when it is absent, when
/// any map holds it more than once (or not as text), or when two maps disagree.
fn one_value<'h>(sources: &[Vec<Option<&'h str>>]) -> Option<&'h str> {
    let mut found = None;
    for values in sources {
        match values.as_slice() {
            [] => {}
            [Some(value)] if found.is_none_or(|seen| seen == *value) => found = Some(*value),
            _ => {
                tracing::debug!(
                    "authorizer: token header repeated, not text, or different in headers and \
                     multiValueHeaders; refused"
                );
                return None;
            }
        }
    }
    found
}

/// The token of a `Bearer` credential, read by the core's RFC 6750 parser exactly as
/// [`AuthLayer`](tollgate::AuthLayer) reads it (`"Bearer" 1*SP b64token`, scheme in any case).
/// A comma (a repeated header joined into one value) is outside `b64token`, so such a value is
/// refused too. Every refusal is `Unauthorized`: API Gateway has no 400 for an authorizer.
fn bearer(value: Option<&str>) -> Result<&str, AuthorizerError> {
    let value = value.ok_or(AuthorizerError::Unauthorized)?;
    tollgate_core::bearer::parse(value).map_err(|why| {
        if is_dpop_scheme(value) {
            tracing::debug!(
                "authorizer: DPoP scheme refused (an authorizer cannot check DPoP proofs: its \
                 answer is cached and the replay store is the function's; verify DPoP in the \
                 function)"
            );
        } else {
            tracing::debug!(error = %why, "authorizer: no usable bearer credentials");
        }
        AuthorizerError::Unauthorized
    })
}

/// Whether an `Authorization` value uses the `DPoP` scheme (any case), for the log.
fn is_dpop_scheme(value: &str) -> bool {
    value
        .split(' ')
        .next()
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("DPoP"))
}

/// `arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{verb}/{path}` ->
/// `arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/*/*`.
fn stage_wildcard(method_arn: &str) -> Option<String> {
    let mut parts = method_arn.splitn(3, '/');
    let api = parts.next()?;
    let stage = parts.next()?;
    let fields: Vec<&str> = api.split(':').collect();
    // IAM reads `*` and `?` as wildcards: in the region, account, API id or stage they would
    // widen the policy to other APIs, so such an ARN is malformed, not a pattern.
    let literal = |f: &str| !f.is_empty() && !f.contains(['*', '?']);
    let well_formed = fields.len() == 6
        && fields[0] == "arn"
        && fields[2] == "execute-api"
        && fields.iter().all(|f| literal(f))
        && literal(stage);
    well_formed.then(|| format!("{api}/{stage}/*/*"))
}

/// The REST `context`: the chosen claims as strings, numbers and booleans.
fn rest_context(paths: &[ClaimPath], claims: &Map<String, Value>) -> Map<String, Value> {
    let mut context = Map::new();
    for path in paths {
        let Some(value) = path.lookup(claims) else {
            continue;
        };
        match flat_value(value) {
            Some(flat) => {
                context.insert(path.as_str().to_owned(), flat);
            }
            None => tracing::debug!(
                claim = %path,
                "authorizer: claim cannot be a context value; left out"
            ),
        }
    }
    context
}

fn flat_value(value: &Value) -> Option<Value> {
    match value {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Some(value.clone()),
        Value::Array(items) => {
            let mut words = Vec::with_capacity(items.len());
            for item in items {
                let word = match item {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => return None,
                };
                if word.is_empty()
                    || word.contains(|c: char| c.is_whitespace() || c == '[' || c == ']')
                {
                    return None;
                }
                words.push(word);
            }
            Some(Value::String(format!("[{}]", words.join(" "))))
        }
        Value::Null | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_keeps_api_and_stage() {
        assert_eq!(
            stage_wildcard("arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/pets/1")
                .as_deref(),
            Some("arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*/*")
        );
        assert_eq!(
            stage_wildcard("arn:aws:execute-api:us-east-1:123456789012:abc123/$default/GET/")
                .as_deref(),
            Some("arn:aws:execute-api:us-east-1:123456789012:abc123/$default/*/*")
        );
        assert_eq!(
            stage_wildcard("arn:aws:execute-api:us-east-1:123456789012:abc123"),
            None
        );
        assert_eq!(stage_wildcard("not-an-arn/prod/GET/"), None);
        assert_eq!(stage_wildcard("arn:aws:s3:::bucket/prod/GET/"), None);
        // Found by the `lambda_authorizer_event` fuzz target: wildcards would widen the policy.
        for widened in [
            "arn:aws:execute-api:us-east-1:1:*/prod/GET/",
            "arn:aws:execute-api:*:1:abc/prod/GET/",
            "arn:aws:execute-api:us-east-1:?:abc/prod/GET/",
            "arn:aws:execute-api:us-east-1:1:abc/*/GET/",
            "arn:aws:execute-api:us-east-1:1:ab?/prod/GET/",
        ] {
            assert_eq!(stage_wildcard(widened), None, "{widened}");
        }
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer(Some("Bearer abc")), Ok("abc"));
        assert_eq!(bearer(Some("bearer abc")), Ok("abc"));
        assert_eq!(
            bearer(Some("Basic abc")),
            Err(AuthorizerError::Unauthorized)
        );
        assert_eq!(bearer(Some("Bearer")), Err(AuthorizerError::Unauthorized));
        // RFC 6750 `1*SP`, as the layer reads it (issue 13: this was refused here alone).
        assert_eq!(bearer(Some("Bearer  abc")), Ok("abc"));
        assert_eq!(bearer(Some("BEARER   abc")), Ok("abc"));
        // Spaces or tabs inside or after the token, a tab as the separator.
        for refused in ["Bearer a b", "Bearer abc ", "Bearer\tabc", "Bearer  \tabc"] {
            assert_eq!(
                bearer(Some(refused)),
                Err(AuthorizerError::Unauthorized),
                "{refused:?}"
            );
        }
        assert_eq!(bearer(Some("abc")), Err(AuthorizerError::Unauthorized));
        assert_eq!(bearer(None), Err(AuthorizerError::Unauthorized));
        // A repeated header joined by an HTTP API, with or without a second scheme.
        assert_eq!(
            bearer(Some("Bearer a.b.c,Bearer d.e.f")),
            Err(AuthorizerError::Unauthorized)
        );
        assert_eq!(
            bearer(Some("Bearer a.b.c,d.e.f")),
            Err(AuthorizerError::Unauthorized)
        );
        // DPoP credentials are not bearer credentials here (see the module docs).
        for dpop in ["DPoP abc", "dpop abc", "DPOP   abc"] {
            assert!(is_dpop_scheme(dpop), "{dpop}");
            assert_eq!(bearer(Some(dpop)), Err(AuthorizerError::Unauthorized));
        }
        assert!(!is_dpop_scheme("Bearer abc"));
        assert!(!is_dpop_scheme("DPoPx abc"));
    }

    #[test]
    fn one_value_across_header_maps() {
        let raw = |pairs: &[(&str, Value)]| -> Vec<(String, Value)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect()
        };
        let one = raw(&[("Authorization", Value::from("Bearer a"))]);
        let list = raw(&[("authorization", serde_json::json!(["Bearer a"]))]);
        let cased = raw(&[
            ("authorization", Value::from("Bearer a")),
            ("AUTHORIZATION", Value::from("Bearer a")),
        ]);
        let other = raw(&[("Authorization", serde_json::json!(["Bearer b"]))]);
        let number = raw(&[("Authorization", serde_json::json!(1))]);
        let none = raw(&[("Accept", Value::from("*/*"))]);
        fn values(entries: &[(String, Value)]) -> Vec<Option<&str>> {
            raw_values(entries, &http::header::AUTHORIZATION)
        }
        assert_eq!(one_value(&[values(&one), values(&list)]), Some("Bearer a"));
        assert_eq!(one_value(&[values(&one), values(&none)]), Some("Bearer a"));
        assert_eq!(one_value(&[values(&none), values(&none)]), None);
        assert_eq!(one_value(&[values(&cased), values(&list)]), None);
        assert_eq!(one_value(&[values(&one), values(&other)]), None);
        assert_eq!(one_value(&[values(&number)]), None);
    }

    #[test]
    fn context_values_are_flat() {
        let claims = serde_json::json!({
            "s": "x", "n": 3, "b": true, "roles": ["admin", "user"], "empty": [],
            "spaced": ["a b"], "obj": {"k": 1}, "null": null, "nested": [["x"]]
        });
        let claims = claims.as_object().cloned().unwrap_or_default();
        let paths: Vec<ClaimPath> = [
            "s", "n", "b", "roles", "empty", "spaced", "obj", "null", "nested", "absent",
        ]
        .iter()
        .filter_map(|p| ClaimPath::new(p).ok())
        .collect();
        let context = rest_context(&paths, &claims);
        assert_eq!(
            Value::Object(context),
            serde_json::json!({"s": "x", "n": 3, "b": true, "roles": "[admin user]", "empty": "[]"})
        );
    }
}
