//! Failed logins, counted per username and per address over a sliding window, so that
//! guessing a password is slow whichever of the two an attacker varies.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(15 * 60);
const PER_USERNAME: usize = 5;
const PER_ADDRESS: usize = 20;
/// Beyond this many tracked keys, stale ones are swept before adding more.
const SWEEP_ABOVE: usize = 50_000;

#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<Key, VecDeque<Instant>>>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Username(String),
    Address(IpAddr),
}

impl LoginLimiter {
    /// `Err(seconds to wait)` while either the username or the address is locked out.
    pub fn check(&self, username: &str, address: IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let wait = |key: Key, limit: usize| {
            let times = map.get(&key)?;
            let recent: Vec<&Instant> = times.iter().filter(|t| now.duration_since(**t) < WINDOW).collect();
            (recent.len() >= limit).then(|| (WINDOW - now.duration_since(*recent[recent.len() - limit])).as_secs() + 1)
        };
        match wait(Key::Username(username.to_owned()), PER_USERNAME).max(wait(Key::Address(address), PER_ADDRESS)) {
            Some(seconds) => Err(seconds),
            None => Ok(()),
        }
    }

    pub fn failed(&self, username: &str, address: IpAddr) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > SWEEP_ABOVE {
            map.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
        }
        for (key, limit) in [
            (Key::Username(username.to_owned()), PER_USERNAME),
            (Key::Address(address), PER_ADDRESS),
        ] {
            let times = map.entry(key).or_default();
            times.push_back(now);
            while times.len() > limit || times.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
                times.pop_front();
            }
        }
    }

    /// A correct password clears the username's count (not the address's: one good account
    /// must not reset the count of guesses at others).
    pub fn succeeded(&self, username: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&Key::Username(username.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_a_username_and_twenty_an_address() {
        let limiter = LoginLimiter::default();
        let a: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..PER_USERNAME {
            assert!(limiter.check("amina", a).is_ok());
            limiter.failed("amina", a);
        }
        let wait = limiter.check("amina", a).unwrap_err();
        assert!(wait > 0 && wait <= WINDOW.as_secs() + 1);
        assert!(limiter.check("bilal", [10, 0, 0, 2].into()).is_ok());
        for i in 0..PER_ADDRESS {
            limiter.failed(&format!("user{i}"), [10, 0, 0, 3].into());
        }
        assert!(limiter.check("someone-else", [10, 0, 0, 3].into()).is_err());
        limiter.succeeded("amina");
        assert!(limiter.check("amina", [10, 0, 0, 9].into()).is_ok());
    }
}
