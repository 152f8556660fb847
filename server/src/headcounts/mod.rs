//! Headcounts: an alert with `checkin_required` counts everyone it reached until each has
//! answered. Check-ins come by HTTP and the stream (and MQTT, with the mobile bridge), or from
//! an officer on someone's behalf, and each records its channel; the latest answer counts, the
//! first accounts for the person. Officers' streams get the counts within a second of each
//! change, coalesced so a burst costs a few envelopes, not thousands.
//!
//! Owns: the check-ins, the open headcounts the hub watches, the boards with their
//! time-to-account (`accounting`), the counts pushed to officers, the second wave, the period's
//! summary (`summary`) and exercises' drill reports (`drills`). Uses: [`Audit`] (proxy
//! check-ins are recorded), the delivery fan-out and the country atlas (duty stations'
//! countries). Alerts tell it which headcounts open and close ([`Headcounts::track`]).

mod accounting;
mod drills;
mod escalation;
mod routes;
mod summary;
mod writer;

pub use escalation::{LateArrivals, OpenHeadcounts, ESCALATION_TICK};
pub use routes::router;
pub use writer::CheckinWriter;

use axum::extract::FromRef;
use chrono::{DateTime, Duration, Utc};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use scaan_schemas::{
    Alert, Channel, Checkin, Envelope, Headcount, HeadcountCounts, HeadcountEntry, Invalid, MsgType, NewCheckin,
    PersonStatus, ReceiptStatus, Role, User, Via,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::audit::{Actor, Audit};
use crate::auth::Forbidden;
use crate::countries::CountryAtlas;
use crate::delivery::{Audience, Delivery};
use crate::error::ApiError;
use crate::hub::Hub;
use crate::metrics::StatusLabel;
use crate::nodes::{NodeEvent, Nodes};
use crate::storage::{StandingRecord, Store, StoreError};

/// Counts are pushed at most this often; a change always leads to one more push.
const PULSE: std::time::Duration = std::time::Duration::from_millis(200);

/// Alerts whose counts changed since the last push, with the countries their officers watch,
/// and whether the change was this node's (to be told to the others) or another's.
#[derive(Default)]
pub struct HeadcountPulse {
    changed: Mutex<HashMap<Uuid, (Vec<String>, bool)>>,
    wake: Notify,
}

impl HeadcountPulse {
    pub(crate) fn mark(&self, alert: &Alert) {
        self.changed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(alert.id, (alert.countries.clone(), true));
        self.wake.notify_one();
    }

    /// Counts the other nodes know changed (they changed them, or were told already): counted
    /// here, for this node's officers, and not told again.
    pub(crate) fn mark_here(&self, alerts: Vec<(Uuid, Vec<String>)>) {
        let mut changed = self.changed.lock().unwrap_or_else(|e| e.into_inner());
        for (alert, countries) in alerts {
            changed.entry(alert).or_insert((countries, false));
        }
        drop(changed);
        self.wake.notify_one();
    }
}

/// How long a headcount waits: the alert's own deadline or the hub's, then a grace period
/// before the silent turn overdue.
#[derive(Clone, Copy)]
pub struct Deadlines {
    /// `checkin_deadline_s`, for alerts that set none.
    pub default_deadline: Duration,
    /// `checkin_grace_s`.
    pub grace: Duration,
}

impl Deadlines {
    /// The deadline of an alert's headcount, and when its silent people become overdue.
    pub fn of(&self, alert: &Alert) -> (DateTime<Utc>, DateTime<Utc>) {
        let deadline = alert.sent_at
            + alert
                .content
                .checkin_deadline_s
                .map_or(self.default_deadline, |s| Duration::seconds(i64::from(s)));
        (deadline, deadline + self.grace)
    }
}

/// Check-ins and the headcount boards.
#[derive(Clone)]
pub struct Headcounts {
    store: Store,
    checkins: CheckinWriter,
    open: Arc<OpenHeadcounts>,
    pulse: Arc<HeadcountPulse>,
    delivery: Arc<Delivery>,
    nodes: Arc<Nodes>,
    audit: Audit,
    deadlines: Deadlines,
    /// Second waves sent (the `escalation_waves` metric), by their alert's status.
    waves: Family<StatusLabel, Counter>,
    /// Names duty stations' countries in time-to-account.
    atlas: &'static CountryAtlas,
}

/// Why a headcount takes no check-in.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum Closed {
    #[error("this alert was cancelled; its headcount is closed")]
    Cancelled,
    #[error("this alert has expired; its headcount is closed")]
    Expired,
    #[error("this alert does not ask for check-ins")]
    NoHeadcount,
}

impl Closed {
    /// The contract's code for it, on every channel.
    pub fn code(self) -> &'static str {
        match self {
            Closed::Cancelled => "alert_cancelled",
            Closed::Expired => "alert_expired",
            Closed::NoHeadcount => "no_headcount",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HeadcountError {
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    /// The person named was not sent the alert.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("alert not found")]
    NotFound,
    #[error(transparent)]
    Closed(#[from] Closed),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The check-in writer could not commit it.
    #[error(transparent)]
    Unrecorded(#[from] anyhow::Error),
}

impl From<HeadcountError> for ApiError {
    fn from(e: HeadcountError) -> Self {
        match e {
            HeadcountError::Forbidden(e) => e.into(),
            HeadcountError::Invalid(e) => e.into(),
            HeadcountError::NotFound => ApiError::NotFound("alert"),
            HeadcountError::Closed(closed) => ApiError::Conflict {
                code: closed.code(),
                message: closed.to_string(),
            },
            HeadcountError::Store(e) => e.into(),
            HeadcountError::Unrecorded(e) => ApiError::Internal(e),
        }
    }
}

impl FromRef<Arc<Hub>> for Headcounts {
    fn from_ref(hub: &Arc<Hub>) -> Self {
        hub.headcounts.clone()
    }
}

impl Headcounts {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        checkins: CheckinWriter,
        open: Arc<OpenHeadcounts>,
        pulse: Arc<HeadcountPulse>,
        delivery: Arc<Delivery>,
        nodes: Arc<Nodes>,
        audit: Audit,
        deadlines: Deadlines,
        waves: Family<StatusLabel, Counter>,
        atlas: &'static CountryAtlas,
    ) -> Headcounts {
        Headcounts {
            store,
            checkins,
            open,
            pulse,
            delivery,
            nodes,
            audit,
            deadlines,
            waves,
            atlas,
        }
    }

    /// An alert was sent or revised to `recipients`: its headcount opens, follows it, or closes.
    pub fn track(&self, alert: &Alert, recipients: &[Uuid]) {
        self.open.track(alert, recipients);
        self.nodes.share(|| NodeEvent::Headcount {
            alert: Box::new(alert.clone()),
            recipients: recipients.to_vec(),
        });
    }

    /// An alert's audience grew: its open board's counts are pushed now, not at the next answer.
    pub fn audience_grew(&self, alert: &Alert) {
        self.pulse.mark(alert);
    }

    /// Records a check-in by `caller` — for themselves, or for `staff_id` when an officer —
    /// that came over `transport` (`http`, `websocket`, `mqtt`, `sms`), and returns once it is
    /// durably stored.
    pub async fn check_in(
        &self,
        caller: &User,
        alert_id: Uuid,
        new: NewCheckin,
        transport: Channel,
    ) -> Result<Checkin, HeadcountError> {
        // An open headcount is answered from memory; anything else is read to explain why not.
        let open = self.open.get(alert_id);
        let stored;
        let alert = match &open {
            Some(open) => &open.alert,
            None => {
                stored = self.store.alert(alert_id).await?.ok_or(HeadcountError::NotFound)?;
                &stored
            }
        };
        let subject = subject_of(caller, alert, new.staff_id)?;
        if let Some(closed) = closed_at(alert, Utc::now()) {
            // A closed headcount stays open for whoever was still in trouble when it closed,
            // until their case is settled: an officer (or they) can still say they are safe.
            let person = self.store.headcount_people(alert_id).await?;
            let followed = person
                .iter()
                .find(|p| p.staff_id == subject)
                .is_some_and(|p| still_followed(p.status, p.sos.is_some()));
            if !followed {
                return Err(closed.into());
            }
        }
        if !alert.content.checkin_required {
            return Err(Closed::NoHeadcount.into());
        }
        let targeted = match &open {
            Some(open) => open.includes(subject),
            None => self.store.is_recipient(alert_id, subject).await?,
        };
        if !targeted {
            return Err(match new.staff_id {
                Some(_) => Invalid::new("staff_id", "this person was not sent the alert").into(),
                None => Forbidden::new("you were not sent this alert, so you are not in its headcount").into(),
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
            channel: if caller.id == subject {
                transport
            } else {
                Channel::Proxy
            },
        };
        self.checkins.write(checkin.clone(), alert.content.status).await?;
        // The other nodes are told before the answer: their boards count an acknowledged
        // check-in even if this node dies right after.
        let changed = || vec![(alert.id, alert.countries.clone())];
        self.nodes.shared(|| NodeEvent::Counted { alerts: changed() }).await;
        self.pulse.mark_here(changed());
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
    pub async fn headcount_at(&self, alert: &Alert, now: DateTime<Utc>) -> Result<Headcount, StoreError> {
        let (deadline, overdue_at) = self.deadlines.of(alert);
        let overdue = now >= overdue_at;
        // Each person's latest text, if the SMS fallback sent them any.
        let texts: HashMap<Uuid, ReceiptStatus> = self
            .store
            .text_receipts(alert.id)
            .await?
            .into_iter()
            .map(|t| (t.user_id, t.status()))
            .collect();
        let people = self.store.headcount_people(alert.id).await?;
        let time_to_account = accounting::time_to_account(&accounted(alert, &people), |p| {
            self.atlas.country_at(p.lon, p.lat).map(str::to_owned)
        });
        let mut staff: Vec<HeadcountEntry> = people
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
                sms: texts.get(&p.staff_id).copied(),
                sos_id: p.sos.map(|(id, _)| id),
                sos_status: p.sos.map(|(_, status)| status),
                phone: p.phone,
                accounted_at: p.accounted_at,
                accounted_after_s: p.accounted_at.map(|at| accounting::seconds_after(alert.sent_at, at)),
                accounted_channel: p.accounted_channel,
            })
            .collect();
        staff.sort_by_key(board_order);
        let counts = tally(&staff);
        Ok(Headcount {
            alert_id: alert.id,
            counts,
            deadline,
            time_to_account,
            staff,
        })
    }

    /// The counts alone, read from the database's tally.
    async fn counts(&self, alert: &Alert) -> Result<HeadcountCounts, StoreError> {
        let (_, overdue_at) = self.deadlines.of(alert);
        let rows = self.store.headcount_tally(alert.id).await?;
        Ok(counts_of(&rows, Utc::now() >= overdue_at))
    }

    /// The headcount of an alert the caller may see (officers).
    pub async fn board(&self, caller: &crate::auth::Caller, id: Uuid) -> Result<Headcount, HeadcountError> {
        caller.require_officer()?;
        match self.store.alert(id).await? {
            Some(alert) if caller.may_see(&alert.countries) => Ok(self.headcount_at(&alert, Utc::now()).await?),
            _ => Err(HeadcountError::NotFound),
        }
    }
}

/// A headcount's people as time-to-account sees them: each timed from the alert's sending.
fn accounted(alert: &Alert, people: &[StandingRecord]) -> Vec<accounting::Accounted> {
    people
        .iter()
        .map(|p| accounting::Accounted {
            after_s: p.accounted_at.map(|at| accounting::seconds_after(alert.sent_at, at)),
            duty_station: p.duty_station,
            channel: p.accounted_channel,
        })
        .collect()
}

/// Whom a check-in is for: the caller, or — from an officer who may act on every country
/// the alert reaches — the person named by `staff_id`.
fn subject_of(caller: &User, alert: &Alert, staff_id: Option<Uuid>) -> Result<Uuid, Forbidden> {
    let Some(staff_id) = staff_id else {
        return Ok(caller.id);
    };
    if !matches!(caller.role, Role::SecurityOfficer | Role::WatchOfficer) {
        return Err(Forbidden::new("only officers check others in; leave out staff_id"));
    }
    if caller.role == Role::SecurityOfficer && !alert.countries.iter().all(|c| caller.countries.contains(c)) {
        return Err(Forbidden::new("this alert reaches countries outside yours"));
    }
    Ok(staff_id)
}

/// Whether the alert's headcount has closed by `now`: cancelled, or expired.
fn closed_at(alert: &Alert, now: DateTime<Utc>) -> Option<Closed> {
    if alert.msg_type == MsgType::Cancel {
        Some(Closed::Cancelled)
    } else if alert.content.expires_at <= now {
        Some(Closed::Expired)
    } else {
        None
    }
}

/// A board's counts: every person once, by their latest answer; the silent no device reached
/// are also counted apart.
fn tally(staff: &[HeadcountEntry]) -> HeadcountCounts {
    let mut counts = HeadcountCounts {
        total: staff.len() as u32,
        ..Default::default()
    };
    for entry in staff {
        match entry.status {
            PersonStatus::Safe => counts.safe += 1,
            PersonStatus::NeedHelp => counts.need_help += 1,
            PersonStatus::NoResponse => counts.no_response += 1,
        }
        counts.overdue += u32::from(entry.overdue);
        counts.not_reached += u32::from(entry.status == PersonStatus::NoResponse && !entry.reached);
    }
    counts
}

/// The counts from the database's tally (people by status, and of the silent those not
/// reached); past the grace period every silent person is overdue.
fn counts_of(rows: &[(PersonStatus, u32, u32)], overdue: bool) -> HeadcountCounts {
    let mut counts = HeadcountCounts::default();
    for &(status, n, unreached) in rows {
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
    if overdue {
        counts.overdue = counts.no_response;
    }
    counts
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

impl Headcounts {
    /// Pushes the counts of every headcount that changed, at most every [`PULSE`], reading
    /// them from the database after the commits so the last push always shows the true
    /// counts; until `shutdown`.
    pub async fn push_counts(self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.pulse.wake.notified() => {}
            }
            let changed = std::mem::take(&mut *self.pulse.changed.lock().unwrap_or_else(|e| e.into_inner()));
            let ours: Vec<(Uuid, Vec<String>)> = changed
                .iter()
                .filter(|(_, (_, ours))| *ours)
                .map(|(alert, (countries, _))| (*alert, countries.clone()))
                .collect();
            if !ours.is_empty() {
                self.nodes.share(|| NodeEvent::Counted { alerts: ours });
            }
            for (alert_id, (countries, _)) in changed {
                let counts = match self.store.alert(alert_id).await {
                    Ok(Some(alert)) => self.counts(&alert).await,
                    Ok(None) => continue,
                    Err(e) => Err(e),
                };
                match counts {
                    Ok(counts) => {
                        self.delivery.publish_here(
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(countries: &[&str], deadline_s: Option<u32>) -> Alert {
        let mut alert = crate::testing::alert_near_beni(countries);
        alert.content.checkin_deadline_s = deadline_s;
        alert
    }

    use crate::testing::user as officer;

    #[test]
    fn the_deadline_is_the_alerts_own_or_the_hubs_and_overdue_comes_after_the_grace() {
        let deadlines = Deadlines {
            default_deadline: Duration::minutes(30),
            grace: Duration::minutes(5),
        };
        let own = alert(&["CD"], Some(600));
        assert_eq!(
            deadlines.of(&own),
            (own.sent_at + Duration::minutes(10), own.sent_at + Duration::minutes(15))
        );
        let default = alert(&["CD"], None);
        assert_eq!(
            deadlines.of(&default),
            (
                default.sent_at + Duration::minutes(30),
                default.sent_at + Duration::minutes(35)
            )
        );
    }

    #[test]
    fn one_checks_in_oneself_and_officers_check_in_others_only_in_their_countries() {
        let beni = alert(&["CD", "UG"], None);
        let staff = officer(Role::Staff, &[]);
        let someone = Uuid::new_v4();
        assert_eq!(subject_of(&staff, &beni, None).unwrap(), staff.id);
        assert!(
            subject_of(&staff, &beni, Some(someone)).is_err(),
            "staff check in only themselves"
        );
        assert_eq!(
            subject_of(&officer(Role::SecurityOfficer, &["CD", "UG"]), &beni, Some(someone)).unwrap(),
            someone
        );
        let e = subject_of(&officer(Role::SecurityOfficer, &["CD"]), &beni, Some(someone)).unwrap_err();
        assert_eq!(e.0, "this alert reaches countries outside yours");
        assert_eq!(
            subject_of(&officer(Role::WatchOfficer, &[]), &beni, Some(someone)).unwrap(),
            someone
        );
        assert!(subject_of(&officer(Role::Admin, &[]), &beni, Some(someone)).is_err());
    }

    #[test]
    fn a_headcount_closes_when_its_alert_is_cancelled_or_expires() {
        let mut beni = alert(&["CD"], None);
        let now = Utc::now();
        assert_eq!(closed_at(&beni, now), None);
        assert_eq!(closed_at(&beni, beni.content.expires_at), Some(Closed::Expired));
        beni.msg_type = MsgType::Cancel;
        assert_eq!(closed_at(&beni, now), Some(Closed::Cancelled));
        assert_eq!(
            [Closed::Cancelled, Closed::Expired, Closed::NoHeadcount].map(Closed::code),
            ["alert_cancelled", "alert_expired", "no_headcount"]
        );
    }

    #[test]
    fn a_board_counts_everyone_once_by_their_answer() {
        let board = [
            person("safe", PersonStatus::Safe, false, true, false),
            person("help", PersonStatus::NeedHelp, false, true, false),
            person("overdue", PersonStatus::NoResponse, true, true, false),
            person("unreached", PersonStatus::NoResponse, true, false, false),
            person("safe but unreached", PersonStatus::Safe, false, false, false),
        ];
        let counts = tally(&board);
        assert_eq!(
            (counts.total, counts.safe, counts.need_help, counts.no_response),
            (5, 2, 1, 2)
        );
        assert_eq!(
            (counts.overdue, counts.not_reached),
            (2, 1),
            "an answer means it was reached"
        );
    }

    #[test]
    fn the_tallys_counts_turn_every_silent_person_overdue_after_the_grace() {
        let rows = [
            (PersonStatus::Safe, 4, 0),
            (PersonStatus::NeedHelp, 1, 0),
            (PersonStatus::NoResponse, 3, 2),
        ];
        let before = counts_of(&rows, false);
        assert_eq!(
            (
                before.total,
                before.safe,
                before.need_help,
                before.no_response,
                before.not_reached,
                before.overdue
            ),
            (8, 4, 1, 3, 2, 0)
        );
        assert_eq!(counts_of(&rows, true).overdue, 3);
        assert_eq!(counts_of(&[], true).total, 0);
    }

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
            sms: None,
            sos_id: sos.then(Uuid::new_v4),
            sos_status: sos.then_some(scaan_schemas::SosStatus::Open),
            phone: None,
            accounted_at: None,
            accounted_after_s: None,
            accounted_channel: None,
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
