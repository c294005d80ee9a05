//! `RedisReplayStore` against a real `redis-server`: one use per proof across stores, expiry,
//! bounded failures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use support::{RedisServer, admin};
use tollgate_core::dpop::{ReplayKey, ReplayStore};
use tollgate_redis::{RedisError, RedisReplayStore, ReplayOptions};

fn key(n: u8) -> ReplayKey {
    let mut bytes = [0u8; 32];
    bytes[0] = 0xab;
    bytes[31] = n;
    ReplayKey::from_bytes(bytes)
}

fn store(url: &str) -> RedisReplayStore {
    RedisReplayStore::connect(url, ReplayOptions::default()).unwrap()
}

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proof_is_accepted_once_across_two_stores() {
    let server = RedisServer::start();
    let (a, b) = (store(&server.url()), store(&server.url()));
    assert_eq!(a.insert_if_absent(key(1), MINUTE).await, Ok(true));
    assert_eq!(
        b.insert_if_absent(key(1), MINUTE).await,
        Ok(false),
        "replay"
    );
    assert_eq!(
        a.insert_if_absent(key(1), MINUTE).await,
        Ok(false),
        "replay"
    );
    assert_eq!(b.insert_if_absent(key(2), MINUTE).await, Ok(true));

    let mut admin = admin(&server).await;
    let name = format!("tollgate:dpop:ab{}01", "00".repeat(30));
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&name)
        .query_async(&mut admin)
        .await
        .unwrap();
    assert!((50_000..=60_000).contains(&ttl), "PTTL {ttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_inserts_of_one_key_accept_exactly_one() {
    let server = RedisServer::start();
    let stores: Vec<_> = (0..4).map(|_| store(&server.url())).collect();
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let store = stores[i % stores.len()].clone();
            tokio::spawn(async move { store.insert_if_absent(key(9), MINUTE).await })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        if task.await.unwrap() == Ok(true) {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_key_expires_with_its_ttl() {
    let server = RedisServer::start();
    let store = store(&server.url());
    let ttl = Duration::from_millis(150);
    assert_eq!(store.insert_if_absent(key(3), ttl).await, Ok(true));
    assert_eq!(store.insert_if_absent(key(3), ttl).await, Ok(false));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        store.insert_if_absent(key(3), ttl).await,
        Ok(true),
        "expired: first use again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_happens_until_the_answer_is_polled() {
    let server = RedisServer::start();
    let store = store(&server.url());
    let pending = store.insert_if_absent(key(4), MINUTE);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut admin = admin(&server).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("tollgate:dpop:*")
        .query_async(&mut admin)
        .await
        .unwrap();
    assert!(keys.is_empty(), "{keys:?}");
    assert_eq!(pending.await, Ok(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_or_silent_is_an_error_within_the_timeout() {
    // Nobody listening: created fine (an outage), every insert an error.
    let down_port = support::free_port();
    let down = store(&format!("redis://127.0.0.1:{down_port}"));
    let start = Instant::now();
    assert!(down.insert_if_absent(key(5), MINUTE).await.is_err());
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );

    // A server that accepts and never answers: the 500 ms bound.
    let (port, hold) = support::silent_server().await;
    let hung = store(&format!("redis://127.0.0.1:{port}"));
    let start = Instant::now();
    let err = hung.insert_if_absent(key(6), MINUTE).await.unwrap_err();
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_millis(1_500),
        "{took:?} {err}"
    );
    hold.abort();

    // Then Redis starts on the first port: the same store reconnects and works.
    let _server = RedisServer::on_port(down_port, false);
    let start = Instant::now();
    loop {
        match down.insert_if_absent(key(7), MINUTE).await {
            Ok(first) => {
                assert!(first);
                break;
            }
            Err(err) => assert!(start.elapsed() < Duration::from_secs(5), "{err}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_reconnects_after_a_restart() {
    let mut server = RedisServer::start_persistent();
    let store = store(&server.url());
    assert_eq!(store.insert_if_absent(key(8), MINUTE).await, Ok(true));
    server.restart();
    // RESP3: the manager sees the drop and reconnects while idle. The key was persisted, so the
    // proof is still a replay after the restart.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(store.insert_if_absent(key(8), MINUTE).await, Ok(false));
    assert_eq!(store.insert_if_absent(key(10), MINUTE).await, Ok(true));
}

#[tokio::test]
async fn malformed_urls_are_errors() {
    // `rediss://h` is a valid URL since TLS support; a malformed TLS one is refused like any.
    for url in [
        "",
        "redis:/h",
        "redis://h:0",
        "redis://h?x=1",
        "rediss://h/#insecure",
    ] {
        assert!(matches!(
            RedisReplayStore::connect(url, ReplayOptions::default()),
            Err(RedisError::InvalidUrl(_))
        ));
    }
    let zero = ReplayOptions {
        timeout: Duration::ZERO,
        ..ReplayOptions::default()
    };
    assert!(matches!(
        RedisReplayStore::connect("redis://127.0.0.1", zero),
        Err(RedisError::InvalidOption(_))
    ));
}
