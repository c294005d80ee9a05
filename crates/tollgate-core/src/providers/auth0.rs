//! Auth0 tenants (and their custom domains).
//!
//! - issuer `https://<domain>/` **with** the trailing slash, for each configured domain (a tenant
//!   with custom domains issues tokens under whichever domain the client used);
//! - keys at `https://<first domain>/.well-known/jwks.json`, RS256;
//! - the audience is required (`aud` may be a string or an array, e.g. with `/userinfo`);
//! - `permissions` (RBAC) counts as scopes, next to `scope`; roles default to `permissions` and
//!   are usually moved to a namespaced claim (`https://example.com/roles`) with
//!   [`roles_claim`](Auth0::roles_claim);
//! - [`rfc9068`](Auth0::rfc9068) requires the RFC 9068 profile's header `typ: at+jwt`.
//!
//! ```
//! use tollgate_core::ClaimPath;
//! use tollgate_core::providers::auth0::Auth0;
//!
//! let verifier = Auth0::new(["my-tenant.us.auth0.com", "login.example.com"], "https://api.example.com")
//!     .roles_claim(ClaimPath::new("https://example.com/roles")?)
//!     .build()?;
//! assert_eq!(verifier.validation().issuers(),
//!            ["https://my-tenant.us.auth0.com/", "https://login.example.com/"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;

use super::{Common, ProviderError, common_overrides, host_name, listed, path};
use crate::algorithm::Algorithm;
use crate::remote::JwksSource;
use crate::verifier::Verifier;

/// The Auth0 preset; see the [module docs](self).
#[derive(Debug, Clone)]
#[must_use]
pub struct Auth0 {
    domains: Vec<String>,
    audiences: Vec<String>,
    rfc9068: bool,
    common: Common,
}

impl Auth0 {
    /// Tokens of the tenant at `domains` (`tenant.us.auth0.com`, custom domains) for the API
    /// identifier `audience`.
    pub fn new<D: Into<String>>(
        domains: impl IntoIterator<Item = D>,
        audience: impl Into<String>,
    ) -> Self {
        Auth0 {
            domains: listed(domains),
            audiences: listed([audience.into()]),
            rfc9068: false,
            common: Common::new("Auth0"),
        }
    }

    /// Also accepts this API identifier.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.extend(listed([audience.into()]));
        self
    }

    /// Requires the RFC 9068 access-token profile (header `typ: at+jwt`).
    pub fn rfc9068(mut self) -> Self {
        self.rfc9068 = true;
        self
    }

    common_overrides!();

    /// Builds the verifier.
    pub fn build(self) -> Result<Verifier, ProviderError> {
        if self.domains.is_empty() {
            return Err(self.common.setting(
                "domain",
                "at least one domain is required (tenant.us.auth0.com)",
            ));
        }
        if self.audiences.is_empty() {
            return Err(self.common.setting(
                "audience",
                "the API identifier is required (the audience your API is registered with)",
            ));
        }
        let mut hosts = Vec::new();
        for domain in &self.domains {
            hosts.push(host_name(&self.common, "domain", domain)?);
        }
        let issuers: Vec<String> = hosts.iter().map(|h| format!("https://{h}/")).collect();
        let mut policy = self
            .common
            .policy(&[Algorithm::RS256])
            .issuers(issuers)
            .audiences(self.audiences.clone());
        if self.rfc9068 {
            policy = policy.types(["at+jwt"]);
        }
        let validation = self.common.finish_policy(policy)?;
        let keys = self.common.jwks(
            JwksSource::builder,
            &format!("https://{}/.well-known/jwks.json", hosts[0]),
            None,
        )?;
        let access = self
            .common
            .access(vec![path("permissions")])
            .also_scopes_at(path("permissions"));
        Ok(self.common.verifier(validation, Arc::new(keys), access))
    }
}
