//! Helpers for `providers.rs`: a loopback identity-provider server that serves any document at
//! any path (with the headers a provider sends), key documents in each provider's layout, and
//! RS256 tokens signed directly with aws-lc-rs (never with the code under test).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self as sig, KeyPair, RsaKeyPair, RsaPublicKeyComponents};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tollgate_core::{Algorithm, Error, VerifiedToken, Verifier};

use crate::support::{self, b64};

// ---------------------------------------------------------------------------------------------
// The identity-provider server
// ---------------------------------------------------------------------------------------------

struct Document {
    body: String,
    headers: Vec<(String, String)>,
}

/// A loopback HTTP server answering GETs from a path -> document table; 404 elsewhere.
pub struct Idp {
    pub base: String,
    documents: Mutex<HashMap<String, Document>>,
    hits: Mutex<HashMap<String, usize>>,
}

impl Idp {
    pub async fn start() -> Arc<Idp> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let idp = Arc::new(Idp {
            base,
            documents: Mutex::new(HashMap::new()),
            hits: Mutex::new(HashMap::new()),
        });
        let app = Router::new().fallback(answer).with_state(Arc::clone(&idp));
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        idp
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Serves `body` (JSON) at `path` with these extra response headers.
    pub fn serve(&self, path: &str, body: &Value, headers: &[(&str, &str)]) {
        self.documents.lock().unwrap().insert(
            path.to_owned(),
            Document {
                body: body.to_string(),
                headers: headers
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                    .collect(),
            },
        );
    }

    /// Requests served at `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

async fn answer(State(idp): State<Arc<Idp>>, uri: Uri) -> Response {
    let path = uri.path().to_owned();
    *idp.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let documents = idp.documents.lock().unwrap();
    let Some(doc) = documents.get(&path) else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::from("not found"))
            .unwrap();
    };
    let mut response = Response::builder().header(header::CONTENT_TYPE, "application/json");
    for (name, value) in &doc.headers {
        response = response.header(name.as_str(), value.as_str());
    }
    response.body(Body::from(doc.body.clone())).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/// A second RSA key, distinct from the support signer's: Cognito's ID-token key, Keycloak's
/// encryption key.
pub fn second_key() -> &'static RsaKeyPair {
    static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| RsaKeyPair::generate(KeySize::Rsa2048).unwrap())
}

fn components(pair: &RsaKeyPair) -> (String, String) {
    let c = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
    (b64(&c.n), b64(&c.e))
}

/// The support signer's RSA key as a JWK with `kid` and any `extra` members.
pub fn rsa_jwk(kid: &str, extra: &Value) -> Value {
    jwk_of(&support::keys().rsa, kid, extra)
}

/// The second key as a JWK.
pub fn second_jwk(kid: &str, extra: &Value) -> Value {
    jwk_of(second_key(), kid, extra)
}

fn jwk_of(pair: &RsaKeyPair, kid: &str, extra: &Value) -> Value {
    let (n, e) = components(pair);
    let mut jwk = json!({"kty": "RSA", "kid": kid, "n": n, "e": e});
    merge_into(&mut jwk, extra);
    jwk
}

/// A self-signed X.509 certificate for `pair`, built with rcgen from the key's PKCS#8 DER:
/// (PEM, DER).
fn certificate_of(pair: &RsaKeyPair, name: &str) -> (String, Vec<u8>) {
    let pkcs8 = pair.as_der().unwrap();
    let pkcs8: &[u8] = pkcs8.as_ref();
    let key_pair = rcgen::KeyPair::try_from(pkcs8).unwrap();
    let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
        .unwrap()
        .self_signed(&key_pair)
        .unwrap();
    (cert.pem(), cert.der().to_vec())
}

/// The support signer's RSA key in a self-signed certificate: (PEM, DER).
pub fn certificate() -> &'static (String, Vec<u8>) {
    static CERT: OnceLock<(String, Vec<u8>)> = OnceLock::new();
    CERT.get_or_init(|| {
        certificate_of(
            &support::keys().rsa,
            "securetoken.system.gserviceaccount.com",
        )
    })
}

/// The second key in a self-signed certificate: (PEM, DER).
pub fn second_certificate() -> &'static (String, Vec<u8>) {
    static CERT: OnceLock<(String, Vec<u8>)> = OnceLock::new();
    CERT.get_or_init(|| certificate_of(second_key(), "securetoken.system.gserviceaccount.com"))
}

/// A certificate's `x5t` (base64url SHA-1 of the DER) and `x5c` entry (standard base64 DER).
pub fn x5t_x5c(der: &[u8]) -> (String, String) {
    let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    (b64(sha1.as_ref()), STANDARD.encode(der))
}

/// A certificate's `x5t#S256` (base64url SHA-256 of the DER).
pub fn x5t_s256(der: &[u8]) -> String {
    b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der).as_ref())
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

/// RS256 with the support signer's key, header `{"alg":"RS256","kid":kid,"typ":"JWT"}`.
pub fn token(kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "RS256", "kid": kid, "typ": "JWT"});
    support::sign_raw(Algorithm::RS256, &header.to_string(), &claims.to_string())
}

/// RS256 with the support signer's key and exactly this header.
pub fn token_with_header(header: &Value, claims: &Value) -> String {
    support::sign_raw(Algorithm::RS256, &header.to_string(), &claims.to_string())
}

/// RS256 with the second key, header `{"alg":"RS256","kid":kid,"typ":"JWT"}`.
pub fn token_second_key(kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "RS256", "kid": kid, "typ": "JWT"});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let pair = second_key();
    let mut signature = vec![0u8; pair.public_modulus_len()];
    pair.sign(
        &sig::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .unwrap();
    format!("{input}.{}", b64(&signature))
}

// ---------------------------------------------------------------------------------------------
// Claims
// ---------------------------------------------------------------------------------------------

/// Shallow merge: members of `changes` replace those of `target`; a `null` removes the member.
fn merge_into(target: &mut Value, changes: &Value) {
    let target = target.as_object_mut().unwrap();
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            target.remove(name);
        } else {
            target.insert(name.clone(), value.clone());
        }
    }
}

/// `base` with `changes` merged in (a `null` removes the member).
pub fn with(base: &Value, changes: Value) -> Value {
    let mut out = base.clone();
    merge_into(&mut out, &changes);
    out
}

// ---------------------------------------------------------------------------------------------
// Verifying
// ---------------------------------------------------------------------------------------------

/// Verifies and expects success.
#[track_caller]
pub fn accepted(result: Result<VerifiedToken, Error>, what: &str) -> VerifiedToken {
    match result {
        Ok(token) => token,
        Err(err) => panic!("{what}: expected acceptance, got {err:?}"),
    }
}

/// Verifies and expects a refusal.
#[track_caller]
pub fn refused(result: Result<VerifiedToken, Error>, what: &str) -> Error {
    match result {
        Ok(token) => panic!(
            "{what}: expected refusal, accepted {:?}",
            token.claims_json()
        ),
        Err(err) => err,
    }
}

pub async fn accept(verifier: &Verifier, token: &str, what: &str) -> VerifiedToken {
    accepted(verifier.verify_token(token).await, what)
}

pub async fn refuse(verifier: &Verifier, token: &str, what: &str) -> Error {
    refused(verifier.verify_token(token).await, what)
}

/// `InvalidClaim` naming `claim`.
#[track_caller]
pub fn assert_invalid(err: &Error, claim: &str) {
    assert!(
        matches!(err, Error::InvalidClaim { claim: c, .. } if c == claim),
        "expected InvalidClaim {{ claim: {claim:?} }}, got {err:?}"
    );
}

/// `MissingClaim(claim)`.
#[track_caller]
pub fn assert_missing(err: &Error, claim: &str) {
    assert!(
        matches!(err, Error::MissingClaim(c) if c == claim),
        "expected MissingClaim({claim:?}), got {err:?}"
    );
}

/// `WrongIssuer` with `actual`.
#[track_caller]
pub fn assert_wrong_issuer(err: &Error, actual: &str) {
    assert!(
        matches!(err, Error::WrongIssuer { actual: a, .. } if a == actual),
        "expected WrongIssuer {{ actual: {actual:?} }}, got {err:?}"
    );
}

#[track_caller]
pub fn assert_wrong_audience(err: &Error) {
    assert!(
        matches!(err, Error::WrongAudience { .. }),
        "expected WrongAudience, got {err:?}"
    );
}
