//! API Gateway Lambda authorizer events through `tollgate_lambda::Authorizer`: the input is an
//! event JSON, tried as each event type the authorizer answers (REST `TOKEN`, REST `REQUEST`,
//! HTTP API payload 2.0 simple response), both as `AuthorizerEvent<E>` (raw header maps, what
//! the Lambda runtime deserializes) and as the plain `aws_lambda_events` type, with two
//! authorizers (the defaults; and method-ARN resource, context claims, roles and scopes,
//! invalid tokens answered `Unauthorized`). Fixed HS256 verifier; `{TOKEN}` stands for a valid
//! token (as in the Lambda test fixtures, which are the seeds).
//!
//! Asserted: never `Unavailable` (static keys); Allow / `isAuthorized` only when the input had
//! `{TOKEN}`, with `principalId` the token's `sub`; Deny with principal `unauthorized` and an
//! empty context; one `execute-api:Invoke` statement whose resource is the method ARN or its
//! stage wildcard; REST context values only strings, numbers and booleans; every answer
//! serializes.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tollgate_fuzz::{MAX_INPUT, VALID_SUB, block_on, hs256_verifier, substitute_token};
use tollgate_lambda::authorizer::{AuthorizerEvent, INVOKE_ACTION, POLICY_VERSION};
use tollgate_lambda::lambda_http::aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequest, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayV2CustomAuthorizerV2Request,
};
use tollgate_lambda::lambda_http::aws_lambda_events::iam::IamPolicyEffect;
use tollgate_lambda::{
    Authorizer, AuthorizerError, PolicyResource, PolicyResponse, SimpleResponse,
};

struct Setup {
    authorizer: Authorizer,
    method_arn_resource: bool,
}

static AUTHORIZERS: LazyLock<[Setup; 2]> = LazyLock::new(|| {
    let custom = Authorizer::builder(hs256_verifier())
        .resource(PolicyResource::MethodArn)
        .context_claims(["email", "realm_access.roles", "roles", "iat"])
        .unwrap_or_else(|e| panic!("context claims: {e}"))
        .context_roles("tollgate_roles")
        .context_scopes("tollgate_scopes")
        .invalid_token_unauthorized()
        .build();
    let setups = [
        Setup {
            authorizer: Authorizer::new(hs256_verifier()),
            method_arn_resource: false,
        },
        Setup {
            authorizer: custom,
            method_arn_resource: true,
        },
    ];
    // Self-test: the valid token is allowed, so the Allow path is reachable.
    for setup in &setups {
        let (event, _) = substitute_token(SELF_TEST_EVENT);
        let event: ApiGatewayCustomAuthorizerRequest =
            serde_json::from_str(&event).unwrap_or_else(|e| panic!("self-test event: {e}"));
        let answer = block_on(setup.authorizer.token(event))
            .unwrap_or_else(|e| panic!("fixture self-test: the valid token got {e:?}"));
        let effect = &answer.policy_document.statement[0].effect;
        assert_eq!(
            *effect,
            IamPolicyEffect::Allow,
            "fixture self-test: the valid token denied"
        );
    }
    setups
});

const SELF_TEST_EVENT: &str = r#"{"type":"TOKEN","authorizationToken":"Bearer {TOKEN}",
    "methodArn":"arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/GET/pets/1"}"#;

fn parse<T: DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_str(text).ok()
}

fn check_policy(
    answer: Result<PolicyResponse, AuthorizerError>,
    method_arn: Option<&str>,
    setup: &Setup,
    has_valid_token: bool,
) {
    let response = match answer {
        Ok(response) => response,
        Err(AuthorizerError::Unavailable) => panic!("static keys reported unavailable"),
        Err(_) => return,
    };
    serde_json::to_string(&response).unwrap_or_else(|e| panic!("response does not serialize: {e}"));
    let method_arn =
        method_arn.unwrap_or_else(|| panic!("a policy for an event without methodArn"));
    let document = &response.policy_document;
    assert_eq!(document.version.as_deref(), Some(POLICY_VERSION));
    let [statement] = document.statement.as_slice() else {
        panic!("{} statements", document.statement.len());
    };
    assert_eq!(statement.action, [INVOKE_ACTION]);
    let [resource] = statement.resource.as_slice() else {
        panic!("{} resources", statement.resource.len());
    };
    if setup.method_arn_resource {
        assert_eq!(resource, method_arn);
    } else {
        let stage = resource
            .strip_suffix("/*/*")
            .unwrap_or_else(|| panic!("stage resource {resource:?} is no wildcard"));
        assert!(
            method_arn.starts_with(stage)
                && matches!(method_arn[stage.len()..].chars().next(), None | Some('/')),
            "resource {resource:?} is not the stage of {method_arn:?}"
        );
        assert!(
            !stage.contains('*'),
            "wildcard inside the stage part of {resource:?}"
        );
    }
    match statement.effect {
        IamPolicyEffect::Allow => {
            assert!(has_valid_token, "Allow without the valid token");
            assert_eq!(response.principal_id.as_deref(), Some(VALID_SUB));
            for (key, value) in &response.context {
                assert!(
                    matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_)),
                    "context[{key:?}] = {value} is not a REST context value"
                );
            }
        }
        IamPolicyEffect::Deny => {
            assert_eq!(response.principal_id.as_deref(), Some("unauthorized"));
            assert!(response.context.is_empty(), "Deny with a context");
        }
        _ => panic!("unknown effect"),
    }
}

fn check_simple(answer: Result<SimpleResponse, AuthorizerError>, has_valid_token: bool) {
    let response = match answer {
        Ok(response) => response,
        Err(AuthorizerError::Unavailable) => panic!("static keys reported unavailable"),
        Err(_) => return,
    };
    serde_json::to_string(&response).unwrap_or_else(|e| panic!("response does not serialize: {e}"));
    if response.is_authorized {
        assert!(has_valid_token, "isAuthorized without the valid token");
    } else {
        assert!(response.context.is_empty(), "refusal with a context");
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (text, has_valid_token) = substitute_token(text);

    let token_event = parse::<ApiGatewayCustomAuthorizerRequest>(&text);
    let request_raw = parse::<AuthorizerEvent<ApiGatewayCustomAuthorizerRequestTypeRequest>>(&text);
    let request_plain = parse::<ApiGatewayCustomAuthorizerRequestTypeRequest>(&text);
    let http_raw = parse::<AuthorizerEvent<ApiGatewayV2CustomAuthorizerV2Request>>(&text);
    let http_plain = parse::<ApiGatewayV2CustomAuthorizerV2Request>(&text);

    for setup in AUTHORIZERS.iter() {
        let authorizer = &setup.authorizer;
        if let Some(event) = &token_event {
            let arn = event.method_arn.clone();
            let answer = block_on(authorizer.token(event.clone()));
            check_policy(answer, arn.as_deref(), setup, has_valid_token);
        }
        if let Some(event) = &request_raw {
            let arn = event.event().method_arn.clone();
            let answer = block_on(authorizer.request(event.clone()));
            check_policy(answer, arn.as_deref(), setup, has_valid_token);
        }
        if let Some(event) = &request_plain {
            let arn = event.method_arn.clone();
            let answer = block_on(authorizer.request(event.clone()));
            check_policy(answer, arn.as_deref(), setup, has_valid_token);
        }
        if let Some(event) = &http_raw {
            check_simple(
                block_on(authorizer.http_simple(event.clone())),
                has_valid_token,
            );
        }
        if let Some(event) = &http_plain {
            check_simple(
                block_on(authorizer.http_simple(event.clone())),
                has_valid_token,
            );
        }
    }
});
