//! Key-source faults on a real loopback server, beyond `remote_sources.rs` (which covers stale
//! keys surviving 500/garbage/1 MiB/slow answers, the three-redirect limit, rotation and the
//! unknown-kid single flight for one kid): here every fault is met with *nothing cached* (the
//! source must fail closed) through both `JwksSource` and `OidcSource` (faults at discovery and
//! at the `jwks_uri`): 5xx/429, a server that never answers (before or after its headers, or
//! never reads the request), an unroutable host, a user-supplied client without timeouts,
//! 50 MiB bodies (chunked and declared), invalid documents, redirect loops, a slow drip of body
//! and of headers; then flapping (good/500 alternating: the last good keys are kept and a
//! rotation is still picked up) and floods of 10,000 distinct unknown `kid`s (fetches bounded by
//! the documented single flight + cooldown, and by the retry backoff while failing).
//!
//! Every case asserts the typed outcome (`Error::KeySourceUnavailable` or `Error::UnknownKey`,
//! never an accepted token: the tokens are genuinely signed by the key the good document
//! serves) and that the answer came within the configured timeout plus slack.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(feature = "remote")]

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;
use support::server::{Fault, FaultServer, Raw, raw_server};
use support::{AUDIENCE, jwks_value};
use tollgate_core::remote::{
    DEFAULT_UNKNOWN_KID_COOLDOWN, JwksSource, JwksSourceBuilder, MIN_UNKNOWN_KID_COOLDOWN,
    OidcSource, OidcSourceBuilder, RemoteError,
};
use tollgate_core::{Algorithm, CryptoProvider, Error, KeySource, Validation, Verifier};
use tollgate_test_support as support;

/// The whole-fetch timeout given to every source here.
const TIMEOUT: Duration = Duration::from_millis(600);
/// The connect timeout given to every source here.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
/// Scheduling slack on a loaded CI machine.
const SLACK: Duration = Duration::from_millis(1500);

// The fault-injecting server is `tollgate_test_support::server::FaultServer` (shared with
// `remote_sources.rs`); `raw_server` fails below HTTP.

// ---------------------------------------------------------------------------------------------
// Sources, verifiers, tokens
// ---------------------------------------------------------------------------------------------

/// A key-set source with the suite's small timeouts and a long retry backoff (so a test sees
/// exactly one attempt unless it says otherwise).
fn jwks_builder(url: &str) -> JwksSourceBuilder {
    JwksSource::builder(url)
        .timeout(TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .retry_backoff(Duration::from_secs(30), Duration::from_secs(60))
}

fn oidc_builder(server: &FaultServer) -> OidcSourceBuilder {
    OidcSource::builder(server.base.clone()).jwks(|b| {
        b.timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .retry_backoff(Duration::from_secs(30), Duration::from_secs(60))
    })
}

/// A verifier for `issuer` (every algorithm of the test keys), without the verified-token cache
/// (these tests count fetches).
fn verifier_for(issuer: &str, source: impl KeySource) -> Verifier {
    let policy = Validation::builder(Algorithm::ALL)
        .issuer(issuer)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    Verifier::builder(policy, source, CryptoProvider::default())
        .token_cache(None)
        .build()
}

fn jwks_verifier(source: JwksSource) -> Verifier {
    verifier_for(support::ISSUER, source)
}

/// A genuine ES256 token (kid `ec256`) for `issuer`: accepted whenever the good keys are at hand.
fn token_for(issuer: &str) -> String {
    let mut claims = support::claims();
    claims["iss"] = json!(issuer);
    support::sign(Algorithm::ES256, &claims)
}

fn token() -> String {
    token_for(support::ISSUER)
}

/// A genuine ES256 token naming `kid`, which no key set has.
fn unknown_kid_token(kid: &str) -> String {
    let header = json!({"alg": "ES256", "kid": kid}).to_string();
    support::sign_raw(Algorithm::ES256, &header, &support::claims().to_string())
}

/// Verifies, bounded by a generous outer timeout; returns the outcome and the time it took.
async fn timed(verifier: &Verifier, token: &str) -> (Result<(), Error>, Duration) {
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(10), verifier.verify(token))
        .await
        .expect("a verification never hangs");
    (result.map(|_| ()), started.elapsed())
}

/// The fault fails closed with 503 semantics within the fetch timeout plus slack.
#[track_caller]
fn assert_fails_closed(outcome: &(Result<(), Error>, Duration), what: &str) {
    let (result, elapsed) = outcome;
    assert!(
        matches!(result, Err(Error::KeySourceUnavailable(_))),
        "{what}: {result:?}"
    );
    assert_eq!(result.as_ref().unwrap_err().code().http_status(), 503);
    assert!(*elapsed <= TIMEOUT + SLACK, "{what}: took {elapsed:?}");
}

/// Verifies `token` in `n` concurrent tasks; every outcome and the slowest time.
async fn concurrently(
    verifier: &Verifier,
    tokens: Vec<String>,
) -> (Vec<Result<(), Error>>, Duration) {
    let tasks: Vec<_> = tokens
        .into_iter()
        .map(|token| {
            let verifier = verifier.clone();
            tokio::spawn(async move { timed(&verifier, &token).await })
        })
        .collect();
    let mut results = Vec::with_capacity(tasks.len());
    let mut slowest = Duration::ZERO;
    for task in tasks {
        let (result, elapsed) = task.await.unwrap();
        slowest = slowest.max(elapsed);
        results.push(result);
    }
    (results, slowest)
}

fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The fetches the documented unknown-kid policy allows within `elapsed`: one refetch, then a
/// cooldown starting at `MIN_UNKNOWN_KID_COOLDOWN` (2 s) that doubles up to
/// `DEFAULT_UNKNOWN_KID_COOLDOWN` (30 s) while unknown kids keep coming.
fn unknown_kid_refetch_bound(elapsed: Duration) -> usize {
    schedule_count(
        elapsed,
        MIN_UNKNOWN_KID_COOLDOWN,
        DEFAULT_UNKNOWN_KID_COOLDOWN,
    )
}

/// Attempts at 0, then after `first`, doubling up to `max`, within `elapsed`.
fn schedule_count(elapsed: Duration, first: Duration, max: Duration) -> usize {
    let (mut at, mut gap, mut count) = (Duration::ZERO, first, 0);
    while at <= elapsed {
        count += 1;
        at += gap;
        gap = (gap * 2).min(max);
    }
    count
}

// ---------------------------------------------------------------------------------------------
// Failing statuses
// ---------------------------------------------------------------------------------------------

/// 5xx, 429 and 404 with nothing cached: fail closed at once, for the key set and for discovery
/// (and for the `jwks_uri` behind a good discovery); retries wait for the backoff.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_statuses_fail_closed_without_keys() {
    for status in [500, 502, 503, 429, 404] {
        let server = FaultServer::with_jwks_fault(Fault::Status(status)).await;
        let source = jwks_builder(&server.url("/jwks")).build().unwrap();
        let err = source.prefetch().await.unwrap_err();
        assert!(
            matches!(err, RemoteError::Status { status: s, .. } if s == status),
            "{err:?}"
        );
        let v = jwks_verifier(source);
        for _ in 0..5 {
            assert_fails_closed(&timed(&v, &token()).await, &format!("jwks {status}"));
        }
        assert_eq!(
            server.jwks_hits(),
            1,
            "{status}: backing off, no refetch per request"
        );

        // Discovery failing, then discovery fine but its jwks_uri failing.
        let oidc = verifier_for(&server.base, oidc_builder(&server).lazy().unwrap());
        server.set_discovery(Fault::Status(status));
        for _ in 0..3 {
            assert_fails_closed(&timed(&oidc, &token_for(&server.base)).await, "discovery");
        }
        assert_eq!(server.discovery_hits(), 1, "discovery backs off too");
        server.set_discovery(Fault::Good);
        let fresh = verifier_for(&server.base, oidc_builder(&server).lazy().unwrap());
        assert_fails_closed(&timed(&fresh, &token_for(&server.base)).await, "jwks_uri");
    }
}

// ---------------------------------------------------------------------------------------------
// Hangs and timeouts
// ---------------------------------------------------------------------------------------------

/// A server that reads the request and never answers: bounded by the fetch timeout, for 100
/// concurrent requests (one fetch), for the key set and for discovery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_server_is_bounded_by_the_timeout() {
    let server = FaultServer::with_jwks_fault(Fault::Hang).await;
    let source = jwks_builder(&server.url("/jwks")).build().unwrap();
    let started = Instant::now();
    let err = source.prefetch().await.unwrap_err();
    assert!(matches!(err, RemoteError::Timeout { .. }), "{err:?}");
    let took = started.elapsed();
    assert!(took >= TIMEOUT - Duration::from_millis(50), "{took:?}");
    assert!(took <= TIMEOUT + SLACK, "{took:?}");

    let fresh = jwks_builder(&server.url("/jwks")).build().unwrap();
    let v = jwks_verifier(fresh);
    let (results, slowest) = concurrently(&v, vec![token(); 100]).await;
    for result in &results {
        assert!(
            matches!(result, Err(Error::KeySourceUnavailable(_))),
            "{result:?}"
        );
    }
    assert!(slowest <= TIMEOUT + SLACK, "slowest {slowest:?}");
    assert_eq!(
        server.jwks_hits(),
        2,
        "single flight: one fetch for 100 requests"
    );

    server.set_discovery(Fault::Hang);
    let oidc = verifier_for(&server.base, oidc_builder(&server).lazy().unwrap());
    let (results, slowest) = concurrently(&oidc, vec![token_for(&server.base); 100]).await;
    for result in &results {
        assert!(
            matches!(result, Err(Error::KeySourceUnavailable(_))),
            "{result:?}"
        );
    }
    assert!(slowest <= TIMEOUT + SLACK, "discovery: slowest {slowest:?}");
    assert_eq!(server.discovery_hits(), 1, "one discovery for 100 requests");
}

/// Headers arrive, the body never completes: the total timeout covers the body too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hang_after_headers_is_bounded_by_the_timeout() {
    let server = FaultServer::with_jwks_fault(Fault::HangBody).await;
    let v = jwks_verifier(jwks_builder(&server.url("/jwks")).build().unwrap());
    assert_fails_closed(&timed(&v, &token()).await, "jwks body stalls");
    server.set_discovery(Fault::HangBody);
    let oidc = verifier_for(&server.base, oidc_builder(&server).lazy().unwrap());
    assert_fails_closed(
        &timed(&oidc, &token_for(&server.base)).await,
        "discovery body stalls",
    );
}

/// A listener that accepts and never reads or writes, and one that drips the response head a
/// byte per 100 ms: bounded by the total timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_socket_and_header_drip_are_bounded() {
    for kind in [Raw::Silent, Raw::HeaderDrip] {
        let (url, accepted) = raw_server(kind).await;
        let source = jwks_builder(&url).build().unwrap();
        let started = Instant::now();
        let err = source.prefetch().await.unwrap_err();
        assert!(matches!(err, RemoteError::Timeout { .. }), "{err:?}");
        assert!(
            started.elapsed() <= TIMEOUT + SLACK,
            "{:?}",
            started.elapsed()
        );
        let v = jwks_verifier(jwks_builder(&url).build().unwrap());
        assert_fails_closed(&timed(&v, &token()).await, "raw");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }
}

/// A host that never completes the TCP handshake (a listener whose accept queue is full, so
/// the kernel drops further SYNs): bounded by the connect timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_connect_is_bounded_by_the_connect_timeout() {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    let _listener = socket.listen(0).unwrap();
    // Fill the accept queue (never accepted).
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(stream)) = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            fillers.push(stream);
        }
    }
    let source = jwks_builder(&format!("http://{addr}/jwks"))
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = source.prefetch().await.unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(
            err,
            RemoteError::Transport { .. } | RemoteError::Timeout { .. }
        ),
        "{err:?}"
    );
    assert!(
        took <= CONNECT_TIMEOUT + SLACK,
        "connect timeout {CONNECT_TIMEOUT:?}, total 5 s, took {took:?}: {err:?}"
    );
    eprintln!("unanswered connect: {err} after {took:?}");
}

/// A client supplied by the application without any timeout: the source's own `timeout` still
/// bounds every fetch, so a hanging key server cannot hang requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_client_without_timeouts_is_still_bounded() {
    let server = FaultServer::with_jwks_fault(Fault::Hang).await;
    let source = jwks_builder(&server.url("/jwks"))
        .client(reqwest::Client::builder().no_proxy().build().unwrap())
        .build()
        .unwrap();
    assert_fails_closed(
        &timed(&jwks_verifier(source), &token()).await,
        "custom client",
    );
    let (url, _) = raw_server(Raw::Silent).await;
    let source = jwks_builder(&url)
        .client(reqwest::Client::builder().no_proxy().build().unwrap())
        .build()
        .unwrap();
    assert_fails_closed(
        &timed(&jwks_verifier(source), &token()).await,
        "custom client, silent",
    );
}

// ---------------------------------------------------------------------------------------------
// Oversized and invalid documents
// ---------------------------------------------------------------------------------------------

/// 50 MiB bodies, streamed without a length or with a declared one: refused by the size cap
/// (256 KiB by default) fast, having read at most a few MiB of them, with bounded memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_mib_body_is_refused_fast_with_bounded_memory() {
    let rss_before = vm_rss_kib();
    for declared in [false, true] {
        let server = FaultServer::with_jwks_fault(Fault::Huge { declared }).await;
        let source = jwks_builder(&server.url("/jwks")).build().unwrap();
        let started = Instant::now();
        let err = source.prefetch().await.unwrap_err();
        assert!(
            matches!(err, RemoteError::TooLarge { max, .. } if max == 256 * 1024),
            "declared {declared}: {err:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let v = jwks_verifier(jwks_builder(&server.url("/jwks")).build().unwrap());
        assert_fails_closed(&timed(&v, &token()).await, "huge");
        // Let the server notice the closed connection.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let produced = server.body_bytes();
        eprintln!("declared {declared}: the server produced {produced} bytes for two fetches");
        assert!(
            produced < 32 << 20,
            "declared {declared}: the server produced {produced} bytes for two fetches"
        );

        // Discovery documents are capped the same way.
        server.set_discovery(Fault::Huge { declared });
        let oidc = verifier_for(&server.base, oidc_builder(&server).lazy().unwrap());
        assert_fails_closed(
            &timed(&oidc, &token_for(&server.base)).await,
            "huge discovery",
        );
    }
    let growth_mib = vm_rss_kib().saturating_sub(rss_before) / 1024;
    assert!(
        growth_mib < 40,
        "RSS grew by {growth_mib} MiB for 6 x 50 MiB bodies"
    );
}

/// Documents that are not a usable JWK Set: empty, HTML, not an object, wrong member types,
/// only unusable keys, truncated, not UTF-8, nested past any parser's limit. Refused with a
/// typed error; lookups fail closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_key_set_documents_fail_closed() {
    let good = jwks_value().to_string();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let bodies: Vec<(&str, Vec<u8>, bool)> = vec![
        // (what, body, "no usable keys" rather than "invalid document")
        ("empty", Vec::new(), false),
        (
            "html",
            b"<html><body>maintenance</body></html>".to_vec(),
            false,
        ),
        ("array", b"[]".to_vec(), false),
        ("keys not an array", br#"{"keys":"x"}"#.to_vec(), false),
        (
            "truncated",
            good.as_bytes()[..good.len() / 2].to_vec(),
            false,
        ),
        ("not UTF-8", [good.as_bytes(), b"\xff"].concat(), false),
        ("nested 100k deep", deep.into_bytes(), false),
        ("no keys", br#"{"keys":[]}"#.to_vec(), true),
        (
            "junk entries",
            br#"{"keys":[1,"x",null,{}]}"#.to_vec(),
            true,
        ),
        (
            "only unusable keys",
            br#"{"keys":[{"kty":"RSA","kid":"x"},{"kty":"oct","k":"AAAA"}]}"#.to_vec(),
            true,
        ),
    ];
    for (what, body, no_usable) in bodies {
        let server = FaultServer::with_jwks_fault(Fault::Body(body)).await;
        let source = jwks_builder(&server.url("/jwks")).build().unwrap();
        let err = source.prefetch().await.unwrap_err();
        let typed = if no_usable {
            matches!(err, RemoteError::NoUsableKeys { .. })
        } else {
            matches!(err, RemoteError::InvalidDocument { .. })
        };
        assert!(typed, "{what}: {err:?}");
        let v = jwks_verifier(jwks_builder(&server.url("/jwks")).build().unwrap());
        assert_fails_closed(&timed(&v, &token()).await, what);
    }
}

/// Discovery documents that cannot be used: not JSON, no or bad `jwks_uri`, a plain-http
/// `jwks_uri` to a remote host, no or another `issuer`. Fail closed; the `jwks_uri` is never
/// fetched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_discovery_documents_fail_closed() {
    let server = FaultServer::start().await;
    let base = server.base.clone();
    let jwks_uri = server.url("/jwks");
    for (what, doc) in [
        ("not JSON", "<html>".to_owned()),
        ("array", "[]".to_owned()),
        ("no jwks_uri", json!({"issuer": base}).to_string()),
        (
            "jwks_uri number",
            json!({"issuer": base, "jwks_uri": 7}).to_string(),
        ),
        (
            "jwks_uri plain http remote",
            json!({"issuer": base, "jwks_uri": "http://keys.example.com/jwks"}).to_string(),
        ),
        (
            "jwks_uri not a URL",
            json!({"issuer": base, "jwks_uri": "keys"}).to_string(),
        ),
        ("no issuer", json!({"jwks_uri": jwks_uri}).to_string()),
        (
            "other issuer",
            json!({"issuer": "https://evil.example", "jwks_uri": jwks_uri}).to_string(),
        ),
        (
            "issuer with slash",
            json!({"issuer": format!("{base}/"), "jwks_uri": jwks_uri}).to_string(),
        ),
    ] {
        server.set_discovery(Fault::Body(doc.into_bytes()));
        let oidc = verifier_for(&base, oidc_builder(&server).lazy().unwrap());
        assert_fails_closed(&timed(&oidc, &token_for(&base)).await, what);
        assert!(
            OidcSource::discover(base.clone()).await.is_err(),
            "{what}: eager discovery refuses too"
        );
    }
    assert_eq!(
        server.jwks_hits(),
        0,
        "no jwks_uri of a bad document was fetched"
    );
}

// ---------------------------------------------------------------------------------------------
// Redirects and slow drips
// ---------------------------------------------------------------------------------------------

/// A redirect to itself and a two-hop loop: abandoned after the redirect limit (3), fast, for
/// the key set and for discovery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_loops_are_bounded() {
    for (fault, path) in [(Fault::RedirectLoop, "/jwks"), (Fault::PingPong, "/a")] {
        let server = FaultServer::with_jwks_fault(fault.clone()).await;
        let source = jwks_builder(&server.url(path)).build().unwrap();
        let started = Instant::now();
        let err = source.prefetch().await.unwrap_err();
        assert!(
            matches!(err, RemoteError::Transport { .. }),
            "{fault:?}: {err:?}"
        );
        assert!(started.elapsed() <= TIMEOUT + SLACK);
        assert_eq!(
            server.jwks_hits(),
            4,
            "{fault:?}: the request and three redirects"
        );
        let v = jwks_verifier(jwks_builder(&server.url(path)).build().unwrap());
        assert_fails_closed(&timed(&v, &token()).await, "redirect loop");
        assert_eq!(server.jwks_hits(), 8);
    }
    let server = FaultServer::start().await;
    server.set_discovery(Fault::RedirectLoop);
    let oidc = verifier_for(&server.base, oidc_builder(&server).lazy().unwrap());
    assert_fails_closed(
        &timed(&oidc, &token_for(&server.base)).await,
        "discovery loop",
    );
    assert_eq!(server.discovery_hits(), 4);
}

/// A valid document dripped one byte per 100 ms (it would take minutes): cut off by the total
/// timeout, for the key set and for discovery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_drip_is_bounded_by_the_total_timeout() {
    let server = FaultServer::with_jwks_fault(Fault::Drip).await;
    let source = jwks_builder(&server.url("/jwks")).build().unwrap();
    let started = Instant::now();
    let err = source.prefetch().await.unwrap_err();
    assert!(matches!(err, RemoteError::Timeout { .. }), "{err:?}");
    let took = started.elapsed();
    assert!(
        took >= TIMEOUT - Duration::from_millis(50) && took <= TIMEOUT + SLACK,
        "{took:?}"
    );
    let dripped = server.body_bytes();
    assert!(dripped <= 10, "{dripped} bytes arrived in {took:?}");
    let v = jwks_verifier(jwks_builder(&server.url("/jwks")).build().unwrap());
    assert_fails_closed(&timed(&v, &token()).await, "drip");
    server.set_discovery(Fault::Drip);
    let oidc = verifier_for(&server.base, oidc_builder(&server).lazy().unwrap());
    assert_fails_closed(
        &timed(&oidc, &token_for(&server.base)).await,
        "discovery drip",
    );
}

// ---------------------------------------------------------------------------------------------
// Flapping
// ---------------------------------------------------------------------------------------------

/// The key server alternates good answers and 500s over many refreshes (1 s freshness, 100 ms
/// backoff): the last good keys keep verifying (within the stale window), forged tokens never
/// pass, and a key rotated in during the flapping is picked up by the next good answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flapping_keeps_the_last_good_keys() {
    let server = FaultServer::with_jwks_fault(Fault::Flap).await;
    let source = JwksSource::builder(server.url("/jwks"))
        .timeout(TIMEOUT)
        .ttl_bounds(Duration::from_secs(1), Duration::from_secs(60))
        .retry_backoff(Duration::from_millis(100), Duration::from_millis(200))
        .build()
        .unwrap();
    source.prefetch().await.unwrap();
    let v = jwks_verifier(source.clone());
    let genuine = token();
    let forged = support::tamper_signature(&genuine);
    let started = Instant::now();
    let mut checks = 0;
    while started.elapsed() < Duration::from_millis(3500) {
        let (result, elapsed) = timed(&v, &genuine).await;
        assert!(result.is_ok(), "after {:?}: {result:?}", started.elapsed());
        assert!(elapsed <= TIMEOUT + SLACK);
        assert_eq!(timed(&v, &forged).await.0, Err(Error::InvalidSignature));
        checks += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = source.stats();
    assert!(stats.fetches >= 4, "{stats:?}");
    assert!(stats.fetch_failures >= 1, "{stats:?}");
    assert!(checks >= 20);

    // A rotation while flapping: a new key "rot" joins; a token with it gets its refetch (or
    // the next good answer) and then verifies; the old key stays valid.
    let mut rotated = jwks_value();
    let mut extra = rotated["keys"][0].clone();
    extra["kid"] = json!("rot");
    rotated["keys"].as_array_mut().unwrap().push(extra);
    server.set_good_jwks(rotated.to_string());
    let rot = support::sign_raw(
        Algorithm::RS256,
        &json!({"alg": "RS256", "kid": "rot"}).to_string(),
        &support::claims().to_string(),
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match timed(&v, &rot).await.0 {
            Ok(()) => break,
            // Not picked up yet: refused as unknown after a good refetch (cooling down), or
            // unavailable when the refetch for it hit a 500.
            Err(Error::UnknownKey { .. } | Error::KeySourceUnavailable(_)) => {}
            Err(other) => panic!("rotation while flapping: {other:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "the rotated key was never picked up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(timed(&v, &genuine).await.0.is_ok());
}

// ---------------------------------------------------------------------------------------------
// Floods
// ---------------------------------------------------------------------------------------------

/// 10,000 genuine tokens with distinct unknown `kid`s, 1,000 at a time, the refetch answered
/// slowly (200 ms) so requests pile up: the key server sees one refetch (single flight) plus
/// what the documented cooldown allows in the elapsed time; every token is refused as
/// `UnknownKey`, none waits beyond the slow fetch, and the real key keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_of_10000_unknown_kids_has_bounded_fetches() {
    let server = FaultServer::start().await;
    let source = jwks_builder(&server.url("/jwks")).build().unwrap();
    source.prefetch().await.unwrap();
    server.set_delay(Duration::from_millis(200));
    let v = jwks_verifier(source.clone());
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for wave in 0..10 {
        let tokens = (0..1000)
            .map(|i| unknown_kid_token(&format!("junk-{wave}-{i}")))
            .collect();
        let (results, wave_slowest) = concurrently(&v, tokens).await;
        for result in results {
            assert!(
                matches!(result, Err(Error::UnknownKey { .. })),
                "{result:?}"
            );
        }
        slowest = slowest.max(wave_slowest);
    }
    let elapsed = started.elapsed();
    let refetches = server.jwks_hits() - 1;
    let bound = unknown_kid_refetch_bound(elapsed);
    assert!(
        (1..=bound).contains(&refetches),
        "{refetches} refetches for 10,000 unknown kids in {elapsed:?} (bound {bound})"
    );
    if elapsed < MIN_UNKNOWN_KID_COOLDOWN {
        assert_eq!(refetches, 1);
    }
    assert!(
        slowest <= Duration::from_millis(200) + SLACK,
        "slowest {slowest:?}"
    );
    assert_eq!(source.stats().unknown_kid_rejections, 10_000);
    assert!(
        timed(&v, &token()).await.0.is_ok(),
        "the real key still works"
    );
}

/// The same flood while the key server fails and nothing is cached: every token fails closed,
/// and fetches are bounded by the retry backoff (1 s doubling by default), not by the requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_while_failing_is_bounded_by_the_backoff() {
    let server = FaultServer::with_jwks_fault(Fault::Status(500)).await;
    let source = JwksSource::builder(server.url("/jwks"))
        .timeout(TIMEOUT)
        .build()
        .unwrap();
    let v = jwks_verifier(source);
    let started = Instant::now();
    for wave in 0..10 {
        let tokens = (0..1000)
            .map(|i| unknown_kid_token(&format!("junk-{wave}-{i}")))
            .collect();
        let (results, slowest) = concurrently(&v, tokens).await;
        for result in results {
            assert!(
                matches!(result, Err(Error::KeySourceUnavailable(_))),
                "{result:?}"
            );
        }
        assert!(slowest <= TIMEOUT + SLACK, "{slowest:?}");
    }
    let elapsed = started.elapsed();
    let bound = schedule_count(elapsed, Duration::from_secs(1), Duration::from_secs(60));
    let hits = server.jwks_hits();
    assert!(
        (1..=bound).contains(&hits),
        "{hits} fetches in {elapsed:?} (bound {bound})"
    );

    // Discovery failing under the same flood: one discovery per backoff step.
    server.set_discovery(Fault::Status(503));
    let oidc = verifier_for(&server.base, oidc_builder(&server).lazy().unwrap());
    let started = Instant::now();
    let tokens = (0..2000).map(|_| token_for(&server.base)).collect();
    let (results, _) = concurrently(&oidc, tokens).await;
    for result in results {
        assert!(
            matches!(result, Err(Error::KeySourceUnavailable(_))),
            "{result:?}"
        );
    }
    let bound = schedule_count(
        started.elapsed(),
        Duration::from_secs(1),
        Duration::from_secs(60),
    );
    let hits = server.discovery_hits();
    assert!(
        (1..=bound).contains(&hits),
        "{hits} discoveries (bound {bound})"
    );
}

/// Keys are cached and fresh; the issuer rotates in a new key while its key server fails (500,
/// or hanging). A token with the new `kid` cannot be judged: the refetch that would say whether
/// the key exists failed. The answer must be "keys unavailable" (503, retry later), not "the
/// signing key is not recognized" (401, which tells the client its token is bad), both on the
/// request that attempted the refetch and on later ones during the backoff.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_kid_while_the_key_server_fails_is_unavailable_not_unknown() {
    for fault in [Fault::Status(500), Fault::Hang] {
        let server = FaultServer::start().await;
        let source = jwks_builder(&server.url("/jwks")).build().unwrap();
        source.prefetch().await.unwrap();
        let v = jwks_verifier(source);
        server.set_jwks(fault.clone());
        let rotated = unknown_kid_token("rotated-in-during-the-outage");
        for attempt in ["refetching", "backing off"] {
            let outcome = timed(&v, &rotated).await;
            assert_fails_closed(&outcome, &format!("{fault:?}, {attempt}"));
        }
        assert!(
            timed(&v, &token()).await.0.is_ok(),
            "known keys keep working"
        );
    }
}

/// `Verifier::start` (what `AuthLayer` calls first on every request) says the verification is
/// pending when the key source must fetch, without polling anything; a pending verification
/// dropped unpolled (as `done()` does) has started no fetch. Before issue 13 the fast path polled
/// the whole verification once with a no-op waker and dropped it: that attempt had already
/// entered `fetch_once`, so one real fetch was reported twice (`JwksStats::fetches` and the
/// `JwksMetrics::fetch` hook counted 2 while the key server saw 1 request).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_verify_now_attempt_is_not_counted_as_a_fetch() {
    let server = FaultServer::start().await;
    let source = jwks_builder(&server.url("/jwks")).build().unwrap();
    let v = jwks_verifier(source.clone());
    let token = token();
    assert!(
        v.start(&token).done().is_none(),
        "keys must be fetched first"
    );
    assert!(timed(&v, &token).await.0.is_ok());
    assert_eq!(server.jwks_hits(), 1);
    assert_eq!(
        source.stats().fetches,
        server.jwks_hits() as u64,
        "fetches counted vs requests the key server received"
    );
}
