//! The client's side of DPoP: a key's RFC 7638 thumbprint, and the proofs it signs
//! ([`SigningKey::dpop_proof`]).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::TYP;
use crate::jwk::thumbprint;
use crate::key::{KeyError, SigningKey};

impl SigningKey {
    /// The RFC 7638 SHA-256 thumbprint (base64url) of the key's public half: what a token
    /// bound to it carries (`cnf.jkt`). `None` for an HS256 secret.
    #[must_use]
    pub fn thumbprint(&self) -> Option<String> {
        thumbprint(self.public_jwk()?.as_object()?)
    }

    /// A DPoP proof (RFC 9449 §4.2) of this key for a request of `method` to `url`, presenting
    /// `access_token` if any (its hash becomes `ath`), with the server's `nonce` if it asked
    /// for one: what a client sends in the `DPoP` header. A fresh `jti` and the current time.
    ///
    /// ```
    /// use tower_bearer_jwt::SigningKey;
    ///
    /// let key = SigningKey::ed25519_generate("client")?;
    /// let proof = key.dpop_proof("GET", "https://api.example.com/v1/me", Some("the-token"), None)?;
    /// assert_eq!(proof.split('.').count(), 3);
    /// # Ok::<(), tower_bearer_jwt::KeyError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// If the key cannot sign, or is an HS256 secret (a proof's key is public).
    pub fn dpop_proof(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<String, KeyError> {
        let mut jwk = self.public_jwk().ok_or(KeyError::new("a DPoP proof needs an asymmetric key"))?;
        if let Some(jwk) = jwk.as_object_mut() {
            // The header's key is only the key: its `kid` and usage mean nothing to the server.
            for member in ["kid", "use", "alg"] {
                jwk.remove(member);
            }
        }
        let header = json!({ "typ": TYP, "alg": self.algorithm().name(), "jwk": jwk });
        let mut jti = [0_u8; 16];
        getrandom::fill(&mut jti)
            .map_err(|_| KeyError::new("the system's random number generator failed"))?;
        let iat = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let mut claims = json!({ "jti": URL_SAFE_NO_PAD.encode(jti), "htm": method, "htu": url, "iat": iat });
        if let Some(token) = access_token {
            claims["ath"] = json!(URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes())));
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature =
            self.sign(input.as_bytes()).ok_or(KeyError::new("a DPoP proof needs a private key"))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}
