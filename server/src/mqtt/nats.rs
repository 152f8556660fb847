//! An external NATS server as the phones' broker (`nats_url`): each login's MQTT password is a
//! JWT the hub signs for it (its own topics, until the token's expiry), so the broker stores
//! nothing per person and a login costs one signature; a token the hub revokes (a logout, a
//! disabled account, a password change) is revoked on the server by pushing the account JWT
//! with the login's key in its revocation list, and the server closes its connections. The
//! broker side is `scaan_mobile_bridge::nats`.
//!
//! The list pushed is read from the store each time, and only the node holding the broker link
//! pushes (`super::broker`; the others hear of each revocation and leave it to that node): the
//! whole JWT replaces the last, so a node pushing what it alone had seen would undo the
//! revocations of the others.

use chrono::{DateTime, Utc};
use scaan_mobile_bridge::nats::{self, Keys, SystemConnection};
use scaan_mobile_bridge::BrokerUrl;
use std::collections::BTreeMap;
use std::path::Path;

use crate::storage::Store;
use scaan_schemas::User;

/// The hub's keys and its system connection to the NATS server.
pub struct Nats {
    keys: Keys,
    system: SystemConnection,
    /// The revocations last pushed (login key → when revoked, Unix seconds); held across a
    /// push, so pushes go one at a time and an older list never lands last.
    pushed: tokio::sync::Mutex<Option<BTreeMap<String, i64>>>,
    token_ttl_s: i64,
    /// Where revoked tokens are read from.
    store: Store,
}

impl Nats {
    /// Reads the keys and returns the hub's own MQTT login, for the link (whose holder pushes
    /// the account JWT before it connects: [`Nats::push`]).
    pub fn start(
        url: &BrokerUrl,
        keys_file: &Path,
        token_ttl_s: u64,
        store: &Store,
    ) -> anyhow::Result<(Nats, (String, String))> {
        let keys = Keys::read(keys_file)?;
        let system = SystemConnection::new(&url.host, url.port, keys.system_user_jwt());
        let hub_login = ("scaan-hub".to_owned(), keys.hub_jwt());
        tracing::info!(nats = %format!("{}:{}", url.host, url.port), "signing logins for a NATS server");
        let nats = Nats {
            keys,
            system,
            pushed: tokio::sync::Mutex::new(None),
            token_ttl_s: i64::try_from(token_ttl_s).unwrap_or(i64::MAX),
            store: store.clone(),
        };
        Ok((nats, hub_login))
    }

    /// `user`'s MQTT password for the login `token`, which expires at `expires_at`.
    pub fn password(&self, user: &User, token: &str, expires_at: DateTime<Utc>) -> String {
        let token_hash = crate::auth::token_hash(token);
        self.keys
            .login_jwt(user.id, &user.username, &token_hash, expires_at.timestamp())
    }

    /// Revokes on the server every login whose token the hub holds revoked (`user`'s among
    /// them): its MQTT password is refused from now on and its connections close. A failure is
    /// logged (the token is revoked in the hub either way; the broker then admits the password
    /// until the token's expiry, or the next revocation pushed).
    pub async fn enforce(&self, user: &User) {
        if let Err(e) = self.push(false).await {
            tracing::warn!(
                username = %user.username,
                error = format!("{e:#}"),
                "cannot revoke an MQTT login on the NATS server"
            );
        }
    }

    /// Pushes the account JWT (JetStream enabled) with a revocation for every token the store
    /// holds revoked and not yet expired, whichever node revoked it; unless `always`, only when
    /// that differs from what was pushed last. Returns how many revocations it carries.
    pub async fn push(&self, always: bool) -> anyhow::Result<usize> {
        let mut pushed = self.pushed.lock().await;
        let mut revocations = revocations(&self.store).await?;
        let oldest_needed = Utc::now().timestamp().saturating_sub(self.token_ttl_s);
        revocations.retain(|_, revoked_at| *revoked_at >= oldest_needed);
        if !always && pushed.as_ref() == Some(&revocations) {
            return Ok(revocations.len());
        }
        self.system.push(&self.keys.account_jwt(&revocations)).await?;
        let count = revocations.len();
        *pushed = Some(revocations);
        Ok(count)
    }
}

/// The login keys of the tokens revoked and not yet expired, with when each was revoked (Unix
/// seconds).
async fn revocations(store: &Store) -> anyhow::Result<BTreeMap<String, i64>> {
    Ok(store
        .revoked_tokens(None, Utc::now())
        .await?
        .into_iter()
        .filter_map(|(hash, revoked_at)| {
            let hash: [u8; 32] = hash.try_into().ok()?;
            Some((nats::login_key(&hash), revoked_at.timestamp()))
        })
        .collect())
}
