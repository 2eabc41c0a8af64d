//! What an account's credentials must be, whoever creates the account (an
//! admin through the API, or the bootstrap at first start), and how its
//! password is kept: only as an Argon2 hash.

use argon2::{Argon2, PasswordHasher};

/// The shortest password an account may have.
pub const MIN_PASSWORD_LEN: usize = 10;

/// The characters an email address never holds around its `@` (the API
/// document's pattern names the same).
const NOT_IN_EMAIL: [char; 7] = ['@', ' ', '\t', '\n', '\r', '\u{c}', '\u{b}'];

/// One `@` between two non-empty parts without spaces, at most 254
/// characters (RFC 5321's path limit).
pub fn valid_email(email: &str) -> bool {
    let part = |p: &str| !p.is_empty() && !p.contains(NOT_IN_EMAIL);
    email.chars().count() <= 254 && email.split_once('@').is_some_and(|(local, domain)| part(local) && part(domain))
}

/// The password's Argon2 hash (PHC string), with Argon2's defaults and a
/// fresh salt. Slow on purpose: callers run it off the async workers.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string())
}
