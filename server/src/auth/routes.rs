//! `POST /api/v1/auth/login` and `POST /api/v1/auth/logout`.

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use scaan_schemas::{ErrorBody, LoginRequest, LoginResponse};
use std::net::SocketAddr;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Caller, Logins};
use crate::error::{ApiError, ApiJson};
use crate::hub::Hub;

pub fn router() -> OpenApiRouter<Arc<Hub>> {
    OpenApiRouter::new().routes(routes!(login)).routes(routes!(logout))
}

/// Exchanges a username and password for a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn login(
    State(logins): State<Logins>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    Ok(Json(logins.login(peer.ip(), &headers, body).await?))
}

/// Revokes the token this request carries; the streams and MQTT connections it opened close.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
async fn logout(State(logins): State<Logins>, caller: Caller) -> Result<StatusCode, ApiError> {
    logins.logout(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}
