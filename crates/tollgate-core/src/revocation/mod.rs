//! Revocation: refusing a verified token before its `exp` (a user logged out everywhere, an
//! account was disabled, a token or a client leaked).
//!
//! A [`RevocationCheck`] runs on every request a verifier accepts, cache hits included (the
//! verified-token cache may skip the signature, never revocation). The rules it can express, in
//! [`RevocationList`]:
//! - one token, by `jti`, until the token would have expired anyway;
//! - everything issued to a subject before an instant (`sub` with `iat` < T; a token of that
//!   subject without `iat` cannot prove it is newer and is refused too);
//! - everything issued to a client before an instant (`client_id` or `azp`, same `iat` rule).
//!
//! A check answers at once when it has the rules in memory ([`RevocationList`] does; so does a
//! shared store that keeps a local mirror, such as `tollgate-redis`), or asynchronously. When it
//! cannot answer (its store is unreachable), [`FailureMode`] decides: refuse (the default) or
//! accept and log a warning.
//!
//! ```
//! use tollgate_core::revocation::{Revoked, RevocationList, TokenFacts};
//!
//! let list = RevocationList::new();
//! list.revoke_token("token-7", 4_102_444_800);
//! list.revoke_subject("user-1", 1_700_000_000);
//!
//! let facts = |jti, sub, iat| TokenFacts { jti, sub, iat, client_id: None, azp: None };
//! let now = 1_750_000_000;
//! assert_eq!(list.find(&facts(Some("token-7"), None, None), now), Some(Revoked::Token));
//! assert_eq!(
//!     list.find(&facts(None, Some("user-1"), Some(1_600_000_000)), now),
//!     Some(Revoked::Subject { before: 1_700_000_000 })
//! );
//! // Issued at or after the instant: a fresh login after "log out everywhere" works.
//! assert_eq!(list.find(&facts(None, Some("user-1"), Some(1_700_000_000)), now), None);
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use serde_json::Value;

use crate::error::Error;
use crate::token_verifier::{PendingVerification, Verification};
use crate::verified_token::VerifiedToken;

mod redis_url;
pub(crate) mod rules;

use rules::whole_seconds;

// Kept as long as the most lenient policy still accepts an expired token.
const _: () = assert!(KEPT_AFTER_EXP.as_secs() == crate::validation::MAX_LEEWAY.as_secs());
pub use redis_url::{MAX_REDIS_URL_BYTES, RedisUrl};
pub use rules::{KEPT_AFTER_EXP, Revoked, Rules, TokenFacts};

impl<'a> TokenFacts<'a> {
    /// The facts of a verified token (read from its JSON claims, parsed once per token).
    pub fn of(token: &'a VerifiedToken) -> Self {
        let claims = token.claims_json();
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        TokenFacts {
            jti: text("jti"),
            sub: text("sub"),
            iat: claims
                .get("iat")
                .and_then(Value::as_f64)
                .and_then(whole_seconds),
            client_id: text("client_id"),
            azp: text("azp"),
        }
    }
}

/// A revocation check could not answer (its store is unreachable or out of date).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("revocation state unavailable: {0}")]
pub struct RevocationError(pub String);

/// What a verifier does when its revocation check cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailureMode {
    /// Refuse the request as temporarily unavailable (503). The default: a revoked token must
    /// not get through because the store is down.
    #[default]
    FailClosed,
    /// Accept the token and log a warning: availability over revocation.
    FailOpen,
}

/// The answer of a [`RevocationCheck`]: `Ok(Some(rule))` when revoked, `Ok(None)` when not.
pub type RevocationResult = Result<Option<Revoked>, RevocationError>;

/// The answer of a [`RevocationCheck`], at hand or to wait for.
pub struct RevocationFuture(State);

enum State {
    Ready(Option<RevocationResult>),
    Pending(Pin<Box<dyn Future<Output = RevocationResult> + Send + 'static>>),
}

impl RevocationFuture {
    /// An answer at hand.
    pub fn ready(result: RevocationResult) -> Self {
        RevocationFuture(State::Ready(Some(result)))
    }

    /// An answer to wait for. It must do nothing until first polled (an `async` block does
    /// exactly that): a verification that can finish without it drops it unpolled.
    pub fn new(future: impl Future<Output = RevocationResult> + Send + 'static) -> Self {
        RevocationFuture(State::Pending(Box::pin(future)))
    }

    /// The answer when it is at hand, without polling; else the future itself, unpolled.
    ///
    /// ```
    /// use tollgate_core::revocation::RevocationFuture;
    ///
    /// assert!(matches!(RevocationFuture::ready(Ok(None)).into_ready(), Ok(Ok(None))));
    /// assert!(RevocationFuture::new(async { Ok(None) }).into_ready().is_err());
    /// ```
    pub fn into_ready(self) -> Result<RevocationResult, Self> {
        match self.0 {
            State::Ready(Some(result)) => Ok(result),
            State::Ready(None) => Ok(Err(RevocationError(
                "revocation future polled after completion".into(),
            ))),
            pending @ State::Pending(_) => Err(RevocationFuture(pending)),
        }
    }
}

impl fmt::Debug for RevocationFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            State::Ready(_) => "RevocationFuture::Ready",
            State::Pending(_) => "RevocationFuture::Pending",
        })
    }
}

impl Future for RevocationFuture {
    type Output = RevocationResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<RevocationResult> {
        match &mut self.0 {
            State::Ready(result) => Poll::Ready(result.take().unwrap_or_else(|| {
                Err(RevocationError(
                    "revocation future polled after completion".into(),
                ))
            })),
            State::Pending(future) => future.as_mut().poll(cx),
        }
    }
}

/// Decides whether a verified token was revoked. Runs on every accepted request, so it should
/// answer from memory ([`RevocationFuture::ready`]); a store that needs a network round trip per
/// request belongs behind a local mirror (see `tollgate-redis`).
///
/// Closures `Fn(&TokenFacts<'_>, i64) -> RevocationResult` implement it (the `i64` is now, in
/// Unix seconds):
///
/// ```
/// use tollgate_core::revocation::{RevocationCheck, Revoked, TokenFacts};
///
/// let banned = |facts: &TokenFacts<'_>, _now: i64| {
///     Ok((facts.sub == Some("mallory")).then_some(Revoked::Subject { before: i64::MAX }))
/// };
/// let facts = TokenFacts { sub: Some("mallory"), ..TokenFacts::default() };
/// assert!(matches!(banned.check(&facts, 0).into_ready(), Ok(Ok(Some(_)))));
/// ```
pub trait RevocationCheck: Send + Sync + 'static {
    /// Whether the token with these facts is revoked at `now` (Unix seconds).
    fn check(&self, token: &TokenFacts<'_>, now: i64) -> RevocationFuture;
}

impl<F> RevocationCheck for F
where
    F: Fn(&TokenFacts<'_>, i64) -> RevocationResult + Send + Sync + 'static,
{
    fn check(&self, token: &TokenFacts<'_>, now: i64) -> RevocationFuture {
        RevocationFuture::ready(self(token, now))
    }
}

impl<C: RevocationCheck + ?Sized> RevocationCheck for Arc<C> {
    fn check(&self, token: &TokenFacts<'_>, now: i64) -> RevocationFuture {
        (**self).check(token, now)
    }
}

/// Everything revoked, in memory: the rule set of the module docs. Thread-safe; cheap to clone
/// (one `Arc`, clones share the rules). Used as is by a single instance, and as the local mirror
/// of a shared store.
#[derive(Clone, Default)]
pub struct RevocationList {
    rules: Arc<RwLock<Rules>>,
}

impl fmt::Debug for RevocationList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rules = self.read();
        f.debug_struct("RevocationList")
            .field("tokens", &rules.tokens.len())
            .field("subjects", &rules.subjects.len())
            .field("clients", &rules.clients.len())
            .finish()
    }
}

impl RevocationList {
    /// An empty list.
    pub fn new() -> Self {
        RevocationList::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Rules> {
        self.rules.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Rules> {
        self.rules.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Revokes the token `jti` until `expires_at` (its `exp`, Unix seconds), after which the
    /// token is refused for having expired anyway and the entry may go.
    pub fn revoke_token(&self, jti: &str, expires_at: i64) {
        let mut rules = self.write();
        let until = rules.tokens.entry(jti.to_owned()).or_insert(expires_at);
        *until = (*until).max(expires_at);
    }

    /// Revokes every token of `sub` issued before `before` (Unix seconds). A later instant
    /// replaces an earlier one; an earlier one never shortens a later one.
    pub fn revoke_subject(&self, sub: &str, before: i64) {
        let mut rules = self.write();
        let at = rules.subjects.entry(sub.to_owned()).or_insert(before);
        *at = (*at).max(before);
    }

    /// Revokes every token of client `client` (`client_id` or `azp`) issued before `before`.
    pub fn revoke_client(&self, client: &str, before: i64) {
        let mut rules = self.write();
        let at = rules.clients.entry(client.to_owned()).or_insert(before);
        *at = (*at).max(before);
    }

    /// The rule that revokes a token with `facts`, if any, at `now`.
    pub fn find(&self, facts: &TokenFacts<'_>, now: i64) -> Option<Revoked> {
        self.read().find(facts, now)
    }

    /// A copy of the rules (for listing them).
    pub fn snapshot(&self) -> Rules {
        self.read().clone()
    }

    /// Replaces every rule at once (a mirror resynchronised from its store).
    pub fn replace(&self, rules: Rules) {
        *self.write() = rules;
    }

    /// Drops token entries that expired by `now`.
    pub fn purge_expired(&self, now: i64) {
        self.write().purge_expired(now);
    }
}

impl RevocationCheck for RevocationList {
    fn check(&self, token: &TokenFacts<'_>, now: i64) -> RevocationFuture {
        RevocationFuture::ready(Ok(self.find(token, now)))
    }
}

/// A verifier's revocation step: the check and what to do when it cannot answer.
#[derive(Clone)]
pub(crate) struct Screen {
    check: Arc<dyn RevocationCheck>,
    mode: FailureMode,
}

impl fmt::Debug for Screen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Screen")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Screen {
    pub(crate) fn new(check: Arc<dyn RevocationCheck>, mode: FailureMode) -> Self {
        Screen { check, mode }
    }

    /// `verification` (of a verifier with this screen) with revocation applied to what it
    /// accepts, waiting only when the check has to.
    pub(crate) fn apply(&self, verification: Verification, now: i64) -> Verification {
        match verification {
            Verification::Done(Ok(verified)) => self.screen(verified, now),
            Verification::Pending(pending) => {
                let screen = self.clone();
                Verification::Pending(PendingVerification::new(async move {
                    let verified = pending.await?;
                    screen.screen(verified, now).await
                }))
            }
            refused @ Verification::Done(Err(_)) => refused,
        }
    }

    fn screen(&self, verified: VerifiedToken, now: i64) -> Verification {
        let answer = self.check.check(&TokenFacts::of(&verified), now);
        match answer.into_ready() {
            Ok(result) => Verification::Done(self.decide(verified, result)),
            Err(pending) => {
                let screen = self.clone();
                Verification::Pending(PendingVerification::new(async move {
                    let result = pending.await;
                    screen.decide(verified, result)
                }))
            }
        }
    }

    fn decide(
        &self,
        verified: VerifiedToken,
        result: RevocationResult,
    ) -> Result<VerifiedToken, Error> {
        match result {
            Ok(None) => Ok(verified),
            Ok(Some(rule)) => Err(Error::Revoked(rule)),
            Err(err) => match self.mode {
                FailureMode::FailClosed => Err(Error::RevocationUnavailable(err.0)),
                FailureMode::FailOpen => {
                    tracing::warn!(error = %err, "revocation state unavailable; token accepted (fail open)");
                    Ok(verified)
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(
        jti: Option<&'a str>,
        sub: Option<&'a str>,
        iat: Option<i64>,
        client_id: Option<&'a str>,
        azp: Option<&'a str>,
    ) -> TokenFacts<'a> {
        TokenFacts {
            jti,
            sub,
            iat,
            client_id,
            azp,
        }
    }

    #[test]
    fn a_revoked_jti_is_refused_until_its_expiry() {
        let list = RevocationList::new();
        list.revoke_token("j1", 100);
        let token = facts(Some("j1"), None, None, None, None);
        assert_eq!(list.find(&token, 99), Some(Revoked::Token));
        // Past exp, a verifier with leeway still accepts the token: the entry stays that long.
        let kept = KEPT_AFTER_EXP.as_secs() as i64;
        assert_eq!(list.find(&token, 100 + kept - 1), Some(Revoked::Token));
        assert_eq!(list.find(&token, 100 + kept), None, "forgotten");
        assert_eq!(
            list.find(&facts(Some("j2"), None, None, None, None), 0),
            None
        );
        list.purge_expired(100 + kept - 1);
        assert_eq!(list.snapshot().tokens.len(), 1);
        list.purge_expired(100 + kept);
        assert!(list.snapshot().tokens.is_empty());
    }

    #[test]
    fn a_subject_is_revoked_before_its_instant_and_without_iat() {
        let list = RevocationList::new();
        list.revoke_subject("alice", 1_000);
        let at = |iat| facts(None, Some("alice"), iat, None, None);
        assert_eq!(
            list.find(&at(Some(999)), 5_000),
            Some(Revoked::Subject { before: 1_000 })
        );
        assert_eq!(
            list.find(&at(Some(1_000)), 5_000),
            None,
            "iat == T accepted"
        );
        assert_eq!(
            list.find(&at(None), 5_000),
            Some(Revoked::Subject { before: 1_000 }),
            "no iat: refused"
        );
        assert_eq!(
            list.find(&facts(None, Some("bob"), Some(1), None, None), 5_000),
            None
        );
        // An earlier instant never shortens a later one.
        list.revoke_subject("alice", 500);
        assert_eq!(list.snapshot().subjects["alice"], 1_000);
    }

    #[test]
    fn a_client_matches_client_id_or_azp() {
        let list = RevocationList::new();
        list.revoke_client("app", 1_000);
        assert!(
            list.find(&facts(None, None, Some(1), Some("app"), None), 0)
                .is_some()
        );
        assert!(
            list.find(&facts(None, None, Some(1), None, Some("app")), 0)
                .is_some()
        );
        assert!(
            list.find(&facts(None, None, Some(1), Some("other"), Some("x")), 0)
                .is_none()
        );
        assert!(
            list.find(&facts(None, None, Some(2_000), Some("app"), None), 0)
                .is_none()
        );
    }

    #[test]
    fn closures_and_lists_answer_at_once() {
        let list = RevocationList::new();
        list.revoke_token("j", i64::MAX);
        let token = facts(Some("j"), None, None, None, None);
        assert!(matches!(
            list.check(&token, 0).into_ready(),
            Ok(Ok(Some(Revoked::Token)))
        ));
        let failing = |_: &TokenFacts<'_>, _: i64| Err(RevocationError("down".into()));
        assert!(matches!(failing.check(&token, 0).into_ready(), Ok(Err(_))));
    }

    #[test]
    fn whole_seconds_refuses_what_is_no_instant() {
        assert_eq!(whole_seconds(1.9), Some(1));
        assert_eq!(whole_seconds(f64::NAN), None);
        assert_eq!(whole_seconds(1e300), None);
    }
}
