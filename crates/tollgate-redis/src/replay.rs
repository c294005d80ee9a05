//! The DPoP replay store on Redis.

use std::fmt::Write as _;
use std::time::Duration;

use redis::aio::ConnectionManager;
use tollgate_core::dpop::{ReplayError, ReplayFuture, ReplayKey, ReplayStore};

use crate::address::{self, Address};
use crate::error::{RedisError, bounded, require_runtime};
use crate::model::{DEFAULT_PREFIX, Keys};
use crate::tls::TlsOptions;

/// Options of a [`RedisReplayStore`].
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Key prefix (default `tollgate:`); keys are `<prefix>dpop:<64 hex digits>`.
    pub prefix: String,
    /// Bound on each `SET` (default 500 ms): a slower answer is a [`ReplayError`] (the proof is
    /// refused with 503, never accepted unchecked).
    pub timeout: Duration,
    /// CA and client certificate of a `rediss://` URL (default: the system trust store).
    pub tls: TlsOptions,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: Duration::from_millis(500),
            tls: TlsOptions::default(),
        }
    }
}

/// A DPoP [`ReplayStore`] shared by every instance: `SET <prefix>dpop:<hex of key> 1 NX PX <ttl
/// ms>`. `OK` = first use, nil = replay; an error or a timeout is a [`ReplayError`].
///
/// The connection (RESP3, through a `ConnectionManager`) is made on first use and remade in the
/// background when it drops, so creating the store never fails because Redis is down. A `SET`
/// that fails is not retried: it may have been applied, and a retry would then see its own
/// write as a replay. The proof is refused (503) and the client retries with a fresh proof.
///
/// ```no_run
/// use std::sync::Arc;
/// use tollgate_core::dpop::ReplayStore;
/// use tollgate_redis::{RedisReplayStore, ReplayOptions};
///
/// # async fn run() -> Result<(), tollgate_redis::RedisError> {
/// let store: Arc<dyn ReplayStore> =
///     Arc::new(RedisReplayStore::connect("redis://127.0.0.1:6379", ReplayOptions::default())?);
/// # let _ = store;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisReplayStore {
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
    address: Address,
}

impl std::fmt::Debug for RedisReplayStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisReplayStore")
            .field("address", &self.address)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisReplayStore {
    /// A store on `url` (inside a tokio runtime). Fails only on a malformed URL or option.
    pub fn connect(url: &str, options: ReplayOptions) -> Result<Self, RedisError> {
        require_runtime()?;
        let address = address::parse(url, &options.tls)?;
        let keys = Keys::new(&options.prefix)?;
        let config = address::manager_config(options.timeout)?;
        let conn = ConnectionManager::new_lazy_with_config(address.resp3_client()?, config)
            .map_err(|source| RedisError::Command {
                operation: "connect",
                source,
            })?;
        Ok(RedisReplayStore {
            conn,
            prefix: keys.dpop,
            timeout: options.timeout,
            address,
        })
    }

    fn key(&self, key: &ReplayKey) -> String {
        let mut name = String::with_capacity(self.prefix.len() + 64);
        name.push_str(&self.prefix);
        for byte in key.as_bytes() {
            // Writing to a String cannot fail.
            let _ = write!(name, "{byte:02x}");
        }
        name
    }
}

impl ReplayStore for RedisReplayStore {
    fn insert_if_absent(&self, key: ReplayKey, ttl: Duration) -> ReplayFuture {
        let mut conn = self.conn.clone();
        let name = self.key(&key);
        let timeout = self.timeout;
        // At least 1 ms: `PX 0` is an error, and a zero window could not be replayed anyway.
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        // An async block does nothing until polled, as `ReplayFuture::pending` requires.
        ReplayFuture::pending(async move {
            let reply: Option<String> = bounded(
                "SET NX PX",
                timeout,
                redis::cmd("SET")
                    .arg(&name)
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(&mut conn),
            )
            .await
            .map_err(|error| {
                tracing::warn!(%error, "DPoP replay store: Redis unavailable");
                ReplayError::new(format!("redis replay store: {error}"))
            })?;
            match reply.as_deref() {
                Some("OK") => Ok(true),
                None => Ok(false),
                Some(other) => Err(ReplayError::new(format!(
                    "redis replay store: unexpected SET reply {other:?}"
                ))),
            }
        })
    }
}
