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
    /// `mqtt` (the phone's inbox), `websocket` (one of the person's streams; only
    /// `delivered_at`, and only once written) or `sms` (one receipt per text of the SMS
    /// fallback: `queued_at`, `sent_at` when the gateway took it, `delivered_at` when the
    /// network reported it on the phone).
    pub channel: String,
    /// How far it has got: `queued`, `sent`, `delivered` or `read` (`accepted` on an external
    /// broker, which cannot tell whether the phone has it, and for a text the mobile network
    /// has taken); absent when not even queued. Texts only: `failed` (refused by the gateway,
    /// or undeliverable to every number of the person) or `withheld` (over the alert's ceiling
    /// of texts, or still owed when the alert was cancelled: never sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ReceiptStatus>,
    /// Stored in the hub's outbox: owed to the person until one of their devices has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_at: Option<DateTime<Utc>>,
    /// Written to one of the person's connections to the hub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
    /// One of the person's devices acknowledged it (PUBACK): the phone has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
    /// An external broker acknowledged it (PUBACK): it now holds it for the phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_accepted_at: Option<DateTime<Utc>>,
    /// The app acknowledged it (`…/ack`): the person has seen it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// The furthest step a copy of an alert has reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptStatus {
    Queued,
    Sent,
    Accepted,
    Delivered,
    Read,
    Failed,
    Withheld,
}

impl DeliveryReceipt {
    /// The furthest step among the times given.
    pub fn status_of(
        queued_at: Option<DateTime<Utc>>,
        sent_at: Option<DateTime<Utc>>,
        delivered_at: Option<DateTime<Utc>>,
        broker_accepted_at: Option<DateTime<Utc>>,
        acknowledged_at: Option<DateTime<Utc>>,
    ) -> Option<ReceiptStatus> {
        [
            (acknowledged_at, ReceiptStatus::Read),
            (delivered_at, ReceiptStatus::Delivered),
            (broker_accepted_at, ReceiptStatus::Accepted),
            (sent_at, ReceiptStatus::Sent),
            (queued_at, ReceiptStatus::Queued),
        ]
        .into_iter()
        .find_map(|(at, status)| at.map(|_| status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_furthest_step_is_the_status() {
        let t = Some(Utc::now());
        assert_eq!(DeliveryReceipt::status_of(None, None, None, None, None), None);
        assert_eq!(
            DeliveryReceipt::status_of(t, None, None, None, None),
            Some(ReceiptStatus::Queued)
        );
        assert_eq!(
            DeliveryReceipt::status_of(t, t, None, None, None),
            Some(ReceiptStatus::Sent)
        );
        assert_eq!(
            DeliveryReceipt::status_of(t, t, t, None, None),
            Some(ReceiptStatus::Delivered)
        );
        assert_eq!(
            DeliveryReceipt::status_of(t, None, None, t, None),
            Some(ReceiptStatus::Accepted)
        );
        // The app can say it showed the alert before its PUBACK is recorded.
        assert_eq!(
            DeliveryReceipt::status_of(t, t, None, None, t),
            Some(ReceiptStatus::Read)
        );
    }
}
