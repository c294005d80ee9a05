//! Okta custom authorization servers.
//!
//! Issuer `https://<org>.okta.com/oauth2/<server>` (`default` for the built-in one), keys by
//! OIDC discovery there (`<issuer>/v1/keys`), RS256, audience `api://default` unless set, scopes
//! from `scp` (a JSON array in Okta's tokens) and `scope`, roles from `groups` (a custom claim
//! you add to the authorization server). The org authorization server (issuer without
//! `/oauth2/...`) issues access tokens meant only for Okta's own APIs; use a custom one.
//!
//! ```
//! use tollgate_core::providers::okta::Okta;
//!
//! let verifier = Okta::new("https://example.okta.com/oauth2/default").build()?;
//! assert_eq!(verifier.validation().audiences(), ["api://default"]);
//! # Ok::<(), tollgate_core::providers::ProviderError>(())
//! ```

use super::{Common, ProviderError, base_url, common_overrides, path};
use crate::algorithm::Algorithm;
use crate::verifier::Verifier;

/// The audience of Okta's default authorization server.
pub const OKTA_DEFAULT_AUDIENCE: &str = "api://default";

/// The Okta preset; see the [module docs](self).
#[derive(Debug, Clone)]
#[must_use]
pub struct Okta {
    issuer: String,
    audiences: Vec<String>,
    common: Common,
}

impl Okta {
    /// Access tokens of the authorization server `issuer`.
    pub fn new(issuer: impl Into<String>) -> Self {
        Okta {
            issuer: issuer.into(),
            audiences: Vec::new(),
            common: Common::new("Okta"),
        }
    }

    /// Accepts tokens for this audience instead of `api://default` (an empty value is an
    /// error, never the default).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        let audience: String = audience.into();
        self.audiences.push(audience.trim().to_owned());
        self
    }

    common_overrides!();

    /// Builds the verifier.
    pub fn build(self) -> Result<Verifier, ProviderError> {
        let issuer = base_url(&self.common, "issuer", &self.issuer)?;
        if self.audiences.iter().any(String::is_empty) {
            return Err(self.common.setting(
                "audience",
                "an empty audience was given; name the API's audience",
            ));
        }
        let audiences = if self.audiences.is_empty() {
            vec![OKTA_DEFAULT_AUDIENCE.to_owned()]
        } else {
            self.audiences.clone()
        };
        let policy = self
            .common
            .policy(&[Algorithm::RS256])
            .issuer(issuer.clone())
            .audiences(audiences);
        let validation = self.common.finish_policy(policy)?;
        let keys = self.common.discovered(&issuer)?;
        let access = self.common.access(vec![path("groups")]);
        Ok(self.common.verifier(validation, keys, access))
    }
}
