//! The same axum Router + AuthLayer under `lambda_http`: real REST (v1), HTTP API (v2), ALB and
//! function URL events go through `lambda_http`'s own conversion, the layer, the extractors and
//! the guards; keys are fetched lazily once per container, or preloaded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_test_support as support;

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::get;
use common::*;
use serde_json::{Value, json};
use support::server::Loopback;
use support::*;
use tollgate::core::remote::JwksSource;
use tollgate::core::{Algorithm, CryptoProvider, KeySet, StandardClaims, Verifier};
use tollgate::{AuthLayer, Claims, RequireRole};
use tollgate_lambda::{PreloadedKeys, preload_jwks_from_env, preload_jwks_from_file};

tollgate::role!(Admin = "admin");

/// Every HTTP event shape the crate supports, with the path prefix `lambda_http` gives it.
const ORIGINS: [(&str, &str); 5] = [
    ("apigw-rest-v1.json", "REST API v1"),
    ("apigw-http-v2.json", "HTTP API v2"),
    ("alb.json", "ALB"),
    ("alb-multi-value.json", "ALB multi-value"),
    ("function-url.json", "function URL"),
];

async fn me(Claims(claims): Claims<StandardClaims>) -> String {
    claims.registered.sub.unwrap_or_default()
}

fn api() -> Router {
    Router::new().route("/me", get(me)).route(
        "/admin",
        get(|_: RequireRole<Admin>| async { "hello admin" }),
    )
}

/// REST API events keep the stage in the path (`/prod/me`): the app serves both.
fn app(verifier: Verifier) -> Router {
    Router::new()
        .nest("/prod", api())
        .merge(api())
        .layer(AuthLayer::new(verifier))
}

fn token_with_roles(roles: Value) -> String {
    sign(Algorithm::RS256, &claims_with("roles", Some(roles)))
}

#[tokio::test]
async fn no_token_is_a_401_challenge_for_every_event_shape() {
    let app = app(default_verifier());
    for (file, origin) in ORIGINS {
        let answer = call(&app, &fixture(file)).await;
        assert_eq!(answer.status, 401, "{origin}");
        assert_eq!(
            answer.header("www-authenticate"),
            Some(r#"Bearer realm="api""#),
            "{origin}"
        );
    }
}

#[tokio::test]
async fn valid_token_reaches_the_handler_with_its_claims() {
    let app = app(default_verifier());
    let token = sign(Algorithm::RS256, &claims());
    for (file, origin) in ORIGINS {
        let answer = call(&app, &with_bearer(fixture(file), &token)).await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (200, "user-1"),
            "{origin}"
        );
    }
}

#[tokio::test]
async fn invalid_tokens_are_401_invalid_token() {
    let app = app(default_verifier());
    let expired = sign(
        Algorithm::RS256,
        &claims_with("exp", Some(json!(now() - 3600))),
    );
    let forged = tamper_signature(&sign(Algorithm::RS256, &claims()));
    for (file, origin) in ORIGINS {
        for (token, description) in [
            (&expired, "the access token expired"),
            (&forged, "the token signature is invalid"),
        ] {
            let answer = call(&app, &with_bearer(fixture(file), token)).await;
            assert_eq!(answer.status, 401, "{origin}");
            let challenge = answer.header("www-authenticate").unwrap();
            assert!(
                challenge.contains(r#"error="invalid_token""#),
                "{challenge}"
            );
            assert_eq!(answer.json()["error_description"], description, "{origin}");
        }
    }
}

#[tokio::test]
async fn guards_answer_403_without_the_role_and_200_with_it() {
    let app = app(default_verifier());
    let user = token_with_roles(json!(["user"]));
    let admin = token_with_roles(json!(["admin"]));
    for (file, origin) in ORIGINS {
        let event = with_path(fixture(file), "/admin");
        let answer = call(&app, &with_bearer(event.clone(), &user)).await;
        assert_eq!(answer.status, 403, "{origin}");
        let challenge = answer.header("www-authenticate").unwrap();
        assert!(
            challenge.contains(r#"error="insufficient_scope""#),
            "{challenge}"
        );
        assert!(challenge.contains(r#"scope="admin""#), "{challenge}");
        let answer = call(&app, &with_bearer(event, &admin)).await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (200, "hello admin"),
            "{origin}"
        );
    }
}

/// The whole `lambda_http::run` path: event JSON in, the response JSON the runtime returns to
/// Lambda out, in the response shape of each origin.
#[tokio::test]
async fn runtime_response_json_per_origin() {
    let app = app(default_verifier());
    let token = sign(Algorithm::RS256, &claims());

    let v1 = invoke(&app, &fixture("apigw-rest-v1.json")).await;
    assert_eq!(v1["statusCode"], 401);
    assert_eq!(
        v1["multiValueHeaders"]["www-authenticate"],
        json!([r#"Bearer realm="api""#])
    );
    let v1 = invoke(&app, &with_bearer(fixture("apigw-rest-v1.json"), &token)).await;
    assert_eq!(
        (v1["statusCode"].clone(), v1["body"].clone()),
        (json!(200), json!("user-1"))
    );

    let v2 = invoke(&app, &fixture("apigw-http-v2.json")).await;
    assert_eq!(v2["statusCode"], 401);
    assert_eq!(v2["headers"]["www-authenticate"], r#"Bearer realm="api""#);
    assert_eq!(v2["headers"]["cache-control"], "no-store");
    let v2 = invoke(&app, &with_bearer(fixture("function-url.json"), &token)).await;
    assert_eq!(
        (v2["statusCode"].clone(), v2["body"].clone()),
        (json!(200), json!("user-1"))
    );

    let alb = invoke(&app, &fixture("alb.json")).await;
    assert_eq!(alb["statusCode"], 401);
    assert_eq!(alb["statusDescription"], "401 Unauthorized");
    assert_eq!(alb["headers"]["www-authenticate"], r#"Bearer realm="api""#);
    let alb = invoke(&app, &with_bearer(fixture("alb.json"), &token)).await;
    assert_eq!(
        (alb["statusCode"].clone(), alb["body"].clone()),
        (json!(200), json!("user-1"))
    );
}

/// A JWKS endpoint on 127.0.0.1 that counts its fetches.
async fn jwks_server() -> (String, Arc<AtomicUsize>) {
    let server = Loopback::json("/jwks.json", &jwks_value()).await;
    (server.url("/jwks.json"), server.hit_counter())
}

fn jwks_source(url: &str) -> JwksSource {
    JwksSource::builder(url)
        .allow_insecure_http(true)
        .build()
        .unwrap()
}

/// Built once per container (outside the handler), the source fetches on the first request
/// and every warm invocation after it is served from its cache.
#[tokio::test]
async fn keys_are_fetched_lazily_once_per_container() {
    let (url, hits) = jwks_server().await;
    let verifier = Verifier::new(
        policy().build().unwrap(),
        jwks_source(&url),
        CryptoProvider::default(),
    );
    let app = app(verifier);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "nothing is fetched before the first request"
    );
    for (i, (file, origin)) in ORIGINS.iter().enumerate() {
        // A fresh token per invocation, so no verified-token cache hides a key lookup.
        let token = sign(
            Algorithm::RS256,
            &claims_with("jti", Some(json!(format!("t{i}")))),
        );
        let answer = call(&app, &with_bearer(fixture(file), &token)).await;
        assert_eq!(answer.status, 200, "{origin}");
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "one fetch for the container ({origin})"
        );
    }
}

#[tokio::test]
async fn preloaded_keys_remove_the_cold_start_fetch() {
    let (url, hits) = jwks_server().await;
    let preloaded = KeySet::from_jwks(&jwks_value().to_string()).unwrap();
    let source = PreloadedKeys::new(preloaded, jwks_source(&url));
    let app = app(Verifier::new(
        policy().build().unwrap(),
        source,
        CryptoProvider::default(),
    ));
    let token = sign(Algorithm::ES256, &claims());
    let answer = call(&app, &with_bearer(fixture("apigw-http-v2.json"), &token)).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "served from the preloaded set"
    );
}

#[tokio::test]
async fn preloaded_keys_fall_back_to_the_lazy_source_for_a_new_kid() {
    let (url, hits) = jwks_server().await;
    // Preloaded: only the Ed25519 key; the issuer has since started signing with RSA.
    let mut jwks = jwks_value();
    jwks["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|k| k["kid"] == "ed");
    let preloaded = KeySet::from_jwks(&jwks.to_string()).unwrap();
    let source = PreloadedKeys::new(preloaded, jwks_source(&url));
    let app = app(Verifier::new(
        policy().build().unwrap(),
        source,
        CryptoProvider::default(),
    ));

    let ed = sign(Algorithm::EdDSA, &claims());
    assert_eq!(
        call(&app, &with_bearer(fixture("alb.json"), &ed))
            .await
            .status,
        200
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    let rsa = sign(Algorithm::RS256, &claims());
    assert_eq!(
        call(&app, &with_bearer(fixture("alb.json"), &rsa))
            .await
            .status,
        200
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "the unknown kid was fetched"
    );
}

#[test]
fn preload_from_file() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join("tollgate-lambda-preload.json");
    std::fs::write(&path, jwks_value().to_string()).unwrap();
    let keys = preload_jwks_from_file(&path).unwrap();
    assert_eq!(keys.len(), 4);

    std::fs::write(&path, r#"{"keys": []}"#).unwrap();
    let err = preload_jwks_from_file(&path).unwrap_err();
    assert!(err.to_string().contains("no usable"), "{err}");
    assert!(preload_jwks_from_file(dir.join("missing.json")).is_err());
}

#[test]
fn preload_from_env_unset_is_none() {
    assert!(
        preload_jwks_from_env("TOLLGATE_LAMBDA_TEST_SURELY_UNSET")
            .unwrap()
            .is_none()
    );
}

/// The environment cannot be changed safely inside a test process, so this test runs the test
/// binary again with the variables set, and the child checks `preload_jwks_from_env`.
#[test]
fn preload_from_env() {
    let jwks = jwks_value().to_string();
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "preload_from_env_child"])
        .env("TOLLGATE_LAMBDA_TEST_JWKS", &jwks)
        .env("TOLLGATE_LAMBDA_TEST_BAD", "{not json")
        .env("TOLLGATE_LAMBDA_TEST_EMPTY", "")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("1 passed"), "the child test ran: {stdout}");
}

#[test]
fn preload_from_env_child() {
    let Ok(expected) = std::env::var("TOLLGATE_LAMBDA_TEST_JWKS") else {
        return; // only meaningful when started by `preload_from_env`
    };
    let keys = preload_jwks_from_env("TOLLGATE_LAMBDA_TEST_JWKS")
        .unwrap()
        .unwrap();
    assert_eq!(keys.len(), KeySet::from_jwks(&expected).unwrap().len());
    assert!(preload_jwks_from_env("TOLLGATE_LAMBDA_TEST_BAD").is_err());
    assert!(
        preload_jwks_from_env("TOLLGATE_LAMBDA_TEST_EMPTY")
            .unwrap()
            .is_none()
    );
}
