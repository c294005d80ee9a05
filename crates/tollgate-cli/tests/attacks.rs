#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The JWT attack catalog (`jwt-attacks.md`, sections A-H) through the built `tollgate serve`
//! binary: configured only by `AUTH_*` variables, keys fetched from a JWKS (or discovery) on
//! loopback, one test per attack, named for it. Every case asserts the exact status, the RFC
//! 6750 `error` and public description of the challenge, and an answer within a bounded time.
//! Tokens are forged with the workspace's independent test signer (aws-lc-rs), through the
//! attack kit (`tollgate_test_support::attack`) shared with `crates/tollgate/tests/attacks.rs`.
//!
//! Not applicable to `serve`: D.5 (`typ` policies are not configurable by environment), H.2
//! (`serve` forwards no claims as headers), H.3 (Lambda), G.2 (not observable over HTTP).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use signer::attack::*;
use signer::{AUDIENCE, ISSUER, b64, claims, claims_with, now};
use support::{Running, base_url, run, start};
use tollgate::core::Algorithm;
use tollgate_test_support as signer;

const ALGORITHMS: &str = "RS256,PS256,ES256,ES384,EdDSA";

/// A running `tollgate serve` and the key server it reads.
struct Api {
    _process: Running,
    base: String,
    http: reqwest::Client,
    keys: Arc<KeyServer>,
}

impl Api {
    /// `serve` with the test keys' JWKS, `AUTH_ISSUER`/`AUTH_AUDIENCE` set, the asymmetric
    /// algorithms of the test keys, and a 60 s leeway (as the library's default).
    async fn start() -> Api {
        Api::with_keys(KeyServer::test_jwks().await, &[]).await
    }

    async fn with_keys(keys: Arc<KeyServer>, extra: &[(&str, &str)]) -> Api {
        let jwks = keys.jwks_url();
        let mut envs = vec![
            ("AUTH_JWKS_URL", jwks.as_str()),
            ("AUTH_ISSUER", ISSUER),
            ("AUTH_AUDIENCE", AUDIENCE),
            ("AUTH_ALGORITHMS", ALGORITHMS),
            ("AUTH_LEEWAY_SECS", "60"),
        ];
        for (name, value) in extra {
            envs.retain(|(n, _)| n != name);
            envs.push((name, value));
        }
        Api::with_env(keys.clone(), &envs).await
    }

    /// `serve` with exactly these variables (plus `BIND`).
    async fn with_env(keys: Arc<KeyServer>, envs: &[(&str, &str)]) -> Api {
        let mut owned: Vec<(String, String)> = vec![("BIND".into(), "127.0.0.1:0".into())];
        owned.extend(envs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let process = tokio::task::spawn_blocking(move || {
            let envs: Vec<(&str, &str)> = owned
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            start(&["serve"], &envs, "tollgate serve: listening on")
        })
        .await
        .unwrap();
        let base = base_url(&process.ready);
        let http = client();
        support::wait_healthy(&http, &base).await;
        Api {
            _process: process,
            base,
            http,
            keys,
        }
    }

    async fn get(&self, path: &str, headers: &[(&str, String)]) -> Answer {
        signer::attack::get(&self.http, &format!("{}{path}", self.base), headers).await
    }

    async fn token(&self, token: &str) -> Answer {
        self.get("/me", &bearer(token)).await
    }

    async fn authorization(&self, value: &str) -> Answer {
        self.get("/me", &[("authorization", value.to_owned())])
            .await
    }

    async fn assert_accepts(&self, token: &str, what: &str) {
        let answer = self.token(token).await;
        assert_eq!(answer.status, 200, "{what}: {answer:?}");
        let me: Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(me["sub"], "user-1", "{what}: {answer:?}");
    }

    async fn assert_refuses(&self, token: &str, description: &str, what: &str) {
        assert_invalid_token(&self.token(token).await, description, what);
    }
}

fn es256() -> String {
    signed_claims(Algorithm::ES256, &claims())
}

fn decode(segment: &str) -> Vec<u8> {
    base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, segment).unwrap()
}

/// Claims text with `member` replaced by raw JSON text.
fn payload_with_raw(member: &str, raw: &str) -> String {
    let mut c = claims();
    c.as_object_mut().unwrap().remove(member);
    let base = c.to_string();
    format!("{{\"{member}\":{raw},{}", &base[1..])
}

/// Claims text with `extra` (`"name":value,`) in front of the usual members.
fn payload_with_prefix(extra: &str) -> String {
    let base = claims().to_string();
    format!("{{{extra}{}", &base[1..])
}

// ---------------------------------------------------------------------------------------------
// A. Algorithm handling
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alg_none_in_every_spelling() {
    let api = Api::start().await;
    for (what, token) in alg_none_tokens() {
        api.assert_refuses(&token, UNSIGNED, &what).await;
    }
    api.assert_accepts(&es256(), "control").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alg_missing_empty_or_not_a_string() {
    let api = Api::start().await;
    let payload = claims().to_string();
    for (header, description) in [
        (json!({"alg": ""}), ALG_NOT_ACCEPTED),
        (json!({"alg": "rs256"}), ALG_NOT_ACCEPTED),
        (json!({"alg": "ES512"}), ALG_NOT_ACCEPTED),
        (json!({"kid": "rsa"}), BAD_HEADER),
        (json!({"alg": null}), BAD_HEADER),
        (json!({"alg": ["RS256"]}), BAD_HEADER),
    ] {
        let token = forge(&header.to_string(), &payload, b"signature");
        api.assert_refuses(&token, description, &header.to_string())
            .await;
    }
}

/// A.2: HS256/384/512 MACed with the public key in every encoding: not an allowed algorithm,
/// and `serve` refuses to start with a symmetric algorithm next to a JWKS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_to_hs256_key_confusion_with_public_key_as_secret() {
    let api = Api::start().await;
    let payload = claims().to_string();
    for (encoding, secret) in rsa_public_key_encodings() {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            for header in [
                json!({"alg": alg.as_str(), "kid": "rsa"}),
                json!({"alg": alg.as_str()}),
            ] {
                let token = hmac_with_secret(alg, &header.to_string(), &payload, &secret);
                api.assert_refuses(&token, ALG_NOT_ACCEPTED, &format!("{header} {encoding}"))
                    .await;
            }
        }
    }
    api.assert_accepts(&signed_claims(Algorithm::RS256, &claims()), "control")
        .await;
    let jwks = api.keys.jwks_url();
    let output = tokio::task::spawn_blocking(move || {
        run(
            &["serve"],
            &[("AUTH_JWKS_URL", &jwks), ("AUTH_ALGORITHMS", "RS256,HS256")],
        )
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("AUTH_ALGORITHMS"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asymmetric_algorithm_and_key_type_mismatch() {
    let api = Api::start().await;
    let payload = claims().to_string();
    for (alg, kid) in [
        (Algorithm::ES384, "ec256"),
        (Algorithm::ES256, "ec384"),
        (Algorithm::RS256, "ec256"),
        (Algorithm::PS256, "ed"),
        (Algorithm::EdDSA, "rsa"),
        (Algorithm::ES256, "rsa"),
    ] {
        let header = json!({"alg": alg.as_str(), "kid": kid}).to_string();
        api.assert_refuses(
            &signed(alg, &header, &payload),
            ALG_KEY_MISMATCH,
            &format!("{alg} with kid {kid}"),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psychic_signature_ecdsa_zero_rs() {
    let api = Api::start().await;
    let token = es256();
    let s = segments(&token);
    let n_n = [P256_ORDER, P256_ORDER].concat();
    let es384 = signed_claims(Algorithm::ES384, &claims());
    for (what, bad, description) in [
        ("r=s=0", with_signature(&token, &[0; 64]), BAD_SIGNATURE),
        ("r=s=n", with_signature(&token, &n_n), BAD_SIGNATURE),
        (
            "ES384 r=s=0",
            with_signature(&es384, &[0; 96]),
            BAD_SIGNATURE,
        ),
        (
            "DER r=s=0",
            format!("{}.{}.MAYCAQACAQA", s[0], s[1]),
            SIGNATURE_LENGTH,
        ),
    ] {
        api.assert_refuses(&bad, description, what).await;
    }
    api.assert_accepts(&token, "control").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecdsa_der_signature_instead_of_raw() {
    let api = Api::start().await;
    for alg in [Algorithm::ES256, Algorithm::ES384] {
        let token = signed_claims(alg, &claims());
        let der = ecdsa_raw_to_der(&decode(&segments(&token)[2]));
        api.assert_refuses(
            &with_signature(&token, &der),
            SIGNATURE_LENGTH,
            &format!("{alg}"),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_signature_edge_values() {
    let api = Api::start().await;
    let token = signed_claims(Algorithm::RS256, &claims());
    let genuine = decode(&segments(&token)[2]);
    let (n, _) = signer::rsa_components();
    let mut one = vec![0u8; 256];
    one[255] = 1;
    for (what, signature) in [
        ("0", vec![0u8; 256]),
        ("1", one),
        ("n", n),
        ("zero prepended", [&[0u8][..], &genuine].concat()),
        ("truncated", genuine[..255].to_vec()),
    ] {
        api.assert_refuses(&with_signature(&token, &signature), BAD_SIGNATURE, what)
            .await;
    }
    api.assert_accepts(&token, "control").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weak_and_invalid_keys_in_jwks_never_verify() {
    let (n, e) = signer::rsa_components();
    let mut weak_n = vec![0xc5u8; 128];
    weak_n[127] |= 1;
    let jwks = json!({"keys": [
        {"kty": "RSA", "kid": "rsa1024", "n": b64(&weak_n), "e": b64(&e)},
        {"kty": "RSA", "kid": "e1", "n": b64(&n), "e": "AQ"},
        {"kty": "oct", "kid": "oct", "k": b64(&[7u8; 32])},
        signer::jwks_value()["keys"][1],
    ]});
    let api = Api::with_keys(KeyServer::start(Serve::Json(jwks.to_string())).await, &[]).await;
    let payload = claims().to_string();
    let e1_header = json!({"alg": "RS256", "kid": "e1"}).to_string();
    let input = format!("{}.{}", b64(e1_header.as_bytes()), b64(payload.as_bytes()));
    let e1_forgery = format!("{input}.{}", b64(&pkcs1_sha256_em(input.as_bytes())));
    let rsa1024 = signed(
        Algorithm::RS256,
        &json!({"alg": "RS256", "kid": "rsa1024"}).to_string(),
        &payload,
    );
    for (what, token) in [("e = 1 forgery", e1_forgery), ("1024-bit RSA", rsa1024)] {
        api.assert_refuses(&token, KEY_NOT_RECOGNIZED, what).await;
    }
    api.assert_accepts(&es256(), "control").await;
}

// ---------------------------------------------------------------------------------------------
// B. Key selection and header-parameter injection
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kid_path_traversal_and_sql() {
    let api = Api::start().await;
    let payload = claims().to_string();
    for kid in KID_INJECTIONS {
        let token = signed(
            Algorithm::ES256,
            &json!({"alg": "ES256", "kid": kid}).to_string(),
            &payload,
        );
        let answer = api.token(&token).await;
        assert_invalid_token(&answer, KEY_NOT_RECOGNIZED, kid);
        assert!(
            answer.elapsed < Duration::from_secs(3),
            "{kid}: {:?}",
            answer.elapsed
        );
    }
    let paths = api.keys.paths();
    assert!(paths.iter().all(|p| p == "/jwks"), "{paths:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kid_header_oversized() {
    let api = Api::start().await;
    api.assert_accepts(&es256(), "warm-up").await;
    let fetched = api.keys.hits();
    for len in [257, 5000] {
        let token = signed_with_header(Algorithm::ES256, json!({"kid": "k".repeat(len)}));
        api.assert_refuses(&token, KID_TOO_LONG, &format!("kid of {len} bytes"))
            .await;
    }
    assert_eq!(api.keys.hits(), fetched, "no fetch for an oversized kid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jku_x5u_header_injection_no_fetch() {
    let attacker_key = aws_lc_rs::signature::Ed25519KeyPair::generate().unwrap();
    let attacker = KeyServer::start(Serve::Json(
        json!({"keys": [ed25519_jwk(&attacker_key, "attacker")]}).to_string(),
    ))
    .await;
    let api = Api::start().await;
    let payload = claims().to_string();
    let hints = |kid: &str| {
        json!({
            "alg": "EdDSA", "kid": kid,
            "jku": attacker.url("/jwks.json"), "x5u": attacker.url("/cert.pem"),
        })
        .to_string()
    };
    api.assert_refuses(
        &eddsa_with(&attacker_key, &hints("attacker"), &payload),
        KEY_NOT_RECOGNIZED,
        "attacker's kid",
    )
    .await;
    api.assert_refuses(
        &eddsa_with(&attacker_key, &hints("ed"), &payload),
        BAD_SIGNATURE,
        "issuer's kid",
    )
    .await;
    api.assert_accepts(&signed(Algorithm::EdDSA, &hints("ed"), &payload), "genuine")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(attacker.hits(), 0, "the attacker's URLs were never fetched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwk_header_injection_is_ignored() {
    let api = Api::start().await;
    let payload = claims().to_string();
    let attacker = aws_lc_rs::signature::Ed25519KeyPair::generate().unwrap();
    let jwk = json!({"alg": "EdDSA", "jwk": ed25519_jwk(&attacker, "attacker")});
    api.assert_refuses(
        &eddsa_with(&attacker, &jwk.to_string(), &payload),
        BAD_SIGNATURE,
        "embedded jwk, no kid",
    )
    .await;
    let (cert, pair) = attacker_certificate();
    let x5c = json!({"alg": "ES256", "kid": "ec256", "x5c": [cert]});
    api.assert_refuses(
        &es256_with(&pair, &x5c.to_string(), &payload),
        BAD_SIGNATURE,
        "x5c",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_kid_with_several_keys_and_duplicate_kid() {
    let (n, e) = signer::rsa_components();
    let rsa = |kid: &str| json!({"kty": "RSA", "kid": kid, "n": b64(&n), "e": b64(&e)});
    let mut ec_dup = signer::jwks_value()["keys"][1].clone();
    ec_dup["kid"] = json!("dup");
    let jwks = json!({"keys": [rsa("a"), rsa("b"), ec_dup.clone(), ec_dup]});
    let api = Api::with_keys(KeyServer::start(Serve::Json(jwks.to_string())).await, &[]).await;
    let payload = claims().to_string();
    api.assert_refuses(
        &signed(
            Algorithm::RS256,
            &json!({"alg": "RS256"}).to_string(),
            &payload,
        ),
        KEY_NOT_RECOGNIZED,
        "no kid, two RSA keys",
    )
    .await;
    api.assert_refuses(
        &signed(
            Algorithm::ES256,
            &json!({"alg": "ES256", "kid": "dup"}).to_string(),
            &payload,
        ),
        KEY_NOT_RECOGNIZED,
        "duplicated kid",
    )
    .await;
    api.assert_accepts(
        &signed(
            Algorithm::RS256,
            &json!({"alg": "RS256", "kid": "a"}).to_string(),
            &payload,
        ),
        "kid a",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enc_use_and_key_ops_keys_never_verify() {
    let (n, e) = signer::rsa_components();
    let jwks = json!({"keys": [
        {"kty": "RSA", "kid": "enc", "use": "enc", "alg": "RSA-OAEP", "n": b64(&n), "e": b64(&e)},
        {"kty": "RSA", "kid": "ops", "key_ops": ["encrypt"], "n": b64(&n), "e": b64(&e)},
        {"kty": "FOO", "kid": "foo"},
        signer::jwks_value()["keys"][1],
    ]});
    let api = Api::with_keys(KeyServer::start(Serve::Json(jwks.to_string())).await, &[]).await;
    let payload = claims().to_string();
    for kid in ["enc", "ops"] {
        let header = json!({"alg": "RS256", "kid": kid}).to_string();
        api.assert_refuses(
            &signed(Algorithm::RS256, &header, &payload),
            KEY_NOT_RECOGNIZED,
            kid,
        )
        .await;
    }
    api.assert_accepts(&es256(), "control").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crit_header_refused() {
    let api = Api::start().await;
    for crit in [json!(["exp"]), json!([]), json!(["b64"]), json!("exp")] {
        let token = signed_with_header(Algorithm::ES256, json!({"crit": crit, "exp": 1}));
        api.assert_refuses(&token, CRIT, &crit.to_string()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b64_false_refused() {
    let api = Api::start().await;
    api.assert_refuses(
        &signed_with_header(Algorithm::ES256, json!({"b64": false})),
        UNSUPPORTED_HEADER,
        "b64: false",
    )
    .await;
    api.assert_refuses(
        &signed_with_header(Algorithm::ES256, json!({"b64": false, "crit": ["b64"]})),
        CRIT,
        "with crit",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_jwt_cty() {
    let api = Api::start().await;
    let inner = es256();
    for cty in ["JWT", "jwt"] {
        let header = header_with(Algorithm::ES256, json!({"cty": cty}));
        let token = signed(Algorithm::ES256, &header, &json!(inner).to_string());
        api.assert_refuses(&token, UNSUPPORTED_HEADER, cty).await;
    }
    let outer = signed(
        Algorithm::ES256,
        &header_with(Algorithm::ES256, json!({})),
        &json!(inner).to_string(),
    );
    api.assert_refuses(&outer, BAD_PAYLOAD, "JWT string as payload")
        .await;
}

// ---------------------------------------------------------------------------------------------
// C. Parsing and encoding
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_serialization_and_jwe_refused() {
    let api = Api::start().await;
    let token = es256();
    let s = segments(&token);
    let jwe = format!(
        "{}.{}.{}.{}.{}",
        b64(json!({"alg": "RSA-OAEP", "enc": "A256GCM"})
            .to_string()
            .as_bytes()),
        b64(&[1; 256]),
        b64(&[2; 12]),
        s[1],
        b64(&[3; 16])
    );
    for (what, bad, description) in [
        ("JWE", jwe, SEGMENTS),
        ("2 segments", format!("{}.{}", s[0], s[1]), SEGMENTS),
        ("4 segments", format!("{token}.{}", s[2]), SEGMENTS),
        ("trailing dot", format!("{token}."), SEGMENTS),
        ("leading dot", format!(".{}.{}", s[1], s[2]), EMPTY_SEGMENT),
    ] {
        api.assert_refuses(&bad, description, what).await;
    }
    let flattened = json!({"payload": s[1], "protected": s[0], "signature": s[2]});
    let answer = api.authorization(&format!("Bearer {flattened}")).await;
    assert_invalid_request(&answer, MALFORMED_AUTHORIZATION, "JSON serialization");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_too_large_before_parsing() {
    let api = Api::start().await;
    let over_cap = signed_claims(
        Algorithm::ES256,
        &claims_with("pad", Some(json!("x".repeat(6500)))),
    );
    for (what, token) in [
        ("100 KB", "a".repeat(100 * 1024)),
        ("100 KB of dots", ".".repeat(100 * 1024)),
        ("signed, over the cap", over_cap),
    ] {
        let answer = api.token(&token).await;
        assert_invalid_token(&answer, TOO_LARGE, what);
        assert!(
            answer.elapsed < Duration::from_secs(1),
            "{what}: {:?}",
            answer.elapsed
        );
    }
    let dots = api.token(&".".repeat(8000)).await;
    assert_invalid_token(&dots, SEGMENTS, "8000 dots");
    let huge = api
        .authorization(&format!("Bearer {}", "a".repeat(1 << 20)))
        .await;
    assert_eq!(huge.status, 431);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_bomb_nesting_and_many_members() {
    let api = Api::start().await;
    let payload = claims().to_string();
    let deepest = format!(
        r#"{{"alg":"ES256","kid":"ec256","x":{}1{}}}"#,
        "[".repeat(2500),
        "]".repeat(2500)
    );
    let answer = api.token(&forge(&deepest, &payload, &[0; 64])).await;
    assert_invalid_token(&answer, BAD_SIGNATURE, "2500-deep header member, forged");
    assert!(
        answer.elapsed < Duration::from_secs(1),
        "{:?}",
        answer.elapsed
    );
    let members: String = (0..600).map(|i| format!(r#","m{i}":0"#)).collect();
    let dup = format!(r#"{{"alg":"ES256","kid":"ec256"{members},"m3":1}}"#);
    api.assert_refuses(
        &signed(Algorithm::ES256, &dup, &payload),
        DUPLICATE,
        "dup among 600",
    )
    .await;
    let many = format!(r#"{{"alg":"ES256","kid":"ec256"{members}}}"#);
    api.assert_accepts(
        &signed(Algorithm::ES256, &many, &payload),
        "600 header members",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base64_padding_and_standard_alphabet() {
    let api = Api::start().await;
    let token = signed_claims(Algorithm::RS256, &claims());
    let s = segments(&token);
    api.assert_refuses(&format!("{token}="), BASE64, "padding")
        .await;
    let mut sig = s[2].clone();
    sig.replace_range(0..1, "+");
    api.assert_refuses(&format!("{}.{}.{sig}", s[0], s[1]), BASE64, "+")
        .await;
    let inner = format!("{}=.{}.{}", s[0], s[1], s[2]);
    assert_invalid_request(&api.token(&inner).await, MALFORMED_AUTHORIZATION, "inner =");
    let es = es256();
    api.assert_refuses(&respell_segment(&es, 2).unwrap(), BASE64, "non-canonical")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_canonical_base64_does_not_alias_a_cached_token() {
    let api = Api::start().await;
    let token = es256();
    for _ in 0..3 {
        api.assert_accepts(&token, "cached").await;
    }
    let respelled = respell_segment(&token, 2).unwrap();
    for _ in 0..2 {
        api.assert_refuses(&respelled, BASE64, "re-spelled").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whitespace_in_token() {
    let api = Api::start().await;
    let token = es256();
    let s = segments(&token);
    for ok in [format!("Bearer  {token}"), format!("Bearer {token} ")] {
        assert_eq!(api.authorization(&ok).await.status, 200, "{ok:?}");
    }
    for bad in [
        format!("Bearer {}. {}.{}", s[0], s[1], s[2]),
        format!("Bearer {token} {token}"),
    ] {
        assert_invalid_request(
            &api.authorization(&bad).await,
            MALFORMED_AUTHORIZATION,
            &bad,
        );
    }
    assert_no_credentials(
        &api.authorization(&format!("Bearer\t{token}")).await,
        "tab separator",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_claim_members() {
    let api = Api::start().await;
    let header = header_with(Algorithm::ES256, json!({}));
    for extra in [
        format!(r#""exp":{},"#, now() + 999_999),
        r#""iss":"https://evil.example","#.to_owned(),
        r#""sub":"admin","#.to_owned(),
        r#""roles":["admin"],"#.to_owned(),
    ] {
        let payload = payload_with_prefix(&extra);
        api.assert_refuses(
            &signed(Algorithm::ES256, &header, &payload),
            DUPLICATE,
            &extra,
        )
        .await;
    }
    let dup_alg = r#"{"alg":"ES256","kid":"ec256","alg":"none"}"#;
    api.assert_refuses(
        &signed(Algorithm::ES256, dup_alg, &claims().to_string()),
        DUPLICATE,
        dup_alg,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_oddities_non_object_bom_non_utf8() {
    let api = Api::start().await;
    let header = header_with(Algorithm::ES256, json!({}));
    let payload = claims().to_string();
    let sign = |h: &[u8], p: &[u8]| {
        let input = format!("{}.{}", b64(h), b64(p));
        format!("{input}.{}", b64(&sign_input(Algorithm::ES256, &input)))
    };
    let bom = [b"\xef\xbb\xbf".as_slice(), payload.as_bytes()].concat();
    for (what, p) in [
        ("array", b"[1]".to_vec()),
        ("string", br#""x""#.to_vec()),
        ("BOM", bom),
        ("invalid UTF-8", [payload.as_bytes(), b"\xff"].concat()),
    ] {
        api.assert_refuses(&sign(header.as_bytes(), &p), BAD_PAYLOAD, what)
            .await;
    }
    api.assert_refuses(
        &sign(br#"["ES256"]"#, payload.as_bytes()),
        BAD_HEADER,
        "header array",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_claim_values_refused() {
    let api = Api::start().await;
    let header = header_with(Algorithm::ES256, json!({}));
    for (what, extra) in [
        ("lone surrogate", r#""name":"\ud800","#.to_owned()),
        ("1e400", r#""big":1e400,"#.to_owned()),
        (
            "200-deep",
            format!(r#""deep":{}1{},"#, "[".repeat(200), "]".repeat(200)),
        ),
    ] {
        let token = signed(Algorithm::ES256, &header, &payload_with_prefix(&extra));
        api.assert_refuses(&token, UNREADABLE, what).await;
    }
}

// ---------------------------------------------------------------------------------------------
// D. Claims and time
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_nbf_and_iat_future() {
    let api = Api::start().await;
    let now = now();
    for (what, name, value, description) in [
        ("exp an hour ago", "exp", now - 3600, EXPIRED),
        ("exp = now - leeway", "exp", now - 60, EXPIRED),
        ("nbf in 2 minutes", "nbf", now + 120, NOT_YET_VALID),
        ("iat in 2 minutes", "iat", now + 120, FUTURE_IAT),
    ] {
        let token = signed_claims(Algorithm::ES256, &claims_with(name, Some(json!(value))));
        api.assert_refuses(&token, description, what).await;
    }
    let within = signed_claims(Algorithm::ES256, &claims_with("exp", Some(json!(now - 30))));
    api.assert_accepts(&within, "exp within AUTH_LEEWAY_SECS")
        .await;
}

/// `serve`'s default leeway is 0: a token cached while valid is refused the second it expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_token_replayed_from_cache() {
    let api = Api::with_keys(KeyServer::test_jwks().await, &[("AUTH_LEEWAY_SECS", "")]).await;
    let exp = now() + 2;
    let token = signed_claims(Algorithm::ES256, &claims_with("exp", Some(json!(exp))));
    for _ in 0..3 {
        api.assert_accepts(&token, "cached").await;
    }
    while now() < exp {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    api.assert_refuses(&token, EXPIRED, "replayed from the cache")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exp_as_string_or_float_edge() {
    let api = Api::start().await;
    let header = header_with(Algorithm::ES256, json!({}));
    let soon = now() + 600;
    for (raw, description) in [
        (format!("\"{soon}\""), INVALID_CLAIM),
        ("true".to_owned(), INVALID_CLAIM),
        ("null".to_owned(), INVALID_CLAIM),
        ("-1".to_owned(), INVALID_CLAIM),
        ("1e20".to_owned(), INVALID_CLAIM),
        ("9223372036854775807".to_owned(), INVALID_CLAIM),
        (format!("{}.5", now() - 60), EXPIRED),
    ] {
        let token = signed(Algorithm::ES256, &header, &payload_with_raw("exp", &raw));
        api.assert_refuses(&token, description, &raw).await;
    }
    let fraction = signed(
        Algorithm::ES256,
        &header,
        &payload_with_raw("exp", &format!("{soon}.5")),
    );
    api.assert_accepts(&fraction, "fractional exp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_exp() {
    let api = Api::start().await;
    let token = signed_claims(Algorithm::ES256, &claims_with("exp", None));
    api.assert_refuses(&token, MISSING_CLAIM, "no exp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aud_confusion_array() {
    let api = Api::start().await;
    let aud = |value: Value| signed_claims(Algorithm::ES256, &claims_with("aud", Some(value)));
    for (what, value, description) in [
        ("empty array", json!([]), WRONG_AUDIENCE),
        ("suffix", json!(format!("{AUDIENCE}.evil")), WRONG_AUDIENCE),
        (
            "trailing slash",
            json!(format!("{AUDIENCE}/")),
            WRONG_AUDIENCE,
        ),
        ("case", json!(AUDIENCE.to_uppercase()), WRONG_AUDIENCE),
        (
            "space-joined",
            json!(format!("{AUDIENCE} other")),
            WRONG_AUDIENCE,
        ),
        ("non-string element", json!([AUDIENCE, 5]), INVALID_CLAIM),
        ("object", json!({"aud": AUDIENCE}), INVALID_CLAIM),
    ] {
        api.assert_refuses(&aud(value), description, what).await;
    }
    api.assert_refuses(
        &signed_claims(Algorithm::ES256, &claims_with("aud", None)),
        MISSING_CLAIM,
        "missing",
    )
    .await;
    api.assert_accepts(&aud(json!(["x", AUDIENCE])), "array member")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_iss_trailing_slash() {
    let api = Api::start().await;
    let iss = |value: Value| signed_claims(Algorithm::ES256, &claims_with("iss", Some(value)));
    for (what, value, description) in [
        ("trailing slash", json!(format!("{ISSUER}/")), WRONG_ISSUER),
        ("upper case", json!(ISSUER.to_uppercase()), WRONG_ISSUER),
        (
            "port",
            json!("https://issuer.example.com:443"),
            WRONG_ISSUER,
        ),
        ("suffix", json!(format!("{ISSUER}.evil")), WRONG_ISSUER),
        ("array", json!([ISSUER]), INVALID_CLAIM),
    ] {
        api.assert_refuses(&iss(value), description, what).await;
    }
    api.assert_refuses(
        &signed_claims(Algorithm::ES256, &claims_with("iss", None)),
        MISSING_CLAIM,
        "missing",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unicode_homoglyph_iss() {
    let api = Api::start().await;
    for value in [
        "https://\u{0456}ssuer.example.com",
        "https://\u{ff49}ssuer.example.com",
        "https://issuer\u{200b}.example.com",
        "https://issue\u{0301}r.example.com",
    ] {
        let token = signed_claims(Algorithm::ES256, &claims_with("iss", Some(json!(value))));
        api.assert_refuses(&token, WRONG_ISSUER, value).await;
    }
    let header = header_with(Algorithm::ES256, json!({}));
    let escaped = payload_with_raw("iss", r#""https:\/\/issuer.example.com""#);
    api.assert_accepts(
        &signed(Algorithm::ES256, &header, &escaped),
        "escaped slashes",
    )
    .await;
}

/// Roles are read exactly: nested arrays, objects, other case or another claim path never
/// grant `admin` (403 `insufficient_scope` on `/admin`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_claim_confusion_insufficient_scope() {
    let api = Api::start().await;
    for (what, claim, value) in [
        ("nested array", "roles", json!([["admin"]])),
        ("object", "roles", json!({"admin": true})),
        ("case", "roles", json!(["Admin"])),
        ("prefix", "roles", json!(["admin2", "xadmin"])),
        ("other claim", "realm_access", json!({"roles": ["admin"]})),
        ("other claim", "role", json!("admin")),
    ] {
        let mut c = claims_with("roles", None);
        c[claim] = value;
        let answer = api
            .get("/admin", &bearer(&signed_claims(Algorithm::ES256, &c)))
            .await;
        assert_eq!(answer.status, 403, "{what}: {answer:?}");
        assert_eq!(
            answer.error_code().as_deref(),
            Some("insufficient_scope"),
            "{what}"
        );
    }
    let admin = signed_claims(
        Algorithm::ES256,
        &claims_with("roles", Some(json!(["admin"]))),
    );
    assert_eq!(api.get("/admin", &bearer(&admin)).await.status, 200);
}

// ---------------------------------------------------------------------------------------------
// E. Key strength
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weak_hmac_secrets() {
    let output =
        tokio::task::spawn_blocking(|| run(&["serve"], &[("AUTH_HS256_SECRET", "secret")]))
            .await
            .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("AUTH_HS256_SECRET is 6 bytes"));

    let secret = "serve-attack-secret-0123456789abcdef-0123";
    let api = Api::with_env(
        KeyServer::start(Serve::Status(404)).await,
        &[
            ("AUTH_HS256_SECRET", secret),
            ("AUTH_ISSUER", ISSUER),
            ("AUTH_AUDIENCE", AUDIENCE),
        ],
    )
    .await;
    let header = json!({"alg": "HS256", "typ": "JWT"}).to_string();
    let payload = claims().to_string();
    for guess in [
        &b""[..],
        b"secret",
        b"your-256-bit-secret",
        &secret.as_bytes()[..32],
    ] {
        api.assert_refuses(
            &hs256_with_secret(&header, &payload, guess),
            BAD_SIGNATURE,
            &String::from_utf8_lossy(guess),
        )
        .await;
    }
    let genuine = hs256_with_secret(&header, &payload, secret.as_bytes());
    let stripped = format!("{}.", genuine.rsplit_once('.').unwrap().0);
    api.assert_refuses(&stripped, EMPTY_SEGMENT, "null signature")
        .await;
    api.assert_accepts(&genuine, "control").await;
    // RS256 is not accepted by a secret-configured serve (the reverse confusion).
    api.assert_refuses(
        &signed_claims(Algorithm::RS256, &claims()),
        ALG_NOT_ACCEPTED,
        "RS256 against a secret",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_stripping_empty_sig() {
    let api = Api::start().await;
    for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        let token = signed_claims(alg, &claims());
        let (input, _) = token.rsplit_once('.').unwrap();
        api.assert_refuses(&format!("{input}."), EMPTY_SEGMENT, &format!("{alg} empty"))
            .await;
        api.assert_refuses(input, SEGMENTS, &format!("{alg} stripped"))
            .await;
        let admin = signed_claims(alg, &claims_with("sub", Some(json!("admin"))));
        let spliced = format!(
            "{}.{}.{}",
            segments(&token)[0],
            segments(&admin)[1],
            segments(&token)[2]
        );
        api.assert_refuses(&spliced, BAD_SIGNATURE, &format!("{alg} spliced"))
            .await;
    }
}

// ---------------------------------------------------------------------------------------------
// F. JWKS endpoint abuse and availability
// ---------------------------------------------------------------------------------------------

/// See `refetch_bound` in `crates/tollgate/tests/attacks.rs`: one refetch, then a cooldown of
/// 2 s doubling up to 30 s.
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

/// F.1: 2,000 distinct unknown `kid`s, 64 at a time, against `serve`: its key server sees the
/// start-up fetch plus the refetches the cooldown allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_flood_bounded_fetches() {
    let api = Arc::new(Api::start().await);
    api.assert_accepts(&es256(), "warm-up").await;
    let before = api.keys.hits();
    assert_eq!(before, 1, "one fetch at start-up");
    let payload = claims().to_string();
    let tokens: Arc<Vec<String>> = Arc::new(
        (0..2000)
            .map(|i| {
                let header = json!({"alg": "ES256", "kid": format!("junk-{i}")}).to_string();
                signed(Algorithm::ES256, &header, &payload)
            })
            .collect(),
    );
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..64)
        .map(|_| {
            let (api, tokens, next) = (api.clone(), tokens.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(token) = tokens.get(i) else { break };
                    let answer = api.token(token).await;
                    assert_invalid_token(&answer, KEY_NOT_RECOGNIZED, "junk kid");
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let elapsed = started.elapsed();
    let refetches = api.keys.hits() - before;
    assert!(
        refetches >= 1 && refetches <= refetch_bound(elapsed),
        "{refetches} refetches in {elapsed:?} (bound {})",
        refetch_bound(elapsed)
    );
    api.assert_accepts(&es256(), "the real key still works")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_out_key_tokens_refused_even_if_cached() {
    let all = signer::jwks_value();
    let keys = KeyServer::start(Serve::Json(
        json!({"keys": [all["keys"][1].clone()]}).to_string(),
    ))
    .await;
    let api = Api::with_keys(keys.clone(), &[]).await;
    let old = es256();
    for _ in 0..3 {
        api.assert_accepts(&old, "cached").await;
    }
    keys.set(Serve::Json(
        json!({"keys": [all["keys"][0].clone()]}).to_string(),
    ));
    api.assert_accepts(&signed_claims(Algorithm::RS256, &claims()), "the new key")
        .await;
    api.assert_refuses(&old, KEY_NOT_RECOGNIZED, "rotated-out key, cached token")
        .await;
}

/// F.2: `serve` starts while the key server fails, and answers 503 (never a pass) until it is
/// back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_endpoint_down_fails_closed_503() {
    let keys = KeyServer::start(Serve::Status(500)).await;
    let api = Api::with_keys(keys.clone(), &[]).await;
    for token in [es256(), signed_claims(Algorithm::RS256, &claims())] {
        assert_unavailable(&api.token(&token).await, "HTTP 500");
    }
    api.assert_refuses("a.b.c", BASE64, "garbage while keys are down")
        .await;
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", closed.local_addr().unwrap());
    drop(closed);
    let down = Api::with_env(
        keys,
        &[("AUTH_JWKS_URL", &url), ("AUTH_ALGORITHMS", ALGORITHMS)],
    )
    .await;
    let answer = down.token(&es256()).await;
    assert_unavailable(&answer, "connection refused");
}

/// F.3: `AUTH_OIDC_ISSUER` whose discovery document names another issuer: fail closed, the
/// `jwks_uri` never fetched; plain http to a remote host refused at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_issuer_mismatch_fails_closed() {
    let output = tokio::task::spawn_blocking(|| {
        run(
            &["serve"],
            &[("AUTH_OIDC_ISSUER", "http://idp.example.com")],
        )
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");

    let keys = KeyServer::start(Serve::Status(500)).await;
    let issuer = format!("http://{}", keys.addr);
    let mut doc = signer::jwks_value();
    doc["issuer"] = json!("https://evil.example");
    doc["jwks_uri"] = json!(keys.url("/jwks"));
    keys.set(Serve::Json(doc.to_string()));
    let api = Api::with_env(
        keys.clone(),
        &[
            ("AUTH_OIDC_ISSUER", &issuer),
            ("AUTH_AUDIENCE", AUDIENCE),
            ("AUTH_ALGORITHMS", ALGORITHMS),
        ],
    )
    .await;
    let token = signed_claims(Algorithm::ES256, &claims_with("iss", Some(json!(issuer))));
    assert_unavailable(&api.token(&token).await, "issuer mismatch");
    assert!(
        keys.paths()
            .iter()
            .all(|p| p.contains("openid-configuration")),
        "{:?}",
        keys.paths()
    );
}

// ---------------------------------------------------------------------------------------------
// G. Replay and side channels
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_service_replay_other_audience() {
    let api = Api::start().await;
    let other = signed_claims(
        Algorithm::ES256,
        &claims_with("aud", Some(json!("billing"))),
    );
    api.assert_refuses(&other, WRONG_AUDIENCE, "other audience")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_answers_leak_no_configuration() {
    let api = Api::start().await;
    let marker = "ATTACKER-MARKER-7f3a";
    for token in [
        signed_claims(Algorithm::ES256, &claims_with("iss", Some(json!(marker)))),
        signed_claims(Algorithm::ES256, &claims_with("aud", Some(json!(marker)))),
        signed_with_header(Algorithm::ES256, json!({"kid": marker})),
        forge(
            &json!({"alg": marker}).to_string(),
            &claims().to_string(),
            b"x",
        ),
    ] {
        let answer = api.token(&token).await;
        assert_eq!(answer.status, 401, "{answer:?}");
        let everything = format!("{:?} {}", answer.challenge, answer.body);
        for secret in [marker, ISSUER, AUDIENCE, "127.0.0.1", "RS256"] {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_authorization_headers_400() {
    let api = Api::start().await;
    let good = format!("Bearer {}", es256());
    for second in [good.clone(), "Basic dXNlcjpwYXNz".to_owned()] {
        let answer = api
            .get(
                "/me",
                &[("authorization", good.clone()), ("authorization", second)],
            )
            .await;
        assert_invalid_request(&answer, TWO_HEADERS, "two headers");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_in_query_not_accepted_by_default() {
    let api = Api::start().await;
    let token = es256();
    assert_no_credentials(
        &api.get(&format!("/me?access_token={token}"), &[]).await,
        "query",
    );
    assert_no_credentials(
        &api.get("/me", &[("cookie", format!("access_token={token}"))])
            .await,
        "cookie",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lowercase_bearer_scheme() {
    let api = Api::start().await;
    let token = es256();
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let answer = api.authorization(&format!("{scheme} {token}")).await;
        assert_eq!(answer.status, 200, "{scheme}: {answer:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_schemes_are_no_credentials() {
    let api = Api::start().await;
    let token = es256();
    for value in [
        format!("Token {token}"),
        format!("DPoP {token}"),
        token.clone(),
    ] {
        assert_no_credentials(&api.authorization(&value).await, &value);
    }
}
