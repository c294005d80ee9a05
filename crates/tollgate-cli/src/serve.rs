//! `tollgate serve`: the protected API, configured only by environment variables.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use tollgate::core::remote::{JwksSource, OidcSource};
use tollgate::core::{
    Algorithm, ClaimPath, CryptoProvider, KeyError, KeySet, MAX_LEEWAY, Validation,
    VerificationKey, Verifier,
};

use crate::Failure;

pub(crate) const LONG_ABOUT: &str = "\
Run the protected API, configured only by environment variables (an empty variable counts as unset):

  variable           meaning                                            default
  BIND               host:port to listen on                             127.0.0.1:8080
  AUTH_JWKS_URL      JWKS URL (remote key source)                       -
  AUTH_OIDC_ISSUER   issuer for OIDC discovery (instead of a JWKS URL)  -
  AUTH_HS256_SECRET  shared secret; HS256 instead of JWKS               -
  AUTH_ISSUER        required iss (comma list allowed)                  not checked
  AUTH_AUDIENCE      required aud (comma list allowed)                  not checked
  AUTH_ALGORITHMS    comma list of accepted algorithms                  RS256 (HS256 with a secret)
  AUTH_ROLES_CLAIM   dotted path to the roles array                     roles
  AUTH_LEEWAY_SECS   exp/nbf leeway in seconds                          0

Exactly one of AUTH_JWKS_URL, AUTH_OIDC_ISSUER and AUTH_HS256_SECRET must be set. Keys are fetched
on first use, so the API starts even when the key server is down (requests get 503 until it is up).

Routes: GET /public and /healthz (no token); GET /me (JSON with sub, roles, scopes, iss, aud, exp);
GET /admin (role `admin`, else 403 insufficient_scope). Failures are RFC 6750 answers.
A bad configuration exits with code 2 and a one-line reason. Logs go to stderr (RUST_LOG).";

/// Every variable `serve` reads.
pub(crate) const VARIABLES: [&str; 9] = [
    "BIND",
    "AUTH_JWKS_URL",
    "AUTH_OIDC_ISSUER",
    "AUTH_HS256_SECRET",
    "AUTH_ISSUER",
    "AUTH_AUDIENCE",
    "AUTH_ALGORITHMS",
    "AUTH_ROLES_CLAIM",
    "AUTH_LEEWAY_SECS",
];

const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// Where verification keys come from.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum KeySourceConfig {
    /// A JWK Set URL.
    Jwks(String),
    /// An OpenID Connect issuer, whose `jwks_uri` is discovered.
    Oidc(String),
    /// A shared HMAC secret.
    Secret(Vec<u8>),
}

/// Never shows the secret.
impl std::fmt::Debug for KeySourceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl KeySourceConfig {
    fn variable(&self) -> &'static str {
        match self {
            KeySourceConfig::Jwks(_) => "AUTH_JWKS_URL",
            KeySourceConfig::Oidc(_) => "AUTH_OIDC_ISSUER",
            KeySourceConfig::Secret(_) => "AUTH_HS256_SECRET",
        }
    }

    /// For logs: the URL, never the secret.
    fn describe(&self) -> String {
        match self {
            KeySourceConfig::Jwks(url) => format!("JWKS {url}"),
            KeySourceConfig::Oidc(issuer) => format!("OIDC discovery for {issuer}"),
            KeySourceConfig::Secret(secret) => format!("HS256 secret ({} bytes)", secret.len()),
        }
    }
}

/// The API's configuration: the verification policy, its keys, and where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiConfig {
    pub(crate) bind: SocketAddr,
    pub(crate) source: KeySourceConfig,
    pub(crate) issuers: Vec<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) roles_claim: ClaimPath,
    pub(crate) leeway_secs: u64,
}

fn comma_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn known_algorithms() -> String {
    Algorithm::ALL.map(Algorithm::as_str).join(", ")
}

/// `host:port` (an IP address, or a name such as `localhost`) to one socket address.
pub(crate) fn parse_bind(value: &str, what: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let wrong =
        || format!("{what}={value:?} is not host:port (e.g. 127.0.0.1:8080 or 0.0.0.0:8080)");
    match value.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => value
            .to_socket_addrs()
            .map_err(|e| format!("{what}={value:?}: cannot resolve {host:?}: {e}"))?
            .next()
            .ok_or_else(wrong),
        _ => Err(wrong()),
    }
}

fn parse_algorithms(value: &str) -> Result<Vec<Algorithm>, String> {
    let mut algorithms = Vec::new();
    for name in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let alg = Algorithm::from_name(name).ok_or_else(|| {
            format!(
                "AUTH_ALGORITHMS: unknown algorithm {name:?} (known, case-sensitive: {})",
                known_algorithms()
            )
        })?;
        if !algorithms.contains(&alg) {
            algorithms.push(alg);
        }
    }
    if algorithms.is_empty() {
        return Err(format!(
            "AUTH_ALGORITHMS={value:?} names no algorithm (e.g. RS256 or RS256,ES256)"
        ));
    }
    Ok(algorithms)
}

impl ApiConfig {
    /// Reads the configuration from `vars` (variable name to value; empty values count as
    /// unset). The error is one line naming the variable at fault.
    pub(crate) fn from_vars(vars: &HashMap<String, String>) -> Result<ApiConfig, String> {
        let get = |name: &str| vars.get(name).map(String::as_str).filter(|v| !v.is_empty());

        let bind = parse_bind(get("BIND").unwrap_or(DEFAULT_BIND), "BIND")?;

        let mut sources = Vec::new();
        if let Some(url) = get("AUTH_JWKS_URL") {
            sources.push(KeySourceConfig::Jwks(url.trim().to_owned()));
        }
        if let Some(issuer) = get("AUTH_OIDC_ISSUER") {
            sources.push(KeySourceConfig::Oidc(issuer.trim().to_owned()));
        }
        if let Some(secret) = get("AUTH_HS256_SECRET") {
            sources.push(KeySourceConfig::Secret(secret.as_bytes().to_vec()));
        }
        let source = match sources.len() {
            0 => {
                return Err(
                    "no key source: set exactly one of AUTH_JWKS_URL, AUTH_OIDC_ISSUER \
                            or AUTH_HS256_SECRET"
                        .into(),
                );
            }
            1 => sources.remove(0),
            _ => {
                let names: Vec<&str> = sources.iter().map(KeySourceConfig::variable).collect();
                let verb = if names.len() == 2 { "both" } else { "all" };
                return Err(format!(
                    "conflicting key sources: {} are {verb} set; set exactly one",
                    names.join(" and ")
                ));
            }
        };

        let algorithms = match get("AUTH_ALGORITHMS") {
            Some(value) => parse_algorithms(value)?,
            None if matches!(source, KeySourceConfig::Secret(_)) => vec![Algorithm::HS256],
            None => vec![Algorithm::RS256],
        };
        check_algorithms(&source, &algorithms)?;

        let issuers = get("AUTH_ISSUER").map(comma_list).unwrap_or_default();
        let audiences = get("AUTH_AUDIENCE").map(comma_list).unwrap_or_default();

        let roles_claim = match get("AUTH_ROLES_CLAIM") {
            Some(path) => ClaimPath::new(path).map_err(|_| {
                format!(
                    "AUTH_ROLES_CLAIM={path:?} is not a dotted claim path (e.g. roles or \
                     realm_access.roles)"
                )
            })?,
            None => ClaimPath::default(),
        };

        let leeway_secs = match get("AUTH_LEEWAY_SECS") {
            Some(value) => {
                let secs = value.trim().parse::<u64>().map_err(|_| {
                    format!("AUTH_LEEWAY_SECS={value:?} is not a whole number of seconds")
                })?;
                if secs > MAX_LEEWAY.as_secs() {
                    return Err(format!(
                        "AUTH_LEEWAY_SECS={secs} is too large (at most {} s)",
                        MAX_LEEWAY.as_secs()
                    ));
                }
                secs
            }
            None => 0,
        };

        let config = ApiConfig {
            bind,
            source,
            issuers,
            audiences,
            algorithms,
            roles_claim,
            leeway_secs,
        };
        // Surface every remaining problem (URLs, secret length) now rather than at run time.
        config.verifier()?;
        Ok(config)
    }

    /// The verification policy.
    pub(crate) fn validation(&self) -> Result<Validation, String> {
        Validation::builder(self.algorithms.iter().copied())
            .issuers(self.issuers.iter().cloned())
            .audiences(self.audiences.iter().cloned())
            .leeway(Duration::from_secs(self.leeway_secs))
            .build()
            .map_err(|e| format!("invalid policy: {e}"))
    }

    /// The verifier: policy plus keys. Remote keys are fetched on first use (never here).
    pub(crate) fn verifier(&self) -> Result<Verifier, String> {
        self.build().map(|(verifier, _)| verifier)
    }

    /// The verifier, and the JWKS source when keys come from `AUTH_JWKS_URL`.
    fn build(&self) -> Result<(Verifier, Option<JwksSource>), String> {
        let validation = self.validation()?;
        let crypto = CryptoProvider::default();
        Ok(match &self.source {
            KeySourceConfig::Jwks(url) => {
                let source = jwks_source(url)?;
                (
                    Verifier::new(validation, source.clone(), crypto),
                    Some(source),
                )
            }
            KeySourceConfig::Oidc(issuer) => {
                let source = OidcSource::builder(issuer.clone())
                    .jwks(|jwks| jwks.retry_backoff(RETRY_MIN, RETRY_MAX))
                    .lazy()
                    .map_err(|e| format!("AUTH_OIDC_ISSUER: {e}"))?;
                (Verifier::new(validation, source, crypto), None)
            }
            KeySourceConfig::Secret(secret) => {
                let key = VerificationKey::hmac(secret).map_err(|e| match e {
                    KeyError::SecretTooShort { len, min } => format!(
                        "AUTH_HS256_SECRET is {len} bytes; at least {min} are required \
                         (e.g. `openssl rand -base64 32`)"
                    ),
                    other => format!("AUTH_HS256_SECRET: {other}"),
                })?;
                for alg in &self.algorithms {
                    key.permits(*alg)
                        .map_err(|why| format!("AUTH_HS256_SECRET cannot verify {alg}: {why}"))?;
                }
                (Verifier::new(validation, KeySet::from(key), crypto), None)
            }
        })
    }

    /// One line for the start-up log.
    fn summary(&self) -> String {
        let list = |values: &[String]| {
            if values.is_empty() {
                "not checked".to_owned()
            } else {
                values.join(", ")
            }
        };
        let algorithms: Vec<&str> = self.algorithms.iter().map(|a| a.as_str()).collect();
        format!(
            "keys: {}; algorithms: {}; iss: {}; aud: {}; roles claim: {}; leeway: {} s",
            self.source.describe(),
            algorithms.join(", "),
            list(&self.issuers),
            list(&self.audiences),
            self.roles_claim,
            self.leeway_secs
        )
    }
}

/// First retry delay after a failed key fetch; doubles up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);

fn jwks_source(url: &str) -> Result<JwksSource, String> {
    JwksSource::builder(url)
        .retry_backoff(RETRY_MIN, RETRY_MAX)
        .build()
        .map_err(|e| format!("AUTH_JWKS_URL: {e}"))
}

/// Symmetric algorithms need the secret, asymmetric ones public keys.
fn check_algorithms(source: &KeySourceConfig, algorithms: &[Algorithm]) -> Result<(), String> {
    for alg in algorithms {
        match source {
            KeySourceConfig::Secret(_) if !alg.is_symmetric() => {
                return Err(format!(
                    "AUTH_ALGORITHMS: {alg} cannot be verified with AUTH_HS256_SECRET (a shared \
                     secret verifies HS256, HS384 or HS512; use AUTH_JWKS_URL or \
                     AUTH_OIDC_ISSUER for {alg})"
                ));
            }
            KeySourceConfig::Jwks(_) | KeySourceConfig::Oidc(_) if alg.is_symmetric() => {
                return Err(format!(
                    "AUTH_ALGORITHMS: {alg} needs a shared secret (AUTH_HS256_SECRET); {} \
                     provides public keys only",
                    source.variable()
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The process environment's `serve` variables; a non-UTF-8 value is an error.
fn environment() -> Result<HashMap<String, String>, String> {
    let mut vars = HashMap::new();
    for name in VARIABLES {
        if let Some(value) = std::env::var_os(name) {
            let value = value
                .into_string()
                .map_err(|_| format!("{name} is not valid UTF-8"))?;
            vars.insert(name.to_owned(), value);
        }
    }
    Ok(vars)
}

/// Variables that look like ours but are not read (typos such as `AUTH_AUDIENCES`).
fn unknown_variables() -> Vec<String> {
    std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| name.starts_with("AUTH_") && !VARIABLES.contains(&name.as_str()))
        .collect()
}

pub(crate) fn run() -> Result<(), Failure> {
    let config = environment()
        .and_then(|vars| ApiConfig::from_vars(&vars))
        .map_err(Failure::config)?;
    let runtime = crate::runtime()?;
    crate::init_logging("info");
    runtime.block_on(async move {
        for name in unknown_variables() {
            tracing::warn!("{name} is not a tollgate variable and is ignored");
        }
        let (verifier, jwks) = config.build().map_err(Failure::config)?;
        // Refresh ahead of expiry (and retry with backoff while the key server is down), so
        // requests rarely wait for a fetch. The task ends with the source.
        let _refresh = jwks.map(|source| source.spawn_background_refresh());
        let app = crate::api::router(verifier, &config.roles_claim).map_err(Failure::config)?;
        let listener = crate::api::bind(config.bind)
            .await
            .map_err(|e| Failure::runtime(format!("BIND: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Failure::runtime(format!("BIND: {e}")))?;
        tracing::info!("{}", config.summary());
        println!("tollgate serve: listening on http://{addr}");
        crate::api::serve(listener, app)
            .await
            .map_err(Failure::runtime)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<ApiConfig, String> {
        let vars = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ApiConfig::from_vars(&vars)
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn defaults() {
        let jwks = config(&[("AUTH_JWKS_URL", "https://idp.example/jwks")]).unwrap();
        assert_eq!(jwks.bind, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(jwks.algorithms, [Algorithm::RS256]);
        assert!(jwks.issuers.is_empty() && jwks.audiences.is_empty());
        assert_eq!(jwks.roles_claim.as_str(), "roles");
        assert_eq!(jwks.leeway_secs, 0);
        let secret = config(&[("AUTH_HS256_SECRET", SECRET)]).unwrap();
        assert_eq!(secret.algorithms, [Algorithm::HS256]);
        assert_eq!(
            secret.source,
            KeySourceConfig::Secret(SECRET.as_bytes().to_vec())
        );
    }

    #[test]
    fn lists_and_empty_values() {
        let parsed = config(&[
            ("AUTH_OIDC_ISSUER", "https://idp.example"),
            ("AUTH_JWKS_URL", ""),
            ("BIND", "localhost:0"),
            ("AUTH_ISSUER", " https://a.example ,https://b.example,"),
            ("AUTH_AUDIENCE", "api"),
            ("AUTH_ALGORITHMS", "ES256, RS256,ES256"),
            ("AUTH_ROLES_CLAIM", ""),
            ("AUTH_LEEWAY_SECS", "600"),
        ])
        .unwrap();
        assert_eq!(
            parsed.source,
            KeySourceConfig::Oidc("https://idp.example".into())
        );
        assert!(parsed.bind.ip().is_loopback());
        assert_eq!(parsed.issuers, ["https://a.example", "https://b.example"]);
        assert_eq!(parsed.audiences, ["api"]);
        assert_eq!(parsed.algorithms, [Algorithm::ES256, Algorithm::RS256]);
        assert_eq!(parsed.roles_claim.as_str(), "roles");
        assert_eq!(parsed.leeway_secs, 600);
        assert!(
            parsed
                .summary()
                .contains("iss: https://a.example, https://b.example")
        );
    }

    #[test]
    fn secrets_are_never_shown() {
        let parsed = config(&[("AUTH_HS256_SECRET", SECRET)]).unwrap();
        assert!(!parsed.summary().contains(SECRET));
        assert!(!format!("{parsed:?}").contains(SECRET));
        let err = config(&[("AUTH_HS256_SECRET", "short-secret")]).unwrap_err();
        assert!(!err.contains("short-secret"), "{err}");
    }
}
