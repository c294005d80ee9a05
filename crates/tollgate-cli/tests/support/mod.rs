//! Runs the built `tollgate` binary: long-running commands (demo, serve) behind a guard that
//! kills them, one-shot commands with their output.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader, Read as _};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_tollgate");

/// The binary under test: `BIN`, or `TOLLGATE_TEST_BIN` when set (another build of it, e.g.
/// the release one for the ignored throughput measurement in `revocation.rs`).
pub(crate) fn bin() -> std::ffi::OsString {
    std::env::var_os("TOLLGATE_TEST_BIN").unwrap_or_else(|| BIN.into())
}

/// A command with a clean `serve` environment (no `BIND`, no `AUTH_*` variable) plus `envs`.
pub(crate) fn command(args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut command = Command::new(bin());
    command.args(args);
    command.env_remove("BIND");
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(|n| n.starts_with("AUTH_")) {
            command.env_remove(name);
        }
    }
    command.env("RUST_LOG", "warn");
    for (name, value) in envs {
        command.env(name, value);
    }
    command
}

/// Runs a one-shot command to completion (bounded by the test harness).
pub(crate) fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    command(args, envs)
        .stdin(Stdio::null())
        .output()
        .expect("run tollgate")
}

/// Same, without blocking the async runtime (for commands that talk to an in-test server).
pub(crate) async fn run_async(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let std_command = command(args, envs);
    let mut command = tokio::process::Command::from(std_command);
    command.stdin(Stdio::null()).kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("tollgate finished in time")
        .expect("run tollgate")
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Unix seconds now.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

/// A free loopback port (bound then released).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A running `tollgate` process, killed (and reaped) on drop.
pub(crate) struct Running {
    child: Child,
    /// Stdout lines up to and including the ready line.
    pub lines: Vec<String>,
    /// The ready line.
    pub ready: String,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `tollgate args` and waits (at most 30 s) for a stdout line starting with `ready`.
pub(crate) fn start(args: &[&str], envs: &[(&str, &str)], ready: &str) -> Running {
    let mut child = command(args, envs)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tollgate");
    let stdout = child.stdout.take().expect("stdout");
    let mut child_stderr = child.stderr.take().expect("stderr");
    let stderr = Arc::new(Mutex::new(String::new()));
    let sink = stderr.clone();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = child_stderr.read(&mut buffer) {
            if n == 0 {
                break;
            }
            if let Ok(mut text) = sink.lock() {
                text.push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        }
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut running = Running {
        child,
        lines: Vec::new(),
        ready: String::new(),
        stderr,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = line.starts_with(ready);
                running.lines.push(line.clone());
                if done {
                    running.ready = line;
                    return running;
                }
            }
            Err(_) => {
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "tollgate {args:?} never printed {ready:?}; stdout: {:?}; stderr: {}",
                    running.lines,
                    running.stderr()
                );
            }
        }
    }
}

/// The first `http://host:port` in `line`.
pub(crate) fn base_url(line: &str) -> String {
    let start = line.find("http://").expect("a URL in the ready line");
    line[start..]
        .split(|c: char| c.is_whitespace())
        .next()
        .expect("URL")
        .trim_end_matches('/')
        .to_owned()
}

/// An HTTP client that never goes through a proxy.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// Polls `base/healthz` until it answers 200 (at most 15 s).
pub(crate) async fn wait_healthy(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(response) = client.get(format!("{base}/healthz")).send().await
            && response.status() == 200
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{base}/healthz did not answer 200 in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An answer: status, `WWW-Authenticate` (if any), body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub challenge: Option<String>,
    pub body: String,
}

impl Answer {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The `error="..."` of the challenge.
    pub(crate) fn error_code(&self) -> Option<String> {
        let challenge = self.challenge.as_deref()?;
        let start = challenge.find("error=\"")? + 7;
        let end = challenge[start..].find('"')?;
        Some(challenge[start..start + end].to_owned())
    }
}

pub(crate) async fn get(client: &reqwest::Client, url: &str, token: Option<&str>) -> Answer {
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.text().await.unwrap_or_default();
    Answer {
        status,
        challenge,
        body,
    }
}

/// A started `tollgate serve` (killed on drop), its base URL and a client.
pub(crate) struct Serve {
    pub process: Running,
    pub base: String,
    pub http: reqwest::Client,
}

impl Serve {
    /// `tollgate serve` with `envs` (`BIND` defaults to `127.0.0.1:0`), once `/healthz` answers.
    pub(crate) async fn start(envs: &[(&str, &str)]) -> Serve {
        let mut all: Vec<(&str, &str)> = vec![("BIND", "127.0.0.1:0")];
        all.extend_from_slice(envs);
        let process = start(&["serve"], &all, "tollgate serve: listening on");
        let base = base_url(&process.ready);
        let http = client();
        wait_healthy(&http, &base).await;
        Serve {
            process,
            base,
            http,
        }
    }

    /// On a free port, with `AUTH_PUBLIC_URL` naming it (unless `envs` sets one): what DPoP
    /// proofs' `htu` must name.
    pub(crate) async fn start_at_own_origin(envs: &[(&str, &str)]) -> Serve {
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        let public = format!("http://127.0.0.1:{port}");
        let mut all: Vec<(&str, &str)> = vec![("BIND", &bind)];
        if !envs.iter().any(|(name, _)| *name == "AUTH_PUBLIC_URL") {
            all.push(("AUTH_PUBLIC_URL", &public));
        }
        all.extend_from_slice(envs);
        let serve = Serve::start(&all).await;
        assert_eq!(serve.base, public);
        serve
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path` with a Bearer token when given.
    pub(crate) async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        get(&self.http, &self.url(path), token).await
    }

    pub(crate) async fn status(&self, path: &str, token: &str) -> u16 {
        self.get(path, Some(token)).await.status
    }

    /// `GET path` with `Authorization: <scheme> <token>` and a `DPoP` header when given.
    pub(crate) async fn get_dpop(
        &self,
        path: &str,
        auth: Option<(&str, &str)>,
        proof: Option<&str>,
    ) -> Reply {
        let mut request = self.http.get(self.url(path));
        if let Some((scheme, token)) = auth {
            request = request.header("authorization", format!("{scheme} {token}"));
        }
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        Reply::of(request).await
    }
}

/// An answer with every challenge and the `DPoP-Nonce`, for the DPoP suites.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub challenges: Vec<String>,
    pub nonce: Option<String>,
    pub body: String,
}

impl Reply {
    /// Sends `request` and collects the answer.
    pub(crate) async fn of(request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let challenges = response
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let nonce = response
            .headers()
            .get("dpop-nonce")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.text().await.unwrap();
        Reply {
            status,
            challenges,
            nonce,
            body,
        }
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }

    /// The one challenge, which must use `scheme`.
    pub(crate) fn challenge(&self, scheme: &str) -> &str {
        assert_eq!(self.challenges.len(), 1, "{self:?}");
        let challenge = &self.challenges[0];
        assert!(
            challenge.starts_with(&format!("{scheme} ")) || challenge == scheme,
            "{self:?}"
        );
        challenge
    }

    /// The body's `error`.
    pub(crate) fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }
}
