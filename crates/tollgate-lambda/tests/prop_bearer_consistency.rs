//! Property tests: one `Authorization` grammar everywhere. For the same value, with the same
//! verifier:
//!
//! - the Lambda `TOKEN` authorizer and the tower `AuthLayer` make the same accept/refuse
//!   decision;
//! - the layer's status, every authorizer event kind (`TOKEN`, `REQUEST` typed and as received,
//!   HTTP API simple) and the core parser `tollgate_core::bearer::parse` agree exactly: the
//!   parser's "not Bearer" is the layer's 401 without a token, its "malformed" the layer's 400,
//!   and the authorizers' `Unauthorized` (or `isAuthorized: false`) for both.
//!
//! Until issue 13 ("one Bearer parser") the authorizer split at the first space and refused
//! `Bearer  <token>` (two spaces), which the layer (RFC 6750 `1*SP`) accepts;
//! `two_spaces_are_accepted_by_both` keeps that minimal case.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderValue, Request, Response};
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequest, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayV2CustomAuthorizerV2Request,
};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::json;
use tollgate::AuthLayer;
use tollgate_core::bearer::{self, BearerError};
use tollgate_core::{Algorithm, CryptoProvider, KeySet, Validation, VerificationKey, Verifier};
use tollgate_lambda::{Authorizer, AuthorizerError, AuthorizerEvent, PolicyResponse};
use tower::{Layer as _, ServiceExt as _};

const SECRET: &[u8] = b"prop-consistency secret, thirty-two bytes+";
const METHOD_ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/GET/pets/1";

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn valid_token() -> String {
    let claims = json!({"sub": "user-1", "aud": "api", "exp": 4_102_444_800u64});
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

fn verifier() -> Verifier {
    let policy = Validation::builder([Algorithm::HS256])
        .audience("api")
        .build()
        .unwrap();
    Verifier::new(
        policy,
        KeySet::from(VerificationKey::hmac(SECRET).unwrap()),
        CryptoProvider::default(),
    )
}

struct Harness {
    runtime: tokio::runtime::Runtime,
    layer: AuthLayer,
    authorizer: Authorizer,
}

impl Harness {
    fn new() -> Self {
        let verifier = verifier();
        Harness {
            runtime: tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
            layer: AuthLayer::new(verifier.clone()),
            authorizer: Authorizer::new(verifier),
        }
    }

    /// Whether the layer lets a request with this `Authorization` value through.
    fn layer_accepts(&self, value: &str) -> bool {
        self.layer_status(value) == 200
    }

    /// The layer's status for a request with this `Authorization` value: 200, 400 or 401.
    fn layer_status(&self, value: &str) -> u16 {
        let inner = tower::service_fn(|_: Request<String>| async {
            Ok::<_, Infallible>(Response::new(String::new()))
        });
        let request = Request::builder()
            .header(
                http::header::AUTHORIZATION,
                HeaderValue::from_str(value).unwrap(),
            )
            .body(String::new())
            .unwrap();
        let response = self
            .runtime
            .block_on(self.layer.layer(inner).oneshot(request))
            .unwrap();
        let status = response.status().as_u16();
        assert!(matches!(status, 200 | 400 | 401), "{value:?}: {status}");
        status
    }

    /// Whether the REST `TOKEN` authorizer answers Allow for this `authorizationToken`.
    fn authorizer_allows(&self, value: &str) -> bool {
        self.token_answer(value) == Answer::Allow
    }

    /// The REST `TOKEN` authorizer's answer for this `authorizationToken`.
    fn token_answer(&self, value: &str) -> Answer {
        let event: ApiGatewayCustomAuthorizerRequest = serde_json::from_value(json!({
            "type": "TOKEN",
            "authorizationToken": value,
            "methodArn": METHOD_ARN,
        }))
        .unwrap();
        policy_answer(value, self.runtime.block_on(self.authorizer.token(event)))
    }

    /// The REST `REQUEST` authorizer's answer for this `Authorization` header, from the typed
    /// event.
    fn request_answer(&self, value: &str) -> Answer {
        let mut event = ApiGatewayCustomAuthorizerRequestTypeRequest::default();
        event.method_arn = Some(METHOD_ARN.to_owned());
        event.headers.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(value).unwrap(),
        );
        policy_answer(value, self.runtime.block_on(self.authorizer.request(event)))
    }

    /// The REST `REQUEST` authorizer's answer for this `Authorization` header, from the event
    /// JSON as received.
    fn raw_request_answer(&self, value: &str) -> Answer {
        let mut event = fixture(include_str!("fixtures/authorizer-request.json"));
        event["headers"]["Authorization"] = json!(value);
        event["multiValueHeaders"]["Authorization"] = json!([value]);
        let event: AuthorizerEvent<ApiGatewayCustomAuthorizerRequestTypeRequest> =
            serde_json::from_value(event).unwrap();
        policy_answer(value, self.runtime.block_on(self.authorizer.request(event)))
    }

    /// Whether the HTTP API simple authorizer answers `isAuthorized: true`.
    fn http_simple_allows(&self, value: &str) -> bool {
        let mut event = fixture(include_str!("fixtures/authorizer-http-v2.json"));
        event["headers"]["authorization"] = json!(value);
        event["identitySource"] = json!([value]);
        let event: AuthorizerEvent<ApiGatewayV2CustomAuthorizerV2Request> =
            serde_json::from_value(event).unwrap();
        match self.runtime.block_on(self.authorizer.http_simple(event)) {
            Ok(response) => response.is_authorized,
            Err(other) => panic!("{value:?}: {other:?}"),
        }
    }
}

/// A recorded event (`tests/fixtures`) as JSON.
fn fixture(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

/// What a REST authorizer answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Allow,
    Deny,
    Unauthorized,
}

fn policy_answer(value: &str, result: Result<PolicyResponse, AuthorizerError>) -> Answer {
    match result {
        Ok(response) => {
            let response = serde_json::to_value(&response).unwrap();
            let effect = &response["policyDocument"]["Statement"][0]["Effect"];
            match effect.as_str() {
                Some("Allow") => Answer::Allow,
                Some("Deny") => Answer::Deny,
                other => panic!("{value:?}: effect {other:?}"),
            }
        }
        Err(AuthorizerError::Unauthorized) => Answer::Unauthorized,
        Err(other) => panic!("{value:?}: {other:?}"),
    }
}

fn scheme() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(any::<bool>(), 6).prop_map(|upper| {
            "bearer"
                .chars()
                .zip(upper)
                .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
                .collect()
        }),
        1 => prop::sample::select(vec![
            "Basic", "Bearer:", "Bearerx", "Beare", "Bearer\t", "\tBearer", "", "Token", "DPoP",
        ])
        .prop_map(str::to_owned),
    ]
}

fn separator() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just(" ".to_owned()),
        2 => (2usize..5).prop_map(|n| " ".repeat(n)),
        1 => prop::sample::select(vec!["", "\t", " \t", "\t ", ",", ": "]).prop_map(str::to_owned),
    ]
}

fn token_text(valid: String) -> impl Strategy<Value = String> {
    let edited = {
        let valid = valid.clone();
        (any::<usize>(), any::<char>()).prop_map(move |(at, c)| {
            let mut chars: Vec<char> = valid.chars().collect();
            let at = at % chars.len();
            chars[at] = c;
            chars.into_iter().collect::<String>()
        })
    };
    let wrapped = {
        let valid = valid.clone();
        (
            prop::sample::select(vec!["", " ", "\t", "\"", "=", ",", "."]),
            prop::sample::select(vec!["", " ", "\t", "\"", "=", "==", ",", ".", " x"]),
        )
            .prop_map(move |(before, after)| format!("{before}{valid}{after}"))
    };
    prop_oneof![
        4 => Just(valid.clone()),
        2 => edited,
        2 => wrapped,
        1 => Just(format!("{valid} {valid}")),
        1 => Just(String::new()),
    ]
}

/// Values both sides can carry: a string (the authorizer's `authorizationToken`) that is also a
/// valid header value (no control characters but tab).
fn value(valid: String) -> impl Strategy<Value = String> {
    let structured =
        (scheme(), separator(), token_text(valid)).prop_map(|(s, sep, t)| format!("{s}{sep}{t}"));
    prop_oneof![4 => structured, 1 => "[ -~\t\u{80}-\u{10ffff}]{0,40}"]
        .prop_filter("a valid header value", |v| HeaderValue::from_str(v).is_ok())
}

proptest! {
    #![proptest_config(config(384))]

    /// Same accept/refuse decision through the layer and the `TOKEN` authorizer.
    #[test]
    fn same_decision_as_the_layer(value in value(valid_token())) {
        let harness = Harness::new();
        let layer = harness.layer_accepts(&value);
        let authorizer = harness.authorizer_allows(&value);
        prop_assert_eq!(layer, authorizer, "{:?}: layer {} authorizer {}", value, layer, authorizer);
    }

    /// The core parser, the layer's status and every authorizer event kind agree exactly.
    #[test]
    fn core_parser_layer_and_authorizers_agree(value in value(valid_token())) {
        let harness = Harness::new();
        let valid = valid_token();
        let parsed = bearer::parse(&value);
        let expected_status = match parsed {
            Ok(token) if token == valid => 200,
            Ok(_) | Err(BearerError::NotBearer) => 401,
            Err(_) => 400,
        };
        prop_assert_eq!(harness.layer_status(&value), expected_status, "{:?}: {:?}", value, parsed);
        let token = harness.token_answer(&value);
        match parsed {
            Ok(token_text) if token_text == valid => {
                prop_assert_eq!(token, Answer::Allow, "{:?}", value);
            }
            // A well-formed credential whose token is not the valid one: a Deny, or
            // `Unauthorized` when the token is not even shaped like a JWT.
            Ok(_) => prop_assert_ne!(token, Answer::Allow, "{:?}", value),
            Err(_) => prop_assert_eq!(token, Answer::Unauthorized, "{:?}: {:?}", value, parsed),
        }
        prop_assert_eq!(harness.request_answer(&value), token, "REQUEST: {:?}", value);
        prop_assert_eq!(harness.raw_request_answer(&value), token, "REQUEST raw: {:?}", value);
        prop_assert_eq!(
            harness.http_simple_allows(&value),
            token == Answer::Allow,
            "HTTP API simple: {:?}",
            value
        );
    }
}

/// The valid token with one space: both accept.
#[test]
fn one_space_is_accepted_by_both() {
    let harness = Harness::new();
    let value = format!("Bearer {}", valid_token());
    assert!(harness.layer_accepts(&value));
    assert!(harness.authorizer_allows(&value));
}

/// The minimal counterexample of the old difference (issue 13): two spaces between `Bearer` and
/// a valid token. RFC 6750 `1*SP`: both accept.
#[test]
fn two_spaces_are_accepted_by_both() {
    let harness = Harness::new();
    let value = format!("Bearer  {}", valid_token());
    assert_eq!(
        harness.layer_accepts(&value),
        harness.authorizer_allows(&value),
        "layer and authorizer disagree on {value:?}"
    );
    assert!(harness.layer_accepts(&value), "{value:?}");
}
