//! Checking a Redis URL before handing it to the client.

use crate::error::RedisError;

/// Longest URL accepted (checked before anything is parsed).
const MAX_URL_BYTES: usize = 2048;

/// Highest database number accepted (Redis has 16 by default; configurations go higher).
const MAX_DB: u32 = 1 << 20;

/// A checked `redis://` URL: the client, and a form safe to log (no password).
#[derive(Clone)]
pub(crate) struct Address {
    pub(crate) client: redis::Client,
    pub(crate) shown: String,
}

impl std::fmt::Debug for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl Address {
    /// A client speaking RESP3, for a `ConnectionManager`: on RESP3 it learns of a dropped
    /// connection from the connection itself and reconnects while idle, instead of failing the
    /// next request first (RESP2). Redis 6 or later, which the crate needs anyway.
    pub(crate) fn resp3_client(&self) -> Result<redis::Client, RedisError> {
        let info = self.client.get_connection_info().clone();
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(redis::ProtocolVersion::RESP3);
        redis::Client::open(info.set_redis_settings(settings))
            .map_err(|e| RedisError::InvalidUrl(e.to_string()))
    }
}

/// Parses `redis://[[user]:password@]host[:port][/db]`.
///
/// Stricter than the client's own parser on purpose: a typo (`redis:/host`, `http://`, a query
/// string the client would silently ignore) is a configuration error found at start, whereas a
/// server that is down is an outage handled at run time.
pub(crate) fn parse(url: &str) -> Result<Address, RedisError> {
    let bad = |why: &str| RedisError::InvalidUrl(why.to_owned());
    if url.len() > MAX_URL_BYTES {
        return Err(bad("longer than 2048 bytes"));
    }
    if url.starts_with("rediss://") {
        return Err(bad(
            "rediss:// (TLS) is not supported by this build; use redis:// on a trusted network or a TLS tunnel",
        ));
    }
    let Some(rest) = url.strip_prefix("redis://") else {
        return Err(bad("expected redis://host[:port][/db]"));
    };
    if rest.contains(['?', '#']) || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(
            "query strings, fragments, spaces and control characters are not accepted",
        ));
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => (Some(userinfo), host_port),
        None => (None, authority),
    };
    let (host, port) = split_host_port(host_port).ok_or_else(|| bad("expected host[:port]"))?;
    if host.is_empty() {
        return Err(bad("the host is empty"));
    }
    let port = match port {
        None => 6379,
        Some(port) => port
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?,
    };
    let db = if path.is_empty() {
        0
    } else {
        path.parse::<u32>()
            .ok()
            .filter(|&db| db <= MAX_DB && path.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| bad("the path must be a database number (/0, /1, ...)"))?
    };
    let client = redis::Client::open(url).map_err(|e| bad(&e.to_string()))?;
    let credentials = if userinfo.is_some() { "***@" } else { "" };
    let shown = if host.contains(':') {
        format!("redis://{credentials}[{host}]:{port}/{db}")
    } else {
        format!("redis://{credentials}{host}:{port}/{db}")
    };
    Ok(Address { client, shown })
}

/// `host[:port]`, with IPv6 hosts in brackets.
fn split_host_port(text: &str) -> Option<(&str, Option<&str>)> {
    if let Some(inner) = text.strip_prefix('[') {
        let (host, after) = inner.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            _ => Some((host, Some(after.strip_prefix(':')?))),
        };
    }
    match text.split_once(':') {
        Some((host, port)) => Some((host, Some(port))),
        None => Some((text, None)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn accepts_the_documented_forms() {
        for (url, shown) in [
            ("redis://127.0.0.1", "redis://127.0.0.1:6379/0"),
            ("redis://localhost:6380", "redis://localhost:6380/0"),
            (
                "redis://cache.internal:6379/3",
                "redis://cache.internal:6379/3",
            ),
            ("redis://[::1]:7000/", "redis://[::1]:7000/0"),
            ("redis://:secret@h:1/2", "redis://***@h:1/2"),
        ] {
            assert_eq!(parse(url).unwrap().shown, shown, "{url}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        for url in [
            "",
            "localhost:6379",
            "http://localhost",
            "redis:/localhost",
            "redis://",
            "redis://:6379",
            "redis://h:0",
            "redis://h:70000",
            "redis://h:port",
            "redis://h/db",
            "redis://h/1/2",
            "redis://h/+1",
            "redis://h?db=1",
            "redis://h#x",
            "redis://h x",
            "rediss://h",
            "unix:///tmp/redis.sock",
        ] {
            assert!(
                matches!(parse(url), Err(RedisError::InvalidUrl(_))),
                "{url:?}"
            );
        }
        assert!(parse(&format!("redis://{}", "h".repeat(3000))).is_err());
    }

    #[test]
    fn a_password_never_shows() {
        let address = parse("redis://user:hunter2@h").unwrap();
        assert!(!format!("{address:?} {}", address.shown).contains("hunter2"));
    }
}
