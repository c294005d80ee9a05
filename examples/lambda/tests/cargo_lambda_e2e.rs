//! End to end through the real Lambda Runtime API: `cargo lambda watch` (cargo-lambda, pinned in
//! `tests/requirements.txt`) emulates the Lambda service on loopback and runs this package's
//! binary `lambda_router`, which polls the emulated Runtime API with `lambda_http::run`. The test
//! invokes it with API Gateway REST (v1) and HTTP API (v2) events through the Invoke API, and
//! with plain HTTP through the function-URL emulation, with and without valid tokens from a
//! `DevIssuer` whose JWKS the function fetches over loopback (once: warm invocations reuse the
//! keys). The events are `tests/fixtures/` (copies of `crates/tollgate-lambda/tests/fixtures/`).
//!
//! Needs `cargo-lambda`: on `PATH`, or installed by this test with
//! `python3 -m pip install -r examples/lambda/tests/requirements.txt` (`scripts/test` installs it
//! first).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;
use tollgate::testing::DevIssuer;

/// This package, which holds the function's binary.
const PACKAGE: &str = env!("CARGO_PKG_NAME");
/// The function's name in `cargo lambda watch`: the binary's name.
const FUNCTION: &str = "lambda_router";
/// The first request may still compile the function (when the prebuild below could not be used).
const FIRST_RESPONSE_TIMEOUT: Duration = Duration::from_secs(240);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn workspace_dir() -> PathBuf {
    crate_dir().join("../..").canonicalize().unwrap()
}

fn requirements() -> PathBuf {
    crate_dir().join("tests/requirements.txt")
}

/// `cargo-lambda==1.9.2` -> `1.9.2`.
fn pinned_version() -> String {
    let text = std::fs::read_to_string(requirements()).unwrap();
    text.lines()
        .find_map(|line| line.trim().strip_prefix("cargo-lambda=="))
        .map(str::to_owned)
        .expect("requirements.txt pins cargo-lambda==<version>")
}

/// `Some(version line)` when `program` is a working cargo-lambda.
fn cargo_lambda_version(program: &Path) -> Option<String> {
    let output = Command::new(program)
        .args(["lambda", "--version"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (output.status.success() && text.starts_with("cargo-lambda")).then_some(text)
}

/// Where pip put cargo-lambda's executable, from `pip show --files`.
fn pip_installed_cargo_lambda() -> Option<PathBuf> {
    let output = Command::new("python3")
        .args(["-m", "pip", "show", "--files", "cargo-lambda"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let location = text.lines().find_map(|l| l.strip_prefix("Location: "))?;
    let file = text
        .lines()
        .map(str::trim)
        .find(|l| l.ends_with("bin/cargo-lambda"))?;
    Some(Path::new(location.trim()).join(file))
}

/// A working cargo-lambda: from `PATH`, else where pip installed it, else installed now from
/// the pinned requirements. No Python/pip is a failure with instructions, never a skip.
fn cargo_lambda() -> PathBuf {
    let candidates =
        || std::iter::once(PathBuf::from("cargo-lambda")).chain(pip_installed_cargo_lambda());
    let found = candidates().find_map(|p| cargo_lambda_version(&p).map(|v| (p, v)));
    let (program, version) = match found {
        Some(found) => found,
        None => {
            eprintln!(
                "cargo-lambda not found: python3 -m pip install -r {}",
                requirements().display()
            );
            let install = Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "-r"])
                .arg(requirements())
                .output()
                .unwrap_or_else(|e| {
                    panic!(
                        "cargo-lambda is not installed and python3 could not be run ({e}). Install \
                         Python 3 with pip, or cargo-lambda itself (https://www.cargo-lambda.info), \
                         e.g. `pip install -r {}`",
                        requirements().display()
                    )
                });
            assert!(
                install.status.success(),
                "installing cargo-lambda with pip failed; install it yourself (`pip install -r \
                 {}`, pipx, or https://www.cargo-lambda.info):\n{}",
                requirements().display(),
                String::from_utf8_lossy(&install.stderr)
            );
            candidates()
                .find_map(|p| cargo_lambda_version(&p).map(|v| (p, v)))
                .expect("pip installed cargo-lambda, but its executable was not found")
        }
    };
    let pinned = pinned_version();
    if !version.contains(&pinned) {
        eprintln!("note: using {version}; the pinned version is {pinned}");
    }
    program
}

/// Builds the function exactly as `cargo lambda watch` will (`cargo run` with the same package
/// and binary), so that its first invocation does not wait for a compilation.
fn build_function() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace_dir())
        .args(["build", "--quiet"])
        .args(["--package", PACKAGE, "--bin", FUNCTION])
        .status()
        .unwrap();
    assert!(status.success(), "building the function failed");
}

/// A running `cargo lambda watch`, in its own process group. Dropping it stops the whole tree:
/// cargo-lambda starts each function instance in a process group of its own.
struct Watch {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Watch {
    /// Starts `cargo lambda watch` on a free loopback port and waits until it accepts
    /// connections (the function itself starts on the first invocation).
    fn start(program: &Path, env_file: &Path, log: &Path) -> Watch {
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .unwrap()
                .port();
            let child = Command::new(program)
                .current_dir(workspace_dir())
                .args(["lambda", "watch", "--ignore-changes"])
                .args(["--invoke-address", "127.0.0.1", "--invoke-port"])
                .arg(port.to_string())
                .args(["--package", PACKAGE, "--bin", FUNCTION])
                .arg("--env-file")
                .arg(env_file)
                .stdin(Stdio::null())
                .stdout(File::create(log).unwrap())
                .stderr(File::create(log.with_extension("stderr")).unwrap())
                .process_group(0)
                .spawn()
                .unwrap();
            let mut watch = Watch {
                child,
                port,
                log: log.to_owned(),
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).is_ok() {
                    return watch;
                }
                if watch.child.try_wait().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let logs = watch.logs();
            if !logs.contains("in use") {
                panic!("cargo lambda watch did not start:\n{logs}");
            }
            // Lost the race for the port: drop (stop) it and try another one.
        }
        panic!("cargo lambda watch could not get a free port");
    }

    fn logs(&self) -> String {
        let out = std::fs::read_to_string(&self.log).unwrap_or_default();
        let err = std::fs::read_to_string(self.log.with_extension("stderr")).unwrap_or_default();
        format!("{out}{err}")
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// `(pid, start time)` of every process below `root`, from `/proc`.
fn descendants(root: u32) -> Vec<(u32, String)> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // After the `(comm)` field: state, ppid, ... starttime is field 22 overall.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if let (Some(ppid), Some(start)) = (fields.get(1), fields.get(19))
            && let Ok(ppid) = ppid.parse::<u32>()
        {
            all.push((pid, ppid, start.to_string()));
        }
    }
    let mut found = vec![];
    let mut parents = vec![root];
    while let Some(parent) = parents.pop() {
        for (pid, ppid, start) in &all {
            if *ppid == parent {
                found.push((*pid, start.clone()));
                parents.push(*pid);
            }
        }
    }
    found
}

fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19).map(str::to_owned)
}

fn kill(signal: &str, target: &str) {
    let _ = Command::new("kill")
        .args([signal, "--", target])
        .stderr(Stdio::null())
        .status();
}

impl Drop for Watch {
    fn drop(&mut self) {
        let pid = self.child.id();
        // Remember the tree now: once cargo-lambda exits, its children are re-parented.
        let tree = descendants(pid);
        // SIGTERM: cargo-lambda shuts down gracefully and stops its function instances.
        kill("-TERM", &format!("-{pid}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        kill("-KILL", &format!("-{pid}"));
        let _ = self.child.wait();
        // Whatever survived (same pid *and* start time: not a recycled pid), with its group.
        for (pid, start) in tree {
            if start_time(pid).as_deref() == Some(start.as_str()) {
                kill("-KILL", &format!("-{pid}"));
                kill("-KILL", &pid.to_string());
            }
        }
    }
}

/// A fixture event as JSON (`tests/fixtures/`).
fn fixture(name: &str) -> Value {
    let path = crate_dir().join("tests/fixtures").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Sets `Authorization: Bearer <token>` in whichever header maps the event has: `headers` and
/// `multiValueHeaders`.
fn with_bearer(mut event: Value, token: &str) -> Value {
    let value = format!("Bearer {token}");
    let object = event.as_object_mut().unwrap();
    for (map, multi) in [("headers", false), ("multiValueHeaders", true)] {
        let Some(Value::Object(headers)) = object.get_mut(map) else {
            continue;
        };
        headers.retain(|name, _| !name.eq_ignore_ascii_case("authorization"));
        let entry = if multi {
            Value::Array(vec![Value::String(value.clone())])
        } else {
            Value::String(value.clone())
        };
        headers.insert("Authorization".to_owned(), entry);
    }
    event
}

/// Points the event at another path (REST `path`, HTTP API `rawPath` and
/// `requestContext.http.path`).
fn with_path(mut event: Value, path: &str) -> Value {
    let object = event.as_object_mut().unwrap();
    if object.contains_key("rawPath") {
        object.insert("rawPath".into(), Value::String(path.into()));
        if let Some(http) = object
            .get_mut("requestContext")
            .and_then(|c| c.get_mut("http"))
            .and_then(Value::as_object_mut)
        {
            http.insert("path".into(), Value::String(path.into()));
        }
    } else {
        object.insert("path".into(), Value::String(path.into()));
    }
    event
}

/// A Lambda proxy-integration response (the JSON the function returned to the Runtime API).
struct ProxyResponse(Value);

impl ProxyResponse {
    fn status(&self) -> u64 {
        self.0["statusCode"].as_u64().unwrap()
    }

    fn header(&self, name: &str) -> Option<String> {
        if let Some(value) = self.0["headers"].get(name).and_then(Value::as_str) {
            return Some(value.to_owned());
        }
        self.0["multiValueHeaders"]
            .get(name)
            .and_then(|values| values.get(0))
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    fn body(&self) -> String {
        let body = self.0["body"].as_str().unwrap_or_default();
        if self.0["isBase64Encoded"].as_bool() == Some(true) {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(body)
                .unwrap();
            String::from_utf8(bytes).unwrap()
        } else {
            body.to_owned()
        }
    }
}

/// POST `/2015-03-31/functions/<function>/invocations`: the Invoke API, as API Gateway calls it.
async fn invoke(client: &reqwest::Client, watch: &Watch, event: &Value) -> ProxyResponse {
    let url = watch.url(&format!("/2015-03-31/functions/{FUNCTION}/invocations"));
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(event.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the Invoke API itself answers 200");
    ProxyResponse(serde_json::from_str(&response.text().await.unwrap()).unwrap())
}

/// Plain HTTP through the function-URL emulation: `/lambda-url/<function>/<path>`.
async fn get(
    client: &reqwest::Client,
    watch: &Watch,
    path: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let mut request = client.get(watch.url(&format!("/lambda-url/{FUNCTION}{path}")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

fn www_authenticate(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn cargo_lambda_watch_serves_the_router_example() {
    let started = Instant::now();
    let program = cargo_lambda();
    build_function();
    let built = started.elapsed();

    let issuer = DevIssuer::start().await.unwrap();
    let dir =
        std::env::temp_dir().join(format!("tollgate-cargo-lambda-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let env_file = dir.join("function.env");
    std::fs::write(
        &env_file,
        format!(
            "TOLLGATE_ISSUER={}\nTOLLGATE_AUDIENCE={}\nTOLLGATE_JWKS_URL={}\n\
             TOLLGATE_ALGORITHMS=ES256,RS256\nAWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH=true\n",
            issuer.issuer(),
            issuer.audience(),
            issuer.jwks_url()
        ),
    )
    .unwrap();

    let watch =
        tokio::task::block_in_place(|| Watch::start(&program, &env_file, &dir.join("watch.log")));
    let client = reqwest::Client::builder()
        .timeout(FIRST_RESPONSE_TIMEOUT)
        .build()
        .unwrap();

    // The first invocation starts the function (`cargo run`: no compilation after the prebuild).
    // A function that exits (say, at init) leaves the invocation waiting: watch the logs too.
    let ready = Instant::now();
    let first = client
        .get(watch.url(&format!("/lambda-url/{FUNCTION}/health")))
        .send();
    let exited = async {
        while !watch.logs().contains("command exited") {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let health = tokio::select! {
        response = first => response
            .unwrap_or_else(|e| panic!("first invocation: {e}; logs:\n{}", watch.logs())),
        () = exited => panic!("the function exited; logs:\n{}", watch.logs()),
    };
    let status = health.status();
    let text = health.text().await.unwrap();
    assert_eq!(
        (status.as_u16(), text.as_str()),
        (200, "ok\n"),
        "logs:\n{}",
        watch.logs()
    );
    let first_response = ready.elapsed();
    assert_eq!(issuer.jwks_requests(), 0, "keys are fetched lazily");

    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap();
    let alice = issuer.token().subject("alice").sign().unwrap();
    let admin = issuer
        .token()
        .subject("root")
        .roles(["admin"])
        .sign()
        .unwrap();
    let expired = issuer.token().subject("alice").expired().sign().unwrap();

    for (file, origin) in [
        ("apigw-rest-v1.json", "REST API v1"),
        ("apigw-http-v2.json", "HTTP API v2"),
    ] {
        let event = fixture(file);

        let answer = invoke(&client, &watch, &event).await;
        assert_eq!(answer.status(), 401, "{origin}: no token");
        assert_eq!(
            answer.header("www-authenticate").as_deref(),
            Some(r#"Bearer realm="api""#),
            "{origin}"
        );

        let answer = invoke(&client, &watch, &with_bearer(event.clone(), &alice)).await;
        assert_eq!(
            (answer.status(), answer.body().as_str()),
            (200, "hello alice\n"),
            "{origin}: valid token, its `sub` reaches the handler"
        );

        let answer = invoke(&client, &watch, &with_bearer(event.clone(), &expired)).await;
        assert_eq!(answer.status(), 401, "{origin}: expired token");
        let challenge = answer.header("www-authenticate").unwrap();
        assert!(
            challenge.starts_with(r#"Bearer realm="api", error="invalid_token""#),
            "{origin}: {challenge}"
        );

        let to_admin = with_path(event.clone(), "/admin");
        let answer = invoke(&client, &watch, &with_bearer(to_admin.clone(), &admin)).await;
        assert_eq!(
            (answer.status(), answer.body().as_str()),
            (200, "hello admin\n"),
            "{origin}: the role guard reads the token's roles"
        );
        let answer = invoke(&client, &watch, &with_bearer(to_admin, &alice)).await;
        assert_eq!(
            answer.status(),
            403,
            "{origin}: valid token without the role"
        );
        let challenge = answer.header("www-authenticate").unwrap();
        assert!(
            challenge.contains(r#"error="insufficient_scope""#),
            "{origin}: {challenge}"
        );
    }

    // Function URL emulation: plain HTTP in, the function's answer out.
    let response = get(&client, &watch, "/me", None).await;
    assert_eq!(response.status(), 401, "function URL: no token");
    assert_eq!(
        www_authenticate(&response).as_deref(),
        Some(r#"Bearer realm="api""#)
    );
    let response = get(&client, &watch, "/me", Some(&alice)).await;
    assert_eq!(response.status(), 200, "function URL: valid token");
    assert_eq!(response.text().await.unwrap(), "hello alice\n");
    let response = get(&client, &watch, "/me", Some(&expired)).await;
    assert_eq!(response.status(), 401, "function URL: expired token");
    let challenge = www_authenticate(&response).unwrap();
    assert!(
        challenge.starts_with(r#"Bearer realm="api", error="invalid_token""#),
        "{challenge}"
    );
    let response = get(&client, &watch, "/admin", Some(&admin)).await;
    assert_eq!(response.status(), 200, "function URL: admin");

    // The keys are fetched once per function instance, not per invocation (a dozen invocations
    // above). Usually one instance serves them all; on a loaded machine the emulator may start a
    // second instance when the first invocation of a cold build is slow, which fetches once more.
    let fetches = issuer.jwks_requests();
    assert!(
        (1..=2).contains(&fetches),
        "the JWKS is fetched once per container, not per invocation: {fetches} fetches"
    );

    let stop = Instant::now();
    drop(watch);
    eprintln!(
        "cargo lambda e2e: setup + prebuild {built:?}, first response {first_response:?}, \
         invocations {:?}, stop {:?}, total {:?}",
        stop.duration_since(ready) - first_response,
        stop.elapsed(),
        started.elapsed()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
