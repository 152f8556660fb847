//! Alert → OASIS CAP 1.2 XML, as served by `GET /api/v1/alerts/{id}/cap`.
//!
//! The document must validate against the OASIS schema (`schemas/tests/data/CAP-v1.2.xsd`), whose
//! sequences fix the order of elements: the writers below follow that order, so keep it when
//! adding elements.

use std::borrow::Cow;
use std::io;

use chrono::{DateTime, SecondsFormat, Utc};
use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;

use crate::{Alert, Area, Geometry, LonLat};

/// CAP 1.2's XML namespace.
pub const NAMESPACE: &str = "urn:oasis:names:tc:emergency:cap:1.2";

/// The `<restriction>` text that goes with scope `Restricted`.
const RESTRICTION: &str = "SCAAN staff-security alert: for the organisation's staff and security officers only";

type XmlWriter = Writer<Vec<u8>>;

/// Renders `alert` as a CAP 1.2 `<alert>` document (scope Restricted), valid against the OASIS
/// schema. `sender` is the CAP sender identifier of this hub, e.g. "scaan@ops.example.org"; CAP
/// forbids spaces, commas, `<` and `&` in it, which would break `<references>`.
pub fn to_cap_xml(alert: &Alert, sender: &str) -> String {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    write_alert(&mut writer, alert, sender).expect("writing into a Vec<u8> cannot fail");
    String::from_utf8(writer.into_inner()).expect("the document is written from &str: UTF-8")
}

fn write_alert(w: &mut XmlWriter, alert: &Alert, sender: &str) -> io::Result<()> {
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    w.create_element("alert")
        .with_attribute(("xmlns", NAMESPACE))
        .write_inner_content(|w| {
            text(w, "identifier", &identifier(alert))?;
            text(w, "sender", sender)?;
            // `sent` is when this revision went out; the original's time is in `references`.
            text(w, "sent", &cap_time(alert.updated_at))?;
            text(w, "status", alert.content.status.cap())?;
            text(w, "msgType", alert.msg_type.cap())?;
            text(w, "scope", "Restricted")?;
            text(w, "restriction", RESTRICTION)?;
            if let Some(reason) = &alert.cancel_reason {
                text(w, "note", reason)?;
            }
            if alert.revision > 1 {
                // CAP asks for every earlier message as `sender,identifier,sent`, but only the
                // original's sent time is stored, not the intermediate revisions': so reference
                // the original alone.
                let original = format!("{sender},urn:uuid:{},{}", alert.id, cap_time(alert.sent_at));
                text(w, "references", &original)?;
            }
            write_info(w, alert)
        })?;
    Ok(())
}

fn write_info(w: &mut XmlWriter, alert: &Alert) -> io::Result<()> {
    let content = &alert.content;
    w.create_element("info").write_inner_content(|w| {
        text(w, "language", "en")?;
        text(w, "category", content.category.cap())?;
        text(w, "event", &content.event)?;
        text(w, "urgency", content.urgency.cap())?;
        text(w, "severity", content.severity.cap())?;
        text(w, "certainty", content.certainty.cap())?;
        text(w, "expires", &cap_time(content.expires_at))?;
        let sender_name = format!("SCAAN hub (officer: {})", alert.sender);
        text(w, "senderName", &sender_name)?;
        text(w, "headline", &content.headline)?;
        // An update may clear a text by sending it empty; an empty element says nothing.
        for (name, value) in [
            ("description", &content.description),
            ("instruction", &content.instruction),
        ] {
            if let Some(value) = value.as_deref().filter(|v| !v.trim().is_empty()) {
                text(w, name, value)?;
            }
        }
        let checkin_required = content.checkin_required.to_string();
        value_pair(w, "parameter", "SCAAN:checkin_required", &checkin_required)?;
        if let Some(deadline) = content.checkin_deadline_s {
            let deadline = deadline.to_string();
            value_pair(w, "parameter", "SCAAN:checkin_deadline_s", &deadline)?;
        }
        write_area(w, &content.area, &alert.countries)
    })?;
    Ok(())
}

fn write_area(w: &mut XmlWriter, area: &Area, countries: &[String]) -> io::Result<()> {
    w.create_element("area").write_inner_content(|w| {
        text(w, "areaDesc", &area.description)?;
        match &area.geometry {
            Geometry::Point { coordinates } => {
                // CAP's radius is in kilometres. A validated circle always has a radius; should
                // one be missing, a zero radius still carries the location.
                let km = area.radius_m.unwrap_or(0.0) / 1000.0;
                text(w, "circle", &format!("{} {km}", lat_lon(*coordinates)))?;
            }
            Geometry::Polygon { coordinates } => polygon(w, coordinates)?,
            Geometry::MultiPolygon { coordinates } => {
                for rings in coordinates {
                    polygon(w, rings)?;
                }
            }
        }
        for country in countries {
            value_pair(w, "geocode", "ISO3166-1", country)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// CAP polygons have no holes, so only the outer ring is sent. Dropping a hole widens the area,
/// which for a safety alert errs on the side of reaching more people.
fn polygon(w: &mut XmlWriter, rings: &[Vec<LonLat>]) -> io::Result<()> {
    let Some(outer) = rings.first() else {
        return Ok(());
    };
    let pairs: Vec<String> = outer.iter().map(|p| lat_lon(*p)).collect();
    text(w, "polygon", &pairs.join(" "))
}

/// CAP's WGS84 coordinate pair, `lat,lon`: GeoJSON's order reversed.
fn lat_lon(p: LonLat) -> String {
    format!("{},{}", p.lat(), p.lon())
}

/// `urn:uuid:{id}` for the first revision. Each CAP message needs its own identifier, so later
/// revisions append `:r{n}`.
fn identifier(alert: &Alert) -> String {
    match alert.revision {
        0 | 1 => format!("urn:uuid:{}", alert.id),
        n => format!("urn:uuid:{}:r{n}", alert.id),
    }
}

/// CAP's date form: the schema's pattern refuses `Z` and fractional seconds, so this is whole
/// seconds (truncated) with a `+00:00` offset.
fn cap_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// The `valueName`/`value` pair that CAP's `<parameter>` and `<geocode>` hold.
fn value_pair(w: &mut XmlWriter, element: &str, name: &str, value: &str) -> io::Result<()> {
    w.create_element(element).write_inner_content(|w| {
        text(w, "valueName", name)?;
        text(w, "value", value)
    })?;
    Ok(())
}

/// `<name>value</name>`, with `value` escaped.
fn text(w: &mut XmlWriter, name: &str, value: &str) -> io::Result<()> {
    w.create_element(name)
        .write_text_content(BytesText::new(&xml_chars(value)))?;
    Ok(())
}

/// XML 1.0 cannot carry most control characters, not even as character references. Officers'
/// free text is not checked for them, so they become U+FFFD rather than make the document
/// unreadable to every CAP consumer.
fn xml_chars(value: &str) -> Cow<'_, str> {
    let allowed = |c: char| !matches!(c, '\0'..='\x08' | '\x0B' | '\x0C' | '\x0E'..='\x1F' | '\u{FFFE}' | '\u{FFFF}');
    if value.chars().all(allowed) {
        Cow::Borrowed(value)
    } else {
        let replace = |c| {
            if allowed(c) {
                c
            } else {
                char::REPLACEMENT_CHARACTER
            }
        };
        Cow::Owned(value.chars().map(replace).collect())
    }
}

#[cfg(test)]
mod tests {
    use quick_xml::events::Event;
    use quick_xml::Reader;
    use serde_json::{json, Value};

    use super::*;

    const ID: &str = "0b6a4a6e-3c1d-4c55-9e0b-2f1b8a3c7d10";
    const SENDER: &str = "scaan@ops.example.org";

    /// A stored circle alert, with `changes` replacing top-level fields.
    fn alert(changes: Value) -> Alert {
        let mut stored = json!({
            "id": ID, "msg_type": "alert", "revision": 1,
            "sent_at": "2026-11-22T08:15:00Z", "updated_at": "2026-11-22T08:15:00Z",
            "sender": "jdoe", "recipients": 3, "countries": ["CD"],
            "headline": "Armed clashes reported near Beni", "event": "Armed clash",
            "category": "security", "urgency": "immediate", "severity": "severe",
            "certainty": "observed", "expires_at": "2026-11-23T08:00:00Z",
            "area": {"description": "Beni, North Kivu",
                     "geometry": {"type": "Point", "coordinates": [29.47, 0.49]}, "radius_m": 5000}
        });
        for (key, value) in changes.as_object().unwrap() {
            stored[key] = value.clone();
        }
        serde_json::from_value(stored).unwrap()
    }

    /// The unescaped text of every `<name>` element, read back with an XML parser.
    fn texts(xml: &str, name: &str) -> Vec<String> {
        let mut reader = Reader::from_str(xml);
        let (mut inside, mut found) = (false, Vec::new());
        loop {
            match reader.read_event().unwrap() {
                Event::Start(e) => inside = e.name().as_ref() == name.as_bytes(),
                Event::Text(t) if inside => found.push(t.unescape().unwrap().into_owned()),
                Event::End(_) => inside = false,
                Event::Eof => return found,
                _ => {}
            }
        }
    }

    #[test]
    fn a_circle_is_lat_lon_with_its_radius_in_kilometres() {
        let xml = to_cap_xml(&alert(json!({})), SENDER);
        assert_eq!(texts(&xml, "circle"), ["0.49,29.47 5"]);
        assert!(texts(&xml, "polygon").is_empty());

        let area = json!({"description": "x", "radius_m": 2500,
                          "geometry": {"type": "Point", "coordinates": [-77.0365, 38.8977]}});
        let xml = to_cap_xml(&alert(json!({ "area": area })), SENDER);
        assert_eq!(texts(&xml, "circle"), ["38.8977,-77.0365 2.5"]);
    }

    #[test]
    fn the_document_is_a_restricted_cap_1_2_alert() {
        let xml = to_cap_xml(&alert(json!({})), SENDER);
        assert!(xml.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?>"#));
        assert!(xml.contains(r#"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">"#));
        assert_eq!(texts(&xml, "sender"), [SENDER]);
        assert_eq!(texts(&xml, "status"), ["Actual"]);
        assert_eq!(texts(&xml, "msgType"), ["Alert"]);
        assert_eq!(texts(&xml, "scope"), ["Restricted"]);
        assert_eq!(texts(&xml, "restriction"), [RESTRICTION]);
        assert_eq!(texts(&xml, "category"), ["Security"]);
        assert_eq!(texts(&xml, "senderName"), ["SCAAN hub (officer: jdoe)"]);
    }

    #[test]
    fn the_first_revision_has_the_plain_identifier_and_no_references() {
        let xml = to_cap_xml(&alert(json!({})), SENDER);
        assert_eq!(texts(&xml, "identifier"), [format!("urn:uuid:{ID}")]);
        assert!(texts(&xml, "references").is_empty());
    }

    #[test]
    fn a_later_revision_has_its_own_identifier_and_references_the_original() {
        let update = alert(json!({"msg_type": "update", "revision": 2,
                                  "updated_at": "2026-11-22T10:00:00Z"}));
        let xml = to_cap_xml(&update, SENDER);
        assert_eq!(texts(&xml, "identifier"), [format!("urn:uuid:{ID}:r2")]);
        assert_eq!(texts(&xml, "msgType"), ["Update"]);
        assert_eq!(texts(&xml, "sent"), ["2026-11-22T10:00:00+00:00"]);
        assert_eq!(
            texts(&xml, "references"),
            [format!("{SENDER},urn:uuid:{ID},2026-11-22T08:15:00+00:00")]
        );
    }

    #[test]
    fn dates_are_whole_seconds_with_a_numeric_offset() {
        let late = alert(json!({"updated_at": "2026-11-22T09:30:59.999Z",
                                "expires_at": "2026-11-23T08:00:00.5Z"}));
        let xml = to_cap_xml(&late, SENDER);
        assert_eq!(texts(&xml, "sent"), ["2026-11-22T09:30:59+00:00"]);
        assert_eq!(texts(&xml, "expires"), ["2026-11-23T08:00:00+00:00"]);
        assert!(!xml.contains("Z<"));
    }

    #[test]
    fn special_characters_are_escaped_and_read_back_unchanged() {
        let headline = r#"Shots <near> "Gate 3" & the market"#;
        let description = "Avoid <b>Route N4</b> & \"ring road\"; it's closed]]>";
        let xml = to_cap_xml(
            &alert(json!({"headline": headline, "description": description})),
            SENDER,
        );
        assert!(xml.contains("Shots &lt;near&gt; &quot;Gate 3&quot; &amp; the market"));
        assert!(!xml.contains("<near>") && !xml.contains("<b>"));
        assert_eq!(texts(&xml, "headline"), [headline]);
        assert_eq!(texts(&xml, "description"), [description]);
    }

    #[test]
    fn blank_optional_texts_are_left_out() {
        let xml = to_cap_xml(&alert(json!({"description": "", "instruction": " "})), SENDER);
        assert!(!xml.contains("<description") && !xml.contains("<instruction"));
    }

    #[test]
    fn control_characters_xml_cannot_carry_are_replaced() {
        let xml = to_cap_xml(&alert(json!({"description": "bell\u{7}\ttab\nline"})), SENDER);
        assert_eq!(texts(&xml, "description"), ["bell\u{FFFD}\ttab\nline"]);
    }

    #[test]
    fn polygons_send_their_outer_rings_in_lat_lon_order() {
        let outer = json!([[29.0, 0.0], [30.0, 0.0], [30.0, 1.0], [29.0, 0.0]]);
        let hole = json!([[29.6, 0.2], [29.8, 0.2], [29.8, 0.4], [29.6, 0.2]]);
        let area = json!({"description": "x",
                          "geometry": {"type": "Polygon", "coordinates": [outer, hole]}});
        let xml = to_cap_xml(&alert(json!({ "area": area })), SENDER);
        assert_eq!(texts(&xml, "polygon"), ["0,29 0,30 1,30 0,29"]);
        assert!(texts(&xml, "circle").is_empty());

        let other = json!([[10.5, -4.25], [11.0, -4.25], [11.0, -4.0], [10.5, -4.25]]);
        let area = json!({"description": "x", "geometry": {"type": "MultiPolygon",
                          "coordinates": [[outer, hole], [other]]}});
        let xml = to_cap_xml(&alert(json!({ "area": area })), SENDER);
        assert_eq!(
            texts(&xml, "polygon"),
            ["0,29 0,30 1,30 0,29", "-4.25,10.5 -4.25,11 -4,11 -4.25,10.5"]
        );
    }

    #[test]
    fn cancellation_check_in_and_countries_are_carried() {
        let cancelled = alert(json!({
            "msg_type": "cancel", "revision": 2, "cancel_reason": "Clashes have ended",
            "checkin_required": true, "checkin_deadline_s": 1800, "countries": ["CD", "UG"]
        }));
        let xml = to_cap_xml(&cancelled, SENDER);
        assert_eq!(texts(&xml, "msgType"), ["Cancel"]);
        assert_eq!(texts(&xml, "note"), ["Clashes have ended"]);
        assert_eq!(
            texts(&xml, "valueName"),
            [
                "SCAAN:checkin_required",
                "SCAAN:checkin_deadline_s",
                "ISO3166-1",
                "ISO3166-1"
            ]
        );
        assert_eq!(texts(&xml, "value"), ["true", "1800", "CD", "UG"]);

        let xml = to_cap_xml(&alert(json!({})), SENDER);
        assert!(texts(&xml, "note").is_empty());
        assert_eq!(texts(&xml, "value"), ["false", "CD"]);
    }
}
