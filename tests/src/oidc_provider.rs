//! panva's certified `oidc-provider` (Node.js, pinned in
//! `crates/tollgate-core/tests/oidc_provider/package-lock.json`), started on 127.0.0.1: an OpenID
//! Provider we did not write, for the interoperability suites of core (discovery, key rotation)
//! and of the CLI (DPoP-bound tokens).
//!
//! Needs `node` and `npm` on `PATH` (oidc-provider 9 supports Node.js 22 LTS and later; on 20 it
//! runs and warns). The suites are part of what the project promises: without them they fail,
//! they do not skip. [`install_dependencies`] runs `npm ci` from the committed lock file when
//! `node_modules` is missing (`scripts/test` does it up front).
//!
//! ```no_run
//! use tollgate_test_support::oidc_provider::{OpenIdProvider, install_dependencies};
//!
//! install_dependencies(&["oidc-provider"]);
//! let provider = OpenIdProvider::start(0); // any free port
//! println!("issuer {}", provider.issuer());
//! ```

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

/// How long the provider may take to print its `LISTENING <port>` line.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The provider's directory (`provider.mjs`, `dpop-proof.mjs`, the lock file, `node_modules`).
pub fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/tollgate-core/tests/oidc_provider")
}

/// Panics, saying what to install, unless `tool --version` runs.
pub fn require_tool(tool: &str) {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        found,
        "`{tool}` is not on PATH: the interop tests run panva's oidc-provider (and dpop) \
         packages, which need Node.js (v22 LTS or later; v20 works with a warning) and npm; \
         install them and run the tests again"
    );
}

/// Installs the node packages from the committed lock file unless every one of `packages` is
/// already installed. Several tests may ask at once: one installs, the others wait.
pub fn install_dependencies(packages: &[&str]) {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    require_tool("node");
    let dir = provider_dir();
    let installed = packages
        .iter()
        .all(|p| dir.join(format!("node_modules/{p}/package.json")).is_file());
    if installed {
        return;
    }
    require_tool("npm");
    let output = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .output()
        .expect("running npm ci");
    assert!(
        output.status.success(),
        "npm ci in {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A running `node provider.mjs`; killed when dropped.
#[derive(Debug)]
pub struct OpenIdProvider {
    child: Child,
    /// The port it listens on.
    pub port: u16,
}

impl OpenIdProvider {
    /// Starts the provider on `port` (0: any free port) with freshly generated keys. Retries for
    /// a few seconds while the port is still in use (a restart on the same port).
    pub fn start(port: u16) -> OpenIdProvider {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match Self::try_start(port, deadline) {
                Ok(provider) => return provider,
                Err(log) if log.contains("EADDRINUSE") && Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(200));
                }
                Err(log) => panic!("oidc-provider did not start on port {port}:\n{log}"),
            }
        }
    }

    /// Spawns the process and waits for its `LISTENING <port>` line; on failure, returns what
    /// it wrote to stderr.
    fn try_start(port: u16, deadline: Instant) -> Result<OpenIdProvider, String> {
        let child = Command::new("node")
            .arg("provider.mjs")
            .arg(port.to_string())
            .current_dir(provider_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning node provider.mjs");
        // The guard kills the process if it does not come up.
        let mut provider = OpenIdProvider { child, port };
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = provider.child.stderr.take().expect("stderr");
        let log = Arc::clone(&stderr);
        let stderr_reader = thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                log.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let (tx, rx) = mpsc::channel();
        let stdout = provider.child.stdout.take().expect("stdout");
        thread::spawn(move || {
            // Keep reading to the end so the child never blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line.strip_prefix("LISTENING ") {
                    let _ = tx.send(port.trim().parse::<u16>());
                }
            }
        });
        let reason = match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Ok(port)) => {
                provider.port = port;
                return Ok(provider);
            }
            Ok(Err(err)) => format!("bad LISTENING line: {err}"),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                format!("no LISTENING line within {START_TIMEOUT:?}")
            }
            // Stdout closed: the process exited (e.g. EADDRINUSE).
            Err(mpsc::RecvTimeoutError::Disconnected) => "the process exited".to_owned(),
        };
        drop(provider);
        let _ = stderr_reader.join();
        let log = stderr.lock().unwrap();
        Err(format!("{reason}; its stderr:\n{log}"))
    }

    /// `http://127.0.0.1:<port>`.
    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for OpenIdProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
