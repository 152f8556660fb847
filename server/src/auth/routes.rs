//! `POST /api/v1/auth/login` and `POST /api/v1/auth/logout`.

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{Duration, Utc};
use scaan_schemas::{ErrorBody, LoginRequest, LoginResponse};
use std::net::SocketAddr;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{client_address, new_token, token_hash, Busy, Caller};
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
    State(hub): State<Arc<Hub>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let client = client_address(peer.ip(), &headers, &hub.config.trusted_proxies);
    // Counted as a failure from here on, unless the password turns out right.
    let attempt = hub.logins.attempt(&body.username, client).map_err(|retry_after_s| {
        hub.metrics.throttled_logins.inc();
        ApiError::TooManyAttempts { retry_after_s }
    })?;
    let account = hub.store.credentials(&body.username).await?;
    let (user, hash) = account.map(|(u, h)| (Some(u), Some(h))).unwrap_or((None, None));
    let matched = hub
        .passwords
        .verify(body.password, hash)
        .await?
        .map_err(|Busy { retry_after_s }| ApiError::Busy { retry_after_s })?;
    let user = match (matched, user) {
        (true, Some(user)) => user,
        _ => {
            hub.metrics.failed_logins.inc();
            return Err(ApiError::Unauthenticated("wrong username or password"));
        }
    };
    attempt.succeeded();
    let token = new_token();
    let now = Utc::now();
    let expires_at = now + Duration::seconds(hub.config.token_ttl_s as i64);
    hub.store
        .insert_token(&token_hash(&token), user.id, now, expires_at)
        .await?;
    let mqtt_password = hub.mqtt.token_issued(&user, &token, expires_at).await;
    tracing::info!(username = %user.username, "logged in");
    Ok(Json(LoginResponse {
        token,
        expires_at,
        user,
        mqtt_password,
    }))
}

/// Revokes the token this request carries; the streams and MQTT connections it opened close.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
async fn logout(State(hub): State<Arc<Hub>>, caller: Caller) -> Result<StatusCode, ApiError> {
    hub.store.revoke_token(&caller.token_hash, Utc::now()).await?;
    hub.follower.enforce(&caller.user).await?;
    Ok(StatusCode::NO_CONTENT)
}
