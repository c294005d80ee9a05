//! Writing revocations (what `tollgate revoke` calls).

use std::time::Duration;

use redis::aio::ConnectionManager;
use tollgate_core::revocation::Rules;

use crate::address::{self, Address};
use crate::error::{RedisError, bounded, require_runtime};
use crate::model::{self, Change, DEFAULT_PREFIX, Keys};
use crate::tls::TlsOptions;

/// Default bound on each writer call.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Default cap on the entries of each of the three keys when reading the whole state.
pub const DEFAULT_MAX_RULES: usize = 1_000_000;

/// Sets a hash field to the later of its stored value and `ARGV[2]`, then publishes `ARGV[4]` on
/// `ARGV[3]`, atomically (a script runs alone, like `MULTI`/`EXEC`). Redis has no `HSET GT`,
/// and read-then-write from the client would need `WATCH` and retries; the script is one round
/// trip. Instants are checked to be below 2^53, so Lua's doubles hold them exactly.
const KEEP_LATEST: &str = r"
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
local wanted = tonumber(ARGV[2])
if current == nil or current < wanted then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
";

/// Options of a [`RevocationWriter`].
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Key prefix (default `tollgate:`); must match the readers'.
    pub prefix: String,
    /// Bound on each call, connecting included (default 2 s).
    pub timeout: Duration,
    /// Cap on the entries of each key read by [`RevocationWriter::list`] (default 1,000,000).
    pub max_rules: usize,
    /// CA and client certificate of a `rediss://` URL (default: the system trust store).
    pub tls: TlsOptions,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: DEFAULT_WRITE_TIMEOUT,
            max_rules: DEFAULT_MAX_RULES,
            tls: TlsOptions::default(),
        }
    }
}

/// Stores revocations in Redis and announces each one to every [`RedisRevocations`] mirror.
///
/// Each call returns once Redis has stored the revocation and published the change (one atomic
/// `MULTI`/`EXEC` or script), or with an error after at most the configured timeout.
///
/// ```no_run
/// use tollgate_redis::RevocationWriter;
///
/// # async fn run() -> Result<(), tollgate_redis::RedisError> {
/// let writer = RevocationWriter::connect("redis://127.0.0.1:6379").await?;
/// writer.revoke_token("4f1c-token-id", 1_900_000_000).await?; // until the token's exp
/// writer.revoke_subject("user-42", 1_800_000_000).await?; // "log out everywhere"
/// println!("{} revoked tokens", writer.list().await?.tokens.len());
/// # Ok(())
/// # }
/// ```
///
/// [`RedisRevocations`]: crate::RedisRevocations
#[derive(Clone)]
pub struct RevocationWriter {
    conn: ConnectionManager,
    keys: Keys,
    options: WriterOptions,
    address: Address,
    keep_latest: redis::Script,
}

impl std::fmt::Debug for RevocationWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationWriter")
            .field("address", &self.address)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl RevocationWriter {
    /// Connects with the default options. Fails when the URL is malformed or Redis cannot be
    /// reached within the timeout (a command-line tool should say so at once).
    pub async fn connect(url: &str) -> Result<Self, RedisError> {
        RevocationWriter::connect_with(url, WriterOptions::default()).await
    }

    /// Connects with `options`. Over `rediss://` the first connection is tried once, so that a
    /// certificate that does not verify is reported as such ([`RedisError::Command`]) rather
    /// than as a timeout.
    pub async fn connect_with(url: &str, options: WriterOptions) -> Result<Self, RedisError> {
        require_runtime()?;
        let address = address::parse(url, &options.tls)?;
        let keys = Keys::new(&options.prefix)?;
        let config = address::manager_config(options.timeout)?;
        if address.tls {
            // The manager retries every failure until the timeout, so a certificate problem
            // (wrong CA, wrong host name) would surface as "did not answer". It is not
            // transient: one direct handshake first reports it as the client's error.
            let probe = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(options.timeout))
                .set_response_timeout(Some(options.timeout));
            bounded(
                "connect",
                options.timeout,
                address
                    .client
                    .get_multiplexed_async_connection_with_config(&probe),
            )
            .await?;
        }
        let conn = bounded(
            "connect",
            options.timeout,
            ConnectionManager::new_with_config(address.resp3_client()?, config),
        )
        .await?;
        Ok(RevocationWriter {
            conn,
            keys,
            options,
            address,
            keep_latest: redis::Script::new(KEEP_LATEST),
        })
    }

    /// Revokes the token `jti` until `exp` (the token's expiry, Unix seconds): `ZADD GT` into
    /// `<prefix>revoked:jti` (a later expiry is kept), expired members dropped, change
    /// published, in one `MULTI`/`EXEC`.
    pub async fn revoke_token(&self, jti: &str, exp: i64) -> Result<(), RedisError> {
        model::check_id(jti)?;
        model::check_instant("exp", exp)?;
        let change = Change::Token {
            id: jti.to_owned(),
            exp,
        };
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("ZADD")
            .arg(&self.keys.tokens)
            .arg("GT")
            .arg(exp)
            .arg(jti)
            .ignore()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&self.keys.tokens)
            .arg("-inf")
            .arg(model::forgettable_until(model::now_unix()))
            .ignore()
            .cmd("PUBLISH")
            .arg(&self.keys.channel)
            .arg(change.to_json())
            .ignore();
        self.write("ZADD", |mut conn| {
            let pipe = &pipe;
            async move { pipe.query_async::<()>(&mut conn).await }
        })
        .await?;
        tracing::info!(jti, exp, "revoked a token in Redis");
        Ok(())
    }

    /// Revokes every token of `sub` issued before `before` (Unix seconds). A later instant
    /// already stored is kept.
    pub async fn revoke_subject(&self, sub: &str, before: i64) -> Result<(), RedisError> {
        let change = Change::Subject {
            id: sub.to_owned(),
            before,
        };
        self.keep_latest(&self.keys.subjects, sub, before, change)
            .await?;
        tracing::info!(sub, before, "revoked a subject's tokens in Redis");
        Ok(())
    }

    /// Revokes every token of client `id` (`client_id` or `azp`) issued before `before`.
    pub async fn revoke_client(&self, id: &str, before: i64) -> Result<(), RedisError> {
        let change = Change::Client {
            id: id.to_owned(),
            before,
        };
        self.keep_latest(&self.keys.clients, id, before, change)
            .await?;
        tracing::info!(client = id, before, "revoked a client's tokens in Redis");
        Ok(())
    }

    async fn keep_latest(
        &self,
        key: &str,
        id: &str,
        before: i64,
        change: Change,
    ) -> Result<(), RedisError> {
        model::check_id(id)?;
        model::check_instant("before", before)?;
        let mut invocation = self.keep_latest.key(key);
        invocation
            .arg(id)
            .arg(before)
            .arg(&self.keys.channel)
            .arg(change.to_json());
        self.write("EVALSHA", |mut conn| {
            let invocation = &invocation;
            async move { invocation.invoke_async::<()>(&mut conn).await }
        })
        .await
    }

    /// Runs an idempotent write, once more if the connection had dropped (after a Redis restart
    /// the first command on the old connection fails); both attempts within the one timeout.
    /// Retrying is safe: the writes keep the later value, and subscribers apply a repeated
    /// change message as a no-op.
    async fn write<Fut>(
        &self,
        operation: &'static str,
        attempt: impl Fn(ConnectionManager) -> Fut,
    ) -> Result<(), RedisError>
    where
        Fut: Future<Output = Result<(), redis::RedisError>>,
    {
        let twice = async {
            match attempt(self.conn.clone()).await {
                Err(error) if error.is_io_error() || error.is_connection_dropped() => {
                    tracing::debug!(%error, "Redis connection dropped; retrying the write once");
                    attempt(self.conn.clone()).await
                }
                other => other,
            }
        };
        bounded(operation, self.options.timeout, twice).await
    }

    /// Everything revoked, as stored (expired token entries are dropped first).
    pub async fn list(&self) -> Result<Rules, RedisError> {
        let mut conn = self.conn.clone();
        model::load(
            &mut conn,
            &self.keys,
            self.options.max_rules,
            self.options.timeout,
        )
        .await
    }
}
