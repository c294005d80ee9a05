//! Remote key sources against a real HTTP server on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(feature = "remote")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use support::server::{Fault, FaultServer, Reply, Route};
use support::tamper_signature as tamper;
use tollgate_core::remote::{
    DiscoveryKind, JwksSource, JwksSourceBuilder, KeyFormat, MultiIssuer, OidcSource, RemoteError,
};
use tollgate_core::testing::SigningKey;
use tollgate_core::{
    Algorithm, CryptoProvider, Error, KeyLookupError, KeyRequest, KeySource, Malformed,
    StandardClaims, Validation, Verifier,
};
use tollgate_test_support as support;

// ---------------------------------------------------------------------------------------------
// The test server: this suite's vocabulary over the shared `FaultServer`
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Mode {
    Ok,
    Status(u16),
    Garbage,
    /// A body over the limit with a Content-Length.
    Huge,
    /// A body over the limit, chunked (no Content-Length): must be cut off while streaming.
    HugeChunked,
    /// Sleeps this long before answering.
    Slow(Duration),
    /// A valid JWK Set without any usable key.
    NoUsableKeys,
}

struct Config {
    mode: Mode,
    jwks: String,
    cache_control: Option<String>,
    etag: Option<String>,
    /// Delay before every answer (to make concurrent callers pile up).
    delay: Duration,
    discovery: String,
    certs: String,
}

/// The key set at `/jwks` (with `/r/N` redirecting to `/r/N-1`, `/r/0` to `/jwks`, and
/// `/to-insecure` to a plain-http URL that is not loopback), the discovery documents, and a
/// Firebase-style certificate map at `/certs` (counted with the key set).
struct Server {
    base: String,
    server: Arc<FaultServer>,
    config: Mutex<Config>,
}

impl Server {
    async fn start() -> Arc<Server> {
        let server = FaultServer::start().await;
        let loopback = server.loopback();
        for n in 0..10 {
            let to = if n == 0 {
                "/jwks".to_owned()
            } else {
                format!("/r/{}", n - 1)
            };
            loopback.route(&format!("/r/{n}"), Route::reply(Reply::Redirect(to)));
        }
        // Never contacted: the redirect policy refuses it.
        let insecure = Reply::Redirect("http://jwks.example.invalid/jwks".into());
        loopback.route("/to-insecure", Route::reply(insecure));
        let server = Arc::new(Server {
            base: server.base.clone(),
            server,
            config: Mutex::new(Config {
                mode: Mode::Ok,
                jwks: r#"{"keys":[]}"#.into(),
                cache_control: None,
                etag: None,
                delay: Duration::ZERO,
                discovery: "{}".into(),
                certs: "{}".into(),
            }),
        });
        server.set(|_| {});
        server
    }

    /// A server publishing one key, `kid`.
    async fn with_key(kid: &str) -> (Arc<Server>, TestKey) {
        let server = Server::start().await;
        let key = TestKey::new(kid);
        server.serve_keys(&[&key]);
        (server, key)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Key-set requests served.
    fn hits(&self) -> usize {
        self.server.jwks_hits() + self.server.loopback().hits("/certs")
    }

    /// Metadata requests served.
    fn discovery_hits(&self) -> usize {
        self.server.discovery_hits()
    }

    /// Serves a metadata document naming `issuer` and `jwks_uri`.
    fn serve_discovery(&self, issuer: &str, jwks_uri: &str) {
        let doc = json!({
            "issuer": issuer,
            "jwks_uri": jwks_uri,
            "id_token_signing_alg_values_supported": ["ES256"],
        });
        self.set(|c| c.discovery = doc.to_string());
    }

    fn set(&self, f: impl FnOnce(&mut Config)) {
        let mut c = self.config.lock().unwrap();
        f(&mut c);
        let fault = match &c.mode {
            Mode::Ok | Mode::Slow(_) => Fault::Good,
            Mode::Status(code) => Fault::Status(*code),
            Mode::Garbage => Fault::Body(b"<html>not json".to_vec()),
            Mode::Huge => {
                let big = format!(r#"{{"keys":[],"pad":"{}"}}"#, "x".repeat(1024 * 1024));
                Fault::Body(big.into_bytes())
            }
            Mode::HugeChunked => Fault::Huge { declared: false },
            Mode::NoUsableKeys => {
                let doc = r#"{"keys":[{"kty":"RSA","use":"enc","kid":"e","n":"AQAB","e":"AQAB"}]}"#;
                Fault::Body(doc.as_bytes().to_vec())
            }
        };
        let slow = match c.mode {
            Mode::Slow(d) => d,
            _ => Duration::ZERO,
        };
        self.server.configure(|f| {
            f.jwks = fault;
            f.good_jwks = c.jwks.clone();
            f.jwks_cache_control = c.cache_control.clone();
            f.etag = c.etag.clone();
            f.delay = c.delay + slow;
            f.discovery_document = Some(c.discovery.clone());
            f.discovery_cache_control = None;
        });
        let certs = Route::json(c.certs.clone()).cache_control("public, max-age=19000");
        self.server.loopback().route("/certs", certs);
    }

    fn serve_keys(&self, keys: &[&TestKey]) {
        let jwks = json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() });
        self.set(|c| c.jwks = jwks.to_string());
    }
}

// ---------------------------------------------------------------------------------------------
// Keys and tokens
// ---------------------------------------------------------------------------------------------

const ISS: &str = "https://issuer.test";
const AUD: &str = "api";

/// A fresh P-256 key (the workspace's test signer) under `kid`.
struct TestKey {
    kid: String,
    key: SigningKey,
}

impl TestKey {
    fn new(kid: &str) -> TestKey {
        TestKey {
            kid: kid.into(),
            key: SigningKey::generate(Algorithm::ES256)
                .unwrap()
                .with_kid(kid),
        }
    }

    fn jwk(&self) -> serde_json::Value {
        let jwk = self.key.public_jwk().unwrap();
        assert_eq!(jwk["kid"], self.kid.as_str());
        assert_eq!(
            (&jwk["crv"], &jwk["alg"], &jwk["use"]),
            (&json!("P-256"), &json!("ES256"), &json!("sig"))
        );
        jwk
    }

    fn token(&self, claims: serde_json::Value) -> String {
        self.token_raw(&claims.to_string())
    }

    /// A token with exactly these payload bytes (e.g. with a repeated member).
    fn token_raw(&self, payload: &str) -> String {
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": self.kid});
        self.key.sign_raw(&header.to_string(), payload).unwrap()
    }

    fn token_for(&self, iss: &str) -> String {
        self.token(claims(iss))
    }

    fn std_token(&self) -> String {
        self.token_for(ISS)
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(iss: &str) -> serde_json::Value {
    json!({"iss": iss, "aud": AUD, "sub": "user-1", "exp": now() + 600, "iat": now()})
}

fn policy(iss: &str, alg: Algorithm) -> Validation {
    Validation::builder([alg])
        .issuer(iss)
        .audience(AUD)
        .build()
        .unwrap()
}

/// An ES256 verifier for tokens of `iss`. The verified-token cache is off: these tests count
/// key-source fetches, and a cached token would (rightly) not consult the key source.
fn verifier_for(iss: &str, source: impl KeySource) -> Verifier {
    Verifier::builder(
        policy(iss, Algorithm::ES256),
        source,
        CryptoProvider::default(),
    )
    .token_cache(None)
    .build()
}

fn verifier(source: impl KeySource) -> Verifier {
    verifier_for(ISS, source)
}

/// A builder with test-friendly bounds: 1 s minimum TTL, short timeout and backoff.
fn fast(server: &Server) -> JwksSourceBuilder {
    JwksSource::builder(server.url("/jwks"))
        .ttl_bounds(Duration::from_secs(1), Duration::from_secs(3600))
        .timeout(Duration::from_secs(1))
        .retry_backoff(Duration::from_secs(30), Duration::from_secs(60))
}

/// Builds the source and fetches its keys.
async fn prefetched(builder: JwksSourceBuilder) -> JwksSource {
    let source = builder.build().unwrap();
    source.prefetch().await.unwrap();
    source
}

/// Verifies `token` with a new source from `builder`, then again 1.3 s later (after a 1 s TTL).
async fn verify_before_and_after_a_second(builder: JwksSourceBuilder, token: &str) {
    let v = verifier(builder.build().unwrap());
    verify(&v, token).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    verify(&v, token).await.unwrap();
}

/// Verifies `token` in `n` concurrent tasks.
async fn verify_concurrently(verifier: &Verifier, token: &str, n: usize) -> Vec<Result<(), Error>> {
    let token: Arc<str> = Arc::from(token);
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (v, token) = (verifier.clone(), Arc::clone(&token));
            tokio::spawn(async move { verify(&v, &token).await })
        })
        .collect();
    let mut results = Vec::with_capacity(n);
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

async fn verify(verifier: &Verifier, token: &str) -> Result<(), Error> {
    tokio::time::timeout(Duration::from_secs(5), verifier.verify(token))
        .await
        .expect("verification must not hang")
        .map(|_| ())
}

// ---------------------------------------------------------------------------------------------
// JwksSource
// ---------------------------------------------------------------------------------------------

#[test]
fn config_errors() {
    assert!(matches!(
        JwksSource::builder("not a url").build(),
        Err(RemoteError::InvalidUrl { .. })
    ));
    assert!(matches!(
        JwksSource::builder("http://idp.example.com/jwks").build(),
        Err(RemoteError::InsecureUrl(_))
    ));
    assert!(
        JwksSource::builder("http://idp.example.com/jwks")
            .allow_insecure_http(true)
            .build()
            .is_ok()
    );
    assert!(
        JwksSource::builder("http://localhost:1/jwks")
            .build()
            .is_ok()
    );
    assert!(matches!(
        JwksSource::builder("https://idp.example.com/jwks")
            .ttl_bounds(Duration::from_secs(10), Duration::from_secs(1))
            .build(),
        Err(RemoteError::InvalidOption(_))
    ));
    assert!(matches!(
        JwksSource::builder("https://idp.example.com/jwks")
            .ttl_bounds(Duration::ZERO, Duration::from_secs(1))
            .build(),
        Err(RemoteError::InvalidOption(_))
    ));
}

#[test]
fn background_refresh_needs_a_runtime() {
    let source = JwksSource::builder("https://idp.example.com/jwks")
        .build()
        .unwrap();
    assert!(matches!(
        source.spawn_background_refresh(),
        Err(RemoteError::NoRuntime)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_limited_to_three() {
    let (server, _key) = Server::with_key("a").await;
    // /r/2 -> /r/1 -> /r/0 -> /jwks: three redirects.
    let ok = JwksSource::builder(server.url("/r/2")).build().unwrap();
    ok.prefetch().await.unwrap();
    assert_eq!(server.hits(), 1);
    let too_many = JwksSource::builder(server.url("/r/3")).build().unwrap();
    let err = too_many.prefetch().await.unwrap_err();
    assert!(matches!(err, RemoteError::Transport { .. }), "{err:?}");
    assert_eq!(server.hits(), 1);
    // No downgrade to plain http through a redirect.
    let insecure = JwksSource::builder(server.url("/to-insecure"))
        .build()
        .unwrap();
    let err = insecure.prefetch().await.unwrap_err();
    assert!(
        matches!(&err, RemoteError::Transport { reason, .. } if reason.contains("insecure")),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lazy_fetch_then_cache_hits_without_fetching() {
    let (server, a) = Server::with_key("a").await;
    let source = JwksSource::builder(server.url("/jwks")).build().unwrap();
    assert_eq!(server.hits(), 0, "lazy: nothing fetched at build time");
    let v = verifier(source.clone());
    verify(&v, &a.std_token()).await.unwrap();
    assert_eq!(server.hits(), 1);
    for _ in 0..20 {
        verify(&v, &a.std_token()).await.unwrap();
    }
    assert_eq!(server.hits(), 1, "cache hits do not fetch");
    let stats = source.stats();
    assert_eq!(stats.fetches, 1);
    assert_eq!(stats.cache_hits, 20);
    assert_eq!(stats.fetch_failures, 0);

    // The hot path answers without waiting.
    let future = source.key(KeyRequest {
        kid: Some("a"),
        alg: Algorithm::ES256,
    });
    assert_eq!(format!("{future:?}"), "KeyFuture::Ready");

    // Invalid tokens are still rejected.
    assert_eq!(
        verify(&v, &tamper(&a.std_token())).await,
        Err(Error::InvalidSignature)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_age_is_honoured_and_etag_revalidates() {
    let (server, a) = Server::with_key("a").await;
    server.set(|c| {
        c.cache_control = Some("public, max-age=1".into());
        c.etag = Some("\"v1\"".into());
    });
    // Fallback TTL of an hour: only max-age can make the set go stale after a second.
    let source = prefetched(fast(&server).fallback_ttl(Duration::from_secs(3600))).await;
    let v = verifier(source.clone());
    verify(&v, &a.std_token()).await.unwrap();
    assert_eq!(server.hits(), 1);

    tokio::time::sleep(Duration::from_millis(1300)).await;
    verify(&v, &a.std_token()).await.unwrap();
    assert_eq!(server.hits(), 2, "stale after max-age: refetched");
    assert_eq!(
        source.stats().not_modified,
        1,
        "revalidated with If-None-Match"
    );
    verify(&v, &a.std_token()).await.unwrap();
    assert_eq!(server.hits(), 2, "304 extended the freshness");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_age_is_clamped_to_the_bounds() {
    let (server, a) = Server::with_key("a").await;
    server.set(|c| c.cache_control = Some("max-age=86400".into()));
    let source = fast(&server).ttl_bounds(Duration::from_secs(1), Duration::from_secs(1));
    verify_before_and_after_a_second(source, &a.std_token()).await;
    assert_eq!(
        server.hits(),
        2,
        "a day of max-age is clamped to the 1 s maximum"
    );

    // no-store counts as the minimum.
    server.set(|c| c.cache_control = Some("no-store".into()));
    let source = fast(&server)
        .ttl_bounds(Duration::from_secs(1), Duration::from_secs(3600))
        .fallback_ttl(Duration::from_secs(3600));
    verify_before_and_after_a_second(source, &a.std_token()).await;
    assert_eq!(server.hits(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_is_picked_up_with_one_fetch_and_no_cooldown() {
    let (server, a) = Server::with_key("a").await;
    let (b, c) = (TestKey::new("b"), TestKey::new("c"));
    let source = prefetched(fast(&server)).await;
    let v = verifier(source.clone());

    // The provider rotates in "b": the first token with it triggers exactly one fetch.
    server.serve_keys(&[&a, &b]);
    verify(&v, &b.std_token()).await.unwrap();
    assert_eq!(server.hits(), 2);
    verify(&v, &b.std_token()).await.unwrap();
    assert_eq!(server.hits(), 2);

    // A successful refetch started no cooldown: the next rotation, seconds later, works too.
    server.serve_keys(&[&b, &c]);
    verify(&v, &c.std_token()).await.unwrap();
    assert_eq!(server.hits(), 3);
    // "a" was rotated out: refetch once, then refused.
    assert!(matches!(
        verify(&v, &a.std_token()).await,
        Err(Error::UnknownKey { .. })
    ));
    assert_eq!(server.hits(), 4);
    assert_eq!(source.stats().unknown_kid_rejections, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_new_kid_requests_cause_one_fetch() {
    let (server, a) = Server::with_key("a").await;
    let b = TestKey::new("b");
    let source = prefetched(fast(&server)).await;
    server.serve_keys(&[&a, &b]);
    server.set(|c| c.delay = Duration::from_millis(300));
    let v = verifier(source);
    for result in verify_concurrently(&v, &b.std_token(), 1000).await {
        result.unwrap();
    }
    assert_eq!(server.hits(), 2, "one prefetch plus exactly one refetch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kids_single_flight_then_cooldown() {
    let (server, a) = Server::with_key("a").await;
    let source = prefetched(fast(&server)).await;
    server.set(|c| c.delay = Duration::from_millis(300));
    let v = verifier(source.clone());

    let stranger = TestKey::new("unknown-1");
    for result in verify_concurrently(&v, &stranger.std_token(), 1000).await {
        assert!(matches!(result, Err(Error::UnknownKey { .. })));
    }
    assert_eq!(server.hits(), 2, "1000 unknown-kid requests: one refetch");

    // Within the cooldown, another unknown kid is refused without fetching.
    let other = TestKey::new("unknown-2");
    assert!(matches!(
        verify(&v, &other.std_token()).await,
        Err(Error::UnknownKey { .. })
    ));
    assert_eq!(server.hits(), 2, "cooldown: no fetch");
    // Known keys still work.
    verify(&v, &a.std_token()).await.unwrap();
    assert_eq!(source.stats().unknown_kid_rejections, 1001);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooldown_expires() {
    let (server, a) = Server::with_key("a").await;
    let b = TestKey::new("b");
    let source = prefetched(fast(&server).unknown_kid_cooldown(Duration::from_millis(500))).await;
    let v = verifier(source);
    assert!(verify(&v, &b.std_token()).await.is_err());
    assert_eq!(server.hits(), 2);
    server.serve_keys(&[&a, &b]);
    assert!(verify(&v, &b.std_token()).await.is_err(), "cooling down");
    assert_eq!(server.hits(), 2);
    tokio::time::sleep(Duration::from_millis(700)).await;
    verify(&v, &b.std_token()).await.unwrap();
    assert_eq!(server.hits(), 3);
}

/// The set goes stale, then the provider misbehaves: the old keys keep working, within bounded
/// time, with one fetch attempt (then backoff); invalid tokens are still refused.
async fn stale_keys_survive(mode: Mode) {
    let (server, a) = Server::with_key("a").await;
    server.set(|c| c.cache_control = Some("max-age=1".into()));
    let source = prefetched(fast(&server).max_response_bytes(64 * 1024)).await;
    let v = verifier(source.clone());
    server.set(|c| c.mode = mode.clone());
    tokio::time::sleep(Duration::from_millis(1200)).await;

    // Timeout 1 s: everything must finish well within 3 s.
    let result = tokio::time::timeout(Duration::from_secs(3), v.verify(&a.std_token()))
        .await
        .expect("bounded latency");
    assert!(result.is_ok(), "{mode:?}: stale keys used: {result:?}");
    assert_eq!(server.hits(), 2, "{mode:?}");
    assert_eq!(source.stats().fetch_failures, 1, "{mode:?}");

    // Backing off: no fetch per request while failing.
    for _ in 0..5 {
        verify(&v, &a.std_token()).await.unwrap();
    }
    assert_eq!(
        verify(&v, &tamper(&a.std_token())).await,
        Err(Error::InvalidSignature)
    );
    assert_eq!(server.hits(), 2, "{mode:?}: no refetch while backing off");
    assert_eq!(source.cached_keys().map(|k| k.len()), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_error_keeps_old_keys() {
    stale_keys_survive(Mode::Status(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_keeps_old_keys() {
    stale_keys_survive(Mode::Garbage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_body_keeps_old_keys() {
    stale_keys_survive(Mode::Huge).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_chunked_body_keeps_old_keys() {
    stale_keys_survive(Mode::HugeChunked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_server_keeps_old_keys() {
    stale_keys_survive(Mode::Slow(Duration::from_secs(10))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_key_set_keeps_old_keys() {
    stale_keys_survive(Mode::NoUsableKeys).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_failing_prefetch_report_typed_errors() {
    let server = Server::start().await;
    server.set(|c| c.mode = Mode::HugeChunked);
    let source = fast(&server).max_response_bytes(4096).build().unwrap();
    assert!(matches!(
        source.prefetch().await,
        Err(RemoteError::TooLarge { max: 4096, .. })
    ));
    server.set(|c| c.mode = Mode::Status(404));
    assert!(matches!(
        source.prefetch().await,
        Err(RemoteError::Status { status: 404, .. })
    ));
    server.set(|c| c.mode = Mode::NoUsableKeys);
    assert!(matches!(
        source.prefetch().await,
        Err(RemoteError::NoUsableKeys { .. })
    ));
    server.set(|c| c.mode = Mode::Slow(Duration::from_secs(10)));
    let started = std::time::Instant::now();
    assert!(matches!(
        source.prefetch().await,
        Err(RemoteError::Timeout { .. })
    ));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_down_at_start_fails_closed() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    drop(listener);
    let source = JwksSource::builder(url).build().unwrap();
    let v = verifier(source.clone());
    let a = TestKey::new("a");
    let err = verify(&v, &a.std_token()).await.unwrap_err();
    assert!(matches!(err, Error::KeySourceUnavailable(_)), "{err:?}");
    assert_eq!(err.code().http_status(), 503);
    // Backing off: the next request fails closed at once, without another attempt.
    let err = verify(&v, &a.std_token()).await.unwrap_err();
    assert!(matches!(err, Error::KeySourceUnavailable(_)));
    assert_eq!(source.stats().fetches, 1);
    let direct = source
        .key(KeyRequest {
            kid: Some("a"),
            alg: Algorithm::ES256,
        })
        .await;
    assert!(matches!(direct, Err(KeyLookupError::Unavailable(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_window_ends_in_fail_closed() {
    let (server, a) = Server::with_key("a").await;
    server.set(|c| c.cache_control = Some("max-age=1".into()));
    let source = prefetched(
        fast(&server)
            .stale_if_error(Duration::from_secs(1))
            .retry_backoff(Duration::from_millis(100), Duration::from_millis(200)),
    )
    .await;
    server.set(|c| c.mode = Mode::Status(503));
    let v = verifier(source);
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let err = verify(&v, &a.std_token()).await.unwrap_err();
    assert!(matches!(err, Error::KeySourceUnavailable(_)), "{err:?}");

    // Recovery: the next attempt after the backoff succeeds.
    server.set(|c| c.mode = Mode::Ok);
    tokio::time::sleep(Duration::from_millis(300)).await;
    verify(&v, &a.std_token()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_refresh_runs_and_stops_with_the_source() {
    let (server, a) = Server::with_key("a").await;
    server.set(|c| c.cache_control = Some("max-age=1".into()));
    let source = fast(&server).build().unwrap();
    let task = source.spawn_background_refresh().unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let fetched = server.hits();
    assert!(
        fetched >= 2,
        "refreshed ahead of expiry without requests: {fetched}"
    );
    let v = verifier(source.clone());
    verify(&v, &a.std_token()).await.unwrap();
    drop(v);
    drop(source);
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("the task ends when the source is dropped")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_hook_is_called() {
    let (server, a) = Server::with_key("a").await;
    let metrics = Arc::new(tollgate_core::testing::CountingJwksMetrics::default());
    let source = fast(&server).metrics(metrics.clone()).build().unwrap();
    let v = verifier(source);
    verify(&v, &a.std_token()).await.unwrap();
    verify(&v, &a.std_token()).await.unwrap();
    let _ = verify(&v, &TestKey::new("x").std_token()).await;
    assert_eq!(metrics.fetches(), 2);
    assert_eq!(metrics.cache_hits(), 1);
    assert_eq!(metrics.unknown_kids(), 1);
}

// ---------------------------------------------------------------------------------------------
// Discovery
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_discovery_finds_the_jwks() {
    let (server, a) = Server::with_key("a").await;
    let issuer = server.base.clone();
    server.serve_discovery(&issuer, &server.url("/jwks"));
    let source = OidcSource::discover(issuer.clone()).await.unwrap();
    assert_eq!(server.discovery_hits(), 1);
    assert_eq!(source.jwks_source().unwrap().url(), server.url("/jwks"));
    let v = verifier_for(&issuer, source);
    verify(&v, &a.token_for(&issuer)).await.unwrap();
    assert_eq!(server.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_rejects_an_issuer_mismatch() {
    let server = Server::start().await;
    let issuer = server.base.clone();
    // A trailing slash is a different issuer: the comparison is exact.
    server.serve_discovery(&format!("{issuer}/"), &server.url("/jwks"));
    let err = OidcSource::discover(issuer.clone()).await.unwrap_err();
    assert!(
        matches!(&err, RemoteError::IssuerMismatch { expected, .. } if *expected == issuer),
        "{err:?}"
    );
    server.serve_discovery("https://evil.test", &server.url("/jwks"));
    assert!(matches!(
        OidcSource::discover(issuer.clone()).await,
        Err(RemoteError::IssuerMismatch { .. })
    ));
    // jwks_uri must pass the https rule too.
    server.serve_discovery(&issuer, "http://keys.example.com/jwks");
    assert!(matches!(
        OidcSource::discover(issuer).await,
        Err(RemoteError::InsecureUrl(_))
    ));
    assert_eq!(server.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc8414_and_lazy_discovery() {
    let (server, a) = Server::with_key("a").await;
    let issuer = server.url("/tenant");
    server.serve_discovery(&issuer, &server.url("/jwks"));
    let source = OidcSource::builder(issuer.clone())
        .kind(DiscoveryKind::OAuthAuthorizationServer)
        .jwks(|b| b.timeout(Duration::from_secs(2)))
        .lazy()
        .unwrap();
    assert_eq!(server.discovery_hits(), 0, "lazy");
    let v = verifier_for(&issuer, source.clone());
    verify(&v, &a.token_for(&issuer)).await.unwrap();
    verify(&v, &a.token_for(&issuer)).await.unwrap();
    assert_eq!(server.discovery_hits(), 1);
    assert_eq!(server.hits(), 1);
    assert!(source.jwks_source().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lazy_discovery_is_single_flight() {
    let (server, a) = Server::with_key("a").await;
    server.set(|c| c.delay = Duration::from_millis(200));
    let issuer = server.base.clone();
    server.serve_discovery(&issuer, &server.url("/jwks"));
    let v = verifier_for(&issuer, OidcSource::lazy(issuer.clone()).unwrap());
    for result in verify_concurrently(&v, &a.token_for(&issuer), 200).await {
        result.unwrap();
    }
    assert_eq!(server.discovery_hits(), 1);
    assert_eq!(server.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lazy_discovery_failure_fails_closed() {
    let server = Server::start().await;
    let issuer = server.url("/tenant");
    server.set(|c| c.discovery = "not json".into());
    let source = OidcSource::lazy(issuer.clone()).unwrap();
    let v = verifier_for(&issuer, source);
    let a = TestKey::new("a");
    for _ in 0..3 {
        let err = verify(&v, &a.token_for(&issuer)).await.unwrap_err();
        assert!(matches!(err, Error::KeySourceUnavailable(_)), "{err:?}");
    }
    assert_eq!(
        server.discovery_hits(),
        1,
        "backoff after a failed discovery"
    );
}

// ---------------------------------------------------------------------------------------------
// Firebase-style certificate maps
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pem_certificate_map_verifies_rs256() {
    let server = Server::start().await;
    let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["securetoken.test".to_owned()])
        .unwrap()
        .self_signed(&key_pair)
        .unwrap();
    let certs = json!({ "cert-1": cert.pem(), "broken": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" });
    server.set(|c| c.certs = certs.to_string());

    let source = JwksSource::firebase()
        .url(server.url("/certs"))
        .build()
        .unwrap();
    let project_issuer = "https://securetoken.google.com/my-project";
    let v = Verifier::new(
        policy(project_issuer, Algorithm::RS256),
        source.clone(),
        CryptoProvider::default(),
    );

    let rsa = SigningKey::from_pkcs8(&key_pair.serialize_der(), Algorithm::RS256).unwrap();
    let sign = |kid: &str| {
        let claims = claims(project_issuer);
        let key = rsa.clone().with_kid(kid);
        key.sign(claims.as_object().unwrap(), "JWT").unwrap()
    };
    verify(&v, &sign("cert-1")).await.unwrap();
    assert_eq!(
        source.cached_keys().unwrap().len(),
        1,
        "broken entry skipped"
    );
    let keys = source.cached_keys().unwrap();
    let key = keys.iter().next().unwrap();
    assert_eq!(key.algorithm(), Some(Algorithm::RS256));
    assert_eq!(key.kid(), Some("cert-1"));
    assert!(matches!(
        verify(&v, &sign("cert-2")).await,
        Err(Error::UnknownKey { .. })
    ));
    assert_eq!(
        verify(&v, &tamper(&sign("cert-1"))).await,
        Err(Error::InvalidSignature)
    );
    // The same format option with an explicit URL and algorithm.
    let custom = JwksSource::builder(server.url("/certs"))
        .format(KeyFormat::PemCertificates {
            algorithm: Algorithm::RS256,
        })
        .build()
        .unwrap();
    custom.prefetch().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Multi-issuer routing
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_issuer_routes_by_iss() {
    let (one, two) = (Server::start().await, Server::start().await);
    let (k1, k2) = (TestKey::new("k1"), TestKey::new("k2"));
    one.serve_keys(&[&k1]);
    two.serve_keys(&[&k2]);
    let (iss1, iss2) = ("https://one.test", "https://two.test");
    let router = MultiIssuer::builder()
        .issuer(
            iss1,
            policy(iss1, Algorithm::ES256),
            JwksSource::builder(one.url("/jwks")).build().unwrap(),
        )
        .issuer(
            iss2,
            policy(iss2, Algorithm::ES256),
            JwksSource::builder(two.url("/jwks")).build().unwrap(),
        )
        .build()
        .unwrap();

    // Unknown issuer: refused before any fetch.
    let err = router
        .verify(&k1.token_for("https://evil.test"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::WrongIssuer { .. }), "{err:?}");
    let err = router
        .verify(&k1.token(json!({"aud": AUD, "exp": now() + 60})))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::MissingClaim(_)), "{err:?}");
    assert!(router.verify("garbage").await.is_err());
    // Routing reads `iss` as the verifier does: a repeated `iss` is refused, not resolved to
    // either value.
    let exp = now() + 60;
    for payload in [
        format!(r#"{{"iss":"https://evil.test","iss":"{iss1}","aud":"{AUD}","exp":{exp}}}"#),
        format!(r#"{{"iss":"{iss1}","iss":"https://evil.test","aud":"{AUD}","exp":{exp}}}"#),
    ] {
        let err = router.route(&k1.token_raw(&payload)).unwrap_err();
        assert_eq!(err, Error::Malformed(Malformed::DuplicateMember));
    }
    let err = router
        .route(&k1.token(json!({"iss": 7, "aud": AUD, "exp": exp})))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidClaim { .. }), "{err:?}");
    assert_eq!(one.hits() + two.hits(), 0, "no fetch for unknown issuers");

    let verified = router.verify(&k1.token_for(iss1)).await.unwrap();
    assert_eq!(
        verified
            .claims::<StandardClaims>()
            .unwrap()
            .registered
            .iss
            .as_deref(),
        Some(iss1)
    );
    router.verify(&k2.token_for(iss2)).await.unwrap();
    assert_eq!((one.hits(), two.hits()), (1, 1));

    // A token claiming issuer one but signed with issuer two's key is refused.
    let err = router.verify(&k2.token_for(iss1)).await.unwrap_err();
    assert!(matches!(err, Error::UnknownKey { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_issuer_entra_tenants() {
    let server = Server::start().await;
    let key = TestKey::new("entra");
    server.serve_keys(&[&key]);
    let tenant = "11111111-2222-3333-4444-555555555555";
    let policy = Validation::builder([Algorithm::ES256])
        .audience(AUD)
        .build()
        .unwrap();
    let router = MultiIssuer::builder()
        .entra_id(
            [tenant],
            policy,
            JwksSource::builder(server.url("/jwks")).build().unwrap(),
        )
        .build()
        .unwrap();
    let entra = |iss: &str, tid: &str| {
        key.token(json!({"iss": iss, "tid": tid, "aud": AUD, "exp": now() + 600}))
    };
    let iss = format!("https://login.microsoftonline.com/{tenant}/v2.0");
    router.verify(&entra(&iss, tenant)).await.unwrap();

    // Tenant claim not matching the issuer, tenant not allowed, wrong shape: all refused.
    let other = "99999999-2222-3333-4444-555555555555";
    let other_iss = format!("https://login.microsoftonline.com/{other}/v2.0");
    for token in [
        entra(&iss, other),
        entra(&other_iss, other),
        entra(&other_iss, tenant),
        entra(
            &format!("https://login.microsoftonline.com/{tenant}/v1.0"),
            tenant,
        ),
    ] {
        let err = router.verify(&token).await.unwrap_err();
        assert!(matches!(err, Error::WrongIssuer { .. }), "{err:?}");
    }
    // A repeated tenant claim is refused rather than resolved to either value.
    let exp = now() + 600;
    let repeated =
        format!(r#"{{"iss":"{iss}","tid":"{other}","tid":"{tenant}","aud":"{AUD}","exp":{exp}}}"#);
    let err = router.route(&key.token_raw(&repeated)).unwrap_err();
    assert_eq!(err, Error::Malformed(Malformed::DuplicateMember));
    assert_eq!(server.hits(), 1);
    assert!(
        MultiIssuer::builder()
            .tenant_issuer(
                "https://login.example.com/v2.0",
                "tid",
                [tenant],
                Validation::builder([Algorithm::ES256])
                    .audience(AUD)
                    .build()
                    .unwrap(),
                tollgate_core::KeySet::new(),
            )
            .build()
            .is_err()
    );
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<JwksSource>();
    check::<OidcSource>();
    check::<MultiIssuer>();
}
