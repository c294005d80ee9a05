//! The benchmark server: one small contract behind each authentication stack.
//!
//! ```text
//! bench-server <mode> <port> [--alg RS256|ES256|EdDSA|HS256] [--issuers 1|2]
//! modes: noauth | handoff | sig-only | tollgate | tollgate-nocache | plain | jwt-authorizer |
//!        axum-jwt-auth
//! ```
//! Routes: `GET /public` (no auth), `GET /me` (auth; `{"sub": ...}`), and for the Tollgate modes
//! `GET /stats` (cache and JWKS counters, outside the layer). The process also serves the public
//! JWK Set of the committed keys on `127.0.0.1:<port + 1>/jwks.json`; every asymmetric mode reads
//! its keys from there over HTTP (Tollgate through `tollgate_core::remote::JwksSource`). HS256
//! secrets cannot travel in a JWK Set that Tollgate accepts, so every mode gets the secret directly.
//!
//! `--issuers 2` (RS256 only) accepts the tokens of two issuers ([`ISSUER`] and [`ISSUER2`]), each
//! with its own key set (the second at `/jwks2.json`), each token checked against its own
//! issuer's keys and `iss`: Tollgate through a `MultiIssuer` of two verifiers; the plain
//! middleware by a `kid` -> (key, validation of that key's issuer) map; jwt-authorizer with its
//! own multi-authorizer layer (`[a, b].into_layer()`: tries the authorizers in order);
//! axum-jwt-auth with one remote decoder per issuer tried in order (the crate has no router).
//!
//! The library calls that the issue-13 redesign may respell go through [`tollgate_bench::api`],
//! so that `run.sh` can build this same server against an earlier revision (`BEFORE_REV`).

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
use tollgate_bench::api::{self, Cache};
use tollgate_bench::{AUDIENCE, ISSUER, ISSUER2, Keys, MeClaims, parse_alg};
use tollgate_core::remote::JwksSource;
use tollgate_core::{Algorithm, KeySet, Validation, VerificationKey};

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
    let mut issuers = 1u8;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--alg" => alg = args.next().expect("--alg value"),
            "--issuers" => {
                issuers = args
                    .next()
                    .expect("--issuers value")
                    .parse()
                    .expect("1 or 2")
            }
            other => panic!("unknown argument {other}"),
        }
    }
    let alg = parse_alg(&alg);
    assert!(
        issuers == 1 || (issuers == 2 && alg == Algorithm::RS256),
        "--issuers is 1, or 2 with RS256"
    );
    let setup = Setup {
        alg,
        two_issuers: issuers == 2,
    };

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
    runtime.block_on(serve(mode, port, setup));
}

/// What every mode is configured for.
#[derive(Debug, Clone, Copy)]
struct Setup {
    alg: Algorithm,
    /// Accept the tokens of [`ISSUER2`] too (RS256).
    two_issuers: bool,
}

/// Where an issuer's keys are published.
struct JwksUrls {
    first: String,
    second: String,
}

fn jwks_route(doc: String) -> axum::routing::MethodRouter {
    let doc = Arc::new(doc);
    get(move || {
        let doc = doc.clone();
        async move {
            (
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::CACHE_CONTROL, "max-age=3600"),
                ],
                doc.as_str().to_owned(),
            )
        }
    })
}

async fn serve(mode: String, port: u16, setup: Setup) {
    let alg = setup.alg;
    let keys = Arc::new(Keys::load());
    let jwks_port = port + 1;
    let urls = JwksUrls {
        first: format!("http://127.0.0.1:{jwks_port}/jwks.json"),
        second: format!("http://127.0.0.1:{jwks_port}/jwks2.json"),
    };
    let jwks_app = Router::new()
        .route("/jwks.json", jwks_route(keys.jwks().to_string()))
        .route("/jwks2.json", jwks_route(keys.jwks2().to_string()));
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
        "handoff" => {
            let app = tollgate_bench::handoff_router().route("/public", get(public));
            serve08(addr, app).await;
        }
        "sig-only" => {
            assert!(!setup.two_issuers, "sig-only checks one key");
            serve08(addr, sig_only_app(&keys, alg)).await
        }
        "tollgate" | "tollgate-nocache" => {
            let app = tollgate_app(&keys, setup, &urls, mode == "tollgate").await;
            serve08(addr, app).await;
        }
        "plain" => serve08(addr, plain_app(&keys, setup)).await,
        "jwt-authorizer" => jwt_authorizer_app(addr, &keys, setup, &urls).await,
        "axum-jwt-auth" => {
            let app = axum_jwt_auth_app(&keys, setup, &urls).await;
            serve08(addr, app).await;
        }
        other => panic!(
            "unknown mode {other}: noauth, handoff, sig-only, tollgate, tollgate-nocache, plain, jwt-authorizer, axum-jwt-auth"
        ),
    }
}

async fn serve08(addr: SocketAddr, app: Router) {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    eprintln!("listening on {addr}");
    axum::serve(listener, app).await.unwrap();
}

// ---- Tollgate -------------------------------------------------------------------------------

fn policy(alg: Algorithm, issuer: &str) -> Validation {
    Validation::builder([alg])
        .issuer(issuer)
        .audience(AUDIENCE)
        .build()
        .unwrap()
}

async fn remote_keys(url: &str) -> JwksSource {
    let source = JwksSource::builder(url)
        .allow_insecure_http(true)
        .build()
        .unwrap();
    source.prefetch().await.unwrap();
    source
}

async fn tollgate_app(keys: &Keys, setup: Setup, urls: &JwksUrls, cache: bool) -> Router {
    let alg = setup.alg;
    let cache = if cache { Cache::Default } else { Cache::Off };
    let mut sources = Vec::new();
    let mut verifiers = Vec::new();
    if alg == Algorithm::HS256 {
        let key = VerificationKey::hmac(keys.file.hmac.as_bytes()).unwrap();
        verifiers.push((
            ISSUER,
            api::verifier(policy(alg, ISSUER), KeySet::from(key), cache),
        ));
    } else {
        let source = remote_keys(&urls.first).await;
        sources.push(source.clone());
        verifiers.push((ISSUER, api::verifier(policy(alg, ISSUER), source, cache)));
        if setup.two_issuers {
            let source = remote_keys(&urls.second).await;
            sources.push(source.clone());
            verifiers.push((ISSUER2, api::verifier(policy(alg, ISSUER2), source, cache)));
        }
    }
    async fn me(Claims(claims): Claims<MeClaims>) -> Json<Value> {
        Json(json!({"sub": claims.sub}))
    }
    // Clones share the cache, so these report what the layer's verifiers do.
    let stats_verifiers: Vec<_> = verifiers.iter().map(|(_, v)| v.clone()).collect();
    let (layer, multi) = if setup.two_issuers {
        let multi = api::multi_issuer(verifiers);
        (AuthLayer::builder(multi.clone()).build(), Some(multi))
    } else {
        let (_, verifier) = verifiers.pop().unwrap();
        (AuthLayer::builder(verifier).build(), None)
    };
    let stats = move || {
        let cache = match &multi {
            Some(multi) => api::multi_issuer_cache_stats(multi, &stats_verifiers),
            None => api::sum(stats_verifiers.iter().filter_map(api::cache_stats)),
        }
        .map(|s| json!({"hits": s.hits, "misses": s.misses, "entries": s.entries}));
        let jwks: Vec<String> = sources.iter().map(|j| format!("{:?}", j.stats())).collect();
        async move { Json(json!({"cache": cache, "jwks": jwks})) }
    };
    Router::new()
        .route("/me", get(me))
        .route_layer(layer)
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
    /// Keys by `kid`, each built once, with the validation of the key's issuer (so a token
    /// signed by one issuer's key must carry that issuer's `iss`).
    keys: HashMap<String, (jsonwebtoken::DecodingKey, Arc<jsonwebtoken::Validation>)>,
}

fn jwt_alg(alg: Algorithm) -> jsonwebtoken::Algorithm {
    alg.as_str().parse().unwrap()
}

fn plain_validation(alg: Algorithm, issuer: &str) -> Arc<jsonwebtoken::Validation> {
    let mut validation = jsonwebtoken::Validation::new(jwt_alg(alg));
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[AUDIENCE]);
    Arc::new(validation)
}

fn plain_app(keys: &Keys, setup: Setup) -> Router {
    let alg = setup.alg;
    let mut decoding = HashMap::new();
    if alg == Algorithm::HS256 {
        decoding.insert(
            keys.hmac.kid().to_owned(),
            (
                jsonwebtoken::DecodingKey::from_secret(keys.file.hmac.as_bytes()),
                plain_validation(alg, ISSUER),
            ),
        );
    } else {
        let mut sets = vec![(keys.jwks(), ISSUER)];
        if setup.two_issuers {
            sets.push((keys.jwks2(), ISSUER2));
        }
        for (set, issuer) in sets {
            let validation = plain_validation(alg, issuer);
            let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(set).unwrap();
            for jwk in &jwks.keys {
                let kid = jwk.common.key_id.clone().unwrap();
                let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
                decoding.insert(kid, (key, validation.clone()));
            }
        }
    }
    let state = Arc::new(Plain { keys: decoding });
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
        let Some((key, validation)) = head.kid.as_deref().and_then(|kid| plain.keys.get(kid))
        else {
            return StatusCode::UNAUTHORIZED.into_response();
        };
        match jsonwebtoken::decode::<MeClaims>(token, key, validation) {
            Ok(data) => data.claims,
            Err(_) => return StatusCode::UNAUTHORIZED.into_response(),
        }
    };
    request.extensions_mut().insert(claims);
    next.run(request).await
}

// ---- jwt-authorizer 0.15 (axum 0.7) ----------------------------------------------------------

async fn jwt_authorizer_app(addr: SocketAddr, keys: &Keys, setup: Setup, urls: &JwksUrls) {
    use jwt_authorizer::{Authorizer, IntoLayer, JwtAuthorizer, JwtClaims};
    async fn authorizer(
        keys: &Keys,
        alg: Algorithm,
        issuer: &str,
        jwks_url: &str,
    ) -> Authorizer<MeClaims> {
        let validation = jwt_authorizer::Validation::new()
            .iss(&[issuer])
            .aud(&[AUDIENCE]);
        let builder = if alg == Algorithm::HS256 {
            JwtAuthorizer::<MeClaims>::from_secret(&keys.file.hmac)
        } else {
            JwtAuthorizer::<MeClaims>::from_jwks_url(jwks_url)
        };
        builder.validation(validation).build().await.unwrap()
    }
    let mut auths = vec![authorizer(keys, setup.alg, ISSUER, &urls.first).await];
    if setup.two_issuers {
        auths.push(authorizer(keys, setup.alg, ISSUER2, &urls.second).await);
    }
    async fn me(JwtClaims(claims): JwtClaims<MeClaims>) -> axum07::Json<Value> {
        axum07::Json(json!({"sub": claims.sub}))
    }
    let app = axum07::Router::new()
        .route("/me", axum07::routing::get(me))
        .route_layer(auths.into_layer())
        .route("/public", axum07::routing::get(public));
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    eprintln!("listening on {addr}");
    axum07::serve(listener, app).await.unwrap();
}

// ---- axum-jwt-auth 0.7 (axum 0.8, jsonwebtoken 10 on rust_crypto) ------------------------------

/// axum-jwt-auth has no multi-issuer decoder: the second issuer's decoder is tried when the
/// first refuses (what jwt-authorizer's multi-authorizer layer does too).
struct FirstOf(Vec<axum_jwt_auth::Decoder<MeClaims>>);

impl axum_jwt_auth::JwtDecoder<MeClaims> for FirstOf {
    fn decode<'a>(
        &'a self,
        token: &'a str,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<jsonwebtoken10::TokenData<MeClaims>, axum_jwt_auth::Error>,
                > + Send
                + 'a,
        >,
    > {
        Box::pin(async move {
            let mut last = None;
            for decoder in &self.0 {
                match decoder.decode(token).await {
                    Ok(data) => return Ok(data),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.unwrap())
        })
    }
}

async fn axum_jwt_auth_app(keys: &Keys, setup: Setup, urls: &JwksUrls) -> Router {
    use axum_jwt_auth::{Decoder, LocalDecoder, RemoteJwksDecoder};
    let alg = setup.alg;
    let validation = |issuer: &str| {
        let mut validation = jsonwebtoken10::Validation::new(alg.as_str().parse().unwrap());
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[AUDIENCE]);
        validation
    };
    async fn remote(url: &str, validation: jsonwebtoken10::Validation) -> Decoder<MeClaims> {
        let decoder = RemoteJwksDecoder::builder()
            .jwks_url(url.to_owned())
            .validation(validation)
            .build()
            .unwrap();
        // Fetches now and refreshes hourly in the background.
        std::mem::forget(decoder.initialize().await.unwrap());
        Arc::new(decoder)
    }
    let decoder: Decoder<MeClaims> = if alg == Algorithm::HS256 {
        Arc::new(
            LocalDecoder::builder()
                .keys(vec![jsonwebtoken10::DecodingKey::from_secret(
                    keys.file.hmac.as_bytes(),
                )])
                .validation(validation(ISSUER))
                .build()
                .unwrap(),
        )
    } else if setup.two_issuers {
        Arc::new(FirstOf(vec![
            remote(&urls.first, validation(ISSUER)).await,
            remote(&urls.second, validation(ISSUER2)).await,
        ]))
    } else {
        remote(&urls.first, validation(ISSUER)).await
    };
    async fn me(claims: axum_jwt_auth::Claims<MeClaims>) -> Json<Value> {
        Json(json!({"sub": claims.claims.sub}))
    }
    Router::new()
        .route("/me", get(me))
        .route("/public", get(public))
        .with_state(decoder)
}
