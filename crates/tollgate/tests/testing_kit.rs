//! The test kit: a dev issuer on a real loopback port, through the remote-JWKS path.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::Router;
use axum::routing::get;
use serde_json::json;
use tollgate::core::{Algorithm, StandardClaims};
use tollgate::testing::{DevIssuer, SigningKey};
use tollgate::{AuthLayer, Claims, RequireRole};

tollgate::role!(Admin = "admin");

async fn serve(router: Router) -> String {
    format!(
        "http://{}",
        tollgate_test_support::server::serve(router).await
    )
}

async fn status(url: &str, token: &str) -> u16 {
    reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn three_lines_to_test_a_protected_handler() {
    let issuer = DevIssuer::start().await.unwrap();
    let app =
        Router::new()
            .route(
                "/me",
                get(|Claims(c): Claims<StandardClaims>| async move {
                    c.registered.sub.unwrap_or_default()
                }),
            )
            .route("/admin", get(|_: RequireRole<Admin>| async { "admin" }))
            .layer(AuthLayer::new(issuer.verifier().unwrap()));
    let base = serve(app).await;

    let alice = issuer
        .token()
        .subject("alice")
        .roles(["admin"])
        .sign()
        .unwrap();
    let body = reqwest::Client::new()
        .get(format!("{base}/me"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "alice");
    assert_eq!(status(&format!("{base}/admin"), &alice).await, 200);
    let bob = issuer
        .token()
        .subject("bob")
        .roles(["user"])
        .algorithm(Algorithm::RS256)
        .sign()
        .unwrap();
    assert_eq!(status(&format!("{base}/admin"), &bob).await, 403);
    assert_eq!(
        status(
            &format!("{base}/me"),
            &issuer.token().expired().sign().unwrap()
        )
        .await,
        401
    );
    assert_eq!(
        status(
            &format!("{base}/me"),
            &issuer.token().audience("other").sign().unwrap()
        )
        .await,
        401
    );
    assert_eq!(issuer.jwks_requests(), 1, "keys fetched once and cached");

    // Rotation: the new kid is fetched once on first use; old tokens then fail.
    issuer.rotate_keys().unwrap();
    let fresh = issuer.token().subject("carol").sign().unwrap();
    assert_eq!(status(&format!("{base}/me"), &fresh).await, 200);
    assert_eq!(issuer.jwks_requests(), 2);
    assert_eq!(
        status(&format!("{base}/me"), &alice).await,
        401,
        "rotated-out key"
    );
}

#[tokio::test]
async fn verifier_checks_the_dev_audience_and_reads_roles_where_told() {
    let issuer = DevIssuer::start().await.unwrap();
    // The kit's policy names the audience its tokens carry (never "any audience").
    let policy = issuer.validation();
    assert_eq!(policy.audiences(), [tollgate::testing::DEFAULT_AUDIENCE]);
    assert!(!policy.accepts_any_audience());

    let groups = tollgate::core::ClaimPath::new("cognito:groups").unwrap();
    let verifier = issuer
        .verifier_builder()
        .unwrap()
        .access_claims(tollgate::core::AccessClaims::default().roles_at([groups]))
        .build();
    let app = Router::new()
        .route("/admin", get(|_: RequireRole<Admin>| async { "admin" }))
        .layer(AuthLayer::new(verifier));
    let base = serve(app).await;
    let url = format!("{base}/admin");

    let grouped = issuer.token().claim("cognito:groups", json!(["admin"]));
    assert_eq!(status(&url, &grouped.sign().unwrap()).await, 200);
    let as_string = issuer.token().claim("cognito:groups", json!("admin"));
    assert_eq!(status(&url, &as_string.sign().unwrap()).await, 200);
    let top_level = issuer.token().roles(["admin"]);
    assert_eq!(status(&url, &top_level.sign().unwrap()).await, 403);
    let elsewhere = issuer
        .token()
        .claim("cognito:groups", json!(["admin"]))
        .audience("another-api");
    assert_eq!(status(&url, &elsewhere.sign().unwrap()).await, 401);
}

#[tokio::test]
async fn discovery_and_mint_endpoint() {
    let issuer = DevIssuer::start().await.unwrap();
    let http = reqwest::Client::new();
    let discovery: serde_json::Value = serde_json::from_str(
        &http
            .get(format!(
                "{}/.well-known/openid-configuration",
                issuer.issuer()
            ))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(discovery["issuer"], json!(issuer.issuer()));
    assert_eq!(discovery["jwks_uri"], json!(issuer.jwks_url()));
    let keys = tollgate::core::remote::OidcSource::discover(issuer.issuer())
        .await
        .unwrap();
    let verifier = tollgate::core::Verifier::new(
        issuer.validation(),
        keys,
        tollgate::core::CryptoProvider::default(),
    );
    let minted = http
        .get(format!(
            "{}/token?sub=dana&roles=admin,user&scope=read%20write&alg=RS256",
            issuer.issuer()
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let verified = verifier.verify(&minted).await.unwrap();
    let claims = verified.claims::<StandardClaims>().unwrap();
    assert_eq!(claims.registered.sub.as_deref(), Some("dana"));
    assert_eq!(verified.header().alg, Algorithm::RS256);
    assert_eq!(claims.scopes(), ["read", "write"]);
}

#[test]
fn signing_keys_round_trip_through_pkcs8_and_jwk() {
    for alg in [
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::PS256,
    ] {
        let key = SigningKey::generate(alg).unwrap().with_kid("k");
        let pem = key.to_pkcs8_pem().unwrap();
        let again = SigningKey::from_pkcs8(pem.as_bytes(), alg)
            .unwrap()
            .with_kid("k");
        assert_eq!(again.public_jwk(), key.public_jwk(), "{alg}");
        let jwk = key.public_jwk().unwrap().to_string();
        assert!(
            tollgate::core::VerificationKey::from_jwk(&jwk).is_ok(),
            "{alg}"
        );
    }
    assert!(SigningKey::hmac(b"short").is_err());
    assert!(
        SigningKey::from_pkcs8(
            b"-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----",
            Algorithm::RS256
        )
        .is_err()
    );
}
