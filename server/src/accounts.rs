//! Accounts: creating them, disabling and enabling them, passwords, roles and countries,
//! phone numbers and sessions (live tokens) — the rules the API and `scaan user …` share (the
//! command line opens only the database and builds this service on it) — and the routes for
//! creating and listing accounts and for the caller's own account.
//!
//! Owns: the stored accounts, their passwords and sessions. Uses: [`Audit`] (every change to
//! an account is recorded). What a change ends in the running hub (streams, MQTT connections,
//! places in the targeting index) is [`AccountFollower`](crate::lifecycle::AccountFollower)'s.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use scaan_schemas::{
    ErrorBody, Invalid, NewUser, PasswordReset, PhonesChange, Role, RoleChange, Session, User, Validate,
};
use serde_json::json;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::audit::{Actor, Audit};
use crate::auth::{hash_password, require_role, Caller, Forbidden};
use crate::error::{ApiError, ApiJson};
use crate::hub::Hub;
use crate::lifecycle::AccountFollower;
use crate::storage::{Refused, SessionRecord, Store, StoreError};

/// The accounts as stored, and every change to them.
#[derive(Clone)]
pub struct Accounts {
    store: Store,
    audit: Audit,
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// No such account, or session of it.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("you cannot disable your own account; ask another administrator")]
    OwnAccount,
    #[error("this is the last enabled administrator; make another one first")]
    LastAdmin,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A password could not be hashed.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Forbidden(e) => e.into(),
            AccountError::Invalid(e) => e.into(),
            AccountError::NotFound(what) => ApiError::NotFound(what),
            AccountError::OwnAccount => ApiError::Conflict {
                code: "own_account",
                message: e.to_string(),
            },
            AccountError::LastAdmin => ApiError::Conflict {
                code: "last_admin",
                message: e.to_string(),
            },
            AccountError::Store(e) => e.into(),
            AccountError::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl From<Refused> for AccountError {
    fn from(e: Refused) -> Self {
        match e {
            Refused::NotFound => AccountError::NotFound("account"),
            Refused::LastAdmin => AccountError::LastAdmin,
        }
    }
}

impl FromRef<Arc<Hub>> for Accounts {
    fn from_ref(hub: &Arc<Hub>) -> Self {
        hub.accounts.clone()
    }
}

/// Accounts are changed by administrators, and by whoever runs the command line on the hub's
/// database.
fn admin_only(by: Actor<'_>) -> Result<(), Forbidden> {
    match by {
        Actor::Account(user) => require_role(user, &[Role::Admin]),
        Actor::CommandLine => Ok(()),
    }
}

/// A session's id: the first half of its token's hash, in hex. It names the token without
/// being it (the hub stores only hashes), and is stable for the token's life.
fn session_id(token_hash: &[u8; 32]) -> String {
    token_hash[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// `current`: the token of the request, marked as such.
fn sessions_as_seen(records: Vec<SessionRecord>, current: &[u8; 32]) -> Vec<Session> {
    records
        .into_iter()
        .map(|r| Session {
            id: session_id(&r.token_hash),
            issued_at: r.issued_at,
            expires_at: r.expires_at,
            current: current == &r.token_hash,
        })
        .collect()
}

impl Accounts {
    pub fn new(store: Store, audit: Audit) -> Accounts {
        Accounts { store, audit }
    }

    /// Creates an account; the one way both the API and the command line do it.
    pub async fn create(&self, by: Actor<'_>, new: &NewUser) -> Result<User, AccountError> {
        admin_only(by)?;
        new.validate(Utc::now())?;
        let hash = hash_password(new.password.clone()).await?;
        Ok(self.store.create_user(new, &hash, Utc::now()).await?)
    }

    /// Every account (administrators and watch officers).
    pub async fn list(&self, caller: &Caller) -> Result<Vec<User>, AccountError> {
        caller.require(&[Role::Admin, Role::WatchOfficer])?;
        Ok(self.store.users().await?)
    }

    /// The account `id`, for an administrator.
    pub async fn account(&self, by: Actor<'_>, id: Uuid) -> Result<User, AccountError> {
        admin_only(by)?;
        self.store.user(id).await?.ok_or(AccountError::NotFound("account"))
    }

    /// Disables an account: it cannot log in, and every token of it is revoked. An
    /// administrator cannot disable their own account, and the last enabled administrator stays.
    pub async fn disable(&self, by: Actor<'_>, id: Uuid) -> Result<User, AccountError> {
        admin_only(by)?;
        if matches!(by, Actor::Account(me) if me.id == id) {
            return Err(AccountError::OwnAccount);
        }
        self.set_disabled(by, id, true).await
    }

    /// Enables a disabled account; its owner logs in again (its old tokens stay revoked).
    pub async fn enable(&self, by: Actor<'_>, id: Uuid) -> Result<User, AccountError> {
        admin_only(by)?;
        self.set_disabled(by, id, false).await
    }

    /// Disables or enables an account; a change, not a repeat, is audited.
    async fn set_disabled(&self, by: Actor<'_>, id: Uuid, disabled: bool) -> Result<User, AccountError> {
        let (user, changed) = self.store.set_disabled(id, disabled, Utc::now()).await??;
        if changed {
            let action = if disabled {
                "account.disabled"
            } else {
                "account.enabled"
            };
            self.audit
                .record(by, action, id, &[], json!({"username": user.username}))
                .await;
        }
        Ok(user)
    }

    /// Sets someone's password for them; every session of theirs ends.
    pub async fn reset_password(&self, by: Actor<'_>, id: Uuid, reset: &PasswordReset) -> Result<User, AccountError> {
        admin_only(by)?;
        reset.validate(Utc::now())?;
        let hash = hash_password(reset.password.clone()).await?;
        let user = self
            .store
            .set_password(id, &hash, None, Utc::now())
            .await?
            .ok_or(AccountError::NotFound("account"))?;
        self.audit
            .record(
                by,
                "account.password_reset",
                id,
                &[],
                json!({"username": user.username}),
            )
            .await;
        Ok(user)
    }

    /// Sets the caller's own password (the current one already checked); every other session
    /// of theirs ends, the one making the change stays.
    pub async fn set_own_password(&self, caller: &Caller, password: String) -> Result<User, AccountError> {
        let hash = hash_password(password).await?;
        let user = self
            .store
            .set_password(caller.user.id, &hash, Some(&caller.token_hash), Utc::now())
            .await?
            .ok_or(AccountError::NotFound("account"))?;
        self.audit
            .record(
                Actor::Account(&caller.user),
                "account.password_changed",
                user.id,
                &[],
                json!({"username": user.username}),
            )
            .await;
        Ok(user)
    }

    /// Gives an account a new role and countries; the last enabled administrator stays one.
    pub async fn change_role(&self, by: Actor<'_>, id: Uuid, change: &RoleChange) -> Result<User, AccountError> {
        admin_only(by)?;
        change.validate(Utc::now())?;
        let (before, after) = self
            .store
            .set_role(id, change.role, &change.countries, Utc::now())
            .await??;
        let detail = json!({
            "username": after.username,
            "role": after.role, "countries": after.countries,
            "previous_role": before.role, "previous_countries": before.countries,
        });
        self.audit.record(by, "account.role_changed", id, &[], detail).await;
        Ok(after)
    }

    /// Sets an account's phone numbers, in order of preference (each checked to be E.164 first:
    /// a bad one changes nothing). Administrators, and the person themselves: a staff member
    /// who changes SIM need not wait for one.
    pub async fn change_phones(&self, by: Actor<'_>, id: Uuid, change: &PhonesChange) -> Result<User, AccountError> {
        if !matches!(by, Actor::Account(user) if user.id == id) {
            admin_only(by)?;
        }
        change.validate(Utc::now())?;
        let (before, after) = self
            .store
            .set_phones(id, &change.phones)
            .await?
            .ok_or(AccountError::NotFound("account"))?;
        if before.phones != after.phones {
            let detail = json!({"username": after.username, "phones": after.phones, "previous_phones": before.phones});
            self.audit.record(by, "account.phones_changed", id, &[], detail).await;
        }
        Ok(after)
    }

    /// `owner`'s live sessions, newest first; `current` marks the caller's own.
    pub async fn sessions(&self, owner: &User, current: &[u8; 32]) -> Result<Vec<Session>, AccountError> {
        let records = self.store.sessions(owner.id, Utc::now()).await?;
        Ok(sessions_as_seen(records, current))
    }

    /// Ends one of `owner`'s sessions (revokes its token), as `by` asked.
    pub async fn revoke_session(&self, by: &User, owner: &User, session: &str) -> Result<(), AccountError> {
        let now = Utc::now();
        let found = self.store.sessions(owner.id, now).await?;
        let token_hash = found
            .iter()
            .map(|s| s.token_hash)
            .find(|h| session_id(h) == session)
            .ok_or(AccountError::NotFound("session"))?;
        if self.store.revoke_session(owner.id, &token_hash, now).await? {
            self.audit
                .record(
                    Actor::Account(by),
                    "session.revoked",
                    owner.id,
                    &[],
                    json!({"username": owner.username, "session": session}),
                )
                .await;
        }
        Ok(())
    }
}

pub fn router() -> OpenApiRouter<Arc<Hub>> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(create_user, list_users))
}

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = ErrorBody)))]
async fn me(caller: Caller) -> Json<User> {
    Json(caller.user)
}

/// Creates an account (admins only).
#[utoipa::path(post, path = "/api/v1/users", tag = "accounts", security(("bearer" = [])), request_body = NewUser,
    responses((status = 201, body = User), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn create_user(
    State(accounts): State<Accounts>,
    State(follower): State<AccountFollower>,
    caller: Caller,
    ApiJson(new): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let user = accounts.create(Actor::Account(&caller.user), &new).await?;
    follower.place_staff(&user);
    tracing::info!(admin = %caller.user.username, username = %user.username, role = user.role.as_str(), "account created");
    Ok((StatusCode::CREATED, Json(user)))
}

/// Every account (admins and watch officers).
#[utoipa::path(get, path = "/api/v1/users", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = [User]), (status = 403, body = ErrorBody)))]
async fn list_users(State(accounts): State<Accounts>, caller: Caller) -> Result<Json<Vec<User>>, ApiError> {
    Ok(Json(accounts.list(&caller).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(role: Role) -> User {
        crate::testing::user(role, &[])
    }

    #[test]
    fn only_administrators_and_the_command_line_change_accounts() {
        assert!(admin_only(Actor::CommandLine).is_ok());
        assert!(admin_only(Actor::Account(&person(Role::Admin))).is_ok());
        for role in [Role::Staff, Role::SecurityOfficer, Role::WatchOfficer] {
            let e = admin_only(Actor::Account(&person(role))).unwrap_err();
            assert!(e.0.contains("needs the role admin"), "{e}");
        }
    }

    #[test]
    fn a_session_is_named_by_half_its_token_hash_and_the_callers_is_marked() {
        let mine = [7u8; 32];
        let other = [9u8; 32];
        let record = |token_hash| SessionRecord {
            token_hash,
            issued_at: Utc::now(),
            expires_at: Utc::now(),
        };
        let seen = sessions_as_seen(vec![record(mine), record(other)], &mine);
        assert_eq!(seen[0].id, "07".repeat(16));
        assert!(seen[0].current && !seen[1].current);
    }
}
