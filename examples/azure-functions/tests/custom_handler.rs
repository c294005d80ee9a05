//! The built `handler` binary, run as the Functions host runs it: port in
//! `FUNCTIONS_CUSTOMHANDLER_PORT`, requests forwarded to `/api/<function>` with the headers the
//! host adds (`enableForwardingHttpRequest`). Keys come from a dev issuer on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use tollgate::core::Algorithm;
use tollgate::testing::DevIssuer;

/// The handler process; killed when dropped.
struct Handler {
    child: Child,
    base: String,
}

impl Drop for Handler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the binary with `env` (and nothing inherited that could change its behaviour), then
/// waits until it accepts connections.
fn start(env: &[(&str, &str)]) -> Handler {
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_handler"));
    command
        .env_remove("TOLLGATE_ISSUER")
        .env_remove("TOLLGATE_AUDIENCE")
        .env_remove("TOLLGATE_JWKS_URL")
        .env_remove("TOLLGATE_TRUST_EASY_AUTH")
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("FUNCTIONS_WORKER_RUNTIME", "Custom")
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut handler = Handler {
        child: command.spawn().unwrap(),
        base: format!("http://127.0.0.1:{port}"),
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // The host gives a handler 60 s; a test build starts in well under 10.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return handler;
        }
        if let Some(status) = handler.child.try_wait().unwrap() {
            panic!("handler exited early: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "handler did not listen on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_verifying(issuer: &DevIssuer) -> Handler {
    start(&[
        ("TOLLGATE_ISSUER", issuer.issuer()),
        ("TOLLGATE_AUDIENCE", "api://tollgate-func"),
        ("TOLLGATE_JWKS_URL", &issuer.jwks_url()),
    ])
}

/// A GET as the Functions host forwards it: original path and headers, plus the host's own.
fn forwarded(handler: &Handler, path: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .get(format!("{}{path}", handler.base))
        .header(
            "x-azure-functions-invocationid",
            "a7f5c2d1-3b4e-4f6a-9c8d-1e2f3a4b5c6d",
        )
        .header("x-azure-functions-hostversion", "4.834.3.23206")
        .header("user-agent", "Azure-Functions-Host/4.834.3.23206")
        .header("x-forwarded-for", "203.0.113.7:50432")
        .header("x-forwarded-proto", "https")
        .header("x-original-url", path)
        .header("host", "tollgate-func.azurewebsites.net")
}

struct Answer {
    status: u16,
    challenge: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.text().await.unwrap();
    Answer {
        status,
        challenge,
        body,
    }
}

fn token(issuer: &DevIssuer, sub: &str, roles: &[&str]) -> String {
    issuer
        .token()
        .algorithm(Algorithm::RS256)
        .subject(sub)
        .audience("api://tollgate-func")
        .roles(roles.iter().copied())
        .scopes(["orders.read"])
        .sign()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn verifies_bearer_tokens_on_forwarded_requests() {
    let issuer = DevIssuer::start().await.unwrap();
    let handler = start_verifying(&issuer);

    // Valid token: 200 with the caller's claims.
    let alice = token(&issuer, "alice", &["reader"]);
    let answer = send(forwarded(&handler, "/api/me").bearer_auth(&alice)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let me = answer.json();
    assert_eq!(me["sub"], "alice");
    assert_eq!(me["roles"], json!(["reader"]));
    assert_eq!(me["scopes"], json!(["orders.read"]));
    assert_eq!(me["iss"], issuer.issuer());
    assert_eq!(me["aud"], "api://tollgate-func");

    // No token: 401 with a bare Bearer challenge.
    let answer = send(forwarded(&handler, "/api/me")).await;
    assert_eq!(answer.status, 401);
    assert!(
        answer.challenge.starts_with("Bearer"),
        "{}",
        answer.challenge
    );
    assert!(!answer.challenge.contains("error="), "{}", answer.challenge);

    // Bad tokens: 401 invalid_token.
    let other_audience = issuer
        .token()
        .algorithm(Algorithm::RS256)
        .subject("alice")
        .sign()
        .unwrap();
    let expired = issuer
        .token()
        .algorithm(Algorithm::RS256)
        .audience("api://tollgate-func")
        .expired()
        .sign()
        .unwrap();
    let es256 = issuer
        .token()
        .audience("api://tollgate-func")
        .sign()
        .unwrap();
    for (what, bad) in [
        ("garbage", "not.a.jwt"),
        ("wrong audience", other_audience.as_str()),
        ("expired", expired.as_str()),
        ("algorithm not allowed", es256.as_str()),
    ] {
        let answer = send(forwarded(&handler, "/api/me").bearer_auth(bad)).await;
        assert_eq!(answer.status, 401, "{what}: {}", answer.body);
        assert!(
            answer.challenge.contains(r#"error="invalid_token""#),
            "{what}: {}",
            answer.challenge
        );
    }

    // Admin: 403 without the role, 200 with it.
    let answer = send(forwarded(&handler, "/api/admin").bearer_auth(&alice)).await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(answer.challenge.contains(r#"error="insufficient_scope""#));
    let root = token(&issuer, "root", &["admin"]);
    let answer = send(forwarded(&handler, "/api/admin").bearer_auth(&root)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["hello"], "admin");

    // Only the function routes exist.
    let answer = send(forwarded(&handler, "/me").bearer_auth(&alice)).await;
    assert_eq!(answer.status, 404);
}

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const OTHER_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// An Entra ID access token of `tenant` (v1 or v2 issuer), signed by the dev issuer's key.
fn entra_token(issuer: &DevIssuer, tenant: &str, iss: &str, roles: &[&str]) -> String {
    issuer
        .token()
        .algorithm(Algorithm::RS256)
        .subject("entra-user")
        .audience("api://tollgate-func")
        .claim("iss", Value::from(iss))
        .claim("tid", Value::from(tenant))
        .claim("scp", Value::from("orders.read orders.write"))
        .roles(roles.iter().copied())
        .sign()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn entra_preset_guards_the_functions() {
    let issuer = DevIssuer::start().await.unwrap();
    // The dev issuer's JWKS stands in for Entra's `discovery/v2.0/keys`.
    let handler = start(&[
        ("TOLLGATE_PROVIDER", "entra"),
        ("TOLLGATE_ENTRA_TENANT", TENANT),
        ("TOLLGATE_AUDIENCE", "api://tollgate-func"),
        ("TOLLGATE_JWKS_URL", &issuer.jwks_url()),
    ]);
    let v2 = format!("https://login.microsoftonline.com/{TENANT}/v2.0");
    let v1 = format!("https://sts.windows.net/{TENANT}/");
    for iss in [&v2, &v1] {
        let token = entra_token(&issuer, TENANT, iss, &["admin"]);
        let answer = send(forwarded(&handler, "/api/me").bearer_auth(&token)).await;
        assert_eq!(answer.status, 200, "{iss}: {}", answer.body);
        let me = answer.json();
        assert_eq!(me["sub"], "entra-user");
        assert_eq!(me["roles"], json!(["admin"]));
        assert_eq!(me["scopes"], json!(["orders.read", "orders.write"]));
        let answer = send(forwarded(&handler, "/api/admin").bearer_auth(&token)).await;
        assert_eq!(answer.status, 200, "{iss}: {}", answer.body);
    }
    // No admin role: 403.
    let reader = entra_token(&issuer, TENANT, &v2, &["reader"]);
    let answer = send(forwarded(&handler, "/api/admin").bearer_auth(&reader)).await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    // Another tenant (same signing keys, as on Entra), and an issuer that is not the token's own
    // tenant: 401.
    let foreign_iss = format!("https://login.microsoftonline.com/{OTHER_TENANT}/v2.0");
    for (what, token) in [
        (
            "other tenant",
            entra_token(&issuer, OTHER_TENANT, &foreign_iss, &["admin"]),
        ),
        (
            "iss/tid mismatch",
            entra_token(&issuer, OTHER_TENANT, &v2, &["admin"]),
        ),
        ("dev issuer's own iss", token(&issuer, "alice", &["admin"])),
    ] {
        let answer = send(forwarded(&handler, "/api/me").bearer_auth(&token)).await;
        assert_eq!(answer.status, 401, "{what}: {}", answer.body);
        assert!(
            answer.challenge.contains(r#"error="invalid_token""#),
            "{what}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn easy_auth_mode_trusts_the_client_principal() {
    let handler = start(&[("TOLLGATE_TRUST_EASY_AUTH", "1")]);
    let principal = json!({
        "auth_typ": "aad",
        "claims": [
            {"typ": "aud", "val": "api://tollgate-func"},
            {"typ": "iss", "val": "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"},
            {"typ": "exp", "val": "1717003600"},
            {"typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier", "val": "jane-sub"},
            {"typ": "http://schemas.microsoft.com/identity/claims/scope", "val": "User.Read"},
            {"typ": "roles", "val": "admin"}
        ],
        "name_typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        "role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
    });
    let header = base64::engine::general_purpose::STANDARD.encode(principal.to_string());

    let answer =
        send(forwarded(&handler, "/api/me").header("x-ms-client-principal", &header)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let me = answer.json();
    assert_eq!(me["sub"], "jane-sub");
    assert_eq!(me["roles"], json!(["admin"]));
    assert_eq!(me["scopes"], json!(["User.Read"]));
    assert_eq!(me["aud"], "api://tollgate-func");
    let answer =
        send(forwarded(&handler, "/api/admin").header("x-ms-client-principal", &header)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    // Without the header (Easy Auth's "allow anonymous" forwards such requests): 401.
    let answer = send(forwarded(&handler, "/api/me")).await;
    assert_eq!(answer.status, 401);
    assert!(
        answer.challenge.starts_with("Bearer"),
        "{}",
        answer.challenge
    );
    // A bearer token is not read in this mode.
    let answer = send(forwarded(&handler, "/api/me").bearer_auth("a.b.c")).await;
    assert_eq!(answer.status, 401);
    // Garbage principal: 401 invalid_token.
    let answer = send(forwarded(&handler, "/api/me").header("x-ms-client-principal", "%%%")).await;
    assert_eq!(answer.status, 401);
    assert!(answer.challenge.contains(r#"error="invalid_token""#));
}

#[test]
fn refuses_to_start_without_configuration() {
    let port = free_port();
    let output = Command::new(env!("CARGO_BIN_EXE_handler"))
        .env_remove("TOLLGATE_ISSUER")
        .env_remove("TOLLGATE_AUDIENCE")
        .env_remove("TOLLGATE_JWKS_URL")
        .env_remove("TOLLGATE_TRUST_EASY_AUTH")
        .env_remove("TOLLGATE_PROVIDER")
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("TOLLGATE_JWKS_URL"), "{stderr}");

    // The Entra preset without its tenant: the variable is named.
    let output = Command::new(env!("CARGO_BIN_EXE_handler"))
        .env_remove("TOLLGATE_TRUST_EASY_AUTH")
        .env("TOLLGATE_PROVIDER", "entra")
        .env("TOLLGATE_AUDIENCE", "api://tollgate-func")
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("TOLLGATE_ENTRA_TENANT"), "{stderr}");

    let output = Command::new(env!("CARGO_BIN_EXE_handler"))
        .env_remove("FUNCTIONS_CUSTOMHANDLER_PORT")
        .env("TOLLGATE_TRUST_EASY_AUTH", "1")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("FUNCTIONS_CUSTOMHANDLER_PORT"), "{stderr}");
}
