//! [`ForwardClaimsLayer`]: copies chosen claims into request headers for an upstream, after
//! removing any same-named header the client sent (so a client cannot spoof them).
//!
//! ```
//! use tollgate::ForwardClaimsLayer;
//!
//! let forward = ForwardClaimsLayer::new()
//!     .claim("sub", "x-user-id").unwrap()
//!     .claim("https://example.com/tenant", "x-tenant").unwrap()
//!     // The roles and scopes as the guards see them (the verifier's `AccessClaims`).
//!     .roles("x-user-roles").unwrap()
//!     .scopes("x-user-scopes").unwrap();
//! # let _ = forward;
//! ```

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderName, HeaderValue, Request};
use serde_json::Value;
use tollgate_core::{ClaimPath, ConfigError};
use tower_layer::Layer;
use tower_service::Service;

use crate::claims::Authenticated;

/// Copies claims into headers; install it inside the [`AuthLayer`](crate::AuthLayer).
///
/// Strings are copied as they are, numbers and booleans in JSON form, arrays of strings joined
/// with `,`. A claim that is absent, an object, or not a valid header value is not forwarded
/// (the header stays removed). [`roles`](Self::roles) and [`scopes`](Self::scopes) forward what
/// [`Authenticated::roles`] and [`Authenticated::scopes`] read (the verifier's
/// [`AccessClaims`](tollgate_core::AccessClaims), merged over all their paths), joined with `,`.
#[derive(Clone, Default)]
pub struct ForwardClaimsLayer {
    mappings: Arc<Vec<(Forwarded, HeaderName)>>,
}

/// What one header carries.
#[derive(Clone)]
enum Forwarded {
    Claim(ClaimPath),
    Roles,
    Scopes,
}

impl Forwarded {
    fn name(&self) -> &str {
        match self {
            Forwarded::Claim(path) => path.as_str(),
            Forwarded::Roles => "(roles)",
            Forwarded::Scopes => "(scopes)",
        }
    }

    fn value(&self, auth: &Authenticated) -> Option<HeaderValue> {
        let list = |items: Vec<&str>| {
            if items.is_empty() {
                None
            } else {
                HeaderValue::from_str(&items.join(",")).ok()
            }
        };
        match self {
            Forwarded::Claim(path) => header_value(path.lookup(auth.claims())?),
            Forwarded::Roles => list(auth.roles()),
            Forwarded::Scopes => list(auth.scopes()),
        }
    }
}

impl fmt::Debug for ForwardClaimsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.mappings.iter().map(|(c, h)| (c.name(), h.as_str())))
            .finish()
    }
}

/// A header name given to [`ForwardClaimsLayer::claim`] is invalid, or the claim path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardConfigError(pub String);

impl fmt::Display for ForwardConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid claim forwarding: {}", self.0)
    }
}

impl std::error::Error for ForwardConfigError {}

impl From<ConfigError> for ForwardConfigError {
    fn from(err: ConfigError) -> Self {
        ForwardConfigError(err.to_string())
    }
}

impl ForwardClaimsLayer {
    /// Forwards nothing yet.
    pub fn new() -> Self {
        ForwardClaimsLayer::default()
    }

    /// Forwards the claim at `path` (a [`ClaimPath`]) as header `header`.
    pub fn claim(self, path: &str, header: &str) -> Result<Self, ForwardConfigError> {
        let path = ClaimPath::new(path)?;
        self.forward(Forwarded::Claim(path), header)
    }

    /// Forwards the claim at an already built `path` as header `header`.
    pub fn claim_path(self, path: ClaimPath, header: &str) -> Result<Self, ForwardConfigError> {
        self.forward(Forwarded::Claim(path), header)
    }

    /// Forwards the roles, as the guards read them ([`Authenticated::roles`]), joined with `,`;
    /// nothing when there are none.
    pub fn roles(self, header: &str) -> Result<Self, ForwardConfigError> {
        self.forward(Forwarded::Roles, header)
    }

    /// Forwards the scopes, as the guards read them ([`Authenticated::scopes`]), joined with
    /// `,`; nothing when there are none.
    pub fn scopes(self, header: &str) -> Result<Self, ForwardConfigError> {
        self.forward(Forwarded::Scopes, header)
    }

    fn forward(mut self, what: Forwarded, header: &str) -> Result<Self, ForwardConfigError> {
        let header = HeaderName::try_from(header).map_err(|e| ForwardConfigError(e.to_string()))?;
        Arc::make_mut(&mut self.mappings).push((what, header));
        Ok(self)
    }
}

fn header_value(value: &Value) -> Option<HeaderValue> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(_) | Value::Bool(_) => value.to_string(),
        Value::Array(items) => {
            let strings: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            strings?.join(",")
        }
        Value::Null | Value::Object(_) => return None,
    };
    HeaderValue::from_str(&text).ok()
}

impl<S> Layer<S> for ForwardClaimsLayer {
    type Service = ForwardClaims<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ForwardClaims {
            inner,
            mappings: self.mappings.clone(),
        }
    }
}

/// The service of [`ForwardClaimsLayer`].
#[derive(Clone)]
pub struct ForwardClaims<S> {
    inner: S,
    mappings: Arc<Vec<(Forwarded, HeaderName)>>,
}

impl<S: fmt::Debug> fmt::Debug for ForwardClaims<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwardClaims")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<Request<B>> for ForwardClaims<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        for (_, header) in self.mappings.iter() {
            request.headers_mut().remove(header);
        }
        let values: Vec<(HeaderName, HeaderValue)> =
            match request.extensions().get::<Authenticated>() {
                Some(auth) => self
                    .mappings
                    .iter()
                    .filter_map(|(what, header)| Some((header.clone(), what.value(auth)?)))
                    .collect(),
                None => Vec::new(),
            };
        for (header, value) in values {
            request.headers_mut().insert(header, value);
        }
        self.inner.call(request)
    }
}
