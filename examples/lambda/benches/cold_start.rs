//! Cold-start cost of the `lambda_router` app: time and heap allocations from process start
//! to the first verified response, with keys fetched lazily over loopback and with a preloaded
//! JWK Set (`TOLLGATE_JWKS`), with revocation on (`TOLLGATE_REVOCATION_REDIS_URL`, a local
//! `redis-server`: the first request waits for the mirror's first full read), plus a baseline
//! whose first request needs no token.
//!
//! Run: `cargo bench -p example-lambda --bench cold_start` (20 samples per variant; pass a
//! number after `--` to change it). Under `cargo test --benches` it runs one sample per variant.
//!
//! Every sample is a fresh process (this binary, re-run as a child): a cold start. The child
//! does what a Lambda container does on its first invocation, minus the Runtime API's HTTP
//! polling: it builds the app (`example_lambda::app`, `src/lib.rs`, configuration from the
//! environment) on a multi-threaded Tokio runtime, deserializes an API Gateway HTTP API event
//! carrying an RS256 token and runs it through `lambda_http`'s adapter, the layer and the
//! handler, and serializes the response. It reports the time from the start of `main` to the
//! serialized 200 response and the Rust heap allocations since process start (a counting global
//! allocator; AWS-LC's C code allocates with `malloc` directly and is not counted). The parent
//! also times the whole child process, from spawn to exit. The parent serves the JWK Set on
//! 127.0.0.1 (`tollgate::testing::DevIssuer`): a lazy fetch costs at least this much, and on
//! Lambda more (TLS and a network round trip to the identity provider).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::alloc::System;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lambda_http::lambda_runtime::{Context, LambdaEvent, Service as _};
use lambda_http::request::LambdaRequest;
use serde_json::Value;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use tollgate::testing::DevIssuer;
use tollgate_core::Algorithm;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const VARIANT: &str = "TOLLGATE_COLD_START_VARIANT";
const TOKEN: &str = "TOLLGATE_COLD_START_TOKEN";
const EVENT: &str = include_str!("../tests/fixtures/apigw-http-v2.json");

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    /// `/me` with a token; keys fetched on this first request (`TOLLGATE_JWKS` unset).
    Lazy,
    /// `/me` with a token; keys preloaded from `TOLLGATE_JWKS` at start-up.
    Preloaded,
    /// As `Preloaded`, with revocation on: the first request waits for the mirror's first
    /// synchronisation with a local `redis-server`.
    Revocation,
    /// `/health`, no token: what the first response costs without any verification.
    Baseline,
}

impl Variant {
    const ALL: [Variant; 4] = [
        Variant::Lazy,
        Variant::Preloaded,
        Variant::Revocation,
        Variant::Baseline,
    ];

    fn name(self) -> &'static str {
        match self {
            Variant::Lazy => "lazy",
            Variant::Preloaded => "preloaded",
            Variant::Revocation => "revocation",
            Variant::Baseline => "baseline",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Variant::Lazy => "lazy JWKS fetch (loopback)",
            Variant::Preloaded => "preloaded JWKS (`TOLLGATE_JWKS`)",
            Variant::Revocation => {
                "preloaded JWKS + revocation (`TOLLGATE_REVOCATION_REDIS_URL`, local redis-server)"
            }
            Variant::Baseline => "baseline: first request without a token (`/health`)",
        }
    }
}

/// One child's report. Allocation counts are since process start; `request_*` is the part of
/// them the first request made (after init).
struct Sample {
    to_response: Duration,
    init: Duration,
    process: Duration,
    allocations: u64,
    bytes: u64,
    request_allocations: u64,
    request_bytes: u64,
}

fn main() {
    if let Ok(variant) = std::env::var(VARIANT) {
        child(&variant);
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let benching = args.iter().any(|a| a == "--bench");
    let samples = args
        .iter()
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(if benching { 20 } else { 1 });
    parent(samples);
}

/// The measured process: start to first response, as on a container's first invocation.
fn child(variant: &str) {
    let start = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (init, at_init, response) = runtime.block_on(async {
        // Init: the app, built once per container.
        let app = example_lambda::app().unwrap();
        let init = start.elapsed();
        let at_init = GLOBAL.stats();
        // First invocation: the event as the Runtime API hands it over, then the adapter that
        // `lambda_http::run` wraps around the app.
        let event = match variant {
            "baseline" => EVENT.replace("\"/me\"", "\"/health\""),
            _ => {
                let token = std::env::var(TOKEN).unwrap();
                EVENT.replace(
                    "\"accept\": \"*/*\"",
                    &format!("\"accept\": \"*/*\", \"authorization\": \"Bearer {token}\""),
                )
            }
        };
        let payload: LambdaRequest = serde_json::from_str(&event).unwrap();
        let mut adapter = lambda_http::Adapter::from(app);
        let response = adapter
            .call(LambdaEvent::new(payload, Context::default()))
            .await
            .unwrap();
        (init, at_init, serde_json::to_string(&response).unwrap())
    });
    let elapsed = start.elapsed();
    let stats = GLOBAL.stats();
    let status = serde_json::from_str::<Value>(&response).unwrap()["statusCode"].clone();
    assert_eq!(status, 200, "{variant}: {response}");
    // Allocations: `alloc` and `alloc_zeroed` calls plus `realloc` calls; bytes: requested by
    // those (a growing `realloc` counts its growth).
    let allocations = |s: &stats_alloc::Stats| s.allocations + s.reallocations;
    println!(
        "{} {} {} {} {} {}",
        elapsed.as_nanos(),
        init.as_nanos(),
        allocations(&stats),
        stats.bytes_allocated,
        allocations(&stats) - allocations(&at_init),
        stats.bytes_allocated - at_init.bytes_allocated,
    );
}

fn run_child(variant: Variant, issuer: &DevIssuer, token: &str, jwks: &str, redis: &str) -> Sample {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .env(VARIANT, variant.name())
        .env("TOLLGATE_ISSUER", issuer.issuer())
        .env("TOLLGATE_AUDIENCE", issuer.audience())
        .env("TOLLGATE_JWKS_URL", issuer.jwks_url())
        .env("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true")
        .env(TOKEN, token)
        .env_remove("TOLLGATE_JWKS")
        .env_remove("TOLLGATE_REVOCATION_REDIS_URL")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    if matches!(variant, Variant::Preloaded | Variant::Revocation) {
        command.env("TOLLGATE_JWKS", jwks);
    }
    if variant == Variant::Revocation {
        command.env("TOLLGATE_REVOCATION_REDIS_URL", redis);
    }
    let spawned = Instant::now();
    let output = command.output().unwrap();
    let process = spawned.elapsed();
    assert!(output.status.success(), "{} child failed", variant.name());
    let line = String::from_utf8(output.stdout).unwrap();
    let fields: Vec<u64> = line
        .split_whitespace()
        .map(|f| f.parse().unwrap())
        .collect();
    Sample {
        to_response: Duration::from_nanos(fields[0]),
        init: Duration::from_nanos(fields[1]),
        process,
        allocations: fields[2],
        bytes: fields[3],
        request_allocations: fields[4],
        request_bytes: fields[5],
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile<T: Copy>(sorted: &[T], p: f64) -> T {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn kib(bytes: u64) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

fn parent(samples: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let issuer = runtime.block_on(DevIssuer::start()).unwrap();
    let token = issuer
        .token()
        .subject("cold-start")
        .algorithm(Algorithm::RS256)
        .sign()
        .unwrap();
    let jwks = issuer.jwks().to_string();
    let redis_server = tollgate_test_support::redis::RedisServer::start();
    let redis = redis_server.url();

    // One unmeasured run per variant: the binary and its libraries in the page cache.
    for variant in Variant::ALL {
        run_child(variant, &issuer, &token, &jwks, &redis);
    }
    let mut results: Vec<Vec<Sample>> = Variant::ALL.iter().map(|_| Vec::new()).collect();
    for _ in 0..samples {
        // Interleaved, so that drifting machine load spreads over every variant.
        for (i, variant) in Variant::ALL.into_iter().enumerate() {
            let fetches = issuer.jwks_requests();
            results[i].push(run_child(variant, &issuer, &token, &jwks, &redis));
            let fetched = issuer.jwks_requests() - fetches;
            let expected = u64::from(variant == Variant::Lazy);
            assert_eq!(fetched, expected, "{}: JWKS fetches", variant.name());
        }
    }

    println!("cold start to the first response, {samples} fresh processes per variant");
    println!();
    println!(
        "| variant | `main` to response: median (p90) | init | first request | whole process: median (p90) | allocations: total (first request) | bytes allocated: total (first request) |"
    );
    println!("|---|---|---|---|---|---|---|");
    fn median_of<T: Ord + Copy>(samples: &[Sample], f: impl Fn(&Sample) -> T) -> (T, T) {
        let mut values: Vec<T> = samples.iter().map(f).collect();
        values.sort();
        (percentile(&values, 50.0), percentile(&values, 90.0))
    }
    for (variant, samples) in Variant::ALL.into_iter().zip(&results) {
        let (to_response, to_response_p90) = median_of(samples, |s| s.to_response);
        let (init, _) = median_of(samples, |s| s.init);
        let (request, _) = median_of(samples, |s| s.to_response - s.init);
        let (process, process_p90) = median_of(samples, |s| s.process);
        let (allocations, _) = median_of(samples, |s| s.allocations);
        let (request_allocations, _) = median_of(samples, |s| s.request_allocations);
        let (bytes, _) = median_of(samples, |s| s.bytes);
        let (request_bytes, _) = median_of(samples, |s| s.request_bytes);
        println!(
            "| {} | {} ({}) | {} | {} | {} ({}) | {allocations} ({request_allocations}) | {} ({}) |",
            variant.label(),
            ms(to_response),
            ms(to_response_p90),
            ms(init),
            ms(request),
            ms(process),
            ms(process_p90),
            kib(bytes),
            kib(request_bytes),
        );
    }
}
