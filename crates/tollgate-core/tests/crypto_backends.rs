//! The crypto backend features are additive: whichever of `aws-lc-rs` and `rust-crypto` are on,
//! each compiled-in backend is a `CryptoProvider` value, the default is AWS-LC whenever it is
//! there, and the remote sources' TLS works on the matching rustls provider.
//!
//! `scripts/test` runs this file with each feature set (aws-lc-rs, rust-crypto, both; with and
//! without `remote`). The signature conformance suites (`wycheproof.rs`,
//! `independent_fixtures.rs`) run on every backend the build has.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_core::{Algorithm, CryptoProvider, KeySet, Validation, VerificationKey, Verifier};

/// Every backend this build has.
fn providers() -> Vec<CryptoProvider> {
    CryptoProvider::available().to_vec()
}

#[test]
fn the_default_is_aws_lc_whenever_it_is_compiled_in() {
    let default = CryptoProvider::default();
    #[cfg(feature = "aws-lc-rs")]
    assert_eq!(
        (default, default.name()),
        (CryptoProvider::aws_lc_rs(), "aws-lc-rs")
    );
    #[cfg(not(feature = "aws-lc-rs"))]
    assert_eq!(
        (default, default.name()),
        (CryptoProvider::rust_crypto(), "rust-crypto")
    );
    assert_eq!(
        format!("{default:?}"),
        format!("CryptoProvider({:?})", default.name())
    );
}

#[test]
fn each_compiled_in_backend_is_its_own_value() {
    let providers = providers();
    let expected =
        usize::from(cfg!(feature = "aws-lc-rs")) + usize::from(cfg!(feature = "rust-crypto"));
    assert_eq!(providers.len(), expected);
    for (i, a) in providers.iter().enumerate() {
        for (j, b) in providers.iter().enumerate() {
            assert_eq!(a == b, i == j, "{a:?} vs {b:?}");
            assert_eq!(a.name() == b.name(), i == j);
        }
    }
}

/// An Ed25519 token of RFC 8037 appendix A.4 (`{"alg":"EdDSA"}` over "Example of Ed25519
/// signing"), checked at the JWS level on every backend, and refused once its signature changes.
#[tokio::test]
async fn every_backend_verifies_the_same_signature() {
    let key = VerificationKey::ed25519(&[
        0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07,
        0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07,
        0x51, 0x1a,
    ])
    .unwrap();
    let jws = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.\
               hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
    let forged = jws.replacen("hgyY0il", "hgyY0iM", 1);
    let policy = Validation::builder([Algorithm::EdDSA])
        .any_audience()
        .build()
        .unwrap();
    for provider in providers() {
        let verifier = Verifier::new(policy.clone(), KeySet::from(key.clone()), provider);
        assert!(
            tollgate_core::signature::verify_signature(&verifier, jws)
                .await
                .is_ok(),
            "{provider:?} refused RFC 8037 A.4"
        );
        assert!(
            tollgate_core::signature::verify_signature(&verifier, &forged)
                .await
                .is_err(),
            "{provider:?} accepted a changed signature"
        );
    }
}

/// The remote sources' client speaks TLS on the provider matching the backend (AWS-LC, or ring
/// without `aws-lc-rs`), never on reqwest's built-in default (absent without `aws-lc-rs`, where
/// a plain `reqwest::Client::builder().build()` panics): a loopback listener receives a TLS
/// ClientHello from it.
#[cfg(feature = "remote")]
#[tokio::test]
async fn the_remote_client_speaks_tls_on_either_backend() {
    use std::io::Read as _;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut record = [0u8; 6];
        stream.read_exact(&mut record).unwrap();
        record
        // Dropping the stream ends the handshake: the client sees a transport error.
    });
    let client = tollgate_core::remote::http_client_builder()
        .unwrap()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap();
    let result = client
        .get(format!("https://127.0.0.1:{port}/jwks"))
        .send()
        .await;
    assert!(result.is_err(), "no TLS server there");
    let record = server.join().unwrap();
    // A TLS handshake record (22) carrying a ClientHello (1).
    assert_eq!((record[0], record[1], record[5]), (22, 3, 1), "{record:?}");
}

/// A JWK Set fetched by `JwksSource`'s default client (built on the matching TLS provider, here
/// over loopback http) verifies on every backend.
#[cfg(feature = "remote")]
#[tokio::test]
async fn a_fetched_key_set_verifies_on_every_backend() {
    use std::io::{Read as _, Write as _};

    use tollgate_core::remote::JwksSource;

    let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "request ended early");
            request.extend_from_slice(&buf[..n]);
        }
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncache-control: max-age=600\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{jwks}",
            jwks.len()
        );
        stream.write_all(response.as_bytes()).unwrap();
    });
    let source = JwksSource::builder(&url).build().unwrap();
    let jws = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.\
               hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
    let policy = Validation::builder([Algorithm::EdDSA])
        .any_audience()
        .build()
        .unwrap();
    for provider in providers() {
        let verifier = Verifier::new(policy.clone(), source.clone(), provider);
        let verified = tollgate_core::signature::verify_signature(&verifier, jws).await;
        assert!(verified.is_ok(), "{provider:?}: {verified:?}");
    }
    // One fetch served both backends: the key set is cached by the source.
    server.join().unwrap();
}
