//! DPoP proof verification (RFC 9449 4.3) with real keys: one accepted and one refused case for
//! every check, the token side (`cnf.jkt`, `check_bearer`, cache hits), the replay store, nonces
//! and RFC 9449's own example proof. Proofs are signed by the aws-lc-rs test signer
//! (`tollgate_core::testing`), whose thumbprint and `ath` are computed apart from the verifier's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tollgate_core::dpop::{
    DpopError, DpopMode, DpopVerifier, MemoryReplayStore, ProofCheck, ProofRequest, ReplayError,
    ReplayFuture, ReplayKey, ReplayStore, VerifiedProof, check_bearer, jwk_thumbprint,
};
use tollgate_core::testing::{SigningKey, access_token_hash};
use tollgate_core::{Algorithm, ConfigError, CryptoProvider, Error, KeyError, TokenCacheConfig};
use tollgate_test_support as support;

const ORIGIN: &str = "https://api.example.com";
const PATH: &str = "/orders/7";
const HTU: &str = "https://api.example.com/orders/7";
const TOKEN: &str = "an.access.token";

fn client(alg: Algorithm) -> SigningKey {
    // Separate from the issuer's test keys: a client's key is its own.
    SigningKey::generate(alg).unwrap()
}

/// A clock the test moves.
#[derive(Clone)]
struct Clock(Arc<AtomicI64>);

impl Clock {
    fn new() -> Self {
        Clock(Arc::new(AtomicI64::new(support::now())))
    }
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
    fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

fn verifier_with(clock: &Clock, crypto: CryptoProvider) -> DpopVerifier {
    let clock = clock.clone();
    DpopVerifier::builder(ORIGIN)
        .unwrap()
        .crypto(crypto)
        .clock(move || clock.now())
        .build()
}

fn verifier(clock: &Clock) -> DpopVerifier {
    verifier_with(clock, CryptoProvider::default())
}

/// The claims of a good proof for [`HTU`], [`TOKEN`] at `iat`.
fn claims(iat: i64) -> Map<String, Value> {
    let mut jti = [0u8; 12];
    aws_lc_rs::rand::fill(&mut jti).unwrap();
    json!({
        "jti": support::b64(&jti), "htm": "GET", "htu": HTU, "iat": iat,
        "ath": access_token_hash(TOKEN),
    })
    .as_object()
    .unwrap()
    .clone()
}

fn with(mut claims: Map<String, Value>, name: &str, value: Option<Value>) -> Map<String, Value> {
    match value {
        Some(v) => claims.insert(name.into(), v),
        None => claims.remove(name),
    };
    claims
}

fn request<'a>(proof: &'a str, jkt: Option<&'a str>) -> ProofRequest<'a> {
    ProofRequest {
        proof,
        method: "GET",
        path: PATH,
        access_token: TOKEN,
        token_jkt: jkt,
    }
}

fn done(check: ProofCheck) -> Result<VerifiedProof, DpopError> {
    match check {
        ProofCheck::Done(result) => result,
        ProofCheck::Pending(_) => panic!("the in-memory store answers at once"),
    }
}

/// Checks `claims` signed by `key` (with its own `cnf.jkt`) against a fresh verifier.
fn check_claims(key: &SigningKey, claims: &Map<String, Value>) -> Result<VerifiedProof, DpopError> {
    let clock = Clock::new();
    let proof = key.sign_dpop_proof(claims).unwrap();
    let jkt = key.jwk_thumbprint().unwrap();
    done(verifier(&clock).check(request(&proof, Some(&jkt))))
}

/// A proof with exactly this header and payload text, signed by `key`.
fn raw_proof(key: &SigningKey, header: &Value, claims: &Map<String, Value>) -> String {
    key.sign_raw(
        &header.to_string(),
        &Value::Object(claims.clone()).to_string(),
    )
    .unwrap()
}

fn header(key: &SigningKey) -> Value {
    json!({"typ": "dpop+jwt", "alg": key.algorithm().as_str(), "jwk": key.dpop_jwk().unwrap()})
}

fn check_raw(
    key: &SigningKey,
    header: &Value,
    claims: &Map<String, Value>,
) -> Result<VerifiedProof, DpopError> {
    let clock = Clock::new();
    let proof = raw_proof(key, header, claims);
    let jkt = key.jwk_thumbprint().unwrap();
    done(verifier(&clock).check(request(&proof, Some(&jkt))))
}

#[test]
fn accepts_every_algorithm_on_every_backend() {
    for crypto in CryptoProvider::available() {
        for alg in [
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::RS256,
            Algorithm::PS256,
            Algorithm::EdDSA,
        ] {
            let clock = Clock::new();
            let key = client(alg);
            let proof = key.sign_dpop_proof(&claims(clock.now())).unwrap();
            let jkt = key.jwk_thumbprint().unwrap();
            let verified = done(verifier_with(&clock, *crypto).check(request(&proof, Some(&jkt))))
                .unwrap_or_else(|e| panic!("{alg} on {crypto:?}: {e}"));
            assert_eq!(verified.jkt(), jkt, "{alg}: thumbprints agree");
            assert_eq!(verified.algorithm(), alg);
            assert_eq!(verified.issued_at(), clock.now());
            assert!(!verified.jti().is_empty());
        }
    }
}

#[test]
fn ed25519_is_an_alias_of_eddsa() {
    let key = client(Algorithm::EdDSA);
    let mut h = header(&key);
    h["alg"] = json!("Ed25519");
    let verified = check_raw(&key, &h, &claims(support::now())).unwrap();
    assert_eq!(verified.algorithm(), Algorithm::EdDSA);
}

#[test]
fn rfc_9449_figure_13_proof() {
    // RFC 9449 7.1, figure 13: the proof for GET https://resource.example.org/protectedresource
    // with the access token of figure 12, signed by the key whose thumbprint is 6.1's `jkt`.
    const PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA";
    const ACCESS_TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
    const JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
    assert_eq!(
        access_token_hash(ACCESS_TOKEN),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );
    assert_eq!(
        jwk_thumbprint(r#"{"kty":"EC","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","crv":"P-256"}"#).unwrap(),
        JKT
    );
    for crypto in CryptoProvider::available() {
        let verifier = DpopVerifier::builder("https://resource.example.org")
            .unwrap()
            .crypto(*crypto)
            .clock(|| 1_562_262_618 + 30)
            .build();
        let req = ProofRequest {
            proof: PROOF,
            method: "GET",
            path: "/protectedresource",
            access_token: ACCESS_TOKEN,
            token_jkt: Some(JKT),
        };
        let verified = done(verifier.check(req)).unwrap();
        assert_eq!(
            (verified.jkt(), verified.jti(), verified.issued_at()),
            (JKT, "e1j3V_bKic8-LAEB", 1_562_262_618)
        );
        assert_eq!(done(verifier.check(req)), Err(DpopError::Replayed));
        let other_token = ProofRequest {
            access_token: "another token",
            ..req
        };
        assert_eq!(
            done(verifier.check(other_token)),
            Err(DpopError::AccessTokenHashMismatch)
        );
    }
}

#[test]
fn thumbprints_agree_with_an_independent_computation() {
    for alg in [
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::RS256,
        Algorithm::EdDSA,
    ] {
        let key = client(alg);
        let jwk = key.public_jwk().unwrap().to_string();
        assert_eq!(
            jwk_thumbprint(&jwk).unwrap(),
            key.jwk_thumbprint().unwrap(),
            "{alg}"
        );
    }
    assert!(matches!(
        jwk_thumbprint(r#"{"kty":"oct","k":"c2VjcmV0"}"#),
        Err(KeyError::Invalid(_))
    ));
    assert!(jwk_thumbprint("[]").is_err());
}

#[test]
fn size_and_structure() {
    let clock = Clock::new();
    let v = verifier(&clock);
    let huge = format!("{}.e30.AA", "A".repeat(9000));
    assert!(
        matches!(done(v.check(request(&huge, Some("x")))), Err(DpopError::Malformed(m)) if m.contains("bytes"))
    );
    for bad in ["", "a.b", "a.b.c.d", ".e30.AA", "!!.e30.AA"] {
        assert!(
            matches!(
                done(v.check(request(bad, Some("x")))),
                Err(DpopError::Malformed(_))
            ),
            "{bad:?}"
        );
    }
    let key = client(Algorithm::ES256);
    let ok = raw_proof(&key, &header(&key), &claims(clock.now()));
    let (head, _) = ok.split_once('.').unwrap();
    let not_json = format!("{head}.{}.AA", support::b64(b"not json"));
    assert!(
        matches!(
            done(v.check(request(&not_json, Some("x")))),
            Err(DpopError::InvalidSignature)
        ),
        "the signature is checked before the payload is read"
    );
}

#[test]
fn typ_must_be_dpop_jwt() {
    let key = client(Algorithm::ES256);
    let c = claims(support::now());
    let mut h = header(&key);
    h["typ"] = json!("DPoP+JWT");
    assert!(
        check_raw(&key, &h, &c).is_ok(),
        "media types are case-insensitive"
    );
    for typ in [
        json!("JWT"),
        json!("application/dpop+jwt"),
        json!("dpop"),
        json!(1),
    ] {
        h["typ"] = typ.clone();
        assert_eq!(check_raw(&key, &h, &c), Err(DpopError::WrongType), "{typ}");
    }
    h.as_object_mut().unwrap().remove("typ");
    assert_eq!(check_raw(&key, &h, &c), Err(DpopError::WrongType));
}

#[test]
fn algorithm_must_be_asymmetric_and_allowed() {
    let key = client(Algorithm::ES256);
    let c = claims(support::now());
    for alg in ["HS256", "none", "None", "RS1", "es256"] {
        let mut h = header(&key);
        h["alg"] = json!(alg);
        assert_eq!(
            check_raw(&key, &h, &c),
            Err(DpopError::AlgorithmNotAllowed(alg.into())),
            "{alg}"
        );
    }
    // A real HS256 proof, MAC'd with a secret the server could be tricked into using.
    let hmac = SigningKey::hmac([7u8; 32]).unwrap();
    let h = json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": support::b64(&[7u8; 32])}});
    let proof = raw_proof(&hmac, &h, &c);
    assert_eq!(
        done(verifier(&Clock::new()).check(request(&proof, Some("x")))),
        Err(DpopError::AlgorithmNotAllowed("HS256".into()))
    );
    // Allowed by the RFC but not by this verifier.
    let clock = Clock::new();
    let only_es256 = DpopVerifier::builder(ORIGIN)
        .unwrap()
        .algorithms([Algorithm::ES256])
        .unwrap()
        .build();
    let ed = client(Algorithm::EdDSA);
    let proof = ed.sign_dpop_proof(&claims(clock.now())).unwrap();
    let jkt = ed.jwk_thumbprint().unwrap();
    assert_eq!(
        done(only_es256.check(request(&proof, Some(&jkt)))),
        Err(DpopError::AlgorithmNotAllowed("EdDSA".into()))
    );
    assert_eq!(only_es256.algs_challenge(), "ES256");
}

#[test]
fn builder_refuses_bad_configuration() {
    assert!(matches!(
        DpopVerifier::builder(ORIGIN)
            .unwrap()
            .algorithms([Algorithm::RS256, Algorithm::HS256]),
        Err(ConfigError::DpopAlgorithm(Algorithm::HS256))
    ));
    assert!(matches!(
        DpopVerifier::builder(ORIGIN).unwrap().algorithms([]),
        Err(ConfigError::NoAlgorithms)
    ));
    for url in [
        "ftp://h",
        "https://u:p@h",
        "https://h/?q",
        "https://h/#f",
        "h",
        "https://h\\x",
    ] {
        assert!(
            matches!(
                DpopVerifier::builder(url),
                Err(ConfigError::DpopPublicUrl { .. })
            ),
            "{url}"
        );
    }
    let v = DpopVerifier::builder(ORIGIN).unwrap().build();
    assert_eq!(v.algs_challenge(), "ES256 ES384 RS256 PS256 EdDSA");
    assert_eq!(v.algorithms().len(), 5);
    assert!(!v.nonces_enabled());
    assert_eq!(v.current_nonce(), None);
    assert_eq!(DpopMode::default(), DpopMode::Off);
}

#[test]
fn jwk_must_be_a_public_key_that_suits_alg() {
    let c = claims(support::now());
    let ec = client(Algorithm::ES256);
    // Private members, whatever the key type.
    for member in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
        let mut h = header(&ec);
        h["jwk"][member] = json!("AQAB");
        assert_eq!(
            check_raw(&ec, &h, &c),
            Err(DpopError::PrivateKeyInProof),
            "{member}"
        );
    }
    let rsa = client(Algorithm::RS256);
    let mut h = header(&rsa);
    h["jwk"]["d"] = json!("AQAB");
    assert_eq!(check_raw(&rsa, &h, &c), Err(DpopError::PrivateKeyInProof));

    // An EC key for an RSA algorithm.
    let mut h = header(&ec);
    h["alg"] = json!("RS256");
    assert!(matches!(
        check_raw(&ec, &h, &c),
        Err(DpopError::InvalidKey(KeyError::AlgorithmMismatch(
            Algorithm::RS256,
            _
        )))
    ));
    // A 1024-bit RSA modulus: refused before any signature is looked at.
    let mut n = vec![0xC5u8; 128];
    n[127] |= 1;
    let weak = json!({"typ": "dpop+jwt", "alg": "RS256", "jwk": {"kty": "RSA", "n": support::b64(&n), "e": "AQAB"}});
    assert!(matches!(
        check_raw(&rsa, &weak, &c),
        Err(DpopError::InvalidKey(KeyError::RsaTooSmall {
            bits: 1024,
            ..
        }))
    ));
    // No jwk, a jwk that is not an object, one with a nested object, an unsupported curve.
    let mut h = header(&ec);
    h.as_object_mut().unwrap().remove("jwk");
    assert!(matches!(
        check_raw(&ec, &h, &c),
        Err(DpopError::Malformed(_))
    ));
    h["jwk"] = json!("a key");
    assert!(matches!(
        check_raw(&ec, &h, &c),
        Err(DpopError::Malformed(_))
    ));
    let mut h = header(&ec);
    h["jwk"]["x"] = json!({"nested": true});
    assert!(matches!(
        check_raw(&ec, &h, &c),
        Err(DpopError::InvalidKey(_))
    ));
    let mut h = header(&ec);
    h["jwk"]["crv"] = json!("secp256k1");
    assert!(matches!(
        check_raw(&ec, &h, &c),
        Err(DpopError::InvalidKey(KeyError::Unusable(_)))
    ));
    // `kid`, `jku`, `x5u` never choose the key: the jwk alone does.
    let mut h = header(&ec);
    h["kid"] = json!("attacker");
    h["jku"] = json!("https://attacker.example/jwks");
    h["x5u"] = json!("https://attacker.example/cert");
    assert!(check_raw(&ec, &h, &c).is_ok());
    // Another key's jwk with this key's signature.
    let other = client(Algorithm::ES256);
    let mut h = header(&ec);
    h["jwk"] = other.dpop_jwk().unwrap();
    let proof = raw_proof(&ec, &h, &c);
    let jkt = other.jwk_thumbprint().unwrap();
    assert_eq!(
        done(verifier(&Clock::new()).check(request(&proof, Some(&jkt)))),
        Err(DpopError::InvalidSignature)
    );
}

#[test]
fn header_and_claims_are_strict_json() {
    let key = client(Algorithm::ES256);
    let jwk = key.dpop_jwk().unwrap().to_string();
    let c = Value::Object(claims(support::now())).to_string();
    let h = format!(r#"{{"typ":"dpop+jwt","alg":"ES256","jwk":{jwk},"alg":"ES256"}}"#);
    let proof = key.sign_raw(&h, &c).unwrap();
    let jkt = key.jwk_thumbprint().unwrap();
    let v = verifier(&Clock::new());
    assert!(
        matches!(done(v.check(request(&proof, Some(&jkt)))), Err(DpopError::Malformed(m)) if m.contains("repeats"))
    );
    // A repeated member inside the jwk.
    let twice = jwk.replacen('{', r#"{"kty":"EC","#, 1);
    let h = format!(r#"{{"typ":"dpop+jwt","alg":"ES256","jwk":{twice}}}"#);
    let proof = key.sign_raw(&h, &c).unwrap();
    assert!(matches!(
        done(v.check(request(&proof, Some(&jkt)))),
        Err(DpopError::Malformed(_))
    ));
    // A repeated claim.
    let h = header(&key).to_string();
    let c2 = c.replacen('{', r#"{"htm":"POST","#, 1);
    let proof = key.sign_raw(&h, &c2).unwrap();
    assert!(
        matches!(done(v.check(request(&proof, Some(&jkt)))), Err(DpopError::Malformed(m)) if m.contains("repeat"))
    );
    // crit: no extension is understood.
    let mut h = header(&key);
    h["crit"] = json!(["exp"]);
    assert!(
        matches!(check_raw(&key, &h, &claims(support::now())), Err(DpopError::Malformed(m)) if m.contains("crit"))
    );
}

#[test]
fn signature_must_verify() {
    let clock = Clock::new();
    let key = client(Algorithm::ES256);
    let proof = key.sign_dpop_proof(&claims(clock.now())).unwrap();
    let jkt = key.jwk_thumbprint().unwrap();
    let v = verifier(&clock);
    let tampered = support::tamper_signature(&proof);
    assert_eq!(
        done(v.check(request(&tampered, Some(&jkt)))),
        Err(DpopError::InvalidSignature)
    );
    // ES256 as DER (what some JOSE libraries emit by mistake): refused by its length.
    let (input, sig) = proof.rsplit_once('.').unwrap();
    let raw = base64_decode(sig);
    let der = support::attack::ecdsa_raw_to_der(&raw);
    let der_proof = format!("{input}.{}", support::b64(&der));
    assert_eq!(
        done(v.check(request(&der_proof, Some(&jkt)))),
        Err(DpopError::InvalidSignature)
    );
    assert!(
        done(v.check(request(&proof, Some(&jkt)))).is_ok(),
        "the original still verifies"
    );
}

#[test]
fn a_remembered_proof_header_never_skips_the_signature() {
    // The verifier remembers a client's proof header (its key and thumbprint) once a proof
    // with it verified; every later proof with that header is still verified in full.
    let clock = Clock::new();
    let key = client(Algorithm::EdDSA);
    let jkt = key.jwk_thumbprint().unwrap();
    let v = verifier(&clock);
    for _ in 0..3 {
        let proof = key.sign_dpop_proof(&claims(clock.now())).unwrap();
        assert!(done(v.check(request(&proof, Some(&jkt)))).is_ok());
        let forged = support::tamper_signature(&key.sign_dpop_proof(&claims(clock.now())).unwrap());
        assert_eq!(
            done(v.check(request(&forged, Some(&jkt)))),
            Err(DpopError::InvalidSignature)
        );
    }
    // A header first seen on a forged proof is not remembered: the valid proof with it is
    // judged from scratch and accepted, the forged one still refused.
    let other = client(Algorithm::ES256);
    let other_jkt = other.jwk_thumbprint().unwrap();
    let forged = support::tamper_signature(&other.sign_dpop_proof(&claims(clock.now())).unwrap());
    assert_eq!(
        done(v.check(request(&forged, Some(&other_jkt)))),
        Err(DpopError::InvalidSignature)
    );
    let proof = other.sign_dpop_proof(&claims(clock.now())).unwrap();
    assert!(done(v.check(request(&proof, Some(&other_jkt)))).is_ok());
    // The same header with a claim wrong is refused for that claim, remembered or not.
    let stale = other.sign_dpop_proof(&claims(clock.now() - 3600)).unwrap();
    assert!(matches!(
        done(v.check(request(&stale, Some(&other_jkt)))),
        Err(DpopError::Stale { .. })
    ));
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

#[test]
fn required_claims() {
    let key = client(Algorithm::ES256);
    let now = support::now();
    for name in ["jti", "htm", "htu", "iat", "ath"] {
        assert_eq!(
            check_claims(&key, &with(claims(now), name, None)),
            Err(DpopError::MissingClaim(name)),
            "{name}"
        );
    }
    for (name, value) in [
        ("jti", json!("")),
        ("jti", json!("j".repeat(257))),
        ("jti", json!(7)),
        ("htm", json!(["GET"])),
        ("htu", json!(null)),
        ("iat", json!("1700000000")),
        ("iat", json!(-1)),
        ("ath", json!(1)),
        ("nonce", json!(false)),
    ] {
        assert!(
            matches!(
                check_claims(&key, &with(claims(now), name, Some(value.clone()))),
                Err(DpopError::Malformed(_))
            ),
            "{name}: {value}"
        );
    }
    assert!(
        check_claims(
            &key,
            &with(claims(now), "jti", Some(json!("j".repeat(256))))
        )
        .is_ok()
    );
    assert!(
        check_claims(
            &key,
            &with(claims(now), "iat", Some(json!(now as f64 + 0.5)))
        )
        .is_ok()
    );
}

#[test]
fn htm_must_be_the_method() {
    let key = client(Algorithm::ES256);
    let now = support::now();
    assert!(check_claims(&key, &claims(now)).is_ok());
    for htm in ["POST", "get", "GET "] {
        assert_eq!(
            check_claims(&key, &with(claims(now), "htm", Some(json!(htm)))),
            Err(DpopError::MethodMismatch {
                expected: "GET".into(),
                found: htm.into()
            })
        );
    }
}

#[test]
fn htu_is_compared_in_normal_form() {
    let key = client(Algorithm::ES256);
    let now = support::now();
    for same in [
        "https://API.example.com:443/orders/7",
        "https://api.example.com/orders/7?x=1#f",
        "HTTPS://api.example.com/orders/%37",
        "https://api.example.com:/orders/7",
    ] {
        assert!(
            check_claims(&key, &with(claims(now), "htu", Some(json!(same)))).is_ok(),
            "{same}"
        );
    }
    for other in [
        "http://api.example.com/orders/7",
        "https://api.example.com/Orders/7",
        "https://api.example.com:8443/orders/7",
        "https://api.example.com/orders/7/",
        "https://api.example.com/orders/8",
        "https://api.example.com/x/../orders/7",
        "https://api.example.com\\orders/7",
        "https://evil.example.com/orders/7",
        "/orders/7",
    ] {
        assert!(
            matches!(
                check_claims(&key, &with(claims(now), "htu", Some(json!(other)))),
                Err(DpopError::UriMismatch { .. })
            ),
            "{other}"
        );
    }
    // The request side is normalised the same way, and `%7e` is `~`.
    let clock = Clock::new();
    let v = verifier(&clock);
    let proof = key
        .sign_dpop_proof(&with(
            claims(now),
            "htu",
            Some(json!("https://api.example.com/~a")),
        ))
        .unwrap();
    let jkt = key.jwk_thumbprint().unwrap();
    let req = ProofRequest {
        path: "/%7ea",
        ..request(&proof, Some(&jkt))
    };
    assert!(done(v.check(req)).is_ok());
    let proof = key
        .sign_dpop_proof(&with(
            claims(now),
            "htu",
            Some(json!("https://api.example.com/a")),
        ))
        .unwrap();
    let req = ProofRequest {
        path: "/A",
        ..request(&proof, Some(&jkt))
    };
    assert!(
        matches!(done(v.check(req)), Err(DpopError::UriMismatch { expected, found })
        if expected == "https://api.example.com/A" && found == "https://api.example.com/a")
    );
}

#[test]
fn htu_with_a_base_path() {
    let key = client(Algorithm::EdDSA);
    let stage = "https://abc.execute-api.eu-west-1.amazonaws.com/prod";
    let v = DpopVerifier::builder(stage).unwrap().build();
    let jkt = key.jwk_thumbprint().unwrap();
    let proof = key
        .sign_dpop_proof(&with(
            claims(support::now()),
            "htu",
            Some(json!(format!("{stage}/items"))),
        ))
        .unwrap();
    let req = ProofRequest {
        path: "/items",
        ..request(&proof, Some(&jkt))
    };
    assert!(done(v.check(req)).is_ok());
    let proof = key
        .sign_dpop_proof(&with(
            claims(support::now()),
            "htu",
            Some(json!(
                "https://abc.execute-api.eu-west-1.amazonaws.com/items"
            )),
        ))
        .unwrap();
    let req = ProofRequest {
        path: "/items",
        ..request(&proof, Some(&jkt))
    };
    assert!(matches!(
        done(v.check(req)),
        Err(DpopError::UriMismatch { .. })
    ));
}

#[test]
fn iat_window() {
    let key = client(Algorithm::ES256);
    let clock = Clock::new();
    let v = verifier(&clock);
    let jkt = key.jwk_thumbprint().unwrap();
    let now = clock.now();
    for iat in [now - 300, now + 60, now] {
        let proof = key.sign_dpop_proof(&claims(iat)).unwrap();
        assert!(
            done(v.check(request(&proof, Some(&jkt)))).is_ok(),
            "iat {iat}, now {now}"
        );
    }
    let proof = key.sign_dpop_proof(&claims(now - 301)).unwrap();
    assert_eq!(
        done(v.check(request(&proof, Some(&jkt)))),
        Err(DpopError::Stale {
            iat: now - 301,
            now
        })
    );
    let proof = key.sign_dpop_proof(&claims(now + 61)).unwrap();
    assert_eq!(
        done(v.check(request(&proof, Some(&jkt)))),
        Err(DpopError::FromTheFuture { iat: now + 61, now })
    );
    // Configured windows.
    let c = clock.clone();
    let tight = DpopVerifier::builder(ORIGIN)
        .unwrap()
        .max_age(Duration::from_secs(10))
        .max_future(Duration::from_secs(0))
        .clock(move || c.now())
        .build();
    let proof = key.sign_dpop_proof(&claims(now - 11)).unwrap();
    assert!(matches!(
        done(tight.check(request(&proof, Some(&jkt)))),
        Err(DpopError::Stale { .. })
    ));
    let proof = key.sign_dpop_proof(&claims(now + 1)).unwrap();
    assert!(matches!(
        done(tight.check(request(&proof, Some(&jkt)))),
        Err(DpopError::FromTheFuture { .. })
    ));
}

#[test]
fn replayed_proofs_are_refused_per_key() {
    let clock = Clock::new();
    let v = verifier(&clock);
    let a = client(Algorithm::ES256);
    let b = client(Algorithm::ES256);
    let shared = with(claims(clock.now()), "jti", Some(json!("same-jti")));
    let proof_a = a.sign_dpop_proof(&shared).unwrap();
    let proof_b = b.sign_dpop_proof(&shared).unwrap();
    let (jkt_a, jkt_b) = (a.jwk_thumbprint().unwrap(), b.jwk_thumbprint().unwrap());
    assert!(done(v.check(request(&proof_a, Some(&jkt_a)))).is_ok());
    assert_eq!(
        done(v.check(request(&proof_a, Some(&jkt_a)))),
        Err(DpopError::Replayed)
    );
    assert!(
        done(v.check(request(&proof_b, Some(&jkt_b)))).is_ok(),
        "another key's proof with the same jti is its own"
    );
    // A new proof (new signature) with the same key and jti is a replay too.
    let again = a.sign_dpop_proof(&shared).unwrap();
    assert_ne!(again, proof_a, "ECDSA signatures are randomised");
    assert_eq!(
        done(v.check(request(&again, Some(&jkt_a)))),
        Err(DpopError::Replayed)
    );
    // A refused proof is not remembered: the same proof, once valid, is accepted.
    let fresh = a.sign_dpop_proof(&claims(clock.now())).unwrap();
    assert!(matches!(
        done(v.check(request(&fresh, Some("wrong")))),
        Err(DpopError::KeyMismatch)
    ));
    assert!(done(v.check(request(&fresh, Some(&jkt_a)))).is_ok());
}

#[test]
fn ath_must_hash_the_token() {
    let key = client(Algorithm::ES256);
    let now = support::now();
    assert_eq!(
        check_claims(
            &key,
            &with(
                claims(now),
                "ath",
                Some(json!(access_token_hash("other token")))
            )
        ),
        Err(DpopError::AccessTokenHashMismatch)
    );
    assert_eq!(
        check_claims(&key, &with(claims(now), "ath", Some(json!("")))),
        Err(DpopError::AccessTokenHashMismatch)
    );
    assert!(check_claims(&key, &claims(now)).is_ok());
}

#[test]
fn token_must_be_bound_to_the_proof_key() {
    let clock = Clock::new();
    let v = verifier(&clock);
    let key = client(Algorithm::ES256);
    let other = client(Algorithm::ES256);
    let proof = key.sign_dpop_proof(&claims(clock.now())).unwrap();
    assert_eq!(
        done(v.check(request(&proof, None))),
        Err(DpopError::UnboundToken)
    );
    let wrong = other.jwk_thumbprint().unwrap();
    assert_eq!(
        done(v.check(request(&proof, Some(&wrong)))),
        Err(DpopError::KeyMismatch)
    );
    let jkt = key.jwk_thumbprint().unwrap();
    assert!(done(v.check(request(&proof, Some(&jkt)))).is_ok());
}

#[test]
fn nonces() {
    let clock = Clock::new();
    let c = clock.clone();
    let v = DpopVerifier::builder(ORIGIN)
        .unwrap()
        .nonces(Some([3; 32]))
        .clock(move || c.now())
        .build();
    assert!(v.nonces_enabled());
    let key = client(Algorithm::ES256);
    let jkt = key.jwk_thumbprint().unwrap();
    let check = |claims: &Map<String, Value>| {
        let proof = key.sign_dpop_proof(claims).unwrap();
        done(v.check(request(&proof, Some(&jkt))))
    };
    assert_eq!(check(&claims(clock.now())), Err(DpopError::NonceRequired));
    assert_eq!(DpopError::NonceRequired.code(), "use_dpop_nonce");
    let nonce = v.current_nonce().unwrap();
    assert!(check(&with(claims(clock.now()), "nonce", Some(json!(nonce)))).is_ok());
    assert_eq!(
        check(&with(claims(clock.now()), "nonce", Some(json!("made-up")))),
        Err(DpopError::NonceInvalid)
    );
    // Another server's nonce (another secret).
    let foreign = DpopVerifier::builder(ORIGIN).unwrap().nonces(None).build();
    let foreign_nonce = foreign.current_nonce().unwrap();
    assert_eq!(
        check(&with(
            claims(clock.now()),
            "nonce",
            Some(json!(foreign_nonce))
        )),
        Err(DpopError::NonceInvalid)
    );
    // Still good in the next window, stale two windows on.
    clock.advance(60);
    assert!(check(&with(claims(clock.now()), "nonce", Some(json!(nonce)))).is_ok());
    clock.advance(60);
    assert_eq!(
        check(&with(claims(clock.now()), "nonce", Some(json!(nonce)))),
        Err(DpopError::NonceInvalid)
    );
    // Nonces off: a nonce in the proof is ignored.
    let key2 = client(Algorithm::ES256);
    assert!(
        check_claims(
            &key2,
            &with(claims(support::now()), "nonce", Some(json!("whatever")))
        )
        .is_ok()
    );
}

/// A store that always fails, or answers later, counting calls.
#[derive(Debug, Default)]
struct TestStore {
    fail: bool,
    calls: AtomicUsize,
}

impl ReplayStore for TestStore {
    fn insert_if_absent(&self, key: ReplayKey, ttl: Duration) -> ReplayFuture {
        self.calls.fetch_add(1, Ordering::SeqCst);
        assert_eq!(ttl, Duration::from_secs(361), "max_age + max_future + 1 s");
        assert_ne!(key.as_bytes(), &[0u8; 32]);
        if self.fail {
            ReplayFuture::ready(Err(ReplayError::new("store down")))
        } else {
            ReplayFuture::pending(async { Ok(true) })
        }
    }
}

#[test]
fn replay_store_failure_is_transient() {
    let store = Arc::new(TestStore {
        fail: true,
        ..TestStore::default()
    });
    let v = DpopVerifier::builder(ORIGIN)
        .unwrap()
        .replay_store(Arc::clone(&store))
        .build();
    let key = client(Algorithm::ES256);
    let jkt = key.jwk_thumbprint().unwrap();
    let proof = key.sign_dpop_proof(&claims(support::now())).unwrap();
    let err = done(v.check(request(&proof, Some(&jkt)))).unwrap_err();
    assert_eq!(err, DpopError::ReplayStoreUnavailable("store down".into()));
    assert!(err.is_transient());
    assert_eq!(err.http_status(), 503);
    // The store is asked only for an otherwise valid proof.
    let bad = key
        .sign_dpop_proof(&with(claims(support::now()), "htm", Some(json!("PUT"))))
        .unwrap();
    assert!(matches!(
        done(v.check(request(&bad, Some(&jkt)))),
        Err(DpopError::MethodMismatch { .. })
    ));
    assert_eq!(store.calls.load(Ordering::SeqCst), 1);
}

#[test]
fn a_waiting_store_gives_a_pending_check() {
    let v = DpopVerifier::builder(ORIGIN)
        .unwrap()
        .replay_store(TestStore::default())
        .build();
    let key = client(Algorithm::EdDSA);
    let jkt = key.jwk_thumbprint().unwrap();
    let proof = key.sign_dpop_proof(&claims(support::now())).unwrap();
    let ProofCheck::Pending(pending) = v.check(request(&proof, Some(&jkt))) else {
        panic!("the store answers later")
    };
    fn is_send_static<T: Send + 'static>(_: &T) {}
    is_send_static(&pending);
    let verified = support::block_on(pending).unwrap();
    assert_eq!(verified.jkt(), jkt);
}

#[test]
fn memory_store_is_bounded_and_fails_closed() {
    // 16 entries: one per shard; the 17th distinct proof finds its shard full of live entries
    // sooner or later.
    let v = DpopVerifier::builder(ORIGIN)
        .unwrap()
        .replay_store(MemoryReplayStore::new(16))
        .build();
    let key = client(Algorithm::EdDSA);
    let jkt = key.jwk_thumbprint().unwrap();
    let mut outcomes = Vec::new();
    for _ in 0..40 {
        let proof = key.sign_dpop_proof(&claims(support::now())).unwrap();
        outcomes.push(done(v.check(request(&proof, Some(&jkt)))));
    }
    let accepted = outcomes.iter().filter(|o| o.is_ok()).count();
    assert!(accepted <= 16, "{accepted} accepted");
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, Err(DpopError::ReplayStoreUnavailable(_))))
    );
}

fn bound_token(jkt: Option<Value>) -> String {
    let mut c = support::claims();
    if let Some(cnf) = jkt {
        c["cnf"] = cnf;
    }
    support::sign(Algorithm::ES256, &c)
}

#[test]
fn tokens_expose_cnf_jkt_and_bound_tokens_are_not_bearer_tokens() {
    let verifier = support::default_verifier();
    let key = client(Algorithm::ES256);
    let jkt = key.jwk_thumbprint().unwrap();
    let token = bound_token(Some(json!({"jkt": jkt})));
    let verified = support::block_on(verifier.verify(&token)).unwrap();
    assert_eq!(verified.confirmation_jkt(), Some(jkt.as_str()));
    assert_eq!(check_bearer(&verified), Err(DpopError::BoundTokenAsBearer));
    assert_eq!(DpopError::BoundTokenAsBearer.code(), "invalid_token");

    let plain = support::block_on(verifier.verify(&bound_token(None))).unwrap();
    assert_eq!(plain.confirmation_jkt(), None);
    assert_eq!(check_bearer(&plain), Ok(()));
    // mTLS binding only: no jkt.
    let mtls = bound_token(Some(json!({"x5t#S256": "abc"})));
    let mtls = support::block_on(verifier.verify(&mtls)).unwrap();
    assert_eq!(mtls.confirmation_jkt(), None);

    // An unreadable binding refuses the token.
    for cnf in [json!("jkt"), json!({"jkt": 1}), json!(["a"]), json!(null)] {
        let token = bound_token(Some(cnf.clone()));
        assert!(
            matches!(support::block_on(verifier.verify(&token)), Err(Error::InvalidClaim { ref claim, .. }) if claim == "cnf"),
            "{cnf}"
        );
    }
    let twice = support::sign_raw(
        Algorithm::ES256,
        r#"{"alg":"ES256","kid":"ec256"}"#,
        &support::claims()
            .to_string()
            .replacen('{', r#"{"cnf":{"jkt":"a","jkt":"b"},"#, 1),
    );
    assert!(
        support::block_on(verifier.verify(&twice)).is_err(),
        "repeated jkt"
    );
}

#[test]
fn a_cache_hit_keeps_the_binding() {
    let verifier = support::default_verifier_with_cache(Some(TokenCacheConfig::default()));
    let key = client(Algorithm::ES256);
    let jkt = key.jwk_thumbprint().unwrap();
    let token = bound_token(Some(json!({"jkt": jkt})));
    let first = support::block_on(verifier.verify(&token)).unwrap();
    let second = support::block_on(verifier.verify(&token)).unwrap();
    let hit = support::block_on(verifier.verify(&token)).unwrap();
    assert!(hit.ptr_eq(&second), "answered from the cache");
    assert_eq!(first.confirmation_jkt(), Some(jkt.as_str()));
    assert_eq!(hit.confirmation_jkt(), Some(jkt.as_str()));
    assert_eq!(check_bearer(&hit), Err(DpopError::BoundTokenAsBearer));
    assert!(verifier.token_cache_stats().unwrap().hits >= 1);
}

#[test]
fn end_to_end_token_and_proof() {
    let verifier = support::default_verifier();
    let clock = Clock::new();
    let dpop = verifier_with(&clock, CryptoProvider::default());
    let key = client(Algorithm::PS256);
    let jkt = key.jwk_thumbprint().unwrap();
    let token = bound_token(Some(json!({"jkt": jkt})));
    let verified = support::block_on(verifier.verify(&token)).unwrap();
    let proof = key.dpop_proof("POST", HTU, Some(&token), None).unwrap();
    let req = ProofRequest {
        proof: &proof,
        method: "POST",
        path: PATH,
        access_token: &token,
        token_jkt: verified.confirmation_jkt(),
    };
    let proof = support::block_on(dpop.check(req).into_future()).unwrap();
    assert_eq!(proof.jkt(), jkt);
}

#[test]
fn error_codes_and_messages() {
    let all = [
        DpopError::MissingProof,
        DpopError::MultipleProofs,
        DpopError::Malformed("x".into()),
        DpopError::WrongType,
        DpopError::AlgorithmNotAllowed("HS256".into()),
        DpopError::PrivateKeyInProof,
        DpopError::InvalidKey(KeyError::NoUsableKeys),
        DpopError::InvalidSignature,
        DpopError::MissingClaim("jti"),
        DpopError::MethodMismatch {
            expected: "GET".into(),
            found: "PUT".into(),
        },
        DpopError::UriMismatch {
            expected: "a".into(),
            found: "b".into(),
        },
        DpopError::Stale { iat: 1, now: 2 },
        DpopError::FromTheFuture { iat: 2, now: 1 },
        DpopError::Replayed,
        DpopError::AccessTokenHashMismatch,
        DpopError::KeyMismatch,
        DpopError::UnboundToken,
        DpopError::BoundTokenAsBearer,
        DpopError::NonceRequired,
        DpopError::NonceInvalid,
        DpopError::ReplayStoreUnavailable("down".into()),
    ];
    for err in &all {
        let expected = match err {
            DpopError::MultipleProofs => "invalid_request",
            DpopError::UnboundToken | DpopError::BoundTokenAsBearer => "invalid_token",
            DpopError::NonceRequired | DpopError::NonceInvalid => "use_dpop_nonce",
            DpopError::ReplayStoreUnavailable(_) => "temporarily_unavailable",
            _ => "invalid_dpop_proof",
        };
        assert_eq!(err.code(), expected, "{err:?}");
        assert_eq!(
            err.is_transient(),
            matches!(err, DpopError::ReplayStoreUnavailable(_))
        );
        let message = err.client_message();
        assert!(!message.is_empty() && !message.contains('"'), "{message}");
        assert!(!err.to_string().is_empty());
    }
    assert_eq!(
        DpopError::UriMismatch {
            expected: "https://secret".into(),
            found: "b".into()
        }
        .client_message(),
        "the DPoP proof is for another URI"
    );
}
