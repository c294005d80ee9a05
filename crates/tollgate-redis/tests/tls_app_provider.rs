//! An application that installed its own rustls default provider keeps it: tollgate-redis
//! installs one only when there is none (its own test binary: the default is process-wide).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use support::{RedisServer, TlsFiles};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installed_default_provider_wins() {
    // ring when it is compiled in (both backends on: not the one this crate would pick).
    #[cfg(feature = "rust-crypto")]
    let (mine, name) = (rustls::crypto::ring::default_provider(), "Ring");
    #[cfg(not(feature = "rust-crypto"))]
    let (mine, name) = (rustls::crypto::aws_lc_rs::default_provider(), "AwsLcRs");
    mine.install_default().unwrap();
    let before = Arc::clone(CryptoProvider::get_default().unwrap());

    let files = TlsFiles::generate();
    let server = RedisServer::start_tls(&files);
    let writer = support::tls_writer(&server.url(), support::trusting(&files.ca_pem))
        .await
        .unwrap();
    writer
        .revoke_token("provider-2", 4_102_444_800)
        .await
        .unwrap();

    let after = CryptoProvider::get_default().unwrap();
    assert!(Arc::ptr_eq(&before, after));
    assert_eq!(format!("{:?}", after.secure_random), name);
}
