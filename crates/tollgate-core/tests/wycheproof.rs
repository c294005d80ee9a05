#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Wycheproof JOSE vectors (`json_web_signature_test.json`, `json_web_key_test.json`, via the
//! `wycheproof-ng-kdf-jose` crate) against `tollgate_core::signature::verify_signature`: JWS level only, since
//! the payloads are not JWT claims.
//!
//! Rules:
//! - every `invalid` vector is rejected;
//! - every `valid` vector is accepted, unless its algorithm is one Tollgate does not implement
//!   (`ES512` / P-521), in which case it is rejected and counted as unsupported;
//! - a handful of vectors whose published expectation is wrong in this data set are listed in
//!   [`DATA_DEFECTS`], each with the exact behaviour Tollgate must show instead.
//!
//! All failures are collected and printed (tcId, comment, flags, outcome) before the test fails.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use tollgate_core::{Algorithm, CryptoProvider, Error, KeySet, Malformed, Validation, Verifier};
use wycheproof_ng_kdf_jose::json_web::{Test, TestGroup, TestName, TestSet};

/// What Tollgate must do with a vector whose published expectation is wrong in this data set.
#[derive(Debug, Clone, Copy)]
enum Defect {
    /// Marked `invalid`, but the JWS is byte-identical to this `valid` vector (the padding the
    /// comment talks about was lost when the data was generated): it must be accepted exactly
    /// as that vector is.
    IdenticalToValid(usize),
    /// Marked `valid`, but a `?` sits inside a base64url segment. RFC 7515 section 2 defines
    /// base64url without such characters, and the MAC only matches if a decoder silently drops
    /// the `?`: strict base64url must refuse it.
    NonBase64Url,
    /// Marked `valid` (RFC 7520 figure 20, a PS384 signature), but the group's JWK says
    /// `"alg":"PS256"`: a key restricted to PS256 must not verify PS384. The signature itself
    /// is checked to verify once the key's `alg` is removed.
    KeyRestrictedToOtherAlg,
}

/// (file, tcId, comment, defect). The comment is checked, so a renumbered data set fails loudly.
const DATA_DEFECTS: &[(&str, usize, &str, Defect)] = &[
    (
        "json_web_signature",
        367,
        "invalidBase64Padding",
        Defect::IdenticalToValid(357),
    ),
    (
        "json_web_signature",
        370,
        "invalidBase64PaddingInPayload",
        Defect::IdenticalToValid(357),
    ),
    (
        "json_web_signature",
        372,
        "InvalidCharacterInsertedInHeader",
        Defect::NonBase64Url,
    ),
    (
        "json_web_signature",
        373,
        "InvalidCharacterInsertedInPayload",
        Defect::NonBase64Url,
    ),
    (
        "json_web_signature",
        346,
        "Figure20",
        Defect::KeyRestrictedToOtherAlg,
    ),
    (
        "json_web_signature",
        350,
        "Figure20",
        Defect::KeyRestrictedToOtherAlg,
    ),
];

/// Wycheproof `invalid` vectors Tollgate is known to accept: open findings against `src/`,
/// listed (and printed on every run) so the rest of the vectors keep guarding. Each must *still*
/// be accepted: once a finding is fixed, its stale entry fails the test and must be removed.
/// (file, tcId, comment, why).
const KNOWN_FINDINGS: &[(&str, usize, &str, &str)] = &[];

#[derive(Default)]
struct Tally {
    valid_accepted: usize,
    invalid_rejected: usize,
    unsupported_rejected: usize,
    defects_checked: usize,
    known_findings: usize,
    /// Key family -> (valid vectors with a supported algorithm, of which accepted).
    families: BTreeMap<String, (usize, usize)>,
    failures: Vec<String>,
    /// The crypto backend of the vectors being run.
    provider: &'static str,
}

impl Tally {
    fn fail(&mut self, file: &str, group: &TestGroup, test: &Test, what: String) {
        self.failures.push(format!(
            "{file} on {} tcId {} [{}] (group {:?}, flags {:?}): {what}",
            self.provider, test.tc_id, test.comment, group.group_comment, test.flags
        ));
    }
}

/// Every backend this build has.
fn providers() -> Vec<CryptoProvider> {
    CryptoProvider::available().to_vec()
}

fn policy() -> Validation {
    // The vectors' claims are not what is tested (and carry no common audience).
    Validation::builder(Algorithm::ALL)
        .any_audience()
        .build()
        .unwrap()
}

/// `{"keys":[jwk]}` for a single JWK, the document itself for a JWK Set.
fn as_jwks(key: &Value) -> String {
    if key.get("keys").is_some() {
        key.to_string()
    } else {
        serde_json::json!({ "keys": [key] }).to_string()
    }
}

/// The group's keys: the `public` key (set) for asymmetric groups, else the `private` one for
/// symmetric (`oct`) groups. A key (set) Tollgate refuses gives an empty set.
fn group_keys(group: &TestGroup) -> (KeySet, String) {
    let loaded = match (&group.public_key, &group.private_key) {
        (Some(public), _) => KeySet::from_jwks(&as_jwks(public)),
        (None, Some(private)) => KeySet::from_jwks_with_secrets(&as_jwks(private)),
        (None, None) => panic!("group {:?} has no key", group.group_comment),
    };
    match loaded {
        Ok(keys) => {
            let note = format!("{} key(s)", keys.len());
            (keys, note)
        }
        Err(err) => (KeySet::new(), format!("key set refused: {err}")),
    }
}

/// The compact JWS, or the JSON text of a JSON-serialized one.
fn jws_text(test: &Test) -> String {
    match &test.jws {
        Some(Value::String(compact)) => compact.clone(),
        Some(other) => other.to_string(),
        None => panic!("tcId {} has no `jws`", test.tc_id),
    }
}

/// The header's `alg`, when the first segment decodes to a JSON object with a string `alg`.
fn header_alg(jws: &str) -> Option<String> {
    let header = jws.split('.').next()?;
    let json = URL_SAFE_NO_PAD.decode(header).ok()?;
    let value: Value = serde_json::from_slice(&json).ok()?;
    value.get("alg")?.as_str().map(str::to_owned)
}

/// An `alg` Tollgate does not implement (e.g. ES512), as opposed to `none` or a known one.
fn is_unsupported_alg(alg: Option<&str>) -> bool {
    alg.is_some_and(|alg| !alg.eq_ignore_ascii_case("none") && Algorithm::from_name(alg).is_none())
}

fn outcome(result: &Result<tollgate_core::signature::VerifiedJws, Error>) -> String {
    match result {
        Ok(jws) => format!(
            "ACCEPTED (alg {}, kid {:?})",
            jws.header.alg, jws.header.kid
        ),
        Err(err) => format!("rejected: {err:?}"),
    }
}

async fn run_file(name: TestName, file: &str, provider: CryptoProvider, tally: &mut Tally) {
    tally.provider = provider.name();
    let set = TestSet::load(name).unwrap();
    let mut by_id: BTreeMap<usize, String> = BTreeMap::new();
    for group in &set.test_groups {
        for test in &group.tests {
            by_id.insert(test.tc_id, jws_text(test));
        }
    }
    let total: usize = set.test_groups.iter().map(|g| g.tests.len()).sum();
    assert_eq!(total, set.number_of_tests, "{file}: test count");

    for group in &set.test_groups {
        let (keys, key_note) = group_keys(group);
        let verifier = Verifier::new(policy(), keys, provider);
        for test in &group.tests {
            let jws = jws_text(test);
            let result = tollgate_core::signature::verify_signature(&verifier, &jws).await;
            let alg = header_alg(&jws);
            let expect_valid = !test.result.must_fail();
            let published = format!("{:?}", test.result);

            if let Some(&(_, _, comment, defect)) = DATA_DEFECTS
                .iter()
                .find(|(f, id, _, _)| *f == file && *id == test.tc_id)
            {
                if test.comment != comment {
                    tally.fail(
                        file,
                        group,
                        test,
                        format!("DATA_DEFECTS expects comment {comment:?}: data set changed?"),
                    );
                    continue;
                }
                tally.defects_checked += 1;
                check_defect(
                    file, group, test, defect, &jws, &result, &by_id, provider, tally,
                )
                .await;
                continue;
            }

            if let Some(&(_, _, comment, why)) = KNOWN_FINDINGS
                .iter()
                .find(|(f, id, _, _)| *f == file && *id == test.tc_id)
            {
                if test.comment != comment || result.is_err() {
                    tally.fail(
                        file,
                        group,
                        test,
                        format!(
                            "KNOWN_FINDINGS entry ({why}) is stale: now {}; remove it",
                            outcome(&result)
                        ),
                    );
                } else {
                    tally.known_findings += 1;
                    println!(
                        "KNOWN FINDING {file} tcId {} [{}]: invalid vector accepted ({why})",
                        test.tc_id, test.comment
                    );
                }
                continue;
            }

            if !expect_valid {
                if result.is_ok() {
                    tally.fail(
                        file,
                        group,
                        test,
                        format!(
                            "invalid vector {}; keys: {key_note}; jws {jws:?}",
                            outcome(&result)
                        ),
                    );
                } else {
                    tally.invalid_rejected += 1;
                }
                continue;
            }
            if published != "Valid" {
                tally.fail(
                    file,
                    group,
                    test,
                    format!("unexpected result {published}: decide how to treat it"),
                );
                continue;
            }
            if is_unsupported_alg(alg.as_deref()) {
                if result.is_ok() {
                    tally.fail(
                        file,
                        group,
                        test,
                        format!("unsupported alg {alg:?} {}", outcome(&result)),
                    );
                } else {
                    tally.unsupported_rejected += 1;
                }
                continue;
            }
            let family = alg
                .as_deref()
                .and_then(Algorithm::from_name)
                .map(|a| format!("{:?}", a.key_family()))
                .unwrap_or_else(|| "unknown".to_owned());
            let entry = tally.families.entry(family).or_default();
            entry.0 += 1;
            if result.is_ok() {
                entry.1 += 1;
                tally.valid_accepted += 1;
            } else {
                tally.fail(
                    file,
                    group,
                    test,
                    format!(
                        "valid vector {}; keys: {key_note}; jws {jws:?}",
                        outcome(&result)
                    ),
                );
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn check_defect(
    file: &str,
    group: &TestGroup,
    test: &Test,
    defect: Defect,
    jws: &str,
    result: &Result<tollgate_core::signature::VerifiedJws, Error>,
    by_id: &BTreeMap<usize, String>,
    provider: CryptoProvider,
    tally: &mut Tally,
) {
    match defect {
        Defect::IdenticalToValid(valid_id) => {
            if by_id.get(&valid_id).map(String::as_str) != Some(jws) {
                tally.fail(
                    file,
                    group,
                    test,
                    format!("no longer identical to tcId {valid_id}: re-examine this vector"),
                );
            } else if result.is_err() {
                tally.fail(
                    file,
                    group,
                    test,
                    format!("identical to valid tcId {valid_id} but {}", outcome(result)),
                );
            }
        }
        Defect::NonBase64Url => {
            if !jws.contains('?') {
                tally.fail(file, group, test, "no `?` any more: re-examine".into());
            } else if !matches!(result, Err(Error::Malformed(Malformed::Base64))) {
                tally.fail(
                    file,
                    group,
                    test,
                    format!(
                        "non-base64url JWS must be Malformed(Base64), got {}",
                        outcome(result)
                    ),
                );
            }
        }
        Defect::KeyRestrictedToOtherAlg => {
            if !matches!(result, Err(Error::KeyAlgorithmMismatch { .. })) {
                tally.fail(
                    file,
                    group,
                    test,
                    format!(
                        "PS384 JWS against a PS256-only key must be KeyAlgorithmMismatch, got {}",
                        outcome(result)
                    ),
                );
                return;
            }
            let mut jwk = group.public_key.clone().expect("public JWK");
            jwk.as_object_mut().expect("JWK object").remove("alg");
            let keys = KeySet::from_jwks(&as_jwks(&jwk)).expect("JWK without alg");
            let unrestricted = tollgate_core::signature::verify_signature(
                &Verifier::new(policy(), keys, provider),
                jws,
            )
            .await;
            if unrestricted.is_err() {
                tally.fail(
                    file,
                    group,
                    test,
                    format!(
                        "the signature should verify with the key's alg removed, got {}",
                        outcome(&unrestricted)
                    ),
                );
            }
        }
    }
}

#[tokio::test]
async fn wycheproof_jose_vectors() {
    let mut tally = Tally::default();
    let providers = providers();
    assert!(!providers.is_empty());
    for provider in providers {
        run_file(
            TestName::JsonWebSignature,
            "json_web_signature",
            provider,
            &mut tally,
        )
        .await;
        run_file(TestName::JsonWebKey, "json_web_key", provider, &mut tally).await;
    }

    let mut summary = format!(
        "Wycheproof JOSE: {} valid accepted, {} invalid rejected, {} unsupported-algorithm valid \
         vectors rejected, {} data defects checked, {} known findings",
        tally.valid_accepted,
        tally.invalid_rejected,
        tally.unsupported_rejected,
        tally.defects_checked,
        tally.known_findings
    );
    for (family, (seen, accepted)) in &tally.families {
        write!(summary, "\n  {family}: {accepted}/{seen} valid accepted").unwrap();
    }
    println!("{summary}");
    println!(
        "unsupported algorithm (ES512 / P-521) valid vectors rejected: {}",
        tally.unsupported_rejected
    );

    for (family, (seen, accepted)) in &tally.families {
        if *accepted == 0 {
            tally.failures.push(format!(
                "family {family}: none of its {seen} valid vectors was accepted"
            ));
        }
    }
    for family in ["Hmac", "Rsa", "EcP256"] {
        if !tally.families.contains_key(family) {
            tally
                .failures
                .push(format!("no valid vector of family {family} seen"));
        }
    }
    if tally.unsupported_rejected == 0 {
        tally
            .failures
            .push("expected the ES512 vectors to be counted as unsupported".into());
    }
    if !tally.failures.is_empty() {
        let mut report = format!("{} Wycheproof failure(s):\n", tally.failures.len());
        for failure in &tally.failures {
            writeln!(report, "  {failure}").unwrap();
        }
        panic!("{report}");
    }
}

/// Complements tcId 4 of `json_web_key_test.json`: when both keys sharing a `kid` are usable,
/// the set drops them at load time, and a hand-built set with the duplicate refuses to pick one.
#[tokio::test]
async fn duplicate_kid_with_two_usable_keys_is_ambiguous() {
    let set = TestSet::load(TestName::JsonWebKey).unwrap();
    let group = set
        .test_groups
        .iter()
        .find(|g| g.group_comment == "jws_duplicate_kid")
        .expect("jws_duplicate_kid group");
    let mut keys = group.private_key.clone().expect("private key set");
    let second = &mut keys["keys"][1];
    let k = second["k"].as_str().expect("k").to_owned();
    assert!(
        URL_SAFE_NO_PAD.decode(&k).is_err(),
        "the published second key is non-canonical base64url"
    );
    assert!(k.ends_with('e'), "data set changed: {k}");
    // Clear the two trailing bits of the last character ('e' -> 'c'): canonical, 32 bytes.
    let canonical = format!("{}c", &k[..k.len() - 1]);
    assert_eq!(URL_SAFE_NO_PAD.decode(&canonical).unwrap().len(), 32);
    second["k"] = Value::String(canonical);

    assert_eq!(
        KeySet::from_jwks_with_secrets(&keys.to_string()).err(),
        Some(tollgate_core::KeyError::NoUsableKeys),
        "both keys of the duplicated kid are dropped"
    );
    let mut first_only = keys.clone();
    first_only["keys"].as_array_mut().unwrap().truncate(1);
    let mut second_only = keys.clone();
    second_only["keys"].as_array_mut().unwrap().remove(0);
    let one = KeySet::from_jwks_with_secrets(&first_only.to_string()).unwrap();
    let two = KeySet::from_jwks_with_secrets(&second_only.to_string()).unwrap();
    let keys: KeySet = one.iter().chain(two.iter()).cloned().collect();
    assert_eq!(keys.len(), 2);
    let verifier = Verifier::new(policy(), keys, CryptoProvider::default());
    let jws = jws_text(&group.tests[0]);
    let result = tollgate_core::signature::verify_signature(&verifier, &jws).await;
    assert!(
        matches!(result, Err(Error::AmbiguousKey)),
        "{}",
        outcome(&result)
    );
}
