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

impl CryptoProvider {
    /// SHA-256 of `data`: DPoP key thumbprints (RFC 7638), `ath` and replay keys.
    pub(crate) fn sha256(&self, data: &[u8]) -> [u8; 32] {
        match self.backend {
            #[cfg(feature = "aws-lc-rs")]
            Backend::AwsLc => {
                let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
                let mut out = [0u8; 32];
                out.copy_from_slice(digest.as_ref());
                out
            }
            #[cfg(feature = "rust-crypto")]
            Backend::RustCrypto => {
                use sha2::Digest as _;
                sha2::Sha256::digest(data).into()
            }
        }
    }

    /// Fills `out` from the operating system's CSPRNG; false when it failed (nothing secret may
    /// then be derived from `out`).
    pub(crate) fn fill_random(&self, out: &mut [u8]) -> bool {
        match self.backend {
            #[cfg(feature = "aws-lc-rs")]
            Backend::AwsLc => aws_lc_rs::rand::fill(out).is_ok(),
            #[cfg(feature = "rust-crypto")]
            Backend::RustCrypto => getrandom::getrandom(out).is_ok(),
        }
    }

    /// HMAC-SHA-256 of `data` under `key` (any length, as RFC 2104 allows): DPoP server nonces.
    pub(crate) fn hmac_sha256(&self, key: &[u8], data: &[u8]) -> [u8; 32] {
        match self.backend {
            #[cfg(feature = "aws-lc-rs")]
            Backend::AwsLc => {
                let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
                let tag = aws_lc_rs::hmac::sign(&key, data);
                let mut out = [0u8; 32];
                out.copy_from_slice(tag.as_ref());
                out
            }
            #[cfg(feature = "rust-crypto")]
            Backend::RustCrypto => {
                use hmac::Mac as _;
                // The key as HMAC itself prepares it (RFC 2104 2: hashed when longer than the
                // 64-byte block, zero-padded to it), so the fixed-size constructor applies and no
                // fallible `new_from_slice` is needed.
                let mut block = [0u8; 64];
                if key.len() > block.len() {
                    block[..32].copy_from_slice(&self.sha256(key));
                } else {
                    block[..key.len()].copy_from_slice(key);
                }
                let mut mac =
                    <hmac::Hmac<sha2::Sha256> as hmac::digest::KeyInit>::new(&block.into());
                mac.update(data);
                mac.finalize().into_bytes().into()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha256_and_hmac_match_the_published_vectors_on_every_backend() {
        for crypto in CryptoProvider::available() {
            assert_eq!(
                hex(&crypto.sha256(b"abc")),
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
            );
            // RFC 4231 test case 1 (short key) and 6 (a key longer than the block: hashed first).
            assert_eq!(
                hex(&crypto.hmac_sha256(&[0x0b; 20], b"Hi There")),
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
            );
            assert_eq!(
                hex(&crypto.hmac_sha256(
                    &[0xaa; 131],
                    b"Test Using Larger Than Block-Size Key - Hash Key First"
                )),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
            );
            // A key of exactly one block is used as is.
            assert_eq!(
                crypto.hmac_sha256(&[1; 64], b"m"),
                CryptoProvider::default().hmac_sha256(&[1; 64], b"m")
            );
            let mut a = [0u8; 32];
            let mut b = [0u8; 32];
            assert!(crypto.fill_random(&mut a) && crypto.fill_random(&mut b));
            assert_ne!(a, b);
        }
    }
}
