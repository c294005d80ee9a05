//! Trusted Easy Auth claims: the principals App Service Authentication forwards in
//! `X-MS-CLIENT-PRINCIPAL` reach `Claims<T>` and the guards; a missing, repeated, oversized or
//! malformed header is refused, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use axum::routing::get;
use axum::{Extension, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, Request, StatusCode};
use serde_json::{Value, json};
use tollgate::core::StandardClaims;
use tollgate::{Authenticated, Claims, RequireRole, RequireScope, require_role};
use tollgate_azure::{ClientPrincipal, EasyAuthLayer, PrincipalError};
use tower::ServiceExt;

tollgate::role!(Admin = "admin");
tollgate::scope!(OrdersWrite = "Orders.Write");

const NAME_URI: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name";
const ROLE_URI: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role";
const NAMEID_URI: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier";
const OID_URI: &str = "http://schemas.microsoft.com/identity/claims/objectidentifier";
const TID_URI: &str = "http://schemas.microsoft.com/identity/claims/tenantid";
const SCOPE_URI: &str = "http://schemas.microsoft.com/identity/claims/scope";
const EMAIL_URI: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const OID: &str = "6f1c7a8e-53c2-4f5e-9a4b-0d3c2b1a9e8f";

/// What Easy Auth forwards for an Entra ID (v2) user token: the claims of the token, some under
/// their WS-Federation URIs, roles one claim each.
fn entra_principal() -> Value {
    json!({
        "auth_typ": "aad",
        "claims": [
            {"typ": "aud", "val": "api://tollgate-func"},
            {"typ": "iss", "val": format!("https://login.microsoftonline.com/{TENANT}/v2.0")},
            {"typ": "iat", "val": "1717000000"},
            {"typ": "nbf", "val": "1717000000"},
            {"typ": "exp", "val": "1717003600"},
            {"typ": "aio", "val": "AWQAm/8XAAAA"},
            {"typ": "azp", "val": "04b07795-8ddb-461a-bbee-02f9e1bf7b46"},
            {"typ": "azpacr", "val": "0"},
            {"typ": "http://schemas.microsoft.com/claims/authnmethodsreferences", "val": "pwd"},
            {"typ": "http://schemas.microsoft.com/claims/authnmethodsreferences", "val": "mfa"},
            {"typ": "name", "val": "Jane Doe"},
            {"typ": OID_URI, "val": OID},
            {"typ": "preferred_username", "val": "jane@contoso.com"},
            {"typ": "rh", "val": "0.AXEAv4j5cvGGr0GRqy180BHbR"},
            {"typ": "roles", "val": "admin"},
            {"typ": "roles", "val": "reader"},
            {"typ": SCOPE_URI, "val": "User.Read Orders.Write"},
            {"typ": NAMEID_URI, "val": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ"},
            {"typ": TID_URI, "val": TENANT},
            {"typ": "uti", "val": "fqiBqXLPj0eQa82S-IYFAA"},
            {"typ": "ver", "val": "2.0"}
        ],
        "name_typ": NAME_URI,
        "role_typ": ROLE_URI
    })
}

/// What Easy Auth forwards for a Google sign-in.
fn google_principal() -> Value {
    json!({
        "auth_typ": "google",
        "claims": [
            {"typ": "iss", "val": "https://accounts.google.com"},
            {"typ": "azp", "val": "1234-abc.apps.googleusercontent.com"},
            {"typ": "aud", "val": "1234-abc.apps.googleusercontent.com"},
            {"typ": NAMEID_URI, "val": "109876543210987654321"},
            {"typ": EMAIL_URI, "val": "jane@gmail.com"},
            {"typ": "email_verified", "val": "true"},
            {"typ": "at_hash", "val": "HK6E_P6Dh8Y93mRNtsDB1Q"},
            {"typ": "name", "val": "Jane Doe"},
            {"typ": "given_name", "val": "Jane"},
            {"typ": "iat", "val": "1717000000"},
            {"typ": "exp", "val": "1717003600"}
        ],
        "name_typ": NAME_URI,
        "role_typ": ROLE_URI
    })
}

/// What Easy Auth forwards for a GitHub sign-in: no token claims, no issuer.
fn github_principal() -> Value {
    json!({
        "auth_typ": "github",
        "claims": [
            {"typ": NAMEID_URI, "val": "583231"},
            {"typ": NAME_URI, "val": "octocat"},
            {"typ": "urn:github:name", "val": "The Octocat"},
            {"typ": "urn:github:type", "val": "User"},
            {"typ": EMAIL_URI, "val": "octocat@github.com"}
        ],
        "name_typ": NAME_URI,
        "role_typ": ROLE_URI
    })
}

fn encode(principal: &Value) -> String {
    STANDARD.encode(principal.to_string())
}

async fn me(Claims(claims): Claims<StandardClaims>) -> String {
    claims.registered.sub.unwrap_or_default()
}

/// Every claim the handler sees, as JSON.
async fn dump(auth: Authenticated) -> axum::Json<Value> {
    axum::Json(json!({
        "claims": Value::Object(auth.claims().clone()),
        "sub": auth.subject(),
        "iss": auth.issuer(),
        "roles": auth.roles(),
        "scopes": auth.scopes(),
    }))
}

async fn standard(Claims(claims): Claims<StandardClaims>) -> axum::Json<StandardClaims> {
    axum::Json(claims)
}

async fn principal(Extension(principal): Extension<ClientPrincipal>) -> String {
    format!(
        "{} {}",
        principal.auth_typ.as_deref().unwrap_or("-"),
        principal.name().unwrap_or("-")
    )
}

fn app(layer: EasyAuthLayer) -> Router {
    Router::new()
        .route("/api/me", get(me))
        .route("/api/dump", get(dump))
        .route("/api/standard", get(standard))
        .route("/api/principal", get(principal))
        .route(
            "/api/admin",
            get(|_: RequireRole<Admin>| async { "hello admin" }),
        )
        .route(
            "/api/orders",
            get(|_: RequireScope<OrdersWrite>| async { "ordered" }),
        )
        .merge(
            Router::new()
                .route("/api/editors", get(|| async { "hello editors" }))
                .route_layer(require_role("editors")),
        )
        .layer(layer)
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
    error: Option<PrincipalError>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn challenge(&self) -> &str {
        self.headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

async fn call(app: &Router, path: &str, principals: &[&str]) -> Answer {
    let mut request = Request::get(path)
        // Headers the Functions host adds when it forwards the request.
        .header(
            "x-azure-functions-invocationid",
            "3f2c1b6e-9d1a-4c7e-8b0f-5a6d7e8f9a0b",
        )
        .header("user-agent", "Azure-Functions-Host/4.834.3");
    for principal in principals {
        request = request.header("x-ms-client-principal", *principal);
    }
    let request = request.body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let error = response.extensions().get::<PrincipalError>().cloned();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    Answer {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
        error,
    }
}

#[tokio::test]
async fn entra_principal_reaches_claims_and_guards() {
    let app = app(EasyAuthLayer::trust_easy_auth());
    let header = encode(&entra_principal());

    let answer = call(&app, "/api/me", &[&header]).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (
            StatusCode::OK,
            "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ"
        ),
        "sub from nameidentifier"
    );

    let dump = call(&app, "/api/dump", &[&header]).await.json();
    let claims = &dump["claims"];
    assert_eq!(claims["oid"], OID);
    assert_eq!(claims[OID_URI], OID, "original kept");
    assert_eq!(claims["tid"], TENANT);
    assert_eq!(claims[TID_URI], TENANT);
    assert_eq!(claims["scp"], "User.Read Orders.Write");
    assert_eq!(claims[SCOPE_URI], "User.Read Orders.Write");
    assert_eq!(claims["roles"], json!(["admin", "reader"]));
    assert_eq!(
        claims["http://schemas.microsoft.com/claims/authnmethodsreferences"],
        json!(["pwd", "mfa"]),
        "repeated claim type: array"
    );
    assert_eq!(claims["exp"], 1717003600);
    assert_eq!(claims["iat"], 1717000000);
    assert_eq!(claims["aud"], "api://tollgate-func");
    assert_eq!(claims["ver"], "2.0");
    assert_eq!(
        dump["iss"],
        format!("https://login.microsoftonline.com/{TENANT}/v2.0")
    );
    assert_eq!(dump["roles"], json!(["admin", "reader"]));
    assert_eq!(dump["scopes"], json!(["User.Read", "Orders.Write"]));

    assert_eq!(
        call(&app, "/api/admin", &[&header]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, "/api/orders", &[&header]).await.status,
        StatusCode::OK
    );
    let answer = call(&app, "/api/editors", &[&header]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(
        answer.challenge().contains(r#"error="insufficient_scope""#),
        "{}",
        answer.challenge()
    );
    assert!(answer.challenge().contains(r#"scope="editors""#));

    let answer = call(&app, "/api/principal", &[&header]).await;
    assert_eq!(
        answer.body, "aad -",
        "name_typ is the URI, Entra sends `name`"
    );
}

#[tokio::test]
async fn claims_standard_claims_extraction() {
    let app = app(EasyAuthLayer::trust_easy_auth());
    let answer = call(&app, "/api/standard", &[&encode(&entra_principal())]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let claims: StandardClaims = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(
        claims.registered.sub.as_deref(),
        Some("AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ")
    );
    assert_eq!(
        claims.registered.iss.as_deref(),
        Some(format!("https://login.microsoftonline.com/{TENANT}/v2.0").as_str())
    );
    assert!(claims.registered.aud.contains("api://tollgate-func"));
    assert_eq!(claims.registered.exp, Some(1717003600));
    assert_eq!(claims.registered.nbf, Some(1717000000));
    assert_eq!(claims.scopes(), ["User.Read", "Orders.Write"]);
    assert_eq!(claims.extra["preferred_username"], "jane@contoso.com");
}

#[tokio::test]
async fn role_uri_typed_claims_are_roles() {
    // Older / v1 principals carry roles under the role_typ URI itself.
    let mut principal = entra_principal();
    let claims = principal["claims"].as_array_mut().unwrap();
    claims.retain(|c| c["typ"] != "roles");
    claims.push(json!({"typ": ROLE_URI, "val": "admin"}));
    claims.push(json!({"typ": ROLE_URI, "val": "auditor"}));
    claims.push(json!({"typ": ROLE_URI, "val": "admin"}));
    let app = app(EasyAuthLayer::trust_easy_auth());
    let header = encode(&principal);

    let dump = call(&app, "/api/dump", &[&header]).await.json();
    assert_eq!(
        dump["claims"]["roles"],
        json!(["admin", "auditor"]),
        "deduplicated"
    );
    assert_eq!(
        dump["claims"][ROLE_URI],
        json!(["admin", "auditor", "admin"]),
        "original kept as sent"
    );
    assert_eq!(
        call(&app, "/api/admin", &[&header]).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn custom_role_typ_is_honoured() {
    let principal = json!({
        "auth_typ": "my-oidc",
        "claims": [
            {"typ": "sub", "val": "u-7"},
            {"typ": "groups", "val": "admin"},
            {"typ": "groups", "val": "staff"}
        ],
        "name_typ": "name",
        "role_typ": "groups"
    });
    let app = app(EasyAuthLayer::trust_easy_auth());
    let header = encode(&principal);
    let dump = call(&app, "/api/dump", &[&header]).await.json();
    assert_eq!(dump["roles"], json!(["admin", "staff"]));
    assert_eq!(dump["claims"]["groups"], json!(["admin", "staff"]));
    assert_eq!(
        call(&app, "/api/admin", &[&header]).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn roles_claim_is_configurable() {
    let mut principal = entra_principal();
    let claims = principal["claims"].as_array_mut().unwrap();
    claims.push(json!({"typ": "groups", "val": "editors"}));
    claims.push(json!({"typ": "groups", "val": "0b8a5e3c-group"}));
    let header = encode(&principal);

    let app = app(EasyAuthLayer::trust_easy_auth()
        .roles_claim("groups")
        .unwrap());
    let dump = call(&app, "/api/dump", &[&header]).await.json();
    assert_eq!(
        dump["roles"],
        json!(["admin", "reader", "editors", "0b8a5e3c-group"]),
        "role-typed claims and the groups claim"
    );
    assert_eq!(
        dump["claims"]["roles"],
        json!(["admin", "reader"]),
        "original kept"
    );
    assert_eq!(
        call(&app, "/api/editors", &[&header]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, "/api/admin", &[&header]).await.status,
        StatusCode::OK
    );

    assert!(EasyAuthLayer::trust_easy_auth().roles_claim("").is_err());
    assert!(
        EasyAuthLayer::trust_easy_auth()
            .roles_claim("a..b")
            .is_err()
    );
}

#[tokio::test]
async fn google_sign_in() {
    let app = app(EasyAuthLayer::trust_easy_auth());
    let header = encode(&google_principal());

    let answer = call(&app, "/api/me", &[&header]).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::OK, "109876543210987654321")
    );
    let dump = call(&app, "/api/dump", &[&header]).await.json();
    assert_eq!(dump["iss"], "https://accounts.google.com");
    assert_eq!(dump["roles"], json!([]));
    assert_eq!(dump["claims"].get("roles"), None);
    assert_eq!(dump["claims"].get("oid"), None);
    assert_eq!(dump["claims"][EMAIL_URI], "jane@gmail.com");

    let answer = call(&app, "/api/admin", &[&header]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.challenge().contains(r#"scope="admin""#));
    assert_eq!(answer.json()["error"], "insufficient_scope");

    let answer = call(&app, "/api/principal", &[&header]).await;
    assert_eq!(answer.body, "google -");
}

#[tokio::test]
async fn github_sign_in() {
    let app = app(EasyAuthLayer::trust_easy_auth());
    let header = encode(&github_principal());

    let answer = call(&app, "/api/standard", &[&header]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let claims: StandardClaims = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(claims.registered.sub.as_deref(), Some("583231"));
    assert_eq!(claims.registered.iss, None);
    assert_eq!(claims.extra["urn:github:type"], "User");

    let answer = call(&app, "/api/principal", &[&header]).await;
    assert_eq!(answer.body, "github octocat", "name from name_typ");
    assert_eq!(
        call(&app, "/api/admin", &[&header]).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn short_names_never_replace_claims_present() {
    let principal = json!({
        "auth_typ": "aad",
        "claims": [
            {"typ": "sub", "val": "real-sub"},
            {"typ": NAMEID_URI, "val": "name-id"},
            {"typ": "scp", "val": "a"},
            {"typ": SCOPE_URI, "val": "b"}
        ]
    });
    let app = app(EasyAuthLayer::trust_easy_auth());
    let dump = call(&app, "/api/dump", &[&encode(&principal)]).await.json();
    assert_eq!(dump["sub"], "real-sub");
    assert_eq!(dump["claims"][NAMEID_URI], "name-id");
    assert_eq!(dump["scopes"], json!(["a"]));
}

#[tokio::test]
async fn missing_header_is_401() {
    let app = app(EasyAuthLayer::trust_easy_auth());
    let answer = call(&app, "/api/me", &[]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.challenge(), r#"Bearer realm="api""#);
    assert_eq!(answer.error, Some(PrincipalError::Missing));
    assert_eq!(answer.json()["error"], "unauthorized");
}

#[tokio::test]
async fn a_grpc_call_without_a_principal_gets_a_grpc_answer() {
    let app = app(EasyAuthLayer::trust_easy_auth());
    let request = Request::post("/api/me")
        .header("content-type", "application/grpc")
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "gRPC answers travel as HTTP 200"
    );
    assert_eq!(response.headers()["grpc-status"], "16", "UNAUTHENTICATED");
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="api""#
    );
}

#[tokio::test]
async fn bearer_token_does_not_replace_the_principal() {
    let app = app(EasyAuthLayer::trust_easy_auth());
    let request = Request::get("/api/me")
        .header("authorization", "Bearer eyJhbGciOiJub25lIn0.e30.")
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn garbage_headers_are_refused() {
    let app = app(EasyAuthLayer::trust_easy_auth());
    let not_json = STANDARD.encode("hello, world");
    let swa_shape = encode(&json!({
        "identityProvider": "github",
        "userId": "d75b260a64504067bfc5b2905e3b8182",
        "userDetails": "octocat",
        "userRoles": ["anonymous", "authenticated"]
    }));
    let number_val = encode(&json!({"claims": [{"typ": "sub", "val": 42}]}));
    let claims_not_array = encode(&json!({"claims": {"sub": "x"}}));
    let array = encode(&json!([1, 2, 3]));
    let duplicate = STANDARD.encode(r#"{"claims":[],"claims":[]}"#);
    let cases: [(&str, &str); 9] = [
        ("not base64", "%%%not-base64%%%"),
        ("url-safe alphabet", "eyJjbGFpbXMiOltdfQ-_"),
        ("empty", ""),
        ("not json", &not_json),
        ("Static Web Apps shape", &swa_shape),
        ("non-string val", &number_val),
        ("claims not an array", &claims_not_array),
        ("array", &array),
        ("duplicate member", &duplicate),
    ];
    for (what, header) in cases {
        let answer = call(&app, "/api/me", &[header]).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{what}");
        assert!(
            answer.challenge().contains(r#"error="invalid_token""#),
            "{what}: {}",
            answer.challenge()
        );
        assert_eq!(answer.json()["error"], "invalid_token", "{what}");
        assert!(
            matches!(
                answer.error,
                Some(PrincipalError::Base64 | PrincipalError::Json { .. })
            ),
            "{what}: {:?}",
            answer.error
        );
    }
    let answer = call(&app, "/api/me", &["%%%"]).await;
    assert_eq!(answer.error, Some(PrincipalError::Base64));
    let answer = call(&app, "/api/me", &[&swa_shape]).await;
    assert!(matches!(answer.error, Some(PrincipalError::Json { .. })));
    assert!(
        !answer.body.contains("octocat"),
        "nothing of the header is echoed"
    );
}

#[tokio::test]
async fn non_utf8_header_is_refused() {
    let app = app(EasyAuthLayer::trust_easy_auth());
    let request = Request::get("/api/me")
        .header(
            "x-ms-client-principal",
            http::HeaderValue::from_bytes(b"\xfe\xff").unwrap(),
        )
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.extensions().get::<PrincipalError>(),
        Some(&PrincipalError::Base64)
    );
}

#[tokio::test]
async fn oversized_header_is_refused_before_decoding() {
    let default = app(EasyAuthLayer::trust_easy_auth());
    // A real principal, padded past 16 KiB with many claims.
    let mut principal = entra_principal();
    let claims = principal["claims"].as_array_mut().unwrap();
    for i in 0..400 {
        claims.push(json!({"typ": "groups", "val": format!("group-{i:04}-0b8a5e3c-4d2f")}));
    }
    let header = encode(&principal);
    assert!(header.len() > 16 * 1024);
    let answer = call(&default, "/api/me", &[&header]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.error,
        Some(PrincipalError::TooLarge {
            size: header.len(),
            max: 16 * 1024
        })
    );
    assert!(answer.challenge().contains(r#"error="invalid_token""#));

    // Not even base64: the size is what is reported, nothing was decoded.
    let junk = "!".repeat(16 * 1024 + 1);
    let answer = call(&default, "/api/me", &[&junk]).await;
    assert!(matches!(
        answer.error,
        Some(PrincipalError::TooLarge { .. })
    ));

    // The cap is configurable.
    let roomy = app(EasyAuthLayer::trust_easy_auth().max_header_bytes(64 * 1024));
    assert_eq!(
        call(&roomy, "/api/me", &[&header]).await.status,
        StatusCode::OK
    );
    let tight = app(EasyAuthLayer::trust_easy_auth().max_header_bytes(64));
    let small = encode(&github_principal());
    assert!(small.len() > 64);
    assert_eq!(
        call(&tight, "/api/me", &[&small]).await.error,
        Some(PrincipalError::TooLarge {
            size: small.len(),
            max: 64
        })
    );
}

#[tokio::test]
async fn repeated_header_is_400() {
    let app = app(EasyAuthLayer::trust_easy_auth());
    let one = encode(&entra_principal());
    let other = encode(&google_principal());
    for headers in [[&one, &other], [&one, &one]] {
        let answer = call(&app, "/api/me", &[headers[0], headers[1]]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert_eq!(answer.error, Some(PrincipalError::Repeated));
        assert!(answer.challenge().contains(r#"error="invalid_request""#));
        assert_eq!(answer.json()["error"], "invalid_request");
    }
}

#[tokio::test]
async fn error_responder_is_replaceable() {
    let layer = EasyAuthLayer::trust_easy_auth().error_responder(
        |error: &tollgate::AuthError, _: &tollgate::Challenge| {
            let mut response = http::Response::new(axum::body::Body::from("sign in first"));
            *response.status_mut() = error.status();
            response
        },
    );
    let app = app(layer);
    let answer = call(&app, "/api/me", &[]).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::UNAUTHORIZED, "sign in first")
    );
    assert_eq!(answer.error, Some(PrincipalError::Missing));
}

/// Claims no principal fits: `must_exist` is never there.
#[derive(Clone, serde::Deserialize)]
struct Strict {
    #[allow(dead_code)]
    must_exist: u64,
}

/// The custom responder of the Easy Auth layer answers everything a request through it can get:
/// the layer's own 401 and 400, the extractors' rejections and the guards' 403s (extractor and
/// route layer). It used to reach only the layer's own answers.
#[tokio::test]
async fn custom_responder_shapes_every_answer() {
    let layer = EasyAuthLayer::trust_easy_auth().error_responder(
        |error: &tollgate::AuthError, challenge: &tollgate::Challenge| {
            let body = format!("custom {} {}", error.status().as_u16(), error.description());
            let mut response = http::Response::new(axum::body::Body::from(body));
            *response.status_mut() = error.status();
            if let Some(value) = challenge.www_authenticate(error) {
                response.headers_mut().insert("www-authenticate", value);
            }
            response
        },
    );
    let app = Router::new()
        .route(
            "/api/strict",
            get(|Claims(_): Claims<Strict>| async { "strict" }),
        )
        .layer(layer.clone())
        .merge(app(layer));
    let github = encode(&github_principal());
    let entra = encode(&entra_principal());

    let missing = call(&app, "/api/me", &[]).await;
    assert_eq!(
        (missing.status, missing.body.as_str()),
        (
            StatusCode::UNAUTHORIZED,
            "custom 401 a bearer token is required"
        )
    );
    assert_eq!(missing.error, Some(PrincipalError::Missing));
    let garbage = call(&app, "/api/me", &["%%%"]).await;
    assert_eq!(
        (garbage.status, garbage.body.as_str()),
        (
            StatusCode::UNAUTHORIZED,
            "custom 401 the token claims are not accepted"
        )
    );
    let repeated = call(&app, "/api/me", &[&github, &github]).await;
    assert_eq!(repeated.status, StatusCode::BAD_REQUEST);
    assert!(
        repeated.body.starts_with("custom 400 "),
        "{}",
        repeated.body
    );

    for path in ["/api/admin", "/api/editors"] {
        let answer = call(&app, path, &[&github]).await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (
                StatusCode::FORBIDDEN,
                "custom 403 the token lacks the required role or scope"
            ),
            "{path}"
        );
        assert!(
            answer.challenge().contains(r#"error="insufficient_scope""#),
            "{path}: {}",
            answer.challenge()
        );
    }
    let orders = call(&app, "/api/orders", &[&github]).await;
    assert_eq!(orders.status, StatusCode::FORBIDDEN);
    assert!(orders.body.starts_with("custom 403 "), "{}", orders.body);
    assert!(orders.challenge().ends_with(r#"scope="Orders.Write""#));

    let shape = call(&app, "/api/strict", &[&entra]).await;
    assert_eq!(
        (shape.status, shape.body.as_str()),
        (
            StatusCode::UNAUTHORIZED,
            "custom 401 the token claims are not accepted"
        )
    );

    // What passes is untouched.
    assert_eq!(
        call(&app, "/api/admin", &[&entra]).await.status,
        StatusCode::OK
    );
}
