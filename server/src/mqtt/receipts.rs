//! `GET /api/v1/alerts/{id}/deliveries`: where each recipient's copy of an alert has got to, per
//! channel (the MQTT inbox, the WebSocket, and each text of the SMS fallback).

use axum::extract::State;
use axum::Json;
use scaan_schemas::{AlertDeliveries, DeliveryReceipt, ErrorBody, ReceiptStatus};
use std::collections::HashMap;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, PathId};
use crate::hub::Hub;
use crate::storage::{StreamReceiptRow, TextReceiptRow};

pub fn router() -> OpenApiRouter<Arc<Hub>> {
    OpenApiRouter::new().routes(routes!(deliveries))
}

/// Per recipient: when the hub queued the alert for their phone, sent it, when a device (or an
/// external broker) acknowledged it, and when the app showed it; and, for those one of whose
/// streams it was written to, when (`websocket`); and for each text sent to them, where it has
/// got to (`sms`). Officers who may see the alert.
#[utoipa::path(get, path = "/api/v1/alerts/{id}/deliveries", tag = "alerts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "the alert")),
    responses((status = 200, body = AlertDeliveries), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn deliveries(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<AlertDeliveries>, ApiError> {
    caller.require_officer()?;
    match hub.store.alert(id).await? {
        Some(alert) if caller.may_see(&alert.countries) => {}
        _ => return Err(ApiError::NotFound("alert")),
    }
    let mut streams: HashMap<Uuid, StreamReceiptRow> = hub
        .store
        .stream_receipts(id)
        .await?
        .into_iter()
        .map(|w| (w.user_id, w))
        .collect();
    let mut deliveries = Vec::new();
    for r in hub.store.delivery_receipts(id).await? {
        // Each person's WebSocket entry follows their MQTT one.
        let written = streams.remove(&r.user_id);
        deliveries.push(DeliveryReceipt {
            user_id: r.user_id,
            username: r.username,
            channel: "mqtt".to_owned(),
            status: DeliveryReceipt::status_of(
                r.queued_at,
                r.sent_at,
                r.delivered_at,
                r.broker_accepted_at,
                r.acknowledged_at,
            ),
            queued_at: r.queued_at,
            sent_at: r.sent_at,
            delivered_at: r.delivered_at,
            broker_accepted_at: r.broker_accepted_at,
            acknowledged_at: r.acknowledged_at,
        });
        if let Some(w) = written {
            deliveries.push(DeliveryReceipt {
                user_id: w.user_id,
                username: w.username,
                channel: "websocket".to_owned(),
                status: Some(ReceiptStatus::Delivered),
                queued_at: None,
                sent_at: None,
                delivered_at: Some(w.delivered_at),
                broker_accepted_at: None,
                acknowledged_at: None,
            });
        }
    }
    deliveries.extend(hub.store.text_receipts(id).await?.into_iter().map(text_receipt));
    Ok(Json(AlertDeliveries {
        alert_id: id,
        deliveries,
    }))
}

/// A text's receipt.
fn text_receipt(t: TextReceiptRow) -> DeliveryReceipt {
    let status = t.status();
    DeliveryReceipt {
        user_id: t.user_id,
        username: t.username,
        channel: "sms".to_owned(),
        status: Some(status),
        queued_at: Some(t.queued_at),
        sent_at: t.handed_at,
        delivered_at: t.delivered_at,
        broker_accepted_at: None,
        acknowledged_at: None,
    }
}
