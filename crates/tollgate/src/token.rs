//! Finding the access token in a request: the `Authorization` header with the `Bearer`
//! (RFC 6750 2.1) or `DPoP` (RFC 9449 7.1) scheme, opt-in cookie and query-parameter sources, and
//! the `DPoP` proof header.

use std::fmt;

use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, HeaderName};
use tollgate_core::bearer::{self, BearerError};
use tollgate_core::dpop::{DpopError, MAX_PROOF_BYTES};

/// The `DPoP` proof header (RFC 9449 4.1).
const DPOP_HEADER: HeaderName = HeaderName::from_static("dpop");

/// How a request presented its access token: the authentication scheme of its `Authorization`
/// header (a cookie or query-parameter token is a bearer token).
///
/// ```
/// use tollgate::AuthScheme;
///
/// assert_eq!(AuthScheme::Dpop.as_str(), "DPoP");
/// assert_eq!(AuthScheme::Bearer.to_string(), "Bearer");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthScheme {
    /// `Authorization: Bearer <token>` (RFC 6750), or a token from a cookie or query parameter.
    Bearer,
    /// `Authorization: DPoP <token>` with a `DPoP` proof header (RFC 9449).
    Dpop,
}

impl AuthScheme {
    /// The scheme name as written in `Authorization` and `WWW-Authenticate`: `Bearer`, `DPoP`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuthScheme::Bearer => bearer::SCHEME,
            AuthScheme::Dpop => "DPoP",
        }
    }
}

impl fmt::Display for AuthScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    /// `Authorization: DPoP` without exactly one token in the `token68` syntax (the same
    /// characters as `b64token`).
    MalformedDpopAuthorization,
    /// The configured cookie or query parameter does not hold a token in the `b64token` syntax.
    MalformedToken,
    /// The token arrived over plain HTTP where the layer requires HTTPS (RFC 6750 5.3,
    /// [`AuthLayerBuilder::require_https`](crate::AuthLayerBuilder::require_https)).
    InsecureTransport,
}

impl InvalidRequest {
    /// A description safe to show clients.
    pub fn description(self) -> &'static str {
        match self {
            InvalidRequest::MultipleAuthorizationHeaders => "more than one Authorization header",
            InvalidRequest::MultipleTokens => "the access token was sent more than once",
            InvalidRequest::MalformedAuthorization => BearerError::Malformed.description(),
            InvalidRequest::MalformedDpopAuthorization => {
                "the Authorization header must be `DPoP` followed by exactly one token"
            }
            InvalidRequest::MalformedToken => "the access token has invalid characters",
            InvalidRequest::InsecureTransport => "the token must be sent over HTTPS",
        }
    }

    /// A stable, snake_case name of the problem, for logs and metrics
    /// ([`AuthError::reason`](crate::AuthError::reason)).
    ///
    /// ```
    /// assert_eq!(tollgate::InvalidRequest::InsecureTransport.reason(), "insecure_transport");
    /// ```
    pub fn reason(self) -> &'static str {
        match self {
            InvalidRequest::MultipleAuthorizationHeaders => "multiple_authorization_headers",
            InvalidRequest::MultipleTokens => "multiple_tokens",
            InvalidRequest::MalformedAuthorization => "malformed_authorization",
            InvalidRequest::MalformedDpopAuthorization => "malformed_dpop_authorization",
            InvalidRequest::MalformedToken => "malformed_token",
            InvalidRequest::InsecureTransport => "insecure_transport",
        }
    }
}

/// Where the layer looks for a token. The `Authorization` header is always read; the others are
/// opt-in.
#[derive(Debug, Clone, Default)]
pub(crate) struct TokenSources {
    pub(crate) cookie: Option<String>,
    pub(crate) query: Option<String>,
    /// Whether `Authorization: DPoP` is read (DPoP allowed or required). When not, it is another
    /// scheme, as `Basic` is: no token.
    pub(crate) dpop: bool,
}

/// The token of one `Authorization` value and its scheme (the core's RFC 6750 reading, then the
/// `DPoP` scheme): `Ok(None)` for another scheme, `Err` for a malformed credential. A `Bearer`
/// token is returned [`Presented::Unchecked`] when `defer` says its grammar may be checked after
/// the token cache.
#[inline]
fn from_authorization(
    value: &http::HeaderValue,
    dpop: bool,
    defer: bool,
) -> Result<Option<(AuthScheme, Presented<'_>)>, InvalidRequest> {
    let value = value.as_bytes();
    if let Some(token) = bearer::credentials(value, bearer::SCHEME) {
        let token = if defer {
            Presented::Unchecked(token)
        } else {
            Presented::Unchecked(token).checked()?
        };
        return Ok(Some((AuthScheme::Bearer, token)));
    }
    if !dpop {
        return Ok(None);
    }
    // `"DPoP" 1*SP token68` (RFC 9449 7.1): `token68` is the same grammar as `b64token`.
    match bearer::credentials(value, AuthScheme::Dpop.as_str()) {
        Some(token) => match bearer::b64token_str(token) {
            Some(token) => Ok(Some((AuthScheme::Dpop, Presented::Checked(token)))),
            None => Err(InvalidRequest::MalformedDpopAuthorization),
        },
        None => Ok(None),
    }
}

/// The one `DPoP` proof of a request (RFC 9449 4.3 check 1): exactly one `DPoP` header, holding
/// one JWT. A comma means two proofs folded into one value by an intermediary (a compact JWS
/// never contains one).
pub(crate) fn find_proof(headers: &HeaderMap) -> Result<&str, DpopError> {
    let mut values = headers.get_all(DPOP_HEADER).iter();
    let value = match (values.next(), values.next()) {
        (None, _) => return Err(DpopError::MissingProof),
        (Some(value), None) => value,
        (Some(_), Some(_)) => return Err(DpopError::MultipleProofs),
    };
    let bytes = value.as_bytes();
    // The core caps the proof again; capped here before this scan.
    if bytes.len() > MAX_PROOF_BYTES {
        return Err(DpopError::Malformed(format!(
            "the proof is {} bytes, more than {MAX_PROOF_BYTES}",
            bytes.len()
        )));
    }
    if bytes.contains(&b',') {
        return Err(DpopError::MultipleProofs);
    }
    // Visible ASCII only: what the core then parses is a compact JWS (base64url and dots).
    if bytes.is_empty() || !bytes.iter().all(|b| b.is_ascii_graphic()) {
        return Err(DpopError::Malformed(
            "the DPoP header is empty or has characters outside a compact JWS".into(),
        ));
    }
    value
        .to_str()
        .map_err(|_| DpopError::Malformed("the DPoP header is not text".into()))
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
    /// `Authorization: Bearer <token>` or `Authorization: DPoP <token>`.
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

/// The token of a request, where it was found and with which scheme, borrowed from the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found<'r> {
    pub(crate) token: Presented<'r>,
    pub(crate) location: TokenLocation,
    pub(crate) scheme: AuthScheme,
}

impl<'r> Found<'r> {
    fn new(token: &'r str, location: TokenLocation) -> Self {
        Found {
            token: Presented::Checked(token),
            location,
            scheme: AuthScheme::Bearer,
        }
    }
}

/// A found token: checked to be a `b64token`, or (an `Authorization: Bearer` token, the only
/// token of the request) not yet, so that a token-cache hit can skip the check
/// ([`TokenVerifier::start_presented`](tollgate_core::TokenVerifier::start_presented)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presented<'r> {
    /// A `b64token`.
    Checked(&'r str),
    /// The credentials of `Authorization: Bearer`, their grammar not checked yet.
    Unchecked(&'r [u8]),
}

impl<'r> Presented<'r> {
    /// The token checked to be a `b64token`: the refusal of a malformed one is that of the
    /// `Authorization` header, the only source whose check is deferred.
    pub(crate) fn checked(self) -> Result<Presented<'r>, InvalidRequest> {
        self.text().map(Presented::Checked)
    }

    /// The token as text, checked to be a `b64token`.
    pub(crate) fn text(self) -> Result<&'r str, InvalidRequest> {
        match self {
            Presented::Checked(token) => Ok(token),
            Presented::Unchecked(bytes) => {
                bearer::b64token_str(bytes).ok_or(InvalidRequest::MalformedAuthorization)
            }
        }
    }
}

/// Finds the one access token of a request: `Ok(None)` when there is none. Two `Authorization`
/// headers (e.g. one `Bearer`, one `DPoP`) are refused whatever their schemes (RFC 9449 7.2).
#[inline]
pub(crate) fn find_token<'r>(
    sources: &TokenSources,
    headers: &'r HeaderMap,
    query: Option<&'r str>,
) -> Result<Option<Found<'r>>, InvalidRequest> {
    let mut authorization = headers.get_all(AUTHORIZATION).iter();
    // With other sources on, every token is checked here, so that the first problem found is
    // still the one reported; alone, the header's token waits for the cache.
    let defer = sources.cookie.is_none() && sources.query.is_none();
    let header_token = match (authorization.next(), authorization.next()) {
        (None, _) => None,
        (Some(value), None) => from_authorization(value, sources.dpop, defer)?,
        (Some(_), Some(_)) => return Err(InvalidRequest::MultipleAuthorizationHeaders),
    };
    let header_token = header_token.map(|(scheme, token)| Found {
        token,
        location: TokenLocation::Authorization,
        scheme,
    });
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
        // As the layer reads it: a deferred grammar check is made here.
        find_token(&TokenSources::default(), &map, None)
            .and_then(|t| t.map(|t| t.token.text().map(str::to_owned)).transpose())
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
            dpop: false,
        };
        let map = headers(&[("authorization", "Bearer  abc.def.ghi")]);
        assert_eq!(
            find_token(&sources, &map, Some("x=1")),
            Ok(Some(Found {
                token: Presented::Checked("abc.def.ghi"),
                location: TokenLocation::Authorization,
                scheme: AuthScheme::Bearer,
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

    fn scheme_only(value: &str) -> Result<Option<(AuthScheme, String)>, InvalidRequest> {
        let map = headers(&[("authorization", value)]);
        let sources = TokenSources {
            dpop: true,
            ..TokenSources::default()
        };
        find_token(&sources, &map, None).and_then(|t| {
            t.map(|t| Ok((t.scheme, t.token.text()?.to_owned())))
                .transpose()
        })
    }

    #[test]
    fn without_dpop_the_dpop_scheme_is_another_scheme() {
        for value in ["DPoP abc.def.ghi", "DPoP a b", "DPoP"] {
            assert_eq!(
                header_only(&[("authorization", value)]),
                Ok(None),
                "{value:?}"
            );
        }
    }

    #[test]
    fn dpop_scheme_is_case_insensitive_with_one_or_more_spaces() {
        for value in ["DPoP abc.def.ghi", "dpop abc.def.ghi", "DPOP   abc.def.ghi"] {
            assert_eq!(
                scheme_only(value),
                Ok(Some((AuthScheme::Dpop, "abc.def.ghi".into()))),
                "{value}"
            );
        }
        assert_eq!(
            scheme_only("Bearer abc.def.ghi"),
            Ok(Some((AuthScheme::Bearer, "abc.def.ghi".into())))
        );
        // Not the DPoP scheme: other credentials, as for Bearer.
        for value in ["DPoPx abc", "DPoP\tabc", "xDPoP abc"] {
            assert_eq!(scheme_only(value), Ok(None), "{value:?}");
        }
    }

    #[test]
    fn malformed_dpop_credentials_are_invalid_requests() {
        for value in [
            "DPoP",
            "DPoP ",
            "DPoP a b",
            "DPoP a=b",
            "DPoP a,b",
            "DPoP a.b.c,DPoP d.e.f",
            "DPoP \"a\"",
            "DPoP a ",
        ] {
            assert_eq!(
                scheme_only(value),
                Err(InvalidRequest::MalformedDpopAuthorization),
                "{value:?}"
            );
        }
    }

    #[test]
    fn bearer_and_dpop_authorization_headers_are_refused_together() {
        let result = header_only(&[
            ("authorization", "Bearer a.b.c"),
            ("authorization", "DPoP a.b.c"),
        ]);
        assert_eq!(result, Err(InvalidRequest::MultipleAuthorizationHeaders));
    }

    #[test]
    fn exactly_one_dpop_proof_header() {
        assert_eq!(find_proof(&headers(&[])), Err(DpopError::MissingProof));
        assert_eq!(find_proof(&headers(&[("dpop", "a.b.c")])), Ok("a.b.c"),);
        assert_eq!(
            find_proof(&headers(&[("dpop", "a.b.c"), ("DPoP", "a.b.c")])),
            Err(DpopError::MultipleProofs)
        );
        assert_eq!(
            find_proof(&headers(&[("dpop", "a.b.c,d.e.f")])),
            Err(DpopError::MultipleProofs)
        );
        for bad in ["", "a.b c", "a.b.\u{7f}"] {
            let mut map = HeaderMap::new();
            if let Ok(value) = http::HeaderValue::from_str(bad) {
                map.insert("dpop", value);
                assert!(
                    matches!(find_proof(&map), Err(DpopError::Malformed(_))),
                    "{bad:?}"
                );
            }
        }
        let mut map = HeaderMap::new();
        map.insert("dpop", http::HeaderValue::from_bytes(b"a.b.\xff").unwrap());
        assert!(matches!(find_proof(&map), Err(DpopError::Malformed(_))));
        // Over the cap, even when it looks like two proofs: refused before the scan.
        let huge = format!("{},b", "a".repeat(MAX_PROOF_BYTES));
        let map = headers(&[("dpop", &huge)]);
        assert!(matches!(find_proof(&map), Err(DpopError::Malformed(_))));
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
            dpop: false,
        };
        let map = headers(&[("cookie", "theme=dark; at=abc.def.ghi")]);
        assert_eq!(
            find_token(&sources, &map, None),
            Ok(Some(Found {
                token: Presented::Checked("abc.def.ghi"),
                location: TokenLocation::Cookie,
                scheme: AuthScheme::Bearer,
            }))
        );
        let empty = HeaderMap::new();
        assert_eq!(
            find_token(&sources, &empty, Some("x=1&access_token=t.o.k")),
            Ok(Some(Found {
                token: Presented::Checked("t.o.k"),
                location: TokenLocation::Query,
                scheme: AuthScheme::Bearer,
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
