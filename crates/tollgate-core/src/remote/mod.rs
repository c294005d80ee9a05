//! Remote key sources (feature `remote`, on by default): a JWK Set fetched over HTTPS and cached,
//! OpenID Connect / RFC 8414 discovery, Google's PEM certificate maps (Firebase), and routing
//! tokens of several issuers to their own policy and keys.
//!
//! - [`JwksSource`]: a [`KeySource`](crate::KeySource) backed by a `jwks_uri`. Lock-free cache
//!   hits, single-flight refresh, `Cache-Control`/`ETag` aware, refetch on an unknown `kid` with
//!   a cooldown, stale-if-error, fail closed when it never had keys.
//! - [`OidcSource`] / [`Discovery`]: find the `jwks_uri` from the issuer's metadata document and
//!   check that the document names exactly that issuer.
//! - [`KeyFormat::PemCertificates`] / [`JwksSource::firebase`]: `{"kid": "-----BEGIN
//!   CERTIFICATE-----..."}` documents.
//! - [`MultiIssuer`] (re-exported from the crate root, where it lives: it does no I/O and needs
//!   no `remote` feature): pick the policy and keys by the token's `iss`.
//!
//! HTTPS is required for every URL except loopback hosts (`127.0.0.0/8`, `::1`, `localhost`),
//! unless `allow_insecure_http(true)` is set. All I/O is bounded by timeouts.
//!
//! The HTTP client is `reqwest` with rustls, on the AWS-LC provider when the feature `aws-lc-rs`
//! is on and on ring otherwise (so `remote` works with either crypto backend); see
//! [`http_client_builder`] to build your own client the same way.

mod certificates;
mod discovery;
mod error;
mod fetch;
mod jwks;
mod metrics;

pub use crate::multi_issuer::{ENTRA_ID_V2_ISSUER, MultiIssuer, MultiIssuerBuilder};
pub use discovery::{Discovery, DiscoveryKind, OidcSource, OidcSourceBuilder, ProviderMetadata};
pub use error::RemoteError;
pub(crate) use fetch::check_url;
pub use fetch::http_client_builder;
pub use jwks::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_FALLBACK_TTL, DEFAULT_MAX_REDIRECTS,
    DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_MAX_TTL, DEFAULT_MIN_TTL, DEFAULT_STALE_IF_ERROR,
    DEFAULT_TIMEOUT, DEFAULT_UNKNOWN_KID_COOLDOWN, FIREBASE_SECURETOKEN_CERTS_URL, JwksSource,
    JwksSourceBuilder, KeyFormat, MAX_BACKGROUND_INTERVAL, MAX_TIMING_OPTION,
    MIN_UNKNOWN_KID_COOLDOWN,
};
pub use metrics::{JwksMetrics, JwksStats, NoMetrics};
