//! The gRPC wire details an answer needs: recognising a gRPC call, and the `grpc-message`
//! encoding. Nothing of the rest of the crate.

use http::HeaderMap;
use http::HeaderName;
use http::header::CONTENT_TYPE;

/// The `grpc-status` header (trailer) name.
pub(crate) const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
/// The `grpc-message` header (trailer) name.
pub(crate) const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");

/// Whether a request with these headers is a gRPC call: its `content-type` starts with
/// `application/grpc` (in any case), as gRPC, gRPC-Web and their `+proto`/`+json` variants do.
///
/// ```
/// use http::{HeaderMap, HeaderValue};
///
/// let mut headers = HeaderMap::new();
/// assert!(!tollgate::grpc::is_grpc_request(&headers));
/// headers.insert("content-type", HeaderValue::from_static("application/grpc-web+proto"));
/// assert!(tollgate::grpc::is_grpc_request(&headers));
/// headers.insert("content-type", HeaderValue::from_static("application/json"));
/// assert!(!tollgate::grpc::is_grpc_request(&headers));
/// ```
pub fn is_grpc_request(headers: &HeaderMap) -> bool {
    const PREFIX: &[u8] = b"application/grpc";
    headers.get(CONTENT_TYPE).is_some_and(|value| {
        let value = value.as_bytes();
        value.len() >= PREFIX.len() && value[..PREFIX.len()].eq_ignore_ascii_case(PREFIX)
    })
}

/// Percent-encodes a `grpc-message` value as the gRPC HTTP/2 protocol says: bytes outside
/// space..`~`, and `%` itself, become `%XX`; UTF-8 text is encoded byte by byte.
///
/// ```
/// assert_eq!(tollgate::grpc::percent_encode_message("50% off\n"), "50%25 off%0A");
/// assert_eq!(tollgate::grpc::percent_encode_message("café"), "caf%C3%A9");
/// ```
pub fn percent_encode_message(message: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(message.len());
    for &b in message.as_bytes() {
        if (b' '..=b'~').contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}
