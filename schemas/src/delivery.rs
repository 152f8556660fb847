//! Delivery receipts: what the app says when it has shown an alert, and what the hub tells
//! officers about each recipient's copy of an alert.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The payload of `scaan/v1/staff/{user_id}/ack`: the app has shown this alert to its person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AppAck {
    pub alert_id: Uuid,
}

/// `GET /api/v1/alerts/{id}/deliveries`: one receipt per recipient and channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertDeliveries {
    pub alert_id: Uuid,
    pub deliveries: Vec<DeliveryReceipt>,
}

/// Where one recipient's copy of an alert has got to. The times are those of the first
/// envelope of the alert (`alert`, `alert_update`, `alert_cancel`) that reached that point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryReceipt {
    pub user_id: Uuid,
    pub username: String,
    /// `mqtt` (the phone's inbox).
    pub channel: String,
    /// Stored in the hub's outbox, to be published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_at: Option<DateTime<Utc>>,
    /// The broker acknowledged it (PUBACK): it now holds it for the phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_accepted_at: Option<DateTime<Utc>>,
    /// The app acknowledged it (`…/ack`): the person has seen it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<DateTime<Utc>>,
}
