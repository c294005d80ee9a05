//! Verification path per algorithm: Tollgate vs plain `jsonwebtoken::decode`, same key and token,
//! same run. Run: `cargo bench -p tollgate-core --bench verify`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use tollgate_test_support as support;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde::Deserialize;
use support::*;
use tollgate_core::Algorithm;

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct AppClaims {
    sub: String,
    iss: String,
    exp: i64,
    roles: Vec<String>,
}

fn jsonwebtoken_key(alg: Algorithm) -> jsonwebtoken::DecodingKey {
    use jsonwebtoken::DecodingKey;
    let k = keys();
    match alg {
        Algorithm::HS256 => DecodingKey::from_secret(&k.hmac),
        Algorithm::ES256 => {
            let (x, y) = ec_xy(&k.ec256);
            DecodingKey::from_ec_components(&b64(&x), &b64(&y)).unwrap()
        }
        Algorithm::EdDSA => {
            DecodingKey::from_ed_components(&b64(k.ed.public_key_bytes().unwrap())).unwrap()
        }
        _ => {
            let (n, e) = rsa_components();
            DecodingKey::from_rsa_components(&b64(&n), &b64(&e)).unwrap()
        }
    }
}

fn bench_verify(c: &mut Criterion) {
    let verifier = default_verifier();
    let cold = default_verifier_with_cache(None);
    for alg in [
        Algorithm::HS256,
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ] {
        let token = sign(alg, &claims());
        let mut group = c.benchmark_group(format!("verify/{alg}"));
        // Every check, no cache: what a token costs the first time it is seen.
        group.bench_function("tollgate-cold", |b| {
            b.iter(|| {
                let verified = block_on(cold.verify(black_box(&token))).unwrap();
                verified.claims::<AppClaims>().unwrap()
            })
        });
        // Cache hit, claims deserialized from the payload into an owned value on every call
        // (what an application copying its claims out pays).
        group.bench_function("tollgate-cached", |b| {
            b.iter(|| {
                let verified = block_on(verifier.verify(black_box(&token))).unwrap();
                serde_json::from_slice::<AppClaims>(verified.payload()).unwrap()
            })
        });
        // Cache hit, claims shared as `Arc<T>` (what the tower layer does).
        group.bench_function("tollgate-cached-shared", |b| {
            b.iter(|| {
                let verified = block_on(verifier.verify(black_box(&token))).unwrap();
                verified.claims::<AppClaims>().unwrap()
            })
        });
        let key = jsonwebtoken_key(alg);
        let mut validation = jsonwebtoken::Validation::new(alg.to_string().parse().unwrap());
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.validate_nbf = true;
        group.bench_function("jsonwebtoken", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<AppClaims>(black_box(&token), &key, &validation).unwrap()
            })
        });
        group.finish();
    }
    let forged = {
        let token = sign(Algorithm::RS256, &claims());
        let (head, _) = token.rsplit_once('.').unwrap();
        format!("{head}.{}", b64(&[7u8; 256]))
    };
    let mut refusals = c.benchmark_group("refuse/RS256");
    refusals.bench_function("forged-signature", |b| {
        b.iter(|| block_on(verifier.verify(black_box(&forged))).unwrap_err())
    });
    let unknown_kid = sign_raw(
        Algorithm::RS256,
        r#"{"alg":"RS256","kid":"nope"}"#,
        &claims().to_string(),
    );
    refusals.bench_function("unknown-kid", |b| {
        b.iter(|| block_on(verifier.verify(black_box(&unknown_kid))).unwrap_err())
    });
    let alg_none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none"}"#),
        b64(claims().to_string().as_bytes())
    );
    refusals.bench_function("alg-none", |b| {
        b.iter(|| block_on(verifier.verify(black_box(&alg_none))).unwrap_err())
    });
    refusals.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(60).measurement_time(std::time::Duration::from_secs(3));
    targets = bench_verify
}
criterion_main!(benches);
