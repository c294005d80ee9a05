//! The one parser of `Authorization: Bearer` credentials (RFC 6750 §2.1), shared by the tower
//! layer, the Lambda authorizer and the command-line tools, so that a header value means the same
//! thing wherever it is read.
//!
//! ```text
//! credentials = "Bearer" 1*SP b64token        ; scheme case-insensitive (RFC 7235 §2.1)
//! b64token    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//! ```
//!
//! Read exactly as servers must read it:
//!
//! - the scheme is everything before the first space; if it is not `Bearer` (in any case) the
//!   value is [`BearerError::NotBearer`]: other credentials, which a server treats as no token;
//! - `Bearer` followed by anything but one or more spaces and exactly one `b64token` (nothing
//!   after it, not even a space) is [`BearerError::Malformed`]: a server answers 400
//!   `invalid_request`.
//!
//! A tab after the scheme is not a space: `Bearer\t<token>` has the scheme `Bearer\t<token>`,
//! so it is another scheme. A comma, which HTTP intermediaries use to join repeated headers
//! into one value, is outside `b64token`, so `Bearer a.b.c,Bearer d.e.f` is malformed.
//!
//! Parsing does one pass over the value and allocates nothing, so it needs no size cap of its
//! own: the value is already bounded by the transport (the HTTP server's header limit, the
//! Lambda event), and the verifier caps the token length before any decoding.
//!
//! [`parse_lenient`] is the deliberately forgiving variant for tools that read pasted text; it is
//! not for servers.

/// The authentication scheme of RFC 6750, as written in challenges.
pub const SCHEME: &str = "Bearer";

/// Why an `Authorization` value holds no bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum BearerError {
    /// Not `Bearer` credentials: another scheme (`Basic ...`), or no scheme at all. A server
    /// treats the request as carrying no bearer token.
    #[error("{}", self.description())]
    NotBearer,
    /// The `Bearer` scheme without exactly one `b64token` after one or more spaces. A server
    /// answers 400 `invalid_request`.
    #[error("{}", self.description())]
    Malformed,
}

impl BearerError {
    /// A description safe to show clients (the `error_description` of a 400 for
    /// [`Malformed`](Self::Malformed)).
    ///
    /// ```
    /// use tollgate_core::bearer::BearerError;
    ///
    /// assert_eq!(
    ///     BearerError::Malformed.description(),
    ///     "the Authorization header must be `Bearer` followed by exactly one token"
    /// );
    /// ```
    pub const fn description(self) -> &'static str {
        match self {
            BearerError::NotBearer => "the Authorization header does not hold Bearer credentials",
            BearerError::Malformed => {
                "the Authorization header must be `Bearer` followed by exactly one token"
            }
        }
    }
}

/// The token of one `Authorization` value, read strictly by RFC 6750 §2.1 (see the
/// [module docs](self)).
///
/// ```
/// use tollgate_core::bearer::{self, BearerError};
///
/// assert_eq!(bearer::parse("Bearer eyJ.eyJ.sig"), Ok("eyJ.eyJ.sig"));
/// assert_eq!(bearer::parse("bearer   eyJ.eyJ.sig"), Ok("eyJ.eyJ.sig"));
/// assert_eq!(bearer::parse("Basic dXNlcjpwYXNz"), Err(BearerError::NotBearer));
/// assert_eq!(bearer::parse("Bearer a b"), Err(BearerError::Malformed));
/// assert_eq!(bearer::parse("Bearer"), Err(BearerError::Malformed));
/// ```
#[inline]
pub fn parse(value: &str) -> Result<&str, BearerError> {
    parse_bytes(value.as_bytes())
}

/// [`parse`] for raw header bytes (`http::HeaderValue::as_bytes`), which may hold bytes that
/// are not UTF-8: those are outside `b64token`, so the token returned is always ASCII.
///
/// ```
/// use tollgate_core::bearer::{self, BearerError};
///
/// assert_eq!(bearer::parse_bytes(b"BEARER a+b/c=="), Ok("a+b/c=="));
/// assert_eq!(bearer::parse_bytes(b"Bearer caf\xc3\xa9"), Err(BearerError::Malformed));
/// ```
#[inline]
pub fn parse_bytes(value: &[u8]) -> Result<&str, BearerError> {
    let token = credentials(value, SCHEME).ok_or(BearerError::NotBearer)?;
    b64token_str(token).ok_or(BearerError::Malformed)
}

/// The credentials after `scheme` in an authorization value, read as [`parse`] reads `Bearer`:
/// the scheme is everything before the first space, matched in any case; the credentials are
/// what follows the spaces after it. `None` for another scheme. Their grammar is **not**
/// checked: a caller checks it ([`b64token_str`]), or hands the bytes to
/// [`TokenVerifier::start_presented`](crate::TokenVerifier::start_presented), which answers a
/// cached token without that check (a cached token verified, so it is a `b64token`).
///
/// The same reading serves every scheme of this shape: `DPoP` credentials (RFC 9449 section
/// 7.1) are a `token68`, the same characters as a `b64token`.
///
/// ```
/// use tollgate_core::bearer;
///
/// assert_eq!(bearer::credentials(b"bearer   eyJ.eyJ.sig", "Bearer"), Some(&b"eyJ.eyJ.sig"[..]));
/// assert_eq!(bearer::credentials(b"DPoP a b", "DPoP"), Some(&b"a b"[..]));
/// assert_eq!(bearer::credentials(b"Basic dXNlcjpwYXNz", "Bearer"), None);
/// assert_eq!(bearer::credentials(b"Bearer", "Bearer"), Some(&b""[..]));
/// ```
#[inline]
pub fn credentials<'v>(value: &'v [u8], scheme: &str) -> Option<&'v [u8]> {
    let (name, rest) = match value.iter().position(|&b| b == b' ') {
        Some(space) => (&value[..space], &value[space + 1..]),
        None => (value, &value[value.len()..]),
    };
    if !name.eq_ignore_ascii_case(scheme.as_bytes()) {
        return None;
    }
    let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    Some(&rest[start..])
}

/// `token` as text when it is a `b64token` ([`is_b64token`]), else `None`.
///
/// ```
/// use tollgate_core::bearer::b64token_str;
///
/// assert_eq!(b64token_str(b"eyJ.eyJ.sig"), Some("eyJ.eyJ.sig"));
/// assert_eq!(b64token_str(b"a b"), None);
/// assert_eq!(b64token_str(b"caf\xc3\xa9"), None);
/// ```
#[inline]
pub fn b64token_str(token: &[u8]) -> Option<&str> {
    if !is_b64token(token) {
        return None;
    }
    // A b64token is ASCII, so this never fails; checked rather than assumed all the same.
    std::str::from_utf8(token).ok()
}

/// The token in text a person pasted into a tool: surrounding whitespace (newlines included)
/// and an optional leading `Bearer` scheme in any case, followed by spaces or tabs, are
/// removed. **Not for servers**: a server must use [`parse`], which refuses what this accepts.
///
/// Never fails, and does not judge the token: a tool shows what it can of whatever it was
/// given. Check the result with [`is_b64token`] to tell the user that a server would refuse it.
///
/// ```
/// use tollgate_core::bearer;
///
/// assert_eq!(bearer::parse_lenient("  Bearer\teyJ.eyJ.sig \n"), "eyJ.eyJ.sig");
/// assert_eq!(bearer::parse_lenient("eyJ.eyJ.sig\n"), "eyJ.eyJ.sig");
/// assert_eq!(bearer::parse_lenient("not a token"), "not a token");
/// assert!(!bearer::is_b64token(bearer::parse_lenient("not a token").as_bytes()));
/// ```
pub fn parse_lenient(text: &str) -> &str {
    let text = text.trim();
    let Some(end) = text.find([' ', '\t']) else {
        return text;
    };
    if text[..end].eq_ignore_ascii_case(SCHEME) {
        text[end..].trim()
    } else {
        text
    }
}

/// Whether `token` is an RFC 6750 `b64token`:
/// `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`. The one grammar check of
/// every token source (header, cookie, query parameter, Lambda event).
///
/// ```
/// use tollgate_core::bearer::is_b64token;
///
/// assert!(is_b64token(b"eyJ.eyJ.sig"));
/// assert!(is_b64token(b"a+b/c=="));
/// assert!(!is_b64token(b"=="));
/// assert!(!is_b64token(b"a=b"));
/// assert!(!is_b64token(b"a,b"));
/// assert!(!is_b64token(b""));
/// ```
#[inline]
pub fn is_b64token(token: &[u8]) -> bool {
    let padding = token.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &token[..token.len() - padding];
    // Branch-free in 32-byte blocks: tokens are about 1 KB and this runs on every request.
    let mut blocks = body.chunks_exact(32);
    let mut outside = 0u8;
    for block in &mut blocks {
        outside |= block.iter().fold(0, |acc, &c| acc | outside_b64token(c));
    }
    for &c in blocks.remainder() {
        outside |= outside_b64token(c);
    }
    !body.is_empty() && outside == 0
}

/// 1 if `c` may not appear in the body of a `b64token`, else 0. Comparisons only, so the loop in
/// [`is_b64token`] compiles to SIMD.
#[inline(always)]
fn outside_b64token(c: u8) -> u8 {
    let alpha = ((c | 0x20).wrapping_sub(b'a') < 26) as u8;
    // '-' '.' '/' (0x2d..=0x2f) and the digits (0x30..=0x39) are one range: one comparison
    // fewer per byte on every request.
    let digit_or_dash_dot_slash = (c.wrapping_sub(b'-') < 13) as u8;
    let punct = (c == b'+') as u8 | (c == b'_') as u8 | (c == b'~') as u8;
    1 ^ (alpha | digit_or_dash_dot_slash | punct)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn b64token_bytes_match_the_grammar() {
        for c in 0..=255u8 {
            let allowed =
                c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
            assert_eq!(outside_b64token(c) == 0, allowed, "byte {c:#04x}");
            // In a long body too: in and after a 32-byte block (not last: `=` may end a token).
            for at in [0, 17, 31, 32, 39] {
                let mut body = vec![b'a'; 41];
                body[at] = c;
                assert_eq!(is_b64token(&body), allowed, "byte {c:#04x} at {at}");
            }
        }
        assert!(is_b64token(b"abc=="));
        assert!(!is_b64token(b"=="));
        assert!(!is_b64token(b""));
    }

    #[test]
    fn scheme_is_case_insensitive_with_one_or_more_spaces() {
        for value in [
            "Bearer abc.def.ghi",
            "bearer abc.def.ghi",
            "BEARER   abc.def.ghi",
            "bEaReR  abc.def.ghi",
        ] {
            assert_eq!(parse(value), Ok("abc.def.ghi"), "{value:?}");
        }
        assert_eq!(parse("Bearer a+b/c=="), Ok("a+b/c=="));
    }

    #[test]
    fn malformed_bearer_credentials() {
        for value in [
            "Bearer",
            "Bearer ",
            "Bearer   ",
            "Bearer a b",
            "Bearer a=b",
            "Bearer ===",
            "Bearer a,b",
            "Bearer a.b.c,Bearer d.e.f",
            "Bearer \"a\"",
            "Bearer a ",
            "Bearer  \ta",
            "Bearer a\t",
        ] {
            assert_eq!(parse(value), Err(BearerError::Malformed), "{value:?}");
        }
        assert_eq!(parse_bytes(b"Bearer \xff"), Err(BearerError::Malformed));
    }

    #[test]
    fn other_schemes_are_not_bearer() {
        for value in [
            "",
            "Basic dXNlcjpwYXNz",
            "Negotiate",
            "abc.def.ghi",
            "Bearer\tabc.def.ghi",
            " Bearer abc.def.ghi",
            "Bearer:abc",
            "Bearerx abc",
            "DPoP abc.def.ghi",
        ] {
            assert_eq!(parse(value), Err(BearerError::NotBearer), "{value:?}");
        }
    }

    #[test]
    fn the_token_is_the_end_of_the_value() {
        // The layer keeps the token as a range of the header value: the token always ends it.
        let value = "Bearer   abc.def";
        let token = parse(value).unwrap();
        assert!(value.ends_with(token));
        assert_eq!(&value[value.len() - token.len()..], token);
    }

    #[test]
    fn lenient_forms() {
        for text in [
            "abc.def.ghi",
            "  abc.def.ghi \n",
            "Bearer abc.def.ghi",
            "bearer abc.def.ghi",
            "BEARER\t abc.def.ghi\r\n",
            "  Bearer   abc.def.ghi  ",
        ] {
            assert_eq!(parse_lenient(text), "abc.def.ghi", "{text:?}");
        }
        assert_eq!(parse_lenient(""), "");
        assert_eq!(parse_lenient("Bearer"), "Bearer");
        assert_eq!(parse_lenient("Basic abc"), "Basic abc");
        assert_eq!(parse_lenient("a b c"), "a b c");
    }

    /// An independent reading of the grammar, byte by byte.
    fn model(value: &[u8]) -> Result<&[u8], BearerError> {
        let scheme_end = value.iter().position(|&b| b == b' ');
        let scheme = &value[..scheme_end.unwrap_or(value.len())];
        if !scheme.eq_ignore_ascii_case(b"bearer") {
            return Err(BearerError::NotBearer);
        }
        let mut token = &value[scheme.len()..];
        while let [b' ', rest @ ..] = token {
            token = rest;
        }
        let body_len = token.len() - token.iter().rev().take_while(|&&b| b == b'=').count();
        let body_ok = body_len > 0
            && token[..body_len]
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || b"-._~+/".contains(&c));
        if body_ok {
            Ok(token)
        } else {
            Err(BearerError::Malformed)
        }
    }

    fn value() -> impl Strategy<Value = Vec<u8>> {
        let scheme = prop_oneof![
            Just(b"Bearer".to_vec()),
            Just(b"bEARER".to_vec()),
            Just(b"Basic".to_vec()),
            Just(b"Bearer\t".to_vec()),
            Just(Vec::new()),
        ];
        let spaces = prop::collection::vec(prop_oneof![Just(b' '), Just(b'\t')], 0..4);
        let token = prop::collection::vec(
            prop_oneof![
                8 => prop::sample::select(b"aZ09-._~+/".to_vec()),
                2 => Just(b'='),
                1 => any::<u8>(),
            ],
            0..40,
        );
        let structured = (scheme, spaces, token).prop_map(|(s, sp, t)| [s, sp, t].concat());
        prop_oneof![3 => structured, 1 => prop::collection::vec(any::<u8>(), 0..40)]
    }

    proptest! {
        #[test]
        fn parse_bytes_is_the_grammar(value in value()) {
            let parsed = parse_bytes(&value).map(str::as_bytes);
            prop_assert_eq!(parsed, model(&value));
            if let Ok(text) = std::str::from_utf8(&value) {
                prop_assert_eq!(parse(text), parse_bytes(&value));
            }
        }
    }
}
