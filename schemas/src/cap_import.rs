//! OASIS CAP 1.2 XML → alert, for `POST /api/v1/alerts/import`: a CAP document from a national
//! met service, GDACS or another agency becomes an alert the hub sends.
//!
//! The document is untrusted, and read by [`crate::safe_xml`]: at most [`MAX_CAP_BYTES`] long,
//! any `<!DOCTYPE>` refused outright, so no entity can be declared, expanded or fetched. It reads the fields [`crate::cap::to_cap_xml`] writes, so an exported alert
//! imports with the same content.

use chrono::{DateTime, Utc};
use quick_xml::events::BytesStart;

use crate::cap::NAMESPACE;
use crate::safe_xml::{declared_namespaces, walk, Step};
use crate::{
    Area, Category, Certainty, Geometry, Invalid, LonLat, NewAlert, Severity, Status, Urgency, DEFAULT_LIFETIME,
};

/// Larger than any real single-alert CAP message with detailed polygons.
pub const MAX_CAP_BYTES: usize = 512 * 1024;
/// CAP nests at most five levels (alert/info/area/geocode/value); deeper is not CAP.
const MAX_DEPTH: usize = 8;

/// Why a document was refused: not XML at all (HTTP 400), or XML that is not an acceptable CAP
/// alert (HTTP 422, naming the element).
pub use crate::safe_xml::XmlRejected as CapRejected;

/// A CAP message read into an alert.
#[derive(Debug, Clone, PartialEq)]
pub struct CapAlert {
    pub identifier: String,
    pub sender: String,
    pub content: NewAlert,
}

/// Element texts as they are read, keyed by where they sit.
#[derive(Default)]
struct Fields {
    identifier: Option<String>,
    sender: Option<String>,
    status: Option<String>,
    msg_type: Option<String>,
    infos: usize,
    category: Option<String>,
    event: Option<String>,
    urgency: Option<String>,
    severity: Option<String>,
    certainty: Option<String>,
    expires: Option<String>,
    headline: Option<String>,
    description: Option<String>,
    instruction: Option<String>,
    parameters: Vec<(String, String)>,
    value_name: Option<String>,
    value: Option<String>,
    area_descs: Vec<String>,
    circles: Vec<String>,
    polygons: Vec<String>,
}

/// Reads a CAP 1.2 `<alert>` (its first `<info>`) into an alert's content. The result still
/// has to pass [`crate::Validate`] at the time of sending.
pub fn from_cap_xml(xml: &[u8], now: DateTime<Utc>) -> Result<CapAlert, CapRejected> {
    read(xml)?.into_alert(now)
}

fn read(xml: &[u8]) -> Result<Fields, CapRejected> {
    let mut fields = Fields::default();
    walk(xml, MAX_CAP_BYTES, MAX_DEPTH, |step| {
        match step {
            Step::Open { path, element } if path.len() == 1 => check_root(element)?,
            Step::Open { path, .. } => {
                if path.len() == 2 && path[1] == "info" {
                    fields.infos += 1;
                }
            }
            Step::Close { path, text } => fields.take(path, text),
        }
        Ok(())
    })?;
    Ok(fields)
}

/// The root must be CAP 1.2's `<alert>`, in its namespace (default or prefixed).
fn check_root(start: &BytesStart) -> Result<(), CapRejected> {
    if start.local_name().as_ref() != b"alert" {
        return Err(Invalid::new("", "the root element must be a CAP <alert>").into());
    }
    if !declared_namespaces(start).iter().any(|n| n == NAMESPACE) {
        return Err(Invalid::new("alert", format!("is not in the CAP 1.2 namespace {NAMESPACE}")).into());
    }
    Ok(())
}

impl Fields {
    /// Files an element's text by where it sits. Only the first `<info>` is read.
    fn take(&mut self, path: &[String], value: String) {
        let names: Vec<&str> = path.iter().map(String::as_str).collect();
        let first_info = self.infos == 1;
        let slot = match names[..] {
            ["alert", "identifier"] => &mut self.identifier,
            ["alert", "sender"] => &mut self.sender,
            ["alert", "status"] => &mut self.status,
            ["alert", "msgType"] => &mut self.msg_type,
            ["alert", "info", "category"] if first_info && self.category.is_none() => &mut self.category,
            ["alert", "info", "parameter"] if first_info => {
                if let (Some(name), Some(value)) = (self.value_name.take(), self.value.take()) {
                    self.parameters.push((name, value));
                }
                return;
            }
            ["alert", "info", field] if first_info => match field {
                "event" => &mut self.event,
                "urgency" => &mut self.urgency,
                "severity" => &mut self.severity,
                "certainty" => &mut self.certainty,
                "expires" => &mut self.expires,
                "headline" => &mut self.headline,
                "description" => &mut self.description,
                "instruction" => &mut self.instruction,
                _ => return,
            },
            ["alert", "info", "parameter", "valueName"] if first_info => &mut self.value_name,
            ["alert", "info", "parameter", "value"] if first_info => &mut self.value,
            ["alert", "info", "area", field] if first_info => {
                match field {
                    "areaDesc" => self.area_descs.push(value),
                    "circle" => self.circles.push(value),
                    "polygon" => self.polygons.push(value),
                    _ => {}
                }
                return;
            }
            _ => return,
        };
        *slot = Some(value);
    }

    fn into_alert(self, now: DateTime<Utc>) -> Result<CapAlert, CapRejected> {
        let required = |value: Option<String>, field: &str| {
            value
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| Invalid::new(field, "is required"))
        };
        let status = match required(self.status, "status")?.as_str() {
            "System" | "Draft" => {
                return Err(Invalid::new("status", "System and Draft messages are not sent to staff").into())
            }
            other => Status::from_cap(other)
                .ok_or_else(|| Invalid::new("status", format!("'{other}' is not a CAP status")))?,
        };
        let msg_type = required(self.msg_type, "msgType")?;
        if msg_type != "Alert" {
            return Err(Invalid::new(
                "msgType",
                format!("only new alerts (Alert) can be imported, not {msg_type}: it refers to messages this hub never sent"),
            )
            .into());
        }
        if self.infos == 0 {
            return Err(Invalid::new("info", "is required: it holds what the alert says").into());
        }
        fn code<T>(value: String, field: &str, parse: fn(&str) -> Option<T>) -> Result<T, Invalid> {
            parse(&value).ok_or_else(|| Invalid::new(field, format!("'{value}' is not a CAP 1.2 {field} value")))
        }
        let category = code(
            required(self.category, "info.category")?,
            "info.category",
            Category::from_cap,
        )?;
        let urgency = code(
            required(self.urgency, "info.urgency")?,
            "info.urgency",
            Urgency::from_cap,
        )?;
        let severity = code(
            required(self.severity, "info.severity")?,
            "info.severity",
            Severity::from_cap,
        )?;
        let certainty = code(
            required(self.certainty, "info.certainty")?,
            "info.certainty",
            Certainty::from_cap,
        )?;
        let event = required(self.event, "info.event")?;
        let expires_at = match self.expires {
            Some(t) => DateTime::parse_from_rfc3339(t.trim())
                .map_err(|_| Invalid::new("info.expires", format!("'{t}' is not a CAP date-time")))?
                .with_timezone(&Utc),
            None => now + DEFAULT_LIFETIME,
        };
        let mut checkin_required = false;
        let mut checkin_deadline_s = None;
        for (name, value) in &self.parameters {
            match name.as_str() {
                "SCAAN:checkin_required" => {
                    checkin_required = value
                        .parse()
                        .map_err(|_| Invalid::new("info.parameter", "SCAAN:checkin_required must be true or false"))?
                }
                "SCAAN:checkin_deadline_s" => {
                    checkin_deadline_s = Some(value.parse().map_err(|_| {
                        Invalid::new("info.parameter", "SCAAN:checkin_deadline_s must be a number of seconds")
                    })?)
                }
                _ => {}
            }
        }
        let area = area(self.area_descs, &self.circles, &self.polygons)?;
        let content = NewAlert {
            headline: self
                .headline
                .filter(|h| !h.trim().is_empty())
                .unwrap_or_else(|| event.clone()),
            description: self.description,
            instruction: self.instruction,
            event,
            category,
            urgency,
            severity,
            certainty,
            status,
            area,
            expires_at,
            checkin_required,
            checkin_deadline_s,
        };
        Ok(CapAlert {
            identifier: required(self.identifier, "identifier")?,
            sender: required(self.sender, "sender")?,
            content,
        })
    }
}

/// One circle, or polygons (one or more, across `<area>` blocks); not both.
fn area(descs: Vec<String>, circles: &[String], polygons: &[String]) -> Result<Area, Invalid> {
    let description = descs.join("; ");
    if description.trim().is_empty() {
        return Err(Invalid::new("info.area.areaDesc", "is required"));
    }
    let geometry_and_radius = match (circles, polygons) {
        ([circle], []) => {
            let (centre, radius) = circle
                .trim()
                .split_once(char::is_whitespace)
                .ok_or_else(|| Invalid::new("info.area.circle", "must read 'lat,lon radius_km'"))?;
            let km: f64 = radius
                .trim()
                .parse()
                .map_err(|_| Invalid::new("info.area.circle", "the radius must be a number of kilometres"))?;
            let centre = lat_lon(centre).map_err(|e| e.within("info.area.circle"))?;
            (Geometry::Point { coordinates: centre }, Some(km * 1000.0))
        }
        ([], [_, ..]) => {
            let rings = polygons
                .iter()
                .map(|p| {
                    p.split_whitespace()
                        .map(lat_lon)
                        .collect::<Result<Vec<_>, _>>()
                        .map(|ring| vec![ring])
                        .map_err(|e| e.within("info.area.polygon"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let geometry = match <[_; 1]>::try_from(rings) {
                Ok([single]) => Geometry::Polygon { coordinates: single },
                Err(many) => Geometry::MultiPolygon { coordinates: many },
            };
            (geometry, None)
        }
        ([], []) => return Err(Invalid::new("info.area", "needs a circle or a polygon")),
        _ => {
            return Err(Invalid::new(
                "info.area",
                "give one circle or polygons, not several circles or both",
            ))
        }
    };
    let (geometry, radius_m) = geometry_and_radius;
    Ok(Area {
        description,
        geometry,
        radius_m,
    })
}

/// CAP's `lat,lon` pair, as a GeoJSON position.
fn lat_lon(pair: &str) -> Result<LonLat, Invalid> {
    let (lat, lon) = pair
        .split_once(',')
        .ok_or_else(|| Invalid::new("", format!("'{pair}' is not a 'lat,lon' pair")))?;
    let number = |s: &str| {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| Invalid::new("", format!("'{pair}' is not a 'lat,lon' pair")))
    };
    Ok(LonLat([number(lon)?, number(lat)?]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cap::to_cap_xml;
    use crate::{Alert, Validate};
    use serde_json::json;

    fn alert(area: serde_json::Value) -> Alert {
        serde_json::from_value(json!({
            "id": "0b6a4a6e-3c1d-4c55-9e0b-2f1b8a3c7d10", "msg_type": "alert", "revision": 1,
            "sent_at": "2026-11-22T08:15:00Z", "updated_at": "2026-11-22T08:15:00Z",
            "sender": "jdoe", "recipients": 3, "countries": ["CD"],
            "headline": "Shots <near> \"Gate 3\" & the market", "event": "Armed clash",
            "description": "Avoid Route N4]]>", "instruction": "Stay indoors.",
            "category": "cbrne", "urgency": "expected", "severity": "moderate",
            "certainty": "likely", "status": "exercise", "expires_at": "2026-11-23T08:00:00Z",
            "checkin_required": true, "checkin_deadline_s": 900,
            "area": area
        }))
        .unwrap()
    }

    fn now() -> DateTime<Utc> {
        "2026-11-22T09:00:00Z".parse().unwrap()
    }

    #[test]
    fn an_exported_alert_imports_with_the_same_content() {
        let circle = json!({"description": "Beni, North Kivu",
            "geometry": {"type": "Point", "coordinates": [29.47, 0.49]}, "radius_m": 2500.0});
        let two = json!({"description": "Two zones", "geometry": {"type": "MultiPolygon", "coordinates": [
            [[[29.0, 0.0], [30.0, 0.0], [30.0, 1.0], [29.0, 0.0]]],
            [[[10.5, -4.25], [11.0, -4.25], [11.0, -4.0], [10.5, -4.25]]]]}});
        let one = json!({"description": "One zone", "geometry": {"type": "Polygon", "coordinates": [
            [[29.0, 0.0], [30.0, 0.0], [30.0, 1.0], [29.0, 0.0]]]}});
        for area in [circle, two, one] {
            let original = alert(area);
            let xml = to_cap_xml(&original, "scaan@ops.example.org");
            let imported = from_cap_xml(xml.as_bytes(), now()).unwrap();
            assert_eq!(imported.content, original.content, "{xml}");
            assert_eq!(imported.sender, "scaan@ops.example.org");
            assert_eq!(imported.identifier, format!("urn:uuid:{}", original.id));
            assert!(imported.content.validate(now()).is_ok());
        }
    }

    const MINIMAL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<cap:alert xmlns:cap="urn:oasis:names:tc:emergency:cap:1.2">
  <cap:identifier>GDACS_TC_1001</cap:identifier><cap:sender>info@gdacs.org</cap:sender>
  <cap:sent>2026-11-22T08:00:00-00:00</cap:sent><cap:status>Actual</cap:status>
  <cap:msgType>Alert</cap:msgType><cap:scope>Public</cap:scope>
  <cap:info><cap:category>Met</cap:category><cap:event>Tropical cyclone</cap:event>
    <cap:urgency>Expected</cap:urgency><cap:severity>Severe</cap:severity><cap:certainty>Likely</cap:certainty>
    <cap:area><cap:areaDesc>Coast &amp; islands</cap:areaDesc><cap:circle>-17.7,178.0 100</cap:circle></cap:area>
  </cap:info>
  <cap:info><cap:category>Geo</cap:category><cap:event>ignored</cap:event></cap:info>
</cap:alert>"#;

    #[test]
    fn a_foreign_message_with_a_prefix_and_no_expiry_is_read() {
        let imported = from_cap_xml(MINIMAL.as_bytes(), now()).unwrap();
        let c = imported.content;
        assert_eq!((c.headline.as_str(), c.category), ("Tropical cyclone", Category::Met));
        assert_eq!(c.area.description, "Coast & islands");
        assert_eq!(c.area.radius_m, Some(100_000.0));
        assert_eq!(
            c.area.geometry,
            Geometry::Point {
                coordinates: LonLat([178.0, -17.7])
            }
        );
        assert_eq!(c.expires_at, now() + DEFAULT_LIFETIME);
    }

    fn refused(xml: &str) -> CapRejected {
        from_cap_xml(xml.as_bytes(), now()).unwrap_err()
    }

    #[test]
    fn doctypes_entities_and_broken_xml_are_refused() {
        let billion = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>
            <alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol2;</identifier></alert>"#;
        assert!(matches!(refused(billion), CapRejected::Invalid(e) if e.message.contains("DOCTYPE")));
        let external =
            r#"<!DOCTYPE alert SYSTEM "file:///etc/passwd"><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>"#;
        assert!(matches!(refused(external), CapRejected::Invalid(e) if e.message.contains("DOCTYPE")));
        let undeclared = MINIMAL.replace("Coast &amp; islands", "&xxe;");
        assert!(matches!(refused(&undeclared), CapRejected::Syntax(_)));
        assert!(matches!(
            refused(r#"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</alert>"#),
            CapRejected::Syntax(_)
        ));
        assert!(matches!(refused("not xml at all"), CapRejected::Syntax(_)));
        let huge = format!("{MINIMAL}<!--{}-->", "x".repeat(MAX_CAP_BYTES));
        assert!(matches!(refused(&huge), CapRejected::Invalid(_)));
    }

    #[test]
    fn messages_that_are_not_cap_alerts_are_refused_by_field() {
        let field = |xml: String| match refused(&xml) {
            CapRejected::Invalid(e) => e.field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(MINIMAL.replace("urn:oasis:names:tc:emergency:cap:1.2", "urn:x")),
            "alert"
        );
        assert_eq!(field(MINIMAL.replace(">Actual<", ">Draft<")), "status");
        assert_eq!(field(MINIMAL.replace(">Alert<", ">Cancel<")), "msgType");
        assert_eq!(field(MINIMAL.replace(">Met<", ">Weather<")), "info.category");
        assert_eq!(field(MINIMAL.replace(">Severe<", ">Awful<")), "info.severity");
        assert_eq!(
            field(MINIMAL.replace("-17.7,178.0 100", "-17.7;178.0 100")),
            "info.area.circle"
        );
        assert_eq!(
            field(MINIMAL.replace("<cap:circle>-17.7,178.0 100</cap:circle>", "")),
            "info.area"
        );
    }
}
