//! Loopback HTTP servers for key sources, with injected faults, counting their requests.
//!
//! - [`Loopback`]: any document at any path of `http://127.0.0.1:<port>`, each [`Route`]
//!   answering with a [`Reply`]: the document (with its headers and `ETag`), a status, a hang,
//!   a huge or dripping body, a redirect, a flapping answer. The building block of the others.
//! - [`FaultServer`]: a JWKS (`/jwks`, `/a`, `/b`) and its OpenID discovery documents, each side
//!   with its own [`Fault`], the knobs the key-source suites turn (good document, `Cache-Control`,
//!   `ETag`, delay), and request counts per side.
//! - [`raw_server`]: a TCP server below HTTP (never reads, or drips its response head).
//!
//! Every server runs on the current tokio runtime until the test ends.
//!
//! ```
//! use tollgate_test_support::server::{Fault, FaultServer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let server = FaultServer::start().await;
//! server.set_jwks(Fault::Status(503));
//! let client = reqwest::Client::builder().no_proxy().build().unwrap();
//! let answer = client.get(server.url("/jwks")).send().await.unwrap();
//! assert_eq!(answer.status().as_u16(), 503);
//! assert_eq!(server.jwks_hits(), 1);
//! # }
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The size of [`Fault::Huge`] bodies: 50 MiB.
pub const HUGE: usize = 50 << 20;

/// How long [`Reply::Drip`] waits between two bytes.
pub const DRIP_INTERVAL: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------------------------------------
// Loopback: routes and replies
// ---------------------------------------------------------------------------------------------

/// How a [`Route`] answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// 200 with the route's document and headers (`Content-Type: application/json` unless the
    /// headers say otherwise); `304 Not Modified` when its `ETag` matches `If-None-Match`.
    Document,
    /// This status with body `oops`.
    Status(u16),
    /// Never answers (the request is read, no headers are ever sent).
    Hang,
    /// Headers with `Content-Length: 1000`, ten bytes of body, then nothing.
    HangBody,
    /// `bytes` spaces, produced lazily (as fast as the client reads) and counted in
    /// [`Loopback::produced`]; with a `Content-Length` when `declared`, else chunked.
    Huge {
        /// How many bytes.
        bytes: usize,
        /// Whether the length is declared up front.
        declared: bool,
    },
    /// `302 Found` to this location (a path or a URL).
    Redirect(String),
    /// `302 Found` to the path that was asked for.
    RedirectLoop,
    /// The document, one byte every [`DRIP_INTERVAL`] (each counted in [`Loopback::produced`]).
    Drip,
    /// The document and `500`, alternating (the document first; one counter per server).
    Flap,
}

/// What one path answers: a [`Reply`], the document it serves, extra headers, an `ETag`, and a
/// delay before answering.
#[derive(Clone, Debug)]
pub struct Route {
    reply: Reply,
    document: Vec<u8>,
    headers: Vec<(String, String)>,
    etag: Option<String>,
    delay: Duration,
}

impl Route {
    /// `200` with this JSON document.
    pub fn json(document: impl Into<Vec<u8>>) -> Route {
        Route {
            reply: Reply::Document,
            document: document.into(),
            headers: Vec::new(),
            etag: None,
            delay: Duration::ZERO,
        }
    }

    /// Answers with `reply` (and no document: see [`with_reply`](Self::with_reply)).
    pub fn reply(reply: Reply) -> Route {
        Route::json(Vec::new()).with_reply(reply)
    }

    /// This status, body `oops`.
    pub fn status(code: u16) -> Route {
        Route::reply(Reply::Status(code))
    }

    /// `404` (what a [`Loopback`] answers at a path without a route).
    pub fn not_found() -> Route {
        Route::status(404)
    }

    /// The same document, answered by `reply` (e.g. dripped, or flapping).
    pub fn with_reply(mut self, reply: Reply) -> Route {
        self.reply = reply;
        self
    }

    /// Adds a response header (on every answer but [`Reply::Hang`]).
    pub fn with_header(mut self, name: &str, value: &str) -> Route {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds `Cache-Control: value`.
    pub fn cache_control(self, value: &str) -> Route {
        self.with_header(header::CACHE_CONTROL.as_str(), value)
    }

    /// Sends this `ETag` with the document, and `304` to a matching `If-None-Match`.
    pub fn etag(mut self, tag: &str) -> Route {
        self.etag = Some(tag.to_owned());
        self
    }

    /// Waits this long before answering (the route is read again after the wait, so a test
    /// can change the answer of requests already waiting).
    pub fn delay(mut self, delay: Duration) -> Route {
        self.delay = delay;
        self
    }
}

#[derive(Default)]
struct Counters {
    /// Requests per path.
    per_path: HashMap<String, usize>,
    /// Path and query of every request, in order.
    log: Vec<String>,
}

/// An HTTP server on `127.0.0.1` answering GETs (and any other method) from a path -> [`Route`]
/// table, [`fallback`](Self::fallback) elsewhere (`404` unless set), counting every request.
pub struct Loopback {
    /// The socket address it listens on.
    pub addr: SocketAddr,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    routes: Mutex<HashMap<String, Route>>,
    fallback: Mutex<Route>,
    counters: Mutex<Counters>,
    total: Arc<AtomicUsize>,
    produced: Arc<AtomicUsize>,
    flaps: AtomicUsize,
}

impl std::fmt::Debug for Loopback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loopback")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Loopback {
    /// Starts a server without routes (everything is `404`) on a free port.
    pub async fn start() -> Arc<Loopback> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Arc::new(Loopback {
            addr,
            base: format!("http://{addr}"),
            routes: Mutex::new(HashMap::new()),
            fallback: Mutex::new(Route::not_found()),
            counters: Mutex::new(Counters::default()),
            total: Arc::new(AtomicUsize::new(0)),
            produced: Arc::new(AtomicUsize::new(0)),
            flaps: AtomicUsize::new(0),
        });
        let app = Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&server));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        server
    }

    /// Starts a server answering `path` with this JSON document.
    pub async fn json(path: &str, document: &Value) -> Arc<Loopback> {
        let server = Loopback::start().await;
        server.serve(path, document, &[]);
        server
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sets what `path` answers.
    pub fn route(&self, path: &str, route: Route) {
        self.routes.lock().unwrap().insert(path.to_owned(), route);
    }

    /// Serves `document` (JSON) at `path` with these extra response headers.
    pub fn serve(&self, path: &str, document: &Value, headers: &[(&str, &str)]) {
        let route = headers
            .iter()
            .fold(Route::json(document.to_string()), |route, (name, value)| {
                route.with_header(name, value)
            });
        self.route(path, route);
    }

    /// Sets what every path without a route answers.
    pub fn fallback(&self, route: Route) {
        *self.fallback.lock().unwrap() = route;
    }

    /// Requests served at `path` (whatever the answer).
    pub fn hits(&self, path: &str) -> usize {
        let counters = self.counters.lock().unwrap();
        counters.per_path.get(path).copied().unwrap_or(0)
    }

    /// Requests served in all.
    pub fn total_hits(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    /// The live count of [`total_hits`](Self::total_hits), to hand to code that only counts.
    pub fn hit_counter(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.total)
    }

    /// Path and query of every request so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.counters.lock().unwrap().log.clone()
    }

    /// Bytes of [`Reply::Huge`] and [`Reply::Drip`] bodies actually produced.
    pub fn produced(&self) -> usize {
        self.produced.load(Ordering::SeqCst)
    }

    fn route_for(&self, path: &str) -> Route {
        match self.routes.lock().unwrap().get(path) {
            Some(route) => route.clone(),
            None => self.fallback.lock().unwrap().clone(),
        }
    }
}

async fn answer(State(server): State<Arc<Loopback>>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().to_owned();
    {
        let mut counters = server.counters.lock().unwrap();
        *counters.per_path.entry(path.clone()).or_default() += 1;
        counters.log.push(uri.to_string());
    }
    server.total.fetch_add(1, Ordering::SeqCst);
    let delay = server.route_for(&path).delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let route = server.route_for(&path);
    respond(&server, route, &path, &headers).await
}

async fn respond(server: &Loopback, route: Route, path: &str, request: &HeaderMap) -> Response {
    let mut response = Response::builder();
    for (name, value) in &route.headers {
        response = response.header(name.as_str(), value.as_str());
    }
    let typed = route
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case(header::CONTENT_TYPE.as_str()));
    let json = |response: axum::http::response::Builder| {
        if typed {
            response
        } else {
            response.header(header::CONTENT_TYPE, "application/json")
        }
    };
    let redirect = |response: axum::http::response::Builder, to: &str| {
        response
            .status(StatusCode::FOUND)
            .header(header::LOCATION, to)
            .body(Body::empty())
            .unwrap()
    };
    match route.reply {
        Reply::Document => {
            if let Some(tag) = &route.etag {
                response = response.header(header::ETAG, tag);
                let matches = request
                    .get(header::IF_NONE_MATCH)
                    .and_then(|v| v.to_str().ok())
                    == Some(tag.as_str());
                if matches {
                    return response
                        .status(StatusCode::NOT_MODIFIED)
                        .body(Body::empty())
                        .unwrap();
                }
            }
            json(response).body(Body::from(route.document)).unwrap()
        }
        Reply::Status(code) => response.status(code).body(Body::from("oops")).unwrap(),
        Reply::Hang => std::future::pending().await,
        Reply::HangBody => response
            .header(header::CONTENT_LENGTH, "1000")
            .body(Body::from_stream(Stalled(false)))
            .unwrap(),
        Reply::Huge { bytes, declared } => {
            let mut response = json(response);
            if declared {
                response = response.header(header::CONTENT_LENGTH, bytes.to_string());
            }
            let stream = Spaces {
                left: bytes,
                produced: Arc::clone(&server.produced),
            };
            response.body(Body::from_stream(stream)).unwrap()
        }
        Reply::Redirect(to) => redirect(response, &to),
        Reply::RedirectLoop => redirect(response, path),
        Reply::Drip => json(response)
            .body(Body::from_stream(Drip {
                body: route.document,
                at: 0,
                sleep: Box::pin(tokio::time::sleep(DRIP_INTERVAL)),
                produced: Arc::clone(&server.produced),
            }))
            .unwrap(),
        Reply::Flap => {
            if server
                .flaps
                .fetch_add(1, Ordering::SeqCst)
                .is_multiple_of(2)
            {
                json(response).body(Body::from(route.document)).unwrap()
            } else {
                response.status(500).body(Body::from("flap")).unwrap()
            }
        }
    }
}

/// Spaces in 64 KiB chunks, produced lazily and counted.
struct Spaces {
    left: usize,
    produced: Arc<AtomicUsize>,
}

impl futures_core::Stream for Spaces {
    type Item = Result<Vec<u8>, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = self.left.min(64 * 1024);
        self.left -= n;
        self.produced.fetch_add(n, Ordering::SeqCst);
        Poll::Ready(Some(Ok(vec![b' '; n])))
    }
}

/// Ten bytes, then pending forever.
struct Stalled(bool);

impl futures_core::Stream for Stalled {
    type Item = Result<Vec<u8>, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.0 {
            return Poll::Pending;
        }
        self.0 = true;
        Poll::Ready(Some(Ok(br#"{"keys":[ "#.to_vec())))
    }
}

/// A body, one byte per [`DRIP_INTERVAL`].
struct Drip {
    body: Vec<u8>,
    at: usize,
    sleep: Pin<Box<tokio::time::Sleep>>,
    produced: Arc<AtomicUsize>,
}

impl futures_core::Stream for Drip {
    type Item = Result<Vec<u8>, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.at >= self.body.len() {
            return Poll::Ready(None);
        }
        if self.sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let next = tokio::time::Instant::now() + DRIP_INTERVAL;
        self.sleep.as_mut().reset(next);
        let byte = self.body[self.at];
        self.at += 1;
        self.produced.fetch_add(1, Ordering::SeqCst);
        Poll::Ready(Some(Ok(vec![byte])))
    }
}

// ---------------------------------------------------------------------------------------------
// FaultServer: a JWKS and its discovery documents
// ---------------------------------------------------------------------------------------------

/// The paths that serve the key set (`/a` and `/b` make a two-hop [`Fault::PingPong`] loop).
pub const KEY_SET_PATHS: [&str; 3] = ["/jwks", "/a", "/b"];

/// The paths that serve the discovery document: OpenID at the root and under `/tenant`, and
/// RFC 8414 for the issuer `/tenant`.
pub const DISCOVERY_PATHS: [&str; 3] = [
    "/.well-known/openid-configuration",
    "/tenant/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server/tenant",
];

/// What one side of a [`FaultServer`] (the key set, or the discovery documents) answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The good document.
    Good,
    /// This status, body `oops`.
    Status(u16),
    /// Never answers (the request is read, no headers are ever sent).
    Hang,
    /// Headers with `Content-Length: 1000`, ten bytes of body, then nothing.
    HangBody,
    /// [`HUGE`] bytes of body, chunked or with a declared `Content-Length`.
    Huge {
        /// Whether the length is declared up front.
        declared: bool,
    },
    /// 200 with exactly these bytes.
    Body(Vec<u8>),
    /// 302 to the same URL.
    RedirectLoop,
    /// 302 to the other path of a two-hop loop (`/a` <-> `/b`).
    PingPong,
    /// The good document, one byte every 100 ms.
    Drip,
    /// Good and 500, alternating (good first).
    Flap,
}

/// Everything a [`FaultServer`] answers; change it with [`FaultServer::configure`].
#[derive(Clone, Debug)]
pub struct FaultConfig {
    /// What the key-set paths answer.
    pub jwks: Fault,
    /// What the discovery paths answer.
    pub discovery: Fault,
    /// The good key set (initially the test keys' [`jwks_value`](crate::jwks_value)).
    pub good_jwks: String,
    /// The good discovery document; `None`: `{"issuer": <base>, "jwks_uri": <base>/jwks}`.
    pub discovery_document: Option<String>,
    /// `Cache-Control` of key-set answers (initially `max-age=1`).
    pub jwks_cache_control: Option<String>,
    /// `Cache-Control` of discovery answers (initially `max-age=1`).
    pub discovery_cache_control: Option<String>,
    /// The key set's `ETag` (with `304` to a matching `If-None-Match`).
    pub etag: Option<String>,
    /// Delay before every key-set answer.
    pub delay: Duration,
}

/// A JWKS at [`KEY_SET_PATHS`] and its discovery document at [`DISCOVERY_PATHS`] on loopback,
/// each side with its own [`Fault`], counting requests per side.
pub struct FaultServer {
    /// `http://127.0.0.1:<port>` (also the issuer of the derived discovery document).
    pub base: String,
    server: Arc<Loopback>,
    config: Mutex<FaultConfig>,
}

impl std::fmt::Debug for FaultServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultServer")
            .field("base", &self.base)
            .field("config", &*self.config.lock().unwrap())
            .finish()
    }
}

impl FaultServer {
    /// Serves the test keys, everything [`Fault::Good`].
    pub async fn start() -> Arc<FaultServer> {
        let server = Loopback::start().await;
        let config = FaultConfig {
            jwks: Fault::Good,
            discovery: Fault::Good,
            good_jwks: crate::jwks_value().to_string(),
            discovery_document: None,
            jwks_cache_control: Some("max-age=1".into()),
            discovery_cache_control: Some("max-age=1".into()),
            etag: None,
            delay: Duration::ZERO,
        };
        let faults = Arc::new(FaultServer {
            base: server.base.clone(),
            server,
            config: Mutex::new(config),
        });
        faults.configure(|_| {});
        faults
    }

    /// Serves the test keys with this fault at the key-set paths.
    pub async fn with_jwks_fault(fault: Fault) -> Arc<FaultServer> {
        let server = FaultServer::start().await;
        server.set_jwks(fault);
        server
    }

    /// Changes the configuration; requests from then on (and those still waiting out their
    /// delay) get the new answers.
    pub fn configure(&self, change: impl FnOnce(&mut FaultConfig)) {
        let mut config = self.config.lock().unwrap();
        change(&mut config);
        let derived = || json!({"issuer": self.base, "jwks_uri": self.url("/jwks")}).to_string();
        let discovery = config.discovery_document.clone().unwrap_or_else(derived);
        for path in KEY_SET_PATHS {
            let route = side(
                &config.jwks,
                path,
                &config.good_jwks,
                config.jwks_cache_control.as_deref(),
            );
            let route = match &config.etag {
                Some(tag) => route.etag(tag),
                None => route,
            };
            self.server.route(path, route.delay(config.delay));
        }
        for path in DISCOVERY_PATHS {
            let route = side(
                &config.discovery,
                path,
                &discovery,
                config.discovery_cache_control.as_deref(),
            );
            self.server.route(path, route);
        }
    }

    /// Sets what the key-set paths answer.
    pub fn set_jwks(&self, fault: Fault) {
        self.configure(|c| c.jwks = fault);
    }

    /// Sets what the discovery paths answer.
    pub fn set_discovery(&self, fault: Fault) {
        self.configure(|c| c.discovery = fault);
    }

    /// Replaces the good key set.
    pub fn set_good_jwks(&self, jwks: impl Into<String>) {
        let jwks = jwks.into();
        self.configure(|c| c.good_jwks = jwks);
    }

    /// Sets the delay before every key-set answer.
    pub fn set_delay(&self, delay: Duration) {
        self.configure(|c| c.delay = delay);
    }

    /// `<base><path>`.
    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// Requests at the key-set paths.
    pub fn jwks_hits(&self) -> usize {
        KEY_SET_PATHS.iter().map(|p| self.server.hits(p)).sum()
    }

    /// Requests at the discovery paths.
    pub fn discovery_hits(&self) -> usize {
        DISCOVERY_PATHS.iter().map(|p| self.server.hits(p)).sum()
    }

    /// Bytes of huge or dripping bodies actually produced.
    pub fn body_bytes(&self) -> usize {
        self.server.produced()
    }

    /// The server underneath, for routes of its own (a certificate map, a redirect chain).
    pub fn loopback(&self) -> &Arc<Loopback> {
        &self.server
    }
}

/// The route of one side at `path`.
fn side(fault: &Fault, path: &str, good: &str, cache_control: Option<&str>) -> Route {
    let document = |body: &[u8]| {
        let route = Route::json(body.to_vec());
        match cache_control {
            Some(value) => route.cache_control(value),
            None => route,
        }
    };
    match fault {
        Fault::Good => document(good.as_bytes()),
        Fault::Body(bytes) => document(bytes),
        Fault::Drip => document(good.as_bytes()).with_reply(Reply::Drip),
        Fault::Flap => document(good.as_bytes()).with_reply(Reply::Flap),
        Fault::Status(code) => Route::status(*code),
        Fault::Hang => Route::reply(Reply::Hang),
        Fault::HangBody => Route::reply(Reply::HangBody),
        Fault::Huge { declared } => Route::reply(Reply::Huge {
            bytes: HUGE,
            declared: *declared,
        }),
        Fault::RedirectLoop => Route::reply(Reply::RedirectLoop),
        Fault::PingPong => Route::reply(Reply::Redirect(
            if path == "/a" { "/b" } else { "/a" }.to_owned(),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Below HTTP
// ---------------------------------------------------------------------------------------------

/// A [`raw_server`]'s behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Raw {
    /// Accepts connections and never reads or writes.
    Silent,
    /// Reads the request head, then writes a valid response head one byte per 100 ms.
    HeaderDrip,
}

/// A raw TCP server; returns its `/jwks` URL and the count of accepted connections.
pub async fn raw_server(kind: Raw) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            match kind {
                Raw::Silent => held.push(socket),
                Raw::HeaderDrip => {
                    tokio::spawn(async move {
                        // Read the request head first, as a server does.
                        let mut request = Vec::new();
                        let mut buffer = [0u8; 1024];
                        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                            match socket.read(&mut buffer).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => request.extend_from_slice(&buffer[..n]),
                            }
                        }
                        let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                                     X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
                        for byte in head {
                            if socket.write_all(&[*byte]).await.is_err() {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    });
                }
            }
        }
    });
    (url, accepted)
}

/// Serves an app on a free loopback port until the test ends; returns its address.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(url: &str, headers: &[(&str, &str)]) -> (u16, HeaderMap, String) {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut request = client.get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.text().await.unwrap_or_default())
    }

    #[tokio::test]
    async fn routes_answer_and_count() {
        let server = Loopback::json("/doc", &json!({"a": 1})).await;
        let (status, headers, body) = get(&server.url("/doc?x=1"), &[]).await;
        assert_eq!((status, body.as_str()), (200, r#"{"a":1}"#));
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(get(&server.url("/elsewhere"), &[]).await.0, 404);
        assert_eq!((server.hits("/doc"), server.total_hits()), (1, 2));
        assert_eq!(server.requests(), ["/doc?x=1", "/elsewhere"]);

        server.route(
            "/doc",
            Route::json("{}").etag("\"v1\"").cache_control("max-age=5"),
        );
        let (status, headers, _) = get(&server.url("/doc"), &[("if-none-match", "\"v1\"")]).await;
        assert_eq!(status, 304);
        assert_eq!(headers[header::CACHE_CONTROL], "max-age=5");
        assert_eq!(
            get(&server.url("/doc"), &[("if-none-match", "\"v0\"")])
                .await
                .0,
            200
        );

        server.fallback(Route::json("{}").with_reply(Reply::Flap));
        let flaps: Vec<u16> = [
            get(&server.url("/x"), &[]).await.0,
            get(&server.url("/y"), &[]).await.0,
        ]
        .into();
        assert_eq!(flaps, [200, 500]);
    }

    #[tokio::test]
    async fn fault_server_sides() {
        let server = FaultServer::start().await;
        let (status, _, body) = get(&server.url("/jwks"), &[]).await;
        assert_eq!((status, body), (200, crate::jwks_value().to_string()));
        let (_, _, doc) = get(&server.url(DISCOVERY_PATHS[0]), &[]).await;
        let doc: Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(doc["jwks_uri"], server.url("/jwks"));

        server.set_jwks(Fault::PingPong);
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let response = client.get(server.url("/a")).send().await.unwrap();
        assert_eq!(response.headers()[header::LOCATION], "/b");
        server.set_jwks(Fault::Huge { declared: true });
        let response = client.get(server.url("/jwks")).send().await.unwrap();
        assert_eq!(response.content_length(), Some(HUGE as u64));
        drop(response);
        assert_eq!((server.jwks_hits(), server.discovery_hits()), (3, 1));
    }
}
