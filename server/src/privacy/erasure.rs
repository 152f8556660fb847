//! One person's records, for an administrator: everything the hub holds about them, exported
//! as one JSON document (`GET /api/v1/users/{id}/export`), and erased
//! (`DELETE /api/v1/users/{id}`). Erasing keeps the headcounts they were part of counted, under
//! a pseudonym: an account row holding nothing of theirs (`erased-…`, "Erased person", never
//! enabled) that their standing, check-ins and delivery receipts move to, stripped of positions
//! and notes. Both are audited, the erasure under the pseudonym.
//!
//! Owns: nothing stored of its own. Uses: the store (the records), the audit trail, and the
//! account follower (an erased person's streams, MQTT connections and place in the targeting
//! index end with them).

use axum::extract::{FromRef, State};
use axum::Json;
use chrono::Utc;
use scaan_schemas::{ErrorBody, Role, User};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::audit::{Actor, Audit};
use crate::auth::{Caller, Forbidden};
use crate::error::{ApiError, PathId};
use crate::hub::Hub;
use crate::lifecycle::AccountFollower;
use crate::storage::{Store, StoreError};

/// Export and erasure of one person's records.
#[derive(Clone)]
pub struct PersonRecords {
    store: Store,
    audit: Audit,
    follower: AccountFollower,
}

#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error("account not found")]
    NotFound,
    #[error("an administrator cannot erase their own account: another administrator must")]
    Oneself,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ErasureError> for ApiError {
    fn from(e: ErasureError) -> Self {
        match e {
            ErasureError::Forbidden(e) => e.into(),
            ErasureError::NotFound => ApiError::NotFound("account"),
            ErasureError::Oneself => ApiError::Conflict {
                code: "own_account",
                message: e.to_string(),
            },
            ErasureError::Store(e) => e.into(),
        }
    }
}

impl FromRef<Arc<Hub>> for PersonRecords {
    fn from_ref(hub: &Arc<Hub>) -> Self {
        hub.person_records.clone()
    }
}

/// What remains of an erased person: the pseudonym their counts stand under.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Erased {
    pub erased: Uuid,
    pub pseudonym: Uuid,
    pub pseudonym_username: String,
}

impl PersonRecords {
    pub fn new(store: Store, audit: Audit, follower: AccountFollower) -> PersonRecords {
        PersonRecords { store, audit, follower }
    }

    /// Everything the hub holds about one person: account, sessions, last position, trips,
    /// reports, SOS calls, headcount standings, check-ins, delivery receipts, and the audit
    /// entries about them or by them (precise location views among them).
    pub async fn export(&self, caller: &Caller, id: Uuid) -> Result<serde_json::Value, ErasureError> {
        caller.require(&[Role::Admin])?;
        let records = self.store.person_records(id).await?.ok_or(ErasureError::NotFound)?;
        self.audit
            .record(
                Actor::Account(&caller.user),
                "person.exported",
                id,
                &[],
                serde_json::json!({}),
            )
            .await;
        Ok(records)
    }

    /// Erases one person (see the module), then ends their streams and MQTT connections and
    /// takes them out of the targeting index.
    pub async fn erase(&self, caller: &Caller, id: Uuid) -> Result<Erased, ErasureError> {
        caller.require(&[Role::Admin])?;
        if id == caller.user.id {
            return Err(ErasureError::Oneself);
        }
        let pseudonym = Uuid::new_v4();
        let user: User = self
            .store
            .erase_person(id, pseudonym, Utc::now())
            .await?
            .ok_or(ErasureError::NotFound)?;
        self.follower.account_changed(&user).await?;
        let pseudonym_username = crate::storage::pseudonym_username(pseudonym);
        self.audit
            .record(
                Actor::Account(&caller.user),
                "person.erased",
                pseudonym,
                &[],
                serde_json::json!({"pseudonym": pseudonym_username}),
            )
            .await;
        Ok(Erased {
            erased: id,
            pseudonym,
            pseudonym_username,
        })
    }
}

pub fn router() -> OpenApiRouter<Arc<Hub>> {
    OpenApiRouter::new()
        .routes(routes!(export_person))
        .routes(routes!(erase_person))
}

/// Everything the hub holds about one person, as one JSON document (administrators).
#[utoipa::path(get, path = "/api/v1/users/{id}/export", tag = "accounts", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn export_person(
    State(records): State<PersonRecords>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(records.export(&caller, id).await?))
}

/// Erases one person (administrators): their account and everything about them; the headcounts
/// they were part of keep their counts under the pseudonym answered.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "accounts", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Erased), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn erase_person(
    State(records): State<PersonRecords>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<Erased>, ApiError> {
    let erased = records.erase(&caller, id).await?;
    tracing::info!(admin = %caller.user.username, pseudonym = %erased.pseudonym, "person erased");
    Ok(Json(erased))
}
