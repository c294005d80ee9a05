//! Stateless server nonces (RFC 9449 9): a nonce names a time window and is authenticated with
//! an HMAC, so every instance sharing the secret accepts every other's nonces, and nothing is
//! stored.
//!
//! Nonce = base64url(window as u64 big-endian || HMAC-SHA-256(secret, window BE)[..16]): 24
//! bytes, 32 characters. The current and the previous window are accepted, so a nonce lives one
//! to two windows.

use subtle::ConstantTimeEq as _;

use super::thumbprint::{decode_exact, encode};
use crate::crypto::CryptoProvider;

/// Length of the MAC part of a nonce (128 bits: forging one is as hard as guessing a key).
const MAC_LEN: usize = 16;

#[derive(Clone)]
pub(crate) struct Nonces {
    secret: [u8; 32],
    window_secs: u64,
    /// False when no secret could be drawn (the OS RNG failed): then no nonce is ever accepted.
    usable: bool,
}

impl Nonces {
    pub(crate) fn new(secret: Option<[u8; 32]>, window_secs: u64, crypto: &CryptoProvider) -> Self {
        let (secret, usable) = match secret {
            Some(secret) => (secret, true),
            None => {
                let mut secret = [0u8; 32];
                let ok = crypto.fill_random(&mut secret);
                if !ok {
                    tracing::error!(
                        "no random DPoP nonce secret could be drawn; every nonce will be refused"
                    );
                }
                (secret, ok)
            }
        };
        Nonces {
            secret,
            window_secs: window_secs.max(1),
            usable,
        }
    }

    fn window(&self, now: i64) -> u64 {
        u64::try_from(now).unwrap_or(0) / self.window_secs
    }

    fn mac(&self, crypto: &CryptoProvider, window: u64) -> [u8; 32] {
        crypto.hmac_sha256(&self.secret, &window.to_be_bytes())
    }

    /// The nonce of the window `now` falls in.
    pub(crate) fn issue(&self, crypto: &CryptoProvider, now: i64) -> String {
        let window = self.window(now);
        let mut raw = [0u8; 8 + MAC_LEN];
        raw[..8].copy_from_slice(&window.to_be_bytes());
        raw[8..].copy_from_slice(&self.mac(crypto, window)[..MAC_LEN]);
        encode(&raw)
    }

    /// Whether `nonce` is one issued for the current or the previous window.
    pub(crate) fn accepts(&self, crypto: &CryptoProvider, nonce: &str, now: i64) -> bool {
        if !self.usable {
            return false;
        }
        let Some(raw) = decode_exact::<{ 8 + MAC_LEN }>(nonce) else {
            return false;
        };
        let mut window_bytes = [0u8; 8];
        window_bytes.copy_from_slice(&raw[..8]);
        let window = u64::from_be_bytes(window_bytes);
        let current = self.window(now);
        if window != current && window.checked_add(1) != Some(current) {
            return false;
        }
        bool::from(self.mac(crypto, window)[..MAC_LEN].ct_eq(&raw[8..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_and_previous_window_only() {
        for crypto in CryptoProvider::available() {
            let nonces = Nonces::new(Some([9; 32]), 60, crypto);
            let nonce = nonces.issue(crypto, 6_000);
            assert_eq!(nonce.len(), 32);
            assert!(nonces.accepts(crypto, &nonce, 6_000));
            assert!(
                nonces.accepts(crypto, &nonce, 6_059 + 60),
                "previous window"
            );
            assert!(
                !nonces.accepts(crypto, &nonce, 6_000 + 120),
                "two windows on"
            );
            assert!(!nonces.accepts(crypto, &nonce, 5_999), "a future window");
            let other = Nonces::new(Some([8; 32]), 60, crypto);
            assert!(!other.accepts(crypto, &nonce, 6_000), "another secret");
            let mut forged = nonce.into_bytes();
            forged[31] = if forged[31] == b'A' { b'Q' } else { b'A' };
            let forged = String::from_utf8(forged).unwrap_or_default();
            assert!(!nonces.accepts(crypto, &forged, 6_000));
            assert!(!nonces.accepts(crypto, "", 6_000));
            assert!(!nonces.accepts(crypto, "not a nonce", 6_000));
        }
    }

    #[test]
    fn random_secrets_differ() {
        let crypto = CryptoProvider::default();
        let a = Nonces::new(None, 60, &crypto);
        let b = Nonces::new(None, 60, &crypto);
        assert!(a.usable && b.usable);
        assert_ne!(a.issue(&crypto, 0), b.issue(&crypto, 0));
    }
}
