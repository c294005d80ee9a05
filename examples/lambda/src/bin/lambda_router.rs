//! An axum Router behind Tollgate, run by the Lambda runtime (`lambda_http::run`) for API
//! Gateway REST/HTTP APIs, function URLs and ALBs alike. The app and its configuration
//! (`TOLLGATE_*` environment variables): [`example_lambda::app`] in `src/lib.rs`.
//!
//! ```sh
//! cargo lambda build --release --arm64 -p example-lambda --bin lambda_router
//! ```

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::run(example_lambda::app()?).await
}
