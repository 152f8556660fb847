//! What texts say: what a text from a phone asks for, the hub's answers, and the alerts it
//! texts to staff. Short and plain ASCII (one GSM-7 SMS each, 160 characters), so that they
//! reach the cheapest handset on the worst network.

use crate::storage::TextReason;
use scaan_schemas::{Alert, Status};

/// What a person's text asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Asked {
    /// `1` or `SAFE`, with anything after it kept as their note.
    Safe(Option<String>),
    /// `2` or `HELP`, likewise.
    NeedHelp(Option<String>),
    /// `SOS`, and whatever they wrote after it.
    Sos(Option<String>),
    /// Anything else: answered with how to answer, and nothing changes.
    Unclear,
}

/// Reads a text: the first word decides, in any case, with trailing punctuation forgiven
/// ("safe.", "2!"); the rest is the person's own words.
pub fn read(text: &str) -> Asked {
    let text = text.trim();
    let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let word = word
        .trim_end_matches(|c: char| c.is_ascii_punctuation())
        .to_ascii_uppercase();
    let rest = rest.trim();
    let note = (!rest.is_empty()).then(|| rest.to_owned());
    match word.as_str() {
        "1" | "SAFE" => Asked::Safe(note),
        "2" | "HELP" => Asked::NeedHelp(note),
        "SOS" => Asked::Sos(note),
        _ => Asked::Unclear,
    }
}

/// The longest text: one GSM-7 SMS.
pub const MAX_TEXT: usize = 160;

pub const HOW_TO_ANSWER: &str =
    "SCAAN: reply 1 if you are safe, 2 if you need help, or SOS and a few words for urgent help.";

pub const NO_HEADCOUNT: &str = "SCAAN: no headcount is open for you now. If you need help, reply SOS and a few words.";

pub const SOS_RAISED: &str =
    "SCAAN: your SOS is raised and the security officers are told. Send SOS and more words at any time.";

/// The answer to a check-in by text, naming the alert (cut to fit one SMS); an exercise's
/// says so first, so nobody takes a drill for the real thing.
pub fn checked_in(safe: bool, headline: &str, exercise: bool) -> String {
    let sender = if exercise { "SCAAN EXERCISE" } else { "SCAAN" };
    let (said, then) = match safe {
        true => ("SAFE", "Reply 2 if that changes."),
        false => (
            "NEEDING HELP",
            "Officers are told. Reply SOS and a few words if it is urgent.",
        ),
    };
    let fixed = format!("{sender}: you are checked in as {said} for \"\". {then}");
    let headline = fitted(headline, MAX_TEXT.saturating_sub(fixed.chars().count()));
    format!("{sender}: you are checked in as {said} for \"{headline}\". {then}")
}

/// An alert as a text: what kind, a reference code to quote to an officer, the headline, and
/// how to answer. An exercise says so first, so nobody takes a drill for the real thing.
pub fn alert_text(alert: &Alert, why: TextReason) -> String {
    let kind = match (alert.content.status, why) {
        (Status::Exercise, _) => "EXERCISE",
        (_, TextReason::Undelivered) => "ALERT",
        (_, TextReason::SecondWave) => "NO ANSWER YET",
    };
    let reference = reference(alert);
    let ask = match alert.content.checkin_required {
        true => " Reply 1 if safe, 2 if you need help.",
        false => "",
    };
    let fixed = format!("SCAAN {kind} {reference}: .{ask}");
    let headline = fitted(&alert.content.headline, MAX_TEXT.saturating_sub(fixed.chars().count()));
    format!("SCAAN {kind} {reference}: {headline}.{ask}")
}

/// A short code naming an alert in a text (the first six hex digits of its id), that staff
/// can quote and officers find.
pub fn reference(alert: &Alert) -> String {
    alert.id.simple().to_string()[..6].to_ascii_uppercase()
}

/// `text` made plain and cut to `room` characters, with `...` where it was cut.
fn fitted(text: &str, room: usize) -> String {
    let text = plain(text.trim_end_matches('.'));
    match text.chars().count() > room {
        true => format!("{}...", text.chars().take(room.saturating_sub(3)).collect::<String>()),
        false => text,
    }
}

/// Text an officer wrote, in characters any handset shows: anything outside printable ASCII
/// becomes `?` (a single accented letter would otherwise turn the whole SMS into UCS-2 and
/// cut its length to 70).
fn plain(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_word_decides_in_any_case_and_the_rest_is_kept() {
        assert_eq!(read("1"), Asked::Safe(None));
        assert_eq!(read("  safe. "), Asked::Safe(None));
        assert_eq!(read("Safe all good here"), Asked::Safe(Some("all good here".into())));
        assert_eq!(read("2"), Asked::NeedHelp(None));
        assert_eq!(
            read("help! gunfire close, we stay inside"),
            Asked::NeedHelp(Some("gunfire close, we stay inside".into()))
        );
        assert_eq!(read("SOS"), Asked::Sos(None));
        assert_eq!(
            read("sos car stopped at a roadblock"),
            Asked::Sos(Some("car stopped at a roadblock".into()))
        );
    }

    #[test]
    fn anything_else_is_unclear() {
        for text in ["", "   ", "3", "12", "yes", "safely", "S O S", "hello 1"] {
            assert_eq!(read(text), Asked::Unclear, "{text:?}");
        }
    }

    #[test]
    fn every_answer_fits_one_plain_sms() {
        let long = "Armed clashes reported near Beni, all movement suspended until further notice from the field security office in Goma";
        for answer in [
            HOW_TO_ANSWER.to_owned(),
            NO_HEADCOUNT.to_owned(),
            SOS_RAISED.to_owned(),
            checked_in(true, long, false),
            checked_in(false, long, false),
            checked_in(false, long, true),
            checked_in(true, "Évacuation à Bunia", false),
        ] {
            assert!(
                answer.chars().count() <= MAX_TEXT,
                "{} chars: {answer}",
                answer.chars().count()
            );
            assert!(answer.chars().all(|c| (' '..='~').contains(&c)), "{answer}");
        }
        assert!(checked_in(true, "Curfew in Beni", false).starts_with("SCAAN: "));
        assert!(checked_in(true, "Curfew in Beni", false).contains("\"Curfew in Beni\""));
        assert!(checked_in(true, long, false).contains("..."));
        assert!(checked_in(true, "Curfew drill", true).starts_with("SCAAN EXERCISE: "));
    }

    fn alert(headline: &str, status: Status) -> Alert {
        let mut alert = crate::testing::alert_near_beni(&["CD"]);
        alert.content.headline = headline.into();
        alert.content.status = status;
        alert
    }

    #[test]
    fn an_alert_text_fits_one_plain_sms_with_its_reference_and_how_to_answer() {
        let long = "Armed clashes reported near Beni, all movement suspended until further notice from the field security office in Goma and Bunia";
        for (headline, why) in [
            (long, TextReason::Undelivered),
            (long, TextReason::SecondWave),
            ("Évacuation à Bunia", TextReason::Undelivered),
        ] {
            let a = alert(headline, Status::Actual);
            let text = alert_text(&a, why);
            assert!(
                text.chars().count() <= MAX_TEXT,
                "{} chars: {text}",
                text.chars().count()
            );
            assert!(text.chars().all(|c| (' '..='~').contains(&c)), "{text}");
            assert!(text.contains(&reference(&a)), "{text}");
            assert!(text.ends_with("Reply 1 if safe, 2 if you need help."), "{text}");
        }
        let a = alert("Curfew in Beni.", Status::Actual);
        assert_eq!(
            alert_text(&a, TextReason::Undelivered),
            format!(
                "SCAAN ALERT {}: Curfew in Beni. Reply 1 if safe, 2 if you need help.",
                reference(&a)
            )
        );
        assert!(alert_text(&a, TextReason::SecondWave).starts_with("SCAAN NO ANSWER YET "));
        let drill = alert("Curfew in Beni", Status::Exercise);
        assert!(alert_text(&drill, TextReason::SecondWave).starts_with("SCAAN EXERCISE "));
    }
}
