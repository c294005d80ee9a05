//! The benchmark server: one small contract behind each authentication stack.
//!
//! ```text
//! bench-server <mode> <port> [--alg RS256|ES256|EdDSA|HS256]
//! modes: noauth | sig-only | tollgate | tollgate-nocache | plain | jwt-authorizer | axum-jwt-auth
//! ```
//! Routes: `GET /public` (no auth), `GET /me` (auth; `{"sub": ...}`), and for the Tollgate modes
//! `GET /stats` (cache and JWKS counters, outside the layer). The process also serves the public
//! JWK Set of the committed keys on `127.0.0.1:<port + 1>/jwks.json`; every asymmetric mode reads
//! its keys from there over HTTP (Tollgate through `tollgate_core::remote::JwksSource`). HS256
//! secrets cannot travel in a JWK Set that Tollgate accepts, so every mode gets the secret directly.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};
use tollgate::{AuthLayer, Claims};
use tollgate_bench::{AUDIENCE, ISSUER, Keys, MeClaims, parse_alg};
use tollgate_core::remote::JwksSource;
use tollgate_core::{Algorithm, CryptoProvider, KeySet, Validation, VerificationKey, Verifier};

async fn public() -> &'static str {
    "ok"
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args
        .next()
        .expect("usage: bench-server <mode> <port> [--alg ALG]");
    let port: u16 = args.next().expect("port").parse().expect("port number");
    let mut alg = "RS256".to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--alg" => alg = args.next().expect("--alg value"),
            other => panic!("unknown argument {other}"),
        }
    }
    let alg = parse_alg(&alg);

    // Both jsonwebtoken 11 backends may be compiled into this binary by some dependency; make
    // the plain reference use aws-lc-rs explicitly. (Tollgate passes its provider explicitly.)
    let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
        &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
    );

    // Workers = cores available to this process (1 under `taskset -c 0`).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(serve(mode, port, alg));
}

async fn serve(mode: String, port: u16, alg: Algorithm) {
    let keys = Arc::new(Keys::load());
    let jwks_port = port + 1;
    let jwks_url = format!("http://127.0.0.1:{jwks_port}/jwks.json");
    let jwks_doc = Arc::new(keys.jwks().to_string());
    let jwks_app = Router::new().route(
        "/jwks.json",
        get(move || {
            let doc = jwks_doc.clone();
            async move {
                (
                    [
                        (header::CONTENT_TYPE, "application/json"),
                        (header::CACHE_CONTROL, "max-age=3600"),
                    ],
                    doc.as_str().to_owned(),
                )
            }
        }),
    );
    let jwks_listener = tokio::net::TcpListener::bind(("127.0.0.1", jwks_port))
        .await
        .unwrap();
    tokio::spawn(async move { axum::serve(jwks_listener, jwks_app).await.unwrap() });

    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    match mode.as_str() {
        "noauth" => {
            let app = Router::new()
                .route("/me", get(|| async { Json(json!({"sub": "anonymous"})) }))
                .route("/public", get(public));
            serve08(addr, app).await;
        }
        "sig-only" => serve08(addr, sig_only_app(&keys, alg)).await,
        "tollgate" | "tollgate-nocache" => {
            let app = tollgate_app(&keys, alg, &jwks_url, mode == "tollgate").await;
            serve08(addr, app).await;
        }
        "plain" => serve08(addr, plain_app(&keys, alg)).await,
        "jwt-authorizer" => jwt_authorizer_app(addr, &keys, alg, &jwks_url).await,
        "axum-jwt-auth" => {
            let app = axum_jwt_auth_app(&keys, alg, &jwks_url).await;
            serve08(addr, app).await;
        }
        other => panic!(
            "unknown mode {other}: noauth, sig-only, tollgate, tollgate-nocache, plain, jwt-authorizer, axum-jwt-auth"
        ),
    }
}

async fn serve08(addr: SocketAddr, app: Router) {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    eprintln!("listening on {addr}");
    axum::serve(listener, app).await.unwrap();
}

// ---- Tollgate -------------------------------------------------------------------------------

async fn tollgate_app(keys: &Keys, alg: Algorithm, jwks_url: &str, cache: bool) -> Router {
    let policy = Validation::builder([alg])
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let mut jwks = None;
    let verifier = if alg == Algorithm::HS256 {
        let key = VerificationKey::hmac(keys.file.hmac.as_bytes()).unwrap();
        Verifier::new(policy, KeySet::from(key), CryptoProvider::default())
    } else {
        let source = JwksSource::builder(jwks_url)
            .allow_insecure_http(true)
            .build()
            .unwrap();
        source.prefetch().await.unwrap();
        jwks = Some(source.clone());
        Verifier::new(policy, source, CryptoProvider::default())
    };
    let verifier = if cache {
        verifier
    } else {
        verifier.with_token_cache(None)
    };
    let stats_verifier = verifier.clone();
    let stats = move || {
        let cache = stats_verifier.token_cache_stats();
        let jwks = jwks.as_ref().map(|j| format!("{:?}", j.stats()));
        async move {
            Json(json!({
                "cache": cache.map(|s| json!({"hits": s.hits, "misses": s.misses, "entries": s.entries})),
                "jwks": jwks,
            }))
        }
    };
    async fn me(Claims(claims): Claims<MeClaims>) -> Json<Value> {
        Json(json!({"sub": claims.sub}))
    }
    Router::new()
        .route("/me", get(me))
        .route_layer(AuthLayer::builder(verifier).build())
        .route("/public", get(public))
        .route("/stats", get(stats))
}

// ---- the physical floor: no-auth + the bare signature check ----------------------------------

/// The no-auth app with `/me` behind the bare RS256 signature check
/// ([`tollgate_bench::sig_only_router`]), at the request rate a signature check allows.
fn sig_only_app(keys: &Keys, alg: Algorithm) -> Router {
    assert_eq!(alg, Algorithm::RS256, "sig-only measures RS256");
    tollgate_bench::sig_only_router(&keys.file.rsa).route("/public", get(public))
}

// ---- plain jsonwebtoken middleware ------------------------------------------------------------

struct Plain {
    /// Keys by `kid`, each built once.
    keys: HashMap<String, jsonwebtoken::DecodingKey>,
    validation: jsonwebtoken::Validation,
}

fn jwt_alg(alg: Algorithm) -> jsonwebtoken::Algorithm {
    alg.as_str().parse().unwrap()
}

fn plain_app(keys: &Keys, alg: Algorithm) -> Router {
    let mut decoding = HashMap::new();
    if alg == Algorithm::HS256 {
        decoding.insert(
            keys.hmac.kid().to_owned(),
            jsonwebtoken::DecodingKey::from_secret(keys.file.hmac.as_bytes()),
        );
    } else {
        let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(keys.jwks()).unwrap();
        for jwk in &jwks.keys {
            let kid = jwk.common.key_id.clone().unwrap();
            decoding.insert(kid, jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap());
        }
    }
    let mut validation = jsonwebtoken::Validation::new(jwt_alg(alg));
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    let state = Arc::new(Plain {
        keys: decoding,
        validation,
    });
    async fn me(Extension(claims): Extension<MeClaims>) -> Json<Value> {
        Json(json!({"sub": claims.sub}))
    }
    Router::new()
        .route("/me", get(me))
        .route_layer(axum::middleware::from_fn_with_state(state, plain_auth))
        .route("/public", get(public))
}

/// The minimal middleware: bearer token, `kid` lookup, `jsonwebtoken::decode`.
async fn plain_auth(State(plain): State<Arc<Plain>>, mut request: Request, next: Next) -> Response {
    let claims = {
        let Some(token) = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return StatusCode::UNAUTHORIZED.into_response();
        };
        let Ok(head) = jsonwebtoken::decode_header(token) else {
            return StatusCode::UNAUTHORIZED.into_response();
        };
        let Some(key) = head.kid.as_deref().and_then(|kid| plain.keys.get(kid)) else {
            return StatusCode::UNAUTHORIZED.into_response();
        };
        match jsonwebtoken::decode::<MeClaims>(token, key, &plain.validation) {
            Ok(data) => data.claims,
            Err(_) => return StatusCode::UNAUTHORIZED.into_response(),
        }
    };
    request.extensions_mut().insert(claims);
    next.run(request).await
}

// ---- jwt-authorizer 0.15 (axum 0.7) ----------------------------------------------------------

async fn jwt_authorizer_app(addr: SocketAddr, keys: &Keys, alg: Algorithm, jwks_url: &str) {
    use jwt_authorizer::{IntoLayer, JwtAuthorizer, JwtClaims};
    let validation = jwt_authorizer::Validation::new()
        .iss(&[ISSUER])
        .aud(&[AUDIENCE]);
    let builder = if alg == Algorithm::HS256 {
        JwtAuthorizer::<MeClaims>::from_secret(&keys.file.hmac)
    } else {
        JwtAuthorizer::<MeClaims>::from_jwks_url(jwks_url)
    };
    let auth = builder.validation(validation).build().await.unwrap();
    async fn me(JwtClaims(claims): JwtClaims<MeClaims>) -> axum07::Json<Value> {
        axum07::Json(json!({"sub": claims.sub}))
    }
    let app = axum07::Router::new()
        .route("/me", axum07::routing::get(me))
        .route_layer(auth.into_layer())
        .route("/public", axum07::routing::get(public));
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    eprintln!("listening on {addr}");
    axum07::serve(listener, app).await.unwrap();
}

// ---- axum-jwt-auth 0.7 (axum 0.8, jsonwebtoken 10 on rust_crypto) ------------------------------

async fn axum_jwt_auth_app(keys: &Keys, alg: Algorithm, jwks_url: &str) -> Router {
    use axum_jwt_auth::{Decoder, LocalDecoder, RemoteJwksDecoder};
    let mut validation = jsonwebtoken10::Validation::new(alg.as_str().parse().unwrap());
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    let decoder: Decoder<MeClaims> = if alg == Algorithm::HS256 {
        Arc::new(
            LocalDecoder::builder()
                .keys(vec![jsonwebtoken10::DecodingKey::from_secret(
                    keys.file.hmac.as_bytes(),
                )])
                .validation(validation)
                .build()
                .unwrap(),
        )
    } else {
        let decoder = RemoteJwksDecoder::builder()
            .jwks_url(jwks_url.to_owned())
            .validation(validation)
            .build()
            .unwrap();
        // Fetches now and refreshes hourly in the background.
        std::mem::forget(decoder.initialize().await.unwrap());
        Arc::new(decoder)
    };
    async fn me(claims: axum_jwt_auth::Claims<MeClaims>) -> Json<Value> {
        Json(json!({"sub": claims.claims.sub}))
    }
    Router::new()
        .route("/me", get(me))
        .route("/public", get(public))
        .with_state(decoder)
}
