//! Checking a Redis URL before handing it to the client.

use std::time::Duration;

use tollgate_core::revocation::RedisUrl;

use crate::error::RedisError;
use crate::tls::{self, TlsOptions};

/// A checked `redis://` or `rediss://` URL: the client, and a form safe to log (no password).
#[derive(Clone)]
pub(crate) struct Address {
    pub(crate) client: redis::Client,
    pub(crate) shown: String,
    /// `rediss://`.
    pub(crate) tls: bool,
}

impl std::fmt::Debug for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl Address {
    /// A client speaking RESP3, for a `ConnectionManager`: on RESP3 it learns of a dropped
    /// connection from the connection itself and reconnects while idle, instead of failing the
    /// next request first (RESP2). Redis 6 or later, which the crate needs anyway.
    pub(crate) fn resp3_client(&self) -> Result<redis::Client, RedisError> {
        let info = self.client.get_connection_info().clone();
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(redis::ProtocolVersion::RESP3);
        redis::Client::open(info.set_redis_settings(settings))
            .map_err(|e| RedisError::InvalidUrl(e.to_string()))
    }
}

/// The `ConnectionManager` settings of the request-path connections (writer, replay store):
/// each attempt and answer bounded by `timeout`, a few reconnection attempts, at most 1 s apart.
/// A zero `timeout` is an [`RedisError::InvalidOption`].
pub(crate) fn manager_config(
    timeout: Duration,
) -> Result<redis::aio::ConnectionManagerConfig, RedisError> {
    if timeout.is_zero() {
        return Err(RedisError::InvalidOption(
            "the timeout must not be zero".into(),
        ));
    }
    Ok(redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(3)
        .set_max_delay(Duration::from_secs(1)))
}

/// Parses `redis[s]://[[user]:password@]host[:port][/db]` with [`RedisUrl`] (stricter than the
/// client's own parser: see there), then builds the client: over TLS for `rediss://`, with the
/// CA and client certificate of `tls`.
pub(crate) fn parse(url: &str, tls: &TlsOptions) -> Result<Address, RedisError> {
    let bad = |why: &str| RedisError::InvalidUrl(why.to_owned());
    // The one parser of the form (shared with `AuthConfig`'s `<prefix>REVOCATION_REDIS_URL`).
    let parsed = RedisUrl::parse(url).map_err(bad)?;
    let client = if parsed.tls() {
        let certificates = tls.certificates()?;
        // Before redis builds a rustls configuration (it does so on each connection).
        tls::ensure_provider();
        redis::Client::build_with_tls(url, certificates)
            .map_err(|e| RedisError::InvalidOption(format!("TLS: {e}")))?
    } else {
        if tls.is_set() {
            return Err(RedisError::InvalidOption(
                "TLS options (a CA or client certificate) need a rediss:// URL".into(),
            ));
        }
        redis::Client::open(url).map_err(|e| bad(&e.to_string()))?
    };
    Ok(Address {
        client,
        shown: parsed.shown().to_owned(),
        tls: parsed.tls(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    // The tables `AuthConfig`'s parser (tollgate-core, `<prefix>REVOCATION_REDIS_URL`) is
    // tested with too: the two parsers accept and show the same URLs.
    use tollgate_test_support::redis::{BAD_URLS, GOOD_URLS, TLS_URLS};

    fn parse(url: &str) -> Result<Address, RedisError> {
        super::parse(url, &TlsOptions::default())
    }

    #[test]
    fn accepts_the_documented_forms() {
        for (url, shown) in GOOD_URLS.into_iter().chain(TLS_URLS) {
            assert_eq!(parse(url).unwrap().shown, shown, "{url}");
        }
    }

    #[test]
    fn tls_options_need_rediss_and_a_real_certificate() {
        let ca = TlsOptions::default().ca_certificate(b"".to_vec());
        let refused = |url: &str, tls: &TlsOptions| {
            matches!(super::parse(url, tls), Err(RedisError::InvalidOption(_)))
        };
        assert!(refused("rediss://h", &ca), "an empty CA file");
        let garbled = TlsOptions::default().ca_certificate(
            b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n".to_vec(),
        );
        assert!(refused("rediss://h", &garbled));
        let no_client_cert = TlsOptions::default().client_certificate(b"x".to_vec(), b"y".to_vec());
        assert!(refused("rediss://h", &no_client_cert));
        // Never silently plain text.
        let pem = tollgate_test_support::redis::TlsFiles::generate().ca_pem;
        let real = TlsOptions::default().ca_certificate(pem);
        assert!(refused("redis://h", &real));
        assert!(super::parse("rediss://h", &real).is_ok());
        assert!(!format!("{real:?}").contains("BEGIN"));
    }

    #[test]
    fn refuses_everything_else() {
        for url in BAD_URLS.into_iter().chain([""]) {
            assert!(
                matches!(parse(url), Err(RedisError::InvalidUrl(_))),
                "{url:?}"
            );
        }
        assert!(parse(&format!("redis://{}", "h".repeat(3000))).is_err());
    }

    #[test]
    fn a_password_never_shows() {
        let address = parse("redis://user:hunter2@h").unwrap();
        assert!(!format!("{address:?} {}", address.shown).contains("hunter2"));
    }
}
