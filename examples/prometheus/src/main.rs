//! An API behind Tollgate, with its metrics for Prometheus on a second address.
//!
//! ```sh
//! ISSUER=https://idp.example.com AUDIENCE=my-api JWKS_URL=https://idp.example.com/jwks \
//!     cargo run -p example-prometheus
//! curl -H "Authorization: Bearer $TOKEN" localhost:3000/me
//! curl localhost:9000/metrics
//! ```
//!
//! `BIND` (default `127.0.0.1:3000`) and `METRICS_BIND` (default `127.0.0.1:9000`) move them.

use std::process::ExitCode;
use std::time::Duration;

use example_prometheus::{Config, api, install_recorder, metrics};

/// How often the exporter drains its histograms and summaries.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> ExitCode {
    let (config, verifier) = match Config::from_env().and_then(|c| Ok((c.verifier()?, c))) {
        Ok((verifier, config)) => (config, verifier),
        Err(e) => {
            eprintln!("example-prometheus: {e}");
            return ExitCode::from(2);
        }
    };
    let handle = match install_recorder() {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("example-prometheus: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Without an exporter task of its own the recorder drains histograms only when told to:
    // Tollgate records counters and a gauge, but the application's own histograms would grow.
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    let served = async {
        let api_listener = tokio::net::TcpListener::bind(config.bind).await?;
        let metrics_listener = tokio::net::TcpListener::bind(config.metrics_bind).await?;
        println!("API on http://{}", api_listener.local_addr()?);
        println!(
            "metrics on http://{}/metrics",
            metrics_listener.local_addr()?
        );
        tokio::try_join!(
            axum::serve(api_listener, api(verifier)).into_future(),
            axum::serve(metrics_listener, metrics(handle)).into_future(),
        )
        .map(|_| ())
    };
    match served.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("example-prometheus: {e}");
            ExitCode::FAILURE
        }
    }
}
