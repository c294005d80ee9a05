//! Finding the bearer token in a request: the `Authorization` header (RFC 6750 2.1), and opt-in
//! cookie and query-parameter sources.

use http::HeaderMap;
use http::header::{AUTHORIZATION, COOKIE};
use tollgate_core::bearer::{self, BearerError};

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
            InvalidRequest::MalformedAuthorization => BearerError::Malformed.description(),
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

/// The token of one `Authorization` value (the core's RFC 6750 parser): `Ok(None)` for another
/// scheme, `Err` for a malformed bearer credential.
#[inline]
fn bearer_from_authorization(value: &http::HeaderValue) -> Result<Option<&str>, InvalidRequest> {
    match bearer::parse_bytes(value.as_bytes()) {
        Ok(token) => Ok(Some(token)),
        Err(BearerError::NotBearer) => Ok(None),
        Err(_) => Err(InvalidRequest::MalformedAuthorization),
    }
}

fn is_b64token(token: &str) -> bool {
    bearer::is_b64token(token.as_bytes())
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

/// Where a request carried its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenLocation {
    /// `Authorization: Bearer <token>`.
    Authorization,
    /// The configured cookie.
    Cookie,
    /// The configured query parameter.
    Query,
}

impl TokenLocation {
    /// The name recorded in the layer's span.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TokenLocation::Authorization => "authorization",
            TokenLocation::Cookie => "cookie",
            TokenLocation::Query => "query",
        }
    }
}

/// The token of a request and where it was found, borrowed from the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found<'r> {
    pub(crate) token: &'r str,
    pub(crate) location: TokenLocation,
}

impl<'r> Found<'r> {
    fn new(token: &'r str, location: TokenLocation) -> Self {
        Found { token, location }
    }
}

/// Finds the one bearer token of a request: `Ok(None)` when there is none.
#[inline]
pub(crate) fn find_token<'r>(
    sources: &TokenSources,
    headers: &'r HeaderMap,
    query: Option<&'r str>,
) -> Result<Option<Found<'r>>, InvalidRequest> {
    let mut authorization = headers.get_all(AUTHORIZATION).iter();
    let header_token = match (authorization.next(), authorization.next()) {
        (None, _) => None,
        (Some(value), None) => bearer_from_authorization(value)?,
        (Some(_), Some(_)) => return Err(InvalidRequest::MultipleAuthorizationHeaders),
    };
    let header_token = header_token.map(|token| Found::new(token, TokenLocation::Authorization));
    let cookie_token = match &sources.cookie {
        Some(name) => from_cookies(headers, name)?.map(|t| Found::new(t, TokenLocation::Cookie)),
        None => None,
    };
    let query_token = match &sources.query {
        Some(name) => from_query(query, name)?.map(|t| Found::new(t, TokenLocation::Query)),
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

    fn headers(values: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in values {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn header_only(values: &[(&'static str, &str)]) -> Result<Option<String>, InvalidRequest> {
        let map = headers(values);
        find_token(&TokenSources::default(), &map, None).map(|t| t.map(|t| t.token.to_owned()))
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
    fn header_tokens_say_where_they_were_found() {
        let sources = TokenSources {
            cookie: Some("at".into()),
            query: Some("access_token".into()),
        };
        let map = headers(&[("authorization", "Bearer  abc.def.ghi")]);
        assert_eq!(
            find_token(&sources, &map, Some("x=1")),
            Ok(Some(Found {
                token: "abc.def.ghi",
                location: TokenLocation::Authorization
            }))
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
        assert_eq!(
            find_token(&sources, &map, None),
            Ok(Some(Found {
                token: "abc.def.ghi",
                location: TokenLocation::Cookie
            }))
        );
        let empty = HeaderMap::new();
        assert_eq!(
            find_token(&sources, &empty, Some("x=1&access_token=t.o.k")),
            Ok(Some(Found {
                token: "t.o.k",
                location: TokenLocation::Query
            }))
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
