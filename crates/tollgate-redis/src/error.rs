//! The crate's error type.

use std::time::Duration;

/// Everything that can go wrong talking to Redis, or before: a bad URL, option or argument.
///
/// Messages never contain a password from the URL.
///
/// ```
/// let err = tollgate_redis::Change::from_json(b"{}").unwrap_err();
/// assert!(err.to_string().starts_with("invalid argument: unreadable change message"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisError {
    /// The URL is not `redis[s]://[[user]:password@]host[:port][/db]`.
    #[error("invalid Redis URL: {0}")]
    InvalidUrl(String),
    /// An option is out of range (an empty prefix, a zero timeout, ...).
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// An argument is out of range (an empty or oversized id, an instant out of range).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Called outside a tokio runtime (the connections run on tokio).
    #[error("tollgate-redis must be used inside a tokio runtime")]
    NoRuntime,
    /// Redis did not answer within the configured time.
    #[error("Redis did not answer {operation} within {after:?}")]
    Timeout {
        /// What was asked (`"ZADD"`, `"connect"`, ...).
        operation: &'static str,
        /// The configured bound.
        after: Duration,
    },
    /// Redis answered with an error, or the connection failed.
    #[error("Redis {operation} failed: {source}")]
    Command {
        /// What was asked.
        operation: &'static str,
        /// The client's error.
        #[source]
        source: redis::RedisError,
    },
    /// The stored state is larger than the configured cap (`max_rules`).
    #[error("{what} holds {count} entries, more than the cap of {cap}")]
    TooLarge {
        /// Which key.
        what: String,
        /// How many entries it holds.
        count: u64,
        /// The cap.
        cap: usize,
    },
}

/// Runs `future` with a bound, mapping both failure kinds to [`RedisError`].
pub(crate) async fn bounded<T>(
    operation: &'static str,
    after: Duration,
    future: impl Future<Output = Result<T, redis::RedisError>>,
) -> Result<T, RedisError> {
    match tokio::time::timeout(after, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(source)) => Err(RedisError::Command { operation, source }),
        Err(_) => Err(RedisError::Timeout { operation, after }),
    }
}

/// `Err(NoRuntime)` outside a tokio runtime (spawning there would panic).
pub(crate) fn require_runtime() -> Result<tokio::runtime::Handle, RedisError> {
    tokio::runtime::Handle::try_current().map_err(|_| RedisError::NoRuntime)
}
