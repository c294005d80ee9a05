//! The local mirror of the revocations in Redis, kept in sync by a background task.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};
use redis::AsyncConnectionConfig;
use redis::aio::PubSubStream;
use tokio::task::JoinHandle;
use tollgate_core::revocation::{
    RevocationCheck, RevocationError, RevocationFuture, RevocationList, RevocationResult,
    TokenFacts,
};

use crate::address::{self, Address};
use crate::error::{RedisError, bounded, require_runtime};
use crate::model::{self, Change, DEFAULT_PREFIX, Keys};
use crate::tls::TlsOptions;
use crate::writer::DEFAULT_MAX_RULES;

/// Options of [`RedisRevocations`].
#[derive(Debug, Clone)]
pub struct RevocationOptions {
    /// Key prefix (default `tollgate:`); must match the writer's.
    pub prefix: String,
    /// How often the task pings Redis on its subscription (default 250 ms).
    pub ping_interval: Duration,
    /// Bound on one ping (default 500 ms); a ping that fails or times out ends the connection.
    pub ping_timeout: Duration,
    /// The mirror answers while its last successful contact with Redis is at most this old
    /// (default 1.5 s); after that [`RevocationCheck::check`] answers `Err`.
    pub max_staleness: Duration,
    /// Bound on connecting, subscribing and on reading the whole state (default 2 s).
    pub command_timeout: Duration,
    /// Longest wait between reconnection attempts (default 1 s; the first waits 50 ms).
    pub max_backoff: Duration,
    /// Reads the whole state again this often even when nothing failed (default 5 min): a
    /// safety net for a change applied to Redis without being published. `None`: never.
    pub resync_interval: Option<Duration>,
    /// Cap on the entries of each key (default 1,000,000): a larger state is refused (the
    /// mirror stays unsynchronised and says why in [`RedisRevocations::status`]).
    pub max_rules: usize,
    /// CA and client certificate of a `rediss://` URL (default: the system trust store).
    pub tls: TlsOptions,
}

impl Default for RevocationOptions {
    fn default() -> Self {
        RevocationOptions {
            prefix: DEFAULT_PREFIX.to_owned(),
            ping_interval: Duration::from_millis(250),
            ping_timeout: Duration::from_millis(500),
            max_staleness: Duration::from_millis(1500),
            command_timeout: Duration::from_secs(2),
            max_backoff: Duration::from_secs(1),
            resync_interval: Some(Duration::from_secs(300)),
            max_rules: DEFAULT_MAX_RULES,
            tls: TlsOptions::default(),
        }
    }
}

impl RevocationOptions {
    fn check(&self) -> Result<(), RedisError> {
        let bad = |why: &str| Err(RedisError::InvalidOption(why.to_owned()));
        if self.ping_interval.is_zero()
            || self.ping_timeout.is_zero()
            || self.command_timeout.is_zero()
            || self.max_backoff.is_zero()
            || self.resync_interval.is_some_and(|d| d.is_zero())
        {
            return bad("intervals and timeouts must not be zero");
        }
        if self.max_staleness <= self.ping_interval {
            // Otherwise the mirror would go stale between two successful pings.
            return bad("max_staleness must be longer than ping_interval");
        }
        Ok(())
    }
}

/// What [`RedisRevocations::status`] reports (for logs, health checks and metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// The whole state was read at least once.
    pub synchronised: bool,
    /// `check` answers now (synchronised, and the last contact within `max_staleness`).
    pub fresh: bool,
    /// Time since the last successful contact with Redis (none before the first).
    pub last_contact: Option<Duration>,
    /// Revoked token entries in the mirror.
    pub tokens: usize,
    /// Revoked subjects in the mirror.
    pub subjects: usize,
    /// Revoked clients in the mirror.
    pub clients: usize,
    /// Full reads of the state so far.
    pub resyncs: u64,
    /// Change messages applied so far.
    pub changes: u64,
    /// Why the last connection ended, if one did.
    pub last_error: Option<String>,
}

/// State shared by the handles and the task.
#[derive(Debug)]
struct Shared {
    mirror: RevocationList,
    epoch: Instant,
    /// Milliseconds since `epoch` of the last contact, plus one; 0 = never.
    last_contact: AtomicU64,
    synchronised: AtomicBool,
    resyncs: AtomicU64,
    changes: AtomicU64,
    last_error: Mutex<Option<String>>,
    max_staleness: Duration,
}

impl Shared {
    fn contact_at(&self, at: Instant) {
        let ms = u64::try_from(at.saturating_duration_since(self.epoch).as_millis())
            .unwrap_or(u64::MAX - 1);
        // `fetch_max`: a ping answered late never moves the contact time backwards.
        self.last_contact
            .fetch_max(ms.saturating_add(1), Ordering::Release);
    }

    fn last_contact_age(&self) -> Option<Duration> {
        let stored = self.last_contact.load(Ordering::Acquire);
        let at = self.epoch + Duration::from_millis(stored.checked_sub(1)?);
        Some(at.elapsed())
    }

    fn answer(&self, token: &TokenFacts<'_>, now: i64) -> RevocationResult {
        if !self.synchronised.load(Ordering::Acquire) {
            return Err(RevocationError(
                "not yet synchronised with Redis".to_owned(),
            ));
        }
        match self.last_contact_age() {
            Some(age) if age <= self.max_staleness => Ok(self.mirror.find(token, now)),
            age => Err(RevocationError(format!(
                "no contact with Redis for {} ms (the limit is {} ms)",
                age.unwrap_or_default().as_millis(),
                self.max_staleness.as_millis()
            ))),
        }
    }

    fn record_error(&self, error: &RedisError) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.to_string());
    }
}

/// Aborts the task when the last handle goes.
#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
    address: Address,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Revocations shared through Redis, answered from a local mirror: a
/// [`RevocationCheck`] that never does a network round trip.
///
/// A background task subscribes to `<prefix>revocations`, then reads the whole state into the
/// mirror, then applies each published [`Change`]; it pings Redis every `ping_interval`. On any
/// failure it reconnects (backoff from 50 ms up to `max_backoff`) and reads the whole state
/// again, so a revocation published while it was disconnected is not lost. `check` answers
/// from the mirror while the last contact is at most `max_staleness` old, else
/// `Err(RevocationError)` (the verifier's `FailureMode` then refuses with 503 or passes with a
/// warning). The task ends when the last clone is dropped.
///
/// ```no_run
/// use tollgate_core::revocation::{RevocationCheck, TokenFacts};
/// use tollgate_redis::{RedisRevocations, RevocationOptions};
///
/// # async fn run() -> Result<(), tollgate_redis::RedisError> {
/// // Succeeds even when Redis is down (checks answer Err until the first synchronisation).
/// let revocations = RedisRevocations::connect("redis://127.0.0.1:6379", RevocationOptions::default())?;
/// revocations.wait_fresh(std::time::Duration::from_secs(2)).await;
/// let facts = TokenFacts { jti: Some("4f1c-token-id"), ..TokenFacts::default() };
/// let answer = revocations.check(&facts, 1_750_000_000).await;
/// println!("{answer:?} {:?}", revocations.status());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RedisRevocations {
    inner: Arc<Inner>,
}

impl RedisRevocations {
    /// Starts the mirror and its task (inside a tokio runtime). Fails only on a malformed URL
    /// or option, never because Redis is down: that is an outage, and the task keeps trying.
    pub fn connect(url: &str, options: RevocationOptions) -> Result<Self, RedisError> {
        let runtime = require_runtime()?;
        let address = address::parse(url, &options.tls)?;
        let keys = Keys::new(&options.prefix)?;
        options.check()?;
        let shared = Arc::new(Shared {
            mirror: RevocationList::new(),
            epoch: Instant::now(),
            last_contact: AtomicU64::new(0),
            synchronised: AtomicBool::new(false),
            resyncs: AtomicU64::new(0),
            changes: AtomicU64::new(0),
            last_error: Mutex::new(None),
            max_staleness: options.max_staleness,
        });
        let task = runtime.spawn(run(Arc::clone(&shared), address.clone(), keys, options));
        Ok(RedisRevocations {
            inner: Arc::new(Inner {
                shared,
                task,
                address,
            }),
        })
    }

    /// The mirror's state now.
    pub fn status(&self) -> Status {
        let shared = &self.inner.shared;
        let rules = shared.mirror.snapshot();
        let last_contact = shared.last_contact_age();
        let synchronised = shared.synchronised.load(Ordering::Acquire);
        Status {
            synchronised,
            fresh: synchronised && last_contact.is_some_and(|age| age <= shared.max_staleness),
            last_contact,
            tokens: rules.tokens.len(),
            subjects: rules.subjects.len(),
            clients: rules.clients.len(),
            resyncs: shared.resyncs.load(Ordering::Relaxed),
            changes: shared.changes.load(Ordering::Relaxed),
            last_error: shared
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }

    /// Whether `check` answers now.
    pub fn is_fresh(&self) -> bool {
        self.status().fresh
    }

    /// Waits until the mirror is fresh, at most `timeout`; `true` when it is (e.g. at start, to
    /// serve only once synchronised).
    pub async fn wait_fresh(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.is_fresh() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The Redis address, without any password.
    pub fn address(&self) -> &str {
        &self.inner.address.shown
    }
}

impl RevocationCheck for RedisRevocations {
    fn check(&self, token: &TokenFacts<'_>, now: i64) -> RevocationFuture {
        RevocationFuture::ready(self.inner.shared.answer(token, now))
    }
}

impl RedisRevocations {
    /// This mirror as a check that, when the mirror is not fresh, waits up to `wait` for it to
    /// be before answering (instead of answering `Err` at once).
    ///
    /// For processes that are paused between requests, such as AWS Lambda containers: after a
    /// freeze the mirror's last contact is old, and the first request would otherwise fail
    /// (503) although Redis is fine and the next ping is a millisecond away. A fresh mirror
    /// answers at once, as [`RedisRevocations`] does; a long-running server has no need for it.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use tollgate_redis::{RedisRevocations, RevocationOptions};
    ///
    /// # fn run() -> Result<(), tollgate_redis::RedisError> {
    /// let mirror = RedisRevocations::connect("redis://10.0.0.5:6379", RevocationOptions::default())?;
    /// let check = mirror.waiting_up_to(Duration::from_secs(2)); // to VerifierBuilder::revocation
    /// # let _ = check;
    /// # Ok(())
    /// # }
    /// ```
    pub fn waiting_up_to(&self, wait: Duration) -> WaitForFresh {
        WaitForFresh {
            mirror: self.clone(),
            wait,
        }
    }
}

/// A [`RedisRevocations`] that waits (a bounded time) for a stale mirror to be fresh again;
/// from [`RedisRevocations::waiting_up_to`].
#[derive(Debug, Clone)]
pub struct WaitForFresh {
    mirror: RedisRevocations,
    wait: Duration,
}

impl WaitForFresh {
    /// The mirror itself (for [`RedisRevocations::status`]).
    pub fn mirror(&self) -> &RedisRevocations {
        &self.mirror
    }
}

impl RevocationCheck for WaitForFresh {
    fn check(&self, token: &TokenFacts<'_>, now: i64) -> RevocationFuture {
        if self.mirror.is_fresh() {
            return self.mirror.check(token, now);
        }
        // The facts borrow the token: owned copies for the future.
        let owned = |s: Option<&str>| s.map(str::to_owned);
        let (jti, sub, client_id, azp) = (
            owned(token.jti),
            owned(token.sub),
            owned(token.client_id),
            owned(token.azp),
        );
        let iat = token.iat;
        let mirror = self.mirror.clone();
        let wait = self.wait;
        // An async block does nothing until polled, as `RevocationFuture::new` requires.
        RevocationFuture::new(async move {
            mirror.wait_fresh(wait).await;
            let facts = TokenFacts {
                jti: jti.as_deref(),
                sub: sub.as_deref(),
                iat,
                client_id: client_id.as_deref(),
                azp: azp.as_deref(),
            };
            mirror.inner.shared.answer(&facts, now)
        })
    }
}

/// The task: connection after connection, forever (until aborted).
async fn run(shared: Arc<Shared>, address: Address, keys: Keys, options: RevocationOptions) {
    let first_backoff = Duration::from_millis(50).min(options.max_backoff);
    let mut backoff = first_backoff;
    loop {
        let mut synced = false;
        let result = session(&shared, &address, &keys, &options, &mut synced).await;
        if let Err(error) = result {
            if synced {
                tracing::warn!(redis = %address.shown, %error, "lost the Redis revocation feed; reconnecting");
            } else {
                tracing::debug!(redis = %address.shown, %error, "cannot synchronise revocations with Redis; retrying");
            }
            shared.record_error(&error);
        }
        // A connection that got as far as a full read was healthy: start the backoff over.
        if synced {
            backoff = first_backoff;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(options.max_backoff);
    }
}

/// One connection: subscribe, read everything, follow changes and ping until something fails.
async fn session(
    shared: &Shared,
    address: &Address,
    keys: &Keys,
    options: &RevocationOptions,
    synced: &mut bool,
) -> Result<(), RedisError> {
    let timeout = options.command_timeout;
    let pubsub = bounded("connect", timeout, address.client.get_async_pubsub()).await?;
    let (mut sink, mut stream) = pubsub.split();
    // Subscribe BEFORE reading the state: a change published in between is then both in the
    // state read and queued on the stream, and applying it twice is harmless (every rule keeps
    // the later instant).
    bounded("SUBSCRIBE", timeout, sink.subscribe(&keys.channel)).await?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    let mut conn = bounded(
        "connect",
        timeout,
        address
            .client
            .get_multiplexed_async_connection_with_config(&config),
    )
    .await?;

    resync(shared, &mut conn, keys, options).await?;
    *synced = true;
    tracing::info!(redis = %address.shown, "revocations synchronised with Redis");

    let mut ping = tokio::time::interval(options.ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_resync = Instant::now();
    let mut last_purge = Instant::now();
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(message) = message else {
                    return Err(disconnected());
                };
                if !apply(shared, message.get_payload_bytes()) {
                    resync(shared, &mut conn, keys, options).await?;
                    last_resync = Instant::now();
                }
            }
            _ = ping.tick() => {
                let sent = Instant::now();
                bounded("PING", options.ping_timeout, sink.ping::<redis::Value>()).await?;
                // The reply comes after every message published before the ping was served:
                // apply those, then the mirror is as current as the moment the ping was sent.
                if !drain(shared, &mut stream)? {
                    resync(shared, &mut conn, keys, options).await?;
                    last_resync = Instant::now();
                }
                shared.contact_at(sent);
                if options.resync_interval.is_some_and(|every| last_resync.elapsed() >= every) {
                    resync(shared, &mut conn, keys, options).await?;
                    last_resync = Instant::now();
                }
                if last_purge.elapsed() >= Duration::from_secs(10) {
                    shared.mirror.purge_expired(model::now_unix());
                    last_purge = Instant::now();
                }
            }
        }
    }
}

/// Reads the whole state into the mirror.
async fn resync(
    shared: &Shared,
    conn: &mut redis::aio::MultiplexedConnection,
    keys: &Keys,
    options: &RevocationOptions,
) -> Result<(), RedisError> {
    let started = Instant::now();
    let rules = model::load(conn, keys, options.max_rules, options.command_timeout).await?;
    tracing::debug!(
        tokens = rules.tokens.len(),
        subjects = rules.subjects.len(),
        clients = rules.clients.len(),
        "read the revocation state from Redis"
    );
    shared.mirror.replace(rules);
    shared.resyncs.fetch_add(1, Ordering::Relaxed);
    shared.synchronised.store(true, Ordering::Release);
    // The state read is at least as recent as the moment the read was sent.
    shared.contact_at(started);
    Ok(())
}

/// Applies one change message; `false` when it cannot be read (then the caller reads the whole
/// state: the mirror must not miss whatever the message said).
fn apply(shared: &Shared, payload: &[u8]) -> bool {
    match Change::from_json(payload) {
        Ok(change) => {
            change.apply_to(&shared.mirror);
            shared.changes.fetch_add(1, Ordering::Relaxed);
            true
        }
        Err(error) => {
            tracing::warn!(%error, "unreadable revocation message; reading the whole state");
            false
        }
    }
}

/// Applies every message already received, without waiting. `Ok(false)` when one was
/// unreadable; `Err` when the stream has ended.
fn drain(shared: &Shared, stream: &mut PubSubStream) -> Result<bool, RedisError> {
    let mut all_read = true;
    while let Some(next) = stream.next().now_or_never() {
        let Some(message) = next else {
            return Err(disconnected());
        };
        all_read &= apply(shared, message.get_payload_bytes());
    }
    Ok(all_read)
}

fn disconnected() -> RedisError {
    RedisError::Command {
        operation: "SUBSCRIBE",
        source: redis::RedisError::from(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "the subscription connection closed",
        )),
    }
}
