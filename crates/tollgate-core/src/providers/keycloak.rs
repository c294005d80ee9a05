//! Keycloak realms.
//!
//! - issuer `<base>/realms/<realm>`, keys by OIDC discovery there (the realm's JWKS also lists
//!   an `RSA-OAEP` encryption key, which is skipped), RS256;
//! - the payload `typ` must be `Bearer` when present, so ID tokens (`ID`) and refresh tokens
//!   (`Refresh`) are refused;
//! - audience: `aud` contains the audience (default: the client id), or `azp` is the client
//!   (Keycloak puts your client in `aud` only with an audience mapper);
//! - roles: realm roles (`realm_access.roles`) plus the client's roles
//!   (`resource_access.<client>.roles`); scopes from `scope`.
//!
//! Older (WildFly) deployments serve realms under `/auth`: pass `https://host/auth` as the base.
//!
//! ```
//! use tollgate_core::providers::keycloak::Keycloak;
//!
//! let verifier = Keycloak::new("https://sso.example.com", "acme", "orders-api").build()?;
//! assert_eq!(verifier.validation().issuers(), ["https://sso.example.com/realms/acme"]);
//! let roles: Vec<&str> =
//!     verifier.access_claims().role_paths().iter().map(|p| p.as_str()).collect();
//! assert_eq!(roles, ["realm_access.roles", "resource_access.orders-api.roles"]);
//! # Ok::<(), tollgate_core::providers::ProviderError>(())
//! ```

use super::{Common, ProviderError, base_url, common_overrides, listed, path};
use crate::algorithm::Algorithm;
use crate::claims::ClaimPath;
use crate::rules::ClaimRule;
use crate::verifier::Verifier;

/// The Keycloak preset; see the [module docs](self).
#[derive(Debug, Clone)]
#[must_use]
pub struct Keycloak {
    base_url: String,
    realm: String,
    client_id: String,
    audiences: Vec<String>,
    common: Common,
}

impl Keycloak {
    /// Access tokens of `realm` on the server at `base_url`, for client `client_id`.
    pub fn new(
        base_url: impl Into<String>,
        realm: impl Into<String>,
        client_id: impl Into<String>,
    ) -> Self {
        Keycloak {
            base_url: base_url.into(),
            realm: realm.into().trim().to_owned(),
            client_id: client_id.into().trim().to_owned(),
            audiences: Vec::new(),
            common: Common::new("Keycloak"),
        }
    }

    /// Accepts tokens whose `aud` contains this (instead of the client id; `azp` equal to the
    /// client id is accepted either way).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.extend(listed([audience.into()]));
        self
    }

    common_overrides!();

    /// The realm's issuer.
    pub fn issuer(&self) -> Result<String, ProviderError> {
        let base = base_url(&self.common, "base URL", &self.base_url)?;
        let realm_ok = !self.realm.is_empty()
            && !self.realm.contains(['/', '?', '#', ' '])
            && self.realm != "."
            && self.realm != "..";
        if !realm_ok {
            return Err(self
                .common
                .setting("realm", format!("{:?} is not a realm name", self.realm)));
        }
        Ok(format!("{base}/realms/{}", self.realm))
    }

    /// Builds the verifier.
    pub fn build(self) -> Result<Verifier, ProviderError> {
        let issuer = self.issuer()?;
        if self.client_id.is_empty() {
            return Err(self.common.setting(
                "client id",
                "the client id is required (its roles and the audience)",
            ));
        }
        let audiences = if self.audiences.is_empty() {
            vec![self.client_id.clone()]
        } else {
            self.audiences.clone()
        };
        let policy_error = |source| ProviderError::Policy {
            provider: "Keycloak",
            source,
        };
        let policy = self
            .common
            .policy(&[Algorithm::RS256])
            .issuer(issuer.clone())
            .any_audience()
            .rule(
                ClaimRule::audience_or(audiences, "azp", [self.client_id.clone()])
                    .map_err(policy_error)?,
            )
            .rule(ClaimRule::one_of_if_present("typ", ["Bearer"]).map_err(policy_error)?);
        let validation = self.common.finish_policy(policy)?;
        let keys = self.common.discovered(&issuer)?;
        let client_roles = ClaimPath::nested(["resource_access", self.client_id.as_str(), "roles"])
            .map_err(policy_error)?;
        let access = self
            .common
            .access(vec![path("realm_access.roles"), client_roles]);
        Ok(self.common.verifier(validation, keys, access))
    }
}
