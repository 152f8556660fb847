//! The audit trail of officer actions (alerts sent, updated, cancelled, imported; proxy
//! check-ins; SOS acknowledged and resolved; reports triaged, merged, promoted; advisories
//! changed; trips cleared, declined, cancelled), and `GET /api/v1/audit`.

use axum::extract::State;
use axum::Json;
use chrono::Utc;
use scaan_schemas::{AuditEntry, ErrorBody, User};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiQuery};
use crate::hub::Hub;

pub fn router() -> OpenApiRouter<Arc<Hub>> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

impl Hub {
    /// Records what an officer did. The action itself has already happened, so a failure to
    /// record it is logged loudly rather than undoing it.
    pub async fn audit(
        &self,
        actor: &User,
        action: &str,
        subject: Uuid,
        countries: &[String],
        detail: serde_json::Value,
    ) {
        let entry = AuditEntry {
            id: Uuid::new_v4(),
            at: Utc::now(),
            actor: actor.username.clone(),
            action: action.to_owned(),
            subject,
            countries: countries.to_vec(),
            detail,
        };
        if let Err(e) = self.store.record_audit(&entry, actor.id).await {
            tracing::error!(error = %e, action, %subject, actor = %actor.username, "could not record an audit entry");
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditParams {
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
}

/// What officers did, newest first: watch officers see everything, security officers what
/// concerns their countries.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = [])), params(AuditParams),
    responses((status = 200, body = [AuditEntry]), (status = 403, body = ErrorBody)))]
async fn list_audit(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    caller.require_officer()?;
    let entries = hub.store.audit(params.limit.unwrap_or(100).clamp(1, 1000)).await?;
    Ok(Json(
        entries.into_iter().filter(|e| caller.may_see(&e.countries)).collect(),
    ))
}
