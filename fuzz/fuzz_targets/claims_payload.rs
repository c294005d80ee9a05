//! The payload (claims) parse: the input is the payload of a token with a fixed valid header,
//! HS256-signed inside the target with the fixture secret, verified with `verify` under a
//! strict policy (issuer, audience, `exp` required) and a lax one (any audience, no `exp`).
//!
//! Asserted for every accepted token, i.e. that every view of the claims agrees:
//! - `payload()` is the input, and it parses as a JSON object (`serde_json::Map`): the
//!   verification scan accepts exactly what the JSON view, built on first use, can hold;
//! - `claims_json()` is not empty when the payload has a member;
//! - `claims::<StandardClaims>()`, when it deserializes, has the same `sub`, `iss`, `jti` as
//!   `claims_json()` and as `subject()` / `issuer()`, the same `exp` as `expires_at()`, and every
//!   other member equal to the JSON view's;
//! - a second `verify` of the same token, decoded afresh from its payload by `serde_json`, sees
//!   the same typed claims as `claims()` (which reads them with the verifier's own deserializer,
//!   `json_de`, falling back to `serde_json` only for rare shapes);
//! - under the strict policy the typed claims carry the configured issuer and audience.
//!
//! And for every refused token: a payload `serde_json` reads as an object, with no member name
//! repeated (at the top or in `cnf`), is never refused as malformed or unreadable (the
//! verifier's hand-written JSON reader accepts exactly what `serde_json` does).
//!
//! Known to break on payloads the JSON view cannot hold, e.g. `{"sub":"a","x":"\ud800"}` (a lone
//! surrogate): see fuzz/regressions/claims_payload/.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use tollgate_core::{
    Algorithm, CryptoProvider, Error, KeySet, Malformed, StandardClaims, Validation, Verifier,
};
use tollgate_fuzz::{
    AUDIENCE, ISSUER, MAX_INPUT, block_on, has_members, hmac_key, hs256_verifier, sign_hs256,
};

const HEADER: &[u8] = br#"{"alg":"HS256","kid":"hmac-1","typ":"JWT"}"#;
const REGISTERED: [&str; 7] = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];

static STRICT: LazyLock<Verifier> = LazyLock::new(hs256_verifier);
static LAX: LazyLock<Verifier> = LazyLock::new(|| {
    let policy = Validation::builder([Algorithm::HS256])
        .any_audience()
        .require_exp(false)
        .build()
        .unwrap_or_else(|e| panic!("lax policy: {e}"));
    Verifier::builder(policy, KeySet::from(hmac_key()), CryptoProvider::default())
        .token_cache(None)
        .build()
});

fn check(verifier: &Verifier, strict: bool, token: &str, payload: &[u8]) {
    let verified = match block_on(verifier.verify(token)) {
        Ok(verified) => verified,
        Err(err) => {
            assert!(
                !err.is_transient(),
                "static keys reported unavailable: {err:?}"
            );
            if matches!(
                err,
                Error::Malformed(
                    Malformed::Payload | Malformed::UnreadableClaims | Malformed::DuplicateMember
                )
            ) {
                assert!(
                    !readable_without_repeats(payload),
                    "refused a payload serde_json reads, with no repeated member name: {err:?}"
                );
            }
            return;
        }
    };
    assert_eq!(
        verified.payload(),
        payload,
        "payload() is not the signed payload"
    );
    assert!(
        serde_json::from_slice::<serde_json::Map<String, Value>>(payload).is_ok(),
        "accepted a payload the JSON view cannot hold"
    );
    let json = verified.claims_json();
    assert!(
        !has_members(payload) || !json.is_empty(),
        "accepted payload has members but claims_json() is empty"
    );
    let _ = (verified.roles(), verified.scopes());

    let json_str = |name: &str| json.get(name).and_then(Value::as_str);
    assert_eq!(
        verified.subject(),
        json_str("sub"),
        "subject() vs claims_json()"
    );
    assert_eq!(
        verified.issuer(),
        json_str("iss"),
        "issuer() vs claims_json()"
    );

    let typed = match verified.claims::<StandardClaims>() {
        Ok(typed) => typed,
        Err(Error::ClaimsShape(_)) => return,
        Err(other) => panic!("claims() failed with a non-shape error: {other:?}"),
    };
    let registered = &typed.registered;
    assert_eq!(
        registered.sub.as_deref(),
        json_str("sub"),
        "typed sub vs claims_json()"
    );
    assert_eq!(
        registered.iss.as_deref(),
        json_str("iss"),
        "typed iss vs claims_json()"
    );
    assert_eq!(
        registered.jti.as_deref(),
        json_str("jti"),
        "typed jti vs claims_json()"
    );
    assert_eq!(
        registered.exp,
        verified.expires_at(),
        "typed exp vs expires_at()"
    );
    for (name, value) in json {
        if !REGISTERED.contains(&name.as_str()) {
            assert_eq!(
                typed.extra.get(name),
                Some(value),
                "typed extra[{name:?}] vs claims_json()"
            );
        }
    }
    assert_eq!(
        typed.extra.len(),
        json.keys()
            .filter(|k| !REGISTERED.contains(&k.as_str()))
            .count(),
        "typed extra has members claims_json() lacks"
    );
    if strict {
        assert_eq!(
            registered.iss.as_deref(),
            Some(ISSUER),
            "strict policy let another issuer in"
        );
        assert!(
            registered.aud.contains(AUDIENCE),
            "strict policy let another audience in"
        );
        assert!(
            registered.exp.is_some(),
            "strict policy let a token without exp in"
        );
    }

    // A second verification, decoded afresh (not the shared view), reads the same claims. It
    // checks the time again, so it may refuse a token that expired in between; when it accepts,
    // it must agree.
    if let Ok(again) = block_on(verifier.verify(token)) {
        let eager = serde_json::from_slice::<StandardClaims>(again.payload()).unwrap_or_else(|e| {
            panic!("claims() read the payload, a fresh decoding refused: {e:?}")
        });
        assert_eq!(eager, *typed, "fresh decoding vs claims::<StandardClaims>");
        assert_eq!(again.expires_at(), verified.expires_at());
    }
}

/// Whether `serde_json` reads `payload` as an object whose member names, and those of its `cnf`
/// object if it has one, are all distinct.
fn readable_without_repeats(payload: &[u8]) -> bool {
    /// Any value; for an object, whether its member names are distinct (and, at the top, those
    /// of its `cnf`). Values are read as `serde_json::Value`.
    struct Distinct {
        top: bool,
    }
    impl<'de> DeserializeSeed<'de> for Distinct {
        type Value = bool;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Distinct {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
            Ok(true)
        }
        fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
            Ok(true)
        }
        fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
            Ok(true)
        }
        fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
            Ok(true)
        }
        fn visit_str<E>(self, _: &str) -> Result<bool, E> {
            Ok(true)
        }
        fn visit_unit<E>(self) -> Result<bool, E> {
            Ok(true)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
            while seq.next_element::<Value>()?.is_some() {}
            Ok(true)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut names = std::collections::HashSet::new();
            let mut distinct = true;
            while let Some(name) = map.next_key::<String>()? {
                if self.top && name == "cnf" {
                    distinct &= map.next_value_seed(Distinct { top: false })?;
                } else {
                    map.next_value::<Value>()?;
                }
                distinct &= names.insert(name);
            }
            Ok(distinct)
        }
    }
    if serde_json::from_slice::<serde_json::Map<String, Value>>(payload).is_err() {
        return false;
    }
    let mut de = serde_json::Deserializer::from_slice(payload);
    de.deserialize_map(Distinct { top: true }).unwrap_or(false) && de.end().is_ok()
}

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT {
        return;
    }
    let token = sign_hs256(HEADER, data);
    check(&STRICT, true, &token, data);
    check(&LAX, false, &token, data);
});
