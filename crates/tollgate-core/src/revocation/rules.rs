//! The revocation rules and the token facts they judge: plain data, no I/O, nothing else of
//! the crate (errors name [`Revoked`]).

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// How long after a revoked token's `exp` its entry is kept: the largest leeway a policy
/// accepts ([`MAX_LEEWAY`](crate::MAX_LEEWAY)), since a verifier with leeway L still accepts a
/// token until `exp + L`. A shared store drops entries by the same rule.
pub const KEPT_AFTER_EXP: Duration = Duration::from_secs(600);

/// The instant a token entry revoked until `until` (the token's `exp`) may be forgotten.
fn forget_at(until: i64) -> i64 {
    until.saturating_add(KEPT_AFTER_EXP.as_secs() as i64)
}

/// What revocation looks at in a verified token. Borrowed from the token's claims.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenFacts<'a> {
    /// `jti`, when a string.
    pub jti: Option<&'a str>,
    /// `sub`, when a string.
    pub sub: Option<&'a str>,
    /// `iat`, floored to whole seconds, when a number.
    pub iat: Option<i64>,
    /// `client_id` (RFC 9068 access tokens), when a string.
    pub client_id: Option<&'a str>,
    /// `azp` (OpenID Connect), when a string.
    pub azp: Option<&'a str>,
}

/// `value` floored to whole seconds, when it is a finite number in `i64` range.
pub(super) fn whole_seconds(value: f64) -> Option<i64> {
    let floored = value.floor();
    // Beyond ±2^63 the cast would saturate; such an `iat` is no instant at all.
    (floored.is_finite() && floored.abs() < 9.2e18).then_some(floored as i64)
}

/// Which rule revoked a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// The token itself (its `jti`).
    Token,
    /// Its subject's tokens issued before `before` (Unix seconds).
    Subject {
        /// The subject's not-before instant.
        before: i64,
    },
    /// Its client's tokens issued before `before` (Unix seconds).
    Client {
        /// The client's not-before instant.
        before: i64,
    },
}

impl fmt::Display for Revoked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Revoked::Token => f.write_str("the token (its jti) was revoked"),
            Revoked::Subject { before } => {
                write!(
                    f,
                    "the subject's tokens issued before {before} were revoked"
                )
            }
            Revoked::Client { before } => {
                write!(f, "the client's tokens issued before {before} were revoked")
            }
        }
    }
}

/// The rules: `jti` -> the instant its entry may be forgotten (the token's `exp`), subject and
/// client -> not-before instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    /// Revoked token ids and when each may be forgotten (Unix seconds; the token's `exp`).
    pub tokens: HashMap<String, i64>,
    /// Subjects and the instant before which their tokens are revoked.
    pub subjects: HashMap<String, i64>,
    /// Clients (`client_id` / `azp`) and the instant before which their tokens are revoked.
    pub clients: HashMap<String, i64>,
}

impl Rules {
    /// The rule that revokes a token with `facts`, if any, at `now`.
    pub fn find(&self, facts: &TokenFacts<'_>, now: i64) -> Option<Revoked> {
        if let Some(jti) = facts.jti
            && self
                .tokens
                .get(jti)
                .is_some_and(|&until| now < forget_at(until))
        {
            return Some(Revoked::Token);
        }
        // Without `iat` a token cannot show it was issued after the instant.
        let issued_before = |before: i64| facts.iat.is_none_or(|iat| iat < before);
        if let Some(&before) = facts.sub.and_then(|sub| self.subjects.get(sub))
            && issued_before(before)
        {
            return Some(Revoked::Subject { before });
        }
        for client in [facts.client_id, facts.azp].into_iter().flatten() {
            if let Some(&before) = self.clients.get(client)
                && issued_before(before)
            {
                return Some(Revoked::Client { before });
            }
        }
        None
    }

    /// Drops token entries whose tokens cannot be accepted any more at `now` (expired for
    /// longer than [`KEPT_AFTER_EXP`]); subject and client rules stay.
    pub fn purge_expired(&mut self, now: i64) {
        self.tokens.retain(|_, until| now < forget_at(*until));
    }
}
