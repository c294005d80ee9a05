//! Provider presets: name your identity provider, get the [`Verifier`] its tokens need
//! (feature `remote`).
//!
//! Each preset builds exactly what a careful hand-written configuration would — a
//! [`Validation`], a [`KeySource`] in the provider's key layout, and the [`AccessClaims`] saying
//! where its roles and scopes live — and returns a plain [`Verifier`], so
//! `tollgate::AuthLayer`, the guards, the Lambda authorizer and `tollgate serve` use it
//! unchanged, at the same per-request cost.
//!
//! | preset | issuer (`iss`, exact) | keys | audience | roles | scopes | also checks |
//! |---|---|---|---|---|---|---|
//! | [`cognito::Cognito`] | `https://cognito-idp.<region>.amazonaws.com/<pool>` | `<issuer>/.well-known/jwks.json` | access: `client_id` listed; ID: `aud` listed | `cognito:groups` | `scope` | `token_use` |
//! | [`auth0::Auth0`] | `https://<domain>/` per domain | `https://<domain>/.well-known/jwks.json` | required | `permissions` (configurable) | `scope`, `permissions` | optional `typ: at+jwt` |
//! | [`firebase::Firebase`] | `https://securetoken.google.com/<project>` | Google's x509 certificate map | the project id | `roles` (configurable) | – | RS256 only, `sub` 1-128 chars, `auth_time` not in the future |
//! | [`entra::EntraId`] | v1 `https://sts.windows.net/<tid>/` and v2 `https://login.microsoftonline.com/<tid>/v2.0`, `tid` bound | `<tenant or common>/discovery/v2.0/keys` | required | `roles` | `scp` | allowed tenants |
//! | [`keycloak::Keycloak`] | `<base>/realms/<realm>` (discovery) | discovered `jwks_uri` | `aud` has it, or `azp` is the client | realm + client roles | `scope` | payload `typ` `Bearer` when present |
//! | [`google::Google`] | `https://accounts.google.com` or `accounts.google.com` | `https://www.googleapis.com/oauth2/v3/certs` | a listed client id | – | – | optional `hd` |
//! | [`okta::Okta`] | the authorization server's issuer (discovery) | discovered `jwks_uri` | `api://default` unless set | `groups` | `scp` (array), `scope` | – |
//!
//! Every preset takes the same overrides: [`key_url`](cognito::Cognito::key_url) (an emulator
//! such as LocalStack or cognito-local, a test server: only where keys are fetched, in the
//! provider's own format; the issuer rules stay the provider's), `algorithms`, `leeway`,
//! `roles_claim`, `crypto`, `configure_keys` (options of the [`JwksSource`]) and `token_cache`.
//! Plain `http://` key URLs are accepted only for loopback hosts.
//!
//! ```
//! use tollgate_core::providers::cognito::{Cognito, TokenUse};
//!
//! let verifier = Cognito::new("us-east-1_AbC123xyz", ["7d8h2kl3example"])
//!     .token_use(TokenUse::Access)
//!     .build()?;
//! assert_eq!(
//!     verifier.validation().issuers(),
//!     ["https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123xyz"]
//! );
//! # Ok::<(), tollgate_core::providers::ProviderError>(())
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::algorithm::Algorithm;
use crate::claims::{AccessClaims, ClaimPath};
use crate::crypto::CryptoProvider;
use crate::error::ConfigError;
use crate::remote::{JwksSource, JwksSourceBuilder, OidcSource, RemoteError};
use crate::source::KeySource;
use crate::token_cache::TokenCacheConfig;
use crate::validation::{DEFAULT_LEEWAY, Validation, ValidationBuilder};
use crate::verifier::Verifier;

pub mod auth0;
pub mod cognito;
pub mod entra;
pub mod firebase;
pub mod google;
pub mod keycloak;
pub mod okta;

/// A preset could not be built: which setting is wrong and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// A provider setting is missing or malformed.
    #[error("{provider} {setting}: {reason}")]
    Setting {
        /// The provider, e.g. `Cognito`.
        provider: &'static str,
        /// The setting, e.g. `user pool id`.
        setting: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// An override (algorithms, leeway, roles claim) makes an invalid policy.
    #[error("{provider}: {source}")]
    Policy {
        /// The provider.
        provider: &'static str,
        /// The policy error.
        source: ConfigError,
    },
    /// The key URL or key-source options are invalid.
    #[error("{provider} keys: {source}")]
    Keys {
        /// The provider.
        provider: &'static str,
        /// The key-source error.
        source: RemoteError,
    },
}

type ConfigureKeys = Arc<dyn Fn(JwksSourceBuilder) -> JwksSourceBuilder + Send + Sync>;

/// The overrides every preset accepts.
#[derive(Clone)]
pub(crate) struct Common {
    pub(crate) provider: &'static str,
    pub(crate) key_url: Option<String>,
    pub(crate) algorithms: Option<Vec<Algorithm>>,
    pub(crate) leeway: Duration,
    pub(crate) roles: Option<Vec<ClaimPath>>,
    pub(crate) crypto: CryptoProvider,
    pub(crate) configure_keys: Option<ConfigureKeys>,
    pub(crate) token_cache: Option<Option<TokenCacheConfig>>,
}

impl fmt::Debug for Common {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Common")
            .field("key_url", &self.key_url)
            .field("algorithms", &self.algorithms)
            .field("leeway", &self.leeway)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

impl Common {
    pub(crate) fn new(provider: &'static str) -> Self {
        Common {
            provider,
            key_url: None,
            algorithms: None,
            leeway: DEFAULT_LEEWAY,
            roles: None,
            crypto: CryptoProvider::default(),
            configure_keys: None,
            token_cache: None,
        }
    }

    pub(crate) fn setting(
        &self,
        setting: &'static str,
        reason: impl Into<String>,
    ) -> ProviderError {
        ProviderError::Setting {
            provider: self.provider,
            setting,
            reason: reason.into(),
        }
    }

    /// The policy builder with the algorithm list (override or the provider's) and leeway.
    pub(crate) fn policy(&self, default_algorithms: &[Algorithm]) -> ValidationBuilder {
        let algorithms = self
            .algorithms
            .clone()
            .unwrap_or_else(|| default_algorithms.to_vec());
        Validation::builder(algorithms).leeway(self.leeway)
    }

    pub(crate) fn finish_policy(
        &self,
        builder: ValidationBuilder,
    ) -> Result<Validation, ProviderError> {
        builder.build().map_err(|source| ProviderError::Policy {
            provider: self.provider,
            source,
        })
    }

    pub(crate) fn keys_error(&self, source: RemoteError) -> ProviderError {
        ProviderError::Keys {
            provider: self.provider,
            source,
        }
    }

    /// A JWKS source at the override URL or `default_url`, configured by the user's options.
    pub(crate) fn jwks(
        &self,
        builder: impl FnOnce(String) -> JwksSourceBuilder,
        default_url: &str,
        issuer: Option<&str>,
    ) -> Result<JwksSource, ProviderError> {
        let url = self
            .key_url
            .clone()
            .unwrap_or_else(|| default_url.to_owned());
        let mut builder = builder(url);
        if let Some(issuer) = issuer {
            builder = builder.issuer(issuer);
        }
        if let Some(configure) = &self.configure_keys {
            builder = configure(builder);
        }
        builder.build().map_err(|e| self.keys_error(e))
    }

    /// Keys by OIDC discovery of `issuer`, or at the override URL (then bound to `issuer`).
    pub(crate) fn discovered(&self, issuer: &str) -> Result<Arc<dyn KeySource>, ProviderError> {
        if self.key_url.is_some() {
            let source = self.jwks(JwksSource::builder, "", Some(issuer))?;
            return Ok(Arc::new(source));
        }
        let configure = self.configure_keys.clone();
        let source = OidcSource::builder(issuer)
            .jwks(move |jwks| match &configure {
                Some(configure) => configure(jwks),
                None => jwks,
            })
            .lazy()
            .map_err(|e| self.keys_error(e))?;
        Ok(Arc::new(source))
    }

    /// Roles at the override, else at `default`.
    pub(crate) fn access(&self, default_roles: Vec<ClaimPath>) -> AccessClaims {
        AccessClaims::default().roles_at(self.roles.clone().unwrap_or(default_roles))
    }

    pub(crate) fn verifier(
        &self,
        validation: Validation,
        keys: Arc<dyn KeySource>,
        access: AccessClaims,
    ) -> Verifier {
        let mut builder = Verifier::builder(validation, keys, self.crypto).access_claims(access);
        if let Some(cache) = self.token_cache {
            builder = builder.token_cache(cache);
        }
        builder.build()
    }
}

/// A claim path from a preset's own constant (always valid).
pub(crate) fn path(text: &str) -> ClaimPath {
    ClaimPath::new(text).unwrap_or_default()
}

/// Non-empty, trimmed values.
pub(crate) fn listed<S: Into<String>>(values: impl IntoIterator<Item = S>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in values {
        let value: String = value.into();
        let value = value.trim();
        if !value.is_empty() && !out.iter().any(|v| v == value) {
            out.push(value.to_owned());
        }
    }
    out
}

/// The overrides every preset takes; expanded in each preset's `impl`.
macro_rules! common_overrides {
    () => {
        /// Fetches the keys from this URL instead of the provider's (an emulator such as
        /// LocalStack or cognito-local, a mirror, a test server), in the provider's own key
        /// format. The issuer rules stay the provider's. `http://` only for loopback hosts.
        pub fn key_url(mut self, url: impl Into<String>) -> Self {
            self.common.key_url = Some(url.into());
            self
        }

        /// Replaces the accepted algorithms (the provider's by default).
        pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = $crate::Algorithm>) -> Self {
            self.common.algorithms = Some(algorithms.into_iter().collect());
            self
        }

        /// Clock-skew leeway for time claims (default 60 s, at most 600 s).
        pub fn leeway(mut self, leeway: std::time::Duration) -> Self {
            self.common.leeway = leeway;
            self
        }

        /// Reads roles at this claim path instead of the provider's default (see
        /// [`ClaimPath`](crate::ClaimPath) for the syntax).
        pub fn roles_claim(mut self, path: $crate::ClaimPath) -> Self {
            self.common.roles = Some(vec![path]);
            self
        }

        /// The signature backend (default [`CryptoProvider::default`](crate::CryptoProvider)).
        pub fn crypto(mut self, crypto: $crate::CryptoProvider) -> Self {
            self.common.crypto = crypto;
            self
        }

        /// Adjusts the key source (timeouts, TTL bounds, retry backoff, HTTP client...).
        pub fn configure_keys(
            mut self,
            configure: impl Fn($crate::remote::JwksSourceBuilder) -> $crate::remote::JwksSourceBuilder
                + Send
                + Sync
                + 'static,
        ) -> Self {
            self.common.configure_keys = Some(std::sync::Arc::new(configure));
            self
        }

        /// The verified-token cache (`None` turns it off; on by default).
        pub fn token_cache(mut self, config: Option<$crate::TokenCacheConfig>) -> Self {
            self.common.token_cache = Some(config);
            self
        }
    };
}
pub(crate) use common_overrides;

/// An `https://` (or loopback `http://`) URL without query or fragment, trailing slashes
/// removed: the base of an issuer.
pub(crate) fn base_url(
    common: &Common,
    setting: &'static str,
    url: &str,
) -> Result<String, ProviderError> {
    let trimmed = url.trim().trim_end_matches('/');
    let parsed = crate::remote::check_url(trimmed, false)
        .map_err(|e| common.setting(setting, e.to_string()))?;
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(common.setting(
            setting,
            format!("{url:?} must not have a query or fragment"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// A DNS host name, optionally with a port: no scheme, path, or spaces.
pub(crate) fn host_name(
    common: &Common,
    setting: &'static str,
    value: &str,
) -> Result<String, ProviderError> {
    let host = value
        .trim()
        .trim_start_matches("https://")
        .trim_end_matches('/');
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
    if !valid {
        return Err(common.setting(
            setting,
            format!("{value:?} is not a domain name such as tenant.us.auth0.com"),
        ));
    }
    Ok(host.to_ascii_lowercase())
}
