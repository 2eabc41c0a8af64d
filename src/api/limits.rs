//! Password-guessing limits: failed attempts per account and per client
//! address in a sliding window, and a cap on concurrent password hashing.
//!
//! An attempt is reserved *before* the password is hashed and refunded only
//! when it succeeds, so a wave of parallel guesses is counted as it arrives
//! and gets no more tries than the same guesses one after another. A limit
//! is a delay, never a lock: once the oldest failure slides out of the
//! window, the next attempt is allowed.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failed attempts allowed per account in the window.
const PER_ACCOUNT: usize = 5;
/// Failed attempts allowed per client address in the window (a care station
/// is shared by several carers).
const PER_ADDRESS: usize = 30;
/// Beyond this many tracked keys, stale ones are dropped: memory stays
/// bounded under a spray of distinct emails.
const MAX_KEYS: usize = 100_000;

#[derive(Default)]
pub struct LoginLimiter {
    attempts: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// A counted attempt; give it back with [`LoginLimiter::refund`] when the
/// attempt succeeded (or was never made).
#[must_use]
pub struct Reservation {
    keys: Vec<String>,
    at: Instant,
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

/// The live attempts under `key` at `now`, the expired ones dropped.
fn live<'a>(map: &'a mut HashMap<String, VecDeque<Instant>>, key: &str, now: Instant) -> Option<&'a VecDeque<Instant>> {
    let q = map.get_mut(key)?;
    while q.front().is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW) {
        q.pop_front();
    }
    Some(q)
}

impl LoginLimiter {
    /// Counts an attempt on `account` from `addr`, or says how long until
    /// one is allowed (whole seconds, at least one).
    pub fn reserve(&self, account: &str, addr: Option<IpAddr>) -> Result<Reservation, Duration> {
        self.reserve_at(account, addr, Instant::now())
    }

    fn reserve_at(&self, account: &str, addr: Option<IpAddr>, now: Instant) -> Result<Reservation, Duration> {
        let mut keys = vec![(account.to_owned(), PER_ACCOUNT)];
        keys.extend(addr.map(|a| (address_key(a), PER_ADDRESS)));
        let mut map = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = Duration::ZERO;
        for (key, max) in &keys {
            if let Some(q) = live(&mut map, key, now)
                && q.len() >= *max
            {
                // The attempt that must slide out before another fits.
                let oldest = q[q.len() - max];
                wait = wait.max(WINDOW.saturating_sub(now.saturating_duration_since(oldest)));
            }
        }
        if !wait.is_zero() {
            return Err(Duration::from_secs(wait.as_secs_f64().ceil().max(1.0) as u64));
        }
        if map.len() > MAX_KEYS {
            map.retain(|_, q| q.back().is_some_and(|t| now.saturating_duration_since(*t) < WINDOW));
        }
        for (key, _) in &keys {
            map.entry(key.clone()).or_default().push_back(now);
        }
        Ok(Reservation { keys: keys.into_iter().map(|(k, _)| k).collect(), at: now })
    }

    /// Takes back an attempt that succeeded: a right password costs nothing.
    pub fn refund(&self, reservation: Reservation) {
        let mut map = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        for key in reservation.keys {
            if let Some(q) = map.get_mut(&key) {
                if let Some(i) = q.iter().position(|t| *t == reservation.at) {
                    q.remove(i);
                }
                if q.is_empty() {
                    map.remove(&key);
                }
            }
        }
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

    #[test]
    fn an_account_waits_after_repeated_failures_until_the_window_slides() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        for i in 0..PER_ACCOUNT {
            let at = t0 + Duration::from_secs(i as u64);
            assert!(l.reserve_at(&login_key("Mum@x.org"), Some(ip), at).is_ok(), "attempt {i}");
        }
        let wait = l.reserve_at(&login_key("MUM@x.org"), Some(ip), t0 + Duration::from_secs(10)).err();
        assert_eq!(wait, Some(WINDOW - Duration::from_secs(10)), "emails are case-insensitive");
        assert!(l.reserve_at(&login_key("someone@x.org"), Some(ip), t0).is_ok(), "other accounts are not limited");
        assert!(l.reserve_at(&login_key("mum@x.org"), Some(ip), t0 + WINDOW).is_ok(), "the first slid out");
        assert!(l.reserve_at(&login_key("mum@x.org"), Some(ip), t0 + WINDOW).is_err(), "but only the first");
    }

    #[test]
    fn an_address_is_limited_across_accounts_and_a_refund_gives_the_attempt_back() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        let ip: IpAddr = "10.9.9.9".parse().unwrap();
        for i in 0..PER_ADDRESS {
            assert!(l.reserve_at(&login_key(&format!("user{i}@x.org")), Some(ip), t0).is_ok());
        }
        assert!(l.reserve_at(&login_key("fresh@x.org"), Some(ip), t0).is_err());
        assert!(l.reserve_at(&login_key("fresh@x.org"), Some("10.0.0.1".parse().unwrap()), t0).is_ok());

        for _ in 0..PER_ACCOUNT - 1 {
            assert!(l.reserve_at(&login_key("a@x.org"), None, t0).is_ok());
        }
        let last = l.reserve_at(&login_key("a@x.org"), None, t0).ok().unwrap();
        assert!(l.reserve_at(&login_key("a@x.org"), None, t0).is_err());
        l.refund(last);
        assert!(l.reserve_at(&login_key("a@x.org"), None, t0).is_ok(), "the refunded attempt is free again");
    }

    #[test]
    fn an_ipv6_client_is_limited_per_64_whatever_address_it_takes() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        for i in 0..PER_ADDRESS {
            let ip: IpAddr = format!("2001:db8:5:6:{i:x}::1").parse().unwrap();
            assert!(l.reserve_at(&login_key(&format!("u{i}@x.org")), Some(ip), t0).is_ok());
        }
        let same_64: IpAddr = "2001:db8:5:6:ffff:1:2:3".parse().unwrap();
        assert!(l.reserve_at(&login_key("fresh@x.org"), Some(same_64), t0).is_err());
        let next_64: IpAddr = "2001:db8:5:7::1".parse().unwrap();
        assert!(l.reserve_at(&login_key("fresh@x.org"), Some(next_64), t0).is_ok());
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
