//! `rediss://`: the TLS settings of a connection, and the rustls provider it runs on.

use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

use crate::error::RedisError;

/// TLS settings of a `rediss://` connection (the `tls` field of [`RevocationOptions`],
/// [`WriterOptions`] and [`ReplayOptions`]). The server's certificate and host name are always
/// verified; there is no option to turn that off.
///
/// By default the server must chain to the system trust store (what public managed services
/// such as Upstash or ElastiCache present). [`ca_certificate`](Self::ca_certificate) trusts a
/// CA of your own instead (Redis Cloud's, a private CA): only that CA then, not the system's.
/// Setting anything here with a plain `redis://` URL is an [`RedisError::InvalidOption`]: a TLS
/// setting is never silently dropped.
///
/// ```
/// use tollgate_redis::{RevocationOptions, TlsOptions};
///
/// # let ca_pem = b"-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n".to_vec();
/// let options = RevocationOptions {
///     tls: TlsOptions::default().ca_certificate(ca_pem),
///     ..RevocationOptions::default()
/// };
/// assert!(options.tls.is_set());
/// ```
///
/// [`RevocationOptions`]: crate::RevocationOptions
/// [`WriterOptions`]: crate::WriterOptions
/// [`ReplayOptions`]: crate::ReplayOptions
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    ca: Option<Vec<u8>>,
    client: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key never shows; the certificates are not secret but long.
        f.debug_struct("TlsOptions")
            .field("ca_certificate", &self.ca.as_ref().map(|_| "<PEM>"))
            .field("client_certificate", &self.client.as_ref().map(|_| "<PEM>"))
            .finish()
    }
}

impl TlsOptions {
    /// Trust the CA certificate(s) in `pem` (one or more `CERTIFICATE` blocks) instead of the
    /// system trust store.
    pub fn ca_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca = Some(pem.into());
        self
    }

    /// Present a client certificate (mutual TLS): `cert_pem` its chain, `key_pem` its private
    /// key (PKCS#8, PKCS#1 or SEC1 PEM).
    pub fn client_certificate(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.client = Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// Anything set (a CA or a client certificate).
    pub fn is_set(&self) -> bool {
        self.ca.is_some() || self.client.is_some()
    }

    /// redis' form, the PEM checked first (so that an empty or garbled file is an error here,
    /// not a root store without roots that refuses every server later).
    pub(crate) fn certificates(&self) -> Result<redis::TlsCertificates, RedisError> {
        if let Some(pem) = &self.ca {
            require_certificates("the CA certificate", pem)?;
        }
        if let Some((cert, _)) = &self.client {
            require_certificates("the client certificate", cert)?;
        }
        Ok(redis::TlsCertificates {
            client_tls: self.client.as_ref().map(|(client_cert, client_key)| {
                redis::ClientTlsConfig {
                    client_cert: client_cert.clone(),
                    client_key: client_key.clone(),
                }
            }),
            root_cert: self.ca.clone(),
        })
    }
}

/// `Ok` when `pem` holds at least one readable `CERTIFICATE` block.
fn require_certificates(what: &str, pem: &[u8]) -> Result<(), RedisError> {
    match certificate_count(pem) {
        Ok(0) => Err(RedisError::InvalidOption(format!(
            "{what}: the PEM holds no certificate"
        ))),
        Ok(_) => Ok(()),
        Err(why) => Err(RedisError::InvalidOption(format!("{what}: {why}"))),
    }
}

fn certificate_count(pem: &[u8]) -> Result<usize, String> {
    let mut n = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        cert.map_err(|e| format!("unreadable PEM ({e})"))?;
        n += 1;
    }
    Ok(n)
}

/// The rustls provider matching Tollgate's crypto backend: AWS-LC when `aws-lc-rs` is on, else
/// ring. The same rule as tollgate-core's HTTPS key fetches (`remote`), kept here because core
/// builds that choice only with `remote`, which this crate does not need.
fn backend_provider() -> CryptoProvider {
    #[cfg(feature = "aws-lc-rs")]
    {
        rustls::crypto::aws_lc_rs::default_provider()
    }
    #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
    {
        rustls::crypto::ring::default_provider()
    }
}

// As in tollgate-core: without a backend there is no provider to pick.
#[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
compile_error!("tollgate-redis needs a crypto backend: enable `aws-lc-rs` or `rust-crypto`");

/// Makes sure rustls has a process-wide default provider before redis builds a TLS config:
/// redis calls `rustls::ClientConfig::builder()`, which takes that default and panics when
/// there is none and more than one provider is compiled in (both backends on). An application
/// that installed its own default keeps it; otherwise [`backend_provider`] is installed.
pub(crate) fn ensure_provider() {
    if CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: a default exists either way.
        let _ = backend_provider().install_default();
    }
}
