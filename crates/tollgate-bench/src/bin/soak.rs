//! Soak test: Tollgate's `AuthLayer` under sustained mixed traffic while its key server rotates
//! keys and has outages. Run with `scripts/soak [seconds]` (not part of `scripts/test`).
//!
//! ```text
//! soak [SECONDS] [--clients N] [--rotate SECS] [--outage SECS]
//! ```
//!
//! In one process, on loopback:
//! - a JWKS server. Key generation `k` (ES256, EdDSA, RS256 in turn) is published at `k * R`
//!   (`R` = `--rotate`, default 25 s), signs the valid tokens from `k * R + 8 s` (published
//!   ahead, as Entra/Auth0/Google do), and is removed at `(k + 1) * R + 12 s`. Every other cycle,
//!   in the quiet part of the cycle (after the retirement plus `max-age`, before the next
//!   publication), the server fails for `--outage` seconds (default 5): 500s, or hanging until
//!   the window ends, alternately. `Cache-Control: max-age=5`.
//! - the protected app: `AuthLayer` over a `Verifier` with a `JwksSource` (1 s timeout, 250 ms
//!   to 2 s backoff, background refresh, the default token cache and stale window).
//! - `--clients` concurrent clients sending, at random: valid tokens (a reused pool per
//!   generation, plus fresh ones), expired ones, forged ones (tampered signature, an attacker's
//!   key under the real `kid`, `alg: none`), self-signed ones with random unknown `kid`s, and
//!   tokens of generations already removed from the key set.
//!
//! Wrong answers (any one makes the exit status 1):
//! - a valid token answered other than 200, once its key had been served by the key server (a
//!   503 is correct inside an outage window, plus the fetch timeout and 1 s of slack);
//! - an expired, forged or unknown-kid token answered 200 (ever);
//! - a rotated-out token answered 200 more than 1 s after the key server first served a set
//!   without its key (before that, the verifier cannot know; counted as "grace");
//! - any status other than 200/401/503, or a transport error.
//!
//! RSS (`VmRSS` of this process: server, app and clients) is sampled after warm-up, at the
//! middle and at the end. `SOAK_VERBOSE=1` also lists every key set the server handed out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use tollgate::testing::SigningKey;
use tollgate::{AuthLayer, Authenticated};
use tollgate_core::remote::JwksSource;
use tollgate_core::{Algorithm, CryptoProvider, Validation, Verifier};

const ISSUER: &str = "https://issuer.soak.tollgate.invalid";
const AUDIENCE: &str = "tollgate-soak";
/// `max-age` of the key set.
const MAX_AGE: u64 = 5;
/// How long before a generation signs tokens it is published.
const LEAD: f64 = 8.0;
/// How long after it stops signing a generation stays published.
const KEEP: f64 = 4.0;
/// The verifier's fetch timeout.
const FETCH_TIMEOUT: Duration = Duration::from_secs(1);
/// Valid tokens per generation, reused by the clients (cache hits after their second use).
const POOL: usize = 64;

// ---------------------------------------------------------------------------------------------
// Arguments and schedule
// ---------------------------------------------------------------------------------------------

struct Args {
    seconds: u64,
    clients: usize,
    rotate: f64,
    outage: f64,
}

fn args() -> Args {
    let mut out = Args {
        seconds: 180,
        clients: 32,
        rotate: 25.0,
        outage: 5.0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| panic!("{name} needs a value"))
                .parse::<f64>()
                .unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        match arg.as_str() {
            "--clients" => out.clients = value("--clients") as usize,
            "--rotate" => out.rotate = value("--rotate"),
            "--outage" => out.outage = value("--outage"),
            "-h" | "--help" => {
                println!("usage: soak [SECONDS] [--clients N] [--rotate SECS] [--outage SECS]");
                std::process::exit(0);
            }
            seconds => out.seconds = seconds.parse().expect("SECONDS must be a whole number"),
        }
    }
    let min_rotate = LEAD + KEEP + MAX_AGE as f64 + out.outage + 2.5;
    assert!(
        out.rotate >= min_rotate,
        "--rotate must be at least {min_rotate} s with --outage {} (lead {LEAD} s, keep {KEEP} s, \
         max-age {MAX_AGE} s)",
        out.outage
    );
    out
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum OutageKind {
    Error500,
    Hang,
}

#[derive(Clone, Copy, Debug)]
struct Outage {
    start: f64,
    end: f64,
    kind: OutageKind,
}

/// When each generation is published, signs and is removed; when the key server fails.
struct Schedule {
    rotate: f64,
    outage: f64,
}

impl Schedule {
    /// When generation `k` starts signing valid tokens (generation 0 at once).
    fn active_from(&self, k: usize) -> f64 {
        if k == 0 {
            0.0
        } else {
            k as f64 * self.rotate + LEAD
        }
    }

    fn retire(&self, k: usize) -> f64 {
        (k + 1) as f64 * self.rotate + LEAD + KEEP
    }

    /// The generation signing valid tokens at `t`.
    fn active(&self, t: f64) -> usize {
        let mut k = (t / self.rotate).floor() as usize;
        if k > 0 && t < self.active_from(k) {
            k -= 1;
        }
        k
    }

    /// Published generations at `t` (generation `k` from `k * rotate` until its retirement): a
    /// contiguous range.
    fn published(&self, t: f64, generations: usize) -> (usize, usize) {
        let hi = ((t / self.rotate).floor() as usize).min(generations - 1);
        let mut lo = hi;
        while lo > 0 && t < self.retire(lo - 1) {
            lo -= 1;
        }
        (lo, hi)
    }

    /// The outage of cycle `k` (odd cycles only), in the quiet part of the cycle.
    fn outage_of(&self, k: usize) -> Option<Outage> {
        if k.is_multiple_of(2) {
            return None;
        }
        // After the retirement, once the verifier could have refetched (max-age), so both
        // "retirement learned, then outage" and "outage with stale keys" occur.
        let start = k as f64 * self.rotate + LEAD + KEEP + MAX_AGE as f64 + 1.5;
        let kind = if (k / 2).is_multiple_of(2) {
            OutageKind::Error500
        } else {
            OutageKind::Hang
        };
        Some(Outage {
            start,
            end: start + self.outage,
            kind,
        })
    }

    fn outage_at(&self, t: f64) -> Option<Outage> {
        let k = (t / self.rotate).floor() as usize;
        self.outage_of(k).filter(|o| o.start <= t && t < o.end)
    }

    /// Whether a 503 is a correct answer to a request started at `t`.
    fn unavailable_allowed(&self, t: f64) -> bool {
        let k = (t / self.rotate).floor() as usize;
        let slack = FETCH_TIMEOUT.as_secs_f64() + 1.0;
        [k.checked_sub(1), Some(k)]
            .into_iter()
            .flatten()
            .filter_map(|c| self.outage_of(c))
            .any(|o| o.start <= t && t < o.end + slack)
    }
}

// ---------------------------------------------------------------------------------------------
// Keys and tokens
// ---------------------------------------------------------------------------------------------

fn algorithm_of(k: usize) -> Algorithm {
    [Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256][k % 3]
}

struct Generation {
    key: SigningKey,
    jwk: Value,
    valid: Vec<String>,
    expired: Vec<String>,
    forged: Vec<String>,
}

fn claims(sub: &str, exp: i64) -> Map<String, Value> {
    let now = unix_now();
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(ISSUER));
    claims.insert("aud".into(), json!(AUDIENCE));
    claims.insert("sub".into(), json!(sub));
    claims.insert("iat".into(), json!(now.min(exp)));
    claims.insert("exp".into(), json!(exp));
    claims
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Signs `header`/`claims` with the attacker's P-256 key.
fn attacker_token(attacker: &EcdsaKeyPair, header: &Value, claims: &Map<String, Value>) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string())
    );
    let sig = attacker
        .sign(&SystemRandom::new(), input.as_bytes())
        .expect("sign");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

fn tamper(token: &str) -> String {
    let (rest, sig) = token.rsplit_once('.').expect("a JWS");
    let mut bytes = URL_SAFE_NO_PAD.decode(sig).expect("base64url");
    bytes[0] ^= 1;
    format!("{rest}.{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn generation(k: usize, attacker: &EcdsaKeyPair, valid_until: i64) -> Generation {
    let key = SigningKey::generate(algorithm_of(k))
        .expect("key")
        .with_kid(format!("gen-{k}"));
    let jwk = key.public_jwk().expect("public key");
    let valid: Vec<String> = (0..POOL)
        .map(|i| {
            key.sign(&claims(&format!("user-{i}"), valid_until), "JWT")
                .unwrap()
        })
        .collect();
    let expired = (0..16)
        .map(|i| {
            key.sign(&claims(&format!("user-{i}"), unix_now() - 3600), "JWT")
                .unwrap()
        })
        .collect();
    let mut forged: Vec<String> = valid.iter().take(8).map(|t| tamper(t)).collect();
    for i in 0..8 {
        let header = json!({"alg": "ES256", "kid": key.kid(), "typ": "JWT"});
        forged.push(attacker_token(
            attacker,
            &header,
            &claims(&format!("admin-{i}"), valid_until),
        ));
    }
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": key.kid()}).to_string()),
        URL_SAFE_NO_PAD.encode(Value::Object(claims("admin", valid_until)).to_string())
    );
    forged.push(none);
    Generation {
        key,
        jwk,
        valid,
        expired,
        forged,
    }
}

// ---------------------------------------------------------------------------------------------
// The key server
// ---------------------------------------------------------------------------------------------

struct KeyServer {
    start: Instant,
    schedule: Schedule,
    generations: Arc<Vec<Generation>>,
    /// Successful answers: when, and the range of generations they published.
    served: Mutex<Vec<(f64, usize, usize)>>,
    ok: AtomicU64,
    failed: AtomicU64,
    hung: AtomicU64,
}

impl KeyServer {
    fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// When generation `k`'s key was first served.
    fn first_served(&self, k: usize) -> Option<f64> {
        let served = self.served.lock().unwrap();
        served
            .iter()
            .find(|(_, lo, hi)| (*lo..=*hi).contains(&k))
            .map(|(t, _, _)| *t)
    }

    /// When a set without generation `k` was first served after its retirement.
    fn first_served_without(&self, k: usize) -> Option<f64> {
        let retire = self.schedule.retire(k);
        let served = self.served.lock().unwrap();
        served
            .iter()
            .find(|(t, lo, hi)| *t >= retire && !(*lo..=*hi).contains(&k))
            .map(|(t, _, _)| *t)
    }
}

async fn jwks(State(server): State<Arc<KeyServer>>) -> Response {
    let t = server.now();
    if let Some(outage) = server.schedule.outage_at(t) {
        if outage.kind == OutageKind::Hang {
            server.hung.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs_f64((outage.end - t).max(0.0))).await;
        }
        server.failed.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::INTERNAL_SERVER_ERROR, "outage").into_response();
    }
    let (lo, hi) = server.schedule.published(t, server.generations.len());
    let keys: Vec<Value> = server.generations[lo..=hi]
        .iter()
        .map(|g| g.jwk.clone())
        .collect();
    server.served.lock().unwrap().push((t, lo, hi));
    server.ok.fetch_add(1, Ordering::Relaxed);
    (
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::CACHE_CONTROL, format!("max-age={MAX_AGE}")),
        ],
        json!({ "keys": keys }).to_string(),
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// Tallies
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Valid,
    Expired,
    Forged,
    UnknownKid,
    RotatedOut,
}

const CLASSES: [Class; 5] = [
    Class::Valid,
    Class::Expired,
    Class::Forged,
    Class::UnknownKid,
    Class::RotatedOut,
];

impl Class {
    fn name(self) -> &'static str {
        match self {
            Class::Valid => "valid",
            Class::Expired => "expired",
            Class::Forged => "forged",
            Class::UnknownKid => "unknown-kid",
            Class::RotatedOut => "rotated-out",
        }
    }
}

/// Log2 buckets of microseconds.
const BUCKETS: usize = 32;

#[derive(Default)]
struct ClassTally {
    total: AtomicU64,
    ok: AtomicU64,
    unauthorized: AtomicU64,
    unavailable: AtomicU64,
    other: AtomicU64,
    max_us: AtomicU64,
    latency: [AtomicU64; BUCKETS],
}

impl ClassTally {
    fn record(&self, status: Option<u16>, latency: Duration) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let counter = match status {
            Some(200) => &self.ok,
            Some(401) => &self.unauthorized,
            Some(503) => &self.unavailable,
            _ => &self.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let us = latency.as_micros().min(u64::MAX as u128) as u64;
        self.max_us.fetch_max(us, Ordering::Relaxed);
        let bucket = (64 - us.max(1).leading_zeros() as usize).min(BUCKETS - 1);
        self.latency[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// An upper bound of the `q` quantile, in microseconds.
    fn quantile_us(&self, q: f64) -> u64 {
        let total: u64 = self.latency.iter().map(|b| b.load(Ordering::Relaxed)).sum();
        if total == 0 {
            return 0;
        }
        let target = (total as f64 * q).ceil() as u64;
        let mut seen = 0;
        for (i, bucket) in self.latency.iter().enumerate() {
            seen += bucket.load(Ordering::Relaxed);
            if seen >= target {
                return 1u64 << i;
            }
        }
        1u64 << (BUCKETS - 1)
    }
}

#[derive(Default)]
struct Tally {
    classes: [ClassTally; 5],
    valid_refused: AtomicU64,
    invalid_accepted: AtomicU64,
    unexpected_status: AtomicU64,
    transport_errors: AtomicU64,
    grace_rotated_accepted: AtomicU64,
    grace_valid_refused: AtomicU64,
    outage_unavailable: AtomicU64,
    first_wrong: Mutex<Vec<String>>,
}

impl Tally {
    fn wrong(&self, counter: &AtomicU64, what: String) {
        counter.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_wrong.lock().unwrap();
        if first.len() < 10 {
            first.push(what);
        }
    }

    fn total_wrong(&self) -> u64 {
        self.valid_refused.load(Ordering::Relaxed)
            + self.invalid_accepted.load(Ordering::Relaxed)
            + self.unexpected_status.load(Ordering::Relaxed)
            + self.transport_errors.load(Ordering::Relaxed)
    }
}

// ---------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------

/// xorshift64*: enough randomness for picking requests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

struct World {
    server: Arc<KeyServer>,
    tally: Tally,
    attacker: EcdsaKeyPair,
    valid_until: i64,
    url: String,
}

impl World {
    /// Picks a request: its class, token and (for valid and rotated-out ones) generation.
    fn pick(&self, rng: &mut Rng, t: f64) -> (Class, String, usize) {
        let schedule = &self.server.schedule;
        let generations = &self.server.generations;
        let active = schedule.active(t).min(generations.len() - 1);
        let roll = rng.below(100);
        let retired: Vec<usize> = (0..active).filter(|&k| schedule.retire(k) <= t).collect();
        let class = match roll {
            0..70 => Class::Valid,
            70..78 => Class::Expired,
            78..86 => Class::Forged,
            86..93 => Class::UnknownKid,
            _ if !retired.is_empty() => Class::RotatedOut,
            _ => Class::Valid,
        };
        let g = &generations[active];
        match class {
            Class::Valid => {
                // Mostly the reused pool; sometimes a fresh token (cheap algorithms only).
                if rng.below(100) < 5 && g.key.algorithm() != Algorithm::RS256 {
                    let sub = format!("fresh-{}", rng.next());
                    let token = g.key.sign(&claims(&sub, self.valid_until), "JWT").unwrap();
                    (class, token, active)
                } else {
                    (class, g.valid[rng.below(g.valid.len())].clone(), active)
                }
            }
            Class::Expired => (class, g.expired[rng.below(g.expired.len())].clone(), active),
            Class::Forged => (class, g.forged[rng.below(g.forged.len())].clone(), active),
            Class::UnknownKid => {
                let header = json!({"alg": "ES256", "kid": format!("junk-{:016x}", rng.next())});
                let token = attacker_token(&self.attacker, &header, &claims("x", self.valid_until));
                (class, token, active)
            }
            Class::RotatedOut => {
                let k = retired[rng.below(retired.len())];
                let pool = &generations[k].valid;
                (class, pool[rng.below(pool.len())].clone(), k)
            }
        }
    }

    fn judge(&self, class: Class, generation: usize, t0: f64, status: Option<u16>) {
        let tally = &self.tally;
        let server = &self.server;
        let what = |why: &str| {
            format!(
                "t={t0:.2}s {} gen {generation}: {why} (status {status:?})",
                class.name()
            )
        };
        let Some(status) = status else {
            tally.wrong(&tally.transport_errors, what("transport error"));
            return;
        };
        if !matches!(status, 200 | 401 | 503) {
            tally.wrong(&tally.unexpected_status, what("unexpected status"));
            return;
        }
        match class {
            Class::Valid => {
                if status == 200 {
                    return;
                }
                let learnable = server
                    .first_served(generation)
                    .is_some_and(|served| t0 > served + 1.0);
                if status == 503 && server.schedule.unavailable_allowed(t0) {
                    tally.outage_unavailable.fetch_add(1, Ordering::Relaxed);
                } else if !learnable {
                    tally.grace_valid_refused.fetch_add(1, Ordering::Relaxed);
                } else {
                    tally.wrong(&tally.valid_refused, what("valid token refused"));
                }
            }
            Class::RotatedOut => {
                if status != 200 {
                    return;
                }
                let known = server
                    .first_served_without(generation)
                    .is_some_and(|served| t0 > served + 1.0);
                if known {
                    tally.wrong(
                        &tally.invalid_accepted,
                        what("rotated-out key accepted after the refetch"),
                    );
                } else {
                    tally.grace_rotated_accepted.fetch_add(1, Ordering::Relaxed);
                }
            }
            Class::Expired | Class::Forged | Class::UnknownKid => {
                if status == 200 {
                    tally.wrong(&tally.invalid_accepted, what("invalid token accepted"));
                }
            }
        }
    }
}

async fn client(world: Arc<World>, http: reqwest::Client, seed: u64, deadline: Instant) {
    let mut rng = Rng(seed | 1);
    while Instant::now() < deadline {
        let t0 = world.server.now();
        let (class, token, generation) = world.pick(&mut rng, t0);
        let started = Instant::now();
        let status = match http.get(&world.url).bearer_auth(&token).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                // Read the body so the connection is reused.
                match response.bytes().await {
                    Ok(_) => Some(status),
                    Err(_) => None,
                }
            }
            Err(_) => None,
        };
        let latency = started.elapsed();
        let index = CLASSES.iter().position(|c| *c == class).unwrap_or(0);
        world.tally.classes[index].record(status, latency);
        world.judge(class, generation, t0, status);
    }
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() {
    let args = args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let code = runtime.block_on(run(args));
    std::process::exit(code);
}

async fn run(args: Args) -> i32 {
    let schedule = Schedule {
        rotate: args.rotate,
        outage: args.outage,
    };
    let generations_needed = (args.seconds as f64 / args.rotate).ceil() as usize + 2;
    let attacker = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("key");
    let valid_until = unix_now() + args.seconds as i64 + 3600;
    eprintln!("soak: minting {generations_needed} key generations...");
    let generations: Vec<Generation> = (0..generations_needed)
        .map(|k| generation(k, &attacker, valid_until))
        .collect();

    // The key server.
    let key_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let jwks_url = format!("http://{}/jwks", key_listener.local_addr().expect("addr"));
    let server = Arc::new(KeyServer {
        start: Instant::now(),
        schedule,
        generations: Arc::new(generations),
        served: Mutex::new(Vec::new()),
        ok: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        hung: AtomicU64::new(0),
    });
    let key_app = Router::new()
        .route("/jwks", get(jwks))
        .with_state(server.clone());
    tokio::spawn(async move {
        axum::serve(key_listener, key_app)
            .await
            .expect("key server")
    });

    // The protected app.
    let source = JwksSource::builder(jwks_url)
        .ttl_bounds(Duration::from_secs(1), Duration::from_secs(3600))
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(Duration::from_millis(500))
        .retry_backoff(Duration::from_millis(250), Duration::from_secs(2))
        .build()
        .expect("source");
    let _refresh = source.spawn_background_refresh().expect("refresh task");
    let policy = Validation::builder([Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256])
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .expect("policy");
    let verifier = Verifier::new(policy, source.clone(), CryptoProvider::default());
    let app = Router::new()
        .route(
            "/me",
            get(|auth: Authenticated| async move { auth.subject().unwrap_or("").to_owned() }),
        )
        .layer(AuthLayer::new(verifier.clone()));
    let app_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/me", app_listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(app_listener, app).await.expect("app") });

    let world = Arc::new(World {
        server: server.clone(),
        tally: Tally::default(),
        attacker,
        valid_until,
        url,
    });
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(args.clients)
        .build()
        .expect("client");

    let total = Duration::from_secs(args.seconds);
    let deadline = Instant::now() + total;
    eprintln!(
        "soak: {} s, {} clients, rotation every {} s, outages of {} s every other cycle",
        args.seconds, args.clients, args.rotate, args.outage
    );
    let clients: Vec<_> = (0..args.clients)
        .map(|i| {
            let seed = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(i as u64 + 1);
            tokio::spawn(client(world.clone(), http.clone(), seed, deadline))
        })
        .collect();

    // RSS: after warm-up, in the middle, at the end (and the maximum of 1 s samples).
    let sampler = {
        let started = Instant::now();
        tokio::spawn(async move {
            let mut samples = (0u64, 0u64, 0u64);
            let mut max = 0;
            let mut progress = Instant::now();
            while Instant::now() < deadline {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let rss = vm_rss_kib();
                max = max.max(rss);
                let elapsed = started.elapsed();
                if samples.0 == 0 && elapsed >= Duration::from_secs(2) {
                    samples.0 = rss;
                }
                if samples.1 == 0 && elapsed >= total / 2 {
                    samples.1 = rss;
                }
                if progress.elapsed() >= Duration::from_secs(30) {
                    progress = Instant::now();
                    eprintln!(
                        "soak: {:.0} s, RSS {:.1} MiB",
                        elapsed.as_secs_f64(),
                        mib(rss)
                    );
                }
            }
            samples.2 = vm_rss_kib();
            (samples, max.max(samples.2))
        })
    };
    for task in clients {
        let _ = task.await;
    }
    let ((rss_start, rss_middle, rss_end), rss_max) = sampler.await.expect("sampler");

    // Summary.
    let tally = &world.tally;
    let elapsed = total.as_secs_f64();
    let requests: u64 = tally
        .classes
        .iter()
        .map(|c| c.total.load(Ordering::Relaxed))
        .sum();
    let outages: Vec<String> = (0..generations_needed)
        .filter_map(|k| server.schedule.outage_of(k))
        .filter(|o| o.start < elapsed)
        .map(|o| format!("{:?} {:.1}-{:.1} s", o.kind, o.start, o.end.min(elapsed)))
        .collect();
    let rotations = (1..generations_needed)
        .filter(|&k| server.schedule.active_from(k) < elapsed)
        .count();
    println!(
        "tollgate soak: {} s, {} clients",
        args.seconds, args.clients
    );
    println!(
        "schedule: rotation every {} s ({rotations} rotations; algorithms ES256/EdDSA/RS256 in turn), outages: {}",
        args.rotate,
        if outages.is_empty() {
            "none".to_owned()
        } else {
            outages.join(", ")
        }
    );
    println!("requests: {requests} ({:.0}/s)", requests as f64 / elapsed);
    println!(
        "{:<12} {:>9} {:>9} {:>9} {:>7} {:>6} {:>9} {:>9} {:>10}",
        "class", "total", "200", "401", "503", "other", "p50", "p99", "max"
    );
    for (class, c) in CLASSES.iter().zip(&tally.classes) {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        println!(
            "{:<12} {:>9} {:>9} {:>9} {:>7} {:>6} {:>7}us {:>7}us {:>8.1}ms",
            class.name(),
            load(&c.total),
            load(&c.ok),
            load(&c.unauthorized),
            load(&c.unavailable),
            load(&c.other),
            c.quantile_us(0.5),
            c.quantile_us(0.99),
            load(&c.max_us) as f64 / 1000.0
        );
    }
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let wrong = tally.total_wrong();
    println!(
        "wrong answers: {wrong} (valid refused: {}, invalid accepted: {}, unexpected status: {}, transport errors: {})",
        load(&tally.valid_refused),
        load(&tally.invalid_accepted),
        load(&tally.unexpected_status),
        load(&tally.transport_errors)
    );
    println!(
        "expected non-200 for valid tokens: 503 inside outages {}, before the key was served {}; rotated-out accepted before the refetch (grace): {}",
        load(&tally.outage_unavailable),
        load(&tally.grace_valid_refused),
        load(&tally.grace_rotated_accepted)
    );
    println!(
        "key server: {} answers served, {} failed ({} of them hung until the window ended)",
        load(&server.ok),
        load(&server.failed),
        load(&server.hung)
    );
    let stats = source.stats();
    println!(
        "jwks source: fetches {}, failures {}, cache hits {}, unknown-kid rejections {}",
        stats.fetches, stats.fetch_failures, stats.cache_hits, stats.unknown_kid_rejections
    );
    if let Some(cache) = verifier.token_cache_stats() {
        println!(
            "token cache: hits {}, misses {}, entries {}",
            cache.hits, cache.misses, cache.entries
        );
    }
    println!(
        "RSS: start {:.1} MiB, middle {:.1} MiB, end {:.1} MiB, growth {:+.1} MiB (max {:.1} MiB)",
        mib(rss_start),
        mib(rss_middle),
        mib(rss_end),
        mib(rss_end) - mib(rss_start),
        mib(rss_max)
    );
    if std::env::var_os("SOAK_VERBOSE").is_some() {
        for (t, lo, hi) in server.served.lock().unwrap().iter() {
            println!("served at {t:.2}: gens {lo}..={hi}");
        }
    }
    for line in tally.first_wrong.lock().unwrap().iter() {
        println!("wrong: {line}");
    }
    if wrong > 0 {
        println!("FAIL: {wrong} wrong answers");
        1
    } else {
        println!("OK: no wrong answers");
        0
    }
}
