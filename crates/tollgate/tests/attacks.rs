//! The JWT attack catalog (`jwt-attacks.md`, sections A-H) driven through `AuthLayer` + axum
//! over real loopback HTTP: one test per attack, named for it. Every case asserts the exact
//! status, the RFC 6750 `error` (and public description) of the `WWW-Authenticate` challenge,
//! and that the answer came within a bounded time. Tokens are forged with the workspace's
//! independent test signer (aws-lc-rs, `tollgate-test-support`), never with the code under test.
//!
//! Not covered here: G.2 (constant-time MAC comparison: aws-lc-rs `hmac::verify`, not
//! observable reliably over HTTP) and H.3 (Lambda authorizer caching: `tollgate-lambda`'s tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};
use support::attack::*;
use support::{AUDIENCE, ISSUER, b64, claims, claims_with, now};
use tollgate::core::remote::{JwksSource, OidcSource, RemoteError};
use tollgate::core::{
    Algorithm, ConfigError, CryptoProvider, KeyError, KeySet, Validation, VerificationKey, Verifier,
};
use tollgate::{AuthLayer, Authenticated, ForwardClaimsLayer};
use tollgate_test_support as support;

// ---------------------------------------------------------------------------------------------
// The protected app
// ---------------------------------------------------------------------------------------------

async fn me(auth: Authenticated) -> String {
    auth.subject().unwrap_or("?").to_owned()
}

fn app(layer: AuthLayer) -> Router {
    Router::new().route("/me", get(me).post(me)).layer(layer)
}

/// A running app and a client for it.
struct Target {
    addr: SocketAddr,
    http: reqwest::Client,
}

impl Target {
    async fn start(router: Router) -> Target {
        Target {
            addr: support::server::serve(router).await,
            http: client(),
        }
    }

    async fn layer(layer: AuthLayer) -> Target {
        Target::start(app(layer)).await
    }

    async fn verifier(verifier: Verifier) -> Target {
        Target::layer(AuthLayer::new(verifier)).await
    }

    /// Every test key in memory, every algorithm allowed (the worst case for confusion).
    async fn all_keys() -> Target {
        Target::verifier(support::default_verifier()).await
    }

    /// Keys from a JWKS on loopback, fetched over HTTP.
    async fn remote(jwks_url: &str, policy: Validation) -> Target {
        let keys = JwksSource::builder(jwks_url)
            .timeout(Duration::from_secs(2))
            .connect_timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        Target::verifier(Verifier::new(policy, keys, CryptoProvider::default())).await
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn get(&self, path: &str, headers: &[(&str, String)]) -> Answer {
        support::attack::get(&self.http, &self.url(path), headers).await
    }

    async fn token(&self, token: &str) -> Answer {
        self.get("/me", &bearer(token)).await
    }

    async fn authorization(&self, value: &str) -> Answer {
        self.get("/me", &[("authorization", value.to_owned())])
            .await
    }

    /// A valid token passes: the refusals around it are the attack's, not a broken set-up.
    async fn assert_accepts(&self, token: &str, what: &str) {
        let answer = self.token(token).await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (200, "user-1"),
            "{what}: {answer:?}"
        );
    }

    async fn assert_refuses(&self, token: &str, description: &str, what: &str) {
        assert_invalid_token(&self.token(token).await, description, what);
    }
}

fn all_algorithms() -> Validation {
    support::policy().build().unwrap()
}

fn policy_for(algorithms: impl IntoIterator<Item = Algorithm>) -> Validation {
    Validation::builder(algorithms)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap()
}

fn policy_for_issuer(issuer: &str) -> Validation {
    Validation::builder(Algorithm::ALL)
        .issuer(issuer)
        .audience(AUDIENCE)
        .build()
        .unwrap()
}

fn es256() -> String {
    signed_claims(Algorithm::ES256, &claims())
}

/// Claims text with `member` replaced by raw JSON text (or removed when `None`).
fn payload_with_raw(member: &str, raw: Option<&str>) -> String {
    let mut c = claims();
    c.as_object_mut().unwrap().remove(member);
    let base = c.to_string();
    match raw {
        None => base,
        Some(raw) => format!("{{\"{member}\":{raw},{}", &base[1..]),
    }
}

// ---------------------------------------------------------------------------------------------
// A. Algorithm handling
// ---------------------------------------------------------------------------------------------

/// A.1 (CVE-2015-2951): `none`, `None`, `NONE`, `nOnE`, with an empty and a random signature.
#[tokio::test]
async fn alg_none_in_every_spelling() {
    let target = Target::all_keys().await;
    for (what, token) in alg_none_tokens() {
        target.assert_refuses(&token, UNSIGNED, &what).await;
    }
    target.assert_accepts(&es256(), "control").await;
}

/// A.1: empty, missing, non-string and unknown `alg` values.
#[tokio::test]
async fn alg_missing_empty_or_not_a_string() {
    let target = Target::all_keys().await;
    let payload = claims().to_string();
    for (header, description) in [
        (json!({"alg": ""}), ALG_NOT_ACCEPTED),
        (json!({"alg": "rs256"}), ALG_NOT_ACCEPTED),
        (json!({"alg": "RS1"}), ALG_NOT_ACCEPTED),
        (json!({"alg": "HS256 "}), ALG_NOT_ACCEPTED),
        (json!({"alg": "none\u{0000}"}), ALG_NOT_ACCEPTED),
        (json!({"kid": "rsa"}), BAD_HEADER),
        (json!({"alg": null}), BAD_HEADER),
        (json!({"alg": 256}), BAD_HEADER),
        (json!({"alg": ["RS256"]}), BAD_HEADER),
    ] {
        let token = forge(&header.to_string(), &payload, b"signature");
        target
            .assert_refuses(&token, description, &header.to_string())
            .await;
    }
}

/// A.2 (CVE-2015-9235, CVE-2016-10555): `alg` switched to HS256 and the token MACed with the
/// issuer's public key in every encoding. The verifier holds only the public JWK Set and allows
/// every algorithm (the worst case): keys are typed, so it fails before any MAC is computed.
#[tokio::test]
async fn rs256_to_hs256_key_confusion_with_public_key_as_secret() {
    let public_only = KeySet::from_jwks(&support::jwks_value().to_string()).unwrap();
    let target = Target::verifier(Verifier::new(
        all_algorithms(),
        public_only,
        CryptoProvider::default(),
    ))
    .await;
    let payload = claims().to_string();
    for (encoding, secret) in rsa_public_key_encodings() {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let header = json!({"alg": alg.as_str(), "kid": "rsa", "typ": "JWT"}).to_string();
            let token = hmac_with_secret(alg, &header, &payload, &secret);
            target
                .assert_refuses(&token, ALG_KEY_MISMATCH, &format!("{alg} with {encoding}"))
                .await;
        }
        // Without a kid there is no HMAC key to pick at all.
        let header = json!({"alg": "HS256", "typ": "JWT"}).to_string();
        let token = hs256_with_secret(&header, &payload, &secret);
        target
            .assert_refuses(&token, KEY_NOT_RECOGNIZED, &format!("no kid, {encoding}"))
            .await;
    }
    target
        .assert_accepts(&signed_claims(Algorithm::RS256, &claims()), "control")
        .await;

    // The usual configuration (RS256 only) refuses HS256 at the allow-list.
    let rs_only = Target::verifier(Verifier::new(
        policy_for([Algorithm::RS256]),
        KeySet::from_jwks(&support::jwks_value().to_string()).unwrap(),
        CryptoProvider::default(),
    ))
    .await;
    let (_, spki) = rsa_public_key_encodings().remove(0);
    let header = json!({"alg": "HS256", "kid": "rsa"}).to_string();
    rs_only
        .assert_refuses(
            &hs256_with_secret(&header, &payload, &spki),
            ALG_NOT_ACCEPTED,
            "RS256-only policy",
        )
        .await;
}

/// A.3: a token whose `alg` does not fit the selected key's type or curve (or the JWK's own
/// `alg`), each genuinely signed with a key of the header's algorithm.
#[tokio::test]
async fn asymmetric_algorithm_and_key_type_mismatch() {
    let target = Target::all_keys().await;
    let payload = claims().to_string();
    for (alg, kid) in [
        (Algorithm::ES384, "ec256"),
        (Algorithm::ES256, "ec384"),
        (Algorithm::RS256, "ec256"),
        (Algorithm::PS256, "ec256"),
        (Algorithm::RS256, "ed"),
        (Algorithm::EdDSA, "rsa"),
        (Algorithm::ES256, "rsa"),
        (Algorithm::HS256, "ec256"),
    ] {
        let header = json!({"alg": alg.as_str(), "kid": kid}).to_string();
        target
            .assert_refuses(
                &signed(alg, &header, &payload),
                ALG_KEY_MISMATCH,
                &format!("{alg} with kid {kid}"),
            )
            .await;
    }
    // A JWK that names its algorithm (RS256) refuses PS256 from the same RSA key.
    let (n, e) = support::rsa_components();
    let jwks = json!({"keys": [
        {"kty": "RSA", "kid": "rsa", "alg": "RS256", "use": "sig", "n": b64(&n), "e": b64(&e)}
    ]});
    let restricted = Target::verifier(Verifier::new(
        all_algorithms(),
        KeySet::from_jwks(&jwks.to_string()).unwrap(),
        CryptoProvider::default(),
    ))
    .await;
    restricted
        .assert_refuses(
            &signed_claims(Algorithm::PS256, &claims()),
            ALG_KEY_MISMATCH,
            "PS256 vs an RS256 JWK",
        )
        .await;
    restricted
        .assert_accepts(&signed_claims(Algorithm::RS256, &claims()), "control")
        .await;
}

/// A.4 (CVE-2022-21449): "psychic signatures", `r = s = 0` raw and DER, `r = s = n`, and zero
/// halves, for ES256 and ES384.
#[tokio::test]
async fn psychic_signature_ecdsa_zero_rs() {
    let target = Target::all_keys().await;
    let es256 = es256();
    let es384 = signed_claims(Algorithm::ES384, &claims());
    let genuine = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &segments(&es256)[2],
    )
    .unwrap();
    let mut r_zero = genuine.clone();
    r_zero[..32].fill(0);
    let mut s_zero = genuine.clone();
    s_zero[32..].fill(0);
    let n_n = [P256_ORDER, P256_ORDER].concat();
    for (what, token, description) in [
        (
            "ES256 r=s=0",
            with_signature(&es256, &[0; 64]),
            BAD_SIGNATURE,
        ),
        ("ES256 r=0", with_signature(&es256, &r_zero), BAD_SIGNATURE),
        ("ES256 s=0", with_signature(&es256, &s_zero), BAD_SIGNATURE),
        ("ES256 r=s=n", with_signature(&es256, &n_n), BAD_SIGNATURE),
        (
            "ES256 r=s=0xff..",
            with_signature(&es256, &[0xff; 64]),
            BAD_SIGNATURE,
        ),
        (
            "ES384 r=s=0",
            with_signature(&es384, &[0; 96]),
            BAD_SIGNATURE,
        ),
        (
            "DER r=s=0 (MAYCAQACAQA)",
            format!(
                "{}.{}.MAYCAQACAQA",
                segments(&es256)[0],
                segments(&es256)[1]
            ),
            SIGNATURE_LENGTH,
        ),
        (
            "ES256 96 zero bytes",
            with_signature(&es256, &[0; 96]),
            SIGNATURE_LENGTH,
        ),
    ] {
        target.assert_refuses(&token, description, what).await;
    }
    target.assert_accepts(&es256, "control").await;
}

/// A.4: a genuine ECDSA signature re-encoded as DER (what a non-JOSE library emits) is refused:
/// JWS signatures are raw `r || s` of fixed length.
#[tokio::test]
async fn ecdsa_der_signature_instead_of_raw() {
    let target = Target::all_keys().await;
    for alg in [Algorithm::ES256, Algorithm::ES384] {
        let token = signed_claims(alg, &claims());
        let raw = base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            &segments(&token)[2],
        )
        .unwrap();
        let der = ecdsa_raw_to_der(&raw);
        target
            .assert_refuses(
                &with_signature(&token, &der),
                SIGNATURE_LENGTH,
                &format!("{alg} DER"),
            )
            .await;
        target.assert_accepts(&token, &format!("{alg} raw")).await;
    }
}

/// A.5: RSA signature values 0, 1, n-1, n, all-ones, and a genuine signature with a zero byte
/// prepended or appended.
#[tokio::test]
async fn rsa_signature_edge_values() {
    let target = Target::all_keys().await;
    let token = signed_claims(Algorithm::RS256, &claims());
    let genuine = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &segments(&token)[2],
    )
    .unwrap();
    let (n, _) = support::rsa_components();
    let mut n_minus_1 = n.clone();
    *n_minus_1.last_mut().unwrap() -= 1;
    let mut one = vec![0u8; 256];
    one[255] = 1;
    let prepended = [&[0u8][..], &genuine].concat();
    let appended = [&genuine[..], &[0u8]].concat();
    for (what, signature) in [
        ("0", vec![0u8; 256]),
        ("1", one),
        ("n-1", n_minus_1),
        ("n", n.clone()),
        ("all ones", vec![0xff; 256]),
        ("zero prepended", prepended),
        ("zero appended", appended),
    ] {
        target
            .assert_refuses(&with_signature(&token, &signature), BAD_SIGNATURE, what)
            .await;
    }
    target.assert_accepts(&token, "control").await;
}

/// A.6, E.2: a JWK Set carrying a 1024-bit RSA key, an `e = 1` RSA key (whose "signature" is
/// the encoded message itself: a real forgery if loaded), an off-curve EC point and a symmetric
/// `oct` key. None is loaded; tokens naming them are refused; the good key still works.
#[tokio::test]
async fn weak_and_invalid_keys_in_jwks_never_verify() {
    let (n, e) = support::rsa_components();
    let mut weak_n = vec![0xc5u8; 128];
    weak_n[127] |= 1;
    let secret = [7u8; 32];
    let mut one_y = [0u8; 32];
    one_y[31] = 1;
    let good = support::jwks_value()["keys"][1].clone(); // ec256
    let jwks = json!({"keys": [
        {"kty": "RSA", "kid": "rsa1024", "n": b64(&weak_n), "e": b64(&e)},
        {"kty": "RSA", "kid": "e1", "n": b64(&n), "e": "AQ"},
        {"kty": "EC", "kid": "offcurve", "crv": "P-256", "x": b64(&one_y), "y": b64(&one_y)},
        {"kty": "oct", "kid": "oct", "k": b64(&secret)},
        good,
    ]});
    let server = KeyServer::start(Serve::Json(jwks.to_string())).await;
    let target = Target::remote(&server.jwks_url(), all_algorithms()).await;
    let payload = claims().to_string();

    let e1_header = json!({"alg": "RS256", "kid": "e1"}).to_string();
    let input = format!("{}.{}", b64(e1_header.as_bytes()), b64(payload.as_bytes()));
    let e1_forgery = format!("{input}.{}", b64(&pkcs1_sha256_em(input.as_bytes())));
    let oct_forgery = hs256_with_secret(
        &json!({"alg": "HS256", "kid": "oct"}).to_string(),
        &payload,
        &secret,
    );
    let rsa1024 = signed(
        Algorithm::RS256,
        &json!({"alg": "RS256", "kid": "rsa1024"}).to_string(),
        &payload,
    );
    let offcurve = signed(
        Algorithm::ES256,
        &json!({"alg": "ES256", "kid": "offcurve"}).to_string(),
        &payload,
    );
    for (what, token) in [
        ("e = 1 forgery", e1_forgery),
        ("oct key in a public JWKS", oct_forgery),
        ("1024-bit RSA", rsa1024),
    ] {
        target
            .assert_refuses(&token, KEY_NOT_RECOGNIZED, what)
            .await;
    }
    // An off-curve point is loaded (documented: `ec_from_coordinates` leaves the curve check to
    // the crypto backend), and the backend refuses to verify anything with it.
    target
        .assert_refuses(&offcurve, BAD_SIGNATURE, "off-curve point")
        .await;
    target.assert_accepts(&es256(), "control").await;
}

// ---------------------------------------------------------------------------------------------
// B. Key selection and header-parameter injection
// ---------------------------------------------------------------------------------------------

/// B.1: the jwt_tool playbook's `kid` injections (path traversal, SQL, shell), signed both with
/// a real key and with the "contents" of `/dev/null` (an empty HMAC secret). `kid` is only an
/// opaque map key: refused at once (`|sleep 10` does not sleep), and with a remote source the
/// key server only ever sees its own path.
#[tokio::test]
async fn kid_path_traversal_and_sql() {
    let server = KeyServer::test_jwks().await;
    let remote = Target::remote(&server.jwks_url(), all_algorithms()).await;
    let in_memory = Target::all_keys().await;
    let payload = claims().to_string();
    for kid in KID_INJECTIONS {
        let es = signed(
            Algorithm::ES256,
            &json!({"alg": "ES256", "kid": kid}).to_string(),
            &payload,
        );
        let hs_empty = hs256_with_secret(
            &json!({"alg": "HS256", "kid": kid}).to_string(),
            &payload,
            b"",
        );
        for target in [&remote, &in_memory] {
            for token in [&es, &hs_empty] {
                let answer = target.token(token).await;
                assert_invalid_token(&answer, KEY_NOT_RECOGNIZED, kid);
                assert!(
                    answer.elapsed < Duration::from_secs(3),
                    "{kid}: {:?}",
                    answer.elapsed
                );
            }
        }
    }
    remote.assert_accepts(&es256(), "control").await;
    let paths = server.paths();
    assert!(
        paths.iter().all(|p| p == "/jwks"),
        "a kid never reaches a URL: {paths:?}"
    );
}

/// B.1: `kid` is bounded (256 bytes) before it is used as a map, cache or log key; an oversized
/// `kid` never causes a key fetch.
#[tokio::test]
async fn kid_header_oversized() {
    let server = KeyServer::test_jwks().await;
    let target = Target::remote(&server.jwks_url(), all_algorithms()).await;
    target.assert_accepts(&es256(), "warm-up").await;
    let fetched = server.hits();
    for (len, description) in [(257, KID_TOO_LONG), (5000, KID_TOO_LONG)] {
        let token = signed_with_header(Algorithm::ES256, json!({"kid": "k".repeat(len)}));
        target
            .assert_refuses(&token, description, &format!("kid of {len} bytes"))
            .await;
    }
    assert_eq!(server.hits(), fetched, "refused before any key lookup");
    let at_limit = signed_with_header(Algorithm::ES256, json!({"kid": "k".repeat(256)}));
    target
        .assert_refuses(&at_limit, KEY_NOT_RECOGNIZED, "kid of 256 bytes")
        .await;
    let too_large = signed_with_header(Algorithm::ES256, json!({"kid": "k".repeat(9000)}));
    target
        .assert_refuses(&too_large, TOO_LARGE, "kid of 9000 bytes")
        .await;
}

/// B.2: `jku` and `x5u` point at an attacker's server publishing the attacker's key. It is never
/// contacted; the token is refused; a genuine token carrying the same hints is verified with
/// the configured keys only.
#[tokio::test]
async fn jku_x5u_header_injection_no_fetch() {
    let attacker_key = aws_lc_rs::signature::Ed25519KeyPair::generate().unwrap();
    let attacker = KeyServer::start(Serve::Json(
        json!({"keys": [ed25519_jwk(&attacker_key, "attacker")]}).to_string(),
    ))
    .await;
    let server = KeyServer::test_jwks().await;
    let target = Target::remote(&server.jwks_url(), all_algorithms()).await;
    let payload = claims().to_string();
    let hints = |kid: &str| {
        json!({
            "alg": "EdDSA", "kid": kid, "typ": "JWT",
            "jku": attacker.url("/jwks.json"),
            "x5u": attacker.url("/cert.pem"),
        })
        .to_string()
    };
    target
        .assert_refuses(
            &eddsa_with(&attacker_key, &hints("attacker"), &payload),
            KEY_NOT_RECOGNIZED,
            "attacker's kid",
        )
        .await;
    target
        .assert_refuses(
            &eddsa_with(&attacker_key, &hints("ed"), &payload),
            BAD_SIGNATURE,
            "the issuer's kid, the attacker's signature",
        )
        .await;
    let no_kid = json!({"alg": "EdDSA", "jku": attacker.url("/jwks.json")}).to_string();
    target
        .assert_refuses(
            &eddsa_with(&attacker_key, &no_kid, &payload),
            BAD_SIGNATURE,
            "no kid",
        )
        .await;
    // Hints are ignored, not trusted: the genuine key still verifies such a token.
    target
        .assert_accepts(&signed(Algorithm::EdDSA, &hints("ed"), &payload), "genuine")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(attacker.hits(), 0, "the attacker's URLs were never fetched");
}

/// B.3 (CVE-2018-0114): the token carries its own key, as `jwk` (Ed25519) or `x5c` (a
/// self-signed certificate), and is signed with it. Never a trust anchor.
#[tokio::test]
async fn jwk_header_injection_is_ignored() {
    let target = Target::all_keys().await;
    let payload = claims().to_string();
    let attacker = aws_lc_rs::signature::Ed25519KeyPair::generate().unwrap();
    for kid in [None, Some("attacker"), Some("ed")] {
        let mut header = json!({"alg": "EdDSA", "jwk": ed25519_jwk(&attacker, "attacker")});
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        let description = if kid == Some("attacker") {
            KEY_NOT_RECOGNIZED
        } else {
            BAD_SIGNATURE
        };
        target
            .assert_refuses(
                &eddsa_with(&attacker, &header.to_string(), &payload),
                description,
                &format!("jwk, kid {kid:?}"),
            )
            .await;
    }
    let (cert, pair) = attacker_certificate();
    for kid in [None, Some("ec256")] {
        let mut header = json!({"alg": "ES256", "x5c": [cert.clone()]});
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        target
            .assert_refuses(
                &es256_with(&pair, &header.to_string(), &payload),
                BAD_SIGNATURE,
                &format!("x5c, kid {kid:?}"),
            )
            .await;
    }
}

/// B.4: no `kid` and two candidate keys is ambiguous; a `kid` the JWK Set repeats is dropped as
/// ambiguous (the genuine signer cannot use it either); a single candidate without `kid` works.
#[tokio::test]
async fn missing_kid_with_several_keys_and_duplicate_kid() {
    let (n, e) = support::rsa_components();
    let rsa = |kid: &str| json!({"kty": "RSA", "kid": kid, "n": b64(&n), "e": b64(&e)});
    let mut ec_dup = support::jwks_value()["keys"][1].clone();
    ec_dup["kid"] = json!("dup");
    let jwks =
        json!({"keys": [rsa("a"), rsa("b"), rsa("dup"), ec_dup, support::jwks_value()["keys"][3]]});
    let server = KeyServer::start(Serve::Json(jwks.to_string())).await;
    let target = Target::remote(&server.jwks_url(), all_algorithms()).await;
    let payload = claims().to_string();
    target
        .assert_refuses(
            &signed(
                Algorithm::RS256,
                &json!({"alg": "RS256"}).to_string(),
                &payload,
            ),
            KEY_NOT_RECOGNIZED,
            "no kid, two RSA keys",
        )
        .await;
    for alg in [Algorithm::RS256, Algorithm::ES256] {
        let header = json!({"alg": alg.as_str(), "kid": "dup"}).to_string();
        target
            .assert_refuses(
                &signed(alg, &header, &payload),
                KEY_NOT_RECOGNIZED,
                &format!("{alg}, duplicated kid"),
            )
            .await;
    }
    target
        .assert_accepts(
            &signed(
                Algorithm::EdDSA,
                &json!({"alg": "EdDSA"}).to_string(),
                &payload,
            ),
            "no kid, one Ed25519 key",
        )
        .await;
}

/// B.5: the issuer's real RSA key published with `use: enc` or `key_ops` without `verify` (as
/// Keycloak publishes its RSA-OAEP key) never verifies a signature, even a genuine one; unknown
/// key types are skipped without breaking the set.
#[tokio::test]
async fn enc_use_and_key_ops_keys_never_verify() {
    let (n, e) = support::rsa_components();
    let jwks = json!({"keys": [
        {"kty": "RSA", "kid": "enc", "use": "enc", "alg": "RSA-OAEP", "n": b64(&n), "e": b64(&e)},
        {"kty": "RSA", "kid": "ops", "key_ops": ["encrypt", "wrapKey"], "n": b64(&n), "e": b64(&e)},
        {"kty": "FOO", "kid": "foo", "x": "AAAA"},
        {"kty": "EC", "kid": "bad-curve", "crv": "P-999", "x": "AAAA", "y": "AAAA"},
        support::jwks_value()["keys"][1],
    ]});
    let server = KeyServer::start(Serve::Json(jwks.to_string())).await;
    let target = Target::remote(&server.jwks_url(), all_algorithms()).await;
    let payload = claims().to_string();
    for kid in ["enc", "ops"] {
        let header = json!({"alg": "RS256", "kid": kid}).to_string();
        target
            .assert_refuses(
                &signed(Algorithm::RS256, &header, &payload),
                KEY_NOT_RECOGNIZED,
                kid,
            )
            .await;
    }
    target.assert_accepts(&es256(), "control").await;
}

/// B.6: any `crit` (RFC 7515 4.1.11), whatever its shape: no extension is understood.
#[tokio::test]
async fn crit_header_refused() {
    let target = Target::all_keys().await;
    for crit in [
        json!(["exp"]),
        json!([]),
        json!(["b64"]),
        json!(["crit"]),
        json!(["alg"]),
        json!(["exp", "exp"]),
        json!("exp"),
        json!(1),
        json!({"exp": true}),
    ] {
        let token = signed_with_header(
            Algorithm::ES256,
            json!({"crit": crit, "exp": now() + 60, "b64": true}),
        );
        target.assert_refuses(&token, CRIT, &crit.to_string()).await;
    }
    target
        .assert_accepts(
            &signed_with_header(Algorithm::ES256, json!({"b64": true})),
            "b64: true without crit is the default encoding",
        )
        .await;
}

/// RFC 7797: `b64: false` (unencoded payload), with and without `crit`, and its detached form.
#[tokio::test]
async fn b64_false_refused() {
    let target = Target::all_keys().await;
    let plain = signed_with_header(Algorithm::ES256, json!({"b64": false}));
    target
        .assert_refuses(&plain, UNSUPPORTED_HEADER, "b64: false")
        .await;
    let with_crit = signed_with_header(Algorithm::ES256, json!({"b64": false, "crit": ["b64"]}));
    target
        .assert_refuses(&with_crit, CRIT, "b64: false, crit: [b64]")
        .await;
    for value in [json!("false"), json!(0), json!(null)] {
        let header = format!(r#"{{"alg":"ES256","kid":"ec256","b64":{value}}}"#);
        let token = signed(Algorithm::ES256, &header, &claims().to_string());
        target
            .assert_refuses(&token, UNSUPPORTED_HEADER, &format!("b64: {value}"))
            .await;
    }
    // Unencoded payloads are signed over the raw payload; the detached compact form has an
    // empty payload segment.
    let header = header_with(Algorithm::ES256, json!({"b64": false, "crit": ["b64"]}));
    let raw_payload = claims().to_string();
    let input = format!("{}.{raw_payload}", b64(header.as_bytes()));
    let sig = sign_input(Algorithm::ES256, &input);
    let detached = format!("{}..{}", b64(header.as_bytes()), b64(&sig));
    target
        .assert_refuses(&detached, CRIT, "detached payload, crit: [b64]")
        .await;
}

/// C.6: nested JWT (`cty: JWT`, any case): the outer signature never vouches for an inner token.
#[tokio::test]
async fn nested_jwt_cty() {
    let target = Target::all_keys().await;
    let inner = es256();
    for cty in ["JWT", "jwt", "Jwt"] {
        let header = header_with(Algorithm::ES256, json!({"cty": cty}));
        for payload in [claims().to_string(), json!(inner).to_string()] {
            let token = signed(Algorithm::ES256, &header, &payload);
            target
                .assert_refuses(&token, UNSUPPORTED_HEADER, &format!("cty {cty}"))
                .await;
        }
    }
    // The inner token as the (non-object) payload of a plain outer token.
    let outer = signed(
        Algorithm::ES256,
        &header_with(Algorithm::ES256, json!({})),
        &json!(inner).to_string(),
    );
    target
        .assert_refuses(&outer, BAD_PAYLOAD, "JWT string as payload")
        .await;
    target
        .assert_accepts(
            &signed_with_header(Algorithm::ES256, json!({"cty": "json"})),
            "cty: json is not nesting",
        )
        .await;
}

/// C.6, RFC 7515 4.1.10: "a recipient MUST treat [a `cty`] as if `application/` were prepended
/// to any value not containing a `/`", so `application/jwt` is the same media type as `JWT`
/// (the policy's `typ` comparison already strips the prefix).
#[tokio::test]
async fn nested_jwt_cty_with_application_prefix() {
    let target = Target::all_keys().await;
    for cty in ["application/jwt", "application/JWT", "APPLICATION/JWT"] {
        let token = signed_with_header(Algorithm::ES256, json!({"cty": cty}));
        target
            .assert_refuses(&token, UNSUPPORTED_HEADER, &format!("cty {cty}"))
            .await;
    }
}

// ---------------------------------------------------------------------------------------------
// C. Parsing and encoding
// ---------------------------------------------------------------------------------------------

/// C.1: JWE (5 segments), the JWS JSON serializations (general and flattened), and every other
/// segment count or empty segment.
#[tokio::test]
async fn json_serialization_and_jwe_refused() {
    let target = Target::all_keys().await;
    let token = es256();
    let s = segments(&token);
    let jwe_header = b64(json!({"alg": "RSA-OAEP", "enc": "A256GCM", "kid": "rsa"})
        .to_string()
        .as_bytes());
    let jwe = format!(
        "{jwe_header}.{}.{}.{}.{}",
        b64(&[1; 256]),
        b64(&[2; 12]),
        s[1],
        b64(&[3; 16])
    );
    let dir = format!(
        "{}..{}.{}.{}",
        b64(json!({"alg": "dir", "enc": "A128GCM"})
            .to_string()
            .as_bytes()),
        b64(&[2; 12]),
        s[1],
        b64(&[3; 16])
    );
    let header = header_with(Algorithm::ES256, json!({}));
    let input = format!("{}.", b64(header.as_bytes()));
    let signed_empty = format!("{input}.{}", b64(&sign_input(Algorithm::ES256, &input)));
    for (what, bad, description) in [
        ("empty payload, genuinely signed", signed_empty, BAD_PAYLOAD),
        ("JWE, 5 segments", jwe, SEGMENTS),
        ("JWE dir, 5 segments", dir, SEGMENTS),
        ("2 segments", format!("{}.{}", s[0], s[1]), SEGMENTS),
        ("4 segments", format!("{token}.{}", s[2]), SEGMENTS),
        ("trailing dot", format!("{token}."), SEGMENTS),
        ("1 segment", s[1].clone(), SEGMENTS),
        ("leading dot", format!(".{}.{}", s[1], s[2]), EMPTY_SEGMENT),
        // The payload is decoded only after the signature verified (RFC 7515 allows an empty
        // payload; the claims check then refuses it): another token's signature fails first.
        (
            "empty payload",
            format!("{}..{}", s[0], s[2]),
            BAD_SIGNATURE,
        ),
        ("only dots", "..".to_owned(), EMPTY_SEGMENT),
    ] {
        target.assert_refuses(&bad, description, what).await;
    }
    // The JSON serializations are not b64tokens at all: a malformed request.
    let general = json!({"payload": s[1], "signatures": [{"protected": s[0], "signature": s[2]}]});
    let flattened = json!({"payload": s[1], "protected": s[0], "signature": s[2]});
    for serialization in [general, flattened] {
        let answer = target
            .authorization(&format!("Bearer {serialization}"))
            .await;
        assert_invalid_request(&answer, MALFORMED_AUTHORIZATION, "JSON serialization");
        // Base64url-wrapped, it is one segment.
        let wrapped = b64(serialization.to_string().as_bytes());
        target
            .assert_refuses(&wrapped, SEGMENTS, "wrapped JSON")
            .await;
    }
}

/// C.2: the size cap (8 KiB) applies before any splitting or decoding: a 100 KB token, 100 KB
/// of dots and a genuinely signed token just over the cap are refused fast; many dots under the
/// cap are cheap too (CVE-2025-30204 class).
#[tokio::test]
async fn token_too_large_before_parsing() {
    let target = Target::all_keys().await;
    let padded = claims_with("pad", Some(json!("x".repeat(6500))));
    let over_cap = signed_claims(Algorithm::ES256, &padded);
    assert!(over_cap.len() > 8192);
    for (what, token) in [
        ("100 KB", "a".repeat(100 * 1024)),
        ("100 KB of dots", ".".repeat(100 * 1024)),
        (
            "100 KB, three segments",
            format!("{0}.{0}.{0}", "a".repeat(34 * 1024)),
        ),
        ("8193 bytes", "a".repeat(8193)),
        ("signed, over the cap", over_cap),
    ] {
        let answer = target.token(&token).await;
        assert_invalid_token(&answer, TOO_LARGE, what);
        assert!(
            answer.elapsed < Duration::from_secs(1),
            "{what}: answered in {:?}",
            answer.elapsed
        );
    }
    let dots = target.token(&".".repeat(8000)).await;
    assert_invalid_token(&dots, SEGMENTS, "8000 dots");
    assert!(dots.elapsed < Duration::from_secs(1));
    // A 1 MB header is refused by the HTTP server itself before the layer runs.
    let huge = target
        .authorization(&format!("Bearer {}", "a".repeat(1 << 20)))
        .await;
    assert_eq!(huge.status, 431, "{:?}", huge.status);
}

/// C.2: header bombs under the size cap: deep nesting in a header member, thousands of header
/// members, thousands of claims. Answered in bounded time; duplicates still found among many.
#[tokio::test]
async fn header_bomb_nesting_and_many_members() {
    let target = Target::all_keys().await;
    let payload = claims().to_string();
    let deep = format!(
        r#"{{"alg":"ES256","kid":"ec256","x":{}1{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    // Header members Tollgate does not use are skipped unparsed (iteratively: no recursion
    // limit, no stack to exhaust); a header carries no JSON view to disagree with.
    target
        .assert_accepts(
            &signed(Algorithm::ES256, &deep, &payload),
            "200-deep header member",
        )
        .await;
    let deepest = format!(
        r#"{{"alg":"ES256","kid":"ec256","x":{}1{}}}"#,
        "[".repeat(2500),
        "]".repeat(2500)
    );
    let forged = forge(&deepest, &payload, &[0; 64]);
    assert!(forged.len() < 8192);
    let answer = target.token(&forged).await;
    assert_invalid_token(&answer, BAD_SIGNATURE, "2500-deep header member, forged");
    assert!(
        answer.elapsed < Duration::from_secs(1),
        "{:?}",
        answer.elapsed
    );

    let members: String = (0..600).map(|i| format!(r#","m{i}":0"#)).collect();
    let many = format!(r#"{{"alg":"ES256","kid":"ec256"{members}}}"#);
    target
        .assert_accepts(
            &signed(Algorithm::ES256, &many, &payload),
            "600 header members",
        )
        .await;
    let many_dup = format!(r#"{{"alg":"ES256","kid":"ec256"{members},"m3":1}}"#);
    target
        .assert_refuses(
            &signed(Algorithm::ES256, &many_dup, &payload),
            DUPLICATE,
            "a duplicate among 600 header members",
        )
        .await;
    let claims_text = claims().to_string();
    let many_claims = format!("{}{members}}}", &claims_text[..claims_text.len() - 1]);
    let header = header_with(Algorithm::ES256, json!({}));
    target
        .assert_accepts(
            &signed(Algorithm::ES256, &header, &many_claims),
            "600 claims",
        )
        .await;
    let dup_claims = format!(
        "{}{members},\"m599\":2}}",
        &claims_text[..claims_text.len() - 1]
    );
    target
        .assert_refuses(
            &signed(Algorithm::ES256, &header, &dup_claims),
            DUPLICATE,
            "a duplicate among 600 claims",
        )
        .await;
}

/// C.3: padding, the standard alphabet, and non-canonical trailing bits in every segment.
#[tokio::test]
async fn base64_padding_and_standard_alphabet() {
    let target = Target::all_keys().await;
    let token = es256();
    let s = segments(&token);
    // `=` may only end a b64token: padding at the end reaches the verifier, elsewhere it is a
    // malformed request.
    // ES256 signatures have a fixed length, checked first; RS256 ones do not.
    for bad in [format!("{token}="), format!("{token}==")] {
        target.assert_refuses(&bad, SIGNATURE_LENGTH, &bad).await;
    }
    let rs256 = signed_claims(Algorithm::RS256, &claims());
    for bad in [format!("{rs256}="), format!("{rs256}==")] {
        target.assert_refuses(&bad, BASE64, &bad).await;
    }
    let padded_header = b64(br#"{"alg":"ES256","kid":"ec256"}x"#);
    let inner_padding = format!("{padded_header}=.{}.{}", s[1], s[2]);
    let answer = target.token(&inner_padding).await;
    assert_invalid_request(&answer, MALFORMED_AUTHORIZATION, "padding inside");
    // `+` and `/` are standard base64, never base64url (the b64token syntax allows them).
    let std_alphabet = |c: char| {
        let mut sig = s[2].clone();
        sig.replace_range(0..1, &c.to_string());
        format!("{}.{}.{sig}", s[0], s[1])
    };
    for c in ['+', '/'] {
        target
            .assert_refuses(&std_alphabet(c), BASE64, &format!("{c} in signature"))
            .await;
    }
    let slashed_header = format!("{}/.{}.{}", s[0], s[1], s[2]);
    target
        .assert_refuses(&slashed_header, BASE64, "/ in header")
        .await;
    let mut respelled = 0;
    for index in 0..3 {
        if let Some(bad) = respell_segment(&token, index) {
            respelled += 1;
            target
                .assert_refuses(&bad, BASE64, &format!("non-canonical segment {index}"))
                .await;
        }
    }
    assert!(
        respelled >= 1,
        "the ES256 signature (86 chars) has unused bits"
    );
    target.assert_accepts(&token, "control").await;
}

/// C.3 and the verified-token cache: once a token is cached, a re-spelling that decodes to the
/// same bytes (non-canonical bits, padding) is still refused; it never aliases the cache entry.
#[tokio::test]
async fn non_canonical_base64_does_not_alias_a_cached_token() {
    let target = Target::all_keys().await;
    let token = es256();
    for _ in 0..3 {
        target.assert_accepts(&token, "cached").await;
    }
    let respelled = respell_segment(&token, 2).unwrap();
    for _ in 0..2 {
        target
            .assert_refuses(&respelled, BASE64, "re-spelled signature")
            .await;
        target
            .assert_refuses(&format!("{token}="), SIGNATURE_LENGTH, "padded")
            .await;
    }
    target.assert_accepts(&token, "still cached").await;
}

/// C.3, RFC 6750 2.1: whitespace around and inside the credentials.
#[tokio::test]
async fn whitespace_in_token() {
    let target = Target::all_keys().await;
    let token = es256();
    let s = segments(&token);
    // Several spaces after the scheme are allowed (`1*SP`), as are spaces HTTP trims.
    for ok in [
        format!("Bearer  {token}"),
        format!("Bearer     {token}"),
        format!("Bearer {token} "),
        format!("Bearer {token}\t"),
        format!(" Bearer {token}"),
    ] {
        let answer = target.authorization(&ok).await;
        assert_eq!(answer.status, 200, "{ok:?}: {answer:?}");
    }
    for bad in [
        format!("Bearer {} {}", s[0], &token[s[0].len() + 1..]),
        format!("Bearer {}. {}.{}", s[0], s[1], s[2]),
        format!("Bearer {token} {token}"),
        format!("Bearer {}\t.{}.{}", s[0], s[1], s[2]),
    ] {
        let answer = target.authorization(&bad).await;
        assert_invalid_request(&answer, MALFORMED_AUTHORIZATION, &format!("{bad:?}"));
    }
    // A tab is not the scheme separator (`1*SP`): no Bearer credentials at all.
    let tab = target.authorization(&format!("Bearer\t{token}")).await;
    assert_no_credentials(&tab, "Bearer<TAB>token");
}

/// C.4: duplicate member names in the claims (`exp`, `iss`, `sub`, `aud`, `roles`) and the header
/// (`alg`, `kid`): refused, never resolved to the first or last value.
#[tokio::test]
async fn duplicate_claim_members() {
    let target = Target::all_keys().await;
    let base = claims().to_string();
    let body = &base[1..];
    let header = header_with(Algorithm::ES256, json!({}));
    for extra in [
        format!(r#""exp":{},"#, now() + 999_999),
        r#""iss":"https://evil.example","#.to_owned(),
        r#""sub":"admin","#.to_owned(),
        r#""aud":"other-api","#.to_owned(),
        r#""roles":["admin"],"#.to_owned(),
    ] {
        let payload = format!("{{{extra}{body}");
        target
            .assert_refuses(
                &signed(Algorithm::ES256, &header, &payload),
                DUPLICATE,
                &extra,
            )
            .await;
    }
    // An escape spells the same name: still a duplicate.
    let escaped = format!(r#"{{"\u0073ub":"admin",{body}"#);
    target
        .assert_refuses(
            &signed(Algorithm::ES256, &header, &escaped),
            DUPLICATE,
            "escaped sub",
        )
        .await;
    for dup_header in [
        r#"{"alg":"ES256","kid":"ec256","alg":"none"}"#,
        r#"{"alg":"none","alg":"ES256","kid":"ec256"}"#,
        r#"{"alg":"ES256","kid":"ec256","kid":"rsa"}"#,
    ] {
        target
            .assert_refuses(
                &signed(Algorithm::ES256, dup_header, &base),
                DUPLICATE,
                dup_header,
            )
            .await;
    }
}

/// C.5: non-object, non-UTF-8 and BOM-prefixed headers and payloads; whitespace inside JSON is
/// valid (Wycheproof `ValidSpacesInJsonHeader`).
#[tokio::test]
async fn json_oddities_non_object_bom_non_utf8() {
    let target = Target::all_keys().await;
    let header = header_with(Algorithm::ES256, json!({}));
    let payload = claims().to_string();
    let sign_bytes = |h: &[u8], p: &[u8]| {
        let input = format!("{}.{}", b64(h), b64(p));
        format!("{input}.{}", b64(&sign_input(Algorithm::ES256, &input)))
    };
    let bom_payload = [b"\xef\xbb\xbf".as_slice(), payload.as_bytes()].concat();
    let raw_control = payload.replace("user-1", "user-\u{1}").into_bytes();
    let mut invalid_utf8 = payload.clone().into_bytes();
    let at = invalid_utf8.len() - 3;
    invalid_utf8.insert(at, 0xff);
    for (what, p) in [
        ("payload array", b"[1,2]".to_vec()),
        ("payload string", br#""claims""#.to_vec()),
        ("payload null", b"null".to_vec()),
        ("payload number", b"4".to_vec()),
        ("payload BOM", bom_payload),
        ("payload invalid UTF-8", invalid_utf8),
        (
            "payload trailing garbage",
            format!("{payload} x").into_bytes(),
        ),
        (
            "payload truncated",
            payload.as_bytes()[..payload.len() - 1].to_vec(),
        ),
        ("payload raw control character", raw_control),
    ] {
        target
            .assert_refuses(&sign_bytes(header.as_bytes(), &p), BAD_PAYLOAD, what)
            .await;
    }
    let bom_header = [b"\xef\xbb\xbf".as_slice(), header.as_bytes()].concat();
    for (what, h) in [
        ("header array", br#"["ES256"]"#.to_vec()),
        ("header BOM", bom_header),
        (
            "header invalid UTF-8",
            b"{\"alg\":\"ES256\xff\",\"kid\":\"ec256\"}".to_vec(),
        ),
    ] {
        target
            .assert_refuses(&sign_bytes(&h, payload.as_bytes()), BAD_HEADER, what)
            .await;
    }
    let spaced = "{ \"alg\" : \"ES256\" ,\n \"kid\" : \"ec256\" }";
    target
        .assert_accepts(
            &sign_bytes(spaced.as_bytes(), format!(" \n{payload} \t").as_bytes()),
            "whitespace inside JSON",
        )
        .await;
}

/// C.5: payload values no JSON view can hold (a lone surrogate escape, a number beyond f64,
/// nesting deeper than 128): refused as a whole, never half-parsed.
#[tokio::test]
async fn unreadable_claim_values_refused() {
    let target = Target::all_keys().await;
    let header = header_with(Algorithm::ES256, json!({}));
    let base = claims().to_string();
    let body = &base[1..];
    for (what, extra) in [
        ("lone surrogate", r#""name":"\ud800","#.to_owned()),
        ("1e400", r#""big":1e400,"#.to_owned()),
        (
            "200-deep nesting",
            format!(r#""deep":{}1{},"#, "[".repeat(200), "]".repeat(200)),
        ),
    ] {
        let payload = format!("{{{extra}{body}");
        target
            .assert_refuses(
                &signed(Algorithm::ES256, &header, &payload),
                UNREADABLE,
                what,
            )
            .await;
    }
}

// ---------------------------------------------------------------------------------------------
// D. Claims and time
// ---------------------------------------------------------------------------------------------

/// D.1: `exp` past (beyond the 60 s leeway, exactly at it), `nbf` and `iat` in the future;
/// within the leeway is accepted.
#[tokio::test]
async fn expired_and_nbf_and_iat_future() {
    let target = Target::all_keys().await;
    let now = now();
    for (what, name, value, description) in [
        ("exp an hour ago", "exp", now - 3600, EXPIRED),
        ("exp = now - leeway", "exp", now - 60, EXPIRED),
        ("exp = 0", "exp", 0, EXPIRED),
        ("nbf in 2 minutes", "nbf", now + 120, NOT_YET_VALID),
        ("nbf in a year", "nbf", now + 31_536_000, NOT_YET_VALID),
        ("iat in 2 minutes", "iat", now + 120, FUTURE_IAT),
    ] {
        let token = signed_claims(Algorithm::ES256, &claims_with(name, Some(json!(value))));
        target.assert_refuses(&token, description, what).await;
    }
    for (what, name, value) in [
        ("exp 30 s ago (leeway)", "exp", now - 30),
        ("nbf in 30 s (leeway)", "nbf", now + 30),
        ("iat in 30 s (leeway)", "iat", now + 30),
    ] {
        let token = signed_claims(Algorithm::ES256, &claims_with(name, Some(json!(value))));
        target.assert_accepts(&token, what).await;
    }
}

/// D.1 and the verified-token cache: a token cached while valid is refused once it expires
/// (the time rules are re-applied on every hit; leeway 0 here).
#[tokio::test]
async fn expired_token_replayed_from_cache() {
    let policy = support::policy().leeway(Duration::ZERO).build().unwrap();
    let target = Target::verifier(support::verifier(policy)).await;
    let exp = now() + 2;
    let token = signed_claims(Algorithm::ES256, &claims_with("exp", Some(json!(exp))));
    for _ in 0..3 {
        target.assert_accepts(&token, "valid, then cached").await;
    }
    while now() < exp {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..2 {
        target
            .assert_refuses(&token, EXPIRED, "replayed from the cache")
            .await;
    }
}

/// D.1: NumericDates must be finite JSON numbers in range: strings, booleans, null, arrays,
/// objects, negatives and out-of-range values are refused; fractions are allowed (floored for
/// `exp`, rounded up for `nbf`/`iat`).
#[tokio::test]
async fn exp_as_string_or_float_edge() {
    let target = Target::all_keys().await;
    let header = header_with(Algorithm::ES256, json!({}));
    let now = now();
    let soon = now + 600;
    let cases = [
        ("exp", format!("\"{soon}\""), INVALID_CLAIM),
        ("exp", "true".to_owned(), INVALID_CLAIM),
        ("exp", "null".to_owned(), INVALID_CLAIM),
        ("exp", format!("[{soon}]"), INVALID_CLAIM),
        ("exp", format!("{{\"t\":{soon}}}"), INVALID_CLAIM),
        ("exp", "-1".to_owned(), INVALID_CLAIM),
        ("exp", "1e20".to_owned(), INVALID_CLAIM),
        ("exp", "253402300800".to_owned(), INVALID_CLAIM),
        ("exp", "9223372036854775807".to_owned(), INVALID_CLAIM),
        ("exp", "18446744073709551616".to_owned(), INVALID_CLAIM),
        ("exp", format!("{}.5", now - 60), EXPIRED),
        ("exp", "-0.0".to_owned(), EXPIRED),
        ("exp", "0.9".to_owned(), EXPIRED),
        ("nbf", format!("\"{now}\""), INVALID_CLAIM),
        ("nbf", format!("{}.5", now + 120), NOT_YET_VALID),
        ("iat", "false".to_owned(), INVALID_CLAIM),
        ("iat", "-5".to_owned(), INVALID_CLAIM),
    ];
    for (name, raw, description) in cases {
        let payload = payload_with_raw(name, Some(&raw));
        target
            .assert_refuses(
                &signed(Algorithm::ES256, &header, &payload),
                description,
                &format!("{name}: {raw}"),
            )
            .await;
    }
    for (name, raw) in [
        ("exp", format!("{soon}.5")),
        ("exp", format!("{soon}e0")),
        ("exp", "253402300799".to_owned()),
        ("nbf", format!("{}.5", now - 10)),
        ("iat", format!("{now}.0")),
    ] {
        let payload = payload_with_raw(name, Some(&raw));
        target
            .assert_accepts(
                &signed(Algorithm::ES256, &header, &payload),
                &format!("{name}: {raw}"),
            )
            .await;
    }
}

/// D.2: a token without `exp` is refused by default (RFC 9068 2.2).
#[tokio::test]
async fn missing_exp() {
    let target = Target::all_keys().await;
    let token = signed_claims(Algorithm::ES256, &claims_with("exp", None));
    target.assert_refuses(&token, MISSING_CLAIM, "no exp").await;
    let no_times = {
        let mut c = claims_with("exp", None);
        c.as_object_mut().unwrap().remove("nbf");
        c.as_object_mut().unwrap().remove("iat");
        c
    };
    target
        .assert_refuses(
            &signed_claims(Algorithm::ES256, &no_times),
            MISSING_CLAIM,
            "no time claims at all",
        )
        .await;
}

/// D.3 (CVE-2020-26160 class): `aud` as an array, empty, with non-strings, and look-alike values
/// (prefix, suffix, trailing slash, case, whitespace, a space-joined string): exact membership.
#[tokio::test]
async fn aud_confusion_array() {
    let target = Target::all_keys().await;
    let aud = |value: Value| signed_claims(Algorithm::ES256, &claims_with("aud", Some(value)));
    for (what, value, description) in [
        ("empty array", json!([]), WRONG_AUDIENCE),
        ("other", json!(["other-api"]), WRONG_AUDIENCE),
        ("suffix", json!(format!("{AUDIENCE}.evil")), WRONG_AUDIENCE),
        (
            "prefix",
            json!(&AUDIENCE[..AUDIENCE.len() - 1]),
            WRONG_AUDIENCE,
        ),
        (
            "trailing slash",
            json!(format!("{AUDIENCE}/")),
            WRONG_AUDIENCE,
        ),
        ("case", json!(AUDIENCE.to_uppercase()), WRONG_AUDIENCE),
        ("whitespace", json!(format!(" {AUDIENCE}")), WRONG_AUDIENCE),
        (
            "space-joined",
            json!(format!("{AUDIENCE} other")),
            WRONG_AUDIENCE,
        ),
        (
            "NUL suffix",
            json!(format!("{AUDIENCE}\u{0}")),
            WRONG_AUDIENCE,
        ),
        ("non-string element", json!([AUDIENCE, 5]), INVALID_CLAIM),
        ("nested array", json!([[AUDIENCE]]), INVALID_CLAIM),
        ("object", json!({"aud": AUDIENCE}), INVALID_CLAIM),
        ("null", json!(null), INVALID_CLAIM),
        ("number", json!(1), INVALID_CLAIM),
    ] {
        target.assert_refuses(&aud(value), description, what).await;
    }
    target
        .assert_refuses(
            &signed_claims(Algorithm::ES256, &claims_with("aud", None)),
            MISSING_CLAIM,
            "missing",
        )
        .await;
    target
        .assert_accepts(&aud(json!(["other-api", AUDIENCE])), "array member")
        .await;
    target
        .assert_accepts(&aud(json!([AUDIENCE])), "one-element array")
        .await;
}

/// D.4: `iss` must equal the configured issuer exactly: no trailing-slash, case, port, scheme
/// or suffix normalization; a missing or non-string `iss` is refused.
#[tokio::test]
async fn wrong_iss_trailing_slash() {
    let target = Target::all_keys().await;
    let iss = |value: Value| signed_claims(Algorithm::ES256, &claims_with("iss", Some(value)));
    for (what, value, description) in [
        ("trailing slash", json!(format!("{ISSUER}/")), WRONG_ISSUER),
        (
            "two trailing slashes",
            json!(format!("{ISSUER}//")),
            WRONG_ISSUER,
        ),
        ("upper case", json!(ISSUER.to_uppercase()), WRONG_ISSUER),
        (
            "explicit port",
            json!("https://issuer.example.com:443"),
            WRONG_ISSUER,
        ),
        ("http", json!("http://issuer.example.com"), WRONG_ISSUER),
        (
            "suffix",
            json!(format!("{ISSUER}.evil.example")),
            WRONG_ISSUER,
        ),
        ("query", json!(format!("{ISSUER}?")), WRONG_ISSUER),
        ("fragment", json!(format!("{ISSUER}#")), WRONG_ISSUER),
        (
            "trailing dot host",
            json!("https://issuer.example.com."),
            WRONG_ISSUER,
        ),
        ("trailing space", json!(format!("{ISSUER} ")), WRONG_ISSUER),
        ("array", json!([ISSUER]), INVALID_CLAIM),
        ("null", json!(null), INVALID_CLAIM),
        ("number", json!(7), INVALID_CLAIM),
    ] {
        target.assert_refuses(&iss(value), description, what).await;
    }
    target
        .assert_refuses(
            &signed_claims(Algorithm::ES256, &claims_with("iss", None)),
            MISSING_CLAIM,
            "missing",
        )
        .await;
}

/// D.4: look-alike issuers (Cyrillic and Greek homoglyphs, fullwidth letters, zero-width and
/// combining characters, another NFC/NFD form, punycode) are different strings; JSON escapes
/// that decode to the exact issuer are the same string.
#[tokio::test]
async fn unicode_homoglyph_iss() {
    let target = Target::all_keys().await;
    for (what, value) in [
        ("Cyrillic i", "https://\u{0456}ssuer.example.com"),
        ("Cyrillic e", "https://issu\u{0435}r.example.com"),
        ("Greek omicron", "https://issuer.example.c\u{03bf}m"),
        ("fullwidth", "https://\u{ff49}ssuer.example.com"),
        ("zero-width space", "https://issuer\u{200b}.example.com"),
        ("combining dot", "https://issuer.example.com\u{0307}"),
        ("NFD e-acute host", "https://issue\u{0301}r.example.com"),
        ("punycode", "https://xn--ssuer-3ve.example.com"),
        ("right-to-left mark", "\u{200f}https://issuer.example.com"),
    ] {
        let token = signed_claims(Algorithm::ES256, &claims_with("iss", Some(json!(value))));
        target.assert_refuses(&token, WRONG_ISSUER, what).await;
    }
    let header = header_with(Algorithm::ES256, json!({}));
    for raw in [
        r#""https:\/\/issuer.example.com""#,
        r#""\u0068ttps://issuer.example.com""#,
    ] {
        let payload = payload_with_raw("iss", Some(raw));
        target
            .assert_accepts(&signed(Algorithm::ES256, &header, &payload), raw)
            .await;
    }
}

/// D.5 (RFC 8725 2.8, 3.11): with an RFC 9068 policy (`typ` at+jwt), an ID token (`JWT`), a
/// token without `typ`, or another type is refused; the media-type spellings of at+jwt pass.
#[tokio::test]
async fn typ_cross_jwt_confusion() {
    let policy = support::policy().types(["at+jwt"]).build().unwrap();
    let target = Target::verifier(support::verifier(policy)).await;
    for typ in [
        json!("JWT"),
        json!(null),
        json!("logout+jwt"),
        json!("at+jwt+x"),
        json!(7),
    ] {
        let token = signed_with_header(Algorithm::ES256, json!({"typ": typ}));
        let description = if typ.is_number() {
            BAD_HEADER
        } else {
            WRONG_TYPE
        };
        target
            .assert_refuses(&token, description, &typ.to_string())
            .await;
    }
    for typ in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/At+JWT",
    ] {
        let token = signed_with_header(Algorithm::ES256, json!({"typ": typ}));
        target.assert_accepts(&token, typ).await;
    }
}

// ---------------------------------------------------------------------------------------------
// E. Key strength
// ---------------------------------------------------------------------------------------------

/// E.1 (CVE-2019-20933, CVE-2020-28637, CVE-2020-28042): short, blank and dictionary HMAC
/// secrets cannot be configured; tokens MACed with guessed secrets, or with no MAC at all, are
/// refused.
#[tokio::test]
async fn weak_hmac_secrets() {
    for weak in [&b""[..], b"secret", b"password", &[0u8; 31][..]] {
        assert!(
            matches!(
                VerificationKey::hmac(weak),
                Err(KeyError::SecretTooShort { .. })
            ),
            "{weak:?}"
        );
    }
    let secret = support::keys().hmac.clone();
    let key = VerificationKey::hmac(&secret).unwrap();
    let policy = policy_for([Algorithm::HS256]);
    let target = Target::verifier(Verifier::new(
        policy,
        KeySet::from(key),
        CryptoProvider::default(),
    ))
    .await;
    let header = json!({"alg": "HS256", "typ": "JWT"}).to_string();
    let payload = claims().to_string();
    for guess in [
        &b""[..],
        b"secret",
        b"your-256-bit-secret",
        b"null",
        &secret[..32],
    ] {
        target
            .assert_refuses(
                &hs256_with_secret(&header, &payload, guess),
                BAD_SIGNATURE,
                &String::from_utf8_lossy(guess),
            )
            .await;
    }
    let genuine = hs256_with_secret(&header, &payload, &secret);
    let null_signature = format!("{}.", genuine.rsplit_once('.').unwrap().0);
    target
        .assert_refuses(&null_signature, EMPTY_SEGMENT, "null signature")
        .await;
    target.assert_accepts(&genuine, "control").await;
}

/// CVE-2020-28042 and signature stripping for every family: an empty signature segment, no
/// signature segment, and a signature spliced from another token.
#[tokio::test]
async fn signature_stripping_empty_sig() {
    let target = Target::all_keys().await;
    for alg in [
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
        Algorithm::HS256,
    ] {
        let token = signed_claims(alg, &claims());
        let (input, _) = token.rsplit_once('.').unwrap();
        target
            .assert_refuses(&format!("{input}."), EMPTY_SEGMENT, &format!("{alg} empty"))
            .await;
        target
            .assert_refuses(input, SEGMENTS, &format!("{alg} stripped"))
            .await;
        let admin = signed_claims(alg, &claims_with("sub", Some(json!("admin"))));
        let spliced = format!(
            "{}.{}.{}",
            segments(&token)[0],
            segments(&admin)[1],
            segments(&token)[2]
        );
        target
            .assert_refuses(&spliced, BAD_SIGNATURE, &format!("{alg} spliced"))
            .await;
    }
}

// ---------------------------------------------------------------------------------------------
// F. JWKS endpoint abuse and availability
// ---------------------------------------------------------------------------------------------

/// The most refetches for unknown `kid`s that the documented cooldown allows within `elapsed`:
/// one refetch, then a cooldown starting at `MIN_UNKNOWN_KID_COOLDOWN` (2 s) that doubles up to
/// `DEFAULT_UNKNOWN_KID_COOLDOWN` (30 s) while unknown kids keep coming.
fn refetch_bound(elapsed: Duration) -> usize {
    let min = tollgate::core::remote::MIN_UNKNOWN_KID_COOLDOWN;
    let max = tollgate::core::remote::DEFAULT_UNKNOWN_KID_COOLDOWN;
    let (mut at, mut cooldown, mut count) = (Duration::ZERO, min, 0);
    while at <= elapsed {
        count += 1;
        at += cooldown;
        cooldown = (cooldown * 2).min(max);
    }
    count
}

/// F.1: 2,000 self-signed tokens with distinct random `kid`s, 64 at a time. The key server sees
/// one fetch plus the refetches the cooldown allows (single flight, then the cooldown); every
/// token is refused fast and the real key keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_flood_bounded_fetches() {
    let server = KeyServer::test_jwks().await;
    let target = Arc::new(Target::remote(&server.jwks_url(), all_algorithms()).await);
    target.assert_accepts(&es256(), "warm-up").await;
    assert_eq!(server.hits(), 1);
    let payload = claims().to_string();
    let tokens: Vec<String> = (0..2000)
        .map(|i| {
            let header = json!({"alg": "ES256", "kid": format!("junk-{i}-{}", now())}).to_string();
            signed(Algorithm::ES256, &header, &payload)
        })
        .collect();
    let started = Instant::now();
    let tokens = Arc::new(tokens);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..64)
        .map(|_| {
            let (target, tokens, next) = (target.clone(), tokens.clone(), next.clone());
            tokio::spawn(async move {
                let mut slowest = Duration::ZERO;
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(token) = tokens.get(i) else { break };
                    let answer = target.token(token).await;
                    assert_invalid_token(&answer, KEY_NOT_RECOGNIZED, "junk kid");
                    slowest = slowest.max(answer.elapsed);
                }
                slowest
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for worker in workers {
        slowest = slowest.max(worker.await.unwrap());
    }
    let elapsed = started.elapsed();
    let refetches = server.hits() - 1;
    assert!(
        refetches >= 1 && refetches <= refetch_bound(elapsed),
        "{refetches} refetches in {elapsed:?} (bound {})",
        refetch_bound(elapsed)
    );
    assert!(
        slowest < Duration::from_secs(3),
        "slowest answer {slowest:?}"
    );
    target
        .assert_accepts(&es256(), "the real key still works")
        .await;
}

/// F.1/B: tokens of a key the issuer rotated out (e.g. after a compromise) are refused once the
/// source has refetched, even when they were verified and cached before.
#[tokio::test]
async fn rotated_out_key_tokens_refused_even_if_cached() {
    let all = support::jwks_value();
    let server = KeyServer::start(Serve::Json(
        json!({"keys": [all["keys"][1].clone()]}).to_string(),
    ))
    .await;
    let target = Target::remote(&server.jwks_url(), all_algorithms()).await;
    let old = es256();
    for _ in 0..3 {
        target.assert_accepts(&old, "ec256, cached").await;
    }
    // The issuer rotates: ec256 is gone, rsa is new. The first token with the new kid refetches.
    server.set(Serve::Json(
        json!({"keys": [all["keys"][0].clone()]}).to_string(),
    ));
    target
        .assert_accepts(&signed_claims(Algorithm::RS256, &claims()), "the new key")
        .await;
    assert_eq!(server.hits(), 2);
    for _ in 0..2 {
        target
            .assert_refuses(
                &old,
                KEY_NOT_RECOGNIZED,
                "the rotated-out key's cached token",
            )
            .await;
    }
}

/// F.2: the key endpoint failing (500, 404, connection refused) with nothing cached: every
/// token, valid or forged, gets a 503, fast, and never a pass.
#[tokio::test]
async fn jwks_endpoint_down_fails_closed_503() {
    for status in [500, 404, 429] {
        let server = KeyServer::start(Serve::Status(status)).await;
        let target = Target::remote(&server.jwks_url(), all_algorithms()).await;
        for token in [es256(), signed_claims(Algorithm::RS256, &claims())] {
            assert_unavailable(&target.token(&token).await, &format!("HTTP {status}"));
        }
    }
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", closed.local_addr().unwrap());
    drop(closed);
    let target = Target::remote(&url, all_algorithms()).await;
    let answer = target.token(&es256()).await;
    assert_unavailable(&answer, "connection refused");
    assert!(
        answer.elapsed < Duration::from_secs(3),
        "{:?}",
        answer.elapsed
    );
    // A structurally invalid token is still refused as such, without keys.
    target
        .assert_refuses("a.b.c", BASE64, "garbage while keys are down")
        .await;
}

/// F.3: key-source poisoning: plain-http key URLs to remote hosts are refused at build time,
/// and a discovery document naming another issuer fails closed (its `jwks_uri` is never
/// fetched).
#[tokio::test]
async fn discovery_issuer_mismatch_fails_closed() {
    assert!(matches!(
        JwksSource::builder("http://idp.example.com/jwks").build(),
        Err(RemoteError::InsecureUrl(_))
    ));
    assert!(matches!(
        OidcSource::lazy("http://idp.example.com"),
        Err(RemoteError::InsecureUrl(_))
    ));

    let mut jwks = support::jwks_value();
    let server = KeyServer::start(Serve::Status(500)).await;
    let issuer = format!("http://{}", server.addr);
    // One document that is both discovery metadata and a JWK Set, naming an evil issuer.
    jwks["issuer"] = json!("https://evil.example");
    jwks["jwks_uri"] = json!(server.url("/jwks"));
    server.set(Serve::Json(jwks.to_string()));
    let policy = policy_for_issuer(&issuer);
    let source = OidcSource::lazy(issuer.clone()).unwrap();
    let target = Target::verifier(Verifier::new(
        policy.clone(),
        source,
        CryptoProvider::default(),
    ))
    .await;
    let token = signed_claims(Algorithm::ES256, &claims_with("iss", Some(json!(issuer))));
    assert_unavailable(&target.token(&token).await, "issuer mismatch");
    assert!(
        server
            .paths()
            .iter()
            .all(|p| p.contains("openid-configuration")),
        "jwks_uri of a mismatched document is never fetched: {:?}",
        server.paths()
    );

    // The same document naming the right issuer: accepted.
    jwks["issuer"] = json!(issuer);
    server.set(Serve::Json(jwks.to_string()));
    let source = OidcSource::lazy(issuer.clone()).unwrap();
    let target = Target::verifier(Verifier::new(policy, source, CryptoProvider::default())).await;
    target.assert_accepts(&token, "matching issuer").await;
}

// ---------------------------------------------------------------------------------------------
// G. Replay, binding and side channels
// ---------------------------------------------------------------------------------------------

/// G.1: a genuine token of the same issuer for another service is not replayable here.
#[tokio::test]
async fn cross_service_replay_other_audience() {
    let target = Target::all_keys().await;
    let other_service = signed_claims(
        Algorithm::ES256,
        &claims_with("aud", Some(json!("billing-api"))),
    );
    target
        .assert_refuses(&other_service, WRONG_AUDIENCE, "other audience")
        .await;
}

/// G.3: refusals say what kind of check failed and nothing else: no expected issuer or audience,
/// no echo of the attacker's `kid`, `alg` or claims, no key material, no internal URLs.
#[tokio::test]
async fn error_answers_leak_no_configuration() {
    let target = Target::all_keys().await;
    let marker = "ATTACKER-MARKER-7f3a";
    let cases = [
        signed_claims(Algorithm::ES256, &claims_with("iss", Some(json!(marker)))),
        signed_claims(Algorithm::ES256, &claims_with("aud", Some(json!(marker)))),
        signed_with_header(Algorithm::ES256, json!({"kid": marker})),
        forge(
            &json!({"alg": marker}).to_string(),
            &claims().to_string(),
            b"x",
        ),
        signed_with_header(Algorithm::ES256, json!({"crit": [marker]})),
        support::tamper_signature(&signed_claims(
            Algorithm::ES256,
            &claims_with("sub", Some(json!(marker))),
        )),
    ];
    for token in cases {
        let answer = target.token(&token).await;
        assert_eq!(answer.status, 401, "{answer:?}");
        let everything = format!("{:?} {}", answer.challenge, answer.body);
        for secret in [marker, ISSUER, AUDIENCE, "ec256", "RS256", "ES256"] {
            assert!(
                !everything.contains(secret),
                "{secret} leaked: {everything}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// H. Extraction and transport
// ---------------------------------------------------------------------------------------------

/// H.1 (RFC 6750 2): two `Authorization` headers are a malformed request, whatever they hold:
/// never first-one-wins.
#[tokio::test]
async fn two_authorization_headers_400() {
    let target = Target::all_keys().await;
    let good = format!("Bearer {}", es256());
    for second in [
        good.clone(),
        "Bearer forged.token.here".to_owned(),
        "Basic dXNlcjpwYXNz".to_owned(),
    ] {
        for pair in [
            [good.clone(), second.clone()],
            [second.clone(), good.clone()],
        ] {
            let headers = [
                ("authorization", pair[0].clone()),
                ("authorization", pair[1].clone()),
            ];
            let answer = target.get("/me", &headers).await;
            assert_invalid_request(&answer, TWO_HEADERS, &format!("{pair:?}"));
        }
    }
    // Two credentials folded into one header value.
    let folded = target.authorization(&format!("{good}, {good}")).await;
    assert_invalid_request(&folded, MALFORMED_AUTHORIZATION, "comma-folded");
}

/// H.1 (RFC 6750 5.3): a token in the query string, a form body or a cookie is not read unless
/// the layer opts in: no credentials, 401 without an error code.
#[tokio::test]
async fn token_in_query_not_accepted_by_default() {
    let target = Target::all_keys().await;
    let token = es256();
    let query = target.get(&format!("/me?access_token={token}"), &[]).await;
    assert_no_credentials(&query, "query");
    let cookie = target
        .get("/me", &[("cookie", format!("access_token={token}"))])
        .await;
    assert_no_credentials(&cookie, "cookie");
    let form = send(
        target
            .http
            .post(target.url("/me"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("access_token={token}")),
    )
    .await;
    assert_no_credentials(&form, "form body");
}

/// H.1: once the query parameter is enabled, a token in both the header and the query, or the
/// parameter twice, is a malformed request (never one-of-them-wins).
#[tokio::test]
async fn token_in_header_and_query_400() {
    let layer = AuthLayer::builder(support::default_verifier())
        .query_parameter("access_token")
        .build();
    let target = Target::layer(layer).await;
    let token = es256();
    let forged = support::tamper_signature(&token);
    let both = target
        .get(&format!("/me?access_token={forged}"), &bearer(&token))
        .await;
    assert_invalid_request(&both, SENT_TWICE, "header and query");
    let twice = target
        .get(
            &format!("/me?access_token={token}&access_token={forged}"),
            &[],
        )
        .await;
    assert_invalid_request(&twice, SENT_TWICE, "query twice");
    let answer = target.get(&format!("/me?access_token={token}"), &[]).await;
    assert_eq!(answer.status, 200, "{answer:?}");
}

/// H.1, RFC 6750 2.1 / RFC 9110 11.1: the auth scheme is case-insensitive, as the layer
/// documents: `bearer`, `BEARER` and `bEaReR` carry the token like `Bearer`.
#[tokio::test]
async fn lowercase_bearer_scheme() {
    let target = Target::all_keys().await;
    let token = es256();
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let answer = target.authorization(&format!("{scheme} {token}")).await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (200, "user-1"),
            "{scheme}"
        );
        let forged = target
            .authorization(&format!("{scheme} {}", support::tamper_signature(&token)))
            .await;
        assert_invalid_token(&forged, BAD_SIGNATURE, scheme);
    }
}

/// H.1: other schemes (and look-alike scheme names) are no bearer credentials: a bare 401, not
/// an attempt to verify.
#[tokio::test]
async fn other_schemes_are_no_credentials() {
    let target = Target::all_keys().await;
    let token = es256();
    for value in [
        format!("Basic {}", b64(b"user:pass")),
        format!("Token {token}"),
        format!("DPoP {token}"),
        format!("Bearerx {token}"),
        format!("Bearer-{token}"),
        token.clone(),
    ] {
        assert_no_credentials(&target.authorization(&value).await, &value);
    }
    let empty = target.authorization("Bearer").await;
    assert_invalid_request(&empty, MALFORMED_AUTHORIZATION, "Bearer without a token");
}

/// H.2: identity headers forwarded to the handler cannot be spoofed by the client: a spoofed
/// `x-user-id` with a forged token never reaches the handler; without a token (optional mode)
/// the spoofed header is removed; with a valid token it holds the token's `sub`.
#[tokio::test]
async fn forwarded_claim_headers_cannot_be_spoofed() {
    let echo = |headers: http::HeaderMap| async move {
        headers
            .get_all("x-user-id")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join("|")
    };
    let forward = || ForwardClaimsLayer::new().claim("sub", "x-user-id").unwrap();
    let required = Target::start(
        Router::new()
            .route("/upstream", get(echo))
            .layer(forward())
            .layer(AuthLayer::new(support::default_verifier())),
    )
    .await;
    let optional = Target::start(
        Router::new()
            .route("/upstream", get(echo))
            .layer(forward())
            .layer(
                AuthLayer::builder(support::default_verifier())
                    .optional()
                    .build(),
            ),
    )
    .await;
    let spoof = ("x-user-id", "admin".to_owned());
    let forged = support::tamper_signature(&es256());
    for target in [&required, &optional] {
        let answer = target
            .get(
                "/upstream",
                &[spoof.clone(), ("authorization", format!("Bearer {forged}"))],
            )
            .await;
        assert_invalid_token(&answer, BAD_SIGNATURE, "spoofed header, forged token");
        let genuine = target
            .get(
                "/upstream",
                &[
                    spoof.clone(),
                    spoof.clone(),
                    ("authorization", format!("Bearer {}", es256())),
                ],
            )
            .await;
        assert_eq!((genuine.status, genuine.body.as_str()), (200, "user-1"));
    }
    let anonymous = optional.get("/upstream", &[spoof]).await;
    assert_eq!((anonymous.status, anonymous.body.as_str()), (200, ""));
}

/// H.4: the policy API cannot be misused into accepting everything: no algorithm list, no
/// audience decision, an excessive leeway or size cap are configuration errors, and `none` is
/// not an algorithm at all.
#[test]
fn permissive_policies_cannot_be_built() {
    assert_eq!(
        Validation::builder([]).any_audience().build().err(),
        Some(ConfigError::NoAlgorithms)
    );
    assert_eq!(
        Validation::builder([Algorithm::RS256]).build().err(),
        Some(ConfigError::NoAudienceDecision)
    );
    assert!(matches!(
        Validation::builder([Algorithm::RS256])
            .any_audience()
            .leeway(Duration::from_secs(3600))
            .build(),
        Err(ConfigError::LeewayTooLarge(3600))
    ));
    assert!(matches!(
        Validation::builder([Algorithm::RS256])
            .any_audience()
            .max_token_bytes(1 << 20)
            .build(),
        Err(ConfigError::MaxTokenSize(_))
    ));
    for name in ["none", "None", "NONE", ""] {
        assert!(name.parse::<Algorithm>().is_err(), "{name}");
        assert_eq!(Algorithm::from_name(name), None, "{name}");
    }
}
