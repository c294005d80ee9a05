//! The Redis URL form revocation stores are configured with.

/// Longest Redis URL accepted (checked before anything is parsed).
pub const MAX_REDIS_URL_BYTES: usize = 2048;

/// Checks a Redis URL, `redis://[[user]:password@]host[:port][/db]`, and returns it as it may
/// be logged: `redis://[***@]host:port/db`, never the password. The one parser of this form:
/// `AUTH_REVOCATION_REDIS_URL` ([`config`](crate::config)) and `tollgate-redis` both use it.
///
/// Strict on purpose: a typo (`redis:/host`, `http://`, a query string a client would ignore) is
/// a configuration error found at start, where a Redis that is down is an outage handled at run
/// time. `rediss://` (TLS) is refused: the Redis client is built without TLS.
///
/// ```
/// use tollgate_core::revocation::check_redis_url;
///
/// assert_eq!(check_redis_url("redis://:pw@cache:6380/2").unwrap(), "redis://***@cache:6380/2");
/// assert_eq!(check_redis_url("redis://[::1]").unwrap(), "redis://[::1]:6379/0");
/// assert!(check_redis_url("redis://cache?db=1").is_err());
/// assert!(check_redis_url("http://cache").is_err());
/// ```
pub fn check_redis_url(url: &str) -> Result<String, &'static str> {
    if url.len() > MAX_REDIS_URL_BYTES {
        return Err("longer than 2048 bytes");
    }
    if url.starts_with("rediss://") {
        return Err("rediss:// (TLS) is not supported; use redis:// on a trusted network");
    }
    let rest = url.strip_prefix("redis://").ok_or("not a redis:// URL")?;
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
        format!("redis://{credentials}[{host}]:{port}/{db}")
    } else {
        format!("redis://{credentials}{host}:{port}/{db}")
    })
}
