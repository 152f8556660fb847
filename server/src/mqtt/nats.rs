//! An external NATS server as the phones' broker (`nats_url`): each login's MQTT password is a
//! JWT the hub signs for it (its own topics, until the token's expiry), so the broker stores
//! nothing per person and a login costs one signature; a logout revokes the login by pushing
//! the account JWT with the login's key in its revocation list, and the server closes its
//! connections. The broker side is `scaan_mobile_bridge::nats`.

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
    /// Revoked login keys → when (Unix seconds). An entry is needed for a token's lifetime at
    /// most: past it, the login's JWT has expired anyway.
    revocations: tokio::sync::Mutex<BTreeMap<String, i64>>,
    token_ttl_s: i64,
}

impl Nats {
    /// Reads the keys, pushes the account JWT with the revocations of every token revoked and
    /// not yet expired (those made while the hub was away too), and returns the hub's own MQTT
    /// login, for the link.
    pub async fn start(
        url: &BrokerUrl,
        keys_file: &Path,
        token_ttl_s: u64,
        store: &Store,
    ) -> anyhow::Result<(Nats, (String, String))> {
        let keys = Keys::read(keys_file)?;
        let system = SystemConnection::new(&url.host, url.port, keys.system_user_jwt());
        let revocations: BTreeMap<String, i64> = store
            .revoked_tokens(Utc::now())
            .await?
            .into_iter()
            .filter_map(|(hash, revoked_at)| {
                let hash: [u8; 32] = hash.try_into().ok()?;
                Some((nats::login_key(&hash), revoked_at.timestamp()))
            })
            .collect();
        let hub_login = ("scaan-hub".to_owned(), keys.hub_jwt());
        let nats = Nats {
            keys,
            system,
            revocations: tokio::sync::Mutex::new(revocations),
            token_ttl_s: i64::try_from(token_ttl_s).unwrap_or(i64::MAX),
        };
        let revoked = {
            let mut revocations = nats.revocations.lock().await;
            nats.push(&mut revocations).await?;
            revocations.len()
        };
        tracing::info!(nats = %format!("{}:{}", url.host, url.port), revoked, "signing logins for a NATS server");
        Ok((nats, hub_login))
    }

    /// `user`'s MQTT password for the login `token`, which expires at `expires_at`.
    pub fn password(&self, user: &User, token: &str, expires_at: DateTime<Utc>) -> String {
        let token_hash = crate::auth::token_hash(token);
        self.keys
            .login_jwt(user.id, &user.username, &token_hash, expires_at.timestamp())
    }

    /// The token with `token_hash` was revoked: its MQTT password is refused from now on and its
    /// connections close. A failure is logged (the token is revoked in the hub either way; the
    /// broker then admits the password until the token's expiry, or the next revocation pushed).
    pub async fn revoke(&self, username: &str, token_hash: &[u8; 32]) {
        // Held across the push: pushes go one at a time, so an older list never lands last.
        let mut revocations = self.revocations.lock().await;
        revocations.insert(nats::login_key(token_hash), Utc::now().timestamp());
        if let Err(e) = self.push(&mut revocations).await {
            tracing::warn!(
                username,
                error = format!("{e:#}"),
                "cannot revoke an MQTT login on the NATS server"
            );
        }
    }

    /// Drops the revocations whose logins have expired anyway, and pushes the account JWT.
    async fn push(&self, revocations: &mut BTreeMap<String, i64>) -> anyhow::Result<()> {
        let oldest_needed = Utc::now().timestamp().saturating_sub(self.token_ttl_s);
        revocations.retain(|_, revoked_at| *revoked_at >= oldest_needed);
        self.system.push(&self.keys.account_jwt(revocations)).await
    }
}
