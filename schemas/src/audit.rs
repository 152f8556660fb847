//! The audit trail: every officer action, as officers can query it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    /// The officer's username.
    pub actor: String,
    /// `alert.sent`, `alert.updated`, `alert.cancelled`, `alert.imported`, `checkin.proxy`,
    /// `sos.acknowledged`, `sos.resolved`, `report.triaged`, `report.merged`, `report.promoted`,
    /// `advisory.updated`, `trip.approved`, `trip.declined`, `trip.cancelled`.
    pub action: String,
    /// The alert, SOS, report, advisory version or trip acted on.
    pub subject: Uuid,
    pub countries: Vec<String>,
    /// What changed, in the action's own terms.
    pub detail: serde_json::Value,
}
