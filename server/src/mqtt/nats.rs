//! An external NATS server as the phones' broker (`nats_url`): each login's MQTT password is a
//! JWT the hub signs for it (its own topics, until the token's expiry), so the broker stores
//! nothing per person and a login costs one signature; a token the hub revokes (a logout, a
//! disabled account, a password change) is revoked on the server by pushing the account JWT
//! with the login's key in its revocation list, and the server closes its connections. The
//! broker side is `scaan_mobile_bridge::nats`.

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
    /// Where revoked tokens are read from.
    store: Store,
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
        let revocations = revocations(store, None).await?;
        let hub_login = ("scaan-hub".to_owned(), keys.hub_jwt());
        let nats = Nats {
            keys,
            system,
            revocations: tokio::sync::Mutex::new(revocations),
            token_ttl_s: i64::try_from(token_ttl_s).unwrap_or(i64::MAX),
            store: store.clone(),
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

    /// Revokes on the server every login of `user` whose token the hub holds revoked: its MQTT
    /// password is refused from now on and its connections close. A failure is logged (the
    /// token is revoked in the hub either way; the broker then admits the password until the
    /// token's expiry, or the next revocation pushed).
    pub async fn enforce(&self, user: &User) {
        let revoked = match revocations(&self.store, Some(user.id)).await {
            Ok(revoked) => revoked,
            Err(e) => {
                return tracing::warn!(username = %user.username, error = format!("{e:#}"), "cannot read revoked tokens")
            }
        };
        // Held across the push: pushes go one at a time, so an older list never lands last.
        let mut revocations = self.revocations.lock().await;
        let known = revocations.len();
        for (key, at) in revoked {
            revocations.entry(key).or_insert(at);
        }
        if revocations.len() == known {
            return;
        }
        if let Err(e) = self.push(&mut revocations).await {
            tracing::warn!(
                username = %user.username,
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

/// The login keys of the tokens revoked and not yet expired (of `user`, or everyone's), with
/// when each was revoked (Unix seconds).
async fn revocations(store: &Store, user: Option<uuid::Uuid>) -> anyhow::Result<BTreeMap<String, i64>> {
    Ok(store
        .revoked_tokens(user, Utc::now())
        .await?
        .into_iter()
        .filter_map(|(hash, revoked_at)| {
            let hash: [u8; 32] = hash.try_into().ok()?;
            Some((nats::login_key(&hash), revoked_at.timestamp()))
        })
        .collect())
}
