//! One way to read untrusted JSON, for every channel: a syntax error is told apart from a
//! well-formed value that does not fit (wrong type, unknown enum value, unknown field), and the
//! latter names the field.

use serde::de::DeserializeOwned;

use crate::{Invalid, Validate};

#[derive(Debug, thiserror::Error)]
pub enum Rejected {
    /// Not JSON at all (HTTP 400).
    #[error("the body is not valid JSON: {0}")]
    Syntax(String),
    /// JSON that breaks the contract (HTTP 422).
    #[error("{0}")]
    Invalid(#[from] Invalid),
}

/// Parses `bytes` as a `T`, refusing fields `T` does not know (a misspelt field is a mistake
/// worth telling, not ignoring), then checks `T`'s rules as of `now`.
pub fn decode<T: DeserializeOwned + Validate>(bytes: &[u8], now: chrono::DateTime<chrono::Utc>) -> Result<T, Rejected> {
    let value: T = parse(bytes)?;
    value.validate(now)?;
    Ok(value)
}

/// [`decode`] without the rules, for types that have none.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Rejected> {
    let json: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| Rejected::Syntax(e.to_string()))?;
    parse_value(&json)
}

/// [`parse`] of JSON already read.
pub fn parse_value<T: DeserializeOwned>(json: &serde_json::Value) -> Result<T, Rejected> {
    let mut unknown = None;
    let mut note_unknown = |path: serde_ignored::Path| {
        unknown.get_or_insert_with(|| path.to_string());
    };
    let parsed: Result<T, _> =
        serde_path_to_error::deserialize(serde_ignored::Deserializer::new(json, &mut note_unknown));
    let value = parsed.map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let message = e.into_inner().to_string();
        // serde names a missing field only in its message, at the path of the object lacking it.
        match missing_field(&message) {
            Some(name) if path.is_empty() => Invalid::new(name, "is required"),
            Some(name) => Invalid::new(format!("{path}.{name}"), "is required"),
            None => Invalid::new(path, message),
        }
    })?;
    match unknown {
        Some(field) => Err(Invalid::new(field, "is not a field of this message").into()),
        None => Ok(value),
    }
}

/// The field of serde's "missing field `name`" message.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LocationUpdate, NewAlert};

    #[test]
    fn a_missing_field_is_named_where_it_is_missing() {
        let Err(Rejected::Invalid(e)) = parse::<LocationUpdate>(br#"{"lat": 1}"#) else {
            panic!()
        };
        assert_eq!((e.field.as_str(), e.message.as_str()), ("lon", "is required"));
        let body = br#"{"headline":"h","event":"e","category":"security","urgency":"immediate","severity":"severe",
            "certainty":"observed","area":{"geometry":{"type":"Point","coordinates":[0,0]},"radius_m":5},
            "expires_at":"2999-01-01T00:00:00Z"}"#;
        let Err(Rejected::Invalid(e)) = parse::<NewAlert>(body) else {
            panic!()
        };
        assert_eq!(e.field, "area.description");
        // Where no field can be named, the message does not start with an empty one.
        assert_eq!(Invalid::new("", "bad").to_string(), "bad");
        assert_eq!(Invalid::new("lat", "bad").to_string(), "lat: bad");
    }

    #[test]
    fn syntax_errors_and_misfits_are_told_apart() {
        let now = chrono::Utc::now();
        assert!(matches!(
            decode::<LocationUpdate>(b"{\"lat\":", now),
            Err(Rejected::Syntax(_))
        ));
        let Err(Rejected::Invalid(e)) = decode::<LocationUpdate>(br#"{"lat": 91, "lon": 0}"#, now) else {
            panic!()
        };
        assert_eq!(e.field, "lat");
        let Err(Rejected::Invalid(e)) = decode::<LocationUpdate>(br#"{"lat": "x", "lon": 0}"#, now) else {
            panic!()
        };
        assert_eq!(e.field, "lat");
        let Err(Rejected::Invalid(e)) = decode::<LocationUpdate>(br#"{"lat": 1, "lon": 0, "speed": 3}"#, now) else {
            panic!()
        };
        assert_eq!(e.field, "speed");
    }

    #[test]
    fn unknown_enum_values_name_their_field() {
        let body = br#"{"headline":"h","event":"e","category":"security","urgency":"soonish","severity":"severe",
            "certainty":"observed","area":{"description":"d","geometry":{"type":"Point","coordinates":[0,0]},"radius_m":5},
            "expires_at":"2999-01-01T00:00:00Z"}"#;
        let Err(Rejected::Invalid(e)) = parse::<NewAlert>(body) else {
            panic!()
        };
        assert_eq!(e.field, "urgency");
    }
}
