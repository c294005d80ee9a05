//! [`TokenVerifier`]: what an HTTP layer or an authorizer needs from a verifier, in two phases.
//!
//! A verification is decided synchronously whenever it can be: a cached token, a full check with
//! a key the source already holds, any refusal before the key lookup. Only a verification whose
//! key source has to wait (a JWKS fetch) becomes a future, and that future owns everything it
//! needs (`'static`), so a caller can box it without keeping the request alive. Nothing is ever
//! polled to find out whether it would be ready: a [`KeyFuture`](crate::KeyFuture) says so
//! without polling, and the pending future is the only thing that ever polls the key source.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::bearer;
use crate::error::Error;
use crate::verified_token::VerifiedToken;

/// How a verification started: decided at once, or waiting for the key source.
///
/// `.await` it for the outcome either way; in a `tower::Service::call`, match it to answer
/// synchronously when it is [`Done`](Verification::Done).
///
/// ```
/// use tollgate_core::{Algorithm, CryptoProvider, KeySet, Validation, Verification, Verifier,
///                     VerificationKey};
///
/// let key = VerificationKey::hmac([7u8; 32])?;
/// let policy = Validation::builder([Algorithm::HS256]).audience("my-api").build()?;
/// let verifier = Verifier::new(policy, KeySet::from(key), CryptoProvider::default());
/// // Keys at hand: decided synchronously (here refused, the token is not a JWS).
/// match verifier.start("not-a-token") {
///     Verification::Done(outcome) => assert!(outcome.is_err()),
///     Verification::Pending(_) => unreachable!("a KeySet never waits"),
/// }
/// # let rt = tokio::runtime::Builder::new_current_thread().build()?;
/// # rt.block_on(async {
/// // Or simply await it.
/// assert!(verifier.start("not-a-token").await.is_err());
/// # });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a pending verification does nothing unless awaited"]
#[derive(Debug)]
pub enum Verification {
    /// Decided without waiting: verified, or refused.
    Done(Result<VerifiedToken, Error>),
    /// The key source has to wait (e.g. fetch a JWK Set); the future finishes the verification.
    Pending(PendingVerification),
}

impl Verification {
    /// The outcome when it is already decided; `None` when pending (the pending verification is
    /// dropped unpolled, which has no effect: nothing was fetched or counted for it).
    pub fn done(self) -> Option<Result<VerifiedToken, Error>> {
        match self {
            Verification::Done(outcome) => Some(outcome),
            Verification::Pending(_) => None,
        }
    }

    /// Whether the key source has to wait.
    pub fn is_pending(&self) -> bool {
        matches!(self, Verification::Pending(_))
    }
}

impl From<Result<VerifiedToken, Error>> for Verification {
    fn from(outcome: Result<VerifiedToken, Error>) -> Self {
        Verification::Done(outcome)
    }
}

impl IntoFuture for Verification {
    type Output = Result<VerifiedToken, Error>;
    type IntoFuture = VerificationFuture;

    fn into_future(self) -> VerificationFuture {
        VerificationFuture(match self {
            Verification::Done(outcome) => FutureState::Done(Some(outcome)),
            Verification::Pending(pending) => FutureState::Pending(pending),
        })
    }
}

type BoxedVerification = Pin<Box<dyn Future<Output = Result<VerifiedToken, Error>> + Send>>;

/// A verification waiting for its key source: owns the token and everything else it needs, so
/// it can outlive the request it came from. The only thing that polls the key source for it.
pub struct PendingVerification(BoxedVerification);

impl PendingVerification {
    /// Wraps the rest of a verification (for [`TokenVerifier`] implementations that add a step,
    /// e.g. re-reading a rotated secret).
    pub fn new(
        future: impl Future<Output = Result<VerifiedToken, Error>> + Send + 'static,
    ) -> Self {
        PendingVerification(Box::pin(future))
    }
}

impl Future for PendingVerification {
    type Output = Result<VerifiedToken, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

impl fmt::Debug for PendingVerification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PendingVerification")
    }
}

/// The future of a [`Verification`] (`.await` on it, [`TokenVerifier::verify`], [`Verifier::verify`](crate::Verifier::verify)): ready at
/// once when it was decided, else the [`PendingVerification`]. Owns everything (`'static`).
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct VerificationFuture(FutureState);

#[derive(Debug)]
enum FutureState {
    Done(Option<Result<VerifiedToken, Error>>),
    Pending(PendingVerification),
}

impl Future for VerificationFuture {
    type Output = Result<VerifiedToken, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            FutureState::Done(outcome) => match outcome.take() {
                Some(outcome) => Poll::Ready(outcome),
                None => Poll::Ready(Err(Error::KeySourceUnavailable(
                    "verification polled after completion".into(),
                ))),
            },
            FutureState::Pending(pending) => Pin::new(pending).poll(cx),
        }
    }
}

/// Something that verifies tokens: a [`Verifier`](crate::Verifier) (one issuer), a
/// [`MultiIssuer`](crate::MultiIssuer) (several), or a wrapper adding a step of its own. What
/// `tollgate`'s `AuthLayer` and `tollgate-lambda`'s authorizer are built on.
///
/// Implementations decide in [`start`](Self::start) whatever needs no waiting, and return
/// [`Verification::Pending`] only when a key source has to wait; the pending future must be the
/// only thing that polls that key source (never poll a verification to see whether it is
/// ready and then start it again: with a remote source the abandoned poll has already started
/// a fetch).
///
/// ```
/// use tollgate_core::{Algorithm, CryptoProvider, KeySet, TokenVerifier, Validation,
///                     Verification, Verifier, VerificationKey};
///
/// /// Refuses one subject outright, before verifying anything else.
/// struct Banning(Verifier);
///
/// impl TokenVerifier for Banning {
///     fn start(&self, token: &str) -> Verification {
///         match self.0.start(token) {
///             Verification::Done(Ok(verified)) if verified.subject() == Some("banned") => {
///                 Verification::Done(Err(tollgate_core::Error::ClaimCheck("banned".into())))
///             }
///             other => other,
///         }
///     }
/// }
///
/// let key = VerificationKey::hmac([7u8; 32])?;
/// let policy = Validation::builder([Algorithm::HS256]).audience("my-api").build()?;
/// let verifier = Banning(Verifier::new(policy, KeySet::from(key), CryptoProvider::default()));
/// # let rt = tokio::runtime::Builder::new_current_thread().build()?;
/// assert!(rt.block_on(verifier.verify("not.a.token")).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait TokenVerifier: Send + Sync + 'static {
    /// Starts verifying `token`: [`Verification::Done`] when that needs no waiting (a cached
    /// token, a key at hand, a refusal), else [`Verification::Pending`], which owns the token.
    fn start(&self, token: &str) -> Verification;

    /// Verifies `token`: [`start`](Self::start), then wait for it if pending.
    fn verify(&self, token: &str) -> VerificationFuture {
        self.start(token).into_future()
    }

    /// Starts verifying a token as a request presented it: bytes that are not yet known to be
    /// an RFC 6750 `b64token` ([`bearer::credentials`](crate::bearer::credentials)). `None`
    /// when they are not one (the caller refuses the request as malformed, 400
    /// `invalid_request`); otherwise what [`start`](Self::start) answers for the token.
    ///
    /// The provided implementation checks the grammar
    /// ([`bearer::b64token_str`](crate::bearer::b64token_str)), then calls `start`. A verifier
    /// with a token cache ([`Verifier`](crate::Verifier), [`MultiIssuer`](crate::MultiIssuer))
    /// asks its cache first: only verified tokens are cached, and every verified token is a
    /// `b64token` (three strict base64url segments), so a hit needs no grammar check (for a
    /// 700-byte token the check and the UTF-8 conversion are about 1,100 instructions, a third
    /// of what a cache hit costs). Override it only with that same guarantee: `None` for every
    /// input that is not a `b64token`, and otherwise exactly the answer of `start`.
    ///
    /// ```
    /// use tollgate_core::{Algorithm, CryptoProvider, KeySet, TokenVerifier, Validation,
    ///                     Verifier, VerificationKey};
    ///
    /// let key = VerificationKey::hmac([7u8; 32])?;
    /// let policy = Validation::builder([Algorithm::HS256]).audience("my-api").build()?;
    /// let verifier = Verifier::new(policy, KeySet::from(key), CryptoProvider::default());
    /// assert!(verifier.start_presented(b"a,b").is_none());
    /// let refused = verifier.start_presented(b"not-a-jws").and_then(|v| v.done());
    /// assert!(matches!(refused, Some(Err(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn start_presented(&self, token: &[u8]) -> Option<Verification> {
        bearer::b64token_str(token).map(|token| self.start(token))
    }
}

impl<V: TokenVerifier + ?Sized> TokenVerifier for Arc<V> {
    fn start(&self, token: &str) -> Verification {
        (**self).start(token)
    }

    fn start_presented(&self, token: &[u8]) -> Option<Verification> {
        (**self).start_presented(token)
    }
}

impl<V: TokenVerifier + ?Sized> TokenVerifier for Box<V> {
    fn start(&self, token: &str) -> Verification {
        (**self).start(token)
    }

    fn start_presented(&self, token: &[u8]) -> Option<Verification> {
        (**self).start_presented(token)
    }
}
