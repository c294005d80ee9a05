//! A real `redis-server` per test, on a free loopback port, killed on drop
//! (`scripts/redis-server` installs it), and a bare RESP client for the
//! test's own commands (`CLIENT KILL`, `FLUSHALL`...), so that suites need no Redis client.
//!
//! ```no_run
//! use tollgate_test_support::redis::RedisServer;
//!
//! let mut server = RedisServer::start();
//! assert_eq!(server.command(&["PING"]), "+PONG");
//! server.kill();
//! server.restart(); // same port
//! ```

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A `redis-server` child process.
#[derive(Debug)]
pub struct RedisServer {
    /// Its loopback port (kept across [`restart`](Self::restart)).
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

    /// `redis://127.0.0.1:<port>`.
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
        while command(self.port, &["PING"]).as_deref() != Some("+PONG") {
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

    /// Runs one command on a fresh connection; the first line of the reply (`+OK`, `:2`, ...).
    pub fn command(&self, args: &[&str]) -> String {
        command(self.port, args)
            .unwrap_or_else(|| panic!("redis on port {} did not answer {args:?}", self.port))
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

/// `args` as a RESP array on a new connection; the reply's first line, `None` when nothing
/// answers within 1 s.
fn command(port: u16, args: &[&str]) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(request.as_bytes()).ok()?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).ok()?;
    let line = line.trim_end();
    (!line.is_empty()).then(|| line.to_owned())
}

/// `redis://` URLs that both parsers accept (`tollgate-redis`'s own, and `AuthConfig`'s for
/// `<prefix>REVOCATION_REDIS_URL`, which core checks without a Redis client), each with the form
/// shown in logs (port and database filled in, never the password). One table, so that the two
/// cannot drift apart.
pub const GOOD_URLS: [(&str, &str); 7] = [
    ("redis://127.0.0.1", "redis://127.0.0.1:6379/0"),
    ("redis://localhost:6380", "redis://localhost:6380/0"),
    (
        "redis://cache.internal:6379/3",
        "redis://cache.internal:6379/3",
    ),
    ("redis://[::1]:7000/", "redis://[::1]:7000/0"),
    ("redis://[::1]", "redis://[::1]:6379/0"),
    ("redis://:secret@h:1/2", "redis://***@h:1/2"),
    ("redis://user:hunter2@h:1/2", "redis://***@h:1/2"),
];

/// URLs both parsers refuse (none of them empty: an empty variable counts as unset).
pub const BAD_URLS: [&str; 19] = [
    "localhost:6379",
    "http://localhost",
    "redis:/localhost",
    "redis://",
    "redis://:6379",
    "redis://h:0",
    "redis://h:70000",
    "redis://h:port",
    "redis://h/db",
    "redis://h/1/2",
    "redis://h/+1",
    "redis://h/99999999",
    "redis://h?db=1",
    "redis://h#x",
    "redis://h x",
    "redis://[::1",
    "rediss://h",
    "unix:///tmp/redis.sock",
    "redis://user:hunter2@h:port",
];
