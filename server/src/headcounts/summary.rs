//! The period's summary: how fast the headcounts of a period accounted for their people, for
//! the officers who report it, scoped like every officer's list (a security officer: the
//! alerts reaching their countries). One CAP status at a time — real alerts unless asked for
//! exercises or tests — so a drill never flatters or spoils the real figures.

use chrono::{DateTime, Duration, Utc};
use scaan_schemas::{Alert, HeadcountFigures, HeadcountSummary, Invalid, Role, Status};

use super::accounting::{self, Accounted};
use super::{accounted, Headcounts};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::storage::{AlertScope, AlertState, Page};

/// The longest period one summary covers.
pub const LONGEST_PERIOD: Duration = Duration::days(366);
/// The most headcounts one summary reads.
pub const MOST_HEADCOUNTS: usize = 1_000;

/// The period asked for: `to` defaults to now, `from` to 30 days before `to`.
pub(super) fn period(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), Invalid> {
    let to = to.unwrap_or(now);
    let from = from.unwrap_or(to - Duration::days(30));
    if from >= to {
        return Err(Invalid::new("from", "must come before `to`"));
    }
    if to - from > LONGEST_PERIOD {
        return Err(Invalid::new(
            "from",
            "a summary covers at most 366 days; ask for a shorter period",
        ));
    }
    Ok((from, to))
}

/// Whether an alert's headcount belongs in a summary of `status` alerts over `[from, to)`.
fn summarised(alert: &Alert, status: Status, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
    alert.content.checkin_required && alert.content.status == status && alert.sent_at >= from && alert.sent_at < to
}

/// The summary of headcounts, each with its people as time-to-account sees them: every person
/// pooled (each timed from their own alert), and each headcount's own figures.
pub(super) fn summary(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    status: Status,
    headcounts: &[(Alert, Vec<Accounted>)],
) -> HeadcountSummary {
    let pooled: Vec<f64> = headcounts
        .iter()
        .flat_map(|(_, people)| people.iter().filter_map(|p| p.after_s))
        .collect();
    let people: usize = headcounts.iter().map(|(_, people)| people.len()).sum();
    HeadcountSummary {
        from,
        to,
        status,
        overall: accounting::figures(people as u32, &pooled),
        headcounts: headcounts
            .iter()
            .map(|(alert, people)| {
                let answers: Vec<f64> = people.iter().filter_map(|p| p.after_s).collect();
                HeadcountFigures {
                    alert_id: alert.id,
                    headline: alert.content.headline.clone(),
                    sent_at: alert.sent_at,
                    countries: alert.countries.clone(),
                    figures: accounting::figures(people.len() as u32, &answers),
                }
            })
            .collect(),
    }
}

impl Headcounts {
    /// The summary of the headcounts of `status` alerts sent in `[from, to)` that the caller
    /// may see (officers).
    pub async fn summary(
        &self,
        caller: &Caller,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        status: Status,
    ) -> Result<HeadcountSummary, ApiError> {
        caller.require_officer()?;
        let scope = match caller.role() {
            Role::WatchOfficer => AlertScope::All,
            _ => AlertScope::Countries(caller.user.countries.clone()),
        };
        let mut alerts = Vec::new();
        let mut before = Some(to);
        // Pages of alerts, newest first, back to the period's start.
        'pages: while let Some(page_before) = before {
            let page = self
                .store
                .alerts(&scope, AlertState::Any, Page::asked(Some(page_before), Some(1_000)))
                .await?;
            before = page.last().filter(|_| page.len() == 1_000).map(|a| a.sent_at);
            for alert in page {
                if alert.sent_at < from {
                    break 'pages;
                }
                if summarised(&alert, status, from, to) {
                    if alerts.len() == MOST_HEADCOUNTS {
                        return Err(Invalid::new(
                            "from",
                            "more than 1,000 headcounts in this period; ask for a shorter one",
                        )
                        .into());
                    }
                    alerts.push(alert);
                }
            }
        }
        let mut headcounts = Vec::with_capacity(alerts.len());
        for alert in alerts {
            let people = self.store.headcount_people(alert.id).await?;
            let people = accounted(&alert, &people);
            headcounts.push((alert, people));
        }
        Ok(summary(from, to, status, &headcounts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_defaults_to_the_last_30_days_and_must_run_forwards() {
        let now = Utc::now();
        assert_eq!(period(None, None, now).unwrap(), (now - Duration::days(30), now));
        let from = now - Duration::days(2);
        assert_eq!(period(Some(from), None, now).unwrap(), (from, now));
        assert_eq!(period(Some(now), Some(now), now).unwrap_err().field, "from");
        assert!(period(Some(now - Duration::days(400)), None, now).is_err());
    }

    #[test]
    fn only_the_headcounts_of_one_status_sent_in_the_period_are_summarised() {
        let now = Utc::now();
        let mut real = crate::testing::alert_near_beni(&["CD"]);
        real.sent_at = now - Duration::hours(1);
        real.content.checkin_required = true;
        let mut drill = real.clone();
        drill.content.status = Status::Exercise;
        let mut no_headcount = real.clone();
        no_headcount.content.checkin_required = false;
        let (from, to) = (now - Duration::hours(2), now);
        assert!(summarised(&real, Status::Actual, from, to));
        assert!(
            !summarised(&drill, Status::Actual, from, to),
            "a drill stays out of the real figures"
        );
        assert!(summarised(&drill, Status::Exercise, from, to));
        assert!(!summarised(&real, Status::Exercise, from, to));
        assert!(!summarised(&no_headcount, Status::Actual, from, to));
        assert!(!summarised(&real, Status::Actual, now - Duration::minutes(30), to));
        assert!(
            !summarised(&real, Status::Actual, from, real.sent_at),
            "`to` is excluded"
        );
    }

    #[test]
    fn people_are_pooled_across_headcounts_each_timed_from_their_own_alert() {
        let at = |after_s: Option<f64>| Accounted {
            after_s,
            duty_station: None,
            channel: None,
        };
        let first = crate::testing::alert_near_beni(&["CD"]);
        let second = crate::testing::alert_near_beni(&["UG"]);
        let now = Utc::now();
        let s = summary(
            now - Duration::days(1),
            now,
            Status::Actual,
            &[
                (first.clone(), vec![at(Some(30.0)), at(Some(10.0))]),
                (second.clone(), vec![at(Some(20.0)), at(None)]),
            ],
        );
        assert_eq!((s.overall.people, s.overall.accounted), (4, 3));
        assert_eq!(
            (s.overall.accounted_50_s, s.overall.accounted_100_s),
            (Some(20.0), None)
        );
        let each: Vec<(uuid::Uuid, u32, Option<f64>)> = s
            .headcounts
            .iter()
            .map(|h| (h.alert_id, h.figures.accounted, h.figures.accounted_100_s))
            .collect();
        assert_eq!(each, [(first.id, 2, Some(30.0)), (second.id, 1, None)]);
    }
}
