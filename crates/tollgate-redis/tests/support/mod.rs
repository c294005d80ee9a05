//! Redis test helpers: the server is the workspace's (`tollgate_test_support::redis`, a real
//! `redis-server` per test), plus a client connection and the mirror's answers.
#![allow(dead_code, unreachable_pub, unused_imports)]

use std::time::{Duration, Instant};

use tollgate_core::revocation::{RevocationCheck, RevocationResult, TokenFacts};
use tollgate_redis::{RedisError, RedisRevocations, RevocationWriter, TlsOptions, WriterOptions};
pub use tollgate_test_support::redis::{RedisServer, TlsFiles, free_port};

/// A plain connection for the test's own commands (CLIENT KILL, PUBLISH, ...); on a TLS
/// server, to its plain helper port.
pub async fn admin(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.plain_url())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("admin connection")
}

/// Waits until `condition` holds, at most `timeout`; the time it took, or `None`.
pub async fn wait_until(
    timeout: Duration,
    mut condition: impl FnMut() -> bool,
) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if condition() {
            return Some(start.elapsed());
        }
        if start.elapsed() >= timeout {
            return None;
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

/// The mirror's answer for these facts now.
pub fn check(revocations: &RedisRevocations, facts: &TokenFacts<'_>) -> RevocationResult {
    match revocations.check(facts, now()).into_ready() {
        Ok(result) => result,
        Err(_) => panic!("RedisRevocations must answer at once"),
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub fn jti(id: &str) -> TokenFacts<'_> {
    TokenFacts {
        jti: Some(id),
        ..TokenFacts::default()
    }
}

pub fn sub(id: &str, iat: i64) -> TokenFacts<'_> {
    TokenFacts {
        sub: Some(id),
        iat: Some(iat),
        ..TokenFacts::default()
    }
}

pub fn client(id: &str, iat: i64) -> TokenFacts<'_> {
    TokenFacts {
        azp: Some(id),
        iat: Some(iat),
        ..TokenFacts::default()
    }
}

/// A loopback port that accepts connections and never answers (neither RESP nor a TLS
/// ServerHello): what bounds the connect and command timeouts. Abort the task to close it.
pub async fn silent_server() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let port = listener.local_addr().expect("its address").port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (port, task)
}

/// TLS options trusting only `ca_pem` (the test's own CA).
pub fn trusting(ca_pem: &[u8]) -> TlsOptions {
    TlsOptions::default().ca_certificate(ca_pem.to_vec())
}

/// A writer on `url` with `tls` and a 1 s bound on each call.
pub async fn tls_writer(url: &str, tls: TlsOptions) -> Result<RevocationWriter, RedisError> {
    let options = WriterOptions {
        tls,
        timeout: Duration::from_secs(1),
        ..WriterOptions::default()
    };
    RevocationWriter::connect_with(url, options).await
}
