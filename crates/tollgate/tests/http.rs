//! The layer, extractors and guards driven over real HTTP on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_test_support as support;

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use support::server::serve;
use support::*;
use tollgate::core::{
    Algorithm, CryptoProvider, KeyFuture, KeyLookupError, KeyRequest, KeySource, StandardClaims,
    Verifier,
};
use tollgate::metadata::{ProtectedResourceMetadata, WELL_KNOWN_PATH};
use tollgate::{
    AuthError, AuthLayer, Authenticated, Challenge, Claims, ForwardClaimsLayer, RequireAllRoles,
    RequireAllScopes, RequireAnyRole, RequireAnyScope, RequireRole, RequireScope,
    require_all_roles, require_all_scopes, require_any_role, require_any_scope, require_role,
    require_scope,
};

tollgate::role!(Admin = "admin");
tollgate::role!(User = "user");
tollgate::role!(Auditor = "auditor");
tollgate::scope!(Write = "write");
tollgate::scope!(Delete = "delete");

#[derive(Clone, Deserialize)]
struct MyClaims {
    sub: String,
}

async fn me(Claims(claims): Claims<MyClaims>) -> String {
    claims.sub
}

async fn whoami(claims: Option<Claims<StandardClaims>>) -> String {
    claims
        .and_then(|Claims(c)| c.registered.sub)
        .unwrap_or_else(|| "anonymous".into())
}

async fn whoami_option(claims: Option<Claims<MyClaims>>) -> String {
    claims
        .map(|Claims(c)| c.sub)
        .unwrap_or_else(|| "anonymous".into())
}

fn app(layer: AuthLayer) -> Router {
    let guarded = Router::new()
        .route("/reports", get(|| async { "reports" }))
        .route_layer(require_all_scopes(["read", "reports"]));
    let staff = Router::new()
        .route("/staff", get(|| async { "staff" }))
        .route_layer(require_any_role(["admin", "user"]));
    let admins = Router::new()
        .route("/admins", get(|| async { "admins" }))
        .route_layer(require_role("admin"));
    Router::new()
        .route("/me", get(me))
        .route("/whoami", get(whoami))
        .route("/whoami-option", get(whoami_option))
        .route("/admin", get(|_: RequireRole<Admin>| async { "admin" }))
        .route(
            "/user-and-auditor",
            get(|_: RequireAllRoles<(User, Auditor)>| async { "both" }),
        )
        .route(
            "/admin-or-user",
            get(|_: RequireAnyRole<(Admin, User)>| async { "either" }),
        )
        .route("/write", get(|_: RequireScope<Write>| async { "write" }))
        .route(
            "/write-delete",
            get(|_: RequireAllScopes<(Write, Delete)>| async { "wd" }),
        )
        .route(
            "/raw",
            get(|auth: Authenticated| async move { auth.roles().join(",") }),
        )
        .merge(guarded)
        .merge(staff)
        .merge(admins)
        .layer(layer)
}

struct Answer {
    status: u16,
    challenge: Option<String>,
    body: String,
}

async fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, String)]) -> Answer {
    let mut request = reqwest::Client::new().get(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    Answer {
        status,
        challenge,
        body: response.text().await.unwrap(),
    }
}

fn bearer(token: &str) -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {token}"))]
}

async fn default_app() -> SocketAddr {
    serve(app(AuthLayer::new(default_verifier()))).await
}

#[tokio::test]
async fn rfc6750_answers() {
    let addr = default_app().await;

    let missing = get_with(addr, "/me", &[]).await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.challenge.as_deref(),
        Some(r#"Bearer realm="api""#),
        "no error code without credentials"
    );

    let ok = get_with(addr, "/me", &bearer(&sign(Algorithm::ES256, &claims()))).await;
    assert_eq!((ok.status, ok.body.as_str()), (200, "user-1"));

    let expired = sign(
        Algorithm::ES256,
        &claims_with("exp", Some(json!(now() - 3600))),
    );
    let answer = get_with(addr, "/me", &bearer(&expired)).await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.challenge.as_deref(),
        Some(
            r#"Bearer realm="api", error="invalid_token", error_description="the access token expired""#
        )
    );
    let body: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(
        body,
        json!({"error": "invalid_token", "error_description": "the access token expired"})
    );

    let garbage = get_with(addr, "/me", &bearer("not.a.jwt")).await;
    assert_eq!(garbage.status, 401);
    assert!(
        garbage
            .challenge
            .unwrap()
            .contains(r#"error="invalid_token""#)
    );

    for malformed in ["Bearer a b", "Bearer", "Bearer a,b"] {
        let answer = get_with(addr, "/me", &[("authorization", malformed.to_owned())]).await;
        assert_eq!(answer.status, 400, "{malformed}");
        assert!(
            answer
                .challenge
                .unwrap()
                .contains(r#"error="invalid_request""#)
        );
    }

    let token = sign(Algorithm::ES256, &claims());
    let two = [
        ("authorization", format!("Bearer {token}")),
        ("authorization", format!("Bearer {token}")),
    ];
    let answer = get_with(addr, "/me", &two).await;
    assert_eq!(
        answer.status, 400,
        "two Authorization headers: never first-one-wins"
    );

    let basic = get_with(
        addr,
        "/me",
        &[("authorization", "Basic dXNlcjpwYXNz".to_owned())],
    )
    .await;
    assert_eq!(
        (basic.status, basic.challenge.as_deref()),
        (401, Some(r#"Bearer realm="api""#))
    );
    let lower = get_with(
        addr,
        "/me",
        &[("authorization", format!("bearer   {token}"))],
    )
    .await;
    assert_eq!(
        lower.status, 200,
        "scheme is case-insensitive, several spaces allowed"
    );
}

#[tokio::test]
async fn guards_any_and_all() {
    let addr = default_app().await;
    let with_roles = |roles: Value, scope: &str| {
        let mut c = claims_with("roles", Some(roles));
        c["scope"] = json!(scope);
        bearer(&sign(Algorithm::EdDSA, &c))
    };
    let user = with_roles(json!(["user"]), "read");
    let admin = with_roles(json!(["admin"]), "read reports write");
    let both = with_roles(json!(["user", "auditor"]), "write delete");

    let denied = get_with(addr, "/admin", &user).await;
    assert_eq!(denied.status, 403);
    assert_eq!(
        denied.challenge.as_deref(),
        Some(
            r#"Bearer realm="api", error="insufficient_scope", error_description="the token lacks the required role or scope", scope="admin""#
        )
    );
    assert_eq!(get_with(addr, "/admin", &admin).await.status, 200);
    assert_eq!(
        get_with(addr, "/admin", &[]).await.status,
        401,
        "no token: 401 not 403"
    );

    assert_eq!(get_with(addr, "/user-and-auditor", &user).await.status, 403);
    assert_eq!(get_with(addr, "/user-and-auditor", &both).await.status, 200);
    assert_eq!(get_with(addr, "/admin-or-user", &user).await.status, 200);
    assert_eq!(get_with(addr, "/admin-or-user", &both).await.status, 200);
    assert_eq!(
        get_with(addr, "/admin-or-user", &with_roles(json!([]), ""))
            .await
            .status,
        403
    );

    assert_eq!(get_with(addr, "/write", &admin).await.status, 200);
    assert_eq!(get_with(addr, "/write", &user).await.status, 403);
    let partial = get_with(addr, "/write-delete", &admin).await;
    assert_eq!(partial.status, 403);
    assert!(
        partial.challenge.unwrap().ends_with(r#"scope="delete""#),
        "names what is missing"
    );
    assert_eq!(get_with(addr, "/write-delete", &both).await.status, 200);

    // Route layers.
    assert_eq!(get_with(addr, "/reports", &admin).await.status, 200);
    assert_eq!(get_with(addr, "/reports", &user).await.status, 403);
    assert_eq!(get_with(addr, "/staff", &user).await.status, 200);
    assert_eq!(
        get_with(addr, "/staff", &with_roles(json!(["auditor"]), ""))
            .await
            .status,
        403
    );
    assert_eq!(get_with(addr, "/admins", &admin).await.status, 200);
    assert_eq!(get_with(addr, "/admins", &both).await.status, 403);
}

#[tokio::test]
async fn roles_claim_path_is_configured_once() {
    let layer = AuthLayer::builder(default_verifier())
        .roles_claim("realm_access.roles")
        .unwrap()
        .build();
    let addr = serve(app(layer)).await;
    let keycloak = claims_with("realm_access", Some(json!({"roles": ["admin"]})));
    let token = bearer(&sign(Algorithm::RS256, &keycloak));
    assert_eq!(
        get_with(addr, "/admin", &token).await.status,
        200,
        "extractor guard"
    );
    assert_eq!(
        get_with(addr, "/admins", &token).await.status,
        200,
        "route-layer guard"
    );
    assert_eq!(get_with(addr, "/raw", &token).await.body, "admin");
    // The top-level `roles: ["user"]` of the default claims no longer counts.
    assert_eq!(
        get_with(addr, "/staff", &token).await.status,
        200,
        "admin counts for any-of"
    );
}

#[tokio::test]
async fn optional_mode() {
    let addr = serve(app(AuthLayer::builder(default_verifier())
        .optional()
        .build()))
    .await;
    assert_eq!(get_with(addr, "/whoami", &[]).await.body, "anonymous");
    let ok = get_with(addr, "/whoami", &bearer(&sign(Algorithm::ES256, &claims()))).await;
    assert_eq!(ok.body, "user-1");
    assert_eq!(
        get_with(addr, "/whoami-option", &[]).await.body,
        "anonymous"
    );
    let token = bearer(&sign(Algorithm::ES256, &claims()));
    assert_eq!(
        get_with(addr, "/whoami-option", &token).await.body,
        "user-1"
    );
    let bad = get_with(addr, "/whoami", &bearer("bad.token.here")).await;
    assert_eq!(bad.status, 401, "present-and-bad is still 401");
    let me = get_with(addr, "/me", &[]).await;
    assert_eq!(me.status, 401, "Claims<T> without a token rejects");
    assert_eq!(me.challenge.as_deref(), Some(r#"Bearer realm="api""#));
}

#[tokio::test]
async fn cookie_and_query_sources_are_opt_in() {
    let token = sign(Algorithm::ES256, &claims());
    let plain = default_app().await;
    assert_eq!(
        get_with(plain, "/me", &[("cookie", format!("at={token}"))])
            .await
            .status,
        401
    );
    assert_eq!(
        get_with(plain, &format!("/me?access_token={token}"), &[])
            .await
            .status,
        401
    );

    let layer = AuthLayer::builder(default_verifier())
        .cookie("at")
        .query_parameter("access_token")
        .build();
    let addr = serve(app(layer)).await;
    assert_eq!(
        get_with(addr, "/me", &[("cookie", format!("theme=x; at={token}"))])
            .await
            .status,
        200
    );
    assert_eq!(
        get_with(addr, &format!("/me?access_token={token}"), &[])
            .await
            .status,
        200
    );
    let twice = get_with(addr, &format!("/me?access_token={token}"), &bearer(&token)).await;
    assert_eq!(twice.status, 400, "more than one method is invalid_request");
}

#[derive(Debug)]
struct Down;

impl KeySource for Down {
    fn key<'a>(&'a self, _request: KeyRequest<'a>) -> KeyFuture<'a> {
        KeyFuture::ready(Err(KeyLookupError::Unavailable(
            "JWKS endpoint unreachable".into(),
        )))
    }
}

#[tokio::test]
async fn key_source_unavailable_is_503() {
    let verifier = Verifier::new(policy().build().unwrap(), Down, CryptoProvider::default());
    let addr = serve(app(AuthLayer::new(verifier))).await;
    let answer = get_with(addr, "/me", &bearer(&sign(Algorithm::ES256, &claims()))).await;
    assert_eq!(answer.status, 503);
    assert!(answer.body.contains("temporarily_unavailable"));
    assert!(
        !answer.body.contains("unreachable"),
        "internal detail not leaked"
    );
}

#[tokio::test]
async fn custom_error_answer_and_resource_metadata() {
    let layer = AuthLayer::builder(default_verifier())
        .realm("orders")
        .resource_metadata("https://api.example.com/.well-known/oauth-protected-resource")
        .error_responder(
            |error: &tollgate::AuthError, challenge: &tollgate::Challenge| {
                let mut response = http::Response::new(axum::body::Body::from(format!(
                    "custom {}",
                    error.status().as_u16()
                )));
                *response.status_mut() = error.status();
                if let Some(value) = challenge.www_authenticate(error) {
                    response.headers_mut().insert("www-authenticate", value);
                }
                response
            },
        )
        .build();
    let metadata = ProtectedResourceMetadata::new("https://api.example.com")
        .authorization_server(ISSUER)
        .scopes(["read"]);
    let router = Router::new()
        .route_service(WELL_KNOWN_PATH, metadata.into_service())
        .merge(app(layer));
    let addr = serve(router).await;
    let answer = get_with(addr, "/me", &[]).await;
    assert_eq!((answer.status, answer.body.as_str()), (401, "custom 401"));
    assert_eq!(
        answer.challenge.as_deref(),
        Some(
            r#"Bearer realm="orders", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource""#
        )
    );
    // The metadata route was merged outside the layered routes: no token needed.
    let doc: Value =
        serde_json::from_str(&get_with(addr, WELL_KNOWN_PATH, &[]).await.body).unwrap();
    assert_eq!(doc["resource"], "https://api.example.com");
    assert_eq!(doc["authorization_servers"], json!([ISSUER]));
    assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    // And the guard rejection uses the custom answer too.
    let user = bearer(&sign(Algorithm::ES256, &claims()));
    assert_eq!(get_with(addr, "/admin", &user).await.body, "custom 403");
}

/// Claims no test token fits.
#[derive(Clone, Deserialize)]
struct Strict {
    #[allow(dead_code)]
    must_exist: u64,
}

/// Status, code and client text in the body, the challenge as configured: shows which answers
/// went through it.
fn custom_answer(error: &AuthError, challenge: &Challenge) -> http::Response<axum::body::Body> {
    let code = error.code().map_or("-", |code| code.as_str());
    let body = format!(
        "custom {} {code} {}",
        error.status().as_u16(),
        error.description()
    );
    let mut response = http::Response::new(axum::body::Body::from(body));
    *response.status_mut() = error.status();
    if let Some(value) = challenge.www_authenticate(error) {
        response.headers_mut().insert("www-authenticate", value);
    }
    response
}

/// One responder shapes every answer a request can get behind the layer: the layer's own 400
/// and 401, the extractors' rejections (no token in optional mode, claims of the wrong shape,
/// `Option<Claims<T>>` included), and the guards' 401s and 403s, as extractors and as route
/// layers. Each failure has one client text, the core error's.
#[tokio::test]
async fn custom_responder_shapes_every_answer() {
    let layer = AuthLayer::builder(default_verifier())
        .optional()
        .realm("orders")
        .error_responder(custom_answer)
        .build();
    let strict = Router::new()
        .route(
            "/strict",
            get(|Claims(_): Claims<Strict>| async { "strict" }),
        )
        .route(
            "/strict-option",
            get(|claims: Option<Claims<Strict>>| async move {
                if claims.is_some() { "some" } else { "none" }
            }),
        )
        .route(
            "/any-scope",
            get(|_: RequireAnyScope<(Write, Delete)>| async { "any" }),
        );
    let one_scope = Router::new()
        .route("/one-scope", get(|| async { "one" }))
        .route_layer(require_scope("delete"));
    let any_scope = Router::new()
        .route("/any-scope-layer", get(|| async { "any" }))
        .route_layer(require_any_scope(["delete", "admin.all"]));
    let all_roles = Router::new()
        .route("/all-roles-layer", get(|| async { "all" }))
        .route_layer(require_all_roles(["user", "auditor"]));
    let router = strict
        .merge(one_scope)
        .merge(any_scope)
        .merge(all_roles)
        .layer(layer.clone())
        .merge(app(layer));
    let addr = serve(router).await;
    let user = bearer(&sign(Algorithm::ES256, &claims()));
    let readonly = bearer(&sign(
        Algorithm::ES256,
        &claims_with("scope", Some(json!("read"))),
    ));

    let scope_text = tollgate::core::Error::InsufficientScope {
        required: String::new(),
    }
    .public_description();
    let shape_text = tollgate::core::Error::ClaimsShape(String::new()).public_description();
    // Path, request headers, the custom body, and the challenge when it is checked.
    type Case<'a> = (&'a str, &'a [(&'a str, String)], &'a str, Option<&'a str>);
    let cases: [Case<'_>; 14] = [
        // The layer's own answers.
        (
            "/me",
            &[("authorization", "Bearer a b".to_owned())],
            "custom 400 invalid_request the Authorization header must be `Bearer` followed by exactly one token",
            Some(
                r#"Bearer realm="orders", error="invalid_request", error_description="the Authorization header must be `Bearer` followed by exactly one token""#,
            ),
        ),
        (
            "/me",
            &bearer(&sign(
                Algorithm::ES256,
                &claims_with("exp", Some(json!(now() - 3600))),
            )),
            "custom 401 invalid_token the access token expired",
            Some(
                r#"Bearer realm="orders", error="invalid_token", error_description="the access token expired""#,
            ),
        ),
        // Extractors: no token (optional mode), claims that do not fit.
        (
            "/me",
            &[],
            "custom 401 - a bearer token is required",
            Some(r#"Bearer realm="orders""#),
        ),
        (
            "/strict",
            &user,
            "custom 401 invalid_token the token claims are not accepted",
            Some(
                r#"Bearer realm="orders", error="invalid_token", error_description="the token claims are not accepted""#,
            ),
        ),
        (
            "/strict-option",
            &user,
            "custom 401 invalid_token the token claims are not accepted",
            None,
        ),
        // Guards as extractors: no token, a role or scope missing.
        (
            "/admin",
            &[],
            "custom 401 - a bearer token is required",
            None,
        ),
        (
            "/admin",
            &user,
            "custom 403 insufficient_scope the token lacks the required role or scope",
            Some(
                r#"Bearer realm="orders", error="insufficient_scope", error_description="the token lacks the required role or scope", scope="admin""#,
            ),
        ),
        (
            "/write-delete",
            &user,
            "custom 403 insufficient_scope the token lacks the required role or scope",
            Some(
                r#"Bearer realm="orders", error="insufficient_scope", error_description="the token lacks the required role or scope", scope="delete""#,
            ),
        ),
        (
            "/any-scope",
            &readonly,
            "custom 403 insufficient_scope the token lacks the required role or scope",
            Some(
                r#"Bearer realm="orders", error="insufficient_scope", error_description="the token lacks the required role or scope", scope="write delete""#,
            ),
        ),
        // Guards as route layers: no token, a role or scope missing.
        (
            "/admins",
            &[],
            "custom 401 - a bearer token is required",
            None,
        ),
        (
            "/admins",
            &user,
            "custom 403 insufficient_scope the token lacks the required role or scope",
            None,
        ),
        (
            "/one-scope",
            &user,
            "custom 403 insufficient_scope the token lacks the required role or scope",
            Some(
                r#"Bearer realm="orders", error="insufficient_scope", error_description="the token lacks the required role or scope", scope="delete""#,
            ),
        ),
        (
            "/any-scope-layer",
            &user,
            "custom 403 insufficient_scope the token lacks the required role or scope",
            Some(
                r#"Bearer realm="orders", error="insufficient_scope", error_description="the token lacks the required role or scope", scope="delete admin.all""#,
            ),
        ),
        (
            "/all-roles-layer",
            &user,
            "custom 403 insufficient_scope the token lacks the required role or scope",
            Some(
                r#"Bearer realm="orders", error="insufficient_scope", error_description="the token lacks the required role or scope", scope="auditor""#,
            ),
        ),
    ];
    for (path, headers, body, challenge) in cases {
        let answer = get_with(addr, path, headers).await;
        assert_eq!(answer.body, body, "{path} {headers:?}");
        assert_eq!(
            answer.status.to_string(),
            &body[7..10],
            "{path} {headers:?}"
        );
        if let Some(challenge) = challenge {
            assert_eq!(answer.challenge.as_deref(), Some(challenge), "{path}");
        }
    }
    assert!(cases.iter().any(|case| case.2.ends_with(scope_text)));
    assert!(cases.iter().any(|case| case.2.ends_with(shape_text)));

    // Passing requests are untouched; an absent token is not a wrong shape.
    assert_eq!(get_with(addr, "/strict-option", &[]).await.body, "none");
    assert_eq!(get_with(addr, "/any-scope", &user).await.body, "any");
    let both = bearer(&sign(
        Algorithm::ES256,
        &claims_with("roles", Some(json!(["user", "auditor"]))),
    ));
    assert_eq!(get_with(addr, "/all-roles-layer", &both).await.body, "all");
}

/// The layer's 503 (keys unavailable) goes through the custom responder too.
#[tokio::test]
async fn custom_responder_shapes_unavailable_keys() {
    let verifier = Verifier::new(policy().build().unwrap(), Down, CryptoProvider::default());
    let layer = AuthLayer::builder(verifier)
        .error_responder(custom_answer)
        .build();
    let addr = serve(app(layer)).await;
    let answer = get_with(addr, "/me", &bearer(&sign(Algorithm::ES256, &claims()))).await;
    assert_eq!(answer.status, 503);
    assert_eq!(
        answer.body,
        "custom 503 temporarily_unavailable signing keys are temporarily unavailable"
    );
    assert_eq!(answer.challenge, None);
}

#[tokio::test]
async fn forwarded_claims_replace_spoofed_headers() {
    let echo = |headers: http::HeaderMap| async move {
        let get = |name: &str| {
            headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        format!("{}|{}", get("x-user-id"), get("x-user-roles"))
    };
    let forward = ForwardClaimsLayer::new()
        .claim("sub", "x-user-id")
        .unwrap()
        .claim("roles", "x-user-roles")
        .unwrap();
    let router = Router::new()
        .route("/upstream", get(echo))
        .layer(forward)
        .layer(AuthLayer::builder(default_verifier()).optional().build());
    let addr = serve(router).await;
    let spoof = [
        ("x-user-id", "admin".to_owned()),
        ("x-user-roles", "admin".to_owned()),
    ];
    assert_eq!(
        get_with(addr, "/upstream", &spoof).await.body,
        "|",
        "stripped without a token"
    );
    let mut with_token = spoof.to_vec();
    with_token.push((
        "authorization",
        format!("Bearer {}", sign(Algorithm::ES256, &claims())),
    ));
    // `roles` is the array `["user"]`: forwarded as its JSON text.
    assert_eq!(
        get_with(addr, "/upstream", &with_token).await.body,
        r#"user-1|["user"]"#
    );
}

/// Regression: arrays used to be joined with `,`, so `["a,b"]` and `["a","b"]` arrived as the
/// same `a,b` (and an upstream splitting at commas saw two roles in `["a,b"]`). Now an array is
/// its JSON text; every forwarded JSON value decodes back to the claim.
#[tokio::test]
async fn forwarded_claims_are_unambiguous() {
    const NAMES: [&str; 16] = [
        "comma", "two", "empty", "number", "float", "bool", "object", "mixed", "unicode", "string",
        "spaced", "control", "newline", "padded", "accented", "null",
    ];
    let mut forward = ForwardClaimsLayer::new();
    for name in NAMES {
        forward = forward.claim(name, &format!("x-{name}")).unwrap();
    }
    let echo = |headers: http::HeaderMap| async move {
        let mut seen = serde_json::Map::new();
        for name in NAMES {
            if let Some(value) = headers.get(format!("x-{name}")) {
                // Not visible ASCII (the old encoding forwarded raw UTF-8): shown as bytes.
                let text = value
                    .to_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|_| format!("bytes {:?}", value.as_bytes()));
                seen.insert(name.to_owned(), json!(text));
            }
        }
        axum::Json(seen)
    };
    let router = Router::new()
        .route("/upstream", get(echo))
        .layer(forward)
        .layer(AuthLayer::new(default_verifier()));
    let addr = serve(router).await;

    let mut claims = claims();
    let extra = json!({
        "comma": ["a,b"],
        "two": ["a", "b"],
        "empty": [],
        "number": 42,
        "float": 1.5,
        "bool": true,
        "object": {"k": 1, "s": "x,y"},
        "mixed": ["a", 1, null, ["b"]],
        "unicode": ["Jos\u{e9}", "\u{1F600}", "del\u{7f}", "tab\t"],
        "string": "jane@example.com",
        "spaced": "Jane Doe",
        "control": "a\u{1}b",
        "newline": "a\r\nx-injected: 1",
        "padded": " admin",
        "accented": "Jos\u{e9}",
        "null": null,
    });
    for (name, value) in extra.as_object().unwrap() {
        claims[name] = value.clone();
    }
    let token = bearer(&sign(Algorithm::ES256, &claims));
    let seen: Value =
        serde_json::from_str(&get_with(addr, "/upstream", &token).await.body).unwrap();
    assert_eq!(
        seen,
        json!({
            "comma": r#"["a,b"]"#,
            "two": r#"["a","b"]"#,
            "empty": "[]",
            "number": "42",
            "float": "1.5",
            "bool": "true",
            "object": r#"{"k":1,"s":"x,y"}"#,
            "mixed": r#"["a",1,null,["b"]]"#,
            "unicode": r#"["Jos\u00e9","\ud83d\ude00","del\u007f","tab\t"]"#,
            "string": "jane@example.com",
            "spaced": "Jane Doe",
        }),
        "header-unsafe strings (control, newline, padded, accented) and null are not forwarded"
    );
    assert_ne!(seen["comma"], seen["two"]);
    // The documented decoding: strings as they are, everything else with a JSON parser.
    for (name, header) in seen.as_object().unwrap() {
        let header = header.as_str().unwrap();
        let decoded = if claims[name].is_string() {
            Value::from(header)
        } else {
            serde_json::from_str(header).unwrap()
        };
        assert_eq!(decoded, claims[name], "{name} round-trips");
    }
}

#[tokio::test]
async fn route_layer_leaves_unmatched_routes_alone() {
    let router = Router::new()
        .route("/private", get(|| async { "private" }))
        .route_layer(AuthLayer::new(default_verifier()))
        .route("/public", get(|| async { "public" }));
    let addr = serve(router).await;
    assert_eq!(get_with(addr, "/public", &[]).await.status, 200);
    assert_eq!(get_with(addr, "/private", &[]).await.status, 401);
    assert_eq!(get_with(addr, "/nowhere", &[]).await.status, 404);
}

#[tokio::test]
async fn wraps_a_plain_tower_service() {
    use tower::{ServiceBuilder, ServiceExt};
    let inner = tower::service_fn(|request: http::Request<String>| async move {
        let sub = request
            .extensions()
            .get::<Authenticated>()
            .and_then(|a| a.subject().map(str::to_owned));
        Ok::<_, Infallible>(http::Response::new(format!("inner saw {sub:?}")))
    });
    let service = ServiceBuilder::new()
        .layer(AuthLayer::new(default_verifier()))
        .service(inner);
    let request = http::Request::builder()
        .header(
            "authorization",
            format!("Bearer {}", sign(Algorithm::PS256, &claims())),
        )
        .body(String::new())
        .unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .unwrap();
    assert_eq!(body, "inner saw Some(\"user-1\")");
    let refused = service
        .oneshot(http::Request::new(String::new()))
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
}
