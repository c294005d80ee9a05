//! Runs the built example binaries: configuration errors exit 2 with one line naming the
//! variable; a configured binary serves `/public`, refuses a request without a token, and
//! (keys from a loopback JWKS via `KEY_URL`) accepts its provider's tokens on `/me` and `/admin`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tollgate::core::Algorithm;
use tollgate::testing::{DevIssuer, TokenBuilder};

const POOL: &str = "us-east-1_Example1";
const COGNITO_ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example1";
const KEYCLOAK_ISS: &str = "https://sso.example.com/realms/acme";
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/// Environment variables and their values.
type Vars = &'static [(&'static str, &'static str)];

struct Binary {
    name: &'static str,
    path: &'static str,
    /// The required variables, with working values, in the order the binary reads them.
    required: Vars,
}

const BINARIES: &[Binary] = &[
    Binary {
        name: "cognito",
        path: env!("CARGO_BIN_EXE_cognito"),
        required: &[
            ("COGNITO_USER_POOL_ID", POOL),
            ("COGNITO_CLIENT_IDS", "client-a, client-b"),
        ],
    },
    Binary {
        name: "auth0",
        path: env!("CARGO_BIN_EXE_auth0"),
        required: &[
            ("AUTH0_DOMAIN", "my-tenant.us.auth0.com"),
            ("AUTH0_AUDIENCE", "https://api.example.com"),
        ],
    },
    Binary {
        name: "firebase",
        path: env!("CARGO_BIN_EXE_firebase"),
        required: &[("FIREBASE_PROJECT_ID", "my-project")],
    },
    Binary {
        name: "entra",
        path: env!("CARGO_BIN_EXE_entra"),
        required: &[
            ("ENTRA_TENANT_ID", TENANT),
            ("ENTRA_AUDIENCE", "api://my-api"),
        ],
    },
    Binary {
        name: "keycloak",
        path: env!("CARGO_BIN_EXE_keycloak"),
        required: &[
            ("KEYCLOAK_URL", "https://sso.example.com"),
            ("KEYCLOAK_REALM", "acme"),
            ("KEYCLOAK_CLIENT_ID", "orders-api"),
        ],
    },
    Binary {
        name: "google",
        path: env!("CARGO_BIN_EXE_google"),
        required: &[("GOOGLE_CLIENT_IDS", "1234-abc.apps.googleusercontent.com")],
    },
    Binary {
        name: "okta",
        path: env!("CARGO_BIN_EXE_okta"),
        required: &[("OKTA_ISSUER", "https://example.okta.com/oauth2/default")],
    },
];

fn binary(name: &str) -> &'static Binary {
    BINARIES.iter().find(|b| b.name == name).unwrap()
}

/// The binary with only these variables (and `BIND` on a free port).
fn command(path: &str, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(path);
    command
        .env_clear()
        .env("BIND", "127.0.0.1:0")
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Exit code and stderr of a binary expected to stop at once.
async fn fails(path: &str, vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let output = tokio::time::timeout(Duration::from_secs(20), command(path, vars).output())
        .await
        .expect("the binary did not exit: it started serving")
        .unwrap();
    (
        output.status.code(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

struct Server {
    _child: Child,
    _stdout: BufReader<tokio::process::ChildStdout>,
    base: String,
}

/// Starts the binary and waits for its `listening on http://...` line.
async fn start(binary: &Binary, extra: &[(&str, &str)]) -> Server {
    let mut vars = binary.required.to_vec();
    vars.extend_from_slice(extra);
    let mut child = command(binary.path, &vars).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stdout = BufReader::new(stdout);
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(20), stdout.read_line(&mut line))
        .await
        .expect("no `listening on` line")
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{}: unexpected first line {line:?}", binary.name))
        .to_owned();
    Server {
        _child: child,
        _stdout: stdout,
        base,
    }
}

async fn get(server: &Server, path: &str, token: Option<&str>) -> (u16, String, String) {
    let mut request = reqwest::Client::new().get(format!("{}{path}", server.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, challenge, response.text().await.unwrap())
}

/// An RS256 token of the dev issuer with these claims (replacing `iss`, `aud`...; `null` removes).
fn token(issuer: &DevIssuer, claims: Value) -> String {
    let mut builder: TokenBuilder = issuer.token().algorithm(Algorithm::RS256);
    for (name, value) in claims.as_object().unwrap() {
        builder = if value.is_null() {
            builder.without(name)
        } else {
            builder.claim(name, value.clone())
        };
    }
    builder.sign().unwrap()
}

#[tokio::test]
async fn a_missing_variable_exits_2_with_one_line_naming_it() {
    for binary in BINARIES {
        for (missing, _) in binary.required {
            let vars: Vec<_> = binary
                .required
                .iter()
                .copied()
                .filter(|(name, _)| name != missing)
                .collect();
            let (code, stderr) = fails(binary.path, &vars).await;
            assert_eq!(code, Some(2), "{} without {missing}: {stderr}", binary.name);
            assert_eq!(
                stderr.lines().count(),
                1,
                "{} without {missing}: {stderr:?}",
                binary.name
            );
            assert!(
                stderr.contains(missing),
                "{} without {missing}: {stderr:?}",
                binary.name
            );
            assert!(stderr.starts_with(binary.name), "{stderr:?}");
        }
    }
}

#[tokio::test]
async fn a_malformed_setting_exits_2_with_one_line() {
    let cases: &[(&str, Vars, &str)] = &[
        (
            "cognito",
            &[("COGNITO_USER_POOL_ID", "not-a-pool")],
            "user pool id",
        ),
        (
            "entra",
            &[("ENTRA_TENANT_ID", "contoso.onmicrosoft.com")],
            "tenant",
        ),
        ("auth0", &[("AUTH0_ROLES_CLAIM", "..")], "AUTH0_ROLES_CLAIM"),
        (
            "keycloak",
            &[("KEY_URL", "http://keys.example.com/certs")],
            "https",
        ),
    ];
    for (name, overrides, expected) in cases {
        let binary = binary(name);
        let mut vars: Vec<_> = binary
            .required
            .iter()
            .copied()
            .filter(|(var, _)| !overrides.iter().any(|(o, _)| o == var))
            .collect();
        vars.extend_from_slice(overrides);
        let (code, stderr) = fails(binary.path, &vars).await;
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr:?}");
        assert!(stderr.contains(expected), "{name}: {stderr:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_binary_serves_public_and_refuses_no_token() {
    let issuer = DevIssuer::start().await.unwrap();
    let key_url = issuer.jwks_url();
    for binary in BINARIES {
        let server = start(binary, &[("KEY_URL", &key_url)]).await;
        let (status, _, body) = get(&server, "/public", None).await;
        assert_eq!(
            (status, body.as_str()),
            (200, "no token needed\n"),
            "{}",
            binary.name
        );
        for path in ["/me", "/admin"] {
            let (status, challenge, _) = get(&server, path, None).await;
            assert_eq!(status, 401, "{} {path}", binary.name);
            assert!(
                challenge.starts_with("Bearer"),
                "{}: {challenge:?}",
                binary.name
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cognito_access_tokens() {
    let issuer = DevIssuer::start().await.unwrap();
    let server = start(binary("cognito"), &[("KEY_URL", &issuer.jwks_url())]).await;
    let access = json!({
        "iss": COGNITO_ISS, "aud": null, "sub": "alice-uuid", "token_use": "access",
        "client_id": "client-b", "scope": "orders/read", "cognito:groups": ["admin"],
    });
    let admin = token(&issuer, access.clone());

    let (status, _, body) = get(&server, "/me", Some(&admin)).await;
    assert_eq!(status, 200, "{body}");
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        me,
        json!({"sub": "alice-uuid", "roles": ["admin"], "scopes": ["orders/read"], "iss": COGNITO_ISS})
    );
    let (status, _, body) = get(&server, "/admin", Some(&admin)).await;
    assert_eq!((status, body.as_str()), (200, "welcome, admin\n"));

    let mut user = access.clone();
    user["cognito:groups"] = json!(["readers"]);
    let (status, challenge, _) = get(&server, "/admin", Some(&token(&issuer, user))).await;
    assert_eq!(status, 403, "{challenge}");
    assert!(challenge.contains("insufficient_scope"), "{challenge}");

    // Another app client, an ID token, another pool: refused.
    for (claim, value) in [
        ("client_id", json!("client-z")),
        ("token_use", json!("id")),
        (
            "iss",
            json!("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"),
        ),
    ] {
        let mut claims = access.clone();
        claims[claim] = value;
        let (status, challenge, _) = get(&server, "/me", Some(&token(&issuer, claims))).await;
        assert_eq!(status, 401, "{claim}");
        assert!(challenge.contains("invalid_token"), "{claim}: {challenge}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn keycloak_access_tokens() {
    let issuer = DevIssuer::start().await.unwrap();
    let server = start(binary("keycloak"), &[("KEY_URL", &issuer.jwks_url())]).await;
    let access = json!({
        "iss": KEYCLOAK_ISS, "aud": "account", "azp": "orders-api", "typ": "Bearer",
        "sub": "bob", "scope": "openid profile",
        "realm_access": {"roles": ["user"]},
        "resource_access": {"orders-api": {"roles": ["admin"]}},
    });
    let (status, _, body) = get(&server, "/me", Some(&token(&issuer, access.clone()))).await;
    assert_eq!(status, 200, "{body}");
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["roles"], json!(["user", "admin"]));
    assert_eq!(me["scopes"], json!(["openid", "profile"]));
    let (status, _, _) = get(&server, "/admin", Some(&token(&issuer, access.clone()))).await;
    assert_eq!(status, 200);

    // An ID token, another client's token: refused.
    for (claim, value) in [("typ", json!("ID")), ("azp", json!("other-client"))] {
        let mut claims = access.clone();
        claims[claim] = value;
        let (status, _, _) = get(&server, "/me", Some(&token(&issuer, claims))).await;
        assert_eq!(status, 401, "{claim}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_other_presets_accept_their_tokens() {
    let issuer = DevIssuer::start().await.unwrap();
    let key_url = issuer.jwks_url();
    let cases: &[(&str, Vars, Value, Value)] = &[
        (
            "auth0",
            &[("AUTH0_ROLES_CLAIM", "https://example.com/roles")],
            json!({"iss": "https://my-tenant.us.auth0.com/",
                   "aud": ["https://api.example.com", "https://my-tenant.us.auth0.com/userinfo"],
                   "https://example.com/roles": ["admin"], "permissions": ["read:orders"]}),
            json!(["admin"]),
        ),
        (
            "entra",
            &[],
            json!({"iss": format!("https://login.microsoftonline.com/{TENANT}/v2.0"),
                   "tid": TENANT, "aud": "api://my-api", "roles": ["admin"], "scp": "Orders.Read"}),
            json!(["admin"]),
        ),
        (
            "google",
            &[("GOOGLE_HOSTED_DOMAIN", "example.com")],
            json!({"iss": "https://accounts.google.com",
                   "aud": "1234-abc.apps.googleusercontent.com", "hd": "example.com"}),
            json!([]),
        ),
        (
            "okta",
            &[],
            json!({"iss": "https://example.okta.com/oauth2/default", "aud": "api://default",
                   "groups": ["admin"], "scp": ["orders.read"]}),
            json!(["admin"]),
        ),
    ];
    for (name, extra, claims, roles) in cases {
        let mut vars = vec![("KEY_URL", key_url.as_str())];
        vars.extend_from_slice(extra);
        let server = start(binary(name), &vars).await;
        let good = token(&issuer, claims.clone());
        let (status, _, body) = get(&server, "/me", Some(&good)).await;
        assert_eq!(status, 200, "{name}: {body}");
        let me: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(me["roles"], *roles, "{name}");
        assert_eq!(me["iss"], claims["iss"], "{name}");
        let admin = if roles.as_array().unwrap().is_empty() {
            403
        } else {
            200
        };
        let (status, _, _) = get(&server, "/admin", Some(&good)).await;
        assert_eq!(status, admin, "{name}");
        // The dev issuer's own `iss` is not the provider's.
        let mut foreign = claims.clone();
        foreign["iss"] = json!(issuer.issuer());
        let (status, _, _) = get(&server, "/me", Some(&token(&issuer, foreign))).await;
        assert_eq!(status, 401, "{name}");
    }
    // Google's hosted domain is enforced.
    let server = start(
        binary("google"),
        &[
            ("KEY_URL", &key_url),
            ("GOOGLE_HOSTED_DOMAIN", "example.com"),
        ],
    )
    .await;
    let other = token(
        &issuer,
        json!({"iss": "accounts.google.com", "aud": "1234-abc.apps.googleusercontent.com",
               "hd": "gmail.example"}),
    );
    assert_eq!(get(&server, "/me", Some(&other)).await.0, 401);
}
