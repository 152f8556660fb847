//! Texts: staff whose phone has no data answer a headcount and raise an SOS by SMS, through an
//! SMS gateway (Kannel, `deploy/kannel/`), which hands each text it receives to
//! `POST /api/v1/sms/inbound` and sends back the answer.
//!
//! Owns: reading a text and the answer to it. Uses: `Headcounts` (a check-in by text, `via:
//! sms`), `SosCalls` (an SOS by text), and the store (whose number it is, which headcount of
//! theirs is open).

mod fallback;
mod gateway;
pub mod routes;
mod wording;

use axum::extract::FromRef;
use chrono::Utc;
use scaan_schemas::{is_e164, Alert, Channel, CheckinStatus, NewCheckin, NewSos, Role, Status, Validate, Via};
use std::sync::Arc;

use crate::error::ApiError;
use crate::headcounts::{HeadcountError, Headcounts};
use crate::hub::Hub;
use crate::sos::{SosCalls, SosError};
use crate::storage::{AlertScope, AlertState, Page, Store, StoreError};
use wording::{read, Asked};

pub use fallback::{FallbackSettings, TextFallback};
pub use gateway::{Gateway, Kannel};
pub use routes::router;

#[derive(Clone)]
pub struct Texts {
    store: Store,
    headcounts: Headcounts,
    sos: SosCalls,
    /// The secret the gateway shows on every text it hands over (`sms_gateway_token`); no
    /// texts are taken without one.
    gateway_token: Option<Arc<str>>,
}

impl FromRef<Arc<Hub>> for Texts {
    fn from_ref(hub: &Arc<Hub>) -> Self {
        hub.texts.clone()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TextError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Headcount(#[from] HeadcountError),
    #[error(transparent)]
    Sos(#[from] SosError),
}

impl From<TextError> for ApiError {
    fn from(e: TextError) -> Self {
        match e {
            TextError::Store(e) => e.into(),
            TextError::Headcount(e) => e.into(),
            TextError::Sos(e) => e.into(),
        }
    }
}

impl Texts {
    pub fn new(store: Store, headcounts: Headcounts, sos: SosCalls, gateway_token: Option<&str>) -> Self {
        let gateway_token = gateway_token.map(Arc::from);
        Texts {
            store,
            headcounts,
            sos,
            gateway_token,
        }
    }

    /// Acts on a text from `from` and returns the answer to send back: `None` (no answer, and
    /// nothing changed) when the number is not one staff member's.
    pub async fn receive(&self, from: &str, text: &str) -> Result<Option<String>, TextError> {
        let Some(number) = international(from) else {
            tracing::warn!(from, "a text from a number that is not international; ignored");
            return Ok(None);
        };
        let mut people = self.store.users_by_phone(&number).await?;
        let person = match (people.pop(), people.is_empty()) {
            (Some(person), true) if person.role == Role::Staff => person,
            _ => {
                tracing::warn!(
                    from = number,
                    "a text from a number on no staff account (or on several); ignored"
                );
                return Ok(None);
            }
        };
        let now = Utc::now();
        let (status, note) = match read(text) {
            Asked::Safe(note) => (CheckinStatus::Safe, note),
            Asked::NeedHelp(note) => (CheckinStatus::NeedHelp, note),
            Asked::Sos(note) => {
                let new = NewSos { position: None, note };
                if new.validate(now).is_err() {
                    return Ok(Some(wording::HOW_TO_ANSWER.to_owned()));
                }
                self.sos.raise(&person, new).await?;
                tracing::warn!(staff = %person.username, "SOS raised by text");
                return Ok(Some(wording::SOS_RAISED.to_owned()));
            }
            Asked::Unclear => return Ok(Some(wording::HOW_TO_ANSWER.to_owned())),
        };
        let open = self
            .store
            .alerts(
                &AlertScope::Recipient(person.id),
                AlertState::ActiveAt(now),
                Page::first(20),
            )
            .await?;
        let Some(alert) = headcount_answered(&open) else {
            return Ok(Some(wording::NO_HEADCOUNT.to_owned()));
        };
        let new = NewCheckin {
            status,
            position: None,
            note,
            staff_id: None,
            via: None,
        };
        if new.validate(now).is_err() {
            return Ok(Some(wording::HOW_TO_ANSWER.to_owned()));
        }
        let new = NewCheckin {
            via: Some(Via::Sms),
            ..new
        };
        match self.headcounts.check_in(&person, alert.id, new, Channel::Sms).await {
            Ok(_) => Ok(Some(wording::checked_in(
                status == CheckinStatus::Safe,
                &alert.content.headline,
                alert.content.status != Status::Actual,
            ))),
            // Closed between reading it and answering it.
            Err(HeadcountError::Closed(_)) => Ok(Some(wording::NO_HEADCOUNT.to_owned())),
            Err(e) => Err(e.into()),
        }
    }
}

impl Texts {
    /// Records the gateway's delivery report `status` (its own code) for text `id`: `false`
    /// when the code means nothing to the hub; a report for no text is logged and dropped.
    pub async fn report(&self, id: i64, status: u8) -> Result<bool, TextError> {
        let Some(report) = gateway::kannel_report(status) else {
            return Ok(false);
        };
        match self.store.record_text_report(id, report, Utc::now()).await? {
            Some((alert, user)) => {
                tracing::info!(text = id, %alert, %user, report = report.as_str(), "delivery report")
            }
            None => tracing::warn!(text = id, "a delivery report for no text; ignored"),
        }
        Ok(true)
    }
}

/// The headcount a text answers, of the open alerts sent to the person (newest first): the
/// newest real one, else the newest exercise or test — a drill never takes an answer meant for
/// a real alert.
fn headcount_answered(open: &[Alert]) -> Option<&Alert> {
    let mut headcounts = open.iter().filter(|a| a.content.checkin_required);
    let first = headcounts.clone().next();
    headcounts.find(|a| a.content.status == Status::Actual).or(first)
}

/// A sender's number as E.164, as gateways give it: `+243…`, `00243…` or `243…`; `None` for a
/// national or short number, which no account can hold.
fn international(from: &str) -> Option<String> {
    let from = from.trim();
    let number = match (from.strip_prefix('+'), from.strip_prefix("00")) {
        (Some(_), _) => from.to_owned(),
        (None, Some(rest)) => format!("+{rest}"),
        (None, None) => format!("+{from}"),
    };
    is_e164(&number).then_some(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_answers_the_newest_real_headcount_before_any_drill() {
        let headcount = |status, checkin_required| {
            let mut alert = crate::testing::alert_near_beni(&["CD"]);
            alert.content.status = status;
            alert.content.checkin_required = checkin_required;
            alert
        };
        let drill = headcount(Status::Exercise, true);
        let real = headcount(Status::Actual, true);
        let no_headcount = headcount(Status::Actual, false);
        let newest_first = [drill.clone(), no_headcount.clone(), real.clone()];
        assert_eq!(headcount_answered(&newest_first).map(|a| a.id), Some(real.id));
        assert_eq!(
            headcount_answered(&[no_headcount.clone(), drill.clone()]).map(|a| a.id),
            Some(drill.id),
            "with no real headcount open, the drill's"
        );
        assert!(headcount_answered(&[no_headcount]).is_none());
    }

    #[test]
    fn senders_are_read_as_e164() {
        assert_eq!(international("+243990000001").as_deref(), Some("+243990000001"));
        assert_eq!(international("00243990000001").as_deref(), Some("+243990000001"));
        assert_eq!(international("243990000001").as_deref(), Some("+243990000001"));
        for national in ["0990000001", "12345", "", "+", "+243 99 000", "SCAAN"] {
            assert_eq!(international(national), None, "{national:?}");
        }
    }
}
