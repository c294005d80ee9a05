//! A tonic gRPC server behind Tollgate's [`AuthLayer`](tollgate::AuthLayer), with no protoc: the
//! health service that `tonic-health` ships pre-generated (`grpc.health.v1.Health`).
//!
//! - [`spawn`] runs a tonic server with any tower layer stack in front of its services: the
//!   `AuthLayer` alone, or with a role guard (`tollgate::require_role`) behind it;
//! - [`ClaimsHealth`] is a `Health` implementation that reads the verified claims in its handler
//!   ([`tollgate::grpc::RequestExt`]): it names the caller in the `x-subject` response metadata,
//!   and a `service` of `role:<name>` requires that role.
//!
//! Refusals reach tonic clients as statuses: `UNAUTHENTICATED` (no token, a bad one, with the
//! `WWW-Authenticate` challenge in the status metadata), `PERMISSION_DENIED` (a role missing),
//! `UNAVAILABLE` (keys unavailable). `tests/health.rs` drives all of them with a real tonic client
//! over 127.0.0.1.

use std::convert::Infallible;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tollgate::core::StandardClaims;
use tollgate::grpc::RequestExt as _;
use tonic::codegen::BoxStream;
use tonic::metadata::MetadataValue;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tower::Layer;

/// The metadata key [`ClaimsHealth`] answers the caller's `sub` in.
pub const SUBJECT_METADATA: &str = "x-subject";

/// The `service` prefix with which a [`ClaimsHealth`] check requires a role: `role:admin`.
pub const ROLE_PREFIX: &str = "role:";

/// A `grpc.health.v1.Health` service that reads the verified token in its handler.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClaimsHealth;

#[tonic::async_trait]
impl Health for ClaimsHealth {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        // Typed claims, shared with the verifier's token cache (no new deserialization for a
        // token seen before).
        let claims = request.claims::<StandardClaims>()?;
        if let Some(role) = request.get_ref().service.strip_prefix(ROLE_PREFIX) {
            request.require_role(role)?;
        }
        let mut response = Response::new(HealthCheckResponse {
            status: ServingStatus::Serving.into(),
        });
        let subject = claims.registered.sub.as_deref().unwrap_or_default();
        // A subject that is not a valid metadata value is left out rather than refused.
        if let Ok(value) = MetadataValue::try_from(subject) {
            response.metadata_mut().insert(SUBJECT_METADATA, value);
        }
        Ok(response)
    }

    type WatchStream = BoxStream<HealthCheckResponse>;

    async fn watch(
        &self,
        _request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Err(Status::unimplemented("watch is not part of this example"))
    }
}

/// The pre-generated health service of `tonic-health`, reporting the server as SERVING.
pub fn health_service() -> HealthServer<impl Health> {
    let (_reporter, service) = tonic_health::server::health_reporter();
    service
}

/// The claims-reading health service.
pub fn claims_health_service() -> HealthServer<ClaimsHealth> {
    HealthServer::new(ClaimsHealth)
}

/// Binds `addr` and serves `service` behind `layer` (e.g. an `AuthLayer`, or a
/// `tower::ServiceBuilder` stacking an `AuthLayer` and a guard) on a spawned task: the bound
/// address (for a port 0) and the task, which ends only with a server error.
pub async fn spawn<L, S, B>(
    addr: &str,
    layer: L,
    service: S,
) -> std::io::Result<(SocketAddr, JoinHandle<Result<(), tonic::transport::Error>>)>
where
    S: tower::Service<http::Request<tonic::body::Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Response: axum::response::IntoResponse,
    S::Future: Send + 'static,
    L: Layer<Routes> + Clone + Send + Sync + 'static,
    L::Service: tower::Service<http::Request<tonic::body::Body>, Response = http::Response<B>>
        + Clone
        + Send
        + 'static,
    <L::Service as tower::Service<http::Request<tonic::body::Body>>>::Future: Send,
    <L::Service as tower::Service<http::Request<tonic::body::Body>>>::Error:
        Into<Box<dyn std::error::Error + Send + Sync>> + Send,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let server = tonic::transport::Server::builder()
        .layer(layer)
        .add_service(service)
        .serve_with_incoming(TcpIncoming::from(listener));
    Ok((bound, tokio::spawn(server)))
}
