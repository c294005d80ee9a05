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
/// Strings are copied as they are when header-safe, numbers, booleans, arrays and objects as
/// their JSON text in ASCII (see [Encoding](#encoding)). A claim that is absent, `null`, or a
/// string that is not header-safe is not forwarded (the header stays removed).
/// [`roles`](Self::roles) and [`scopes`](Self::scopes) forward what [`Authenticated::roles`]
/// and [`Authenticated::scopes`] read (the verifier's
/// [`AccessClaims`](tollgate_core::AccessClaims), merged over all their paths) as a JSON array.
///
/// # Encoding
/// One header per claim, one value per header, in a form the upstream can decode exactly:
///
/// | claim | header value |
/// |---|---|
/// | string | the string itself (`jane@example.com`), when it is header-safe (below) |
/// | number, boolean | its JSON text (`42`, `true`) |
/// | array, object | its compact JSON text: the claim `["a,b"]` is sent as `["a,b"]`, `["a","b"]` as `["a","b"]`, `{"k": 1}` as `{"k":1}` |
/// | roles, scopes ([`roles`](Self::roles), [`scopes`](Self::scopes)) | a JSON array of strings: `["admin","editors"]` |
///
/// JSON text is written in ASCII: any other character (and DEL) is escaped as `\uXXXX` (UTF-16,
/// as JSON allows), so `["José"]` is forwarded as `["Jos\u00e9"]`, and every JSON value decodes
/// back to the claim with any JSON parser (`serde_json::from_str`). Elements are never joined
/// with a separator, so no element can pass for two.
///
/// A string is **header-safe** when every character is visible ASCII or a space (`' '..='~'`)
/// and it neither starts nor ends with a space (an HTTP hop would strip it). A string that is not
/// (control characters, a line break, a non-ASCII character) is **not forwarded**: the header
/// stays removed, as for an absent claim, `null`, or no roles. Strings are not quoted, so the
/// header does not tell a string `"true"` from the boolean `true`: read it as the type the claim
/// has.
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
                HeaderValue::from_str(&ascii_json(&Value::from(items))).ok()
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid claim forwarding: {0}")]
pub struct ForwardConfigError(pub String);

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

    /// Forwards the roles, as the guards read them ([`Authenticated::roles`]), as a JSON array
    /// (`["admin","editors"]`); nothing when there are none.
    pub fn roles(self, header: &str) -> Result<Self, ForwardConfigError> {
        self.forward(Forwarded::Roles, header)
    }

    /// Forwards the scopes, as the guards read them ([`Authenticated::scopes`]), as a JSON array
    /// (`["read","write"]`); nothing when there are none.
    pub fn scopes(self, header: &str) -> Result<Self, ForwardConfigError> {
        self.forward(Forwarded::Scopes, header)
    }

    fn forward(mut self, what: Forwarded, header: &str) -> Result<Self, ForwardConfigError> {
        let header = HeaderName::try_from(header).map_err(|e| ForwardConfigError(e.to_string()))?;
        Arc::make_mut(&mut self.mappings).push((what, header));
        Ok(self)
    }
}

/// The header value of a claim (see [`ForwardClaimsLayer`]'s encoding); `None`: not forwarded.
fn header_value(value: &Value) -> Option<HeaderValue> {
    match value {
        Value::Null => None,
        Value::String(s) if header_safe(s) => HeaderValue::from_str(s).ok(),
        Value::String(_) => {
            tracing::debug!("forward: string claim is not header-safe; not forwarded");
            None
        }
        Value::Number(_) | Value::Bool(_) | Value::Array(_) | Value::Object(_) => {
            HeaderValue::from_str(&ascii_json(value)).ok()
        }
    }
}

/// Visible ASCII and spaces, no space at either end: arrives exactly as sent.
fn header_safe(s: &str) -> bool {
    s.chars().all(|c| (' '..='~').contains(&c)) && !s.starts_with(' ') && !s.ends_with(' ')
}

/// Compact JSON text with every character outside `' '..='~'` escaped as `\uXXXX`. serde_json
/// already escapes `"`, `\` and control characters below U+0020; what remains (DEL, non-ASCII)
/// can only occur inside JSON strings, where the escape means the same character.
fn ascii_json(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().all(|c| (' '..='~').contains(&c)) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if (' '..='~').contains(&c) {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
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
