//! Which rustls provider a `rediss://` connection runs on, in a process that installed none
//! (its own test binary: the process default is global). Run in every feature set, and with
//! both backends on (`--features rust-crypto`), where rustls cannot pick one by itself and redis'
//! `ClientConfig::builder()` would panic without the provider this crate installs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use rustls::crypto::CryptoProvider;
use support::{RedisServer, TlsFiles};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backends_provider_is_installed_when_there_is_none() {
    assert!(
        CryptoProvider::get_default().is_none(),
        "nothing in this binary installs a provider before the first TLS connection"
    );
    let files = TlsFiles::generate();
    let server = RedisServer::start_tls(&files);
    let writer = support::tls_writer(&server.url(), support::trusting(&files.ca_pem))
        .await
        .unwrap();
    writer
        .revoke_token("provider-1", 4_102_444_800)
        .await
        .unwrap();

    let installed = CryptoProvider::get_default().expect("installed by tollgate-redis");
    // The providers' random sources are unit structs named after them.
    let name = format!("{:?}", installed.secure_random);
    #[cfg(feature = "aws-lc-rs")]
    assert_eq!(name, "AwsLcRs", "AWS-LC whenever it is compiled in");
    #[cfg(not(feature = "aws-lc-rs"))]
    assert_eq!(name, "Ring", "ring without aws-lc-rs");
}
