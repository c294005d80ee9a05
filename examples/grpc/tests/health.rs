//! A real tonic server (the pre-generated `grpc.health.v1.Health` service) behind `AuthLayer`,
//! called by a real tonic client over 127.0.0.1, with tokens from the development issuer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;

use example_grpc::{ROLE_PREFIX, SUBJECT_METADATA};
use tollgate::testing::DevIssuer;
use tollgate::{AuthLayer, require_role};
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tower::ServiceBuilder;

async fn client(addr: SocketAddr) -> HealthClient<Channel> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    HealthClient::new(channel)
}

/// `Check(service)` with this bearer token, if any.
async fn check(
    addr: SocketAddr,
    service: &str,
    token: Option<&str>,
) -> Result<tonic::Response<tonic_health::pb::HealthCheckResponse>, tonic::Status> {
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: service.to_owned(),
    });
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    client(addr).await.check(request).await
}

/// A token for `sub` with one role.
fn token(issuer: &DevIssuer, sub: &str, role: &str) -> String {
    issuer.token().subject(sub).roles([role]).sign().unwrap()
}

fn challenge(status: &tonic::Status) -> &str {
    status
        .metadata()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn serving(response: &tonic::Response<tonic_health::pb::HealthCheckResponse>) -> bool {
    response.get_ref().status == i32::from(ServingStatus::Serving)
}

#[tokio::test]
async fn tokens_are_required_checked_and_let_through() {
    let issuer = DevIssuer::start().await.unwrap();
    let addr = example_grpc::spawn(
        "127.0.0.1:0",
        AuthLayer::new(issuer.verifier().unwrap()),
        example_grpc::health_service(),
    )
    .await
    .unwrap()
    .0;

    let missing = check(addr, "", None).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated, "{missing:?}");
    assert_eq!(missing.message(), "a bearer token is required");
    assert_eq!(challenge(&missing), r#"Bearer realm="api""#);

    let expired = issuer.token().subject("alice").expired().sign().unwrap();
    let refused = check(addr, "", Some(&expired)).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    assert_eq!(refused.message(), "the access token expired");
    assert!(
        challenge(&refused).contains(r#"error="invalid_token""#),
        "{refused:?}"
    );

    let garbage = check(addr, "", Some("not.a.jwt")).await.unwrap_err();
    assert_eq!(garbage.code(), Code::Unauthenticated, "{garbage:?}");

    let token = issuer.token().subject("alice").sign().unwrap();
    let response = check(addr, "", Some(&token)).await.unwrap();
    assert!(serving(&response), "{response:?}");
}

#[tokio::test]
async fn a_role_guard_behind_the_layer_is_permission_denied() {
    let issuer = DevIssuer::start().await.unwrap();
    let layers = ServiceBuilder::new()
        .layer(AuthLayer::new(issuer.verifier().unwrap()))
        .layer(require_role("admin"));
    let addr = example_grpc::spawn("127.0.0.1:0", layers, example_grpc::health_service())
        .await
        .unwrap()
        .0;

    let user = token(&issuer, "bob", "user");
    let denied = check(addr, "", Some(&user)).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert_eq!(
        denied.message(),
        "the token lacks the required role or scope"
    );
    assert!(
        challenge(&denied).contains(r#"error="insufficient_scope""#),
        "{denied:?}"
    );
    assert!(
        challenge(&denied).contains(r#"scope="admin""#),
        "{denied:?}"
    );

    let admin = token(&issuer, "root", "admin");
    assert!(serving(&check(addr, "", Some(&admin)).await.unwrap()));
}

#[tokio::test]
async fn unavailable_keys_are_unavailable() {
    let issuer = DevIssuer::start().await.unwrap();
    let verifier = issuer.verifier().unwrap();
    let token = issuer.token().subject("alice").sign().unwrap();
    // The issuer's JWKS endpoint goes away before the verifier ever fetched it.
    drop(issuer);
    tokio::task::yield_now().await;
    let addr = example_grpc::spawn(
        "127.0.0.1:0",
        AuthLayer::new(verifier),
        example_grpc::health_service(),
    )
    .await
    .unwrap()
    .0;
    let status = check(addr, "", Some(&token)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(status.message(), "signing keys are temporarily unavailable");
    assert!(
        !status.message().contains("unreachable"),
        "no internal detail"
    );
}

#[tokio::test]
async fn handlers_read_the_claims_and_require_roles() {
    let issuer = DevIssuer::start().await.unwrap();
    let addr = example_grpc::spawn(
        "127.0.0.1:0",
        AuthLayer::new(issuer.verifier().unwrap()),
        example_grpc::claims_health_service(),
    )
    .await
    .unwrap()
    .0;
    let user = token(&issuer, "carol", "user");
    let response = check(addr, "", Some(&user)).await.unwrap();
    assert!(serving(&response));
    assert_eq!(
        response
            .metadata()
            .get(SUBJECT_METADATA)
            .and_then(|v| v.to_str().ok()),
        Some("carol")
    );
    let admin_only = format!("{ROLE_PREFIX}admin");
    let denied = check(addr, &admin_only, Some(&user)).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert!(
        challenge(&denied).contains(r#"scope="admin""#),
        "{denied:?}"
    );
    let admin = token(&issuer, "dave", "admin");
    assert!(serving(
        &check(addr, &admin_only, Some(&admin)).await.unwrap()
    ));
    // The handler's own check is unreachable without a token: the layer refuses first.
    let missing = check(addr, "", None).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
}
