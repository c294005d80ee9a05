//! A [`Verifier`] from environment variables (feature `remote`): one parser for `tollgate serve`
//! (prefix `AUTH_`), the Lambda examples and the Azure Functions example (prefix `TOLLGATE_`).
//!
//! Either name a provider preset ([`providers`](crate::providers)) with `<prefix>PROVIDER`, or
//! configure the keys and policy yourself (the *generic* variables). Variables are shown with the
//! prefix `AUTH_`; an empty value counts as unset; lists are comma-separated.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `AUTH_PROVIDER` | `cognito`, `auth0`, `firebase`, `entra`, `keycloak`, `google` or `okta` | unset: the generic variables |
//! | **generic** (no provider) | | |
//! | `AUTH_JWKS_URL` | JWK Set URL | - |
//! | `AUTH_OIDC_ISSUER` | issuer for OIDC discovery; the token's `iss` must then equal it (unless `AUTH_ISSUER` says otherwise) | - |
//! | `AUTH_HS256_SECRET` | shared secret, HS256 instead of public keys | - |
//! | `AUTH_ISSUER` | accepted `iss` (list) | not checked (with `AUTH_OIDC_ISSUER`: that issuer) |
//! | `AUTH_AUDIENCE` | accepted `aud` (list) | not checked |
//! | **Cognito** | | |
//! | `AUTH_COGNITO_USER_POOL_ID` | user pool id, `us-east-1_AbC123` | required |
//! | `AUTH_COGNITO_CLIENT_IDS` | app client ids (list) | required |
//! | `AUTH_COGNITO_TOKEN_USE` | `access` or `id` | `access` |
//! | **Auth0** | | |
//! | `AUTH_AUTH0_DOMAIN` | tenant or custom domain(s) (list), `tenant.us.auth0.com` | required |
//! | `AUTH_AUDIENCE` | API identifier(s) (list) | required |
//! | **Firebase** | | |
//! | `AUTH_FIREBASE_PROJECT_ID` | project id | required |
//! | **Entra ID** | | |
//! | `AUTH_ENTRA_TENANT` | tenant id (a GUID), or `organizations` / `common` for multi-tenant | required |
//! | `AUTH_ENTRA_ALLOWED_TENANTS` | multi-tenant only: tenant ids (list), or `*` for every tenant | required for multi-tenant |
//! | `AUTH_AUDIENCE` | client id and/or App ID URI (list) | required |
//! | **Keycloak** | | |
//! | `AUTH_KEYCLOAK_URL` | server base URL (`https://sso.example.com`, or `.../auth` on old servers) | required |
//! | `AUTH_KEYCLOAK_REALM` | realm | required |
//! | `AUTH_KEYCLOAK_CLIENT_ID` | client id: its client roles, and the audience | required |
//! | `AUTH_AUDIENCE` | accepted `aud` instead of the client id (list) | the client id |
//! | **Google** | | |
//! | `AUTH_GOOGLE_CLIENT_IDS` | OAuth client ids (list) | required |
//! | `AUTH_GOOGLE_HOSTED_DOMAIN` | required `hd` (Workspace domain) | not checked |
//! | **Okta** | | |
//! | `AUTH_OKTA_ISSUER` | authorization server issuer, `https://example.okta.com/oauth2/default` | required |
//! | `AUTH_AUDIENCE` | accepted `aud` (list) | `api://default` |
//! | **overrides** (any mode) | | |
//! | `AUTH_JWKS_URL` with a provider | where the provider's keys are fetched, in the provider's own format (Firebase: the x509 certificate map); the issuer rules stay the provider's | the provider's |
//! | `AUTH_ALGORITHMS` | accepted algorithms (list) | RS256 (HS256 with a secret; a provider's own) |
//! | `AUTH_ROLES_CLAIM` | roles claim path ([`ClaimPath`] syntax) | `roles` (a provider's own) |
//! | `AUTH_LEEWAY_SECS` | `exp`/`nbf` leeway, seconds (at most 600) | 0 (with a provider: 60) |
//! | **DPoP** (RFC 9449, any mode; [`DpopSettings`]) | | |
//! | `AUTH_DPOP` | `off` (Bearer only), `allowed` (Bearer or DPoP) or `required` (DPoP only) | `off` |
//! | `AUTH_PUBLIC_URL` | the external origin clients call, `scheme://host[:port]` (http or https, no path): a proof's `htu` must be it plus the request path | required unless `AUTH_DPOP=off` |
//! | `AUTH_DPOP_NONCE` | `1` (or `true`): server nonces, a proof without a current one gets `use_dpop_nonce` and a fresh `DPoP-Nonce` | `0` |
//! | **revocation** (any mode; [`RevocationSettings`]) | | |
//! | `AUTH_REVOCATION_REDIS_URL` | `redis://[[user]:password@]host[:port][/db]`, or `rediss://` (TLS, the system trust store; `tollgate serve` takes `redis://` only): revocations shared through this Redis (written by `tollgate revoke`); with DPoP on, the proof replay store moves there too | off |
//! | `AUTH_REVOCATION_FAIL_OPEN` | `1` (or `true`): accept tokens while the revocation state is unavailable (a warning is logged); `0`: refuse them, 503 | `0` |
//!
//! DPoP proofs are accepted signed with ES256, RS256, PS256 or EdDSA ([`DPOP_PROOF_ALGORITHMS`],
//! whatever `AUTH_ALGORITHMS` says: that list is the issuer's), `iat` at most 300 s old and 60 s
//! ahead. A token bound to a key (`cnf.jkt`) is refused as `Bearer` whatever `AUTH_DPOP` says.
//!
//! Providers' roles: Cognito `cognito:groups`, Auth0 `permissions`, Firebase `roles`, Entra
//! `roles`, Keycloak realm plus client roles, Google none, Okta `groups`; scopes from `scope` and
//! `scp` (Auth0: also `permissions`).
//!
//! Refused, with a one-line [`ConfigVarError`] naming the variable: a missing or malformed value,
//! an unknown provider, no key source or several in generic mode, a provider together with
//! `AUTH_OIDC_ISSUER`, `AUTH_HS256_SECRET` or `AUTH_ISSUER` (the issuer is the provider's), an
//! `AUTH_AUDIENCE` a provider does not read (Cognito, Firebase, Google), a provider variable of
//! another provider (or without `AUTH_PROVIDER`), plain `http://` to a host that is not
//! loopback, symmetric algorithms without a secret, an HS256 secret shorter than 32 bytes, an
//! `AUTH_DPOP` other than `off`/`allowed`/`required`, DPoP on without `AUTH_PUBLIC_URL` (or with
//! one that has a path, or is not http(s)), `AUTH_DPOP_NONCE` with DPoP off, an
//! `AUTH_REVOCATION_REDIS_URL` that is not `redis[s]://host[:port][/db]` (a query string, a
//! fragment, a port out of range...), `AUTH_REVOCATION_FAIL_OPEN` without the URL.
//!
//! This module builds no Redis connection (core does not depend on a Redis client): the
//! application connects with the [`RevocationSettings`] (`tollgate-redis`) and hands the check to
//! [`AuthConfig::build_parts_with`] or [`AuthConfig::build_with`].
//!
//! ```
//! use std::collections::HashMap;
//! use tollgate_core::config::AuthConfig;
//!
//! let vars = HashMap::from([
//!     ("AUTH_PROVIDER".to_owned(), "cognito".to_owned()),
//!     ("AUTH_COGNITO_USER_POOL_ID".to_owned(), "eu-west-1_Example1".to_owned()),
//!     ("AUTH_COGNITO_CLIENT_IDS".to_owned(), "client-a, client-b".to_owned()),
//! ]);
//! let config = AuthConfig::from_vars("AUTH_", &vars)?;
//! let verifier = config.build()?;
//! assert_eq!(
//!     verifier.validation().issuers(),
//!     ["https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example1"]
//! );
//! assert_eq!(verifier.access_claims().role_paths()[0].as_str(), "cognito:groups");
//!
//! let vars = HashMap::from([("AUTH_PROVIDER".to_owned(), "cognito".to_owned())]);
//! let err = AuthConfig::from_vars("AUTH_", &vars).unwrap_err();
//! assert_eq!(err.variable(), "AUTH_COGNITO_USER_POOL_ID");
//! assert!(err.to_string().starts_with("AUTH_COGNITO_USER_POOL_ID is required with AUTH_PROVIDER=cognito"));
//! # Ok::<(), tollgate_core::config::ConfigVarError>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::algorithm::Algorithm;
use crate::claims::{AccessClaims, ClaimPath};
use crate::crypto::CryptoProvider;
use crate::dpop::{DpopMode, DpopVerifier, DpopVerifierBuilder};
use crate::error::{ConfigError, KeyError};
use crate::key::VerificationKey;
use crate::key_set::KeySet;
use crate::providers::ProviderError;
use crate::providers::auth0::Auth0;
use crate::providers::cognito::{Cognito, TokenUse};
use crate::providers::entra::EntraId;
use crate::providers::firebase::Firebase;
use crate::providers::google::Google;
use crate::providers::keycloak::Keycloak;
use crate::providers::okta::{OKTA_DEFAULT_AUDIENCE, Okta};
use crate::remote::{JwksSource, JwksSourceBuilder, OidcSource, RemoteError, check_url};
use crate::revocation::FailureMode;
use crate::revocation::RedisUrl;
use crate::source::KeySource;
use crate::validation::{DEFAULT_LEEWAY, MAX_LEEWAY, Validation};
use crate::verifier::{Verifier, VerifierBuilder};

// Variable names without the prefix.
const PROVIDER: &str = "PROVIDER";
const JWKS_URL: &str = "JWKS_URL";
const OIDC_ISSUER: &str = "OIDC_ISSUER";
const HS256_SECRET: &str = "HS256_SECRET";
const ISSUER: &str = "ISSUER";
const AUDIENCE: &str = "AUDIENCE";
const ALGORITHMS: &str = "ALGORITHMS";
const ROLES_CLAIM: &str = "ROLES_CLAIM";
const LEEWAY_SECS: &str = "LEEWAY_SECS";
const COGNITO_USER_POOL_ID: &str = "COGNITO_USER_POOL_ID";
const COGNITO_CLIENT_IDS: &str = "COGNITO_CLIENT_IDS";
const COGNITO_TOKEN_USE: &str = "COGNITO_TOKEN_USE";
const AUTH0_DOMAIN: &str = "AUTH0_DOMAIN";
const FIREBASE_PROJECT_ID: &str = "FIREBASE_PROJECT_ID";
const ENTRA_TENANT: &str = "ENTRA_TENANT";
const ENTRA_ALLOWED_TENANTS: &str = "ENTRA_ALLOWED_TENANTS";
const KEYCLOAK_URL: &str = "KEYCLOAK_URL";
const KEYCLOAK_REALM: &str = "KEYCLOAK_REALM";
const KEYCLOAK_CLIENT_ID: &str = "KEYCLOAK_CLIENT_ID";
const GOOGLE_CLIENT_IDS: &str = "GOOGLE_CLIENT_IDS";
const GOOGLE_HOSTED_DOMAIN: &str = "GOOGLE_HOSTED_DOMAIN";
const OKTA_ISSUER: &str = "OKTA_ISSUER";
const DPOP: &str = "DPOP";
const PUBLIC_URL: &str = "PUBLIC_URL";
const DPOP_NONCE: &str = "DPOP_NONCE";
const REVOCATION_REDIS_URL: &str = "REVOCATION_REDIS_URL";
const REVOCATION_FAIL_OPEN: &str = "REVOCATION_FAIL_OPEN";

/// Every variable, without the prefix, in the order of the module docs.
const VARIABLES: [&str; 27] = [
    PROVIDER,
    JWKS_URL,
    OIDC_ISSUER,
    HS256_SECRET,
    ISSUER,
    AUDIENCE,
    ALGORITHMS,
    ROLES_CLAIM,
    LEEWAY_SECS,
    COGNITO_USER_POOL_ID,
    COGNITO_CLIENT_IDS,
    COGNITO_TOKEN_USE,
    AUTH0_DOMAIN,
    FIREBASE_PROJECT_ID,
    ENTRA_TENANT,
    ENTRA_ALLOWED_TENANTS,
    KEYCLOAK_URL,
    KEYCLOAK_REALM,
    KEYCLOAK_CLIENT_ID,
    GOOGLE_CLIENT_IDS,
    GOOGLE_HOSTED_DOMAIN,
    OKTA_ISSUER,
    DPOP,
    PUBLIC_URL,
    DPOP_NONCE,
    REVOCATION_REDIS_URL,
    REVOCATION_FAIL_OPEN,
];

/// The algorithms a DPoP proof may be signed with, in the order `algs="..."` lists them. Only
/// asymmetric ones (a proof shows possession of a private key); ES384 is left out as few clients
/// use it and every extra algorithm is more to attack.
pub const DPOP_PROOF_ALGORITHMS: [Algorithm; 4] = [
    Algorithm::ES256,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::EdDSA,
];

/// Every variable [`AuthConfig::from_env`] reads with `prefix`, e.g. to warn about look-alikes
/// that are not read (`AUTH_AUDIENCES`).
///
/// ```
/// let names = tollgate_core::config::variable_names("AUTH_");
/// assert!(names.contains(&"AUTH_JWKS_URL".to_owned()));
/// assert!(names.contains(&"AUTH_COGNITO_USER_POOL_ID".to_owned()));
/// ```
pub fn variable_names(prefix: &str) -> Vec<String> {
    VARIABLES
        .iter()
        .map(|name| format!("{prefix}{name}"))
        .collect()
}

/// An identity provider with a preset, as named by `<prefix>PROVIDER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Provider {
    /// Amazon Cognito ([`Cognito`]).
    Cognito,
    /// Auth0 ([`Auth0`]).
    Auth0,
    /// Firebase Authentication ([`Firebase`]).
    Firebase,
    /// Microsoft Entra ID ([`EntraId`]).
    Entra,
    /// Keycloak ([`Keycloak`]).
    Keycloak,
    /// Google Sign-In ([`Google`]).
    Google,
    /// Okta ([`Okta`]).
    Okta,
}

impl Provider {
    /// Every provider.
    pub const ALL: [Provider; 7] = [
        Provider::Cognito,
        Provider::Auth0,
        Provider::Firebase,
        Provider::Entra,
        Provider::Keycloak,
        Provider::Google,
        Provider::Okta,
    ];

    /// The value of `<prefix>PROVIDER`: `cognito`, `auth0`, ...
    pub fn name(self) -> &'static str {
        match self {
            Provider::Cognito => "cognito",
            Provider::Auth0 => "auth0",
            Provider::Firebase => "firebase",
            Provider::Entra => "entra",
            Provider::Keycloak => "keycloak",
            Provider::Google => "google",
            Provider::Okta => "okta",
        }
    }

    /// The provider named `name` (ASCII case-insensitive, surrounding spaces ignored).
    pub fn from_name(name: &str) -> Option<Provider> {
        let name = name.trim();
        Provider::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// Its own variables (without the prefix), read only with this provider.
    fn own_variables(self) -> &'static [&'static str] {
        match self {
            Provider::Cognito => &[COGNITO_USER_POOL_ID, COGNITO_CLIENT_IDS, COGNITO_TOKEN_USE],
            Provider::Auth0 => &[AUTH0_DOMAIN],
            Provider::Firebase => &[FIREBASE_PROJECT_ID],
            Provider::Entra => &[ENTRA_TENANT, ENTRA_ALLOWED_TENANTS],
            Provider::Keycloak => &[KEYCLOAK_URL, KEYCLOAK_REALM, KEYCLOAK_CLIENT_ID],
            Provider::Google => &[GOOGLE_CLIENT_IDS, GOOGLE_HOSTED_DOMAIN],
            Provider::Okta => &[OKTA_ISSUER],
        }
    }

    /// Whether it reads `AUDIENCE` (the others take the audience from their own variables).
    fn reads_audience(self) -> bool {
        matches!(
            self,
            Provider::Auth0 | Provider::Entra | Provider::Keycloak | Provider::Okta
        )
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What is wrong with a [`ConfigVarError`]'s variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigVarErrorKind {
    /// Required and unset (or empty).
    Missing,
    /// Set to a value that is not accepted.
    Invalid,
    /// Set, but contradicts another variable (or is not read in this mode).
    Conflict,
}

/// The configuration in the environment is not usable. [`Display`](fmt::Display) is one line
/// that names the variable at fault, with its prefix, and never shows a secret.
///
/// ```
/// use std::collections::HashMap;
/// use tollgate_core::config::{AuthConfig, ConfigVarErrorKind};
///
/// let vars = HashMap::from([("TOLLGATE_PROVIDER".to_owned(), "okta".to_owned())]);
/// let err = AuthConfig::from_vars("TOLLGATE_", &vars).unwrap_err();
/// assert_eq!(err.variable(), "TOLLGATE_OKTA_ISSUER");
/// assert_eq!(err.kind(), ConfigVarErrorKind::Missing);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigVarError {
    variable: String,
    kind: ConfigVarErrorKind,
    message: String,
}

impl ConfigVarError {
    fn new(variable: String, kind: ConfigVarErrorKind, message: String) -> Self {
        ConfigVarError {
            variable,
            kind,
            message: message.replace(['\n', '\r'], " "),
        }
    }

    /// The variable at fault, with its prefix (`AUTH_COGNITO_CLIENT_IDS`).
    pub fn variable(&self) -> &str {
        &self.variable
    }

    /// Missing, invalid or conflicting.
    pub fn kind(&self) -> ConfigVarErrorKind {
        self.kind
    }
}

type ConfigureKeys = Arc<dyn Fn(JwksSourceBuilder) -> JwksSourceBuilder + Send + Sync>;

/// A shared secret; never shown.
#[derive(Clone, PartialEq, Eq)]
struct Secret(Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// Where the generic mode's keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Keys {
    Jwks(String),
    Oidc(String),
    Secret(Secret),
}

impl Keys {
    fn variable(&self) -> &'static str {
        match self {
            Keys::Jwks(_) => JWKS_URL,
            Keys::Oidc(_) => OIDC_ISSUER,
            Keys::Secret(_) => HS256_SECRET,
        }
    }
}

/// Entra's allowed tenants in multi-tenant mode.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AllowedTenants {
    Listed(Vec<String>),
    Any,
}

/// The mode and its own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    Generic {
        keys: Keys,
        issuers: Vec<String>,
        audiences: Vec<String>,
    },
    Cognito {
        pool_id: String,
        client_ids: Vec<String>,
        token_use: TokenUse,
    },
    Auth0 {
        domains: Vec<String>,
        audiences: Vec<String>,
    },
    Firebase {
        project_id: String,
    },
    Entra {
        tenant: String,
        /// `None`: single tenant.
        allowed: Option<AllowedTenants>,
        audiences: Vec<String>,
    },
    Keycloak {
        url: String,
        realm: String,
        client_id: String,
        audiences: Vec<String>,
    },
    Google {
        client_ids: Vec<String>,
        hosted_domain: Option<String>,
    },
    Okta {
        issuer: String,
        audiences: Vec<String>,
    },
}

/// A verifier configuration read from environment variables; see the [module docs](self).
///
/// [`Debug`](fmt::Debug) and [`summary`](Self::summary) never show the HS256 secret.
#[derive(Clone)]
pub struct AuthConfig {
    prefix: String,
    mode: Mode,
    algorithms: Option<Vec<Algorithm>>,
    roles_claim: Option<ClaimPath>,
    leeway_secs: Option<u64>,
    /// `JWKS_URL` with a provider.
    key_url: Option<String>,
    configure_keys: Option<ConfigureKeys>,
    dpop: DpopSettings,
    revocation: Option<RevocationSettings>,
}

/// The DPoP settings of an [`AuthConfig`] (`<prefix>DPOP`, `<prefix>PUBLIC_URL`,
/// `<prefix>DPOP_NONCE`): what [`AuthConfig::build_dpop`] builds.
///
/// ```
/// use std::collections::HashMap;
/// use tollgate_core::config::AuthConfig;
/// use tollgate_core::dpop::DpopMode;
///
/// let vars = HashMap::from([
///     ("AUTH_HS256_SECRET".to_owned(), "0123456789abcdef0123456789abcdef".to_owned()),
///     ("AUTH_DPOP".to_owned(), "required".to_owned()),
///     ("AUTH_PUBLIC_URL".to_owned(), "https://api.example.com".to_owned()),
/// ]);
/// let config = AuthConfig::from_vars("AUTH_", &vars)?;
/// assert_eq!(config.dpop().mode(), DpopMode::Required);
/// assert_eq!(config.dpop().public_url(), Some("https://api.example.com"));
/// let dpop = config.build_dpop()?.expect("DPoP is on");
/// assert_eq!(dpop.algs_challenge(), "ES256 RS256 PS256 EdDSA");
/// assert!(!dpop.nonces_enabled());
///
/// let vars = HashMap::from([
///     ("AUTH_HS256_SECRET".to_owned(), "0123456789abcdef0123456789abcdef".to_owned()),
///     ("AUTH_DPOP".to_owned(), "allowed".to_owned()),
/// ]);
/// let err = AuthConfig::from_vars("AUTH_", &vars).unwrap_err();
/// assert_eq!(err.variable(), "AUTH_PUBLIC_URL");
/// # Ok::<(), tollgate_core::config::ConfigVarError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DpopSettings {
    mode: DpopMode,
    public_url: Option<String>,
    nonces: bool,
}

impl DpopSettings {
    /// Off (the default), allowed or required.
    pub fn mode(&self) -> DpopMode {
        self.mode
    }

    /// The external origin proofs' `htu` must start with; `None` when unset (then DPoP is off).
    pub fn public_url(&self) -> Option<&str> {
        self.public_url.as_deref()
    }

    /// Whether server nonces are on.
    pub fn nonces(&self) -> bool {
        self.nonces
    }
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("prefix", &self.prefix)
            .field("mode", &self.mode)
            .field("algorithms", &self.algorithms)
            .field("roles_claim", &self.roles_claim)
            .field("leeway_secs", &self.leeway_secs)
            .field("key_url", &self.key_url)
            .field("configure_keys", &self.configure_keys.is_some())
            .field("dpop", &self.dpop)
            .field("revocation", &self.revocation)
            .finish()
    }
}

/// What [`AuthConfig::build_parts`] builds.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Built {
    /// The verifier.
    pub verifier: Verifier,
    /// The JWKS source, in generic mode with `<prefix>JWKS_URL` (e.g. for
    /// [`JwksSource::spawn_background_refresh`]); `None` otherwise (a preset's source is inside
    /// its verifier and refreshes lazily).
    pub jwks: Option<JwksSource>,
}

/// Reads the variables of one prefix.
struct Reader<'v> {
    prefix: &'v str,
    vars: &'v HashMap<String, String>,
}

impl Reader<'_> {
    fn name(&self, var: &str) -> String {
        format!("{}{var}", self.prefix)
    }

    fn get(&self, var: &str) -> Option<&str> {
        self.vars
            .get(&self.name(var))
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn error(&self, var: &str, kind: ConfigVarErrorKind, message: String) -> ConfigVarError {
        ConfigVarError::new(self.name(var), kind, message)
    }

    fn required(&self, var: &str, provider: Provider, hint: &str) -> Result<&str, ConfigVarError> {
        self.get(var).ok_or_else(|| {
            self.error(
                var,
                ConfigVarErrorKind::Missing,
                format!(
                    "{} is required with {}={provider} ({hint})",
                    self.name(var),
                    self.name(PROVIDER)
                ),
            )
        })
    }

    /// A required, non-empty comma list.
    fn required_list(
        &self,
        var: &str,
        provider: Provider,
        hint: &str,
    ) -> Result<Vec<String>, ConfigVarError> {
        let value = self.required(var, provider, hint)?;
        let list = comma_list(value);
        if list.is_empty() {
            return Err(self.error(
                var,
                ConfigVarErrorKind::Invalid,
                format!("{}={value:?} names nothing ({hint})", self.name(var)),
            ));
        }
        Ok(list)
    }

    fn list(&self, var: &str) -> Vec<String> {
        self.get(var).map(comma_list).unwrap_or_default()
    }

    /// `https://`, or `http://` to a loopback host.
    fn url(&self, var: &str, value: &str) -> Result<String, ConfigVarError> {
        let value = value.trim();
        check_url(value, false).map_err(|e| self.remote_error(var, &e))?;
        Ok(value.to_owned())
    }

    fn remote_error(&self, var: &str, error: &RemoteError) -> ConfigVarError {
        remote_error(self.prefix, var, error)
    }
}

fn remote_error(prefix: &str, var: &str, error: &RemoteError) -> ConfigVarError {
    let name = format!("{prefix}{var}");
    let message = match error {
        RemoteError::InsecureUrl(url) => format!(
            "{name}={url:?}: plain http is accepted only for loopback hosts (localhost, \
             127.0.0.1, ::1); use https"
        ),
        other => format!("{name}: {other}"),
    };
    ConfigVarError::new(name, ConfigVarErrorKind::Invalid, message)
}

fn comma_list(value: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !out.iter().any(|v| v == item) {
            out.push(item.to_owned());
        }
    }
    out
}

fn known_algorithms() -> String {
    Algorithm::ALL.map(Algorithm::as_str).join(", ")
}

impl AuthConfig {
    /// Reads the variables `<prefix>...` from the process environment (only those of
    /// [`variable_names`]). A value that is not UTF-8 is an error.
    pub fn from_env(prefix: &str) -> Result<AuthConfig, ConfigVarError> {
        let mut vars = HashMap::new();
        for name in variable_names(prefix) {
            if let Some(value) = std::env::var_os(&name) {
                let value = value.into_string().map_err(|_| {
                    ConfigVarError::new(
                        name.clone(),
                        ConfigVarErrorKind::Invalid,
                        format!("{name} is not valid UTF-8"),
                    )
                })?;
                vars.insert(name, value);
            }
        }
        AuthConfig::from_vars(prefix, &vars)
    }

    /// Reads the configuration from `vars` (variable name, with its prefix, to value; an empty
    /// value counts as unset; names without `prefix` are ignored). Checks every variable it can
    /// without building anything; [`build`](Self::build) checks the rest (a malformed pool id,
    /// an HS256 secret's length...).
    pub fn from_vars(
        prefix: &str,
        vars: &HashMap<String, String>,
    ) -> Result<AuthConfig, ConfigVarError> {
        let r = Reader { prefix, vars };
        let provider = match r.get(PROVIDER) {
            None => None,
            Some(value) => Some(Provider::from_name(value).ok_or_else(|| {
                let names: Vec<&str> = Provider::ALL.iter().map(|p| p.name()).collect();
                r.error(
                    PROVIDER,
                    ConfigVarErrorKind::Invalid,
                    format!(
                        "{}={value:?} is not a provider (one of {}; unset for the generic \
                         {}, {} or {} configuration)",
                        r.name(PROVIDER),
                        names.join(", "),
                        r.name(JWKS_URL),
                        r.name(OIDC_ISSUER),
                        r.name(HS256_SECRET),
                    ),
                )
            })?),
        };

        // Another provider's variables: a typo, or a forgotten PROVIDER.
        for other in Provider::ALL {
            if Some(other) == provider {
                continue;
            }
            for var in other.own_variables() {
                if r.get(var).is_some() {
                    let why = match provider {
                        Some(p) => format!("{}={p}", r.name(PROVIDER)),
                        None => format!("{} is not set", r.name(PROVIDER)),
                    };
                    return Err(r.error(
                        var,
                        ConfigVarErrorKind::Conflict,
                        format!(
                            "{} is set but {why}; it is read only with {}={other}",
                            r.name(var),
                            r.name(PROVIDER)
                        ),
                    ));
                }
            }
        }

        let algorithms = match r.get(ALGORITHMS) {
            Some(value) => Some(parse_algorithms(&r, value)?),
            None => None,
        };
        let roles_claim = match r.get(ROLES_CLAIM) {
            Some(path) => Some(ClaimPath::new(path.trim()).map_err(|_| {
                r.error(
                    ROLES_CLAIM,
                    ConfigVarErrorKind::Invalid,
                    format!(
                        "{}={path:?} is not a claim path (e.g. roles, realm_access.roles, \
                         cognito:groups or https://example.com/roles)",
                        r.name(ROLES_CLAIM)
                    ),
                )
            })?),
            None => None,
        };
        let leeway_secs = match r.get(LEEWAY_SECS) {
            Some(value) => {
                let secs = value.trim().parse::<u64>().map_err(|_| {
                    r.error(
                        LEEWAY_SECS,
                        ConfigVarErrorKind::Invalid,
                        format!(
                            "{}={value:?} is not a whole number of seconds",
                            r.name(LEEWAY_SECS)
                        ),
                    )
                })?;
                if secs > MAX_LEEWAY.as_secs() {
                    return Err(r.error(
                        LEEWAY_SECS,
                        ConfigVarErrorKind::Invalid,
                        format!(
                            "{}={secs} is too large (at most {} s)",
                            r.name(LEEWAY_SECS),
                            MAX_LEEWAY.as_secs()
                        ),
                    ));
                }
                Some(secs)
            }
            None => None,
        };

        let (mode, key_url) = match provider {
            None => (generic_mode(&r, algorithms.as_deref())?, None),
            Some(provider) => {
                for var in [OIDC_ISSUER, HS256_SECRET] {
                    if r.get(var).is_some() {
                        return Err(r.error(
                            var,
                            ConfigVarErrorKind::Conflict,
                            format!(
                                "{} cannot be combined with {}={provider}: the provider's keys \
                                 are used ({} only replaces where they are fetched)",
                                r.name(var),
                                r.name(PROVIDER),
                                r.name(JWKS_URL)
                            ),
                        ));
                    }
                }
                if r.get(ISSUER).is_some() {
                    return Err(r.error(
                        ISSUER,
                        ConfigVarErrorKind::Conflict,
                        format!(
                            "{} cannot be combined with {}={provider}: the issuer is the \
                             provider's",
                            r.name(ISSUER),
                            r.name(PROVIDER)
                        ),
                    ));
                }
                if !provider.reads_audience() && r.get(AUDIENCE).is_some() {
                    let from = match provider {
                        Provider::Cognito => r.name(COGNITO_CLIENT_IDS),
                        Provider::Firebase => r.name(FIREBASE_PROJECT_ID),
                        _ => r.name(GOOGLE_CLIENT_IDS),
                    };
                    return Err(r.error(
                        AUDIENCE,
                        ConfigVarErrorKind::Conflict,
                        format!(
                            "{} is not read with {}={provider}: the audience comes from {from}",
                            r.name(AUDIENCE),
                            r.name(PROVIDER)
                        ),
                    ));
                }
                if let Some(algorithms) = &algorithms
                    && let Some(alg) = algorithms.iter().find(|a| a.is_symmetric())
                {
                    return Err(r.error(
                        ALGORITHMS,
                        ConfigVarErrorKind::Conflict,
                        format!(
                            "{}: {alg} needs a shared secret; {}={provider} provides public \
                             keys only",
                            r.name(ALGORITHMS),
                            r.name(PROVIDER)
                        ),
                    ));
                }
                let key_url = match r.get(JWKS_URL) {
                    Some(url) => Some(r.url(JWKS_URL, url)?),
                    None => None,
                };
                (provider_mode(&r, provider)?, key_url)
            }
        };

        let dpop = dpop_settings(&r)?;
        let revocation = revocation_settings(&r)?;

        Ok(AuthConfig {
            prefix: prefix.to_owned(),
            mode,
            algorithms,
            roles_claim,
            leeway_secs,
            key_url,
            configure_keys: None,
            dpop,
            revocation,
        })
    }

    /// The revocation settings, or `None` when `<prefix>REVOCATION_REDIS_URL` is unset (no
    /// revocation check).
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use tollgate_core::config::AuthConfig;
    /// use tollgate_core::revocation::FailureMode;
    ///
    /// let vars = HashMap::from([
    ///     ("AUTH_HS256_SECRET".to_owned(), "0123456789abcdef0123456789abcdef".to_owned()),
    ///     ("AUTH_REVOCATION_REDIS_URL".to_owned(), "redis://:pw@cache.internal:6380/2".to_owned()),
    /// ]);
    /// let config = AuthConfig::from_vars("AUTH_", &vars)?;
    /// let revocation = config.revocation().expect("on");
    /// assert_eq!(revocation.redis_url(), "redis://:pw@cache.internal:6380/2");
    /// assert_eq!(revocation.shown_url(), "redis://***@cache.internal:6380/2");
    /// assert_eq!(revocation.failure_mode(), FailureMode::FailClosed);
    /// assert!(!format!("{config:?} {}", config.summary()).contains(":pw@"));
    /// # Ok::<(), tollgate_core::config::ConfigVarError>(())
    /// ```
    pub fn revocation(&self) -> Option<&RevocationSettings> {
        self.revocation.as_ref()
    }

    /// The DPoP settings (off unless `<prefix>DPOP` says otherwise).
    pub fn dpop(&self) -> &DpopSettings {
        &self.dpop
    }

    /// The DPoP proof verifier, or `None` when DPoP is off: proofs signed with
    /// [`DPOP_PROOF_ALGORITHMS`], for `<prefix>PUBLIC_URL`, with an in-memory replay store (one
    /// per verifier: instances behind a load balancer each remember their own proofs) and, with
    /// `<prefix>DPOP_NONCE`, nonces under a random per-process secret.
    pub fn build_dpop(&self) -> Result<Option<DpopVerifier>, ConfigVarError> {
        self.build_dpop_with(|builder| builder)
    }

    /// Like [`build_dpop`](Self::build_dpop), with `finish` applied to the builder first: e.g. a
    /// replay store shared by every instance (`tollgate_redis::RedisReplayStore`, what `tollgate
    /// serve` uses with `<prefix>REVOCATION_REDIS_URL`) in place of the in-memory one.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use std::sync::Arc;
    /// use tollgate_core::config::AuthConfig;
    /// use tollgate_core::dpop::MemoryReplayStore;
    ///
    /// let vars = HashMap::from([
    ///     ("AUTH_HS256_SECRET".to_owned(), "0123456789abcdef0123456789abcdef".to_owned()),
    ///     ("AUTH_DPOP".to_owned(), "allowed".to_owned()),
    ///     ("AUTH_PUBLIC_URL".to_owned(), "https://api.example.com".to_owned()),
    /// ]);
    /// let shared = Arc::new(MemoryReplayStore::default());
    /// let config = AuthConfig::from_vars("AUTH_", &vars)?;
    /// let dpop = config.build_dpop_with(|builder| builder.replay_store(shared.clone()))?;
    /// assert!(dpop.is_some());
    /// # Ok::<(), tollgate_core::config::ConfigVarError>(())
    /// ```
    pub fn build_dpop_with(
        &self,
        finish: impl FnOnce(DpopVerifierBuilder) -> DpopVerifierBuilder,
    ) -> Result<Option<DpopVerifier>, ConfigVarError> {
        let settings = &self.dpop;
        if settings.mode == DpopMode::Off {
            return Ok(None);
        }
        let var = self.var(PUBLIC_URL);
        let Some(url) = settings.public_url.as_deref() else {
            // from_vars refuses this; a config is only made there.
            return Err(ConfigVarError::new(
                var.clone(),
                ConfigVarErrorKind::Missing,
                format!("{var} is required with {}", self.var(DPOP)),
            ));
        };
        let invalid = |e: ConfigError| {
            ConfigVarError::new(
                var.clone(),
                ConfigVarErrorKind::Invalid,
                format!("{var}: {e}"),
            )
        };
        let mut builder = DpopVerifier::builder(url)
            .map_err(invalid)?
            .algorithms(DPOP_PROOF_ALGORITHMS)
            .map_err(invalid)?;
        if settings.nonces {
            builder = builder.nonces(None);
        }
        Ok(Some(finish(builder).build()))
    }

    /// Adjusts every remote key source the verifier uses (timeouts, TTL bounds, retry
    /// backoff...): the generic JWKS URL, the JWKS found by OIDC discovery, a preset's.
    #[must_use]
    pub fn configure_keys(
        mut self,
        configure: impl Fn(JwksSourceBuilder) -> JwksSourceBuilder + Send + Sync + 'static,
    ) -> Self {
        self.configure_keys = Some(Arc::new(configure));
        self
    }

    /// The provider, or `None` in generic mode.
    pub fn provider(&self) -> Option<Provider> {
        match self.mode {
            Mode::Generic { .. } => None,
            Mode::Cognito { .. } => Some(Provider::Cognito),
            Mode::Auth0 { .. } => Some(Provider::Auth0),
            Mode::Firebase { .. } => Some(Provider::Firebase),
            Mode::Entra { .. } => Some(Provider::Entra),
            Mode::Keycloak { .. } => Some(Provider::Keycloak),
            Mode::Google { .. } => Some(Provider::Google),
            Mode::Okta { .. } => Some(Provider::Okta),
        }
    }

    /// The prefix the variables were read with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Builds the verifier. Nothing is fetched: remote keys are fetched on first use.
    pub fn build(&self) -> Result<Verifier, ConfigVarError> {
        self.build_parts().map(|built| built.verifier)
    }

    /// Builds the verifier, and exposes the generic mode's JWKS source.
    pub fn build_parts(&self) -> Result<Built, ConfigVarError> {
        self.build_inner(true)
    }

    /// Builds; `cache`: with the default verified-token cache, else without any.
    fn build_inner(&self, cache: bool) -> Result<Built, ConfigVarError> {
        match &self.mode {
            Mode::Generic {
                keys,
                issuers,
                audiences,
            } => self.build_generic(keys, issuers, audiences, cache),
            _ => self.build_provider(cache).map(|verifier| Built {
                verifier,
                jwks: None,
            }),
        }
    }

    /// Builds the verifier with its key source wrapped by `wrap`, e.g. keys preloaded at
    /// start-up in front of the remote source (`tollgate_lambda::PreloadedKeys`). Policy, roles
    /// and scopes are the same as [`build`](Self::build)'s.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use std::sync::Arc;
    /// use tollgate_core::config::AuthConfig;
    ///
    /// let vars = HashMap::from([
    ///     ("AUTH_PROVIDER".to_owned(), "firebase".to_owned()),
    ///     ("AUTH_FIREBASE_PROJECT_ID".to_owned(), "my-project".to_owned()),
    /// ]);
    /// let verifier = AuthConfig::from_vars("AUTH_", &vars)?.build_with_keys(|keys| keys)?;
    /// assert_eq!(verifier.validation().audiences(), ["my-project"]);
    /// # Ok::<(), tollgate_core::config::ConfigVarError>(())
    /// ```
    pub fn build_with_keys(
        &self,
        wrap: impl FnOnce(Arc<dyn KeySource>) -> Arc<dyn KeySource>,
    ) -> Result<Verifier, ConfigVarError> {
        self.build_with(wrap, |builder| builder)
    }

    /// Like [`build_parts`](Self::build_parts), with `finish` applied to the verifier's builder
    /// before it is built: the hook for what this configuration cannot build itself, such as
    /// the revocation check of [`revocation`](Self::revocation) (a Redis mirror made by the
    /// application). Policy, keys, roles and scopes are [`build`](Self::build)'s.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use tollgate_core::config::AuthConfig;
    /// use tollgate_core::revocation::{FailureMode, RevocationList};
    ///
    /// let vars = HashMap::from([
    ///     ("AUTH_HS256_SECRET".to_owned(), "0123456789abcdef0123456789abcdef".to_owned()),
    /// ]);
    /// let revoked = RevocationList::new();
    /// let built = AuthConfig::from_vars("AUTH_", &vars)?
    ///     .build_parts_with(|builder| builder.revocation(revoked.clone(), FailureMode::FailClosed))?;
    /// assert!(built.jwks.is_none());
    /// # Ok::<(), tollgate_core::config::ConfigVarError>(())
    /// ```
    pub fn build_parts_with(
        &self,
        finish: impl FnOnce(VerifierBuilder) -> VerifierBuilder,
    ) -> Result<Built, ConfigVarError> {
        let built = self.build_inner(false)?;
        let keys = built.verifier.keys().clone();
        Ok(Built {
            verifier: rebuild(&built.verifier, keys, finish),
            jwks: built.jwks,
        })
    }

    /// [`build_with_keys`](Self::build_with_keys) and [`build_parts_with`](Self::build_parts_with)
    /// together: the key source wrapped by `wrap`, then `finish` applied to the builder.
    pub fn build_with(
        &self,
        wrap: impl FnOnce(Arc<dyn KeySource>) -> Arc<dyn KeySource>,
        finish: impl FnOnce(VerifierBuilder) -> VerifierBuilder,
    ) -> Result<Verifier, ConfigVarError> {
        let built = self.build_inner(false)?.verifier;
        let keys = wrap(built.keys().clone());
        Ok(rebuild(&built, keys, finish))
    }

    fn var(&self, var: &str) -> String {
        format!("{}{var}", self.prefix)
    }

    fn build_generic(
        &self,
        keys: &Keys,
        issuers: &[String],
        audiences: &[String],
        cache: bool,
    ) -> Result<Built, ConfigVarError> {
        let algorithms = self.algorithms.clone().unwrap_or_else(|| match keys {
            Keys::Secret(_) => vec![Algorithm::HS256],
            _ => vec![Algorithm::RS256],
        });
        let mut policy = Validation::builder(algorithms.iter().copied())
            .issuers(issuers.iter().cloned())
            .leeway(Duration::from_secs(self.leeway_secs.unwrap_or(0)));
        policy = if audiences.is_empty() {
            policy.any_audience()
        } else {
            policy.audiences(audiences.iter().cloned())
        };
        let validation = policy.build().map_err(|e| self.policy_error(&e))?;
        let access = match &self.roles_claim {
            Some(path) => AccessClaims::default().roles_at([path.clone()]),
            None => AccessClaims::default(),
        };
        let crypto = CryptoProvider::default();
        let finish = |builder: VerifierBuilder| {
            let builder = builder.access_claims(access.clone());
            if cache {
                builder
            } else {
                builder.token_cache(None)
            }
            .build()
        };
        let configure = |builder: JwksSourceBuilder| match &self.configure_keys {
            Some(configure) => configure(builder),
            None => builder,
        };
        Ok(match keys {
            Keys::Jwks(url) => {
                let source = configure(JwksSource::builder(url.clone()))
                    .build()
                    .map_err(|e| remote_error(&self.prefix, JWKS_URL, &e))?;
                Built {
                    verifier: finish(Verifier::builder(validation, source.clone(), crypto)),
                    jwks: Some(source),
                }
            }
            Keys::Oidc(issuer) => {
                let source = OidcSource::builder(issuer.clone())
                    .jwks(configure)
                    .lazy()
                    .map_err(|e| remote_error(&self.prefix, OIDC_ISSUER, &e))?;
                Built {
                    verifier: finish(Verifier::builder(validation, source, crypto)),
                    jwks: None,
                }
            }
            Keys::Secret(secret) => {
                let name = self.var(HS256_SECRET);
                let invalid = |message| {
                    ConfigVarError::new(name.clone(), ConfigVarErrorKind::Invalid, message)
                };
                let key = VerificationKey::hmac(&secret.0).map_err(|e| {
                    invalid(match e {
                        KeyError::SecretTooShort { len, min } => format!(
                            "{name} is {len} bytes; at least {min} are required \
                             (e.g. `openssl rand -base64 32`)"
                        ),
                        other => format!("{name}: {other}"),
                    })
                })?;
                for alg in &algorithms {
                    key.permits(*alg)
                        .map_err(|why| invalid(format!("{name} cannot verify {alg}: {why}")))?;
                }
                Built {
                    verifier: finish(Verifier::builder(validation, KeySet::from(key), crypto)),
                    jwks: None,
                }
            }
        })
    }

    /// A policy error of the generic mode: the variable most likely at fault.
    fn policy_error(&self, error: &ConfigError) -> ConfigVarError {
        let var = match error {
            ConfigError::NoAlgorithms => ALGORITHMS,
            ConfigError::LeewayTooLarge(_) => LEEWAY_SECS,
            ConfigError::EmptyValue("audience") => AUDIENCE,
            ConfigError::ClaimPath(_) => ROLES_CLAIM,
            _ => ISSUER,
        };
        let name = self.var(var);
        ConfigVarError::new(
            name.clone(),
            ConfigVarErrorKind::Invalid,
            format!("{name}: invalid policy: {error}"),
        )
    }

    fn build_provider(&self, cache: bool) -> Result<Verifier, ConfigVarError> {
        macro_rules! with_overrides {
            ($preset:expr) => {{
                let mut preset = $preset;
                if let Some(url) = &self.key_url {
                    preset = preset.key_url(url.clone());
                }
                if let Some(algorithms) = &self.algorithms {
                    preset = preset.algorithms(algorithms.iter().copied());
                }
                if let Some(secs) = self.leeway_secs {
                    preset = preset.leeway(Duration::from_secs(secs));
                }
                if let Some(path) = &self.roles_claim {
                    preset = preset.roles_claim(path.clone());
                }
                if let Some(configure) = &self.configure_keys {
                    let configure = configure.clone();
                    preset = preset.configure_keys(move |builder| configure(builder));
                }
                if !cache {
                    preset = preset.token_cache(None);
                }
                preset
            }};
        }
        let result = match &self.mode {
            Mode::Generic {
                keys,
                issuers,
                audiences,
            } => {
                return self
                    .build_generic(keys, issuers, audiences, cache)
                    .map(|b| b.verifier);
            }
            Mode::Cognito {
                pool_id,
                client_ids,
                token_use,
            } => with_overrides!(
                Cognito::new(pool_id.clone(), client_ids.clone()).token_use(*token_use)
            )
            .build(),
            Mode::Auth0 { domains, audiences } => {
                let (first, rest) = audiences
                    .split_first()
                    .map_or(("", &[][..]), |(f, r)| (f.as_str(), r));
                let mut preset = Auth0::new(domains.clone(), first);
                for audience in rest {
                    preset = preset.audience(audience.clone());
                }
                with_overrides!(preset).build()
            }
            Mode::Firebase { project_id } => {
                with_overrides!(Firebase::new(project_id.clone())).build()
            }
            Mode::Entra {
                tenant,
                allowed,
                audiences,
            } => {
                let preset = match allowed {
                    None => EntraId::single_tenant(tenant.clone()),
                    Some(AllowedTenants::Listed(list)) => {
                        EntraId::multi_tenant(list.clone()).keys_tenant(tenant.clone())
                    }
                    Some(AllowedTenants::Any) => EntraId::any_tenant().keys_tenant(tenant.clone()),
                };
                with_overrides!(preset.audiences(audiences.clone())).build()
            }
            Mode::Keycloak {
                url,
                realm,
                client_id,
                audiences,
            } => {
                let mut preset = Keycloak::new(url.clone(), realm.clone(), client_id.clone());
                for audience in audiences {
                    preset = preset.audience(audience.clone());
                }
                with_overrides!(preset).build()
            }
            Mode::Google {
                client_ids,
                hosted_domain,
            } => {
                let mut preset = Google::new(client_ids.clone());
                if let Some(domain) = hosted_domain {
                    preset = preset.hosted_domain(domain.clone());
                }
                with_overrides!(preset).build()
            }
            Mode::Okta { issuer, audiences } => {
                let mut preset = Okta::new(issuer.clone());
                for audience in audiences {
                    preset = preset.audience(audience.clone());
                }
                with_overrides!(preset).build()
            }
        };
        result.map_err(|e| self.provider_error(e))
    }

    /// A preset's error, attributed to the variable that carries the setting.
    fn provider_error(&self, error: ProviderError) -> ConfigVarError {
        let provider = self.provider().map_or("", Provider::name);
        let invalid = |var: &str, message: String| {
            ConfigVarError::new(self.var(var), ConfigVarErrorKind::Invalid, message)
        };
        match error {
            ProviderError::Setting {
                setting, reason, ..
            } => {
                let var = match (&self.mode, setting) {
                    (Mode::Cognito { .. }, "user pool id") => COGNITO_USER_POOL_ID,
                    (Mode::Cognito { .. }, _) => COGNITO_CLIENT_IDS,
                    (Mode::Auth0 { .. }, "domain") => AUTH0_DOMAIN,
                    (Mode::Firebase { .. }, _) => FIREBASE_PROJECT_ID,
                    (Mode::Entra { allowed: None, .. }, "tenant") => ENTRA_TENANT,
                    (Mode::Entra { .. }, "tenant" | "allowed tenants") => ENTRA_ALLOWED_TENANTS,
                    (Mode::Entra { .. }, "keys tenant") => ENTRA_TENANT,
                    (Mode::Keycloak { .. }, "base URL") => KEYCLOAK_URL,
                    (Mode::Keycloak { .. }, "realm") => KEYCLOAK_REALM,
                    (Mode::Keycloak { .. }, "client id") => KEYCLOAK_CLIENT_ID,
                    (Mode::Google { .. }, "hosted domain") => GOOGLE_HOSTED_DOMAIN,
                    (Mode::Google { .. }, _) => GOOGLE_CLIENT_IDS,
                    (Mode::Okta { .. }, _) => OKTA_ISSUER,
                    _ if setting == "audience" => AUDIENCE,
                    _ => PROVIDER,
                };
                let mut message = format!("{}: {reason}", self.var(var));
                if var == ENTRA_TENANT {
                    message.push_str(" (or organizations / common for a multi-tenant API)");
                }
                invalid(var, message)
            }
            ProviderError::Policy { source, .. } => {
                let var = match source {
                    ConfigError::NoAlgorithms => ALGORITHMS,
                    ConfigError::LeewayTooLarge(_) => LEEWAY_SECS,
                    ConfigError::ClaimPath(_) => ROLES_CLAIM,
                    ConfigError::EmptyValue("audience") => AUDIENCE,
                    _ => PROVIDER,
                };
                invalid(
                    var,
                    format!("{}: invalid {provider} policy: {source}", self.var(var)),
                )
            }
            ProviderError::Keys { source, .. } => {
                let var = match (&self.key_url, &self.mode) {
                    (Some(_), _) => JWKS_URL,
                    (None, Mode::Keycloak { .. }) => KEYCLOAK_URL,
                    (None, Mode::Okta { .. }) => OKTA_ISSUER,
                    (None, _) => PROVIDER,
                };
                remote_error(&self.prefix, var, &source)
            }
        }
    }

    /// One line for a start-up log: the mode, its settings and the overrides; never the
    /// secret.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use tollgate_core::config::AuthConfig;
    ///
    /// let vars = HashMap::from([
    ///     ("AUTH_HS256_SECRET".to_owned(), "0123456789abcdef0123456789abcdef".to_owned()),
    ///     ("AUTH_AUDIENCE".to_owned(), "my-api".to_owned()),
    /// ]);
    /// let summary = AuthConfig::from_vars("AUTH_", &vars)?.summary();
    /// assert_eq!(summary, "keys: HS256 secret (32 bytes); algorithms: HS256; iss: not checked; \
    ///                      aud: my-api; roles claim: roles; leeway: 0 s");
    /// # Ok::<(), tollgate_core::config::ConfigVarError>(())
    /// ```
    pub fn summary(&self) -> String {
        let list = |values: &[String]| values.join(", ");
        let checked = |values: &[String]| {
            if values.is_empty() {
                "not checked".to_owned()
            } else {
                list(values)
            }
        };
        let algorithms = |default: &str| match &self.algorithms {
            Some(algorithms) => {
                let names: Vec<&str> = algorithms.iter().map(|a| a.as_str()).collect();
                names.join(", ")
            }
            None => default.to_owned(),
        };
        let roles = |default: &str| match &self.roles_claim {
            Some(path) => path.to_string(),
            None => default.to_owned(),
        };
        if let Mode::Generic {
            keys,
            issuers,
            audiences,
        } = &self.mode
        {
            let (source, default_alg) = match keys {
                Keys::Jwks(url) => (format!("JWKS {url}"), "RS256"),
                Keys::Oidc(issuer) => (format!("OIDC discovery for {issuer}"), "RS256"),
                Keys::Secret(secret) => {
                    (format!("HS256 secret ({} bytes)", secret.0.len()), "HS256")
                }
            };
            let iss = match (keys, issuers.is_empty()) {
                (Keys::Oidc(issuer), true) => {
                    format!("{issuer} (from {})", self.var(OIDC_ISSUER))
                }
                _ => checked(issuers),
            };
            return format!(
                "keys: {source}; algorithms: {}; iss: {iss}; aud: {}; roles claim: {}; leeway: {} \
                 s{}",
                algorithms(default_alg),
                checked(audiences),
                roles("roles"),
                self.leeway_secs.unwrap_or(0),
                self.dpop_summary() + &self.revocation_summary()
            );
        }
        let settings = match &self.mode {
            Mode::Generic { .. } => String::new(),
            Mode::Cognito {
                pool_id,
                client_ids,
                token_use,
            } => format!(
                "user pool {pool_id}, app clients {}, {} tokens",
                list(client_ids),
                match token_use {
                    TokenUse::Id => "ID",
                    _ => "access",
                }
            ),
            Mode::Auth0 { domains, audiences } => {
                format!("domains {}, aud {}", list(domains), list(audiences))
            }
            Mode::Firebase { project_id } => format!("project {project_id}"),
            Mode::Entra {
                tenant,
                allowed,
                audiences,
            } => {
                let tenants = match allowed {
                    None => format!("tenant {tenant}"),
                    Some(AllowedTenants::Any) => format!("keys of {tenant}, any tenant"),
                    Some(AllowedTenants::Listed(list_)) => {
                        format!("keys of {tenant}, tenants {}", list(list_))
                    }
                };
                format!("{tenants}, aud {}", list(audiences))
            }
            Mode::Keycloak {
                url,
                realm,
                client_id,
                audiences,
            } => {
                let aud = if audiences.is_empty() {
                    format!("{client_id} (or azp)")
                } else {
                    format!("{} (or azp {client_id})", list(audiences))
                };
                format!("{url}, realm {realm}, client {client_id}, aud {aud}")
            }
            Mode::Google {
                client_ids,
                hosted_domain,
            } => match hosted_domain {
                Some(hd) => format!("clients {}, hd {hd}", list(client_ids)),
                None => format!("clients {}", list(client_ids)),
            },
            Mode::Okta { issuer, audiences } => {
                let aud = if audiences.is_empty() {
                    OKTA_DEFAULT_AUDIENCE.to_owned()
                } else {
                    list(audiences)
                };
                format!("issuer {issuer}, aud {aud}")
            }
        };
        let keys = match &self.key_url {
            Some(url) => url.clone(),
            None => "the provider's".to_owned(),
        };
        format!(
            "provider: {} ({settings}); keys: {keys}; algorithms: {}; roles claim: {}; leeway: {} \
             s{}",
            self.provider().map_or("", Provider::name),
            algorithms("the provider's"),
            roles("the provider's"),
            self.leeway_secs.unwrap_or(DEFAULT_LEEWAY.as_secs()),
            self.dpop_summary() + &self.revocation_summary()
        )
    }

    /// `; revocation: redis://host:6379/0 (fail closed)` when on; nothing when off.
    fn revocation_summary(&self) -> String {
        match &self.revocation {
            None => String::new(),
            Some(settings) => format!(
                "; revocation: {} ({})",
                settings.shown_url(),
                match settings.failure_mode() {
                    FailureMode::FailClosed => "fail closed",
                    FailureMode::FailOpen => "fail open",
                }
            ),
        }
    }

    /// `; dpop: required at https://..., proofs ES256 RS256 PS256 EdDSA, nonces` when DPoP is
    /// on; nothing when off (the summaries of a Bearer-only setup stay as they were).
    fn dpop_summary(&self) -> String {
        let settings = &self.dpop;
        let mode = match settings.mode {
            DpopMode::Off => return String::new(),
            DpopMode::Allowed => "allowed (Bearer or DPoP)",
            DpopMode::Required => "required (DPoP only)",
        };
        let algs: Vec<&str> = DPOP_PROOF_ALGORITHMS.iter().map(|a| a.as_str()).collect();
        format!(
            "; dpop: {mode} at {}, proofs {}{}",
            settings.public_url.as_deref().unwrap_or("-"),
            algs.join(" "),
            if settings.nonces { ", nonces" } else { "" }
        )
    }
}

/// `verifier` (built without a token cache, to be thrown away) rebuilt around `keys` with the
/// default crypto provider and token cache, as every verifier built here, then `finish`.
fn rebuild(
    verifier: &Verifier,
    keys: Arc<dyn KeySource>,
    finish: impl FnOnce(VerifierBuilder) -> VerifierBuilder,
) -> Verifier {
    let builder = Verifier::builder(
        verifier.validation().clone(),
        keys,
        CryptoProvider::default(),
    )
    .access_claims(verifier.access_claims().clone());
    finish(builder).build()
}

/// A boolean variable: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`; unset is `false`.
/// `meaning` says what `1` does, for the error message.
fn flag(r: &Reader<'_>, var: &str, meaning: &str) -> Result<bool, ConfigVarError> {
    let Some(value) = r.get(var).map(str::trim) else {
        return Ok(false);
    };
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(r.error(
            var,
            ConfigVarErrorKind::Invalid,
            format!("{}={value:?} is not 1 ({meaning}) or 0 (off)", r.name(var)),
        )),
    }
}

/// The revocation settings of an [`AuthConfig`] (`<prefix>REVOCATION_REDIS_URL`,
/// `<prefix>REVOCATION_FAIL_OPEN`), see [`AuthConfig::revocation`]. Only checked here: the
/// application connects (e.g. `tollgate_redis::RedisRevocations::connect(settings.redis_url(),
/// ..)`) and passes the check and [`failure_mode`](Self::failure_mode) to
/// [`VerifierBuilder::revocation`] through [`AuthConfig::build_parts_with`].
///
/// [`Debug`](fmt::Debug) shows the URL without its password.
#[derive(Clone, PartialEq, Eq)]
pub struct RevocationSettings {
    redis_url: String,
    parsed: RedisUrl,
    fail_open: bool,
}

impl fmt::Debug for RevocationSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationSettings")
            .field("redis_url", &self.parsed.shown())
            .field("failure_mode", &self.failure_mode())
            .finish()
    }
}

impl RevocationSettings {
    /// The Redis URL as configured (password included: for connecting, never for logs).
    pub fn redis_url(&self) -> &str {
        &self.redis_url
    }

    /// The URL to log: `redis[s]://[***@]host:port/db`, never the password.
    pub fn shown_url(&self) -> &str {
        self.parsed.shown()
    }

    /// `rediss://`: the connection is TLS, the server's certificate always verified.
    pub fn tls(&self) -> bool {
        self.parsed.tls()
    }

    /// Refuse (the default) or accept while the revocation state is unavailable.
    pub fn failure_mode(&self) -> FailureMode {
        if self.fail_open {
            FailureMode::FailOpen
        } else {
            FailureMode::FailClosed
        }
    }
}

/// `<prefix>REVOCATION_REDIS_URL` and `<prefix>REVOCATION_FAIL_OPEN`.
fn revocation_settings(r: &Reader<'_>) -> Result<Option<RevocationSettings>, ConfigVarError> {
    let fail_open = flag(
        r,
        REVOCATION_FAIL_OPEN,
        "accept tokens while the revocation state is unavailable",
    )?;
    let Some(url) = r.get(REVOCATION_REDIS_URL).map(str::trim) else {
        if r.get(REVOCATION_FAIL_OPEN).is_some() {
            return Err(r.error(
                REVOCATION_FAIL_OPEN,
                ConfigVarErrorKind::Conflict,
                format!(
                    "{} is set but {} is not: there is no revocation check to fail open",
                    r.name(REVOCATION_FAIL_OPEN),
                    r.name(REVOCATION_REDIS_URL)
                ),
            ));
        }
        return Ok(None);
    };
    let parsed = RedisUrl::parse(url).map_err(|why| {
        // The value is not echoed: it may hold a password.
        r.error(
            REVOCATION_REDIS_URL,
            ConfigVarErrorKind::Invalid,
            format!(
                "{}: {why} (expected redis[s]://[[user]:password@]host[:port][/db])",
                r.name(REVOCATION_REDIS_URL)
            ),
        )
    })?;
    Ok(Some(RevocationSettings {
        redis_url: url.to_owned(),
        parsed,
        fail_open,
    }))
}

/// `<prefix>DPOP`, `<prefix>PUBLIC_URL` and `<prefix>DPOP_NONCE`.
fn dpop_settings(r: &Reader<'_>) -> Result<DpopSettings, ConfigVarError> {
    let mode = match r.get(DPOP).map(str::trim) {
        None => DpopMode::Off,
        Some(value) => match value.to_ascii_lowercase().as_str() {
            "off" => DpopMode::Off,
            "allowed" => DpopMode::Allowed,
            "required" => DpopMode::Required,
            _ => {
                return Err(r.error(
                    DPOP,
                    ConfigVarErrorKind::Invalid,
                    format!(
                        "{}={value:?} is not a DPoP mode (off: Bearer only; allowed: Bearer or \
                         DPoP; required: DPoP only)",
                        r.name(DPOP)
                    ),
                ));
            }
        },
    };
    let nonces = flag(r, DPOP_NONCE, "server nonces on")?;
    if nonces && mode == DpopMode::Off {
        return Err(r.error(
            DPOP_NONCE,
            ConfigVarErrorKind::Conflict,
            format!(
                "{} turns on DPoP nonces but DPoP is off: set {} to allowed or required",
                r.name(DPOP_NONCE),
                r.name(DPOP)
            ),
        ));
    }
    let public_url = match r.get(PUBLIC_URL) {
        Some(value) => Some(public_url(r, value.trim())?),
        None if mode != DpopMode::Off => {
            let name = r.name(DPOP);
            let shown = r.get(DPOP).unwrap_or_default();
            return Err(r.error(
                PUBLIC_URL,
                ConfigVarErrorKind::Missing,
                format!(
                    "{} is required with {name}={shown}: the external origin clients call \
                     (scheme://host[:port], e.g. https://api.example.com), which every proof's \
                     htu must name",
                    r.name(PUBLIC_URL)
                ),
            ));
        }
        None => None,
    };
    Ok(DpopSettings {
        mode,
        public_url,
        nonces,
    })
}

/// An http(s) origin, `scheme://host[:port]`, with at most a lone trailing `/` (dropped). A
/// base path is refused here: `serve` answers at the root, so a path would only make every
/// proof's `htu` mismatch. (The library's [`DpopVerifier::builder`] takes one, e.g. for an API
/// Gateway stage.)
fn public_url(r: &Reader<'_>, value: &str) -> Result<String, ConfigVarError> {
    let name = r.name(PUBLIC_URL);
    let invalid = |why: &str| {
        r.error(
            PUBLIC_URL,
            ConfigVarErrorKind::Invalid,
            format!("{name}={value:?} {why} (scheme://host[:port], e.g. https://api.example.com)"),
        )
    };
    let lower = value.to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &value["https://".len()..]
    } else if lower.starts_with("http://") {
        &value["http://".len()..]
    } else {
        return Err(invalid("is not an http or https URL"));
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let after = &rest[authority_end..];
    if !(after.is_empty() || after == "/") {
        return Err(invalid(
            "must be an origin only, without a path, query or fragment",
        ));
    }
    let origin = value.trim_end_matches('/');
    // The remaining checks (host, port, userinfo) are the verifier's own.
    let _checked = DpopVerifier::builder(origin).map_err(|e| {
        r.error(
            PUBLIC_URL,
            ConfigVarErrorKind::Invalid,
            format!("{name}: {e}"),
        )
    })?;
    Ok(origin.to_owned())
}

fn parse_algorithms(r: &Reader<'_>, value: &str) -> Result<Vec<Algorithm>, ConfigVarError> {
    let name = r.name(ALGORITHMS);
    let invalid = |message| ConfigVarError::new(name.clone(), ConfigVarErrorKind::Invalid, message);
    let mut algorithms = Vec::new();
    for alg_name in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let alg = Algorithm::from_name(alg_name).ok_or_else(|| {
            invalid(format!(
                "{name}: unknown algorithm {alg_name:?} (known, case-sensitive: {})",
                known_algorithms()
            ))
        })?;
        if !algorithms.contains(&alg) {
            algorithms.push(alg);
        }
    }
    if algorithms.is_empty() {
        return Err(invalid(format!(
            "{name}={value:?} names no algorithm (e.g. RS256 or RS256,ES256)"
        )));
    }
    Ok(algorithms)
}

/// The generic mode: exactly one key source, optional issuers and audiences.
fn generic_mode(r: &Reader<'_>, algorithms: Option<&[Algorithm]>) -> Result<Mode, ConfigVarError> {
    let mut sources = Vec::new();
    if let Some(url) = r.get(JWKS_URL) {
        sources.push(Keys::Jwks(url.trim().to_owned()));
    }
    if let Some(issuer) = r.get(OIDC_ISSUER) {
        sources.push(Keys::Oidc(issuer.trim().to_owned()));
    }
    if let Some(secret) = r.get(HS256_SECRET) {
        sources.push(Keys::Secret(Secret(secret.as_bytes().to_vec())));
    }
    let keys = match sources.len() {
        0 => {
            return Err(r.error(
                JWKS_URL,
                ConfigVarErrorKind::Missing,
                format!(
                    "no key source: set exactly one of {}, {} or {} (or {} for a provider preset)",
                    r.name(JWKS_URL),
                    r.name(OIDC_ISSUER),
                    r.name(HS256_SECRET),
                    r.name(PROVIDER)
                ),
            ));
        }
        1 => sources.remove(0),
        _ => {
            let names: Vec<String> = sources.iter().map(|s| r.name(s.variable())).collect();
            let verb = if names.len() == 2 { "both" } else { "all" };
            return Err(r.error(
                sources[1].variable(),
                ConfigVarErrorKind::Conflict,
                format!(
                    "conflicting key sources: {} are {verb} set; set exactly one",
                    names.join(" and ")
                ),
            ));
        }
    };
    match &keys {
        Keys::Jwks(url) => {
            r.url(JWKS_URL, url)?;
        }
        Keys::Oidc(issuer) => {
            r.url(OIDC_ISSUER, issuer)?;
        }
        Keys::Secret(_) => {}
    }
    let default = [match keys {
        Keys::Secret(_) => Algorithm::HS256,
        _ => Algorithm::RS256,
    }];
    // Symmetric algorithms need the secret, asymmetric ones public keys.
    for alg in algorithms.unwrap_or(&default) {
        match &keys {
            Keys::Secret(_) if !alg.is_symmetric() => {
                return Err(r.error(
                    ALGORITHMS,
                    ConfigVarErrorKind::Conflict,
                    format!(
                        "{}: {alg} cannot be verified with {} (a shared secret verifies HS256, \
                         HS384 or HS512; use {} or {} for {alg})",
                        r.name(ALGORITHMS),
                        r.name(HS256_SECRET),
                        r.name(JWKS_URL),
                        r.name(OIDC_ISSUER)
                    ),
                ));
            }
            Keys::Jwks(_) | Keys::Oidc(_) if alg.is_symmetric() => {
                return Err(r.error(
                    ALGORITHMS,
                    ConfigVarErrorKind::Conflict,
                    format!(
                        "{}: {alg} needs a shared secret ({}); {} provides public keys only",
                        r.name(ALGORITHMS),
                        r.name(HS256_SECRET),
                        r.name(keys.variable())
                    ),
                ));
            }
            _ => {}
        }
    }
    Ok(Mode::Generic {
        keys,
        issuers: r.list(ISSUER),
        audiences: r.list(AUDIENCE),
    })
}

/// A provider's own variables.
fn provider_mode(r: &Reader<'_>, provider: Provider) -> Result<Mode, ConfigVarError> {
    let audiences = r.list(AUDIENCE);
    Ok(match provider {
        Provider::Cognito => {
            let pool_id = r
                .required(
                    COGNITO_USER_POOL_ID,
                    provider,
                    "the user pool id, e.g. us-east-1_AbC123",
                )?
                .trim()
                .to_owned();
            let client_ids =
                r.required_list(COGNITO_CLIENT_IDS, provider, "comma list of app client ids")?;
            let token_use = match r.get(COGNITO_TOKEN_USE).map(str::trim) {
                None => TokenUse::Access,
                Some(v) if v.eq_ignore_ascii_case("access") => TokenUse::Access,
                Some(v) if v.eq_ignore_ascii_case("id") => TokenUse::Id,
                Some(v) => {
                    return Err(r.error(
                        COGNITO_TOKEN_USE,
                        ConfigVarErrorKind::Invalid,
                        format!(
                            "{}={v:?} is neither access (access tokens, the default) nor id (ID \
                             tokens)",
                            r.name(COGNITO_TOKEN_USE)
                        ),
                    ));
                }
            };
            Mode::Cognito {
                pool_id,
                client_ids,
                token_use,
            }
        }
        Provider::Auth0 => {
            let domains = r.required_list(
                AUTH0_DOMAIN,
                provider,
                "the tenant domain, e.g. my-tenant.us.auth0.com, or a comma list with custom \
                 domains",
            )?;
            let audiences = r.required_list(
                AUDIENCE,
                provider,
                "the API identifier, e.g. https://api.example.com",
            )?;
            Mode::Auth0 { domains, audiences }
        }
        Provider::Firebase => Mode::Firebase {
            project_id: r
                .required(FIREBASE_PROJECT_ID, provider, "the Firebase project id")?
                .trim()
                .to_owned(),
        },
        Provider::Entra => {
            let tenant = r
                .required(
                    ENTRA_TENANT,
                    provider,
                    "the directory (tenant) id, or organizations / common for a multi-tenant API",
                )?
                .trim()
                .to_owned();
            let multi = ["organizations", "common"]
                .iter()
                .any(|name| tenant.eq_ignore_ascii_case(name));
            let allowed_value = r.get(ENTRA_ALLOWED_TENANTS);
            let allowed = match (multi, allowed_value) {
                (false, None) => None,
                (false, Some(_)) => {
                    return Err(r.error(
                        ENTRA_ALLOWED_TENANTS,
                        ConfigVarErrorKind::Conflict,
                        format!(
                            "{} is only for a multi-tenant {} (organizations or common); with \
                             the single tenant {tenant:?} only its tokens are accepted: unset it",
                            r.name(ENTRA_ALLOWED_TENANTS),
                            r.name(ENTRA_TENANT)
                        ),
                    ));
                }
                (true, None) => {
                    return Err(r.error(
                        ENTRA_ALLOWED_TENANTS,
                        ConfigVarErrorKind::Missing,
                        format!(
                            "{} is required with {}={tenant} (comma list of the tenant ids \
                             allowed, or * for every tenant)",
                            r.name(ENTRA_ALLOWED_TENANTS),
                            r.name(ENTRA_TENANT)
                        ),
                    ));
                }
                (true, Some(value)) => {
                    let list = comma_list(value);
                    if list == ["*"] {
                        Some(AllowedTenants::Any)
                    } else if list.is_empty() || list.iter().any(|t| t == "*") {
                        return Err(r.error(
                            ENTRA_ALLOWED_TENANTS,
                            ConfigVarErrorKind::Invalid,
                            format!(
                                "{}={value:?}: give a comma list of tenant ids, or * alone for \
                                 every tenant",
                                r.name(ENTRA_ALLOWED_TENANTS)
                            ),
                        ));
                    } else {
                        Some(AllowedTenants::Listed(list))
                    }
                }
            };
            let audiences = r.required_list(
                AUDIENCE,
                provider,
                "comma list of the API's client id and/or App ID URI",
            )?;
            Mode::Entra {
                tenant: if multi {
                    tenant.to_ascii_lowercase()
                } else {
                    tenant
                },
                allowed,
                audiences,
            }
        }
        Provider::Keycloak => {
            let url = r.required(
                KEYCLOAK_URL,
                provider,
                "the server's base URL, e.g. https://sso.example.com",
            )?;
            let url = r.url(KEYCLOAK_URL, url)?;
            let realm = r
                .required(KEYCLOAK_REALM, provider, "the realm name")?
                .trim()
                .to_owned();
            let client_id = r
                .required(
                    KEYCLOAK_CLIENT_ID,
                    provider,
                    "the client id: its client roles, and the audience",
                )?
                .trim()
                .to_owned();
            Mode::Keycloak {
                url,
                realm,
                client_id,
                audiences,
            }
        }
        Provider::Google => Mode::Google {
            client_ids: r.required_list(
                GOOGLE_CLIENT_IDS,
                provider,
                "comma list of OAuth client ids",
            )?,
            hosted_domain: r.get(GOOGLE_HOSTED_DOMAIN).map(|d| d.trim().to_owned()),
        },
        Provider::Okta => {
            let issuer = r.required(
                OKTA_ISSUER,
                provider,
                "the authorization server's issuer, e.g. https://example.okta.com/oauth2/default",
            )?;
            Mode::Okta {
                issuer: r.url(OKTA_ISSUER, issuer)?,
                audiences,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    fn vars(prefix: &str, pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (format!("{prefix}{k}"), (*v).to_owned()))
            .collect()
    }

    fn config(pairs: &[(&str, &str)]) -> Result<AuthConfig, ConfigVarError> {
        AuthConfig::from_vars("AUTH_", &vars("AUTH_", pairs))
    }

    /// Parsed and built.
    fn verifier(pairs: &[(&str, &str)]) -> Result<Verifier, ConfigVarError> {
        config(pairs)?.build()
    }

    /// The error of parsing or building, checked to be one line naming `variable`.
    fn refused(pairs: &[(&str, &str)], variable: &str, kind: ConfigVarErrorKind) -> String {
        let err = match verifier(pairs) {
            Ok(v) => panic!("{pairs:?} accepted: {v:?}"),
            Err(err) => err,
        };
        let message = err.to_string();
        assert_eq!(err.variable(), variable, "{pairs:?}: {message}");
        assert_eq!(err.kind(), kind, "{pairs:?}: {message}");
        assert!(message.contains(variable), "{pairs:?}: {message}");
        assert!(!message.contains('\n'), "{message}");
        message
    }

    fn roles(verifier: &Verifier) -> Vec<&str> {
        verifier
            .access_claims()
            .role_paths()
            .iter()
            .map(ClaimPath::as_str)
            .collect()
    }

    fn scopes(verifier: &Verifier) -> Vec<&str> {
        verifier
            .access_claims()
            .scope_paths()
            .iter()
            .map(ClaimPath::as_str)
            .collect()
    }

    use ConfigVarErrorKind::{Conflict, Invalid, Missing};

    #[test]
    fn names() {
        let names = variable_names("TOLLGATE_");
        assert_eq!(names.len(), 27);
        assert!(names.iter().all(|n| n.starts_with("TOLLGATE_")));
        assert!(names.contains(&"TOLLGATE_ENTRA_ALLOWED_TENANTS".to_owned()));
        for provider in Provider::ALL {
            assert_eq!(Provider::from_name(provider.name()), Some(provider));
        }
        assert_eq!(Provider::from_name(" Cognito "), Some(Provider::Cognito));
    }

    #[test]
    fn generic_defaults() {
        let jwks = config(&[("JWKS_URL", "https://idp.example/jwks")]).unwrap();
        assert_eq!(jwks.provider(), None);
        let built = jwks.build_parts().unwrap();
        let v = &built.verifier;
        assert_eq!(v.validation().algorithms(), [Algorithm::RS256]);
        assert!(v.validation().issuers().is_empty());
        assert!(v.validation().accepts_any_audience());
        assert_eq!(v.validation().leeway(), Duration::ZERO);
        assert_eq!(roles(v), ["roles"]);
        assert_eq!(scopes(v), ["scope", "scp"]);
        assert_eq!(built.jwks.unwrap().url(), "https://idp.example/jwks");

        let secret = verifier(&[("HS256_SECRET", SECRET)]).unwrap();
        assert_eq!(secret.validation().algorithms(), [Algorithm::HS256]);
        assert!(
            config(&[("HS256_SECRET", SECRET)])
                .unwrap()
                .build_parts()
                .unwrap()
                .jwks
                .is_none()
        );
    }

    #[test]
    fn generic_lists_and_empty_values() {
        let parsed = config(&[
            ("OIDC_ISSUER", "https://idp.example"),
            ("JWKS_URL", ""),
            ("ISSUER", " https://a.example ,https://b.example,"),
            ("AUDIENCE", "api"),
            ("ALGORITHMS", "ES256, RS256,ES256"),
            ("ROLES_CLAIM", ""),
            ("LEEWAY_SECS", "600"),
        ])
        .unwrap();
        let v = parsed.build().unwrap();
        assert_eq!(
            v.validation().issuers(),
            ["https://a.example", "https://b.example"]
        );
        assert_eq!(v.validation().audiences(), ["api"]);
        assert_eq!(v.validation().algorithms().len(), 2);
        assert_eq!(roles(&v), ["roles"]);
        assert_eq!(v.validation().leeway(), Duration::from_secs(600));
        assert!(
            parsed
                .summary()
                .contains("iss: https://a.example, https://b.example"),
            "{}",
            parsed.summary()
        );
        let roles_claim = verifier(&[
            ("HS256_SECRET", SECRET),
            ("ROLES_CLAIM", "resource_access.\"my.client\".roles"),
        ])
        .unwrap();
        assert_eq!(roles(&roles_claim), ["resource_access.\"my.client\".roles"]);
        // Names of another prefix are not read.
        let other = AuthConfig::from_vars(
            "TOLLGATE_",
            &vars(
                "",
                &[
                    ("AUTH_JWKS_URL", "https://idp.example/jwks"),
                    ("TOLLGATE_HS256_SECRET", SECRET),
                ],
            ),
        )
        .unwrap();
        assert!(other.summary().starts_with("keys: HS256 secret"));
    }

    #[test]
    fn oidc_issuer_binds_iss_unless_issuer_is_set() {
        let bound = verifier(&[("OIDC_ISSUER", "https://idp.example")]).unwrap();
        assert_eq!(bound.validation().issuers(), ["https://idp.example"]);
        let summary = config(&[("OIDC_ISSUER", "https://idp.example")])
            .unwrap()
            .summary();
        assert!(
            summary.contains("iss: https://idp.example (from AUTH_OIDC_ISSUER)"),
            "{summary}"
        );
        let widened = verifier(&[
            ("OIDC_ISSUER", "https://idp.example"),
            ("ISSUER", "https://idp.example,https://other.example"),
        ])
        .unwrap();
        assert_eq!(
            widened.validation().issuers(),
            ["https://idp.example", "https://other.example"]
        );
    }

    #[test]
    fn generic_errors() {
        let jwks = ("JWKS_URL", "http://127.0.0.1:9/jwks.json");
        let secret = ("HS256_SECRET", SECRET);
        let message = refused(&[], "AUTH_JWKS_URL", Missing);
        assert!(message.starts_with("no key source"), "{message}");
        let message = refused(&[jwks, secret], "AUTH_HS256_SECRET", Conflict);
        assert!(
            message.contains("AUTH_JWKS_URL and AUTH_HS256_SECRET are both set"),
            "{message}"
        );
        let message = refused(
            &[jwks, secret, ("OIDC_ISSUER", "http://127.0.0.1:9")],
            "AUTH_OIDC_ISSUER",
            Conflict,
        );
        assert!(message.starts_with("conflicting key sources"), "{message}");
        for bad in ["RS257", "none", ","] {
            refused(&[jwks, ("ALGORITHMS", bad)], "AUTH_ALGORITHMS", Invalid);
        }
        refused(
            &[jwks, ("ALGORITHMS", "HS256")],
            "AUTH_ALGORITHMS",
            Conflict,
        );
        refused(
            &[secret, ("ALGORITHMS", "RS256")],
            "AUTH_ALGORITHMS",
            Conflict,
        );
        let message = refused(
            &[("HS256_SECRET", "too-short")],
            "AUTH_HS256_SECRET",
            Invalid,
        );
        assert!(
            message.starts_with("AUTH_HS256_SECRET is 9 bytes"),
            "{message}"
        );
        assert!(!message.contains("too-short"));
        let message = refused(
            &[secret, ("ALGORITHMS", "HS512")],
            "AUTH_HS256_SECRET",
            Invalid,
        );
        assert!(message.contains("cannot verify HS512"), "{message}");
        for bad in ["abc", "-1", "601"] {
            refused(&[secret, ("LEEWAY_SECS", bad)], "AUTH_LEEWAY_SECS", Invalid);
        }
        refused(
            &[secret, ("ROLES_CLAIM", "realm_access..roles")],
            "AUTH_ROLES_CLAIM",
            Invalid,
        );
        let message = refused(
            &[("JWKS_URL", "http://keys.example.com/jwks")],
            "AUTH_JWKS_URL",
            Invalid,
        );
        assert!(message.contains("loopback"), "{message}");
        refused(&[("JWKS_URL", "not a url")], "AUTH_JWKS_URL", Invalid);
        refused(
            &[("OIDC_ISSUER", "ftp://issuer.example")],
            "AUTH_OIDC_ISSUER",
            Invalid,
        );
        refused(&[("PROVIDER", "cognitoo")], "AUTH_PROVIDER", Invalid);
        // A provider variable without the provider.
        let message = refused(
            &[jwks, ("FIREBASE_PROJECT_ID", "p")],
            "AUTH_FIREBASE_PROJECT_ID",
            Conflict,
        );
        assert!(message.contains("AUTH_PROVIDER is not set"), "{message}");
    }

    #[test]
    fn secrets_are_never_shown() {
        let parsed = config(&[("HS256_SECRET", SECRET)]).unwrap();
        assert!(!parsed.summary().contains(SECRET));
        assert!(!format!("{parsed:?}").contains(SECRET));
        assert!(!format!("{:?}", parsed.build().unwrap()).contains(SECRET));
    }

    #[test]
    fn cognito() {
        let pool = ("COGNITO_USER_POOL_ID", "us-east-1_AbC123");
        let clients = ("COGNITO_CLIENT_IDS", "client-a, client-b");
        let provider = ("PROVIDER", "cognito");
        let access = verifier(&[provider, pool, clients]).unwrap();
        assert_eq!(
            access.validation().issuers(),
            ["https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123"]
        );
        assert!(access.validation().accepts_any_audience());
        assert_eq!(access.validation().rules().len(), 2);
        assert_eq!(access.validation().leeway(), DEFAULT_LEEWAY);
        assert_eq!(roles(&access), ["cognito:groups"]);
        let id = verifier(&[provider, pool, clients, ("COGNITO_TOKEN_USE", "id")]).unwrap();
        assert_eq!(id.validation().audiences(), ["client-a", "client-b"]);
        let summary = config(&[provider, pool, clients]).unwrap().summary();
        assert!(
            summary.starts_with("provider: cognito (user pool us-east-1_AbC123"),
            "{summary}"
        );

        let message = refused(&[provider, clients], "AUTH_COGNITO_USER_POOL_ID", Missing);
        assert!(
            message.contains("is required with AUTH_PROVIDER=cognito"),
            "{message}"
        );
        let message = refused(&[provider, pool], "AUTH_COGNITO_CLIENT_IDS", Missing);
        assert_eq!(
            message,
            "AUTH_COGNITO_CLIENT_IDS is required with AUTH_PROVIDER=cognito (comma list of app client ids)"
        );
        refused(
            &[provider, pool, ("COGNITO_CLIENT_IDS", " , ")],
            "AUTH_COGNITO_CLIENT_IDS",
            Invalid,
        );
        refused(
            &[provider, ("COGNITO_USER_POOL_ID", "not-a-pool"), clients],
            "AUTH_COGNITO_USER_POOL_ID",
            Invalid,
        );
        refused(
            &[provider, pool, clients, ("COGNITO_TOKEN_USE", "both")],
            "AUTH_COGNITO_TOKEN_USE",
            Invalid,
        );
        refused(
            &[
                provider,
                pool,
                clients,
                ("OIDC_ISSUER", "https://idp.example"),
            ],
            "AUTH_OIDC_ISSUER",
            Conflict,
        );
        refused(
            &[provider, pool, clients, ("HS256_SECRET", SECRET)],
            "AUTH_HS256_SECRET",
            Conflict,
        );
        let message = refused(
            &[provider, pool, clients, ("ISSUER", "https://idp.example")],
            "AUTH_ISSUER",
            Conflict,
        );
        assert!(
            message.contains("the issuer is the provider's"),
            "{message}"
        );
        refused(
            &[provider, pool, clients, ("AUDIENCE", "api")],
            "AUTH_AUDIENCE",
            Conflict,
        );
        refused(
            &[provider, pool, clients, ("ALGORITHMS", "HS256")],
            "AUTH_ALGORITHMS",
            Conflict,
        );
        let message = refused(
            &[provider, pool, clients, ("AUTH0_DOMAIN", "x.auth0.com")],
            "AUTH_AUTH0_DOMAIN",
            Conflict,
        );
        assert!(message.contains("AUTH_PROVIDER=cognito"), "{message}");
        refused(
            &[
                provider,
                pool,
                clients,
                ("JWKS_URL", "http://keys.example.com/jwks"),
            ],
            "AUTH_JWKS_URL",
            Invalid,
        );
    }

    #[test]
    fn overrides() {
        let v = verifier(&[
            ("PROVIDER", "cognito"),
            ("COGNITO_USER_POOL_ID", "us-east-1_AbC123"),
            ("COGNITO_CLIENT_IDS", "client-a"),
            ("JWKS_URL", "http://127.0.0.1:9/jwks.json"),
            ("ALGORITHMS", "RS256,ES256"),
            ("ROLES_CLAIM", "custom:roles"),
            ("LEEWAY_SECS", "5"),
        ])
        .unwrap();
        assert_eq!(v.validation().algorithms().len(), 2);
        assert_eq!(roles(&v), ["custom:roles"]);
        assert_eq!(v.validation().leeway(), Duration::from_secs(5));
        // The issuer stays the pool's.
        assert_eq!(
            v.keys().issuer(),
            Some("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123")
        );
        let wrapped = config(&[
            ("PROVIDER", "cognito"),
            ("COGNITO_USER_POOL_ID", "us-east-1_AbC123"),
            ("COGNITO_CLIENT_IDS", "client-a"),
        ])
        .unwrap()
        .configure_keys(|b| b.timeout(Duration::from_secs(1)))
        .build_with_keys(|keys| Arc::new(keys))
        .unwrap();
        assert_eq!(roles(&wrapped), ["cognito:groups"]);
        assert_eq!(wrapped.validation().rules().len(), 2);
        assert!(
            wrapped.token_cache_stats().is_some(),
            "the default token cache"
        );
        // Generic mode: the OIDC binding survives the wrapping.
        let oidc = config(&[("OIDC_ISSUER", "https://idp.example")])
            .unwrap()
            .build_with_keys(|keys| keys)
            .unwrap();
        assert_eq!(oidc.validation().issuers(), ["https://idp.example"]);
        assert!(oidc.token_cache_stats().is_some());
    }

    #[test]
    fn auth0() {
        let provider = ("PROVIDER", "auth0");
        let domain = ("AUTH0_DOMAIN", "my-tenant.us.auth0.com, login.example.com");
        let audience = (
            "AUDIENCE",
            "https://api.example.com,https://other.example.com",
        );
        let v = verifier(&[provider, domain, audience]).unwrap();
        assert_eq!(
            v.validation().issuers(),
            [
                "https://my-tenant.us.auth0.com/",
                "https://login.example.com/"
            ]
        );
        assert_eq!(
            v.validation().audiences(),
            ["https://api.example.com", "https://other.example.com"]
        );
        assert_eq!(roles(&v), ["permissions"]);
        assert_eq!(scopes(&v), ["scope", "scp", "permissions"]);
        refused(&[provider, domain], "AUTH_AUDIENCE", Missing);
        refused(&[provider, audience], "AUTH_AUTH0_DOMAIN", Missing);
        refused(
            &[provider, ("AUTH0_DOMAIN", "not a domain"), audience],
            "AUTH_AUTH0_DOMAIN",
            Invalid,
        );
        refused(
            &[provider, domain, audience, ("FIREBASE_PROJECT_ID", "p")],
            "AUTH_FIREBASE_PROJECT_ID",
            Conflict,
        );
    }

    #[test]
    fn firebase() {
        let provider = ("PROVIDER", "firebase");
        let project = ("FIREBASE_PROJECT_ID", "my-project");
        let v = verifier(&[provider, project, ("JWKS_URL", "http://localhost:9/certs")]).unwrap();
        assert_eq!(
            v.validation().issuers(),
            ["https://securetoken.google.com/my-project"]
        );
        assert_eq!(v.validation().audiences(), ["my-project"]);
        assert_eq!(roles(&v), ["roles"]);
        refused(&[provider], "AUTH_FIREBASE_PROJECT_ID", Missing);
        refused(
            &[provider, ("FIREBASE_PROJECT_ID", "My Project")],
            "AUTH_FIREBASE_PROJECT_ID",
            Invalid,
        );
        refused(
            &[provider, project, ("AUDIENCE", "my-project")],
            "AUTH_AUDIENCE",
            Conflict,
        );
    }

    #[test]
    fn entra() {
        let provider = ("PROVIDER", "entra");
        let audience = (
            "AUDIENCE",
            "api://my-api, 6e74172b-be56-4843-9ff4-e66a39bb12e3",
        );
        let single = verifier(&[provider, ("ENTRA_TENANT", TENANT), audience]).unwrap();
        assert_eq!(single.validation().issuers().len(), 2);
        assert_eq!(single.validation().audiences().len(), 2);
        assert_eq!(roles(&single), ["roles"]);
        let multi = verifier(&[
            provider,
            ("ENTRA_TENANT", "organizations"),
            (
                "ENTRA_ALLOWED_TENANTS",
                &format!("{TENANT}, 00000000-0000-0000-0000-000000000001"),
            ),
            audience,
        ])
        .unwrap();
        assert!(multi.validation().issuers().is_empty());
        assert_eq!(multi.validation().rules().len(), 1);
        verifier(&[
            provider,
            ("ENTRA_TENANT", "common"),
            ("ENTRA_ALLOWED_TENANTS", "*"),
            audience,
        ])
        .unwrap();

        refused(&[provider, audience], "AUTH_ENTRA_TENANT", Missing);
        refused(
            &[provider, ("ENTRA_TENANT", TENANT)],
            "AUTH_AUDIENCE",
            Missing,
        );
        let message = refused(
            &[provider, ("ENTRA_TENANT", "common"), audience],
            "AUTH_ENTRA_ALLOWED_TENANTS",
            Missing,
        );
        assert!(message.contains("or * for every tenant"), "{message}");
        refused(
            &[
                provider,
                ("ENTRA_TENANT", TENANT),
                ("ENTRA_ALLOWED_TENANTS", "*"),
                audience,
            ],
            "AUTH_ENTRA_ALLOWED_TENANTS",
            Conflict,
        );
        refused(
            &[
                provider,
                ("ENTRA_TENANT", "common"),
                ("ENTRA_ALLOWED_TENANTS", "*, abc"),
                audience,
            ],
            "AUTH_ENTRA_ALLOWED_TENANTS",
            Invalid,
        );
        refused(
            &[
                provider,
                ("ENTRA_TENANT", "common"),
                ("ENTRA_ALLOWED_TENANTS", "contoso.com"),
                audience,
            ],
            "AUTH_ENTRA_ALLOWED_TENANTS",
            Invalid,
        );
        let message = refused(
            &[
                provider,
                ("ENTRA_TENANT", "contoso.onmicrosoft.com"),
                audience,
            ],
            "AUTH_ENTRA_TENANT",
            Invalid,
        );
        assert!(message.contains("organizations / common"), "{message}");
    }

    #[test]
    fn keycloak() {
        let provider = ("PROVIDER", "keycloak");
        let url = ("KEYCLOAK_URL", "https://sso.example.com/");
        let realm = ("KEYCLOAK_REALM", "acme");
        let client = ("KEYCLOAK_CLIENT_ID", "orders-api");
        let v = verifier(&[provider, url, realm, client]).unwrap();
        assert_eq!(
            v.validation().issuers(),
            ["https://sso.example.com/realms/acme"]
        );
        assert_eq!(
            roles(&v),
            ["realm_access.roles", "resource_access.orders-api.roles"]
        );
        assert!(v.validation().accepts_any_audience()); // decided by the aud-or-azp rule
        verifier(&[
            provider,
            ("KEYCLOAK_URL", "http://127.0.0.1:8080"),
            realm,
            client,
            ("AUDIENCE", "account"),
        ])
        .unwrap();
        refused(&[provider, realm, client], "AUTH_KEYCLOAK_URL", Missing);
        refused(&[provider, url, client], "AUTH_KEYCLOAK_REALM", Missing);
        refused(&[provider, url, realm], "AUTH_KEYCLOAK_CLIENT_ID", Missing);
        let message = refused(
            &[
                provider,
                ("KEYCLOAK_URL", "http://sso.example.com"),
                realm,
                client,
            ],
            "AUTH_KEYCLOAK_URL",
            Invalid,
        );
        assert!(message.contains("loopback"), "{message}");
        refused(
            &[provider, url, ("KEYCLOAK_REALM", "a/b"), client],
            "AUTH_KEYCLOAK_REALM",
            Invalid,
        );
    }

    #[test]
    fn google() {
        let provider = ("PROVIDER", "google");
        let clients = ("GOOGLE_CLIENT_IDS", "1234-abc.apps.googleusercontent.com");
        let v = verifier(&[provider, clients, ("GOOGLE_HOSTED_DOMAIN", "example.com")]).unwrap();
        assert_eq!(
            v.validation().issuers(),
            ["https://accounts.google.com", "accounts.google.com"]
        );
        assert_eq!(v.validation().rules().len(), 1);
        assert!(roles(&v).is_empty());
        assert!(
            verifier(&[provider, clients])
                .unwrap()
                .validation()
                .rules()
                .is_empty()
        );
        refused(&[provider], "AUTH_GOOGLE_CLIENT_IDS", Missing);
        refused(
            &[provider, clients, ("AUDIENCE", "x")],
            "AUTH_AUDIENCE",
            Conflict,
        );
        refused(
            &[provider, clients, ("OKTA_ISSUER", "https://x.okta.com")],
            "AUTH_OKTA_ISSUER",
            Conflict,
        );
    }

    #[test]
    fn okta() {
        let provider = ("PROVIDER", "okta");
        let issuer = ("OKTA_ISSUER", "https://example.okta.com/oauth2/default");
        let v = verifier(&[provider, issuer]).unwrap();
        assert_eq!(
            v.validation().issuers(),
            ["https://example.okta.com/oauth2/default"]
        );
        assert_eq!(v.validation().audiences(), ["api://default"]);
        assert_eq!(roles(&v), ["groups"]);
        let custom = verifier(&[provider, issuer, ("AUDIENCE", "api://orders")]).unwrap();
        assert_eq!(custom.validation().audiences(), ["api://orders"]);
        refused(&[provider], "AUTH_OKTA_ISSUER", Missing);
        refused(
            &[
                provider,
                ("OKTA_ISSUER", "http://example.okta.com/oauth2/default"),
            ],
            "AUTH_OKTA_ISSUER",
            Invalid,
        );
        refused(
            &[provider, ("OKTA_ISSUER", "https://example.okta.com/x?y=1")],
            "AUTH_OKTA_ISSUER",
            Invalid,
        );
    }

    #[test]
    fn dpop_settings() {
        let secret = ("HS256_SECRET", SECRET);
        let off = config(&[secret]).unwrap();
        assert_eq!(off.dpop(), &DpopSettings::default());
        assert_eq!(off.dpop().mode(), DpopMode::Off);
        assert!(off.build_dpop().unwrap().is_none());
        assert!(!off.summary().contains("dpop"));
        // Explicitly off, and a public URL that is not needed: accepted (and still checked).
        let quiet = config(&[
            secret,
            ("DPOP", "off"),
            ("PUBLIC_URL", "http://127.0.0.1:8080"),
        ])
        .unwrap();
        assert!(quiet.build_dpop().unwrap().is_none());

        let url = ("PUBLIC_URL", "http://127.0.0.1:8080");
        for (value, mode) in [
            ("allowed", DpopMode::Allowed),
            (" Required ", DpopMode::Required),
        ] {
            let parsed = config(&[secret, ("DPOP", value), url]).unwrap();
            assert_eq!(parsed.dpop().mode(), mode);
            assert_eq!(parsed.dpop().public_url(), Some("http://127.0.0.1:8080"));
            assert!(!parsed.dpop().nonces());
            let dpop = parsed.build_dpop().unwrap().unwrap();
            assert_eq!(dpop.algorithms(), DPOP_PROOF_ALGORITHMS);
            assert_eq!(dpop.algs_challenge(), "ES256 RS256 PS256 EdDSA");
            assert_eq!(dpop.public_url(), "http://127.0.0.1:8080");
            assert!(!dpop.nonces_enabled());
            assert!(dpop.current_nonce().is_none());
            assert!(
                parsed
                    .summary()
                    .contains(" at http://127.0.0.1:8080, proofs ES256 RS256 PS256 EdDSA"),
                "{}",
                parsed.summary()
            );
        }
        let required = config(&[secret, ("DPOP", "required"), url]).unwrap();
        assert!(
            required.summary().ends_with(
                "leeway: 0 s; dpop: required (DPoP only) at http://127.0.0.1:8080, proofs ES256 \
                 RS256 PS256 EdDSA"
            ),
            "{}",
            required.summary()
        );
        // A lone trailing slash is the same origin.
        let slash = config(&[
            secret,
            ("DPOP", "allowed"),
            ("PUBLIC_URL", "https://api.example/"),
        ])
        .unwrap();
        assert_eq!(slash.dpop().public_url(), Some("https://api.example"));

        for on in ["1", "true", "ON"] {
            let nonces = config(&[secret, ("DPOP", "required"), url, ("DPOP_NONCE", on)]).unwrap();
            assert!(nonces.dpop().nonces());
            assert!(
                nonces.summary().ends_with(", nonces"),
                "{}",
                nonces.summary()
            );
            let dpop = nonces.build_dpop().unwrap().unwrap();
            assert!(dpop.nonces_enabled());
            assert!(dpop.current_nonce().is_some_and(|n| !n.is_empty()));
        }
        let no_nonces = config(&[secret, ("DPOP", "required"), url, ("DPOP_NONCE", "0")]).unwrap();
        assert!(!no_nonces.dpop().nonces());
        // Off with nonces explicitly off is fine; on is a contradiction.
        assert!(config(&[secret, ("DPOP_NONCE", "0")]).is_ok());
        // With a provider too.
        let okta = config(&[
            ("PROVIDER", "okta"),
            ("OKTA_ISSUER", "https://example.okta.com/oauth2/default"),
            ("DPOP", "allowed"),
            url,
        ])
        .unwrap();
        assert!(
            okta.summary()
                .contains("; dpop: allowed (Bearer or DPoP) at ")
        );
        assert!(okta.build_dpop().unwrap().is_some());
    }

    #[test]
    fn dpop_errors() {
        let secret = ("HS256_SECRET", SECRET);
        let url = ("PUBLIC_URL", "http://127.0.0.1:8080");
        for bad in ["on", "yes", "dpop", "bearer", "required,allowed"] {
            let message = refused(&[secret, ("DPOP", bad), url], "AUTH_DPOP", Invalid);
            assert!(message.contains("is not a DPoP mode"), "{message}");
        }
        for mode in ["allowed", "required"] {
            let message = refused(&[secret, ("DPOP", mode)], "AUTH_PUBLIC_URL", Missing);
            assert!(
                message.starts_with(&format!(
                    "AUTH_PUBLIC_URL is required with AUTH_DPOP={mode}"
                )),
                "{message}"
            );
            // Empty counts as unset.
            refused(
                &[secret, ("DPOP", mode), ("PUBLIC_URL", "")],
                "AUTH_PUBLIC_URL",
                Missing,
            );
        }
        let dpop = ("DPOP", "required");
        for bad in [
            "http://127.0.0.1:8080/api",
            "http://127.0.0.1:8080//",
            "https://api.example/v1/",
            "https://api.example?x=1",
            "https://api.example/#frag",
        ] {
            let message = refused(
                &[secret, dpop, ("PUBLIC_URL", bad)],
                "AUTH_PUBLIC_URL",
                Invalid,
            );
            assert!(message.contains("origin only"), "{bad}: {message}");
        }
        for bad in [
            "ftp://api.example",
            "api.example",
            "127.0.0.1:8080",
            "file:///x",
        ] {
            let message = refused(
                &[secret, dpop, ("PUBLIC_URL", bad)],
                "AUTH_PUBLIC_URL",
                Invalid,
            );
            assert!(
                message.contains("not an http or https URL"),
                "{bad}: {message}"
            );
        }
        // What the verifier itself refuses (no host, userinfo) is reported under the variable.
        for bad in ["https://", "https://user@api.example"] {
            refused(
                &[secret, dpop, ("PUBLIC_URL", bad)],
                "AUTH_PUBLIC_URL",
                Invalid,
            );
        }
        // Checked even when DPoP is off.
        refused(
            &[secret, ("PUBLIC_URL", "ftp://x")],
            "AUTH_PUBLIC_URL",
            Invalid,
        );
        for bad in ["2", "maybe", "required"] {
            let message = refused(
                &[secret, dpop, url, ("DPOP_NONCE", bad)],
                "AUTH_DPOP_NONCE",
                Invalid,
            );
            assert!(message.contains("is not 1"), "{message}");
        }
        let message = refused(&[secret, ("DPOP_NONCE", "1")], "AUTH_DPOP_NONCE", Conflict);
        assert!(message.contains("DPoP is off"), "{message}");
        refused(
            &[secret, ("DPOP", "off"), url, ("DPOP_NONCE", "1")],
            "AUTH_DPOP_NONCE",
            Conflict,
        );
        // Another prefix names its own variables.
        let err = AuthConfig::from_vars(
            "TOLLGATE_",
            &vars("TOLLGATE_", &[secret, ("DPOP", "required")]),
        )
        .unwrap_err();
        assert_eq!(err.variable(), "TOLLGATE_PUBLIC_URL");
        assert!(err.to_string().contains("TOLLGATE_DPOP=required"), "{err}");
    }

    #[test]
    fn prefix_is_in_every_message() {
        let err = AuthConfig::from_vars(
            "TOLLGATE_",
            &vars(
                "TOLLGATE_",
                &[("PROVIDER", "auth0"), ("AUTH0_DOMAIN", "t.auth0.com")],
            ),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "TOLLGATE_AUDIENCE is required with TOLLGATE_PROVIDER=auth0 (the API identifier, e.g. https://api.example.com)"
        );
    }

    #[test]
    fn revocation_settings() {
        let secret = ("HS256_SECRET", SECRET);
        let off = config(&[secret]).unwrap();
        assert!(off.revocation().is_none());
        assert!(!off.summary().contains("revocation"));
        use tollgate_test_support::redis::{BAD_URLS, GOOD_URLS, TLS_URLS};
        // The table tollgate-redis's parser is tested with too; plus surrounding spaces, which
        // an environment variable may carry.
        let spaced = [(
            " redis://cache.internal:6380/3 ",
            "redis://cache.internal:6380/3",
        )];
        // TLS URLs too: the library connects over rediss:// (only `tollgate serve` narrows its
        // contract to redis://).
        for (url, shown) in GOOD_URLS.into_iter().chain(TLS_URLS).chain(spaced) {
            let parsed = config(&[secret, ("REVOCATION_REDIS_URL", url)]).unwrap();
            let settings = parsed.revocation().unwrap();
            assert_eq!(settings.redis_url(), url.trim());
            assert_eq!(settings.shown_url(), shown, "{url}");
            assert_eq!(settings.tls(), url.trim().starts_with("rediss://"), "{url}");
            assert_eq!(settings.failure_mode(), FailureMode::FailClosed);
            assert!(
                parsed
                    .summary()
                    .ends_with(&format!("; revocation: {shown} (fail closed)")),
                "{}",
                parsed.summary()
            );
            assert!(!format!("{parsed:?} {}", parsed.summary()).contains("hunter2"));
        }
        let url = ("REVOCATION_REDIS_URL", "redis://127.0.0.1:6379");
        for on in ["1", "true", " ON "] {
            let open = config(&[secret, url, ("REVOCATION_FAIL_OPEN", on)]).unwrap();
            assert_eq!(
                open.revocation().unwrap().failure_mode(),
                FailureMode::FailOpen
            );
            assert!(open.summary().ends_with("(fail open)"));
        }
        let closed = config(&[secret, url, ("REVOCATION_FAIL_OPEN", "0")]).unwrap();
        assert_eq!(
            closed.revocation().unwrap().failure_mode(),
            FailureMode::FailClosed
        );

        for bad in BAD_URLS {
            let message = refused(
                &[secret, ("REVOCATION_REDIS_URL", bad)],
                "AUTH_REVOCATION_REDIS_URL",
                ConfigVarErrorKind::Invalid,
            );
            assert!(!message.contains("hunter2"), "{message}");
        }
        let long = format!("redis://{}", "h".repeat(3000));
        refused(
            &[secret, ("REVOCATION_REDIS_URL", &long)],
            "AUTH_REVOCATION_REDIS_URL",
            ConfigVarErrorKind::Invalid,
        );
        let message = refused(
            &[secret, ("REVOCATION_FAIL_OPEN", "1")],
            "AUTH_REVOCATION_FAIL_OPEN",
            ConfigVarErrorKind::Conflict,
        );
        assert!(
            message.contains("AUTH_REVOCATION_REDIS_URL is not"),
            "{message}"
        );
        // Set to 0 without the URL: still a sign of a half-done setup.
        refused(
            &[secret, ("REVOCATION_FAIL_OPEN", "0")],
            "AUTH_REVOCATION_FAIL_OPEN",
            ConfigVarErrorKind::Conflict,
        );
        refused(
            &[secret, url, ("REVOCATION_FAIL_OPEN", "maybe")],
            "AUTH_REVOCATION_FAIL_OPEN",
            ConfigVarErrorKind::Invalid,
        );
        let names = variable_names("TOLLGATE_");
        assert!(names.contains(&"TOLLGATE_REVOCATION_REDIS_URL".to_owned()));
        assert!(names.contains(&"TOLLGATE_REVOCATION_FAIL_OPEN".to_owned()));
    }

    #[test]
    fn build_hooks_add_a_revocation_check() {
        use crate::revocation::RevocationList;
        let parsed = config(&[("HS256_SECRET", SECRET)]).unwrap();
        let revoked = RevocationList::new();
        let built = parsed
            .build_parts_with(|b| b.revocation(revoked.clone(), FailureMode::FailClosed))
            .unwrap();
        let wrapped = parsed
            .build_with(
                |keys| keys,
                |b| b.revocation(revoked.clone(), FailureMode::FailClosed),
            )
            .unwrap();
        // HS256 under SECRET: sub "user-1", no iat, exp 4102444800 (as VerifierBuilder::revocation's
        // doctest).
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlLmNvbSIsImF1ZCI6Im15LWFwaSIsInN1YiI6InVzZXItMSIsImV4cCI6NDEwMjQ0NDgwMH0.1YFUOF9s-hTXa0XGtoQTwyKGVH3FIdXNiQiiFrX4Upw";
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for verifier in [&built.verifier, &wrapped] {
            assert!(rt.block_on(verifier.verify(token)).is_ok());
        }
        revoked.revoke_subject("user-1", 1_700_000_000);
        for verifier in [&built.verifier, &wrapped] {
            let err = rt.block_on(verifier.verify(token)).unwrap_err();
            assert!(matches!(err, crate::Error::Revoked(_)), "{err:?}");
        }
        // Without the hook: no check.
        assert!(rt.block_on(parsed.build().unwrap().verify(token)).is_ok());
    }
}
