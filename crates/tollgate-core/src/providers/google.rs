//! Google Sign-In (OpenID Connect) ID tokens.
//!
//! Issuer `https://accounts.google.com` or `accounts.google.com` (Google writes both), keys at
//! `https://www.googleapis.com/oauth2/v3/certs`, RS256, `aud` one of your OAuth client ids,
//! and optionally the Workspace domain `hd` (the trustworthy way to limit sign-in to an
//! organisation; an `email` domain is not). No roles or scopes.
//!
//! ```
//! use tollgate_core::providers::google::Google;
//!
//! let verifier = Google::new(["1234-abc.apps.googleusercontent.com"])
//!     .hosted_domain("example.com")
//!     .build()?;
//! assert_eq!(verifier.validation().issuers(), ["https://accounts.google.com", "accounts.google.com"]);
//! # Ok::<(), tollgate_core::providers::ProviderError>(())
//! ```

use std::sync::Arc;

use super::{Common, ProviderError, common_overrides, listed};
use crate::algorithm::Algorithm;
use crate::remote::JwksSource;
use crate::rules::ClaimRule;
use crate::verifier::Verifier;

/// Google's JWK Set.
pub const GOOGLE_CERTS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";

/// The Google preset; see the [module docs](self).
#[derive(Debug, Clone)]
#[must_use]
pub struct Google {
    client_ids: Vec<String>,
    hosted_domain: Option<String>,
    common: Common,
}

impl Google {
    /// ID tokens for these OAuth client ids (at least one).
    pub fn new<S: Into<String>>(client_ids: impl IntoIterator<Item = S>) -> Self {
        Google {
            client_ids: listed(client_ids),
            hosted_domain: None,
            common: Common::new("Google"),
        }
    }

    /// Requires `hd` (the Google Workspace domain) to be `domain`.
    pub fn hosted_domain(mut self, domain: impl Into<String>) -> Self {
        self.hosted_domain = Some(domain.into().trim().to_owned());
        self
    }

    common_overrides!();

    /// Builds the verifier.
    pub fn build(self) -> Result<Verifier, ProviderError> {
        if self.client_ids.is_empty() {
            return Err(self
                .common
                .setting("client ids", "at least one OAuth client id is required"));
        }
        let mut policy = self
            .common
            .policy(&[Algorithm::RS256])
            .issuers(["https://accounts.google.com", "accounts.google.com"])
            .audiences(self.client_ids.clone());
        if let Some(domain) = &self.hosted_domain {
            let rule = ClaimRule::one_of("hd", [domain.clone()]).map_err(|_| {
                self.common
                    .setting("hosted domain", "the hosted domain must not be empty")
            })?;
            policy = policy.rule(rule);
        }
        let validation = self.common.finish_policy(policy)?;
        let keys = self
            .common
            .jwks(JwksSource::builder, GOOGLE_CERTS_URL, None)?;
        let access = self.common.access(Vec::new());
        Ok(self.common.verifier(validation, Arc::new(keys), access))
    }
}
