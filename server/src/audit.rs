//! The audit trail of officer actions (alerts sent, updated, cancelled, imported; proxy
//! check-ins; SOS acknowledged and resolved; reports triaged, merged, promoted; advisories
//! changed; trips cleared, declined, cancelled) and of what was done to accounts (disabled,
//! enabled, passwords, roles, sessions revoked; by an administrator, the owner or the command
//! line), and `GET /api/v1/audit`.

use axum::extract::State;
use axum::Json;
use chrono::Utc;
use scaan_schemas::{AuditEntry, ErrorBody, Role, User};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiQuery};
use crate::hub::Hub;
use crate::storage::Store;

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

/// Records what someone did. The action itself has already happened, so a failure to record
/// it is logged loudly rather than undoing it.
pub async fn record(
    store: &Store,
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
    if let Err(e) = store.record_audit(&entry, actor_id).await {
        tracing::error!(error = %e, action, %subject, actor = actor.name(), "could not record an audit entry");
    }
}

pub fn router() -> OpenApiRouter<Arc<Hub>> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

impl Hub {
    /// Records what an officer did.
    pub async fn audit(
        &self,
        actor: &User,
        action: &str,
        subject: Uuid,
        countries: &[String],
        detail: serde_json::Value,
    ) {
        record(&self.store, Actor::Account(actor), action, subject, countries, detail).await
    }
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
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    caller.require(&[Role::SecurityOfficer, Role::WatchOfficer, Role::Admin])?;
    let limit = params.limit.unwrap_or(100).clamp(1, 1000);
    if caller.role() == Role::Admin {
        return Ok(Json(hub.store.audit(limit, true, params.subject).await?));
    }
    let entries = hub.store.audit(limit, false, params.subject).await?;
    Ok(Json(
        entries.into_iter().filter(|e| caller.may_see(&e.countries)).collect(),
    ))
}
