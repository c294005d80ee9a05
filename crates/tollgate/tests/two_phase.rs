//! The layer's two phases (issue 13): `Service::call` decides every request whose key is at hand
//! and boxes only a verification whose key source has to wait; that boxed remainder is the only
//! thing that polls the key source, so a cold JWKS is fetched, counted and reported once, and a
//! response future dropped before it ran has fetched nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_test_support as support;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use http::{Request, Response, StatusCode};
use support::waiting::WaitingKeys;
use support::*;
use tollgate::AuthLayer;
use tollgate::core::{CryptoProvider, Verifier};
use tower::{Layer as _, Service as _, ServiceExt as _};

fn request(token: &str) -> Request<Body> {
    Request::builder()
        .uri("/")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

/// The protected service: 200 "ok", at once.
#[derive(Clone, Debug)]
struct Ok200;

impl tower::Service<Request<Body>> for Ok200 {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<Body>) -> Self::Future {
        std::future::ready(Ok(Response::new(Body::from("ok"))))
    }
}

fn app(layer: &AuthLayer) -> tollgate::AuthService<Ok200> {
    layer.layer(Ok200)
}

#[tokio::test]
async fn a_response_future_dropped_before_it_ran_never_polled_the_key_source() {
    let source = Arc::new(WaitingKeys::default());
    let verifier = Verifier::new(
        policy().build().unwrap(),
        source.clone(),
        CryptoProvider::default(),
    );
    let layer = AuthLayer::new(verifier.clone());
    let mut service = app(&layer);
    let token = sign(tollgate::core::Algorithm::RS256, &claims());
    for _ in 0..3 {
        service.ready().await.unwrap();
        drop(service.call(request(&token)));
    }
    assert_eq!(source.polls(), 0);
    assert_eq!(verifier.token_cache_stats().unwrap().misses, 0);

    let response = service.oneshot(request(&token)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(source.polls(), 2, "pending once, then ready");
    assert_eq!(verifier.token_cache_stats().unwrap().misses, 1);
}

#[tokio::test]
async fn refusals_and_keys_at_hand_are_decided_inside_call() {
    let verifier = default_verifier();
    let layer = AuthLayer::new(verifier);
    let mut service = app(&layer);
    let token = sign(tollgate::core::Algorithm::ES256, &claims());
    for (token, status) in [
        (token.as_str(), StatusCode::OK),
        ("not.a.token", StatusCode::UNAUTHORIZED),
    ] {
        service.ready().await.unwrap();
        let mut future = std::pin::pin!(service.call(request(token)));
        // Decided in `call`: the first poll answers (the inner service is immediate too).
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let Poll::Ready(response) = future.as_mut().poll(&mut cx) else {
            panic!("{token}: not decided in call");
        };
        assert_eq!(response.unwrap().status(), status, "{token}");
    }
}

#[cfg(feature = "remote")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_jwks_fetch_through_the_layer_is_counted_once() {
    use support::server::Loopback;
    use tollgate::core::remote::JwksSource;

    let server = Loopback::json("/jwks", &jwks_value()).await;
    let metrics = Arc::new(tollgate::core::testing::CountingJwksMetrics::default());
    let source = JwksSource::builder(server.url("/jwks"))
        .metrics(metrics.clone())
        .build()
        .unwrap();
    let verifier = Verifier::new(
        policy().build().unwrap(),
        source.clone(),
        CryptoProvider::default(),
    );
    let layer = AuthLayer::new(verifier.clone());
    let token = sign(tollgate::core::Algorithm::RS256, &claims());

    // Many cold requests at once, all called before any is driven.
    let mut service = app(&layer);
    let mut futures = Vec::new();
    for _ in 0..8 {
        service.ready().await.unwrap();
        futures.push(service.call(request(&token)));
    }
    assert_eq!(
        server.hits("/jwks"),
        0,
        "nothing fetched before a future is polled"
    );
    let tasks: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().status(), StatusCode::OK);
    }
    assert_eq!(server.hits("/jwks"), 1, "the key server saw one request");
    assert_eq!(source.stats().fetches, 1, "JwksStats counted one fetch");
    assert_eq!(metrics.fetches(), 1, "the metrics hook saw one");
    assert_eq!(verifier.token_cache_stats().unwrap().misses, 8);

    // Warm now: decided inside `call`, nothing fetched again.
    let response = app(&layer).oneshot(request(&token)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.hits("/jwks"), 1);
    assert_eq!(source.stats().fetches, 1);
}
