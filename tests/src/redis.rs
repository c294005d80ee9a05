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
//!
//! [`RedisServer::start_tls`] serves TLS (`rediss://`) on [`port`](RedisServer::port) with
//! certificates from [`TlsFiles`], made at test time; the helper's own commands then go to a
//! second, plain loopback port.

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
    /// Its loopback port (kept across [`restart`](Self::restart)); TLS only after
    /// [`start_tls`](Self::start_tls).
    pub port: u16,
    dir: PathBuf,
    persistent: bool,
    /// With TLS: the plain port of [`command`](Self::command), and the certificate files.
    tls: Option<(u16, TlsFiles)>,
    child: Option<Child>,
}

/// A CA and a server certificate signed by it, as PEM, and written to files for
/// `redis-server`'s `--tls-*` options. Made with rcgen at each call.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA certificate (what a client passes as its trusted root).
    pub ca_pem: Vec<u8>,
    /// The server certificate, signed by the CA.
    pub cert_pem: String,
    /// The server's private key.
    pub key_pem: String,
}

impl TlsFiles {
    /// A server certificate for `localhost` and `127.0.0.1`.
    pub fn generate() -> Self {
        Self::generate_for(&["localhost", "127.0.0.1"])
    }

    /// A server certificate for `names` (host names or IP addresses).
    pub fn generate_for(names: &[&str]) -> Self {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            // A name of its own: two test CAs must not look like the same issuer.
            .push(
                rcgen::DnType::CommonName,
                format!(
                    "tollgate test CA {}-{}",
                    std::process::id(),
                    NEXT.fetch_add(1, Ordering::Relaxed)
                ),
            );
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().expect("server key");
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let params = rcgen::CertificateParams::new(names).expect("server params");
        let cert = params.signed_by(&key, &issuer).expect("server certificate");
        TlsFiles {
            ca_pem: ca.pem().into_bytes(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
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

    /// A throwaway server speaking only TLS on [`port`](Self::port), with `files`' server
    /// certificate (clients are not asked for one).
    pub fn start_tls(files: &TlsFiles) -> Self {
        Self::start_with(free_port(), false, Some((free_port(), files.clone())))
    }

    /// A server on `port` (for a port picked before the server starts).
    pub fn on_port(port: u16, persistent: bool) -> Self {
        Self::start_with(port, persistent, None)
    }

    fn start_with(port: u16, persistent: bool, tls: Option<(u16, TlsFiles)>) -> Self {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "tollgate-redis-test-{}-{n}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        if let Some((_, files)) = &tls {
            std::fs::write(dir.join("ca.pem"), &files.ca_pem).expect("write ca.pem");
            std::fs::write(dir.join("cert.pem"), &files.cert_pem).expect("write cert.pem");
            std::fs::write(dir.join("key.pem"), &files.key_pem).expect("write key.pem");
        }
        let mut server = RedisServer {
            port,
            dir,
            persistent,
            tls,
            child: None,
        };
        server.spawn();
        server
    }

    /// `redis://127.0.0.1:<port>` (`rediss://` after [`start_tls`](Self::start_tls)).
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// `redis://127.0.0.1:<plain port>`: [`url`](Self::url) on a plain server, the helper's
    /// own port on a TLS one (for a test's admin connection).
    pub fn plain_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.plain_port())
    }

    /// The port [`command`](Self::command) talks to: plain even on a TLS server.
    fn plain_port(&self) -> u16 {
        self.tls.as_ref().map_or(self.port, |(plain, _)| *plain)
    }

    fn spawn(&mut self) {
        let aof = if self.persistent { "yes" } else { "no" };
        let mut server = Command::new("redis-server");
        match &self.tls {
            None => server.args(["--port", &self.port.to_string()]),
            Some((plain, _)) => server
                .args(["--port", &plain.to_string()])
                .args(["--tls-port", &self.port.to_string()])
                .arg("--tls-cert-file")
                .arg(self.dir.join("cert.pem"))
                .arg("--tls-key-file")
                .arg(self.dir.join("key.pem"))
                .arg("--tls-ca-cert-file")
                .arg(self.dir.join("ca.pem"))
                .args(["--tls-auth-clients", "no"]),
        };
        let child = server
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
        while command(self.plain_port(), &["PING"]).as_deref() != Some("+PONG") {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {} within 5 s",
                self.plain_port()
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
        let port = self.plain_port();
        command(port, args)
            .unwrap_or_else(|| panic!("redis on port {port} did not answer {args:?}"))
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

/// `rediss://` (TLS) URLs: `tollgate-redis` and `AuthConfig`'s `<prefix>REVOCATION_REDIS_URL`
/// accept them (each shown as here); `tollgate serve` refuses them (its contract is redis://).
pub const TLS_URLS: [(&str, &str); 5] = [
    ("rediss://127.0.0.1", "rediss://127.0.0.1:6379/0"),
    (
        "rediss://cache.example.com:6380/1",
        "rediss://cache.example.com:6380/1",
    ),
    ("rediss://[::1]:7000/", "rediss://[::1]:7000/0"),
    ("rediss://:secret@h:1/2", "rediss://***@h:1/2"),
    ("rediss://default:hunter2@h:1/2", "rediss://***@h:1/2"),
];

/// URLs both parsers refuse (none of them empty: an empty variable counts as unset). The
/// `rediss://` ones are malformed in ways a `redis://` URL would be refused for too (a
/// `#insecure` fragment would turn the client's certificate checks off).
pub const BAD_URLS: [&str; 24] = [
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
    "rediss://h?db=1",
    "rediss://h/#insecure",
    "rediss://",
    "rediss://h:0",
    "rediss:/h",
    "REDISS://h",
    "unix:///tmp/redis.sock",
    "redis://user:hunter2@h:port",
];
