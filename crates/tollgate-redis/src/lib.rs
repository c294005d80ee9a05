//! Tollgate on Redis: revocations shared by every instance, and a shared DPoP replay store.
//!
//! - [`RevocationWriter`] stores a revocation and announces it (what `tollgate revoke` calls).
//! - [`RedisRevocations`] is a [`RevocationCheck`](tollgate_core::revocation::RevocationCheck)
//!   answered from a local mirror: no network round trip per request. A background task keeps
//!   the mirror in sync over pub/sub and reads the whole state again after any disconnect.
//!   [`RedisRevocations::waiting_up_to`] makes a check that waits (bounded) for a stale mirror,
//!   for processes paused between requests (AWS Lambda).
//! - [`RedisReplayStore`] is a DPoP [`ReplayStore`](tollgate_core::dpop::ReplayStore):
//!   `SET NX PX`, so a proof is accepted once across all instances.
//!
//! Needs Redis 6.2 or later (`ZADD GT`), over `redis://` or `rediss://` (TLS, see [TLS](#tls)).
//! Cluster and Sentinel are not supported: one primary endpoint.
//!
//! # Data model
//!
//! Every key starts with a prefix (default `tollgate:`, option `prefix`):
//!
//! | key | type | content |
//! | --- | --- | --- |
//! | `<prefix>revoked:jti` | sorted set | member = `jti`, score = the token's `exp` (Unix s) |
//! | `<prefix>revoked:sub` | hash | field = `sub`, value = not-before instant (Unix s) |
//! | `<prefix>revoked:client` | hash | field = `client_id` / `azp`, value = not-before instant |
//! | `<prefix>revocations` | pub/sub channel | one JSON [`Change`] per revocation |
//! | `<prefix>dpop:<64 hex>` | string `1`, with `PX` expiry | one accepted DPoP proof |
//!
//! - A token entry lasts until the token would have expired anyway: `ZREMRANGEBYSCORE -inf
//!   <now>` runs with every write and every full read, and the mirrors purge their copies.
//! - Every write keeps the later instant: `ZADD GT` for tokens; for subjects and clients a Lua
//!   script (Redis has no `HSET GT`; a script is one round trip, where `WATCH` would need
//!   retries under contention). An earlier instant never shortens a later one.
//! - Each write and its `PUBLISH` are one atomic unit: `MULTI`/`EXEC` for tokens, the same
//!   script for subjects and clients (a script runs alone, like a transaction). A change message
//!   that a mirror cannot read makes it read the whole state.
//! - Redis must persist (AOF or RDB) for revocations to survive a Redis restart; a mirror keeps
//!   what it had only until its next full read.
//!
//! # Operating Redis for this
//!
//! - **Persistence**: AOF (`appendonly yes`) or RDB snapshots; without either a restart forgets
//!   every revocation (mirrors then read the empty state).
//! - **Eviction**: `maxmemory-policy noeviction`. An `allkeys-*` policy can evict the
//!   revocation keys; any evicting policy can drop a DPoP key early and let that proof be
//!   replayed.
//! - **Commands** (for an ACL user): the mirror uses `SUBSCRIBE`, `PING`, `MULTI`/`EXEC`,
//!   `ZREMRANGEBYSCORE`, `ZCARD`, `HLEN`, `ZRANGE`, `HGETALL`; the writer also `ZADD`,
//!   `PUBLISH`, `EVALSHA`/`EVAL`, `HGET`, `HSET`; the replay store `SET` (and `HELLO`: its
//!   connection and the writer's speak RESP3).
//!
//! # Freshness and failure
//!
//! The mirror's task subscribes **before** reading the state (nothing published in between is
//! lost), pings every 250 ms (timeout 500 ms), and on any failure reconnects with backoff (50 ms
//! doubling to 1 s) and reads everything again. `check` answers from the mirror while the last
//! successful contact is at most `max_staleness` old (1.5 s), else `Err(RevocationError)`:
//! the verifier's [`FailureMode`](tollgate_core::revocation::FailureMode) then refuses (503, the
//! default) or accepts with a warning. So a revocation reaches every instance within
//! milliseconds normally, and within `max_staleness` plus a reconnect in the worst case; a
//! Redis that goes away turns into errors after at most `max_staleness`. Measured here
//! (`tests/revocations.rs`, loopback): propagation p50 well under 1 ms, p99 a few ms.
//!
//! # TLS
//!
//! A `rediss://[[user]:password@]host[:port][/db]` URL connects over TLS (rustls). The server's
//! certificate and host name are always verified; there is no switch to turn that off (redis'
//! `#insecure` fragment is refused as a malformed URL). By default the certificate must chain
//! to the system trust store (Upstash, ElastiCache with in-transit encryption);
//! [`TlsOptions::ca_certificate`] trusts a CA of your own instead (Redis Cloud's, a private one),
//! and [`TlsOptions::client_certificate`] adds mutual TLS. The options go in the `tls` field of
//! [`RevocationOptions`], [`WriterOptions`] and [`ReplayOptions`]; with a `redis://` URL they are
//! an [`RedisError::InvalidOption`].
//!
//! A certificate that does not verify is a connection failure like any other: the writer's
//! `connect` returns [`RedisError::Command`] naming the reason (`UnknownIssuer`, "not valid for
//! name") within its timeout, the mirror stays unsynchronised (its checks answer `Err`, which the
//! verifier's failure mode turns into 503 by default) and the replay store's calls fail (the
//! proof is refused). Nothing panics or waits past the configured timeouts.
//!
//! **Crypto provider.** The TLS connections need rustls' process-wide default
//! [`CryptoProvider`](rustls::crypto::CryptoProvider). If the application installed one
//! (`CryptoProvider::install_default`) before the first `rediss://` connection is built, it is
//! used. Otherwise this crate installs the one matching Tollgate's backend, as tollgate-core's
//! HTTPS key fetches do: AWS-LC when the `aws-lc-rs` feature is on, else ring (`rust-crypto`).
//! Installing it is what keeps a build with both backends on from panicking: rustls cannot pick
//! a default there by itself.
//!
//! ```no_run
//! use tollgate_redis::{
//!     RedisReplayStore, RedisRevocations, ReplayOptions, RevocationOptions, RevocationWriter,
//!     TlsOptions, WriterOptions,
//! };
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // Upstash, ElastiCache (in-transit encryption): the system trust store verifies the server.
//! let url = "rediss://default:secret@example.upstash.io:6379";
//! let revocations = RedisRevocations::connect(url, RevocationOptions::default())?;
//!
//! // Redis Cloud, or a private CA: trust that CA (and only it).
//! let tls = TlsOptions::default().ca_certificate(std::fs::read("redis_ca.pem")?);
//! let url = "rediss://default:secret@redis-12345.example.cloud.redislabs.com:12345";
//! let writer = RevocationWriter::connect_with(
//!     url,
//!     WriterOptions { tls: tls.clone(), ..WriterOptions::default() },
//! )
//! .await?;
//! let replay = RedisReplayStore::connect(url, ReplayOptions { tls, ..ReplayOptions::default() })?;
//! # let _ = (revocations, writer, replay);
//! # Ok(())
//! # }
//! ```
//!
//! # Example
//!
//! ```no_run
//! use tollgate_core::revocation::{RevocationCheck, TokenFacts};
//! use tollgate_redis::{RedisRevocations, RevocationOptions, RevocationWriter};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let url = "redis://127.0.0.1:6379";
//! let revocations = RedisRevocations::connect(url, RevocationOptions::default())?;
//! let writer = RevocationWriter::connect(url).await?;
//! writer.revoke_subject("user-42", 1_800_000_000).await?;
//!
//! tokio::time::sleep(std::time::Duration::from_millis(50)).await;
//! let facts = TokenFacts { sub: Some("user-42"), iat: Some(1_700_000_000), ..TokenFacts::default() };
//! assert!(revocations.check(&facts, 1_750_000_000).await?.is_some());
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod address;
mod error;
mod model;
mod replay;
mod revocations;
mod tls;
mod writer;

pub use error::RedisError;
pub use model::{
    Change, DEFAULT_PREFIX, MAX_ID_BYTES, MAX_INSTANT, MAX_MESSAGE_BYTES, MAX_PREFIX_BYTES,
};
pub use replay::{RedisReplayStore, ReplayOptions};
pub use revocations::{RedisRevocations, RevocationOptions, Status, WaitForFresh};
pub use tls::TlsOptions;
pub use writer::{DEFAULT_MAX_RULES, DEFAULT_WRITE_TIMEOUT, RevocationWriter, WriterOptions};
