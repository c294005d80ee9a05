//! Where roles and scopes are read: the verifier's `AccessClaims`, through the layer, every
//! guard, `Authenticated`, claim forwarding and trusted claims; the layer's `roles_claim`
//! override; strings and arrays alike; the new `ClaimPath` syntax (namespaced claims, quoted
//! segments). Over real HTTP on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_test_support as support;

use std::net::SocketAddr;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use serde_json::{Map, Value, json};
use support::server::serve;
use support::*;
use tollgate::core::{AccessClaims, Algorithm, ClaimPath, CryptoProvider, Verifier};
use tollgate::{
    AuthLayer, Authenticated, ForwardClaimsLayer, RequireAnyRole, RequireRole, RequireScope,
    require_all_scopes, require_role,
};

tollgate::role!(Admin = "admin");
tollgate::role!(User = "user");
tollgate::scope!(Write = "write");

fn verifier(access: AccessClaims) -> Verifier {
    Verifier::builder(
        policy().build().unwrap(),
        key_set(),
        CryptoProvider::default(),
    )
    .access_claims(access)
    .build()
}

fn path(text: &str) -> ClaimPath {
    ClaimPath::new(text).unwrap()
}

/// Headers the handler received, as `name: value` lines for the forwarded ones.
async fn forwarded(headers: HeaderMap) -> String {
    ["x-roles", "x-scopes"]
        .iter()
        .map(|name| {
            let value = headers.get(*name).map(|v| v.to_str().unwrap().to_owned());
            format!("{name}={}", value.unwrap_or_default())
        })
        .collect::<Vec<_>>()
        .join(";")
}

fn app(layer: AuthLayer) -> Router {
    let route_guarded = Router::new()
        .route("/admins", get(|| async { "admins" }))
        .route_layer(require_role("admin"));
    let scope_guarded = Router::new()
        .route("/read-write", get(|| async { "rw" }))
        .route_layer(require_all_scopes(["read", "write"]));
    let forwarding = Router::new().route("/forwarded", get(forwarded)).layer(
        ForwardClaimsLayer::new()
            .roles("x-roles")
            .unwrap()
            .scopes("x-scopes")
            .unwrap(),
    );
    Router::new()
        .route("/admin", get(|_: RequireRole<Admin>| async { "admin" }))
        .route(
            "/admin-or-user",
            get(|_: RequireAnyRole<(Admin, User)>| async { "either" }),
        )
        .route("/write", get(|_: RequireScope<Write>| async { "write" }))
        .route(
            "/roles",
            get(|auth: Authenticated| async move { auth.roles().join(",") }),
        )
        .route(
            "/scopes",
            get(|auth: Authenticated| async move { auth.scopes().join(",") }),
        )
        .route(
            "/has-admin",
            get(|auth: Authenticated| async move { auth.has_role("admin").to_string() }),
        )
        .merge(route_guarded)
        .merge(scope_guarded)
        .merge(forwarding)
        .layer(layer)
}

struct Api(SocketAddr);

impl Api {
    async fn start(layer: AuthLayer) -> Api {
        Api(serve(app(layer)).await)
    }

    async fn get(&self, route: &str, claims: &Value) -> (u16, String) {
        let token = sign(Algorithm::ES256, claims);
        let response = reqwest::Client::new()
            .get(format!("http://{}{route}", self.0))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    async fn status(&self, route: &str, claims: &Value) -> u16 {
        self.get(route, claims).await.0
    }

    async fn body(&self, route: &str, claims: &Value) -> String {
        let (status, body) = self.get(route, claims).await;
        assert_eq!(status, 200, "{route}: {body}");
        body
    }
}

/// `claims()` (top-level `roles: ["user"]`, `scope: "read write"`) with members replaced.
fn with(members: Value) -> Value {
    let mut c = claims();
    for (name, value) in members.as_object().unwrap() {
        c[name] = value.clone();
    }
    c
}

#[tokio::test]
async fn verifier_roles_at_cognito_groups_need_no_layer_configuration() {
    let access = AccessClaims::default().roles_at([path("cognito:groups")]);
    let api = Api::start(AuthLayer::new(verifier(access))).await;

    let admin = with(json!({"cognito:groups": ["admin"]}));
    assert_eq!(api.status("/admin", &admin).await, 200, "extractor guard");
    assert_eq!(
        api.status("/admins", &admin).await,
        200,
        "route-layer guard"
    );
    assert_eq!(api.body("/roles", &admin).await, "admin");
    assert_eq!(api.body("/has-admin", &admin).await, "true");

    // Top-level `roles` is no longer where roles are read.
    let top_level = with(json!({"roles": ["admin"]}));
    assert_eq!(api.status("/admin", &top_level).await, 403);
    assert_eq!(api.status("/admins", &top_level).await, 403);
    assert_eq!(api.body("/roles", &top_level).await, "");
    assert_eq!(api.body("/has-admin", &top_level).await, "false");
}

#[tokio::test]
async fn keycloak_realm_and_client_roles_both_count() {
    let access = AccessClaims::default().roles_at([
        path("realm_access.roles"),
        // A client id with a dot: quoted in the path syntax, or built from segments.
        path(r#"resource_access."my.api".roles"#),
        ClaimPath::nested(["resource_access", "other-api", "roles"]).unwrap(),
    ]);
    let api = Api::start(AuthLayer::new(verifier(access))).await;

    let realm = with(json!({"realm_access": {"roles": ["admin"]}}));
    let client = with(json!({"resource_access": {"my.api": {"roles": ["admin"]}}}));
    let other_client = with(json!({"resource_access": {"other-api": {"roles": ["admin"]}}}));
    for (case, claims) in [
        ("realm", &realm),
        ("client", &client),
        ("other client", &other_client),
    ] {
        assert_eq!(api.status("/admin", claims).await, 200, "{case}");
        assert_eq!(api.status("/admins", claims).await, 200, "{case}");
    }

    let merged = with(json!({
        "realm_access": {"roles": ["user", "offline_access"]},
        "resource_access": {"my.api": {"roles": ["admin", "user"]}}
    }));
    assert_eq!(
        api.body("/roles", &merged).await,
        "user,offline_access,admin"
    );

    // No guessing: `my.api` unquoted means `my` then `api`; a client literally nested that way
    // is not the configured one.
    let lookalike = with(json!({
        "realm_access": {"roles": []},
        "resource_access": {"my": {"api": {"roles": ["admin"]}}}
    }));
    assert_eq!(api.status("/admin", &lookalike).await, 403);
    // Neither path holds the role: the top-level `roles: ["user"]` does not count either.
    assert_eq!(api.status("/admin-or-user", &lookalike).await, 403);
}

#[tokio::test]
async fn extra_scope_paths_count_for_scope_guards() {
    let access = AccessClaims::default().also_scopes_at(path("permissions"));
    let api = Api::start(AuthLayer::new(verifier(access))).await;

    let auth0 = with(json!({"scope": "read", "permissions": ["write", "delete:items"]}));
    assert_eq!(api.status("/write", &auth0).await, 200, "extractor guard");
    assert_eq!(api.status("/read-write", &auth0).await, 200, "route layer");
    assert_eq!(api.body("/scopes", &auth0).await, "read,write,delete:items");

    // The default AccessClaims read only `scope`/`scp`.
    let default = Api::start(AuthLayer::new(default_verifier())).await;
    assert_eq!(default.status("/write", &auth0).await, 403);
    assert_eq!(default.status("/read-write", &auth0).await, 403);
    assert_eq!(default.body("/scopes", &auth0).await, "read");
}

#[tokio::test]
async fn layer_roles_claim_overrides_the_verifiers_role_paths() {
    let access = AccessClaims::default()
        .roles_at([path("cognito:groups")])
        .also_scopes_at(path("permissions"));
    let layer = AuthLayer::builder(verifier(access))
        .roles_claim("realm_access.roles")
        .unwrap()
        .build();
    let api = Api::start(layer).await;

    let cognito = with(json!({"cognito:groups": ["admin"]}));
    assert_eq!(
        api.status("/admin", &cognito).await,
        403,
        "verifier's path replaced"
    );
    assert_eq!(api.status("/admins", &cognito).await, 403);
    let realm = with(json!({"realm_access": {"roles": ["admin"]}}));
    assert_eq!(api.status("/admin", &realm).await, 200);
    assert_eq!(api.status("/admins", &realm).await, 200);
    assert_eq!(api.body("/roles", &realm).await, "admin");

    // Scopes still come from the verifier's AccessClaims.
    let scopes = with(json!({"scope": "read", "permissions": ["write"]}));
    assert_eq!(api.status("/write", &scopes).await, 200);

    // `roles_path` is the same override with a path already built.
    let layer = AuthLayer::builder(verifier(AccessClaims::default()))
        .roles_path(ClaimPath::nested(["resource_access", "my.api", "roles"]).unwrap())
        .build();
    let api = Api::start(layer).await;
    let client = with(json!({"resource_access": {"my.api": {"roles": ["admin"]}}}));
    assert_eq!(api.status("/admin", &client).await, 200);
    assert_eq!(
        api.status("/admin", &with(json!({"roles": ["admin"]})))
            .await,
        403
    );
}

#[tokio::test]
async fn roles_as_a_string_or_an_array_are_the_same() {
    let default = Api::start(AuthLayer::new(default_verifier())).await;
    let groups = AccessClaims::default().roles_at([path("cognito:groups")]);
    let cognito = Api::start(AuthLayer::new(verifier(groups))).await;
    let overridden = Api::start(
        AuthLayer::builder(default_verifier())
            .roles_claim("realm_access.roles")
            .unwrap()
            .build(),
    )
    .await;
    for (api, name) in [
        (&default, "roles"),
        (&cognito, "cognito:groups"),
        (&overridden, "realm_access"),
    ] {
        let wrap = |roles: Value| {
            if name == "realm_access" {
                with(json!({"roles": [], name: {"roles": roles}}))
            } else {
                with(json!({"roles": [], name: roles}))
            }
        };
        for roles in [json!("admin"), json!(["admin"])] {
            let claims = wrap(roles.clone());
            assert_eq!(api.status("/admin", &claims).await, 200, "{name} {roles}");
            assert_eq!(api.status("/admins", &claims).await, 200, "{name} {roles}");
            assert_eq!(api.body("/roles", &claims).await, "admin", "{name} {roles}");
        }
        // A string of several words is several roles, like `scope`.
        let two = wrap(json!("admin user"));
        assert_eq!(api.body("/roles", &two).await, "admin,user", "{name}");
        assert_eq!(api.status("/admin-or-user", &two).await, 200, "{name}");
        // Other JSON types hold no roles.
        for not_roles in [json!(1), json!({"admin": true}), json!(null)] {
            let claims = wrap(not_roles.clone());
            assert_eq!(
                api.status("/admin", &claims).await,
                403,
                "{name} {not_roles}"
            );
        }
    }
}

#[tokio::test]
async fn auth0_namespaced_roles_claim() {
    const ROLES: &str = "https://example.com/roles";
    let namespaced = with(json!({
        "roles": [],
        ROLES: ["admin"],
        // Not the claim: the dots of a namespaced claim are part of its name.
        "https://example": {"com/roles": ["user"]}
    }));

    // As the verifier's role path...
    let access = AccessClaims::default().roles_at([path(ROLES)]);
    let api = Api::start(AuthLayer::new(verifier(access))).await;
    assert_eq!(api.status("/admin", &namespaced).await, 200);
    assert_eq!(api.status("/admins", &namespaced).await, 200);
    assert_eq!(api.body("/roles", &namespaced).await, "admin");

    // ... and as the layer's override.
    let layer = AuthLayer::builder(default_verifier())
        .roles_claim(ROLES)
        .unwrap()
        .build();
    let api = Api::start(layer).await;
    assert_eq!(api.status("/admin", &namespaced).await, 200);
    assert_eq!(api.body("/roles", &namespaced).await, "admin");
    let lookalike = with(json!({"roles": [], "https://example": {"com/roles": ["admin"]}}));
    assert_eq!(api.status("/admin", &lookalike).await, 403);
}

#[tokio::test]
async fn forwarded_roles_and_scopes_are_what_the_guards_see() {
    let access = AccessClaims::default()
        .roles_at([path("realm_access.roles"), path("groups")])
        .also_scopes_at(path("permissions"));
    let api = Api::start(AuthLayer::new(verifier(access))).await;
    let claims = with(json!({
        "realm_access": {"roles": ["admin"]},
        "groups": "editors admin",
        "scope": "read",
        "permissions": ["write"]
    }));
    assert_eq!(
        api.body("/forwarded", &claims).await,
        r#"x-roles=["admin","editors"];x-scopes=["read","write"]"#
    );
    let none = with(json!({"roles": ["user"], "scope": ""}));
    assert_eq!(api.body("/forwarded", &none).await, "x-roles=;x-scopes=");
}

#[test]
fn trusted_claims_read_with_the_given_access_claims() {
    let claims = |value: Value| -> Map<String, Value> { value.as_object().unwrap().clone() };

    // One role path, scopes at `scope` and `scp`.
    for roles in [json!("admin"), json!(["admin"])] {
        let auth = Authenticated::from_trusted_claims(
            claims(
                json!({"sub": "u", "cognito:groups": roles, "roles": ["user"], "scp": ["read"]}),
            ),
            AccessClaims::default().roles_at([path("cognito:groups")]),
        );
        assert_eq!(auth.roles(), ["admin"]);
        assert!(auth.has_role("admin") && !auth.has_role("user"));
        assert_eq!(auth.scopes(), ["read"]);
        assert_eq!(
            auth.access_claims(),
            &AccessClaims::default().roles_at([path("cognito:groups")])
        );
    }

    // A full AccessClaims: several role paths, extra scope paths.
    let access = AccessClaims::default()
        .roles_at([
            path("realm_access.roles"),
            path("https://example.com/roles"),
        ])
        .also_scopes_at(path("permissions"));
    let auth = Authenticated::from_trusted_claims(
        claims(json!({
            "realm_access": {"roles": "user"},
            "https://example.com/roles": ["admin"],
            "scope": "read",
            "permissions": ["write"]
        })),
        access.clone(),
    );
    assert_eq!(auth.roles(), ["user", "admin"]);
    assert_eq!(auth.scopes(), ["read", "write"]);
    assert!(auth.has_scope("write"));
    assert_eq!(auth.access_claims(), &access);
    assert!(auth.token().is_none());
}
