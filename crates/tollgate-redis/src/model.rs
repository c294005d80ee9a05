//! The data model in Redis: key names, the change message, reading the whole state.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tollgate_core::revocation::{RevocationList, Rules};

use crate::error::{RedisError, bounded};

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "tollgate:";

/// Longest key prefix accepted.
pub const MAX_PREFIX_BYTES: usize = 128;

/// Longest revoked id (`jti`, `sub`, client id) accepted, in bytes.
pub const MAX_ID_BYTES: usize = 1024;

/// Largest change message read from the channel; a longer one is not parsed (it triggers a full
/// resynchronisation instead).
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024;

/// Latest instant accepted (9999-12-31T23:59:59Z). Keeps every instant exact in Redis' Lua
/// numbers (doubles, exact up to 2^53) and in sorted-set scores.
pub const MAX_INSTANT: i64 = 253_402_300_799;

/// Key names under one prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    pub(crate) tokens: String,
    pub(crate) subjects: String,
    pub(crate) clients: String,
    pub(crate) channel: String,
    pub(crate) dpop: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Result<Self, RedisError> {
        if prefix.is_empty() || prefix.len() > MAX_PREFIX_BYTES {
            return Err(RedisError::InvalidOption(format!(
                "the key prefix must be 1 to {MAX_PREFIX_BYTES} bytes"
            )));
        }
        if prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(RedisError::InvalidOption(
                "the key prefix must not contain spaces or control characters".into(),
            ));
        }
        Ok(Keys {
            tokens: format!("{prefix}revoked:jti"),
            subjects: format!("{prefix}revoked:sub"),
            clients: format!("{prefix}revoked:client"),
            channel: format!("{prefix}revocations"),
            dpop: format!("{prefix}dpop:"),
        })
    }
}

/// One revocation, as published on `<prefix>revocations` (JSON, tagged by `kind`):
///
/// ```
/// use tollgate_redis::Change;
///
/// let change = Change::Subject { id: "user-1".into(), before: 1_700_000_000 };
/// assert_eq!(change.to_json(), r#"{"kind":"subject","id":"user-1","before":1700000000}"#);
/// assert_eq!(Change::from_json(change.to_json().as_bytes())?, change);
/// # Ok::<(), tollgate_redis::RedisError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Change {
    /// The token `id` (its `jti`) is revoked until `exp` (its expiry, Unix seconds).
    Token {
        /// The `jti`.
        id: String,
        /// The token's `exp`: the entry may be forgotten then.
        exp: i64,
    },
    /// The subject's tokens issued before `before` (Unix seconds) are revoked.
    Subject {
        /// The `sub`.
        id: String,
        /// The not-before instant.
        before: i64,
    },
    /// The client's tokens issued before `before` (Unix seconds) are revoked.
    Client {
        /// The `client_id` / `azp`.
        id: String,
        /// The not-before instant.
        before: i64,
    },
}

impl Change {
    /// The JSON published for this change.
    pub fn to_json(&self) -> String {
        // Serializing strings and integers cannot fail; an empty message (never published:
        // ids are checked first) would make subscribers resynchronise, which is still correct.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a published change (at most [`MAX_MESSAGE_BYTES`]).
    pub fn from_json(bytes: &[u8]) -> Result<Self, RedisError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(RedisError::InvalidArgument(format!(
                "change message of {} bytes, more than {MAX_MESSAGE_BYTES}",
                bytes.len()
            )));
        }
        serde_json::from_slice(bytes)
            .map_err(|e| RedisError::InvalidArgument(format!("unreadable change message: {e}")))
    }

    /// Applies the change to a local list (keeping the later instant, like the store does).
    pub fn apply_to(&self, list: &RevocationList) {
        match self {
            Change::Token { id, exp } => list.revoke_token(id, *exp),
            Change::Subject { id, before } => list.revoke_subject(id, *before),
            Change::Client { id, before } => list.revoke_client(id, *before),
        }
    }
}

/// `Err` unless `id` is 1 to [`MAX_ID_BYTES`] bytes.
pub(crate) fn check_id(id: &str) -> Result<(), RedisError> {
    if id.is_empty() {
        return Err(RedisError::InvalidArgument(
            "an id must not be empty".into(),
        ));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(RedisError::InvalidArgument(format!(
            "an id of {} bytes is longer than {MAX_ID_BYTES}",
            id.len()
        )));
    }
    Ok(())
}

/// `Err` unless `at` is in `0..=MAX_INSTANT`.
pub(crate) fn check_instant(what: &str, at: i64) -> Result<(), RedisError> {
    if (0..=MAX_INSTANT).contains(&at) {
        Ok(())
    } else {
        Err(RedisError::InvalidArgument(format!(
            "{what} {at} is not an instant from 0 to {MAX_INSTANT} (Unix seconds)"
        )))
    }
}

/// The highest `exp` score a token entry may be removed with at `now`: entries are kept
/// [`KEPT_AFTER_EXP`](tollgate_core::revocation::KEPT_AFTER_EXP) past the token's `exp`, since
/// a verifier with leeway still accepts the token until then.
pub(crate) fn forgettable_until(now: i64) -> i64 {
    now.saturating_sub(tollgate_core::revocation::KEPT_AFTER_EXP.as_secs() as i64)
}

/// Now, in Unix seconds.
pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Reads the whole state: drops expired `jti` entries, checks the sizes against `max_rules`,
/// then reads the three keys in one `MULTI`/`EXEC` (one consistent snapshot); all within
/// `timeout`.
pub(crate) async fn load<C: redis::aio::ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    max_rules: usize,
    timeout: Duration,
) -> Result<Rules, RedisError> {
    match tokio::time::timeout(timeout, load_unbounded(conn, keys, max_rules, timeout)).await {
        Ok(result) => result,
        Err(_) => Err(RedisError::Timeout {
            operation: "reading the revocation state",
            after: timeout,
        }),
    }
}

async fn load_unbounded<C: redis::aio::ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    max_rules: usize,
    timeout: Duration,
) -> Result<Rules, RedisError> {
    let now = now_unix();
    let (tokens, subjects, clients): (u64, u64, u64) = bounded(
        "ZCARD/HLEN",
        timeout,
        redis::pipe()
            .atomic()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&keys.tokens)
            .arg("-inf")
            .arg(forgettable_until(now))
            .ignore()
            .cmd("ZCARD")
            .arg(&keys.tokens)
            .cmd("HLEN")
            .arg(&keys.subjects)
            .cmd("HLEN")
            .arg(&keys.clients)
            .query_async(conn),
    )
    .await?;
    for (what, count) in [
        (&keys.tokens, tokens),
        (&keys.subjects, subjects),
        (&keys.clients, clients),
    ] {
        if usize::try_from(count).map_or(true, |n| n > max_rules) {
            return Err(RedisError::TooLarge {
                what: what.clone(),
                count,
                cap: max_rules,
            });
        }
    }
    type Read = (
        Vec<(Vec<u8>, f64)>,
        HashMap<Vec<u8>, Vec<u8>>,
        HashMap<Vec<u8>, Vec<u8>>,
    );
    let (tokens, subjects, clients): Read = bounded(
        "ZRANGE/HGETALL",
        timeout,
        redis::pipe()
            .atomic()
            .cmd("ZRANGE")
            .arg(&keys.tokens)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .cmd("HGETALL")
            .arg(&keys.subjects)
            .cmd("HGETALL")
            .arg(&keys.clients)
            .query_async(conn),
    )
    .await?;
    let mut rules = Rules::default();
    for (id, score) in tokens {
        let Some(id) = text(&keys.tokens, id) else {
            continue;
        };
        // Scores come from ZADD of checked instants; clamp whatever another writer stored.
        let until = if score.is_nan() {
            MAX_INSTANT
        } else {
            score.clamp(0.0, MAX_INSTANT as f64) as i64
        };
        rules.tokens.insert(id, until);
    }
    for (into, key, entries) in [
        (&mut rules.subjects, &keys.subjects, subjects),
        (&mut rules.clients, &keys.clients, clients),
    ] {
        for (id, value) in entries {
            let Some(id) = text(key, id) else { continue };
            let before = std::str::from_utf8(&value)
                .ok()
                .and_then(|v| v.trim().parse::<i64>().ok())
                .unwrap_or_else(|| {
                    // Fail closed for that id only: every token it has is refused until the
                    // value is fixed, and the rest of the state stays usable.
                    tracing::warn!(key = %key, id = %id, "unreadable not-before instant; revoking all of this id's tokens");
                    i64::MAX
                });
            into.insert(id, before);
        }
    }
    Ok(rules)
}

/// A stored id as text; a non-UTF-8 one can never match a claim (claims are JSON strings).
fn text(key: &str, id: Vec<u8>) -> Option<String> {
    match String::from_utf8(id) {
        Ok(id) => Some(id),
        Err(_) => {
            tracing::warn!(key = %key, "ignoring a non-UTF-8 member (no token can match it)");
            None
        }
    }
}
