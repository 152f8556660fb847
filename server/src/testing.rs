//! What the services' unit tests build their cases from: an account, a caller, an alert near
//! Beni. Compiled for tests only.

use chrono::{Duration, Utc};
use scaan_schemas::{
    Alert, Area, Category, Certainty, Geometry, LonLat, MsgType, NewAlert, Role, Severity, Status, Urgency, User,
};
use uuid::Uuid;

/// An account named kasongo, of `role`, for `countries`.
pub fn user(role: Role, countries: &[&str]) -> User {
    User {
        id: Uuid::new_v4(),
        username: "kasongo".into(),
        name: "Kasongo".into(),
        role,
        countries: countries.iter().map(|c| c.to_string()).collect(),
        duty_station: None,
        disabled: false,
        phones: Vec::new(),
    }
}

/// [`user`] calling with a live token.
pub fn caller(role: Role, countries: &[&str]) -> crate::auth::Caller {
    crate::auth::Caller {
        user: user(role, countries),
        token_hash: [0; 32],
        expires_at: Utc::now(),
    }
}

/// A first revision, just sent to three people, of a 5 km circle around Beni that asks for
/// check-ins; it reaches `countries`.
pub fn alert_near_beni(countries: &[&str]) -> Alert {
    let now = Utc::now();
    Alert {
        id: Uuid::new_v4(),
        msg_type: MsgType::Alert,
        revision: 1,
        sent_at: now,
        updated_at: now,
        sender: "kasongo".into(),
        recipients: 3,
        countries: countries.iter().map(|c| c.to_string()).collect(),
        time_zone: Some("Africa/Lubumbashi".into()),
        content: NewAlert {
            headline: "Armed clashes reported near Beni".into(),
            description: None,
            instruction: None,
            event: "Armed clash".into(),
            category: Category::Security,
            urgency: Urgency::Immediate,
            severity: Severity::Severe,
            certainty: Certainty::Observed,
            status: Status::Actual,
            area: Area {
                description: "Beni".into(),
                geometry: Geometry::Point {
                    coordinates: LonLat([29.47, 0.49]),
                },
                radius_m: Some(5_000.0),
            },
            expires_at: now + Duration::hours(6),
            checkin_required: true,
            checkin_deadline_s: None,
        },
        cancel_reason: None,
    }
}
