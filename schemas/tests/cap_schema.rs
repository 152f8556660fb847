//! The hub's CAP documents validate against the OASIS CAP 1.2 schema, checked with `xmllint`
//! (Debian's `libxml2-utils`) so that the check is independent of our own XML code.

use std::io::{ErrorKind, Write};
use std::path::Path;
use std::process::Command;

use scaan_schemas::cap::to_cap_xml;
use scaan_schemas::Alert;
use serde_json::{json, Value};

/// The OASIS CAP 1.2 schema, kept in the repository (OASIS publishes it for redistribution).
const XSD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/CAP-v1.2.xsd");
const SENDER: &str = "scaan@ops.example.org";

/// A stored circle alert, with `changes` replacing top-level fields.
fn alert(changes: Value) -> Alert {
    let mut stored = json!({
        "id": "0b6a4a6e-3c1d-4c55-9e0b-2f1b8a3c7d10", "msg_type": "alert", "revision": 1,
        "sent_at": "2026-11-22T08:15:00Z", "updated_at": "2026-11-22T08:15:00.250Z",
        "sender": "jdoe", "recipients": 3, "countries": ["CD"],
        "headline": "Armed clashes reported near Beni", "event": "Armed clash",
        "category": "security", "urgency": "immediate", "severity": "severe",
        "certainty": "observed", "expires_at": "2026-11-23T08:00:00Z",
        "area": {"description": "Beni, North Kivu",
                 "geometry": {"type": "Point", "coordinates": [29.47, 0.49]}, "radius_m": 5000}
    });
    for (key, value) in changes.as_object().expect("changes are a JSON object") {
        stored[key] = value.clone();
    }
    serde_json::from_value(stored).expect("a well-formed stored alert")
}

/// Runs `xmllint --schema` on `xml`: `Err` carries xmllint's complaint.
fn xmllint(xml: &str) -> Result<(), String> {
    assert!(Path::new(XSD).is_file(), "the CAP 1.2 schema is not at {XSD}");
    let mut file = tempfile::Builder::new()
        .suffix(".xml")
        .tempfile()
        .expect("create a temporary file");
    file.write_all(xml.as_bytes()).expect("write the CAP document");
    let output = Command::new("xmllint")
        .args(["--noout", "--schema", XSD])
        .arg(file.path())
        .output()
        .unwrap_or_else(|e| match e.kind() {
            ErrorKind::NotFound => {
                panic!("xmllint is not on PATH; install it with `apt-get install libxml2-utils`")
            }
            _ => panic!("could not run xmllint: {e}"),
        });
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

#[track_caller]
fn assert_valid(alert: &Alert) {
    let xml = to_cap_xml(alert, SENDER);
    if let Err(why) = xmllint(&xml) {
        panic!("the CAP document does not validate:\n{why}\n{xml}");
    }
}

#[test]
fn a_circle_alert_is_valid() {
    assert_valid(&alert(json!({
        "description": "Gunfire heard since 06:00.",
        "instruction": "Stay indoors, away from windows.",
        "checkin_required": true, "checkin_deadline_s": 1800
    })));
}

#[test]
fn a_polygon_with_a_hole_is_valid() {
    let outer = json!([[29.0, 0.0], [30.0, 0.0], [30.0, 1.0], [29.0, 1.0], [29.0, 0.0]]);
    let hole = json!([[29.4, 0.4], [29.6, 0.4], [29.6, 0.6], [29.4, 0.4]]);
    assert_valid(&alert(json!({"area": {"description": "Beni territory",
        "geometry": {"type": "Polygon", "coordinates": [outer, hole]}}})));
}

#[test]
fn a_multipolygon_across_two_countries_is_valid() {
    let congo = json!([[29.0, 0.0], [29.5, 0.0], [29.5, 0.5], [29.0, 0.0]]);
    let uganda = json!([[30.0, 0.0], [30.5, 0.0], [30.5, 0.5], [30.0, 0.0]]);
    assert_valid(&alert(json!({
        "countries": ["CD", "UG"],
        "area": {"description": "Border crossings",
                 "geometry": {"type": "MultiPolygon", "coordinates": [[congo], [uganda]]}}
    })));
}

#[test]
fn a_cancelled_alert_with_its_reason_is_valid() {
    assert_valid(&alert(json!({
        "msg_type": "cancel", "revision": 2, "updated_at": "2026-11-22T11:00:00Z",
        "cancel_reason": "Sent for the wrong district."
    })));
}

#[test]
fn a_third_revision_update_is_valid() {
    assert_valid(&alert(json!({
        "msg_type": "update", "revision": 3, "updated_at": "2026-11-22T12:30:45.999Z",
        "severity": "extreme", "headline": "Clashes spreading towards the airport"
    })));
}

#[test]
fn xml_special_and_non_ascii_text_is_valid() {
    assert_valid(&alert(json!({
        "headline": "Bunia — école <fermée> & \"barricades\"",
        "event": "Manifestation à l'école",
        "description": "Évitez la route N27 ]]> <!-- & --> 'près du marché' 北 🚧\u{7}",
        "instruction": "Restez à l'intérieur & attendez <instructions>.",
        "area": {"description": "Bunia — école Saint-Joseph",
                 "geometry": {"type": "Point", "coordinates": [30.25, 1.56]}, "radius_m": 750}
    })));
}

#[test]
fn every_code_list_value_is_spelled_as_the_schema_wants() {
    let values = [
        ("status", &["actual", "exercise", "test"][..]),
        ("msg_type", &["alert", "update", "cancel"]),
        ("urgency", &["immediate", "expected", "future", "past", "unknown"]),
        ("severity", &["extreme", "severe", "moderate", "minor", "unknown"]),
        ("certainty", &["observed", "likely", "possible", "unlikely", "unknown"]),
        (
            "category",
            &[
                "geo",
                "met",
                "safety",
                "security",
                "rescue",
                "fire",
                "health",
                "env",
                "transport",
                "infra",
                "cbrne",
                "other",
            ],
        ),
    ];
    for (field, wire_values) in values {
        for value in wire_values {
            let xml = to_cap_xml(&alert(json!({ field: value })), SENDER);
            if let Err(why) = xmllint(&xml) {
                panic!("{field} = {value} does not validate:\n{why}");
            }
        }
    }
}

#[test]
fn the_check_rejects_invalid_documents() {
    let xml = to_cap_xml(&alert(json!({})), SENDER);
    assert_eq!(xmllint(&xml), Ok(()));

    let without_status = xml.replace("<status>Actual</status>", "");
    assert_ne!(without_status, xml);
    assert!(xmllint(&without_status).is_err(), "a missing <status> passed");

    let zulu = xml.replace(
        "<sent>2026-11-22T08:15:00+00:00</sent>",
        "<sent>2026-11-22T08:15:00Z</sent>",
    );
    assert_ne!(zulu, xml);
    assert!(xmllint(&zulu).is_err(), "a `Z` date passed");
}
