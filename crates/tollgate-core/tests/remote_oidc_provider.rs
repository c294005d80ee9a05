//! Interoperability with an OpenID Provider we did not write: panva's certified `oidc-provider`
//! (Node.js, pinned in `tests/oidc_provider/package-lock.json`), started on 127.0.0.1.
//!
//! A client-credentials access token (RFC 9068, `typ: at+jwt`) from its token endpoint must
//! verify through OIDC discovery and the provider's own JWKS, a tampered copy must not, and a
//! restart of the provider with new keys (a key rotation) must be picked up by the same
//! [`OidcSource`] with one refetch.
//!
//! Needs `node` and `npm` on `PATH` (oidc-provider 9 supports Node.js 22 LTS and later; on 20 it
//! runs and warns). The dependencies are installed with `npm ci` from the committed lock file
//! when `node_modules` is missing (`scripts/test` does it up front).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(feature = "remote")]

use tollgate_test_support as support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use support::oidc_provider::{OpenIdProvider, install_dependencies};
use support::tamper_signature;
use tollgate_core::remote::OidcSource;
use tollgate_core::{
    Algorithm, CryptoProvider, Error, StandardClaims, Validation, VerifiedToken, Verifier,
};

const CLIENT_ID: &str = "tollgate-test";
const CLIENT_SECRET: &str = "tollgate-test-secret";
const AUDIENCE: &str = "urn:tollgate:api";
/// A second resource indicator the provider signs with RS256 (same audience).
const RS256_RESOURCE: &str = "urn:tollgate:api:rs256";

/// The provider's own token endpoint, for the tests here.
trait TokenEndpoint {
    async fn access_token(&self, resource: &str) -> String;
}

impl TokenEndpoint for OpenIdProvider {
    /// A client-credentials access token for `resource` with scope `read`.
    async fn access_token(&self, resource: &str) -> String {
        let body = format!(
            "grant_type=client_credentials&scope=read&resource={}",
            resource.replace(':', "%3A")
        );
        let response = reqwest::Client::new()
            .post(format!("{}/token", self.issuer()))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("POST /token");
        let status = response.status();
        let text = response.text().await.expect("token response body");
        assert!(status.is_success(), "token endpoint: {status}: {text}");
        let json: serde_json::Value = serde_json::from_str(&text).expect("token response JSON");
        assert_eq!(json["token_type"], "Bearer", "{text}");
        json["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token in {text}"))
            .to_owned()
    }
}

fn kid(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// What every access token from the provider must look like once verified.
fn assert_access_token(verified: &VerifiedToken, issuer: &str, alg: Algorithm) {
    assert_eq!(verified.header().alg, alg);
    assert_eq!(verified.header().typ.as_deref(), Some("at+jwt"));
    let claims = verified.claims::<StandardClaims>().unwrap();
    assert_eq!(claims.registered.iss.as_deref(), Some(issuer));
    assert!(claims.registered.aud.contains(AUDIENCE));
    // RFC 9068 2.2: for a client-credentials grant the subject is the client.
    assert_eq!(claims.registered.sub.as_deref(), Some(CLIENT_ID));
    assert_eq!(claims.extra["client_id"], CLIENT_ID);
    assert_eq!(claims.scopes(), ["read"]);
    assert!(claims.registered.jti.is_some());
    let (iat, exp) = (
        claims.registered.iat.unwrap(),
        claims.registered.exp.unwrap(),
    );
    assert!(exp > iat, "exp {exp} after iat {iat}");
    assert_eq!(verified.expires_at(), Some(exp));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_of_a_real_openid_provider_verify_across_key_rotation() {
    install_dependencies(&["oidc-provider"]);
    let provider = OpenIdProvider::start(0);
    let port = provider.port;
    let issuer = provider.issuer();

    let source = OidcSource::discover(issuer.clone())
        .await
        .expect("discovery of the provider's metadata");
    let jwks = source.jwks_source().unwrap().clone();
    assert_eq!(jwks.url(), format!("{issuer}/jwks"));
    let policy = Validation::builder([Algorithm::ES256, Algorithm::RS256])
        .issuer(issuer.clone())
        .audience(AUDIENCE)
        .types(["at+jwt"])
        .build()
        .unwrap();
    let verifier = Verifier::new(policy, source, CryptoProvider::default());

    // ES256 (the default resource) and RS256 tokens, both keys from the provider's JWKS.
    let old = provider.access_token(AUDIENCE).await;
    let verified = verifier.verify(&old).await.unwrap();
    assert_access_token(&verified, &issuer, Algorithm::ES256);
    let rs256 = provider.access_token(RS256_RESOURCE).await;
    let verified = verifier.verify(&rs256).await.unwrap();
    assert_access_token(&verified, &issuer, Algorithm::RS256);
    assert_eq!(jwks.stats().fetches, 1, "one JWKS fetch serves both keys");
    assert_eq!(jwks.cached_keys().unwrap().len(), 2);

    assert_eq!(
        verifier.verify(&tamper_signature(&old)).await.unwrap_err(),
        Error::InvalidSignature
    );

    // Rotation: a new provider process on the same port (same issuer) with new keys.
    drop(provider);
    let provider = OpenIdProvider::start(port);
    assert_eq!(provider.issuer(), issuer);
    let new = provider.access_token(AUDIENCE).await;
    assert_ne!(kid(&new), kid(&old), "a restart generates new keys");

    // The same verifier and source: the unknown kid triggers one refetch, which finds it.
    let verified = verifier.verify(&new).await.unwrap();
    assert_access_token(&verified, &issuer, Algorithm::ES256);
    assert_eq!(
        jwks.stats().fetches,
        2,
        "exactly one refetch for the new kid"
    );

    // A successful refetch replaces the cached set: the old kid is gone. Its token triggers one
    // more refetch (no cooldown follows a refetch that found its kid), which still lacks it, and
    // is refused; within the cooldown that refetch started, it is refused without fetching.
    let old_kid = kid(&old);
    for _ in 0..2 {
        let err = verifier.verify(&old).await.unwrap_err();
        assert!(
            matches!(&err, Error::UnknownKey { kid } if *kid == old_kid),
            "{err:?}"
        );
    }
    assert!(matches!(
        verifier.verify(&rs256).await,
        Err(Error::UnknownKey { .. })
    ));
    assert_eq!(
        jwks.stats().fetches,
        3,
        "one refetch for the old kid, then cooldown"
    );
    assert_eq!(jwks.stats().unknown_kid_rejections, 3);
    // The new keys keep working from the cache.
    verifier.verify(&new).await.unwrap();
    assert_eq!(jwks.stats().fetches, 3);
}
