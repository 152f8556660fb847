//! Accounts, roles and login.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::country::is_country_code;
use crate::error::check_text;
use crate::{Invalid, Position, Validate};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The mobile app user: receives alerts, checks in, raises SOS, reports incidents.
    Staff,
    /// A field or regional security officer, acting only in the countries on the account.
    SecurityOfficer,
    /// The operations centre: every country.
    WatchOfficer,
    /// Manages accounts.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Staff => "staff",
            Role::SecurityOfficer => "security_officer",
            Role::WatchOfficer => "watch_officer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        [Role::Staff, Role::SecurityOfficer, Role::WatchOfficer, Role::Admin]
            .into_iter()
            .find(|r| r.as_str() == value)
    }
}

/// An account as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub name: String,
    pub role: Role,
    /// For security officers: the countries they act in (ISO 3166-1 alpha-2).
    #[serde(default)]
    pub countries: Vec<String>,
    /// Where the person is based; targets them when no fresher position is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duty_station: Option<Position>,
}

/// The short form of an account, as in the login answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserSummary {
    pub id: Uuid,
    pub username: String,
    pub name: String,
    pub role: Role,
}

/// An account to create (`POST /api/v1/users`, `scaan user add`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    pub role: Role,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub countries: Vec<String>,
    #[serde(default)]
    pub duty_station: Option<Position>,
}

pub const MIN_PASSWORD_CHARS: usize = 10;

impl Validate for NewUser {
    fn validate(&self, now: DateTime<Utc>) -> Result<(), Invalid> {
        let name_ok = (3..=64).contains(&self.username.len())
            && self
                .username
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if !name_ok {
            return Err(Invalid::new(
                "username",
                "must be 3 to 64 characters of a-z, 0-9, '.', '_' or '-'",
            ));
        }
        if self.password.chars().count() < MIN_PASSWORD_CHARS || self.password.len() > 1024 {
            return Err(Invalid::new(
                "password",
                format!("must be {MIN_PASSWORD_CHARS} to 1024 characters long"),
            ));
        }
        check_text("name", self.name.as_deref().unwrap_or(""), 200, false)?;
        for (i, c) in self.countries.iter().enumerate() {
            if !is_country_code(c) {
                return Err(Invalid::new(
                    format!("countries[{i}]"),
                    format!("'{c}' is not an ISO 3166-1 alpha-2 code such as CD"),
                ));
            }
        }
        if self.role == Role::SecurityOfficer && self.countries.is_empty() {
            return Err(Invalid::new(
                "countries",
                "a security officer needs at least one country",
            ));
        }
        if let Some(p) = &self.duty_station {
            p.validate(now).map_err(|e| e.within("duty_station"))?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

impl Validate for LoginRequest {
    /// Anything goes: a wrong username or password is a 401, not a 422.
    fn validate(&self, _now: DateTime<Utc>) -> Result<(), Invalid> {
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// An opaque bearer token.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: User,
    /// The MQTT password, when the hub's broker takes another than `token` (an external NATS
    /// server: a signed credential for this login, expiring with it). Absent, the MQTT
    /// password is `token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mqtt_password: Option<String>,
}

/// Where the operations-centre map shows a staff member: the last reported position while it
/// is fresh enough to target by, else the duty station (the place alerts would reach them at).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StaffPosition {
    pub staff_id: Uuid,
    pub username: String,
    pub name: String,
    pub position: Position,
    /// `position` (reported by the phone) or `duty_station`.
    pub source: PlaceSource,
    /// When the phone took the fix (for `source` = `position`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_at: Option<DateTime<Utc>>,
    /// ISO 3166-1 alpha-2 code of the country the place lies in (absent at sea).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlaceSource {
    Position,
    DutyStation,
}
