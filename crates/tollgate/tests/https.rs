//! HTTPS enforcement (RFC 6750 5.3) over real HTTP on loopback: `axum::serve` with
//! `into_make_service_with_connect_info`, clients bound to distinct loopback addresses
//! (127.0.0.2 plays the trusted proxy, 127.0.0.3 any other client).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_test_support as support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::Router;
use axum::routing::get;
use support::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tollgate::core::Algorithm;
use tollgate::{AuthLayer, HttpsPolicy};

const PROXY: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
const INSECURE: &str = "the token must be sent over HTTPS";

fn app(policy: HttpsPolicy) -> Router {
    Router::new().route("/me", get(|| async { "me" })).layer(
        AuthLayer::builder(default_verifier())
            .require_https(policy)
            .build(),
    )
}

/// Serves `app` with the TCP peer in `ConnectInfo<SocketAddr>`, or without it.
async fn serve(app: Router, connect_info: bool) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        if connect_info {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        } else {
            axum::serve(listener, app).await.unwrap();
        }
    });
    addr
}

#[derive(Debug)]
struct Answer {
    status: u16,
    challenge: Option<String>,
    body: String,
}

/// `GET /me` from `from`, with a valid token unless `token` is false, and these headers.
async fn get_from(addr: SocketAddr, from: IpAddr, token: bool, headers: &[(&str, &str)]) -> Answer {
    let client = reqwest::Client::builder()
        .no_proxy()
        .local_address(from)
        .build()
        .unwrap();
    let mut request = client.get(format!("http://{addr}/me"));
    if token {
        request = request.bearer_auth(sign(Algorithm::RS256, &claims()));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    Answer {
        status: response.status().as_u16(),
        challenge: response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned()),
        body: response.text().await.unwrap(),
    }
}

fn assert_accepted(answer: &Answer, what: &str) {
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, "me"),
        "{what}: {answer:?}"
    );
}

fn assert_insecure(answer: &Answer, what: &str) {
    assert_eq!(answer.status, 400, "{what}: {answer:?}");
    let challenge = answer.challenge.as_deref().unwrap_or_default();
    assert!(
        challenge.contains(r#"error="invalid_request""#),
        "{what}: {answer:?}"
    );
    assert!(
        challenge.contains(&format!(r#"error_description="{INSECURE}""#)),
        "{what}: {answer:?}"
    );
    let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(body["error"], "invalid_request", "{what}");
    assert_eq!(body["error_description"], INSECURE, "{what}");
}

#[tokio::test]
async fn plain_http_is_refused_and_only_a_trusted_proxy_can_say_https() {
    let addr = serve(app(HttpsPolicy::new().trust_proxy(PROXY)), true).await;
    let https = [("x-forwarded-proto", "https")];
    // 127.0.0.3 is a loopback address: not exempt unless the policy says so.
    assert_insecure(&get_from(addr, CLIENT, true, &[]).await, "plain HTTP");
    assert_insecure(
        &get_from(addr, CLIENT, true, &https).await,
        "an untrusted client claiming https",
    );
    assert_insecure(
        &get_from(
            addr,
            CLIENT,
            true,
            &[("forwarded", "for=192.0.2.1;proto=https")],
        )
        .await,
        "an untrusted client claiming https with Forwarded",
    );
    assert_accepted(
        &get_from(addr, PROXY, true, &https).await,
        "trusted proxy, https",
    );
    assert_accepted(
        &get_from(
            addr,
            PROXY,
            true,
            &[("forwarded", "for=192.0.2.1;proto=\"https\"")],
        )
        .await,
        "trusted proxy, Forwarded proto=https",
    );
    assert_insecure(
        &get_from(addr, PROXY, true, &[("x-forwarded-proto", "http")]).await,
        "trusted proxy saying http",
    );
    assert_insecure(
        &get_from(addr, PROXY, true, &[("x-forwarded-proto", "https, http")]).await,
        "a plain hop in the chain",
    );
    assert_insecure(
        &get_from(addr, PROXY, true, &[]).await,
        "trusted proxy saying nothing",
    );
    // Requests without a token are not this check's business.
    let anonymous = get_from(addr, CLIENT, false, &[]).await;
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
}

#[tokio::test]
async fn loopback_clients_are_exempt_when_the_user_says_so() {
    let addr = serve(app(HttpsPolicy::new().allow_loopback(true)), true).await;
    assert_accepted(&get_from(addr, CLIENT, true, &[]).await, "loopback exempt");
    assert_accepted(
        &get_from(addr, PROXY, true, &[]).await,
        "any loopback address",
    );
}

#[tokio::test]
async fn without_the_peer_address_forwarded_headers_and_loopback_count_for_nothing() {
    let policy = HttpsPolicy::new()
        .trust_proxy(PROXY)
        .trust_proxy(Ipv4Addr::LOCALHOST)
        .allow_loopback(true);
    let addr = serve(app(policy), false).await;
    for from in [PROXY, IpAddr::V4(Ipv4Addr::LOCALHOST)] {
        assert_insecure(
            &get_from(addr, from, true, &[("x-forwarded-proto", "https")]).await,
            "no ConnectInfo",
        );
    }
}

/// A raw HTTP/1.1 request with an absolute-form target (`GET https://host/me`): hyper gives the
/// URI its scheme, which the policy then accepts.
#[tokio::test]
async fn an_absolute_https_uri_is_judged_by_its_scheme() {
    let addr = serve(app(HttpsPolicy::new()), true).await;
    let token = sign(Algorithm::RS256, &claims());
    for (target, status) in [
        ("https://api.example.com/me", "200"),
        ("http://api.example.com/me", "400"),
    ] {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET {target} HTTP/1.1\r\nhost: api.example.com\r\nauthorization: Bearer {token}\r\nconnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{target}: {answer}"
        );
    }
}

/// Over plain HTTP a malformed `Authorization` header is refused as malformed, as before the
/// layer looked tokens up in its cache before checking their grammar; a valid token the cache
/// holds (accepted through the proxy) is still refused over plain HTTP.
#[tokio::test]
async fn a_malformed_header_is_refused_first_and_a_cached_token_still_needs_https() {
    let addr = serve(app(HttpsPolicy::new().trust_proxy(PROXY)), true).await;
    let malformed = get_from(addr, CLIENT, false, &[("authorization", "Bearer a,b")]).await;
    assert_eq!(malformed.status, 400, "{malformed:?}");
    let body: serde_json::Value = serde_json::from_str(&malformed.body).unwrap();
    assert_eq!(
        body["error_description"],
        "the Authorization header must be `Bearer` followed by exactly one token"
    );
    let https = [("x-forwarded-proto", "https")];
    for _ in 0..3 {
        assert_accepted(&get_from(addr, PROXY, true, &https).await, "via the proxy");
    }
    assert_insecure(
        &get_from(addr, CLIENT, true, &[]).await,
        "cached, plain HTTP",
    );
}
