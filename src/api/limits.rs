//! Login attempt limits, per account and per client address: a password
//! cannot be guessed at network speed. Failures are counted in a sliding
//! window; a success clears the account's count.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failed logins allowed per account in the window.
const PER_ACCOUNT: usize = 5;
/// Failed logins allowed per client address in the window (a care station
/// is shared by several carers).
const PER_ADDRESS: usize = 30;

#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

fn account_key(email: &str) -> String {
    format!("account:{}", email.trim().to_lowercase())
}

fn address_key(addr: IpAddr) -> String {
    format!("address:{addr}")
}

impl LoginLimiter {
    fn count(map: &mut HashMap<String, VecDeque<Instant>>, key: &str, now: Instant) -> usize {
        let Some(q) = map.get_mut(key) else { return 0 };
        while q.front().is_some_and(|t| now.duration_since(*t) > WINDOW) {
            q.pop_front();
        }
        q.len()
    }

    /// Whether another attempt may be made now.
    pub fn allowed(&self, email: &str, addr: Option<IpAddr>) -> bool {
        self.allowed_at(email, addr, Instant::now())
    }

    fn allowed_at(&self, email: &str, addr: Option<IpAddr>, now: Instant) -> bool {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let account_ok = Self::count(&mut map, &account_key(email), now) < PER_ACCOUNT;
        let address_ok = addr.is_none_or(|a| Self::count(&mut map, &address_key(a), now) < PER_ADDRESS);
        account_ok && address_ok
    }

    pub fn failed(&self, email: &str, addr: Option<IpAddr>) {
        self.failed_at(email, addr, Instant::now());
    }

    fn failed_at(&self, email: &str, addr: Option<IpAddr>, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded memory under a spray of distinct emails: forget the stale.
        if map.len() > 100_000 {
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) <= WINDOW));
        }
        map.entry(account_key(email)).or_default().push_back(now);
        if let Some(a) = addr {
            map.entry(address_key(a)).or_default().push_back(now);
        }
    }

    pub fn succeeded(&self, email: &str) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(&account_key(email));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_locked_after_repeated_failures_until_the_window_passes() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        for i in 0..PER_ACCOUNT {
            assert!(l.allowed_at("Mum@x.org", Some(ip), t0), "attempt {i}");
            l.failed_at("mum@x.org", Some(ip), t0);
        }
        assert!(!l.allowed_at("MUM@x.org", Some(ip), t0), "emails are case-insensitive");
        assert!(l.allowed_at("someone@x.org", Some(ip), t0), "other accounts are not locked");
        assert!(l.allowed_at("mum@x.org", Some(ip), t0 + WINDOW + Duration::from_secs(1)));
    }

    #[test]
    fn an_address_is_limited_across_accounts_and_success_clears_the_account() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        let ip: IpAddr = "10.9.9.9".parse().unwrap();
        for i in 0..PER_ADDRESS {
            l.failed_at(&format!("user{i}@x.org"), Some(ip), t0);
        }
        assert!(!l.allowed_at("fresh@x.org", Some(ip), t0));
        assert!(l.allowed_at("fresh@x.org", Some("10.0.0.1".parse().unwrap()), t0));
        l.failed_at("a@x.org", None, t0);
        l.succeeded("a@x.org");
        assert_eq!(LoginLimiter::count(&mut l.failures.lock().unwrap(), &account_key("a@x.org"), t0), 0);
    }
}
