//! Roles and scopes are read one way everywhere: the verifier's `AccessClaims` in the
//! authorizer's `context`, the same `AccessClaims` in `TrustedClaimsLayer`, strings and arrays
//! alike, namespaced (Auth0) claims as one member.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_test_support as support;

mod common;

use axum::Router;
use axum::routing::get;
use common::*;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequest, ApiGatewayV2CustomAuthorizerV2Request,
};
use serde_json::{Map, Value, json};
use support::*;
use tollgate::core::{AccessClaims, Algorithm, ClaimPath, CryptoProvider, Verifier};
use tollgate::{Authenticated, RequireRole, RequireScope, require_role};
use tollgate_lambda::{Authorizer, TrustedClaimsLayer, Upstream};

tollgate::role!(Admin = "admin");
tollgate::scope!(Write = "write");

const AUTH0_ROLES: &str = "https://example.com/roles";

fn path(text: &str) -> ClaimPath {
    ClaimPath::new(text).unwrap()
}

fn verifier(access: AccessClaims) -> Verifier {
    Verifier::builder(
        policy().build().unwrap(),
        key_set(),
        CryptoProvider::default(),
    )
    .access_claims(access)
    .build()
}

/// `claims()` (top-level `roles: ["user"]`, `scope: "read write"`) with members replaced.
fn with(members: Value) -> Value {
    let mut c = claims();
    for (name, value) in members.as_object().unwrap() {
        c[name] = value.clone();
    }
    c
}

fn token_event(claims: &Value) -> ApiGatewayCustomAuthorizerRequest {
    let token = sign(Algorithm::RS256, claims);
    serde_json::from_value(fixture_with_token("authorizer-token.json", &token)).unwrap()
}

fn http_event(claims: &Value) -> ApiGatewayV2CustomAuthorizerV2Request {
    let token = sign(Algorithm::RS256, claims);
    serde_json::from_value(fixture_with_token("authorizer-http-v2.json", &token)).unwrap()
}

async fn rest_context(authorizer: &Authorizer, claims: &Value) -> Value {
    let response = authorizer.token(token_event(claims)).await.unwrap();
    assert_eq!(response.principal_id.as_deref(), Some("user-1"));
    Value::Object(response.context)
}

async fn http_context(authorizer: &Authorizer, claims: &Value) -> Value {
    let response = authorizer.http_simple(http_event(claims)).await.unwrap();
    assert!(response.is_authorized);
    Value::Object(response.context)
}

#[tokio::test]
async fn authorizer_context_roles_are_the_verifiers_reading() {
    let access = AccessClaims::default()
        .roles_at([path("cognito:groups"), path("realm_access.roles")])
        .also_scopes_at(path("permissions"));
    let authorizer = Authorizer::builder(verifier(access))
        .context_roles("roles")
        .context_scopes("scopes")
        .build();

    // A string and an array are the same role, in either answer.
    for groups in [json!("admin"), json!(["admin"])] {
        let claims = with(json!({"cognito:groups": groups, "scope": "read"}));
        assert_eq!(
            rest_context(&authorizer, &claims).await,
            json!({"roles": "[admin]", "scopes": "[read]"}),
            "{groups}"
        );
        assert_eq!(
            http_context(&authorizer, &claims).await,
            json!({"roles": ["admin"], "scopes": ["read"]}),
            "{groups}"
        );
    }

    // Every path merged, without duplicates; extra scope paths included.
    let claims = with(json!({
        "cognito:groups": "admin editors",
        "realm_access": {"roles": ["editors", "ops"]},
        "permissions": ["write"]
    }));
    assert_eq!(
        rest_context(&authorizer, &claims).await,
        json!({"roles": "[admin editors ops]", "scopes": "[read write]"})
    );

    // Not asked for: not written.
    let plain = Authorizer::new(default_verifier());
    assert_eq!(rest_context(&plain, &claims).await, json!({}));
}

#[tokio::test]
async fn authorizer_context_claims_read_strings_and_arrays_as_they_are() {
    // `context_claims` copies the claim itself: the string stays a string, the array is
    // flattened; a TrustedClaimsLayer reads both back as the same role.
    let authorizer = Authorizer::builder(default_verifier())
        .context_claims(["roles"])
        .unwrap()
        .build();
    let app = app(TrustedClaimsLayer::new([Upstream::Lambda]));
    for (roles, in_context) in [
        (json!("admin"), json!("admin")),
        (json!(["admin"]), json!("[admin]")),
    ] {
        let claims = with(json!({ "roles": roles }));
        let context = rest_context(&authorizer, &claims).await;
        assert_eq!(context, json!({ "roles": in_context }));
        let event = rest_lambda_event(&context);
        assert_eq!(
            call(&app, &with_path(event.clone(), "/admin")).await.status,
            200
        );
        assert_eq!(
            call(&app, &with_path(event, "/dump")).await.json()["roles"],
            json!(["admin"])
        );
    }
}

#[tokio::test]
async fn auth0_namespaced_roles_in_the_authorizer_context() {
    let access = AccessClaims::default().roles_at([path(AUTH0_ROLES)]);
    let authorizer = Authorizer::builder(verifier(access))
        .context_claims([AUTH0_ROLES])
        .unwrap()
        .context_roles("roles")
        .build();
    let claims = with(json!({
        "roles": [],
        AUTH0_ROLES: ["admin", "billing"],
        // Not the claim: a namespaced claim's dots are part of its name.
        "https://example": {"com/roles": ["nobody"]}
    }));
    assert_eq!(
        rest_context(&authorizer, &claims).await,
        json!({AUTH0_ROLES: "[admin billing]", "roles": "[admin billing]"})
    );
    assert_eq!(
        http_context(&authorizer, &claims).await,
        json!({AUTH0_ROLES: ["admin", "billing"], "roles": ["admin", "billing"]})
    );

    // Behind it, a TrustedClaimsLayer with the same AccessClaims reads the namespaced claim.
    let context = rest_context(&authorizer, &claims).await;
    let layer = TrustedClaimsLayer::new([Upstream::Lambda])
        .access_claims(AccessClaims::default().roles_at([path(AUTH0_ROLES)]));
    let app = app(layer);
    let event = rest_lambda_event(&context);
    assert_eq!(
        call(&app, &with_path(event.clone(), "/admin")).await.status,
        200
    );
    let dump = call(&app, &with_path(event, "/dump")).await.json();
    assert_eq!(dump["roles"], json!(["admin", "billing"]));
    assert_eq!(dump["claims"][AUTH0_ROLES], json!(["admin", "billing"]));
}

/// Authorizer (roles at `cognito:groups`, a string) -> REST context `roles` -> the default
/// TrustedClaimsLayer: the guards behind see the verifier's reading.
#[tokio::test]
async fn authorizer_roles_reach_the_guards_behind_it() {
    let access = AccessClaims::default().roles_at([path("cognito:groups")]);
    let authorizer = Authorizer::builder(verifier(access))
        .context_roles("roles")
        .context_scopes("scope")
        .build();
    let claims = with(json!({"roles": [], "cognito:groups": "admin", "scope": "read write"}));
    let context = rest_context(&authorizer, &claims).await;
    let app = app(TrustedClaimsLayer::new([Upstream::Lambda]));
    let event = rest_lambda_event(&context);
    assert_eq!(
        call(&app, &with_path(event.clone(), "/admin")).await.status,
        200
    );
    assert_eq!(
        call(&app, &with_path(event.clone(), "/admins"))
            .await
            .status,
        200
    );
    assert_eq!(call(&app, &with_path(event, "/write")).await.status, 200);
}

async fn dump(auth: Authenticated) -> axum::Json<Value> {
    axum::Json(json!({
        "claims": Value::Object(auth.claims().clone()),
        "roles": auth.roles(),
        "scopes": auth.scopes(),
    }))
}

/// The routes at `/` and under the REST API stage `/prod`.
fn app(layer: TrustedClaimsLayer) -> Router {
    Router::new().nest("/prod", api()).merge(api()).layer(layer)
}

fn api() -> Router {
    Router::new()
        .route("/dump", get(dump))
        .route(
            "/admin",
            get(|_: RequireRole<Admin>| async { "hello admin" }),
        )
        .route("/write", get(|_: RequireScope<Write>| async { "written" }))
        .merge(
            Router::new()
                .route("/admins", get(|| async { "admins" }))
                .route_layer(require_role("admin")),
        )
}

/// A REST API event whose Lambda authorizer answered with `context` for `user-1`.
fn rest_lambda_event(context: &Value) -> Value {
    let mut authorizer: Map<String, Value> = context.as_object().unwrap().clone();
    authorizer.insert("principalId".into(), json!("user-1"));
    let mut event = fixture("apigw-rest-v1.json");
    event["requestContext"]["authorizer"] = Value::Object(authorizer);
    event
}

/// An HTTP API event whose JWT authorizer handed over `claims` (strings, as API Gateway does).
fn http_jwt_event(claims: &[(&str, &str)]) -> Value {
    let mut event = fixture("apigw-http-v2-jwt-authorizer.json");
    let jwt = &mut event["requestContext"]["authorizer"]["jwt"]["claims"];
    let map = jwt.as_object_mut().unwrap();
    map.remove("roles");
    for (name, value) in claims {
        map.insert((*name).to_owned(), json!(value));
    }
    event
}

#[tokio::test]
async fn trusted_roles_as_a_string_or_a_flattened_array_are_the_same() {
    let default = app(TrustedClaimsLayer::new(Upstream::ALL));
    let cognito = app(TrustedClaimsLayer::new(Upstream::ALL)
        .roles_claim("cognito:groups")
        .unwrap());
    for (app, claim) in [(&default, "roles"), (&cognito, "cognito:groups")] {
        for sent in ["admin", "[admin]"] {
            // JWT authorizer: every claim a string.
            let event = http_jwt_event(&[(claim, sent)]);
            let case = format!("jwt {claim}={sent}");
            assert_eq!(
                call(app, &with_path(event.clone(), "/admin")).await.status,
                200,
                "{case}"
            );
            assert_eq!(
                call(app, &with_path(event.clone(), "/admins")).await.status,
                200,
                "{case}"
            );
            let dump = call(app, &with_path(event, "/dump")).await.json();
            assert_eq!(dump["roles"], json!(["admin"]), "{case}");
        }
        // Lambda authorizer: a JSON string or a JSON array in the context.
        for sent in [json!("admin"), json!(["admin"]), json!("[admin]")] {
            let mut context = Map::new();
            context.insert(claim.to_owned(), sent.clone());
            let event = rest_lambda_event(&Value::Object(context.clone()));
            let case = format!("rest lambda {claim}={sent}");
            assert_eq!(
                call(app, &with_path(event.clone(), "/admin")).await.status,
                200,
                "{case}"
            );
            let dump = call(app, &with_path(event, "/dump")).await.json();
            assert_eq!(dump["roles"], json!(["admin"]), "{case}");

            let mut event = fixture("apigw-http-v2-lambda-authorizer.json");
            event["requestContext"]["authorizer"]["lambda"] =
                json!({"sub": "user-v2", claim: sent.clone()});
            let case = format!("http lambda {claim}={sent}");
            assert_eq!(
                call(app, &with_path(event.clone(), "/admin")).await.status,
                200,
                "{case}"
            );
            let dump = call(app, &with_path(event, "/dump")).await.json();
            assert_eq!(dump["roles"], json!(["admin"]), "{case}");
        }
    }
}

#[tokio::test]
async fn trusted_claims_use_the_layers_access_claims() {
    // Roles at a namespaced claim and a nested one, scopes also at `permissions`.
    let access = AccessClaims::default()
        .roles_at([path(AUTH0_ROLES), path("realm_access.roles")])
        .also_scopes_at(path("permissions"));
    let app = app(TrustedClaimsLayer::new(Upstream::ALL).access_claims(access));

    // API Gateway flattens top-level claims: the namespaced roles and `permissions` are rebuilt.
    let event = http_jwt_event(&[(AUTH0_ROLES, "[billing admin]"), ("permissions", "[write]")]);
    let dump = call(&app, &with_path(event.clone(), "/dump")).await.json();
    assert_eq!(dump["claims"][AUTH0_ROLES], json!(["billing", "admin"]));
    assert_eq!(dump["claims"]["permissions"], json!(["write"]));
    assert_eq!(dump["roles"], json!(["billing", "admin"]));
    assert_eq!(dump["scopes"], json!(["read", "write"]));
    assert_eq!(
        call(&app, &with_path(event.clone(), "/admin")).await.status,
        200
    );
    assert_eq!(call(&app, &with_path(event, "/write")).await.status, 200);

    // A nested role path from a Lambda authorizer's JSON context (HTTP API keeps JSON values).
    let mut event = fixture("apigw-http-v2-lambda-authorizer.json");
    event["requestContext"]["authorizer"]["lambda"] =
        json!({"sub": "user-v2", "realm_access": {"roles": ["admin"]}, "roles": ["user"]});
    assert_eq!(
        call(&app, &with_path(event.clone(), "/admin")).await.status,
        200
    );
    let dump = call(&app, &with_path(event, "/dump")).await.json();
    assert_eq!(
        dump["roles"],
        json!(["admin"]),
        "top-level `roles` is not a role path here"
    );

    // `roles_claim` replaces the role paths and keeps the scope paths.
    let access = AccessClaims::default().also_scopes_at(path("permissions"));
    let app2 = self::app(
        TrustedClaimsLayer::new(Upstream::ALL)
            .access_claims(access)
            .roles_claim("cognito:groups")
            .unwrap(),
    );
    let event = http_jwt_event(&[("permissions", "[write]")]);
    let dump = call(&app2, &with_path(event.clone(), "/dump")).await.json();
    assert_eq!(dump["roles"], json!(["admin", "editors"]));
    assert_eq!(dump["scopes"], json!(["read", "write"]));
    assert_eq!(call(&app2, &with_path(event, "/write")).await.status, 200);
}
