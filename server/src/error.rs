//! The hub's one error type, and the extractors whose rejections speak the contract's error
//! format (`{"error": {"code", "message", "field"?}}`) instead of axum's plain text.

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::Utc;
use scaan_schemas::{ErrorBody, ErrorDetail, Invalid, Rejected, Validate};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::auth::Forbidden;
use crate::storage::{Conflict, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadJson(String),
    #[error("{0}")]
    BadXml(String),
    #[error("{0}")]
    Invalid(Invalid),
    #[error("the body is larger than the hub accepts")]
    TooLarge,
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A 404 with its own code, for things that may legitimately not exist yet.
    #[error("{message}")]
    Missing { code: &'static str, message: String },
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    /// The client refuses the only encoding the resource is kept in.
    #[error("{0}")]
    NotAcceptable(&'static str),
    #[error("this is a WebSocket endpoint: open it with an upgrade request")]
    UpgradeRequired,
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("too many failed attempts; try again in {retry_after_s} s")]
    TooManyAttempts { retry_after_s: u64 },
    #[error("the request took too long")]
    Timeout,
    #[error("the hub is not ready")]
    Unavailable,
    /// Too much of one kind of work at once (password checks): come back shortly.
    #[error("the hub is busy; try again in {retry_after_s} s")]
    Busy { retry_after_s: u64 },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        ApiError::Invalid(e)
    }
}

impl From<Rejected> for ApiError {
    fn from(e: Rejected) -> Self {
        match e {
            Rejected::Syntax(message) => ApiError::BadJson(message),
            Rejected::Invalid(invalid) => ApiError::Invalid(invalid),
        }
    }
}

impl From<Forbidden> for ApiError {
    fn from(e: Forbidden) -> Self {
        ApiError::Forbidden(e.0)
    }
}

/// What the hub answers for a failure of its own; the detail goes to the log.
pub const INTERNAL_MESSAGE: &str = "the hub failed to handle this request; it has been logged";

/// A change the database refused, as the contract names it (code, message), on every channel;
/// `None` when the failure is the hub's own.
pub fn conflict_of(e: &StoreError) -> Option<(&'static str, &'static str)> {
    // Every conflict is named here: a new kind fails the build until it has its words.
    let StoreError::Conflict(conflict) = e else {
        return None;
    };
    Some(match conflict {
        Conflict::UsernameTaken => ("username_taken", "that username is already taken"),
        Conflict::ChangedMeanwhile => (
            "changed_meanwhile",
            "someone else changed this at the same time; reload it and try again",
        ),
        Conflict::SosChanged => (
            "sos_changed",
            "this SOS changed meanwhile (someone else acted on it); reload it",
        ),
        Conflict::FeedFollowed => ("feed_followed", "a feed with that URL is followed already"),
    })
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match conflict_of(&e) {
            Some((code, message)) => ApiError::Conflict {
                code,
                message: message.into(),
            },
            None => ApiError::Internal(e.into()),
        }
    }
}

impl ApiError {
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::Forbidden(message.into())
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadJson(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
            ApiError::BadXml(_) => (StatusCode::BAD_REQUEST, "malformed_xml"),
            ApiError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            ApiError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            ApiError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Missing { code, .. } => (StatusCode::NOT_FOUND, code),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::NotAcceptable(_) => (StatusCode::NOT_ACCEPTABLE, "not_acceptable"),
            ApiError::UpgradeRequired => (StatusCode::UPGRADE_REQUIRED, "upgrade_required"),
            ApiError::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            ApiError::TooManyAttempts { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
            ApiError::Timeout => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
            ApiError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// The body clients see; internal details stay in the log.
    pub fn body(&self) -> ErrorBody {
        let (_, code) = self.status_and_code();
        let message = match self {
            ApiError::Internal(_) => INTERNAL_MESSAGE.to_owned(),
            ApiError::Invalid(e) if e.field.is_empty() => e.message.clone(),
            other => other.to_string(),
        };
        ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message,
                field: match self {
                    ApiError::Invalid(e) => Some(e.field.clone()),
                    _ => None,
                },
                retry_after_s: match self {
                    ApiError::TooManyAttempts { retry_after_s } | ApiError::Busy { retry_after_s } => {
                        Some(*retry_after_s)
                    }
                    _ => None,
                },
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, _) = self.status_and_code();
        if let ApiError::Internal(e) = &self {
            tracing::error!(error = format!("{e:#}"), "request failed");
        }
        let mut response = (status, axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        match self {
            ApiError::Unauthenticated(_) => {
                headers.insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
            }
            ApiError::TooManyAttempts { retry_after_s } | ApiError::Busy { retry_after_s } => {
                headers.insert(header::RETRY_AFTER, retry_after_s.into());
            }
            _ => {}
        }
        response
    }
}

/// A request's body, 413 when too large.
async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) => ApiError::TooLarge,
        other => ApiError::BadJson(other.body_text()),
    })
}

/// A JSON body read the contract's way: 400 for broken JSON, 422 naming the field for JSON
/// that does not fit (including unknown fields), 413 when too large; then `T`'s rules.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Validate> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, state).await?;
        Ok(ApiJson(scaan_schemas::decode(&bytes, Utc::now())?))
    }
}

/// A JSON body that may be left out: an empty or blank body is `None`; any other is read as
/// [`ApiJson`] reads it.
pub struct OptionalJson<T>(pub Option<T>);

impl<S: Send + Sync, T: DeserializeOwned + Validate> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        Ok(OptionalJson(Some(scaan_schemas::decode(&bytes, Utc::now())?)))
    }
}

/// A UUID path segment; anything that is not one cannot name a stored thing, so it is a 404.
pub struct PathId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("id"))?;
        raw.parse().map(PathId).map_err(|_| ApiError::NotFound("id"))
    }
}

/// Query parameters; a value that does not fit is a 422.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(e) => Err(ApiError::Invalid(Invalid::new("query", e.body_text()))),
        }
    }
}
