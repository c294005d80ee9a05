//! An API Gateway Lambda authorizer on the Tollgate policy. One function answers the three event
//! kinds: REST `TOKEN` and `REQUEST` authorizers (IAM policy) and HTTP API payload 2.0
//! authorizers (simple response: enable "simple responses" on the authorizer).
//!
//! Configuration: the verifier's variables as for the `lambda_router` binary
//! ([`AuthConfig::from_env("TOLLGATE_")`](tollgate_core::config): `TOLLGATE_PROVIDER` and its
//! variables, or `TOLLGATE_JWKS_URL` / `TOLLGATE_OIDC_ISSUER` / `TOLLGATE_HS256_SECRET` with
//! `TOLLGATE_ISSUER`, `TOLLGATE_AUDIENCE`, `TOLLGATE_ALGORITHMS`...), and
//! `TOLLGATE_CONTEXT_CLAIMS` (comma-separated claims copied into the answer's `context`, default
//! `email,roles,scope`).
//!
//! ```sh
//! cargo lambda build --release --arm64 -p example-lambda --bin lambda_authorizer
//! ```

use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequest, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayV2CustomAuthorizerV2Request,
};
use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};
use serde_json::Value;
use tollgate_core::config::AuthConfig;
use tollgate_lambda::{Authorizer, AuthorizerError, AuthorizerEvent};

fn authorizer() -> Result<Authorizer, lambda_runtime::Error> {
    // A bad configuration fails the init with one line naming the variable.
    let config = AuthConfig::from_env("TOLLGATE_")?;
    if config.dpop().mode() != tollgate_core::dpop::DpopMode::Off {
        // An authorizer is not the request's endpoint: it cannot keep a replay store for the
        // function's proofs, and a REST TOKEN authorizer does not see the DPoP header at all.
        return Err(
            "TOLLGATE_DPOP: API Gateway authorizers cannot check DPoP proofs; \
                    verify them in the function (the lambda_router example) instead"
                .into(),
        );
    }
    let verifier = config.build()?;
    let claims =
        std::env::var("TOLLGATE_CONTEXT_CLAIMS").unwrap_or_else(|_| "email,roles,scope".to_owned());
    let claims = claims.split(',').map(str::trim).filter(|c| !c.is_empty());
    Ok(Authorizer::builder(verifier)
        .context_claims(claims)?
        .build())
}

fn parse<T: serde::de::DeserializeOwned>(event: Value) -> Result<T, AuthorizerError> {
    serde_json::from_value(event).map_err(|_| AuthorizerError::InvalidEvent("unexpected shape"))
}

fn to_json(response: impl serde::Serialize) -> Result<Value, AuthorizerError> {
    serde_json::to_value(response).map_err(|_| AuthorizerError::InvalidEvent("unserializable"))
}

/// Dispatches on the event's shape; errors reach API Gateway as the invocation error (an
/// `Unauthorized` message is a 401).
async fn handle(authorizer: &Authorizer, event: Value) -> Result<Value, AuthorizerError> {
    if event.get("version").and_then(Value::as_str) == Some("2.0") {
        // Parsed as `AuthorizerEvent` so the raw header keys survive: `Authorization` given twice
        // under differently-cased keys is refused, not merged into one value.
        let event: AuthorizerEvent<ApiGatewayV2CustomAuthorizerV2Request> = parse(event)?;
        return to_json(authorizer.http_simple(event).await?);
    }
    match event.get("type").and_then(Value::as_str) {
        Some("TOKEN") => {
            let event: ApiGatewayCustomAuthorizerRequest = parse(event)?;
            to_json(authorizer.token(event).await?)
        }
        _ => {
            let event: AuthorizerEvent<ApiGatewayCustomAuthorizerRequestTypeRequest> =
                parse(event)?;
            to_json(authorizer.request(event).await?)
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let authorizer = authorizer()?;
    let authorizer = &authorizer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle(authorizer, event.payload).await
    }))
    .await
}
