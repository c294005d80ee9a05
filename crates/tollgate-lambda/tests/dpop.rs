//! DPoP (RFC 9449) on Lambda: the Router + AuthLayer under `lambda_http` with a stage URL as the
//! public URL (REST v1 and HTTP API v2 events through `lambda_http`'s own conversion), and the
//! API Gateway authorizers, which accept bearer tokens only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_test_support as support;

mod common;

use axum::Router;
use axum::routing::get;
use common::*;
use http::header::WWW_AUTHENTICATE;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequest, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayV2CustomAuthorizerV2Request,
};
use serde_json::{Value, json};
use support::*;
use tollgate::core::dpop::{DpopMode, DpopVerifier};
use tollgate::core::{Algorithm, StandardClaims};
use tollgate::{
    AuthError, AuthLayer, Challenge, Claims, DpopProof, ErrorResponder, Rfc6750Responder,
};
use tollgate_lambda::{Authorizer, AuthorizerError};

/// The stage URL clients call (the fixtures' API id and region, stage `prod`).
const STAGE_URL: &str = "https://abcdef123.execute-api.us-east-1.amazonaws.com/prod";
/// The same API's origin.
const ORIGIN: &str = "https://abcdef123.execute-api.us-east-1.amazonaws.com";

async fn me(Claims(claims): Claims<StandardClaims>) -> String {
    claims.registered.sub.unwrap_or_default()
}

fn api() -> Router {
    Router::new().route("/me", get(me)).route(
        "/jkt",
        get(|proof: DpopProof| async move { proof.jkt().to_owned() }),
    )
}

fn dpop_layer(public_url: &str, nonces: bool) -> AuthLayer {
    let mut dpop = DpopVerifier::builder(public_url).unwrap();
    if nonces {
        dpop = dpop.nonces(Some([3u8; 32]));
    }
    AuthLayer::builder(default_verifier())
        .dpop(dpop.build(), DpopMode::Allowed)
        .build()
}

/// The layer inside the stage's nested router: it sees `/me` for `/prod/me`, and the public URL
/// ends in the stage.
fn staged_app(nonces: bool) -> Router {
    Router::new().nest("/prod", api().layer(dpop_layer(STAGE_URL, nonces)))
}

/// The event shapes whose path carries the stage: REST v1 (as `lambda_http` builds it) and an
/// HTTP API v2 event on the `prod` stage.
fn staged_events() -> Vec<(&'static str, Value)> {
    let mut v2 = with_path(fixture("apigw-http-v2.json"), "/prod/me");
    v2["requestContext"]["stage"] = json!("prod");
    vec![
        ("REST API v1", fixture("apigw-rest-v1.json")),
        ("HTTP API v2", v2),
    ]
}

fn client() -> SigningKey {
    SigningKey::generate(Algorithm::ES256).unwrap()
}

fn bound_token(key: &SigningKey) -> String {
    let jkt = key.jwk_thumbprint().unwrap();
    sign(
        Algorithm::RS256,
        &claims_with("cnf", Some(json!({ "jkt": jkt }))),
    )
}

/// Sets `Authorization: DPoP <token>` and `DPoP: <proof>` in every header map of the event.
fn with_dpop(mut event: Value, token: &str, proof: Option<&str>) -> Value {
    set_authorization(&mut event, Some(&format!("DPoP {token}")));
    let object = event.as_object_mut().unwrap();
    for (map, multi) in [("headers", false), ("multiValueHeaders", true)] {
        let Some(Value::Object(headers)) = object.get_mut(map) else {
            continue;
        };
        headers.retain(|name, _| !name.eq_ignore_ascii_case("dpop"));
        if let Some(proof) = proof {
            let value = if multi { json!([proof]) } else { json!(proof) };
            headers.insert("DPoP".to_owned(), value);
        }
    }
    event
}

fn proof_for(key: &SigningKey, url: &str, token: &str, nonce: Option<&str>) -> String {
    key.dpop_proof("GET", url, Some(token), nonce).unwrap()
}

#[tokio::test]
async fn dpop_requests_through_lambda_http_with_a_stage_url() {
    let app = staged_app(false);
    let key = client();
    let token = bound_token(&key);
    for (origin, event) in staged_events() {
        let url = format!("{STAGE_URL}/me");
        let proof = proof_for(&key, &url, &token, None);
        let event = with_dpop(event, &token, Some(&proof));
        let answer = call(&app, &event).await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (200, "user-1"),
            "{origin}: {:?}",
            answer.headers
        );
        // The same proof again: replayed.
        let again = call(&app, &event).await;
        assert_eq!(again.status, 401, "{origin}");
        let challenge = again.header("www-authenticate").unwrap();
        assert!(challenge.starts_with("DPoP "), "{challenge}");
        assert!(
            challenge.contains(r#"error="invalid_dpop_proof""#),
            "{challenge}"
        );
        assert_eq!(
            again.json()["error_description"],
            "the DPoP proof was already used"
        );

        // htu without the stage (what a client that ignores the base path signs) is refused.
        let unstaged = proof_for(&key, &format!("{ORIGIN}/me"), &token, None);
        let answer = call(
            &app,
            &with_dpop(fixture_for(origin), &token, Some(&unstaged)),
        )
        .await;
        assert_eq!(answer.status, 401, "{origin}");
        assert_eq!(
            answer.json()["error_description"],
            "the DPoP proof is for another URI"
        );

        // No proof at all.
        let answer = call(&app, &with_dpop(fixture_for(origin), &token, None)).await;
        assert_eq!(answer.status, 401, "{origin}");
        assert_eq!(
            answer.json()["error_description"],
            "the DPoP proof is missing"
        );

        // The extractor's jkt.
        let event = with_path(fixture_for(origin), "/prod/jkt");
        let proof = proof_for(&key, &format!("{STAGE_URL}/jkt"), &token, None);
        let answer = call(&app, &with_dpop(event, &token, Some(&proof))).await;
        assert_eq!(
            (answer.status, answer.body),
            (200, key.jwk_thumbprint().unwrap()),
            "{origin}"
        );
    }
}

/// The event of `origin` from [`staged_events`], fresh.
fn fixture_for(origin: &str) -> Value {
    staged_events()
        .into_iter()
        .find(|(name, _)| *name == origin)
        .map(|(_, event)| event)
        .unwrap()
}

#[tokio::test]
async fn the_layer_outside_the_stage_router_uses_the_origin() {
    // The layer sees `/prod/me`: the public URL is then the bare origin.
    let app = Router::new()
        .nest("/prod", api())
        .layer(dpop_layer(ORIGIN, false));
    let key = client();
    let token = bound_token(&key);
    for (origin, event) in staged_events() {
        let proof = proof_for(&key, &format!("{STAGE_URL}/me"), &token, None);
        let answer = call(&app, &with_dpop(event, &token, Some(&proof))).await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (200, "user-1"),
            "{origin}"
        );
    }
    // And the stage URL with such a layer would expect `/prod/prod/me`.
    let misconfigured = Router::new()
        .nest("/prod", api())
        .layer(dpop_layer(STAGE_URL, false));
    let proof = proof_for(&key, &format!("{STAGE_URL}/me"), &token, None);
    let event = with_dpop(fixture("apigw-rest-v1.json"), &token, Some(&proof));
    assert_eq!(call(&misconfigured, &event).await.status, 401);
}

#[tokio::test]
async fn challenges_and_nonces_in_the_runtime_response_json() {
    let app = staged_app(true);
    let key = client();
    let token = bound_token(&key);
    let url = format!("{STAGE_URL}/me");

    // REST v1: no credentials, both challenges as two values of one header.
    let v1 = invoke(&app, &fixture("apigw-rest-v1.json")).await;
    assert_eq!(v1["statusCode"], 401);
    let challenges = v1["multiValueHeaders"]["www-authenticate"]
        .as_array()
        .unwrap();
    assert_eq!(challenges.len(), 2, "{v1}");
    assert_eq!(challenges[0], r#"Bearer realm="api""#);
    assert!(
        challenges[1]
            .as_str()
            .unwrap()
            .starts_with(r#"DPoP realm="api", algs=""#),
        "{v1}"
    );

    // A proof without the nonce: use_dpop_nonce and the nonce to use.
    let first = with_dpop(
        fixture("apigw-rest-v1.json"),
        &token,
        Some(&proof_for(&key, &url, &token, None)),
    );
    let v1 = invoke(&app, &first).await;
    assert_eq!(v1["statusCode"], 401);
    let challenge = v1["multiValueHeaders"]["www-authenticate"][0]
        .as_str()
        .unwrap();
    assert!(
        challenge.contains(r#"error="use_dpop_nonce""#),
        "{challenge}"
    );
    let nonce = v1["multiValueHeaders"]["dpop-nonce"][0]
        .as_str()
        .unwrap()
        .to_owned();

    // Retried with it: 200, with the next nonce.
    let retry = with_dpop(
        fixture("apigw-rest-v1.json"),
        &token,
        Some(&proof_for(&key, &url, &token, Some(&nonce))),
    );
    let v1 = invoke(&app, &retry).await;
    assert_eq!(
        (v1["statusCode"].clone(), v1["body"].clone()),
        (json!(200), json!("user-1"))
    );
    assert!(v1["multiValueHeaders"]["dpop-nonce"][0].is_string(), "{v1}");

    // HTTP API v2 responses keep one value per header name (`aws_lambda_events` serializes the
    // first): the second challenge is lost...
    let (_, v2) = staged_events().remove(1);
    let answer = invoke(&app, &v2).await;
    assert_eq!(answer["statusCode"], 401);
    assert_eq!(
        answer["headers"]["www-authenticate"],
        r#"Bearer realm="api""#
    );
    // ...unless the challenges are sent as one comma-separated value.
    let joined = |error: &AuthError, challenge: &Challenge| {
        let mut response = Rfc6750Responder.respond(error, challenge);
        let headers = response.headers_mut();
        headers.remove(WWW_AUTHENTICATE);
        if let Some(value) = challenge.www_authenticate_joined(error) {
            headers.insert(WWW_AUTHENTICATE, value);
        }
        response
    };
    let layer = AuthLayer::builder(default_verifier())
        .error_responder(joined)
        .dpop(
            DpopVerifier::builder(STAGE_URL).unwrap().build(),
            DpopMode::Allowed,
        )
        .build();
    let app = Router::new().nest("/prod", api().layer(layer));
    let answer = invoke(&app, &v2).await;
    let value = answer["headers"]["www-authenticate"].as_str().unwrap();
    assert!(
        value.starts_with(r#"Bearer realm="api", DPoP realm="api", algs=""#),
        "{value}"
    );
}

// --- API Gateway authorizers: bearer only.

fn authorizer() -> Authorizer {
    Authorizer::new(default_verifier())
}

/// A fixture with `Bearer {TOKEN}` made `<scheme> <token>` everywhere.
fn authorizer_fixture(name: &str, scheme: &str, token: &str) -> Value {
    let text = fixture_with_token(name, token)
        .to_string()
        .replace("\"Bearer ", &format!("\"{scheme} "));
    serde_json::from_str(&text).unwrap()
}

fn token_event(scheme: &str, token: &str) -> ApiGatewayCustomAuthorizerRequest {
    serde_json::from_value(authorizer_fixture("authorizer-token.json", scheme, token)).unwrap()
}

fn request_event(scheme: &str, token: &str) -> ApiGatewayCustomAuthorizerRequestTypeRequest {
    serde_json::from_value(authorizer_fixture("authorizer-request.json", scheme, token)).unwrap()
}

fn http_event(scheme: &str, token: &str) -> ApiGatewayV2CustomAuthorizerV2Request {
    serde_json::from_value(authorizer_fixture("authorizer-http-v2.json", scheme, token)).unwrap()
}

fn effect(response: &tollgate_lambda::PolicyResponse) -> Value {
    serde_json::to_value(response).unwrap()["policyDocument"]["Statement"][0]["Effect"].clone()
}

#[tokio::test]
async fn authorizers_refuse_the_dpop_scheme() {
    let authorizer = authorizer();
    let key = client();
    let token = bound_token(&key);
    for scheme in ["DPoP", "dpop"] {
        assert_eq!(
            authorizer
                .token(token_event(scheme, &token))
                .await
                .unwrap_err(),
            AuthorizerError::Unauthorized,
            "{scheme}"
        );
        assert_eq!(
            authorizer
                .request(request_event(scheme, &token))
                .await
                .unwrap_err(),
            AuthorizerError::Unauthorized,
            "{scheme}"
        );
        let simple = authorizer
            .http_simple(http_event(scheme, &token))
            .await
            .unwrap();
        assert!(!simple.is_authorized, "{scheme}");
    }
}

#[tokio::test]
async fn authorizers_refuse_a_bound_token_sent_as_bearer() {
    let authorizer = authorizer();
    let key = client();
    let bound = bound_token(&key);
    let unbound = sign(Algorithm::RS256, &claims());
    let response = authorizer
        .token(token_event("Bearer", &bound))
        .await
        .unwrap();
    assert_eq!(effect(&response), "Deny");
    assert_eq!(response.principal_id.as_deref(), Some("unauthorized"));
    let response = authorizer
        .request(request_event("Bearer", &bound))
        .await
        .unwrap();
    assert_eq!(effect(&response), "Deny");
    let simple = authorizer
        .http_simple(http_event("Bearer", &bound))
        .await
        .unwrap();
    assert!(!simple.is_authorized);
    assert!(simple.context.is_empty());

    // The same verifier allows an unbound token.
    let response = authorizer
        .token(token_event("Bearer", &unbound))
        .await
        .unwrap();
    assert_eq!(effect(&response), "Allow");
    let simple = authorizer
        .http_simple(http_event("Bearer", &unbound))
        .await
        .unwrap();
    assert!(simple.is_authorized);

    // With refused tokens answered 401, so is a bound one.
    let strict = Authorizer::builder(default_verifier())
        .invalid_token_unauthorized()
        .build();
    assert_eq!(
        strict
            .token(token_event("Bearer", &bound))
            .await
            .unwrap_err(),
        AuthorizerError::Unauthorized
    );
}
