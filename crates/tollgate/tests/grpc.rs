//! gRPC calls (`content-type: application/grpc*`) through the layer, the extractors, the guards
//! and DPoP: every refusal is a trailers-only gRPC answer (HTTP 200, `grpc-status`,
//! `grpc-message`, the challenge kept). Driven with `oneshot` on an axum `Router`; the example
//! `examples/grpc` drives a real tonic server and client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_test_support as support;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use http::{Request, Response};
use serde::Deserialize;
use support::*;
use tollgate::core::Algorithm;
use tollgate::core::dpop::{DpopMode, DpopVerifier};
use tollgate::{AuthError, AuthLayer, Challenge, Claims, DpopProof, RequireRole, require_role};
use tower::ServiceExt as _;

tollgate::role!(Admin = "admin");

#[derive(Clone, Deserialize)]
struct WithTenant {
    #[allow(dead_code)]
    tenant: String,
}

/// gRPC methods are POSTs to `/package.Service/Method`.
fn routes() -> Router {
    let guarded = Router::new()
        .route("/pkg.Admin/Layer", post(|| async { "ok" }))
        .route_layer(require_role("admin"));
    Router::new()
        .route("/pkg.Svc/Open", post(|| async { "open" }))
        .route(
            "/pkg.Svc/Admin",
            post(|_: RequireRole<Admin>| async { "admin" }),
        )
        .route(
            "/pkg.Svc/Tenant",
            post(|_: Claims<WithTenant>| async { "tenant" }),
        )
        .route("/pkg.Svc/Dpop", post(|_: DpopProof| async { "dpop" }))
        .merge(guarded)
}

/// What a gRPC client reads of an answer.
#[derive(Debug)]
struct Answer {
    http_status: u16,
    content_type: Option<String>,
    grpc_status: Option<String>,
    grpc_message: Option<String>,
    challenges: Vec<String>,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

async fn read(response: Response<Body>) -> Answer {
    let headers = response.headers().clone();
    let text = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    Answer {
        http_status: response.status().as_u16(),
        content_type: text("content-type"),
        grpc_status: text("grpc-status"),
        grpc_message: text("grpc-message"),
        challenges: headers
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect(),
        body: axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap()
            .to_vec(),
        headers,
    }
}

async fn call(app: &Router, path: &str, content_type: &str, headers: &[(&str, String)]) -> Answer {
    let request = headers.iter().fold(
        Request::post(path).header("content-type", content_type),
        |request, (name, value)| request.header(*name, value),
    );
    read(
        app.clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap(),
    )
    .await
}

async fn grpc(app: &Router, path: &str, headers: &[(&str, String)]) -> Answer {
    call(app, path, "application/grpc", headers).await
}

fn bearer(token: &str) -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {token}"))]
}

/// A trailers-only gRPC refusal with this status, message and challenges.
fn assert_grpc(answer: &Answer, status: &str, message: &str, challenges: &[&str]) {
    assert_eq!(answer.http_status, 200, "{answer:?}");
    assert_eq!(
        answer.content_type.as_deref(),
        Some("application/grpc"),
        "{answer:?}"
    );
    assert_eq!(answer.grpc_status.as_deref(), Some(status), "{answer:?}");
    assert_eq!(answer.grpc_message.as_deref(), Some(message), "{answer:?}");
    assert_eq!(answer.challenges, challenges, "{answer:?}");
    assert!(answer.body.is_empty(), "trailers-only: no body {answer:?}");
}

fn admin_token() -> String {
    sign(
        Algorithm::RS256,
        &claims_with("roles", Some(serde_json::json!(["admin"]))),
    )
}

#[tokio::test]
async fn the_layer_refuses_grpc_calls_the_grpc_way() {
    let app = routes().layer(AuthLayer::new(default_verifier()));
    let missing = grpc(&app, "/pkg.Svc/Open", &[]).await;
    assert_grpc(
        &missing,
        "16",
        "a bearer token is required",
        &[r#"Bearer realm="api""#],
    );

    let forged = grpc(
        &app,
        "/pkg.Svc/Open",
        &bearer(&tamper_signature(&admin_token())),
    )
    .await;
    assert_grpc(
        &forged,
        "16",
        "the token signature is invalid",
        &[
            r#"Bearer realm="api", error="invalid_token", error_description="the token signature is invalid""#,
        ],
    );

    // 400 invalid_request is UNAUTHENTICATED too (a credential problem, not a bad message).
    let twice = grpc(
        &app,
        "/pkg.Svc/Open",
        &[
            ("authorization", format!("Bearer {}", admin_token())),
            ("authorization", format!("Bearer {}", admin_token())),
        ],
    )
    .await;
    assert_grpc(
        &twice,
        "16",
        "more than one Authorization header",
        &[
            r#"Bearer realm="api", error="invalid_request", error_description="more than one Authorization header""#,
        ],
    );

    let passed = grpc(&app, "/pkg.Svc/Open", &bearer(&admin_token())).await;
    assert_eq!(
        (passed.http_status, passed.body.as_slice()),
        (200, &b"open"[..])
    );
    assert_eq!(
        passed.grpc_status, None,
        "the handler's answer is untouched"
    );
}

#[tokio::test]
async fn every_grpc_content_type_is_answered_the_grpc_way_and_others_are_not() {
    let app = routes().layer(AuthLayer::new(default_verifier()));
    for content_type in [
        "application/grpc+proto",
        "application/grpc+json",
        "application/grpc-web",
        "application/grpc-web-text+proto",
    ] {
        let answer = call(&app, "/pkg.Svc/Open", content_type, &[]).await;
        assert_eq!(answer.grpc_status.as_deref(), Some("16"), "{content_type}");
    }
    let plain = call(&app, "/pkg.Svc/Open", "application/json", &[]).await;
    assert_eq!(plain.http_status, 401);
    assert_eq!(plain.grpc_status, None);
    assert_eq!(
        plain.body,
        br#"{"error":"unauthorized","error_description":"a bearer token is required"}"#
    );
}

#[tokio::test]
async fn guards_and_extractors_behind_the_layer_answer_grpc_calls() {
    let app = routes().layer(AuthLayer::new(default_verifier()));
    let user = sign(Algorithm::RS256, &claims());
    let scope = r#"Bearer realm="api", error="insufficient_scope", error_description="the token lacks the required role or scope", scope="admin""#;
    for path in ["/pkg.Svc/Admin", "/pkg.Admin/Layer"] {
        let answer = grpc(&app, path, &bearer(&user)).await;
        assert_grpc(
            &answer,
            "7",
            "the token lacks the required role or scope",
            &[scope],
        );
        let admin = grpc(&app, path, &bearer(&admin_token())).await;
        assert_eq!(admin.http_status, 200, "{path}");
        assert_eq!(admin.grpc_status, None, "{path}");
    }
    let shape = grpc(&app, "/pkg.Svc/Tenant", &bearer(&user)).await;
    assert_grpc(
        &shape,
        "16",
        "the token claims are not accepted",
        &[
            r#"Bearer realm="api", error="invalid_token", error_description="the token claims are not accepted""#,
        ],
    );
    // A bearer request to a DPoP-only handler.
    let dpop = grpc(&app, "/pkg.Svc/Dpop", &bearer(&user)).await;
    assert_eq!(dpop.grpc_status.as_deref(), Some("16"), "{dpop:?}");
    // The route layer and extractors without any layer in front: still gRPC-shaped.
    let bare = routes();
    let answer = grpc(&bare, "/pkg.Admin/Layer", &[]).await;
    assert_grpc(
        &answer,
        "16",
        "a bearer token is required",
        &[r#"Bearer realm="api""#],
    );
    let answer = grpc(&bare, "/pkg.Svc/Admin", &[]).await;
    assert_grpc(
        &answer,
        "16",
        "a bearer token is required",
        &[r#"Bearer realm="api""#],
    );
}

#[tokio::test]
async fn anonymous_grpc_calls_behind_an_optional_layer_are_refused_by_the_extractors() {
    let app = routes().layer(
        AuthLayer::builder(default_verifier())
            .optional()
            .realm("orders")
            .build(),
    );
    let open = grpc(&app, "/pkg.Svc/Open", &[]).await;
    assert_eq!(
        (open.http_status, open.body.as_slice()),
        (200, &b"open"[..])
    );
    let answer = grpc(&app, "/pkg.Svc/Admin", &[]).await;
    assert_grpc(
        &answer,
        "16",
        "a bearer token is required",
        &[r#"Bearer realm="orders""#],
    );
}

#[tokio::test]
async fn unavailable_keys_are_unavailable() {
    let issuer = tollgate::testing::DevIssuer::start().await.unwrap();
    let verifier = issuer.verifier().unwrap();
    let token = issuer.token().subject("alice").sign().unwrap();
    // The JWKS endpoint goes away before the verifier ever fetched it.
    drop(issuer);
    tokio::task::yield_now().await;
    let app = routes().layer(AuthLayer::new(verifier));
    let answer = grpc(&app, "/pkg.Svc/Open", &bearer(&token)).await;
    assert_grpc(
        &answer,
        "14",
        "signing keys are temporarily unavailable",
        &[],
    );
}

#[tokio::test]
async fn dpop_refusals_keep_the_dpop_challenge_and_nonce() {
    let origin = "https://api.example.com";
    let dpop = DpopVerifier::builder(origin)
        .unwrap()
        .nonces(Some([3; 32]))
        .build();
    let app = routes().layer(
        AuthLayer::builder(default_verifier())
            .dpop(dpop, DpopMode::Required)
            .build(),
    );
    let bearer_call = grpc(&app, "/pkg.Svc/Open", &bearer(&admin_token())).await;
    assert_eq!(bearer_call.grpc_status.as_deref(), Some("16"));
    assert_eq!(
        bearer_call.grpc_message.as_deref(),
        Some("this resource requires a DPoP-bound token and the DPoP scheme")
    );
    assert!(
        bearer_call.challenges[0].starts_with("DPoP "),
        "{bearer_call:?}"
    );

    let key = signing_key(Algorithm::ES256);
    let jkt = key.jwk_thumbprint().unwrap();
    let token = sign(
        Algorithm::RS256,
        &claims_with("cnf", Some(serde_json::json!({ "jkt": jkt }))),
    );
    let path = "/pkg.Svc/Open";
    let proof = key
        .dpop_proof("POST", &format!("{origin}{path}"), Some(&token), None)
        .unwrap();
    let headers = [("authorization", format!("DPoP {token}")), ("dpop", proof)];
    let answer = grpc(&app, path, &headers).await;
    assert_grpc(
        &answer,
        "16",
        "a DPoP nonce is required",
        &[
            r#"DPoP realm="api", algs="ES256 ES384 RS256 PS256 EdDSA", error="use_dpop_nonce", error_description="a DPoP nonce is required""#,
        ],
    );
    assert!(answer.headers.contains_key("dpop-nonce"), "{answer:?}");
}

#[tokio::test]
async fn custom_responders_see_grpc_calls_and_can_answer_them_the_grpc_way() {
    let seen: Arc<Mutex<Vec<bool>>> = Arc::default();
    let record = seen.clone();
    let responder = move |error: &AuthError, challenge: &Challenge| {
        record.lock().unwrap().push(challenge.is_grpc());
        if challenge.is_grpc() {
            return tollgate::grpc::grpc_response(error, challenge);
        }
        let mut response = Response::new(Body::from("custom"));
        *response.status_mut() = error.status();
        response
    };
    let app = routes().layer(
        AuthLayer::builder(default_verifier())
            .error_responder(responder)
            .build(),
    );
    let answer = grpc(&app, "/pkg.Svc/Open", &[]).await;
    assert_grpc(
        &answer,
        "16",
        "a bearer token is required",
        &[r#"Bearer realm="api""#],
    );
    let user = sign(Algorithm::RS256, &claims());
    let answer = grpc(&app, "/pkg.Svc/Admin", &bearer(&user)).await;
    assert_eq!(answer.grpc_status.as_deref(), Some("7"));
    let plain = call(&app, "/pkg.Svc/Open", "text/plain", &[]).await;
    assert_eq!(
        (plain.http_status, plain.body.as_slice()),
        (401, &b"custom"[..])
    );
    assert_eq!(seen.lock().unwrap().as_slice(), [true, true, false]);
}
