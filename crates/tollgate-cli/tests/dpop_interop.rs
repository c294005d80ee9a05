#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! DPoP (RFC 9449) interoperability of `tollgate serve` with implementations we did not write:
//!
//! - proofs from panva's npm `dpop` package (ES256, RS256, PS256, Ed25519), made by
//!   `crates/tollgate-core/tests/oidc_provider/dpop-proof.mjs`, accepted (and replays refused);
//!   its nonce handling against `AUTH_DPOP_NONCE=1`;
//! - a DPoP-bound access token issued by panva's certified `oidc-provider` (client credentials,
//!   a DPoP proof at its token endpoint, a JWT access token through a resource indicator),
//!   accepted with a fresh proof and refused as Bearer.
//!
//! Needs `node` (and `npm`, when `node_modules` is missing: installed with `npm ci` from the
//! committed lock file, as `scripts/test` does up front). Fails, not skips, without them.

mod support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use support::{Serve, client};
use tollgate::testing::SigningKey;
use tollgate_test_support::oidc_provider::{OpenIdProvider, install_dependencies, provider_dir};

const SECRET: &str = "dpop-interop-secret-0123456789abcdef-01";
const CLIENT_ID: &str = "tollgate-test";
const CLIENT_SECRET: &str = "tollgate-test-secret";
const AUDIENCE: &str = "urn:tollgate:api";

/// What `dpop-proof.mjs` prints.
#[derive(Debug)]
struct NodeProof {
    proof: String,
    jkt: String,
    alg: String,
    jwk: Value,
}

/// `node dpop-proof.mjs --key KEY [--alg ALG] HTM HTU [TOKEN|-] [NONCE]`.
async fn node_proof(
    key: &TempPath,
    alg: Option<&str>,
    htm: &str,
    htu: &str,
    token: Option<&str>,
    nonce: Option<&str>,
) -> NodeProof {
    let mut command = tokio::process::Command::new("node");
    command
        .arg("dpop-proof.mjs")
        .arg("--key")
        .arg(&key.0)
        .current_dir(provider_dir())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(alg) = alg {
        command.args(["--alg", alg]);
    }
    command.args([htm, htu, token.unwrap_or("-")]);
    if let Some(nonce) = nonce {
        command.arg(nonce);
    }
    let output = tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("dpop-proof.mjs finished in time")
        .expect("running node dpop-proof.mjs");
    assert!(
        output.status.success(),
        "dpop-proof.mjs failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    let field = |name: &str| printed[name].as_str().unwrap().to_owned();
    NodeProof {
        proof: field("proof"),
        jkt: field("jkt"),
        alg: field("alg"),
        jwk: printed["jwk"].clone(),
    }
}

/// A temporary file path, removed on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(name: &str) -> TempPath {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path = std::env::temp_dir().join(format!(
            "tollgate-dpop-interop-{}-{nanos}-{name}",
            std::process::id()
        ));
        TempPath(path)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// An HS256 token bound to `jkt`.
fn bound_token(jkt: &str, sub: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(sub));
    claims.insert("exp".into(), json!(now + 600));
    claims.insert("cnf".into(), json!({ "jkt": jkt }));
    SigningKey::hmac(SECRET)
        .unwrap()
        .sign(&claims, "JWT")
        .unwrap()
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn header(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_dpop_proofs_are_accepted() {
    install_dependencies(&["oidc-provider", "dpop"]);
    let serve =
        Serve::start_at_own_origin(&[("AUTH_HS256_SECRET", SECRET), ("AUTH_DPOP", "required")])
            .await;
    let me = serve.url("/me");
    // The package names the Ed25519 algorithm `Ed25519` (RFC 9864), not `EdDSA`: both are one.
    for (alg, header_alg) in [
        ("ES256", "ES256"),
        ("RS256", "RS256"),
        ("PS256", "PS256"),
        ("Ed25519", "Ed25519"),
    ] {
        let key = TempPath::new(&format!("{alg}.json"));
        // First run: makes the key (kept in the file) and tells its thumbprint.
        let made = node_proof(&key, Some(alg), "GET", &me, None, None).await;
        let token = bound_token(&made.jkt, &format!("npm-{alg}"));
        let fresh = node_proof(&key, None, "GET", &me, Some(&token), None).await;
        assert_eq!(fresh.jkt, made.jkt);
        assert_eq!(fresh.alg, header_alg);
        assert_eq!(header(&fresh.proof)["jwk"], fresh.jwk);
        assert!(claims(&fresh.proof)["ath"].is_string());
        let ok = serve
            .get_dpop("/me", Some(("DPoP", &token)), Some(&fresh.proof))
            .await;
        assert_eq!(ok.status, 200, "{alg}: {ok:?}");
        // The thumbprint the npm package computed is the one Tollgate computed.
        assert_eq!(ok.json()["jkt"], made.jkt, "{alg}");
        assert_eq!(ok.json()["sub"], format!("npm-{alg}"));
        let replay = serve
            .get_dpop("/me", Some(("DPoP", &token)), Some(&fresh.proof))
            .await;
        assert_eq!(replay.status, 401, "{alg}: {replay:?}");
        assert!(
            replay.challenges[0].contains("invalid_dpop_proof"),
            "{replay:?}"
        );
        // The proof made without the token (no ath) is refused for it.
        let no_ath = serve
            .get_dpop("/me", Some(("DPoP", &token)), Some(&made.proof))
            .await;
        assert_eq!(no_ath.status, 401, "{alg}: {no_ath:?}");
        // A proof for another path is refused.
        let other = node_proof(&key, None, "GET", &serve.url("/admin"), Some(&token), None).await;
        let mismatch = serve
            .get_dpop("/me", Some(("DPoP", &token)), Some(&other.proof))
            .await;
        assert_eq!(mismatch.status, 401, "{alg}: {mismatch:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_dpop_nonce_flow() {
    install_dependencies(&["oidc-provider", "dpop"]);
    let serve = Serve::start_at_own_origin(&[
        ("AUTH_HS256_SECRET", SECRET),
        ("AUTH_DPOP", "allowed"),
        ("AUTH_DPOP_NONCE", "1"),
    ])
    .await;
    let me = serve.url("/me");
    let key = TempPath::new("nonce.json");
    let made = node_proof(&key, None, "GET", &me, None, None).await;
    let token = bound_token(&made.jkt, "npm-nonce");
    let first = node_proof(&key, None, "GET", &me, Some(&token), None).await;
    let asked = serve
        .get_dpop("/me", Some(("DPoP", &token)), Some(&first.proof))
        .await;
    assert_eq!(asked.status, 401, "{asked:?}");
    assert!(asked.challenges[0].contains("use_dpop_nonce"), "{asked:?}");
    let nonce = asked.nonce.expect("DPoP-Nonce");
    let retry = node_proof(&key, None, "GET", &me, Some(&token), Some(&nonce)).await;
    assert_eq!(claims(&retry.proof)["nonce"], nonce.as_str());
    let ok = serve
        .get_dpop("/me", Some(("DPoP", &token)), Some(&retry.proof))
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.json()["jkt"], made.jkt);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_provider_dpop_bound_token() {
    install_dependencies(&["oidc-provider", "dpop"]);
    let provider = OpenIdProvider::start(0);
    let issuer = provider.issuer();
    let token_endpoint = format!("{issuer}/token");
    let key = TempPath::new("op.json");

    // Client credentials with a proof for the token endpoint (no access token yet: no ath).
    let at_token_endpoint = node_proof(&key, None, "POST", &token_endpoint, None, None).await;
    let response = client()
        .post(&token_endpoint)
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("dpop", &at_token_endpoint.proof)
        .body("grant_type=client_credentials&scope=read&resource=urn%3Atollgate%3Aapi")
        .send()
        .await
        .expect("POST /token");
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "token endpoint: {status}: {text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["token_type"], "DPoP", "{text}");
    let access_token = answer["access_token"].as_str().unwrap().to_owned();
    assert_eq!(header(&access_token)["typ"], "at+jwt");
    // oidc-provider bound it to the key the npm package made, by its own thumbprint.
    assert_eq!(
        claims(&access_token)["cnf"]["jkt"],
        at_token_endpoint.jkt.as_str()
    );

    let serve = Serve::start_at_own_origin(&[
        ("AUTH_OIDC_ISSUER", issuer.as_str()),
        ("AUTH_ALGORITHMS", "ES256"),
        ("AUTH_AUDIENCE", AUDIENCE),
        ("AUTH_DPOP", "allowed"),
    ])
    .await;
    let me = serve.url("/me");
    let fresh = node_proof(&key, None, "GET", &me, Some(&access_token), None).await;
    let ok = serve
        .get_dpop("/me", Some(("DPoP", &access_token)), Some(&fresh.proof))
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.json()["jkt"], at_token_endpoint.jkt);
    assert_eq!(ok.json()["iss"], issuer);
    assert_eq!(ok.json()["sub"], CLIENT_ID);
    // Stolen and replayed as Bearer: refused.
    let as_bearer = serve
        .get_dpop("/me", Some(("Bearer", &access_token)), None)
        .await;
    assert_eq!(as_bearer.status, 401, "{as_bearer:?}");
    assert!(
        as_bearer.challenges[0].starts_with("Bearer")
            && as_bearer.challenges[0].contains("invalid_token"),
        "{as_bearer:?}"
    );
    // Stolen with a proof by the thief's own key: refused.
    let thief = TempPath::new("thief.json");
    let foreign = node_proof(&thief, None, "GET", &me, Some(&access_token), None).await;
    let stolen = serve
        .get_dpop("/me", Some(("DPoP", &access_token)), Some(&foreign.proof))
        .await;
    assert_eq!(stolen.status, 401, "{stolen:?}");
    assert!(
        stolen.challenges[0].contains("invalid_dpop_proof"),
        "{stolen:?}"
    );
    // The proof the token endpoint saw is not one for this API.
    let reused = serve
        .get_dpop(
            "/me",
            Some(("DPoP", &access_token)),
            Some(&at_token_endpoint.proof),
        )
        .await;
    assert_eq!(reused.status, 401, "{reused:?}");

    // The same provider's Bearer tokens still work beside it.
    let response = client()
        .post(&token_endpoint)
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=read&resource=urn%3Atollgate%3Aapi")
        .send()
        .await
        .unwrap();
    let answer: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(answer["token_type"], "Bearer");
    let bearer = answer["access_token"].as_str().unwrap();
    let plain = serve.get_dpop("/me", Some(("Bearer", bearer)), None).await;
    assert_eq!(plain.status, 200, "{plain:?}");
    assert!(plain.json().get("jkt").is_none());
}
