//! DPoP (RFC 9449) through the layer: every rule accepted and refused over HTTP requests fed to
//! an axum `Router` (`oneshot`), with proofs signed by the test signer
//! (`tollgate_core::testing::SigningKey`, aws-lc-rs), never by the code under test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_test_support as support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use http::{Request, Response, StatusCode};
use serde_json::{Value, json};
use support::waiting::WaitingKeys;
use support::*;
use tollgate::core::dpop::{
    DpopError, DpopMode, DpopVerifier, ReplayError, ReplayFuture, ReplayKey, ReplayStore,
};
use tollgate::core::{Algorithm, CryptoProvider, StandardClaims, TokenCacheConfig, Verifier};
use tollgate::{
    AuthError, AuthLayer, AuthScheme, Authenticated, Challenge, Claims, DpopProof, RequireRole,
};
use tower::ServiceExt as _;

tollgate::role!(Admin = "admin");

/// The external origin of the API in these tests (what clients put in `htu`).
const ORIGIN: &str = "https://api.example.com";

async fn me(Claims(claims): Claims<StandardClaims>) -> String {
    claims.registered.sub.unwrap_or_default()
}

fn routes() -> Router {
    Router::new()
        .route("/me", get(me))
        .route("/orders", post(|| async { "created" }))
        .route("/jkt", get(|proof: DpopProof| async move { proof.jkt().to_owned() }))
        .route(
            "/maybe-jkt",
            get(|proof: Option<DpopProof>| async move {
                proof.map_or_else(|| "bearer".to_owned(), |p| p.jkt().to_owned())
            }),
        )
        .route(
            "/auth-jkt",
            get(|auth: Authenticated| async move {
                auth.dpop().map_or("none", |p| p.jkt()).to_owned()
            }),
        )
        .route("/admin", get(|_: RequireRole<Admin>| async { "admin" }))
}

fn dpop_verifier() -> DpopVerifier {
    DpopVerifier::builder(ORIGIN).unwrap().build()
}

fn layer(mode: DpopMode) -> AuthLayer {
    AuthLayer::builder(default_verifier())
        .dpop(dpop_verifier(), mode)
        .build()
}

fn app(mode: DpopMode) -> Router {
    routes().layer(layer(mode))
}

/// The routes behind a layer verifying tokens with `verifier` and proofs with `dpop` in `mode`.
fn app_with(verifier: Verifier, dpop: DpopVerifier, mode: DpopMode) -> Router {
    routes().layer(AuthLayer::builder(verifier).dpop(dpop, mode).build())
}

/// A new client key of `alg` and a token bound to it, whose fresh proof for `GET /jkt` is let
/// through with the key's thumbprint: the key, the token and that (now used) proof.
async fn jkt_accepted(app: &Router, alg: Algorithm) -> (SigningKey, String, String) {
    let key = client(alg);
    let token = bound_token(&key);
    let once = proof(&key, "GET", "/jkt", &token);
    let answer = get_dpop(app, "/jkt", &token, &once).await;
    assert_eq!(
        (answer.status, answer.body),
        (200, key.jwk_thumbprint().unwrap())
    );
    (key, token, once)
}

/// A client's DPoP key.
fn client(alg: Algorithm) -> SigningKey {
    SigningKey::generate(alg).unwrap()
}

/// An access token bound to `key` (`cnf.jkt`, the thumbprint as the test signer computes it).
fn bound_token(key: &SigningKey) -> String {
    let jkt = key.jwk_thumbprint().unwrap();
    sign(
        Algorithm::RS256,
        &claims_with("cnf", Some(json!({ "jkt": jkt }))),
    )
}

/// An access token bound to no key.
fn unbound_token() -> String {
    sign(Algorithm::RS256, &claims())
}

/// A fresh proof for `method` `ORIGIN + path`, with `ath` of `token`.
fn proof(key: &SigningKey, method: &str, path: &str, token: &str) -> String {
    key.dpop_proof(method, &format!("{ORIGIN}{path}"), Some(token), None)
        .unwrap()
}

fn dpop_headers(token: &str, proof: &str) -> Vec<(&'static str, String)> {
    vec![
        ("authorization", format!("DPoP {token}")),
        ("dpop", proof.to_owned()),
    ]
}

fn bearer_headers(token: &str) -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {token}"))]
}

#[derive(Debug)]
struct Answer {
    status: u16,
    challenges: Vec<String>,
    nonce: Option<String>,
    headers: http::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn read(response: Response<Body>) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let challenges = headers
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let nonce = headers
        .get("dpop-nonce")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    Answer {
        status,
        challenges,
        nonce,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

async fn send(app: &Router, method: &str, uri: &str, headers: &[(&str, String)]) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    read(response).await
}

async fn get_dpop(app: &Router, path: &str, token: &str, proof: &str) -> Answer {
    send(app, "GET", path, &dpop_headers(token, proof)).await
}

/// A 401 (or `status`) with exactly one `DPoP` challenge carrying `code` and `description`.
#[track_caller]
fn assert_dpop_refusal(answer: &Answer, status: u16, code: &str, description: &str) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(answer.challenges.len(), 1, "{answer:?}");
    let challenge = &answer.challenges[0];
    assert!(challenge.starts_with("DPoP "), "{challenge}");
    assert!(
        challenge.contains(&format!(r#"error="{code}""#)),
        "{challenge}"
    );
    assert!(
        challenge.contains(&format!(r#"error_description="{description}""#)),
        "{challenge}"
    );
    assert!(
        challenge.contains(&format!(r#"algs="{}""#, dpop_verifier().algs_challenge())),
        "{challenge}"
    );
    assert_eq!(answer.json()["error"], code);
    assert_eq!(answer.json()["error_description"], description);
}

/// A refusal with exactly one `Bearer` challenge carrying `code` and `description`.
#[track_caller]
fn assert_bearer_refusal(answer: &Answer, status: u16, code: &str, description: &str) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(
        answer.challenges,
        [format!(
            r#"Bearer realm="api", error="{code}", error_description="{description}""#
        )],
        "{answer:?}"
    );
}

#[tokio::test]
async fn valid_dpop_requests_reach_the_handler_es256_and_eddsa() {
    for mode in [DpopMode::Allowed, DpopMode::Required] {
        let app = app(mode);
        for alg in [Algorithm::ES256, Algorithm::EdDSA] {
            let key = client(alg);
            let token = bound_token(&key);
            let answer = get_dpop(&app, "/me", &token, &proof(&key, "GET", "/me", &token)).await;
            assert_eq!(
                (answer.status, answer.body.as_str()),
                (200, "user-1"),
                "{alg} {mode:?}: {answer:?}"
            );
            assert_eq!(answer.nonce, None, "nonces are off");
            // The extractor and `Authenticated::dpop` give the key's thumbprint.
            let thumbprint = key.jwk_thumbprint().unwrap();
            for path in ["/jkt", "/maybe-jkt", "/auth-jkt"] {
                let answer = get_dpop(&app, path, &token, &proof(&key, "GET", path, &token)).await;
                assert_eq!(
                    (answer.status, answer.body.as_str()),
                    (200, thumbprint.as_str()),
                    "{alg} {path}"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_scheme_name_is_case_insensitive() {
    let app = app(DpopMode::Allowed);
    let key = client(Algorithm::ES256);
    let token = bound_token(&key);
    for scheme in ["dpop", "DPOP", "DPoP", "dPoP"] {
        let headers = [
            ("authorization", format!("{scheme} {token}")),
            ("dpop", proof(&key, "GET", "/me", &token)),
        ];
        let answer = send(&app, "GET", "/me", &headers).await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (200, "user-1"),
            "{scheme}"
        );
    }
    for scheme in ["bearer", "BEARER"] {
        let headers = [("authorization", format!("{scheme} {}", unbound_token()))];
        let answer = send(&app, "GET", "/me", &headers).await;
        assert_eq!(answer.status, 200, "{scheme}");
    }
}

#[tokio::test]
async fn htm_must_be_the_request_method() {
    let app = app(DpopMode::Allowed);
    let key = client(Algorithm::ES256);
    let token = bound_token(&key);
    let answer = get_dpop(&app, "/me", &token, &proof(&key, "POST", "/me", &token)).await;
    assert_dpop_refusal(
        &answer,
        401,
        "invalid_dpop_proof",
        "the DPoP proof is for another HTTP method",
    );
    let headers = dpop_headers(&token, &proof(&key, "POST", "/orders", &token));
    let answer = send(&app, "POST", "/orders", &headers).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "created"));
    // Case-sensitive, as methods are.
    let answer = get_dpop(&app, "/me", &token, &proof(&key, "get", "/me", &token)).await;
    assert_eq!(answer.status, 401);
}

#[tokio::test]
async fn htu_must_be_the_public_url_and_request_path() {
    let app = app(DpopMode::Allowed);
    let key = client(Algorithm::ES256);
    let token = bound_token(&key);
    let answer = get_dpop(&app, "/me", &token, &proof(&key, "GET", "/jkt", &token)).await;
    assert_dpop_refusal(
        &answer,
        401,
        "invalid_dpop_proof",
        "the DPoP proof is for another URI",
    );
    // Another origin (what a Host header could claim) is another URI.
    let elsewhere = key
        .dpop_proof("GET", "https://evil.example.com/me", Some(&token), None)
        .unwrap();
    let answer = get_dpop(&app, "/me", &token, &elsewhere).await;
    assert_eq!(answer.status, 401);
    let headers = [
        dpop_headers(&token, &proof(&key, "GET", "/me", &token)),
        vec![("host", "evil.example.com".to_owned())],
    ]
    .concat();
    let answer = send(&app, "GET", "/me", &headers).await;
    assert_eq!(answer.status, 200, "Host plays no part: {answer:?}");
    // The query is not part of htu.
    let answer = get_dpop(
        &app,
        "/me?page=2",
        &token,
        &proof(&key, "GET", "/me", &token),
    )
    .await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "user-1"));
}

#[tokio::test]
async fn a_proof_is_used_once() {
    let app = app(DpopMode::Allowed);
    let key = client(Algorithm::EdDSA);
    let token = bound_token(&key);
    let once = proof(&key, "GET", "/me", &token);
    assert_eq!(get_dpop(&app, "/me", &token, &once).await.status, 200);
    let again = get_dpop(&app, "/me", &token, &once).await;
    assert_dpop_refusal(
        &again,
        401,
        "invalid_dpop_proof",
        "the DPoP proof was already used",
    );
    let fresh = proof(&key, "GET", "/me", &token);
    assert_eq!(get_dpop(&app, "/me", &token, &fresh).await.status, 200);
}

#[tokio::test]
async fn ath_must_be_the_hash_of_the_presented_token() {
    let app = app(DpopMode::Allowed);
    let key = client(Algorithm::ES256);
    let token = bound_token(&key);
    let jkt = key.jwk_thumbprint().unwrap();
    let mut other_claims = claims_with("cnf", Some(json!({ "jkt": jkt })));
    other_claims["jti"] = json!("another-token");
    let other = sign(Algorithm::RS256, &other_claims);
    assert_ne!(token, other);
    let for_other = proof(&key, "GET", "/me", &other);
    let answer = get_dpop(&app, "/me", &token, &for_other).await;
    assert_dpop_refusal(
        &answer,
        401,
        "invalid_dpop_proof",
        "the DPoP proof is for another access token",
    );
    let without_ath = key
        .dpop_proof("GET", &format!("{ORIGIN}/me"), None, None)
        .unwrap();
    let answer = get_dpop(&app, "/me", &token, &without_ath).await;
    assert_dpop_refusal(
        &answer,
        401,
        "invalid_dpop_proof",
        "the DPoP proof lacks a required claim",
    );
    let answer = get_dpop(&app, "/me", &other, &for_other).await;
    assert_eq!(answer.status, 200, "the proof fits the other token");
}

#[tokio::test]
async fn the_proof_key_must_be_the_one_the_token_is_bound_to() {
    let app = app(DpopMode::Allowed);
    let owner = client(Algorithm::ES256);
    let thief = client(Algorithm::ES256);
    let token = bound_token(&owner);
    let answer = get_dpop(&app, "/me", &token, &proof(&thief, "GET", "/me", &token)).await;
    assert_dpop_refusal(
        &answer,
        401,
        "invalid_dpop_proof",
        "the access token is bound to another key",
    );
    let answer = get_dpop(&app, "/me", &token, &proof(&owner, "GET", "/me", &token)).await;
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn a_bound_token_is_refused_as_bearer_in_every_mode() {
    let key = client(Algorithm::ES256);
    let bound = bound_token(&key);
    let description = "the access token is DPoP-bound; use the DPoP scheme";
    for (name, app) in [
        (
            "no dpop call",
            routes().layer(AuthLayer::new(default_verifier())),
        ),
        ("Off", app(DpopMode::Off)),
        ("Allowed", app(DpopMode::Allowed)),
    ] {
        let answer = send(&app, "GET", "/me", &bearer_headers(&bound)).await;
        assert_bearer_refusal(&answer, 401, "invalid_token", description);
        assert_eq!(answer.json()["error"], "invalid_token", "{name}");
        // An unbound token is a fine bearer token there.
        let answer = send(&app, "GET", "/me", &bearer_headers(&unbound_token())).await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (200, "user-1"),
            "{name}"
        );
    }
    // Required refuses every bearer token, bound or not.
    let app = app(DpopMode::Required);
    for token in [&bound, &unbound_token()] {
        let answer = send(&app, "GET", "/me", &bearer_headers(token)).await;
        assert_dpop_refusal(
            &answer,
            401,
            "invalid_token",
            "this resource requires a DPoP-bound token and the DPoP scheme",
        );
    }
    // A cookie token is a bearer token too.
    let layer = AuthLayer::builder(default_verifier())
        .cookie("at")
        .dpop(dpop_verifier(), DpopMode::Allowed)
        .build();
    let app = routes().layer(layer);
    let answer = send(&app, "GET", "/me", &[("cookie", format!("at={bound}"))]).await;
    assert_bearer_refusal(&answer, 401, "invalid_token", description);
}

#[tokio::test]
async fn an_unbound_token_is_refused_as_dpop() {
    let app = app(DpopMode::Allowed);
    let key = client(Algorithm::ES256);
    let token = unbound_token();
    let answer = get_dpop(&app, "/me", &token, &proof(&key, "GET", "/me", &token)).await;
    assert_dpop_refusal(
        &answer,
        401,
        "invalid_token",
        "the access token is not bound to a DPoP key",
    );
}

#[tokio::test]
async fn exactly_one_proof_header() {
    let app = app(DpopMode::Allowed);
    let key = client(Algorithm::ES256);
    let token = bound_token(&key);
    let missing = [("authorization", format!("DPoP {token}"))];
    let answer = send(&app, "GET", "/me", &missing).await;
    assert_dpop_refusal(
        &answer,
        401,
        "invalid_dpop_proof",
        "the DPoP proof is missing",
    );

    let two = [
        dpop_headers(&token, &proof(&key, "GET", "/me", &token)),
        vec![("dpop", proof(&key, "GET", "/me", &token))],
    ]
    .concat();
    let answer = send(&app, "GET", "/me", &two).await;
    assert_dpop_refusal(
        &answer,
        400,
        "invalid_request",
        "exactly one DPoP proof is allowed",
    );
    let folded = format!(
        "{},{}",
        proof(&key, "GET", "/me", &token),
        proof(&key, "GET", "/me", &token)
    );
    let answer = get_dpop(&app, "/me", &token, &folded).await;
    assert_dpop_refusal(
        &answer,
        400,
        "invalid_request",
        "exactly one DPoP proof is allowed",
    );
    let answer = get_dpop(&app, "/me", &token, "not a proof").await;
    assert_dpop_refusal(
        &answer,
        401,
        "invalid_dpop_proof",
        "the DPoP proof is malformed",
    );
    // And exactly one token after the scheme.
    let answer = send(
        &app,
        "GET",
        "/me",
        &[("authorization", "DPoP a b".to_owned())],
    )
    .await;
    assert_dpop_refusal(
        &answer,
        400,
        "invalid_request",
        "the Authorization header must be `DPoP` followed by exactly one token",
    );
}

#[tokio::test]
async fn bearer_and_dpop_authorization_together_are_400_in_both_challenges() {
    let key = client(Algorithm::ES256);
    let token = bound_token(&key);
    let headers = [
        ("authorization", format!("Bearer {}", unbound_token())),
        ("authorization", format!("DPoP {token}")),
        ("dpop", proof(&key, "GET", "/me", &token)),
    ];
    let description = "more than one Authorization header";
    let answer = send(&app(DpopMode::Allowed), "GET", "/me", &headers).await;
    assert_eq!(answer.status, 400);
    let algs = dpop_verifier().algs_challenge().to_owned();
    assert_eq!(
        answer.challenges,
        [
            format!(
                r#"Bearer realm="api", error="invalid_request", error_description="{description}""#
            ),
            format!(
                r#"DPoP realm="api", algs="{algs}", error="invalid_request", error_description="{description}""#
            ),
        ]
    );
    let answer = send(&app(DpopMode::Required), "GET", "/me", &headers).await;
    assert_dpop_refusal(&answer, 400, "invalid_request", description);
}

#[tokio::test]
async fn challenges_follow_the_mode() {
    let algs = dpop_verifier().algs_challenge().to_owned();
    // No credentials: every accepted scheme, no error.
    let answer = send(&app(DpopMode::Allowed), "GET", "/me", &[]).await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.challenges,
        [
            r#"Bearer realm="api""#.to_owned(),
            format!(r#"DPoP realm="api", algs="{algs}""#),
        ]
    );
    let answer = send(&app(DpopMode::Required), "GET", "/me", &[]).await;
    assert_eq!(
        answer.challenges,
        [format!(r#"DPoP realm="api", algs="{algs}""#)]
    );
    let answer = send(&app(DpopMode::Off), "GET", "/me", &[]).await;
    assert_eq!(answer.challenges, [r#"Bearer realm="api""#]);

    // A failure in one scheme is reported in that scheme's challenge only.
    let app = app(DpopMode::Allowed);
    let expired = sign(
        Algorithm::RS256,
        &claims_with("exp", Some(json!(now() - 3600))),
    );
    let answer = send(&app, "GET", "/me", &bearer_headers(&expired)).await;
    assert_bearer_refusal(&answer, 401, "invalid_token", "the access token expired");
    let key = client(Algorithm::ES256);
    let answer = get_dpop(&app, "/me", &expired, &proof(&key, "GET", "/me", &expired)).await;
    assert_dpop_refusal(&answer, 401, "invalid_token", "the access token expired");
    // So are the guards' 403s behind the layer.
    let token = bound_token(&key);
    let answer = get_dpop(
        &app,
        "/admin",
        &token,
        &proof(&key, "GET", "/admin", &token),
    )
    .await;
    assert_dpop_refusal(
        &answer,
        403,
        "insufficient_scope",
        "the token lacks the required role or scope",
    );
    assert!(
        answer.challenges[0].ends_with(r#"scope="admin""#),
        "{answer:?}"
    );
    let answer = send(&app, "GET", "/admin", &bearer_headers(&unbound_token())).await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.challenges.len(), 1);
    assert!(answer.challenges[0].starts_with("Bearer "), "{answer:?}");
}

#[tokio::test]
async fn with_dpop_off_the_dpop_scheme_is_no_credentials() {
    let key = client(Algorithm::ES256);
    let token = bound_token(&key);
    let headers = dpop_headers(&token, &proof(&key, "GET", "/me", &token));
    for app in [
        app(DpopMode::Off),
        routes().layer(AuthLayer::new(default_verifier())),
    ] {
        let answer = send(&app, "GET", "/me", &headers).await;
        assert_eq!(answer.status, 401);
        assert_eq!(answer.challenges, [r#"Bearer realm="api""#]);
    }
    // Behind an optional layer such a request is anonymous: no claims reach the handler.
    let layer = AuthLayer::builder(default_verifier()).optional().build();
    let app = Router::new()
        .route(
            "/whoami",
            get(|claims: Option<Claims<StandardClaims>>| async move {
                claims.map_or("anonymous".to_owned(), |c| {
                    c.0.registered.sub.unwrap_or_default()
                })
            }),
        )
        .layer(layer);
    let answer = send(&app, "GET", "/whoami", &headers).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "anonymous"));
}

#[tokio::test]
async fn the_dpop_proof_extractor_refuses_bearer_requests() {
    let app = app(DpopMode::Allowed);
    let token = unbound_token();
    let answer = send(&app, "GET", "/jkt", &bearer_headers(&token)).await;
    assert_dpop_refusal(
        &answer,
        401,
        "invalid_token",
        "this resource requires a DPoP-bound token and the DPoP scheme",
    );
    let answer = send(&app, "GET", "/maybe-jkt", &bearer_headers(&token)).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "bearer"));
    let answer = send(&app, "GET", "/auth-jkt", &bearer_headers(&token)).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "none"));
}

#[tokio::test]
async fn server_nonces_are_required_issued_and_renewed() {
    let secret = [7u8; 32];
    let verifier = DpopVerifier::builder(ORIGIN)
        .unwrap()
        .nonces(Some(secret))
        .build();
    let app = app_with(default_verifier(), verifier, DpopMode::Allowed);
    let key = client(Algorithm::ES256);
    let token = bound_token(&key);
    let first = get_dpop(&app, "/me", &token, &proof(&key, "GET", "/me", &token)).await;
    assert_dpop_refusal(&first, 401, "use_dpop_nonce", "a DPoP nonce is required");
    let nonce = first.nonce.clone().expect("a DPoP-Nonce header");
    assert!(!nonce.is_empty());

    let uri = format!("{ORIGIN}/me");
    let with_nonce = key
        .dpop_proof("GET", &uri, Some(&token), Some(&nonce))
        .unwrap();
    let retry = get_dpop(&app, "/me", &token, &with_nonce).await;
    assert_eq!(
        (retry.status, retry.body.as_str()),
        (200, "user-1"),
        "{retry:?}"
    );
    assert!(
        retry.nonce.is_some(),
        "the next nonce comes with the answer"
    );

    let bogus = key
        .dpop_proof("GET", &uri, Some(&token), Some("not-a-nonce"))
        .unwrap();
    let answer = get_dpop(&app, "/me", &token, &bogus).await;
    assert_dpop_refusal(
        &answer,
        401,
        "use_dpop_nonce",
        "the DPoP nonce is invalid or expired",
    );
    assert!(answer.nonce.is_some());
    // Bearer requests have nothing to do with nonces.
    let answer = send(&app, "GET", "/me", &bearer_headers(&unbound_token())).await;
    assert_eq!((answer.status, answer.nonce), (200, None));
}

#[tokio::test]
async fn a_cached_access_token_still_needs_a_fresh_proof() {
    let verifier = default_verifier_with_cache(Some(TokenCacheConfig::default()));
    let app = app_with(verifier.clone(), dpop_verifier(), DpopMode::Allowed);
    let key = client(Algorithm::ES256);
    let token = bound_token(&key);
    let mut last = String::new();
    for _ in 0..2 {
        last = proof(&key, "GET", "/me", &token);
        assert_eq!(get_dpop(&app, "/me", &token, &last).await.status, 200);
    }
    assert!(
        matches!(
            tollgate::core::testing::cached(&verifier, &token),
            Some(Ok(_))
        ),
        "the access token is now served from the cache"
    );
    let replayed = get_dpop(&app, "/me", &token, &last).await;
    assert_dpop_refusal(
        &replayed,
        401,
        "invalid_dpop_proof",
        "the DPoP proof was already used",
    );
    let missing = send(
        &app,
        "GET",
        "/me",
        &[("authorization", format!("DPoP {token}"))],
    )
    .await;
    assert_eq!(missing.status, 401);
    let wrong = get_dpop(&app, "/me", &token, &proof(&key, "POST", "/me", &token)).await;
    assert_eq!(wrong.status, 401);
    let thief = client(Algorithm::ES256);
    let stolen = get_dpop(&app, "/me", &token, &proof(&thief, "GET", "/me", &token)).await;
    assert_eq!(stolen.status, 401);
    let bearer = send(&app, "GET", "/me", &bearer_headers(&token)).await;
    assert_eq!(
        bearer.status, 401,
        "cached or not, a bound token is no bearer token"
    );
    let fresh = get_dpop(&app, "/me", &token, &proof(&key, "GET", "/me", &token)).await;
    assert_eq!(fresh.status, 200);
}

/// A replay store that answers later (as Redis would), remembering keys in memory.
#[derive(Debug, Default)]
struct LaterStore {
    seen: Arc<Mutex<HashSet<[u8; 32]>>>,
}

impl ReplayStore for LaterStore {
    fn insert_if_absent(&self, key: ReplayKey, _ttl: std::time::Duration) -> ReplayFuture {
        let seen = self.seen.clone();
        ReplayFuture::pending(async move {
            tokio::task::yield_now().await;
            Ok(seen.lock().unwrap().insert(*key.as_bytes()))
        })
    }
}

/// A replay store that is down.
#[derive(Debug)]
struct DownStore;

impl ReplayStore for DownStore {
    fn insert_if_absent(&self, _key: ReplayKey, _ttl: std::time::Duration) -> ReplayFuture {
        ReplayFuture::ready(Err(ReplayError::new("connection refused")))
    }
}

#[tokio::test]
async fn a_replay_store_that_waits_is_awaited() {
    let verifier = DpopVerifier::builder(ORIGIN)
        .unwrap()
        .replay_store(LaterStore::default())
        .build();
    let app = app_with(default_verifier(), verifier, DpopMode::Required);
    let (_, token, once) = jkt_accepted(&app, Algorithm::ES256).await;
    let again = get_dpop(&app, "/jkt", &token, &once).await;
    assert_dpop_refusal(
        &again,
        401,
        "invalid_dpop_proof",
        "the DPoP proof was already used",
    );
}

#[tokio::test]
async fn a_replay_store_that_is_down_is_a_503() {
    let verifier = DpopVerifier::builder(ORIGIN)
        .unwrap()
        .replay_store(DownStore)
        .build();
    let app = app_with(default_verifier(), verifier, DpopMode::Allowed);
    let key = client(Algorithm::ES256);
    let token = bound_token(&key);
    let answer = get_dpop(&app, "/me", &token, &proof(&key, "GET", "/me", &token)).await;
    assert_eq!(answer.status, 503, "{answer:?}");
    assert!(answer.challenges.is_empty(), "{answer:?}");
    assert_eq!(answer.headers["retry-after"], "5");
    assert_eq!(answer.json()["error"], "temporarily_unavailable");
    // Bearer requests do not need the store.
    let answer = send(&app, "GET", "/me", &bearer_headers(&unbound_token())).await;
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn keys_that_must_be_fetched_then_the_proof() {
    let verifier = Verifier::new(
        policy().build().unwrap(),
        WaitingKeys::default(),
        CryptoProvider::default(),
    );
    let app = app_with(verifier, dpop_verifier(), DpopMode::Allowed);
    let (key, token, once) = jkt_accepted(&app, Algorithm::EdDSA).await;
    let again = get_dpop(&app, "/jkt", &token, &once).await;
    assert_eq!(again.status, 401);
    let wrong = get_dpop(&app, "/jkt", &token, &proof(&key, "GET", "/me", &token)).await;
    assert_dpop_refusal(
        &wrong,
        401,
        "invalid_dpop_proof",
        "the DPoP proof is for another URI",
    );
    let bearer = send(&app, "GET", "/me", &bearer_headers(&token)).await;
    assert_bearer_refusal(
        &bearer,
        401,
        "invalid_token",
        "the access token is DPoP-bound; use the DPoP scheme",
    );
}

#[tokio::test]
async fn custom_responders_see_dpop_errors_and_build_the_dpop_challenge() {
    let seen: Arc<Mutex<Vec<AuthError>>> = Arc::default();
    let record = seen.clone();
    let responder = move |error: &AuthError, challenge: &Challenge| {
        record.lock().unwrap().push(error.clone());
        let mut response = Response::new(Body::from(error.challenge_error().unwrap_or("none")));
        *response.status_mut() = error.status();
        assert_eq!(challenge.dpop_mode(), DpopMode::Required);
        if let Some(value) = challenge.challenge_for(AuthScheme::Dpop, error) {
            response.headers_mut().insert("www-authenticate", value);
        }
        response
    };
    let verifier = DpopVerifier::builder(ORIGIN).unwrap().nonces(None).build();
    let app = routes().layer(
        AuthLayer::builder(default_verifier())
            .no_realm()
            .error_responder(responder)
            .dpop(verifier, DpopMode::Required)
            .build(),
    );
    let key = client(Algorithm::ES256);
    let token = bound_token(&key);
    let answer = get_dpop(&app, "/me", &token, &proof(&key, "GET", "/me", &token)).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (401, "use_dpop_nonce")
    );
    assert!(
        answer.challenges[0].starts_with(r#"DPoP algs=""#),
        "{answer:?}"
    );
    assert!(
        answer.nonce.is_some(),
        "the layer adds the nonce to any responder's answer"
    );
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        [AuthError::Dpop(DpopError::NonceRequired)]
    );
    assert_eq!(
        StatusCode::from_u16(answer.status).unwrap(),
        AuthError::Dpop(DpopError::NonceRequired).status()
    );
}

/// A malformed `Bearer` header is refused as malformed where DPoP is required, before the
/// scheme is judged (the layer checks a `Bearer` token's grammar after its cache lookup, and
/// every refusal before the verifier still reports a malformed token first); a well-formed
/// one is refused for its scheme.
#[tokio::test]
async fn a_malformed_bearer_header_is_malformed_before_its_scheme_is_judged() {
    let app = app(DpopMode::Required);
    let malformed = [("authorization", "Bearer a,b".to_owned())];
    let answer = send(&app, "GET", "/me", &malformed).await;
    assert_dpop_refusal(
        &answer,
        400,
        "invalid_request",
        "the Authorization header must be `Bearer` followed by exactly one token",
    );
    let answer = send(&app, "GET", "/me", &bearer_headers(&unbound_token())).await;
    assert_eq!(answer.status, 401, "{answer:?}");
}
