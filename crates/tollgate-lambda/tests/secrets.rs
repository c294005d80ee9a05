//! `ParametersSecretsSource` against a real HTTP server on 127.0.0.1 playing the AWS Parameters
//! and Secrets Lambda Extension: lazy read and TTL cache, the session-token header, Secrets
//! Manager and Parameter Store shapes, rotation, and the extension being down (fail closed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;
use tollgate::AuthLayer;
use tollgate::core::{Algorithm, CryptoProvider, Error, StandardClaims, Validation};
use tollgate_lambda::{
    ParametersSecretsSource, Refresh, SecretEncoding, SecretError, SecretId, SecretVerifier,
    hmac_key_from_env, hmac_key_from_file,
};
use tower::ServiceExt as _;

const SESSION_TOKEN: &str = "session-token-from-AWS_SESSION_TOKEN";
const SECRET_A: &str = "first-shared-secret-0123456789abcdef";
const SECRET_B: &str = "rotated-shared-secret-fedcba9876543210";

/// The extension stand-in: what it serves, whether it is up, how often it was asked.
struct Extension {
    secret_string: Mutex<String>,
    down: AtomicBool,
    hits: AtomicUsize,
}

async fn extension(extension: Arc<Extension>) -> String {
    async fn answer(
        extension: &Extension,
        headers: &HeaderMap,
    ) -> Result<String, (StatusCode, String)> {
        extension.hits.fetch_add(1, Ordering::SeqCst);
        if extension.down.load(Ordering::SeqCst) {
            return Err((StatusCode::INTERNAL_SERVER_ERROR, "unavailable".into()));
        }
        let token = headers
            .get("x-aws-parameters-secrets-token")
            .and_then(|v| v.to_str().ok());
        if token != Some(SESSION_TOKEN) {
            return Err((StatusCode::UNAUTHORIZED, "missing or wrong token".into()));
        }
        Ok(extension.secret_string.lock().unwrap().clone())
    }
    let router = Router::new()
        .route(
            "/secretsmanager/get",
            get(
                |State(ext): State<Arc<Extension>>,
                 Query(q): Query<HashMap<String, String>>,
                 headers: HeaderMap| async move {
                    if q.get("secretId").map(String::as_str) != Some("prod/jwt") {
                        return Err((StatusCode::BAD_REQUEST, "secret not found".to_owned()));
                    }
                    let text = answer(&ext, &headers).await?;
                    Ok(axum::Json(json!({
                        "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/jwt-AbCdEf",
                        "Name": "prod/jwt",
                        "SecretString": text,
                        "VersionId": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
                        "VersionStages": ["AWSCURRENT"],
                        "CreatedDate": "2024-07-18T06:29:15Z"
                    })))
                },
            ),
        )
        .route(
            "/systemparameters/get",
            get(
                |State(ext): State<Arc<Extension>>,
                 Query(q): Query<HashMap<String, String>>,
                 headers: HeaderMap| async move {
                    if q.get("name").map(String::as_str) != Some("/prod/jwt")
                        || q.get("withDecryption").map(String::as_str) != Some("true")
                    {
                        return Err((StatusCode::BAD_REQUEST, "bad query".to_owned()));
                    }
                    let text = answer(&ext, &headers).await?;
                    Ok(axum::Json(json!({
                        "Parameter": {
                            "ARN": "arn:aws:ssm:us-east-1:123456789012:parameter/prod/jwt",
                            "DataType": "text",
                            "LastModifiedDate": "2024-07-18T06:29:15Z",
                            "Name": "/prod/jwt",
                            "Selector": null,
                            "SourceResult": null,
                            "Type": "SecureString",
                            "Value": text,
                            "Version": 1
                        },
                        "ResultMetadata": {}
                    })))
                },
            ),
        )
        .with_state(extension);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

async fn start(secret_string: &str) -> (Arc<Extension>, String) {
    let ext = Arc::new(Extension {
        secret_string: Mutex::new(secret_string.to_owned()),
        down: AtomicBool::new(false),
        hits: AtomicUsize::new(0),
    });
    let url = extension(ext.clone()).await;
    (ext, url)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An HS256 token signed with `secret` (aws-lc-rs, not the code under test).
fn hs256(secret: &[u8], sub: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = json!({"sub": sub, "aud": "my-api", "exp": now() + 600, "iat": now()});
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{header}.{payload}");
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let signature = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
}

fn policy() -> Validation {
    Validation::builder([Algorithm::HS256])
        .audience("my-api")
        .build()
        .unwrap()
}

fn source(url: &str, id: SecretId) -> tollgate_lambda::secrets::ParametersSecretsSourceBuilder {
    ParametersSecretsSource::builder(id)
        .endpoint(url)
        .session_token(SESSION_TOKEN)
}

fn verifier(source: ParametersSecretsSource) -> SecretVerifier {
    SecretVerifier::new(policy(), source, CryptoProvider::default())
}

async fn sub_of(verifier: &SecretVerifier, token: &str) -> Result<String, Error> {
    let verified = verifier.verify(token).await?;
    let claims = verified.claims::<StandardClaims>()?;
    Ok(claims.registered.sub.clone().unwrap_or_default())
}

#[tokio::test]
async fn secrets_manager_secret_is_read_lazily_and_cached() {
    let (ext, url) = start(SECRET_A).await;
    let verifier = verifier(
        source(&url, SecretId::secrets_manager("prod/jwt"))
            .build()
            .unwrap(),
    );
    assert_eq!(
        ext.hits.load(Ordering::SeqCst),
        0,
        "nothing read before the first token"
    );
    for i in 0..3 {
        let token = hs256(SECRET_A.as_bytes(), &format!("user-{i}"));
        assert_eq!(
            sub_of(&verifier, &token).await.unwrap(),
            format!("user-{i}")
        );
    }
    assert_eq!(
        ext.hits.load(Ordering::SeqCst),
        1,
        "one read, then the cache"
    );
}

#[tokio::test]
async fn parameter_store_value_and_json_member_and_base64() {
    let encoded = STANDARD.encode(SECRET_A);
    let (_ext, url) = start(&encoded).await;
    let ssm = verifier(
        source(&url, SecretId::parameter("/prod/jwt"))
            .encoding(SecretEncoding::Base64)
            .build()
            .unwrap(),
    );
    let token = hs256(SECRET_A.as_bytes(), "ssm-user");
    assert_eq!(sub_of(&ssm, &token).await.unwrap(), "ssm-user");

    let document = json!({"signing_secret": SECRET_B, "other": "x"}).to_string();
    let (_ext, url) = start(&document).await;
    let json_member = verifier(
        source(&url, SecretId::secrets_manager("prod/jwt"))
            .json_key("signing_secret")
            .build()
            .unwrap(),
    );
    let token = hs256(SECRET_B.as_bytes(), "json-user");
    assert_eq!(sub_of(&json_member, &token).await.unwrap(), "json-user");
}

#[tokio::test]
async fn the_session_token_header_is_sent() {
    let (ext, url) = start(SECRET_A).await;
    let wrong = ParametersSecretsSource::builder(SecretId::secrets_manager("prod/jwt"))
        .endpoint(&url)
        .session_token("not-the-session-token")
        .build()
        .unwrap();
    let err = sub_of(&verifier(wrong), &hs256(SECRET_A.as_bytes(), "u"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::KeySourceUnavailable(ref why) if why.contains("401")),
        "{err}"
    );
    assert_eq!(ext.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn rotation_is_picked_up_on_a_signature_failure_at_most_once_per_interval() {
    let (ext, url) = start(SECRET_A).await;
    let verifier = verifier(
        source(&url, SecretId::secrets_manager("prod/jwt"))
            .build()
            .unwrap(),
    );
    assert_eq!(
        sub_of(&verifier, &hs256(SECRET_A.as_bytes(), "a"))
            .await
            .unwrap(),
        "a"
    );
    assert_eq!(ext.hits.load(Ordering::SeqCst), 1);

    // The secret rotates; the issuer signs with the new one before the cache TTL has passed.
    *ext.secret_string.lock().unwrap() = SECRET_B.to_owned();
    assert_eq!(
        sub_of(&verifier, &hs256(SECRET_B.as_bytes(), "b"))
            .await
            .unwrap(),
        "b"
    );
    assert_eq!(
        ext.hits.load(Ordering::SeqCst),
        2,
        "one re-read on the signature failure"
    );

    // Old-secret and forged tokens now fail, and do not make the source read again.
    for token in [
        hs256(SECRET_A.as_bytes(), "old"),
        hs256(b"forged-secret-forged-secret-forged", "x"),
        hs256(b"another-forged-secret-another-forged", "y"),
    ] {
        assert_eq!(
            sub_of(&verifier, &token).await.unwrap_err(),
            Error::InvalidSignature
        );
    }
    assert_eq!(ext.hits.load(Ordering::SeqCst), 2, "rate-limited");
    assert_eq!(
        verifier.source().refresh_after_failure().await,
        Refresh::RateLimited
    );
}

#[tokio::test]
async fn unchanged_secret_keeps_the_failure() {
    let (ext, url) = start(SECRET_A).await;
    let verifier = verifier(
        source(&url, SecretId::secrets_manager("prod/jwt"))
            .min_refresh_interval(Duration::ZERO)
            .build()
            .unwrap(),
    );
    let forged = hs256(b"forged-secret-forged-secret-forged", "x");
    assert_eq!(
        sub_of(&verifier, &forged).await.unwrap_err(),
        Error::InvalidSignature
    );
    assert_eq!(
        ext.hits.load(Ordering::SeqCst),
        2,
        "first read, then one re-read"
    );
    assert_eq!(
        verifier.source().refresh_after_failure().await,
        Refresh::Unchanged
    );
}

#[tokio::test]
async fn extension_down_fails_closed_with_503() {
    // Nothing listens: connection refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let source = source(&url, SecretId::secrets_manager("prod/jwt"))
        .build()
        .unwrap();
    let token = hs256(SECRET_A.as_bytes(), "u");
    let err = sub_of(&verifier(source.clone()), &token).await.unwrap_err();
    assert!(matches!(err, Error::KeySourceUnavailable(_)), "{err}");

    // Through the layer: 503, no challenge, Retry-After.
    let app = Router::new()
        .route("/me", get(|| async { "me" }))
        .layer(AuthLayer::new(verifier(source)));
    let request = http::Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("www-authenticate").is_none());
    assert_eq!(response.headers()["retry-after"], "5");
}

#[tokio::test]
async fn extension_errors_use_the_last_secret_only_within_stale_if_error() {
    let (ext, url) = start(SECRET_A).await;
    let token = hs256(SECRET_A.as_bytes(), "u");

    let tolerant = verifier(
        source(&url, SecretId::secrets_manager("prod/jwt"))
            .ttl(Duration::ZERO)
            .build()
            .unwrap(),
    );
    let strict = verifier(
        source(&url, SecretId::secrets_manager("prod/jwt"))
            .ttl(Duration::ZERO)
            .stale_if_error(Duration::ZERO)
            .build()
            .unwrap(),
    );
    assert!(sub_of(&tolerant, &token).await.is_ok());
    assert!(sub_of(&strict, &token).await.is_ok());

    ext.down.store(true, Ordering::SeqCst);
    // A token not seen before, so that no verified-token cache answers without a key lookup.
    let token = hs256(SECRET_A.as_bytes(), "v");
    assert_eq!(
        sub_of(&tolerant, &token).await.unwrap(),
        "v",
        "stale secret used"
    );
    let err = sub_of(&strict, &token).await.unwrap_err();
    assert!(
        matches!(err, Error::KeySourceUnavailable(ref why) if why.contains("500")),
        "{err}"
    );
}

#[tokio::test]
async fn prefetch_reads_during_init() {
    let (ext, url) = start(SECRET_A).await;
    let source = source(&url, SecretId::secrets_manager("prod/jwt"))
        .build()
        .unwrap();
    source.prefetch().await.unwrap();
    assert_eq!(ext.hits.load(Ordering::SeqCst), 1);
    let verifier = verifier(source);
    assert!(
        sub_of(&verifier, &hs256(SECRET_A.as_bytes(), "u"))
            .await
            .is_ok()
    );
    assert_eq!(ext.hits.load(Ordering::SeqCst), 1);

    // A secret too short for HS256 is refused, not used.
    let (_ext, url) = start("short").await;
    let short = self::source(&url, SecretId::secrets_manager("prod/jwt"))
        .build()
        .unwrap();
    assert!(short.prefetch().await.is_err());
}

#[test]
fn secret_from_file_and_env() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join("tollgate-lambda-secret.txt");
    std::fs::write(&path, format!("{SECRET_A}\n")).unwrap();
    let key = hmac_key_from_file(&path, SecretEncoding::Text).unwrap();
    assert!(key.permits(Algorithm::HS256).is_ok());
    std::fs::write(&path, STANDARD.encode(SECRET_A)).unwrap();
    assert!(hmac_key_from_file(&path, SecretEncoding::Base64).is_ok());
    std::fs::write(&path, "short\n").unwrap();
    assert!(matches!(
        hmac_key_from_file(&path, SecretEncoding::Text),
        Err(SecretError::Key(_))
    ));
    assert!(matches!(
        hmac_key_from_file(dir.join("missing"), SecretEncoding::Text),
        Err(SecretError::Io { .. })
    ));
    assert_eq!(
        hmac_key_from_env("TOLLGATE_LAMBDA_TEST_SURELY_UNSET", SecretEncoding::Text).unwrap_err(),
        SecretError::MissingVariable("TOLLGATE_LAMBDA_TEST_SURELY_UNSET".into())
    );
    // `PATH` is set in any test environment, and far from a usable base64 secret.
    assert!(hmac_key_from_env("PATH", SecretEncoding::Base64).is_err());
}
