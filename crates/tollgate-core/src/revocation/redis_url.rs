//! The Redis URL form revocation stores are configured with.

/// Longest Redis URL accepted (checked before anything is parsed).
pub const MAX_REDIS_URL_BYTES: usize = 2048;

/// A checked Redis URL, `redis://` or `rediss://` (TLS)
/// `[[user]:password@]host[:port][/db]`: whether TLS was asked, and the form to log.
///
/// The one parser of this form: `AUTH_REVOCATION_REDIS_URL` ([`config`](crate::config); `tollgate
/// serve` then refuses the TLS form, its contract being `redis://`) and `tollgate-redis` both
/// use it. Strict on purpose: a typo
/// (`redis:/host`, `http://`, a query string a client would ignore, a `#insecure` fragment that
/// would turn certificate checks off) is a configuration error found at start, where a Redis
/// that is down is an outage handled at run time.
///
/// ```
/// use tollgate_core::revocation::RedisUrl;
///
/// let url = RedisUrl::parse("rediss://user:pw@cache.example.com:6380/1").unwrap();
/// assert!(url.tls());
/// assert_eq!(url.shown(), "rediss://***@cache.example.com:6380/1");
/// let plain = RedisUrl::parse("redis://:pw@cache:6380/2").unwrap();
/// assert!(!plain.tls());
/// assert_eq!(plain.shown(), "redis://***@cache:6380/2");
/// assert_eq!(RedisUrl::parse("redis://[::1]").unwrap().shown(), "redis://[::1]:6379/0");
/// assert!(RedisUrl::parse("rediss://cache/#insecure").is_err());
/// assert!(RedisUrl::parse("redis://cache?db=1").is_err());
/// assert!(RedisUrl::parse("http://cache").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisUrl {
    tls: bool,
    shown: String,
}

impl RedisUrl {
    /// Checks `url`; the error says what is wrong, without echoing the URL (it may hold a
    /// password).
    pub fn parse(url: &str) -> Result<RedisUrl, &'static str> {
        if url.len() > MAX_REDIS_URL_BYTES {
            return Err("longer than 2048 bytes");
        }
        let (tls, rest) = match url.strip_prefix("rediss://") {
            Some(rest) => (true, rest),
            None => (
                false,
                url.strip_prefix("redis://")
                    .ok_or("not a redis:// or rediss:// URL")?,
            ),
        };
        let scheme = if tls { "rediss" } else { "redis" };
        let shown = authority_and_db(rest)?;
        Ok(RedisUrl {
            tls,
            shown: format!("{scheme}://{shown}"),
        })
    }

    /// `rediss://`: the connection is TLS, the server's certificate always verified.
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// The URL as it may be logged: `redis[s]://[***@]host:port/db`, never the password.
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

/// `[[user]:password@]host[:port][/db]` to `[***@]host:port/db`.
fn authority_and_db(rest: &str) -> Result<String, &'static str> {
    if rest.contains(['?', '#']) || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("query strings, fragments, spaces and control characters are not accepted");
    }
    let (authority, db) = rest.split_once('/').unwrap_or((rest, ""));
    let (credentials, host_port) = match authority.rsplit_once('@') {
        Some((_, host_port)) => ("***@", host_port),
        None => ("", authority),
    };
    // `[v6]:port`, `[v6]`, `host:port` or `host`.
    let (host, port) = match host_port.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed.split_once(']').ok_or("an unclosed [")?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or("expected host[:port]")?),
            };
            (host, port)
        }
        None => match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return Err("the host is empty");
    }
    let port = match port {
        None => 6379,
        Some(port) => port
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or("the port must be a number from 1 to 65535")?,
    };
    let db = match db {
        "" => 0,
        digits if digits.bytes().all(|b| b.is_ascii_digit()) && digits.len() <= 7 => digits
            .parse::<u32>()
            .ok()
            .filter(|&n| n <= 1 << 20)
            .ok_or("the database number is too large")?,
        _ => return Err("the path must be a database number (/0, /1, ...)"),
    };
    Ok(if host.contains(':') {
        format!("{credentials}[{host}]:{port}/{db}")
    } else {
        format!("{credentials}{host}:{port}/{db}")
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use tollgate_test_support::redis::{BAD_URLS, GOOD_URLS, TLS_URLS};

    #[test]
    fn plain_and_tls_forms() {
        for (url, shown) in GOOD_URLS {
            let parsed = RedisUrl::parse(url).unwrap();
            assert!(!parsed.tls(), "{url}");
            assert_eq!(parsed.shown(), shown, "{url}");
        }
        for (url, shown) in TLS_URLS {
            let parsed = RedisUrl::parse(url).unwrap();
            assert!(parsed.tls(), "{url}");
            assert_eq!(parsed.shown(), shown, "{url}");
            assert!(!format!("{parsed:?}").contains("hunter2"));
        }
        for url in BAD_URLS {
            assert!(RedisUrl::parse(url).is_err(), "{url}");
        }
        let long = format!("rediss://{}", "h".repeat(3000));
        assert_eq!(RedisUrl::parse(&long), Err("longer than 2048 bytes"));
    }
}
