//! What a CAP message does to the warnings the hub holds, with no I/O: a new Alert is a new
//! warning; an Update replaces the warning it refers to and a Cancel withdraws it; one that
//! refers to nothing known is kept as it is. Where a warning is (countries, a shape an alert
//! could target) comes from its polygons and circles, and from the geocodes the hub can place.

use chrono::{DateTime, Utc};
use scaan_schemas::cap_message::{CapArea, CapInfo, CapMessage};
use scaan_schemas::{
    is_country_code, AlertPatch, Area, Category, Geometry, Invalid, LonLat, NewAlert, Status, Validate, Warning,
    WarningState, DEFAULT_LIFETIME,
};
use uuid::Uuid;

use crate::countries::CountryAtlas;

/// Whether a message is one to show at all: System and Draft messages are for the senders'
/// own plumbing, Ack and Error answer other messages.
pub fn shown(message: &CapMessage) -> Result<(), String> {
    match (message.status.as_str(), message.msg_type.as_str()) {
        ("System" | "Draft", _) => Err(format!("a {} message is not shown", message.status)),
        (_, "Ack" | "Error") => Err(format!("an {} message is not shown", message.msg_type)),
        _ if message.infos.is_empty() && message.msg_type != "Cancel" => Err("the message has no <info>".into()),
        _ => Ok(()),
    }
}

/// A warning made from a message nobody referred to before (an Alert, or an Update or Cancel
/// whose reference the hub never saw).
pub fn new_warning(message: &CapMessage, feed_id: Uuid, atlas: &CountryAtlas, now: DateTime<Utc>) -> Warning {
    let unmatched_reference = message.msg_type != "Alert";
    let mut warning = Warning {
        id: Uuid::new_v4(),
        feed_id,
        state: if message.msg_type == "Cancel" {
            WarningState::Withdrawn
        } else {
            WarningState::Active
        },
        revision: 1,
        version: message.version,
        sender: message.sender.clone(),
        identifier: message.identifier.clone(),
        sent: message.sent,
        status: message.status.clone(),
        msg_type: message.msg_type.clone(),
        unmatched_reference,
        infos: Vec::new(),
        countries: Vec::new(),
        placed: false,
        area: None,
        area_note: None,
        expires: None,
        received_at: now,
        updated_at: now,
        alert_id: None,
        promoted_by: None,
    };
    set_content(&mut warning, &message.infos, atlas);
    warning
}

/// The warning once `message`, which refers to it, is applied: an Update replaces what it says
/// and where; a Cancel withdraws it and keeps what it said (a Cancel's own infos, when it has
/// any, say why).
pub fn apply(previous: &Warning, message: &CapMessage, atlas: &CountryAtlas, now: DateTime<Utc>) -> Warning {
    let mut warning = Warning {
        revision: previous.revision + 1,
        identifier: message.identifier.clone(),
        sent: message.sent,
        status: message.status.clone(),
        msg_type: message.msg_type.clone(),
        version: message.version,
        updated_at: now,
        ..previous.clone()
    };
    if message.msg_type == "Cancel" {
        warning.state = WarningState::Withdrawn;
        if !message.infos.is_empty() {
            warning.infos = message.infos.clone();
        }
    } else {
        warning.state = WarningState::Active;
        set_content(&mut warning, &message.infos, atlas);
    }
    warning
}

/// Whether a message is older than what the warning shows (feeds repeat old entries; an
/// Update that arrives after the Cancel must not revive it).
pub fn is_stale(warning: &Warning, message: &CapMessage) -> bool {
    message.sent < warning.sent || warning.state == WarningState::Withdrawn
}

/// The warning as it stands at `now`: an active warning past every expiry is expired.
pub fn as_of(mut warning: Warning, now: DateTime<Utc>) -> Warning {
    if warning.state == WarningState::Active && warning.expires.is_some_and(|e| e <= now) {
        warning.state = WarningState::Expired;
    }
    warning
}

fn set_content(warning: &mut Warning, infos: &[CapInfo], atlas: &CountryAtlas) {
    let areas: Vec<&CapArea> = infos.iter().flat_map(|i| &i.areas).collect();
    warning.infos = infos.to_vec();
    warning.expires = infos
        .iter()
        .map(|i| i.expires)
        .collect::<Option<Vec<_>>>()
        .and_then(|e| e.into_iter().max());
    warning.placed = areas.iter().any(|a| !a.polygons.is_empty() || !a.circles.is_empty());
    let (area, note) = match targetable(&areas, warning.placed) {
        Ok(area) => (area, None),
        Err(note) => (None, Some(note)),
    };
    let mut countries: Vec<String> = areas
        .iter()
        .flat_map(|a| &a.geocodes)
        .filter_map(geocode_country)
        .collect();
    match &area {
        Some(area) => countries.extend(atlas.countries_reached(area)),
        // A shape too large or broken to target still says where it is: the countries under
        // each of its points (cheap whatever its size), so the right officers see it.
        None => countries.extend(
            areas
                .iter()
                .flat_map(|a| a.polygons.iter().flatten().chain(a.circles.iter().map(|c| &c.centre)))
                .filter_map(|p| atlas.country_at(p.lon(), p.lat()).map(str::to_owned)),
        ),
    }
    countries.sort();
    countries.dedup();
    warning.countries = countries;
    warning.area = area;
    warning.area_note = note;
}

/// The one area an alert could target as sent: its polygons together, or its one circle,
/// within the limits an officer's own alert has. `Err` says why there is none though the
/// warning is placed.
fn targetable(areas: &[&CapArea], placed: bool) -> Result<Option<Area>, String> {
    if !placed {
        return Ok(None);
    }
    let mut polygons: Vec<Vec<Vec<LonLat>>> = Vec::new();
    let mut circles = Vec::new();
    for area in areas {
        for ring in &area.polygons {
            if !polygons.iter().any(|p| p[0] == *ring) {
                polygons.push(vec![ring.clone()]);
            }
        }
        for circle in &area.circles {
            if !circles.contains(&circle) {
                circles.push(circle);
            }
        }
    }
    let mut descriptions: Vec<&str> = areas.iter().map(|a| a.description.as_str()).collect();
    descriptions.dedup();
    let description: String = descriptions.join("; ").chars().take(1_000).collect();
    let (geometry, radius_m) = match (polygons.len(), circles.as_slice()) {
        (0, [circle]) => (
            Geometry::Point {
                coordinates: circle.centre,
            },
            Some(circle.radius_m),
        ),
        (1, []) => (
            Geometry::Polygon {
                coordinates: polygons.remove(0),
            },
            None,
        ),
        (_, []) => (Geometry::MultiPolygon { coordinates: polygons }, None),
        _ => return Err("it has several circles, or circles and polygons: draw the area to target".into()),
    };
    let area = Area {
        description,
        geometry,
        radius_m,
    };
    area.validate(Utc::now()).map_err(|e| {
        format!(
            "its area cannot be targeted as it is ({}): draw the area to target",
            e.message
        )
    })?;
    Ok(Some(area))
}

/// The country a geocode names, from the schemes the hub can place without a gazetteer:
/// ISO 3166-1 alpha-2 codes; Meteoalarm's EMMA_ID and Eurostat's NUTS codes, which start with
/// the country (Greece as EL, the United Kingdom as UK); and the US schemes IPAWS and NWS use
/// (SAME, FIPS6, UGC).
pub fn geocode_country(geocode: &scaan_schemas::cap_message::Geocode) -> Option<String> {
    let scheme = geocode.name.to_ascii_uppercase().replace([' ', '-', '_'], "");
    let value = geocode.value.trim().to_ascii_uppercase();
    let code = if scheme.starts_with("ISO3166") || scheme == "COUNTRY" || scheme == "ISO" {
        value.get(..2).filter(|_| value.len() == 2)?.to_owned()
    } else if scheme.starts_with("EMMAID") || scheme.starts_with("NUTS") {
        match value.get(..2)? {
            "EL" => "GR".to_owned(),
            "UK" => "GB".to_owned(),
            other => other.to_owned(),
        }
    } else if ["SAME", "FIPS6", "UGC"].contains(&scheme.as_str()) {
        "US".to_owned()
    } else {
        return None;
    };
    is_country_code(&code).then_some(code)
}

/// The info an alert made from the warning starts from: the one in `language` (its first
/// part, `fr` for `fr-FR`) when there is one, else the first.
pub fn preferred_info<'a>(warning: &'a Warning, language: &str) -> Option<&'a CapInfo> {
    let wanted = language.split('-').next().unwrap_or("").to_ascii_lowercase();
    warning
        .infos
        .iter()
        .find(|i| i.language.split('-').next().unwrap_or("").eq_ignore_ascii_case(&wanted))
        .or_else(|| warning.infos.first())
}

/// The alert a warning suggests, with any field of `patch` overriding it. It needs an area:
/// the warning's own when it can be targeted, else the one the officer drew.
pub fn alert_from(warning: &Warning, patch: AlertPatch, now: DateTime<Utc>) -> Result<NewAlert, Invalid> {
    let info = preferred_info(warning, "en").ok_or_else(|| Invalid::new("", "the warning says nothing to send"))?;
    let area = match patch.area.clone().or_else(|| warning.area.clone()) {
        Some(area) => area,
        None => {
            let why = warning
                .area_note
                .clone()
                .unwrap_or_else(|| "it is placed only by a description or geocodes: draw the area to target".into());
            return Err(Invalid::new(
                "area",
                format!("the warning has no area to target: {why}"),
            ));
        }
    };
    let status = match warning.status.as_str() {
        "Exercise" => Status::Exercise,
        "Test" => Status::Test,
        _ => Status::Actual,
    };
    let sender = info.sender_name.as_deref().unwrap_or(&warning.sender);
    let base = NewAlert {
        headline: info
            .headline
            .clone()
            .unwrap_or_else(|| info.event.clone())
            .chars()
            .take(200)
            .collect(),
        description: Some(
            [info.description.as_deref(), Some(&format!("Source: {sender}"))]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("\n\n"),
        ),
        instruction: info.instruction.clone(),
        event: info.event.clone(),
        category: info.categories.first().copied().unwrap_or(Category::Other),
        urgency: info.urgency,
        severity: info.severity,
        certainty: info.certainty,
        status,
        area,
        expires_at: warning.expires.filter(|e| *e > now).unwrap_or(now + DEFAULT_LIFETIME),
        checkin_required: false,
        checkin_deadline_s: None,
    };
    let content = patch.apply(&base);
    content.validate(now)?;
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use scaan_schemas::cap_message::read_message;

    fn now() -> DateTime<Utc> {
        "2026-12-06T12:00:00Z".parse().unwrap()
    }

    fn cap(msg_type: &str, identifier: &str, sent: &str, area: &str) -> CapMessage {
        let references = match msg_type {
            "Alert" => String::new(),
            _ => "<references>met@example.org,W1,2026-12-06T08:00:00+00:00</references>".into(),
        };
        let xml = format!(
            r#"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>{identifier}</identifier>
            <sender>met@example.org</sender><sent>{sent}</sent><status>Actual</status><msgType>{msg_type}</msgType>
            <scope>Public</scope>{references}
            <info><category>Met</category><event>Flood</event><urgency>Expected</urgency><severity>Severe</severity>
              <certainty>Likely</certainty><headline>Flood warning {identifier}</headline>
              <expires>2026-12-07T08:00:00+00:00</expires>
              <area><areaDesc>Semliki valley</areaDesc>{area}</area></info></alert>"#
        );
        read_message(xml.as_bytes()).unwrap()
    }

    const CIRCLE: &str = "<circle>0.49,29.47 20</circle>";

    fn warned(message: &CapMessage) -> Warning {
        new_warning(message, Uuid::nil(), CountryAtlas::embedded(), now())
    }

    #[test]
    fn an_update_replaces_and_a_cancel_withdraws() {
        let atlas = CountryAtlas::embedded();
        let first = warned(&cap("Alert", "W1", "2026-12-06T08:00:00+00:00", CIRCLE));
        assert_eq!(
            (first.state, first.countries.clone()),
            (WarningState::Active, vec!["CD".to_owned()])
        );
        assert!(first.area.is_some() && first.placed);
        let update = cap(
            "Update",
            "W2",
            "2026-12-06T09:00:00+00:00",
            "<circle>0.35,29.6 40</circle>",
        );
        assert!(!is_stale(&first, &update));
        let updated = apply(&first, &update, atlas, now());
        assert_eq!(
            (updated.id, updated.revision, updated.identifier.as_str()),
            (first.id, 2, "W2")
        );
        assert_eq!(updated.infos[0].headline.as_deref(), Some("Flood warning W2"));
        assert_eq!(updated.area.as_ref().unwrap().radius_m, Some(40_000.0));
        let cancel = cap("Cancel", "W3", "2026-12-06T10:00:00+00:00", CIRCLE);
        let cancelled = apply(&updated, &cancel, atlas, now());
        assert_eq!((cancelled.state, cancelled.revision), (WarningState::Withdrawn, 3));
        // A late Update does not revive it, and an older message does not overwrite a newer one.
        assert!(is_stale(&cancelled, &update));
        assert!(is_stale(
            &updated,
            &cap("Update", "W0", "2026-12-06T08:30:00+00:00", CIRCLE)
        ));
    }

    #[test]
    fn a_reference_to_nothing_known_is_kept_and_marked() {
        let orphan = warned(&cap("Cancel", "W9", "2026-12-06T10:00:00+00:00", CIRCLE));
        assert!(orphan.unmatched_reference);
        assert_eq!(orphan.state, WarningState::Withdrawn);
    }

    #[test]
    fn geocode_only_areas_are_placed_by_country_where_the_scheme_allows() {
        let geocoded = |name: &str, value: &str| {
            let area = format!("<geocode><valueName>{name}</valueName><value>{value}</value></geocode>");
            warned(&cap("Alert", "G", "2026-12-06T08:00:00+00:00", &area))
        };
        let w = geocoded("EMMA_ID", "FR807");
        assert_eq!(
            (w.placed, w.area.is_none(), w.countries.clone()),
            (false, true, vec!["FR".to_owned()])
        );
        assert_eq!(geocoded("NUTS3", "EL301").countries, ["GR"]);
        assert_eq!(geocoded("SAME", "006109").countries, ["US"]);
        assert_eq!(geocoded("ISO3166-1", "ke").countries, ["KE"]);
        assert!(geocoded("PROFILE:CAP-AU", "x").countries.is_empty());
        // Described only: kept, unplaced, and promoting it asks for an area.
        let described = warned(&cap("Alert", "D", "2026-12-06T08:00:00+00:00", ""));
        assert!(!described.placed && described.countries.is_empty());
        assert_eq!(
            alert_from(&described, AlertPatch::default(), now()).unwrap_err().field,
            "area"
        );
    }

    #[test]
    fn a_world_sized_area_is_context_not_a_target() {
        let world = "<polygon>-80,-170 -80,0 -80,170 80,170 80,0 80,-170 -80,-170</polygon>";
        let w = warned(&cap("Alert", "X", "2026-12-06T08:00:00+00:00", world));
        assert!(w.placed && w.area.is_none());
        assert!(w.area_note.as_deref().unwrap().contains("km²"), "{:?}", w.area_note);
        assert!(!w.countries.is_empty());
        let refused = alert_from(&w, AlertPatch::default(), now()).unwrap_err();
        assert_eq!(refused.field, "area");
    }

    #[test]
    fn an_alert_from_a_warning_keeps_its_fields_and_the_officers_changes() {
        let w = warned(&cap("Alert", "W1", "2026-12-06T08:00:00+00:00", CIRCLE));
        let patch: AlertPatch =
            serde_json::from_value(serde_json::json!({"instruction": "Move to high ground."})).unwrap();
        let alert = alert_from(&w, patch, now()).unwrap();
        assert_eq!(alert.headline, "Flood warning W1");
        assert_eq!(alert.instruction.as_deref(), Some("Move to high ground."));
        assert_eq!((alert.category, alert.area.radius_m), (Category::Met, Some(20_000.0)));
        assert_eq!(
            alert.expires_at,
            "2026-12-07T08:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert!(alert.description.unwrap().contains("Source: met@example.org"));
    }

    #[test]
    fn expiry_is_judged_when_read() {
        let w = warned(&cap("Alert", "W1", "2026-12-06T08:00:00+00:00", CIRCLE));
        assert_eq!(as_of(w.clone(), now()).state, WarningState::Active);
        let later = "2026-12-08T00:00:00Z".parse().unwrap();
        assert_eq!(as_of(w, later).state, WarningState::Expired);
    }
}
