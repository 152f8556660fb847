//! The audit trail of officer actions (alerts sent, updated, cancelled, imported; proxy
//! check-ins; SOS acknowledged and resolved; reports triaged, merged, promoted; advisories
//! changed; trips cleared, declined, cancelled) and of what was done to accounts (disabled,
//! enabled, passwords, roles, sessions revoked; by an administrator, the owner or the command
//! line), of officers' precise location views and of people's records exported and erased
//! (written by [`crate::privacy`]), and `GET /api/v1/audit`.
//!
//! Owns: the audit entries. Uses no other service: every other one uses it.

use axum::extract::{FromRef, State};
use axum::Json;
use chrono::Utc;
use scaan_schemas::{AuditEntry, ErrorBody, Role, User};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{Caller, Forbidden};
use crate::error::{ApiError, ApiQuery};
use crate::hub::Hub;
use crate::storage::{Store, StoreError};

/// Who did what is audited.
#[derive(Clone, Copy)]
pub enum Actor<'a> {
    Account(&'a User),
    /// `scaan user …`, run by whoever may open the hub's database.
    CommandLine,
}

impl Actor<'_> {
    fn name(&self) -> &str {
        match self {
            Actor::Account(user) => &user.username,
            Actor::CommandLine => "command line",
        }
    }
}

/// The audit trail: recording what was done, and reading it back.
#[derive(Clone)]
pub struct Audit {
    store: Store,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<AuditError> for ApiError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Forbidden(e) => e.into(),
            AuditError::Store(e) => e.into(),
        }
    }
}

impl FromRef<Arc<Hub>> for Audit {
    fn from_ref(hub: &Arc<Hub>) -> Self {
        hub.audit.clone()
    }
}

impl Audit {
    pub fn new(store: Store) -> Audit {
        Audit { store }
    }

    /// Records what someone did. The action itself has already happened, so a failure to
    /// record it is logged loudly rather than undoing it.
    pub async fn record(
        &self,
        actor: Actor<'_>,
        action: &str,
        subject: Uuid,
        countries: &[String],
        detail: serde_json::Value,
    ) {
        let entry = AuditEntry {
            id: Uuid::new_v4(),
            at: Utc::now(),
            actor: actor.name().to_owned(),
            action: action.to_owned(),
            subject,
            countries: countries.to_vec(),
            detail,
        };
        let actor_id = match actor {
            Actor::Account(user) => Some(user.id),
            Actor::CommandLine => None,
        };
        if let Err(e) = self.store.record_audit(&entry, actor_id).await {
            tracing::error!(error = %e, action, %subject, actor = actor.name(), "could not record an audit entry");
        }
    }

    /// What the caller may read of the trail, newest first: at most `limit` (default 100, at
    /// most 1000), only what was done to `subject` when given.
    pub async fn trail(
        &self,
        caller: &Caller,
        limit: Option<u32>,
        subject: Option<Uuid>,
    ) -> Result<Vec<AuditEntry>, AuditError> {
        caller.require(&[Role::SecurityOfficer, Role::WatchOfficer, Role::Admin])?;
        let limit = limit.unwrap_or(100).clamp(1, 1000);
        // Administrators read what was done to accounts; officers what concerns their countries.
        let administrator = caller.role() == Role::Admin;
        let entries = self.store.audit(limit, administrator, subject).await?;
        Ok(entries
            .into_iter()
            .filter(|e| administrator || caller.may_see(&e.countries))
            .collect())
    }
}

pub fn router() -> OpenApiRouter<Arc<Hub>> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditParams {
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
    /// Only what was done to this alert, SOS call, report, advisory, trip or account: its trail.
    subject: Option<Uuid>,
}

/// What was done, newest first: watch officers see everything, security officers what
/// concerns their countries, administrators what was done to accounts and sessions.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = [])), params(AuditParams),
    responses((status = 200, body = [AuditEntry]), (status = 403, body = ErrorBody)))]
async fn list_audit(
    State(audit): State<Audit>,
    caller: Caller,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    Ok(Json(audit.trail(&caller, params.limit, params.subject).await?))
}
