//! Argon2id password hashes. Hashing is deliberately slow, so it runs off the async workers, and
//! deliberately memory-hard (19 MiB a check), so the hub checks logins on a few threads of their
//! own ([`PasswordChecks`]), each with its argon2 memory allocated once and reused: a crowd of
//! logins waits its turn instead of taking the hub's memory. (Left to argon2, each check
//! allocates and frees 19 MiB, and glibc's adaptive mmap threshold then keeps every such block
//! in its heap: the hub grew by 19 MiB a login, 423 MiB over 200 logins with four checks at a
//! time.)

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, SaltString};
use argon2::Argon2;
use std::sync::LazyLock;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Password checks at once: about 19 MiB each (argon2's default), so 4 hold under 80 MiB, and two
/// cores are kept busy.
const CHECKS_AT_ONCE: usize = 4;
/// How long a login waits for its turn before it is told to come back (503, `Retry-After`).
const TURN_WAIT: Duration = Duration::from_secs(10);

/// A hash to verify against when the username is unknown, so that both cases take as long.
static DECOY: LazyLock<String> = LazyLock::new(|| hash_now("decoy password, never matches"));

fn hash_now(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes")
        .to_string()
}

pub async fn hash_password(password: String) -> anyhow::Result<String> {
    Ok(tokio::task::spawn_blocking(move || hash_now(&password)).await?)
}

/// The hub's password checks: [`CHECKS_AT_ONCE`] threads, and a turn to wait for.
pub struct PasswordChecks {
    turns: Semaphore,
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Check>>,
}

/// One check for a checking thread: the password, the hash (none: the decoy), the answer.
type Check = (
    String,
    Option<String>,
    tokio::sync::oneshot::Sender<anyhow::Result<bool>>,
);

impl Default for PasswordChecks {
    fn default() -> Self {
        let (jobs, queue) = std::sync::mpsc::channel::<Check>();
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        for n in 0..CHECKS_AT_ONCE {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("scaan-passwords-{n}"))
                .spawn(move || {
                    let mut memory = Vec::new();
                    loop {
                        // Ends when the hub (the sender) is gone.
                        let Ok((password, hash, answer)) = queue.lock().unwrap_or_else(|e| e.into_inner()).recv()
                        else {
                            return;
                        };
                        let _ = answer.send(check(&password, hash, &mut memory));
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password-checking thread");
            }
        }
        PasswordChecks {
            turns: Semaphore::new(CHECKS_AT_ONCE),
            jobs: std::sync::Mutex::new(jobs),
        }
    }
}

/// Checked whether or not the account exists: the time must not tell. `memory` is the thread's
/// argon2 working memory, grown to the hash's cost once and reused.
fn check(password: &str, hash: Option<String>, memory: &mut Vec<argon2::Block>) -> anyhow::Result<bool> {
    let known = hash.is_some();
    let hash = hash.unwrap_or_else(|| DECOY.clone());
    let unreadable = |e: &dyn std::fmt::Display| anyhow::anyhow!("stored password hash is unreadable: {e}");
    let parsed = PasswordHash::new(&hash).map_err(|e| unreadable(&e))?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(unreadable(&"no salt or no hash"));
    };
    let algorithm = argon2::Algorithm::try_from(parsed.algorithm).map_err(|e| unreadable(&e))?;
    let version = parsed
        .version
        .map(argon2::Version::try_from)
        .transpose()
        .map_err(|e| unreadable(&e))?
        .unwrap_or_default();
    let params = argon2::Params::try_from(&parsed).map_err(|e| unreadable(&e))?;
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, argon2::Block::default());
    }
    let mut salt_bytes = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_bytes).map_err(|e| unreadable(&e))?;
    let mut computed = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut computed, &mut memory[..blocks])
        .map_err(|e| unreadable(&e))?;
    // `Output`'s comparison takes the same time wherever the bytes differ.
    let matched = argon2::password_hash::Output::new(&computed).is_ok_and(|computed| computed == expected);
    Ok(known && matched)
}

/// No turn came within [`TURN_WAIT`]: try again in this many seconds.
#[derive(Debug)]
pub struct Busy {
    pub retry_after_s: u64,
}

impl PasswordChecks {
    /// Checks `password` against `hash`, or against a decoy when there is no account, so that
    /// an unknown username costs the same time as a known one.
    pub async fn verify(&self, password: String, hash: Option<String>) -> anyhow::Result<Result<bool, Busy>> {
        let Ok(Ok(_turn)) = tokio::time::timeout(TURN_WAIT, self.turns.acquire()).await else {
            return Ok(Err(Busy { retry_after_s: 5 }));
        };
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send((password, hash, answer))
            .map_err(|_| anyhow::anyhow!("the password-checking threads have stopped"))?;
        let matched = answered
            .await
            .map_err(|_| anyhow::anyhow!("a password-checking thread failed"))??;
        Ok(Ok(matched))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reused_memory_checks_what_argon2_hashed() {
        let hash = hash_now("a long passphrase");
        let mut memory = Vec::new();
        assert!(check("a long passphrase", Some(hash.clone()), &mut memory).unwrap());
        assert!(!check("a long passphrase!", Some(hash.clone()), &mut memory).unwrap());
        assert!(
            !check("a long passphrase", None, &mut memory).unwrap(),
            "the decoy never matches"
        );
        assert!(
            check("a long passphrase", Some(hash), &mut memory).unwrap(),
            "reused memory works"
        );
        assert!(check("x", Some("not a hash".into()), &mut memory).is_err());
    }
}
