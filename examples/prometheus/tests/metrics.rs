//! The example in-process over real HTTP on 127.0.0.1: an accepted token (three times, so the
//! verified-token cache admits and then answers it), an expired one and a forged one through
//! the API, then a scrape of `/metrics` that must count each of them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use example_prometheus::{Config, api, install_recorder, metrics};
use tollgate::testing::DevIssuer;
use tollgate_test_support::client::get;
use tollgate_test_support::server::serve;
use tollgate_test_support::tamper_signature;

/// The value of one series (name and labels exactly as rendered) in a scrape.
fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        Some(value.trim().parse().unwrap())
    })
}

// One test in this binary: the recorder is process-wide, and the counts below are exact.
#[tokio::test]
async fn the_scrape_counts_verifications_cache_lookups_and_key_fetches() {
    let issuer = DevIssuer::start().await.unwrap();
    let handle = install_recorder().unwrap();
    let config = Config::from_lookup(|name| match name {
        "ISSUER" => Some(issuer.issuer().to_owned()),
        "AUDIENCE" => Some(issuer.audience().to_owned()),
        "JWKS_URL" => Some(issuer.jwks_url()),
        _ => None,
    })
    .unwrap();
    let api = serve(api(config.verifier().unwrap())).await;
    let scraped = serve(metrics(handle)).await;
    let me = format!("http://{api}/me");

    let good = issuer.token().sign().unwrap();
    for _ in 0..3 {
        let answer = get(&me, Some(&good)).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(answer.body, "hello, dev-user\n");
    }
    let expired = issuer.token().expired().sign().unwrap();
    assert_eq!(get(&me, Some(&expired)).await.status, 401);
    assert_eq!(get(&me, Some(&tamper_signature(&good))).await.status, 401);
    // No token, no verification: nothing counted.
    assert_eq!(get(&me, None).await.status, 401);

    let answer = get(&format!("http://{scraped}/metrics"), None).await;
    assert_eq!(answer.status, 200);
    let scrape = answer.body;
    let value = |series: &str| sample(&scrape, series);
    let verifications = |outcome: &str, reason: &str| {
        value(&format!(
            "tollgate_verifications_total{{outcome=\"{outcome}\",reason=\"{reason}\"}}"
        ))
    };
    assert_eq!(verifications("accepted", "none"), Some(3.0), "{scrape}");
    assert_eq!(verifications("refused", "expired"), Some(1.0), "{scrape}");
    assert_eq!(
        verifications("refused", "invalid_signature"),
        Some(1.0),
        "{scrape}"
    );
    // Seen once: a miss; seen twice: a miss that admits it; the third time, a hit. The expired
    // and the forged tokens are misses too.
    let lookups = |result: &str| {
        value(&format!(
            "tollgate_token_cache_lookups_total{{result=\"{result}\"}}"
        ))
    };
    assert_eq!(lookups("hit"), Some(1.0), "{scrape}");
    assert_eq!(lookups("miss"), Some(4.0), "{scrape}");
    // One fetch of the issuer's keys served every token.
    assert_eq!(
        value("tollgate_key_fetches_total{result=\"ok\"}"),
        Some(1.0),
        "{scrape}"
    );
    assert_eq!(issuer.jwks_requests(), 1);
    let refreshed = value(&format!(
        "tollgate_key_set_refreshed_at_seconds{{url=\"{}\"}}",
        issuer.jwks_url()
    ));
    assert!(refreshed.is_some_and(|at| at > 1.0e9), "{scrape}");
    // `describe()` reached the exporter.
    assert!(
        scrape.contains("# TYPE tollgate_verifications_total counter"),
        "{scrape}"
    );
    assert!(
        scrape.contains("# HELP tollgate_verifications_total Token verifications"),
        "{scrape}"
    );
}
