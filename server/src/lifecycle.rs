//! Account lifecycle in the running hub: whatever a change to an account ends, ends here.
//! Tokens are revoked in the database by [`Accounts`]; then the account's WebSocket streams
//! and MQTT connections that no longer fit it are closed (and an external Mosquitto's login
//! removed), and a disabled account (or one no longer staff) leaves the targeting index. A
//! change made from the command line reaches a running hub through its poll of changed
//! accounts ([`AccountFollower::follow`]). Also the lifecycle routes: disable and enable,
//! passwords, role and countries, phone numbers, sessions.
//!
//! Owns: how far the hub has followed the stored accounts. Uses: the targeting index (where
//! staff are placed), the delivery fan-out's streams and the MQTT side's connections (closed
//! when they no longer fit); in the routes, [`Accounts`] and [`Logins`] (one's current password
//! is checked as a login is).

use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, FromRef, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, Utc};
use scaan_schemas::{ErrorBody, PasswordChange, PasswordReset, PhonesChange, Role, RoleChange, Session, User};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::Mutex;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::accounts::{AccountError, Accounts};
use crate::audit::Actor;
use crate::auth::{Caller, Logins};
use crate::delivery::Delivery;
use crate::error::{ApiError, ApiJson, PathId};
use crate::hub::Hub;
use crate::mqtt::Mqtt;
use crate::nodes::{NodeEvent, Nodes};
use crate::storage::{Store, StoreError};
use crate::targeting::{Fix, Point, Targeting};

/// Keeps what the running hub holds about each account in line with the stored account.
#[derive(Clone)]
pub struct AccountFollower {
    store: Store,
    targeting: Arc<Targeting>,
    delivery: Arc<Delivery>,
    mqtt: Arc<Mqtt>,
    /// The other nodes, whose streams and connections an account's change ends too.
    nodes: Arc<Nodes>,
    /// Until when accounts added or changed elsewhere (`scaan user …`) have been followed.
    seen: Arc<Mutex<AccountsSeen>>,
}

impl FromRef<Arc<Hub>> for AccountFollower {
    fn from_ref(hub: &Arc<Hub>) -> Self {
        hub.follower.clone()
    }
}

/// How far [`AccountFollower::follow`] has followed the accounts.
struct AccountsSeen {
    /// Until when.
    at: DateTime<Utc>,
    /// The accounts created in the window already placed in the targeting index, with when each
    /// was created: the windows overlap, and reading and placing again every account created in
    /// the last 30 s, every second, cost more than an alert to them all once 10,000 were added
    /// at once. While the window holds as many accounts as this, there is nothing new to read.
    placed: HashMap<Uuid, DateTime<Utc>>,
    /// The accounts changed in the window already followed, with the change's time: each
    /// change is followed once, not every second while it is in the window (after 1,000
    /// accounts were changed at once, that was three queries for each, every second for 30 s).
    followed: HashMap<Uuid, DateTime<Utc>>,
}

impl AccountFollower {
    /// Follows the accounts changed after `loaded_at` (when the hub loaded its accounts).
    pub fn new(
        store: Store,
        targeting: Arc<Targeting>,
        delivery: Arc<Delivery>,
        mqtt: Arc<Mqtt>,
        nodes: Arc<Nodes>,
        loaded_at: DateTime<Utc>,
    ) -> AccountFollower {
        AccountFollower {
            store,
            targeting,
            delivery,
            mqtt,
            nodes,
            seen: Arc::new(Mutex::new(AccountsSeen {
                at: loaded_at,
                placed: HashMap::new(),
                followed: HashMap::new(),
            })),
        }
    }

    /// Puts a new account's duty station into the targeting index.
    pub fn place_staff(&self, user: &User) {
        if user.role == Role::Staff {
            self.targeting
                .set_duty_station(user.id, user.duty_station.map(|p| Point { lon: p.lon, lat: p.lat }));
        }
    }

    /// Ends what no longer fits `user`'s account as stored: streams and MQTT connections opened
    /// with a token no longer live (revoked, expired, or the account disabled), and those opened
    /// under another role or other countries, on every node (a logout changes no account, so
    /// the others' poll would not see it). Idempotent, so the poll may repeat it.
    pub async fn enforce(&self, user: &User) -> Result<(), StoreError> {
        self.nodes.shared(|| NodeEvent::Enforce { user: user.id }).await;
        self.enforce_here(user).await
    }

    /// [`AccountFollower::enforce`] on this node's streams and connections only.
    pub async fn enforce_here(&self, user: &User) -> Result<(), StoreError> {
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
    /// placed again from the database), then its streams and MQTT connections. Each node's
    /// poll ([`AccountFollower::follow`]) does this for every changed account, so only this
    /// node's are ended here.
    pub async fn account_changed(&self, user: &User) -> Result<(), StoreError> {
        // Overwritten in place rather than forgotten first: an alert sent meanwhile still
        // reaches an enabled staff member.
        let Some(record) = self.store.staff_record(user.id).await? else {
            self.targeting.forget(user.id);
            return self.enforce_here(user).await;
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
        self.enforce_here(user).await
    }

    /// Accounts can be added and changed by `scaan user …` while the hub runs: this brings
    /// those created since the last look into the targeting index, and follows those changed
    /// ([`AccountFollower::account_changed`]). A poll runs it every second, and every alert
    /// before it targets, so that an account added a moment ago is reached and one disabled is
    /// not.
    pub async fn follow(&self) -> anyhow::Result<()> {
        let mut seen = self.seen.lock().await;
        let now = Utc::now();
        // Overlap the windows: a change committed just after the last look, stamped before it,
        // is still found.
        let since = seen.at - chrono::Duration::seconds(30);
        // Created before the window: such an account is not counted in it. Those left are all
        // in the window, so as many there means the same accounts.
        seen.placed.retain(|_, created_at| *created_at >= since);
        if self.store.users_created_count_since(since).await? != seen.placed.len() {
            for (user, created_at) in self.store.users_created_since(since).await? {
                if seen.placed.insert(user.id, created_at).is_none() {
                    self.place_staff(&user);
                }
            }
        }
        seen.followed.retain(|_, changed_at| *changed_at >= since);
        for (user, changed_at) in self.store.users_changed_since(since).await? {
            if seen.followed.get(&user.id) != Some(&changed_at) {
                self.account_changed(&user).await?;
                seen.followed.insert(user.id, changed_at);
            }
        }
        seen.at = now;
        Ok(())
    }
}

pub fn router() -> OpenApiRouter<Arc<Hub>> {
    OpenApiRouter::new()
        .routes(routes!(disable))
        .routes(routes!(enable))
        .routes(routes!(reset_password))
        .routes(routes!(change_role))
        .routes(routes!(change_phones))
        .routes(routes!(account_sessions))
        .routes(routes!(revoke_account_session))
        .routes(routes!(change_own_password))
        .routes(routes!(own_sessions))
        .routes(routes!(revoke_own_session))
}

/// An administrator's change to an account, followed by what it ends in the running hub.
async fn followed(
    follower: &AccountFollower,
    admin: &Caller,
    changed: Result<User, AccountError>,
    what: &str,
) -> Result<Json<User>, ApiError> {
    let user = changed?;
    follower.account_changed(&user).await?;
    tracing::info!(admin = %admin.user.username, account = %user.username, role = user.role.as_str(), "{what}");
    Ok(Json(user))
}

/// Disables an account (admins): it cannot log in, and its tokens, streams and MQTT
/// connections end.
#[utoipa::path(post, path = "/api/v1/users/{id}/disable", tag = "accounts", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn disable(
    State(accounts): State<Accounts>,
    State(follower): State<AccountFollower>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<User>, ApiError> {
    let disabled = accounts.disable(Actor::Account(&caller.user), id).await;
    followed(&follower, &caller, disabled, "account disabled").await
}

/// Enables a disabled account (admins).
#[utoipa::path(post, path = "/api/v1/users/{id}/enable", tag = "accounts", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn enable(
    State(accounts): State<Accounts>,
    State(follower): State<AccountFollower>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<User>, ApiError> {
    let enabled = accounts.enable(Actor::Account(&caller.user), id).await;
    followed(&follower, &caller, enabled, "account enabled").await
}

/// Sets someone's password (admins); every session of theirs ends.
#[utoipa::path(post, path = "/api/v1/users/{id}/password", tag = "accounts", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = PasswordReset,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn reset_password(
    State(accounts): State<Accounts>,
    State(follower): State<AccountFollower>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(reset): ApiJson<PasswordReset>,
) -> Result<StatusCode, ApiError> {
    let user = accounts
        .reset_password(Actor::Account(&caller.user), id, &reset)
        .await?;
    follower.enforce(&user).await?;
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
    State(accounts): State<Accounts>,
    State(follower): State<AccountFollower>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(change): ApiJson<RoleChange>,
) -> Result<Json<User>, ApiError> {
    let changed = accounts.change_role(Actor::Account(&caller.user), id, &change).await;
    followed(&follower, &caller, changed, "role changed").await
}

/// Sets an account's phone numbers in order of preference (admins, or the person themselves):
/// `{"phones": ["+243970000001", "+243810000001"]}`; `{"phones": []}` removes them.
#[utoipa::path(put, path = "/api/v1/users/{id}/phones", tag = "accounts", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = PhonesChange,
    responses((status = 200, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn change_phones(
    State(accounts): State<Accounts>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(change): ApiJson<PhonesChange>,
) -> Result<Json<User>, ApiError> {
    let user = accounts
        .change_phones(Actor::Account(&caller.user), id, &change)
        .await?;
    tracing::info!(by = %caller.user.username, account = %user.username, "phone numbers changed");
    Ok(Json(user))
}

/// An account's live sessions, newest first (admins).
#[utoipa::path(get, path = "/api/v1/users/{id}/sessions", tag = "accounts", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = [Session]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn account_sessions(
    State(accounts): State<Accounts>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<Vec<Session>>, ApiError> {
    let owner = accounts.account(Actor::Account(&caller.user), id).await?;
    Ok(Json(accounts.sessions(&owner, &caller.token_hash).await?))
}

/// Ends one of an account's sessions (admins): its token, streams and MQTT connections.
#[utoipa::path(delete, path = "/api/v1/users/{id}/sessions/{session}", tag = "accounts", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("session" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_account_session(
    State(accounts): State<Accounts>,
    State(follower): State<AccountFollower>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Ok(Path((id, session))) = path else {
        return Err(ApiError::NotFound("session"));
    };
    let id = id.parse().map_err(|_| ApiError::NotFound("account"))?;
    let owner = accounts.account(Actor::Account(&caller.user), id).await?;
    accounts.revoke_session(&caller.user, &owner, &session).await?;
    follower.enforce(&owner).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the caller's password, given the current one; every other session of theirs ends
/// (the one making the change stays). Wrong current passwords count as failed logins.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "accounts", security(("bearer" = [])),
    request_body = PasswordChange,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn change_own_password(
    State(logins): State<Logins>,
    State(accounts): State<Accounts>,
    State(follower): State<AccountFollower>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    caller: Caller,
    ApiJson(change): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    logins
        .check_own_password(peer.ip(), &headers, &caller, change.current_password)
        .await?;
    let user = accounts.set_own_password(&caller, change.new_password).await?;
    follower.enforce(&user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's live sessions, newest first; `current` marks this one.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = [Session]), (status = 401, body = ErrorBody)))]
async fn own_sessions(State(accounts): State<Accounts>, caller: Caller) -> Result<Json<Vec<Session>>, ApiError> {
    Ok(Json(accounts.sessions(&caller.user, &caller.token_hash).await?))
}

/// Ends one of the caller's sessions (another device, say).
#[utoipa::path(delete, path = "/api/v1/me/sessions/{session}", tag = "accounts", security(("bearer" = [])),
    params(("session" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_own_session(
    State(accounts): State<Accounts>,
    State(follower): State<AccountFollower>,
    caller: Caller,
    session: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Ok(Path(session)) = session else {
        return Err(ApiError::NotFound("session"));
    };
    accounts.revoke_session(&caller.user, &caller.user, &session).await?;
    follower.enforce(&caller.user).await?;
    Ok(StatusCode::NO_CONTENT)
}
