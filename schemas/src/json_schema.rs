//! JSON Schema of the wire types, for the app team: one JSON Schema 2020-12 document whose
//! `$defs` hold every type in this crate, generated from the same Rust types the hub uses.
//! The generated file is committed at `schemas/json-schema/scaan-v1.schema.json`; a test keeps
//! it current (`SCAAN_UPDATE_SCHEMA=1 cargo test -p scaan-schemas` rewrites it).

use serde_json::{json, Value};
use utoipa::OpenApi;

use crate::*;

#[derive(OpenApi)]
#[openapi(components(schemas(
    Advisory,
    Alert,
    AlertCancel,
    AlertDeliveries,
    AppAck,
    AlertPatch,
    AuditEntry,
    Area,
    ClientMessage,
    DeliveryReceipt,
    ReceiptStatus,
    Envelope,
    ErrorBody,
    Headcount,
    NewCheckin,
    NewSos,
    Sos,
    StaffPosition,
    SosNote,
    Checkin,
    Clearance,
    IncidentTaxonomy,
    LocationUpdate,
    LoginRequest,
    LoginResponse,
    NewAdvisory,
    NewAlert,
    NewReport,
    NewTrip,
    NewUser,
    PasswordChange,
    PasswordReset,
    Position,
    Report,
    ReportMerge,
    ReportTriage,
    RoleChange,
    Session,
    Trip,
    TripPlan,
    User,
    Warning,
    WarningFeed,
    NewWarningFeed,
    FeedFetch,
    NewJourney,
    Journey,
    JourneyCheckin,
    JourneyAlarm,
)))]
struct WireTypes;

/// Every wire type as one JSON Schema document.
pub fn json_schema() -> Value {
    let components = WireTypes::openapi().components.map(|c| c.schemas).unwrap_or_default();
    let mut defs = serde_json::to_value(components).expect("schemas serialize");
    rewrite_refs(&mut defs);
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:scaan:wire:v1",
        "title": "SCAAN wire contract v1",
        "description": "Types of the SCAAN hub's HTTP bodies, WebSocket frames and MQTT payloads. See CONTRACT.md.",
        "$defs": defs,
    })
}

/// OpenAPI points at `#/components/schemas/X`; a standalone schema keeps them in `#/$defs/X`.
fn rewrite_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get_mut("$ref") {
                *target = target.replace("#/components/schemas/", "#/$defs/");
            }
            map.values_mut().for_each(rewrite_refs);
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    out.push(target.clone());
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves() {
        let schema = json_schema();
        let mut targets = Vec::new();
        refs(&schema, &mut targets);
        assert!(!targets.is_empty());
        for target in targets {
            let name = target
                .strip_prefix("#/$defs/")
                .unwrap_or_else(|| panic!("unexpected $ref {target}"));
            assert!(schema["$defs"][name].is_object(), "{target} does not resolve");
        }
        for name in ["NewAlert", "Alert", "Envelope", "Geometry", "Category", "ErrorBody"] {
            assert!(schema["$defs"][name].is_object(), "{name} missing");
        }
    }

    #[test]
    fn the_committed_schema_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/json-schema/scaan-v1.schema.json");
        let generated = serde_json::to_string_pretty(&json_schema()).unwrap() + "\n";
        if std::env::var_os("SCAAN_UPDATE_SCHEMA").is_some() {
            std::fs::create_dir_all(std::path::Path::new(path).parent().unwrap()).unwrap();
            std::fs::write(path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "{path} is out of date with the Rust types; regenerate it with SCAAN_UPDATE_SCHEMA=1 cargo test -p scaan-schemas"
        );
    }
}
