//! Property tests: the `Authorization` header through `AuthLayer`, for arbitrary header values.
//!
//! The grammar the layer implements (the shared parser `tollgate_core::bearer`, used by
//! crates/tollgate/src/token.rs), which is RFC 6750 2.1:
//!
//! ```text
//! credentials = "Bearer" 1*SP b64token        ; scheme case-insensitive
//! b64token    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//! ```
//!
//! - the scheme is everything before the first space; another scheme is no token (401, bare
//!   challenge);
//! - `Bearer` followed by anything but one or more spaces and exactly one `b64token` is a
//!   malformed request (400);
//! - a well-formed credential is verified: 200 for the valid token, 401 for anything else;
//! - two `Authorization` headers are a malformed request (400), whatever they hold.
//!
//! The model below computes the exact status for any value; the answer is always one of
//! 200/400/401, and 200 only for `Bearer` + spaces + the valid token, byte for byte.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderValue, Request, Response};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::json;
use tollgate::AuthLayer;
use tollgate::core::bearer::{self, BearerError};
use tollgate::core::{
    Algorithm, CryptoProvider, KeySet, TokenCacheConfig, Validation, VerificationKey, Verifier,
};
use tower::{Layer as _, ServiceExt as _};

const SECRET: &[u8] = b"prop-bearer secret, thirty-two bytes or more";

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sign(claims: &serde_json::Value) -> String {
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

/// The one valid token of these tests.
fn valid_token() -> String {
    sign(&json!({"sub": "user-1", "aud": "api", "exp": 4_102_444_800u64}))
}

fn verifier() -> Verifier {
    let policy = Validation::builder([Algorithm::HS256])
        .audience("api")
        .build()
        .unwrap();
    Verifier::builder(
        policy,
        KeySet::from(VerificationKey::hmac(SECRET).unwrap()),
        CryptoProvider::default(),
    )
    .token_cache(Some(TokenCacheConfig::default()))
    .build()
}

struct Harness {
    runtime: tokio::runtime::Runtime,
    layer: AuthLayer,
}

impl Harness {
    fn new() -> Self {
        Harness {
            runtime: tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
            layer: AuthLayer::new(verifier()),
        }
    }

    /// The status for a request with these `Authorization` values, and whether the inner
    /// service ran.
    fn status(&self, values: &[HeaderValue]) -> (u16, Option<HeaderValue>) {
        let inner = tower::service_fn(|_: Request<String>| async {
            Ok::<_, Infallible>(Response::new("inner".to_owned()))
        });
        let service = self.layer.layer(inner);
        let mut request = Request::builder().uri("/");
        for value in values {
            request = request.header(http::header::AUTHORIZATION, value.clone());
        }
        let request = request.body(String::new()).unwrap();
        let response = self.runtime.block_on(service.oneshot(request)).unwrap();
        let challenge = response
            .headers()
            .get(http::header::WWW_AUTHENTICATE)
            .cloned();
        (response.status().as_u16(), challenge)
    }
}

fn is_b64token(token: &[u8]) -> bool {
    let body_len = token.len() - token.iter().rev().take_while(|&&b| b == b'=').count();
    body_len > 0
        && token[..body_len]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"-._~+/".contains(&c))
}

/// The exact status the layer must answer for one `Authorization` value.
fn expected_status(value: &[u8], valid: &str) -> u16 {
    let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
        Some(space) => (&value[..space], &value[space + 1..]),
        None => (value, &value[value.len()..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return 401;
    }
    let token = &rest[rest.iter().take_while(|&&b| b == b' ').count()..];
    if !is_b64token(token) {
        400
    } else if token == valid.as_bytes() {
        200
    } else {
        401
    }
}

/// The status the core's shared parser (`tollgate_core::bearer`, which the layer, the Lambda
/// authorizer and the CLI all use) implies for one value.
fn core_status(value: &[u8], valid: &str) -> u16 {
    match bearer::parse_bytes(value) {
        Ok(token) if token == valid => 200,
        Ok(_) | Err(BearerError::NotBearer) => 401,
        Err(_) => 400,
    }
}

/// `Bearer` + one or more spaces + the valid token, byte for byte (scheme in any case).
fn is_well_formed_valid(value: &[u8], valid: &str) -> bool {
    value.len() > 6 && value[..6].eq_ignore_ascii_case(b"bearer") && value[6] == b' ' && {
        let rest = &value[6..];
        let token = &rest[rest.iter().take_while(|&&b| b == b' ').count()..];
        token == valid.as_bytes()
    }
}

/// A scheme: `bearer` in random case, other schemes, near misses.
fn scheme() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(any::<bool>(), 6).prop_map(|upper| {
            "bearer"
                .chars()
                .zip(upper)
                .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
                .collect()
        }),
        1 => prop::sample::select(vec![
            "Basic", "Bearer:", "Bearerx", "Beare", "Bearer\t", "\tBearer", "Bear er", "",
            "Token", "Bearer,", "Bearer=", "DPoP", "bearer\u{0}",
        ])
        .prop_map(str::to_owned),
    ]
}

/// What goes between scheme and token.
fn separator() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just(" ".to_owned()),
        2 => (2usize..6).prop_map(|n| " ".repeat(n)),
        1 => prop::sample::select(vec!["", "\t", " \t", "\t ", ",", ": ", " =", "  \t "])
            .prop_map(str::to_owned),
    ]
}

/// The token: the valid one, edited, padded, doubled, with something around it.
fn token_text(valid: String) -> impl Strategy<Value = String> {
    let edited = {
        let valid = valid.clone();
        (any::<usize>(), any::<char>()).prop_map(move |(at, c)| {
            let mut chars: Vec<char> = valid.chars().collect();
            let at = at % chars.len();
            chars[at] = c;
            chars.into_iter().collect::<String>()
        })
    };
    let wrapped = {
        let valid = valid.clone();
        (
            prop::sample::select(vec!["", " ", "\t", "\"", "=", "==", ",", "a", "."]),
            prop::sample::select(vec!["", " ", "\t", "\"", "=", "==", ",", "a", ".", " x"]),
        )
            .prop_map(move |(before, after)| format!("{before}{valid}{after}"))
    };
    prop_oneof![
        4 => Just(valid.clone()),
        2 => edited,
        2 => wrapped,
        1 => Just(format!("{valid} {valid}")),
        1 => Just(String::new()),
        1 => "[A-Za-z0-9._~+/=-]{1,40}",
    ]
}

/// Header values: structured `scheme sep token` ones, and arbitrary bytes a header value can
/// hold (visible ASCII, space, tab, obs-text).
fn header_value(valid: String) -> impl Strategy<Value = HeaderValue> {
    let structured = (scheme(), separator(), token_text(valid))
        .prop_map(|(s, sep, t)| format!("{s}{sep}{t}").into_bytes());
    let arbitrary = prop::collection::vec(
        prop_oneof![
            8 => 0x20u8..0x7f,
            1 => Just(b'\t'),
            1 => 0x80u8..=0xff,
        ],
        0..48,
    );
    prop_oneof![4 => structured, 1 => arbitrary].prop_filter_map("a valid header value", |bytes| {
        HeaderValue::from_bytes(&bytes).ok()
    })
}

proptest! {
    #![proptest_config(config(512))]

    /// (a), (b), (d): for any one `Authorization` value the status is exactly the model's; it is
    /// 200 only for `Bearer` + spaces + the valid token; it is always 200, 400 or 401; every
    /// refusal carries a Bearer challenge.
    #[test]
    fn one_authorization_header(value in header_value(valid_token())) {
        let harness = Harness::new();
        let valid = valid_token();
        let (status, challenge) = harness.status(std::slice::from_ref(&value));
        prop_assert!(matches!(status, 200 | 400 | 401), "{value:?}: {status}");
        prop_assert_eq!(status, expected_status(value.as_bytes(), &valid), "{:?}", value);
        prop_assert_eq!(status, core_status(value.as_bytes(), &valid), "core parser: {:?}", value);
        prop_assert_eq!(status == 200, is_well_formed_valid(value.as_bytes(), &valid), "{:?}", value);
        if status != 200 {
            let challenge = challenge.expect("a refusal carries WWW-Authenticate");
            prop_assert!(challenge.as_bytes().starts_with(b"Bearer"), "{challenge:?}");
        }
    }

    /// (a), (b) with the valid token in the cache, where a `Bearer` token is looked up before
    /// its grammar is checked: still exactly the model's status, whatever the value (an edited
    /// or wrapped spelling of the cached token included).
    #[test]
    fn one_authorization_header_with_the_token_cached(value in header_value(valid_token())) {
        let harness = Harness::new();
        let valid = valid_token();
        let cached = HeaderValue::try_from(format!("Bearer {valid}")).unwrap();
        for _ in 0..2 {
            prop_assert_eq!(harness.status(std::slice::from_ref(&cached)).0, 200);
        }
        let (status, _) = harness.status(std::slice::from_ref(&value));
        prop_assert_eq!(status, expected_status(value.as_bytes(), &valid), "{:?}", value);
        prop_assert_eq!(harness.status(std::slice::from_ref(&cached)).0, 200, "still cached");
    }

    /// (a): every well-formed spelling of the valid token is 200, answered again from the cache.
    #[test]
    fn well_formed_credentials_are_accepted(
        scheme in prop::collection::vec(any::<bool>(), 6),
        spaces in 1usize..8,
    ) {
        let harness = Harness::new();
        let scheme: String = "bearer"
            .chars()
            .zip(scheme)
            .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
            .collect();
        let value = HeaderValue::try_from(format!("{scheme}{}{}", " ".repeat(spaces), valid_token()))
            .unwrap();
        for _ in 0..3 {
            prop_assert_eq!(harness.status(std::slice::from_ref(&value)).0, 200);
        }
    }

    /// (c): two `Authorization` headers are 400, whatever they hold (the valid token twice
    /// included).
    #[test]
    fn two_authorization_headers_are_a_bad_request(
        first in header_value(valid_token()),
        second in header_value(valid_token()),
        same in any::<bool>(),
    ) {
        let harness = Harness::new();
        let second = if same { first.clone() } else { second };
        let (status, _) = harness.status(&[first.clone(), second.clone()]);
        prop_assert_eq!(status, 400, "{:?} / {:?}", first, second);
    }
}

/// Fixed cases of the grammar, as regression anchors.
#[test]
fn grammar_anchors() {
    let harness = Harness::new();
    let valid = valid_token();
    let cases: Vec<(String, u16)> = vec![
        (format!("Bearer {valid}"), 200),
        (format!("bEaReR {valid}"), 200),
        (format!("Bearer   {valid}"), 200),
        (format!("Bearer\t{valid}"), 401),
        (format!("Bearer {valid} "), 400),
        (format!("Bearer {valid}="), 401),
        (format!(" Bearer {valid}"), 401),
        (format!("Bearer {valid} {valid}"), 400),
        ("Bearer".to_owned(), 400),
        ("Bearer ".to_owned(), 400),
        ("Basic dXNlcjpwYXNz".to_owned(), 401),
        (String::new(), 401),
    ];
    for (value, status) in cases {
        let header = HeaderValue::try_from(value.as_str()).unwrap();
        assert_eq!(harness.status(&[header]).0, status, "{value:?}");
        assert_eq!(
            expected_status(value.as_bytes(), &valid),
            status,
            "model: {value:?}"
        );
        assert_eq!(
            core_status(value.as_bytes(), &valid),
            status,
            "core parser: {value:?}"
        );
    }
    assert_eq!(harness.status(&[]).0, 401, "no header");
}
