//! The registered claims of a payload (RFC 7519 4.1) as the policy checks them: NumericDates,
//! `iss`, `aud`, `sub`, required claims, and the time rules that are re-applied on every cache
//! hit.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::claims::MAX_NUMERIC_DATE;
use crate::error::Error;
use crate::scan::{Loose, MemberSink};
use crate::validation::Validation;

/// The registered claims as scanned, plus which required claims were seen.
#[derive(Default)]
pub(crate) struct ClaimsSink<'a> {
    exp: Option<Loose<'a>>,
    nbf: Option<Loose<'a>>,
    iat: Option<Loose<'a>>,
    iss: Option<Loose<'a>>,
    aud: Option<Loose<'a>>,
    sub: Option<Loose<'a>>,
    /// `cnf` (RFC 7800), kept one level deep: its `jkt` binds a DPoP token to a key.
    cnf: Option<Loose<'a>>,
    /// The policy's required claims, borrowed: a verification allocates nothing of the policy.
    /// At most [`MAX_REQUIRED_CLAIMS`](crate::MAX_REQUIRED_CLAIMS) distinct names (the policy
    /// builder refuses more), so each has a bit in `required_seen`.
    required: &'a [String],
    /// Bit i set when `required[i]` was present.
    required_seen: u128,
}

impl<'a> ClaimsSink<'a> {
    /// A sink for the claims `validation` looks at.
    pub(crate) fn new(validation: &'a Validation) -> Self {
        ClaimsSink {
            required: &validation.required_claims,
            ..ClaimsSink::default()
        }
    }
}

/// The bit of required claim `index`; none past the 128 a policy may list.
fn required_bit(index: usize) -> u128 {
    u32::try_from(index)
        .ok()
        .and_then(|shift| 1u128.checked_shl(shift))
        .unwrap_or(0)
}

impl<'a> MemberSink<'a> for ClaimsSink<'a> {
    fn wants(&self, name: &str) -> bool {
        matches!(name, "exp" | "nbf" | "iat" | "iss" | "aud" | "sub" | "cnf")
    }

    fn wants_members(&self, name: &str) -> bool {
        name == "cnf"
    }

    fn member(&mut self, name: &str, value: Option<Loose<'a>>) -> Result<(), String> {
        match name {
            "exp" => self.exp = value,
            "nbf" => self.nbf = value,
            "iat" => self.iat = value,
            "iss" => self.iss = value,
            "aud" => self.aud = value,
            "sub" => self.sub = value,
            "cnf" => self.cnf = value,
            _ => {}
        }
        if let Some(index) = self.required.iter().position(|r| r == name) {
            self.required_seen |= required_bit(index);
        }
        Ok(())
    }
}

/// A NumericDate (RFC 7519 2): a JSON number, finite, in range. Returns (floor, ceil).
fn numeric_date(claim: &str, value: &Loose<'_>) -> Result<(i64, i64), Error> {
    let invalid = |reason: String| Error::InvalidClaim {
        claim: claim.to_owned(),
        reason,
    };
    match value {
        Loose::Number(n) if n.is_finite() && *n >= 0.0 && *n <= MAX_NUMERIC_DATE as f64 => {
            Ok((n.floor() as i64, n.ceil() as i64))
        }
        Loose::Number(_) => Err(invalid("NumericDate out of range".into())),
        other => Err(invalid(format!(
            "must be a JSON number, not {}",
            other.kind()
        ))),
    }
}

/// The time claims of a verified token, ready to be re-checked at any instant.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TimeClaims {
    /// `exp`, floored.
    pub(crate) exp: Option<i64>,
    /// `nbf`, rounded up.
    pub(crate) nbf: Option<i64>,
    /// `iat`, rounded up.
    pub(crate) iat: Option<i64>,
}

impl TimeClaims {
    /// Applies the policy's time rules at `now`.
    pub(crate) fn check(&self, validation: &Validation, now: i64) -> Result<(), Error> {
        let leeway = validation.leeway_secs;
        let leeway_i = leeway as i64;
        if let Some(exp) = self.exp
            && now >= exp.saturating_add(leeway_i)
        {
            return Err(Error::Expired { exp, now, leeway });
        }
        if let Some(nbf) = self.nbf
            && now.saturating_add(leeway_i) < nbf
        {
            return Err(Error::NotYetValid { nbf, now, leeway });
        }
        if let Some(iat) = self.iat
            && validation.reject_future_iat
            && iat > now.saturating_add(leeway_i)
        {
            return Err(Error::IssuedInFuture { iat, now, leeway });
        }
        Ok(())
    }
}

/// Checks the scanned registered claims against the policy at `now`; the time claims on success.
pub(crate) fn check_claims(
    sink: &ClaimsSink<'_>,
    validation: &Validation,
    now: i64,
) -> Result<TimeClaims, Error> {
    let exp = match &sink.exp {
        Some(value) => Some(numeric_date("exp", value)?.0),
        None if validation.require_exp => return Err(Error::MissingClaim("exp".into())),
        None => None,
    };
    let times = TimeClaims {
        exp,
        nbf: sink
            .nbf
            .as_ref()
            .map(|v| numeric_date("nbf", v))
            .transpose()?
            .map(|(_, ceil)| ceil),
        iat: sink
            .iat
            .as_ref()
            .map(|v| numeric_date("iat", v))
            .transpose()?
            .map(|(_, ceil)| ceil),
    };
    times.check(validation, now)?;

    let iss = match &sink.iss {
        None => None,
        Some(Loose::Str(iss)) => Some(iss.as_ref()),
        Some(other) => {
            return Err(Error::InvalidClaim {
                claim: "iss".into(),
                reason: format!("must be a string, not {}", other.kind()),
            });
        }
    };
    if !validation.issuers.is_empty() {
        let iss = iss.ok_or_else(|| Error::MissingClaim("iss".into()))?;
        if !validation.issuers.iter().any(|accepted| accepted == iss) {
            return Err(Error::WrongIssuer {
                expected: validation.issuers.clone(),
                actual: iss.to_owned(),
            });
        }
    }

    let audiences: Vec<&str> = match &sink.aud {
        None => Vec::new(),
        Some(Loose::Str(aud)) => vec![aud.as_ref()],
        Some(Loose::Strings(auds)) => auds.iter().map(|a| a.as_ref()).collect(),
        Some(other) => {
            return Err(Error::InvalidClaim {
                claim: "aud".into(),
                reason: format!(
                    "must be a string or an array of strings, not {}",
                    other.kind()
                ),
            });
        }
    };
    if !validation.audiences.is_empty() {
        if sink.aud.is_none() {
            return Err(Error::MissingClaim("aud".into()));
        }
        if !audiences
            .iter()
            .any(|aud| validation.audiences.iter().any(|accepted| accepted == aud))
        {
            return Err(Error::WrongAudience {
                expected: validation.audiences.clone(),
                actual: audiences.iter().map(|a| (*a).to_owned()).collect(),
            });
        }
    }

    if let Some(sub) = &sink.sub
        && !matches!(sub, Loose::Str(_))
    {
        return Err(Error::InvalidClaim {
            claim: "sub".into(),
            reason: format!("must be a string, not {}", sub.kind()),
        });
    }

    for (index, name) in validation.required_claims.iter().enumerate() {
        if sink.required_seen & required_bit(index) == 0 {
            return Err(Error::MissingClaim(name.clone()));
        }
    }
    Ok(times)
}

/// The token's `cnf.jkt` (RFC 9449 6.1): the SHA-256 thumbprint of the key its DPoP proofs must
/// be signed with. Read in the verification scan rather than from the JSON view, since every
/// bearer request asks for it ([`dpop::check_bearer`](crate::dpop::check_bearer)). A `cnf` that
/// is not an object, or a `jkt` that is not a string, refuses the token: a binding that cannot be
/// read must not turn into no binding. A `cnf` without `jkt` (e.g. mTLS's `x5t#S256`) is `None`.
pub(crate) fn confirmation_jkt(sink: &ClaimsSink<'_>) -> Result<Option<Box<str>>, Error> {
    let invalid = |reason: String| Error::InvalidClaim {
        claim: "cnf".into(),
        reason,
    };
    let members = match &sink.cnf {
        None => return Ok(None),
        Some(Loose::Object(members)) => members,
        Some(other) => return Err(invalid(format!("must be an object, not {}", other.kind()))),
    };
    match members.iter().find(|(name, _)| name == "jkt") {
        None => Ok(None),
        Some((_, Loose::Str(jkt))) => Ok(Some(jkt.as_ref().into())),
        Some((_, other)) => Err(invalid(format!(
            "`jkt` must be a string, not {}",
            other.kind()
        ))),
    }
}

/// The policy's custom checks, on a miss and again on every cache hit: a check may read outside
/// state (a denylist), so its verdict is never cached. Typed [`ClaimRule`](crate::ClaimRule)s
/// are functions of the claims and time only, and a rule that passed stays passed, so their
/// verdict is kept with the cached token.
pub(crate) fn run_checks(
    validation: &Validation,
    claims: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), Error> {
    for check in &validation.checks {
        check.check(claims).map_err(Error::ClaimCheck)?;
    }
    Ok(())
}

/// Seconds since the epoch; 0 for a clock before it.
pub(crate) fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}
