//! Who is calling: password login, opaque bearer tokens that expire and can be revoked, the
//! extractor every endpoint uses to know its caller, and the role and country rules.

mod clients;
mod limiter;
mod logins;
mod passwords;
pub mod routes;

pub use clients::client_address;
pub use limiter::{Attempt, LoginLimiter};
pub use logins::{LoginError, Logins};
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

/// A role or country rule refused the caller (a 403 over HTTP, `forbidden` on a stream).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Forbidden(pub String);

impl Forbidden {
    pub fn new(message: impl Into<String>) -> Self {
        Forbidden(message.into())
    }
}

/// `user` has one of `roles`.
pub fn require_role(user: &User, roles: &[Role]) -> Result<(), Forbidden> {
    if roles.contains(&user.role) {
        Ok(())
    } else {
        let allowed = roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(" or ");
        Err(Forbidden::new(format!(
            "this needs the role {allowed}; you are {}",
            user.role.as_str()
        )))
    }
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

    pub fn require(&self, roles: &[Role]) -> Result<(), Forbidden> {
        require_role(&self.user, roles)
    }

    /// Officers who may send and change alerts.
    pub fn require_officer(&self) -> Result<(), Forbidden> {
        self.require(&[Role::SecurityOfficer, Role::WatchOfficer])
    }

    /// Acting (sending, changing) needs every country concerned to be the caller's.
    pub fn may_act_in(&self, countries: &[String]) -> Result<(), Forbidden> {
        match self.user.role {
            Role::WatchOfficer => Ok(()),
            Role::SecurityOfficer => {
                if countries.is_empty() {
                    return Err(Forbidden::new(
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
                    Err(Forbidden::new(format!(
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
    pub fn may_act_for(&self, country: &str) -> Result<(), Forbidden> {
        match self.user.role {
            Role::WatchOfficer => Ok(()),
            Role::SecurityOfficer if self.user.countries.iter().any(|c| c == country) => Ok(()),
            Role::SecurityOfficer => Err(Forbidden::new(format!(
                "{country} is not one of your countries ({}); ask a watch officer",
                self.user.countries.join(", ")
            ))),
            _ => self.require_officer(),
        }
    }

    /// Seeing needs one country concerned to be the caller's.
    pub fn may_see(&self, countries: &[String]) -> bool {
        officer_sees(&self.user, countries)
    }
}

/// Whether `user` is an officer who follows what concerns these countries (a watch officer
/// follows everything).
pub fn officer_sees(user: &User, countries: &[String]) -> bool {
    match user.role {
        Role::WatchOfficer => true,
        Role::SecurityOfficer => countries.iter().any(|c| user.countries.contains(c)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::caller;

    fn countries(codes: &[&str]) -> Vec<String> {
        codes.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn a_security_officer_sends_only_where_every_country_is_theirs() {
        let officer = caller(Role::SecurityOfficer, &["CD", "UG"]);
        assert!(officer.may_act_in(&countries(&["CD"])).is_ok());
        assert!(officer.may_act_in(&countries(&["CD", "UG"])).is_ok());
        let e = officer.may_act_in(&countries(&["CD", "RW"])).unwrap_err();
        assert!(e.0.contains("RW"), "{e}");
        let e = officer.may_act_in(&[]).unwrap_err();
        assert!(e.0.contains("outside every country"), "{e}");
    }

    #[test]
    fn a_watch_officer_sends_anywhere_and_nobody_else_sends_at_all() {
        assert!(caller(Role::WatchOfficer, &[]).may_act_in(&[]).is_ok());
        assert!(caller(Role::WatchOfficer, &[]).may_act_for("RW").is_ok());
        for role in [Role::Staff, Role::Admin] {
            assert!(caller(role, &["CD"]).may_act_in(&countries(&["CD"])).is_err());
            assert!(caller(role, &["CD"]).may_act_for("CD").is_err());
        }
    }

    #[test]
    fn acting_for_one_country_needs_that_country() {
        let officer = caller(Role::SecurityOfficer, &["CD"]);
        assert!(officer.may_act_for("CD").is_ok());
        assert!(officer
            .may_act_for("UG")
            .unwrap_err()
            .0
            .contains("UG is not one of your countries"));
    }

    #[test]
    fn seeing_needs_one_country_in_common() {
        let officer = caller(Role::SecurityOfficer, &["CD"]);
        assert!(officer.may_see(&countries(&["UG", "CD"])));
        assert!(!officer.may_see(&countries(&["UG"])));
        assert!(!officer.may_see(&[]));
        assert!(caller(Role::WatchOfficer, &[]).may_see(&[]));
        assert!(!caller(Role::Admin, &[]).may_see(&countries(&["CD"])));
        assert!(!caller(Role::Staff, &["CD"]).may_see(&countries(&["CD"])));
    }

    #[test]
    fn a_role_rule_names_the_roles_it_needs() {
        let e = caller(Role::Staff, &[])
            .require(&[Role::SecurityOfficer, Role::WatchOfficer])
            .unwrap_err();
        assert_eq!(
            e.0,
            "this needs the role security_officer or watch_officer; you are staff"
        );
    }
}
