//! An API behind Tollgate whose metrics Prometheus scrapes.
//!
//! Tollgate records through the `metrics` facade (see `tollgate_core::telemetry`); this example
//! installs `metrics-exporter-prometheus` as the process's recorder and renders it at
//! `/metrics`. The API ([`api`]) and the scrape endpoint ([`metrics`]) are two routers, served
//! on two addresses by `main`: the scrape endpoint answers anyone who reaches it, so it belongs
//! on an address only the scraper can reach, not beside the API.
//!
//! ```no_run
//! use example_prometheus::{Config, api, install_recorder, metrics};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::from_env()?;
//! let handle = install_recorder()?;
//! let api_listener = tokio::net::TcpListener::bind(config.bind).await?;
//! let metrics_listener = tokio::net::TcpListener::bind(config.metrics_bind).await?;
//! tokio::try_join!(
//!     axum::serve(api_listener, api(config.verifier()?)).into_future(),
//!     axum::serve(metrics_listener, metrics(handle)).into_future(),
//! )?;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

use std::net::SocketAddr;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use metrics_exporter_prometheus::{BuildError, PrometheusBuilder, PrometheusHandle};
use tollgate::{AuthLayer, Authenticated, TokenVerifier};
use tollgate_core::remote::{JwksSource, RemoteError};
use tollgate_core::{Algorithm, CryptoProvider, Validation, Verifier};

/// The API's address unless `BIND` says otherwise.
pub const DEFAULT_BIND: &str = "127.0.0.1:3000";
/// The scrape endpoint's address unless `METRICS_BIND` says otherwise.
pub const DEFAULT_METRICS_BIND: &str = "127.0.0.1:9000";
/// The algorithms accepted: the asymmetric ones identity providers sign with.
pub const ALGORITHMS: [Algorithm; 3] = [Algorithm::RS256, Algorithm::PS256, Algorithm::ES256];

/// Installs the Prometheus recorder as the process's `metrics` recorder and gives it the
/// descriptions of Tollgate's metrics. Call it once per process; a second call fails because a
/// recorder is already installed.
pub fn install_recorder() -> Result<PrometheusHandle, BuildError> {
    let handle = PrometheusBuilder::new().install_recorder()?;
    // Descriptions go to the recorder installed when they are given: so after installing.
    tollgate_core::telemetry::describe();
    Ok(handle)
}

/// `/me` (the token's subject) behind the [`AuthLayer`], `/health` open: every request to `/me`
/// with a token is one verification counted in `tollgate_verifications_total`.
pub fn api(verifier: impl TokenVerifier) -> Router {
    let protected = Router::new()
        .route("/me", get(me))
        .layer(AuthLayer::new(verifier));
    protected.route("/health", get(|| async { "ok\n" }))
}

async fn me(auth: Authenticated) -> String {
    format!("hello, {}\n", auth.subject().unwrap_or("anonymous"))
}

/// `/metrics`: everything recorded so far, in the Prometheus text format.
pub fn metrics(handle: PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let text = handle.render();
            async move { ([(CONTENT_TYPE, "text/plain; version=0.0.4")], text) }
        }),
    )
}

/// What the example is configured with, from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `ISSUER`: the `iss` tokens must have.
    pub issuer: String,
    /// `AUDIENCE`: the `aud` tokens must have.
    pub audience: String,
    /// `JWKS_URL`: where the issuer's keys are (HTTPS, or HTTP on loopback).
    pub jwks_url: String,
    /// `BIND`: the API's address ([`DEFAULT_BIND`] when unset).
    pub bind: SocketAddr,
    /// `METRICS_BIND`: the scrape endpoint's address ([`DEFAULT_METRICS_BIND`] when unset).
    pub metrics_bind: SocketAddr,
}

/// A configuration the example cannot run with.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    /// An address variable is not `host:port` with a numeric host.
    #[error("{name}: {value:?} is not a socket address (e.g. 127.0.0.1:3000)")]
    Address {
        /// The variable.
        name: &'static str,
        /// What it was set to.
        value: String,
    },
    /// The key source refused `JWKS_URL`.
    #[error("JWKS_URL: {0}")]
    Jwks(#[from] RemoteError),
    /// The validation policy refused `ISSUER` or `AUDIENCE`.
    #[error("ISSUER/AUDIENCE: {0}")]
    Policy(#[from] tollgate_core::ConfigError),
}

impl Config {
    /// Reads `ISSUER`, `AUDIENCE`, `JWKS_URL`, `BIND` and `METRICS_BIND`.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `lookup` (unset, empty and blank values are the same).
    ///
    /// ```
    /// use example_prometheus::{Config, ConfigError};
    ///
    /// let vars = [("ISSUER", "https://idp.example.com"), ("AUDIENCE", "api")];
    /// let lookup = |name: &str| {
    ///     vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
    /// };
    /// let err = Config::from_lookup(lookup).unwrap_err();
    /// assert!(matches!(err, ConfigError::Missing("JWKS_URL")));
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let value = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &'static str| value(name).ok_or(ConfigError::Missing(name));
        let address = |name: &'static str, default: &str| {
            let text = value(name).unwrap_or_else(|| default.to_owned());
            text.parse()
                .map_err(|_| ConfigError::Address { name, value: text })
        };
        Ok(Config {
            issuer: required("ISSUER")?,
            audience: required("AUDIENCE")?,
            jwks_url: required("JWKS_URL")?,
            bind: address("BIND", DEFAULT_BIND)?,
            metrics_bind: address("METRICS_BIND", DEFAULT_METRICS_BIND)?,
        })
    }

    /// A verifier for the issuer's tokens ([`ALGORITHMS`], the issuer, the audience) with keys
    /// from `JWKS_URL`, fetched on first use, and the default verified-token cache.
    pub fn verifier(&self) -> Result<Verifier, ConfigError> {
        let validation = Validation::builder(ALGORITHMS)
            .issuer(&self.issuer)
            .audience(&self.audience)
            .build()?;
        let keys = JwksSource::builder(&self.jwks_url).build()?;
        Ok(Verifier::new(validation, keys, CryptoProvider::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    const GOOD: [(&str, &str); 3] = [
        ("ISSUER", "https://idp.example.com"),
        ("AUDIENCE", "api"),
        ("JWKS_URL", "https://idp.example.com/jwks"),
    ];

    #[test]
    fn defaults_fill_the_addresses() -> Result<(), ConfigError> {
        let config = config(&GOOD)?;
        assert_eq!(config.bind.to_string(), DEFAULT_BIND);
        assert_eq!(config.metrics_bind.to_string(), DEFAULT_METRICS_BIND);
        assert!(config.verifier().is_ok());
        Ok(())
    }

    #[test]
    fn each_required_variable_is_named_when_missing_or_blank() {
        for (skipped, _) in GOOD {
            let vars: Vec<_> = GOOD
                .iter()
                .copied()
                .filter(|(n, _)| *n != skipped)
                .collect();
            assert!(
                matches!(config(&vars), Err(ConfigError::Missing(name)) if name == skipped),
                "{skipped}"
            );
            let mut blank = vars.clone();
            blank.push((skipped, "  "));
            assert!(matches!(config(&blank), Err(ConfigError::Missing(_))));
        }
    }

    #[test]
    fn bad_addresses_and_urls_are_refused_with_their_variable() {
        let mut vars = GOOD.to_vec();
        vars.push(("METRICS_BIND", "localhost:9000"));
        let err = config(&vars).map(|_| ()).unwrap_err().to_string();
        assert!(err.starts_with("METRICS_BIND: \"localhost:9000\""), "{err}");

        let mut vars = GOOD.to_vec();
        vars[2] = ("JWKS_URL", "http://idp.example.com/jwks");
        let err = config(&vars).and_then(|c| c.verifier()).map(|_| ());
        assert!(matches!(err, Err(ConfigError::Jwks(_))), "{err:?}");
    }
}
