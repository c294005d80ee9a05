//! Keys on a cold start: a JWK Set preloaded from an environment variable or a file, in front of
//! a source that fetches lazily.
//!
//! A Lambda container lives for many invocations. A [`JwksSource`](tollgate_core::remote::JwksSource)
//! (or any lazy [`KeySource`]) built once outside the handler fetches the keys on the first
//! request of the container and serves every warm invocation from its cache; no background
//! timer is needed (and none would run while the container is frozen between invocations).
//!
//! The first request still pays for the fetch. Putting the JWK Set in the function's
//! configuration removes it: [`preload_jwks_from_env`] or [`preload_jwks_from_file`] read it at
//! start-up, and [`PreloadedKeys`] hands it to the lazy source as its initial state, refreshed
//! by the source's normal rules afterwards (a key the issuer withdrew stops verifying at the
//! next refresh; one it rotated in is fetched on its first `kid`).
//!
//! ```
//! use tollgate_core::{KeySet, KeySource};
//! use tollgate_lambda::{PreloadedKeys, preload_jwks_from_env};
//!
//! # fn lazy_source() -> KeySet { KeySet::new() }
//! # fn main() -> Result<(), tollgate_lambda::PreloadError> {
//! // TOLLGATE_JWKS='{"keys":[...]}' in the function's environment; unset = no preload.
//! let keys: Box<dyn KeySource> = match preload_jwks_from_env("TOLLGATE_JWKS")? {
//!     Some(preloaded) => Box::new(PreloadedKeys::new(preloaded, lazy_source())),
//!     None => Box::new(lazy_source()),
//! };
//! # let _ = keys;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use tollgate_core::{KeyError, KeyFuture, KeyLookupError, KeyRequest, KeySet, KeySource};

/// A preloaded JWK Set could not be used. Raised at start-up (fail loudly, not on the first
/// request).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PreloadError {
    /// The environment variable is set but is not valid Unicode.
    #[error("environment variable {0} is not valid UTF-8")]
    NotUnicode(String),
    /// The document is not a usable JWK Set.
    #[error("preloaded JWK Set from {origin}: {source}")]
    Keys {
        /// The variable or file it came from.
        origin: String,
        /// Why it was refused.
        #[source]
        source: KeyError,
    },
}

/// Reads a public JWK Set (`{"keys":[...]}`) from the environment variable `name`.
///
/// `Ok(None)` when the variable is unset or empty (no preload: the lazy source fetches). A set
/// variable that is not a usable JWK Set is an error, so a broken deployment fails at start-up.
/// Only public keys are read (symmetric `oct` keys are skipped), as for a fetched set.
pub fn preload_jwks_from_env(name: &str) -> Result<Option<KeySet>, PreloadError> {
    match std::env::var(name) {
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(PreloadError::NotUnicode(name.to_owned())),
        Ok(text) if text.trim().is_empty() => Ok(None),
        Ok(text) => {
            let keys = KeySet::from_jwks(&text).map_err(|source| PreloadError::Keys {
                origin: format!("environment variable {name}"),
                source,
            })?;
            tracing::debug!(variable = name, keys = keys.len(), "preloaded JWK Set");
            Ok(Some(keys))
        }
    }
}

/// Reads a public JWK Set from a file, e.g. one packaged with the function or on a layer
/// (`/opt/jwks.json`). A missing or unusable file is an error.
pub fn preload_jwks_from_file(path: impl AsRef<Path>) -> Result<KeySet, PreloadError> {
    let path = path.as_ref();
    let keys = KeySet::from_jwks_file(path).map_err(|source| PreloadError::Keys {
        origin: path.display().to_string(),
        source,
    })?;
    tracing::debug!(path = %path.display(), keys = keys.len(), "preloaded JWK Set");
    Ok(keys)
}

/// How long preloaded keys are used when the fallback cannot take them as its initial state
/// (the default freshness of a fetched set): after this every lookup goes to the fallback.
pub const PRELOAD_TTL: Duration = tollgate_core::remote::DEFAULT_FALLBACK_TTL;

/// A [`KeySource`] that starts with preloaded keys and then behaves as `fallback` (usually a
/// lazy [`JwksSource`](tollgate_core::remote::JwksSource)).
///
/// Preloaded keys are the **initial state** of the fallback's cache, not a permanent override:
/// a source that can take them ([`KeySource::preload`]: a `JwksSource`) answers from them at
/// once and refreshes them by its normal rules (TTL, unknown `kid`, stale-if-error), so a key the
/// provider withdrew stops verifying when the set is next refreshed. A fallback that cannot take
/// them gets them in front for [`PRELOAD_TTL`] only: until then a token that the preloaded set
/// has no key for (an unknown `kid`) goes to the fallback, and a token a preloaded key refuses is
/// refused without asking; afterwards everything goes to the fallback.
pub struct PreloadedKeys<S> {
    /// Keys kept in front of a fallback that could not take them, and until when.
    in_front: Option<(KeySet, Instant)>,
    fallback: S,
}

impl<S: KeySource> PreloadedKeys<S> {
    /// Starts `fallback` with `preloaded` (see above).
    pub fn new(preloaded: KeySet, fallback: S) -> Self {
        let in_front = match fallback.preload(preloaded) {
            Ok(()) => None,
            Err(keys) if keys.is_empty() => None,
            Err(keys) => Some((keys, Instant::now() + PRELOAD_TTL)),
        };
        PreloadedKeys { in_front, fallback }
    }

    /// The keys kept in front of the fallback, while they are used (`None` when the fallback
    /// took them as its initial state, or once [`PRELOAD_TTL`] has passed).
    pub fn preloaded(&self) -> Option<&KeySet> {
        match &self.in_front {
            Some((keys, until)) if Instant::now() < *until => Some(keys),
            _ => None,
        }
    }

    /// The fallback source.
    pub fn fallback(&self) -> &S {
        &self.fallback
    }
}

impl<S: KeySource> KeySource for PreloadedKeys<S> {
    fn key<'a>(&'a self, request: KeyRequest<'a>) -> KeyFuture<'a> {
        // Reads only: answers from the preloaded keys at once, or hands the request to the
        // fallback, whose own pending future does nothing before it is polled.
        let Some(preloaded) = self.preloaded() else {
            return self.fallback.key(request);
        };
        match preloaded.find(request.kid, request.alg) {
            Ok(key) => KeyFuture::ready(Ok(key.clone())),
            Err(KeyLookupError::UnknownKid { .. } | KeyLookupError::NoKeyForAlgorithm { .. }) => {
                self.fallback.key(request)
            }
            Err(other) => KeyFuture::ready(Err(other)),
        }
    }

    /// The fallback's issuer: the preloaded keys are a copy of the same issuer's keys.
    fn issuer(&self) -> Option<&str> {
        self.fallback.issuer()
    }

    /// Keys in front are trusted until [`PRELOAD_TTL`]; then (and always when the fallback took
    /// them) the fallback decides.
    fn still_trusted(&self) -> bool {
        self.preloaded().is_some() || self.fallback.still_trusted()
    }
}

impl<S: fmt::Debug> fmt::Debug for PreloadedKeys<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreloadedKeys")
            .field(
                "in_front",
                &self.in_front.as_ref().map(|(keys, _)| keys.len()),
            )
            .field("fallback", &self.fallback)
            .finish()
    }
}
