//! Per-route policies over real HTTP on 127.0.0.1: one axum app whose routers each sit behind
//! their own `AuthLayer` (own audience, own guard), and one layer over a `MultiIssuer` of two
//! issuers, each with its own keys served from a loopback JWKS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_test_support as support;

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};
use support::client::{Answer, get as fetch};
use support::issuers::{LoopbackIssuer, multi_issuer};
use support::server::serve;
use support::*;
use tollgate::core::Algorithm;
use tollgate::{AuthLayer, Authenticated, require_role, require_scope};

const ORDERS: &str = "orders-api";
const BILLING: &str = "billing-api";

// The refusals' `error_description`s: which check refused the token.
const WRONG_AUDIENCE: &str = "the token audience is not accepted";
const WRONG_ISSUER: &str = "the token issuer is not accepted";
const BAD_SIGNATURE: &str = "the token signature is invalid";

/// The subject and the issuer the layer put in the request.
async fn who(auth: Authenticated) -> String {
    format!(
        "{} from {}",
        auth.subject().unwrap_or("-"),
        auth.issuer().unwrap_or("-")
    )
}

/// `/orders` (audience `orders-api`, role `clerk`), `/billing` (audience `billing-api`, scope
/// `billing:read`), each router with its own layer, and `/health` behind none.
async fn per_route_app() -> SocketAddr {
    let layer =
        |audience: &str| AuthLayer::new(verifier(policy().audience(audience).build().unwrap()));
    let orders = Router::new()
        .route("/orders", get(who))
        .route_layer(require_role("clerk"))
        .layer(layer(ORDERS));
    let billing = Router::new()
        .route("/billing", get(who))
        .route_layer(require_scope("billing:read"))
        .layer(layer(BILLING));
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .merge(orders)
        .merge(billing);
    serve(app).await
}

/// A test-key token for `audience` with these roles and scope.
fn token(audience: Value, roles: &[&str], scope: &str) -> String {
    let mut claims = claims();
    claims["aud"] = audience;
    claims["roles"] = json!(roles);
    claims["scope"] = json!(scope);
    sign(Algorithm::ES256, &claims)
}

async fn at(addr: SocketAddr, path: &str, token: &str) -> Answer {
    fetch(&format!("http://{addr}{path}"), Some(token)).await
}

#[tokio::test]
async fn each_router_checks_its_own_audience_and_guard() {
    let addr = per_route_app().await;
    let clerk = token(json!(ORDERS), &["clerk"], "read");
    let reader = token(json!(BILLING), &["user"], "billing:read");

    let answer = at(addr, "/orders", &clerk).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body, format!("user-1 from {ISSUER}"));
    let answer = at(addr, "/billing", &reader).await;
    assert_eq!(answer.status, 200, "{answer:?}");

    // A token for one audience is no token at all for the other router.
    for (path, token) in [("/billing", &clerk), ("/orders", &reader)] {
        let answer = at(addr, path, token).await;
        assert_eq!(answer.status, 401, "{path}: {answer:?}");
        assert!(answer.challenge_error_is("invalid_token"), "{answer:?}");
        assert!(answer.challenge_describes(WRONG_AUDIENCE), "{answer:?}");
    }

    // No token: each router asks for one; the unguarded route does not.
    for path in ["/orders", "/billing"] {
        let answer = fetch(&format!("http://{addr}{path}"), None).await;
        assert_eq!(answer.status, 401, "{path}: {answer:?}");
    }
    let answer = fetch(&format!("http://{addr}/health"), None).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "ok"));
}

#[tokio::test]
async fn the_right_audience_without_the_role_or_scope_is_forbidden() {
    let addr = per_route_app().await;
    let not_clerk = token(json!(ORDERS), &["user", "billing:read"], "clerk");
    let answer = at(addr, "/orders", &not_clerk).await;
    assert_eq!(answer.status, 403, "{answer:?}");

    let no_scope = token(json!(BILLING), &["billing:read"], "billing:write read");
    let answer = at(addr, "/billing", &no_scope).await;
    assert_eq!(answer.status, 403, "{answer:?}");
    assert!(
        answer.challenge_error_is("insufficient_scope"),
        "{answer:?}"
    );
}

#[tokio::test]
async fn a_token_for_both_audiences_with_both_rights_passes_both_routers() {
    let addr = per_route_app().await;
    let both = token(json!([ORDERS, BILLING]), &["clerk"], "billing:read");
    for path in ["/orders", "/billing"] {
        let answer = at(addr, path, &both).await;
        assert_eq!(answer.status, 200, "{path}: {answer:?}");
    }
    // Both audiences but only one right: each router judges its own.
    let clerk_only = token(json!([ORDERS, BILLING]), &["clerk"], "read");
    assert_eq!(at(addr, "/orders", &clerk_only).await.status, 200);
    assert_eq!(at(addr, "/billing", &clerk_only).await.status, 403);
}

/// One layer over a `MultiIssuer` of `a` and `b`, keys from their loopback JWKS.
async fn multi_issuer_app(a: &LoopbackIssuer, b: &LoopbackIssuer) -> SocketAddr {
    use tollgate::core::remote::JwksSource;
    let router = multi_issuer(&[a, b], ORDERS, |issuer| {
        JwksSource::builder(issuer.jwks_url()).build().unwrap()
    });
    serve(
        Router::new()
            .route("/orders", get(who))
            .layer(AuthLayer::new(router)),
    )
    .await
}

#[tokio::test]
async fn a_multi_issuer_layer_takes_each_issuers_tokens_by_its_own_keys_only() {
    let a = LoopbackIssuer::start("https://a.example.com").await;
    let b = LoopbackIssuer::start("https://b.example.com").await;
    let addr = multi_issuer_app(&a, &b).await;

    for issuer in [&a, &b] {
        let answer = at(addr, "/orders", &issuer.token(ORDERS)).await;
        assert_eq!(answer.status, 200, "{}: {answer:?}", issuer.issuer());
        assert_eq!(answer.body, format!("user-1 from {}", issuer.issuer()));
    }
    assert_eq!(
        (a.jwks_hits(), b.jwks_hits()),
        (1, 1),
        "each set fetched once"
    );

    // Signed with A's key (same kid as B's), claiming B: routed to B, refused by B's key.
    for forged in [a.sign(&b.claims(ORDERS)), b.sign(&a.claims(ORDERS))] {
        let answer = at(addr, "/orders", &forged).await;
        assert_eq!(answer.status, 401, "{answer:?}");
        assert!(answer.challenge_error_is("invalid_token"), "{answer:?}");
        assert!(answer.challenge_describes(BAD_SIGNATURE), "{answer:?}");
    }

    // An issuer the router does not know, with keys of its own or with A's.
    let stranger = LoopbackIssuer::start("https://c.example.com").await;
    for token in [stranger.token(ORDERS), a.sign(&stranger.claims(ORDERS))] {
        let answer = at(addr, "/orders", &token).await;
        assert_eq!(answer.status, 401, "{answer:?}");
        assert!(answer.challenge_error_is("invalid_token"), "{answer:?}");
        assert!(answer.challenge_describes(WRONG_ISSUER), "{answer:?}");
    }
    assert_eq!(
        stranger.jwks_hits(),
        0,
        "an unknown issuer's keys are never asked for"
    );

    // The refusals did not spoil the good tokens.
    for issuer in [&a, &b] {
        assert_eq!(at(addr, "/orders", &issuer.token(ORDERS)).await.status, 200);
    }
}
