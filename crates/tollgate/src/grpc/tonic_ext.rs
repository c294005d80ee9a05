//! The verified token in tonic handlers (feature `tonic`).

use std::sync::Arc;

use serde::de::DeserializeOwned;
use tonic::metadata::MetadataMap;
use tonic::{Code, Status};

use crate::claims::{Authenticated, answering_in};
use crate::response::{Answering, AuthError};

/// The verified token in tonic handlers (feature `tonic`): tonic's `Request<T>` keeps the
/// HTTP request's extensions, where the [`AuthLayer`](crate::AuthLayer) in front of the
/// server leaves the [`Authenticated`] token.
///
/// A failure is a [`tonic::Status`] answered as the layer answers gRPC calls
/// (`UNAUTHENTICATED` when no verified token is there or its claims do not fit `T`,
/// `PERMISSION_DENIED` for a missing role or scope), with the layer's `WWW-Authenticate`
/// challenge in its metadata.
///
/// ```
/// use tollgate::core::StandardClaims;
/// use tollgate::grpc::RequestExt;
///
/// fn hello(request: &tonic::Request<()>) -> Result<String, tonic::Status> {
///     request.require_role("reader")?;
///     let claims = request.claims::<StandardClaims>()?;
///     Ok(format!("hello {}", claims.registered.sub.as_deref().unwrap_or("?")))
/// }
/// // Without the layer in front, no token was verified:
/// let status = hello(&tonic::Request::new(())).err();
/// assert_eq!(status.map(|s| s.code()), Some(tonic::Code::Unauthenticated));
/// ```
pub trait RequestExt {
    /// The verified token, or `UNAUTHENTICATED`.
    fn authenticated(&self) -> Result<&Authenticated, Status>;

    /// The claims as `T`, deserialized once per token and shared by every request that
    /// presents it (as [`Claims<T>`](crate::Claims) does), or `UNAUTHENTICATED`.
    fn claims<T>(&self) -> Result<Arc<T>, Status>
    where
        T: DeserializeOwned + Send + Sync + 'static;

    /// `Ok` when the token has `role` ([`Authenticated::roles`]), else `PERMISSION_DENIED`
    /// (or `UNAUTHENTICATED` without a verified token).
    fn require_role(&self, role: &str) -> Result<(), Status>;

    /// `Ok` when the token has `scope` ([`Authenticated::scopes`]), else
    /// `PERMISSION_DENIED` (or `UNAUTHENTICATED` without a verified token).
    fn require_scope(&self, scope: &str) -> Result<(), Status>;
}

impl<M> RequestExt for tonic::Request<M> {
    fn authenticated(&self) -> Result<&Authenticated, Status> {
        self.extensions()
            .get::<Authenticated>()
            .ok_or_else(|| status(self.extensions(), &AuthError::MissingCredentials))
    }

    fn claims<T>(&self) -> Result<Arc<T>, Status>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        self.authenticated()?.shared::<T>().map_err(|err| {
            tracing::debug!(
                reason = err.reason(),
                "claims do not fit the handler's type"
            );
            status(self.extensions(), &AuthError::Token(err))
        })
    }

    fn require_role(&self, role: &str) -> Result<(), Status> {
        require(self, self.authenticated()?.has_role(role), role)
    }

    fn require_scope(&self, scope: &str) -> Result<(), Status> {
        require(self, self.authenticated()?.has_scope(scope), scope)
    }
}

fn require<M>(request: &tonic::Request<M>, held: bool, name: &str) -> Result<(), Status> {
    if held {
        return Ok(());
    }
    let error = AuthError::Token(tollgate_core::Error::InsufficientScope {
        required: name.to_owned(),
    });
    Err(status(request.extensions(), &error))
}

/// The status for `error`, carrying the challenge of the layer that handled the request.
fn status(extensions: &http::Extensions, error: &AuthError) -> Status {
    let code = Code::from_i32(i32::from(error.grpc_status()));
    let default = Answering::default();
    let challenge = answering_in(extensions).unwrap_or(&default).challenge();
    let mut headers = http::HeaderMap::new();
    for value in challenge.www_authenticate_all(error) {
        headers.append(http::header::WWW_AUTHENTICATE, value);
    }
    Status::with_metadata(
        code,
        error.description(),
        MetadataMap::from_headers(headers),
    )
}

#[cfg(test)]
mod tests {
    use super::RequestExt as _;
    use crate::{Answering, Authenticated, Challenge, Rfc6750Responder};
    use tollgate_core::{AccessClaims, ClaimPath};
    use tonic::Code;

    #[derive(Debug, serde::Deserialize)]
    struct Tenant {
        tenant: String,
    }

    fn request(claims: serde_json::Value, answering: Option<Answering>) -> tonic::Request<()> {
        let serde_json::Value::Object(claims) = claims else {
            unreachable!("an object")
        };
        let auth = Authenticated::from_trusted_claims(
            claims,
            AccessClaims::default().roles_at([ClaimPath::new("roles").unwrap()]),
        );
        let auth = match answering {
            Some(answering) => auth.with_answering(answering),
            None => auth,
        };
        let mut request = tonic::Request::new(());
        request.extensions_mut().insert(auth);
        request
    }

    fn challenge(status: &tonic::Status) -> &str {
        status
            .metadata()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
    }

    #[test]
    fn claims_and_roles_are_read_from_the_extensions() {
        let ok = request(
            serde_json::json!({"sub": "u", "tenant": "t1", "roles": ["admin"]}),
            None,
        );
        assert_eq!(ok.authenticated().unwrap().subject(), Some("u"));
        assert_eq!(ok.claims::<Tenant>().unwrap().tenant, "t1");
        assert!(ok.require_role("admin").is_ok());
        assert!(ok.require_scope("admin").is_err(), "roles are not scopes");
        let denied = ok.require_role("auditor").unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied);
        assert_eq!(
            denied.message(),
            "the token lacks the required role or scope"
        );
        assert_eq!(
            challenge(&denied),
            r#"Bearer realm="api", error="insufficient_scope", error_description="the token lacks the required role or scope", scope="auditor""#
        );
    }

    #[test]
    fn failures_are_unauthenticated_with_the_layers_challenge() {
        let orders = Answering::new(Rfc6750Responder, Challenge::default().realm("orders"));
        let shape = request(serde_json::json!({"sub": "u"}), Some(orders));
        let status = shape.claims::<Tenant>().unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(status.message(), "the token claims are not accepted");
        assert!(challenge(&status).starts_with(r#"Bearer realm="orders", error="invalid_token""#));
        let none = tonic::Request::new(());
        let status = none.authenticated().unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(status.message(), "a bearer token is required");
        assert_eq!(challenge(&status), r#"Bearer realm="api""#);
        assert_eq!(
            none.require_role("admin").unwrap_err().code(),
            Code::Unauthenticated
        );
    }
}
