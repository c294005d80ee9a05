//! Provider presets cost nothing over the same policy built by hand: the same tokens through a
//! preset's verifier and through a hand-assembled one (same issuer, rules, key source URL, roles
//! paths), cold (cache off: every check and the signature) and on a cache hit, in one run.
//! Run: `cargo bench -p tollgate-core --bench presets`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use tollgate_test_support as support;

use std::collections::HashSet;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use support::server::Loopback;
use support::*;
use tollgate_core::providers::cognito::Cognito;
use tollgate_core::providers::entra::{ENTRA_V1_ISSUER, ENTRA_V2_ISSUER, EntraId};
use tollgate_core::providers::keycloak::Keycloak;
use tollgate_core::remote::JwksSource;
use tollgate_core::{
    AccessClaims, Algorithm, ClaimPath, ClaimRule, CryptoProvider, Tenants, Validation, Verifier,
};

const POOL: &str = "us-east-1_Bench1";
const CLIENT: &str = "bench-client";
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/// Serves the test JWKS on a loopback port for the whole run; returns its URL.
fn jwks_server(runtime: &tokio::runtime::Runtime) -> String {
    let server = runtime.block_on(Loopback::json("/jwks.json", &jwks_value()));
    server.url("/jwks.json")
}

fn jwks(url: &str, issuer: Option<&str>) -> JwksSource {
    let builder = JwksSource::builder(url);
    match issuer {
        Some(issuer) => builder.issuer(issuer),
        None => builder,
    }
    .build()
    .unwrap()
}

fn rsa_token(claims: serde_json::Value) -> String {
    sign(Algorithm::RS256, &claims)
}

fn bench_presets(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = jwks_server(&runtime);
    let now = now();

    let cognito_iss = format!("https://cognito-idp.us-east-1.amazonaws.com/{POOL}");
    let cognito_token = rsa_token(json!({
        "sub": "u1", "iss": cognito_iss, "token_use": "access", "client_id": CLIENT,
        "scope": "aws.cognito.signin.user.admin", "cognito:groups": ["admin"],
        "iat": now, "exp": now + 3600, "username": "jane"
    }));
    let cognito_preset = |cache| {
        Cognito::new(POOL, [CLIENT])
            .key_url(&url)
            .token_cache(cache)
            .build()
            .unwrap()
    };
    let cognito_hand = |cache| {
        let policy = Validation::builder([Algorithm::RS256])
            .issuer(&cognito_iss)
            .any_audience()
            .rule(ClaimRule::one_of("token_use", ["access"]).unwrap())
            .rule(ClaimRule::one_of("client_id", [CLIENT]).unwrap())
            .build()
            .unwrap();
        Verifier::builder(
            policy,
            jwks(&url, Some(&cognito_iss)),
            CryptoProvider::default(),
        )
        .access_claims(
            AccessClaims::default().roles_at([ClaimPath::new("cognito:groups").unwrap()]),
        )
        .token_cache(cache)
        .build()
    };

    let realm = "http://127.0.0.1:1/realms/bench";
    let keycloak_token = rsa_token(json!({
        "sub": "u1", "iss": realm, "typ": "Bearer", "azp": "orders", "aud": "account",
        "realm_access": {"roles": ["user"]}, "resource_access": {"orders": {"roles": ["admin"]}},
        "scope": "openid", "iat": now, "exp": now + 3600
    }));
    let keycloak_preset = |cache| {
        Keycloak::new("http://127.0.0.1:1", "bench", "orders")
            .key_url(&url)
            .token_cache(cache)
            .build()
            .unwrap()
    };
    let keycloak_hand = |cache| {
        let policy = Validation::builder([Algorithm::RS256])
            .issuer(realm)
            .any_audience()
            .rule(ClaimRule::audience_or(["orders"], "azp", ["orders"]).unwrap())
            .rule(ClaimRule::one_of_if_present("typ", ["Bearer"]).unwrap())
            .build()
            .unwrap();
        Verifier::builder(policy, jwks(&url, Some(realm)), CryptoProvider::default())
            .access_claims(AccessClaims::default().roles_at([
                ClaimPath::new("realm_access.roles").unwrap(),
                ClaimPath::nested(["resource_access", "orders", "roles"]).unwrap(),
            ]))
            .token_cache(cache)
            .build()
    };

    let entra_iss = ENTRA_V2_ISSUER.replace("{tenantid}", TENANT);
    let entra_token = rsa_token(json!({
        "sub": "u1", "iss": entra_iss, "tid": TENANT, "aud": "api://bench", "scp": "read",
        "roles": ["admin"], "ver": "2.0", "iat": now, "exp": now + 3600
    }));
    let entra_preset = |cache| {
        EntraId::single_tenant(TENANT)
            .audience("api://bench")
            .key_url(&url)
            .token_cache(cache)
            .build()
            .unwrap()
    };
    let entra_hand = |cache| {
        let policy = Validation::builder([Algorithm::RS256])
            .issuers([
                ENTRA_V1_ISSUER.replace("{tenantid}", TENANT),
                entra_iss.clone(),
            ])
            .audience("api://bench")
            .rule(
                ClaimRule::tenant_issuer(
                    [ENTRA_V1_ISSUER, ENTRA_V2_ISSUER],
                    "tid",
                    Tenants::Listed(HashSet::from([TENANT.to_owned()])),
                )
                .unwrap(),
            )
            .build()
            .unwrap();
        Verifier::builder(policy, jwks(&url, None), CryptoProvider::default())
            .token_cache(cache)
            .build()
    };

    type Make<'a> = Box<dyn Fn(Option<tollgate_core::TokenCacheConfig>) -> Verifier + 'a>;
    let cases: Vec<(&str, &String, Make<'_>, Make<'_>)> = vec![
        (
            "cognito",
            &cognito_token,
            Box::new(cognito_preset),
            Box::new(cognito_hand),
        ),
        (
            "keycloak",
            &keycloak_token,
            Box::new(keycloak_preset),
            Box::new(keycloak_hand),
        ),
        (
            "entra",
            &entra_token,
            Box::new(entra_preset),
            Box::new(entra_hand),
        ),
    ];
    for (name, token, preset, hand) in cases {
        let mut group = c.benchmark_group(format!("preset/{name}"));
        for (label, make) in [("preset", &preset), ("by-hand", &hand)] {
            let cold = make(None);
            let cached = make(Some(Default::default()));
            // Keys fetched once over loopback before timing; the token admitted to the cache.
            for verifier in [&cold, &cached] {
                for _ in 0..2 {
                    let verified = runtime.block_on(verifier.verify(token)).unwrap();
                    assert!(!verified.roles().is_empty(), "{name} {label}: roles");
                }
            }
            group.bench_function(format!("{label}-cold"), |b| {
                b.iter(|| block_on(cold.verify(black_box(token))).unwrap())
            });
            group.bench_function(format!("{label}-cached"), |b| {
                b.iter(|| {
                    let verified = block_on(cached.verify(black_box(token))).unwrap();
                    black_box(verified.roles().len())
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench_presets);
criterion_main!(benches);
