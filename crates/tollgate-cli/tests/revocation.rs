#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Revocation in `tollgate serve`, black-box, against a real `redis-server` shared by two `serve`
//! processes: the `AUTH_REVOCATION_REDIS_URL` / `AUTH_REVOCATION_FAIL_OPEN` contract (issue 16),
//! `tollgate revoke` and `tollgate revoked`, the bounds on propagation and outages, and the
//! shared DPoP replay store. Measured times are printed (`--nocapture` shows them).

mod support;

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use support::{Answer, Serve, now, run, run_async, stderr, stdout};
use tollgate::testing::SigningKey;
use tollgate_test_support::redis::{RedisServer, TlsFiles, free_port};

const SECRET: &str = "revocation-test-secret-0123456789abcdef";
const REVOKED: &str = "the access token was revoked";

/// An HS256 token under `SECRET` with `claims` and `exp` in 10 minutes.
fn token(claims: Value) -> String {
    let mut map: Map<String, Value> = serde_json::from_value(claims).unwrap();
    map.entry("exp").or_insert(json!(now() + 600));
    SigningKey::hmac(SECRET).unwrap().sign(&map, "JWT").unwrap()
}

/// A `serve` on `redis` with HS256 and `extra` variables.
async fn serve(redis: &str, extra: &[(&str, &str)]) -> Serve {
    let mut envs = vec![
        ("AUTH_HS256_SECRET", SECRET),
        ("AUTH_REVOCATION_REDIS_URL", redis),
    ];
    envs.extend_from_slice(extra);
    Serve::start(&envs).await
}

/// `tollgate revoke --redis URL args...`, asserted to succeed; the instant it exited.
async fn revoke(redis: &str, args: &[&str]) -> Instant {
    let mut argv = vec!["revoke", "--redis", redis];
    argv.extend_from_slice(args);
    let output = run_async(&argv, &[]).await;
    let exited = Instant::now();
    assert!(output.status.success(), "{argv:?}: {}", stderr(&output));
    assert!(
        stdout(&output).starts_with("revoked "),
        "{}",
        stdout(&output)
    );
    exited
}

fn assert_revoked(answer: &Answer) {
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(
        answer.error_code().as_deref(),
        Some("invalid_token"),
        "{answer:?}"
    );
    assert_eq!(answer.json()["error_description"], REVOKED, "{answer:?}");
}

/// Polls every instance with `token` until each answers `status`; the time since `since`, or
/// a panic naming the last answers once `limit` has passed.
async fn until_all(
    serves: &[&Serve],
    token: &str,
    status: u16,
    since: Instant,
    limit: Duration,
) -> Duration {
    loop {
        let mut answers = Vec::new();
        for serve in serves {
            answers.push(serve.get("/me", Some(token)).await);
        }
        if answers.iter().all(|a| a.status == status) {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < limit,
            "not every instance answered {status} within {limit:?}: {answers:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits (at most 5 s) until every instance accepts `token`: the mirrors are fresh.
async fn accepted(serves: &[&Serve], token: &str) {
    until_all(serves, token, 200, Instant::now(), Duration::from_secs(5)).await;
}

/// Waits until `revoke` has taken effect on both instances: 401 revoked, within 1 s of the
/// command's exit. Prints the time.
async fn refused_within_a_second(serves: &[&Serve], token: &str, exited: Instant, what: &str) {
    let took = until_all(serves, token, 401, exited, Duration::from_secs(1)).await;
    println!(
        "revocation by {what}: refused by both instances {took:?} after `tollgate revoke` exited"
    );
    for serve in serves {
        assert_revoked(&serve.get("/me", Some(token)).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jti_sub_and_client_revocations_reach_both_instances_within_a_second() {
    let redis = RedisServer::start();
    let url = redis.url();
    let a = serve(&url, &[]).await;
    let b = serve(&url, &[]).await;
    let both = [&a, &b];

    let t = now() - 100;
    let by_jti = token(json!({"sub": "alice", "jti": "tok-1", "iat": t}));
    let other_jti = token(json!({"sub": "alice", "jti": "tok-2", "iat": t}));
    let bob_before = token(json!({"sub": "bob", "iat": t - 1}));
    let bob_at = token(json!({"sub": "bob", "iat": t}));
    let bob_no_iat = token(json!({"sub": "bob"}));
    let by_client_id = token(json!({"sub": "carol", "client_id": "app-1", "iat": t}));
    let by_azp = token(json!({"sub": "dave", "azp": "app-1", "iat": t}));
    let other_client = token(json!({"sub": "erin", "client_id": "app-2", "iat": t}));
    let all = [
        &by_jti,
        &other_jti,
        &bob_before,
        &bob_at,
        &bob_no_iat,
        &by_client_id,
        &by_azp,
        &other_client,
    ];
    for token in all {
        accepted(&both, token).await;
    }

    let exp = (now() + 600).to_string();
    let exited = revoke(&url, &["--jti", "tok-1", "--exp", &exp]).await;
    refused_within_a_second(&both, &by_jti, exited, "jti").await;

    let before = t.to_string();
    let exited = revoke(&url, &["--sub", "bob", "--before", &before]).await;
    refused_within_a_second(&both, &bob_before, exited, "sub (iat < T)").await;
    for serve in both {
        assert_revoked(&serve.get("/me", Some(&bob_no_iat)).await);
        assert_eq!(
            serve.status("/me", &bob_at).await,
            200,
            "iat == T is accepted"
        );
    }

    // No --before: everything issued to the client until now.
    let exited = revoke(&url, &["--client", "app-1"]).await;
    refused_within_a_second(&both, &by_client_id, exited, "client (client_id)").await;
    refused_within_a_second(&both, &by_azp, exited, "client (azp)").await;

    for serve in both {
        for token in [&other_jti, &bob_at, &other_client] {
            assert_eq!(serve.status("/me", token).await, 200);
        }
    }

    let listed = run_async(&["revoked", "--redis", &url, "--json"], &[]).await;
    assert!(listed.status.success(), "{}", stderr(&listed));
    let listed: Value = serde_json::from_str(stdout(&listed).trim()).unwrap();
    assert_eq!(
        listed["tokens"],
        json!([{"jti": "tok-1", "exp": exp.parse::<i64>().unwrap()}])
    );
    assert_eq!(listed["subjects"], json!([{"sub": "bob", "before": t}]));
    assert_eq!(listed["clients"][0]["client"], "app-1");
    let text = run_async(&["revoked", "--redis", &url], &[]).await;
    let text = stdout(&text);
    assert!(
        text.starts_with("1 tokens, 1 subjects, 1 clients revoked"),
        "{text}"
    );
    assert!(text.contains("subject bob  issued before"), "{text}");

    // A whole token: jti and exp read from it, without verification.
    let pasted = token(json!({"sub": "frank", "jti": "tok-3", "iat": t}));
    accepted(&both, &pasted).await;
    let exited = revoke(&url, &["--token", &pasted]).await;
    refused_within_a_second(&both, &pasted, exited, "--token").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_fails_closed_or_open_and_recovers() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let closed = serve(&url, &[]).await;
    let open = serve(&url, &[("AUTH_REVOCATION_FAIL_OPEN", "1")]).await;
    let valid = token(json!({"sub": "alice", "iat": now() - 10}));
    accepted(&[&closed, &open], &valid).await;

    let killed = Instant::now();
    redis.kill();
    let took = until_all(&[&closed], &valid, 503, killed, Duration::from_secs(2)).await;
    println!("Redis killed: fail-closed instance answers 503 after {took:?}");
    let answer = closed.get("/me", Some(&valid)).await;
    assert_ne!(
        answer.error_code().as_deref(),
        Some("invalid_token"),
        "{answer:?}"
    );
    // Fail open: the outage never refuses a valid token.
    while killed.elapsed() < Duration::from_millis(2500) {
        assert_eq!(open.status("/me", &valid).await, 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(closed.status("/me", &valid).await, 503);

    let back = Instant::now();
    redis.restart();
    let took = until_all(
        &[&closed, &open],
        &valid,
        200,
        back,
        Duration::from_secs(10),
    )
    .await;
    println!("Redis back on the same port: valid tokens 200 again after {took:?}");

    // The instances' connections dropped by Redis, and a revocation made at once: enforced
    // within 2 s (the mirrors read the whole state again on reconnecting).
    let victim = token(json!({"sub": "mallory", "iat": now() - 10}));
    accepted(&[&closed, &open], &victim).await;
    redis.command(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    redis.command(&["CLIENT", "KILL", "TYPE", "normal"]);
    let exited = revoke(&url, &["--sub", "mallory"]).await;
    let took = until_all(
        &[&closed, &open],
        &victim,
        401,
        exited,
        Duration::from_secs(2),
    )
    .await;
    println!("revocation while the instances were cut off (CLIENT KILL): enforced after {took:?}");
    assert_revoked(&closed.get("/me", Some(&victim)).await);
    assert_revoked(&open.get("/me", Some(&victim)).await);
    assert_eq!(closed.status("/me", &valid).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_unreachable_at_start_is_an_outage_not_a_configuration_error() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let started = Instant::now();
    let down = serve(&url, &[]).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "serve waited too long for Redis"
    );
    let valid = token(json!({"sub": "alice", "iat": now() - 10}));
    assert_eq!(down.status("/me", &valid).await, 503);
    assert_eq!(down.get("/public", None).await.status, 200);
    assert_eq!(
        down.get("/me", None).await.status,
        401,
        "no token: still 401"
    );
    let open = serve(&url, &[("AUTH_REVOCATION_FAIL_OPEN", "true")]).await;
    assert_eq!(open.status("/me", &valid).await, 200);

    // Redis comes up: the instance follows without a restart.
    let up = Instant::now();
    let _redis = RedisServer::on_port(port, false);
    let took = until_all(&[&down], &valid, 200, up, Duration::from_secs(10)).await;
    println!("Redis up after serve started: 200 after {took:?}");
}

#[test]
fn bad_revocation_settings_exit_with_code_2() {
    for (envs, mention) in [
        (
            vec![("AUTH_REVOCATION_REDIS_URL", "http://127.0.0.1:6379")],
            "AUTH_REVOCATION_REDIS_URL",
        ),
        (
            vec![("AUTH_REVOCATION_REDIS_URL", "rediss://cache.internal")],
            "AUTH_REVOCATION_REDIS_URL",
        ),
        (
            vec![("AUTH_REVOCATION_REDIS_URL", "redis://:hunter2@h:99999")],
            "AUTH_REVOCATION_REDIS_URL",
        ),
        (
            vec![("AUTH_REVOCATION_FAIL_OPEN", "1")],
            "AUTH_REVOCATION_FAIL_OPEN",
        ),
        (
            vec![
                ("AUTH_REVOCATION_REDIS_URL", "redis://127.0.0.1"),
                ("AUTH_REVOCATION_FAIL_OPEN", "sometimes"),
            ],
            "AUTH_REVOCATION_FAIL_OPEN",
        ),
    ] {
        let mut all = vec![("AUTH_HS256_SECRET", SECRET), ("BIND", "127.0.0.1:0")];
        all.extend(envs.iter().copied());
        let output = run(&["serve"], &all);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{envs:?}: {err}");
        assert!(err.contains(mention), "{envs:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}

#[test]
fn serve_refuses_rediss_and_says_where_tls_is() {
    for url in [
        "rediss://cache.internal",
        " rediss://:hunter2@cache.internal:6380/1 ",
    ] {
        let envs = [
            ("AUTH_HS256_SECRET", SECRET),
            ("BIND", "127.0.0.1:0"),
            ("AUTH_REVOCATION_REDIS_URL", url),
        ];
        let output = run(&["serve"], &envs);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{url}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        for says in [
            "AUTH_REVOCATION_REDIS_URL",
            "tollgate serve takes redis://",
            "tollgate-redis",
            "tollgate revoke",
        ] {
            assert!(err.contains(says), "{url}: {err}");
        }
        assert!(!err.contains("hunter2"), "{err}");
    }
}

/// `tollgate revoke` and `revoked` over TLS (`rediss://` and `--redis-ca`), a `serve` on the
/// same Redis through its plain port refusing the token: one Redis, two listeners.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_over_tls_with_a_ca_file() {
    let files = TlsFiles::generate();
    let redis = RedisServer::start_tls(&files);
    let url = redis.url();
    assert!(url.starts_with("rediss://"), "{url}");
    let dir = std::env::temp_dir().join(format!("tollgate-cli-redis-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &files.ca_pem).unwrap();
    let ca = ca.to_str().unwrap();

    let api = serve(&redis.plain_url(), &[]).await;
    let jti = format!("tls-{}", now());
    let bearer = token(json!({ "sub": "alice", "jti": jti }));
    accepted(&[&api], &bearer).await;
    let exited = revoke(&url, &["--redis-ca", ca, "--jti", &jti]).await;
    refused_within_a_second(&[&api], &bearer, exited, "jti over TLS").await;

    let listed = run_async(
        &["revoked", "--redis", &url, "--redis-ca", ca, "--json"],
        &[],
    )
    .await;
    assert!(listed.status.success(), "{}", stderr(&listed));
    let listed: Value = serde_json::from_str(&stdout(&listed)).unwrap();
    assert_eq!(listed["tokens"][0]["jti"], jti.as_str(), "{listed}");

    // The system roots do not know the test CA, nor does another CA: refused (exit 1), saying
    // why, within the command's bound.
    let other = dir.join("other.pem");
    std::fs::write(&other, TlsFiles::generate().ca_pem).unwrap();
    for extra in [vec![], vec!["--redis-ca", other.to_str().unwrap()]] {
        let mut argv = vec!["revoke", "--redis", &url, "--sub", "bob"];
        argv.extend(extra.iter().copied());
        let started = Instant::now();
        let output = run_async(&argv, &[]).await;
        assert_eq!(output.status.code(), Some(1), "{argv:?}: {output:?}");
        assert!(
            stderr(&output).contains("certificate"),
            "{}",
            stderr(&output)
        );
        assert!(started.elapsed() < Duration::from_millis(3500), "{argv:?}");
    }
    // Usage errors (2): a missing or empty CA file, a CA with a plain redis:// URL.
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, b"").unwrap();
    let missing = dir.join("missing.pem");
    let plain = redis.plain_url();
    for argv in [
        vec![
            "revoke",
            "--redis",
            &url,
            "--redis-ca",
            missing.to_str().unwrap(),
            "--sub",
            "c",
        ],
        vec![
            "revoke",
            "--redis",
            &url,
            "--redis-ca",
            empty.to_str().unwrap(),
            "--sub",
            "c",
        ],
        vec!["revoked", "--redis", &plain, "--redis-ca", ca],
    ] {
        let output = run_async(&argv, &[]).await;
        assert_eq!(output.status.code(), Some(2), "{argv:?}: {output:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn revoke_fails_fast_when_redis_is_down_and_refuses_bad_arguments() {
    let down = format!("redis://127.0.0.1:{}", free_port());
    for args in [
        vec!["revoke", "--redis", &down, "--sub", "alice"],
        vec!["revoked", "--redis", &down],
    ] {
        let started = Instant::now();
        let output = run(&args, &[]);
        let took = started.elapsed();
        assert_eq!(output.status.code(), Some(1), "{args:?}: {output:?}");
        assert!(stderr(&output).contains("Redis"), "{}", stderr(&output));
        assert!(took < Duration::from_millis(3500), "{args:?} took {took:?}");
        println!("{args:?} with Redis down: exit 1 after {took:?}");
    }
    for args in [
        vec!["revoke", "--redis", "http://127.0.0.1", "--sub", "alice"],
        vec![
            "revoke",
            "--redis",
            "redis://127.0.0.1",
            "--jti",
            "j",
            "--before",
            "5",
        ],
        vec!["revoke", "--redis", "redis://127.0.0.1"],
        vec![
            "revoke",
            "--redis",
            "redis://127.0.0.1",
            "--sub",
            "a",
            "--client",
            "b",
        ],
        vec![
            "revoke",
            "--redis",
            "redis://127.0.0.1",
            "--token",
            "not-a-jwt",
        ],
    ] {
        let output = run(&args, &[]);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dpop_proof_replayed_against_the_other_instance_is_refused() {
    let redis = RedisServer::start();
    let url = redis.url();
    // Both behind one public origin, as behind a load balancer.
    let public = "https://api.example.com";
    let dpop = [("AUTH_DPOP", "required"), ("AUTH_PUBLIC_URL", public)];
    let a = serve(&url, &dpop).await;
    let b = serve(&url, &dpop).await;
    let minted = run_async(
        &[
            "token",
            "--secret",
            SECRET,
            "--dpop",
            "--format",
            "json",
            "--url",
            &format!("{public}/me"),
        ],
        &[],
    )
    .await;
    assert!(minted.status.success(), "{}", stderr(&minted));
    let minted: Value = serde_json::from_str(stdout(&minted).trim()).unwrap();
    let (bound, proof) = (
        minted["token"].as_str().unwrap(),
        minted["proof"].as_str().unwrap(),
    );
    let first = a.get_dpop("/me", Some(("DPoP", bound)), Some(proof)).await;
    assert_eq!(first.status, 200, "{first:?}");
    let replayed = b.get_dpop("/me", Some(("DPoP", bound)), Some(proof)).await;
    assert_eq!(replayed.status, 401, "{replayed:?}");
    assert_eq!(replayed.error(), "invalid_dpop_proof", "{replayed:?}");
    // Against the first instance too.
    let again = a.get_dpop("/me", Some(("DPoP", bound)), Some(proof)).await;
    assert_eq!(again.error(), "invalid_dpop_proof", "{again:?}");
    let keys = redis.command(&["EVAL", "return #redis.call('KEYS', 'tollgate:dpop:*')", "0"]);
    assert_eq!(keys, ":1", "one proof remembered in Redis");
}

/// `serve` throughput with revocation off and on (one Redis mirror), same token, same run.
/// Not a test (nothing to assert beyond every answer being 200): a measurement, run with the
/// release binary:
///
/// ```sh
/// cargo build --release -p tollgate-cli
/// TOLLGATE_TEST_BIN=target/release/tollgate cargo test --release -p tollgate-cli \
///     --test revocation -- --ignored --nocapture serve_throughput
/// ```
///
/// 32 concurrent keep-alive connections (reqwest, in this process, on the same cores as the
/// server) send `GET /me` for 3 s per round; rounds alternate off/on, 3 each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; see the doc comment"]
async fn serve_throughput_with_and_without_revocation() {
    const CONNECTIONS: usize = 32;
    const ROUND: Duration = Duration::from_secs(3);
    let redis = RedisServer::start();
    let off = Serve::start(&[("AUTH_HS256_SECRET", SECRET)]).await;
    let on = serve(&redis.url(), &[]).await;
    // Realistic lists: 1,000 of each kind, none matching.
    for i in 0..1000 {
        let id = format!("other-{i}");
        let writes = [
            vec!["ZADD", "tollgate:revoked:jti", "4102444800", id.as_str()],
            vec!["HSET", "tollgate:revoked:sub", id.as_str(), "1700000000"],
            vec!["HSET", "tollgate:revoked:client", id.as_str(), "1700000000"],
        ];
        for write in &writes {
            redis.command(write);
        }
    }
    revoke(&redis.url(), &["--sub", "someone-else"]).await; // published: mirrors reread
    let valid = token(json!({"sub": "alice", "jti": "t-1", "iat": now() - 10, "client_id": "app"}));
    accepted(&[&off, &on], &valid).await;

    async fn round(serve: &Serve, token: &str) -> (f64, Duration, Duration) {
        let url = serve.url("/me");
        let deadline = Instant::now() + ROUND;
        let mut tasks = Vec::new();
        for _ in 0..CONNECTIONS {
            let (http, url, token) = (support::client(), url.clone(), token.to_owned());
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let response = http.get(&url).bearer_auth(&token).send().await.unwrap();
                    assert_eq!(response.status(), 200);
                    let _ = response.bytes().await.unwrap();
                    latencies.push(sent.elapsed());
                }
                latencies
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        all.sort_unstable();
        let at = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
        (all.len() as f64 / ROUND.as_secs_f64(), at(0.5), at(0.99))
    }

    round(&off, &valid).await; // warm-up
    round(&on, &valid).await;
    for i in 1..=3 {
        for (name, serve) in [("off", &off), ("on", &on)] {
            let (rps, p50, p99) = round(serve, &valid).await;
            println!("round {i} revocation {name}: {rps:.0} req/s, p50 {p50:?}, p99 {p99:?}");
        }
    }
    assert!(on.process.stderr().is_empty() || !on.process.stderr().contains("ERROR"));
}
