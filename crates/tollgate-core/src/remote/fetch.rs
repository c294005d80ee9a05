//! HTTP plumbing shared by the remote sources: URL policy, the default client (and its TLS
//! provider, matched to the crypto backend), bounded reads.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{CACHE_CONTROL, ETAG, HeaderMap, IF_NONE_MATCH};
use rustls::crypto::CryptoProvider;

use super::error::RemoteError;

/// Parses `url` and applies the transport rule: `https`, or `http` to a loopback host, or `http`
/// anywhere when `allow_insecure_http`.
pub(crate) fn check_url(url: &str, allow_insecure_http: bool) -> Result<Url, RemoteError> {
    let parsed = Url::parse(url).map_err(|e| RemoteError::InvalidUrl {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(RemoteError::InvalidUrl {
            url: url.to_owned(),
            reason: "credentials in the URL are not allowed".into(),
        });
    }
    let Some(host) = parsed.host_str() else {
        return Err(RemoteError::InvalidUrl {
            url: url.to_owned(),
            reason: "the URL has no host".into(),
        });
    };
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if allow_insecure_http || is_loopback_host(host) => Ok(parsed),
        "http" => Err(RemoteError::InsecureUrl(url.to_owned())),
        other => Err(RemoteError::InvalidUrl {
            url: url.to_owned(),
            reason: format!("unsupported scheme {other:?}"),
        }),
    }
}

/// `localhost`, `127.0.0.0/8` or `::1` (as written in a URL host, IPv6 in brackets).
pub(crate) fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => v6.is_loopback(),
        Err(_) => false,
    }
}

/// The rustls provider matching the crypto backend: AWS-LC whenever it is compiled in (the
/// signature backend needs it anyway), else ring. ring rather than a pure-Rust provider because
/// the RustCrypto one for rustls (`rustls-rustcrypto`) has only alpha releases, while ring is
/// rustls' other maintained provider and builds on stable for the targets AWS-LC misses.
fn tls_provider() -> Arc<CryptoProvider> {
    #[cfg(feature = "aws-lc-rs")]
    {
        Arc::new(rustls::crypto::aws_lc_rs::default_provider())
    }
    #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
    {
        Arc::new(rustls::crypto::ring::default_provider())
    }
    // Only in a build already stopped by the crate's "no crypto backend" `compile_error!`.
    #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
    {
        unreachable!()
    }
}

/// A rustls configuration on [`tls_provider`] that verifies servers with the platform's trust
/// store and verifier, as reqwest's own rustls setup does. Built here, not by reqwest, so the
/// provider is named explicitly: reqwest would otherwise take rustls' process-wide default, and
/// without its `rustls` feature (a build without `aws-lc-rs`) it would panic for lack of one.
fn tls_config() -> Result<rustls::ClientConfig, RemoteError> {
    let provider = tls_provider();
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
        .map_err(|e| RemoteError::Client(format!("TLS certificate verifier: {e}")))?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| RemoteError::Client(format!("TLS configuration: {e}")))?
        // "dangerous" is only rustls' name for plugging in a verifier: this one is the
        // platform's full certificate and hostname verification.
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    // reqwest is built without HTTP/2 here.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A reqwest client builder whose TLS is rustls on the provider matching Tollgate's crypto
/// backend (AWS-LC when the feature `aws-lc-rs` is on, else ring), verifying servers with the
/// platform's trust store.
///
/// The remote sources build their default client from it. Start from it too when passing your
/// own client to [`JwksSourceBuilder::client`](crate::remote::JwksSourceBuilder::client) (or
/// building any other reqwest client in the same binary) in a build without `aws-lc-rs`: there
/// reqwest has no TLS provider of its own, and a client built from `reqwest::Client::builder()`
/// panics in `build()`. TLS options set on the returned builder are ignored (the TLS
/// configuration is already made); everything else is yours to set.
///
/// ```
/// let client = tollgate_core::remote::http_client_builder()?
///     .timeout(std::time::Duration::from_secs(5))
///     .build()?;
/// # drop(client);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn http_client_builder() -> Result<reqwest::ClientBuilder, RemoteError> {
    Ok(reqwest::Client::builder().tls_backend_preconfigured(tls_config()?))
}

/// The default client: connect timeout, total timeout, at most `max_redirects` redirects, and
/// redirects only to URLs that pass the same transport rule (no downgrade to plain http).
pub(crate) fn default_client(
    connect_timeout: Duration,
    timeout: Duration,
    max_redirects: usize,
    allow_insecure_http: bool,
) -> Result<reqwest::Client, RemoteError> {
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        match redirect_refusal(
            attempt.previous(),
            attempt.url(),
            max_redirects,
            allow_insecure_http,
        ) {
            Some(reason) => attempt.error(reason),
            None => attempt.follow(),
        }
    });
    http_client_builder()?
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .redirect(policy)
        .user_agent(concat!("tollgate/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| RemoteError::Client(e.to_string()))
}

/// Why the built-in client refuses to follow a redirect to `next` after `previous` hops, if it
/// does: too many hops, a URL that fails [`check_url`], or a scheme downgrade — once any hop was
/// https, plain http is refused even to loopback (an https key URL must never be answered over
/// cleartext).
pub(crate) fn redirect_refusal(
    previous: &[Url],
    next: &Url,
    max_redirects: usize,
    allow_insecure_http: bool,
) -> Option<&'static str> {
    let downgrade = next.scheme() != "https" && previous.iter().any(|hop| hop.scheme() == "https");
    if previous.len() > max_redirects {
        Some("too many redirects")
    } else if downgrade {
        Some("redirect from https to plain http refused")
    } else if check_url(next.as_str(), allow_insecure_http).is_err() {
        Some("redirect to an insecure URL refused")
    } else {
        None
    }
}

/// One successful exchange.
pub(crate) enum Fetched {
    /// `200` with the body.
    Body { body: Vec<u8>, headers: HeaderMap },
    /// `304 Not Modified`.
    NotModified { headers: HeaderMap },
}

/// GETs `url`, bounded by `timeout` in total (also when the client has none) and reading at
/// most `max_bytes` of body while streaming it.
pub(crate) async fn get(
    client: &reqwest::Client,
    url: &Url,
    etag: Option<&str>,
    max_bytes: usize,
    timeout: Duration,
) -> Result<Fetched, RemoteError> {
    let work = get_inner(client, url, etag, max_bytes);
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(RemoteError::Timeout {
            url: url.to_string(),
        }),
    }
}

async fn get_inner(
    client: &reqwest::Client,
    url: &Url,
    etag: Option<&str>,
    max_bytes: usize,
) -> Result<Fetched, RemoteError> {
    let transport = |e: reqwest::Error| {
        if e.is_timeout() {
            RemoteError::Timeout {
                url: url.to_string(),
            }
        } else {
            RemoteError::Transport {
                url: url.to_string(),
                reason: error_chain(&e),
            }
        }
    };
    let mut request = client
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json");
    if let Some(etag) = etag {
        request = request.header(IF_NONE_MATCH, etag);
    }
    let mut response = request.send().await.map_err(transport)?;
    let status = response.status();
    if status == reqwest::StatusCode::NOT_MODIFIED && etag.is_some() {
        return Ok(Fetched::NotModified {
            headers: response.headers().clone(),
        });
    }
    if !status.is_success() {
        return Err(RemoteError::Status {
            url: url.to_string(),
            status: status.as_u16(),
        });
    }
    let too_large = || RemoteError::TooLarge {
        url: url.to_string(),
        max: max_bytes,
    };
    if response
        .content_length()
        .is_some_and(|len| len > max_bytes as u64)
    {
        return Err(too_large());
    }
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > max_bytes {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched::Body { body, headers })
}

/// A reqwest error with its sources, e.g. "error sending request: connection refused".
fn error_chain(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// What `Cache-Control` says about freshness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CacheDirective {
    /// `max-age=N` seconds.
    MaxAge(u64),
    /// `no-store` or `no-cache`: cache as briefly as allowed.
    NoCache,
    /// Nothing usable.
    None,
}

pub(crate) fn cache_directive(headers: &HeaderMap) -> CacheDirective {
    let mut max_age = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let directive = directive.trim();
            let (name, arg) = match directive.split_once('=') {
                Some((name, arg)) => (name.trim(), Some(arg.trim().trim_matches('"'))),
                None => (directive, None),
            };
            if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                return CacheDirective::NoCache;
            }
            if name.eq_ignore_ascii_case("max-age")
                && let Some(seconds) = arg.and_then(|a| a.parse::<u64>().ok())
            {
                max_age = Some(seconds);
            }
        }
    }
    match max_age {
        Some(seconds) => CacheDirective::MaxAge(seconds),
        None => CacheDirective::None,
    }
}

/// The response's `Age` in seconds (time it spent in caches on the way), 0 when absent.
pub(crate) fn age(headers: &HeaderMap) -> u64 {
    headers
        .get(reqwest::header::AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0)
}

/// The response's `ETag`, when it is a sane header value.
pub(crate) fn etag(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(ETAG)?.to_str().ok()?;
    (!value.is_empty() && value.len() <= 256).then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn loopback_hosts() {
        for host in ["localhost", "LOCALHOST", "127.0.0.1", "127.9.8.7", "[::1]"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in ["example.com", "10.0.0.1", "[::2]", "localhost.example.com"] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn url_rules() {
        assert!(check_url("https://idp.example.com/jwks", false).is_ok());
        assert!(check_url("http://127.0.0.1:8080/jwks", false).is_ok());
        assert!(check_url("http://[::1]:8080/jwks", false).is_ok());
        assert!(matches!(
            check_url("http://idp.example.com/jwks", false),
            Err(RemoteError::InsecureUrl(_))
        ));
        assert!(check_url("http://idp.example.com/jwks", true).is_ok());
        assert!(matches!(
            check_url("ftp://idp.example.com/jwks", true),
            Err(RemoteError::InvalidUrl { .. })
        ));
        assert!(matches!(
            check_url("not a url", false),
            Err(RemoteError::InvalidUrl { .. })
        ));
        assert!(matches!(
            check_url("https://user:pw@idp.example.com/", false),
            Err(RemoteError::InvalidUrl { .. })
        ));
    }

    fn headers(value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(CACHE_CONTROL, HeaderValue::from_str(value).unwrap());
        map
    }

    #[test]
    fn cache_control() {
        assert_eq!(
            cache_directive(&headers("public, max-age=3600, must-revalidate")),
            CacheDirective::MaxAge(3600)
        );
        assert_eq!(
            cache_directive(&headers("max-age=10, no-cache")),
            CacheDirective::NoCache
        );
        assert_eq!(
            cache_directive(&headers("no-store")),
            CacheDirective::NoCache
        );
        assert_eq!(cache_directive(&headers("public")), CacheDirective::None);
        assert_eq!(cache_directive(&HeaderMap::new()), CacheDirective::None);
        assert_eq!(
            cache_directive(&headers("max-age=abc")),
            CacheDirective::None
        );
        let mut with_age = headers("max-age=100");
        with_age.insert(reqwest::header::AGE, HeaderValue::from_static("40"));
        assert_eq!(age(&with_age), 40);
        assert_eq!(age(&HeaderMap::new()), 0);
    }

    #[test]
    fn redirects_never_downgrade_the_scheme() {
        let url = |u: &str| Url::parse(u).unwrap();
        let https = url("https://idp.example.com/jwks");
        let loopback_http = url("http://127.0.0.1:8080/jwks");
        // https -> http on loopback: refused (was followed before), with or without the opt-in.
        for allow in [false, true] {
            assert_eq!(
                redirect_refusal(std::slice::from_ref(&https), &loopback_http, 3, allow),
                Some("redirect from https to plain http refused")
            );
        }
        // Also when the https hop was earlier in the chain.
        let chain = [https.clone(), url("https://cdn.example.com/jwks")];
        assert!(redirect_refusal(&chain, &url("http://localhost/jwks"), 3, false).is_some());
        // http on loopback to http on loopback (a local emulator): followed.
        assert_eq!(
            redirect_refusal(
                std::slice::from_ref(&loopback_http),
                &url("http://127.0.0.1:9/k"),
                3,
                false
            ),
            None
        );
        // https -> https: followed; too many hops: refused.
        assert_eq!(
            redirect_refusal(std::slice::from_ref(&https), &https, 3, false),
            None
        );
        let many = vec![https.clone(); 4];
        assert_eq!(
            redirect_refusal(&many, &https, 3, false),
            Some("too many redirects")
        );
        // http to a remote host: refused.
        assert!(
            redirect_refusal(
                std::slice::from_ref(&loopback_http),
                &url("http://evil.example/"),
                3,
                false
            )
            .is_some()
        );
    }
}
