//! API Gateway Lambda authorizers: the exact JSON answered for allow, deny and malformed
//! events, for REST TOKEN and REQUEST authorizers and the HTTP API simple response.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_test_support as support;

mod common;

use common::*;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequest, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayV2CustomAuthorizerV2Request,
};
use lambda_http::lambda_runtime::Diagnostic;
use serde_json::{Value, json};
use support::*;
use tollgate::core::remote::JwksSource;
use tollgate::core::{Algorithm, CryptoProvider, Verifier};
use tollgate_lambda::{Authorizer, AuthorizerError, AuthorizerEvent, PolicyResource};

/// A REST `REQUEST` event with its header maps as received.
type RequestEvent = AuthorizerEvent<ApiGatewayCustomAuthorizerRequestTypeRequest>;
/// An HTTP API (payload 2.0) authorizer event with its header map as received.
type HttpEvent = AuthorizerEvent<ApiGatewayV2CustomAuthorizerV2Request>;

const STAGE_WIDE: &str = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/*/*";
const METHOD_ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/GET/pets/1";

fn authorizer() -> Authorizer {
    Authorizer::builder(default_verifier())
        .context_claims(["email", "roles", "scope", "email_verified", "address"])
        .unwrap()
        .build()
}

fn good_claims() -> Value {
    let mut c = claims();
    c["email"] = json!("jane@example.com");
    c["email_verified"] = json!(true);
    c["address"] = json!({"country": "NZ"}); // an object: cannot be a REST context value
    c
}

fn token_event(token: &str) -> ApiGatewayCustomAuthorizerRequest {
    serde_json::from_value(fixture_with_token("authorizer-token.json", token)).unwrap()
}

fn request_event(token: &str) -> ApiGatewayCustomAuthorizerRequestTypeRequest {
    serde_json::from_value(fixture_with_token("authorizer-request.json", token)).unwrap()
}

fn http_event(token: &str) -> ApiGatewayV2CustomAuthorizerV2Request {
    serde_json::from_value(fixture_with_token("authorizer-http-v2.json", token)).unwrap()
}

fn allow_json(resource: &str) -> Value {
    json!({
        "principalId": "user-1",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{
                "Action": ["execute-api:Invoke"],
                "Effect": "Allow",
                "Resource": [resource]
            }]
        },
        "context": {
            "email": "jane@example.com",
            "roles": "[user]",
            "scope": "read write",
            "email_verified": true
        },
        "usageIdentifierKey": null
    })
}

fn deny_json(resource: &str) -> Value {
    json!({
        "principalId": "unauthorized",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{
                "Action": ["execute-api:Invoke"],
                "Effect": "Deny",
                "Resource": [resource]
            }]
        },
        "context": {},
        "usageIdentifierKey": null
    })
}

/// The JSON the Lambda runtime reports for a handler error.
fn error_json(error: AuthorizerError) -> Value {
    serde_json::to_value(Diagnostic::from(error)).unwrap()
}

#[tokio::test]
async fn token_authorizer_allows_a_valid_token_for_the_whole_stage() {
    let token = sign(Algorithm::RS256, &good_claims());
    let response = authorizer().token(token_event(&token)).await.unwrap();
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        allow_json(STAGE_WIDE)
    );
}

#[tokio::test]
async fn method_arn_resource_names_only_the_method() {
    let authorizer = Authorizer::builder(default_verifier())
        .resource(PolicyResource::MethodArn)
        .context_claims(["email", "roles", "scope", "email_verified"])
        .unwrap()
        .build();
    let token = sign(Algorithm::RS256, &good_claims());
    let response = authorizer.token(token_event(&token)).await.unwrap();
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        allow_json(METHOD_ARN)
    );
}

#[tokio::test]
async fn token_authorizer_denies_tokens_that_fail_verification() {
    let authorizer = authorizer();
    let expired = sign(
        Algorithm::RS256,
        &claims_with("exp", Some(json!(now() - 3600))),
    );
    let forged = tamper_signature(&sign(Algorithm::RS256, &good_claims()));
    let wrong_audience = sign(Algorithm::RS256, &claims_with("aud", Some(json!("other"))));
    let no_sub = sign(Algorithm::RS256, &claims_with("sub", None));
    for token in [expired, forged, wrong_audience, no_sub] {
        let response = authorizer.token(token_event(&token)).await.unwrap();
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            deny_json(STAGE_WIDE)
        );
    }
}

#[tokio::test]
async fn malformed_or_missing_tokens_are_unauthorized_errors() {
    let authorizer = authorizer();
    let good = sign(Algorithm::RS256, &good_claims());
    let huge = "a".repeat(9000);
    for value in [
        json!(null),
        json!(""),
        json!("Bearer"),
        json!("Bearer not-a-jwt"),
        json!("Bearer a.b"),
        json!(format!("Bearer {huge}.b.c")),
        json!(format!("Basic {good}")),
        json!(good),
    ] {
        let mut event = fixture("authorizer-token.json");
        event["authorizationToken"] = value.clone();
        let event = serde_json::from_value(event).unwrap();
        let err = authorizer.token(event).await.unwrap_err();
        assert_eq!(err, AuthorizerError::Unauthorized, "{value}");
        assert_eq!(
            error_json(err),
            json!({"errorType": "Unauthorized", "errorMessage": "Unauthorized"})
        );
    }
}

#[tokio::test]
async fn invalid_tokens_can_be_unauthorized_instead_of_denied() {
    let authorizer = Authorizer::builder(default_verifier())
        .invalid_token_unauthorized()
        .build();
    let expired = sign(
        Algorithm::RS256,
        &claims_with("exp", Some(json!(now() - 3600))),
    );
    let err = authorizer.token(token_event(&expired)).await.unwrap_err();
    assert_eq!(err, AuthorizerError::Unauthorized);
}

#[tokio::test]
async fn unavailable_keys_are_an_error_not_a_cached_deny() {
    // A JWKS URL nothing listens on: no keys can be had.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    drop(listener);
    let source = JwksSource::builder(url)
        .allow_insecure_http(true)
        .build()
        .unwrap();
    let verifier = Verifier::new(policy().build().unwrap(), source, CryptoProvider::default());
    let authorizer = Authorizer::new(verifier);
    let token = sign(Algorithm::RS256, &claims());
    let err = authorizer.token(token_event(&token)).await.unwrap_err();
    assert_eq!(err, AuthorizerError::Unavailable);
    assert_eq!(
        error_json(err),
        json!({"errorType": "KeysUnavailable", "errorMessage": "signing keys are temporarily unavailable"})
    );
    let err = authorizer
        .http_simple(http_event(&token))
        .await
        .unwrap_err();
    assert_eq!(err, AuthorizerError::Unavailable);
}

#[tokio::test]
async fn event_without_method_arn_is_an_error() {
    let mut event = fixture_with_token("authorizer-token.json", "x.y.z");
    event.as_object_mut().unwrap().remove("methodArn");
    let err = authorizer()
        .token(serde_json::from_value(event).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, AuthorizerError::InvalidEvent(_)));
    assert_ne!(err.to_string(), "Unauthorized");
}

#[tokio::test]
async fn request_authorizer_reads_the_authorization_header() {
    let authorizer = authorizer();
    let token = sign(Algorithm::ES256, &good_claims());
    let response = authorizer.request(request_event(&token)).await.unwrap();
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        allow_json(STAGE_WIDE)
    );

    let forged = tamper_signature(&token);
    let response = authorizer.request(request_event(&forged)).await.unwrap();
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        deny_json(STAGE_WIDE)
    );

    let mut event = fixture("authorizer-request.json");
    set_authorization(&mut event, None);
    let err = authorizer
        .request(serde_json::from_value::<RequestEvent>(event).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err, AuthorizerError::Unauthorized);

    let mut event = fixture("authorizer-request.json");
    set_authorization(&mut event, Some("Bearer a.b"));
    let err = authorizer
        .request(serde_json::from_value::<RequestEvent>(event).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err, AuthorizerError::Unauthorized);
}

#[tokio::test]
async fn request_authorizer_header_is_configurable() {
    let authorizer = Authorizer::builder(default_verifier())
        .header(http::HeaderName::from_static("x-api-token"))
        .build();
    let token = sign(Algorithm::RS256, &claims());
    let mut event = fixture("authorizer-request.json");
    set_authorization(&mut event, None);
    event["headers"]["X-Api-Token"] = json!(format!("Bearer {token}"));
    let response = authorizer
        .request(serde_json::from_value::<RequestEvent>(event).unwrap())
        .await
        .unwrap();
    assert_eq!(response.principal_id.as_deref(), Some("user-1"));
}

#[tokio::test]
async fn http_api_simple_response() {
    let authorizer = authorizer();
    let token = sign(Algorithm::RS256, &good_claims());
    let response = authorizer.http_simple(http_event(&token)).await.unwrap();
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        json!({
            "isAuthorized": true,
            "context": {
                "email": "jane@example.com",
                "roles": ["user"],
                "scope": "read write",
                "email_verified": true,
                "address": {"country": "NZ"}
            }
        })
    );

    let denied = json!({"isAuthorized": false, "context": {}});
    let forged = tamper_signature(&token);
    let response = authorizer.http_simple(http_event(&forged)).await.unwrap();
    assert_eq!(serde_json::to_value(&response).unwrap(), denied);
    let response = authorizer
        .http_simple(http_event("not-a-jwt"))
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(&response).unwrap(), denied);
    let mut event = fixture("authorizer-http-v2.json");
    set_authorization(&mut event, None);
    let response = authorizer
        .http_simple(serde_json::from_value::<HttpEvent>(event).unwrap())
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(&response).unwrap(), denied);
}

/// A fixture's JSON text with its `Authorization` members replaced by `headers` (members of
/// `headers`) and `multi` (members of `multiValueHeaders`), written in this order, as the
/// Lambda runtime would hand the bytes over (a `serde_json::Value` would sort the keys).
fn event_text(file: &str, headers: &str, multi: &str) -> String {
    let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let (one, many) = match file {
        "authorizer-request.json" => (
            r#""Authorization": "Bearer {TOKEN}","#,
            Some(r#""Authorization": ["Bearer {TOKEN}"],"#),
        ),
        _ => (r#""authorization": "Bearer {TOKEN}","#, None),
    };
    assert!(text.contains(one), "{file}");
    let text = text.replace(one, headers);
    match many {
        Some(many) => {
            assert!(text.contains(many), "{file}");
            text.replace(many, multi)
        }
        None => text,
    }
}

/// A REST `REQUEST` event given both ways: as received ([`AuthorizerEvent`]) and as the plain
/// `aws_lambda_events` type.
async fn request_both_ways(
    authorizer: &Authorizer,
    text: &str,
) -> [Result<Value, AuthorizerError>; 2] {
    let raw: RequestEvent = serde_json::from_str(text).unwrap();
    let plain: ApiGatewayCustomAuthorizerRequestTypeRequest = serde_json::from_str(text).unwrap();
    let to_json = |r: Result<_, _>| r.map(|response| serde_json::to_value(response).unwrap());
    [
        to_json(authorizer.request(raw).await),
        to_json(authorizer.request(plain).await),
    ]
}

/// Regression: the REST `REQUEST` authorizer read `headers` first and never looked at
/// `multiValueHeaders` when `headers` had the token, so a second `Authorization` there (which a
/// backend reading `multiValueHeaders`, or `lambda_http`'s merged map for a Router, could use)
/// was never verified. Before the fix each of these events was allowed (the verified token was
/// the one in `headers`), except "a list of two in headers", which the old one-value check on
/// `headers` already refused; checked by putting the old lookup back. Now the header must have
/// exactly one value in the whole event.
#[tokio::test]
async fn request_authorizer_refuses_a_repeated_or_inconsistent_authorization() {
    let authorizer = authorizer();
    let good = sign(Algorithm::RS256, &good_claims());
    let forged = tamper_signature(&good);
    let cases = [
        (
            "repeated only in multiValueHeaders",
            format!(r#""Authorization": "Bearer {good}","#),
            format!(r#""Authorization": ["Bearer {good}", "Bearer {forged}"],"#),
        ),
        (
            "headers and multiValueHeaders disagree",
            format!(r#""Authorization": "Bearer {good}","#),
            format!(r#""Authorization": ["Bearer {forged}"],"#),
        ),
        (
            "multiValueHeaders has the name under two cases",
            format!(r#""Authorization": "Bearer {good}","#),
            format!(r#""Authorization": ["Bearer {good}"], "authorization": ["Bearer {forged}"],"#),
        ),
        (
            "two cases in both maps (as API Gateway writes them)",
            format!(r#""authorization": "Bearer {forged}", "Authorization": "Bearer {good}","#),
            format!(r#""authorization": ["Bearer {forged}"], "Authorization": ["Bearer {good}"],"#),
        ),
        (
            "a list of two in headers",
            format!(r#""Authorization": ["Bearer {forged}", "Bearer {good}"],"#),
            String::new(),
        ),
    ];
    for (case, headers, multi) in &cases {
        let text = event_text("authorizer-request.json", headers, multi);
        for (way, result) in ["as received", "plain type"]
            .iter()
            .zip(request_both_ways(&authorizer, &text).await)
        {
            assert_eq!(result, Err(AuthorizerError::Unauthorized), "{case} ({way})");
        }
    }

    // Two keys in `headers` that differ only in case, and none in `multiValueHeaders`: the
    // plain type has already kept only the last one (`Bearer {good}`, which the old code
    // allowed); read as received, both count.
    let text = event_text(
        "authorizer-request.json",
        &format!(r#""Authorization": "Bearer {forged}", "AUTHORIZATION": "Bearer {good}","#),
        "",
    );
    let raw: RequestEvent = serde_json::from_str(&text).unwrap();
    assert_eq!(
        authorizer.request(raw).await.unwrap_err(),
        AuthorizerError::Unauthorized
    );
    let plain: ApiGatewayCustomAuthorizerRequestTypeRequest = serde_json::from_str(&text).unwrap();
    assert_eq!(
        plain.headers.get_all("authorization").iter().count(),
        1,
        "aws_lambda_events merges differently-cased keys: why AuthorizerEvent exists"
    );
}

#[tokio::test]
async fn request_authorizer_allows_one_authorization_in_any_case() {
    let authorizer = authorizer();
    let good = sign(Algorithm::RS256, &good_claims());
    let cases = [
        (
            "the same value in both maps",
            format!(r#""Authorization": "Bearer {good}","#),
            format!(r#""Authorization": ["Bearer {good}"],"#),
        ),
        (
            "the same value under another case in each map",
            format!(r#""authorization": "Bearer {good}","#),
            format!(r#""AUTHORIZATION": ["Bearer {good}"],"#),
        ),
        (
            "only in headers",
            format!(r#""Authorization": "Bearer {good}","#),
            String::new(),
        ),
        (
            "only in multiValueHeaders",
            String::new(),
            format!(r#""authorization": ["Bearer {good}"],"#),
        ),
    ];
    for (case, headers, multi) in &cases {
        let text = event_text("authorizer-request.json", headers, multi);
        for (way, result) in ["as received", "plain type"]
            .iter()
            .zip(request_both_ways(&authorizer, &text).await)
        {
            assert_eq!(result, Ok(allow_json(STAGE_WIDE)), "{case} ({way})");
        }
    }
    // The unchanged fixture, read as received, as the Lambda runtime does.
    let raw: RequestEvent =
        serde_json::from_value(fixture_with_token("authorizer-request.json", &good)).unwrap();
    assert_eq!(
        serde_json::to_value(authorizer.request(raw).await.unwrap()).unwrap(),
        allow_json(STAGE_WIDE)
    );
}

/// HTTP APIs (payload 2.0) join a repeated header with commas and write names in lowercase.
/// A joined `Authorization` was refused before too, but only because the joined text failed as
/// a token (a space in it, or a comma the JWT parser refuses); now the comma itself refuses it,
/// before verification. Two keys that differ only in case were merged by the plain type into
/// the last one (`Bearer {good}` here), which the old code allowed.
#[tokio::test]
async fn http_api_authorizer_refuses_a_repeated_authorization() {
    let authorizer = authorizer();
    let good = sign(Algorithm::RS256, &good_claims());
    let forged = tamper_signature(&good);
    let denied = json!({"isAuthorized": false, "context": {}});
    for (case, member) in [
        (
            "joined with a comma",
            format!(r#""authorization": "Bearer {good},Bearer {forged}","#),
        ),
        (
            "joined, second without a scheme",
            format!(r#""authorization": "Bearer {good},{forged}","#),
        ),
        (
            "two keys differing in case",
            format!(r#""Authorization": "Bearer {forged}", "authorization": "Bearer {good}","#),
        ),
        (
            "a list of two",
            format!(r#""authorization": ["Bearer {good}", "Bearer {forged}"],"#),
        ),
    ] {
        let text = event_text("authorizer-http-v2.json", &member, "");
        let raw: HttpEvent = serde_json::from_str(&text).unwrap();
        let response = authorizer.http_simple(raw).await.unwrap();
        assert_eq!(serde_json::to_value(&response).unwrap(), denied, "{case}");
    }

    // One value, in any case: allowed.
    for member in [
        format!(r#""authorization": "Bearer {good}","#),
        format!(r#""Authorization": "Bearer {good}","#),
    ] {
        let text = event_text("authorizer-http-v2.json", &member, "");
        let raw: HttpEvent = serde_json::from_str(&text).unwrap();
        assert!(authorizer.http_simple(raw).await.unwrap().is_authorized);
        let plain: ApiGatewayV2CustomAuthorizerV2Request = serde_json::from_str(&text).unwrap();
        assert!(authorizer.http_simple(plain).await.unwrap().is_authorized);
    }
}
