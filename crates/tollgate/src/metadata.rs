//! OAuth 2.0 Protected Resource Metadata (RFC 9728), served at
//! [`WELL_KNOWN_PATH`]; what MCP clients read to find the authorization server.
//!
//! ```
//! use axum::Router;
//! use tollgate::metadata::{ProtectedResourceMetadata, WELL_KNOWN_PATH};
//!
//! let metadata = ProtectedResourceMetadata::new("https://api.example.com")
//!     .authorization_server("https://issuer.example.com")
//!     .scopes(["read", "write"]);
//! let app: Router = Router::new().route_service(WELL_KNOWN_PATH, metadata.into_service());
//! ```

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::body::Body;
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Request, Response};
use serde::Serialize;
use tower_service::Service;

/// Where RFC 9728 metadata lives.
pub const WELL_KNOWN_PATH: &str = "/.well-known/oauth-protected-resource";

/// RFC 9728 section 2 metadata.
#[derive(Debug, Clone, Serialize)]
pub struct ProtectedResourceMetadata {
    resource: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authorization_servers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    scopes_supported: Vec<String>,
    bearer_methods_supported: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_documentation: Option<String>,
}

impl ProtectedResourceMetadata {
    /// Metadata for the resource identifier `resource` (an https URL).
    pub fn new(resource: impl Into<String>) -> Self {
        ProtectedResourceMetadata {
            resource: resource.into(),
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
            bearer_methods_supported: vec!["header".into()],
            resource_name: None,
            resource_documentation: None,
        }
    }

    /// Adds an authorization server (issuer URL).
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// Sets the supported scopes.
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets how tokens may be sent (`header`, `body`, `query`); default `["header"]`.
    pub fn bearer_methods<S: Into<String>>(mut self, methods: impl IntoIterator<Item = S>) -> Self {
        self.bearer_methods_supported = methods.into_iter().map(Into::into).collect();
        self
    }

    /// A human-readable name.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// A documentation URL.
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.resource_documentation = Some(url.into());
        self
    }

    /// A service answering every request with this metadata as JSON.
    pub fn into_service(self) -> MetadataService {
        let body = serde_json::to_vec(&self)
            .map(Bytes::from)
            .unwrap_or_default();
        MetadataService {
            body: Arc::new(body),
        }
    }
}

/// Serves [`ProtectedResourceMetadata`].
#[derive(Debug, Clone)]
pub struct MetadataService {
    body: Arc<Bytes>,
}

impl<B> Service<Request<B>> for MetadataService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<B>) -> Self::Future {
        let mut response = Response::new(Body::from((*self.body).clone()));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("max-age=3600"));
        ready(Ok(response))
    }
}
