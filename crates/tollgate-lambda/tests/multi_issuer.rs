//! The API Gateway Lambda authorizer over a `MultiIssuer` of two issuers, each with its own keys
//! from a loopback JWKS: REST `TOKEN` and HTTP API events allow each issuer's tokens and deny a
//! token signed by one issuer's key that claims the other issuer, and an unknown issuer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_test_support as support;

mod common;

use common::fixture_with_token;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequest, ApiGatewayV2CustomAuthorizerV2Request,
};
use serde_json::{Value, json};
use support::issuers::{LoopbackIssuer, multi_issuer};
use tollgate::core::remote::JwksSource;
use tollgate_lambda::Authorizer;

const AUDIENCE: &str = "pets-api";
const STAGE_WIDE: &str = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/*/*";

struct Setup {
    a: LoopbackIssuer,
    b: LoopbackIssuer,
    authorizer: Authorizer,
}

/// Issuers A and B behind one authorizer that puts `iss` in the context.
async fn setup() -> Setup {
    let a = LoopbackIssuer::start("https://a.example.com").await;
    let b = LoopbackIssuer::start("https://b.example.com").await;
    let router = multi_issuer(&[&a, &b], AUDIENCE, |issuer| {
        JwksSource::builder(issuer.jwks_url()).build().unwrap()
    });
    let authorizer = Authorizer::builder(router)
        .context_claims(["iss"])
        .unwrap()
        .build();
    Setup { a, b, authorizer }
}

fn token_event(token: &str) -> ApiGatewayCustomAuthorizerRequest {
    serde_json::from_value(fixture_with_token("authorizer-token.json", token)).unwrap()
}

fn http_event(token: &str) -> ApiGatewayV2CustomAuthorizerV2Request {
    serde_json::from_value(fixture_with_token("authorizer-http-v2.json", token)).unwrap()
}

/// The REST policy the authorizer answers for `token`, as JSON.
async fn rest(authorizer: &Authorizer, token: &str) -> Value {
    let response = authorizer.token(token_event(token)).await.unwrap();
    serde_json::to_value(&response).unwrap()
}

/// The HTTP API simple response the authorizer answers for `token`, as JSON.
async fn simple(authorizer: &Authorizer, token: &str) -> Value {
    let response = authorizer.http_simple(http_event(token)).await.unwrap();
    serde_json::to_value(&response).unwrap()
}

fn rest_policy(effect: &str, principal: &str, context: Value) -> Value {
    json!({
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{
                "Action": ["execute-api:Invoke"],
                "Effect": effect,
                "Resource": [STAGE_WIDE]
            }]
        },
        "context": context,
        "usageIdentifierKey": null
    })
}

fn denied_rest() -> Value {
    rest_policy("Deny", "unauthorized", json!({}))
}

fn denied_simple() -> Value {
    json!({"isAuthorized": false, "context": {}})
}

#[tokio::test]
async fn rest_token_authorizer_allows_each_issuer_by_its_own_keys() {
    let Setup { a, b, authorizer } = setup().await;
    for issuer in [&a, &b] {
        let allowed = rest_policy("Allow", "user-1", json!({"iss": issuer.issuer()}));
        assert_eq!(rest(&authorizer, &issuer.token(AUDIENCE)).await, allowed);
    }
    assert_eq!((a.jwks_hits(), b.jwks_hits()), (1, 1));
}

#[tokio::test]
async fn rest_token_authorizer_denies_cross_issuer_forgeries_and_strangers() {
    let Setup { a, b, authorizer } = setup().await;
    // Signed with one issuer's key (same kid as the other's), claiming the other issuer.
    assert_eq!(
        rest(&authorizer, &a.sign(&b.claims(AUDIENCE))).await,
        denied_rest()
    );
    assert_eq!(
        rest(&authorizer, &b.sign(&a.claims(AUDIENCE))).await,
        denied_rest()
    );
    let stranger = LoopbackIssuer::start("https://c.example.com").await;
    assert_eq!(
        rest(&authorizer, &stranger.token(AUDIENCE)).await,
        denied_rest()
    );
    assert_eq!(
        rest(&authorizer, &a.sign(&stranger.claims(AUDIENCE))).await,
        denied_rest()
    );
    // The right issuer and keys, the wrong audience.
    assert_eq!(
        rest(&authorizer, &a.token("other-api")).await,
        denied_rest()
    );
    assert_eq!(stranger.jwks_hits(), 0);
    // The refusals left the genuine tokens alone.
    let allowed = rest_policy("Allow", "user-1", json!({"iss": a.issuer()}));
    assert_eq!(rest(&authorizer, &a.token(AUDIENCE)).await, allowed);
}

#[tokio::test]
async fn http_api_authorizer_allows_each_issuer_and_denies_the_forgeries() {
    let Setup { a, b, authorizer } = setup().await;
    for issuer in [&a, &b] {
        let allowed = json!({"isAuthorized": true, "context": {"iss": issuer.issuer()}});
        assert_eq!(simple(&authorizer, &issuer.token(AUDIENCE)).await, allowed);
    }
    for forged in [a.sign(&b.claims(AUDIENCE)), b.sign(&a.claims(AUDIENCE))] {
        assert_eq!(simple(&authorizer, &forged).await, denied_simple());
    }
    let stranger = LoopbackIssuer::start("https://c.example.com").await;
    assert_eq!(
        simple(&authorizer, &stranger.token(AUDIENCE)).await,
        denied_simple()
    );
}
