//! The layer's `tollgate.auth` span: outcome, `iss`, `kid`, scheme, token source and, on
//! refusal, `reason`; never the token, never `sub` or another claim's value unless
//! `trace_subject(true)`. Captured with a `tracing-subscriber` layer that keeps every span field
//! and every event (its message and fields).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_test_support as support;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use serde::Deserialize;
use serde_json::json;
use support::*;
use tollgate::core::Algorithm;
use tollgate::{AuthLayer, Claims};
use tower::ServiceExt as _;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

/// A subject no other part of a request contains: found anywhere in the capture, it leaked.
const SUBJECT: &str = "subject-7f3a91";

/// Every span (name and fields, in order of recording) and event (fields, `message` included).
#[derive(Debug, Default)]
struct Captured {
    spans: HashMap<u64, (String, Vec<(String, String)>)>,
    events: Vec<Vec<(String, String)>>,
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Captured>>);

struct Fields<'a>(&'a mut Vec<(String, String)>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _ctx: Context<'_, S>) {
        let mut fields = Vec::new();
        attrs.record(&mut Fields(&mut fields));
        let mut captured = self.0.lock().unwrap();
        captured
            .spans
            .insert(id.into_u64(), (attrs.metadata().name().to_owned(), fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut captured = self.0.lock().unwrap();
        if let Some((_, fields)) = captured.spans.get_mut(&id.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Vec::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().events.push(fields);
    }
}

impl Capture {
    /// The fields of the one `tollgate.auth` span.
    fn auth_span(&self) -> HashMap<String, String> {
        let captured = self.0.lock().unwrap();
        let spans: Vec<_> = captured
            .spans
            .values()
            .filter(|(name, _)| name == "tollgate.auth")
            .collect();
        assert_eq!(spans.len(), 1, "one span per request: {captured:?}");
        spans[0].1.iter().cloned().collect()
    }

    /// Every recorded value, of spans and events alike.
    fn all_values(&self) -> Vec<String> {
        let captured = self.0.lock().unwrap();
        let spans = captured
            .spans
            .values()
            .flat_map(|(_, fields)| fields.iter());
        let events = captured.events.iter().flatten();
        spans
            .chain(events)
            .map(|(_, value)| value.clone())
            .collect()
    }

    /// Asserts that neither the token (nor any of its segments) nor the subject was recorded.
    fn assert_nothing_leaked(&self, token: &str) {
        for value in self.all_values() {
            for segment in token.split('.') {
                assert!(!value.contains(segment), "token bytes recorded: {value}");
            }
            assert!(!value.contains(SUBJECT), "the subject recorded: {value}");
        }
    }

    fn events_with(&self, name: &str, value: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .events
            .iter()
            .filter(|fields| fields.iter().any(|(n, v)| n == name && v == value))
            .count()
    }
}

/// Claims whose `sub` must be a number: the subject does not fit, and the deserializer's
/// message quotes it.
#[derive(Clone, Deserialize)]
struct NumericSubject {
    #[allow(dead_code)]
    sub: u64,
}

fn app(layer: AuthLayer) -> Router {
    Router::new()
        .route("/me", get(|| async { "me" }))
        .route("/numeric", get(|_: Claims<NumericSubject>| async { "n" }))
        .layer(layer)
}

fn token_with(name: &str, value: serde_json::Value) -> String {
    let mut claims = claims_with("sub", Some(json!(SUBJECT)));
    claims[name] = value;
    sign(Algorithm::ES256, &claims)
}

fn good_token() -> String {
    token_with("sub", json!(SUBJECT))
}

/// One request through `layer`, captured: its status and what was recorded.
async fn traced(layer: AuthLayer, path: &str, token: Option<&str>) -> (u16, Capture) {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = app(layer)
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    (response.status().as_u16(), capture)
}

fn layer() -> AuthLayer {
    AuthLayer::new(default_verifier())
}

#[tokio::test]
async fn a_verified_request_records_issuer_kid_scheme_and_source_but_not_the_subject() {
    let token = good_token();
    let (status, capture) = traced(layer(), "/me", Some(&token)).await;
    assert_eq!(status, 200);
    let span = capture.auth_span();
    assert_eq!(
        span.get("outcome").map(String::as_str),
        Some("verified"),
        "{span:?}"
    );
    assert_eq!(
        span.get("iss").map(String::as_str),
        Some(ISSUER),
        "{span:?}"
    );
    assert_eq!(
        span.get("kid").map(String::as_str),
        Some(kid_for(Algorithm::ES256))
    );
    assert_eq!(span.get("scheme").map(String::as_str), Some("Bearer"));
    assert_eq!(
        span.get("token_source").map(String::as_str),
        Some("authorization")
    );
    assert!(!span.contains_key("sub"), "{span:?}");
    assert!(!span.contains_key("reason"), "{span:?}");
    capture.assert_nothing_leaked(&token);
}

#[tokio::test]
async fn refusals_record_the_reason_and_nothing_of_the_token() {
    let cases = [
        (token_with("exp", json!(now() - 3600)), "expired", 401),
        (tamper_signature(&good_token()), "invalid_signature", 401),
        // The detailed error would quote the audience: a claim's value.
        (
            token_with("aud", json!(format!("aud-{SUBJECT}"))),
            "wrong_audience",
            401,
        ),
    ];
    for (token, reason, expected) in cases {
        let (status, capture) = traced(layer(), "/me", Some(&token)).await;
        assert_eq!(status, expected, "{reason}");
        let span = capture.auth_span();
        assert_eq!(
            span.get("outcome").map(String::as_str),
            Some("rejected"),
            "{reason}"
        );
        assert_eq!(
            span.get("reason").map(String::as_str),
            Some(reason),
            "{span:?}"
        );
        assert_eq!(span.get("scheme").map(String::as_str), Some("Bearer"));
        assert_eq!(
            capture.events_with("reason", reason),
            1,
            "one refusal event: {reason}"
        );
        assert_eq!(
            capture.events_with("message", "request refused"),
            1,
            "{reason}"
        );
        capture.assert_nothing_leaked(&token);
    }
    let (status, capture) = traced(layer(), "/me", None).await;
    assert_eq!(status, 401);
    let span = capture.auth_span();
    assert_eq!(
        span.get("reason").map(String::as_str),
        Some("missing_credentials")
    );
    assert!(!span.contains_key("token_source"), "{span:?}");
}

#[tokio::test]
async fn claims_that_do_not_fit_are_logged_by_reason_without_their_value() {
    let token = good_token();
    let (status, capture) = traced(layer(), "/numeric", Some(&token)).await;
    assert_eq!(status, 401);
    assert_eq!(capture.events_with("reason", "claims_shape"), 1);
    capture.assert_nothing_leaked(&token);
}

#[tokio::test]
async fn trace_subject_records_the_subject_and_the_detail_when_asked() {
    let traced_layer = || {
        AuthLayer::builder(default_verifier())
            .trace_subject(true)
            .build()
    };
    let (status, capture) = traced(traced_layer(), "/me", Some(&good_token())).await;
    assert_eq!(status, 200);
    assert_eq!(
        capture.auth_span().get("sub").map(String::as_str),
        Some(SUBJECT)
    );

    let token = token_with("aud", json!(format!("aud-{SUBJECT}")));
    let (status, capture) = traced(traced_layer(), "/me", Some(&token)).await;
    assert_eq!(status, 401);
    assert!(
        capture
            .all_values()
            .iter()
            .any(|v| v.contains(&format!("aud-{SUBJECT}"))),
        "the detailed error, asked for"
    );
    // The token itself is never recorded, asked or not.
    for value in capture.all_values() {
        assert!(!value.contains(&token), "{value}");
    }
    let (status, capture) = traced(traced_layer(), "/numeric", Some(&good_token())).await;
    assert_eq!(status, 401);
    assert!(
        capture
            .all_values()
            .iter()
            .any(|v| v.contains("invalid type"))
    );
}
