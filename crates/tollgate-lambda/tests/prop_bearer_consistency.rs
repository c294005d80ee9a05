//! Property test: the Lambda `TOKEN` authorizer and the tower `AuthLayer` make the same
//! accept/refuse decision for the same `Authorization` value, with the same verifier.
//!
//! Known difference (issue 13, "one Bearer parser"): the layer reads RFC 6750's
//! `"Bearer" 1*SP b64token` (one or more spaces); the authorizer splits at the first space and
//! refuses a token that starts with another space, so `Bearer  <token>` (two spaces) is 200
//! through the layer and `Unauthorized` through the authorizer. The property leaves out exactly
//! that class of values (scheme `bearer`, then two spaces), and `known_two_spaces_divergence`
//! keeps the minimal case, ignored until the parsers are one. Once they are, drop the
//! early return in `same_decision_as_the_layer` and the `#[ignore]`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderValue, Request, Response};
use lambda_http::aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequest;
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::json;
use tollgate::AuthLayer;
use tollgate_core::{Algorithm, CryptoProvider, KeySet, Validation, VerificationKey, Verifier};
use tollgate_lambda::{Authorizer, AuthorizerError};
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
        status == 200
    }

    /// Whether the REST `TOKEN` authorizer answers Allow for this `authorizationToken`.
    fn authorizer_allows(&self, value: &str) -> bool {
        let event: ApiGatewayCustomAuthorizerRequest = serde_json::from_value(json!({
            "type": "TOKEN",
            "authorizationToken": value,
            "methodArn": METHOD_ARN,
        }))
        .unwrap();
        match self.runtime.block_on(self.authorizer.token(event)) {
            Ok(response) => {
                let response = serde_json::to_value(&response).unwrap();
                let effect = &response["policyDocument"]["Statement"][0]["Effect"];
                match effect.as_str() {
                    Some("Allow") => true,
                    Some("Deny") => false,
                    other => panic!("{value:?}: effect {other:?}"),
                }
            }
            Err(AuthorizerError::Unauthorized) => false,
            Err(other) => panic!("{value:?}: {other:?}"),
        }
    }
}

/// The class of values of the known difference: scheme `bearer` (any case), then two spaces.
fn two_spaces_after_bearer(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() >= 8 && bytes[..6].eq_ignore_ascii_case(b"bearer") && &bytes[6..8] == b"  "
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

    /// Same accept/refuse decision through the layer and the `TOKEN` authorizer (outside the
    /// known two-spaces class, see the module docs).
    #[test]
    fn same_decision_as_the_layer(value in value(valid_token())) {
        // Known: issue 13 (module docs); skipped without counting as a rejected case.
        if two_spaces_after_bearer(&value) {
            return Ok(());
        }
        let harness = Harness::new();
        let layer = harness.layer_accepts(&value);
        let authorizer = harness.authorizer_allows(&value);
        prop_assert_eq!(layer, authorizer, "{:?}: layer {} authorizer {}", value, layer, authorizer);
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

/// The minimal counterexample of the known difference: two spaces between `Bearer` and a valid
/// token. The layer (RFC 6750 `1*SP`) accepts; the authorizer refuses with `Unauthorized`.
#[test]
#[ignore = "known: issue 13, one Bearer parser"]
fn known_two_spaces_divergence() {
    let harness = Harness::new();
    let value = format!("Bearer  {}", valid_token());
    assert_eq!(
        harness.layer_accepts(&value),
        harness.authorizer_allows(&value),
        "layer and authorizer disagree on {value:?}"
    );
}
