//! Helpers shared by the Lambda test suites: fixtures, event edits, and invoking a service the
//! way `lambda_http::run` does.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;

use axum::Router;
use http_body_util::BodyExt as _;
use lambda_http::lambda_runtime::{Context, LambdaEvent, Service as _};
use lambda_http::request::LambdaRequest;
use serde_json::Value;
use tower::ServiceExt as _;

/// A fixture as JSON.
pub(crate) fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// A fixture with every `{TOKEN}` replaced.
pub(crate) fn fixture_with_token(name: &str, token: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text.replace("{TOKEN}", token)).unwrap()
}

/// Sets (or, with `None`, removes) the `Authorization` header in whichever header maps the
/// event has: `headers` and `multiValueHeaders`.
pub(crate) fn set_authorization(event: &mut Value, value: Option<&str>) {
    let object = event.as_object_mut().unwrap();
    for (map, multi) in [("headers", false), ("multiValueHeaders", true)] {
        let Some(Value::Object(headers)) = object.get_mut(map) else {
            continue;
        };
        headers.retain(|name, _| !name.eq_ignore_ascii_case("authorization"));
        if let Some(value) = value {
            let entry = if multi {
                Value::Array(vec![Value::String(value.to_owned())])
            } else {
                Value::String(value.to_owned())
            };
            headers.insert("Authorization".to_owned(), entry);
        }
    }
}

/// `Authorization: Bearer <token>`.
pub(crate) fn with_bearer(mut event: Value, token: &str) -> Value {
    set_authorization(&mut event, Some(&format!("Bearer {token}")));
    event
}

/// Points the event at another path (REST/ALB `path`, HTTP API `rawPath` and
/// `requestContext.http.path`).
pub(crate) fn with_path(mut event: Value, path: &str) -> Value {
    let object = event.as_object_mut().unwrap();
    if object.contains_key("rawPath") {
        object.insert("rawPath".into(), Value::String(path.into()));
        if let Some(http) = object
            .get_mut("requestContext")
            .and_then(|c| c.get_mut("http"))
            .and_then(Value::as_object_mut)
        {
            http.insert("path".into(), Value::String(path.into()));
        }
    } else {
        object.insert("path".into(), Value::String(path.into()));
    }
    event
}

/// A response: status, headers, body text.
pub(crate) struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Feeds the event through `lambda_http`'s own conversion (`request::from_str`) and the router.
pub(crate) async fn call(app: &Router, event: &Value) -> Answer {
    let request = lambda_http::request::from_str(&event.to_string()).expect("lambda_http event");
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

/// Runs the event exactly as `lambda_http::run` would (deserialize `LambdaRequest`, adapt,
/// call, serialize the origin's response type) and returns the response JSON the runtime
/// would send back to Lambda.
pub(crate) async fn invoke(app: &Router, event: &Value) -> Value {
    let payload: LambdaRequest = serde_json::from_value(event.clone()).expect("LambdaRequest");
    let mut adapter = lambda_http::Adapter::from(app.clone());
    let response = adapter
        .call(LambdaEvent::new(payload, Context::default()))
        .await
        .map_err(|e: Infallible| e)
        .unwrap();
    serde_json::to_value(&response).unwrap()
}
