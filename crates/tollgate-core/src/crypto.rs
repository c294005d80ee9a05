//! The signature backend, passed explicitly (rustls-style) rather than read from a process global.
//!
//! With `aws-lc-rs`, signatures are checked with aws-lc-rs directly, on public keys and HMAC
//! keys parsed once per key (`jsonwebtoken` re-parses them per token); with `rust-crypto`, through
//! `jsonwebtoken`'s RustCrypto provider.
//!
//! The backend features are additive, as Cargo features must be: two crates in one dependency
//! graph may each enable a different one, and then both backends are compiled in and a
//! [`CryptoProvider`] value picks one at run time (the default being AWS-LC). Only enabling
//! neither is a compile error, since nothing could verify a signature.
//!
//! `jsonwebtoken` 10+ keeps its backend in a process-wide default that panics at the first
//! verification when both or neither of its backend features are enabled. Tollgate never touches
//! that global: a [`CryptoProvider`] names one backend's verifier directly, so another crate in the
//! same binary enabling the other `jsonwebtoken` backend cannot break (or silently switch) our
//! verification.

#[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
compile_error!(
    "tollgate-core: no crypto backend selected; enable the feature `aws-lc-rs` (the default, \
     fastest) or `rust-crypto` (pure Rust, for targets where AWS-LC does not build); both may \
     be enabled together"
);

use std::fmt;

use crate::algorithm::Algorithm;
use crate::key::VerificationKey;

/// A signature-verification backend.
///
/// [`CryptoProvider::default`] is AWS-LC whenever the feature `aws-lc-rs` is on (it is by
/// default), else RustCrypto. A specific backend is named with `CryptoProvider::aws_lc_rs()`
/// (feature `aws-lc-rs`) or `CryptoProvider::rust_crypto()` (feature `rust-crypto`); with both
/// features on, both exist and either can be chosen at run time.
///
/// Cost (one 2048-bit RS256 verification on a small x86-64 core): AWS-LC ~19 us, RustCrypto
/// ~200 us; ES256 ~55 us vs ~285 us. EdDSA and HMAC cost about the same on both.
///
/// ```
/// use tollgate_core::CryptoProvider;
///
/// let provider = CryptoProvider::default();
/// # #[cfg(feature = "aws-lc-rs")]
/// assert_eq!(provider.name(), "aws-lc-rs");
/// # #[cfg(not(feature = "aws-lc-rs"))]
/// assert_eq!(provider.name(), "rust-crypto");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CryptoProvider {
    backend: Backend,
}

/// The compiled-in backends; at least one variant exists (else the `compile_error!` above).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    /// AWS-LC through aws-lc-rs, with keys parsed once per key and algorithm.
    #[cfg(feature = "aws-lc-rs")]
    AwsLc,
    /// `jsonwebtoken`'s RustCrypto provider, named explicitly (never its process default).
    #[cfg(feature = "rust-crypto")]
    RustCrypto,
}

const AVAILABLE: &[CryptoProvider] = &[
    #[cfg(feature = "aws-lc-rs")]
    CryptoProvider::aws_lc_rs(),
    #[cfg(feature = "rust-crypto")]
    CryptoProvider::rust_crypto(),
];

impl CryptoProvider {
    /// The AWS-LC backend (feature `aws-lc-rs`, on by default).
    ///
    /// ```
    /// let provider = tollgate_core::CryptoProvider::aws_lc_rs();
    /// assert_eq!(provider, tollgate_core::CryptoProvider::default());
    /// ```
    #[cfg(feature = "aws-lc-rs")]
    #[cfg_attr(docsrs, doc(cfg(feature = "aws-lc-rs")))]
    pub const fn aws_lc_rs() -> Self {
        CryptoProvider {
            backend: Backend::AwsLc,
        }
    }

    /// The pure-Rust RustCrypto backend (feature `rust-crypto`).
    ///
    /// ```
    /// let provider = tollgate_core::CryptoProvider::rust_crypto();
    /// assert_eq!(provider.name(), "rust-crypto");
    /// ```
    #[cfg(feature = "rust-crypto")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rust-crypto")))]
    pub const fn rust_crypto() -> Self {
        CryptoProvider {
            backend: Backend::RustCrypto,
        }
    }

    /// Every backend this build has, the default first: for running the same checks on each
    /// (tests, conformance suites) or offering a choice at run time.
    ///
    /// ```
    /// use tollgate_core::CryptoProvider;
    ///
    /// let all = CryptoProvider::available();
    /// assert_eq!(all[0], CryptoProvider::default());
    /// ```
    pub const fn available() -> &'static [CryptoProvider] {
        AVAILABLE
    }

    /// A short name of the backend, for logs: `"aws-lc-rs"` or `"rust-crypto"`.
    pub const fn name(&self) -> &'static str {
        match self.backend {
            #[cfg(feature = "aws-lc-rs")]
            Backend::AwsLc => "aws-lc-rs",
            #[cfg(feature = "rust-crypto")]
            Backend::RustCrypto => "rust-crypto",
        }
    }

    /// Checks `signature` over `message` with `key`; `false` for any failure, never a panic.
    ///
    /// The caller has already checked that `key` may verify `alg` (see
    /// [`VerificationKey::permits`](crate::VerificationKey::permits)).
    #[cfg_attr(
        not(any(feature = "aws-lc-rs", feature = "rust-crypto")),
        allow(unused_variables)
    )]
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
            #[cfg(feature = "rust-crypto")]
            Backend::RustCrypto => {
                let provider = &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
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
    /// AWS-LC when the feature `aws-lc-rs` is on, else RustCrypto.
    fn default() -> Self {
        #[cfg(feature = "aws-lc-rs")]
        {
            CryptoProvider::aws_lc_rs()
        }
        #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
        {
            CryptoProvider::rust_crypto()
        }
        // Only reached by a build that already failed with the `compile_error!` above; keeps that
        // message the only one.
        #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
        {
            unreachable!()
        }
    }
}

impl fmt::Debug for CryptoProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CryptoProvider").field(&self.name()).finish()
    }
}
