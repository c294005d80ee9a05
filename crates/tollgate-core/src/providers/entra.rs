//! Microsoft Entra ID (Azure AD) access tokens, v1 and v2, single- or multi-tenant.
//!
//! Entra signs the tokens of **every** tenant with the same keys, so the issuer rule is what
//! keeps another tenant's tokens out. For each allowed tenant both issuers are accepted, v1
//! `https://sts.windows.net/<tid>/` and v2 `https://login.microsoftonline.com/<tid>/v2.0` (the
//! API's registration picks the version, not the client), and the `tid` in the issuer must be
//! the token's own `tid`:
//! - [`EntraId::single_tenant`]: one tenant; keys from that tenant's
//!   `discovery/v2.0/keys`;
//! - [`EntraId::multi_tenant`]: an explicit allow-list of tenant ids;
//! - [`EntraId::any_tenant`]: every tenant, an explicit opt-in for multi-tenant apps that
//!   authorize tenants themselves (key your data by `tid` + `oid`).
//!
//! Multi-tenant keys come from `common` (or `organizations`). Entra's keys carry no `alg`; the
//! policy allows RS256. The audience is required: your API's client id and/or App ID URI
//! (`api://...`; v1 tokens often carry the URI, v2 tokens the client id). Roles from `roles` (app
//! roles; for app-only tokens their permissions), scopes from `scp` (space-separated).
//!
//! ```
//! use tollgate_core::providers::entra::EntraId;
//!
//! let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
//! let verifier = EntraId::single_tenant(tenant)
//!     .audiences(["api://my-api", "6e74172b-be56-4843-9ff4-e66a39bb12e3"])
//!     .build()?;
//! assert_eq!(verifier.validation().issuers().len(), 2);
//! assert!(EntraId::single_tenant("contoso.onmicrosoft.com").audience("x").build().is_err());
//! assert!(EntraId::any_tenant().build().is_err()); // no audience: refused
//! # Ok::<(), tollgate_core::providers::ProviderError>(())
//! ```

use std::collections::HashSet;
use std::sync::Arc;

use super::{Common, ProviderError, common_overrides, listed, path};
use crate::algorithm::Algorithm;
use crate::remote::JwksSource;
use crate::rules::{ClaimRule, Tenants};
use crate::verifier::Verifier;

/// The v1 issuer template.
pub const ENTRA_V1_ISSUER: &str = "https://sts.windows.net/{tenantid}/";
/// The v2 issuer template.
pub const ENTRA_V2_ISSUER: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";

const LOGIN: &str = "https://login.microsoftonline.com";

#[derive(Debug, Clone)]
enum Scope {
    Single(String),
    Listed(Vec<String>),
    Any,
}

/// The Entra ID preset; see the [module docs](self).
#[derive(Debug, Clone)]
#[must_use]
pub struct EntraId {
    scope: Scope,
    audiences: Vec<String>,
    keys_tenant: String,
    common: Common,
}

impl EntraId {
    fn with(scope: Scope, keys_tenant: String) -> Self {
        EntraId {
            scope,
            audiences: Vec::new(),
            keys_tenant,
            common: Common::new("Entra ID"),
        }
    }

    /// Tokens of one tenant (its id, a GUID).
    pub fn single_tenant(tenant_id: impl Into<String>) -> Self {
        // Entra writes tenant ids in lower case in `tid` and `iss`; GUIDs compare case-blind.
        let tenant = tenant_id.into().trim().to_ascii_lowercase();
        EntraId::with(Scope::Single(tenant.clone()), tenant)
    }

    /// Tokens of any of these tenants (keys from `common`).
    pub fn multi_tenant<S: Into<String>>(tenant_ids: impl IntoIterator<Item = S>) -> Self {
        let tenants = listed(
            tenant_ids
                .into_iter()
                .map(|t| t.into().to_ascii_lowercase()),
        );
        EntraId::with(Scope::Listed(tenants), "common".into())
    }

    /// Tokens of every tenant: an explicit opt-in (keys from `common`).
    pub fn any_tenant() -> Self {
        EntraId::with(Scope::Any, "common".into())
    }

    /// Where multi-tenant keys come from: `common` (default) or `organizations`.
    pub fn keys_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.keys_tenant = tenant.into();
        self
    }

    /// Accepts tokens for this audience (client id or App ID URI). At least one is required.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.extend(listed([audience.into()]));
        self
    }

    /// Accepts tokens for these audiences.
    pub fn audiences<S: Into<String>>(mut self, audiences: impl IntoIterator<Item = S>) -> Self {
        self.audiences.extend(listed(audiences));
        self
    }

    common_overrides!();

    /// Builds the verifier.
    pub fn build(self) -> Result<Verifier, ProviderError> {
        let check_tenant = |tenant: &str| {
            let guid_like = !tenant.is_empty()
                && tenant.len() <= 64
                && tenant.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
            if guid_like {
                Ok(())
            } else {
                Err(self.common.setting(
                    "tenant",
                    format!(
                        "{tenant:?} is not a tenant id: use the directory (tenant) id, a GUID \
                         such as 72f988bf-86f1-41af-91ab-2d7cd011db47, not a domain name"
                    ),
                ))
            }
        };
        if self.audiences.is_empty() {
            return Err(self.common.setting(
                "audience",
                "at least one audience is required: the API's client id and/or App ID URI",
            ));
        }
        let tenants = match &self.scope {
            Scope::Single(tenant) => {
                check_tenant(tenant)?;
                Tenants::Listed(HashSet::from([tenant.clone()]))
            }
            Scope::Listed(list) => {
                if list.is_empty() {
                    return Err(self.common.setting(
                        "allowed tenants",
                        "at least one tenant id is required (or opt in to any tenant)",
                    ));
                }
                for tenant in list {
                    check_tenant(tenant)?;
                }
                Tenants::Listed(list.iter().cloned().collect())
            }
            Scope::Any => Tenants::Any,
        };
        let mut policy = self
            .common
            .policy(&[Algorithm::RS256])
            .audiences(self.audiences.clone());
        if let Scope::Single(tenant) = &self.scope {
            policy = policy.issuers([
                ENTRA_V1_ISSUER.replace("{tenantid}", tenant),
                ENTRA_V2_ISSUER.replace("{tenantid}", tenant),
            ]);
        }
        let rule = ClaimRule::tenant_issuer([ENTRA_V1_ISSUER, ENTRA_V2_ISSUER], "tid", tenants)
            .map_err(|source| ProviderError::Policy {
                provider: "Entra ID",
                source,
            })?;
        let validation = self.common.finish_policy(policy.rule(rule))?;
        let keys_tenant = self.keys_tenant.trim();
        if keys_tenant.is_empty()
            || !keys_tenant
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(self.common.setting(
                "keys tenant",
                format!("{keys_tenant:?} is not a tenant id or name"),
            ));
        }
        let keys = self.common.jwks(
            JwksSource::builder,
            &format!("{LOGIN}/{keys_tenant}/discovery/v2.0/keys"),
            None,
        )?;
        let access = self.common.access(vec![path("roles")]);
        Ok(self.common.verifier(validation, Arc::new(keys), access))
    }
}
