#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `tollgate serve` honours every environment variable and route of its contract, and refuses a
//! bad configuration with a one-line reason.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Map, json};
use support::{Answer, Running, base_url, client, free_port, get, run, start, wait_healthy};
use tollgate::core::Algorithm;
use tollgate::testing::{DevIssuer, SigningKey, TokenBuilder};

const SECRET: &str = "serve-test-secret-0123456789abcdef-0123";

/// A started `serve` and its base URL.
struct Serve {
    process: Running,
    base: String,
    http: reqwest::Client,
}

impl Serve {
    async fn start(envs: &[(&str, &str)]) -> Serve {
        let mut all: Vec<(&str, &str)> = vec![("BIND", "127.0.0.1:0")];
        all.extend_from_slice(envs);
        let process = start(&["serve"], &all, "tollgate serve: listening on");
        let base = base_url(&process.ready);
        let http = client();
        wait_healthy(&http, &base).await;
        Serve {
            process,
            base,
            http,
        }
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        get(&self.http, &format!("{}{path}", self.base), token).await
    }

    async fn status(&self, path: &str, token: &str) -> u16 {
        self.get(path, Some(token)).await.status
    }
}

fn rs256(issuer: &DevIssuer) -> TokenBuilder {
    issuer.token().algorithm(Algorithm::RS256)
}

fn sign(builder: TokenBuilder) -> String {
    builder.sign().unwrap()
}

fn assert_invalid_token(answer: &Answer, description: &str) {
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(
        answer.error_code().as_deref(),
        Some("invalid_token"),
        "{answer:?}"
    );
    assert_eq!(
        answer.json()["error_description"],
        description,
        "{answer:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_url_every_route_and_rfc6750_answers() {
    let issuer = DevIssuer::start().await.unwrap();
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let jwks = issuer.jwks_url();
    let serve = Serve::start(&[("BIND", &bind), ("AUTH_JWKS_URL", &jwks)]).await;
    assert_eq!(serve.base, format!("http://{bind}"), "BIND is honoured");

    // Open routes.
    assert_eq!(serve.get("/public", None).await.status, 200);
    assert_eq!(serve.get("/healthz", None).await.status, 200);

    // No token: 401 with a bare challenge (RFC 6750 3.1: no error code).
    let none = serve.get("/me", None).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.challenge.as_deref(), Some("Bearer realm=\"api\""));
    assert_eq!(serve.get("/admin", None).await.status, 401);

    // A user (RS256, the default algorithm): /me 200 with sub and empty roles; /admin 403.
    let user = sign(
        rs256(&issuer)
            .subject("alice")
            .claim("scope", json!("read write")),
    );
    let me = serve.get("/me", Some(&user)).await;
    assert_eq!(me.status, 200, "{me:?}");
    let me = me.json();
    assert_eq!(me["sub"], "alice");
    assert_eq!(me["roles"], json!([]));
    assert_eq!(me["scopes"], json!(["read", "write"]));
    assert_eq!(me["iss"], issuer.issuer());
    assert_eq!(me["aud"], json!(["tollgate-dev"]));
    assert!(me["exp"].is_i64());
    let forbidden = serve.get("/admin", Some(&user)).await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(
        forbidden.error_code().as_deref(),
        Some("insufficient_scope")
    );
    assert!(forbidden.challenge.unwrap().contains("scope=\"admin\""));

    // An admin.
    let admin = sign(rs256(&issuer).subject("bob").roles(["admin"]));
    let welcome = serve.get("/admin", Some(&admin)).await;
    assert_eq!(welcome.status, 200, "{welcome:?}");
    assert_eq!(welcome.json()["sub"], "bob");
    assert_eq!(
        serve.get("/me", Some(&admin)).await.json()["roles"],
        json!(["admin"])
    );

    // AUTH_ISSUER and AUTH_AUDIENCE unset: neither is checked.
    let elsewhere = sign(
        rs256(&issuer)
            .claim("iss", json!("https://elsewhere.example"))
            .claim("aud", json!("another-api")),
    );
    assert_eq!(serve.status("/me", &elsewhere).await, 200);

    // AUTH_ALGORITHMS unset: RS256 only.
    let es256 = sign(issuer.token());
    assert_invalid_token(
        &serve.get("/me", Some(&es256)).await,
        "the token signing algorithm is not accepted",
    );
    // Expired, garbage, signed by someone else.
    assert_invalid_token(
        &serve
            .get("/me", Some(&sign(rs256(&issuer).expired())))
            .await,
        "the access token expired",
    );
    let garbage = serve.get("/me", Some("not.a.token")).await;
    assert_eq!(garbage.status, 401, "{garbage:?}");
    assert_eq!(garbage.error_code().as_deref(), Some("invalid_token"));
    let stranger = DevIssuer::start().await.unwrap();
    assert_invalid_token(
        &serve.get("/me", Some(&sign(rs256(&stranger)))).await,
        "the token signing key is not recognized",
    );
    // Two Authorization headers: 400 invalid_request.
    let twice = serve
        .http
        .get(format!("{}/me", serve.base))
        .header("authorization", format!("Bearer {user}"))
        .header("authorization", format!("Bearer {user}"))
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_and_audience_lists() {
    let issuer = DevIssuer::start().await.unwrap();
    let issuers = format!("https://other.example, {}", issuer.issuer());
    let serve = Serve::start(&[
        ("AUTH_JWKS_URL", &issuer.jwks_url()),
        ("AUTH_ISSUER", &issuers),
        ("AUTH_AUDIENCE", "api-a,api-b"),
    ])
    .await;
    assert_eq!(
        serve
            .status("/me", &sign(rs256(&issuer).audience("api-b")))
            .await,
        200
    );
    assert_eq!(
        serve
            .status("/me", &sign(rs256(&issuer).audience("api-a")))
            .await,
        200
    );
    let several = rs256(&issuer).claim("aud", json!(["x", "api-a"]));
    assert_eq!(serve.status("/me", &sign(several)).await, 200);
    assert_invalid_token(
        &serve.get("/me", Some(&sign(rs256(&issuer)))).await,
        "the token audience is not accepted",
    );
    assert_invalid_token(
        &serve
            .get("/me", Some(&sign(rs256(&issuer).without("aud"))))
            .await,
        "the token lacks a required claim",
    );
    let other = rs256(&issuer)
        .audience("api-a")
        .claim("iss", json!("https://other.example"));
    assert_eq!(serve.status("/me", &sign(other)).await, 200);
    let evil = rs256(&issuer)
        .audience("api-a")
        .claim("iss", json!("https://evil.example"));
    assert_invalid_token(
        &serve.get("/me", Some(&sign(evil))).await,
        "the token issuer is not accepted",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn algorithms_list() {
    let issuer = DevIssuer::start().await.unwrap();
    let jwks = issuer.jwks_url();
    let es256 = sign(issuer.token());
    let rs256 = sign(rs256(&issuer));

    let only_es = Serve::start(&[("AUTH_JWKS_URL", &jwks), ("AUTH_ALGORITHMS", "ES256")]).await;
    assert_eq!(only_es.status("/me", &es256).await, 200);
    assert_invalid_token(
        &only_es.get("/me", Some(&rs256)).await,
        "the token signing algorithm is not accepted",
    );

    let both = Serve::start(&[
        ("AUTH_JWKS_URL", &jwks),
        ("AUTH_ALGORITHMS", "RS256, ES256"),
    ])
    .await;
    assert_eq!(both.status("/me", &es256).await, 200);
    assert_eq!(both.status("/me", &rs256).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unset_audience_is_warned_about_at_start() {
    const WARNING: &str = "AUTH_AUDIENCE is not set: tokens for any audience are accepted";
    let issuer = DevIssuer::start().await.unwrap();
    let jwks = issuer.jwks_url();
    let open = Serve::start(&[("AUTH_JWKS_URL", &jwks)]).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !open.process.stderr().contains(WARNING) {
        assert!(
            Instant::now() < deadline,
            "no warning: {}",
            open.process.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let checked = Serve::start(&[("AUTH_JWKS_URL", &jwks), ("AUTH_AUDIENCE", "api")]).await;
    assert_eq!(
        checked
            .status("/me", &sign(rs256(&issuer).audience("api")))
            .await,
        200
    );
    assert!(!checked.process.stderr().contains(WARNING));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_claim_dotted_path() {
    let issuer = DevIssuer::start().await.unwrap();
    let serve = Serve::start(&[
        ("AUTH_JWKS_URL", &issuer.jwks_url()),
        ("AUTH_ROLES_CLAIM", "realm_access.roles"),
    ])
    .await;
    let keycloak = sign(rs256(&issuer).claim("realm_access", json!({"roles": ["admin", "ops"]})));
    assert_eq!(serve.status("/admin", &keycloak).await, 200);
    assert_eq!(
        serve.get("/me", Some(&keycloak)).await.json()["roles"],
        json!(["admin", "ops"])
    );
    // Top-level `roles` is not where this server looks.
    let top_level = sign(rs256(&issuer).roles(["admin"]));
    assert_eq!(serve.status("/admin", &top_level).await, 403);
    assert_eq!(
        serve.get("/me", Some(&top_level)).await.json()["roles"],
        json!([])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leeway_secs() {
    let issuer = DevIssuer::start().await.unwrap();
    let jwks = issuer.jwks_url();
    // Expired 10 s ago.
    let late = sign(rs256(&issuer).ttl_secs(-10));
    let lenient = Serve::start(&[("AUTH_JWKS_URL", &jwks), ("AUTH_LEEWAY_SECS", "30")]).await;
    assert_eq!(lenient.status("/me", &late).await, 200);
    let strict = Serve::start(&[("AUTH_JWKS_URL", &jwks), ("AUTH_LEEWAY_SECS", "0")]).await;
    assert_invalid_token(
        &strict.get("/me", Some(&late)).await,
        "the access token expired",
    );
    let default = Serve::start(&[("AUTH_JWKS_URL", &jwks)]).await;
    assert_eq!(
        default.status("/me", &late).await,
        401,
        "the default leeway is 0"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hs256_secret() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut claims = Map::new();
    claims.insert("sub".into(), json!("svc"));
    claims.insert("roles".into(), json!(["admin"]));
    claims.insert("exp".into(), json!(now + 600));
    let token = SigningKey::hmac(SECRET)
        .unwrap()
        .sign(&claims, "JWT")
        .unwrap();
    let forged = SigningKey::hmac("another-secret-0123456789abcdef-0123456")
        .unwrap()
        .sign(&claims, "JWT")
        .unwrap();

    // AUTH_ALGORITHMS unset with a secret: HS256.
    let serve = Serve::start(&[("AUTH_HS256_SECRET", SECRET)]).await;
    assert_eq!(serve.status("/admin", &token).await, 200);
    assert_eq!(serve.get("/me", Some(&token)).await.json()["sub"], "svc");
    assert_invalid_token(
        &serve.get("/me", Some(&forged)).await,
        "the token signature is invalid",
    );
    let issuer = DevIssuer::start().await.unwrap();
    assert_invalid_token(
        &serve.get("/me", Some(&sign(rs256(&issuer)))).await,
        "the token signing algorithm is not accepted",
    );
    // `tollgate token --secret` mints tokens this server accepts.
    let output = run(
        &[
            "token",
            "--secret",
            SECRET,
            "--sub",
            "cli",
            "--roles",
            "admin,ops",
            "--ttl",
            "60",
        ],
        &[],
    );
    assert!(output.status.success(), "{output:?}");
    let minted = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert_eq!(serve.status("/admin", &minted).await, 200);
    assert_eq!(
        serve.get("/me", Some(&minted)).await.json()["roles"],
        json!(["admin", "ops"])
    );

    let explicit =
        Serve::start(&[("AUTH_HS256_SECRET", SECRET), ("AUTH_ALGORITHMS", "HS256")]).await;
    assert_eq!(explicit.status("/me", &token).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_issuer_discovery_and_key_rotation() {
    let issuer = DevIssuer::start().await.unwrap();
    let serve = Serve::start(&[
        ("AUTH_OIDC_ISSUER", issuer.issuer()),
        ("AUTH_ISSUER", issuer.issuer()),
        ("AUTH_AUDIENCE", issuer.audience()),
        ("AUTH_ALGORITHMS", "RS256,ES256"),
    ])
    .await;
    assert_eq!(serve.status("/me", &sign(rs256(&issuer))).await, 200);
    assert_eq!(serve.status("/me", &sign(issuer.token())).await, 200);
    // New keys: a token with an unknown kid makes the server refetch the JWKS.
    issuer.rotate_keys().unwrap();
    assert_eq!(serve.status("/me", &sign(rs256(&issuer))).await, 200);
}

/// Polls `path` with `token` until it answers 200 (at most 20 s), after it answered 503.
async fn recovers(serve: &Serve, token: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = serve.get("/me", Some(token)).await;
        if answer.status == 200 {
            return;
        }
        assert_eq!(answer.status, 503, "{answer:?}");
        assert!(Instant::now() < deadline, "never recovered: {answer:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_server_down_at_start_then_up() {
    // Keys come from ports where nothing listens yet: the server still starts.
    let jwks_port = free_port();
    let oidc_port = free_port();
    let jwks_url = format!("http://127.0.0.1:{jwks_port}/.well-known/jwks.json");
    let oidc_issuer = format!("http://127.0.0.1:{oidc_port}");
    let by_jwks = Serve::start(&[("AUTH_JWKS_URL", &jwks_url)]).await;
    let by_oidc = Serve::start(&[("AUTH_OIDC_ISSUER", &oidc_issuer)]).await;

    let placeholder = DevIssuer::start().await.unwrap();
    let early = sign(rs256(&placeholder));
    for serve in [&by_jwks, &by_oidc] {
        let answer = serve.get("/me", Some(&early)).await;
        assert_eq!(answer.status, 503, "{answer:?}");
        assert_eq!(
            answer.json()["error"],
            "temporarily_unavailable",
            "{answer:?}"
        );
        assert_eq!(answer.challenge, None, "a 503 carries no challenge");
        assert_eq!(serve.get("/public", None).await.status, 200);
    }

    let jwks_issuer = DevIssuer::start_on(([127, 0, 0, 1], jwks_port).into(), "tollgate-dev")
        .await
        .unwrap();
    let oidc_issuer = DevIssuer::start_on(([127, 0, 0, 1], oidc_port).into(), "tollgate-dev")
        .await
        .unwrap();
    recovers(&by_jwks, &sign(rs256(&jwks_issuer))).await;
    recovers(&by_oidc, &sign(rs256(&oidc_issuer))).await;
}

/// Runs `serve` with `envs` and checks it refuses with exit code 2 and one stderr line that
/// mentions `mention`.
fn refuses(envs: &[(&str, &str)], mention: &str) {
    let output = run(&["serve"], envs);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{envs:?}: {output:?}");
    assert!(output.stdout.is_empty(), "{envs:?}: {output:?}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "{envs:?}: not one line: {stderr:?}"
    );
    assert!(stderr.ends_with('\n'));
    assert!(
        stderr.contains(mention),
        "{envs:?}: {stderr:?} lacks {mention:?}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_configuration_exits_with_one_line() {
    let jwks = ("AUTH_JWKS_URL", "http://127.0.0.1:9/jwks.json");
    let secret = ("AUTH_HS256_SECRET", SECRET);
    refuses(&[], "no key source");
    refuses(&[jwks, secret], "AUTH_JWKS_URL and AUTH_HS256_SECRET");
    refuses(
        &[jwks, ("AUTH_OIDC_ISSUER", "http://127.0.0.1:9")],
        "conflicting key sources",
    );
    refuses(
        &[jwks, secret, ("AUTH_OIDC_ISSUER", "http://127.0.0.1:9")],
        "conflicting key sources",
    );
    refuses(&[jwks, ("AUTH_ALGORITHMS", "RS257")], "AUTH_ALGORITHMS");
    refuses(&[jwks, ("AUTH_ALGORITHMS", "none")], "AUTH_ALGORITHMS");
    refuses(&[jwks, ("AUTH_ALGORITHMS", ",")], "AUTH_ALGORITHMS");
    refuses(&[jwks, ("AUTH_ALGORITHMS", "HS256")], "AUTH_ALGORITHMS");
    refuses(&[secret, ("AUTH_ALGORITHMS", "RS256")], "AUTH_ALGORITHMS");
    refuses(
        &[("AUTH_HS256_SECRET", "too-short")],
        "AUTH_HS256_SECRET is 9 bytes",
    );
    refuses(&[secret, ("AUTH_ALGORITHMS", "HS512")], "AUTH_HS256_SECRET");
    refuses(&[secret, ("BIND", "nonsense")], "BIND");
    refuses(&[secret, ("BIND", "127.0.0.1")], "BIND");
    refuses(&[secret, ("BIND", "127.0.0.1:99999")], "BIND");
    refuses(&[secret, ("AUTH_LEEWAY_SECS", "abc")], "AUTH_LEEWAY_SECS");
    refuses(&[secret, ("AUTH_LEEWAY_SECS", "-1")], "AUTH_LEEWAY_SECS");
    refuses(&[secret, ("AUTH_LEEWAY_SECS", "601")], "AUTH_LEEWAY_SECS");
    refuses(
        &[secret, ("AUTH_ROLES_CLAIM", "realm_access..roles")],
        "AUTH_ROLES_CLAIM",
    );
    refuses(
        &[("AUTH_JWKS_URL", "http://keys.example.com/jwks")],
        "AUTH_JWKS_URL",
    );
    refuses(&[("AUTH_JWKS_URL", "not a url")], "AUTH_JWKS_URL");
    refuses(
        &[("AUTH_OIDC_ISSUER", "ftp://issuer.example")],
        "AUTH_OIDC_ISSUER",
    );
}

#[test]
fn address_in_use_exits_with_one_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bind = taken.local_addr().unwrap().to_string();
    let output = run(
        &["serve"],
        &[("BIND", &bind), ("AUTH_HS256_SECRET", SECRET)],
    );
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(stderr.contains("cannot listen on"), "{stderr}");
}
