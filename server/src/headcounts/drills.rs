//! Drills: an alert with CAP status `exercise` runs the whole loop of a real one — delivery,
//! receipts, check-ins, the second wave, time-to-account — and ends with a drill report:
//! how many it was sent to, delivered to and answered by, how fast, and exactly who never
//! answered. Exercises stay out of the live figures (the period's summary counts one status at
//! a time; a text answers a real headcount before a drill's).

use chrono::{DateTime, Utc};
use scaan_schemas::{Alert, DrillReport, Headcount, PersonStatus, Status, Unanswered};

use super::{closed_at, HeadcountError, Headcounts};
use crate::auth::Caller;
use crate::error::ApiError;

/// Asked for the drill report of an alert that is not an exercise.
#[derive(Debug, thiserror::Error)]
#[error("this alert is not an exercise, so it has no drill report; read its headcount instead")]
pub struct NotAnExercise;

impl From<NotAnExercise> for ApiError {
    fn from(e: NotAnExercise) -> Self {
        ApiError::Conflict {
            code: "not_an_exercise",
            message: e.to_string(),
        }
    }
}

/// The drill report of an exercise, from its board as of `now`.
pub(super) fn drill_report(
    alert: &Alert,
    board: Headcount,
    second_wave_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> DrillReport {
    let mut never_answered: Vec<Unanswered> = board
        .staff
        .iter()
        .filter(|p| p.status == PersonStatus::NoResponse)
        .map(|p| Unanswered {
            staff_id: p.staff_id,
            username: p.username.clone(),
            name: p.name.clone(),
            delivered: p.reached,
            phone: p.phone.clone(),
        })
        .collect();
    never_answered.sort_by(|a, b| a.username.cmp(&b.username));
    let c = board.counts;
    DrillReport {
        alert_id: alert.id,
        headline: alert.content.headline.clone(),
        sent_at: alert.sent_at,
        ended: closed_at(alert, now).is_some(),
        sent_to: c.total,
        delivered: board
            .staff
            .iter()
            .filter(|p| p.reached || p.status != PersonStatus::NoResponse)
            .count() as u32,
        answered: c.safe + c.need_help,
        safe: c.safe,
        need_help: c.need_help,
        second_wave_at,
        time_to_account: board.time_to_account,
        never_answered,
    }
}

impl Headcounts {
    /// The drill report of an exercise the caller may see (officers).
    pub async fn drill_report(&self, caller: &Caller, id: uuid::Uuid) -> Result<DrillReport, ApiError> {
        caller.require_officer()?;
        let alert = match self.store.alert(id).await? {
            Some(alert) if caller.may_see(&alert.countries) => alert,
            _ => return Err(HeadcountError::NotFound.into()),
        };
        if alert.content.status != Status::Exercise {
            return Err(NotAnExercise.into());
        }
        let now = Utc::now();
        let board = self.headcount_at(&alert, now).await?;
        let second_wave_at = self.store.second_wave_at(alert.id).await?;
        Ok(drill_report(&alert, board, second_wave_at, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scaan_schemas::{HeadcountCounts, HeadcountEntry, TimeToAccount};
    use uuid::Uuid;

    fn person(username: &str, status: PersonStatus, reached: bool) -> HeadcountEntry {
        HeadcountEntry {
            staff_id: Uuid::new_v4(),
            username: username.into(),
            name: username.to_uppercase(),
            status,
            updated_at: None,
            via: None,
            position: None,
            note: None,
            overdue: false,
            reached,
            sms: None,
            sos_id: None,
            sos_status: None,
            phone: None,
            accounted_at: None,
            accounted_after_s: None,
            accounted_channel: None,
        }
    }

    #[test]
    fn the_report_names_exactly_who_never_answered_and_counts_the_delivered() {
        let mut alert = crate::testing::alert_near_beni(&["CD"]);
        alert.content.status = Status::Exercise;
        let staff = vec![
            person("zawadi", PersonStatus::NoResponse, true),
            person("amani", PersonStatus::Safe, false),
            person("jean", PersonStatus::NeedHelp, true),
            person("baraka", PersonStatus::NoResponse, false),
        ];
        let board = Headcount {
            alert_id: alert.id,
            counts: HeadcountCounts {
                total: 4,
                safe: 1,
                need_help: 1,
                no_response: 2,
                overdue: 0,
                not_reached: 1,
            },
            deadline: alert.sent_at,
            time_to_account: TimeToAccount::default(),
            staff,
        };
        let report = drill_report(&alert, board, None, alert.sent_at);
        let silent: Vec<(&str, bool)> = report
            .never_answered
            .iter()
            .map(|p| (p.username.as_str(), p.delivered))
            .collect();
        assert_eq!(silent, [("baraka", false), ("zawadi", true)]);
        assert_eq!(
            (
                report.sent_to,
                report.delivered,
                report.answered,
                report.safe,
                report.need_help
            ),
            (4, 3, 2, 1, 1),
            "an answer shows it was delivered, whatever the receipts say"
        );
        assert!(!report.ended);
        assert!(drill_report(&alert, report_board(&alert), None, alert.content.expires_at).ended);
    }

    fn report_board(alert: &Alert) -> Headcount {
        Headcount {
            alert_id: alert.id,
            counts: HeadcountCounts::default(),
            deadline: alert.sent_at,
            time_to_account: TimeToAccount::default(),
            staff: Vec::new(),
        }
    }
}
