//! Finding the bearer token in a request: the `Authorization` header (RFC 6750 2.1), and opt-in
//! cookie and query-parameter sources.

use http::HeaderMap;
use http::header::{AUTHORIZATION, COOKIE};

/// Why a request's credentials are malformed: answered with 400 `invalid_request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidRequest {
    /// More than one `Authorization` header.
    MultipleAuthorizationHeaders,
    /// The token was sent in more than one way (header, cookie, query), or twice in one way.
    MultipleTokens,
    /// `Authorization: Bearer` without exactly one token in the `b64token` syntax.
    MalformedAuthorization,
    /// The configured cookie or query parameter does not hold a token in the `b64token` syntax.
    MalformedToken,
}

impl InvalidRequest {
    /// A description safe to show clients.
    pub fn description(self) -> &'static str {
        match self {
            InvalidRequest::MultipleAuthorizationHeaders => "more than one Authorization header",
            InvalidRequest::MultipleTokens => "the access token was sent more than once",
            InvalidRequest::MalformedAuthorization => {
                "the Authorization header must be `Bearer` followed by exactly one token"
            }
            InvalidRequest::MalformedToken => "the access token has invalid characters",
        }
    }
}

/// Where the layer looks for a token. The `Authorization: Bearer` header is always read; the
/// others are opt-in.
#[derive(Debug, Clone, Default)]
pub(crate) struct TokenSources {
    pub(crate) cookie: Option<String>,
    pub(crate) query: Option<String>,
}

/// 1 if `c` may not appear in the body of an RFC 6750 `b64token`, else 0:
/// `ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/"`. Comparisons only, so the loop below
/// compiles to SIMD.
#[inline(always)]
fn outside_b64token(c: u8) -> u8 {
    let alpha = ((c | 0x20).wrapping_sub(b'a') < 26) as u8;
    let digit = (c.wrapping_sub(b'0') < 10) as u8;
    // '-' '.' '/' are 0x2d..=0x2f
    let punct = (c.wrapping_sub(b'-') < 3) as u8
        | (c == b'+') as u8
        | (c == b'_') as u8
        | (c == b'~') as u8;
    1 ^ (alpha | digit | punct)
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`. Branch-free in
/// 32-byte blocks (tokens are ~1 KB and this runs on every request).
fn is_b64token_bytes(token: &[u8]) -> bool {
    let padding = token.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &token[..token.len() - padding];
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

fn is_b64token(token: &str) -> bool {
    is_b64token_bytes(token.as_bytes())
}

/// Parses one `Authorization` value: `Ok(None)` for another scheme, `Err` for a malformed
/// bearer credential.
fn bearer_from_authorization(value: &http::HeaderValue) -> Result<Option<&str>, InvalidRequest> {
    let bytes = value.as_bytes();
    let (scheme, rest) = match bytes.iter().position(|&b| b == b' ') {
        Some(space) => (&bytes[..space], &bytes[space + 1..]),
        None => (bytes, &bytes[bytes.len()..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Ok(None);
    }
    let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    let token = &rest[start..];
    if !is_b64token_bytes(token) {
        return Err(InvalidRequest::MalformedAuthorization);
    }
    // Every byte is ASCII (checked above), so this cannot fail.
    std::str::from_utf8(token)
        .map(Some)
        .map_err(|_| InvalidRequest::MalformedAuthorization)
}

fn from_cookies<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, InvalidRequest> {
    let mut found = None;
    for header in headers.get_all(COOKIE) {
        let Ok(header) = header.to_str() else {
            continue;
        };
        for pair in header.split(';') {
            let Some((key, value)) = pair.trim().split_once('=') else {
                continue;
            };
            if key != name {
                continue;
            }
            if found.is_some() {
                return Err(InvalidRequest::MultipleTokens);
            }
            let value = value.trim_matches('"');
            if !is_b64token(value) {
                return Err(InvalidRequest::MalformedToken);
            }
            found = Some(value);
        }
    }
    Ok(found)
}

fn from_query<'q>(query: Option<&'q str>, name: &str) -> Result<Option<&'q str>, InvalidRequest> {
    let mut found = None;
    for pair in query.unwrap_or("").split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != name {
            continue;
        }
        if found.is_some() {
            return Err(InvalidRequest::MultipleTokens);
        }
        if !is_b64token(value) {
            return Err(InvalidRequest::MalformedToken);
        }
        found = Some(value);
    }
    Ok(found)
}

/// A token found in a request, held without borrowing the request: a (reference-counted) clone
/// of the `Authorization` header value, or a copy for the rarer cookie and query sources.
#[derive(Debug, Clone)]
pub(crate) enum FoundToken {
    Header(http::HeaderValue, std::ops::Range<usize>),
    Owned(String),
}

impl FoundToken {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            FoundToken::Header(value, range) => value
                .as_bytes()
                .get(range.clone())
                .and_then(|token| std::str::from_utf8(token).ok())
                .unwrap_or_default(),
            FoundToken::Owned(token) => token,
        }
    }
}

/// Detaches `token`, found by [`find_token`] in `headers` (or the query), from the request so the
/// request can be changed afterwards.
pub(crate) fn own_token(headers: &HeaderMap, token: &str) -> FoundToken {
    if let Some(value) = headers.get(AUTHORIZATION) {
        let bytes = value.as_bytes();
        let start = (token.as_ptr() as usize).wrapping_sub(bytes.as_ptr() as usize);
        if start <= bytes.len() && start + token.len() <= bytes.len() {
            return FoundToken::Header(value.clone(), start..start + token.len());
        }
    }
    FoundToken::Owned(token.to_owned())
}

/// Finds the one bearer token of a request: `Ok(None)` when there is none.
pub(crate) fn find_token<'r>(
    sources: &TokenSources,
    headers: &'r HeaderMap,
    query: Option<&'r str>,
) -> Result<Option<&'r str>, InvalidRequest> {
    let mut authorization = headers.get_all(AUTHORIZATION).iter();
    let header_token = match (authorization.next(), authorization.next()) {
        (None, _) => None,
        (Some(value), None) => bearer_from_authorization(value)?,
        (Some(_), Some(_)) => return Err(InvalidRequest::MultipleAuthorizationHeaders),
    };
    let cookie_token = match &sources.cookie {
        Some(name) => from_cookies(headers, name)?,
        None => None,
    };
    let query_token = match &sources.query {
        Some(name) => from_query(query, name)?,
        None => None,
    };
    let mut tokens = [header_token, cookie_token, query_token]
        .into_iter()
        .flatten();
    match (tokens.next(), tokens.next()) {
        (token, None) => Ok(token),
        (Some(_), Some(_)) => Err(InvalidRequest::MultipleTokens),
        (None, Some(_)) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
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
                assert_eq!(is_b64token_bytes(&body), allowed, "byte {c:#04x} at {at}");
            }
        }
        assert!(is_b64token_bytes(b"abc=="));
        assert!(!is_b64token_bytes(b"=="));
        assert!(!is_b64token_bytes(b""));
    }

    fn headers(values: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in values {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn header_only(values: &[(&'static str, &str)]) -> Result<Option<String>, InvalidRequest> {
        let map = headers(values);
        find_token(&TokenSources::default(), &map, None).map(|t| t.map(str::to_owned))
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_with_one_or_more_spaces() {
        for value in [
            "Bearer abc.def.ghi",
            "bearer abc.def.ghi",
            "BEARER   abc.def.ghi",
        ] {
            assert_eq!(
                header_only(&[("authorization", value)]),
                Ok(Some("abc.def.ghi".into())),
                "{value}"
            );
        }
        assert_eq!(
            header_only(&[("authorization", "Bearer a+b/c==")]),
            Ok(Some("a+b/c==".into()))
        );
    }

    #[test]
    fn malformed_bearer_credentials_are_invalid_requests() {
        for value in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a=b",
            "Bearer ===",
            "Bearer a,b",
            "Bearer \"a\"",
        ] {
            assert_eq!(
                header_only(&[("authorization", value)]),
                Err(InvalidRequest::MalformedAuthorization),
                "{value:?}"
            );
        }
    }

    #[test]
    fn other_schemes_are_no_bearer_credentials() {
        assert_eq!(
            header_only(&[("authorization", "Basic dXNlcjpwYXNz")]),
            Ok(None)
        );
        assert_eq!(header_only(&[("authorization", "Negotiate")]), Ok(None));
        assert_eq!(header_only(&[]), Ok(None));
    }

    #[test]
    fn two_authorization_headers_are_refused() {
        let result = header_only(&[("authorization", "Bearer a"), ("authorization", "Bearer a")]);
        assert_eq!(result, Err(InvalidRequest::MultipleAuthorizationHeaders));
    }

    #[test]
    fn opt_in_cookie_and_query() {
        let sources = TokenSources {
            cookie: Some("at".into()),
            query: Some("access_token".into()),
        };
        let map = headers(&[("cookie", "theme=dark; at=abc.def.ghi")]);
        assert_eq!(find_token(&sources, &map, None), Ok(Some("abc.def.ghi")));
        let empty = HeaderMap::new();
        assert_eq!(
            find_token(&sources, &empty, Some("x=1&access_token=t.o.k")),
            Ok(Some("t.o.k"))
        );
        assert_eq!(
            find_token(&sources, &map, Some("access_token=t.o.k")),
            Err(InvalidRequest::MultipleTokens),
            "cookie and query at once"
        );
        let both = headers(&[
            ("authorization", "Bearer a.b.c"),
            ("cookie", "at=abc.def.ghi"),
        ]);
        assert_eq!(
            find_token(&sources, &both, None),
            Err(InvalidRequest::MultipleTokens)
        );
        assert_eq!(
            find_token(&sources, &empty, Some("access_token=a&access_token=b")),
            Err(InvalidRequest::MultipleTokens)
        );
        // Sources not enabled are ignored.
        assert_eq!(
            find_token(&TokenSources::default(), &map, Some("access_token=t")),
            Ok(None)
        );
    }
}
