//! The layer around a plain hyper 1 service, no axum anywhere on the serving side: a
//! `tower::service_fn` handler answering `http_body_util::Full<Bytes>`, wrapped with
//! `tower::ServiceBuilder`, served by hyper's HTTP/1 connection driver on 127.0.0.1 and driven
//! over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_test_support as support;

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body, Incoming};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use support::client::{get, post};
use support::*;
use tollgate::core::Algorithm;
use tollgate::{AuthLayer, Authenticated, require_role};
use tower::ServiceBuilder;

/// The handler: who the layer says is calling (from the request extensions), then the request
/// body it was sent, in a body type of its own.
async fn echo(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let caller = match request.extensions().get::<Authenticated>() {
        Some(auth) => format!(
            "{} [{}]",
            auth.subject().unwrap_or("-"),
            auth.roles().join(",")
        ),
        None => "anonymous".to_owned(),
    };
    let text = match request.into_body().collect().await {
        Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        Err(err) => {
            let mut response = Response::new(Full::new(Bytes::from(err.to_string())));
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return Ok(response);
        }
    };
    Ok(Response::new(Full::new(Bytes::from(format!(
        "{caller}: {text}"
    )))))
}

/// Serves `service` with hyper on a free loopback port, one task per connection.
async fn serve_hyper<S, B>(service: S) -> SocketAddr
where
    S: tower::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                // A client dropping its pooled connection ends it with an error: the answers
                // the tests read were already sent, so it is nothing to report.
                let _ = connection.await;
            });
        }
    });
    addr
}

fn url(addr: SocketAddr) -> String {
    format!("http://{addr}/echo")
}

#[tokio::test]
async fn a_hyper_service_behind_the_layer_sees_the_caller_and_its_own_body() {
    let service = ServiceBuilder::new()
        .layer(AuthLayer::new(default_verifier()))
        .service(tower::service_fn(echo));
    let addr = serve_hyper(service).await;

    let answer = get(&url(addr), None).await;
    assert_eq!(answer.status, 401, "{answer:?}");
    let challenge = answer.challenge.as_deref().unwrap_or_default();
    assert!(challenge.starts_with("Bearer"), "{answer:?}");

    let token = sign(Algorithm::ES256, &claims());
    let answer = post(&url(addr), Some(&token), "hello").await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body, "user-1 [user]: hello");
    assert_eq!(answer.challenge, None);

    let answer = post(&url(addr), Some(&tamper_signature(&token)), "hello").await;
    assert_eq!(answer.status, 401, "{answer:?}");
    assert!(answer.challenge_error_is("invalid_token"), "{answer:?}");
}

#[tokio::test]
async fn a_guard_layer_stacks_on_the_hyper_service_too() {
    let service = ServiceBuilder::new()
        .layer(AuthLayer::new(default_verifier()))
        .layer(require_role("admin"))
        .service(tower::service_fn(echo));
    let addr = serve_hyper(service).await;

    let user = sign(Algorithm::ES256, &claims());
    let answer = get(&url(addr), Some(&user)).await;
    assert_eq!(answer.status, 403, "{answer:?}");

    let admin = sign(
        Algorithm::ES256,
        &claims_with("roles", Some(serde_json::json!(["admin"]))),
    );
    let answer = get(&url(addr), Some(&admin)).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, "user-1 [admin]: ")
    );
}

#[tokio::test]
async fn an_optional_layer_passes_anonymous_requests_without_an_identity() {
    let service = ServiceBuilder::new()
        .layer(AuthLayer::builder(default_verifier()).optional().build())
        .service(tower::service_fn(echo));
    let addr = serve_hyper(service).await;

    let answer = post(&url(addr), None, "hi").await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, "anonymous: hi")
    );
    let token = sign(Algorithm::ES256, &claims());
    let answer = post(&url(addr), Some(&token), "hi").await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, "user-1 [user]: hi")
    );
    // Optional means "no token is fine", not "a bad token is fine".
    let answer = post(&url(addr), Some(&tamper_signature(&token)), "hi").await;
    assert_eq!(answer.status, 401, "{answer:?}");
}
