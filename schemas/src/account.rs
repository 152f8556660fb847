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
    /// A disabled account cannot log in, and has no session.
    #[serde(default)]
    pub disabled: bool,
    /// The numbers to call or text the person on, in E.164 (`+243970000001`), in their order
    /// of preference: texts go to the first, and to the next when the network cannot deliver
    /// them. Shown to officers and administrators, and to the person themselves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<String>,
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
    /// In E.164 (`+`, then the country code and number, 7 to 15 digits in all), in order of
    /// preference; spaces, dashes, dots and brackets are dropped and `00` read as `+`.
    #[serde(default, deserialize_with = "normalised_phones")]
    pub phones: Vec<String>,
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
        check_password("password", &self.password)?;
        check_text("name", self.name.as_deref().unwrap_or(""), 200, false)?;
        check_countries(self.role, &self.countries)?;
        if let Some(p) = &self.duty_station {
            p.validate(now).map_err(|e| e.within("duty_station"))?;
        }
        check_phones(&self.phones)
    }
}

/// Whether a phone number is in E.164: `+`, a country code not starting with 0, and 7 to 15
/// digits in all, with nothing else (no spaces or dashes: a `tel:` link and a dialler take it
/// as it is).
pub fn is_e164(phone: &str) -> bool {
    let Some(digits) = phone.strip_prefix('+') else {
        return false;
    };
    (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

/// A number as people write it (`+243 970-000-001`, `00243 (970) 000001`) in the form it is
/// stored and matched in; whether that is E.164 is checked apart, so a bad number is named.
pub fn normalise_phone(written: &str) -> String {
    let digits: String = written
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    match digits.strip_prefix("00") {
        Some(rest) => format!("+{rest}"),
        None => digits,
    }
}

fn normalised_phones<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let written = Vec::<String>::deserialize(d)?;
    Ok(written.iter().map(|p| normalise_phone(p)).collect())
}

/// The most numbers one person may have.
pub const MAX_PHONES: usize = 5;

fn check_phones(phones: &[String]) -> Result<(), Invalid> {
    if phones.len() > MAX_PHONES {
        return Err(Invalid::new("phones", format!("at most {MAX_PHONES} numbers")));
    }
    for (i, phone) in phones.iter().enumerate() {
        if !is_e164(phone) {
            return Err(Invalid::new(
                format!("phones[{i}]"),
                "must be an E.164 number: '+', the country code and the number, digits only, such as +243970000001",
            ));
        }
        if phones[..i].contains(phone) {
            return Err(Invalid::new(format!("phones[{i}]"), "is already in the list"));
        }
    }
    Ok(())
}

/// An account's numbers, in order of preference (`PUT /api/v1/users/{id}/phones`); `[]`
/// removes them all.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PhonesChange {
    /// Normalised as in [`NewUser::phones`].
    #[serde(deserialize_with = "normalised_phones")]
    pub phones: Vec<String>,
}

impl Validate for PhonesChange {
    fn validate(&self, _now: DateTime<Utc>) -> Result<(), Invalid> {
        check_phones(&self.phones)
    }
}

fn check_password(field: &str, password: &str) -> Result<(), Invalid> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > 1024 {
        return Err(Invalid::new(
            field,
            format!("must be {MIN_PASSWORD_CHARS} to 1024 characters long"),
        ));
    }
    Ok(())
}

/// Countries are ISO codes, and a security officer needs at least one.
fn check_countries(role: Role, countries: &[String]) -> Result<(), Invalid> {
    for (i, c) in countries.iter().enumerate() {
        if !is_country_code(c) {
            return Err(Invalid::new(
                format!("countries[{i}]"),
                format!("'{c}' is not an ISO 3166-1 alpha-2 code such as CD"),
            ));
        }
    }
    if role == Role::SecurityOfficer && countries.is_empty() {
        return Err(Invalid::new(
            "countries",
            "a security officer needs at least one country",
        ));
    }
    Ok(())
}

/// Changing one's own password (`POST /api/v1/me/password`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

impl Validate for PasswordChange {
    fn validate(&self, _now: DateTime<Utc>) -> Result<(), Invalid> {
        check_password("new_password", &self.new_password)
    }
}

/// An administrator setting someone's password (`POST /api/v1/users/{id}/password`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PasswordReset {
    pub password: String,
}

impl Validate for PasswordReset {
    fn validate(&self, _now: DateTime<Utc>) -> Result<(), Invalid> {
        check_password("password", &self.password)
    }
}

/// An account's new role and countries (`PUT /api/v1/users/{id}/role`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoleChange {
    pub role: Role,
    #[serde(default)]
    pub countries: Vec<String>,
}

impl Validate for RoleChange {
    fn validate(&self, _now: DateTime<Utc>) -> Result<(), Invalid> {
        check_countries(self.role, &self.countries)
    }
}

/// One live login of an account: a token neither expired nor revoked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Session {
    /// Names the session (not the token, which the hub never stores).
    pub id: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The session making this request.
    pub current: bool,
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
    /// For `source` = `position`: `precise` inside an incident that reaches the person (see
    /// `ground`), else `area`, and `position` is then the centre of the grid cell holding it,
    /// with `accuracy_m` the cell's half-diagonal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<Precision>,
    /// Why the position is shown precisely (and the view audited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ground: Option<PreciseGround>,
}

/// How exactly a person's position is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    Precise,
    /// The grid cell of `position_area_deg` holding the position: a town, not a street.
    Area,
}

/// The incident that lets officers see someone's precise position: an active alert that
/// reaches them, an SOS call of theirs not yet resolved, or the alarm of a journey check-in of
/// theirs missed and not yet resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub struct PreciseGround {
    pub kind: GroundKind,
    /// The alert's, the SOS call's or the journey alarm's id.
    pub id: Uuid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroundKind {
    Alert,
    /// A journey's missed-check-in alarm.
    JourneyAlarm,
    Sos,
}

impl GroundKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GroundKind::Alert => "alert",
            GroundKind::JourneyAlarm => "journey_alarm",
            GroundKind::Sos => "sos",
        }
    }

    pub fn parse(s: &str) -> Option<GroundKind> {
        match s {
            "alert" => Some(GroundKind::Alert),
            "journey_alarm" => Some(GroundKind::JourneyAlarm),
            "sos" => Some(GroundKind::Sos),
            _ => None,
        }
    }
}

/// One time an officer saw the person's precise position (`GET /api/v1/me/location-access`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LocationAccess {
    pub at: DateTime<Utc>,
    /// The officer's username.
    pub viewer: String,
    pub ground: PreciseGround,
    /// Where: `staff_positions` (the map), `headcount` (an alert's board), `sos` (the SOS list
    /// and an officer's answer to acknowledging one), `journey_alarms` (the alarms' list and
    /// acknowledging one) or `stream` (the first SOS or alarm envelope of that incident written to
    /// one of the officer's streams).
    pub view: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlaceSource {
    Position,
    DutyStation,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_e164() {
        for good in ["+243970000001", "+14155550123", "+6834002", "+999999999999999"] {
            assert!(is_e164(good), "{good}");
        }
        for bad in [
            "243970000001",      // no +
            "+0243970000001",    // country codes do not start with 0
            "+243 970 000 001",  // spaces
            "+243-970-000-001",  // dashes
            "+243970",           // 6 digits
            "+9999999999999999", // 16 digits
            "+",
            "",
            "+２４３９７００００００１", // full-width digits are not ASCII digits
        ] {
            assert!(!is_e164(bad), "{bad}");
        }
    }

    #[test]
    fn numbers_are_normalised_then_checked_and_a_bad_one_is_named() {
        let change: PhonesChange =
            serde_json::from_value(serde_json::json!({"phones": ["+243 970-000-001", "00 1 (415) 555.0123"]})).unwrap();
        assert_eq!(change.phones, ["+243970000001", "+14155550123"]);
        assert!(change.validate(Utc::now()).is_ok());
        let change: PhonesChange =
            serde_json::from_value(serde_json::json!({"phones": ["+243970000001", "0970 000 001"]})).unwrap();
        assert_eq!(change.validate(Utc::now()).unwrap_err().field, "phones[1]");
        let twice = PhonesChange {
            phones: vec!["+243970000001".into(), "+243970000001".into()],
        };
        assert_eq!(twice.validate(Utc::now()).unwrap_err().field, "phones[1]");
        let many = PhonesChange {
            phones: (1..=6).map(|i| format!("+24397000000{i}")).collect(),
        };
        assert_eq!(many.validate(Utc::now()).unwrap_err().field, "phones");
        assert!(PhonesChange { phones: vec![] }.validate(Utc::now()).is_ok());
    }
}
