//! gRPC: refusals answered the gRPC way, and (with the `tonic` feature) the verified claims in
//! tonic handlers.
//!
//! For a request whose `content-type` starts with `application/grpc` (`application/grpc`,
//! `+proto`, `+json`, `-web`, `-web-text`...), every refusal of the [`AuthLayer`](crate::AuthLayer),
//! of the extractors and guards behind it and of DPoP is a gRPC *trailers-only* response
//! ([`grpc_response`]): HTTP 200 with `content-type: application/grpc`, `grpc-status`,
//! `grpc-message` (the client-facing description, percent-encoded) and the `WWW-Authenticate`
//! challenge(s) kept as headers, which gRPC clients read as the status's metadata. The status is
//! [`AuthError::grpc_status`](crate::AuthError::grpc_status): 16 `UNAUTHENTICATED` (401, and 400 `invalid_request`), 7
//! `PERMISSION_DENIED` (403), 14 `UNAVAILABLE` (503).
//!
//! Behind the layer, a tonic server is an ordinary tower service:
//!
//! ```
//! use tollgate::AuthLayer;
//! use tollgate::core::{Algorithm, CryptoProvider, KeySet, Validation, Verifier, VerificationKey};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = VerificationKey::hmac(b"0123456789abcdef0123456789abcdef")?;
//! let policy = Validation::builder([Algorithm::HS256]).audience("my-api").build()?;
//! let layer = AuthLayer::new(Verifier::new(policy, KeySet::from(key), CryptoProvider::default()));
//! // tonic::transport::Server::builder().layer(layer).add_service(..).serve(addr)
//! # let _ = layer;
//! # Ok(())
//! # }
//! ```
#[cfg(feature = "tonic")]
mod tonic_ext;
pub(crate) mod wire;

pub use crate::response::grpc_response;
#[cfg(feature = "tonic")]
pub use tonic_ext::RequestExt;
pub use wire::{is_grpc_request, percent_encode_message};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grpc::wire::GRPC_STATUS;
    use crate::response::{AuthError, Challenge};
    use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
    use http::{HeaderMap, HeaderValue};
    use tollgate_core::dpop::DpopError;

    #[test]
    fn grpc_content_types_are_recognised_and_others_are_not() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(value));
            is_grpc_request(&headers)
        };
        for grpc in [
            "application/grpc",
            "application/grpc+proto",
            "application/grpc+json",
            "application/grpc-web",
            "application/grpc-web-text",
            "Application/GRPC",
        ] {
            assert!(with(grpc), "{grpc}");
        }
        for other in ["application/json", "text/plain", "application/grp", ""] {
            assert!(!with(other), "{other}");
        }
    }

    #[test]
    fn statuses_map_to_grpc_codes() {
        let unavailable = AuthError::Token(tollgate_core::Error::KeySourceUnavailable("x".into()));
        let cases = [
            (AuthError::MissingCredentials, 16),
            (
                AuthError::InvalidRequest(crate::InvalidRequest::MultipleTokens),
                16,
            ),
            (AuthError::Dpop(DpopError::MultipleProofs), 16),
            (AuthError::Dpop(DpopError::Replayed), 16),
            (
                AuthError::Token(tollgate_core::Error::InsufficientScope {
                    required: "a".into(),
                }),
                7,
            ),
            (unavailable.clone(), 14),
            (
                AuthError::Dpop(DpopError::ReplayStoreUnavailable("x".into())),
                14,
            ),
        ];
        for (error, code) in cases {
            assert_eq!(error.grpc_status(), code, "{error:?}");
            let response = grpc_response(&error, &Challenge::default());
            assert_eq!(response.status(), http::StatusCode::OK);
            assert_eq!(response.headers()[GRPC_STATUS], code.to_string().as_str());
            assert_eq!(response.headers()[CONTENT_TYPE], "application/grpc");
        }
        // No challenge for an unavailable key source, as over HTTP.
        let response = grpc_response(&unavailable, &Challenge::default());
        assert!(!response.headers().contains_key(WWW_AUTHENTICATE));
    }

    #[test]
    fn messages_are_percent_encoded() {
        assert_eq!(percent_encode_message("plain text ~!"), "plain text ~!");
        assert_eq!(percent_encode_message("100%"), "100%25");
        assert_eq!(percent_encode_message("a\tb\u{7f}"), "a%09b%7F");
        assert_eq!(percent_encode_message("ü"), "%C3%BC");
    }
}
