//! Azure Functions custom handlers: where to listen, and which paths the host forwards.
//!
//! The Functions host starts the handler (`customHandler.description.defaultExecutablePath` in
//! `host.json`), picks a free TCP port and passes it in [`PORT_VAR`]
//! (`FUNCTIONS_CUSTOMHANDLER_PORT`); the handler must listen there within 60 seconds. The port
//! is the host's private channel, not the public one: listen on loopback only
//! ([`listen_addr`]).
//!
//! With `"enableForwardingHttpRequest": true` (HTTP-in / HTTP-out functions only) the host
//! forwards each request as it came, `Authorization` header and body included, to the original
//! path: `/api/<route>`, where `<route>` is the `route` of the function's `httpTrigger` binding
//! in `function.json` (default: the function's name) and `api` is `host.json`'s
//! `extensions.http.routePrefix`. [`function_route`] builds that path for an axum `Router`. The
//! host adds `X-Azure-Functions-InvocationId` ([`INVOCATION_ID`]),
//! `X-Azure-Functions-HostVersion` and `User-Agent: Azure-Functions-Host/<version>`.
//!
//! Function keys (`authLevel: function`) travel as `?code=` or `x-functions-key`, never in
//! `Authorization`, and are not checked when running locally: protect the API with
//! `authLevel: anonymous` plus [`AuthLayer`](tollgate::AuthLayer) (or Easy Auth and
//! [`EasyAuthLayer`](crate::EasyAuthLayer)).
//!
//! ```
//! use axum::{Router, routing::get};
//! use tollgate_azure::custom_handler::function_route;
//!
//! let app: Router = Router::new()
//!     .route(&function_route("me"), get(|| async { "me" }))
//!     // function.json `"route": "orders/{id}"`: axum uses the same braces.
//!     .route(&function_route("orders/{id}"), get(|| async { "order" }));
//! ```

use std::ffi::OsStr;
use std::net::{Ipv4Addr, SocketAddr};

use http::HeaderName;

/// The environment variable the Functions host passes the handler's port in.
pub const PORT_VAR: &str = "FUNCTIONS_CUSTOMHANDLER_PORT";

/// The default route prefix of HTTP-triggered functions (`extensions.http.routePrefix`).
pub const ROUTE_PREFIX: &str = "api";

/// `X-Azure-Functions-InvocationId`: the id the host gives each invocation (a UUID), handy to
/// correlate the handler's logs with the host's.
pub const INVOCATION_ID: HeaderName = HeaderName::from_static("x-azure-functions-invocationid");

/// Why the listen address could not be determined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The variable is not set: the process was not started by the Functions host (run it with
    /// `func start`, or set the variable yourself).
    #[error("{var} is not set (is this process started by the Azure Functions host?)")]
    Missing {
        /// The variable's name.
        var: &'static str,
    },
    /// The variable does not hold a TCP port (1-65535).
    #[error("{var} must be a TCP port between 1 and 65535, not {value:?}")]
    Invalid {
        /// The variable's name.
        var: &'static str,
        /// Its value (lossily converted to UTF-8).
        value: String,
    },
}

/// `127.0.0.1:<FUNCTIONS_CUSTOMHANDLER_PORT>`: where the host forwards requests.
///
/// ```
/// use tollgate_azure::custom_handler::{Error, listen_addr};
///
/// match listen_addr() {
///     Ok(addr) => assert!(addr.ip().is_loopback()),
///     Err(Error::Missing { var }) => assert_eq!(var, "FUNCTIONS_CUSTOMHANDLER_PORT"),
///     Err(other) => panic!("{other}"),
/// }
/// ```
pub fn listen_addr() -> Result<SocketAddr, Error> {
    listen_addr_from(std::env::var_os(PORT_VAR).as_deref())
}

/// [`listen_addr`] for a value read elsewhere (`None`: not set).
///
/// ```
/// use std::ffi::OsStr;
/// use tollgate_azure::custom_handler::listen_addr_from;
///
/// let addr = listen_addr_from(Some(OsStr::new("34567"))).unwrap();
/// assert_eq!(addr.to_string(), "127.0.0.1:34567");
/// assert!(listen_addr_from(Some(OsStr::new("http"))).is_err());
/// assert!(listen_addr_from(None).is_err());
/// ```
pub fn listen_addr_from(value: Option<&OsStr>) -> Result<SocketAddr, Error> {
    let value = value.ok_or(Error::Missing { var: PORT_VAR })?;
    let invalid = || Error::Invalid {
        var: PORT_VAR,
        value: value.to_string_lossy().into_owned(),
    };
    let port = value
        .to_str()
        .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|text| text.parse::<u16>().ok())
        .filter(|&port| port != 0)
        .ok_or_else(invalid)?;
    Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
}

/// The path the host forwards a function's requests to, for the default route prefix:
/// `function_route("me")` is `"/api/me"`. `route` is the `route` of the function's
/// `httpTrigger` binding (default: the function's name), without leading slash; route
/// parameters such as `{id}` use the same braces as axum, but constraints such as `{id:int}`
/// do not carry over. With another `routePrefix`, write the paths yourself.
///
/// ```
/// use tollgate_azure::custom_handler::function_route;
///
/// assert_eq!(function_route("me"), "/api/me");
/// assert_eq!(function_route("/admin"), "/api/admin");
/// ```
pub fn function_route(route: &str) -> String {
    format!("/{ROUTE_PREFIX}/{}", route.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        let ok = |v: &str| listen_addr_from(Some(OsStr::new(v)));
        assert_eq!(
            ok("7071"),
            Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, 7071)))
        );
        assert_eq!(
            ok("65535").map(|a| a.port()),
            Ok(65535),
            "highest port accepted"
        );
        for bad in [
            "", "0", "65536", "-1", "+80", " 80", "80 ", "eighty", "8080/tcp",
        ] {
            assert_eq!(
                ok(bad),
                Err(Error::Invalid {
                    var: PORT_VAR,
                    value: bad.to_owned()
                }),
                "{bad:?}"
            );
        }
        let missing = listen_addr_from(None);
        assert_eq!(missing, Err(Error::Missing { var: PORT_VAR }));
        assert!(
            missing
                .err()
                .is_some_and(|e| e.to_string().contains("FUNCTIONS_CUSTOMHANDLER_PORT"))
        );
    }

    #[test]
    fn routes() {
        assert_eq!(function_route("me"), "/api/me");
        assert_eq!(function_route("orders/{id}"), "/api/orders/{id}");
    }
}
