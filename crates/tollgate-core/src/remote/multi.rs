//! Routing tokens of several issuers to their own policy and keys.

use std::collections::{HashMap, HashSet};

use serde::de::DeserializeOwned;

use super::error::RemoteError;
use crate::crypto::CryptoProvider;
use crate::error::{Error, Malformed};
use crate::scan::{Loose, MemberSink};
use crate::source::KeySource;
use crate::validation::{DEFAULT_MAX_TOKEN_BYTES, Validation};
use crate::verifier::{self, Verified, Verifier};

/// The Microsoft Entra ID (Azure AD) v2.0 issuer template; `{tenantid}` is the `tid` claim.
pub const ENTRA_ID_V2_ISSUER: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";

const PLACEHOLDER: &str = "{tenantid}";

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
/// ```
/// use tollgate_core::remote::MultiIssuer;
/// use tollgate_core::{Algorithm, KeySet, Validation, VerificationKey};
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
    exact: HashMap<String, Verifier>,
    templates: Vec<TenantRoute>,
    max_token_bytes: usize,
}

#[derive(Debug, Clone)]
struct TenantRoute {
    template: String,
    prefix: String,
    suffix: String,
    claim: String,
    tenants: HashSet<String>,
    verifier: Verifier,
}

/// Configures a [`MultiIssuer`]; from [`MultiIssuer::builder`].
#[derive(Debug)]
pub struct MultiIssuerBuilder {
    crypto: CryptoProvider,
    exact: Vec<(String, Verifier)>,
    templates: Vec<(String, String, Vec<String>, Verifier)>,
}

impl MultiIssuerBuilder {
    /// The crypto backend for the verifiers built from here on (default:
    /// [`CryptoProvider::default`]).
    pub fn crypto(mut self, crypto: CryptoProvider) -> Self {
        self.crypto = crypto;
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
    pub fn build(self) -> Result<MultiIssuer, RemoteError> {
        let mut exact = HashMap::new();
        let mut max_token_bytes = 0;
        for (issuer, verifier) in self.exact {
            if issuer.is_empty() {
                return Err(RemoteError::InvalidOption("empty issuer"));
            }
            max_token_bytes = max_token_bytes.max(verifier.validation().max_token_bytes());
            if exact.insert(issuer, verifier).is_some() {
                return Err(RemoteError::InvalidOption("issuer configured twice"));
            }
        }
        let mut templates = Vec::new();
        for (template, claim, tenants, verifier) in self.templates {
            let Some((prefix, suffix)) = template.split_once(PLACEHOLDER) else {
                return Err(RemoteError::InvalidOption(
                    "issuer template without {tenantid}",
                ));
            };
            if suffix.contains(PLACEHOLDER) || prefix.is_empty() {
                return Err(RemoteError::InvalidOption(
                    "issuer template must start with a URL and contain {tenantid} once",
                ));
            }
            if tenants.is_empty() || tenants.iter().any(|t| t.is_empty() || t.contains('/')) {
                return Err(RemoteError::InvalidOption(
                    "tenant allow-list must be non-empty, without empty or '/'-containing ids",
                ));
            }
            if claim.is_empty() {
                return Err(RemoteError::InvalidOption("empty tenant claim name"));
            }
            max_token_bytes = max_token_bytes.max(verifier.validation().max_token_bytes());
            templates.push(TenantRoute {
                prefix: prefix.to_owned(),
                suffix: suffix.to_owned(),
                template,
                claim,
                tenants: tenants.into_iter().collect(),
                verifier,
            });
        }
        if exact.is_empty() && templates.is_empty() {
            return Err(RemoteError::InvalidOption("no issuer configured"));
        }
        Ok(MultiIssuer {
            exact,
            templates,
            max_token_bytes: if max_token_bytes == 0 {
                DEFAULT_MAX_TOKEN_BYTES
            } else {
                max_token_bytes
            },
        })
    }
}

impl MultiIssuer {
    /// Starts an empty configuration.
    pub fn builder() -> MultiIssuerBuilder {
        MultiIssuerBuilder {
            crypto: CryptoProvider::default(),
            exact: Vec::new(),
            templates: Vec::new(),
        }
    }

    /// Picks the verifier for the token's (unverified) `iss`, or refuses the token.
    pub fn route(&self, token: &str) -> Result<&Verifier, Error> {
        let payload = peek_payload(token, self.max_token_bytes)?;
        let mut claims = RoutingClaims {
            routes: &self.templates,
            iss: None,
            tenants: Vec::new(),
        };
        verifier::scan_json(&payload, &mut claims, Malformed::Payload)?;
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
        if let Some(verifier) = self.exact.get(iss) {
            return Ok(verifier);
        }
        for route in &self.templates {
            let Some(tenant) = iss
                .strip_prefix(route.prefix.as_str())
                .and_then(|rest| rest.strip_suffix(route.suffix.as_str()))
            else {
                continue;
            };
            if claims.tenant(&route.claim) == Some(tenant) && route.tenants.contains(tenant) {
                return Ok(&route.verifier);
            }
        }
        Err(Error::WrongIssuer {
            expected: self.expected(),
            actual: iss.to_owned(),
        })
    }

    /// Verifies a token with the verifier of its issuer and deserializes its claims into `T`.
    pub async fn verify<T: DeserializeOwned>(&self, token: &str) -> Result<Verified<T>, Error> {
        self.route(token)?.verify::<T>(token).await
    }

    /// The configured issuers and templates, for error messages.
    fn expected(&self) -> Vec<String> {
        let mut expected: Vec<String> = self.exact.keys().cloned().collect();
        expected.sort();
        expected.extend(self.templates.iter().map(|t| t.template.clone()));
        expected
    }
}

/// Splits the token as the verifier does and decodes the payload, without verifying anything.
fn peek_payload(token: &str, max: usize) -> Result<Vec<u8>, Error> {
    let parts = verifier::split(token, max)?;
    crate::b64::decode(parts.payload).ok_or_else(|| Malformed::Base64.into())
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
