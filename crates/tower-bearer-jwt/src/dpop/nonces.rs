//! [`Nonces`]: the server's DPoP nonces (RFC 9449 §8), made without state so that every
//! instance with the key accepts every instance's.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

/// Stateless server nonces (RFC 9449 §8): a time step and its HMAC under the server's key, so
/// that every instance with the key accepts every instance's nonces.
pub(crate) struct Nonces {
    pub(crate) key: Hmac<Sha256>,
    pub(crate) lifetime: Duration,
}

impl Nonces {
    /// The nonce of the time step of `now`.
    pub(crate) fn at(&self, now: SystemTime) -> String {
        self.of_step(self.step(now))
    }

    fn step(&self, now: SystemTime) -> u64 {
        now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() / self.lifetime.as_secs().max(1)
    }

    fn of_step(&self, step: u64) -> String {
        let mut mac = self.key.clone();
        mac.update(&step.to_be_bytes());
        let tag = mac.finalize().into_bytes();
        let mut nonce = step.to_be_bytes().to_vec();
        nonce.extend_from_slice(&tag[..16]);
        URL_SAFE_NO_PAD.encode(nonce)
    }

    /// Whether `nonce` is the current step's or the previous one's.
    pub(crate) fn accepts(&self, nonce: &str, now: SystemTime) -> bool {
        let step = self.step(now);
        // Not secret-dependent timing worth hiding: a nonce is handed to anyone who asks.
        [step, step.saturating_sub(1)].into_iter().any(|s| self.of_step(s) == nonce)
    }
}

#[cfg(test)]
mod tests {
    use hmac::KeyInit as _;

    use super::*;

    #[test]
    fn nonces_of_this_and_the_previous_step_are_accepted() {
        let nonces =
            Nonces { key: Hmac::new_from_slice(&[7; 32]).unwrap(), lifetime: Duration::from_secs(60) };
        let t = UNIX_EPOCH + Duration::from_secs(6_000);
        let nonce = nonces.at(t);
        assert!(nonces.accepts(&nonce, t + Duration::from_secs(119)));
        assert!(!nonces.accepts(&nonce, t + Duration::from_secs(120)));
        assert!(!nonces.accepts("AAAAAAAAAAA", t));
    }
}
