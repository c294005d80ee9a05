//! The signature backend, passed explicitly (rustls-style) rather than read from a process global.
//!
//! With `aws-lc-rs`, signatures are checked with aws-lc-rs directly, on public keys and HMAC
//! keys parsed once per key (`jsonwebtoken` re-parses them per token); with `rust-crypto`, through
//! `jsonwebtoken`'s RustCrypto provider.
//!
//! `jsonwebtoken` 10+ keeps its backend in a process-wide default that panics at the first
//! verification when both or neither of its backend features are enabled. Tollgate never touches
//! that global: a [`CryptoProvider`] names one backend's verifier directly, so another crate in the
//! same binary enabling the other `jsonwebtoken` backend cannot break (or silently switch) our
//! verification. Which backends exist is decided by Tollgate's own features, and choosing both or
//! neither is a compile error, not a runtime panic.

#[cfg(all(feature = "aws-lc-rs", feature = "rust-crypto"))]
compile_error!(
    "tollgate-core: enable exactly one crypto backend feature, `aws-lc-rs` (default) or \
     `rust-crypto`; to use `rust-crypto`, set `default-features = false`"
);

#[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
compile_error!(
    "tollgate-core: no crypto backend selected; enable `aws-lc-rs` (default) or `rust-crypto`"
);

use std::fmt;

use crate::algorithm::Algorithm;
use crate::key::VerificationKey;

/// A signature-verification backend.
///
/// Obtain one with [`CryptoProvider::default`] (the backend selected by the crate feature) or
/// name it: `CryptoProvider::aws_lc_rs()` (feature `aws-lc-rs`) / `CryptoProvider::rust_crypto()`
/// (feature `rust-crypto`), whichever the build enables.
///
/// Cost (one 2048-bit RS256 verification on a small x86-64 core): AWS-LC ~19 us, RustCrypto
/// ~200 us; ES256 ~55 us vs ~285 us. EdDSA and HMAC cost about the same on both.
///
/// ```
/// use tollgate_core::CryptoProvider;
///
/// let provider = CryptoProvider::default();
/// assert!(!provider.name().is_empty());
/// ```
#[derive(Clone, Copy)]
pub struct CryptoProvider {
    name: &'static str,
    backend: Backend,
}

#[derive(Clone, Copy)]
enum Backend {
    /// AWS-LC through aws-lc-rs, with keys parsed once per key and algorithm.
    #[cfg(feature = "aws-lc-rs")]
    AwsLc,
    /// A `jsonwebtoken` provider, named explicitly.
    #[cfg_attr(feature = "aws-lc-rs", allow(dead_code))]
    Jsonwebtoken(&'static jsonwebtoken::crypto::CryptoProvider),
}

impl CryptoProvider {
    /// The AWS-LC backend (feature `aws-lc-rs`, the default).
    #[cfg(feature = "aws-lc-rs")]
    pub fn aws_lc_rs() -> Self {
        CryptoProvider {
            name: "aws-lc-rs",
            backend: Backend::AwsLc,
        }
    }

    /// The pure-Rust RustCrypto backend (feature `rust-crypto`).
    #[cfg(feature = "rust-crypto")]
    pub fn rust_crypto() -> Self {
        CryptoProvider {
            name: "rust-crypto",
            backend: Backend::Jsonwebtoken(&jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER),
        }
    }

    /// A short name of the backend, for logs.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Checks `signature` over `message` with `key`; `false` for any failure, never a panic.
    ///
    /// The caller has already checked that `key` may verify `alg` (see
    /// [`VerificationKey::permits`](crate::VerificationKey::permits)).
    pub(crate) fn verify(
        &self,
        alg: Algorithm,
        key: &VerificationKey,
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        match self.backend {
            #[cfg(feature = "aws-lc-rs")]
            Backend::AwsLc => key
                .prepared()
                .verify(alg, key.material(), message, signature),
            Backend::Jsonwebtoken(provider) => {
                match (provider.verifier_factory)(&alg.to_jsonwebtoken(), key.material()) {
                    // jsonwebtoken's verifier trait takes its signature type, a `Vec<u8>`.
                    Ok(verifier) => verifier.verify(message, &signature.to_vec()).is_ok(),
                    Err(err) => {
                        tracing::debug!(%alg, error = %err, "crypto backend refused the key");
                        false
                    }
                }
            }
        }
    }
}

impl Default for CryptoProvider {
    fn default() -> Self {
        #[cfg(feature = "aws-lc-rs")]
        {
            CryptoProvider::aws_lc_rs()
        }
        #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
        {
            CryptoProvider::rust_crypto()
        }
    }
}

impl fmt::Debug for CryptoProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CryptoProvider").field(&self.name).finish()
    }
}
