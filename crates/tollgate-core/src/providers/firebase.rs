//! Firebase Authentication ID tokens (and Google Identity Platform).
//!
//! The rules of the Firebase Admin SDKs: issuer `https://securetoken.google.com/<project>`,
//! `aud` the project id, RS256 only, keys from Google's x509 certificate map (its
//! `Cache-Control` sets how long they are kept), `sub` (the uid) non-empty and at most 128
//! characters, `auth_time` present and not in the future (the leeway applies). Roles come from a
//! custom claim, `roles` by default.
//!
//! ```
//! use tollgate_core::providers::firebase::Firebase;
//!
//! let verifier = Firebase::new("my-project").build()?;
//! assert_eq!(verifier.validation().issuers(), ["https://securetoken.google.com/my-project"]);
//! assert_eq!(verifier.validation().audiences(), ["my-project"]);
//! # Ok::<(), tollgate_core::providers::ProviderError>(())
//! ```

use std::sync::Arc;

use super::{Common, ProviderError, common_overrides, path};
use crate::algorithm::Algorithm;
use crate::remote::JwksSource;
use crate::rules::ClaimRule;
use crate::verifier::Verifier;

/// The Firebase preset; see the [module docs](self).
#[derive(Debug, Clone)]
#[must_use]
pub struct Firebase {
    project_id: String,
    common: Common,
}

impl Firebase {
    /// ID tokens of Firebase project `project_id`.
    pub fn new(project_id: impl Into<String>) -> Self {
        Firebase {
            project_id: project_id.into().trim().to_owned(),
            common: Common::new("Firebase"),
        }
    }

    common_overrides!();

    /// Builds the verifier.
    pub fn build(self) -> Result<Verifier, ProviderError> {
        let project = &self.project_id;
        let valid = !project.is_empty()
            && project.len() <= 64
            && project
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            return Err(self.common.setting(
                "project id",
                format!("{project:?} is not a project id such as my-project-123"),
            ));
        }
        let issuer = format!("https://securetoken.google.com/{project}");
        let policy_error = |source| ProviderError::Policy {
            provider: "Firebase",
            source,
        };
        let policy = self
            .common
            .policy(&[Algorithm::RS256])
            .issuer(issuer.clone())
            .audience(project.clone())
            .rule(ClaimRule::string_length("sub", 1..=128).map_err(policy_error)?)
            .rule(ClaimRule::not_in_future("auth_time").map_err(policy_error)?);
        let validation = self.common.finish_policy(policy)?;
        // An override URL is read in the same format: Google's certificate map, RS256 keys.
        let keys = self.common.jwks(
            |url| JwksSource::firebase().url(url),
            crate::remote::FIREBASE_SECURETOKEN_CERTS_URL,
            Some(&issuer),
        )?;
        let access = self.common.access(vec![path("roles")]);
        Ok(self.common.verifier(validation, Arc::new(keys), access))
    }
}
