//! Who is calling: password login, opaque bearer tokens that expire and can be revoked, the
//! extractor every endpoint uses to know its caller, and the role and country rules.

mod clients;
mod limiter;
mod passwords;
pub mod routes;

pub use clients::client_address;
pub use limiter::{Attempt, LoginLimiter};
pub use passwords::{hash_password, Busy, PasswordChecks};

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine;
use chrono::Utc;
use rand::RngCore;
use scaan_schemas::{Role, User};
use sha2::{Digest, Sha256};
use std::sync::Arc;

use crate::error::ApiError;
use crate::hub::Hub;

/// A new random bearer token (256 bits, URL-safe base64).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Tokens are stored hashed: a stolen database does not hand out sessions.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The authenticated caller of a request.
pub struct Caller {
    pub user: User,
    pub token_hash: [u8; 32],
    /// When the token stops opening anything (a stream opened with it closes then).
    pub expires_at: chrono::DateTime<Utc>,
}

impl FromRequestParts<Arc<Hub>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, hub: &Arc<Hub>) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or(ApiError::Unauthenticated(
            "log in first: send 'Authorization: Bearer TOKEN' with a token from /api/v1/auth/login",
        ))?;
        let hash = token_hash(&token);
        match hub.store.token_user(&hash, Utc::now()).await? {
            Some((user, expires_at)) => Ok(Caller {
                user,
                token_hash: hash,
                expires_at,
            }),
            None => Err(ApiError::Unauthenticated(
                "the token is unknown, expired or revoked; log in again",
            )),
        }
    }
}

/// The token from the Authorization header, or — for WebSocket upgrades only, since browsers
/// cannot set headers there — from the `access_token` query parameter.
fn bearer(parts: &Parts) -> Option<String> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned());
    }
    let upgrading = parts
        .headers
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if !upgrading {
        return None;
    }
    form_value(parts.uri.query()?, "access_token")
}

fn form_value(query: &str, key: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

impl Caller {
    pub fn role(&self) -> Role {
        self.user.role
    }

    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.user.role) {
            Ok(())
        } else {
            let allowed = roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(" or ");
            Err(ApiError::forbidden(format!(
                "this needs the role {allowed}; you are {}",
                self.user.role.as_str()
            )))
        }
    }

    /// Officers who may send and change alerts.
    pub fn require_officer(&self) -> Result<(), ApiError> {
        self.require(&[Role::SecurityOfficer, Role::WatchOfficer])
    }

    /// Acting (sending, changing) needs every country concerned to be the caller's.
    pub fn may_act_in(&self, countries: &[String]) -> Result<(), ApiError> {
        match self.user.role {
            Role::WatchOfficer => Ok(()),
            Role::SecurityOfficer => {
                if countries.is_empty() {
                    return Err(ApiError::forbidden(
                        "the area lies outside every country; only a watch officer can send alerts there",
                    ));
                }
                let outside: Vec<&str> = countries
                    .iter()
                    .filter(|c| !self.user.countries.contains(c))
                    .map(String::as_str)
                    .collect();
                if outside.is_empty() {
                    Ok(())
                } else {
                    Err(ApiError::forbidden(format!(
                        "the area reaches {}, outside your countries ({}); narrow the area or ask a watch officer",
                        outside.join(", "),
                        self.user.countries.join(", ")
                    )))
                }
            }
            _ => self.require_officer(),
        }
    }

    /// Acting on what belongs to one country (its advisory, a trip there) needs that country
    /// to be the caller's.
    pub fn may_act_for(&self, country: &str) -> Result<(), ApiError> {
        match self.user.role {
            Role::WatchOfficer => Ok(()),
            Role::SecurityOfficer if self.user.countries.iter().any(|c| c == country) => Ok(()),
            Role::SecurityOfficer => Err(ApiError::forbidden(format!(
                "{country} is not one of your countries ({}); ask a watch officer",
                self.user.countries.join(", ")
            ))),
            _ => self.require_officer(),
        }
    }

    /// Seeing needs one country concerned to be the caller's.
    pub fn may_see(&self, countries: &[String]) -> bool {
        match self.user.role {
            Role::WatchOfficer => true,
            Role::SecurityOfficer => countries.iter().any(|c| self.user.countries.contains(c)),
            _ => false,
        }
    }
}
