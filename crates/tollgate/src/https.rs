//! HTTPS enforcement (RFC 6750 5.3): [`HttpsPolicy`], for
//! [`AuthLayerBuilder::require_https`](crate::AuthLayerBuilder::require_https).

use std::net::{IpAddr, SocketAddr};

use http::{Extensions, HeaderMap, HeaderName};

const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// The TCP peer of a connection, for servers that are not axum or tonic: insert it in the
/// request extensions (e.g. in a hyper `service_fn` that knows the accepted socket's address)
/// so that [`HttpsPolicy`] can tell trusted proxies and loopback clients apart.
///
/// The layer also reads axum's `ConnectInfo<SocketAddr>` (feature `axum`, on by default; serve
/// with `into_make_service_with_connect_info::<SocketAddr>()`) and tonic's `TcpConnectInfo`
/// (feature `tonic`).
///
/// ```
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(tollgate::PeerAddr(([127, 0, 0, 1], 40000).into()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Which requests may carry a token ([`AuthLayerBuilder::require_https`](crate::AuthLayerBuilder::require_https)):
/// those that reached the client-facing server over HTTPS.
///
/// A request is judged in this order:
/// 1. with [`allow_loopback`](Self::allow_loopback), a request from a loopback peer is
///    accepted (local development, a sidecar on the same host);
/// 2. from a [trusted proxy](Self::trust_proxy), the proxy's word: every `X-Forwarded-Proto`
///    value and every `proto=` of `Forwarded` (RFC 7239) must be `https`, when it sent any;
/// 3. otherwise the scheme of the request URI: `https` is accepted. hyper fills it from an
///    absolute-form request line (HTTP/1.1) or the `:scheme` pseudo-header (HTTP/2); an
///    origin-form HTTP/1.1 request (`GET /path`) has none and is refused.
///
/// Forwarded headers from any other peer, or when the peer address is not known, are never
/// read: a client cannot claim HTTPS for itself. The peer address is that of
/// [`PeerAddr`], axum's `ConnectInfo<SocketAddr>` or tonic's `TcpConnectInfo` in the request
/// extensions.
///
/// The check protects honest clients against a misconfigured URL (`http://`): it refuses the
/// request, but the token has already travelled in the clear and should be treated as exposed.
/// A server that terminates TLS itself without a proxy sees origin-form HTTP/1.1 requests
/// without a scheme: there, every connection is HTTPS already and this check is not needed.
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// use tollgate::HttpsPolicy;
///
/// let policy = HttpsPolicy::new()
///     .trust_proxy(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)))
///     .allow_loopback(true);
/// # let _ = policy;
/// ```
#[derive(Debug, Clone, Default)]
pub struct HttpsPolicy {
    trusted_proxies: Vec<IpAddr>,
    allow_loopback: bool,
}

impl HttpsPolicy {
    /// No trusted proxy, no loopback exemption: only requests whose URI says `https`.
    pub fn new() -> Self {
        HttpsPolicy::default()
    }

    /// Trusts the forwarded headers of requests from this peer address (an IPv4-mapped IPv6
    /// peer matches its IPv4 address).
    pub fn trust_proxy(mut self, address: impl Into<IpAddr>) -> Self {
        self.trusted_proxies.push(address.into().to_canonical());
        self
    }

    /// Trusts each of these peer addresses ([`trust_proxy`](Self::trust_proxy)).
    pub fn trust_proxies<I: Into<IpAddr>>(self, addresses: impl IntoIterator<Item = I>) -> Self {
        addresses
            .into_iter()
            .fold(self, |policy, address| policy.trust_proxy(address))
    }

    /// Whether requests from a loopback peer (`127.0.0.0/8`, `::1`) are accepted over plain HTTP
    /// (default `false`). A request whose peer address is not known is never exempt.
    pub fn allow_loopback(mut self, allow: bool) -> Self {
        self.allow_loopback = allow;
        self
    }

    /// Whether a request with this URI scheme, headers and extensions may carry a token.
    pub(crate) fn allows(
        &self,
        scheme: Option<&http::uri::Scheme>,
        headers: &HeaderMap,
        extensions: &Extensions,
    ) -> bool {
        let peer = peer_ip(extensions);
        if self.allow_loopback && peer.is_some_and(|ip| ip.is_loopback()) {
            return true;
        }
        if peer.is_some_and(|ip| self.trusted_proxies.contains(&ip))
            && let Some(https) = forwarded_https(headers)
        {
            return https;
        }
        scheme == Some(&http::uri::Scheme::HTTPS)
    }
}

/// The TCP peer's address, from whichever server put it in the extensions.
fn peer_ip(extensions: &Extensions) -> Option<IpAddr> {
    let peer = extensions.get::<PeerAddr>().map(|peer| peer.0);
    #[cfg(feature = "axum")]
    let peer = peer.or_else(|| {
        extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|info| info.0)
    });
    #[cfg(feature = "tonic")]
    let peer = peer.or_else(|| {
        extensions
            .get::<tonic::transport::server::TcpConnectInfo>()
            .and_then(tonic::transport::server::TcpConnectInfo::remote_addr)
    });
    peer.map(|addr| addr.ip().to_canonical())
}

/// What a trusted proxy says of the client's scheme: `None` when it sent no forwarded scheme,
/// else whether every one it sent is `https` (a chain of proxies may list one per hop; one
/// plain hop, or a value that is not text, is enough to refuse).
fn forwarded_https(headers: &HeaderMap) -> Option<bool> {
    let mut seen = false;
    for value in headers.get_all(X_FORWARDED_PROTO) {
        let Ok(value) = value.to_str() else {
            return Some(false);
        };
        for proto in value.split(',') {
            seen = true;
            if !proto.trim().eq_ignore_ascii_case("https") {
                return Some(false);
            }
        }
    }
    for value in headers.get_all(FORWARDED) {
        let Ok(value) = value.to_str() else {
            return Some(false);
        };
        // `Forwarded: for=..;proto=https, for=..;proto=https` (RFC 7239 4): elements by comma,
        // pairs by semicolon, values possibly quoted.
        for pair in value.split([',', ';']) {
            let Some((name, proto)) = pair.split_once('=') else {
                continue;
            };
            if !name.trim().eq_ignore_ascii_case("proto") {
                continue;
            }
            seen = true;
            if !proto.trim().trim_matches('"').eq_ignore_ascii_case("https") {
                return Some(false);
            }
        }
    }
    seen.then_some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in values {
            map.append(*name, http::HeaderValue::from_static(value));
        }
        map
    }

    fn from_peer(ip: [u8; 4]) -> Extensions {
        let mut extensions = Extensions::new();
        extensions.insert(PeerAddr((ip, 5000).into()));
        extensions
    }

    /// Request headers, and what a trusted proxy said with them.
    type Case = (&'static [(&'static str, &'static str)], Option<bool>);

    #[test]
    fn forwarded_schemes_must_all_be_https() {
        let cases: [Case; 9] = [
            (&[], None),
            (&[("x-forwarded-proto", "https")], Some(true)),
            (&[("x-forwarded-proto", "HTTPS")], Some(true)),
            (&[("x-forwarded-proto", "http")], Some(false)),
            (&[("x-forwarded-proto", "https, http")], Some(false)),
            (&[("forwarded", "for=192.0.2.1;proto=https")], Some(true)),
            (
                &[("forwarded", "for=a;proto=\"https\", for=b;proto=http")],
                Some(false),
            ),
            (&[("forwarded", "for=192.0.2.1")], None),
            (
                &[("x-forwarded-proto", "https"), ("forwarded", "proto=http")],
                Some(false),
            ),
        ];
        for (values, expected) in cases {
            assert_eq!(forwarded_https(&headers(values)), expected, "{values:?}");
        }
    }

    #[test]
    fn only_trusted_peers_are_believed() {
        let policy = HttpsPolicy::new().trust_proxy(IpAddr::from([10, 0, 0, 7]));
        let says_https = headers(&[("x-forwarded-proto", "https")]);
        assert!(policy.allows(None, &says_https, &from_peer([10, 0, 0, 7])));
        assert!(!policy.allows(None, &says_https, &from_peer([10, 0, 0, 8])));
        assert!(!policy.allows(None, &says_https, &Extensions::new()));
        // A trusted proxy's word beats the URI's scheme both ways.
        let says_http = headers(&[("x-forwarded-proto", "http")]);
        let https = Some(&http::uri::Scheme::HTTPS);
        assert!(!policy.allows(https, &says_http, &from_peer([10, 0, 0, 7])));
        assert!(policy.allows(https, &says_http, &from_peer([10, 0, 0, 8])));
        assert!(!policy.allows(
            Some(&http::uri::Scheme::HTTP),
            &HeaderMap::new(),
            &from_peer([1, 1, 1, 1])
        ));
    }

    #[test]
    fn loopback_is_exempt_only_when_asked_and_known() {
        let none = HeaderMap::new();
        let strict = HttpsPolicy::new();
        let relaxed = HttpsPolicy::new().allow_loopback(true);
        assert!(!strict.allows(None, &none, &from_peer([127, 0, 0, 1])));
        assert!(relaxed.allows(None, &none, &from_peer([127, 0, 0, 1])));
        assert!(relaxed.allows(None, &none, &from_peer([127, 9, 9, 9])));
        assert!(!relaxed.allows(None, &none, &from_peer([192, 0, 2, 1])));
        assert!(!relaxed.allows(None, &none, &Extensions::new()));
        let mut mapped = Extensions::new();
        let v6: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        mapped.insert(PeerAddr(SocketAddr::new(v6, 1)));
        assert!(relaxed.allows(None, &none, &mapped));
        let proxy = HttpsPolicy::new().trust_proxy("::ffff:10.0.0.7".parse::<IpAddr>().unwrap());
        assert!(proxy.allows(
            None,
            &headers(&[("x-forwarded-proto", "https")]),
            &from_peer([10, 0, 0, 7])
        ));
    }
}
