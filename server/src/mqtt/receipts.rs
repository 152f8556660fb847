//! `GET /api/v1/alerts/{id}/deliveries`: where each recipient's copy of an alert has got to.

use axum::extract::State;
use axum::Json;
use scaan_schemas::{AlertDeliveries, DeliveryReceipt, ErrorBody};
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::error::{ApiError, PathId};
use crate::hub::Hub;

pub fn router() -> OpenApiRouter<Arc<Hub>> {
    OpenApiRouter::new().routes(routes!(deliveries))
}

/// Per recipient: when the hub queued the alert for their phone, sent it, when a device (or an
/// external broker) acknowledged it, and when the app showed it. Officers who may see the alert.
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
    let deliveries = hub
        .store
        .delivery_receipts(id)
        .await?
        .into_iter()
        .map(|r| DeliveryReceipt {
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
        })
        .collect();
    Ok(Json(AlertDeliveries {
        alert_id: id,
        deliveries,
    }))
}
