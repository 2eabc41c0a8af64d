//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP, HMAC-SHA1,
//! 30-second steps, 6 digits): the second factor authenticator apps speak.
//! Pure: a secret and a time in, codes out.

use hmac::{KeyInit, Mac};
use rand::RngExt;
use sha1::Sha1;

/// Seconds per step, as every authenticator app assumes.
const STEP: u64 = 30;
const DIGITS: u32 = 6;
/// Codes of the step before and after are accepted too: a phone's clock and
/// the time to type a code.
const DRIFT: u64 = 1;

/// A new random secret: 160 bits, the size RFC 4226 recommends.
pub fn new_secret() -> Vec<u8> {
    let bytes: [u8; 20] = rand::rng().random();
    bytes.to_vec()
}

/// The code of one time step.
fn code_at(secret: &[u8], step: u64) -> u32 {
    // HMAC accepts keys of any length; a failure here cannot happen.
    let Ok(mut mac) = <hmac::Hmac<Sha1> as KeyInit>::new_from_slice(secret) else { return u32::MAX };
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    // RFC 4226 dynamic truncation.
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let binary =
        u32::from_be_bytes([digest[offset] & 0x7f, digest[offset + 1], digest[offset + 2], digest[offset + 3]]);
    binary % 10u32.pow(DIGITS)
}

/// The time step a code given at `unix_seconds` matches, if it matches one
/// within the drift. The caller refuses a step already used, so a code
/// seen over a shoulder cannot be replayed.
pub fn verify(secret: &[u8], code: &str, unix_seconds: u64) -> Option<u64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let given: u32 = code.parse().ok()?;
    let now = unix_seconds / STEP;
    (now.saturating_sub(DRIFT)..=now + DRIFT).find(|step| code_at(secret, *step) == given)
}

/// RFC 4648 base32 without padding: how authenticator apps take a secret.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    for chunk in bytes.chunks(5) {
        let mut block = [0u8; 5];
        block[..chunk.len()].copy_from_slice(chunk);
        let bits = block.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let symbols = (chunk.len() * 8).div_ceil(5);
        for i in 0..symbols {
            let index = (bits >> (35 - i * 5)) & 0x1f;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

/// The `otpauth://` URI an authenticator app scans as a QR code.
pub fn otpauth_uri(secret: &[u8], account: &str) -> String {
    let account: String = percent_encoding::utf8_percent_encode(account, percent_encoding::NON_ALPHANUMERIC).collect();
    format!(
        "otpauth://totp/eldercare:{account}?secret={}&issuer=eldercare&algorithm=SHA1&digits={DIGITS}&period={STEP}",
        base32(secret)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1, truncated to our six digits.
    #[test]
    fn codes_match_the_rfc_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, eight_digits) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            let six = &eight_digits[2..];
            assert_eq!(format!("{:06}", code_at(secret, time / STEP)), six, "at {time}");
            assert_eq!(verify(secret, six, time), Some(time / STEP));
        }
    }

    #[test]
    fn a_code_holds_for_one_step_either_side_and_no_further() {
        let secret = b"12345678901234567890";
        let code = format!("{:06}", code_at(secret, 1000));
        assert_eq!(verify(secret, &code, 1000 * STEP), Some(1000));
        assert_eq!(verify(secret, &code, 1001 * STEP + 29), Some(1000));
        assert_eq!(verify(secret, &code, 999 * STEP), Some(1000));
        assert_eq!(verify(secret, &code, 1002 * STEP), None);
        assert_eq!(verify(secret, &code, 998 * STEP), None);
        assert_eq!(verify(secret, "12345", 1000 * STEP), None);
        assert_eq!(verify(secret, "abcdef", 1000 * STEP), None);
    }

    #[test]
    fn base32_is_rfc_4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"12345678901234567890"), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let uri = otpauth_uri(b"12345678901234567890", "ada@example.org");
        assert!(uri.starts_with("otpauth://totp/eldercare:ada%40example%2Eorg?secret=GEZDGNBV"), "{uri}");
    }
}
