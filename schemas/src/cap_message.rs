//! Any CAP message (1.0, 1.1 or 1.2) read whole, as public warning feeds publish them: every
//! `<info>` block (one per language), every `<area>` with its polygons, circles and geocodes,
//! and the `<references>` an Update or Cancel points at. The version comes from the root's
//! namespace; each version's own code lists are checked (CAP 1.0's "Very Likely" certainty,
//! `valueName=value` geocodes; 1.1's and 1.2's `<geocode><valueName/><value/></geocode>`).
//!
//! Read with [`crate::safe_xml`] (no DOCTYPE, size and depth limits). Nothing here decides what
//! the hub does with a message: that is the warnings service's.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::safe_xml::{declared_namespaces, walk, Step, XmlRejected};
use crate::{Category, Certainty, Invalid, LonLat, Severity, Urgency};

/// Larger than any single real CAP message, detailed polygons and several languages included.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// alert/info/area/geocode/value is five deep.
const MAX_DEPTH: usize = 8;

/// The CAP versions and their namespaces (CAP 1.0 predates OASIS's URN).
pub const NAMESPACES: [(CapVersion, &str); 3] = [
    (CapVersion::V1_0, "http://www.incident.com/cap/1.0"),
    (CapVersion::V1_1, "urn:oasis:names:tc:emergency:cap:1.1"),
    (CapVersion::V1_2, "urn:oasis:names:tc:emergency:cap:1.2"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum CapVersion {
    #[serde(rename = "1.0")]
    V1_0,
    #[serde(rename = "1.1")]
    V1_1,
    #[serde(rename = "1.2")]
    V1_2,
}

/// A CAP message as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct CapMessage {
    pub version: CapVersion,
    pub identifier: String,
    pub sender: String,
    pub sent: DateTime<Utc>,
    /// Actual, Exercise, System, Test or Draft.
    pub status: String,
    /// Alert, Update, Cancel, Ack or Error.
    pub msg_type: String,
    pub references: Vec<CapReference>,
    pub infos: Vec<CapInfo>,
}

/// An earlier message a message refers to: `sender,identifier,sent` (CAP 1.1 and 1.2), or an
/// identifier alone (as many CAP 1.0 senders wrote it), meaning one of the same sender's.
#[derive(Debug, Clone, PartialEq)]
pub struct CapReference {
    pub sender: String,
    pub identifier: String,
}

/// One `<info>` block: what the message says in one language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CapInfo {
    /// RFC 3066 language tag; CAP's default is `en-US`.
    pub language: String,
    pub categories: Vec<Category>,
    pub event: String,
    pub urgency: Urgency,
    pub severity: Severity,
    pub certainty: Certainty,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headline: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onset: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<DateTime<Utc>>,
    pub areas: Vec<CapArea>,
}

/// One `<area>`: a description, and any polygons, circles and geocodes it has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CapArea {
    pub description: String,
    /// Closed rings of GeoJSON `[lon, lat]` positions.
    pub polygons: Vec<Vec<LonLat>>,
    pub circles: Vec<CapCircle>,
    pub geocodes: Vec<Geocode>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CapCircle {
    pub centre: LonLat,
    pub radius_m: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Geocode {
    pub name: String,
    pub value: String,
}

/// Element texts as they are read.
#[derive(Default)]
struct Draft {
    version: Option<CapVersion>,
    identifier: Option<String>,
    sender: Option<String>,
    sent: Option<String>,
    status: Option<String>,
    msg_type: Option<String>,
    references: Option<String>,
    infos: Vec<InfoDraft>,
}

#[derive(Default)]
struct InfoDraft {
    language: Option<String>,
    categories: Vec<String>,
    event: Option<String>,
    urgency: Option<String>,
    severity: Option<String>,
    certainty: Option<String>,
    headline: Option<String>,
    description: Option<String>,
    instruction: Option<String>,
    sender_name: Option<String>,
    web: Option<String>,
    onset: Option<String>,
    expires: Option<String>,
    areas: Vec<AreaDraft>,
}

#[derive(Default)]
struct AreaDraft {
    description: Option<String>,
    polygons: Vec<String>,
    circles: Vec<String>,
    /// 1.0's `valueName=value` strings, or 1.1/1.2's pairs.
    geocodes: Vec<(Option<String>, String)>,
    value_name: Option<String>,
    value: Option<String>,
}

/// Reads a CAP message of any version.
pub fn read_message(xml: &[u8]) -> Result<CapMessage, XmlRejected> {
    let mut draft = Draft::default();
    walk(xml, MAX_MESSAGE_BYTES, MAX_DEPTH, |step| draft.step(step))?;
    draft.finish()
}

impl Draft {
    fn step(&mut self, step: Step) -> Result<(), XmlRejected> {
        match step {
            Step::Open { path, element } if path.len() == 1 => {
                if path[0] != "alert" {
                    return Err(Invalid::new("", "the root element must be a CAP <alert>").into());
                }
                let declared = declared_namespaces(element);
                self.version = NAMESPACES
                    .iter()
                    .find(|(_, ns)| declared.iter().any(|d| d == ns))
                    .map(|(v, _)| *v);
                if self.version.is_none() {
                    return Err(Invalid::new("alert", "is in none of the CAP 1.0, 1.1 or 1.2 namespaces").into());
                }
            }
            Step::Open { path, .. } => {
                let names: Vec<&str> = path.iter().map(String::as_str).collect();
                match names[..] {
                    ["alert", "info"] => self.infos.push(InfoDraft::default()),
                    ["alert", "info", "area"] => {
                        if let Some(info) = self.infos.last_mut() {
                            info.areas.push(AreaDraft::default())
                        }
                    }
                    _ => {}
                }
            }
            Step::Close { path, text } => self.take(path, text),
        }
        Ok(())
    }

    fn take(&mut self, path: &[String], value: String) {
        let names: Vec<&str> = path.iter().map(String::as_str).collect();
        let slot = match names[..] {
            ["alert", field] => match field {
                "identifier" => &mut self.identifier,
                "sender" => &mut self.sender,
                "sent" => &mut self.sent,
                "status" => &mut self.status,
                "msgType" => &mut self.msg_type,
                "references" => &mut self.references,
                _ => return,
            },
            ["alert", "info", ..] => {
                if let Some(info) = self.infos.last_mut() {
                    info.take(&names[2..], value);
                }
                return;
            }
            _ => return,
        };
        *slot = Some(value);
    }

    fn finish(self) -> Result<CapMessage, XmlRejected> {
        let version = self.version.ok_or_else(|| Invalid::new("alert", "is missing"))?;
        let status = required(self.status, "status")?;
        let statuses: &[&str] = match version {
            CapVersion::V1_0 => &["Actual", "Exercise", "System", "Test"],
            _ => &["Actual", "Exercise", "System", "Test", "Draft"],
        };
        one_of(&status, statuses, "status")?;
        let msg_type = required(self.msg_type, "msgType")?;
        one_of(&msg_type, &["Alert", "Update", "Cancel", "Ack", "Error"], "msgType")?;
        let sender = required(self.sender, "sender")?;
        let references = self
            .references
            .as_deref()
            .map(|r| references(r, &sender))
            .unwrap_or_default();
        let infos = self
            .infos
            .into_iter()
            .enumerate()
            .map(|(i, info)| info.finish(version).map_err(|e| e.within(&format!("info[{i}]"))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CapMessage {
            version,
            identifier: required(self.identifier, "identifier")?,
            sent: date_time(&required(self.sent, "sent")?, "sent")?,
            sender,
            status,
            msg_type,
            references,
            infos,
        })
    }
}

impl InfoDraft {
    fn take(&mut self, path: &[&str], value: String) {
        let slot = match path {
            ["category"] => {
                self.categories.push(value);
                return;
            }
            [field] => match *field {
                "language" => &mut self.language,
                "event" => &mut self.event,
                "urgency" => &mut self.urgency,
                "severity" => &mut self.severity,
                "certainty" => &mut self.certainty,
                "headline" => &mut self.headline,
                "description" => &mut self.description,
                "instruction" => &mut self.instruction,
                "senderName" => &mut self.sender_name,
                "web" => &mut self.web,
                "onset" => &mut self.onset,
                "expires" => &mut self.expires,
                _ => return,
            },
            ["area", rest @ ..] => {
                if let Some(area) = self.areas.last_mut() {
                    area.take(rest, value);
                }
                return;
            }
            _ => return,
        };
        *slot = Some(value);
    }

    fn finish(self, version: CapVersion) -> Result<CapInfo, Invalid> {
        fn code<T>(value: Option<String>, field: &str, parse: fn(&str) -> Option<T>) -> Result<T, Invalid> {
            let value = required(value, field)?;
            parse(value.trim()).ok_or_else(|| Invalid::new(field, format!("'{value}' is not a CAP {field} value")))
        }
        // CAP 1.0's "Very Likely" became "Likely" in 1.1 (and "Observed" was added).
        let certainty = match (version, self.certainty.as_deref().map(str::trim)) {
            (CapVersion::V1_0, Some("Very Likely")) => Certainty::Likely,
            (CapVersion::V1_0, Some("Observed")) => return Err(Invalid::new("certainty", "'Observed' is not CAP 1.0")),
            _ => code(self.certainty, "certainty", Certainty::from_cap)?,
        };
        let categories = self
            .categories
            .iter()
            .map(|c| {
                Category::from_cap(c.trim())
                    .filter(|c| !(version == CapVersion::V1_0 && *c == Category::Cbrne))
                    .ok_or_else(|| Invalid::new("category", format!("'{c}' is not a CAP category")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if categories.is_empty() && version != CapVersion::V1_0 {
            return Err(Invalid::new("category", "is required"));
        }
        let optional_time = |value: Option<String>, field: &str| value.map(|v| date_time(&v, field)).transpose();
        Ok(CapInfo {
            language: text(self.language).unwrap_or_else(|| "en-US".into()),
            categories,
            event: required(self.event, "event")?,
            urgency: code(self.urgency, "urgency", Urgency::from_cap)?,
            severity: code(self.severity, "severity", Severity::from_cap)?,
            certainty,
            headline: text(self.headline),
            description: text(self.description),
            instruction: text(self.instruction),
            sender_name: text(self.sender_name),
            web: text(self.web),
            onset: optional_time(self.onset, "onset")?,
            expires: optional_time(self.expires, "expires")?,
            areas: self
                .areas
                .into_iter()
                .enumerate()
                .map(|(i, a)| a.finish(version).map_err(|e| e.within(&format!("area[{i}]"))))
                .collect::<Result<_, _>>()?,
        })
    }
}

impl AreaDraft {
    fn take(&mut self, path: &[&str], value: String) {
        match path {
            ["areaDesc"] => self.description = Some(value),
            ["polygon"] => self.polygons.push(value),
            ["circle"] => self.circles.push(value),
            // CAP 1.0: `<geocode>valueName=value</geocode>`; 1.1 and 1.2: its two children.
            ["geocode"] => match (self.value_name.take(), self.value.take()) {
                (Some(name), Some(value)) => self.geocodes.push((Some(name), value)),
                _ if !value.trim().is_empty() => self.geocodes.push((None, value)),
                _ => {}
            },
            ["geocode", "valueName"] => self.value_name = Some(value),
            ["geocode", "value"] => self.value = Some(value),
            _ => {}
        }
    }

    fn finish(self, version: CapVersion) -> Result<CapArea, Invalid> {
        let polygons = self
            .polygons
            .iter()
            .map(|p| {
                let ring = p.split_whitespace().map(lat_lon).collect::<Result<Vec<_>, _>>();
                let ring = ring.map_err(|e| e.within("polygon"))?;
                if ring.len() < 4 || ring.first() != ring.last() {
                    return Err(Invalid::new(
                        "polygon",
                        "needs at least 4 points, the last equal to the first",
                    ));
                }
                Ok(ring)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let circles = self
            .circles
            .iter()
            .map(|c| circle(c).map_err(|e| e.within("circle")))
            .collect::<Result<Vec<_>, _>>()?;
        let geocodes = self
            .geocodes
            .into_iter()
            .map(|(name, value)| match (name, version) {
                (Some(name), _) => Ok(Geocode {
                    name: name.trim().to_owned(),
                    value: value.trim().to_owned(),
                }),
                (None, CapVersion::V1_0) => value
                    .split_once('=')
                    .map(|(n, v)| Geocode {
                        name: n.trim().to_owned(),
                        value: v.trim().to_owned(),
                    })
                    .ok_or_else(|| Invalid::new("geocode", "CAP 1.0 geocodes read valueName=value")),
                (None, _) => Err(Invalid::new("geocode", "needs a valueName and a value")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CapArea {
            description: required(self.description, "areaDesc")?,
            polygons,
            circles,
            geocodes,
        })
    }
}

/// CAP 1.1/1.2 references are space-separated `sender,identifier,sent` triples; CAP 1.0 ones
/// are often a bare identifier, taken as the same sender's.
fn references(text: &str, own_sender: &str) -> Vec<CapReference> {
    text.split_whitespace()
        .map(|token| {
            let parts: Vec<&str> = token.split(',').collect();
            match parts[..] {
                [sender, identifier, ..] => CapReference {
                    sender: sender.to_owned(),
                    identifier: identifier.to_owned(),
                },
                _ => CapReference {
                    sender: own_sender.to_owned(),
                    identifier: token.to_owned(),
                },
            }
        })
        .collect()
}

fn text(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn required(value: Option<String>, field: &str) -> Result<String, Invalid> {
    text(value).ok_or_else(|| Invalid::new(field, "is required"))
}

fn one_of(value: &str, allowed: &[&str], field: &str) -> Result<(), Invalid> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(Invalid::new(
            field,
            format!("'{value}' is not one of {}", allowed.join(", ")),
        ))
    }
}

fn date_time(value: &str, field: &str) -> Result<DateTime<Utc>, Invalid> {
    DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| Invalid::new(field, format!("'{value}' is not a CAP date-time")))
}

/// CAP's `lat,lon` pair, as a GeoJSON position, in range.
fn lat_lon(pair: &str) -> Result<LonLat, Invalid> {
    let bad = || Invalid::new("", format!("'{pair}' is not a 'lat,lon' pair in range"));
    let (lat, lon) = pair.split_once(',').ok_or_else(bad)?;
    let lat: f64 = lat.trim().parse().map_err(|_| bad())?;
    let lon: f64 = lon.trim().parse().map_err(|_| bad())?;
    if !(lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0) {
        return Err(bad());
    }
    Ok(LonLat([lon, lat]))
}

/// CAP's `lat,lon radius_km`.
fn circle(text: &str) -> Result<CapCircle, Invalid> {
    let (centre, radius) = text
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(|| Invalid::new("", "must read 'lat,lon radius_km'"))?;
    let km: f64 = radius
        .trim()
        .parse()
        .ok()
        .filter(|km: &f64| km.is_finite() && *km >= 0.0)
        .ok_or_else(|| Invalid::new("", "the radius must be a number of kilometres"))?;
    Ok(CapCircle {
        centre: lat_lon(centre)?,
        radius_m: km * 1000.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const V10: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="http://www.incident.com/cap/1.0">
  <identifier>KSTO1055887203</identifier><sender>KSTO@NWS.NOAA.GOV</sender>
  <sent>2003-06-17T14:57:00-07:00</sent><status>Actual</status><msgType>Update</msgType>
  <scope>Public</scope><references>KSTO1055887200</references>
  <info><category>Met</category><event>SEVERE THUNDERSTORM</event><urgency>Immediate</urgency>
    <severity>Severe</severity><certainty>Very Likely</certainty>
    <area><areaDesc>EXTREME NORTH CENTRAL TUOLUMNE COUNTY</areaDesc>
      <polygon>38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89 38.47,-120.14</polygon>
      <geocode>FIPS6=006109</geocode></area></info>
</alert>"#;

    #[test]
    fn cap_1_0_is_read_with_its_own_spellings() {
        let m = read_message(V10.as_bytes()).unwrap();
        assert_eq!((m.version, m.msg_type.as_str()), (CapVersion::V1_0, "Update"));
        assert_eq!(m.sent, "2003-06-17T21:57:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(
            m.references,
            [CapReference {
                sender: "KSTO@NWS.NOAA.GOV".into(),
                identifier: "KSTO1055887200".into()
            }]
        );
        let info = &m.infos[0];
        assert_eq!((info.language.as_str(), info.certainty), ("en-US", Certainty::Likely));
        let area = &info.areas[0];
        assert_eq!(
            area.geocodes,
            [Geocode {
                name: "FIPS6".into(),
                value: "006109".into()
            }]
        );
        assert_eq!(area.polygons[0][0], LonLat([-120.14, 38.47]));
        // 1.0 had no Draft status; 1.1 does.
        assert!(read_message(V10.replace(">Actual<", ">Draft<").as_bytes()).is_err());
        let v11 = V10
            .replace(
                "http://www.incident.com/cap/1.0",
                "urn:oasis:names:tc:emergency:cap:1.1",
            )
            .replace(">Actual<", ">Draft<")
            .replace("Very Likely", "Observed")
            .replace(
                "<geocode>FIPS6=006109</geocode>",
                "<geocode><valueName>FIPS6</valueName><value>006109</value></geocode>",
            )
            .replace(
                "KSTO1055887200<",
                "KSTO@NWS.NOAA.GOV,KSTO1055887200,2003-06-17T14:00:00-07:00<",
            );
        let m = read_message(v11.as_bytes()).unwrap();
        assert_eq!(
            (m.version, m.infos[0].certainty),
            (CapVersion::V1_1, Certainty::Observed)
        );
        assert_eq!(m.infos[0].areas[0].geocodes[0].value, "006109");
        assert_eq!(m.references[0].identifier, "KSTO1055887200");
    }

    #[test]
    fn every_language_and_area_is_kept() {
        let xml = r#"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</identifier>
          <sender>s</sender><sent>2026-12-06T10:00:00+01:00</sent><status>Actual</status><msgType>Alert</msgType>
          <scope>Public</scope>
          <info><language>fr-FR</language><category>Met</category><event>Orages</event><urgency>Future</urgency>
            <severity>Moderate</severity><certainty>Likely</certainty><headline>Vigilance orange</headline>
            <area><areaDesc>Ardèche</areaDesc><geocode><valueName>EMMA_ID</valueName><value>FR807</value></geocode></area>
            <area><areaDesc>Drôme</areaDesc><circle>44.7,5.0 30</circle></area></info>
          <info><language>en-GB</language><category>Met</category><event>Thunderstorms</event><urgency>Future</urgency>
            <severity>Moderate</severity><certainty>Likely</certainty><headline>Orange warning</headline>
            <area><areaDesc>Ardèche</areaDesc></area></info></alert>"#;
        let m = read_message(xml.as_bytes()).unwrap();
        let languages: Vec<&str> = m.infos.iter().map(|i| i.language.as_str()).collect();
        assert_eq!(languages, ["fr-FR", "en-GB"]);
        assert_eq!(m.infos[0].areas.len(), 2);
        assert_eq!(m.infos[0].areas[1].circles[0].radius_m, 30_000.0);
        assert_eq!(m.infos[0].areas[0].geocodes[0].name, "EMMA_ID");
    }

    #[test]
    fn bad_messages_are_refused_by_field() {
        let field = |xml: String| match read_message(xml.as_bytes()) {
            Err(XmlRejected::Invalid(e)) => e.field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(V10.replace("cap/1.0", "cap/9.9")), "alert");
        assert_eq!(field(V10.replace(">Severe<", ">Awful<")), "info[0].severity");
        assert_eq!(
            field(V10.replace("38.47,-120.14 38.34", "98.47,-120.14 38.34")),
            "info[0].area[0].polygon"
        );
        assert_eq!(
            field(V10.replace("<sent>2003-06-17T14:57:00-07:00</sent>", "<sent>yesterday</sent>")),
            "sent"
        );
        assert_eq!(field(V10.replace("FIPS6=006109", "006109")), "info[0].area[0].geocode");
        assert!(matches!(
            read_message(format!("<!DOCTYPE x>{V10}").as_bytes()),
            Err(XmlRejected::Invalid(_))
        ));
    }
}
