//! The key-source trait: where verification keys come from.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::algorithm::Algorithm;
use crate::error::KeyLookupError;
use crate::key::VerificationKey;
use crate::key_set::KeySet;

/// What a verifier asks a key source for: the token's header `kid` (if any) and `alg`.
///
/// Only the `kid` and `alg` are passed: key-locating header members a token may carry (`jku`,
/// `x5u`, `jwk`, `x5c`) are attacker-controlled and never reach a key source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRequest<'a> {
    /// The token's `kid`, at most 256 bytes; an opaque string, never a path or URL.
    pub kid: Option<&'a str>,
    /// The token's `alg`, already checked against the policy's allow-list.
    pub alg: Algorithm,
}

/// The result of a key lookup.
pub type KeyResult = Result<Arc<VerificationKey>, KeyLookupError>;

/// The future returned by [`KeySource::key`]: ready without allocating when the answer is at
/// hand (a cache hit), boxed only when the source has to wait (e.g. to fetch a JWKS).
///
/// Which of the two it is is known without polling ([`into_ready`](Self::into_ready)): a
/// verifier finishes synchronously with a ready answer, and drops a pending one unpolled (see
/// the [`KeySource`] contract) to ask again from a future that owns what it needs.
pub struct KeyFuture<'a>(FutureState<'a>);

enum FutureState<'a> {
    Ready(Option<KeyResult>),
    Pending(Pin<Box<dyn Future<Output = KeyResult> + Send + 'a>>),
}

impl<'a> KeyFuture<'a> {
    /// A future that is already resolved.
    pub fn ready(result: KeyResult) -> Self {
        KeyFuture(FutureState::Ready(Some(result)))
    }

    /// Wraps a future that has to wait. It must do nothing until first polled (see the
    /// [`KeySource`] contract): an `async` block does exactly that.
    pub fn new(future: impl Future<Output = KeyResult> + Send + 'a) -> Self {
        KeyFuture(FutureState::Pending(Box::pin(future)))
    }

    /// The answer when it is at hand, without polling; the future itself, unpolled, when the
    /// source has to wait.
    ///
    /// ```
    /// use tollgate_core::{KeyFuture, KeyLookupError};
    ///
    /// let ready = KeyFuture::ready(Err(KeyLookupError::Ambiguous));
    /// assert!(matches!(ready.into_ready(), Ok(Err(KeyLookupError::Ambiguous))));
    /// let waiting = KeyFuture::new(async { Err(KeyLookupError::Ambiguous) });
    /// assert!(waiting.into_ready().is_err());
    /// ```
    pub fn into_ready(self) -> Result<KeyResult, Self> {
        match self.0 {
            FutureState::Ready(Some(result)) => Ok(result),
            FutureState::Ready(None) => Ok(Err(KeyLookupError::Unavailable(
                "key future polled after completion".into(),
            ))),
            pending @ FutureState::Pending(_) => Err(KeyFuture(pending)),
        }
    }

    /// Whether the answer is at hand (no waiting, no polling needed).
    pub fn is_ready(&self) -> bool {
        matches!(self.0, FutureState::Ready(_))
    }
}

impl Future for KeyFuture<'_> {
    type Output = KeyResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<KeyResult> {
        match &mut self.get_mut().0 {
            FutureState::Ready(result) => match result.take() {
                Some(result) => Poll::Ready(result),
                None => Poll::Ready(Err(KeyLookupError::Unavailable(
                    "key future polled after completion".into(),
                ))),
            },
            FutureState::Pending(future) => future.as_mut().poll(cx),
        }
    }
}

impl fmt::Debug for KeyFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            FutureState::Ready(_) => "KeyFuture::Ready",
            FutureState::Pending(_) => "KeyFuture::Pending",
        })
    }
}

/// A source of verification keys: static keys, a remote JWKS, OIDC discovery...
///
/// Implementations look keys up by [`KeyRequest`] and must:
/// - answer [`KeyLookupError::UnknownKid`] for a `kid` they do not have (a remote source first
///   refetches, subject to its own rate limit), and
///   [`KeyLookupError::Unavailable`] when they have no keys at all (fail closed);
/// - return only a key that [`permits`](VerificationKey::permits) `request.alg`
///   ([`KeySet::find`] does all of this);
/// - never block: bound any I/O by timeouts;
/// - **have no side effect before the returned future is first polled**: when `key` cannot
///   answer at once, it returns [`KeyFuture::new`] around work that starts on the first poll
///   (an `async` block), counting and fetching nothing before that. A verifier learns from
///   [`KeyFuture::into_ready`] that the answer is not at hand, drops that future unpolled and
///   asks again from the one future that will be driven to completion, so a pending lookup may
///   be requested twice but is performed once. Work done *synchronously* in `key` (a cache
///   read, a hit counter for a ready answer) must therefore be harmless to repeat when the
///   answer is pending: count a cache hit only when returning [`KeyFuture::ready`].
///
/// ```
/// use tollgate_core::{Algorithm, KeyFuture, KeyRequest, KeySet, KeySource, VerificationKey};
///
/// /// Keys that can be swapped at runtime, e.g. from a config reload.
/// #[derive(Debug)]
/// struct Reloadable(std::sync::RwLock<KeySet>);
///
/// impl KeySource for Reloadable {
///     fn key<'a>(&'a self, request: KeyRequest<'a>) -> KeyFuture<'a> {
///         let keys = self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner());
///         KeyFuture::ready(keys.find(request.kid, request.alg).cloned())
///     }
/// }
///
/// let key = VerificationKey::hmac([7u8; 32]).unwrap().with_kid("k1");
/// let source = Reloadable(std::sync::RwLock::new(KeySet::new().with(key)));
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let found = rt.block_on(source.key(KeyRequest { kid: Some("k1"), alg: Algorithm::HS256 }));
/// assert!(found.is_ok());
/// ```
pub trait KeySource: Send + Sync + fmt::Debug + 'static {
    /// Finds the key for a token.
    fn key<'a>(&'a self, request: KeyRequest<'a>) -> KeyFuture<'a>;

    /// The issuer whose keys these are, when the source knows it (an `OidcSource` (feature
    /// `remote`) found them through that issuer's metadata; a
    /// provider preset's source). A [`Verifier`](crate::Verifier) whose policy lists no issuer
    /// then accepts only tokens whose `iss` is exactly this: keys found for one issuer never
    /// vouch for another's tokens. Default: `None` (static keys, a bare JWKS URL).
    fn issuer(&self) -> Option<&str> {
        None
    }

    /// Whether keys this source handed out earlier may still be used now, without asking again.
    /// The verified-token cache asks this on every hit, so a cached token is never accepted when
    /// its key would not be: a remote source past its stale-if-error window (failing closed)
    /// says `false`. (A key dropped from the set — rotation — already invalidates the tokens it
    /// verified.) Must be cheap and never block. Default: `true`, for keys that do not lapse.
    fn still_trusted(&self) -> bool {
        true
    }

    /// Offers `keys` as this source's initial state, as if just fetched: a remote source then
    /// answers from them at once and refreshes them by its normal rules (TTL, unknown `kid`,
    /// stale-if-error), so preloaded keys (a Lambda cold start) are never a permanent override.
    /// `Err(keys)` hands them back when the source cannot take them (the default) or already
    /// holds keys.
    fn preload(&self, keys: KeySet) -> Result<(), KeySet> {
        Err(keys)
    }
}

impl KeySource for KeySet {
    fn key<'a>(&'a self, request: KeyRequest<'a>) -> KeyFuture<'a> {
        KeyFuture::ready(self.find(request.kid, request.alg).cloned())
    }
}

impl<K: KeySource + ?Sized> KeySource for Arc<K> {
    fn key<'a>(&'a self, request: KeyRequest<'a>) -> KeyFuture<'a> {
        (**self).key(request)
    }

    fn issuer(&self) -> Option<&str> {
        (**self).issuer()
    }

    fn still_trusted(&self) -> bool {
        (**self).still_trusted()
    }

    fn preload(&self, keys: KeySet) -> Result<(), KeySet> {
        (**self).preload(keys)
    }
}

impl<K: KeySource + ?Sized> KeySource for Box<K> {
    fn key<'a>(&'a self, request: KeyRequest<'a>) -> KeyFuture<'a> {
        (**self).key(request)
    }

    fn issuer(&self) -> Option<&str> {
        (**self).issuer()
    }

    fn still_trusted(&self) -> bool {
        (**self).still_trusted()
    }

    fn preload(&self, keys: KeySet) -> Result<(), KeySet> {
        (**self).preload(keys)
    }
}
