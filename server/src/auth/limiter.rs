//! Failed logins, counted per client (its address) and per client and username over a sliding
//! window, so that guessing is slow for whoever guesses.
//!
//! - A guess at a username is counted *before* its password is checked
//!   ([`LoginLimiter::attempt`]), and taken back only when it was right: guesses at one account
//!   sent at once all count, none slips past the check.
//! - A client's count over all usernames takes its failures as they happen, so that many people
//!   behind one address (a carrier's NAT, an office) logging in at once are not held back by
//!   each other; a guesser sending at once to many accounts still gets at most five at each.
//! - Nothing is counted per username alone: someone guessing at a watch officer's password from
//!   one place never keeps the officer out from another.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failures of one client at one username.
const PER_CLIENT_AND_USERNAME: usize = 5;
/// Failures of one client at any usernames.
const PER_CLIENT: usize = 20;
/// Beyond this many tracked keys, stale ones are swept before adding more.
const SWEEP_ABOVE: usize = 50_000;

#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<Key, VecDeque<Instant>>>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Client(IpAddr),
    ClientAndUsername(IpAddr, String),
}

/// A login attempt, counted against its username already; dropped without
/// [`Attempt::succeeded`], it is a failure of its client too.
pub struct Attempt<'a> {
    limiter: &'a LoginLimiter,
    pair: Key,
    client: Key,
    succeeded: bool,
}

impl LoginLimiter {
    fn failures(&self) -> MutexGuard<'_, HashMap<Key, VecDeque<Instant>>> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts an attempt of `client` at `username`, in the same step as checking the limits:
    /// `Err(seconds to wait)` when the client is over either.
    pub fn attempt(&self, username: &str, client: IpAddr) -> Result<Attempt<'_>, u64> {
        let now = Instant::now();
        let pair = Key::ClientAndUsername(client, username.to_owned());
        let client = Key::Client(client);
        let keys = [(&pair, PER_CLIENT_AND_USERNAME), (&client, PER_CLIENT)];
        let mut failures = self.failures();
        if failures.len() > SWEEP_ABOVE {
            failures.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
        }
        let wait = keys
            .iter()
            .filter_map(|(key, limit)| {
                let times = failures.get(*key)?;
                let recent: Vec<&Instant> = times.iter().filter(|t| now.duration_since(**t) < WINDOW).collect();
                (recent.len() >= *limit)
                    .then(|| (WINDOW - now.duration_since(*recent[recent.len() - limit])).as_secs() + 1)
            })
            .max();
        if let Some(seconds) = wait {
            return Err(seconds);
        }
        record(&mut failures, &pair, PER_CLIENT_AND_USERNAME, now);
        drop(failures);
        Ok(Attempt {
            limiter: self,
            pair,
            client,
            succeeded: false,
        })
    }
}

fn record(failures: &mut HashMap<Key, VecDeque<Instant>>, key: &Key, limit: usize, now: Instant) {
    let times = failures.entry(key.clone()).or_default();
    times.push_back(now);
    while times.len() > limit || times.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
        times.pop_front();
    }
}

impl Attempt<'_> {
    /// The password was right: this attempt is no failure, and the client's count at this
    /// username starts again (not its count at others: one good account must not reset the
    /// count of guesses at the rest).
    pub fn succeeded(mut self) {
        self.succeeded = true;
        self.limiter.failures().remove(&self.pair);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.succeeded {
            record(&mut self.limiter.failures(), &self.client, PER_CLIENT, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_held_back_at_one_username_and_at_all_but_nobody_else_is() {
        let limiter = LoginLimiter::default();
        let (guesser, owner): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        for _ in 0..PER_CLIENT_AND_USERNAME {
            drop(limiter.attempt("amina", guesser).unwrap());
        }
        let wait = limiter.attempt("amina", guesser).err().expect("held back");
        assert!(wait > 0 && wait <= WINDOW.as_secs() + 1);
        // The owner, elsewhere, is not.
        limiter.attempt("amina", owner).unwrap().succeeded();
        // Twenty failures at any usernames hold the client back everywhere.
        for i in 0..PER_CLIENT - PER_CLIENT_AND_USERNAME {
            drop(limiter.attempt(&format!("user{i}"), guesser).unwrap());
        }
        assert!(limiter.attempt("someone-else", guesser).is_err());
        assert!(limiter.attempt("someone-else", owner).is_ok());
    }

    #[test]
    fn attempts_made_at_once_all_count_and_a_right_one_is_taken_back() {
        let limiter = LoginLimiter::default();
        let client: IpAddr = [10, 0, 0, 1].into();
        // Held open at once, as concurrent requests are: only the limit gets through.
        let open: Vec<Attempt> = (0..50).filter_map(|_| limiter.attempt("amina", client).ok()).collect();
        assert_eq!(open.len(), PER_CLIENT_AND_USERNAME);
        for attempt in open {
            attempt.succeeded();
        }
        assert!(
            limiter.attempt("amina", client).is_ok(),
            "right passwords are no failures"
        );
        // Many people behind one address, logging in at once, do not hold each other back.
        let crowd: Vec<Attempt> = (0..200)
            .filter_map(|i| limiter.attempt(&format!("person{i}"), client).ok())
            .collect();
        assert_eq!(crowd.len(), 200);
        crowd.into_iter().for_each(Attempt::succeeded);
    }
}
