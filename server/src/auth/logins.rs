//! Logins: a username and password exchanged for a bearer token (and, on an external broker,
//! the phone's MQTT login), logging out, and checking one's password again before changing it.
//!
//! Owns: the login throttle ([`LoginLimiter`]) and the bounded password checks
//! ([`PasswordChecks`]). Uses: the MQTT side (a token's broker login) and [`AccountFollower`]
//! (what a logout ends: the token's streams and MQTT connections).

use axum::extract::FromRef;
use axum::http::HeaderMap;
use chrono::{Duration, Utc};
use prometheus_client::metrics::counter::Counter;
use scaan_schemas::{Invalid, LoginRequest, LoginResponse};
use std::net::IpAddr;
use std::sync::Arc;

use super::{client_address, new_token, token_hash, Busy, Caller, LoginLimiter, PasswordChecks};
use crate::error::ApiError;
use crate::hub::Hub;
use crate::lifecycle::AccountFollower;
use crate::mqtt::Mqtt;
use crate::storage::{Store, StoreError};

/// Logging in and out.
#[derive(Clone)]
pub struct Logins {
    store: Store,
    limiter: Arc<LoginLimiter>,
    passwords: Arc<PasswordChecks>,
    mqtt: Arc<Mqtt>,
    follower: AccountFollower,
    /// How long a token lives (`token_ttl_s`).
    token_ttl: Duration,
    /// Proxies whose `X-Forwarded-For` names the client (`trusted_proxies`).
    trusted_proxies: Arc<[IpAddr]>,
    /// Wrong passwords (the `failed_logins` metric) and attempts refused by the throttle
    /// (`throttled_logins`).
    failed: Counter,
    throttled: Counter,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("wrong username or password")]
    WrongPassword,
    /// Changing one's password: the current one given is not it.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("too many failed attempts; try again in {retry_after_s} s")]
    TooManyAttempts { retry_after_s: u64 },
    #[error("the hub is busy; try again in {retry_after_s} s")]
    Busy { retry_after_s: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A password check failed to run.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<LoginError> for ApiError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::WrongPassword => ApiError::Unauthenticated("wrong username or password"),
            LoginError::Invalid(e) => e.into(),
            LoginError::TooManyAttempts { retry_after_s } => ApiError::TooManyAttempts { retry_after_s },
            LoginError::Busy { retry_after_s } => ApiError::Busy { retry_after_s },
            LoginError::Store(e) => e.into(),
            LoginError::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl From<Busy> for LoginError {
    fn from(Busy { retry_after_s }: Busy) -> Self {
        LoginError::Busy { retry_after_s }
    }
}

impl FromRef<Arc<Hub>> for Logins {
    fn from_ref(hub: &Arc<Hub>) -> Self {
        hub.logins.clone()
    }
}

impl Logins {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        mqtt: Arc<Mqtt>,
        follower: AccountFollower,
        token_ttl: Duration,
        trusted_proxies: &[IpAddr],
        failed: Counter,
        throttled: Counter,
    ) -> Logins {
        Logins {
            store,
            limiter: Arc::default(),
            passwords: Arc::default(),
            mqtt,
            follower,
            token_ttl,
            trusted_proxies: trusted_proxies.into(),
            failed,
            throttled,
        }
    }

    /// Exchanges a username and password, from the client at `peer` (or the one a trusted
    /// proxy names in `headers`), for a token.
    pub async fn login(
        &self,
        peer: IpAddr,
        headers: &HeaderMap,
        body: LoginRequest,
    ) -> Result<LoginResponse, LoginError> {
        let client = client_address(peer, headers, &self.trusted_proxies);
        // Counted as a failure from here on, unless the password turns out right.
        let attempt = self.limiter.attempt(&body.username, client).map_err(|retry_after_s| {
            self.throttled.inc();
            LoginError::TooManyAttempts { retry_after_s }
        })?;
        let account = self.store.credentials(&body.username).await?;
        let (user, hash) = account.map(|(u, h)| (Some(u), Some(h))).unwrap_or((None, None));
        let matched = self.passwords.verify(body.password, hash).await??;
        let user = match (matched, user) {
            (true, Some(user)) => user,
            _ => {
                self.failed.inc();
                return Err(LoginError::WrongPassword);
            }
        };
        attempt.succeeded();
        let token = new_token();
        let now = Utc::now();
        let expires_at = now + self.token_ttl;
        self.store
            .insert_token(&token_hash(&token), user.id, now, expires_at)
            .await?;
        let mqtt_password = self.mqtt.token_issued(&user, &token, expires_at).await;
        tracing::info!(username = %user.username, "logged in");
        Ok(LoginResponse {
            token,
            expires_at,
            user,
            mqtt_password,
        })
    }

    /// Revokes the caller's token; the streams and MQTT connections it opened close.
    pub async fn logout(&self, caller: &Caller) -> Result<(), LoginError> {
        self.store.revoke_token(&caller.token_hash, Utc::now()).await?;
        self.follower.enforce(&caller.user).await?;
        Ok(())
    }

    /// Checks that `password` is the caller's current one, before they change it. A wrong one
    /// counts as a failed login.
    pub async fn check_own_password(
        &self,
        peer: IpAddr,
        headers: &HeaderMap,
        caller: &Caller,
        password: String,
    ) -> Result<(), LoginError> {
        let client = client_address(peer, headers, &self.trusted_proxies);
        let attempt = self
            .limiter
            .attempt(&caller.user.username, client)
            .map_err(|retry_after_s| LoginError::TooManyAttempts { retry_after_s })?;
        let stored = self
            .store
            .credentials(&caller.user.username)
            .await?
            .map(|(_, hash)| hash);
        if !self.passwords.verify(password, stored).await?? {
            return Err(Invalid::new("current_password", "is not your current password").into());
        }
        attempt.succeeded();
        Ok(())
    }
}
