//! Device passwords: derived, never stored.
//!
//! A password is `HMAC-SHA256(credential key, username, nonce)`, where the
//! nonce is drawn afresh at each issue and kept in the database. So the
//! database alone never reveals a password (a dump is not a set of device
//! credentials), yet the backend can always recompute every current password
//! from it: that is what lets the reconciler rebuild a broker that lost its
//! accounts. The database also keeps `sha256(password || salt)`, the form
//! EMQX's PostgreSQL authentication checks, for brokers that read the table
//! themselves. The passwords are 256-bit random values, so a fast salted hash
//! is enough: there is no dictionary to stretch against.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngExt;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// Separates this derivation from any other use of the same key.
const CONTEXT: &[u8] = b"eldercare mqtt password v1";

/// The key every device password is derived from
/// (`ELDERCARE__MQTT__CREDENTIAL_KEY`).
#[derive(Clone)]
pub struct CredentialKey(SecretString);

impl CredentialKey {
    pub fn new(key: SecretString) -> Self {
        CredentialKey(key)
    }

    /// The password of `username` as issued with `nonce`.
    pub fn password(&self, username: &str, nonce: &str) -> SecretString {
        let derived = crate::domain::keys::derive(&self.0, CONTEXT, &[username.as_bytes(), nonce.as_bytes()]);
        SecretString::from(URL_SAFE_NO_PAD.encode(derived))
    }
}

/// A fresh random value, hex: a nonce or a salt.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(&mut buf[..]);
    hex::encode(buf)
}

/// `sha256(password || salt)`, lowercase hex: EMQX's `sha256` algorithm with
/// `salt_position = suffix`.
pub fn salted_hash(password: &SecretString, salt: &str) -> String {
    let mut h = Sha256::new();
    h.update(password.expose_secret().as_bytes());
    h.update(salt.as_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_the_one_emqx_checks() {
        // EMQX's documented example: password "secret", salt "salt", sha256, suffix.
        let hash = salted_hash(&SecretString::from("secret"), "salt");
        assert_eq!(hash, "f84fa2149dbb62ed4e0cf1f550d2949b33a6513d3a7707e08502511c79ccb0ee");
    }

    #[test]
    fn passwords_depend_on_key_username_and_nonce() {
        let key = CredentialKey::new("k".repeat(32).into());
        let p = |u: &str, n: &str| key.password(u, n).expose_secret().to_owned();
        assert_eq!(p("w-1", "n1"), p("w-1", "n1"), "derivation is repeatable");
        assert_ne!(p("w-1", "n1"), p("w-1", "n2"), "a new nonce is a new password");
        assert_ne!(p("w-1", "n1"), p("w-2", "n1"));
        assert_ne!(p("w-1n", "1"), p("w-1", "n1"), "parts do not run into each other");
        let other = CredentialKey::new("x".repeat(32).into());
        assert_ne!(other.password("w-1", "n1").expose_secret(), p("w-1", "n1"));
        assert_eq!(p("w-1", "n1").len(), 43, "256 bits, base64url");
        assert_ne!(random_hex(16), random_hex(16));
    }
}
