//! Trusted upstream claims: the claims API Gateway's authorizers leave in the request context
//! reach `Claims<T>` and the guards, flattened arrays are rebuilt, and a missing context is a 401.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_test_support as support;

mod common;

use axum::Router;
use axum::routing::get;
use common::*;
use serde_json::{Map, Value, json};
use support::*;
use tollgate::core::{Algorithm, StandardClaims};
use tollgate::{Authenticated, Claims, RequireRole, RequireScope, require_role};
use tollgate_lambda::{Authorizer, TrustedClaimsLayer, Upstream};

tollgate::role!(Admin = "admin");
tollgate::role!(Editors = "editors");
tollgate::scope!(Write = "write");

async fn me(Claims(claims): Claims<StandardClaims>) -> String {
    claims.registered.sub.unwrap_or_default()
}

/// Every claim the handler sees, as JSON.
async fn dump(auth: Authenticated) -> axum::Json<Value> {
    axum::Json(json!({
        "claims": Value::Object(auth.claims().clone()),
        "roles": auth.roles(),
        "scopes": auth.scopes(),
    }))
}

fn api() -> Router {
    Router::new()
        .route("/me", get(me))
        .route("/dump", get(dump))
        .route(
            "/admin",
            get(|_: RequireRole<Admin>| async { "hello admin" }),
        )
        .route("/write", get(|_: RequireScope<Write>| async { "written" }))
        .merge(
            Router::new()
                .route("/editors", get(|| async { "hello editors" }))
                .route_layer(require_role("editors")),
        )
}

fn app(layer: TrustedClaimsLayer) -> Router {
    Router::new().nest("/prod", api()).merge(api()).layer(layer)
}

#[tokio::test]
async fn http_api_jwt_authorizer_claims() {
    let app = app(TrustedClaimsLayer::new([Upstream::Jwt]));
    let event = fixture("apigw-http-v2-jwt-authorizer.json");

    let answer = call(&app, &event).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "user-jwt"));

    let dump = call(&app, &with_path(event.clone(), "/dump")).await.json();
    let claims = &dump["claims"];
    assert_eq!(
        claims["roles"],
        json!(["admin", "user"]),
        "flattened array rebuilt"
    );
    assert_eq!(
        claims["cognito:groups"], "[admin editors]",
        "not the roles claim: as sent"
    );
    assert_eq!(claims["scope"], "read write");
    assert_eq!(
        claims.get("scp"),
        None,
        "scope present: scopes list not copied"
    );
    assert_eq!(claims["exp"], 4102444800i64);
    assert_eq!(claims["iat"], 1710047783);
    assert_eq!(claims["auth_time"], 1710047000);
    assert_eq!(claims["aud"], "tollgate-tests");
    assert_eq!(claims["username"], "jane");
    assert_eq!(dump["roles"], json!(["admin", "user"]));
    assert_eq!(dump["scopes"], json!(["read", "write"]));

    assert_eq!(
        call(&app, &with_path(event.clone(), "/admin")).await.status,
        200
    );
    assert_eq!(
        call(&app, &with_path(event.clone(), "/write")).await.status,
        200
    );
    let answer = call(&app, &with_path(event, "/editors")).await;
    assert_eq!(
        answer.status, 403,
        "editors is in cognito:groups, not in roles"
    );
}

#[tokio::test]
async fn roles_claim_is_configurable_and_rebuilt() {
    let layer = TrustedClaimsLayer::new([Upstream::Jwt])
        .roles_claim("cognito:groups")
        .unwrap();
    let app = app(layer);
    let event = fixture("apigw-http-v2-jwt-authorizer.json");
    let dump = call(&app, &with_path(event.clone(), "/dump")).await.json();
    assert_eq!(
        dump["claims"]["cognito:groups"],
        json!(["admin", "editors"])
    );
    assert_eq!(
        dump["claims"]["roles"], "[admin user]",
        "no longer the roles claim: as sent"
    );
    assert_eq!(dump["roles"], json!(["admin", "editors"]));
    assert_eq!(
        call(&app, &with_path(event.clone(), "/editors"))
            .await
            .status,
        200
    );
    assert_eq!(call(&app, &with_path(event, "/admin")).await.status, 200);
}

#[tokio::test]
async fn only_exact_flattened_form_is_parsed() {
    let app = app(TrustedClaimsLayer::new([Upstream::Jwt]));
    let cases = [
        ("[admin user]", json!(["admin", "user"])),
        ("[admin]", json!(["admin"])),
        ("[]", json!([])),
        ("admin", json!("admin")),
        ("[admin  user]", json!("[admin  user]")),
        ("[ admin]", json!("[ admin]")),
        ("[admin] [user]", json!("[admin] [user]")),
        ("[[admin]]", json!("[[admin]]")),
        ("[admin", json!("[admin")),
    ];
    for (sent, expected) in cases {
        let mut event = with_path(fixture("apigw-http-v2-jwt-authorizer.json"), "/dump");
        event["requestContext"]["authorizer"]["jwt"]["claims"]["roles"] = json!(sent);
        event["requestContext"]["authorizer"]["jwt"]["claims"]["scp"] = json!(sent);
        let dump = call(&app, &event).await.json();
        assert_eq!(dump["claims"]["roles"], expected, "{sent}");
        assert_eq!(dump["claims"]["scp"], expected, "{sent}");
    }
}

#[tokio::test]
async fn jwt_scopes_become_scp_when_the_claims_have_none() {
    let app = app(TrustedClaimsLayer::new([Upstream::Jwt]));
    let mut event = with_path(fixture("apigw-http-v2-jwt-authorizer.json"), "/dump");
    event["requestContext"]["authorizer"]["jwt"]["claims"]
        .as_object_mut()
        .unwrap()
        .remove("scope");
    let dump = call(&app, &event).await.json();
    assert_eq!(dump["claims"]["scp"], json!(["read", "write"]));
    assert_eq!(dump["scopes"], json!(["read", "write"]));
}

#[tokio::test]
async fn http_api_lambda_authorizer_context() {
    let app = app(TrustedClaimsLayer::new([Upstream::Lambda]));
    let event = fixture("apigw-http-v2-lambda-authorizer.json");
    let answer = call(&app, &event).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, "user-lambda-v2")
    );
    let dump = call(&app, &with_path(event.clone(), "/dump")).await.json();
    assert_eq!(dump["claims"]["roles"], json!(["admin", "user"]));
    assert_eq!(
        dump["claims"]["tenant"],
        json!({"id": 42}),
        "JSON values kept"
    );
    assert_eq!(call(&app, &with_path(event, "/admin")).await.status, 200);
}

#[tokio::test]
async fn rest_lambda_authorizer_context() {
    let app = app(TrustedClaimsLayer::new([Upstream::Lambda]));
    let event = fixture("apigw-rest-v1-lambda-authorizer.json");
    let answer = call(&app, &event).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, "user-lambda-v1")
    );
    let dump = call(&app, &with_path(event.clone(), "/dump")).await.json();
    assert_eq!(
        dump["claims"],
        json!({
            "principalId": "user-lambda-v1",
            "sub": "user-lambda-v1",
            "email": "jane@example.com",
            "roles": ["admin"],
            "scope": "read"
        })
    );
    assert_eq!(
        call(&app, &with_path(event.clone(), "/admin")).await.status,
        200
    );
    assert_eq!(call(&app, &with_path(event, "/write")).await.status, 403);
}

#[tokio::test]
async fn rest_cognito_authorizer_claims() {
    let layer = TrustedClaimsLayer::new([Upstream::Jwt])
        .roles_claim("cognito:groups")
        .unwrap()
        .comma_separated_roles();
    let app = app(layer);
    let event = fixture("apigw-rest-v1-cognito-authorizer.json");
    let answer = call(&app, &event).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "user-cognito"));
    let dump = call(&app, &with_path(event.clone(), "/dump")).await.json();
    let claims = &dump["claims"];
    assert_eq!(claims["cognito:groups"], json!(["admin", "editors"]));
    assert_eq!(
        claims.get("exp"),
        None,
        "a date string is not a NumericDate: dropped"
    );
    assert_eq!(claims.get("iat"), None);
    assert_eq!(claims["auth_time"], 1680629979);
    assert_eq!(claims["email"], "jane@example.com");
    assert_eq!(call(&app, &with_path(event, "/editors")).await.status, 200);
}

/// An `Authorizer`'s REST context, as API Gateway hands it to the function, round-trips into
/// the same roles.
#[tokio::test]
async fn authorizer_context_round_trips_through_the_rest_api() {
    let authorizer = Authorizer::builder(default_verifier())
        .context_claims(["roles", "email"])
        .unwrap()
        .build();
    let mut claims = claims_with("roles", Some(json!(["admin", "auditor"])));
    claims["email"] = json!("jane@example.com");
    let token = sign(Algorithm::RS256, &claims);
    let event =
        serde_json::from_value(fixture_with_token("authorizer-token.json", &token)).unwrap();
    let response = authorizer.token(event).await.unwrap();

    let mut context: Map<String, Value> = response.context.clone();
    context.insert("principalId".into(), json!(response.principal_id));
    context.insert("integrationLatency".into(), json!(7));
    let mut event = with_path(fixture("apigw-rest-v1.json"), "/dump");
    event["requestContext"]["authorizer"] = Value::Object(context);

    let app = app(TrustedClaimsLayer::new([Upstream::Lambda]));
    let dump = call(&app, &event).await.json();
    assert_eq!(dump["roles"], json!(["admin", "auditor"]));
    assert_eq!(dump["claims"]["sub"], "user-1");
}

#[tokio::test]
async fn missing_or_untrusted_context_is_a_401() {
    let jwt_only = app(TrustedClaimsLayer::new([Upstream::Jwt]));
    let lambda_only = app(TrustedClaimsLayer::new([Upstream::Lambda]));
    let both = app(TrustedClaimsLayer::new(Upstream::ALL));
    let cases = [
        (&both, "apigw-rest-v1.json", "REST API without authorizer"),
        (&both, "apigw-http-v2.json", "HTTP API without authorizer"),
        (&both, "alb.json", "ALB"),
        (&both, "function-url.json", "function URL with IAM auth"),
        (
            &jwt_only,
            "apigw-http-v2-lambda-authorizer.json",
            "Lambda context, JWT trusted",
        ),
        (
            &jwt_only,
            "apigw-rest-v1-lambda-authorizer.json",
            "REST Lambda context, JWT trusted",
        ),
        (
            &lambda_only,
            "apigw-http-v2-jwt-authorizer.json",
            "JWT context, Lambda trusted",
        ),
        (
            &lambda_only,
            "apigw-rest-v1-cognito-authorizer.json",
            "Cognito context, Lambda trusted",
        ),
    ];
    for (app, file, case) in cases {
        let answer = call(app, &fixture(file)).await;
        assert_eq!(answer.status, 401, "{case}");
        assert_eq!(
            answer.header("www-authenticate"),
            Some(r#"Bearer realm="api""#),
            "{case}"
        );
    }

    // A REST authorizer map without principalId is not a Lambda authorizer's.
    let mut event = fixture("apigw-rest-v1-lambda-authorizer.json");
    event["requestContext"]["authorizer"]
        .as_object_mut()
        .unwrap()
        .remove("principalId");
    assert_eq!(call(&both, &event).await.status, 401);

    // A client-sent header never stands in for the context.
    let mut event = fixture("apigw-http-v2.json");
    event["headers"]["x-amzn-oidc-data"] = json!("sub=attacker");
    event["headers"]["authorizer"] = json!("{\"jwt\":{\"claims\":{\"sub\":\"attacker\"}}}");
    assert_eq!(call(&both, &event).await.status, 401);
}

#[tokio::test]
async fn a_grpc_call_without_context_gets_a_grpc_answer() {
    let both = app(TrustedClaimsLayer::new(Upstream::ALL));
    let mut event = fixture("apigw-http-v2.json");
    event["headers"]["content-type"] = json!("application/grpc");
    let answer = call(&both, &event).await;
    assert_eq!(answer.status, 200, "gRPC answers travel as HTTP 200");
    assert_eq!(answer.header("grpc-status"), Some("16"), "UNAUTHENTICATED");
    assert_eq!(
        answer.header("www-authenticate"),
        Some(r#"Bearer realm="api""#)
    );
}

#[tokio::test]
async fn both_upstreams_together() {
    let app = app(TrustedClaimsLayer::new(Upstream::ALL));
    for (file, sub) in [
        ("apigw-http-v2-jwt-authorizer.json", "user-jwt"),
        ("apigw-http-v2-lambda-authorizer.json", "user-lambda-v2"),
        ("apigw-rest-v1-lambda-authorizer.json", "user-lambda-v1"),
        ("apigw-rest-v1-cognito-authorizer.json", "user-cognito"),
    ] {
        let answer = call(&app, &fixture(file)).await;
        assert_eq!((answer.status, answer.body.as_str()), (200, sub), "{file}");
    }
}

#[tokio::test]
async fn runtime_response_for_a_missing_context() {
    let app = app(TrustedClaimsLayer::new(Upstream::ALL));
    let response = invoke(&app, &fixture("apigw-http-v2.json")).await;
    assert_eq!(response["statusCode"], 401);
    assert_eq!(
        response["headers"]["www-authenticate"],
        r#"Bearer realm="api""#
    );
    let response = invoke(&app, &fixture("apigw-http-v2-jwt-authorizer.json")).await;
    assert_eq!(
        (response["statusCode"].clone(), response["body"].clone()),
        (json!(200), json!("user-jwt"))
    );
}

/// Claims no authorizer context fits: `must_exist` is never there.
#[derive(Clone, serde::Deserialize)]
struct Strict {
    #[allow(dead_code)]
    must_exist: u64,
}

/// The custom responder of the trusted-claims layer answers everything a request through it can
/// get: the layer's own 401, the extractors' rejections and the guards' 403s (extractor and route
/// layer). It used to reach only the layer's 401.
#[tokio::test]
async fn custom_responder_shapes_every_answer() {
    let layer = TrustedClaimsLayer::new([Upstream::Jwt]).error_responder(
        |error: &tollgate::AuthError, challenge: &tollgate::Challenge| {
            let body = format!("custom {} {}", error.status().as_u16(), error.description());
            let mut response = http::Response::new(axum::body::Body::from(body));
            *response.status_mut() = error.status();
            if let Some(value) = challenge.www_authenticate(error) {
                response.headers_mut().insert("www-authenticate", value);
            }
            response
        },
    );
    let app = api()
        .route(
            "/editors-extractor",
            get(|_: RequireRole<Editors>| async { "hello editors" }),
        )
        .route(
            "/strict",
            get(|Claims(_): Claims<Strict>| async { "strict" }),
        )
        .layer(layer);
    let event = fixture("apigw-http-v2-jwt-authorizer.json");

    let missing = call(&app, &fixture("apigw-http-v2.json")).await;
    assert_eq!(
        (missing.status, missing.body.as_str()),
        (401, "custom 401 a bearer token is required")
    );
    assert_eq!(
        missing.header("www-authenticate"),
        Some(r#"Bearer realm="api""#)
    );

    let scope_403 = r#"Bearer realm="api", error="insufficient_scope", error_description="the token lacks the required role or scope", scope="editors""#;
    for path in ["/editors-extractor", "/editors"] {
        let answer = call(&app, &with_path(event.clone(), path)).await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (403, "custom 403 the token lacks the required role or scope"),
            "{path}"
        );
        assert_eq!(answer.header("www-authenticate"), Some(scope_403), "{path}");
    }

    let shape = call(&app, &with_path(event.clone(), "/strict")).await;
    assert_eq!(
        (shape.status, shape.body.as_str()),
        (401, "custom 401 the token claims are not accepted")
    );
    assert!(
        shape
            .header("www-authenticate")
            .is_some_and(|c| c.contains(r#"error="invalid_token""#))
    );

    // What passes is untouched.
    let ok = call(&app, &event).await;
    assert_eq!((ok.status, ok.body.as_str()), (200, "user-jwt"));
}
