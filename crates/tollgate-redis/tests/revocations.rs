//! `RedisRevocations` and `RevocationWriter` against a real `redis-server`: propagation to
//! several instances, outages, reconnection and resynchronisation, restarts, expiry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use support::{RedisServer, admin, check, client, jti, now, sub, wait_until};
use tollgate_core::revocation::{Revoked, Rules};
use tollgate_redis::{RedisError, RedisRevocations, RevocationOptions, RevocationWriter};

const FAR: i64 = 4_102_444_800; // 2100-01-01

async fn mirror(server: &RedisServer) -> RedisRevocations {
    let revocations =
        RedisRevocations::connect(&server.url(), RevocationOptions::default()).expect("connect");
    assert!(
        revocations.wait_fresh(Duration::from_secs(5)).await,
        "not fresh within 5 s: {:?}",
        revocations.status()
    );
    revocations
}

fn revoked(
    revocations: &RedisRevocations,
    facts: &tollgate_core::revocation::TokenFacts<'_>,
) -> bool {
    matches!(check(revocations, facts), Ok(Some(_)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_reaches_two_instances() {
    let server = RedisServer::start();
    let (a, b) = (mirror(&server).await, mirror(&server).await);
    let writer = RevocationWriter::connect(&server.url()).await.unwrap();
    let t = now();
    assert_eq!(check(&a, &jti("j1")), Ok(None));

    writer.revoke_token("j1", FAR).await.unwrap();
    writer.revoke_subject("alice", t).await.unwrap();
    writer.revoke_client("app", t).await.unwrap();
    for instance in [&a, &b] {
        let seen = wait_until(Duration::from_secs(1), || {
            revoked(instance, &jti("j1"))
                && revoked(instance, &sub("alice", t - 10))
                && revoked(instance, &client("app", t - 10))
        })
        .await;
        assert!(seen.is_some(), "{:?}", instance.status());
        assert_eq!(check(instance, &jti("j1")), Ok(Some(Revoked::Token)));
        assert_eq!(
            check(instance, &sub("alice", t - 10)),
            Ok(Some(Revoked::Subject { before: t }))
        );
        // Issued at or after the instant (a fresh login): accepted.
        assert_eq!(check(instance, &sub("alice", t)), Ok(None));
        assert_eq!(check(instance, &client("app", t + 5)), Ok(None));
        assert_eq!(check(instance, &jti("j2")), Ok(None));
    }
    let status = a.status();
    assert!(status.synchronised && status.fresh, "{status:?}");
    assert_eq!((status.tokens, status.subjects, status.clients), (1, 1, 1));
    assert!(status.changes >= 3, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propagation_time_over_50_revocations() {
    let server = RedisServer::start();
    let (a, b) = (mirror(&server).await, mirror(&server).await);
    let writer = RevocationWriter::connect(&server.url()).await.unwrap();
    let mut times = Vec::new();
    for i in 0..50 {
        let id = format!("token-{i}");
        let start = Instant::now();
        writer.revoke_token(&id, FAR).await.unwrap();
        let seen = wait_until(Duration::from_secs(1), || {
            revoked(&a, &jti(&id)) && revoked(&b, &jti(&id))
        })
        .await;
        assert!(seen.is_some(), "revocation {i} not seen within 1 s");
        times.push(start.elapsed());
    }
    times.sort();
    let p50 = times[times.len() / 2];
    let p99 = times[times.len() * 99 / 100];
    println!(
        "propagation (write + pub/sub + mirror, 2 instances, 50 revocations): p50 {p50:?}, p99 {p99:?}, max {:?}",
        times[times.len() - 1]
    );
    assert!(
        p99 < Duration::from_secs(1),
        "p99 {p99:?} over the 1 s bound"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_fail_within_2s_once_redis_is_killed() {
    let mut server = RedisServer::start();
    let revocations = mirror(&server).await;
    let writer = RevocationWriter::connect(&server.url()).await.unwrap();
    writer.revoke_token("j", FAR).await.unwrap();
    wait_until(Duration::from_secs(1), || revoked(&revocations, &jti("j")))
        .await
        .expect("seen");

    server.kill();
    let killed = Instant::now();
    let failed = wait_until(Duration::from_secs(3), || {
        check(&revocations, &jti("other")).is_err()
    })
    .await
    .expect("checks never failed");
    println!("checks answer Err {failed:?} after Redis was killed");
    assert!(failed <= Duration::from_secs(2), "{failed:?}");
    let err = check(&revocations, &jti("j")).unwrap_err();
    assert!(err.0.contains("no contact with Redis"), "{err}");
    assert!(!revocations.status().fresh);

    // The writer answers with an error within its timeout, never hangs.
    let started = Instant::now();
    assert!(writer.revoke_token("k", FAR).await.is_err());
    assert!(killed.elapsed() < Duration::from_secs(6));
    assert!(started.elapsed() <= Duration::from_millis(2_500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_written_while_cut_off_is_seen_after_reconnecting() {
    let server = RedisServer::start();
    let (a, b) = (mirror(&server).await, mirror(&server).await);
    let before = a.status().resyncs;
    let mut admin = admin(&server).await;
    for kind in ["normal", "pubsub"] {
        let killed: i64 = redis::cmd("CLIENT")
            .arg(&["KILL", "TYPE", kind])
            .query_async(&mut admin)
            .await
            .unwrap();
        assert!(killed >= 2, "killed {killed} {kind} connections");
    }
    // Written right after the kill: the mirrors reconnect after a backoff, so they miss the
    // message and must find the revocation in the full read.
    let start = Instant::now();
    let writer = RevocationWriter::connect(&server.url()).await.unwrap();
    writer.revoke_subject("mallory", now()).await.unwrap();
    for instance in [&a, &b] {
        let seen = wait_until(Duration::from_secs(2), || {
            revoked(instance, &sub("mallory", now() - 60))
        })
        .await;
        assert!(seen.is_some(), "{:?}", instance.status());
    }
    println!(
        "seen by both instances {:?} after the kill",
        start.elapsed()
    );
    let status = a.status();
    assert!(status.resyncs > before, "{status:?}");
    assert!(status.last_error.is_some(), "{status:?}");
    assert!(status.fresh, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_again_after_a_restart_and_nothing_lost() {
    // Persistent (AOF, fsync always): a restart keeps the revocations, as it must in production.
    let mut server = RedisServer::start_persistent();
    let revocations = mirror(&server).await;
    let writer = RevocationWriter::connect(&server.url()).await.unwrap();
    writer.revoke_token("before-restart", FAR).await.unwrap();
    wait_until(Duration::from_secs(1), || {
        revoked(&revocations, &jti("before-restart"))
    })
    .await
    .expect("seen");

    server.kill();
    wait_until(Duration::from_secs(3), || !revocations.is_fresh())
        .await
        .expect("went stale");
    server.restart();
    let back = Instant::now();
    assert!(
        revocations.wait_fresh(Duration::from_secs(10)).await,
        "{:?}",
        revocations.status()
    );
    println!("fresh again {:?} after Redis came back", back.elapsed());
    assert_eq!(
        check(&revocations, &jti("before-restart")),
        Ok(Some(Revoked::Token))
    );

    // And changes flow again (a new writer: the old one's connection died with the server).
    let writer = RevocationWriter::connect(&server.url()).await.unwrap();
    writer.revoke_token("after-restart", FAR).await.unwrap();
    assert!(
        wait_until(Duration::from_secs(1), || revoked(
            &revocations,
            &jti("after-restart")
        ))
        .await
        .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_lived_writer_survives_a_restart() {
    let mut server = RedisServer::start_persistent();
    let writer = RevocationWriter::connect(&server.url()).await.unwrap();
    writer.revoke_token("one", FAR).await.unwrap();
    server.restart();
    // The first write after the restart succeeds (the connection manager remakes the
    // connection; the writer also retries a write once on a dropped connection).
    writer.revoke_token("two", FAR).await.unwrap();
    let tokens = writer.list().await.unwrap().tokens;
    assert!(
        tokens.contains_key("one") && tokens.contains_key("two"),
        "{tokens:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_at_connect_then_fresh_when_it_starts() {
    let port = support::free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let revocations = RedisRevocations::connect(&url, RevocationOptions::default())
        .expect("an outage is no configuration error");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let err = check(&revocations, &jti("j")).unwrap_err();
    assert!(err.0.contains("not yet synchronised"), "{err}");
    assert!(!revocations.status().synchronised);
    assert!(revocations.status().last_error.is_some());
    assert!(
        RevocationWriter::connect(&url).await.is_err(),
        "the writer says so at once"
    );

    let server = RedisServer::on_port(port, false);
    let up = Instant::now();
    assert!(revocations.wait_fresh(Duration::from_secs(10)).await);
    println!("fresh {:?} after Redis started", up.elapsed());
    assert_eq!(check(&revocations, &jti("j")), Ok(None));
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_jti_expires_with_its_token() {
    let server = RedisServer::start();
    let revocations = mirror(&server).await;
    let writer = RevocationWriter::connect(&server.url()).await.unwrap();
    // Entries stay KEPT_AFTER_EXP past exp (a verifier's leeway may still accept the token):
    // this one becomes forgettable in a second.
    let kept = tollgate_core::revocation::KEPT_AFTER_EXP.as_secs() as i64;
    let exp = now() + 1 - kept;
    writer.revoke_token("short", exp).await.unwrap();
    writer.revoke_token("long", FAR).await.unwrap();
    wait_until(Duration::from_secs(1), || {
        revoked(&revocations, &jti("short"))
    })
    .await
    .expect("seen");
    assert_eq!(writer.list().await.unwrap().tokens.len(), 2);

    // Past `exp` + KEPT_AFTER_EXP: no verifier accepts the token, and the entry goes everywhere.
    wait_until(Duration::from_secs(3), || now() > exp + kept)
        .await
        .unwrap();
    assert_eq!(check(&revocations, &jti("short")), Ok(None));
    let rules = writer.list().await.unwrap();
    assert_eq!(rules.tokens.keys().collect::<Vec<_>>(), ["long"]);
    let mut admin = admin(&server).await;
    let stored: Vec<String> = redis::cmd("ZRANGE")
        .arg(&["tollgate:revoked:jti", "0", "-1"])
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(
        stored,
        ["long"],
        "ZREMRANGEBYSCORE removed the expired member"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_and_list_round_trip_keeping_the_later_instant() {
    let server = RedisServer::start();
    let writer = RevocationWriter::connect(&server.url()).await.unwrap();
    assert_eq!(writer.list().await.unwrap(), Rules::default());
    writer.revoke_token("j", FAR - 10).await.unwrap();
    writer.revoke_token("j", FAR).await.unwrap();
    writer.revoke_token("j", FAR - 20).await.unwrap();
    writer.revoke_subject("u", 2_000).await.unwrap();
    writer.revoke_subject("u", 1_000).await.unwrap();
    writer.revoke_client("c", 5).await.unwrap();
    writer.revoke_client("c", 7).await.unwrap();
    let rules = writer.list().await.unwrap();
    assert_eq!(rules.tokens, [("j".to_owned(), FAR)].into());
    assert_eq!(rules.subjects, [("u".to_owned(), 2_000)].into());
    assert_eq!(rules.clients, [("c".to_owned(), 7)].into());

    // A mirror started now reads the same rules.
    let revocations = mirror(&server).await;
    assert_eq!(revocations.status().tokens, 1);
    assert_eq!(
        check(&revocations, &sub("u", 1_500)),
        Ok(Some(Revoked::Subject { before: 2_000 }))
    );

    // Bad arguments are refused before anything is sent.
    for result in [
        writer.revoke_token("", FAR).await,
        writer.revoke_token(&"x".repeat(2_000), FAR).await,
        writer.revoke_subject("u", -1).await,
        writer.revoke_client("c", i64::MAX).await,
    ] {
        assert!(
            matches!(result, Err(RedisError::InvalidArgument(_))),
            "{result:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefixes_keep_deployments_apart() {
    let server = RedisServer::start();
    let options = |prefix: &str| RevocationOptions {
        prefix: prefix.to_owned(),
        ..RevocationOptions::default()
    };
    let blue = RedisRevocations::connect(&server.url(), options("blue:")).unwrap();
    let green = RedisRevocations::connect(&server.url(), options("green:")).unwrap();
    assert!(blue.wait_fresh(Duration::from_secs(5)).await);
    assert!(green.wait_fresh(Duration::from_secs(5)).await);
    let writer = RevocationWriter::connect_with(
        &server.url(),
        tollgate_redis::WriterOptions {
            prefix: "blue:".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    writer.revoke_token("j", FAR).await.unwrap();
    wait_until(Duration::from_secs(1), || revoked(&blue, &jti("j")))
        .await
        .expect("blue sees it");
    assert_eq!(check(&green, &jti("j")), Ok(None));
    let mut admin = admin(&server).await;
    let exists: bool = redis::cmd("EXISTS")
        .arg("blue:revoked:jti")
        .query_async(&mut admin)
        .await
        .unwrap();
    assert!(exists);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_message_makes_the_mirror_read_everything() {
    let server = RedisServer::start();
    let revocations = mirror(&server).await;
    let before = revocations.status().resyncs;
    let mut admin = admin(&server).await;
    // A rule stored without a message (another tool), then a message this version cannot read.
    let _: () = redis::cmd("HSET")
        .arg(&["tollgate:revoked:sub", "eve", "1000"])
        .query_async(&mut admin)
        .await
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg(&["tollgate:revoked:sub", "broken", "not-a-number"])
        .query_async(&mut admin)
        .await
        .unwrap();
    let _: i64 = redis::cmd("PUBLISH")
        .arg(&["tollgate:revocations", r#"{"kind":"future-rule"}"#])
        .query_async(&mut admin)
        .await
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(1), || revoked(
            &revocations,
            &sub("eve", 999)
        ))
        .await
        .is_some()
    );
    assert!(revocations.status().resyncs > before);
    // An unreadable instant fails closed for that subject only.
    assert!(revoked(&revocations, &sub("broken", now())));
    assert_eq!(check(&revocations, &sub("eve", 1000)), Ok(None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_ends_with_the_last_clone() {
    let server = RedisServer::start();
    let mut admin = admin(&server).await;
    let subscribers = |admin: &mut redis::aio::MultiplexedConnection| {
        let mut admin = admin.clone();
        async move {
            let (_, n): (String, i64) = redis::cmd("PUBSUB")
                .arg(&["NUMSUB", "tollgate:revocations"])
                .query_async(&mut admin)
                .await
                .unwrap();
            n
        }
    };
    let revocations = mirror(&server).await;
    let clone = revocations.clone();
    assert_eq!(subscribers(&mut admin).await, 1);
    drop(revocations);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        subscribers(&mut admin).await,
        1,
        "a clone still holds the task"
    );
    assert!(clone.is_fresh());
    drop(clone);
    let start = Instant::now();
    while subscribers(&mut admin).await != 0 {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "the task outlived its handles"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn malformed_urls_and_options_are_errors() {
    for url in [
        "localhost:6379",
        "http://h",
        "redis://h:99999",
        "redis://h/x",
        // `rediss://h` is a valid URL since TLS support; a malformed TLS one is refused.
        "rediss://h/#insecure",
        "rediss://h:99999",
    ] {
        assert!(matches!(
            RedisRevocations::connect(url, RevocationOptions::default()),
            Err(RedisError::InvalidUrl(_))
        ));
        assert!(matches!(
            RevocationWriter::connect(url).await,
            Err(RedisError::InvalidUrl(_))
        ));
    }
    let stale = RevocationOptions {
        max_staleness: Duration::from_millis(100),
        ..RevocationOptions::default()
    };
    assert!(matches!(
        RedisRevocations::connect("redis://127.0.0.1", stale),
        Err(RedisError::InvalidOption(_))
    ));
    let prefix = RevocationOptions {
        prefix: String::new(),
        ..RevocationOptions::default()
    };
    assert!(matches!(
        RedisRevocations::connect("redis://127.0.0.1", prefix),
        Err(RedisError::InvalidOption(_))
    ));
}

#[test]
fn outside_a_runtime_connect_is_an_error_not_a_panic() {
    assert!(matches!(
        RedisRevocations::connect("redis://127.0.0.1", RevocationOptions::default()),
        Err(RedisError::NoRuntime)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_up_to_waits_for_a_stale_mirror_then_answers() {
    use tollgate_core::revocation::RevocationCheck;
    let port = support::free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let revocations = RedisRevocations::connect(&url, RevocationOptions::default()).unwrap();
    let patient = revocations.waiting_up_to(Duration::from_millis(300));
    // Redis down: the bounded wait, then the mirror's error.
    let started = Instant::now();
    let err = patient.check(&jti("j"), now()).await.unwrap_err();
    let waited = started.elapsed();
    assert!(err.0.contains("not yet synchronised"), "{err}");
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(2),
        "{waited:?}"
    );

    // Redis comes up while a check waits: the check answers once fresh, not with an error.
    let patient = revocations.waiting_up_to(Duration::from_secs(10));
    let pending = patient.check(&sub("u", 5), now());
    assert!(
        pending.into_ready().is_err(),
        "a stale mirror makes it wait"
    );
    let server = RedisServer::on_port(port, false);
    let writer = RevocationWriter::connect(&server.url()).await.unwrap();
    writer.revoke_subject("u", 10).await.unwrap();
    let started = Instant::now();
    let answer = patient.check(&sub("u", 5), now()).await;
    println!(
        "a waiting check answered {:?} after Redis started",
        started.elapsed()
    );
    assert_eq!(answer, Ok(Some(Revoked::Subject { before: 10 })));
    // Fresh: at once.
    assert!(matches!(
        patient.check(&sub("u", 5), now()).into_ready(),
        Ok(Ok(Some(_)))
    ));
    assert!(patient.mirror().is_fresh());
}
