//! Account lifecycle: disabling and enabling an account, changing one's own password, an
//! administrator's password reset, role and countries, and the sessions (live tokens) of an
//! account — the service functions the API and `scaan user …` share, their routes, and
//! [`Hub::account_changed`], which ends whatever a change ends: tokens are revoked in the
//! database, then the account's WebSocket streams and MQTT connections that no longer fit it
//! are closed (and an external Mosquitto's login removed), and a disabled account (or one no
//! longer staff) leaves the targeting index. A change made from the command line reaches a
//! running hub through its poll of changed accounts ([`Hub::follow_accounts`]).

use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, Utc};
use scaan_schemas::{
    ErrorBody, Invalid, PasswordChange, PasswordReset, PhoneChange, Role, RoleChange, Session, User, Validate,
};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::audit::{Actor, Audit};
use crate::auth::{client_address, hash_password, Busy, Caller};
use crate::error::{ApiError, ApiJson, PathId};
use crate::hub::Hub;
use crate::storage::{Refused, SessionRecord, Store};
use crate::targeting::{Fix, Point};

pub fn router() -> OpenApiRouter<Arc<Hub>> {
    OpenApiRouter::new()
        .routes(routes!(disable))
        .routes(routes!(enable))
        .routes(routes!(reset_password))
        .routes(routes!(change_role))
        .routes(routes!(change_phone))
        .routes(routes!(account_sessions))
        .routes(routes!(revoke_account_session))
        .routes(routes!(change_own_password))
        .routes(routes!(own_sessions))
        .routes(routes!(revoke_own_session))
}

// ---- the service functions (API and command line) ----

fn refused(e: Refused) -> ApiError {
    match e {
        Refused::NotFound => ApiError::NotFound("account"),
        Refused::LastAdmin => ApiError::Conflict {
            code: "last_admin",
            message: "this is the last enabled administrator; make another one first".into(),
        },
    }
}

/// Disables an account: it cannot log in, and every token of it is revoked. An administrator
/// cannot disable their own account, and the last enabled administrator stays.
pub async fn disable_account(store: &Store, actor: Actor<'_>, id: Uuid) -> Result<User, ApiError> {
    if matches!(actor, Actor::Account(me) if me.id == id) {
        return Err(ApiError::Conflict {
            code: "own_account",
            message: "you cannot disable your own account; ask another administrator".into(),
        });
    }
    let (user, changed) = store.set_disabled(id, true, Utc::now()).await?.map_err(refused)?;
    if changed {
        Audit::new(store.clone())
            .record(actor, "account.disabled", id, &[], json!({"username": user.username}))
            .await;
    }
    Ok(user)
}

/// Enables a disabled account; its owner logs in again (its old tokens stay revoked).
pub async fn enable_account(store: &Store, actor: Actor<'_>, id: Uuid) -> Result<User, ApiError> {
    let (user, changed) = store.set_disabled(id, false, Utc::now()).await?.map_err(refused)?;
    if changed {
        Audit::new(store.clone())
            .record(actor, "account.enabled", id, &[], json!({"username": user.username}))
            .await;
    }
    Ok(user)
}

/// Sets someone's password for them; every session of theirs ends.
pub async fn reset_account_password(
    store: &Store,
    actor: Actor<'_>,
    id: Uuid,
    reset: &PasswordReset,
) -> Result<User, ApiError> {
    reset.validate(Utc::now())?;
    let hash = hash_password(reset.password.clone()).await?;
    let user = store
        .set_password(id, &hash, None, Utc::now())
        .await?
        .ok_or(ApiError::NotFound("account"))?;
    Audit::new(store.clone())
        .record(
            actor,
            "account.password_reset",
            id,
            &[],
            json!({"username": user.username}),
        )
        .await;
    Ok(user)
}

/// Gives an account a new role and countries; the last enabled administrator stays one.
pub async fn change_account_role(
    store: &Store,
    actor: Actor<'_>,
    id: Uuid,
    change: &RoleChange,
) -> Result<User, ApiError> {
    change.validate(Utc::now())?;
    let (before, after) = store
        .set_role(id, change.role, &change.countries, Utc::now())
        .await?
        .map_err(refused)?;
    let detail = json!({
        "username": after.username,
        "role": after.role, "countries": after.countries,
        "previous_role": before.role, "previous_countries": before.countries,
    });
    Audit::new(store.clone())
        .record(actor, "account.role_changed", id, &[], detail)
        .await;
    Ok(after)
}

/// Sets or removes an account's phone number (checked to be E.164 first: a bad one changes
/// nothing).
pub async fn change_account_phone(
    store: &Store,
    actor: Actor<'_>,
    id: Uuid,
    change: &PhoneChange,
) -> Result<User, ApiError> {
    change.validate(Utc::now())?;
    let (before, after) = store
        .set_phone(id, change.phone.as_deref())
        .await?
        .ok_or(ApiError::NotFound("account"))?;
    if before.phone != after.phone {
        let detail = json!({"username": after.username, "phone": after.phone, "previous_phone": before.phone});
        Audit::new(store.clone())
            .record(actor, "account.phone_changed", id, &[], detail)
            .await;
    }
    Ok(after)
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

/// How far [`Hub::follow_accounts`] has followed the accounts.
pub struct AccountsSeen {
    /// Until when.
    at: DateTime<Utc>,
    /// New accounts already placed in the targeting index, and when: the windows overlap, and
    /// reading and placing again every account created in the last 30 s, every second, cost
    /// more than an alert to them all once 10,000 were added at once.
    placed: HashMap<Uuid, DateTime<Utc>>,
}

impl AccountsSeen {
    /// Followed until `at` (when the hub loaded its accounts).
    pub fn new(at: DateTime<Utc>) -> AccountsSeen {
        AccountsSeen {
            at,
            placed: HashMap::new(),
        }
    }
}

impl Hub {
    /// Ends what no longer fits `user`'s account as stored: streams and MQTT connections opened
    /// with a token no longer live (revoked, expired, or the account disabled), and those opened
    /// under another role or other countries. Idempotent, so the poll may repeat it.
    pub async fn enforce_account(&self, user: &User) -> Result<(), ApiError> {
        let valid: HashSet<[u8; 32]> = self
            .store
            .sessions(user.id, Utc::now())
            .await?
            .into_iter()
            .map(|s| s.token_hash)
            .collect();
        self.delivery.enforce(user, &valid);
        self.mqtt.enforce(user, &valid).await;
        Ok(())
    }

    /// Brings what the hub holds about a changed account in line with it: who alerts reach (a
    /// disabled account, or one no longer staff, is sent nothing; an enabled staff member is
    /// placed again from the database), then its streams and MQTT connections.
    pub async fn account_changed(&self, user: &User) -> Result<(), ApiError> {
        // Overwritten in place rather than forgotten first: an alert sent meanwhile still
        // reaches an enabled staff member.
        let Some(record) = self.store.staff_record(user.id).await? else {
            self.targeting.forget(user.id);
            return self.enforce_account(user).await;
        };
        let point = |p: scaan_schemas::Position| Point { lon: p.lon, lat: p.lat };
        self.targeting.set_duty_station(user.id, record.duty_station.map(point));
        if let Some((at, recorded_at)) = record.position {
            self.targeting.record_fix(
                user.id,
                Fix {
                    at: point(at),
                    recorded_at,
                },
            );
        }
        let trips = self.store.unfinished_trips(Some(user.id), Utc::now()).await?;
        let legs = crate::trips::legs_by_traveller(trips)
            .remove(&user.id)
            .unwrap_or_default();
        self.targeting.set_trips(user.id, legs);
        self.enforce_account(user).await
    }

    /// Accounts can be added and changed by `scaan user …` while the hub runs: this brings
    /// those created since the last look into the targeting index, and follows those changed
    /// ([`Hub::account_changed`]). A poll runs it every second, and every alert before it
    /// targets, so that an account added a moment ago is reached and one disabled is not.
    pub async fn follow_accounts(&self) -> anyhow::Result<()> {
        let mut seen = self.accounts_seen.lock().await;
        let now = Utc::now();
        // Overlap the windows: a change committed just after the last look is still found
        // (acting on one twice does nothing more).
        let since = seen.at - chrono::Duration::seconds(30);
        // Placed before the window: such an account cannot be in it again.
        seen.placed.retain(|_, placed_at| *placed_at >= since);
        let created = self.store.user_ids_created_since(since).await?;
        if created.iter().any(|id| !seen.placed.contains_key(id)) {
            for user in self.store.users_created_since(since).await? {
                if seen.placed.insert(user.id, now).is_none() {
                    self.place_staff(&user);
                }
            }
        }
        for user in self.store.users_changed_since(since).await? {
            self.account_changed(&user).await?;
        }
        seen.at = now;
        Ok(())
    }

    async fn revoke_session(&self, actor: &User, owner: &User, session: &str) -> Result<(), ApiError> {
        let now = Utc::now();
        let found = self.store.sessions(owner.id, now).await?;
        let token_hash = found
            .iter()
            .map(|s| s.token_hash)
            .find(|h| session_id(h) == session)
            .ok_or(ApiError::NotFound("session"))?;
        if self.store.revoke_session(owner.id, &token_hash, now).await? {
            self.audit
                .record(
                    Actor::Account(actor),
                    "session.revoked",
                    owner.id,
                    &[],
                    json!({"username": owner.username, "session": session}),
                )
                .await;
        }
        self.enforce_account(owner).await
    }
}

// ---- routes ----

async fn account(hub: &Hub, caller: &Caller, id: Uuid) -> Result<User, ApiError> {
    caller.require(&[Role::Admin])?;
    hub.store.user(id).await?.ok_or(ApiError::NotFound("account"))
}

/// Disables an account (admins): it cannot log in, and its tokens, streams and MQTT
/// connections end.
#[utoipa::path(post, path = "/api/v1/users/{id}/disable", tag = "accounts", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn disable(State(hub): State<Arc<Hub>>, caller: Caller, PathId(id): PathId) -> Result<Json<User>, ApiError> {
    caller.require(&[Role::Admin])?;
    let user = disable_account(&hub.store, Actor::Account(&caller.user), id).await?;
    hub.account_changed(&user).await?;
    tracing::info!(admin = %caller.user.username, account = %user.username, "account disabled");
    Ok(Json(user))
}

/// Enables a disabled account (admins).
#[utoipa::path(post, path = "/api/v1/users/{id}/enable", tag = "accounts", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn enable(State(hub): State<Arc<Hub>>, caller: Caller, PathId(id): PathId) -> Result<Json<User>, ApiError> {
    caller.require(&[Role::Admin])?;
    let user = enable_account(&hub.store, Actor::Account(&caller.user), id).await?;
    hub.account_changed(&user).await?;
    tracing::info!(admin = %caller.user.username, account = %user.username, "account enabled");
    Ok(Json(user))
}

/// Sets someone's password (admins); every session of theirs ends.
#[utoipa::path(post, path = "/api/v1/users/{id}/password", tag = "accounts", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = PasswordReset,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn reset_password(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(reset): ApiJson<PasswordReset>,
) -> Result<StatusCode, ApiError> {
    caller.require(&[Role::Admin])?;
    let user = reset_account_password(&hub.store, Actor::Account(&caller.user), id, &reset).await?;
    hub.enforce_account(&user).await?;
    tracing::info!(admin = %caller.user.username, account = %user.username, "password reset");
    Ok(StatusCode::NO_CONTENT)
}

/// Gives an account a new role and countries (admins). Its open streams and MQTT connections
/// close (4001, MQTT 5 `0x98`), so that they reconnect with the new rights.
#[utoipa::path(put, path = "/api/v1/users/{id}/role", tag = "accounts", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = RoleChange,
    responses((status = 200, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn change_role(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(change): ApiJson<RoleChange>,
) -> Result<Json<User>, ApiError> {
    caller.require(&[Role::Admin])?;
    let user = change_account_role(&hub.store, Actor::Account(&caller.user), id, &change).await?;
    hub.account_changed(&user).await?;
    tracing::info!(admin = %caller.user.username, account = %user.username, role = user.role.as_str(), "role changed");
    Ok(Json(user))
}

/// Sets or removes an account's phone number (admins): `{"phone": "+243970000001"}`, or
/// `{"phone": null}`.
#[utoipa::path(put, path = "/api/v1/users/{id}/phone", tag = "accounts", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = PhoneChange,
    responses((status = 200, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn change_phone(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(change): ApiJson<PhoneChange>,
) -> Result<Json<User>, ApiError> {
    caller.require(&[Role::Admin])?;
    let user = change_account_phone(&hub.store, Actor::Account(&caller.user), id, &change).await?;
    tracing::info!(admin = %caller.user.username, account = %user.username, "phone changed");
    Ok(Json(user))
}

/// An account's live sessions, newest first (admins).
#[utoipa::path(get, path = "/api/v1/users/{id}/sessions", tag = "accounts", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = [Session]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn account_sessions(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<Vec<Session>>, ApiError> {
    let owner = account(&hub, &caller, id).await?;
    let records = hub.store.sessions(owner.id, Utc::now()).await?;
    Ok(Json(sessions_as_seen(records, &caller.token_hash)))
}

/// Ends one of an account's sessions (admins): its token, streams and MQTT connections.
#[utoipa::path(delete, path = "/api/v1/users/{id}/sessions/{session}", tag = "accounts", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("session" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_account_session(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Ok(Path((id, session))) = path else {
        return Err(ApiError::NotFound("session"));
    };
    let id = id.parse().map_err(|_| ApiError::NotFound("account"))?;
    let owner = account(&hub, &caller, id).await?;
    hub.revoke_session(&caller.user, &owner, &session).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the caller's password, given the current one; every other session of theirs ends
/// (the one making the change stays). Wrong current passwords count as failed logins.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "accounts", security(("bearer" = [])),
    request_body = PasswordChange,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn change_own_password(
    State(hub): State<Arc<Hub>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    caller: Caller,
    ApiJson(change): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let client = client_address(peer.ip(), &headers, &hub.config.trusted_proxies);
    let attempt = hub
        .logins
        .attempt(&caller.user.username, client)
        .map_err(|retry_after_s| ApiError::TooManyAttempts { retry_after_s })?;
    let stored = hub
        .store
        .credentials(&caller.user.username)
        .await?
        .map(|(_, hash)| hash);
    let matched = hub
        .passwords
        .verify(change.current_password, stored)
        .await?
        .map_err(|Busy { retry_after_s }| ApiError::Busy { retry_after_s })?;
    if !matched {
        return Err(Invalid::new("current_password", "is not your current password").into());
    }
    attempt.succeeded();
    let hash = hash_password(change.new_password).await?;
    let user = hub
        .store
        .set_password(caller.user.id, &hash, Some(&caller.token_hash), Utc::now())
        .await?
        .ok_or(ApiError::NotFound("account"))?;
    hub.audit
        .record(
            Actor::Account(&caller.user),
            "account.password_changed",
            user.id,
            &[],
            json!({"username": user.username}),
        )
        .await;
    hub.enforce_account(&user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's live sessions, newest first; `current` marks this one.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = [Session]), (status = 401, body = ErrorBody)))]
async fn own_sessions(State(hub): State<Arc<Hub>>, caller: Caller) -> Result<Json<Vec<Session>>, ApiError> {
    let records = hub.store.sessions(caller.user.id, Utc::now()).await?;
    Ok(Json(sessions_as_seen(records, &caller.token_hash)))
}

/// Ends one of the caller's sessions (another device, say).
#[utoipa::path(delete, path = "/api/v1/me/sessions/{session}", tag = "accounts", security(("bearer" = [])),
    params(("session" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_own_session(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    session: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Ok(Path(session)) = session else {
        return Err(ApiError::NotFound("session"));
    };
    hub.revoke_session(&caller.user, &caller.user, &session).await?;
    Ok(StatusCode::NO_CONTENT)
}
