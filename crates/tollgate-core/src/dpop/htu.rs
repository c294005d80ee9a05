//! The `htu` comparison (RFC 9449 4.3 check 9): both sides are put into RFC 3986 normal form
//! (syntax-based 6.2.2 and scheme-based 6.2.3) and compared as strings.
//!
//! Hand-written on purpose: core has no URL crate without `remote`, and the WHATWG parsers
//! (the `url` crate) repair inputs RFC 3986 refuses (backslashes become slashes, tabs and
//! newlines are dropped, `..` is resolved), which would make two different strings name "the
//! same" URI. Here anything outside RFC 3986's grammar is refused, and so are `.` and `..`
//! segments (rather than resolved: a proof has no reason to contain them).
//!
//! Normal form: scheme and host lowercase, the default port (and an empty one) removed, an
//! empty path is `/`, percent-encodings of unreserved characters decoded and every other
//! percent-encoding in uppercase hex. Query and fragment are dropped (RFC 9449 4.2: `htu` has
//! neither). Only `http` and `https` are accepted.

/// The parts of an absolute http(s) URI in normal form.
struct Normal {
    /// `scheme://host[:port]`.
    origin: String,
    /// The path, `/` when empty.
    path: String,
}

/// A verifier's public URL: its normalised origin and base path (no trailing `/`, `""` when
/// there is none).
#[derive(Debug, Clone)]
pub(crate) struct PublicUrl {
    origin: String,
    base_path: String,
}

impl PublicUrl {
    /// Parses a configured public URL: `http(s)://host[:port][/base/path]`, no userinfo, query
    /// or fragment.
    pub(crate) fn parse(url: &str) -> Result<PublicUrl, &'static str> {
        if url.contains(['?', '#']) {
            return Err("a public URL has no query or fragment");
        }
        let Normal { origin, mut path } = normalise(url)?;
        // The request path is appended to the base path: `https://x/prod/` + `/a` is
        // `https://x/prod/a`, so one trailing slash of the base is dropped.
        if path.ends_with('/') {
            path.pop();
        }
        Ok(PublicUrl {
            origin,
            base_path: path,
        })
    }

    /// The normalised origin, `scheme://host[:port]`.
    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    /// The normalised base path (`""` or `/base`, no trailing `/`).
    pub(crate) fn base_path(&self) -> &str {
        &self.base_path
    }

    /// What a proof's normalised `htu` must be for a request with this `path` (the request
    /// target's path, without the query).
    pub(crate) fn expected(&self, path: &str) -> Result<String, &'static str> {
        let path = if path.is_empty() { "/" } else { path };
        if !path.starts_with('/') {
            return Err("the request path does not start with /");
        }
        let mut out = String::with_capacity(self.origin.len() + self.base_path.len() + path.len());
        out.push_str(&self.origin);
        out.push_str(&self.base_path);
        normalise_path(path, &mut out)?;
        Ok(out)
    }

    /// The expected URI as far as it can be written for an error message (the path as given
    /// when it cannot be normalised).
    pub(crate) fn describe(&self, path: &str) -> String {
        self.expected(path)
            .unwrap_or_else(|_| format!("{}{}{path}", self.origin, self.base_path))
    }
}

/// A proof's `htu` in normal form, query and fragment dropped.
pub(crate) fn normalise_htu(htu: &str) -> Result<String, &'static str> {
    let end = htu.find(['?', '#']).unwrap_or(htu.len());
    // The dropped part must still be URI characters: a proof has no reason to carry anything
    // else, and refusing keeps the accepted language RFC 3986's.
    if !htu[end..].bytes().all(|b| is_uri_char(b) || b == b'#') {
        return Err("the URI contains characters RFC 3986 does not allow");
    }
    let Normal { mut origin, path } = normalise(&htu[..end])?;
    origin.push_str(&path);
    Ok(origin)
}

/// Characters that may appear anywhere in a URI (RFC 3986 2: reserved, unreserved, `%`),
/// except `#`, which may appear once.
fn is_uri_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~:/?[]@!$&'()*+,;=%".contains(&b)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn is_sub_delim(b: u8) -> bool {
    b"!$&'()*+,;=".contains(&b)
}

/// Splits and normalises `scheme://authority[path]` (no query or fragment).
fn normalise(uri: &str) -> Result<Normal, &'static str> {
    let (scheme, rest) = uri
        .split_once("://")
        .ok_or("not an absolute URI with an authority")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => "443",
        "http" => "80",
        _ => return Err("the scheme is not http or https"),
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err("the URI carries userinfo");
    }
    let (host, port) = split_host_port(authority)?;
    let mut origin = String::with_capacity(uri.len());
    origin.push_str(&scheme);
    origin.push_str("://");
    normalise_host(host, &mut origin)?;
    if let Some(port) = port {
        if port.is_empty() {
            // `host:` is the default port (RFC 3986 6.2.3).
        } else {
            if port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
                return Err("the port is not a number");
            }
            let number: u32 = port.parse().map_err(|_| "the port is not a number")?;
            if number > u32::from(u16::MAX) {
                return Err("the port is out of range");
            }
            let number = number.to_string();
            if number != default_port {
                origin.push(':');
                origin.push_str(&number);
            }
        }
    }
    let mut normal_path = String::with_capacity(path.len().max(1));
    normalise_path(if path.is_empty() { "/" } else { path }, &mut normal_path)?;
    Ok(Normal {
        origin,
        path: normal_path,
    })
}

fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), &'static str> {
    if authority.starts_with('[') {
        let close = authority.find(']').ok_or("unterminated IP literal")?;
        let (host, rest) = authority.split_at(close + 1);
        return match rest.strip_prefix(':') {
            Some(port) => Ok((host, Some(port))),
            None if rest.is_empty() => Ok((host, None)),
            None => Err("junk after the IP literal"),
        };
    }
    Ok(match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

fn normalise_host(host: &str, out: &mut String) -> Result<(), &'static str> {
    if host.is_empty() {
        return Err("the URI has no host");
    }
    if let Some(literal) = host.strip_prefix('[') {
        let inner = literal.strip_suffix(']').ok_or("unterminated IP literal")?;
        if inner.is_empty()
            || !inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err("only IPv6 addresses are accepted in brackets");
        }
        out.push('[');
        out.push_str(&inner.to_ascii_lowercase());
        out.push(']');
        return Ok(());
    }
    // reg-name / IPv4address: unreserved, percent-encoded, sub-delims.
    percent_normalise(host, out, |b| is_unreserved(b) || is_sub_delim(b), true)
}

/// Appends the normal form of `path` (which starts with `/`) to `out`: every character a
/// `pchar` or `/`, percent-encodings normalised, no `.` or `..` segment.
fn normalise_path(path: &str, out: &mut String) -> Result<(), &'static str> {
    let start = out.len();
    percent_normalise(
        path,
        out,
        |b| is_unreserved(b) || is_sub_delim(b) || matches!(b, b':' | b'@' | b'/'),
        false,
    )?;
    if out[start..]
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err("the path has a dot-segment");
    }
    Ok(())
}

/// Copies `input` to `out`, refusing characters `allowed` refuses, decoding percent-encoded
/// unreserved characters and writing the other percent-encodings in uppercase hex;
/// `lowercase` also lowercases letters (a host).
fn percent_normalise(
    input: &str,
    out: &mut String,
    allowed: impl Fn(u8) -> bool,
    lowercase: bool,
) -> Result<(), &'static str> {
    let bytes = input.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex_value),
                bytes.get(i + 2).copied().and_then(hex_value),
            ) else {
                return Err("a percent-encoding is not two hex digits");
            };
            let decoded = hi << 4 | lo;
            if is_unreserved(decoded) {
                let c = if lowercase {
                    decoded.to_ascii_lowercase()
                } else {
                    decoded
                };
                out.push(char::from(c));
            } else {
                out.push('%');
                out.push(char::from(HEX[usize::from(hi)]));
                out.push(char::from(HEX[usize::from(lo)]));
            }
            i += 3;
            continue;
        }
        if !allowed(b) {
            return Err("the URI contains characters RFC 3986 does not allow there");
        }
        out.push(char::from(if lowercase {
            b.to_ascii_lowercase()
        } else {
            b
        }));
        i += 1;
    }
    Ok(())
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn n(htu: &str) -> Result<String, &'static str> {
        normalise_htu(htu)
    }

    #[test]
    fn syntax_and_scheme_based_normalisation() {
        assert_eq!(
            n("https://API.example.com:443/a").unwrap(),
            "https://api.example.com/a"
        );
        assert_eq!(
            n("HTTPS://api.example.com").unwrap(),
            "https://api.example.com/"
        );
        assert_eq!(n("http://h:80/").unwrap(), "http://h/");
        assert_eq!(n("http://h:/x").unwrap(), "http://h/x", "empty port");
        assert_eq!(n("http://h:0080/x").unwrap(), "http://h/x");
        assert_eq!(n("http://h:8080/x").unwrap(), "http://h:8080/x");
        assert_eq!(n("https://h:80/x").unwrap(), "https://h:80/x");
        assert_eq!(n("https://h/a?x=1#f").unwrap(), "https://h/a");
        assert_eq!(n("https://h/%7e%41").unwrap(), "https://h/~A");
        assert_eq!(n("https://h/%2f%c3%a9").unwrap(), "https://h/%2F%C3%A9");
        assert_eq!(
            n("https://h/A").unwrap(),
            "https://h/A",
            "paths keep their case"
        );
        assert_eq!(n("https://[::1]:8443/x").unwrap(), "https://[::1]:8443/x");
        assert_eq!(n("https://%41pi.example/").unwrap(), "https://api.example/");
    }

    #[test]
    fn refuses_what_rfc_3986_refuses() {
        for bad in [
            "ftp://h/a",
            "https:/h/a",
            "//h/a",
            "https://user@h/a",
            "https://h\\a",
            "https://h/a b",
            "https://h/a\tb",
            "https://h/\u{e9}",
            "https://h/a/../b",
            "https://h/a/./b",
            "https://h/a/%2e%2E/b",
            "https://h/%zz",
            "https://h/%4",
            "https://h:99999/",
            "https://h:8a/",
            "https:///a",
            "https://[::1/",
            "https://h/{x}",
            "https://h/a?x=\"",
        ] {
            assert!(n(bad).is_err(), "{bad:?} accepted as {:?}", n(bad));
        }
    }

    proptest::proptest! {
        /// The normal form is a fixed point, and what it accepts has only URI characters.
        #[test]
        fn normalising_twice_changes_nothing(
            scheme in "(?i)https?",
            host in "[a-zA-Z0-9.%-]{1,12}",
            port in proptest::option::of("[0-9]{0,6}"),
            path in "(/[a-zA-Z0-9%._~!$&'()*+,;=:@-]{0,6}){0,4}",
            rest in "[?#]?[a-z0-9=&]{0,4}",
        ) {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let uri = format!("{scheme}://{host}{port}{path}{rest}");
            if let Ok(normal) = n(&uri) {
                proptest::prop_assert_eq!(n(&normal), Ok(normal.clone()), "{}", uri);
                proptest::prop_assert!(normal.bytes().all(is_uri_char));
                proptest::prop_assert!(!normal.contains(['?', '#']));
            }
        }
    }

    #[test]
    fn public_urls_and_expected_htu() {
        let p = PublicUrl::parse("https://API.example.com:443").unwrap();
        assert_eq!(p.expected("/a").unwrap(), "https://api.example.com/a");
        assert_eq!(p.expected("").unwrap(), "https://api.example.com/");
        assert_eq!(p.expected("/a%7e").unwrap(), "https://api.example.com/a~");
        let stage =
            PublicUrl::parse("https://x.execute-api.eu-west-1.amazonaws.com/prod/").unwrap();
        assert_eq!(stage.base_path(), "/prod");
        assert_eq!(
            stage.expected("/items/1").unwrap(),
            "https://x.execute-api.eu-west-1.amazonaws.com/prod/items/1"
        );
        assert!(stage.expected("/a/../b").is_err());
        assert!(stage.expected("*").is_err());
        for bad in [
            "https://h/?x",
            "https://h#f",
            "ftp://h",
            "https://u@h",
            "h:80",
        ] {
            assert!(PublicUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
