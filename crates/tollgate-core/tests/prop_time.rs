//! Property tests: `exp`, `nbf`, `iat` and the leeway at the bounds of every type involved.
//! For arbitrary time claims (0, MAX_NUMERIC_DATE, i64/u64 extremes, negative, fractional,
//! 1e300, out-of-f64 literals, non-numbers), leeways 0..=600 and verification times from the
//! epoch to the largest `SystemTime`, `Verifier::verify_at` never panics and decides exactly as
//! a reference model in i128 arithmetic:
//!
//! - a time claim must be a JSON number in `0..=MAX_NUMERIC_DATE` (as the JSON parser reads it);
//! - `exp` is required; expired iff `now >= floor(exp) + leeway`;
//! - `nbf` refused iff `now + leeway < ceil(nbf)`;
//! - `iat` refused iff `ceil(iat) > now + leeway` (when future `iat` is refused);
//! - `now` is the whole seconds since the epoch.
//!
//! The same verifier answers several times in a row, so the verified-token cache (which
//! re-applies the time rules on every hit) is held to the same model.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::time::{Duration, UNIX_EPOCH};

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::Value;
use tollgate_core::testing::SigningKey;
use tollgate_core::{
    Algorithm, ConfigError, CryptoProvider, Error, KeySet, MAX_LEEWAY, MAX_NUMERIC_DATE, Malformed,
    TokenCacheConfig, Validation, VerificationKey, Verifier,
};

const SECRET: &[u8] = b"prop-time secret, thirty-two bytes or more";

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// An HS256 token over exactly this payload text (the workspace's test signer).
fn token(payload: &str) -> String {
    let key = SigningKey::hmac(SECRET).unwrap();
    key.sign_raw(r#"{"alg":"HS256"}"#, payload).unwrap()
}

fn policy(leeway: u64, reject_future_iat: bool) -> Validation {
    Validation::builder([Algorithm::HS256])
        .any_audience()
        .leeway(Duration::from_secs(leeway))
        .reject_future_iat(reject_future_iat)
        .build()
        .unwrap()
}

fn verifier(validation: Validation, cache: Option<TokenCacheConfig>) -> Verifier {
    let keys = KeySet::from(VerificationKey::hmac(SECRET).unwrap());
    Verifier::builder(validation, keys, CryptoProvider::default())
        .token_cache(cache)
        .build()
}

const MAX: i128 = MAX_NUMERIC_DATE as i128;

/// A time claim as written in the payload: absent, or raw JSON text.
fn claim_text() -> impl Strategy<Value = Option<String>> {
    let special = prop::sample::select(vec![
        "0",
        "1",
        "-1",
        "-0",
        "-0.0",
        "0.0",
        "0.5",
        "0.0000001",
        "5e-324",
        "253402300799",
        "253402300798",
        "253402300800",
        "253402300799.0",
        "253402300799.5",
        "253402300798.5",
        "2.53402300799e11",
        "2.534023008e11",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551615",
        "18446744073709551616",
        "1e300",
        "-1e300",
        "1.7976931348623157e308",
        "1e400",
        "-1e400",
        "1E2",
        "\"100\"",
        "null",
        "true",
        "[100]",
        "{}",
    ])
    .prop_map(str::to_owned);
    prop_oneof![
        1 => Just(None),
        3 => special.prop_map(Some),
        3 => (0..=MAX_NUMERIC_DATE).prop_map(|n| Some(n.to_string())),
        2 => (0..=MAX_NUMERIC_DATE, 1u32..8)
            .prop_map(|(n, eighths)| Some(format!("{n}.{}", eighths * 125))),
        1 => any::<i64>().prop_map(|n| Some(n.to_string())),
        1 => any::<u64>().prop_map(|n| Some(n.to_string())),
        1 => any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| Some(serde_json::to_string(&f).unwrap())),
        // Small values near the epoch, where clamped or saturated arithmetic would show.
        2 => (0i64..=1300).prop_map(|n| Some(n.to_string())),
    ]
}

/// What the reference model reads from one claim.
#[derive(Debug, Clone, Copy)]
enum Read {
    /// In range: (floor, ceil).
    Date(i128, i128),
    /// A JSON value that is not a NumericDate in range.
    Invalid,
}

/// The claim's value as the JSON parser reads it; `Err` when the text is not JSON the parser
/// accepts (a number beyond f64).
fn read(text: &str) -> Result<Read, ()> {
    let value: Value = serde_json::from_str(text).map_err(|_| ())?;
    let Value::Number(n) = value else {
        return Ok(Read::Invalid);
    };
    let exact = n
        .as_u64()
        .map(i128::from)
        .or_else(|| n.as_i64().map(i128::from));
    Ok(match exact {
        Some(k) if (0..=MAX).contains(&k) => Read::Date(k, k),
        Some(_) => Read::Invalid,
        None => {
            let f = n.as_f64().unwrap();
            if f.is_finite() && f >= 0.0 && f <= MAX_NUMERIC_DATE as f64 {
                Read::Date(f.floor() as i128, f.ceil() as i128)
            } else {
                Read::Invalid
            }
        }
    })
}

/// What the model expects.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    /// Accepted, `expires_at` = floor(exp).
    Accepted(i64),
    MalformedPayload,
    Missing(&'static str),
    Invalid(&'static str),
    Expired {
        exp: i64,
    },
    NotYetValid {
        nbf: i64,
    },
    IssuedInFuture {
        iat: i64,
    },
}

#[derive(Debug, Clone)]
struct Claims {
    exp: Option<String>,
    nbf: Option<String>,
    iat: Option<String>,
}

impl Claims {
    fn payload(&self) -> String {
        let members: Vec<String> = [("exp", &self.exp), ("nbf", &self.nbf), ("iat", &self.iat)]
            .into_iter()
            .filter_map(|(name, text)| text.as_ref().map(|t| format!("\"{name}\":{t}")))
            .collect();
        format!("{{{}}}", members.join(","))
    }

    /// The whole-second floor of every in-range value: where decisions change.
    fn anchors(&self) -> Vec<i64> {
        let mut out = Vec::new();
        for text in [&self.exp, &self.nbf, &self.iat].into_iter().flatten() {
            if let Ok(Read::Date(floor, _)) = read(text) {
                out.push(floor as i64);
            }
        }
        if out.is_empty() {
            out = vec![0, MAX_NUMERIC_DATE];
        }
        out
    }
}

fn model(claims: &Claims, now: i128, leeway: i128, reject_future_iat: bool) -> Expect {
    let reads: Result<Vec<Option<Read>>, ()> = [&claims.exp, &claims.nbf, &claims.iat]
        .into_iter()
        .map(|t| t.as_deref().map(read).transpose())
        .collect();
    let Ok(reads) = reads else {
        return Expect::MalformedPayload;
    };
    let (exp, nbf, iat) = (reads[0], reads[1], reads[2]);
    let exp = match exp {
        None => return Expect::Missing("exp"),
        Some(Read::Invalid) => return Expect::Invalid("exp"),
        Some(Read::Date(floor, _)) => floor,
    };
    let nbf = match nbf {
        Some(Read::Invalid) => return Expect::Invalid("nbf"),
        Some(Read::Date(_, ceil)) => Some(ceil),
        None => None,
    };
    let iat = match iat {
        Some(Read::Invalid) => return Expect::Invalid("iat"),
        Some(Read::Date(_, ceil)) => Some(ceil),
        None => None,
    };
    if now >= exp + leeway {
        return Expect::Expired { exp: exp as i64 };
    }
    if let Some(nbf) = nbf
        && now + leeway < nbf
    {
        return Expect::NotYetValid { nbf: nbf as i64 };
    }
    if let Some(iat) = iat
        && reject_future_iat
        && iat > now + leeway
    {
        return Expect::IssuedInFuture { iat: iat as i64 };
    }
    Expect::Accepted(exp as i64)
}

/// The outcome in the model's terms; also checks the `now` and `leeway` an error reports.
fn observed(
    outcome: Result<tollgate_core::VerifiedToken, Error>,
    now: i64,
    leeway: u64,
) -> Result<Expect, String> {
    let wrong = |e: &Error| format!("unexpected error {e:?}");
    Ok(match outcome {
        Ok(verified) => Expect::Accepted(
            verified
                .expires_at()
                .ok_or_else(|| "accepted without expires_at".to_owned())?,
        ),
        Err(Error::Malformed(Malformed::Payload)) => Expect::MalformedPayload,
        Err(Error::MissingClaim(name)) if name == "exp" => Expect::Missing("exp"),
        Err(Error::InvalidClaim { claim, .. }) => match claim.as_str() {
            "exp" => Expect::Invalid("exp"),
            "nbf" => Expect::Invalid("nbf"),
            "iat" => Expect::Invalid("iat"),
            other => return Err(format!("invalid claim {other}")),
        },
        Err(
            e @ Error::Expired {
                exp,
                now: n,
                leeway: l,
            },
        ) => {
            if (n, l) != (now, leeway) {
                return Err(wrong(&e));
            }
            Expect::Expired { exp }
        }
        Err(
            e @ Error::NotYetValid {
                nbf,
                now: n,
                leeway: l,
            },
        ) => {
            if (n, l) != (now, leeway) {
                return Err(wrong(&e));
            }
            Expect::NotYetValid { nbf }
        }
        Err(
            e @ Error::IssuedInFuture {
                iat,
                now: n,
                leeway: l,
            },
        ) => {
            if (n, l) != (now, leeway) {
                return Err(wrong(&e));
            }
            Expect::IssuedInFuture { iat }
        }
        Err(e) => return Err(wrong(&e)),
    })
}

/// Largest whole second a `SystemTime` holds after the epoch on this platform (i64 seconds on
/// Unix and Windows alike in std's representation).
fn max_system_secs() -> u64 {
    let mut lo = 0u64;
    let mut hi = u64::MAX;
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if UNIX_EPOCH.checked_add(Duration::from_secs(mid)).is_some() {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// A verification time, whole seconds and nanoseconds after the epoch: exactly at a decision
/// boundary (a claim's value plus or minus the leeway, give or take a second), around the
/// claims' values, anywhere, or at the far end of `SystemTime`.
fn moment(anchors: Vec<i64>, leeway: u64) -> impl Strategy<Value = (u64, u32)> {
    let max = max_system_secs();
    let leeway = leeway as i64;
    let secs = prop_oneof![
        3 => (prop::sample::select(anchors.clone()), prop::sample::select(vec![-1i64, 0, 1, 2]), any::<bool>())
            .prop_map(move |(a, d, up)| {
                let edge = if up { a.saturating_add(leeway) } else { a.saturating_sub(leeway) };
                edge.saturating_add(d).max(0) as u64
            }),
        3 => (prop::sample::select(anchors), -1300i64..=1300)
            .prop_map(|(a, d)| a.saturating_add(d).max(0) as u64),
        1 => 0..=max,
        1 => (0u64..=2000).prop_map(move |d| max - d),
        1 => prop::sample::select(vec![0, 1, i64::MAX as u64, max]),
    ];
    (secs, 0u32..1_000_000_000)
}

struct Case {
    claims: Claims,
    leeway: u64,
    reject_future_iat: bool,
    moments: Vec<(u64, u32)>,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("payload", &self.claims.payload())
            .field("leeway", &self.leeway)
            .field("reject_future_iat", &self.reject_future_iat)
            .field("moments", &self.moments)
            .finish()
    }
}

/// Time claims a few minutes apart around one instant (often the bounds 0 and
/// MAX_NUMERIC_DATE), some fractional: where leeway decisions change.
fn coherent_claims() -> impl Strategy<Value = Claims> {
    let base = prop_oneof![
        1 => Just(0i64),
        1 => Just(MAX_NUMERIC_DATE),
        1 => Just(MAX_NUMERIC_DATE - 600),
        6 => 0..=MAX_NUMERIC_DATE,
    ];
    let near = |base: i64| {
        prop_oneof![
            1 => Just(None),
            6 => (-700i64..=700, prop_oneof![Just(0u32), 1u32..8]).prop_map(move |(d, eighths)| {
                let whole = base.saturating_add(d);
                Some(if eighths == 0 {
                    whole.to_string()
                } else if whole < 0 {
                    // -0.5 and such: negative, out of range.
                    format!("-{}.{}", whole.unsigned_abs().saturating_sub(1), eighths * 125)
                } else {
                    format!("{whole}.{}", eighths * 125)
                })
            }),
        ]
    };
    base.prop_flat_map(move |b| (near(b), near(b), near(b)))
        .prop_map(|(exp, nbf, iat)| Claims { exp, nbf, iat })
}

fn any_claims() -> impl Strategy<Value = Claims> {
    (claim_text(), claim_text(), claim_text()).prop_map(|(exp, nbf, iat)| Claims { exp, nbf, iat })
}

fn case() -> impl Strategy<Value = Case> {
    prop_oneof![3 => coherent_claims(), 2 => any_claims()]
        .prop_flat_map(|claims| {
            (
                Just(claims),
                prop_oneof![Just(0u64), Just(600u64), 0u64..=600],
                any::<bool>(),
            )
        })
        .prop_flat_map(|(claims, leeway, reject_future_iat)| {
            let anchors = claims.anchors();
            (
                Just(claims),
                Just(leeway),
                Just(reject_future_iat),
                prop::collection::vec(moment(anchors, leeway), 1..5),
            )
        })
        .prop_map(|(claims, leeway, reject_future_iat, moments)| Case {
            claims,
            leeway,
            reject_future_iat,
            moments,
        })
}

/// Runs a case against a verifier; every moment is verified twice, so that the cache admits
/// the token and answers the later moments.
fn check_case(case: &Case, verifier: &Verifier) -> Result<(), TestCaseError> {
    let token = token(&case.claims.payload());
    for &(secs, nanos) in &case.moments {
        let at = UNIX_EPOCH
            .checked_add(Duration::new(secs, nanos))
            .expect("within SystemTime");
        let now = i64::try_from(secs).unwrap_or(i64::MAX);
        let expected = model(
            &case.claims,
            i128::from(now),
            i128::from(case.leeway),
            case.reject_future_iat,
        );
        for round in 0..2 {
            let outcome = block_on(verifier.verify_at(&token, at));
            let got = observed(outcome, now, case.leeway).map_err(TestCaseError::fail)?;
            prop_assert_eq!(&got, &expected, "now {} round {}", now, round);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(1024))]

    /// With the default cache: the decision matches the model at every moment.
    #[test]
    fn decisions_match_the_model(case in case()) {
        let verifier = verifier(
            policy(case.leeway, case.reject_future_iat),
            Some(TokenCacheConfig::default()),
        );
        check_case(&case, &verifier)?;
    }

    /// Without the cache: the same decisions (the cache changes nothing).
    #[test]
    fn decisions_match_the_model_uncached(case in case()) {
        let verifier = verifier(policy(case.leeway, case.reject_future_iat), None);
        check_case(&case, &verifier)?;
    }
}

proptest! {
    #![proptest_config(config(128))]

    /// Any cache configuration, extremes included (`max_ttl: Duration::MAX`, `usize::MAX`
    /// entries and token size), builds and verifies without panicking, and decides as the model.
    #[test]
    fn any_cache_configuration_decides_as_the_model(
        case in case(),
        max_entries in prop_oneof![Just(0usize), Just(1), Just(usize::MAX), any::<usize>()],
        max_ttl in prop_oneof![
            Just(Duration::MAX),
            Just(Duration::ZERO),
            Just(Duration::from_nanos(1)),
            Just(Duration::from_secs(i64::MAX as u64)),
            Just(Duration::from_secs(i64::MAX as u64 + 1)),
            (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        ],
        max_token_bytes in prop_oneof![Just(0usize), Just(usize::MAX), any::<usize>()],
    ) {
        let cache = TokenCacheConfig { max_entries, max_ttl, max_token_bytes };
        let verifier = verifier(policy(case.leeway, case.reject_future_iat), Some(cache));
        check_case(&case, &verifier)?;
        let stats = verifier.token_cache_stats();
        prop_assert_eq!(
            stats.is_some(),
            max_entries != 0 && !max_ttl.is_zero(),
            "{:?}",
            stats
        );
    }

    /// A leeway is accepted iff its whole seconds are at most 600; any `Duration` (up to
    /// `Duration::MAX`) is an answer, never a panic.
    #[test]
    fn leeway_bounds_are_errors_not_panics(
        leeway in prop_oneof![
            Just(Duration::MAX),
            Just(MAX_LEEWAY),
            Just(MAX_LEEWAY + Duration::from_nanos(999_999_999)),
            Just(MAX_LEEWAY + Duration::from_secs(1)),
            (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
            (0u64..=1200, 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        ],
    ) {
        let built = Validation::builder([Algorithm::HS256])
            .any_audience()
            .leeway(leeway)
            .build();
        if leeway.as_secs() <= MAX_LEEWAY.as_secs() {
            prop_assert_eq!(built.unwrap().leeway(), Duration::from_secs(leeway.as_secs()));
        } else {
            prop_assert!(
                matches!(built, Err(ConfigError::LeewayTooLarge(s)) if s == leeway.as_secs()),
                "{:?}",
                built.map(|_| ())
            );
        }
    }

    /// Times before the epoch are read as the epoch itself (whole seconds since the epoch are
    /// never negative): the decision at any earlier `SystemTime` is the decision at 0.
    #[test]
    fn times_before_the_epoch_decide_as_the_epoch(
        case in case(),
        before in prop_oneof![
            (1u64..=1300, 0u32..1_000_000_000),
            (0u64..=i64::MAX as u64 - 1, 0u32..1_000_000_000),
        ],
    ) {
        let Some(at) = UNIX_EPOCH.checked_sub(Duration::new(before.0, before.1)) else {
            return Ok(());
        };
        prop_assume!(at < UNIX_EPOCH);
        let verifier = verifier(policy(case.leeway, case.reject_future_iat), None);
        let token = token(&case.claims.payload());
        let expected = model(
            &case.claims,
            0,
            i128::from(case.leeway),
            case.reject_future_iat,
        );
        let outcome = block_on(verifier.verify_at(&token, at));
        let got = observed(outcome, 0, case.leeway).map_err(TestCaseError::fail)?;
        prop_assert_eq!(got, expected);
    }
}

/// Fixed cases at the bounds, as regression anchors for the model.
#[test]
fn bounds() {
    let v = verifier(policy(0, true), Some(TokenCacheConfig::default()));
    let at = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
    let verify = |payload: &str, secs: u64| block_on(v.verify_at(&token(payload), at(secs)));
    // exp == now is expired (now >= exp); one second earlier it is valid.
    assert!(matches!(
        verify(r#"{"exp":100}"#, 100),
        Err(Error::Expired { .. })
    ));
    assert!(verify(r#"{"exp":100}"#, 99).is_ok());
    // Fractional exp is floored, fractional nbf and iat are rounded up.
    assert!(matches!(
        verify(r#"{"exp":100.9}"#, 100),
        Err(Error::Expired { exp: 100, .. })
    ));
    assert!(matches!(
        verify(r#"{"exp":200,"nbf":100.1}"#, 100),
        Err(Error::NotYetValid { nbf: 101, .. })
    ));
    assert!(verify(r#"{"exp":200,"nbf":100.1}"#, 101).is_ok());
    assert!(matches!(
        verify(r#"{"exp":200,"iat":100.1}"#, 100),
        Err(Error::IssuedInFuture { iat: 101, .. })
    ));
    // The largest NumericDate is valid until then; one more is out of range.
    assert!(verify(r#"{"exp":253402300799}"#, i64::MAX as u64).is_err());
    assert!(verify(r#"{"exp":253402300799}"#, 253_402_300_798).is_ok());
    assert!(matches!(
        verify(r#"{"exp":253402300800}"#, 0),
        Err(Error::InvalidClaim { .. })
    ));
    // A number beyond f64 is not a payload the verifier can read.
    assert!(matches!(
        verify(r#"{"exp":1e400}"#, 0),
        Err(Error::Malformed(Malformed::Payload))
    ));
    // At the end of SystemTime nothing overflows.
    let end = UNIX_EPOCH + Duration::new(max_system_secs(), 999_999_999);
    assert!(matches!(
        block_on(v.verify_at(&token(r#"{"exp":0,"nbf":0,"iat":0}"#), end)),
        Err(Error::Expired { .. })
    ));
}

/// `max_ttl: Duration::MAX` with the cache admitting the token: verified, cached and answered
/// from the cache without an overflow in `now + max_ttl`, at the far end of time too.
#[test]
fn max_ttl_duration_max_does_not_overflow() {
    let cache = TokenCacheConfig {
        max_ttl: Duration::MAX,
        ..TokenCacheConfig::default()
    };
    let v = verifier(policy(600, true), Some(cache));
    let token = token(r#"{"exp":253402300799}"#);
    for secs in [0, 1_000, 253_402_300_000] {
        let at = UNIX_EPOCH + Duration::from_secs(secs);
        for _ in 0..3 {
            assert!(block_on(v.verify_at(&token, at)).is_ok());
        }
    }
    let end = UNIX_EPOCH + Duration::from_secs(max_system_secs());
    assert!(block_on(v.verify_at(&token, end)).is_err());
    assert!(block_on(v.verify(&token)).is_ok());
    assert!(v.token_cache_stats().unwrap().hits > 0);
}
