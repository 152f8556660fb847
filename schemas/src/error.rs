//! The error body every 4xx/5xx carries, and the validation failure that becomes a 422.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `{"error": {"code": "snake_case_code", "message": "…", "field"?: "area.radius_m"}}`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code a program can branch on.
    pub code: String,
    /// A sentence a person can act on.
    pub message: String,
    /// For 422: the offending field, as a dotted path (`area.geometry.coordinates[0]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For 429: how long to wait before trying again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
}

impl ErrorDetail {
    /// "field: message", or the message alone, for people reading a terminal.
    pub fn message_with_field(&self) -> String {
        match &self.field {
            Some(field) if !field.is_empty() => format!("{field}: {}", self.message),
            _ => self.message.clone(),
        }
    }
}

/// A well-formed value that breaks a rule of the contract: which field, and why. Shown as
/// `field: why`, or just `why` where no field can be named.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{message}", if field.is_empty() { String::new() } else { format!("{field}: ") })]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Prefixes the field path, so nested validators can report `area.radius_m`.
    pub fn within(mut self, parent: &str) -> Self {
        self.field = if self.field.is_empty() || self.field.starts_with('[') {
            format!("{parent}{}", self.field)
        } else {
            format!("{parent}.{}", self.field)
        };
        self
    }
}

/// Rejects empty or oversized free text. `max` counts characters, not bytes.
pub fn check_text(field: &str, value: &str, max: usize, required: bool) -> Result<(), Invalid> {
    if required && value.trim().is_empty() {
        return Err(Invalid::new(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(Invalid::new(field, format!("must be at most {max} characters")));
    }
    Ok(())
}
