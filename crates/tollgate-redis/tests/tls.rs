//! `rediss://` against a real `redis-server` serving TLS with a CA made at test time: the
//! writer, the mirror (pub/sub included) and the replay store over TLS; a wrong CA, a wrong host
//! name, the system roots and a server that never finishes the handshake all fail closed, in
//! bounded time, without a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use support::{
    RedisServer, TlsFiles, admin, check, jti, now, sub, tls_writer, trusting, wait_until,
};
use tollgate_core::dpop::{ReplayKey, ReplayStore};
use tollgate_core::revocation::Revoked;
use tollgate_redis::{
    RedisError, RedisReplayStore, RedisRevocations, ReplayOptions, RevocationOptions, TlsOptions,
};

const FAR: i64 = 4_102_444_800; // 2100-01-01

fn mirror(url: &str, tls: TlsOptions) -> RedisRevocations {
    let options = RevocationOptions {
        tls,
        ..RevocationOptions::default()
    };
    RedisRevocations::connect(url, options).expect("connect")
}

/// The writer's connect is refused quickly and with the client's error, not a timeout; the
/// error says why (`what` is in the message).
async fn assert_refused(url: &str, tls: TlsOptions, what: &str) {
    let start = Instant::now();
    let err = tls_writer(url, tls).await.unwrap_err();
    let took = start.elapsed();
    println!("refused ({what}) after {took:?}");
    assert!(took < Duration::from_millis(1_500), "{took:?} {err}");
    assert!(
        matches!(err, RedisError::Command { .. }),
        "{err:?} (expected the handshake's error, not a timeout)"
    );
    let message = format!("{err} {:?}", std::error::Error::source(&err));
    assert!(message.contains(what), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_over_tls_reaches_a_tls_mirror() {
    let files = TlsFiles::generate();
    let server = RedisServer::start_tls(&files);
    let url = server.url();
    assert!(url.starts_with("rediss://"), "{url}");

    let (a, b) = (
        mirror(&url, trusting(&files.ca_pem)),
        mirror(&url, trusting(&files.ca_pem)),
    );
    for instance in [&a, &b] {
        assert!(
            instance.wait_fresh(Duration::from_secs(5)).await,
            "{:?}",
            instance.status()
        );
    }
    assert!(
        a.address().starts_with("rediss://127.0.0.1:"),
        "{}",
        a.address()
    );
    let writer = tls_writer(&url, trusting(&files.ca_pem)).await.unwrap();
    let t = now();
    writer.revoke_token("tls-1", FAR).await.unwrap();
    writer.revoke_subject("alice", t).await.unwrap();
    // Through the subscription (pub/sub over TLS), not a resync: within 1 s on both.
    for instance in [&a, &b] {
        let seen = wait_until(Duration::from_secs(1), || {
            matches!(check(instance, &jti("tls-1")), Ok(Some(Revoked::Token)))
                && matches!(check(instance, &sub("alice", t - 1)), Ok(Some(_)))
        })
        .await;
        assert!(seen.is_some(), "{:?}", instance.status());
        assert_eq!(check(instance, &jti("tls-2")), Ok(None));
        assert!(instance.status().changes >= 2, "{:?}", instance.status());
    }
    assert_eq!(writer.list().await.unwrap().tokens.len(), 1);

    let mut times = Vec::new();
    for i in 0..50 {
        let id = format!("tls-token-{i}");
        let start = Instant::now();
        writer.revoke_token(&id, FAR).await.unwrap();
        let seen = wait_until(Duration::from_secs(1), || {
            matches!(check(&a, &jti(&id)), Ok(Some(_)))
                && matches!(check(&b, &jti(&id)), Ok(Some(_)))
        })
        .await;
        assert!(seen.is_some(), "revocation {i} not seen within 1 s");
        times.push(start.elapsed());
    }
    times.sort();
    println!(
        "propagation over TLS (write + pub/sub + mirror, 2 instances, 50 revocations): p50 {:?}, p99 {:?}",
        times[times.len() / 2],
        times[times.len() * 99 / 100]
    );

    // Stored in that Redis (read back over the plain helper port).
    let mut admin = admin(&server).await;
    let stored: Option<f64> = redis::cmd("ZSCORE")
        .arg("tollgate:revoked:jti")
        .arg("tls-1")
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(stored, Some(FAR as f64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replay_store_works_over_tls() {
    let files = TlsFiles::generate();
    let server = RedisServer::start_tls(&files);
    let options = || ReplayOptions {
        tls: trusting(&files.ca_pem),
        ..ReplayOptions::default()
    };
    let a = RedisReplayStore::connect(&server.url(), options()).unwrap();
    let b = RedisReplayStore::connect(&server.url(), options()).unwrap();
    let key = ReplayKey::from_bytes([7; 32]);
    let minute = Duration::from_secs(60);
    assert_eq!(a.insert_if_absent(key, minute).await, Ok(true));
    assert_eq!(b.insert_if_absent(key, minute).await, Ok(false), "replay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_fails_closed_in_bounded_time() {
    let server = RedisServer::start_tls(&TlsFiles::generate());
    let other_ca = TlsFiles::generate().ca_pem;
    let url = server.url();

    assert_refused(&url, trusting(&other_ca), "UnknownIssuer").await;

    // The mirror: created (an outage is not a configuration error), never fresh, every check
    // an error (the verifier's FailureMode then refuses with 503).
    let revocations = mirror(&url, trusting(&other_ca));
    let start = Instant::now();
    assert!(!revocations.wait_fresh(Duration::from_secs(2)).await);
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(check(&revocations, &jti("any")).is_err());
    let status = revocations.status();
    assert!(!status.synchronised, "{status:?}");
    let last = status.last_error.unwrap_or_default();
    assert!(last.contains("UnknownIssuer"), "{last}");

    // The replay store: an error within its 500 ms bound (the proof refused, never accepted).
    let store = RedisReplayStore::connect(
        &url,
        ReplayOptions {
            tls: trusting(&other_ca),
            ..ReplayOptions::default()
        },
    )
    .unwrap();
    let start = Instant::now();
    assert!(
        store
            .insert_if_absent(ReplayKey::from_bytes([1; 32]), Duration::from_secs(60))
            .await
            .is_err()
    );
    assert!(
        start.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_another_host_is_refused() {
    // Signed by the CA the client trusts, but for another name than 127.0.0.1.
    let files = TlsFiles::generate_for(&["redis.other.example"]);
    let server = RedisServer::start_tls(&files);
    assert_refused(&server.url(), trusting(&files.ca_pem), "not valid for name").await;
    // The same CA and a matching name connects: the refusal above is the name's.
    let good = TlsFiles::generate();
    let server = RedisServer::start_tls(&good);
    tls_writer(&server.url(), trusting(&good.ca_pem))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_system_roots_do_not_trust_a_private_ca() {
    let server = RedisServer::start_tls(&TlsFiles::generate());
    assert_refused(&server.url(), TlsOptions::default(), "UnknownIssuer").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_a_plain_port_or_a_silent_server_ends_within_the_timeout() {
    // A plain Redis: the handshake fails (no hang).
    let plain = RedisServer::start();
    let url = plain.url().replacen("redis://", "rediss://", 1);
    let start = Instant::now();
    assert!(
        tls_writer(&url, trusting(&TlsFiles::generate().ca_pem))
            .await
            .is_err()
    );
    assert!(
        start.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        start.elapsed()
    );

    // Accepts TCP, never answers the ClientHello: the connect bound (1 s here).
    let (port, hold) = support::silent_server().await;
    let start = Instant::now();
    let err = tls_writer(
        &format!("rediss://127.0.0.1:{port}"),
        trusting(&TlsFiles::generate().ca_pem),
    )
    .await
    .unwrap_err();
    let took = start.elapsed();
    assert!(took < Duration::from_millis(2_500), "{took:?} {err}");
    hold.abort();
}

#[tokio::test]
async fn tls_options_need_a_tls_url() {
    let ca = TlsFiles::generate().ca_pem;
    let refused = |r: Result<(), RedisError>| matches!(r, Err(RedisError::InvalidOption(_)));
    assert!(refused(
        tls_writer("redis://127.0.0.1:1", trusting(&ca))
            .await
            .map(drop)
    ));
    assert!(refused(
        RedisRevocations::connect(
            "redis://127.0.0.1:1",
            RevocationOptions {
                tls: trusting(&ca),
                ..RevocationOptions::default()
            }
        )
        .map(drop)
    ));
    assert!(refused(
        RedisReplayStore::connect(
            "redis://127.0.0.1:1",
            ReplayOptions {
                tls: trusting(&ca),
                ..ReplayOptions::default()
            }
        )
        .map(drop)
    ));
    // And the URL forms that would turn verification off are not URLs here.
    for url in [
        "rediss://127.0.0.1/#insecure",
        "rediss://127.0.0.1?insecure=1",
    ] {
        assert!(matches!(
            tls_writer(url, trusting(&ca)).await,
            Err(RedisError::InvalidUrl(_))
        ));
    }
}
