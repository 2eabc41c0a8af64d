//! Web Push messages, built by hand on RustCrypto: RFC 8291 message
//! encryption (`aes128gcm`, RFC 8188) and RFC 8292 VAPID (an ES256 JWT the
//! push service checks against our published public key). Pure: keys and
//! bytes in, bytes out; the HTTP request is the outbox's.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hkdf::Hkdf;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::Generate;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;

/// A subscription's keys, as the browser gives them (base64url).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("p256dh must be a base64url uncompressed P-256 point")]
    P256dh,
    #[error("auth must be a base64url 16-byte secret")]
    Auth,
    #[error("VAPID private key must be a base64url P-256 private key")]
    Vapid,
}

/// One record holds the whole message: at most this many plaintext bytes.
pub const MAX_PLAINTEXT: usize = RECORD_SIZE as usize - TAG_LEN - 1;
const RECORD_SIZE: u32 = 4096;
const TAG_LEN: usize = 16;

/// A browser's public key and auth secret, checked.
pub struct Receiver {
    public: PublicKey,
    public_bytes: Vec<u8>,
    auth: [u8; 16],
}

impl Receiver {
    pub fn parse(p256dh: &str, auth: &str) -> Result<Receiver, KeyError> {
        let public_bytes = B64.decode(p256dh.trim_end_matches('=')).map_err(|_| KeyError::P256dh)?;
        if public_bytes.len() != 65 || public_bytes[0] != 4 {
            return Err(KeyError::P256dh);
        }
        let public = PublicKey::from_sec1_bytes(&public_bytes).map_err(|_| KeyError::P256dh)?;
        let auth: [u8; 16] = B64
            .decode(auth.trim_end_matches('='))
            .map_err(|_| KeyError::Auth)?
            .try_into()
            .map_err(|_| KeyError::Auth)?;
        Ok(Receiver { public, public_bytes, auth })
    }
}

/// Encrypts `plaintext` for the receiver (RFC 8291 section 3.4), with a
/// fresh sender key and salt. `None` when it does not fit one record.
pub fn encrypt(receiver: &Receiver, plaintext: &[u8]) -> Option<Vec<u8>> {
    let mut rng = rand::rng();
    let sender = SecretKey::generate_from_rng(&mut rng);
    let salt: [u8; 16] = rand::random();
    encrypt_with(receiver, plaintext, &sender, &salt)
}

fn encrypt_with(receiver: &Receiver, plaintext: &[u8], sender: &SecretKey, salt: &[u8; 16]) -> Option<Vec<u8>> {
    if plaintext.len() > MAX_PLAINTEXT {
        return None;
    }
    let sender_public = sender.public_key().to_sec1_bytes();
    let shared = p256::ecdh::diffie_hellman(sender.to_nonzero_scalar(), receiver.public.as_affine());
    // IKM = HKDF(auth, ecdh, "WebPush: info\0" || ua_public || as_public)
    let mut key_info = Vec::with_capacity(14 + 65 + 65);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(&receiver.public_bytes);
    key_info.extend_from_slice(&sender_public);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(&receiver.auth), shared.raw_secret_bytes()).expand(&key_info, &mut ikm).ok()?;
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let mut cek = [0u8; 16];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek).ok()?;
    let mut nonce = [0u8; 12];
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce).ok()?;
    // The only record is the last: its delimiter is 2, and no padding.
    let mut record = Vec::with_capacity(plaintext.len() + 1);
    record.extend_from_slice(plaintext);
    record.push(2);
    let cipher = Aes128Gcm::new_from_slice(&cek).ok()?;
    let sealed = cipher.encrypt(&Nonce::from(nonce), record.as_slice()).ok()?;
    // Header (RFC 8188 section 2.1): salt, record size, key id = our public key.
    let mut body = Vec::with_capacity(16 + 4 + 1 + sender_public.len() + sealed.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(sender_public.len() as u8);
    body.extend_from_slice(&sender_public);
    body.extend_from_slice(&sealed);
    Some(body)
}

/// This backend's VAPID identity.
pub struct Vapid {
    key: SigningKey,
    /// The uncompressed public key, base64url: what browsers subscribe with
    /// (`applicationServerKey`) and the `k` of every request.
    public: String,
    subject: String,
}

impl Vapid {
    /// A new random key pair; answers it and its private key (base64url) to keep.
    pub fn generate(subject: &str) -> (Vapid, String) {
        let secret = SecretKey::generate_from_rng(&mut rand::rng());
        let private = B64.encode(secret.to_bytes());
        (Vapid::from_secret(&secret, subject), private)
    }

    pub fn from_private(private: &str, subject: &str) -> Result<Vapid, KeyError> {
        let bytes = B64.decode(private.trim().trim_end_matches('=')).map_err(|_| KeyError::Vapid)?;
        let secret = SecretKey::from_slice(&bytes).map_err(|_| KeyError::Vapid)?;
        Ok(Vapid::from_secret(&secret, subject))
    }

    fn from_secret(secret: &SecretKey, subject: &str) -> Vapid {
        let public = B64.encode(secret.public_key().to_sec1_bytes());
        Vapid { key: SigningKey::from(secret), public, subject: subject.to_owned() }
    }

    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// The `Authorization` header for a request to `endpoint` (RFC 8292
    /// section 3): a JWT for the endpoint's origin, valid `ttl_secs` from
    /// `now` (at most 24 h).
    pub fn authorization(&self, endpoint: &url::Url, now: i64, ttl_secs: i64) -> String {
        let audience = endpoint.origin().ascii_serialization();
        let header = B64.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({"aud": audience, "exp": now + ttl_secs.min(86_400), "sub": self.subject});
        let claims = B64.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let signature: Signature = self.key.sign(signing_input.as_bytes());
        format!("vapid t={signing_input}.{}, k={}", B64.encode(signature.to_bytes()), self.public)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> Vec<u8> {
        B64.decode(s).unwrap()
    }

    /// RFC 8291 Appendix A: the whole example, byte for byte.
    #[test]
    fn encrypts_the_rfc_8291_example() {
        let receiver = Receiver::parse(
            "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
            "BTBZMqHH6r4Tts7J_aSIgg",
        )
        .unwrap();
        let sender = SecretKey::from_slice(&b64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw")).unwrap();
        let salt: [u8; 16] = b64("DGv6ra1nlYgDCS1FRnbzlw").try_into().unwrap();
        let body = encrypt_with(&receiver, b"When I grow up, I want to be a watermelon", &sender, &salt).unwrap();
        assert_eq!(
            B64.encode(body),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        );
    }

    #[test]
    fn bad_subscription_keys_are_refused() {
        assert_eq!(Receiver::parse("AAAA", "BTBZMqHH6r4Tts7J_aSIgg").err(), Some(KeyError::P256dh));
        let p256dh = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
        assert_eq!(Receiver::parse(p256dh, "short").err(), Some(KeyError::Auth));
        // A point not on the curve.
        let mut bad = b64(p256dh);
        bad[64] ^= 1;
        assert_eq!(Receiver::parse(&B64.encode(bad), "BTBZMqHH6r4Tts7J_aSIgg").err(), Some(KeyError::P256dh));
    }

    #[test]
    fn a_message_over_one_record_is_refused() {
        let receiver = Receiver::parse(
            "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
            "BTBZMqHH6r4Tts7J_aSIgg",
        )
        .unwrap();
        assert!(encrypt(&receiver, &vec![b'x'; MAX_PLAINTEXT]).is_some());
        assert!(encrypt(&receiver, &vec![b'x'; MAX_PLAINTEXT + 1]).is_none());
    }

    #[test]
    fn vapid_token_names_the_origin_and_verifies() {
        use p256::ecdsa::VerifyingKey;
        use p256::ecdsa::signature::Verifier;
        let (vapid, private) = Vapid::generate("mailto:ops@example.org");
        let again = Vapid::from_private(&private, "mailto:ops@example.org").unwrap();
        assert_eq!(again.public_key(), vapid.public_key());
        let url = url::Url::parse("https://push.example.net:8443/wpush/v2/abc").unwrap();
        let header = vapid.authorization(&url, 1_700_000_000, 12 * 3600);
        let (t, k) = header.strip_prefix("vapid t=").unwrap().split_once(", k=").unwrap();
        assert_eq!(k, vapid.public_key());
        let (input, sig) = t.rsplit_once('.').unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&b64(input.split_once('.').unwrap().1)).unwrap();
        assert_eq!(claims["aud"], "https://push.example.net:8443");
        assert_eq!(claims["exp"], 1_700_000_000 + 12 * 3600);
        assert_eq!(claims["sub"], "mailto:ops@example.org");
        let key = VerifyingKey::from_sec1_bytes(&b64(k)).unwrap();
        let sig = Signature::from_slice(&b64(sig)).unwrap();
        assert!(key.verify(input.as_bytes(), &sig).is_ok());
        assert!(Vapid::from_private("not a key", "x").is_err());
    }
}
