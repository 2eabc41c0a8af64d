//! Password-guessing limits: failed attempts per account and per client
//! address in a sliding window, and a cap on concurrent password hashing.
//!
//! An attempt is reserved *before* the password is hashed and refunded only
//! when it succeeds, so a wave of parallel guesses is counted as it arrives
//! and gets no more tries than the same guesses one after another. A limit
//! is a delay, never a lock: once the oldest failure slides out of the
//! window, the next attempt is allowed. Attempts are counted in PostgreSQL,
//! so every `serve` process shares one budget and a restart gives none back.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::store::login_attempts;

const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failed attempts allowed per account in the window.
const PER_ACCOUNT: usize = 5;
/// Failed attempts allowed per client address in the window (a care station
/// is shared by several carers).
const PER_ADDRESS: usize = 30;
/// Every this many reservations, attempts older than the window are purged
/// (a spray of distinct emails leaves rows no later attempt looks at).
const PURGE_EVERY: u64 = 500;

pub struct LoginLimiter {
    pool: PgPool,
    reservations: AtomicU64,
}

/// A counted attempt; give it back with [`LoginLimiter::refund`] when the
/// attempt succeeded (or was never made).
#[must_use]
pub struct Reservation {
    ids: Vec<i64>,
}

/// The key of a login's account: emails are case-insensitive.
pub fn login_key(email: &str) -> String {
    format!("account:{}", email.trim().to_lowercase())
}

/// The key of an account's password change: counted apart from its logins.
pub fn password_change_key(user: uuid::Uuid) -> String {
    format!("password-change:{user}")
}

/// IPv6 clients count per /64 (see [`crate::net::counted_block`]).
fn address_key(addr: IpAddr) -> String {
    format!("address:{}", crate::net::counted_block(addr))
}

/// How long until one more attempt fits under every key, given each key's
/// newest attempts (newest first, at most its allowance) and its allowance:
/// zero when it fits now, otherwise whole seconds, at least one.
fn wait(counted: &[(Vec<DateTime<Utc>>, usize)], now: DateTime<Utc>) -> Duration {
    let mut wait = Duration::ZERO;
    for (attempts, max) in counted {
        if attempts.len() >= *max {
            // The attempt that must slide out before another fits.
            let oldest = attempts[*max - 1];
            let age = (now - oldest).to_std().unwrap_or(Duration::ZERO);
            wait = wait.max(WINDOW.saturating_sub(age));
        }
    }
    if wait.is_zero() { wait } else { Duration::from_secs(wait.as_secs_f64().ceil().max(1.0) as u64) }
}

/// Why an attempt may not be made now.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("too many attempts; retry after {0:?}")]
    Wait(Duration),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<Refused> for super::Error {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::Wait(retry_after) => super::Error::TooManyRequests { retry_after },
            Refused::Database(err) => err.into(),
        }
    }
}

impl LoginLimiter {
    pub fn new(pool: PgPool) -> Self {
        LoginLimiter { pool, reservations: AtomicU64::new(0) }
    }

    /// Counts an attempt on `account` from `addr`, or says how long until
    /// one is allowed.
    pub async fn reserve(&self, account: &str, addr: Option<IpAddr>) -> Result<Reservation, Refused> {
        let address = addr.map(address_key);
        let mut keys = vec![(account, PER_ACCOUNT)];
        keys.extend(address.as_deref().map(|a| (a, PER_ADDRESS)));
        let names: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
        let mut tx = self.pool.begin().await?;
        login_attempts::lock(&mut tx, &names).await?;
        let now = login_attempts::now(&mut tx).await?;
        let since = now - chrono::Duration::from_std(WINDOW).unwrap_or_default();
        let mut counted = Vec::with_capacity(keys.len());
        for (key, max) in &keys {
            counted.push((login_attempts::recent(&mut tx, key, since, *max as i64).await?, *max));
        }
        let wait = wait(&counted, now);
        if !wait.is_zero() {
            return Err(Refused::Wait(wait));
        }
        let ids = login_attempts::insert(&mut tx, &names, now).await?;
        if self.reservations.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1 {
            login_attempts::purge(&mut tx, since).await?;
        }
        tx.commit().await?;
        Ok(Reservation { ids })
    }

    /// Takes back an attempt that succeeded: a right password costs nothing.
    pub async fn refund(&self, reservation: Reservation) -> Result<(), sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        login_attempts::delete(&mut conn, &reservation.ids).await
    }
}

/// Password hashing is deliberately slow (argon2id, ~20 MB each): at most
/// `running` hash at once, and at most `waiting` more queue for a turn, so a
/// flood of logins neither starves the alarm path of CPU nor grows memory
/// without bound. Beyond the queue the answer is 503 at once.
pub struct HashingGate {
    running: Arc<Semaphore>,
    waiting: Arc<Semaphore>,
}

/// A turn to hash; hashing may run while it is held.
pub struct HashingPermit {
    _running: OwnedSemaphorePermit,
}

impl HashingGate {
    pub fn new(running: usize, waiting: usize) -> Self {
        HashingGate { running: Arc::new(Semaphore::new(running.max(1))), waiting: Arc::new(Semaphore::new(waiting)) }
    }

    /// One per core: hashing never takes more CPU than the machine has.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        HashingGate::new(cores, cores * 16)
    }

    /// A turn to hash, after waiting in the bounded queue; `None` when the
    /// queue is full.
    pub async fn enter(&self) -> Option<HashingPermit> {
        let queued = self.waiting.clone().try_acquire_owned().ok()?;
        let running = self.running.clone().acquire_owned().await.ok()?;
        drop(queued);
        Some(HashingPermit { _running: running })
    }
}

/// Live streams open at once, per user and in all: each holds a connection,
/// a task and a broadcast receiver for as long as the client stays.
pub struct StreamSlots {
    per_user: usize,
    total: usize,
    open: Mutex<HashMap<uuid::Uuid, usize>>,
}

/// One open stream; its place is given back when dropped.
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    user: uuid::Uuid,
}

/// Why a stream was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamsFull {
    User,
    Total,
}

impl StreamSlots {
    pub fn new(per_user: usize, total: usize) -> Self {
        StreamSlots { per_user, total, open: Mutex::default() }
    }

    pub fn open(self: &Arc<Self>, user: uuid::Uuid) -> Result<StreamSlot, StreamsFull> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.values().sum::<usize>() >= self.total {
            return Err(StreamsFull::Total);
        }
        let mine = open.entry(user).or_default();
        if *mine >= self.per_user {
            return Err(StreamsFull::User);
        }
        *mine += 1;
        Ok(StreamSlot { slots: self.clone(), user })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn an_attempt_waits_until_the_oldest_counted_one_slides_out() {
        let five: Vec<DateTime<Utc>> = (0..5).rev().map(at).collect();
        assert_eq!(wait(&[(five.clone(), 5)], at(10)), WINDOW - Duration::from_secs(10));
        assert_eq!(wait(&[(five[..4].to_vec(), 5)], at(10)), Duration::ZERO, "one try left");
        assert_eq!(wait(&[(five.clone(), 5)], at(900)), Duration::ZERO, "the first slid out");
        assert_eq!(wait(&[(five.clone(), 5)], at(899)), Duration::from_secs(1));
    }

    #[test]
    fn the_longest_wait_of_all_keys_is_the_answer_in_whole_seconds() {
        let account: Vec<DateTime<Utc>> = (0..5).rev().map(|s| at(s * 100)).collect();
        let address: Vec<DateTime<Utc>> = vec![at(1); 30];
        let w = wait(&[(account, 5), (address, 30)], at(400));
        assert_eq!(w, WINDOW - Duration::from_secs(399), "the address's oldest is older than the account's");
        let instant = DateTime::from_timestamp(1_800_000_000, 500_000_000).unwrap();
        assert_eq!(wait(&[(vec![instant], 1)], at(900)), Duration::from_secs(1), "never zero while refused");
    }

    #[test]
    fn keys_name_their_kind_and_ipv6_counts_per_64() {
        assert_eq!(login_key(" Mum@X.org "), "account:mum@x.org");
        let a: IpAddr = "2001:db8:5:6:1::1".parse().unwrap();
        let b: IpAddr = "2001:db8:5:6:ffff:1:2:3".parse().unwrap();
        let c: IpAddr = "2001:db8:5:7::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
    }

    #[test]
    fn streams_are_capped_per_user_and_in_all() {
        let slots = Arc::new(StreamSlots::new(2, 3));
        let (a, b) = (uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2));
        let a1 = slots.open(a).unwrap();
        let _a2 = slots.open(a).unwrap();
        assert_eq!(slots.open(a).err(), Some(StreamsFull::User));
        let _b1 = slots.open(b).unwrap();
        assert_eq!(slots.open(b).err(), Some(StreamsFull::Total));
        drop(a1);
        assert!(slots.open(a).is_ok(), "a closed stream gives its place back");
    }

    #[tokio::test]
    async fn the_hashing_queue_is_bounded() {
        let gate = HashingGate::new(1, 1);
        let first = gate.enter().await.unwrap();
        let gate = Arc::new(gate);
        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter().await.is_some() }
        });
        // The queued one holds the only waiting place until it runs.
        while gate.waiting.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        assert!(gate.enter().await.is_none(), "the queue is full");
        drop(first);
        assert!(waiting.await.unwrap(), "the queued one gets its turn");
    }
}

/// Requests per client address in a sliding minute, for what anyone may
/// call without logging in (open data): a token bucket per address,
/// refilled continuously; addresses unseen for a while are forgotten.
pub struct AddressLimiter {
    per_minute: f64,
    buckets: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, (f64, std::time::Instant)>>,
}

impl AddressLimiter {
    pub fn new(per_minute: u32) -> Self {
        AddressLimiter { per_minute: f64::from(per_minute.max(1)), buckets: Default::default() }
    }

    /// Takes one request's token for `addr`, or says how long until one is
    /// there. An unknown address (no peer recorded) shares one bucket.
    pub fn take(&self, addr: Option<std::net::IpAddr>, now: std::time::Instant) -> Result<(), std::time::Duration> {
        let addr = addr.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() > 10_000 {
            let full = std::time::Duration::from_secs(60);
            buckets.retain(|_, (_, at)| now.duration_since(*at) < full);
        }
        let (tokens, at) = buckets.entry(addr).or_insert((self.per_minute, now));
        let refilled = (*tokens + now.duration_since(*at).as_secs_f64() * self.per_minute / 60.0).min(self.per_minute);
        *at = now;
        if refilled >= 1.0 {
            *tokens = refilled - 1.0;
            Ok(())
        } else {
            *tokens = refilled;
            Err(std::time::Duration::from_secs_f64((1.0 - refilled) * 60.0 / self.per_minute))
        }
    }
}

#[cfg(test)]
mod address_tests {
    use super::AddressLimiter;
    use std::time::{Duration, Instant};

    #[test]
    fn each_address_has_its_minute_of_requests_and_earns_them_back() {
        let limiter = AddressLimiter::new(3);
        let (a, b) = (Some("10.0.0.1".parse().unwrap()), Some("10.0.0.2".parse().unwrap()));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.take(a, t0).is_ok());
        }
        let wait = limiter.take(a, t0).expect_err("the fourth in the minute");
        assert_eq!(wait, Duration::from_secs(20));
        assert!(limiter.take(b, t0).is_ok(), "another address has its own");
        assert!(limiter.take(a, t0 + Duration::from_secs(20)).is_ok(), "a third of a minute later, one more");
        assert!(limiter.take(a, t0 + Duration::from_secs(21)).is_err());
    }
}
