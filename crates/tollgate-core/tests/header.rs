//! Every header and structure rule, each with a passing and a failing case.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_test_support as support;

use serde_json::json;
use support::*;
use tollgate_core::{
    Algorithm, CryptoProvider, Error, KeySet, Malformed, StandardClaims, VerificationKey, Verifier,
};

async fn check(token: &str) -> Result<StandardClaims, Error> {
    let verified = default_verifier().verify(token).await?;
    Ok(StandardClaims::clone(
        &*verified.claims::<StandardClaims>()?,
    ))
}

fn segments(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

fn es256_header(extra: serde_json::Value) -> String {
    let mut header = json!({"alg": "ES256", "kid": "ec256"});
    for (k, v) in extra.as_object().unwrap() {
        header[k] = v.clone();
    }
    header.to_string()
}

#[tokio::test]
async fn size_cap_applies_before_decoding() {
    let garbage = "a".repeat(8 * 1024 + 1);
    assert_eq!(
        check(&garbage).await.err(),
        Some(Error::TokenTooLarge {
            size: 8193,
            max: 8192
        })
    );
    let big_claim = claims_with("pad", Some(json!("x".repeat(7000))));
    let token = sign(Algorithm::ES256, &big_claim);
    assert!(token.len() > 8192);
    assert!(matches!(
        check(&token).await,
        Err(Error::TokenTooLarge { .. })
    ));
    let roomy = verifier(policy().max_token_bytes(16 * 1024).build().unwrap());
    assert!(roomy.verify(&token).await.is_ok());
    assert!(check(&sign(Algorithm::ES256, &claims())).await.is_ok());
}

#[tokio::test]
async fn exactly_three_non_empty_segments() {
    let token = sign(Algorithm::ES256, &claims());
    let s = segments(&token);
    for (bad, why) in [
        (format!("{}.{}", s[0], s[1]), Malformed::Segments),
        (format!("{token}."), Malformed::Segments),
        (format!("{token}.{}", s[2]), Malformed::Segments),
        (
            format!("{}.{}.{}.{}.{}", s[0], s[1], s[2], s[1], s[2]),
            Malformed::Segments,
        ),
        (String::new(), Malformed::Segments),
        (format!(".{}.{}", s[1], s[2]), Malformed::EmptySegment),
        (format!("{}.{}.", s[0], s[1]), Malformed::EmptySegment),
    ] {
        assert_eq!(
            check(&bad).await.err(),
            Some(Error::Malformed(why)),
            "{bad}"
        );
    }
    assert!(check(&token).await.is_ok());
}

#[tokio::test]
async fn strict_base64url() {
    let token = sign(Algorithm::ES256, &claims());
    let s = segments(&token);
    let with_padding = b64(br#"{"alg":"ES256","kid":"ec256"}x"#); // length forces padding
    let padded = format!("{with_padding}=.{}.{}", s[1], s[2]);
    // `+` is standard base64, never base64url.
    let std_alphabet = format!("{}.{}.+{}", s[0], s[1], &s[2][1..]);
    let spaced = format!("{}.{} .{}", s[0], s[1], s[2]);
    let leading_ws = format!(" {token}");
    // ES256 signatures are 64 bytes = 86 chars; the last char carries 4 unused bits.
    let mut sig = s[2].clone().into_bytes();
    let last = sig.pop().unwrap();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let idx = alphabet.iter().position(|&c| c == last).unwrap();
    sig.push(alphabet[(idx & !0b1111) | ((idx + 1) & 0b1111)]);
    let non_canonical = format!("{}.{}.{}", s[0], s[1], String::from_utf8(sig).unwrap());
    for bad in [padded, std_alphabet, spaced, leading_ws, non_canonical] {
        assert_eq!(
            check(&bad).await.err(),
            Some(Error::Malformed(Malformed::Base64)),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn alg_none_in_every_spelling() {
    let payload = b64(claims().to_string().as_bytes());
    for spelling in ["none", "None", "NONE", "nOnE"] {
        let header = b64(json!({"alg": spelling}).to_string().as_bytes());
        for signature in ["", "c2lnbmF0dXJl"] {
            let token = format!("{header}.{payload}.{signature}");
            assert_eq!(
                check(&token).await.err(),
                Some(Error::AlgNone {
                    alg: spelling.into()
                }),
                "{spelling}"
            );
        }
    }
    for (header, expected) in [
        (json!({"alg": ""}), "not allowed"),
        (json!({"alg": "RS1"}), "not allowed"),
        (json!({"alg": "rs256"}), "not allowed"),
        (json!({"kid": "x"}), "malformed"),
        (json!({"alg": 256}), "malformed"),
        (json!({"alg": null}), "malformed"),
    ] {
        let token = format!("{}.{payload}.c2ln", b64(header.to_string().as_bytes()));
        let err = check(&token).await.unwrap_err();
        let ok = match expected {
            "not allowed" => matches!(err, Error::AlgorithmNotAllowed { .. }),
            _ => matches!(err, Error::Malformed(Malformed::Header)),
        };
        assert!(ok, "{header}: {err:?}");
    }
}

#[tokio::test]
async fn crit_is_refused() {
    for crit in [
        json!(["exp"]),
        json!([]),
        json!(["b64"]),
        json!("exp"),
        json!(null),
    ] {
        let header = es256_header(json!({"crit": crit, "exp": 1, "b64": true}));
        let token = sign_raw(Algorithm::ES256, &header, &claims().to_string());
        assert_eq!(
            check(&token).await.err(),
            Some(Error::CriticalHeader),
            "{crit}"
        );
    }
    let token = sign_raw(
        Algorithm::ES256,
        &es256_header(json!({"b64": true})),
        &claims().to_string(),
    );
    assert!(
        check(&token).await.is_ok(),
        "b64:true without crit is the default encoding"
    );
}

#[tokio::test]
async fn unsupported_payload_encodings_and_nesting() {
    let b64_false = sign_raw(
        Algorithm::ES256,
        &es256_header(json!({"b64": false})),
        &claims().to_string(),
    );
    assert!(matches!(
        check(&b64_false).await,
        Err(Error::UnsupportedHeader(_))
    ));
    let nested = sign_raw(
        Algorithm::ES256,
        &es256_header(json!({"cty": "JWT"})),
        &claims().to_string(),
    );
    assert!(matches!(
        check(&nested).await,
        Err(Error::UnsupportedHeader(_))
    ));
    let json_cty = sign_raw(
        Algorithm::ES256,
        &es256_header(json!({"cty": "json"})),
        &claims().to_string(),
    );
    assert!(check(&json_cty).await.is_ok());
}

#[tokio::test]
async fn key_hints_in_the_token_are_never_used() {
    // An attacker signs with their own key and points at it every way a header can.
    let attacker = aws_lc_rs::signature::Ed25519KeyPair::generate().unwrap();
    let attacker_x = b64(aws_lc_rs::signature::KeyPair::public_key(&attacker).as_ref());
    let header = json!({
        "alg": "EdDSA", "kid": "ed",
        "jwk": {"kty": "OKP", "crv": "Ed25519", "x": attacker_x},
        "jku": "https://evil.example/jwks.json", "x5u": "https://evil.example/cert.pem",
        "x5c": ["MIIB"]
    })
    .to_string();
    let input = format!(
        "{}.{}",
        b64(header.as_bytes()),
        b64(claims().to_string().as_bytes())
    );
    let forged = format!("{input}.{}", b64(attacker.sign(input.as_bytes()).as_ref()));
    assert_eq!(check(&forged).await.err(), Some(Error::InvalidSignature));
    // The same header signed by the real key passes: the hints are ignored, not trusted.
    let genuine = sign_raw(Algorithm::EdDSA, &header, &claims().to_string());
    assert!(check(&genuine).await.is_ok());
}

#[tokio::test]
async fn kid_is_an_opaque_bounded_string() {
    for injected in [
        "../../../../dev/null",
        "/dev/null",
        "x' UNION SELECT '1';--",
        "|sleep 10",
        "",
    ] {
        let header = json!({"alg": "ES256", "kid": injected}).to_string();
        let token = sign_raw(Algorithm::ES256, &header, &claims().to_string());
        assert_eq!(
            check(&token).await.err(),
            Some(Error::UnknownKey {
                kid: injected.into()
            }),
            "{injected}"
        );
    }
    let long = json!({"alg": "ES256", "kid": "k".repeat(257)}).to_string();
    let token = sign_raw(Algorithm::ES256, &long, &claims().to_string());
    assert_eq!(
        check(&token).await.err(),
        Some(Error::Malformed(Malformed::KidTooLong))
    );
    let numeric = json!({"alg": "ES256", "kid": 7}).to_string();
    let token = sign_raw(Algorithm::ES256, &numeric, &claims().to_string());
    assert_eq!(
        check(&token).await.err(),
        Some(Error::Malformed(Malformed::Header))
    );
}

#[tokio::test]
async fn header_must_be_a_unique_member_object() {
    let payload = claims().to_string();
    let dup_alg = r#"{"alg":"ES256","kid":"ec256","alg":"none"}"#;
    assert_eq!(
        check(&sign_raw(Algorithm::ES256, dup_alg, &payload))
            .await
            .err(),
        Some(Error::Malformed(Malformed::DuplicateMember))
    );
    for bad in [r#"["ES256"]"#, "{", r#"{"alg":"ES256"} x"#, "null"] {
        let token = sign_raw(Algorithm::ES256, bad, &payload);
        assert_eq!(
            check(&token).await.err(),
            Some(Error::Malformed(Malformed::Header)),
            "{bad}"
        );
    }
    let non_utf8 = format!(
        "{}.{}.c2ln",
        b64(b"{\"alg\":\"ES256\xff\"}"),
        b64(payload.as_bytes())
    );
    assert_eq!(
        check(&non_utf8).await.err(),
        Some(Error::Malformed(Malformed::Header))
    );
    let spaced = "{ \"alg\" : \"ES256\" ,\n \"kid\":\"ec256\" }";
    assert!(
        check(&sign_raw(Algorithm::ES256, spaced, &payload))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn algorithm_confusion_is_refused_before_crypto() {
    let (n, e) = rsa_components();
    let rsa_jwk = json!({"kty": "RSA", "kid": "rsa", "n": b64(&n), "e": b64(&e)}).to_string();
    let header = json!({"alg": "HS256", "kid": "rsa"}).to_string();
    let input = format!(
        "{}.{}",
        b64(header.as_bytes()),
        b64(claims().to_string().as_bytes())
    );
    for secret in [n.clone(), rsa_jwk.into_bytes()] {
        let mac = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret),
            input.as_bytes(),
        );
        let token = format!("{input}.{}", b64(mac.as_ref()));
        assert!(matches!(
            check(&token).await,
            Err(Error::KeyAlgorithmMismatch {
                alg: Algorithm::HS256,
                ..
            })
        ));
    }
    // Wrong curve / family for the selected kid.
    for (alg, kid) in [
        (Algorithm::ES384, "ec256"),
        (Algorithm::ES256, "ec384"),
        (Algorithm::RS256, "ed"),
        (Algorithm::EdDSA, "rsa"),
        (Algorithm::HS256, "ec256"),
    ] {
        let header = json!({"alg": alg.as_str(), "kid": kid}).to_string();
        let token = sign_raw(alg, &header, &claims().to_string());
        assert!(
            matches!(check(&token).await, Err(Error::KeyAlgorithmMismatch { .. })),
            "{alg} with {kid}"
        );
    }
    // A key restricted by its own alg refuses other algorithms of the same family.
    let rs_only = VerificationKey::rsa_from_components(&n, &e)
        .unwrap()
        .with_algorithm(Algorithm::RS256)
        .unwrap();
    let v = Verifier::new(
        policy().build().unwrap(),
        KeySet::from(rs_only),
        CryptoProvider::default(),
    );
    let ps = sign(Algorithm::PS256, &claims());
    assert!(matches!(
        v.verify(&ps).await,
        Err(Error::KeyAlgorithmMismatch { .. })
    ));
    assert!(v.verify(&sign(Algorithm::RS256, &claims())).await.is_ok());
}

#[tokio::test]
async fn signature_shape_and_value() {
    let token = sign(Algorithm::ES256, &claims());
    let s = segments(&token);
    let zeros = format!("{}.{}.{}", s[0], s[1], b64(&[0u8; 64]));
    assert_eq!(
        check(&zeros).await.err(),
        Some(Error::InvalidSignature),
        "psychic signature r=s=0"
    );
    let short = format!("{}.{}.{}", s[0], s[1], b64(&[1u8; 63]));
    assert_eq!(
        check(&short).await.err(),
        Some(Error::Malformed(Malformed::SignatureLength))
    );
    let der_sig = format!("{}.{}.{}", s[0], s[1], "MAYCAQACAQA");
    assert_eq!(
        check(&der_sig).await.err(),
        Some(Error::Malformed(Malformed::SignatureLength))
    );
    let other_claims = sign(Algorithm::ES256, &claims_with("sub", Some(json!("admin"))));
    let spliced = format!("{}.{}.{}", s[0], segments(&other_claims)[1], s[2]);
    assert_eq!(check(&spliced).await.err(), Some(Error::InvalidSignature));
    let rs = sign(Algorithm::RS256, &claims());
    let r = segments(&rs);
    let truncated = format!("{}.{}.{}", r[0], r[1], b64(&[7u8; 255]));
    assert_eq!(check(&truncated).await.err(), Some(Error::InvalidSignature));
}

#[tokio::test]
async fn key_selection_without_kid() {
    let no_kid = |alg: Algorithm| {
        sign_raw(
            alg,
            &json!({"alg": alg.as_str()}).to_string(),
            &claims().to_string(),
        )
    };
    assert!(
        check(&no_kid(Algorithm::ES256)).await.is_ok(),
        "one P-256 key: use it"
    );
    let (n, e) = rsa_components();
    let rsa = || VerificationKey::rsa_from_components(&n, &e).unwrap();
    let two = KeySet::new()
        .with(rsa().with_kid("a"))
        .with(rsa().with_kid("b"));
    let v = Verifier::new(policy().build().unwrap(), two, CryptoProvider::default());
    assert_eq!(
        v.verify(&no_kid(Algorithm::RS256)).await.err(),
        Some(Error::AmbiguousKey),
        "two candidates and no kid: refuse to guess"
    );
    let dup = KeySet::new()
        .with(rsa().with_kid("a"))
        .with(rsa().with_kid("a"));
    let v = Verifier::new(policy().build().unwrap(), dup, CryptoProvider::default());
    let hs_only = KeySet::from(VerificationKey::hmac([9u8; 32]).unwrap());
    let v2 = Verifier::new(
        policy().build().unwrap(),
        hs_only,
        CryptoProvider::default(),
    );
    assert_eq!(
        v2.verify(&no_kid(Algorithm::RS256)).await.err(),
        Some(Error::NoKey {
            alg: Algorithm::RS256
        }),
        "no kid and no key of the family"
    );
    let with_kid = sign_raw(
        Algorithm::RS256,
        &json!({"alg": "RS256", "kid": "a"}).to_string(),
        &claims().to_string(),
    );
    assert_eq!(v.verify(&with_kid).await.err(), Some(Error::AmbiguousKey));
    // A key configured without kid serves tokens with any kid (static single-key set-ups).
    let single = Verifier::new(
        policy().build().unwrap(),
        KeySet::from(rsa()),
        CryptoProvider::default(),
    );
    assert!(single.verify(&with_kid).await.is_ok());
}
