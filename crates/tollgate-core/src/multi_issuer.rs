//! Routing tokens of several issuers to their own policy and keys. No I/O of its own: the routed
//! verifiers' key sources do any fetching.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::b64;
use crate::bearer;
use crate::clock::{Clock, TimeSource};
use crate::crypto::CryptoProvider;
use crate::error::{ConfigError, Error, Malformed};
use crate::jws;
use crate::rules::TENANT_PLACEHOLDER;
use crate::scan::{self, Loose, MemberSink};
use crate::source::KeySource;
use crate::telemetry::VerificationCounters;
use crate::token_cache::{TokenCache, TokenCacheConfig, TokenCacheStats};
use crate::token_verifier::{TokenVerifier, Verification, VerificationFuture};
use crate::validation::{DEFAULT_MAX_TOKEN_BYTES, Validation};
use crate::verified_token::VerifiedToken;
use crate::verifier::{Lookup, Missed, Verifier};

/// The Microsoft Entra ID (Azure AD) v2.0 issuer template; `{tenantid}` is the `tid` claim.
pub const ENTRA_ID_V2_ISSUER: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";

/// Verifies tokens of several issuers, each with its own [`Validation`] and [`KeySource`].
///
/// The token's `iss` is read **unverified**, only to pick the issuer's [`Verifier`], which then
/// verifies everything (signature, `iss`, `aud`, times...). A token whose issuer is not
/// configured is refused with [`Error::WrongIssuer`] before any key is looked up, so unknown
/// issuers cause no fetch.
///
/// Multi-tenant issuers such as Microsoft Entra ID
/// (`https://login.microsoftonline.com/{tenantid}/v2.0`) are configured as a template bound to
/// a tenant claim (`tid`) and an allow-list of tenants: the token's `iss` must be the template
/// with its own tenant claim filled in, and that tenant must be allowed. The policy of a
/// template should not list issuers (the routing has checked `iss` exactly), or list all of
/// them.
///
/// # Verified-token cache
/// The router has one verified-token cache for all its issuers
/// ([`MultiIssuerBuilder::token_cache`]), asked **before** the token is decoded: a cache hit
/// costs what a single [`Verifier`]'s hit costs, with no routing. Each entry remembers which
/// issuer's verifier verified it, and a hit is judged by that verifier alone (its key source's
/// trust, its time rules, its checks). Routing depends on nothing but the token's bytes and an
/// entry is only ever found by the whole, identical token string, so a token verified under one
/// issuer can never answer for another. A routed verifier built with its own cache turned off
/// keeps its tokens out of the router's cache too; the routed verifiers' own caches are not
/// used for tokens verified through the router.
///
/// ```
/// use tollgate_core::{Algorithm, KeySet, MultiIssuer, Validation, VerificationKey};
///
/// let key = VerificationKey::hmac([7u8; 32]).unwrap().with_kid("k1");
/// let policy = Validation::builder([Algorithm::HS256])
///     .issuer("https://a.example.com")
///     .audience("api")
///     .build()
///     .unwrap();
/// let router = MultiIssuer::builder()
///     .issuer("https://a.example.com", policy, KeySet::from(key))
///     .build()
///     .unwrap();
/// # let _ = router;
/// ```
#[derive(Debug, Clone)]
pub struct MultiIssuer {
    inner: Arc<Routes>,
}

#[derive(Debug)]
struct Routes {
    /// Every routed verifier; its index is its route's (and its cache entries' origin).
    verifiers: Vec<Verifier>,
    exact: HashMap<String, Route>,
    templates: Vec<TenantRoute>,
    max_token_bytes: usize,
    cache: Option<Arc<TokenCache>>,
    clock: TimeSource,
    /// Counts the tokens no route takes (routed ones are counted by their verifier).
    counters: Arc<VerificationCounters>,
}

/// Where a token goes: a verifier and its index in [`Routes::verifiers`].
#[derive(Debug)]
struct Route {
    index: usize,
    verifier: Verifier,
}

#[derive(Debug)]
struct TenantRoute {
    template: String,
    prefix: String,
    suffix: String,
    claim: String,
    tenants: HashSet<String>,
    route: Route,
}

/// Configures a [`MultiIssuer`]; from [`MultiIssuer::builder`].
#[derive(Debug)]
#[must_use]
pub struct MultiIssuerBuilder {
    crypto: CryptoProvider,
    /// `None` until [`MultiIssuerBuilder::token_cache`] is called: then the default, sized per
    /// issuer.
    cache: Option<Option<TokenCacheConfig>>,
    exact: Vec<(String, Verifier)>,
    templates: Vec<(String, String, Vec<String>, Verifier)>,
    clock: TimeSource,
}

impl MultiIssuerBuilder {
    /// The clock every routed token is judged by (default the system clock; see
    /// [`clock`](crate::clock)). It replaces the routed verifiers' own clocks behind this
    /// router, so one instant decides the shared cache and the verification.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = TimeSource::new(clock);
        self
    }

    /// The crypto backend for the verifiers built from here on (default:
    /// [`CryptoProvider::default`]).
    pub fn crypto(mut self, crypto: CryptoProvider) -> Self {
        self.crypto = crypto;
        self
    }

    /// The router's verified-token cache, shared by all issuers (`None` turns it off). Default:
    /// [`TokenCacheConfig::default`] with room for
    /// [`DEFAULT_CACHE_ENTRIES`](crate::DEFAULT_CACHE_ENTRIES) tokens *per issuer*, as if each
    /// issuer had its own default cache. See [`MultiIssuer`].
    pub fn token_cache(mut self, config: Option<TokenCacheConfig>) -> Self {
        self.cache = Some(config);
        self
    }

    /// Tokens whose `iss` is exactly `issuer` are verified with `validation` and `keys`.
    pub fn issuer(
        self,
        issuer: impl Into<String>,
        validation: Validation,
        keys: impl KeySource,
    ) -> Self {
        let verifier = Verifier::new(validation, keys, self.crypto);
        self.verifier(issuer, verifier)
    }

    /// Tokens whose `iss` is exactly `issuer` are verified by `verifier`.
    pub fn verifier(mut self, issuer: impl Into<String>, verifier: Verifier) -> Self {
        self.exact.push((issuer.into(), verifier));
        self
    }

    /// A multi-tenant issuer: `template` contains `{tenantid}` once; a token is routed here
    /// when its `iss` is the template with its `tenant_claim` filled in and that tenant is one
    /// of `tenants`.
    pub fn tenant_issuer<S: Into<String>>(
        mut self,
        template: impl Into<String>,
        tenant_claim: impl Into<String>,
        tenants: impl IntoIterator<Item = S>,
        validation: Validation,
        keys: impl KeySource,
    ) -> Self {
        let verifier = Verifier::new(validation, keys, self.crypto);
        self.templates.push((
            template.into(),
            tenant_claim.into(),
            tenants.into_iter().map(Into::into).collect(),
            verifier,
        ));
        self
    }

    /// Microsoft Entra ID v2.0 tokens of the allowed tenants ([`ENTRA_ID_V2_ISSUER`], `tid`).
    /// The keys are typically the common JWKS,
    /// `https://login.microsoftonline.com/common/discovery/v2.0/keys`.
    pub fn entra_id<S: Into<String>>(
        self,
        tenants: impl IntoIterator<Item = S>,
        validation: Validation,
        keys: impl KeySource,
    ) -> Self {
        self.tenant_issuer(ENTRA_ID_V2_ISSUER, "tid", tenants, validation, keys)
    }

    /// Checks the configuration: at least one issuer, no empty or duplicate issuers, templates
    /// with exactly one `{tenantid}` and a non-empty tenant list.
    pub fn build(self) -> Result<MultiIssuer, ConfigError> {
        let mut verifiers = Vec::new();
        let mut exact = HashMap::new();
        for (issuer, verifier) in self.exact {
            if issuer.is_empty() {
                return Err(ConfigError::EmptyValue("issuer"));
            }
            let route = Route {
                index: verifiers.len(),
                verifier: verifier.clone(),
            };
            if exact.insert(issuer, route).is_some() {
                return Err(ConfigError::Routing("issuer configured twice"));
            }
            verifiers.push(verifier);
        }
        let mut templates = Vec::new();
        for (template, claim, tenants, verifier) in self.templates {
            let Some((prefix, suffix)) =
                template
                    .split_once(TENANT_PLACEHOLDER)
                    .filter(|(prefix, suffix)| {
                        !prefix.is_empty() && !suffix.contains(TENANT_PLACEHOLDER)
                    })
            else {
                return Err(ConfigError::IssuerTemplate(template));
            };
            if tenants.is_empty() || tenants.iter().any(|t| t.is_empty() || t.contains('/')) {
                return Err(ConfigError::Routing(
                    "tenant allow-list must be non-empty, without empty or '/'-containing ids",
                ));
            }
            if claim.is_empty() {
                return Err(ConfigError::EmptyValue("tenant claim"));
            }
            templates.push(TenantRoute {
                prefix: prefix.to_owned(),
                suffix: suffix.to_owned(),
                template,
                claim,
                tenants: tenants.into_iter().collect(),
                route: Route {
                    index: verifiers.len(),
                    verifier: verifier.clone(),
                },
            });
            verifiers.push(verifier);
        }
        if verifiers.is_empty() {
            return Err(ConfigError::Routing("no issuer configured"));
        }
        let max_token_bytes = verifiers
            .iter()
            .map(|v| v.validation().max_token_bytes())
            .max()
            .unwrap_or(DEFAULT_MAX_TOKEN_BYTES);
        let cache = self
            .cache
            .unwrap_or_else(|| Some(TokenCacheConfig::default()))
            .map(|config| match self.cache {
                Some(_) => config,
                // One shared cache must hold what one default cache per issuer held:
                // with fewer entries the routed issuers would evict each other.
                None => TokenCacheConfig {
                    max_entries: config.max_entries.saturating_mul(verifiers.len()),
                    ..config
                },
            })
            .and_then(TokenCache::new)
            .map(Arc::new);
        Ok(MultiIssuer {
            inner: Arc::new(Routes {
                verifiers,
                exact,
                templates,
                max_token_bytes,
                cache,
                clock: self.clock,
                counters: Arc::default(),
            }),
        })
    }
}

impl MultiIssuer {
    /// Starts an empty configuration.
    pub fn builder() -> MultiIssuerBuilder {
        MultiIssuerBuilder {
            crypto: CryptoProvider::default(),
            cache: None,
            exact: Vec::new(),
            templates: Vec::new(),
            clock: TimeSource::default(),
        }
    }

    /// Picks the verifier for the token's (unverified) `iss`, or refuses the token.
    pub fn route(&self, token: &str) -> Result<&Verifier, Error> {
        Ok(&self.find_route(token)?.verifier)
    }

    fn find_route(&self, token: &str) -> Result<&Route, Error> {
        let routes = &*self.inner;
        let parts = jws::split(token, routes.max_token_bytes)?;
        let payload = b64::decode(parts.payload).ok_or(Malformed::Base64)?;
        let mut claims = RoutingClaims {
            routes: &routes.templates,
            iss: None,
            tenants: Vec::new(),
        };
        scan::scan_segment(
            &payload,
            &mut claims,
            Malformed::Payload,
            scan::Unwanted::Skip,
        )?;
        let iss = match &claims.iss {
            Some(Loose::Str(iss)) => iss.as_ref(),
            Some(_) => {
                return Err(Error::InvalidClaim {
                    claim: "iss".into(),
                    reason: "not a string".into(),
                });
            }
            None => return Err(Error::MissingClaim("iss".into())),
        };
        if let Some(route) = routes.exact.get(iss) {
            return Ok(route);
        }
        for template in &routes.templates {
            let Some(tenant) = iss
                .strip_prefix(template.prefix.as_str())
                .and_then(|rest| rest.strip_suffix(template.suffix.as_str()))
            else {
                continue;
            };
            if claims.tenant(&template.claim) == Some(tenant) && template.tenants.contains(tenant) {
                return Ok(&template.route);
            }
        }
        Err(Error::WrongIssuer {
            expected: self.expected(),
            actual: iss.to_owned(),
        })
    }

    /// Verifies a token now with the verifier of its issuer: [`start`](Self::start), awaited
    /// (the same result as [`Verifier::verify`]).
    pub fn verify(&self, token: &str) -> VerificationFuture {
        self.start(token).into_future()
    }

    /// Starts verifying a token: from the router's cache without decoding it, else routed to
    /// its issuer's verifier (see [`Verifier::start`]).
    pub fn start(&self, token: &str) -> Verification {
        let Ok(verification) = self.start_of(token.as_bytes(), || {
            Ok::<_, std::convert::Infallible>(token)
        });
        verification
    }

    /// [`start`](Self::start) of the token whose bytes are `presented`: the router's cache
    /// first, then the text `token` gives for them (or its error) routed and verified (see
    /// `Verifier::verification_of`: a hit never needs the grammar check).
    fn start_of<'t, E>(
        &self,
        presented: &'t [u8],
        token: impl FnOnce() -> Result<&'t str, E>,
    ) -> Result<Verification, E> {
        let routes = &*self.inner;
        let now = routes.clock.now();
        let Some(cache) = &routes.cache else {
            let token = token()?;
            return Ok(match self.route(token) {
                Ok(verifier) => verifier.finish(verifier.verification_at(token, now), now),
                Err(err) => routes.counters.counted(Verification::Done(Err(err))),
            });
        };
        let key = cache.key(presented);
        if let Some(key) = key
            && let Some(entry) = cache.get(key, presented, now)
            && let Some(verifier) = routes.verifiers.get(entry.origin)
            && let Lookup::Hit(outcome) = verifier.judge_hit(cache, key, entry, now)
        {
            let hit = Verification::Done(outcome.map(VerifiedToken::from_entry));
            return Ok(verifier.finish(hit, now));
        }
        let token = token()?;
        let Route { index, verifier } = match self.find_route(token) {
            Ok(route) => route,
            Err(err) => {
                cache.record_miss();
                return Ok(routes.counters.counted(Verification::Done(Err(err))));
            }
        };
        let missed = Missed {
            cache,
            // A verifier built without a cache keeps its tokens out of this one too.
            key: key.filter(|_| verifier.caches_tokens()),
            origin: *index,
        };
        Ok(verifier.finish(verifier.start_missed(token, now, Some(missed)), now))
    }

    /// Hits, misses and size of the router's verified-token cache (`None` when it is off).
    pub fn token_cache_stats(&self) -> Option<TokenCacheStats> {
        self.inner.cache.as_deref().map(TokenCache::stats)
    }

    /// The configured issuers and templates, for error messages.
    fn expected(&self) -> Vec<String> {
        let routes = &*self.inner;
        let mut expected: Vec<String> = routes.exact.keys().cloned().collect();
        expected.sort();
        expected.extend(routes.templates.iter().map(|t| t.template.clone()));
        expected
    }
}

impl TokenVerifier for MultiIssuer {
    fn start(&self, token: &str) -> Verification {
        MultiIssuer::start(self, token)
    }

    fn start_presented(&self, token: &[u8]) -> Option<Verification> {
        self.start_of(token, || bearer::b64token_str(token).ok_or(()))
            .ok()
    }
}

/// The unverified claims routing reads: `iss` and the templates' tenant claims, nothing else.
/// Scanned like the verifier scans the payload (same parser, duplicate member names refused),
/// so routing never sees other values than verification does.
struct RoutingClaims<'de, 'r> {
    routes: &'r [TenantRoute],
    iss: Option<Loose<'de>>,
    /// Tenant claims present in the token, by name.
    tenants: Vec<(&'r str, Loose<'de>)>,
}

impl RoutingClaims<'_, '_> {
    /// The tenant claim `name` when it is a string.
    fn tenant(&self, name: &str) -> Option<&str> {
        self.tenants.iter().find_map(|(claim, value)| match value {
            Loose::Str(tenant) if *claim == name => Some(tenant.as_ref()),
            _ => None,
        })
    }
}

impl<'de> MemberSink<'de> for RoutingClaims<'de, '_> {
    fn wants(&self, name: &str) -> bool {
        name == "iss" || self.routes.iter().any(|route| route.claim == name)
    }

    fn member(&mut self, name: &str, value: Option<Loose<'de>>) -> Result<(), String> {
        let Some(value) = value else { return Ok(()) };
        if name == "iss" {
            self.iss = Some(value);
        } else if let Some(route) = self.routes.iter().find(|route| route.claim == name) {
            self.tenants.push((route.claim.as_str(), value));
        }
        Ok(())
    }
}
