//! Discovery: the provider metadata document (`ProviderMetadata`, as `Discovery` deserializes a
//! fetched `openid-configuration`) and the metadata URL built from an issuer
//! (`Discovery::metadata_url`, both document kinds, with and without `allow_insecure_http`).
//! The fetch itself and its private issuer / `jwks_uri` checks are not reachable without HTTP.
//!
//! Input: a metadata document; its `issuer` and `jwks_uri` are then used as issuers. Input that
//! is no such document is used as an issuer itself (lossy UTF-8).
//!
//! Asserted: a metadata URL keeps the issuer's scheme, host and port (no issuer string can point
//! discovery at another origin), has no query or fragment, is `https` unless insecure HTTP is
//! allowed or the host is loopback, and puts the well-known segment where each kind says.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::remote::{Discovery, DiscoveryKind, ProviderMetadata};
use tollgate_fuzz::MAX_INPUT;
use url::{Host, Url};

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn check_issuer(issuer: &str) {
    for kind in [
        DiscoveryKind::OpenIdConnect,
        DiscoveryKind::OAuthAuthorizationServer,
    ] {
        for insecure in [false, true] {
            let discovery = Discovery::new(issuer)
                .kind(kind)
                .jwks(|b| b.allow_insecure_http(insecure));
            assert_eq!(discovery.issuer(), issuer);
            let Ok(url) = discovery.metadata_url() else {
                continue;
            };
            let parsed = Url::parse(issuer)
                .unwrap_or_else(|e| panic!("metadata URL {url} for an unparsable issuer: {e}"));
            assert_eq!(
                url.scheme(),
                parsed.scheme(),
                "scheme of {issuer:?} -> {url}"
            );
            assert_eq!(url.host(), parsed.host(), "host of {issuer:?} -> {url}");
            assert_eq!(
                url.port_or_known_default(),
                parsed.port_or_known_default(),
                "port of {issuer:?} -> {url}"
            );
            assert!(
                url.query().is_none() && url.fragment().is_none(),
                "{issuer:?} -> {url}"
            );
            assert!(
                url.username().is_empty() && url.password().is_none(),
                "{issuer:?} -> {url}"
            );
            match url.scheme() {
                "https" => {}
                "http" => assert!(insecure || is_loopback(&url), "plain http for {issuer:?}"),
                other => panic!("scheme {other:?} for {issuer:?}"),
            }
            let path = url.path();
            match kind {
                DiscoveryKind::OpenIdConnect => assert!(
                    path.ends_with("/.well-known/openid-configuration"),
                    "{issuer:?} -> {url}"
                ),
                _ => assert!(
                    path.starts_with("/.well-known/oauth-authorization-server"),
                    "{issuer:?} -> {url}"
                ),
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT {
        return;
    }
    match serde_json::from_slice::<ProviderMetadata>(data) {
        Ok(metadata) => {
            check_issuer(&metadata.issuer);
            if let Some(jwks_uri) = &metadata.jwks_uri {
                check_issuer(jwks_uri);
            }
            let _ = metadata.id_token_signing_alg_values_supported.len();
        }
        Err(_) => check_issuer(&String::from_utf8_lossy(data)),
    }
});
