//! Amazon Cognito user pools: access tokens (default) or ID tokens.
//!
//! - issuer `https://cognito-idp.<region>.amazonaws.com/<pool id>` (the region is read from the
//!   pool id, `<region>_<id>`), keys at `<issuer>/.well-known/jwks.json`, RS256;
//! - **access tokens** carry no `aud`; the app client is `client_id`, which must be listed, and
//!   `token_use` must be `access`. Machine-to-machine (client-credentials) tokens have no
//!   `username` and resource-server scopes (`my-api/read`); they pass the same rules;
//! - **ID tokens**: `token_use` must be `id` and `aud` a listed app client;
//! - roles from `cognito:groups`, scopes from `scope`.
//!
//! ```
//! use tollgate_core::providers::cognito::{Cognito, TokenUse};
//!
//! let access = Cognito::new("eu-west-1_Example1", ["client-a", "client-b"]).build()?;
//! let id = Cognito::new("eu-west-1_Example1", ["client-a"]).token_use(TokenUse::Id).build()?;
//! assert!(access.validation().accepts_any_audience()); // decided by `client_id` instead
//! assert_eq!(id.validation().audiences(), ["client-a"]);
//! assert!(Cognito::new("not-a-pool", ["client-a"]).build().is_err());
//! # Ok::<(), tollgate_core::providers::ProviderError>(())
//! ```

use std::sync::Arc;

use super::{Common, ProviderError, common_overrides, listed, path};
use crate::algorithm::Algorithm;
use crate::remote::JwksSource;
use crate::rules::ClaimRule;
use crate::verifier::Verifier;

/// Which Cognito token an API accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenUse {
    /// Access tokens (`token_use: access`, `client_id`): what an API should accept.
    #[default]
    Access,
    /// ID tokens (`token_use: id`, `aud`).
    Id,
}

/// The Cognito preset; see the [module docs](self).
#[derive(Debug, Clone)]
#[must_use]
pub struct Cognito {
    pool_id: String,
    client_ids: Vec<String>,
    token_use: TokenUse,
    common: Common,
}

impl Cognito {
    /// Tokens of user pool `pool_id` (`us-east-1_AbC123`) for these app clients (at least one).
    pub fn new<S: Into<String>>(
        pool_id: impl Into<String>,
        client_ids: impl IntoIterator<Item = S>,
    ) -> Self {
        Cognito {
            pool_id: pool_id.into().trim().to_owned(),
            client_ids: listed(client_ids),
            token_use: TokenUse::Access,
            common: Common::new("Cognito"),
        }
    }

    /// Access tokens (default) or ID tokens.
    pub fn token_use(mut self, token_use: TokenUse) -> Self {
        self.token_use = token_use;
        self
    }

    common_overrides!();

    /// The issuer of this pool's tokens.
    pub fn issuer(&self) -> Result<String, ProviderError> {
        let region = region_of(&self.pool_id).ok_or_else(|| {
            self.common.setting(
                "user pool id",
                format!(
                    "{:?} is not a user pool id such as us-east-1_AbC123 (<region>_<id>)",
                    self.pool_id
                ),
            )
        })?;
        Ok(format!(
            "https://cognito-idp.{region}.amazonaws.com/{}",
            self.pool_id
        ))
    }

    /// Builds the verifier.
    pub fn build(self) -> Result<Verifier, ProviderError> {
        let issuer = self.issuer()?;
        if self.client_ids.is_empty() {
            return Err(self.common.setting(
                "app client ids",
                "at least one app client id is required (a pool signs tokens for all its clients)",
            ));
        }
        let rule = |claim: &str, values: Vec<String>| {
            ClaimRule::one_of(claim, values).map_err(|source| ProviderError::Policy {
                provider: "Cognito",
                source,
            })
        };
        let policy = self
            .common
            .policy(&[Algorithm::RS256])
            .issuer(issuer.clone());
        let policy = match self.token_use {
            TokenUse::Access => policy
                .any_audience()
                .rule(rule("token_use", vec!["access".into()])?)
                .rule(rule("client_id", self.client_ids.clone())?),
            TokenUse::Id => policy
                .audiences(self.client_ids.clone())
                .rule(rule("token_use", vec!["id".into()])?),
        };
        let validation = self.common.finish_policy(policy)?;
        let keys = self.common.jwks(
            JwksSource::builder,
            &format!("{issuer}/.well-known/jwks.json"),
            Some(&issuer),
        )?;
        let access = self.common.access(vec![path("cognito:groups")]);
        Ok(self.common.verifier(validation, Arc::new(keys), access))
    }
}

/// The region of a pool id: `<region>_<id>`, region like `us-east-1`, id alphanumeric.
fn region_of(pool_id: &str) -> Option<&str> {
    let (region, id) = pool_id.split_once('_')?;
    let region_ok = region.contains('-')
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !region.starts_with('-')
        && !region.ends_with('-');
    let id_ok = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric());
    (region_ok && id_ok).then_some(region)
}

#[cfg(test)]
mod tests {
    use super::region_of;

    #[test]
    fn pool_ids() {
        assert_eq!(region_of("us-east-1_AbC123"), Some("us-east-1"));
        assert_eq!(region_of("ap-southeast-2_x9"), Some("ap-southeast-2"));
        assert_eq!(region_of("us-gov-west-1_A"), Some("us-gov-west-1"));
        for bad in [
            "",
            "us-east-1",
            "_abc",
            "us-east-1_",
            "US-EAST-1_a",
            "useast1_a",
            "us-east-1_a/b",
            "us-east-1_a_b",
        ] {
            assert_eq!(region_of(bad), None, "{bad:?}");
        }
    }
}
