//! The gateway's door: Kannel's `sms-service` posts each text it receives here (`post-url`,
//! with `send-sender`) and sends our answer back to the phone.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Texts;
use crate::error::{ApiError, ApiQuery};
use crate::hub::Hub;

pub fn router() -> OpenApiRouter<Arc<Hub>> {
    OpenApiRouter::new().routes(routes!(inbound)).routes(routes!(report))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct GatewayProof {
    /// The gateway's secret (`sms_gateway_token`), in the URL Kannel is configured with.
    token: String,
}

impl Texts {
    /// Whether `proof` is the gateway's; 404 when no gateway is configured.
    fn check_gateway(&self, proof: &GatewayProof) -> Result<(), ApiError> {
        let Some(expected) = self.gateway_token.as_deref() else {
            return Err(ApiError::NotFound("SMS gateway"));
        };
        if !bool::from(proof.token.as_bytes().ct_eq(expected.as_bytes())) {
            return Err(ApiError::forbidden("this is the SMS gateway's door"));
        }
        Ok(())
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeliveryReport {
    /// The text it is about: the reference the hub gave with it.
    text: i64,
    /// Kannel's report type: 1 delivered, 2 failed, 4 buffered, 8 accepted by the SMSC, 16
    /// rejected by the SMSC.
    status: u8,
}

/// A delivery report from the gateway (Kannel calls the `dlr-url` the hub gave with each text).
#[utoipa::path(get, path = "/api/v1/sms/reports", tag = "sms", params(GatewayProof, DeliveryReport),
    responses((status = 204), (status = 403), (status = 404), (status = 422)))]
async fn report(
    State(texts): State<Texts>,
    ApiQuery(proof): ApiQuery<GatewayProof>,
    ApiQuery(report): ApiQuery<DeliveryReport>,
) -> Result<StatusCode, ApiError> {
    texts.check_gateway(&proof)?;
    if !texts.report(report.text, report.status).await? {
        return Err(scaan_schemas::Invalid::new("status", "is not a delivery report type: 1, 2, 4, 8 or 16").into());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A text from a phone, as the gateway received it: the body is its text, the `X-Kannel-From`
/// header its sender. The answer (plain text, empty for nobody's number) goes back to them.
#[utoipa::path(post, path = "/api/v1/sms/inbound", tag = "sms", params(GatewayProof),
    request_body(content = String, content_type = "text/plain"),
    responses((status = 200, body = String, content_type = "text/plain"), (status = 403), (status = 404)))]
async fn inbound(
    State(texts): State<Texts>,
    ApiQuery(proof): ApiQuery<GatewayProof>,
    headers: HeaderMap,
    body: String,
) -> Result<impl IntoResponse, ApiError> {
    texts.check_gateway(&proof)?;
    let Some(from) = headers.get("x-kannel-from").and_then(|v| v.to_str().ok()) else {
        return Err(scaan_schemas::Invalid::new("X-Kannel-From", "the sender's number is missing").into());
    };
    let answer = texts.receive(from, &body).await?.unwrap_or_default();
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        answer,
    ))
}
