//! `grpc-server`: the health services behind an `AuthLayer` built from the shared `TOLLGATE_*`
//! configuration (e.g. `TOLLGATE_JWKS_URL`, `TOLLGATE_ISSUER`, `TOLLGATE_AUDIENCE`), on
//! `GRPC_ADDR` (default `127.0.0.1:50051`).
//!
//! ```text
//! grpcurl -plaintext -H "authorization: Bearer $TOKEN" 127.0.0.1:50051 grpc.health.v1.Health/Check
//! ```

use std::error::Error;

use tollgate::AuthLayer;
use tollgate::core::Verifier;
use tollgate::core::config::AuthConfig;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let config = AuthConfig::from_env("TOLLGATE_")?;
    let verifier: Verifier = config.build()?;
    let addr = std::env::var("GRPC_ADDR").unwrap_or_else(|_| "127.0.0.1:50051".to_owned());
    let (bound, server) = example_grpc::spawn(
        &addr,
        AuthLayer::new(verifier),
        example_grpc::claims_health_service(),
    )
    .await?;
    tracing::info!(%bound, "serving grpc.health.v1.Health");
    server.await??;
    Ok(())
}
