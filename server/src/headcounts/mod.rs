//! Headcounts: an alert with `checkin_required` counts everyone it reached until each has
//! answered. Check-ins come by HTTP and the stream (and MQTT, with the mobile bridge), or from
//! an officer on someone's behalf; the latest answer counts. Officers' streams get the counts
//! within a second of each change, coalesced so a burst costs a few envelopes, not thousands.

mod escalation;
mod routes;
mod writer;

pub use escalation::{escalate, LateArrivals, OpenHeadcounts};
pub use routes::router;
pub use writer::CheckinWriter;

use chrono::{DateTime, Duration, Utc};
use scaan_schemas::{
    Alert, Checkin, Envelope, Headcount, HeadcountCounts, HeadcountEntry, Invalid, MsgType, NewCheckin, PersonStatus,
    Role, User, Via,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::audit::Actor;
use crate::delivery::Audience;
use crate::error::ApiError;
use crate::hub::Hub;

/// Counts are pushed at most this often; a change always leads to one more push.
const PULSE: std::time::Duration = std::time::Duration::from_millis(200);

/// Alerts whose counts changed since the last push, with the countries their officers watch.
#[derive(Default)]
pub struct HeadcountPulse {
    changed: Mutex<HashMap<Uuid, Vec<String>>>,
    wake: Notify,
}

impl HeadcountPulse {
    pub(crate) fn mark(&self, alert: &Alert) {
        self.changed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(alert.id, alert.countries.clone());
        self.wake.notify_one();
    }
}

impl Hub {
    /// The deadline of an alert's headcount, and when its silent people become overdue.
    pub(crate) fn deadlines(&self, alert: &Alert) -> (DateTime<Utc>, DateTime<Utc>) {
        let deadline_s = alert
            .content
            .checkin_deadline_s
            .map_or(self.config.checkin_deadline_s, u64::from);
        let deadline = alert.sent_at + Duration::seconds(deadline_s as i64);
        (
            deadline,
            deadline + Duration::seconds(self.config.checkin_grace_s as i64),
        )
    }

    /// Records a check-in by `caller` — for themselves, or for `staff_id` when an officer —
    /// and returns once it is durably stored.
    pub async fn check_in(&self, caller: &User, alert_id: Uuid, new: NewCheckin) -> Result<Checkin, ApiError> {
        // An open headcount is answered from memory; anything else is read to explain why not.
        let open = self.open_headcounts.get(alert_id);
        let stored;
        let alert = match &open {
            Some(open) => &open.alert,
            None => {
                stored = self.store.alert(alert_id).await?.ok_or(ApiError::NotFound("alert"))?;
                &stored
            }
        };
        let subject = match new.staff_id {
            None => caller.id,
            Some(staff_id) => {
                if !matches!(caller.role, Role::SecurityOfficer | Role::WatchOfficer) {
                    return Err(ApiError::forbidden("only officers check others in; leave out staff_id"));
                }
                if caller.role == Role::SecurityOfficer && !alert.countries.iter().all(|c| caller.countries.contains(c))
                {
                    return Err(ApiError::forbidden("this alert reaches countries outside yours"));
                }
                staff_id
            }
        };
        let closed = if alert.msg_type == MsgType::Cancel {
            Some(("alert_cancelled", "this alert was cancelled; its headcount is closed"))
        } else if alert.content.expires_at <= Utc::now() {
            Some(("alert_expired", "this alert has expired; its headcount is closed"))
        } else {
            None
        };
        if let Some((code, message)) = closed {
            // A closed headcount stays open for whoever was still in trouble when it closed,
            // until their case is settled: an officer (or they) can still say they are safe.
            let person = self.store.headcount_people(alert_id).await?;
            let followed = person
                .iter()
                .find(|p| p.staff_id == subject)
                .is_some_and(|p| still_followed(p.status, p.sos.is_some()));
            if !followed {
                return Err(conflict(code, message));
            }
        }
        if !alert.content.checkin_required {
            return Err(conflict("no_headcount", "this alert does not ask for check-ins"));
        }
        let targeted = match &open {
            Some(open) => open.includes(subject),
            None => self.store.is_recipient(alert_id, subject).await?,
        };
        if !targeted {
            return Err(match new.staff_id {
                Some(_) => ApiError::Invalid(Invalid::new("staff_id", "this person was not sent the alert")),
                None => ApiError::forbidden("you were not sent this alert, so you are not in its headcount"),
            });
        }
        let checkin = Checkin {
            id: Uuid::new_v4(),
            alert_id,
            staff_id: subject,
            status: new.status,
            via: new.via.unwrap_or(Via::App),
            position: new.position,
            note: new.note,
            recorded_by: caller.id,
            recorded_at: Utc::now(),
        };
        self.checkins.write(checkin.clone()).await?;
        self.pulse.mark(alert);
        if checkin.recorded_by != checkin.staff_id {
            let detail =
                serde_json::json!({"staff_id": checkin.staff_id, "status": checkin.status, "via": checkin.via});
            self.audit
                .record(
                    Actor::Account(caller),
                    "checkin.proxy",
                    alert_id,
                    &alert.countries,
                    detail,
                )
                .await;
        }
        Ok(checkin)
    }

    /// The headcount board of an alert as of `now`.
    pub async fn headcount_at(&self, alert: &Alert, now: DateTime<Utc>) -> Result<Headcount, ApiError> {
        let (deadline, overdue_at) = self.deadlines(alert);
        let overdue = now >= overdue_at;
        let mut staff: Vec<HeadcountEntry> = self
            .store
            .headcount_people(alert.id)
            .await?
            .into_iter()
            .map(|p| HeadcountEntry {
                staff_id: p.staff_id,
                username: p.username,
                name: p.name,
                status: p.status,
                updated_at: p.updated_at,
                via: p.via,
                position: p.position,
                note: p.note,
                overdue: overdue && p.status == PersonStatus::NoResponse,
                reached: p.reached,
                sos_id: p.sos.map(|(id, _)| id),
                sos_status: p.sos.map(|(_, status)| status),
                phone: p.phone,
            })
            .collect();
        staff.sort_by_key(board_order);
        let mut counts = HeadcountCounts {
            total: staff.len() as u32,
            ..Default::default()
        };
        for entry in &staff {
            match entry.status {
                PersonStatus::Safe => counts.safe += 1,
                PersonStatus::NeedHelp => counts.need_help += 1,
                PersonStatus::NoResponse => counts.no_response += 1,
            }
            counts.overdue += u32::from(entry.overdue);
            counts.not_reached += u32::from(entry.status == PersonStatus::NoResponse && !entry.reached);
        }
        Ok(Headcount {
            alert_id: alert.id,
            counts,
            deadline,
            staff,
        })
    }

    async fn counts(&self, alert: &Alert) -> Result<HeadcountCounts, ApiError> {
        let (_, overdue_at) = self.deadlines(alert);
        let mut counts = HeadcountCounts::default();
        for (status, n, unreached) in self.store.headcount_tally(alert.id).await? {
            counts.total += n;
            match status {
                PersonStatus::Safe => counts.safe = n,
                PersonStatus::NeedHelp => counts.need_help = n,
                PersonStatus::NoResponse => {
                    counts.no_response = n;
                    counts.not_reached = unreached;
                }
            }
        }
        if Utc::now() >= overdue_at {
            counts.overdue = counts.no_response;
        }
        Ok(counts)
    }
}

/// Whether a person's case outlives the headcount that closed (its alert cancelled or
/// expired): they said they need help, or have an SOS not yet resolved. Their check-ins are
/// still taken until they are safe.
fn still_followed(status: PersonStatus, unresolved_sos: bool) -> bool {
    status == PersonStatus::NeedHelp || unresolved_sos
}

/// Where a person stands on the board: whoever is in trouble first — an SOS not yet resolved,
/// then need help — then the overdue, the others without an answer, and the safe; within
/// each, those no device has reached before those it has.
fn board_order(entry: &HeadcountEntry) -> (u8, bool) {
    let group = if entry.sos_id.is_some() {
        0
    } else {
        match entry.status {
            PersonStatus::NeedHelp => 1,
            PersonStatus::NoResponse if entry.overdue => 2,
            PersonStatus::NoResponse => 3,
            PersonStatus::Safe => 4,
        }
    };
    (group, entry.reached)
}

fn conflict(code: &'static str, message: &str) -> ApiError {
    ApiError::Conflict {
        code,
        message: message.to_owned(),
    }
}

/// Pushes the counts of every headcount that changed, at most every [`PULSE`], reading them
/// from the database after the commits so the last push always shows the true counts.
pub async fn push_counts(hub: Arc<Hub>) {
    loop {
        tokio::select! {
            _ = hub.shutdown.cancelled() => return,
            _ = hub.pulse.wake.notified() => {}
        }
        let changed = std::mem::take(&mut *hub.pulse.changed.lock().unwrap_or_else(|e| e.into_inner()));
        for (alert_id, countries) in changed {
            let counts = match hub.store.alert(alert_id).await {
                Ok(Some(alert)) => hub.counts(&alert).await,
                Ok(None) => continue,
                Err(e) => Err(e.into()),
            };
            match counts {
                Ok(counts) => {
                    hub.delivery.publish(
                        &Envelope::Headcount { alert_id, counts },
                        Audience {
                            staff: &[],
                            countries: &countries,
                        },
                    );
                }
                Err(e) => tracing::warn!(alert = %alert_id, error = %e, "could not count a headcount"),
            }
        }
        tokio::time::sleep(PULSE).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(name: &str, status: PersonStatus, overdue: bool, reached: bool, sos: bool) -> HeadcountEntry {
        HeadcountEntry {
            staff_id: Uuid::new_v4(),
            username: name.into(),
            name: name.into(),
            status,
            updated_at: None,
            via: None,
            position: None,
            note: None,
            overdue,
            reached,
            sos_id: sos.then(Uuid::new_v4),
            sos_status: sos.then_some(scaan_schemas::SosStatus::Open),
            phone: None,
        }
    }

    #[test]
    fn a_closed_headcount_follows_only_people_still_in_trouble() {
        assert!(still_followed(PersonStatus::NeedHelp, false));
        assert!(still_followed(PersonStatus::NoResponse, true));
        assert!(
            still_followed(PersonStatus::Safe, true),
            "safe here, but their SOS is still open"
        );
        assert!(!still_followed(PersonStatus::Safe, false));
        assert!(!still_followed(PersonStatus::NoResponse, false));
    }

    #[test]
    fn people_in_trouble_come_first_then_the_overdue_the_silent_and_the_safe() {
        let mut board = [
            person("safe", PersonStatus::Safe, false, true, false),
            person("silent", PersonStatus::NoResponse, false, true, false),
            person("unreached", PersonStatus::NoResponse, false, false, false),
            person("overdue", PersonStatus::NoResponse, true, true, false),
            person("help", PersonStatus::NeedHelp, false, true, false),
            person("sos", PersonStatus::NoResponse, false, true, true),
        ];
        board.sort_by_key(board_order);
        let order: Vec<&str> = board.iter().map(|e| e.username.as_str()).collect();
        assert_eq!(order, ["sos", "help", "overdue", "unreached", "silent", "safe"]);
    }
}
