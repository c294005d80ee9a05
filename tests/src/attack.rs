//! The attack kit shared by the two attack suites: `crates/tollgate/tests/attacks.rs` (through
//! `AuthLayer` + axum) and `crates/tollgate-cli/tests/attacks.rs` (through the built `tollgate
//! serve` binary). Catalog: `jwt-attacks.md` (sections A-H).
//!
//! - the independent signer: this crate's test keys ([`crate::keys`]) on the workspace's test
//!   signer (aws-lc-rs, never the code under test), with full control over header, payload and
//!   signature bytes;
//! - a loopback key server that counts its requests (the legitimate JWKS, or an attacker's
//!   server that must never be contacted);
//! - a bounded HTTP client: every answer must come within [`ANSWER_BOUND`];
//! - the crafted tokens of each attack.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tollgate_core::Algorithm;

use crate::server::{Loopback, Route};
use crate::{b64, claims, keys, sign_bytes};

/// Every answer, refusal or not, must arrive within this.
pub const ANSWER_BOUND: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// A loopback key server
// ---------------------------------------------------------------------------------------------

/// What the key server answers.
#[derive(Clone, Debug)]
pub enum Serve {
    /// 200 with this JSON body (and `Cache-Control: max-age=300`).
    Json(String),
    /// This status, body `oops`.
    Status(u16),
}

impl Serve {
    fn route(self) -> Route {
        match self {
            Serve::Json(body) => Route::json(body).cache_control("max-age=300"),
            Serve::Status(code) => Route::status(code),
        }
    }
}

/// An HTTP server on 127.0.0.1 that answers every path the same way and counts requests.
#[derive(Debug)]
pub struct KeyServer {
    /// The socket address it listens on.
    pub addr: SocketAddr,
    server: Arc<Loopback>,
}

impl KeyServer {
    /// Serves the test keys' public JWK Set (`rsa`, `ec256`, `ec384`, `ed`).
    pub async fn test_jwks() -> Arc<KeyServer> {
        KeyServer::start(Serve::Json(crate::jwks_value().to_string())).await
    }

    /// Starts a server answering every path with `answer`.
    pub async fn start(answer: Serve) -> Arc<KeyServer> {
        let server = Loopback::start().await;
        server.fallback(answer.route());
        Arc::new(KeyServer {
            addr: server.addr,
            server,
        })
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// The URL of `/jwks`.
    pub fn jwks_url(&self) -> String {
        self.url("/jwks")
    }

    /// Requests served so far.
    pub fn hits(&self) -> usize {
        self.server.total_hits()
    }

    /// Path and query of every request so far.
    pub fn paths(&self) -> Vec<String> {
        self.server.requests()
    }

    /// Changes the answer.
    pub fn set(&self, answer: Serve) {
        self.server.fallback(answer.route());
    }
}

// ---------------------------------------------------------------------------------------------
// Bounded requests and their answers
// ---------------------------------------------------------------------------------------------

/// An answer: status, `WWW-Authenticate`, body, and how long it took.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The `WWW-Authenticate` header.
    pub challenge: Option<String>,
    /// The body.
    pub body: String,
    /// From sending the request to the end of the body.
    pub elapsed: Duration,
}

impl Answer {
    /// The `error="..."` attribute of the challenge.
    pub fn error_code(&self) -> Option<String> {
        attribute(self.challenge.as_deref()?, "error")
    }

    /// The `error_description="..."` attribute of the challenge.
    pub fn description(&self) -> Option<String> {
        attribute(self.challenge.as_deref()?, "error_description")
    }

    /// The JSON body's `error` (also present when there is no challenge, e.g. 503).
    pub fn body_error(&self) -> Option<String> {
        let body: Value = serde_json::from_str(&self.body).ok()?;
        body["error"].as_str().map(str::to_owned)
    }
}

fn attribute(challenge: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = challenge.find(&needle)? + needle.len();
    let end = challenge[start..].find('"')?;
    Some(challenge[start..start + end].to_owned())
}

/// A client that never uses a proxy; its own timeout is a backstop behind [`ANSWER_BOUND`].
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(ANSWER_BOUND + Duration::from_secs(5))
        .build()
        .unwrap()
}

/// GETs `url` with `headers`; panics unless the answer arrives within [`ANSWER_BOUND`].
pub async fn get(client: &reqwest::Client, url: &str, headers: &[(&str, String)]) -> Answer {
    let mut request = client.get(url);
    for (name, value) in headers {
        request = request.header(*name, value.as_str());
    }
    send(request).await
}

/// Sends `request`; panics unless the answer (body included) arrives within [`ANSWER_BOUND`].
pub async fn send(request: reqwest::RequestBuilder) -> Answer {
    let started = Instant::now();
    let work = async {
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.text().await.unwrap_or_default();
        (status, challenge, body)
    };
    let (status, challenge, body) = tokio::time::timeout(ANSWER_BOUND, work)
        .await
        .unwrap_or_else(|_| panic!("no answer within {ANSWER_BOUND:?}"));
    Answer {
        status,
        challenge,
        body,
        elapsed: started.elapsed(),
    }
}

/// An `Authorization: Bearer <token>` header.
pub fn bearer(token: &str) -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {token}"))]
}

/// Asserts a 401 `invalid_token` with this public description (the RFC 6750 challenge and the
/// JSON body agree).
#[track_caller]
pub fn assert_invalid_token(answer: &Answer, description: &str, what: &str) {
    assert_eq!(answer.status, 401, "{what}: {answer:?}");
    assert_eq!(
        answer.error_code().as_deref(),
        Some("invalid_token"),
        "{what}: {answer:?}"
    );
    assert_eq!(
        answer.description().as_deref(),
        Some(description),
        "{what}: {answer:?}"
    );
    assert_eq!(
        answer.body_error().as_deref(),
        Some("invalid_token"),
        "{what}: {answer:?}"
    );
}

/// Asserts a 400 `invalid_request` with this public description.
#[track_caller]
pub fn assert_invalid_request(answer: &Answer, description: &str, what: &str) {
    assert_eq!(answer.status, 400, "{what}: {answer:?}");
    assert_eq!(
        answer.error_code().as_deref(),
        Some("invalid_request"),
        "{what}: {answer:?}"
    );
    assert_eq!(
        answer.description().as_deref(),
        Some(description),
        "{what}: {answer:?}"
    );
}

/// Asserts a bare 401 challenge: no credentials were found (RFC 6750 3.1: no error code).
#[track_caller]
pub fn assert_no_credentials(answer: &Answer, what: &str) {
    assert_eq!(answer.status, 401, "{what}: {answer:?}");
    assert_eq!(
        answer.challenge.as_deref(),
        Some(r#"Bearer realm="api""#),
        "{what}: {answer:?}"
    );
}

/// Asserts a 503 `temporarily_unavailable` (keys could not be obtained): no challenge, the code
/// in the body, and nothing internal (URLs, reasons) leaked.
#[track_caller]
pub fn assert_unavailable(answer: &Answer, what: &str) {
    assert_eq!(answer.status, 503, "{what}: {answer:?}");
    assert_eq!(answer.challenge, None, "{what}: {answer:?}");
    assert_eq!(
        answer.body_error().as_deref(),
        Some("temporarily_unavailable"),
        "{what}: {answer:?}"
    );
    assert!(
        !answer.body.contains("127.0.0.1") && !answer.body.contains("http"),
        "{what}: internal detail leaked: {}",
        answer.body
    );
}

pub use descriptions::*;

/// The public descriptions (`error_description`) of the refusals: `tollgate_core`'s
/// `Error::public_description` and the layer's own. Each name says which refusal it is.
#[allow(missing_docs)]
pub mod descriptions {
    pub const UNSIGNED: &str = "unsigned tokens are not accepted";
    pub const ALG_NOT_ACCEPTED: &str = "the token signing algorithm is not accepted";
    pub const ALG_KEY_MISMATCH: &str = "the token algorithm does not match its key";
    pub const KEY_NOT_RECOGNIZED: &str = "the token signing key is not recognized";
    pub const BAD_SIGNATURE: &str = "the token signature is invalid";
    pub const SIGNATURE_LENGTH: &str = "the token signature has the wrong length";
    pub const CRIT: &str = "the token requires unsupported header extensions";
    pub const UNSUPPORTED_HEADER: &str = "the token header is not supported";
    pub const BAD_HEADER: &str = "the token header is not a valid JSON object";
    pub const BAD_PAYLOAD: &str = "the token payload is not a JSON object";
    pub const DUPLICATE: &str = "the token repeats a JSON member name";
    pub const SEGMENTS: &str = "the token must have exactly three dot-separated segments";
    pub const EMPTY_SEGMENT: &str = "a token segment is empty";
    pub const BASE64: &str = "a token segment is not valid unpadded base64url";
    pub const KID_TOO_LONG: &str = "the token key id is too long";
    pub const TOO_LARGE: &str = "the access token is too large";
    pub const EXPIRED: &str = "the access token expired";
    pub const NOT_YET_VALID: &str = "the access token is not valid yet";
    pub const FUTURE_IAT: &str = "the access token was issued in the future";
    pub const MISSING_CLAIM: &str = "the token lacks a required claim";
    pub const INVALID_CLAIM: &str = "the token has an invalid claim";
    pub const WRONG_ISSUER: &str = "the token issuer is not accepted";
    pub const WRONG_AUDIENCE: &str = "the token audience is not accepted";
    pub const WRONG_TYPE: &str = "the token type is not accepted";
    pub const UNREADABLE: &str = "the token payload holds a value that cannot be read";
    pub const MALFORMED_AUTHORIZATION: &str =
        "the Authorization header must be `Bearer` followed by exactly one token";
    pub const TWO_HEADERS: &str = "more than one Authorization header";
    pub const SENT_TWICE: &str = "the access token was sent more than once";
}

// ---------------------------------------------------------------------------------------------
// Crafting tokens
// ---------------------------------------------------------------------------------------------

/// `header.payload.signature` from exact JSON texts and signature bytes (nothing is signed).
pub fn forge(header: &str, payload: &str, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.as_bytes()),
        b64(payload.as_bytes()),
        b64(signature)
    )
}

/// Signs exact header and payload texts with the test key of `alg`.
pub fn signed(alg: Algorithm, header: &str, payload: &str) -> String {
    crate::sign_raw(alg, header, payload)
}

/// The standard header of `alg` (`alg`, the test key's `kid`, `typ: JWT`) plus `extra` members.
pub fn header_with(alg: Algorithm, extra: Value) -> String {
    let mut header = json!({"alg": alg.as_str(), "kid": crate::kid_for(alg), "typ": "JWT"});
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            header.as_object_mut().unwrap().remove(k);
        } else {
            header[k] = v.clone();
        }
    }
    header.to_string()
}

/// A valid token of `alg` whose header has `extra` members (a `null` removes one).
pub fn signed_with_header(alg: Algorithm, extra: Value) -> String {
    signed(alg, &header_with(alg, extra), &claims().to_string())
}

/// A valid token of `alg` with these claims.
pub fn signed_claims(alg: Algorithm, claims: &Value) -> String {
    crate::sign(alg, claims)
}

/// HMAC-SHA-256 of `input` under `secret`.
pub fn hmac_sha256(secret: &[u8], input: &[u8]) -> Vec<u8> {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    aws_lc_rs::hmac::sign(&key, input).as_ref().to_vec()
}

/// An HS256 token over `header`/`payload` MACed with `secret`.
pub fn hs256_with_secret(header: &str, payload: &str, secret: &[u8]) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    format!("{input}.{}", b64(&hmac_sha256(secret, input.as_bytes())))
}

/// A token of HMAC algorithm `alg` over `header`/`payload` MACed with `secret`.
pub fn hmac_with_secret(alg: Algorithm, header: &str, payload: &str, secret: &[u8]) -> String {
    let algorithm = match alg {
        Algorithm::HS256 => aws_lc_rs::hmac::HMAC_SHA256,
        Algorithm::HS384 => aws_lc_rs::hmac::HMAC_SHA384,
        Algorithm::HS512 => aws_lc_rs::hmac::HMAC_SHA512,
        other => panic!("{other} is not an HMAC algorithm"),
    };
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let key = aws_lc_rs::hmac::Key::new(algorithm, secret);
    let mac = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64(mac.as_ref()))
}

/// The segments of a token.
pub fn segments(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

/// The token with its signature replaced by `signature`.
pub fn with_signature(token: &str, signature: &[u8]) -> String {
    let s = segments(token);
    format!("{}.{}.{}", s[0], s[1], b64(signature))
}

/// A.1: `alg: none` in the four jwt_tool spellings, each with an empty and a random signature.
pub fn alg_none_tokens() -> Vec<(String, String)> {
    let payload = claims().to_string();
    let mut out = Vec::new();
    for spelling in ["none", "None", "NONE", "nOnE"] {
        let header = json!({"alg": spelling, "typ": "JWT"}).to_string();
        out.push((
            format!("{spelling}, empty signature"),
            forge(&header, &payload, b""),
        ));
        out.push((
            format!("{spelling}, random signature"),
            forge(&header, &payload, b"signature"),
        ));
    }
    out
}

/// The RSA test key's public half in every encoding an attacker might HMAC with (A.2): DER
/// SPKI, PEM (with and without the trailing newline, CRLF, leading whitespace), PKCS#1 DER and
/// PEM, the JWK JSON, the raw modulus.
pub fn rsa_public_key_encodings() -> Vec<(&'static str, Vec<u8>)> {
    let rsa = &keys().rsa;
    let spki = rsa.public_key_spki_der().unwrap();
    let pkcs1 = rsa.public_key_bytes().unwrap().to_vec();
    let pem = |label: &str, der: &[u8]| {
        let body = STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    };
    let spki_pem = pem("PUBLIC KEY", &spki);
    let (n, e) = crate::rsa_components();
    let jwk = json!({"kty": "RSA", "kid": "rsa", "use": "sig", "n": b64(&n), "e": b64(&e)});
    vec![
        ("DER SPKI", spki.clone()),
        ("PEM SPKI with newline", spki_pem.clone().into_bytes()),
        (
            "PEM SPKI without newline",
            spki_pem.trim_end().to_owned().into_bytes(),
        ),
        (
            "PEM SPKI with CRLF",
            spki_pem.replace('\n', "\r\n").into_bytes(),
        ),
        (
            "PEM SPKI whitespace-prefixed",
            format!("  \n{spki_pem}").into_bytes(),
        ),
        ("PKCS#1 DER", pkcs1.clone()),
        ("PKCS#1 PEM", pem("RSA PUBLIC KEY", &pkcs1).into_bytes()),
        ("JWK JSON", jwk.to_string().into_bytes()),
        ("modulus n", n),
    ]
}

/// DER `SEQUENCE { INTEGER r, INTEGER s }` of a raw `r || s` ECDSA signature (A.4).
pub fn ecdsa_raw_to_der(raw: &[u8]) -> Vec<u8> {
    let (r, s) = raw.split_at(raw.len() / 2);
    let int = |v: &[u8]| {
        let trimmed: Vec<u8> = {
            let start = v.iter().position(|&b| b != 0).unwrap_or(v.len() - 1);
            v[start..].to_vec()
        };
        let mut content = Vec::new();
        if trimmed[0] & 0x80 != 0 {
            content.push(0);
        }
        content.extend_from_slice(&trimmed);
        let mut out = vec![0x02, content.len() as u8];
        out.extend(content);
        out
    };
    let mut body = int(r);
    body.extend(int(s));
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

/// The order `n` of P-256 (Wycheproof `rIsN_sIsN`).
pub const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// B.1: the jwt_tool playbook's `kid` injections.
pub const KID_INJECTIONS: &[&str] = &[
    "../../../../../../dev/null",
    "/dev/null",
    "/invalid_path",
    "|sleep 10",
    "| curl http://127.0.0.1:9/x",
    "x' UNION SELECT '1';--",
    "$(sleep 10)",
    "`sleep 10`",
    "%00",
    "",
];

/// A signature made with the test key of `alg` over `input` (for splicing).
pub fn sign_input(alg: Algorithm, input: &str) -> Vec<u8> {
    sign_bytes(alg, input.as_bytes())
}

/// An attacker's P-256 key and a self-signed certificate for it, base64 (standard) DER as in
/// `x5c` (B.3).
pub fn attacker_certificate() -> (String, aws_lc_rs::signature::EcdsaKeyPair) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["issuer.example.com".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let pair = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &key.serialize_der(),
    )
    .unwrap();
    (STANDARD.encode(cert.der()), pair)
}

/// Signs `header`/`payload` with an attacker's ECDSA P-256 key (ES256, raw `r || s`).
pub fn es256_with(
    pair: &aws_lc_rs::signature::EcdsaKeyPair,
    header: &str,
    payload: &str,
) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let sig = pair
        .sign(&aws_lc_rs::rand::SystemRandom::new(), input.as_bytes())
        .unwrap();
    format!("{input}.{}", b64(sig.as_ref()))
}

/// Signs `header`/`payload` with an attacker's Ed25519 key.
pub fn eddsa_with(
    pair: &aws_lc_rs::signature::Ed25519KeyPair,
    header: &str,
    payload: &str,
) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    format!("{input}.{}", b64(pair.sign(input.as_bytes()).as_ref()))
}

/// The public JWK of an attacker's Ed25519 key.
pub fn ed25519_jwk(pair: &aws_lc_rs::signature::Ed25519KeyPair, kid: &str) -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(pair.public_key().as_ref())})
}

/// A PKCS#1 v1.5 SHA-256 encoded message `EM` for a 2048-bit modulus: with a public exponent of
/// 1, `EM` itself is a valid "signature" (A.6: `e = 1` keys must be refused at load).
pub fn pkcs1_sha256_em(input: &[u8]) -> Vec<u8> {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, input);
    let prefix: [u8; 19] = [
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    let t_len = prefix.len() + digest.as_ref().len();
    let mut em = vec![0x00, 0x01];
    em.extend(std::iter::repeat_n(0xff, 256 - t_len - 3));
    em.push(0x00);
    em.extend_from_slice(&prefix);
    em.extend_from_slice(digest.as_ref());
    em
}

/// The token with segment `index` re-spelled non-canonically (unused trailing bits flipped).
pub fn respell_segment(token: &str, index: usize) -> Option<String> {
    let mut s = segments(token);
    let seg = &s[index];
    let unused = match seg.len() % 4 {
        2 => 0b1111,
        3 => 0b11,
        _ => return None,
    };
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = seg.clone().into_bytes();
    let last = bytes.pop().unwrap();
    let idx = alphabet.iter().position(|&c| c == last).unwrap();
    bytes.push(alphabet[(idx & !unused) | ((idx + 1) & unused)]);
    s[index] = String::from_utf8(bytes).unwrap();
    Some(s.join("."))
}
