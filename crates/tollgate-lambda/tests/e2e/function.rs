//! The `lambda_router` example as the binary `lambda_router` (feature `e2e`, internal):
//! `cargo lambda watch` runs binaries, not examples. `tests/cargo_lambda_e2e.rs` has it served
//! through the Lambda Runtime API that `cargo lambda watch` emulates.

#[path = "../../examples/lambda_router.rs"]
#[allow(dead_code)] // the example's own `main`; this binary's is below
mod example;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::run(example::app()?).await
}
