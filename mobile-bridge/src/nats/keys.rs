//! The keys the hub holds for an external NATS broker in operator mode, kept in one file (the
//! seeds, secret) that `scaan nats init` writes: the operator's (it signs the account JWTs,
//! so the hub can revoke), the phones' account's (it signs each login's user JWT), the system
//! account's (it signs the hub's system user, which pushes the account JWT to the server).
//! From them come the server's configuration and every JWT the hub hands out.

use anyhow::{bail, Context as _};
use nkeys::{KeyPair, KeyPairType};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use uuid::Uuid;

use super::jwt::{self, Rights};

/// The account the phones and the hub's link share; its name in the JWT.
const ACCOUNT_NAME: &str = "scaan";
const SYSTEM_ACCOUNT_NAME: &str = "SYS";
/// The names of the hub's own users (their keys are derived, so that each start signs the same).
const HUB_USER: &str = "scaan-hub";
const SYSTEM_USER: &str = "scaan-hub-system";

/// The seeds, as the keys file holds them.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Seeds {
    operator: String,
    account: String,
    system_account: String,
}

/// The hub's NATS keys.
pub struct Keys {
    operator: KeyPair,
    account: KeyPair,
    system_account: KeyPair,
}

impl Keys {
    /// New random keys (`scaan nats init`, and the test broker).
    pub fn generate() -> Keys {
        Keys {
            operator: KeyPair::new_operator(),
            account: KeyPair::new_account(),
            system_account: KeyPair::new_account(),
        }
    }

    /// The keys file `path`: JSON `{"operator": "SO…", "account": "SA…", "system_account": "SA…"}`.
    pub fn read(path: &Path) -> anyhow::Result<Keys> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let seeds: Seeds =
            serde_json::from_str(&text).with_context(|| format!("{} is not a NATS keys file", path.display()))?;
        let seed = |seed: &str, kind: KeyPairType, what: &str| {
            let key = KeyPair::from_seed(seed).map_err(|e| anyhow::anyhow!("{}: {what}: {e}", path.display()))?;
            if key.key_pair_type() != kind {
                bail!("{}: {what} is not a seed of that kind", path.display());
            }
            Ok(key)
        };
        Ok(Keys {
            operator: seed(&seeds.operator, KeyPairType::Operator, "operator")?,
            account: seed(&seeds.account, KeyPairType::Account, "account")?,
            system_account: seed(&seeds.system_account, KeyPairType::Account, "system_account")?,
        })
    }

    /// The keys file's text (secret: it signs every credential).
    pub fn to_file(&self) -> String {
        let seed = |key: &KeyPair| key.seed().unwrap_or_default();
        let seeds = Seeds {
            operator: seed(&self.operator),
            account: seed(&self.account),
            system_account: seed(&self.system_account),
        };
        serde_json::to_string_pretty(&seeds).unwrap_or_default() + "\n"
    }

    /// What `nats-server`'s configuration needs to trust these keys (include it from the main
    /// file): the operator, the system account, and a `full` resolver in `resolver_dir`, which
    /// keeps the account JWT the hub pushes (and its revocations) across restarts.
    pub fn server_config(&self, resolver_dir: &Path) -> String {
        let system = self.system_account.public_key();
        format!(
            "# Written by `scaan nats init`: the trust the SCAAN hub's keys need.\n\
             operator: \"{}\"\n\
             system_account: {system}\n\
             resolver: {{\n  type: full\n  dir: \"{}\"\n  allow_delete: false\n}}\n\
             resolver_preload: {{\n  {system}: \"{}\"\n}}\n",
            jwt::operator(&self.operator, "scaan"),
            resolver_dir.display(),
            self.system_account_jwt(),
        )
    }

    pub fn account_key(&self) -> String {
        self.account.public_key()
    }

    /// The phones' account, with JetStream and `revocations`.
    pub fn account_jwt(&self, revocations: &BTreeMap<String, i64>) -> String {
        jwt::account(&self.operator, &self.account_key(), ACCOUNT_NAME, true, revocations)
    }

    fn system_account_jwt(&self) -> String {
        let key = self.system_account.public_key();
        jwt::account(&self.operator, &key, SYSTEM_ACCOUNT_NAME, false, &BTreeMap::new())
    }

    /// The hub's system user: it may push account JWTs (and nothing in the phones' account).
    pub fn system_user_jwt(&self) -> String {
        let rights = Rights {
            publish: vec!["$SYS.REQ.CLAIMS.UPDATE".to_owned()],
            subscribe: vec!["_INBOX.>".to_owned()],
        };
        jwt::user(
            &self.system_account,
            &derived_user_key(SYSTEM_USER.as_bytes()),
            SYSTEM_USER,
            &rights,
            None,
        )
    }

    /// The hub's link's MQTT password: a JWT with the hub's rights, until the account is re-keyed.
    pub fn hub_jwt(&self) -> String {
        jwt::user(
            &self.account,
            &derived_user_key(HUB_USER.as_bytes()),
            HUB_USER,
            &Rights::hub(),
            None,
        )
    }

    /// A login's MQTT password: a JWT for `username` with their own topics, until `expires_at`
    /// (the token's expiry, Unix seconds). Its user key is [`login_key`]`(token_hash)`.
    pub fn login_jwt(&self, user: Uuid, username: &str, token_hash: &[u8; 32], expires_at: i64) -> String {
        jwt::user(
            &self.account,
            &login_key(token_hash),
            username,
            &Rights::person(user),
            Some(expires_at),
        )
    }
}

/// New keys in `dir`: `nats-keys.json` (readable by its owner only) and `scaan-trust.conf`,
/// whose resolver keeps its JWTs in `resolver_dir`. Refuses to replace existing keys: every
/// credential and the broker's stored sessions hang on them.
pub fn init(dir: &Path, resolver_dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (keys_path, trust_path) = (dir.join("nats-keys.json"), dir.join("scaan-trust.conf"));
    let keys = Keys::generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&keys_path)
        .with_context(|| format!("cannot create {} (keys already there are kept)", keys_path.display()))?;
    file.write_all(keys.to_file().as_bytes())?;
    std::fs::write(&trust_path, keys.server_config(resolver_dir))?;
    Ok((keys_path, trust_path))
}

/// The user key of the login whose token hashes to `token_hash`: derived, so that the hub finds
/// it again at logout without keeping it. A bearer user's private key is never used, so the
/// derivation gives nothing away.
pub fn login_key(token_hash: &[u8; 32]) -> String {
    derived_user_key(token_hash)
}

fn derived_user_key(from: &[u8]) -> String {
    let seed: [u8; 32] = Sha256::new()
        .chain_update(b"scaan nats user\0")
        .chain_update(from)
        .finalize()
        .into();
    // A 32-byte seed always makes a key pair.
    KeyPair::new_from_raw(KeyPairType::User, seed)
        .map(|key| key.public_key())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_file_reads_back_and_refuses_a_seed_of_the_wrong_kind() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Keys::generate();
        let path = dir.path().join("nats-keys.json");
        std::fs::write(&path, keys.to_file()).unwrap();
        let read = Keys::read(&path).unwrap();
        assert_eq!(read.account_key(), keys.account_key());
        let swapped = keys
            .to_file()
            .replace(&keys.operator.seed().unwrap(), &keys.account.seed().unwrap());
        std::fs::write(&path, swapped).unwrap();
        assert!(Keys::read(&path).is_err());
    }

    #[test]
    fn a_login_key_is_its_tokens_alone() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        assert_eq!(login_key(&a), login_key(&a));
        assert_ne!(login_key(&a), login_key(&b));
        assert!(login_key(&a).starts_with('U'));
    }
}
