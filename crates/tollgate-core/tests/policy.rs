//! Every policy rule, each with a passing and a failing case.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_test_support as support;

use std::time::{Duration, SystemTime};

use serde::Deserialize;
use serde_json::{Value, json};
use support::*;
use tollgate_core::{
    Algorithm, ConfigError, Error, ErrorCode, Malformed, StandardClaims, Validation, Verifier,
};

async fn check(verifier: &Verifier, token: &str) -> Result<StandardClaims, Error> {
    let verified = verifier.verify(token).await?;
    Ok(StandardClaims::clone(
        &*verified.claims::<StandardClaims>()?,
    ))
}

async fn check_claims(validation: Validation, claims: Value) -> Result<StandardClaims, Error> {
    check(&verifier(validation), &sign(Algorithm::ES256, &claims)).await
}

#[tokio::test]
async fn every_algorithm_verifies_with_its_own_key() {
    let v = default_verifier();
    for alg in Algorithm::ALL {
        let claims = check(&v, &sign(alg, &claims())).await;
        assert!(claims.is_ok(), "{alg}: {claims:?}");
    }
}

#[tokio::test]
async fn algorithm_allow_list() {
    let only_rs = verifier(
        Validation::builder([Algorithm::RS256])
            .audience(AUDIENCE)
            .build()
            .unwrap(),
    );
    assert!(
        check(&only_rs, &sign(Algorithm::RS256, &claims()))
            .await
            .is_ok()
    );
    for alg in [
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::HS256,
        Algorithm::EdDSA,
    ] {
        match check(&only_rs, &sign(alg, &claims())).await {
            Err(Error::AlgorithmNotAllowed { alg: got, allowed }) => {
                assert_eq!(got, alg.as_str());
                assert_eq!(allowed, vec![Algorithm::RS256]);
            }
            other => panic!("{alg}: {other:?}"),
        }
    }
    assert_eq!(
        Validation::builder([]).build().err(),
        Some(ConfigError::NoAlgorithms)
    );
}

#[tokio::test]
async fn issuer_exact_match_from_a_list() {
    let policy = || {
        Validation::builder([Algorithm::ES256])
            .issuers(["https://a.example", ISSUER])
            .audience(AUDIENCE)
    };
    assert!(
        check_claims(policy().build().unwrap(), claims())
            .await
            .is_ok()
    );
    for bad in [
        format!("{ISSUER}/"),
        ISSUER.to_uppercase(),
        "https://evil.example".into(),
    ] {
        let result = check_claims(
            policy().build().unwrap(),
            claims_with("iss", Some(json!(bad))),
        )
        .await;
        assert!(
            matches!(result, Err(Error::WrongIssuer { ref actual, .. }) if *actual == bad),
            "{bad}: {result:?}"
        );
    }
    let missing = check_claims(policy().build().unwrap(), claims_with("iss", None)).await;
    assert_eq!(missing.err(), Some(Error::MissingClaim("iss".into())));
    let not_string = check_claims(
        policy().build().unwrap(),
        claims_with("iss", Some(json!(["x"]))),
    )
    .await;
    assert!(matches!(not_string, Err(Error::InvalidClaim { ref claim, .. }) if claim == "iss"));
    // No issuer configured: iss not required.
    let open = Validation::builder([Algorithm::ES256])
        .audience(AUDIENCE)
        .build()
        .unwrap();
    assert!(check_claims(open, claims_with("iss", None)).await.is_ok());
}

#[tokio::test]
async fn audience_string_or_array_membership() {
    let policy = || {
        Validation::builder([Algorithm::ES256])
            .audience(AUDIENCE)
            .build()
            .unwrap()
    };
    assert!(
        check_claims(policy(), claims_with("aud", Some(json!(AUDIENCE))))
            .await
            .is_ok()
    );
    assert!(
        check_claims(
            policy(),
            claims_with("aud", Some(json!(["other", AUDIENCE])))
        )
        .await
        .is_ok()
    );
    for bad in [
        json!("other"),
        json!([]),
        json!(["other"]),
        json!(format!("{AUDIENCE}x")),
        json!(["tollgate"]),
    ] {
        let result = check_claims(policy(), claims_with("aud", Some(bad.clone()))).await;
        assert!(
            matches!(result, Err(Error::WrongAudience { .. })),
            "{bad}: {result:?}"
        );
    }
    let missing = check_claims(policy(), claims_with("aud", None)).await;
    assert_eq!(missing.err(), Some(Error::MissingClaim("aud".into())));
    for bad_type in [json!([AUDIENCE, 1]), json!(1), json!(null), json!({"a": 1})] {
        let result = check_claims(policy(), claims_with("aud", Some(bad_type.clone()))).await;
        assert!(
            matches!(result, Err(Error::InvalidClaim { ref claim, .. }) if claim == "aud"),
            "{bad_type}: {result:?}"
        );
    }
    // Any audience, decided explicitly: aud not required, any value accepted.
    let open = || {
        Validation::builder([Algorithm::ES256])
            .any_audience()
            .build()
            .unwrap()
    };
    assert!(check_claims(open(), claims_with("aud", None)).await.is_ok());
    assert!(
        check_claims(open(), claims_with("aud", Some(json!("other"))))
            .await
            .is_ok()
    );
    // No decision at all: the policy is refused.
    assert_eq!(
        Validation::builder([Algorithm::ES256]).build().err(),
        Some(ConfigError::NoAudienceDecision)
    );
}

#[tokio::test]
async fn expiry_with_leeway() {
    assert_eq!(
        policy().build().unwrap().leeway(),
        Duration::from_secs(60),
        "default leeway"
    );
    let with_leeway = |secs| policy().leeway(Duration::from_secs(secs)).build().unwrap();
    let exp_ago = |secs: i64| claims_with("exp", Some(json!(now() - secs)));
    assert!(
        check_claims(with_leeway(60), exp_ago(30)).await.is_ok(),
        "inside leeway"
    );
    match check_claims(with_leeway(60), exp_ago(90)).await {
        Err(Error::Expired {
            exp,
            now: at,
            leeway,
        }) => {
            assert_eq!(leeway, 60);
            assert!(at - exp >= 90);
        }
        other => panic!("{other:?}"),
    }
    // Boundary: with no leeway, now == exp is already expired.
    let boundary = check_claims(with_leeway(0), claims_with("exp", Some(json!(now())))).await;
    assert!(
        matches!(boundary, Err(Error::Expired { .. })),
        "{boundary:?}"
    );
    assert!(
        check_claims(with_leeway(0), claims_with("exp", Some(json!(now() + 5))))
            .await
            .is_ok()
    );
    assert_eq!(
        policy().leeway(Duration::from_secs(3600)).build().err(),
        Some(ConfigError::LeewayTooLarge(3600))
    );
}

#[tokio::test]
async fn exp_required_by_default() {
    let missing = check_claims(policy().build().unwrap(), claims_with("exp", None)).await;
    assert_eq!(missing.err(), Some(Error::MissingClaim("exp".into())));
    let optional = policy().require_exp(false).build().unwrap();
    assert!(
        check_claims(optional, claims_with("exp", None))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn nbf_checked_when_present() {
    let strict = || policy().leeway(Duration::from_secs(10)).build().unwrap();
    let future = check_claims(strict(), claims_with("nbf", Some(json!(now() + 120)))).await;
    assert!(
        matches!(future, Err(Error::NotYetValid { .. })),
        "{future:?}"
    );
    assert!(
        check_claims(strict(), claims_with("nbf", Some(json!(now() + 5))))
            .await
            .is_ok(),
        "within leeway"
    );
    assert!(
        check_claims(strict(), claims_with("nbf", None))
            .await
            .is_ok(),
        "absent"
    );
}

#[tokio::test]
async fn iat_in_the_future_rejected() {
    let future_iat = || claims_with("iat", Some(json!(now() + 3600)));
    let result = check_claims(policy().build().unwrap(), future_iat()).await;
    assert!(
        matches!(result, Err(Error::IssuedInFuture { .. })),
        "{result:?}"
    );
    assert!(
        check_claims(
            policy().reject_future_iat(false).build().unwrap(),
            future_iat()
        )
        .await
        .is_ok()
    );
    assert!(
        check_claims(
            policy().build().unwrap(),
            claims_with("iat", Some(json!(now() + 30)))
        )
        .await
        .is_ok()
    );
}

#[tokio::test]
async fn time_claims_must_be_in_range_json_numbers() {
    for claim in ["exp", "nbf", "iat"] {
        for bad in [
            json!("4102444800"),
            json!(null),
            json!(true),
            json!(-1),
            json!(1e20),
            json!([1]),
            json!({}),
        ] {
            let result = check_claims(
                policy().build().unwrap(),
                claims_with(claim, Some(bad.clone())),
            )
            .await;
            assert!(
                matches!(result, Err(Error::InvalidClaim { claim: ref c, .. }) if c == claim),
                "{claim}={bad}: {result:?}"
            );
        }
    }
    // Fractional NumericDate is valid JSON-number syntax (RFC 7519 section 2).
    let fractional = claims_with("exp", Some(json!(now() as f64 + 600.5)));
    assert!(
        check_claims(policy().build().unwrap(), fractional)
            .await
            .is_ok()
    );
    // A number too large for any float is refused as malformed, not ignored.
    let huge = sign_raw(
        Algorithm::ES256,
        r#"{"alg":"ES256","kid":"ec256"}"#,
        r#"{"exp":1e400}"#,
    );
    assert!(check(&default_verifier(), &huge).await.is_err());
}

#[tokio::test]
async fn typ_check() {
    let at_jwt = || verifier(policy().types(["at+jwt"]).build().unwrap());
    let with_typ = |typ: Option<&str>| {
        let mut header = json!({"alg": "ES256", "kid": "ec256"});
        if let Some(t) = typ {
            header["typ"] = json!(t);
        }
        sign_raw(Algorithm::ES256, &header.to_string(), &claims().to_string())
    };
    for ok in [
        "at+jwt",
        "application/at+jwt",
        "AT+JWT",
        "Application/At+Jwt",
    ] {
        assert!(check(&at_jwt(), &with_typ(Some(ok))).await.is_ok(), "{ok}");
    }
    for bad in [Some("JWT"), Some("at+jwt2"), None] {
        let result = check(&at_jwt(), &with_typ(bad)).await;
        assert!(
            matches!(result, Err(Error::WrongType { .. })),
            "{bad:?}: {result:?}"
        );
    }
    // Without a configured type, any typ passes.
    assert!(
        check(&default_verifier(), &with_typ(Some("whatever")))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn custom_claim_checks() {
    let needs_access = policy()
        .check(
            |c: &serde_json::Map<String, Value>| match c.get("token_use") {
                Some(Value::String(u)) if u == "access" => Ok(()),
                other => Err(format!("token_use {other:?}")),
            },
        )
        .build()
        .unwrap();
    assert!(
        check_claims(
            needs_access.clone(),
            claims_with("token_use", Some(json!("access")))
        )
        .await
        .is_ok()
    );
    let refused = check_claims(needs_access, claims_with("token_use", Some(json!("id")))).await;
    assert!(
        matches!(refused, Err(Error::ClaimCheck(ref why)) if why.contains("id")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn required_claims() {
    let needs_jti = || policy().require_claim("jti").build().unwrap();
    assert!(
        check_claims(needs_jti(), claims_with("jti", Some(json!("abc"))))
            .await
            .is_ok()
    );
    assert_eq!(
        check_claims(needs_jti(), claims()).await.err(),
        Some(Error::MissingClaim("jti".into()))
    );
    assert_eq!(
        policy().require_claim("").build().err(),
        Some(ConfigError::EmptyValue("required claim"))
    );
}

#[derive(Debug, Deserialize)]
struct MyClaims {
    sub: String,
    roles: Vec<String>,
}

#[tokio::test]
async fn typed_claims_and_shape_errors() {
    let v = default_verifier();
    let mine = v.verify(&sign(Algorithm::RS256, &claims())).await.unwrap();
    let typed = mine.claims::<MyClaims>().unwrap();
    assert_eq!(typed.sub, "user-1");
    assert_eq!(typed.roles, ["user"]);
    assert_eq!(mine.header().kid.as_deref(), Some("rsa"));
    assert!(mine.expires_at().is_some());
    let wrong_shape = v
        .verify(&sign(
            Algorithm::RS256,
            &claims_with("roles", Some(json!("x"))),
        ))
        .await
        .and_then(|verified| verified.claims::<MyClaims>());
    assert!(
        matches!(wrong_shape, Err(Error::ClaimsShape(_))),
        "{wrong_shape:?}"
    );
}

#[tokio::test]
async fn claims_must_be_a_unique_member_object() {
    let v = default_verifier();
    let header = r#"{"alg":"ES256","kid":"ec256"}"#;
    let exp = now() + 600;
    let dup = format!(
        r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","exp":{exp},"exp":{}}}"#,
        exp + 9999
    );
    assert_eq!(
        check(&v, &sign_raw(Algorithm::ES256, header, &dup))
            .await
            .err(),
        Some(Malformed::DuplicateMember.into())
    );
    let dup_custom =
        format!(r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","exp":{exp},"role":"a","role":"b"}}"#);
    assert_eq!(
        check(&v, &sign_raw(Algorithm::ES256, header, &dup_custom))
            .await
            .err(),
        Some(Malformed::DuplicateMember.into())
    );
    for not_object in ["[]", "\"x\"", "1", "", "{", "{}x", "\u{feff}{}"] {
        let result = check(&v, &sign_raw(Algorithm::ES256, header, not_object)).await;
        assert_eq!(
            result.err(),
            Some(Malformed::Payload.into()),
            "{not_object:?}"
        );
    }
    // Whitespace inside JSON is fine.
    let spaced =
        format!("{{ \"iss\" : \"{ISSUER}\" ,\n \"aud\" : \"{AUDIENCE}\", \"exp\" : {exp} }}");
    assert!(
        check(&v, &sign_raw(Algorithm::ES256, header, &spaced))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn errors_map_to_rfc6750_and_hide_configuration() {
    let v = default_verifier();
    let expired = check(
        &v,
        &sign(
            Algorithm::ES256,
            &claims_with("exp", Some(json!(now() - 3600))),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(expired.code(), ErrorCode::InvalidToken);
    assert_eq!(expired.code().http_status(), 401);
    assert_eq!(expired.public_description(), "the access token expired");
    let wrong_iss = check(
        &v,
        &sign(
            Algorithm::ES256,
            &claims_with("iss", Some(json!("https://x"))),
        ),
    )
    .await
    .unwrap_err();
    assert!(
        wrong_iss.to_string().contains(ISSUER),
        "detail for logs: {wrong_iss}"
    );
    assert!(
        !wrong_iss.public_description().contains("issuer.example"),
        "no config leak"
    );
    let unavailable = Error::KeySourceUnavailable("jwks down".into());
    assert_eq!(unavailable.code().http_status(), 503);
    assert!(unavailable.is_transient());
    let scope = Error::InsufficientScope {
        required: "admin".into(),
    };
    assert_eq!(
        (scope.code().as_str(), scope.code().http_status()),
        ("insufficient_scope", 403)
    );
}

#[tokio::test]
async fn verify_at_explains_past_and_future() {
    let v = default_verifier();
    let token = sign(Algorithm::ES256, &claims());
    let later = SystemTime::now() + Duration::from_secs(3600);
    assert!(matches!(
        v.verify_at(&token, later).await,
        Err(Error::Expired { .. })
    ));
    let earlier = SystemTime::now() - Duration::from_secs(3600);
    assert!(matches!(
        v.verify_at(&token, earlier).await,
        Err(Error::NotYetValid { .. })
    ));
}

#[tokio::test]
async fn roles_and_scopes_helpers() {
    let v = default_verifier();
    let c = claims_with("realm_access", Some(json!({"roles": ["realm-admin"]})));
    let mut c = c;
    c["cognito:groups"] = json!(["editors"]);
    c["scp"] = json!(["admin.all", "read"]);
    let claims = check(&v, &sign(Algorithm::EdDSA, &c)).await.unwrap();
    let path = |p: &str| tollgate_core::ClaimPath::new(p).unwrap();
    assert_eq!(
        claims.strings_at(&path("realm_access.roles")),
        ["realm-admin"]
    );
    assert_eq!(claims.strings_at(&path("cognito:groups")), ["editors"]);
    assert_eq!(claims.strings_at(&path("roles")), ["user"]);
    assert!(claims.strings_at(&path("missing.path")).is_empty());
    assert_eq!(claims.scopes(), ["read", "write", "admin.all"]);
    assert!(tollgate_core::ClaimPath::new("a..b").is_err());
    assert!(tollgate_core::ClaimPath::new("").is_err());
}
