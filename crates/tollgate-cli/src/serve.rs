//! `tollgate serve`: the protected API, configured only by environment variables.
//!
//! The verifier's variables (`AUTH_*`) are read by [`tollgate::core::config::AuthConfig`], the
//! parser the Lambda and Azure examples share; `BIND` is `serve`'s own.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use tollgate::core::config::{AuthConfig, variable_names};
use tollgate::core::dpop::DpopMode;
use tollgate::core::revocation::FailureMode;
use tollgate_redis::{RedisReplayStore, RedisRevocations, ReplayOptions, RevocationOptions};

use crate::Failure;

pub(crate) const LONG_ABOUT: &str = "\
Run the protected API, configured only by environment variables (an empty variable counts as unset;
lists are comma-separated):

  variable                    meaning                                          default
  BIND                        host:port to listen on                           127.0.0.1:8080
  AUTH_PROVIDER               cognito, auth0, firebase, entra, keycloak,       unset: the generic
                              google or okta (a provider preset)               variables below
generic (AUTH_PROVIDER unset): exactly one of AUTH_JWKS_URL, AUTH_OIDC_ISSUER, AUTH_HS256_SECRET
  AUTH_JWKS_URL               JWKS URL (remote key source)                     -
  AUTH_OIDC_ISSUER            issuer for OIDC discovery; iss must equal it     -
  AUTH_HS256_SECRET           shared secret; HS256 instead of JWKS             -
  AUTH_ISSUER                 required iss (list; replaces the OIDC issuer)    not checked (with
                                                                               OIDC: its issuer)
  AUTH_AUDIENCE               required aud (list)                              not checked
providers (each variable required unless a default is shown):
  cognito   AUTH_COGNITO_USER_POOL_ID (us-east-1_AbC123), AUTH_COGNITO_CLIENT_IDS (list),
            AUTH_COGNITO_TOKEN_USE (access or id; default access)
  auth0     AUTH_AUTH0_DOMAIN (tenant.us.auth0.com; list with custom domains), AUTH_AUDIENCE
  firebase  AUTH_FIREBASE_PROJECT_ID
  entra     AUTH_ENTRA_TENANT (tenant id, or organizations / common for multi-tenant),
            AUTH_ENTRA_ALLOWED_TENANTS (multi-tenant only: tenant ids, or *), AUTH_AUDIENCE (list)
  keycloak  AUTH_KEYCLOAK_URL (base URL), AUTH_KEYCLOAK_REALM, AUTH_KEYCLOAK_CLIENT_ID,
            AUTH_AUDIENCE (default: the client id, or azp)
  google    AUTH_GOOGLE_CLIENT_IDS (list), AUTH_GOOGLE_HOSTED_DOMAIN (hd; default not checked)
  okta      AUTH_OKTA_ISSUER (https://<org>.okta.com/oauth2/<server>), AUTH_AUDIENCE
            (default api://default)
  The issuer is the provider's (AUTH_ISSUER, AUTH_OIDC_ISSUER and AUTH_HS256_SECRET are refused);
  AUTH_JWKS_URL replaces only where its keys are fetched, in its own format (Firebase: the x509
  certificate map). Roles: cognito:groups, permissions (Auth0), roles (Firebase, Entra), realm plus
  client roles (Keycloak), none (Google), groups (Okta). Scopes: scope and scp (Auth0: and
  permissions).
overrides (any mode):
  AUTH_ALGORITHMS             accepted algorithms (list)                       RS256 (HS256 with a
                                                                               secret; a provider's)
  AUTH_ROLES_CLAIM            claim path of the roles (realm_access.roles,     roles (a provider's)
                              cognito:groups, https://example.com/roles)
  AUTH_LEEWAY_SECS            exp/nbf leeway in seconds (at most 600)          0 (a provider: 60)
DPoP (RFC 9449: tokens bound to a client key, `Authorization: DPoP <token>` plus a `DPoP` proof):
  AUTH_DPOP                   off (Bearer only), allowed (Bearer or DPoP) or   off
                              required (DPoP only)
  AUTH_PUBLIC_URL             the external origin clients call,                required unless
                              scheme://host[:port] (http or https, no path):   AUTH_DPOP=off
                              a proof's htu must be it plus the request path
  AUTH_DPOP_NONCE             1: server nonces (a proof without a current      0
                              nonce gets use_dpop_nonce and a DPoP-Nonce)
  Proofs are signed with ES256, RS256, PS256 or EdDSA (not AUTH_ALGORITHMS: that is the issuer's
  list), raw r||s for ES256, iat at most 300 s old and 60 s ahead, each jti once. A token with
  cnf.jkt is refused as Bearer in every mode, off included.
revocation (written by `tollgate revoke`, listed by `tollgate revoked`; any number of instances):
  AUTH_REVOCATION_REDIS_URL   redis://[[user]:password@]host[:port][/db]       off
                              (no TLS); with DPoP on, the proof replay store
                              moves there too (a proof is accepted once across
                              every instance)
  AUTH_REVOCATION_FAIL_OPEN   1: accept tokens while Redis is unreachable      0 (refuse: 503)
                              (logged); needs AUTH_REVOCATION_REDIS_URL
  Each instance mirrors the revocations in memory (no Redis round trip per request) and follows
  changes over pub/sub: a revocation applies within 1 s of `tollgate revoke` exiting. Redis
  unreachable (at start too) is an outage, not a configuration error: requests with a valid token
  get 503 from at most 2 s after it went away (200 with AUTH_REVOCATION_FAIL_OPEN=1), and 200
  again once it is back and the mirror has read the whole state. A revoked token gets 401
  invalid_token (\"the access token was revoked\").

Keys are fetched on first use, so the API starts even when the key server is down (requests get 503
until it is up). Plain http is accepted only for loopback hosts.

Routes: GET /public and /healthz (no token); GET /me (JSON with sub, roles, scopes, iss, aud, exp,
and jkt, the proof key's thumbprint, for DPoP requests); GET /admin (role `admin`, else 403
insufficient_scope). Failures are RFC 6750 answers (RFC 9449 ones for DPoP: invalid_dpop_proof,
use_dpop_nonce); in allowed mode a request without credentials gets a Bearer and a DPoP challenge.
A bad configuration exits with code 2 and a one-line reason naming the variable. Logs go to stderr
(RUST_LOG); a set AUTH_* variable that is not read is warned about.";

/// The prefix of the verifier's variables.
const PREFIX: &str = "AUTH_";

const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// Every variable `serve` reads: `BIND` and the verifier's.
pub(crate) fn variables() -> Vec<String> {
    let mut names = vec!["BIND".to_owned()];
    names.extend(variable_names(PREFIX));
    names
}

/// The API's configuration: the verifier's, and where to listen.
#[derive(Debug, Clone)]
pub(crate) struct ApiConfig {
    pub(crate) bind: SocketAddr,
    pub(crate) auth: AuthConfig,
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

/// First retry delay after a failed key fetch; doubles up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);

impl ApiConfig {
    /// Reads the configuration from `vars` (variable name to value; empty values count as
    /// unset). The error is one line naming the variable at fault.
    pub(crate) fn from_vars(vars: &HashMap<String, String>) -> Result<ApiConfig, String> {
        let bind = vars
            .get("BIND")
            .map(String::as_str)
            .filter(|v| !v.is_empty())
            .unwrap_or(DEFAULT_BIND);
        let bind = parse_bind(bind, "BIND")?;
        let auth = AuthConfig::from_vars(PREFIX, vars)
            .map_err(|e| e.to_string())?
            .configure_keys(|keys| keys.retry_backoff(RETRY_MIN, RETRY_MAX));
        // The library's configuration takes TLS URLs; serve's contract is redis:// only. The
        // message says where TLS is available instead.
        if auth.revocation().is_some_and(|settings| settings.tls()) {
            return Err(format!(
                "{PREFIX}REVOCATION_REDIS_URL: tollgate serve takes redis:// only, not rediss:// \
                 (TLS); TLS to Redis is available through the tollgate-redis library and \
                 `tollgate revoke --redis rediss://... [--redis-ca FILE]`"
            ));
        }
        // Surface every remaining problem (a malformed pool id, the secret's length) now rather
        // than at run time. Nothing is fetched.
        auth.build().map_err(|e| e.to_string())?;
        auth.build_dpop().map_err(|e| e.to_string())?;
        Ok(ApiConfig { bind, auth })
    }
}

/// How long `serve` waits at start for the revocation mirror before listening anyway (requests
/// then get 503, or pass with fail-open, until it is fresh): long enough for a reachable Redis,
/// short enough that an outage does not hold the start.
const REVOCATION_START_WAIT: Duration = Duration::from_secs(1);

/// The Redis pieces of `AUTH_REVOCATION_REDIS_URL`: the revocation mirror and, with DPoP on, the
/// shared replay store. Connects in the background: an unreachable Redis is not an error here.
struct Shared {
    revocations: RedisRevocations,
    failure_mode: FailureMode,
    replay: Option<RedisReplayStore>,
}

impl Shared {
    /// Inside the runtime (the connections' tasks run on it).
    fn connect(auth: &AuthConfig) -> Result<Option<Shared>, Failure> {
        let Some(settings) = auth.revocation() else {
            return Ok(None);
        };
        // The URL was checked by AuthConfig; an error here is still the variable's.
        let bad = |e: tollgate_redis::RedisError| {
            Failure::config(format!("{PREFIX}REVOCATION_REDIS_URL: {e}"))
        };
        let revocations =
            RedisRevocations::connect(settings.redis_url(), RevocationOptions::default())
                .map_err(bad)?;
        let replay = if auth.dpop().mode() == DpopMode::Off {
            None
        } else {
            Some(
                RedisReplayStore::connect(settings.redis_url(), ReplayOptions::default())
                    .map_err(bad)?,
            )
        };
        Ok(Some(Shared {
            revocations,
            failure_mode: settings.failure_mode(),
            replay,
        }))
    }
}

/// The process environment's `serve` variables; a non-UTF-8 value is an error.
fn environment() -> Result<HashMap<String, String>, String> {
    let mut vars = HashMap::new();
    for name in variables() {
        if let Some(value) = std::env::var_os(&name) {
            let value = value
                .into_string()
                .map_err(|_| format!("{name} is not valid UTF-8"))?;
            vars.insert(name, value);
        }
    }
    Ok(vars)
}

/// Variables that look like ours but are not read (typos such as `AUTH_AUDIENCES`).
fn unknown_variables() -> Vec<String> {
    let known = variables();
    std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| name.starts_with(PREFIX) && !known.contains(name))
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
        let shared = Shared::connect(&config.auth)?;
        let built = config
            .auth
            .build_parts_with(|builder| match &shared {
                Some(shared) => builder.revocation(shared.revocations.clone(), shared.failure_mode),
                None => builder,
            })
            .map_err(|e| Failure::config(e.to_string()))?;
        // Refresh ahead of expiry (and retry with backoff while the key server is down), so
        // requests rarely wait for a fetch. The task ends with the source. (Preset and OIDC
        // sources refresh on the request path.)
        let _refresh = built.jwks.map(|source| source.spawn_background_refresh());
        // Roles and scopes are where the verifier says (the preset's, or AUTH_ROLES_CLAIM).
        let verifier_accepts_any_audience = built.verifier.validation().accepts_any_audience();
        let replay = shared.as_ref().and_then(|s| s.replay.clone());
        let dpop = config
            .auth
            .build_dpop_with(|builder| match replay {
                Some(store) => builder.replay_store(store),
                None => builder,
            })
            .map_err(|e| Failure::config(e.to_string()))?
            .map(|verifier| (verifier, config.auth.dpop().mode()));
        let app = crate::api::router(built.verifier, dpop);
        let listener = crate::api::bind(config.bind)
            .await
            .map_err(|e| Failure::runtime(format!("BIND: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Failure::runtime(format!("BIND: {e}")))?;
        tracing::info!("{}", config.auth.summary());
        if let Some(shared) = &shared
            && !shared.revocations.wait_fresh(REVOCATION_START_WAIT).await
        {
            let status = shared.revocations.status();
            tracing::warn!(
                redis = shared.revocations.address(),
                error = status.last_error.as_deref().unwrap_or("no answer yet"),
                "revocation state not synchronised with Redis: requests with a token get {} until it is",
                match shared.failure_mode {
                    FailureMode::FailClosed => "503",
                    FailureMode::FailOpen => "through unchecked (fail open)",
                }
            );
        }
        // Once listening (a failed start stays one line): the documented default, said aloud.
        // (A preset always decides the audience, e.g. Cognito's by `client_id`.)
        if config.auth.provider().is_none() && verifier_accepts_any_audience {
            tracing::warn!("AUTH_AUDIENCE is not set: tokens for any audience are accepted");
        }
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
    fn bind() {
        let jwks = config(&[("AUTH_JWKS_URL", "https://idp.example/jwks")]).unwrap();
        assert_eq!(jwks.bind, "127.0.0.1:8080".parse().unwrap());
        let named = config(&[("AUTH_HS256_SECRET", SECRET), ("BIND", "localhost:0")]).unwrap();
        assert!(named.bind.ip().is_loopback());
        assert!(
            config(&[("AUTH_HS256_SECRET", SECRET), ("BIND", "nonsense")])
                .unwrap_err()
                .contains("BIND")
        );
    }

    #[test]
    fn verifier_settings_come_from_auth_config() {
        let err = config(&[("AUTH_HS256_SECRET", "short-secret")]).unwrap_err();
        assert!(err.starts_with("AUTH_HS256_SECRET is 12 bytes"), "{err}");
        assert!(!err.contains("short-secret"), "{err}");
        let parsed = config(&[("AUTH_HS256_SECRET", SECRET)]).unwrap();
        assert!(!parsed.auth.summary().contains(SECRET));
        assert!(!format!("{parsed:?}").contains(SECRET));
        let names = variables();
        assert!(names.contains(&"BIND".to_owned()));
        assert!(names.contains(&"AUTH_PROVIDER".to_owned()));
    }

    #[test]
    fn dpop_settings_are_read() {
        use tollgate::core::dpop::DpopMode;
        let names = variables();
        for name in ["AUTH_DPOP", "AUTH_PUBLIC_URL", "AUTH_DPOP_NONCE"] {
            assert!(names.contains(&name.to_owned()), "{name}");
        }
        let on = config(&[
            ("AUTH_HS256_SECRET", SECRET),
            ("AUTH_DPOP", "required"),
            ("AUTH_PUBLIC_URL", "http://127.0.0.1:8080"),
            ("AUTH_DPOP_NONCE", "1"),
        ])
        .unwrap();
        assert_eq!(on.auth.dpop().mode(), DpopMode::Required);
        assert!(on.auth.build_dpop().unwrap().unwrap().nonces_enabled());
        let err = config(&[("AUTH_HS256_SECRET", SECRET), ("AUTH_DPOP", "allowed")]).unwrap_err();
        assert!(err.starts_with("AUTH_PUBLIC_URL is required"), "{err}");
    }
}
