//! Keys derived from the operator's secret settings, and secrets sealed at
//! rest with them.
//!
//! One derivation for every use: `HMAC-SHA256(setting, context || parts)`,
//! each part length-prefixed so no two inputs hash alike, and each use with
//! a context of its own, so a key serves one purpose only. Device passwords
//! are derived this way ([`crate::broker::credentials`]); so is the key that
//! seals webhook secrets (ChaCha20-Poly1305, a random nonce per value).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// `HMAC-SHA256(key, context || parts)`, every piece length-prefixed.
pub fn derive(key: &SecretString, context: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key.expose_secret().as_bytes())
        .expect("HMAC takes any key length");
    for part in std::iter::once(context).chain(parts.iter().copied()) {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Seals and opens secrets kept in the database: a dump of the database
/// without the setting does not reveal them.
#[derive(Clone)]
pub struct SealingKey {
    key: std::sync::Arc<LessSafeKey>,
}

/// A sealed value that does not open: another key, or altered.
#[derive(Debug, thiserror::Error)]
#[error("a sealed secret could not be opened (another key, or altered)")]
pub struct Unsealable;

/// A secret that is only ever stored sealed was given while no sealing key
/// is configured: it is refused rather than stored in clear.
#[derive(Debug, thiserror::Error)]
#[error(
    "{0} are stored only sealed, and no sealing key is configured: set ELDERCARE__WEBHOOKS__SECRET_KEY \
     (32+ characters, kept secret and unchanged) to store them"
)]
pub struct NoSealingKey(pub &'static str);

impl SealingKey {
    /// The key for `purpose`, derived from a secret setting.
    pub fn derive(setting: &SecretString, purpose: &[u8]) -> Self {
        let bytes = derive(setting, b"eldercare sealing key v1", &[purpose]);
        let unbound = UnboundKey::new(&aead::CHACHA20_POLY1305, &bytes).expect("a 256-bit key");
        SealingKey { key: std::sync::Arc::new(LessSafeKey::new(unbound)) }
    }

    /// `base64(nonce || ciphertext || tag)`; `bound_to` (e.g. the row's id)
    /// is authenticated with it, so a sealed value copied to another row
    /// does not open there.
    pub fn seal(&self, plaintext: &str, bound_to: &[u8]) -> String {
        let mut nonce = [0u8; aead::NONCE_LEN];
        rand::fill(&mut nonce);
        let mut data = plaintext.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(bound_to), &mut data)
            .expect("a short value seals");
        let mut out = nonce.to_vec();
        out.extend(data);
        STANDARD.encode(out)
    }

    pub fn open(&self, sealed: &str, bound_to: &[u8]) -> Result<String, Unsealable> {
        let bytes = STANDARD.decode(sealed).map_err(|_| Unsealable)?;
        if bytes.len() < aead::NONCE_LEN {
            return Err(Unsealable);
        }
        let (nonce, data) = bytes.split_at(aead::NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Unsealable)?;
        let mut data = data.to_vec();
        let plain = self.key.open_in_place(nonce, Aad::from(bound_to), &mut data).map_err(|_| Unsealable)?;
        String::from_utf8(plain.to_vec()).map_err(|_| Unsealable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> SealingKey {
        SealingKey::derive(&SecretString::from(s.repeat(32)), b"test")
    }

    #[test]
    fn a_sealed_value_opens_with_its_key_and_binding_only() {
        let k = key("k");
        let sealed = k.seal("webhook secret 123", b"row-1");
        assert!(!sealed.contains("webhook secret"));
        assert_ne!(sealed, k.seal("webhook secret 123", b"row-1"), "a fresh nonce each time");
        assert_eq!(k.open(&sealed, b"row-1").unwrap(), "webhook secret 123");
        assert!(k.open(&sealed, b"row-2").is_err(), "bound to its row");
        assert!(key("x").open(&sealed, b"row-1").is_err(), "another key");
        let mut altered = STANDARD.decode(&sealed).unwrap();
        *altered.last_mut().unwrap() ^= 1;
        assert!(k.open(&STANDARD.encode(altered), b"row-1").is_err(), "altered");
        assert!(k.open("not base64!", b"row-1").is_err());
        assert!(k.open("", b"row-1").is_err());
    }

    #[test]
    fn purposes_get_different_keys() {
        let setting = SecretString::from("s".repeat(32));
        let sealed = SealingKey::derive(&setting, b"one").seal("v", b"");
        assert!(SealingKey::derive(&setting, b"two").open(&sealed, b"").is_err());
        assert_eq!(derive(&setting, b"a", &[b"bc"]), derive(&setting, b"a", &[b"bc"]));
        assert_ne!(derive(&setting, b"a", &[b"bc"]), derive(&setting, b"ab", &[b"c"]));
    }
}
