//! A real `redis-server` per test, on a free loopback port, killed on drop
//! (`scripts/redis-server` installs it).
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tollgate_core::revocation::{RevocationCheck, RevocationResult, TokenFacts};
use tollgate_redis::RedisRevocations;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A `redis-server` child process.
pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    persistent: bool,
    child: Option<Child>,
}

impl RedisServer {
    /// A throwaway server (`--save "" --appendonly no`).
    pub fn start() -> Self {
        Self::on_port(free_port(), false)
    }

    /// A server whose state survives a restart (`--appendonly yes --appendfsync always`).
    pub fn start_persistent() -> Self {
        Self::on_port(free_port(), true)
    }

    /// A server on `port` (for a port picked before the server starts).
    pub fn on_port(port: u16, persistent: bool) -> Self {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "tollgate-redis-test-{}-{n}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut server = RedisServer {
            port,
            dir,
            persistent,
            child: None,
        };
        server.spawn();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let aof = if self.persistent { "yes" } else { "no" };
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", aof])
            .args(["--appendfsync", "always"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}): run scripts/redis-server to install it")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !ping(self.port) {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {} within 5 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills the server (SIGKILL: no goodbye to the clients).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (state kept when persistent).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

/// A plain connection for the test's own commands (CLIENT KILL, PUBLISH, ...).
pub async fn admin(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
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
