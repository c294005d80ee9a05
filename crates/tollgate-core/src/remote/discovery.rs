//! OpenID Connect discovery and RFC 8414 authorization-server metadata.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use reqwest::Url;
use serde::Deserialize;

use super::error::RemoteError;
use super::fetch::{self, Fetched};
use super::jwks::{JwksSource, JwksSourceBuilder};
use crate::error::KeyLookupError;
use crate::source::{KeyFuture, KeyRequest, KeySource};

/// Which metadata document to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DiscoveryKind {
    /// OpenID Connect Discovery 1.0: `{issuer}/.well-known/openid-configuration`.
    #[default]
    OpenIdConnect,
    /// RFC 8414 OAuth 2.0 Authorization Server Metadata: the well-known segment goes between
    /// the host and the issuer's path, `https://host/.well-known/oauth-authorization-server/path`.
    OAuthAuthorizationServer,
}

/// The members of a provider's metadata document that Tollgate uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ProviderMetadata {
    /// The issuer identifier; equal to the configured issuer (checked).
    pub issuer: String,
    /// The URL of the provider's JWK Set.
    pub jwks_uri: Option<String>,
    /// Signature algorithms the provider uses for ID tokens, if listed.
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
}

/// One-shot discovery: fetch an issuer's metadata, check it, and build a [`JwksSource`] for its
/// `jwks_uri`. For a [`KeySource`] that discovers on first use, see [`OidcSource`].
///
/// The document's `issuer` must equal the configured issuer exactly (no normalisation of a
/// trailing slash or case), and `jwks_uri` must pass the same https rule as any other URL.
#[derive(Debug, Clone)]
pub struct Discovery {
    issuer: String,
    kind: DiscoveryKind,
    jwks: JwksSourceBuilder,
}

impl Discovery {
    /// Discovery for `issuer` (OpenID Connect by default).
    pub fn new(issuer: impl Into<String>) -> Self {
        Discovery {
            issuer: issuer.into(),
            kind: DiscoveryKind::OpenIdConnect,
            jwks: JwksSource::builder(String::new()),
        }
    }

    /// Which metadata document to read.
    pub fn kind(mut self, kind: DiscoveryKind) -> Self {
        self.kind = kind;
        self
    }

    /// Options of the [`JwksSource`] to build. Its client, timeout, size limit and
    /// `allow_insecure_http` also apply to the metadata fetch.
    pub fn jwks(mut self, configure: impl FnOnce(JwksSourceBuilder) -> JwksSourceBuilder) -> Self {
        self.jwks = configure(self.jwks);
        self
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The metadata document's URL.
    pub fn metadata_url(&self) -> Result<Url, RemoteError> {
        let issuer = fetch::check_url(&self.issuer, self.jwks.insecure_http_allowed())?;
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(RemoteError::InvalidUrl {
                url: self.issuer.clone(),
                reason: "an issuer has no query or fragment".into(),
            });
        }
        let text = match self.kind {
            DiscoveryKind::OpenIdConnect => format!(
                "{}/.well-known/openid-configuration",
                self.issuer.trim_end_matches('/')
            ),
            DiscoveryKind::OAuthAuthorizationServer => {
                let path = issuer.path().trim_end_matches('/');
                let mut origin = issuer.clone();
                origin.set_path("");
                format!(
                    "{}/.well-known/oauth-authorization-server{path}",
                    origin.as_str().trim_end_matches('/')
                )
            }
        };
        Url::parse(&text).map_err(|e| RemoteError::InvalidUrl {
            url: text,
            reason: e.to_string(),
        })
    }

    /// Fetches and checks the metadata document with `client`.
    async fn fetch_with(&self, client: &reqwest::Client) -> Result<ProviderMetadata, RemoteError> {
        let url = self.metadata_url()?;
        let url_text = url.to_string();
        let fetched = fetch::get(
            client,
            &url,
            None,
            self.jwks.max_bytes(),
            self.jwks.fetch_timeout(),
        )
        .await?;
        let Fetched::Body { body, .. } = fetched else {
            return Err(RemoteError::InvalidDocument {
                url: url_text,
                reason: "unexpected 304 Not Modified".into(),
            });
        };
        let metadata: ProviderMetadata =
            serde_json::from_slice(&body).map_err(|e| RemoteError::InvalidDocument {
                url: url_text.clone(),
                reason: e.to_string(),
            })?;
        if metadata.issuer != self.issuer {
            return Err(RemoteError::IssuerMismatch {
                expected: self.issuer.clone(),
                actual: metadata.issuer,
            });
        }
        let Some(jwks_uri) = &metadata.jwks_uri else {
            return Err(RemoteError::InvalidDocument {
                url: url_text,
                reason: "no jwks_uri".into(),
            });
        };
        fetch::check_url(jwks_uri, self.jwks.insecure_http_allowed())?;
        Ok(metadata)
    }

    /// Fetches and checks the metadata document.
    pub async fn fetch_metadata(&self) -> Result<ProviderMetadata, RemoteError> {
        let client = self.jwks.http_client()?;
        self.fetch_with(&client).await
    }

    /// Discovers the `jwks_uri` and builds a (lazy) [`JwksSource`] for it, sharing the HTTP
    /// client.
    pub async fn jwks_source(&self) -> Result<JwksSource, RemoteError> {
        let client = self.jwks.http_client()?;
        let metadata = self.fetch_with(&client).await?;
        let jwks_uri = metadata.jwks_uri.unwrap_or_default();
        tracing::debug!(issuer = %self.issuer, %jwks_uri, "discovered jwks_uri");
        self.jwks
            .clone()
            .client(client)
            .url(jwks_uri)
            .issuer(self.issuer.clone())
            .build()
    }
}

/// A [`KeySource`] for an OpenID Connect (or RFC 8414) issuer: discovers the `jwks_uri`, then
/// behaves as a [`JwksSource`].
///
/// [`OidcSource::discover`] discovers before returning (errors show at start-up);
/// [`OidcSource::lazy`] discovers on the first lookup (single flight; failures are retried with
/// backoff, and lookups fail closed with [`KeyLookupError::Unavailable`] meanwhile).
///
/// ```no_run
/// use tollgate_core::remote::OidcSource;
/// # async fn run() -> Result<(), tollgate_core::remote::RemoteError> {
/// let keys = OidcSource::discover("https://accounts.example.com").await?;
/// # let _ = keys;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct OidcSource {
    inner: Arc<OidcInner>,
}

struct OidcInner {
    discovery: Discovery,
    source: tokio::sync::OnceCell<JwksSource>,
    failure: Mutex<Option<Failure>>,
}

struct Failure {
    retry_at: Instant,
    backoff: Duration,
    error: RemoteError,
}

/// Configures an [`OidcSource`]; from [`OidcSource::builder`].
#[derive(Debug, Clone)]
pub struct OidcSourceBuilder {
    discovery: Discovery,
}

impl OidcSourceBuilder {
    /// Which metadata document to read (default OpenID Connect).
    pub fn kind(mut self, kind: DiscoveryKind) -> Self {
        self.discovery = self.discovery.kind(kind);
        self
    }

    /// Options of the underlying [`JwksSource`]; see [`Discovery::jwks`].
    pub fn jwks(mut self, configure: impl FnOnce(JwksSourceBuilder) -> JwksSourceBuilder) -> Self {
        self.discovery = self.discovery.jwks(configure);
        self
    }

    /// Checks the issuer URL; discovery happens on the first lookup.
    pub fn lazy(self) -> Result<OidcSource, RemoteError> {
        self.discovery.metadata_url()?;
        Ok(OidcSource {
            inner: Arc::new(OidcInner {
                discovery: self.discovery,
                source: tokio::sync::OnceCell::new(),
                failure: Mutex::new(None),
            }),
        })
    }

    /// Discovers now.
    pub async fn discover(self) -> Result<OidcSource, RemoteError> {
        let source = self.lazy()?;
        source.inner.init().await?;
        Ok(source)
    }
}

impl OidcSource {
    /// Starts configuring a source for `issuer`.
    pub fn builder(issuer: impl Into<String>) -> OidcSourceBuilder {
        OidcSourceBuilder {
            discovery: Discovery::new(issuer),
        }
    }

    /// Discovers `issuer`'s `jwks_uri` (OpenID Connect) with default options.
    pub async fn discover(issuer: impl Into<String>) -> Result<Self, RemoteError> {
        Self::builder(issuer).discover().await
    }

    /// A source for `issuer` that discovers on first use, with default options.
    pub fn lazy(issuer: impl Into<String>) -> Result<Self, RemoteError> {
        Self::builder(issuer).lazy()
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        self.inner.discovery.issuer()
    }

    /// The key source, once discovery has succeeded.
    pub fn jwks_source(&self) -> Option<&JwksSource> {
        self.inner.source.get()
    }
}

impl OidcInner {
    fn lock_failure(&self) -> MutexGuard<'_, Option<Failure>> {
        self.failure
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The source, discovering first if needed (single flight, with backoff after failures).
    async fn init(&self) -> Result<&JwksSource, RemoteError> {
        self.source
            .get_or_try_init(|| async {
                if let Some(failure) = self.lock_failure().as_ref()
                    && Instant::now() < failure.retry_at
                {
                    return Err(failure.error.clone());
                }
                match self.discovery.jwks_source().await {
                    Ok(source) => {
                        *self.lock_failure() = None;
                        Ok(source)
                    }
                    Err(error) => {
                        tracing::warn!(issuer = %self.discovery.issuer(), %error, "discovery failed");
                        let mut failure = self.lock_failure();
                        let backoff = failure
                            .as_ref()
                            .map_or(Duration::from_secs(1), |f| {
                                (f.backoff * 2).min(Duration::from_secs(60))
                            });
                        *failure = Some(Failure {
                            retry_at: Instant::now() + backoff,
                            backoff,
                            error: error.clone(),
                        });
                        Err(error)
                    }
                }
            })
            .await
    }
}

impl KeySource for OidcSource {
    /// The discovered issuer: the metadata document was checked to name exactly it.
    fn issuer(&self) -> Option<&str> {
        Some(self.inner.discovery.issuer())
    }

    fn still_trusted(&self) -> bool {
        // Before discovery no key was handed out; afterwards the JWKS source decides.
        self.inner.source.get().is_none_or(KeySource::still_trusted)
    }

    fn key<'a>(&'a self, request: KeyRequest<'a>) -> KeyFuture<'a> {
        if let Some(source) = self.inner.source.get() {
            return source.key(request);
        }
        // Discovery starts on the first poll, never before (the `KeySource` contract).
        KeyFuture::new(async move {
            match self.inner.init().await {
                Ok(source) => source.key(request).await,
                Err(error) => Err(KeyLookupError::Unavailable(format!(
                    "discovery failed: {error}"
                ))),
            }
        })
    }
}

impl fmt::Debug for OidcSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcSource")
            .field("issuer", &self.inner.discovery.issuer)
            .field("kind", &self.inner.discovery.kind)
            .field("jwks", &self.inner.source.get())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn well_known_urls() {
        let oidc = Discovery::new("https://idp.example.com/tenant/v2.0/");
        assert_eq!(
            oidc.metadata_url().unwrap().as_str(),
            "https://idp.example.com/tenant/v2.0/.well-known/openid-configuration"
        );
        let rfc8414 = Discovery::new("https://idp.example.com/tenant/v2.0")
            .kind(DiscoveryKind::OAuthAuthorizationServer);
        assert_eq!(
            rfc8414.metadata_url().unwrap().as_str(),
            "https://idp.example.com/.well-known/oauth-authorization-server/tenant/v2.0"
        );
        let root =
            Discovery::new("https://idp.example.com").kind(DiscoveryKind::OAuthAuthorizationServer);
        assert_eq!(
            root.metadata_url().unwrap().as_str(),
            "https://idp.example.com/.well-known/oauth-authorization-server"
        );
        assert!(matches!(
            Discovery::new("http://idp.example.com").metadata_url(),
            Err(RemoteError::InsecureUrl(_))
        ));
        assert!(
            Discovery::new("https://idp.example.com/?q=1")
                .metadata_url()
                .is_err()
        );
    }
}
