//! The bearer-token extraction of `tollgate::AuthLayer`: `Authorization` headers (one or
//! several), the `Cookie` header and the query string, through a whole tower service with a
//! fixed HS256 verifier.
//!
//! Input: lines (`\n`). A line `C:<value>` is a `Cookie` header, `Q:<query>` the query string,
//! any other line one `Authorization` header value. `{TOKEN}` stands for a valid token.
//!
//! Asserted: the answer is 200, 400 or 401 (no guard is installed, so never 403; the keys are a
//! static set, so never 503); 200 only when the input contained `{TOKEN}`, and then the handler
//! saw the token's subject; a refusal always carries `WWW-Authenticate`.
#![no_main]

use std::convert::Infallible;
use std::sync::LazyLock;

use http::{HeaderValue, Request, Response, StatusCode, header};
use libfuzzer_sys::fuzz_target;
use tollgate::{AuthLayer, Authenticated};
use tollgate_fuzz::{
    MAX_INPUT, VALID_SUB, block_on, hs256_verifier, substitute_token, valid_token,
};
use tower::{Layer, Service, ServiceExt, service_fn};

static LAYER: LazyLock<AuthLayer> = LazyLock::new(|| {
    let layer = AuthLayer::builder(hs256_verifier())
        .cookie("access_token")
        .query_parameter("access_token")
        .build();
    // Self-test: the valid token gets through, so the success path is reachable.
    let request = Request::builder()
        .header(header::AUTHORIZATION, format!("Bearer {}", valid_token()))
        .body(())
        .unwrap_or_else(|e| panic!("self-test request: {e}"));
    let status = call(&layer, request).status();
    assert_eq!(
        status,
        StatusCode::OK,
        "fixture self-test: the valid token got {status}"
    );
    layer
});

fn call(layer: &AuthLayer, request: Request<()>) -> Response<impl Sized> {
    let mut service = layer.layer(service_fn(handler));
    block_on(async {
        let ready = ServiceExt::<Request<()>>::ready(&mut service).await?;
        ready.call(request).await
    })
    .unwrap_or_else(|never: Infallible| match never {})
}

async fn handler(request: Request<()>) -> Result<Response<String>, Infallible> {
    let subject = request
        .extensions()
        .get::<Authenticated>()
        .map(|auth| auth.subject().map(str::to_owned))
        .unwrap_or_else(|| panic!("the handler ran without an Authenticated extension"));
    // Only the valid token can get this far.
    assert_eq!(
        subject.as_deref(),
        Some(VALID_SUB),
        "the handler saw another subject"
    );
    Ok(Response::new(String::new()))
}

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT {
        return;
    }
    let text = String::from_utf8_lossy(data);
    let (text, has_valid_token) = substitute_token(&text);

    let mut query = None;
    let mut request = Request::builder();
    for line in text.split('\n') {
        let (name, value) = if let Some(cookie) = line.strip_prefix("C:") {
            (header::COOKIE, cookie)
        } else if let Some(q) = line.strip_prefix("Q:") {
            query = Some(q.to_owned());
            continue;
        } else {
            (header::AUTHORIZATION, line)
        };
        match HeaderValue::from_bytes(value.as_bytes()) {
            Ok(value) => request = request.header(name, value),
            Err(_) => return,
        }
    }
    let uri = match &query {
        Some(q) => format!("/resource?{q}"),
        None => "/resource".to_owned(),
    };
    let Ok(request) = request.uri(uri).body(()) else {
        return;
    };

    let response = call(&LAYER, request);

    let status = response.status();
    match status {
        StatusCode::OK => {
            assert!(
                has_valid_token,
                "200 for an input without the valid token: {text:?}"
            );
        }
        StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED => {
            assert!(
                response.headers().contains_key(header::WWW_AUTHENTICATE),
                "{status} without WWW-Authenticate for {text:?}"
            );
        }
        other => panic!("unexpected status {other} for {text:?}"),
    }
});
