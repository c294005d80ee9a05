//! Provider presets against realistic tokens: each provider's claim shapes (see
//! `/work/shared/reference/idp-quirks.md`), each provider's key layout served by a loopback
//! HTTP server, tokens signed by the independent aws-lc-rs test signer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(feature = "remote")]

mod providers_support;
use tollgate_test_support as support;

use std::sync::Arc;
use std::time::Duration;

use providers_support::{
    Idp, accept, assert_invalid, assert_missing, assert_wrong_audience, assert_wrong_issuer,
    certificate, refuse, rsa_jwk, second_certificate, second_jwk, token, token_second_key,
    token_with_header, with, x5t_s256, x5t_x5c,
};
use serde_json::{Value, json};
use support::now;
use tollgate_core::providers::ProviderError;
use tollgate_core::providers::auth0::Auth0;
use tollgate_core::providers::cognito::{Cognito, TokenUse};
use tollgate_core::providers::entra::EntraId;
use tollgate_core::providers::firebase::Firebase;
use tollgate_core::providers::google::Google;
use tollgate_core::providers::keycloak::Keycloak;
use tollgate_core::providers::okta::Okta;
use tollgate_core::remote::{JwksSource, OidcSource};
use tollgate_core::{
    AccessClaims, Algorithm, ClaimPath, ClaimRule, ConfigError, CryptoProvider, Error,
    StandardClaims, Validation, Verifier,
};

/// The setting a preset's build refused.
#[track_caller]
fn setting_error(result: Result<Verifier, ProviderError>) -> &'static str {
    match result {
        Err(ProviderError::Setting { setting, .. }) => setting,
        Err(other) => panic!("expected a setting error, got {other:?}"),
        Ok(v) => panic!("expected a build error, built {v:?}"),
    }
}

// =============================================================================================
// Amazon Cognito
// =============================================================================================

const POOL: &str = "us-east-1_AbC123xyz";
const COGNITO_ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123xyz";
/// The web app client (user tokens) and the machine-to-machine client.
const COGNITO_WEB: &str = "57cbishk4j24pabc1234567890";
const COGNITO_M2M: &str = "7d8h2kl3example9q5r1t0v2w4";
/// Cognito's two signing keys (ID and access tokens use different ones), kids ending in `=`.
const ACCESS_KID: &str = "Tb3ukoKLgTtJzQu2XAt5xZ2DpjJrxlNYtB7GEaVRVg4=";
const ID_KID: &str = "2Ya4X0hCl5a3pDVZzYdQUKZbkl9vjUmsVYfJfe4CKgA=";

fn cognito_jwks_path() -> String {
    format!("/{POOL}/.well-known/jwks.json")
}

async fn cognito_idp() -> Arc<Idp> {
    let idp = Idp::start().await;
    let sig = json!({"alg": "RS256", "use": "sig"});
    idp.serve(
        &cognito_jwks_path(),
        &json!({"keys": [second_jwk(ID_KID, &sig), rsa_jwk(ACCESS_KID, &sig)]}),
        &[],
    );
    idp
}

fn cognito(idp: &Idp, token_use: TokenUse) -> Verifier {
    Cognito::new(POOL, [COGNITO_WEB, COGNITO_M2M])
        .token_use(token_use)
        .key_url(idp.url(&cognito_jwks_path()))
        .build()
        .unwrap()
}

fn cognito_access_claims() -> Value {
    let now = now();
    json!({
        "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "device_key": "us-east-1_aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "cognito:groups": ["admin", "editors"],
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin phone openid",
        "auth_time": now - 60,
        "iss": COGNITO_ISS,
        "exp": now + 3600,
        "iat": now - 60,
        "origin_jti": "bbbbbbbb-cccc-dddd-eeee-ffffffffffff",
        "jti": "cccccccc-dddd-eeee-ffff-000000000000",
        "client_id": COGNITO_WEB,
        "username": "janedoe@example.com",
        "version": 2
    })
}

/// A client-credentials token: no username, no groups, resource-server scopes.
fn cognito_m2m_claims() -> Value {
    let now = now();
    json!({
        "sub": COGNITO_M2M,
        "token_use": "access",
        "scope": "my-api/read my-api/write",
        "auth_time": now,
        "iss": COGNITO_ISS,
        "exp": now + 3600,
        "iat": now,
        "version": 2,
        "jti": "dddddddd-eeee-ffff-0000-111111111111",
        "client_id": COGNITO_M2M
    })
}

fn cognito_id_claims() -> Value {
    let now = now();
    json!({
        "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "aud": COGNITO_WEB,
        "email_verified": true,
        "token_use": "id",
        "auth_time": now - 60,
        "iss": COGNITO_ISS,
        "cognito:username": "janedoe",
        "cognito:groups": ["admin"],
        "exp": now + 3600,
        "given_name": "Jane",
        "iat": now - 60,
        "email": "janedoe@example.com",
        "jti": "eeeeeeee-ffff-0000-1111-222222222222",
        "origin_jti": "bbbbbbbb-cccc-dddd-eeee-ffffffffffff",
        "at_hash": "Vf0UJ2eB_1zX8k4s0p3YWg",
        "custom:tier": "gold"
    })
}

fn access_token(claims: &Value) -> String {
    token(ACCESS_KID, claims)
}

fn id_token(claims: &Value) -> String {
    token_second_key(ID_KID, claims)
}

#[tokio::test]
async fn cognito_access_token_with_groups_and_scopes() {
    let idp = cognito_idp().await;
    let v = cognito(&idp, TokenUse::Access);
    assert_eq!(v.validation().issuers(), [COGNITO_ISS]);
    assert!(v.validation().accepts_any_audience());

    let t = access_token(&cognito_access_claims());
    let verified = accept(&v, &t, "Cognito access token").await;
    assert_eq!(verified.roles(), ["admin", "editors"]);
    assert_eq!(
        verified.scopes(),
        ["aws.cognito.signin.user.admin", "phone", "openid"]
    );
    assert_eq!(verified.header().kid.as_deref(), Some(ACCESS_KID));
    let verified = v.verify(&t).await.unwrap();
    let typed = verified.claims::<StandardClaims>().unwrap();
    assert_eq!(
        typed.registered.sub.as_deref(),
        Some("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")
    );
    assert_eq!(typed.extra["username"], "janedoe@example.com");
    assert_eq!(idp.hits(&cognito_jwks_path()), 1);
}

#[tokio::test]
async fn cognito_machine_to_machine_access_token() {
    let idp = cognito_idp().await;
    let v = cognito(&idp, TokenUse::Access);
    let verified = accept(&v, &access_token(&cognito_m2m_claims()), "M2M token").await;
    assert!(verified.roles().is_empty(), "no cognito:groups");
    assert_eq!(verified.scopes(), ["my-api/read", "my-api/write"]);
    assert_eq!(verified.subject(), Some(COGNITO_M2M));
}

#[tokio::test]
async fn cognito_token_use_separates_id_and_access_tokens() {
    let idp = cognito_idp().await;
    let access = cognito(&idp, TokenUse::Access);
    let id = cognito(&idp, TokenUse::Id);
    assert_eq!(id.validation().audiences(), [COGNITO_WEB, COGNITO_M2M]);

    // An ID token (signed with the ID-token key) where an access token is wanted.
    let id_tok = id_token(&cognito_id_claims());
    let err = refuse(&access, &id_tok, "ID token at the access verifier").await;
    assert_invalid(&err, "token_use");

    // An access token where an ID token is wanted: it has no `aud`.
    let access_tok = access_token(&cognito_access_claims());
    let err = refuse(&id, &access_tok, "access token at the ID verifier").await;
    assert_missing(&err, "aud");
    // Even with a listed `aud` added (a pre-token-generation Lambda can), token_use decides.
    let with_aud = access_token(&with(&cognito_access_claims(), json!({"aud": COGNITO_WEB})));
    let err = refuse(&id, &with_aud, "access token with aud at the ID verifier").await;
    assert_invalid(&err, "token_use");

    // The ID token is accepted with TokenUse::Id; roles from cognito:groups there too.
    let verified = accept(&id, &id_tok, "ID token at the ID verifier").await;
    assert_eq!(verified.roles(), ["admin"]);
    assert_eq!(verified.header().kid.as_deref(), Some(ID_KID));
    assert_eq!(verified.claims_json()["custom:tier"], "gold");

    // An ID token for an unlisted app client.
    let other = id_token(&with(
        &cognito_id_claims(),
        json!({"aud": "unlisted-client"}),
    ));
    assert_wrong_audience(&refuse(&id, &other, "ID token of another client").await);
    // An ID token without token_use.
    let bare = id_token(&with(&cognito_id_claims(), json!({"token_use": null})));
    assert_missing(
        &refuse(&id, &bare, "ID token without token_use").await,
        "token_use",
    );
}

#[tokio::test]
async fn cognito_client_id_and_token_use_are_required() {
    let idp = cognito_idp().await;
    let v = cognito(&idp, TokenUse::Access);
    let unlisted = access_token(&with(
        &cognito_access_claims(),
        json!({"client_id": "3ucb2oj4jm1example"}),
    ));
    assert_invalid(
        &refuse(&v, &unlisted, "unlisted client_id").await,
        "client_id",
    );
    let no_client = access_token(&with(&cognito_access_claims(), json!({"client_id": null})));
    assert_missing(&refuse(&v, &no_client, "no client_id").await, "client_id");
    let no_use = access_token(&with(&cognito_access_claims(), json!({"token_use": null})));
    assert_missing(&refuse(&v, &no_use, "no token_use").await, "token_use");
    let array_use = access_token(&with(
        &cognito_access_claims(),
        json!({"token_use": ["access"]}),
    ));
    assert_invalid(
        &refuse(&v, &array_use, "token_use array").await,
        "token_use",
    );
}

#[tokio::test]
async fn cognito_issuer_is_the_pool() {
    let idp = cognito_idp().await;
    let v = cognito(&idp, TokenUse::Access);
    for iss in [
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other9876",
        "https://cognito-idp.eu-west-1.amazonaws.com/us-east-1_AbC123xyz",
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123xyz/",
    ] {
        let t = access_token(&with(&cognito_access_claims(), json!({"iss": iss})));
        assert_wrong_issuer(&refuse(&v, &t, iss).await, iss);
    }
    let no_iss = access_token(&with(&cognito_access_claims(), json!({"iss": null})));
    assert_missing(&refuse(&v, &no_iss, "no iss").await, "iss");
}

#[tokio::test]
async fn cognito_keys_are_picked_by_kid() {
    let idp = cognito_idp().await;
    let v = cognito(&idp, TokenUse::Access);
    // Signed with the access-token key but naming the ID-token key: that key does not verify it.
    let t = token(ID_KID, &cognito_access_claims());
    assert_eq!(
        refuse(&v, &t, "kid of the other key").await,
        Error::InvalidSignature
    );
    let unknown = token("unknownkid123=", &cognito_access_claims());
    assert!(matches!(
        refuse(&v, &unknown, "unknown kid").await,
        Error::UnknownKey { .. }
    ));
}

#[test]
fn cognito_build_errors() {
    for pool in [
        "",
        "not-a-pool",
        "us-east-1",
        "us-east-1_",
        "US-EAST-1_AbC123",
        "us-east-1_AbC/123",
        "useast1_AbC123",
    ] {
        assert_eq!(
            setting_error(Cognito::new(pool, [COGNITO_WEB]).build()),
            "user pool id",
            "{pool:?}"
        );
    }
    assert_eq!(
        setting_error(Cognito::new(POOL, Vec::<String>::new()).build()),
        "app client ids"
    );
    assert_eq!(
        setting_error(Cognito::new(POOL, ["", "  "]).build()),
        "app client ids"
    );
    assert!(matches!(
        Cognito::new(POOL, [COGNITO_WEB])
            .key_url("http://cognito.internal.example/jwks.json")
            .build(),
        Err(ProviderError::Keys { .. })
    ));
}

/// The Cognito cases: (what, token).
fn cognito_cases() -> Vec<(&'static str, String)> {
    let access = cognito_access_claims();
    let now = now();
    vec![
        ("access token", access_token(&access)),
        ("M2M token", access_token(&cognito_m2m_claims())),
        ("ID token", id_token(&cognito_id_claims())),
        (
            "unlisted client_id",
            access_token(&with(&access, json!({"client_id": "3ucb2oj4jm1example"}))),
        ),
        (
            "no client_id",
            access_token(&with(&access, json!({"client_id": null}))),
        ),
        (
            "no token_use",
            access_token(&with(&access, json!({"token_use": null}))),
        ),
        (
            "token_use id",
            access_token(&with(&access, json!({"token_use": "id"}))),
        ),
        (
            "another pool",
            access_token(&with(
                &access,
                json!({"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other9876"}),
            )),
        ),
        ("no iss", access_token(&with(&access, json!({"iss": null})))),
        (
            "expired",
            access_token(&with(
                &access,
                json!({"iat": now - 7200, "exp": now - 3600}),
            )),
        ),
        ("wrong key for kid", token(ID_KID, &access)),
        (
            "ID token with client_id",
            id_token(&with(
                &cognito_id_claims(),
                json!({"client_id": COGNITO_WEB}),
            )),
        ),
    ]
}

#[tokio::test]
async fn cognito_preset_matches_the_hand_built_verifier() {
    let idp = cognito_idp().await;
    let preset = cognito(&idp, TokenUse::Access);
    let policy = Validation::builder([Algorithm::RS256])
        .issuer(COGNITO_ISS)
        .any_audience()
        .rule(ClaimRule::one_of("token_use", ["access"]).unwrap())
        .rule(ClaimRule::one_of("client_id", [COGNITO_WEB, COGNITO_M2M]).unwrap())
        .build()
        .unwrap();
    let keys = JwksSource::builder(idp.url(&cognito_jwks_path()))
        .build()
        .unwrap();
    let by_hand = Verifier::builder(policy, keys, CryptoProvider::default())
        .access_claims(
            AccessClaims::default().roles_at([ClaimPath::new("cognito:groups").unwrap()]),
        )
        .build();
    let mut accepted_count = 0;
    for (what, t) in cognito_cases() {
        let a = preset.verify(&t).await;
        let b = by_hand.verify(&t).await;
        match (&a, &b) {
            (Ok(a), Ok(b)) => {
                accepted_count += 1;
                assert_eq!(a.roles(), b.roles(), "{what}: roles");
                assert_eq!(a.scopes(), b.scopes(), "{what}: scopes");
            }
            (Err(a), Err(b)) => assert_eq!(a, b, "{what}: same refusal"),
            _ => panic!("{what}: preset {a:?}, by hand {b:?}"),
        }
    }
    assert_eq!(accepted_count, 2, "the access and M2M tokens");
}

// =============================================================================================
// Auth0
// =============================================================================================

const AUTH0_DOMAIN: &str = "my-tenant.us.auth0.com";
const AUTH0_CUSTOM: &str = "login.example.com";
const AUTH0_ISS: &str = "https://my-tenant.us.auth0.com/";
const AUTH0_API: &str = "https://api.example.com/health";
const AUTH0_KID: &str = "NjVBRjY5MDlCMUIwNzU4RTA2QzZFMDQ4QzQ2MDAyQjVDNjk1RTM2Qg";

async fn auth0_idp() -> Arc<Idp> {
    let idp = Idp::start().await;
    let (x5t, x5c) = x5t_x5c(&certificate().1);
    idp.serve(
        "/.well-known/jwks.json",
        &json!({"keys": [rsa_jwk(AUTH0_KID, &json!({"use": "sig", "alg": "RS256", "x5t": x5t, "x5c": [x5c]}))]}),
        &[("cache-control", "public, max-age=15, stale-while-revalidate=15")],
    );
    idp
}

fn auth0(idp: &Idp) -> Auth0 {
    Auth0::new([AUTH0_DOMAIN, AUTH0_CUSTOM], AUTH0_API).key_url(idp.url("/.well-known/jwks.json"))
}

/// The Auth0 access-token profile with RBAC permissions and a namespaced roles claim.
fn auth0_claims() -> Value {
    let now = now();
    json!({
        "iss": AUTH0_ISS,
        "sub": "auth0|123456",
        "aud": [AUTH0_API, "https://my-tenant.us.auth0.com/userinfo"],
        "azp": "my_client_id",
        "exp": now + 86400,
        "iat": now,
        "scope": "openid profile read:patients",
        "permissions": ["read:patients", "write:patients"],
        "https://example.com/roles": ["admin"]
    })
}

fn auth0_token(claims: &Value) -> String {
    token(AUTH0_KID, claims)
}

#[tokio::test]
async fn auth0_issuer_has_the_trailing_slash() {
    let idp = auth0_idp().await;
    let v = auth0(&idp).build().unwrap();
    assert_eq!(
        v.validation().issuers(),
        [AUTH0_ISS, "https://login.example.com/"]
    );
    accept(&v, &auth0_token(&auth0_claims()), "with slash").await;
    let no_slash = auth0_token(&with(
        &auth0_claims(),
        json!({"iss": "https://my-tenant.us.auth0.com"}),
    ));
    assert_wrong_issuer(
        &refuse(&v, &no_slash, "without slash").await,
        "https://my-tenant.us.auth0.com",
    );
    let no_iss = auth0_token(&with(&auth0_claims(), json!({"iss": null})));
    assert_missing(&refuse(&v, &no_iss, "no iss").await, "iss");
}

#[tokio::test]
async fn auth0_audience_string_or_array() {
    let idp = auth0_idp().await;
    let v = auth0(&idp).build().unwrap();
    accept(
        &v,
        &auth0_token(&auth0_claims()),
        "aud array with /userinfo",
    )
    .await;
    let single = auth0_token(&with(&auth0_claims(), json!({"aud": AUTH0_API})));
    accept(&v, &single, "aud string").await;
    let other = auth0_token(&with(
        &auth0_claims(),
        json!({"aud": ["https://other.example.com", "https://my-tenant.us.auth0.com/userinfo"]}),
    ));
    assert_wrong_audience(&refuse(&v, &other, "another API").await);
    let userinfo_only = auth0_token(&with(
        &auth0_claims(),
        json!({"aud": "https://my-tenant.us.auth0.com/userinfo"}),
    ));
    assert_wrong_audience(&refuse(&v, &userinfo_only, "userinfo only").await);
    let none = auth0_token(&with(&auth0_claims(), json!({"aud": null})));
    assert_missing(&refuse(&v, &none, "no aud").await, "aud");
    // A second API identifier.
    let two = auth0(&idp)
        .audience("https://other.example.com")
        .build()
        .unwrap();
    accept(&two, &single, "first of two audiences").await;
    accept(&two, &other, "second of two audiences").await;
}

#[tokio::test]
async fn auth0_permissions_are_scopes_and_default_roles() {
    let idp = auth0_idp().await;
    let v = auth0(&idp).build().unwrap();
    let verified = accept(&v, &auth0_token(&auth0_claims()), "RBAC token").await;
    assert_eq!(
        verified.scopes(),
        ["openid", "profile", "read:patients", "write:patients"]
    );
    assert_eq!(verified.roles(), ["read:patients", "write:patients"]);
}

#[tokio::test]
async fn auth0_namespaced_roles_claim() {
    let idp = auth0_idp().await;
    let v = auth0(&idp)
        .roles_claim(ClaimPath::new("https://example.com/roles").unwrap())
        .build()
        .unwrap();
    let verified = accept(&v, &auth0_token(&auth0_claims()), "namespaced roles").await;
    assert_eq!(verified.roles(), ["admin"]);
    // Permissions are still scopes.
    assert!(verified.scopes().contains(&"write:patients"));

    // A nested object that a dotted reading of the path would find does not confuse it.
    let decoy = auth0_token(&with(
        &auth0_claims(),
        json!({"https://example": {"com/roles": ["intruder"]}}),
    ));
    let verified = accept(&v, &decoy, "namespaced roles next to a decoy").await;
    assert_eq!(verified.roles(), ["admin"]);
    let only_decoy = auth0_token(&with(
        &auth0_claims(),
        json!({"https://example.com/roles": null, "https://example": {"com/roles": ["intruder"]}}),
    ));
    let verified = accept(&v, &only_decoy, "only the decoy").await;
    assert!(verified.roles().is_empty(), "{:?}", verified.roles());
}

#[tokio::test]
async fn auth0_rfc9068_profile_requires_at_jwt() {
    let idp = auth0_idp().await;
    let v = auth0(&idp).rfc9068().build().unwrap();
    let now = now();
    let claims = json!({
        "iss": AUTH0_ISS,
        "sub": "auth0|123456",
        "aud": [AUTH0_API, "https://my-tenant.us.auth0.com/userinfo"],
        "client_id": "my_client_id",
        "exp": now + 86400,
        "iat": now,
        "jti": "73WakrfVbNJBaAmhQtEeDv",
        "scope": "openid profile read:patients"
    });
    let at_jwt = token_with_header(
        &json!({"alg": "RS256", "typ": "at+jwt", "kid": AUTH0_KID}),
        &claims,
    );
    accept(&v, &at_jwt, "typ at+jwt").await;
    let media_type = token_with_header(
        &json!({"alg": "RS256", "typ": "application/at+jwt", "kid": AUTH0_KID}),
        &claims,
    );
    accept(&v, &media_type, "typ application/at+jwt").await;
    let jwt = token_with_header(
        &json!({"alg": "RS256", "typ": "JWT", "kid": AUTH0_KID}),
        &claims,
    );
    assert!(matches!(
        refuse(&v, &jwt, "typ JWT").await,
        Error::WrongType { actual: Some(t), .. } if t == "JWT"
    ));
    let untyped = token_with_header(&json!({"alg": "RS256", "kid": AUTH0_KID}), &claims);
    assert!(matches!(
        refuse(&v, &untyped, "no typ").await,
        Error::WrongType { actual: None, .. }
    ));
    // Without the profile option, both are accepted.
    let plain = auth0(&idp).build().unwrap();
    accept(&plain, &jwt, "typ JWT without rfc9068").await;
    accept(&plain, &at_jwt, "typ at+jwt without rfc9068").await;
}

#[tokio::test]
async fn auth0_custom_domains() {
    let idp = auth0_idp().await;
    let v = auth0(&idp).build().unwrap();
    accept(&v, &auth0_token(&auth0_claims()), "tenant domain").await;
    let custom = auth0_token(&with(
        &auth0_claims(),
        json!({"iss": "https://login.example.com/", "aud": [AUTH0_API, "https://login.example.com/userinfo"]}),
    ));
    accept(&v, &custom, "custom domain").await;
    let foreign = auth0_token(&with(
        &auth0_claims(),
        json!({"iss": "https://evil-tenant.us.auth0.com/"}),
    ));
    assert_wrong_issuer(
        &refuse(&v, &foreign, "another tenant").await,
        "https://evil-tenant.us.auth0.com/",
    );
    // Domains written as URLs are read as their host.
    let urls = Auth0::new(["https://my-tenant.us.auth0.com/"], AUTH0_API)
        .build()
        .unwrap();
    assert_eq!(urls.validation().issuers(), [AUTH0_ISS]);
}

#[tokio::test]
async fn auth0_machine_to_machine_token() {
    let idp = auth0_idp().await;
    let v = auth0(&idp).build().unwrap();
    let now = now();
    let m2m = json!({
        "iss": AUTH0_ISS,
        "sub": "hX3aQ8kLwTy0vRmE9s2DpF1cJ7uNbZ4o@clients",
        "aud": AUTH0_API,
        "iat": now,
        "exp": now + 86400,
        "azp": "hX3aQ8kLwTy0vRmE9s2DpF1cJ7uNbZ4o",
        "gty": "client-credentials",
        "scope": "read:things"
    });
    let verified = accept(&v, &auth0_token(&m2m), "M2M").await;
    assert_eq!(
        verified.subject(),
        Some("hX3aQ8kLwTy0vRmE9s2DpF1cJ7uNbZ4o@clients")
    );
    assert_eq!(verified.scopes(), ["read:things"]);
    assert!(verified.roles().is_empty());
}

#[test]
fn auth0_build_errors() {
    assert_eq!(
        setting_error(Auth0::new(Vec::<String>::new(), AUTH0_API).build()),
        "domain"
    );
    assert_eq!(
        setting_error(Auth0::new([AUTH0_DOMAIN], " ").build()),
        "audience"
    );
    for bad in [
        "tenant.auth0.com/path",
        "ten ant.auth0.com",
        "http://tenant.auth0.com",
    ] {
        assert_eq!(
            setting_error(Auth0::new([bad], AUTH0_API).build()),
            "domain",
            "{bad:?}"
        );
    }
}

// =============================================================================================
// Firebase
// =============================================================================================

const FIREBASE_PROJECT: &str = "my-project-1234";
const FIREBASE_ISS: &str = "https://securetoken.google.com/my-project-1234";
const FIREBASE_CERTS: &str = "/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com";
const FIREBASE_KID: &str = "3f1b9e8d7c6a5b4e3d2c1b0a9f8e7d6c5b4a3f2e";
const FIREBASE_OTHER_KID: &str = "0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b";
const FIREBASE_UID: &str = "kX1pQ9zR2sT3uV4wX5yZ6aB7cD8e";

async fn firebase_idp(cache_control: &str) -> Arc<Idp> {
    let idp = Idp::start().await;
    idp.serve(
        FIREBASE_CERTS,
        &json!({
            FIREBASE_OTHER_KID: second_certificate().0,
            FIREBASE_KID: certificate().0,
        }),
        &[
            ("cache-control", cache_control),
            ("expires", "Mon, 01 Jan 2035 00:00:00 GMT"),
        ],
    );
    idp
}

fn firebase(idp: &Idp) -> Verifier {
    Firebase::new(FIREBASE_PROJECT)
        .key_url(idp.url(FIREBASE_CERTS))
        .build()
        .unwrap()
}

fn firebase_claims() -> Value {
    let now = now();
    json!({
        "iss": FIREBASE_ISS,
        "aud": FIREBASE_PROJECT,
        "auth_time": now - 7200,
        "user_id": FIREBASE_UID,
        "sub": FIREBASE_UID,
        "iat": now,
        "exp": now + 3600,
        "email": "a@example.com",
        "email_verified": true,
        "firebase": {"identities": {"email": ["a@example.com"]}, "sign_in_provider": "password"},
        "roles": ["admin", "editor"],
        "tier": "pro"
    })
}

fn firebase_token(claims: &Value) -> String {
    token(FIREBASE_KID, claims)
}

#[tokio::test]
async fn firebase_id_token_from_the_certificate_map() {
    let idp = firebase_idp("public, max-age=19766, must-revalidate, no-transform").await;
    let v = firebase(&idp);
    assert_eq!(v.validation().issuers(), [FIREBASE_ISS]);
    assert_eq!(v.validation().audiences(), [FIREBASE_PROJECT]);
    let verified = accept(&v, &firebase_token(&firebase_claims()), "Firebase ID token").await;
    assert_eq!(verified.subject(), Some(FIREBASE_UID));
    assert_eq!(
        verified.roles(),
        ["admin", "editor"],
        "the roles custom claim"
    );
    assert_eq!(
        verified.claims_json()["firebase"]["sign_in_provider"],
        "password"
    );
    // Another token, same keys: served from the cache.
    let again = firebase_token(&with(&firebase_claims(), json!({"iat": now() - 1})));
    accept(&v, &again, "second token").await;
    assert_eq!(idp.hits(FIREBASE_CERTS), 1);
    // The other certificate's kid names a different key.
    let wrong = token(FIREBASE_OTHER_KID, &firebase_claims());
    assert_eq!(
        refuse(&v, &wrong, "kid of the other certificate").await,
        Error::InvalidSignature
    );
}

#[tokio::test]
async fn firebase_cache_control_sets_the_refresh() {
    let idp = firebase_idp("public, max-age=1, must-revalidate, no-transform").await;
    let v = Firebase::new(FIREBASE_PROJECT)
        .key_url(idp.url(FIREBASE_CERTS))
        .configure_keys(|keys| keys.ttl_bounds(Duration::from_secs(1), Duration::from_secs(3600)))
        .build()
        .unwrap();
    accept(&v, &firebase_token(&firebase_claims()), "first").await;
    assert_eq!(idp.hits(FIREBASE_CERTS), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let next = firebase_token(&with(&firebase_claims(), json!({"iat": now() - 2})));
    accept(&v, &next, "after max-age").await;
    assert_eq!(idp.hits(FIREBASE_CERTS), 2, "refetched once max-age passed");
}

#[tokio::test]
async fn firebase_sub_is_1_to_128_characters() {
    let idp = firebase_idp("public, max-age=19766").await;
    let v = firebase(&idp);
    let sub = |s: Value| firebase_token(&with(&firebase_claims(), json!({"sub": s})));
    accept(&v, &sub(json!("u".repeat(128))), "128 chars").await;
    assert_invalid(
        &refuse(&v, &sub(json!("u".repeat(129))), "129 chars").await,
        "sub",
    );
    assert_invalid(&refuse(&v, &sub(json!("")), "empty").await, "sub");
    assert_invalid(&refuse(&v, &sub(json!(12345)), "a number").await, "sub");
    let none = firebase_token(&with(&firebase_claims(), json!({"sub": null})));
    assert_missing(&refuse(&v, &none, "no sub").await, "sub");
}

#[tokio::test]
async fn firebase_auth_time_not_in_the_future() {
    let idp = firebase_idp("public, max-age=19766").await;
    let v = firebase(&idp);
    let now = now();
    let at = |t: Value| firebase_token(&with(&firebase_claims(), json!({"auth_time": t})));
    accept(&v, &at(json!(now)), "auth_time now").await;
    accept(&v, &at(json!(now + 30)), "within the leeway").await;
    assert_invalid(
        &refuse(&v, &at(json!(now + 600)), "future").await,
        "auth_time",
    );
    assert_invalid(
        &refuse(&v, &at(json!("1700000000")), "a string").await,
        "auth_time",
    );
    let none = firebase_token(&with(&firebase_claims(), json!({"auth_time": null})));
    assert_missing(&refuse(&v, &none, "no auth_time").await, "auth_time");
}

#[tokio::test]
async fn firebase_project_binds_issuer_and_audience() {
    let idp = firebase_idp("public, max-age=19766").await;
    let v = firebase(&idp);
    let other_aud = firebase_token(&with(&firebase_claims(), json!({"aud": "other-project"})));
    assert_wrong_audience(&refuse(&v, &other_aud, "another project's aud").await);
    let other_iss = firebase_token(&with(
        &firebase_claims(),
        json!({"iss": "https://securetoken.google.com/other-project"}),
    ));
    assert_wrong_issuer(
        &refuse(&v, &other_iss, "another project's iss").await,
        "https://securetoken.google.com/other-project",
    );
    // A session cookie and a custom token are not ID tokens.
    let cookie = firebase_token(&with(
        &firebase_claims(),
        json!({"iss": "https://session.firebase.google.com/my-project-1234"}),
    ));
    assert_wrong_issuer(
        &refuse(&v, &cookie, "session cookie").await,
        "https://session.firebase.google.com/my-project-1234",
    );
    let custom = firebase_token(&with(
        &firebase_claims(),
        json!({"aud": "https://identitytoolkit.googleapis.com/google.identity.identitytoolkit.v1.IdentityToolkit"}),
    ));
    assert_wrong_audience(&refuse(&v, &custom, "custom token").await);
}

#[tokio::test]
async fn firebase_only_rs256() {
    let idp = firebase_idp("public, max-age=19766").await;
    let v = firebase(&idp);
    for alg in [
        Algorithm::HS256,
        Algorithm::ES256,
        Algorithm::RS512,
        Algorithm::PS256,
    ] {
        let t = support::sign(alg, &firebase_claims());
        assert!(
            matches!(
                refuse(&v, &t, alg.as_str()).await,
                Error::AlgorithmNotAllowed { .. }
            ),
            "{alg}"
        );
    }
    let none = format!(
        "{}.{}.",
        support::b64(br#"{"alg":"none","typ":"JWT"}"#),
        support::b64(firebase_claims().to_string().as_bytes())
    );
    assert!(matches!(
        refuse(&v, &none, "alg none").await,
        Error::AlgNone { .. }
    ));
    assert_eq!(v.validation().algorithms(), [Algorithm::RS256]);
}

#[test]
fn firebase_build_errors() {
    for bad in ["", "My-Project", "my project", "my_project", "a/b"] {
        assert_eq!(
            setting_error(Firebase::new(bad).build()),
            "project id",
            "{bad:?}"
        );
    }
}

// =============================================================================================
// Microsoft Entra ID
// =============================================================================================

const TENANT_A: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const TENANT_B: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";
const TENANT_C: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
const ENTRA_CLIENT_ID: &str = "6e74172b-be56-4843-9ff4-e66a39bb12e3";
const ENTRA_APP_ID_URI: &str = "api://orders-api";
const ENTRA_CALLER: &str = "c44b4083-3bb0-49c1-b47d-974e53cbdf3c";

fn entra_kid() -> String {
    x5t_x5c(&certificate().1).0
}

fn entra_keys_path(tenant: &str) -> String {
    format!("/{tenant}/discovery/v2.0/keys")
}

async fn entra_idp() -> Arc<Idp> {
    let idp = Idp::start().await;
    let key = |der: &[u8], jwk: fn(&str, &Value) -> Value| {
        let (x5t, x5c) = x5t_x5c(der);
        jwk(
            &x5t.clone(),
            &json!({
                "use": "sig",
                "x5t": x5t,
                "x5c": [x5c],
                "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0"
            }),
        )
    };
    // No `alg` on any key, as Entra publishes them.
    let jwks = json!({"keys": [
        key(&second_certificate().1, second_jwk),
        key(&certificate().1, rsa_jwk),
    ]});
    for tenant in ["common", "organizations", TENANT_A] {
        idp.serve(&entra_keys_path(tenant), &jwks, &[]);
    }
    idp
}

fn v1_header() -> Value {
    let kid = entra_kid();
    json!({"typ": "JWT", "alg": "RS256", "x5t": kid, "kid": kid})
}

fn v2_header() -> Value {
    json!({"typ": "JWT", "alg": "RS256", "kid": entra_kid()})
}

fn entra_v1_claims(tid: &str) -> Value {
    let now = now();
    json!({
        "aud": ENTRA_APP_ID_URI,
        "iss": format!("https://sts.windows.net/{tid}/"),
        "iat": now, "nbf": now, "exp": now + 4500,
        "acr": "1",
        "aio": "AVQAq/8TAAAA",
        "amr": ["pwd", "mfa"],
        "appid": ENTRA_CALLER,
        "appidacr": "0",
        "family_name": "Doe",
        "given_name": "Jane",
        "idp": format!("https://sts.windows.net/{tid}/"),
        "ipaddr": "203.0.113.7",
        "name": "Jane Doe",
        "oid": "d9674823-dffc-4e3f-a6eb-62fe4bd48a58",
        "rh": "0.AAAA",
        "scp": "user_impersonation Orders.Read",
        "sub": "SCo7FZr6AGpdPaASXhI5pzEQl5HtnW9CmXrJn4HBC1E",
        "tid": tid,
        "unique_name": "jane@contoso.com",
        "uti": "fqiBqXLPj0eQa82S-IYFAA",
        "ver": "1.0"
    })
}

fn entra_v2_claims(tid: &str) -> Value {
    let now = now();
    json!({
        "aud": ENTRA_CLIENT_ID,
        "iss": format!("https://login.microsoftonline.com/{tid}/v2.0"),
        "iat": now, "nbf": now, "exp": now + 4500,
        "aio": "AVQAq/8TAAAA",
        "azp": ENTRA_CALLER,
        "azpacr": "0",
        "name": "Jane Doe",
        "oid": "d9674823-dffc-4e3f-a6eb-62fe4bd48a58",
        "preferred_username": "jane@contoso.com",
        "rh": "0.AAAA",
        "roles": ["Orders.Admin"],
        "scp": "access_as_user Orders.Read",
        "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
        "tid": tid,
        "uti": "fqiBqXLPj0eQa82S-IYFAA",
        "ver": "2.0"
    })
}

/// A client-credentials (app-only) token: app roles, no `scp`.
fn entra_app_only_claims(tid: &str) -> Value {
    let now = now();
    json!({
        "aud": ENTRA_CLIENT_ID,
        "iss": format!("https://login.microsoftonline.com/{tid}/v2.0"),
        "iat": now, "nbf": now, "exp": now + 3599,
        "aio": "E2ZgYJi",
        "azp": ENTRA_CALLER,
        "azpacr": "1",
        "idtyp": "app",
        "oid": "1f5c2f9a-3f43-4a2a-9a4d-2b6c3b9f1e7d",
        "rh": "0.AAAA",
        "roles": ["Things.Read.All", "Things.Write.All"],
        "sub": "1f5c2f9a-3f43-4a2a-9a4d-2b6c3b9f1e7d",
        "tid": tid,
        "uti": "Nq3mRgg4dUK",
        "ver": "2.0"
    })
}

fn v1(claims: &Value) -> String {
    token_with_header(&v1_header(), claims)
}

fn v2(claims: &Value) -> String {
    token_with_header(&v2_header(), claims)
}

fn entra_single(idp: &Idp) -> Verifier {
    EntraId::single_tenant(TENANT_A)
        .audiences([ENTRA_CLIENT_ID, ENTRA_APP_ID_URI])
        .key_url(idp.url(&entra_keys_path(TENANT_A)))
        .build()
        .unwrap()
}

fn entra_multi(idp: &Idp) -> Verifier {
    EntraId::multi_tenant([TENANT_A, TENANT_B])
        .audience(ENTRA_CLIENT_ID)
        .audience(ENTRA_APP_ID_URI)
        .key_url(idp.url(&entra_keys_path("common")))
        .build()
        .unwrap()
}

fn entra_any(idp: &Idp) -> Verifier {
    EntraId::any_tenant()
        .audiences([ENTRA_CLIENT_ID, ENTRA_APP_ID_URI])
        .key_url(idp.url(&entra_keys_path("organizations")))
        .build()
        .unwrap()
}

#[tokio::test]
async fn entra_single_tenant_v1_and_v2() {
    let idp = entra_idp().await;
    let v = entra_single(&idp);
    assert_eq!(
        v.validation().issuers(),
        [
            format!("https://sts.windows.net/{TENANT_A}/"),
            format!("https://login.microsoftonline.com/{TENANT_A}/v2.0")
        ]
    );
    let verified = accept(&v, &v1(&entra_v1_claims(TENANT_A)), "v1 token").await;
    assert_eq!(verified.scopes(), ["user_impersonation", "Orders.Read"]);
    assert!(verified.roles().is_empty());
    let verified = accept(&v, &v2(&entra_v2_claims(TENANT_A)), "v2 token").await;
    assert_eq!(verified.scopes(), ["access_as_user", "Orders.Read"]);
    assert_eq!(verified.roles(), ["Orders.Admin"]);

    // Another tenant's token (Entra signs every tenant's tokens with the same keys).
    let foreign = v2(&entra_v2_claims(TENANT_B));
    assert_wrong_issuer(
        &refuse(&v, &foreign, "another tenant").await,
        &format!("https://login.microsoftonline.com/{TENANT_B}/v2.0"),
    );
    // The tenant's issuer with another tenant's tid.
    let mismatch = v2(&with(&entra_v2_claims(TENANT_A), json!({"tid": TENANT_B})));
    assert!(matches!(
        refuse(&v, &mismatch, "iss A, tid B").await,
        Error::WrongIssuer { .. }
    ));
    let no_tid = v2(&with(&entra_v2_claims(TENANT_A), json!({"tid": null})));
    assert_missing(&refuse(&v, &no_tid, "no tid").await, "tid");
    let no_iss = v2(&with(&entra_v2_claims(TENANT_A), json!({"iss": null})));
    assert_missing(&refuse(&v, &no_iss, "no iss").await, "iss");
}

#[tokio::test]
async fn entra_multi_tenant_allow_list() {
    let idp = entra_idp().await;
    let v = entra_multi(&idp);
    for tenant in [TENANT_A, TENANT_B] {
        accept(&v, &v1(&entra_v1_claims(tenant)), tenant).await;
        accept(&v, &v2(&entra_v2_claims(tenant)), tenant).await;
    }
    // An unlisted tenant, though its token is perfectly well formed and signed.
    let unlisted = v2(&entra_v2_claims(TENANT_C));
    assert_invalid(&refuse(&v, &unlisted, "unlisted tenant").await, "tid");
    let unlisted_v1 = v1(&entra_v1_claims(TENANT_C));
    assert_invalid(&refuse(&v, &unlisted_v1, "unlisted tenant v1").await, "tid");
    // iss of tenant A with tid B: both allowed, but the issuer must be the token's own tenant's.
    for (what, claims) in [
        (
            "v2 iss A, tid B",
            with(&entra_v2_claims(TENANT_A), json!({"tid": TENANT_B})),
        ),
        (
            "v1 iss A, tid B",
            with(&entra_v1_claims(TENANT_A), json!({"tid": TENANT_B})),
        ),
    ] {
        let err = refuse(&v, &token_with_header(&v1_header(), &claims), what).await;
        assert!(matches!(err, Error::WrongIssuer { .. }), "{what}: {err:?}");
    }
    let no_tid = v2(&with(&entra_v2_claims(TENANT_A), json!({"tid": null})));
    assert_missing(&refuse(&v, &no_tid, "no tid").await, "tid");
    let no_iss = v2(&with(&entra_v2_claims(TENANT_A), json!({"iss": null})));
    assert_missing(&refuse(&v, &no_iss, "no iss").await, "iss");
    // An issuer that merely embeds an allowed tenant.
    let lookalike = v2(&with(
        &entra_v2_claims(TENANT_A),
        json!({"iss": format!("https://login.microsoftonline.com.evil.example/{TENANT_A}/v2.0")}),
    ));
    assert!(matches!(
        refuse(&v, &lookalike, "look-alike issuer").await,
        Error::WrongIssuer { .. }
    ));
}

#[tokio::test]
async fn entra_any_tenant_still_binds_tid() {
    let idp = entra_idp().await;
    let v = entra_any(&idp);
    accept(&v, &v2(&entra_v2_claims(TENANT_C)), "arbitrary tenant v2").await;
    accept(&v, &v1(&entra_v1_claims(TENANT_C)), "arbitrary tenant v1").await;
    let mismatch = v2(&with(&entra_v2_claims(TENANT_A), json!({"tid": TENANT_C})));
    assert!(matches!(
        refuse(&v, &mismatch, "iss A, tid C").await,
        Error::WrongIssuer { .. }
    ));
    let no_tid = v2(&with(&entra_v2_claims(TENANT_C), json!({"tid": null})));
    assert_missing(&refuse(&v, &no_tid, "no tid").await, "tid");
    let path_tid = v2(&with(
        &entra_v2_claims(TENANT_C),
        json!({"tid": "a/b", "iss": "https://login.microsoftonline.com/a/b/v2.0"}),
    ));
    assert_invalid(&refuse(&v, &path_tid, "tid with a slash").await, "tid");
    let foreign_host = v2(&with(
        &entra_v2_claims(TENANT_C),
        json!({"iss": format!("https://issuer.example.com/{TENANT_C}/v2.0")}),
    ));
    assert!(matches!(
        refuse(&v, &foreign_host, "another issuer host").await,
        Error::WrongIssuer { .. }
    ));
}

#[tokio::test]
async fn entra_app_only_token() {
    let idp = entra_idp().await;
    let v = entra_single(&idp);
    let verified = accept(&v, &v2(&entra_app_only_claims(TENANT_A)), "app-only").await;
    assert_eq!(verified.roles(), ["Things.Read.All", "Things.Write.All"]);
    assert!(verified.scopes().is_empty(), "no scp");
}

#[tokio::test]
async fn entra_audience_client_id_or_app_id_uri() {
    let idp = entra_idp().await;
    let v = entra_single(&idp);
    let by_uri = v1(&entra_v1_claims(TENANT_A));
    let by_id = v1(&with(
        &entra_v1_claims(TENANT_A),
        json!({"aud": ENTRA_CLIENT_ID}),
    ));
    accept(&v, &by_uri, "App ID URI").await;
    accept(&v, &by_id, "client id").await;
    let v2_by_uri = v2(&with(
        &entra_v2_claims(TENANT_A),
        json!({"aud": ENTRA_APP_ID_URI}),
    ));
    accept(&v, &v2_by_uri, "v2 with App ID URI").await;
    // A Microsoft Graph token is not for this API.
    let graph = v1(&with(
        &entra_v1_claims(TENANT_A),
        json!({"aud": "00000003-0000-0000-c000-000000000000"}),
    ));
    assert_wrong_audience(&refuse(&v, &graph, "Graph token").await);
    // Only the client id configured: the URI is refused.
    let id_only = EntraId::single_tenant(TENANT_A)
        .audience(ENTRA_CLIENT_ID)
        .key_url(idp.url(&entra_keys_path(TENANT_A)))
        .build()
        .unwrap();
    accept(&id_only, &by_id, "client id only").await;
    assert_wrong_audience(&refuse(&id_only, &by_uri, "URI not configured").await);
}

/// GUIDs are case-insensitive on input (RFC 4122 section 3) and the preset accepts an
/// upper-case tenant id, but Entra writes `tid` and the issuers in lower case: a tenant id
/// pasted in upper case must still accept that tenant's tokens (or be refused at build).
#[tokio::test]
async fn entra_tenant_id_in_upper_case() {
    let idp = entra_idp().await;
    let upper = TENANT_A.to_ascii_uppercase();
    let single = EntraId::single_tenant(upper.as_str())
        .audience(ENTRA_CLIENT_ID)
        .key_url(idp.url(&entra_keys_path(TENANT_A)))
        .build();
    let multi = EntraId::multi_tenant([upper.as_str(), TENANT_B])
        .audience(ENTRA_CLIENT_ID)
        .key_url(idp.url(&entra_keys_path("common")))
        .build();
    let t = v2(&entra_v2_claims(TENANT_A));
    // Either fix is fine: refuse the upper-case id when building, or accept the tenant's token.
    let mut broken = Vec::new();
    for (what, built) in [("single_tenant", single), ("multi_tenant", multi)] {
        if let Ok(v) = built
            && let Err(err) = v.verify(&t).await
        {
            broken.push(format!("{what}: {err:?}"));
        }
    }
    assert!(
        broken.is_empty(),
        "tenant {upper} builds but refuses every token of that tenant:\n{}",
        broken.join("\n")
    );
}

/// The overrides every preset takes.
#[tokio::test]
async fn preset_overrides() {
    // Leeway: Firebase's Admin SDK allows 300 s of clock skew.
    let idp = firebase_idp("public, max-age=19766").await;
    let lenient = Firebase::new(FIREBASE_PROJECT)
        .key_url(idp.url(FIREBASE_CERTS))
        .leeway(Duration::from_secs(300))
        .build()
        .unwrap();
    assert_eq!(lenient.validation().leeway(), Duration::from_secs(300));
    let soon = firebase_token(&with(&firebase_claims(), json!({"auth_time": now() + 200})));
    accept(&lenient, &soon, "auth_time within 300 s").await;
    assert_invalid(
        &refuse(&firebase(&idp), &soon, "default leeway").await,
        "auth_time",
    );
    assert!(matches!(
        Firebase::new(FIREBASE_PROJECT)
            .leeway(Duration::from_secs(601))
            .build(),
        Err(ProviderError::Policy {
            source: ConfigError::LeewayTooLarge(601),
            ..
        })
    ));
    assert!(matches!(
        Google::new([GOOGLE_CLIENT]).algorithms([]).build(),
        Err(ProviderError::Policy {
            source: ConfigError::NoAlgorithms,
            ..
        })
    ));
    let ps = Google::new([GOOGLE_CLIENT])
        .algorithms([Algorithm::RS256, Algorithm::PS256])
        .build()
        .unwrap();
    assert_eq!(
        ps.validation().algorithms(),
        [Algorithm::RS256, Algorithm::PS256]
    );

    // Roles elsewhere: Cognito ID tokens also carry the IAM roles of the groups.
    let cidp = cognito_idp().await;
    let v = Cognito::new(POOL, [COGNITO_WEB])
        .token_use(TokenUse::Id)
        .roles_claim(ClaimPath::new("cognito:roles").unwrap())
        .key_url(cidp.url(&cognito_jwks_path()))
        .build()
        .unwrap();
    let arn = "arn:aws:iam::123456789012:role/Admins";
    let t = id_token(&with(&cognito_id_claims(), json!({"cognito:roles": [arn]})));
    assert_eq!(accept(&v, &t, "cognito:roles").await.roles(), [arn]);

    // The verified-token cache: on by default, off on request.
    assert!(
        cognito(&cidp, TokenUse::Access)
            .token_cache_stats()
            .is_some()
    );
    let uncached = Cognito::new(POOL, [COGNITO_WEB])
        .key_url(cidp.url(&cognito_jwks_path()))
        .token_cache(None)
        .build()
        .unwrap();
    assert!(uncached.token_cache_stats().is_none());
    accept(
        &uncached,
        &access_token(&cognito_access_claims()),
        "uncached",
    )
    .await;
}

#[test]
fn entra_build_errors() {
    assert_eq!(
        setting_error(
            EntraId::single_tenant("contoso.onmicrosoft.com")
                .audience(ENTRA_CLIENT_ID)
                .build()
        ),
        "tenant"
    );
    assert_eq!(
        setting_error(EntraId::single_tenant(TENANT_A).build()),
        "audience"
    );
    assert_eq!(setting_error(EntraId::any_tenant().build()), "audience");
    assert_eq!(
        setting_error(
            EntraId::multi_tenant(Vec::<String>::new())
                .audience(ENTRA_CLIENT_ID)
                .build()
        ),
        "allowed tenants"
    );
    assert_eq!(
        setting_error(
            EntraId::multi_tenant([TENANT_A, "fabrikam.com"])
                .audience(ENTRA_CLIENT_ID)
                .build()
        ),
        "tenant"
    );
}

// =============================================================================================
// Keycloak
// =============================================================================================

const REALM: &str = "acme";
const KC_CLIENT: &str = "orders-api";
const KC_SIG_KID: &str = "0Xq3V2s9KMlY7Gp1Ar8wqk6XbRZQfCj5UeD4hNnT2yo";
const KC_ENC_KID: &str = "Yc2tQ1mVb8s0uX6kR4nZaJ7eW3pLfH9gD5iO2rTyBqE";

fn kc_issuer(idp: &Idp, realm: &str) -> String {
    idp.url(&format!("/realms/{realm}"))
}

/// Serves a realm: its discovery document and its JWK Set (encryption key first).
fn kc_serve_realm(idp: &Idp, realm: &str) {
    let issuer = kc_issuer(idp, realm);
    let certs = format!("/realms/{realm}/protocol/openid-connect/certs");
    idp.serve(
        &format!("/realms/{realm}/.well-known/openid-configuration"),
        &json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/protocol/openid-connect/auth"),
            "token_endpoint": format!("{issuer}/protocol/openid-connect/token"),
            "userinfo_endpoint": format!("{issuer}/protocol/openid-connect/userinfo"),
            "jwks_uri": idp.url(&certs),
            "id_token_signing_alg_values_supported": ["PS384", "ES384", "RS384", "HS256", "HS512", "ES256", "RS256", "HS384", "ES512", "PS256", "PS512", "RS512"],
            "response_types_supported": ["code", "none", "id_token", "token", "id_token token"],
            "subject_types_supported": ["public", "pairwise"]
        }),
        &[],
    );
    let (sig_x5t, sig_x5c) = x5t_x5c(&certificate().1);
    let (enc_x5t, enc_x5c) = x5t_x5c(&second_certificate().1);
    idp.serve(
        &certs,
        &json!({"keys": [
            second_jwk(KC_ENC_KID, &json!({
                "alg": "RSA-OAEP", "use": "enc", "x5c": [enc_x5c], "x5t": enc_x5t,
                "x5t#S256": x5t_s256(&second_certificate().1)
            })),
            rsa_jwk(KC_SIG_KID, &json!({
                "alg": "RS256", "use": "sig", "x5c": [sig_x5c], "x5t": sig_x5t,
                "x5t#S256": x5t_s256(&certificate().1)
            })),
        ]}),
        &[("cache-control", "no-cache")],
    );
}

async fn keycloak_idp() -> Arc<Idp> {
    let idp = Idp::start().await;
    kc_serve_realm(&idp, REALM);
    kc_serve_realm(&idp, "other");
    idp
}

fn keycloak(idp: &Idp) -> Verifier {
    Keycloak::new(&idp.base, REALM, KC_CLIENT).build().unwrap()
}

fn kc_access_claims(issuer: &str) -> Value {
    let now = now();
    json!({
        "exp": now + 300,
        "iat": now,
        "auth_time": now - 30,
        "jti": "onrtac:6d9c2a1e-3b4f-4c5d-8e7f-9a0b1c2d3e4f",
        "iss": issuer,
        "aud": [KC_CLIENT, "account"],
        "sub": "f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9",
        "typ": "Bearer",
        "azp": "my-spa",
        "sid": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "acr": "1",
        "allowed-origins": ["https://app.example.com"],
        "realm_access": {"roles": ["offline_access", "uma_authorization", "default-roles-acme", "admin"]},
        "resource_access": {
            "orders-api": {"roles": ["reader", "writer"]},
            "account": {"roles": ["manage-account", "view-profile"]}
        },
        "scope": "openid profile email",
        "email_verified": true,
        "preferred_username": "jdoe",
        "email": "jdoe@example.com"
    })
}

fn kc_token(claims: &Value) -> String {
    token(KC_SIG_KID, claims)
}

#[tokio::test]
async fn keycloak_access_token_with_realm_and_client_roles() {
    let idp = keycloak_idp().await;
    let v = keycloak(&idp);
    let issuer = kc_issuer(&idp, REALM);
    assert_eq!(v.validation().issuers(), [issuer.as_str()]);
    let verified = accept(&v, &kc_token(&kc_access_claims(&issuer)), "access token").await;
    assert_eq!(
        verified.roles(),
        [
            "offline_access",
            "uma_authorization",
            "default-roles-acme",
            "admin",
            "reader",
            "writer"
        ]
    );
    assert!(
        !verified.roles().contains(&"manage-account"),
        "another client's roles"
    );
    assert_eq!(verified.scopes(), ["openid", "profile", "email"]);
    // Discovery, then the certs (with the RSA-OAEP key skipped), once each.
    assert_eq!(
        idp.hits(&format!("/realms/{REALM}/.well-known/openid-configuration")),
        1
    );
    assert_eq!(
        idp.hits(&format!("/realms/{REALM}/protocol/openid-connect/certs")),
        1
    );
    // A token naming the encryption key's kid finds no signature key.
    let enc = token(KC_ENC_KID, &kc_access_claims(&issuer));
    assert!(matches!(
        refuse(&v, &enc, "kid of the encryption key").await,
        Error::UnknownKey { .. }
    ));
}

#[tokio::test]
async fn keycloak_refuses_id_and_refresh_tokens() {
    let idp = keycloak_idp().await;
    let v = keycloak(&idp);
    let issuer = kc_issuer(&idp, REALM);
    let now = now();
    let id = json!({
        "exp": now + 300, "iat": now, "auth_time": now - 30,
        "jti": "2b7c9d1e-0f3a-4b5c-9d6e-7f8a9b0c1d2e",
        "iss": issuer, "aud": KC_CLIENT,
        "sub": "f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9",
        "typ": "ID", "azp": KC_CLIENT, "nonce": "n-0S6_WzA2Mj",
        "sid": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "at_hash": "77QmUPtjPfzWtF2AnpK9RQ", "acr": "1",
        "email_verified": true, "preferred_username": "jdoe"
    });
    assert_invalid(&refuse(&v, &kc_token(&id), "ID token").await, "typ");
    let refresh = json!({
        "exp": now + 1800, "iat": now,
        "jti": "3c8d0e2f-1a4b-4c6d-8e7f-0a1b2c3d4e5f",
        "iss": issuer, "aud": issuer,
        "sub": "f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9",
        "typ": "Refresh", "azp": KC_CLIENT,
        "sid": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "scope": "openid profile email"
    });
    assert_invalid(
        &refuse(&v, &kc_token(&refresh), "refresh token").await,
        "typ",
    );
    let offline = with(&refresh, json!({"typ": "Offline"}));
    assert_invalid(
        &refuse(&v, &kc_token(&offline), "offline token").await,
        "typ",
    );
    // A lightweight access token without `typ` is an access token.
    let untyped = with(&kc_access_claims(&issuer), json!({"typ": null}));
    accept(&v, &kc_token(&untyped), "no typ").await;
}

#[tokio::test]
async fn keycloak_audience_or_authorized_party() {
    let idp = keycloak_idp().await;
    let v = keycloak(&idp);
    let issuer = kc_issuer(&idp, REALM);
    let base = kc_access_claims(&issuer);
    let account_azp_client = with(&base, json!({"aud": "account", "azp": KC_CLIENT}));
    accept(
        &v,
        &kc_token(&account_azp_client),
        "aud account, azp the client",
    )
    .await;
    let no_aud_azp_client = with(&base, json!({"aud": null, "azp": KC_CLIENT}));
    accept(&v, &kc_token(&no_aud_azp_client), "no aud, azp the client").await;
    let account_azp_other = with(&base, json!({"aud": "account", "azp": "my-spa"}));
    assert_wrong_audience(
        &refuse(&v, &kc_token(&account_azp_other), "aud account, azp other").await,
    );
    let nothing = with(&base, json!({"aud": null, "azp": null}));
    assert_wrong_audience(&refuse(&v, &kc_token(&nothing), "neither").await);
    // An explicit audience replaces the client id in `aud` (azp = client still counts).
    let custom = Keycloak::new(&idp.base, REALM, KC_CLIENT)
        .audience("https://orders.example.com")
        .build()
        .unwrap();
    let custom_aud = with(
        &base,
        json!({"aud": ["https://orders.example.com", "account"]}),
    );
    accept(&custom, &kc_token(&custom_aud), "custom audience").await;
    accept(
        &custom,
        &kc_token(&account_azp_client),
        "azp with custom audience",
    )
    .await;
    assert_wrong_audience(&refuse(&custom, &kc_token(&base), "client id in aud only").await);
}

#[tokio::test]
async fn keycloak_issuer_is_the_realm() {
    let idp = keycloak_idp().await;
    let v = keycloak(&idp);
    let other = kc_issuer(&idp, "other");
    let t = kc_token(&kc_access_claims(&other));
    assert_wrong_issuer(&refuse(&v, &t, "another realm").await, &other);
    // The same realm under another hostname (Keycloak's issuer depends on it).
    let port = idp.base.rsplit(':').next().unwrap();
    let localhost = format!("http://localhost:{port}/realms/{REALM}");
    let t = kc_token(&kc_access_claims(&localhost));
    assert_wrong_issuer(&refuse(&v, &t, "another hostname").await, &localhost);
    let no_iss = with(
        &kc_access_claims(&kc_issuer(&idp, REALM)),
        json!({"iss": null}),
    );
    assert_missing(&refuse(&v, &kc_token(&no_iss), "no iss").await, "iss");
    // And the other realm's own verifier accepts its token.
    let other_v = Keycloak::new(&idp.base, "other", KC_CLIENT)
        .build()
        .unwrap();
    accept(
        &other_v,
        &kc_token(&kc_access_claims(&other)),
        "other realm",
    )
    .await;
}

#[tokio::test]
async fn keycloak_discovery_must_name_the_realm() {
    let idp = Idp::start().await;
    kc_serve_realm(&idp, REALM);
    // A discovery document at realm `moved` that names realm `acme` as its issuer.
    let acme = kc_issuer(&idp, REALM);
    idp.serve(
        "/realms/moved/.well-known/openid-configuration",
        &json!({"issuer": acme, "jwks_uri": idp.url("/realms/acme/protocol/openid-connect/certs")}),
        &[],
    );
    let v = Keycloak::new(&idp.base, "moved", KC_CLIENT)
        .build()
        .unwrap();
    let t = kc_token(&kc_access_claims(&kc_issuer(&idp, "moved")));
    assert!(matches!(
        refuse(&v, &t, "discovery issuer mismatch").await,
        Error::KeySourceUnavailable(_)
    ));
}

#[tokio::test]
async fn keycloak_client_id_with_dots() {
    let idp = keycloak_idp().await;
    let v = Keycloak::new(format!("{}/", idp.base), REALM, "orders.api")
        .build()
        .unwrap();
    let claims = with(
        &kc_access_claims(&kc_issuer(&idp, REALM)),
        json!({
            "aud": ["orders.api", "account"],
            "resource_access": {"orders.api": {"roles": ["auditor"]}, "orders": {"api": {"roles": ["decoy"]}}}
        }),
    );
    let verified = accept(&v, &kc_token(&claims), "client id with dots").await;
    assert_eq!(
        verified.roles(),
        [
            "offline_access",
            "uma_authorization",
            "default-roles-acme",
            "admin",
            "auditor"
        ]
    );
}

#[test]
fn keycloak_build_errors() {
    assert_eq!(
        setting_error(Keycloak::new("https://sso.example.com", "a/b", KC_CLIENT).build()),
        "realm"
    );
    assert_eq!(
        setting_error(Keycloak::new("https://sso.example.com", "", KC_CLIENT).build()),
        "realm"
    );
    assert_eq!(
        setting_error(Keycloak::new("https://sso.example.com", REALM, " ").build()),
        "client id"
    );
    assert_eq!(
        setting_error(Keycloak::new("http://keycloak.internal", REALM, KC_CLIENT).build()),
        "base URL"
    );
    assert_eq!(
        setting_error(Keycloak::new("https://sso.example.com?x=1", REALM, KC_CLIENT).build()),
        "base URL"
    );
    let legacy = Keycloak::new("https://sso.example.com/auth/", REALM, KC_CLIENT)
        .build()
        .unwrap();
    assert_eq!(
        legacy.validation().issuers(),
        ["https://sso.example.com/auth/realms/acme"]
    );
}

// =============================================================================================
// Google
// =============================================================================================

const GOOGLE_CLIENT: &str = "1234567890-abc123def456.apps.googleusercontent.com";
const GOOGLE_OTHER_CLIENT: &str = "1234567890-mobile789.apps.googleusercontent.com";
const GOOGLE_KID: &str = "a50f6e70ef4b548a5fd9142eecd1fb8f54dce9ee";
const GOOGLE_CERTS: &str = "/oauth2/v3/certs";

async fn google_idp() -> Arc<Idp> {
    let idp = Idp::start().await;
    let sig = json!({"alg": "RS256", "use": "sig"});
    idp.serve(
        GOOGLE_CERTS,
        &json!({"keys": [rsa_jwk(GOOGLE_KID, &sig), second_jwk("89ce3598c473af1bda4bff95e6c8736450206fba", &sig)]}),
        &[("cache-control", "public, max-age=21600, must-revalidate, no-transform")],
    );
    idp
}

fn google(idp: &Idp) -> Google {
    Google::new([GOOGLE_CLIENT, GOOGLE_OTHER_CLIENT]).key_url(idp.url(GOOGLE_CERTS))
}

fn google_claims() -> Value {
    let now = now();
    json!({
        "iss": "https://accounts.google.com",
        "azp": GOOGLE_CLIENT,
        "aud": GOOGLE_CLIENT,
        "sub": "110169484474386276334",
        "hd": "example.com",
        "email": "a@example.com",
        "email_verified": true,
        "at_hash": "HK6E_P6Dh8Y93mRNtsDB1Q",
        "name": "A Person",
        "picture": "https://lh3.googleusercontent.com/a/photo",
        "given_name": "A",
        "family_name": "Person",
        "iat": now,
        "exp": now + 3600
    })
}

fn google_token(claims: &Value) -> String {
    token(GOOGLE_KID, claims)
}

#[tokio::test]
async fn google_both_issuer_spellings() {
    let idp = google_idp().await;
    let v = google(&idp).build().unwrap();
    let verified = accept(&v, &google_token(&google_claims()), "https issuer").await;
    assert!(verified.roles().is_empty() && verified.scopes().is_empty());
    let bare = google_token(&with(
        &google_claims(),
        json!({"iss": "accounts.google.com"}),
    ));
    accept(&v, &bare, "bare issuer").await;
    for iss in [
        "http://accounts.google.com",
        "https://accounts.google.com/",
        "https://accounts.google.co",
    ] {
        let t = google_token(&with(&google_claims(), json!({"iss": iss})));
        assert_wrong_issuer(&refuse(&v, &t, iss).await, iss);
    }
}

#[tokio::test]
async fn google_hosted_domain() {
    let idp = google_idp().await;
    let v = google(&idp).hosted_domain("example.com").build().unwrap();
    accept(&v, &google_token(&google_claims()), "right hd").await;
    let other = google_token(&with(&google_claims(), json!({"hd": "example.org"})));
    assert_invalid(&refuse(&v, &other, "wrong hd").await, "hd");
    let personal = google_token(&with(
        &google_claims(),
        json!({"hd": null, "email": "someone@gmail.com"}),
    ));
    assert_missing(&refuse(&v, &personal, "no hd").await, "hd");
    // Without a hosted domain, personal accounts pass.
    let open = google(&idp).build().unwrap();
    accept(&open, &personal, "no hd, none required").await;
    assert_eq!(
        setting_error(google(&idp).hosted_domain("  ").build()),
        "hosted domain"
    );
}

#[tokio::test]
async fn google_client_ids() {
    let idp = google_idp().await;
    let v = google(&idp).build().unwrap();
    let mobile = google_token(&with(
        &google_claims(),
        json!({"aud": GOOGLE_OTHER_CLIENT, "azp": GOOGLE_OTHER_CLIENT}),
    ));
    accept(&v, &mobile, "second client").await;
    let unlisted = google_token(&with(
        &google_claims(),
        json!({"aud": "999-someone-else.apps.googleusercontent.com"}),
    ));
    assert_wrong_audience(&refuse(&v, &unlisted, "unlisted client").await);
    assert_eq!(
        setting_error(Google::new(Vec::<String>::new()).build()),
        "client ids"
    );
}

// =============================================================================================
// Okta
// =============================================================================================

fn okta_issuer(idp: &Idp) -> String {
    idp.url("/oauth2/default")
}

async fn okta_idp() -> Arc<Idp> {
    let idp = Idp::start().await;
    let issuer = okta_issuer(&idp);
    idp.serve(
        "/oauth2/default/.well-known/openid-configuration",
        &json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/v1/authorize"),
            "token_endpoint": format!("{issuer}/v1/token"),
            "jwks_uri": format!("{issuer}/v1/keys"),
            "id_token_signing_alg_values_supported": ["RS256"]
        }),
        &[],
    );
    idp.serve(
        "/oauth2/default/v1/keys",
        &json!({"keys": [
            rsa_jwk("kOkta9ZbK3jYwZ1m6y4u0T3a5V8mQx2wH7rD1cF4gE", &json!({"alg": "RS256", "use": "sig"})),
        ]}),
        &[("cache-control", "max-age=3725, must-revalidate")],
    );
    idp
}

fn okta_claims(issuer: &str) -> Value {
    let now = now();
    json!({
        "ver": 1,
        "jti": "AT.0mP4JKAZX1iACIT4vbEDF7LpvDVjxypPMf0D7uX39RE",
        "iss": issuer,
        "aud": "api://default",
        "iat": now,
        "exp": now + 3600,
        "cid": "0oa1nfhbvNlhQYfFD4x7",
        "uid": "00u1ng6rk8Qc2xxYF4x7",
        "scp": ["openid", "email", "profile", "orders:read"],
        "auth_time": now - 60,
        "sub": "user@example.com",
        "groups": ["Everyone", "Admins"]
    })
}

fn okta_token(claims: &Value) -> String {
    token("kOkta9ZbK3jYwZ1m6y4u0T3a5V8mQx2wH7rD1cF4gE", claims)
}

#[tokio::test]
async fn okta_scp_array_and_groups() {
    let idp = okta_idp().await;
    let issuer = okta_issuer(&idp);
    let v = Okta::new(&issuer).build().unwrap();
    assert_eq!(v.validation().issuers(), [issuer.as_str()]);
    assert_eq!(v.validation().audiences(), ["api://default"]);
    let verified = accept(&v, &okta_token(&okta_claims(&issuer)), "Okta access token").await;
    assert_eq!(
        verified.scopes(),
        ["openid", "email", "profile", "orders:read"]
    );
    assert_eq!(verified.roles(), ["Everyone", "Admins"]);
    assert_eq!(
        idp.hits("/oauth2/default/.well-known/openid-configuration"),
        1
    );
    assert_eq!(idp.hits("/oauth2/default/v1/keys"), 1);
}

#[tokio::test]
async fn okta_audience() {
    let idp = okta_idp().await;
    let issuer = okta_issuer(&idp);
    let v = Okta::new(&issuer).build().unwrap();
    let other = okta_token(&with(&okta_claims(&issuer), json!({"aud": "api://orders"})));
    assert_wrong_audience(&refuse(&v, &other, "another audience").await);
    let custom = Okta::new(&issuer).audience("api://orders").build().unwrap();
    accept(&custom, &other, "configured audience").await;
    let default = okta_token(&okta_claims(&issuer));
    assert_wrong_audience(&refuse(&custom, &default, "default not configured").await);
}

#[tokio::test]
async fn okta_discovery_binds_the_issuer() {
    let idp = okta_idp().await;
    let issuer = okta_issuer(&idp);
    let v = Okta::new(format!("{issuer}/")).build().unwrap();
    accept(
        &v,
        &okta_token(&okta_claims(&issuer)),
        "trailing slash configured",
    )
    .await;
    for foreign in [
        idp.url("/oauth2/other"),
        idp.base.clone(),
        format!("{issuer}/"),
    ] {
        let t = okta_token(&okta_claims(&foreign));
        assert_wrong_issuer(&refuse(&v, &t, &foreign).await, &foreign);
    }
    let no_iss = okta_token(&with(&okta_claims(&issuer), json!({"iss": null})));
    assert_missing(&refuse(&v, &no_iss, "no iss").await, "iss");
}

/// An explicitly configured audience that is empty (an unset environment variable) must not
/// silently turn into `api://default`, the audience every API on the default authorization
/// server shares. The core refuses an empty audience (`ConfigError::EmptyValue`); so should the
/// preset, as Auth0 and Entra ID do.
#[test]
fn okta_empty_audience_is_not_the_default() {
    assert_eq!(
        Validation::builder([Algorithm::RS256])
            .audience("")
            .build()
            .unwrap_err(),
        ConfigError::EmptyValue("audience")
    );
    let built = Okta::new("https://example.okta.com/oauth2/default")
        .audience(String::new())
        .build();
    match built {
        Err(_) => {}
        Ok(v) => panic!(
            "an empty audience was dropped and the default put in its place: audiences {:?}",
            v.validation().audiences()
        ),
    }
}

#[test]
fn okta_build_errors() {
    assert_eq!(
        setting_error(Okta::new("http://example.okta.com/oauth2/default").build()),
        "issuer"
    );
    assert_eq!(setting_error(Okta::new("").build()), "issuer");
}

// =============================================================================================
// Discovery binding in the library
// =============================================================================================

async fn oidc_idp() -> (Arc<Idp>, String) {
    let idp = Idp::start().await;
    let issuer = idp.url("/idp");
    idp.serve(
        "/idp/.well-known/openid-configuration",
        &json!({"issuer": issuer, "jwks_uri": idp.url("/idp/jwks")}),
        &[],
    );
    idp.serve(
        "/idp/jwks",
        &json!({"keys": [rsa_jwk("idp-key", &json!({"use": "sig"}))]}),
        &[],
    );
    (idp, issuer)
}

fn idp_claims(iss: Option<&str>) -> Value {
    let now = now();
    let mut claims = json!({"sub": "user-1", "aud": "whatever", "iat": now, "exp": now + 600});
    if let Some(iss) = iss {
        claims["iss"] = json!(iss);
    }
    claims
}

#[tokio::test]
async fn discovery_binds_the_issuer_when_the_policy_names_none() {
    let (_idp, issuer) = oidc_idp().await;
    let policy = Validation::builder([Algorithm::RS256])
        .any_audience()
        .build()
        .unwrap();
    let v = Verifier::new(
        policy,
        OidcSource::lazy(issuer.clone()).unwrap(),
        CryptoProvider::default(),
    );
    assert_eq!(v.validation().issuers(), [issuer.as_str()]);
    let foreign = "https://attacker.example.com";
    let err = refuse(
        &v,
        &token("idp-key", &idp_claims(Some(foreign))),
        "foreign iss",
    )
    .await;
    assert_wrong_issuer(&err, foreign);
    let err = refuse(&v, &token("idp-key", &idp_claims(None)), "no iss").await;
    assert_missing(&err, "iss");
    accept(
        &v,
        &token("idp-key", &idp_claims(Some(&issuer))),
        "right iss",
    )
    .await;
    let typed = v
        .verify(&token("idp-key", &idp_claims(Some(&issuer))))
        .await
        .unwrap();
    assert_eq!(
        typed
            .claims::<StandardClaims>()
            .unwrap()
            .registered
            .iss
            .as_deref(),
        Some(issuer.as_str())
    );
}

#[tokio::test]
async fn explicit_issuers_widen_the_binding() {
    let (_idp, issuer) = oidc_idp().await;
    let second = "https://login.example.com/idp";
    let policy = Validation::builder([Algorithm::RS256])
        .issuers([issuer.as_str(), second])
        .any_audience()
        .build()
        .unwrap();
    let v = Verifier::new(
        policy,
        OidcSource::lazy(issuer.clone()).unwrap(),
        CryptoProvider::default(),
    );
    assert_eq!(
        v.validation().issuers(),
        [issuer.clone(), second.to_owned()]
    );
    accept(&v, &token("idp-key", &idp_claims(Some(&issuer))), "a").await;
    accept(&v, &token("idp-key", &idp_claims(Some(second))), "b").await;
    let third = "https://third.example.com";
    assert_wrong_issuer(
        &refuse(&v, &token("idp-key", &idp_claims(Some(third))), "c").await,
        third,
    );
    assert_missing(
        &refuse(&v, &token("idp-key", &idp_claims(None)), "no iss").await,
        "iss",
    );
}

// =============================================================================================
// The audience decision
// =============================================================================================

#[test]
fn a_policy_without_an_audience_decision_is_refused() {
    let err = Validation::builder([Algorithm::RS256]).build().unwrap_err();
    assert_eq!(err, ConfigError::NoAudienceDecision);
    let message = err.to_string();
    assert!(message.contains("any_audience"), "{message}");
    assert!(message.contains(".audience("), "{message}");
    // An issuer is not an audience decision.
    assert_eq!(
        Validation::builder([Algorithm::RS256])
            .issuer("https://issuer.example.com")
            .build()
            .unwrap_err(),
        ConfigError::NoAudienceDecision
    );
    assert!(
        Validation::builder([Algorithm::RS256])
            .any_audience()
            .build()
            .unwrap()
            .accepts_any_audience()
    );
}

/// Every preset made its audience decision: a listed audience, or `any_audience` plus the rule
/// that replaces it.
#[test]
fn every_preset_decides_the_audience() {
    let cognito = Cognito::new(POOL, [COGNITO_WEB]).build().unwrap();
    assert!(
        cognito.validation().accepts_any_audience() && !cognito.validation().rules().is_empty()
    );
    let keycloak = Keycloak::new("https://sso.example.com", REALM, KC_CLIENT)
        .build()
        .unwrap();
    assert!(
        keycloak.validation().accepts_any_audience() && !keycloak.validation().rules().is_empty()
    );
    let listed = [
        Cognito::new(POOL, [COGNITO_WEB])
            .token_use(TokenUse::Id)
            .build()
            .unwrap(),
        Auth0::new([AUTH0_DOMAIN], AUTH0_API).build().unwrap(),
        Firebase::new(FIREBASE_PROJECT).build().unwrap(),
        EntraId::any_tenant()
            .audience(ENTRA_CLIENT_ID)
            .build()
            .unwrap(),
        Google::new([GOOGLE_CLIENT]).build().unwrap(),
        Okta::new("https://example.okta.com/oauth2/default")
            .build()
            .unwrap(),
    ];
    for v in listed {
        assert!(!v.validation().accepts_any_audience(), "{v:?}");
        assert!(!v.validation().audiences().is_empty(), "{v:?}");
    }
}
