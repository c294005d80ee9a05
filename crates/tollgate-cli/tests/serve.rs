#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `tollgate serve` honours every environment variable and route of its contract, and refuses a
//! bad configuration with a one-line reason.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Map, json};
use support::{Answer, Serve, free_port, run};
use tollgate::core::Algorithm;
use tollgate::testing::{DevIssuer, SigningKey, TokenBuilder};
use tollgate_test_support::server::Loopback;

const SECRET: &str = "serve-test-secret-0123456789abcdef-0123";

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_issuer_binds_iss_unless_auth_issuer_widens_it() {
    let issuer = DevIssuer::start().await.unwrap();
    const ELSEWHERE: &str = "https://elsewhere.example";
    let own = sign(rs256(&issuer).subject("alice"));
    let foreign = sign(rs256(&issuer).claim("iss", json!(ELSEWHERE)));
    let without = sign(rs256(&issuer).without("iss"));

    // AUTH_ISSUER unset: the keys found by discovery vouch only for the discovered issuer.
    let bound = Serve::start(&[("AUTH_OIDC_ISSUER", issuer.issuer())]).await;
    assert_eq!(
        bound.get("/me", Some(&own)).await.json()["iss"],
        issuer.issuer()
    );
    for token in [&foreign, &without] {
        let answer = bound.get("/me", Some(token)).await;
        assert_eq!(answer.status, 401, "{answer:?}");
        assert_eq!(answer.error_code().as_deref(), Some("invalid_token"));
    }

    // AUTH_ISSUER, when set, is the list.
    let widened = format!("{},{ELSEWHERE}", issuer.issuer());
    let wide = Serve::start(&[
        ("AUTH_OIDC_ISSUER", issuer.issuer()),
        ("AUTH_ISSUER", &widened),
    ])
    .await;
    assert_eq!(wide.status("/me", &own).await, 200);
    assert_eq!(
        wide.get("/me", Some(&foreign)).await.json()["iss"],
        ELSEWHERE
    );
    assert_eq!(wide.get("/me", Some(&without)).await.status, 401);
}
// ---------------------------------------------------------------------------------------------
// Provider presets (AUTH_PROVIDER): keys served on loopback in each provider's own layout.

/// A stand-in identity provider on loopback: one RS256 key, served as a JWK Set (`/jwks`), as
/// Google's x509 certificate map (`/certs`), and through OIDC discovery for a Keycloak realm
/// (`/realms/acme`) and an Okta authorization server (`/oauth2/default`).
struct Idp {
    key: SigningKey,
    base: String,
}

impl Idp {
    async fn start() -> Idp {
        let key = SigningKey::generate(Algorithm::RS256).unwrap();
        let jwks = json!({ "keys": [key.public_jwk().unwrap()] });
        let pem = key.to_pkcs8_pem().unwrap();
        let pair = rcgen::KeyPair::from_pem(&pem).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["securetoken.test".to_owned()])
            .unwrap()
            .self_signed(&pair)
            .unwrap();
        let certs = json!({ key.kid(): cert.pem() });
        let server = Loopback::start().await;
        let base = server.base.clone();
        let discovery = |issuer: String, jwks_uri: String| {
            json!({
                "issuer": issuer,
                "jwks_uri": jwks_uri,
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            })
        };
        server.serve("/jwks", &jwks, &[]);
        server.serve("/certs", &certs, &[]);
        server.serve(
            "/realms/acme/.well-known/openid-configuration",
            &discovery(
                format!("{base}/realms/acme"),
                format!("{base}/realms/acme/protocol/openid-connect/certs"),
            ),
            &[],
        );
        server.serve("/realms/acme/protocol/openid-connect/certs", &jwks, &[]);
        server.serve(
            "/oauth2/default/.well-known/openid-configuration",
            &discovery(
                format!("{base}/oauth2/default"),
                format!("{base}/oauth2/default/v1/keys"),
            ),
            &[],
        );
        server.serve("/oauth2/default/v1/keys", &jwks, &[]);
        Idp { key, base }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A token with `claims` (plus `iat` and `exp` an hour ahead unless given).
    fn sign(&self, claims: serde_json::Value) -> String {
        self.sign_typ(claims, "JWT")
    }

    fn sign_typ(&self, claims: serde_json::Value, typ: &str) -> String {
        let now = now();
        let mut claims: Map<String, serde_json::Value> = serde_json::from_value(claims).unwrap();
        claims.entry("iat").or_insert(json!(now));
        claims.entry("exp").or_insert(json!(now + 3600));
        self.key.sign(&claims, typ).unwrap()
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `/me` of `token` is 200; its JSON.
async fn me(serve: &Serve, token: &str) -> serde_json::Value {
    let answer = serve.get("/me", Some(token)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.json()
}

/// `/admin` is 200 for `admin`, 403 `insufficient_scope` for `user`.
async fn admin_by_role(serve: &Serve, admin: &str, user: &str) {
    assert_eq!(serve.status("/admin", admin).await, 200);
    let forbidden = serve.get("/admin", Some(user)).await;
    assert_eq!(forbidden.status, 403, "{forbidden:?}");
    assert_eq!(
        forbidden.error_code().as_deref(),
        Some("insufficient_scope")
    );
}

/// 401 `invalid_token` with this description (which check refused it).
fn assert_refused(answer: &Answer, description: &str) {
    assert_invalid_token(answer, description);
}

const POOL: &str = "us-east-1_Tollgate1";
const COGNITO_ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Tollgate1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_cognito() {
    let idp = Idp::start().await;
    let jwks = idp.url("/jwks");
    let serve = Serve::start(&[
        ("AUTH_PROVIDER", "cognito"),
        ("AUTH_COGNITO_USER_POOL_ID", POOL),
        ("AUTH_COGNITO_CLIENT_IDS", "client-a,client-b"),
        ("AUTH_JWKS_URL", &jwks),
    ])
    .await;
    let access = |sub: &str, groups: &[&str]| {
        idp.sign(json!({
            "iss": COGNITO_ISS, "sub": sub, "token_use": "access", "client_id": "client-b",
            "cognito:groups": groups, "scope": "orders/read orders/write", "username": sub,
        }))
    };
    let admin = access("alice", &["admin", "staff"]);
    let body = me(&serve, &admin).await;
    assert_eq!(body["sub"], "alice");
    assert_eq!(body["roles"], json!(["admin", "staff"]));
    assert_eq!(body["scopes"], json!(["orders/read", "orders/write"]));
    assert_eq!(body["iss"], COGNITO_ISS);
    assert_eq!(body["aud"], json!([]));
    admin_by_role(&serve, &admin, &access("bob", &["staff"])).await;
    // An ID token where access tokens are wanted; an access token of another app client.
    let id = idp.sign(json!({
        "iss": COGNITO_ISS, "sub": "alice", "token_use": "id", "aud": "client-a",
        "cognito:groups": ["admin"],
    }));
    assert_refused(
        &serve.get("/me", Some(&id)).await,
        "the token has an invalid claim",
    );
    let other_client = idp.sign(json!({
        "iss": COGNITO_ISS, "sub": "alice", "token_use": "access", "client_id": "client-z",
    }));
    assert_refused(
        &serve.get("/me", Some(&other_client)).await,
        "the token has an invalid claim",
    );

    // AUTH_COGNITO_TOKEN_USE=id: the ID token passes, the access token does not.
    let ids = Serve::start(&[
        ("AUTH_PROVIDER", "cognito"),
        ("AUTH_COGNITO_USER_POOL_ID", POOL),
        ("AUTH_COGNITO_CLIENT_IDS", "client-a"),
        ("AUTH_COGNITO_TOKEN_USE", "id"),
        ("AUTH_JWKS_URL", &jwks),
    ])
    .await;
    assert_eq!(me(&ids, &id).await["aud"], json!(["client-a"]));
    assert_refused(
        &ids.get("/me", Some(&admin)).await,
        "the token lacks a required claim",
    );
}

const AUTH0_DOMAIN: &str = "tollgate-test.eu.auth0.com";
const AUTH0_ISS: &str = "https://tollgate-test.eu.auth0.com/";
const AUTH0_API: &str = "https://api.example.com";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_auth0() {
    let idp = Idp::start().await;
    let serve = Serve::start(&[
        ("AUTH_PROVIDER", "auth0"),
        ("AUTH_AUTH0_DOMAIN", AUTH0_DOMAIN),
        ("AUTH_AUDIENCE", AUTH0_API),
        ("AUTH_JWKS_URL", &idp.url("/jwks")),
    ])
    .await;
    let token = |sub: &str, permissions: &[&str]| {
        idp.sign(json!({
            "iss": AUTH0_ISS, "sub": sub,
            "aud": [AUTH0_API, "https://tollgate-test.eu.auth0.com/userinfo"],
            "scope": "openid profile", "permissions": permissions,
        }))
    };
    let admin = token("auth0|alice", &["admin", "read:orders"]);
    let body = me(&serve, &admin).await;
    assert_eq!(body["sub"], "auth0|alice");
    assert_eq!(body["roles"], json!(["admin", "read:orders"]));
    assert_eq!(
        body["scopes"],
        json!(["openid", "profile", "admin", "read:orders"])
    );
    assert_eq!(body["iss"], AUTH0_ISS);
    assert_eq!(
        body["aud"],
        json!([AUTH0_API, "https://tollgate-test.eu.auth0.com/userinfo"])
    );
    admin_by_role(&serve, &admin, &token("auth0|bob", &["read:orders"])).await;
    // Auth0's issuer has a trailing slash; without it, the token is not Auth0's.
    let no_slash = idp.sign(json!({
        "iss": "https://tollgate-test.eu.auth0.com", "sub": "auth0|alice", "aud": AUTH0_API,
    }));
    assert_refused(
        &serve.get("/me", Some(&no_slash)).await,
        "the token issuer is not accepted",
    );
    let other_api = idp.sign(
        json!({ "iss": AUTH0_ISS, "sub": "auth0|alice", "aud": "https://other.example.com" }),
    );
    assert_refused(
        &serve.get("/me", Some(&other_api)).await,
        "the token audience is not accepted",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_firebase() {
    let idp = Idp::start().await;
    let serve = Serve::start(&[
        ("AUTH_PROVIDER", "firebase"),
        ("AUTH_FIREBASE_PROJECT_ID", "tollgate-test"),
        // Google's layout: a map of kid to x509 certificate.
        ("AUTH_JWKS_URL", &idp.url("/certs")),
    ])
    .await;
    let iss = "https://securetoken.google.com/tollgate-test";
    let token = |sub: &str, roles: &[&str]| {
        idp.sign(json!({
            "iss": iss, "aud": "tollgate-test", "sub": sub, "user_id": sub,
            "auth_time": now() - 60, "roles": roles,
            "firebase": {"sign_in_provider": "password"},
        }))
    };
    let admin = token("uid-alice", &["admin"]);
    let body = me(&serve, &admin).await;
    assert_eq!(body["sub"], "uid-alice");
    assert_eq!(body["roles"], json!(["admin"]));
    assert_eq!(body["scopes"], json!([]));
    assert_eq!(body["iss"], iss);
    assert_eq!(body["aud"], json!(["tollgate-test"]));
    admin_by_role(&serve, &admin, &token("uid-bob", &[])).await;
    assert_refused(
        &serve.get("/me", Some(&token(&"u".repeat(129), &[]))).await,
        "the token has an invalid claim",
    );
    let no_auth_time = idp.sign(json!({ "iss": iss, "aud": "tollgate-test", "sub": "uid-alice" }));
    assert_refused(
        &serve.get("/me", Some(&no_auth_time)).await,
        "the token lacks a required claim",
    );
}

const TENANT_A: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const TENANT_B: &str = "0b5e3f2a-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
const TENANT_C: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_entra() {
    let idp = Idp::start().await;
    let jwks = idp.url("/jwks");
    let allowed = format!("{TENANT_A},{TENANT_B}");
    let serve = Serve::start(&[
        ("AUTH_PROVIDER", "entra"),
        ("AUTH_ENTRA_TENANT", "organizations"),
        ("AUTH_ENTRA_ALLOWED_TENANTS", &allowed),
        (
            "AUTH_AUDIENCE",
            "api://orders,6e74172b-be56-4843-9ff4-e66a39bb12e3",
        ),
        ("AUTH_JWKS_URL", &jwks),
    ])
    .await;
    let v2 = |tid: &str, roles: &[&str]| {
        idp.sign(json!({
            "iss": format!("https://login.microsoftonline.com/{tid}/v2.0"), "tid": tid,
            "aud": "6e74172b-be56-4843-9ff4-e66a39bb12e3", "sub": "entra-sub", "oid": "oid-1",
            "roles": roles, "scp": "Orders.Read Orders.Write",
        }))
    };
    let admin = v2(TENANT_A, &["admin"]);
    let body = me(&serve, &admin).await;
    assert_eq!(body["sub"], "entra-sub");
    assert_eq!(body["roles"], json!(["admin"]));
    assert_eq!(body["scopes"], json!(["Orders.Read", "Orders.Write"]));
    assert_eq!(
        body["iss"],
        format!("https://login.microsoftonline.com/{TENANT_A}/v2.0")
    );
    admin_by_role(&serve, &admin, &v2(TENANT_B, &[])).await;
    // v1 tokens of an allowed tenant, for the App ID URI.
    let v1 = idp.sign(json!({
        "iss": format!("https://sts.windows.net/{TENANT_B}/"), "tid": TENANT_B,
        "aud": "api://orders", "sub": "entra-sub",
    }));
    assert_eq!(serve.status("/me", &v1).await, 200);
    // An unlisted tenant; a tid that is not the issuer's.
    assert_refused(
        &serve.get("/me", Some(&v2(TENANT_C, &["admin"]))).await,
        "the token has an invalid claim",
    );
    let mismatch = idp.sign(json!({
        "iss": format!("https://login.microsoftonline.com/{TENANT_A}/v2.0"), "tid": TENANT_C,
        "aud": "api://orders", "sub": "entra-sub",
    }));
    assert_refused(
        &serve.get("/me", Some(&mismatch)).await,
        "the token issuer is not accepted",
    );

    // Single tenant: only its tokens.
    let single = Serve::start(&[
        ("AUTH_PROVIDER", "entra"),
        ("AUTH_ENTRA_TENANT", TENANT_A),
        ("AUTH_AUDIENCE", "6e74172b-be56-4843-9ff4-e66a39bb12e3"),
        ("AUTH_JWKS_URL", &jwks),
    ])
    .await;
    assert_eq!(single.status("/me", &admin).await, 200);
    assert_refused(
        &single.get("/me", Some(&v2(TENANT_B, &[]))).await,
        "the token issuer is not accepted",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_keycloak() {
    let idp = Idp::start().await;
    // Keys by discovery: <base>/realms/acme/.well-known/openid-configuration on loopback.
    let serve = Serve::start(&[
        ("AUTH_PROVIDER", "keycloak"),
        ("AUTH_KEYCLOAK_URL", &idp.base),
        ("AUTH_KEYCLOAK_REALM", "acme"),
        ("AUTH_KEYCLOAK_CLIENT_ID", "orders-api"),
    ])
    .await;
    let iss = idp.url("/realms/acme");
    let token = |typ: &str, client_roles: &[&str]| {
        idp.sign(json!({
            "iss": iss, "sub": "kc-alice", "typ": typ, "azp": "orders-api", "aud": "account",
            "realm_access": {"roles": ["offline_access", "user"]},
            "resource_access": {"orders-api": {"roles": client_roles}, "account": {"roles": ["manage-account"]}},
            "scope": "openid profile email",
        }))
    };
    let admin = token("Bearer", &["admin"]);
    let body = me(&serve, &admin).await;
    assert_eq!(body["sub"], "kc-alice");
    assert_eq!(body["roles"], json!(["offline_access", "user", "admin"]));
    assert_eq!(body["scopes"], json!(["openid", "profile", "email"]));
    assert_eq!(body["iss"], iss);
    assert_eq!(body["aud"], json!(["account"]));
    admin_by_role(&serve, &admin, &token("Bearer", &[])).await;
    // An ID token (payload typ ID); a token of another client.
    assert_refused(
        &serve.get("/me", Some(&token("ID", &["admin"]))).await,
        "the token has an invalid claim",
    );
    let other = idp.sign(
        json!({ "iss": iss, "sub": "kc-alice", "typ": "Bearer", "azp": "web", "aud": "account" }),
    );
    assert_refused(
        &serve.get("/me", Some(&other)).await,
        "the token audience is not accepted",
    );
}

const GOOGLE_CLIENT: &str = "1234-tollgate.apps.googleusercontent.com";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_google() {
    let idp = Idp::start().await;
    let serve = Serve::start(&[
        ("AUTH_PROVIDER", "google"),
        ("AUTH_GOOGLE_CLIENT_IDS", GOOGLE_CLIENT),
        ("AUTH_GOOGLE_HOSTED_DOMAIN", "example.com"),
        ("AUTH_JWKS_URL", &idp.url("/jwks")),
    ])
    .await;
    let token = |iss: &str, hd: &str| {
        idp.sign(json!({
            "iss": iss, "aud": GOOGLE_CLIENT, "azp": GOOGLE_CLIENT, "sub": "1100220033",
            "hd": hd, "email": "alice@example.com", "email_verified": true, "roles": ["admin"],
        }))
    };
    let user = token("https://accounts.google.com", "example.com");
    let body = me(&serve, &user).await;
    assert_eq!(body["sub"], "1100220033");
    // Google tokens carry no roles: a `roles` claim is not read.
    assert_eq!(body["roles"], json!([]));
    assert_eq!(body["aud"], json!([GOOGLE_CLIENT]));
    assert_eq!(
        serve
            .status("/me", &token("accounts.google.com", "example.com"))
            .await,
        200
    );
    let forbidden = serve.get("/admin", Some(&user)).await;
    assert_eq!(forbidden.status, 403, "{forbidden:?}");
    assert_refused(
        &serve
            .get(
                "/me",
                Some(&token("https://accounts.google.com", "other.com")),
            )
            .await,
        "the token has an invalid claim",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_okta() {
    let idp = Idp::start().await;
    let iss = idp.url("/oauth2/default");
    // Keys by discovery of the authorization server on loopback.
    let serve = Serve::start(&[("AUTH_PROVIDER", "okta"), ("AUTH_OKTA_ISSUER", &iss)]).await;
    let token = |aud: &str, groups: &[&str]| {
        idp.sign(json!({
            "iss": iss, "aud": aud, "sub": "alice@example.com", "cid": "0oa1", "uid": "00u1",
            "scp": ["orders.read", "orders.write"], "groups": groups,
        }))
    };
    let admin = token("api://default", &["admin", "Everyone"]);
    let body = me(&serve, &admin).await;
    assert_eq!(body["sub"], "alice@example.com");
    assert_eq!(body["roles"], json!(["admin", "Everyone"]));
    assert_eq!(body["scopes"], json!(["orders.read", "orders.write"]));
    assert_eq!(body["iss"], iss);
    assert_eq!(body["aud"], json!(["api://default"]));
    admin_by_role(&serve, &admin, &token("api://default", &["Everyone"])).await;
    assert_refused(
        &serve
            .get("/me", Some(&token("api://other", &["admin"])))
            .await,
        "the token audience is not accepted",
    );
}

#[test]
fn bad_provider_configuration_exits_with_one_line() {
    let cognito = ("AUTH_PROVIDER", "cognito");
    let pool = ("AUTH_COGNITO_USER_POOL_ID", POOL);
    let clients = ("AUTH_COGNITO_CLIENT_IDS", "client-a");
    refuses(
        &[cognito, clients],
        "AUTH_COGNITO_USER_POOL_ID is required with AUTH_PROVIDER=cognito",
    );
    refuses(
        &[cognito, pool],
        "AUTH_COGNITO_CLIENT_IDS is required with AUTH_PROVIDER=cognito",
    );
    refuses(
        &[cognito, ("AUTH_COGNITO_USER_POOL_ID", "pool"), clients],
        "AUTH_COGNITO_USER_POOL_ID",
    );
    refuses(
        &[
            cognito,
            pool,
            clients,
            ("AUTH_COGNITO_TOKEN_USE", "refresh"),
        ],
        "AUTH_COGNITO_TOKEN_USE",
    );
    refuses(&[("AUTH_PROVIDER", "cognitoo")], "AUTH_PROVIDER");
    refuses(
        &[cognito, pool, clients, ("AUTH_HS256_SECRET", SECRET)],
        "AUTH_HS256_SECRET",
    );
    refuses(
        &[
            cognito,
            pool,
            clients,
            ("AUTH_OIDC_ISSUER", "https://idp.example"),
        ],
        "AUTH_OIDC_ISSUER",
    );
    refuses(
        &[cognito, pool, clients, ("AUTH_ISSUER", COGNITO_ISS)],
        "AUTH_ISSUER",
    );
    refuses(
        &[cognito, pool, clients, ("AUTH_FIREBASE_PROJECT_ID", "p")],
        "AUTH_FIREBASE_PROJECT_ID",
    );
    let entra = ("AUTH_PROVIDER", "entra");
    let audience = ("AUTH_AUDIENCE", "api://orders");
    refuses(
        &[entra, ("AUTH_ENTRA_TENANT", "organizations"), audience],
        "AUTH_ENTRA_ALLOWED_TENANTS is required",
    );
    refuses(
        &[
            entra,
            ("AUTH_ENTRA_TENANT", TENANT_A),
            ("AUTH_ENTRA_ALLOWED_TENANTS", "*"),
            audience,
        ],
        "AUTH_ENTRA_ALLOWED_TENANTS",
    );
    refuses(
        &[entra, ("AUTH_ENTRA_TENANT", TENANT_A)],
        "AUTH_AUDIENCE is required with AUTH_PROVIDER=entra",
    );
    refuses(
        &[
            ("AUTH_PROVIDER", "auth0"),
            ("AUTH_AUTH0_DOMAIN", AUTH0_DOMAIN),
        ],
        "AUTH_AUDIENCE is required with AUTH_PROVIDER=auth0",
    );
    refuses(
        &[
            ("AUTH_PROVIDER", "keycloak"),
            ("AUTH_KEYCLOAK_URL", "http://sso.example.com"),
            ("AUTH_KEYCLOAK_REALM", "acme"),
            ("AUTH_KEYCLOAK_CLIENT_ID", "orders-api"),
        ],
        "AUTH_KEYCLOAK_URL",
    );
    refuses(
        &[
            ("AUTH_PROVIDER", "okta"),
            ("AUTH_OKTA_ISSUER", "http://example.okta.com/oauth2/default"),
        ],
        "AUTH_OKTA_ISSUER",
    );
    refuses(&[("AUTH_PROVIDER", "google")], "AUTH_GOOGLE_CLIENT_IDS");
    refuses(&[("AUTH_PROVIDER", "firebase")], "AUTH_FIREBASE_PROJECT_ID");
}
