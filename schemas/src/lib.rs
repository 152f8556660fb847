//! The SCAAN wire contract (`shared/CONTRACT.md`) as Rust types.
//!
//! Everything that crosses the wire — HTTP bodies, WebSocket frames, MQTT payloads — is defined
//! here once, with its validation, so that the hub, the mobile bridge and the tests agree by
//! construction. The JSON Schema handed to the app team is generated from these same types
//! (see [`json_schema`]), and [`cap`] turns a stored alert into an OASIS CAP 1.2 document.

pub mod account;
pub mod advisory;
pub mod alert;
pub mod area;
pub mod audit;
pub mod cap;
pub mod cap_import;
pub mod cap_message;
pub mod country;
pub mod decode;
pub mod delivery;
pub mod envelope;
pub mod error;
pub mod headcount;
pub mod journey;
pub mod json_schema;
pub mod position;
pub mod report;
pub mod safe_xml;
pub mod sos;
pub mod taxonomy;
pub mod trip;
pub mod warning;

pub use account::{
    is_e164, normalise_phone, GroundKind, LocationAccess, LoginRequest, LoginResponse, NewUser, PasswordChange,
    PasswordReset, PhonesChange, PlaceSource, PreciseGround, Precision, Role, RoleChange, Session, StaffPosition, User,
    UserSummary,
};
pub use advisory::{risk_label, Advisory, NewAdvisory};
pub use alert::{
    Alert, AlertCancel, AlertPatch, Category, Certainty, MsgType, NewAlert, Severity, Status, Urgency, DEFAULT_LIFETIME,
};
pub use area::{Area, Geometry, LonLat};
pub use audit::AuditEntry;
pub use country::is_country_code;
pub use decode::{decode, parse, parse_value, Rejected};
pub use delivery::{AlertDeliveries, AppAck, DeliveryReceipt, ReceiptStatus};
pub use envelope::{ClientMessage, Envelope};
pub use error::{ErrorBody, ErrorDetail, Invalid};
pub use headcount::{
    AccountingFigures, AnswerBucket, Channel, ChannelFigures, Checkin, CheckinStatus, DrillReport, DutyStationFigures,
    Headcount, HeadcountCounts, HeadcountEntry, HeadcountFigures, HeadcountSummary, NewCheckin, PersonStatus,
    TimeToAccount, Unanswered, Via,
};
pub use journey::{
    AlarmStatus, DueStage, Journey, JourneyAlarm, JourneyCheckin, JourneyCheckinStatus, JourneyLeg, JourneyStatus,
    NewJourney, NewLeg,
};
pub use position::{LocationUpdate, Position};
pub use report::{NewReport, Report, ReportMerge, ReportStatus, ReportTriage, TriageDecision};
pub use sos::{NewSos, Sos, SosNote, SosStatus, TrailPoint};
pub use taxonomy::{IncidentCategory, IncidentTaxonomy};
pub use trip::{Clearance, ClearanceDecision, Destination, NewTrip, Trip, TripPlan, TripStatus};
pub use warning::{FeedFetch, FetchOutcome, NewWarningFeed, Warning, WarningFeed, WarningState};

/// Checks a well-formed value against the contract's rules. `now` is passed in so that rules
/// such as "expiry in the past" are testable and agree across one request.
pub trait Validate {
    fn validate(&self, now: chrono::DateTime<chrono::Utc>) -> Result<(), Invalid>;
}
