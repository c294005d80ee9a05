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

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use support::{Running, base_url, client, start, wait_healthy};
use tollgate::testing::SigningKey;

const SECRET: &str = "dpop-interop-secret-0123456789abcdef-01";
const CLIENT_ID: &str = "tollgate-test";
const CLIENT_SECRET: &str = "tollgate-test-secret";
const AUDIENCE: &str = "urn:tollgate:api";

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tollgate-core/tests/oidc_provider")
}

fn require_tool(tool: &str) {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        found,
        "`{tool}` is not on PATH: the DPoP interop tests run panva's dpop and oidc-provider \
         packages, which need Node.js (v22 LTS or later; v20 works with a warning) and npm"
    );
}

/// Installs the node packages from the committed lock file unless already installed. Several
/// tests may ask at once: one installs, the others wait.
fn install_dependencies() {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    require_tool("node");
    let dir = provider_dir();
    let installed = ["oidc-provider", "dpop"]
        .iter()
        .all(|p| dir.join(format!("node_modules/{p}/package.json")).is_file());
    if installed {
        return;
    }
    require_tool("npm");
    let output = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .output()
        .expect("running npm ci");
    assert!(
        output.status.success(),
        "npm ci in {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

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

/// A started `serve` on a free port whose `AUTH_PUBLIC_URL` names it.
struct Serve {
    _process: Running,
    base: String,
    http: reqwest::Client,
}

#[derive(Debug)]
struct Reply {
    status: u16,
    challenges: Vec<String>,
    nonce: Option<String>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

impl Serve {
    async fn start(envs: &[(&str, &str)]) -> Serve {
        let port = support::free_port();
        let bind = format!("127.0.0.1:{port}");
        let public = format!("http://127.0.0.1:{port}");
        let mut all: Vec<(&str, &str)> = vec![("BIND", &bind), ("AUTH_PUBLIC_URL", &public)];
        all.extend_from_slice(envs);
        let process = start(&["serve"], &all, "tollgate serve: listening on");
        let base = base_url(&process.ready);
        let http = client();
        wait_healthy(&http, &base).await;
        Serve {
            _process: process,
            base,
            http,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str, scheme: &str, token: &str, proof: Option<&str>) -> Reply {
        let mut request = self
            .http
            .get(self.url(path))
            .header("authorization", format!("{scheme} {token}"));
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let challenges = response
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let nonce = response
            .headers()
            .get("dpop-nonce")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.text().await.unwrap();
        Reply {
            status,
            challenges,
            nonce,
            body,
        }
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
    install_dependencies();
    let serve = Serve::start(&[("AUTH_HS256_SECRET", SECRET), ("AUTH_DPOP", "required")]).await;
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
        let ok = serve.get("/me", "DPoP", &token, Some(&fresh.proof)).await;
        assert_eq!(ok.status, 200, "{alg}: {ok:?}");
        // The thumbprint the npm package computed is the one Tollgate computed.
        assert_eq!(ok.json()["jkt"], made.jkt, "{alg}");
        assert_eq!(ok.json()["sub"], format!("npm-{alg}"));
        let replay = serve.get("/me", "DPoP", &token, Some(&fresh.proof)).await;
        assert_eq!(replay.status, 401, "{alg}: {replay:?}");
        assert!(
            replay.challenges[0].contains("invalid_dpop_proof"),
            "{replay:?}"
        );
        // The proof made without the token (no ath) is refused for it.
        let no_ath = serve.get("/me", "DPoP", &token, Some(&made.proof)).await;
        assert_eq!(no_ath.status, 401, "{alg}: {no_ath:?}");
        // A proof for another path is refused.
        let other = node_proof(&key, None, "GET", &serve.url("/admin"), Some(&token), None).await;
        let mismatch = serve.get("/me", "DPoP", &token, Some(&other.proof)).await;
        assert_eq!(mismatch.status, 401, "{alg}: {mismatch:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_dpop_nonce_flow() {
    install_dependencies();
    let serve = Serve::start(&[
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
    let asked = serve.get("/me", "DPoP", &token, Some(&first.proof)).await;
    assert_eq!(asked.status, 401, "{asked:?}");
    assert!(asked.challenges[0].contains("use_dpop_nonce"), "{asked:?}");
    let nonce = asked.nonce.expect("DPoP-Nonce");
    let retry = node_proof(&key, None, "GET", &me, Some(&token), Some(&nonce)).await;
    assert_eq!(claims(&retry.proof)["nonce"], nonce.as_str());
    let ok = serve.get("/me", "DPoP", &token, Some(&retry.proof)).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.json()["jkt"], made.jkt);
}

/// A running `node provider.mjs` (panva's oidc-provider); killed when dropped.
struct OpenIdProvider {
    child: Child,
    port: u16,
}

impl OpenIdProvider {
    fn start() -> OpenIdProvider {
        let child = Command::new("node")
            .arg("provider.mjs")
            .arg("0")
            .current_dir(provider_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning node provider.mjs");
        let mut provider = OpenIdProvider { child, port: 0 };
        let log = Arc::new(Mutex::new(String::new()));
        let mut pipe = provider.child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let (tx, rx) = mpsc::channel();
        let stdout = provider.child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line.strip_prefix("LISTENING ") {
                    let _ = tx.send(port.trim().parse::<u16>());
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Ok(port)) => {
                provider.port = port;
                provider
            }
            other => panic!(
                "oidc-provider did not start ({other:?}); its stderr:\n{}",
                log.lock().unwrap()
            ),
        }
    }

    fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for OpenIdProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_provider_dpop_bound_token() {
    install_dependencies();
    let provider = OpenIdProvider::start();
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

    let serve = Serve::start(&[
        ("AUTH_OIDC_ISSUER", &issuer),
        ("AUTH_ALGORITHMS", "ES256"),
        ("AUTH_AUDIENCE", AUDIENCE),
        ("AUTH_DPOP", "allowed"),
    ])
    .await;
    let me = serve.url("/me");
    let fresh = node_proof(&key, None, "GET", &me, Some(&access_token), None).await;
    let ok = serve
        .get("/me", "DPoP", &access_token, Some(&fresh.proof))
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.json()["jkt"], at_token_endpoint.jkt);
    assert_eq!(ok.json()["iss"], issuer);
    assert_eq!(ok.json()["sub"], CLIENT_ID);
    // Stolen and replayed as Bearer: refused.
    let as_bearer = serve.get("/me", "Bearer", &access_token, None).await;
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
        .get("/me", "DPoP", &access_token, Some(&foreign.proof))
        .await;
    assert_eq!(stolen.status, 401, "{stolen:?}");
    assert!(
        stolen.challenges[0].contains("invalid_dpop_proof"),
        "{stolen:?}"
    );
    // The proof the token endpoint saw is not one for this API.
    let reused = serve
        .get("/me", "DPoP", &access_token, Some(&at_token_endpoint.proof))
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
    let plain = serve.get("/me", "Bearer", bearer, None).await;
    assert_eq!(plain.status, 200, "{plain:?}");
    assert!(plain.json().get("jkt").is_none());
}
