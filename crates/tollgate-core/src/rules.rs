//! Claim rules: typed checks of claims beyond the registered ones, with precise errors.
//!
//! Identity providers put what makes a token *theirs* in claims RFC 7519 does not define:
//! Cognito's `token_use` and `client_id`, Firebase's `auth_time`, Entra ID's `tid` bound into
//! `iss`, Keycloak's payload `typ`. A [`ClaimRule`] states one such rule; the provider presets are
//! built from these, and a hand-built policy can use the same ones
//! ([`ValidationBuilder::rule`](crate::ValidationBuilder::rule)). Unlike a closure
//! [`ClaimCheck`](crate::ClaimCheck), a rule refuses with the same typed errors as the built-in
//! checks ([`Error::MissingClaim`], [`Error::InvalidClaim`], [`Error::WrongIssuer`],
//! [`Error::WrongAudience`]).
//!
//! Every rule is a function of the token's claims and the time only, and a rule that passed
//! once passes at any later time, so the verified-token cache may keep its verdict.

use std::collections::HashSet;
use std::fmt;
use std::ops::RangeInclusive;

use serde_json::{Map, Value};

use crate::claims::MAX_NUMERIC_DATE;
use crate::error::{ConfigError, Error};

/// The placeholder a tenant-bound issuer template carries, e.g.
/// `https://login.microsoftonline.com/{tenantid}/v2.0`.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// Which tenants a tenant-bound issuer accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tenants {
    /// Only these tenant ids.
    Listed(HashSet<String>),
    /// Any tenant: an explicit opt-in for multi-tenant applications that authorize each tenant
    /// themselves. The tenant id must still be a plain identifier (letters, digits, `-`).
    Any,
}

/// One typed rule over a token's claims, with precise errors.
///
/// Identity providers put what makes a token *theirs* in claims RFC 7519 does not define
/// (Cognito's `token_use` and `client_id`, Firebase's `auth_time`, Entra ID's `tid` bound into
/// `iss`, Keycloak's payload `typ`); the provider presets are built from these rules, and a
/// hand-built policy can use the same ones. A rule refuses with the same typed errors as the
/// built-in checks, and depends on the claims and the time only, so the verified-token cache may
/// keep its verdict.
///
/// ```
/// use tollgate_core::{Algorithm, ClaimRule, Validation};
///
/// // Cognito access tokens by hand: no `aud`, the app client in `client_id`.
/// let policy = Validation::builder([Algorithm::RS256])
///     .issuer("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123")
///     .any_audience()
///     .rule(ClaimRule::one_of("token_use", ["access"])?)
///     .rule(ClaimRule::one_of("client_id", ["7d8h2kl3"])?)
///     .build()?;
/// # let _ = policy;
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ClaimRule(Rule);

#[derive(Clone, PartialEq, Eq)]
enum Rule {
    OneOf {
        claim: String,
        values: Vec<String>,
        required: bool,
    },
    Length {
        claim: String,
        chars: RangeInclusive<usize>,
    },
    NotInFuture {
        claim: String,
    },
    AudienceOr {
        audiences: Vec<String>,
        claim: String,
        values: Vec<String>,
    },
    TenantIssuer {
        templates: Vec<(String, String)>,
        tenant_claim: String,
        tenants: Tenants,
    },
}

fn non_empty(what: &'static str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() {
        Err(ConfigError::EmptyValue(what))
    } else {
        Ok(())
    }
}

fn value_list<S: Into<String>>(
    values: impl IntoIterator<Item = S>,
) -> Result<Vec<String>, ConfigError> {
    let values: Vec<String> = values.into_iter().map(Into::into).collect();
    if values.is_empty() || values.iter().any(String::is_empty) {
        return Err(ConfigError::EmptyValue("rule value"));
    }
    Ok(values)
}

impl ClaimRule {
    /// `claim` must be present, a string, and one of `values` (e.g. Cognito's `token_use`).
    pub fn one_of<S: Into<String>>(
        claim: impl Into<String>,
        values: impl IntoIterator<Item = S>,
    ) -> Result<Self, ConfigError> {
        let claim = claim.into();
        non_empty("rule claim", &claim)?;
        Ok(ClaimRule(Rule::OneOf {
            claim,
            values: value_list(values)?,
            required: true,
        }))
    }

    /// When `claim` is present it must be a string and one of `values` (e.g. Keycloak's payload
    /// `typ`, `Bearer` for access tokens).
    pub fn one_of_if_present<S: Into<String>>(
        claim: impl Into<String>,
        values: impl IntoIterator<Item = S>,
    ) -> Result<Self, ConfigError> {
        let claim = claim.into();
        non_empty("rule claim", &claim)?;
        Ok(ClaimRule(Rule::OneOf {
            claim,
            values: value_list(values)?,
            required: false,
        }))
    }

    /// `claim` must be present and a string of `chars` characters (e.g. Firebase's `sub`: 1 to
    /// 128).
    pub fn string_length(
        claim: impl Into<String>,
        chars: RangeInclusive<usize>,
    ) -> Result<Self, ConfigError> {
        let claim = claim.into();
        non_empty("rule claim", &claim)?;
        Ok(ClaimRule(Rule::Length { claim, chars }))
    }

    /// `claim` must be present, a NumericDate, and not later than now plus the policy's leeway
    /// (e.g. Firebase's `auth_time`).
    pub fn not_in_future(claim: impl Into<String>) -> Result<Self, ConfigError> {
        let claim = claim.into();
        non_empty("rule claim", &claim)?;
        Ok(ClaimRule(Rule::NotInFuture { claim }))
    }

    /// `aud` must contain one of `audiences`, or else `claim` must be one of `values`
    /// (Keycloak: the client is in `aud`, or it is the authorized party `azp`). Use with
    /// [`any_audience`](crate::ValidationBuilder::any_audience): this rule is the audience
    /// decision.
    pub fn audience_or<A: Into<String>, S: Into<String>>(
        audiences: impl IntoIterator<Item = A>,
        claim: impl Into<String>,
        values: impl IntoIterator<Item = S>,
    ) -> Result<Self, ConfigError> {
        let claim = claim.into();
        non_empty("rule claim", &claim)?;
        Ok(ClaimRule(Rule::AudienceOr {
            audiences: value_list(audiences)?,
            claim,
            values: value_list(values)?,
        }))
    }

    /// `iss` must be one of `templates` with the token's own `tenant_claim` put in place of
    /// `{tenantid}`, and that tenant must be accepted by `tenants` (Entra ID: `tid` in
    /// `https://login.microsoftonline.com/{tenantid}/v2.0` and `https://sts.windows.net/{tenantid}/`).
    /// This binds the issuer to the tenant: a token of one tenant cannot claim another's issuer.
    pub fn tenant_issuer<S: Into<String>>(
        templates: impl IntoIterator<Item = S>,
        tenant_claim: impl Into<String>,
        tenants: Tenants,
    ) -> Result<Self, ConfigError> {
        let tenant_claim = tenant_claim.into();
        non_empty("tenant claim", &tenant_claim)?;
        let mut split = Vec::new();
        for template in templates {
            let template = template.into();
            let parts = template
                .split_once(TENANT_PLACEHOLDER)
                .filter(|(prefix, suffix)| {
                    !prefix.is_empty() && !suffix.contains(TENANT_PLACEHOLDER)
                })
                .ok_or_else(|| ConfigError::IssuerTemplate(template.clone()))?;
            split.push((parts.0.to_owned(), parts.1.to_owned()));
        }
        if split.is_empty() {
            return Err(ConfigError::EmptyValue("issuer template"));
        }
        if let Tenants::Listed(list) = &tenants
            && (list.is_empty() || list.iter().any(|t| !is_tenant_id(t)))
        {
            return Err(ConfigError::EmptyValue("tenant id"));
        }
        Ok(ClaimRule(Rule::TenantIssuer {
            templates: split,
            tenant_claim,
            tenants,
        }))
    }

    /// Applies the rule to verified claims at `now` (seconds) with `leeway_secs`.
    pub(crate) fn check(
        &self,
        claims: &Map<String, Value>,
        now: i64,
        leeway_secs: u64,
    ) -> Result<(), Error> {
        match &self.0 {
            Rule::OneOf {
                claim,
                values,
                required,
            } => match claims.get(claim) {
                None if !required => Ok(()),
                None => Err(Error::MissingClaim(claim.clone())),
                Some(Value::String(actual)) if values.contains(actual) => Ok(()),
                Some(Value::String(actual)) => Err(invalid(
                    claim,
                    format!("{actual:?} is not one of {values:?}"),
                )),
                Some(other) => Err(invalid(
                    claim,
                    format!("must be a string, not {}", kind(other)),
                )),
            },
            Rule::Length { claim, chars } => match claims.get(claim) {
                None => Err(Error::MissingClaim(claim.clone())),
                Some(Value::String(actual)) => {
                    let count = actual.chars().count();
                    if chars.contains(&count) {
                        Ok(())
                    } else {
                        Err(invalid(
                            claim,
                            format!(
                                "is {count} characters long, not {} to {}",
                                chars.start(),
                                chars.end()
                            ),
                        ))
                    }
                }
                Some(other) => Err(invalid(
                    claim,
                    format!("must be a string, not {}", kind(other)),
                )),
            },
            Rule::NotInFuture { claim } => {
                let value = claims
                    .get(claim)
                    .ok_or_else(|| Error::MissingClaim(claim.clone()))?;
                let Some(seconds) = value
                    .as_f64()
                    .filter(|n| n.is_finite() && (0.0..=MAX_NUMERIC_DATE as f64).contains(n))
                else {
                    return Err(invalid(claim, "must be a NumericDate in range".into()));
                };
                let latest = now.saturating_add(i64::try_from(leeway_secs).unwrap_or(i64::MAX));
                if seconds.ceil() as i64 > latest {
                    return Err(invalid(
                        claim,
                        format!("{seconds} is in the future (now {now}, leeway {leeway_secs} s)"),
                    ));
                }
                Ok(())
            }
            Rule::AudienceOr {
                audiences,
                claim,
                values,
            } => {
                let in_aud = match claims.get("aud") {
                    Some(Value::String(aud)) => audiences.contains(aud),
                    Some(Value::Array(auds)) => auds
                        .iter()
                        .filter_map(Value::as_str)
                        .any(|aud| audiences.iter().any(|a| a == aud)),
                    _ => false,
                };
                let in_claim =
                    matches!(claims.get(claim), Some(Value::String(v)) if values.contains(v));
                if in_aud || in_claim {
                    return Ok(());
                }
                Err(Error::WrongAudience {
                    expected: audiences.clone(),
                    actual: match claims.get("aud") {
                        Some(Value::String(aud)) => vec![aud.clone()],
                        Some(Value::Array(auds)) => auds
                            .iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect(),
                        _ => Vec::new(),
                    },
                })
            }
            Rule::TenantIssuer {
                templates,
                tenant_claim,
                tenants,
            } => {
                let iss = match claims.get("iss") {
                    Some(Value::String(iss)) => iss,
                    Some(other) => {
                        return Err(invalid(
                            "iss",
                            format!("must be a string, not {}", kind(other)),
                        ));
                    }
                    None => return Err(Error::MissingClaim("iss".into())),
                };
                let tenant = match claims.get(tenant_claim) {
                    Some(Value::String(tenant)) if is_tenant_id(tenant) => tenant,
                    Some(_) => {
                        return Err(invalid(tenant_claim, "is not a tenant id".into()));
                    }
                    None => return Err(Error::MissingClaim(tenant_claim.clone())),
                };
                let expected = || {
                    templates
                        .iter()
                        .map(|(prefix, suffix)| format!("{prefix}{TENANT_PLACEHOLDER}{suffix}"))
                        .collect::<Vec<_>>()
                };
                let bound = templates.iter().any(|(prefix, suffix)| {
                    iss.len() == prefix.len() + tenant.len() + suffix.len()
                        && iss.starts_with(prefix.as_str())
                        && iss.ends_with(suffix.as_str())
                        && &iss[prefix.len()..iss.len() - suffix.len()] == tenant.as_str()
                });
                if !bound {
                    return Err(Error::WrongIssuer {
                        expected: expected(),
                        actual: iss.clone(),
                    });
                }
                match tenants {
                    Tenants::Any => Ok(()),
                    Tenants::Listed(list) if list.contains(tenant) => Ok(()),
                    Tenants::Listed(_) => Err(invalid(
                        tenant_claim,
                        format!("tenant {tenant:?} is not allowed"),
                    )),
                }
            }
        }
    }
}

/// A tenant id as Entra ID writes it (a GUID) or any similar plain identifier.
fn is_tenant_id(tenant: &str) -> bool {
    !tenant.is_empty()
        && tenant.len() <= 64
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn invalid(claim: &str, reason: String) -> Error {
    Error::InvalidClaim {
        claim: claim.to_owned(),
        reason,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl fmt::Debug for ClaimRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Rule::OneOf {
                claim,
                values,
                required,
            } => write!(
                f,
                "{claim} one of {values:?}{}",
                if *required { "" } else { " (if present)" }
            ),
            Rule::Length { claim, chars } => {
                write!(f, "{claim} of {}..={} chars", chars.start(), chars.end())
            }
            Rule::NotInFuture { claim } => write!(f, "{claim} not in the future"),
            Rule::AudienceOr {
                audiences,
                claim,
                values,
            } => write!(f, "aud in {audiences:?} or {claim} in {values:?}"),
            Rule::TenantIssuer {
                templates,
                tenant_claim,
                tenants,
            } => write!(
                f,
                "iss bound to {tenant_claim} in {} templates, tenants {tenants:?}",
                templates.len()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn run(rule: &ClaimRule, claims: Value) -> Result<(), Error> {
        rule.check(claims.as_object().unwrap(), 1_000, 60)
    }

    #[test]
    fn one_of() {
        let rule = ClaimRule::one_of("token_use", ["access"]).unwrap();
        assert!(run(&rule, json!({"token_use": "access"})).is_ok());
        assert!(matches!(
            run(&rule, json!({"token_use": "id"})),
            Err(Error::InvalidClaim { .. })
        ));
        assert!(matches!(run(&rule, json!({})), Err(Error::MissingClaim(_))));
        assert!(run(&rule, json!({"token_use": ["access"]})).is_err());
        let optional = ClaimRule::one_of_if_present("typ", ["Bearer"]).unwrap();
        assert!(run(&optional, json!({})).is_ok());
        assert!(run(&optional, json!({"typ": "ID"})).is_err());
        assert!(ClaimRule::one_of("", ["x"]).is_err());
        assert!(ClaimRule::one_of("x", Vec::<String>::new()).is_err());
    }

    #[test]
    fn length_and_time() {
        let sub = ClaimRule::string_length("sub", 1..=128).unwrap();
        assert!(run(&sub, json!({"sub": "a".repeat(128)})).is_ok());
        assert!(run(&sub, json!({"sub": "a".repeat(129)})).is_err());
        assert!(run(&sub, json!({"sub": ""})).is_err());
        assert!(run(&sub, json!({})).is_err());
        let auth_time = ClaimRule::not_in_future("auth_time").unwrap();
        assert!(run(&auth_time, json!({"auth_time": 1_060})).is_ok());
        assert!(run(&auth_time, json!({"auth_time": 1_061})).is_err());
        assert!(run(&auth_time, json!({"auth_time": "1000"})).is_err());
        assert!(run(&auth_time, json!({"auth_time": -1})).is_err());
        assert!(run(&auth_time, json!({})).is_err());
    }

    #[test]
    fn audience_or_authorized_party() {
        let rule = ClaimRule::audience_or(["api"], "azp", ["api"]).unwrap();
        assert!(run(&rule, json!({"aud": "api"})).is_ok());
        assert!(run(&rule, json!({"aud": ["account", "api"]})).is_ok());
        assert!(run(&rule, json!({"aud": "account", "azp": "api"})).is_ok());
        assert!(matches!(
            run(&rule, json!({"aud": "account", "azp": "other"})),
            Err(Error::WrongAudience { .. })
        ));
    }

    #[test]
    fn tenant_issuer_binds_tid() {
        let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        let listed = Tenants::Listed([tenant.to_owned()].into_iter().collect());
        let rule = ClaimRule::tenant_issuer(
            [
                "https://login.microsoftonline.com/{tenantid}/v2.0",
                "https://sts.windows.net/{tenantid}/",
            ],
            "tid",
            listed,
        )
        .unwrap();
        let v2 = format!("https://login.microsoftonline.com/{tenant}/v2.0");
        let v1 = format!("https://sts.windows.net/{tenant}/");
        assert!(run(&rule, json!({"iss": v2, "tid": tenant})).is_ok());
        assert!(run(&rule, json!({"iss": v1, "tid": tenant})).is_ok());
        let other = "00000000-0000-0000-0000-000000000001";
        let foreign = format!("https://sts.windows.net/{other}/");
        assert!(matches!(
            run(&rule, json!({"iss": foreign, "tid": tenant})),
            Err(Error::WrongIssuer { .. })
        ));
        assert!(matches!(
            run(&rule, json!({"iss": foreign, "tid": other})),
            Err(Error::InvalidClaim { .. })
        ));
        assert!(run(&rule, json!({"iss": v2})).is_err());
        assert!(
            run(
                &rule,
                json!({"iss": "https://sts.windows.net/a/b/", "tid": "a/b"})
            )
            .is_err()
        );
        let any =
            ClaimRule::tenant_issuer(["https://sts.windows.net/{tenantid}/"], "tid", Tenants::Any)
                .unwrap();
        assert!(run(&any, json!({"iss": foreign, "tid": other})).is_ok());
        assert!(
            ClaimRule::tenant_issuer(["https://no-placeholder/"], "tid", Tenants::Any).is_err()
        );
        assert!(ClaimRule::tenant_issuer(["{tenantid}/{tenantid}"], "tid", Tenants::Any).is_err());
    }
}
