//! Keeping an external Mosquitto's dynamic-security plugin in step with the hub's tokens, when
//! the hub has its admin login (`mqtt_admin_username`): the hub's own broker login at start,
//! a person's at login, its removal when its token is revoked (logout, password, disabled
//! account) or expires, and at start the removal of logins
//! whose token was revoked while the hub was away. The broker side is
//! `scaan_mobile_bridge::dynsec`.

use chrono::{DateTime, Utc};
use scaan_mobile_bridge::dynsec::{Grant, Provisioner};
use scaan_mobile_bridge::BrokerUrl;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::storage::Store;
use scaan_schemas::User;

/// How long a login waits for the broker to hold the new token. A phone connects right after
/// logging in, so the login waits; but a slow or unreachable broker must not hold HTTP logins
/// up: past this the grant carries on in the background.
const GRANT_WAIT: Duration = Duration::from_secs(5);

/// The hub's admin connection to Mosquitto.
pub struct Provisioning {
    provisioner: Arc<Provisioner>,
    tasks: TaskTracker,
}

impl Provisioning {
    /// Connects as the admin, makes the hub's own broker login (returned, for the link), removes
    /// the logins whose token is no longer valid in `store`, and starts the expiry sweep on
    /// `tasks` until `shutdown`.
    pub async fn start(
        broker: &BrokerUrl,
        (admin_username, admin_password): (&str, &str),
        store: &Store,
        shutdown: &CancellationToken,
        tasks: &TaskTracker,
    ) -> anyhow::Result<(Provisioning, (String, String))> {
        let provisioner = Provisioner::connect(&broker.host, broker.port, admin_username, admin_password).await?;
        let provisioner = Arc::new(provisioner);
        let hub_login = provisioner.provision_hub().await?;
        let now = Utc::now();
        let mut removed = 0;
        for grant in provisioner.grants().await {
            let valid = store
                .token_user(&grant.token_hash, now)
                .await?
                .is_some_and(|(user, _)| user.id == grant.user_id && user.username == grant.username);
            if !valid {
                provisioner.revoke(&grant.username, &grant.token_hash).await?;
                removed += 1;
            }
        }
        tracing::info!(
            broker = %format!("{}:{}", broker.host, broker.port),
            removed,
            "provisioning Mosquitto's dynamic security"
        );
        let sweeping = provisioner.clone();
        let stop = shutdown.clone();
        // The sweep ends with the provisioner, which stops after the hub's tasks: end it with them.
        tasks.spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = sweeping.sweep_expired() => {}
            }
        });
        let provisioning = Provisioning {
            provisioner,
            tasks: tasks.clone(),
        };
        Ok((provisioning, hub_login))
    }

    /// `token` was just issued to `user`: it becomes their broker password. A failure is logged,
    /// not returned: the login stands, and works over HTTP and the WebSocket.
    pub async fn token_issued(&self, user: &User, token: &str, expires_at: DateTime<Utc>) {
        let grant = Grant::new(
            &user.username,
            user.id,
            crate::auth::token_hash(token),
            expires_at.into(),
        );
        let provisioner = self.provisioner.clone();
        let token = token.to_owned();
        let granting = self.tasks.spawn(async move {
            if let Err(e) = provisioner.grant(&grant, &token).await {
                tracing::warn!(username = %grant.username, error = format!("{e:#}"),
                    "cannot give a login its MQTT access on Mosquitto");
            }
        });
        if tokio::time::timeout(GRANT_WAIT, granting).await.is_err() {
            tracing::warn!(username = %user.username, "Mosquitto is slow to take a login; it carries on in the background");
        }
    }

    /// `user`'s live tokens are `valid`: a broker login of theirs whose token is not goes
    /// (Mosquitto drops its connection and refuses the token). A failure is logged (the token
    /// is revoked in the hub either way; the broker's login then lasts until the token's
    /// expiry, or the hub's next start).
    pub async fn enforce(&self, user: &User, valid: &HashSet<[u8; 32]>) {
        let stale = self.provisioner.grants().await.into_iter();
        for grant in stale.filter(|g| g.user_id == user.id && !valid.contains(&g.token_hash)) {
            if let Err(e) = self.provisioner.revoke(&grant.username, &grant.token_hash).await {
                tracing::warn!(
                    username = %grant.username,
                    error = format!("{e:#}"),
                    "cannot remove an MQTT login from Mosquitto"
                );
            }
        }
    }

    /// Disconnects from the broker (after the hub's tasks have stopped).
    pub async fn stop(&self) {
        self.provisioner.shutdown().await;
    }
}
