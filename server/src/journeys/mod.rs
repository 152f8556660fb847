//! Journeys and timed check-ins: a staff member (or an officer for them) starts a movement or a
//! trip's legs with expected check-ins ("every 2 h", "arrived at Goma by 18:00"). Before each
//! check-in is due the phone is reminded; when it is missed the phone is asked again; when it
//! stays missed past the grace, the officers of the journey's countries get an alarm, which they
//! acknowledge and resolve with notes. "Arrived safely" ends a leg, and the journey after its
//! last. The check-in arrives by HTTP, the stream or MQTT (`journey_checkin`).
//!
//! A traveller needs no live position: the reminders go to their own streams and MQTT inbox,
//! and the alarm to the officers of the legs' countries (from the trip's destination when the
//! journey names a trip).
//!
//! Owns: the journeys, their schedule and their alarms. Uses: [`Audit`] (what officers do),
//! the delivery fan-out, [`LocationPrivacy`] (officers see a journey's last position at area
//! level; an alarm not resolved shows it precisely, an audited view). The schedule lives in the database (`next_step_at`): the timer
//! ([`Journeys::keep_time`]) re-reads it after a restart, and takes each step once.

mod routes;

pub use routes::router;

use axum::extract::FromRef;
use chrono::{DateTime, Duration, Utc};
use scaan_schemas::{
    AlarmStatus, DueStage, Envelope, Journey, JourneyAlarm, JourneyCheckin, JourneyCheckinStatus, JourneyLeg,
    JourneyStatus, NewJourney, Role, Trip, TripStatus, User,
};
use std::sync::Arc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::audit::{Actor, Audit};
use crate::auth::{officer_sees, require_role, Caller, Forbidden};
use crate::delivery::{Audience, Delivery, OfficersCopy};
use crate::error::ApiError;
use crate::hub::Hub;
use crate::privacy::LocationPrivacy;
use crate::storage::{Conflict, JourneyScope, Page, Store, StoreError, StoredJourney};

/// The timer looks at the schedule at least this often, even when nothing seems due (another
/// hub on the same database may have started a journey).
const IDLE: std::time::Duration = std::time::Duration::from_secs(30);
/// A change made over a revision someone else moved on is made again from the new one, this
/// many times at most (a check-in racing the timer's step).
const ATTEMPTS: usize = 3;

/// When the steps of a due check-in come.
#[derive(Debug, Clone, Copy)]
pub struct JourneyTimings {
    /// The phone is reminded this long before a check-in is due (`journey_remind_before_s`).
    pub remind_before: Duration,
    /// A check-in still missing this long after it was due raises the alarm (`journey_grace_s`).
    pub grace: Duration,
}

/// Journeys: starting, checking in, ending; the timer; the alarms.
#[derive(Clone)]
pub struct Journeys {
    store: Store,
    delivery: Arc<Delivery>,
    audit: Audit,
    privacy: LocationPrivacy,
    timings: JourneyTimings,
    /// Wakes the timer when a journey's schedule changed.
    wake: Arc<Notify>,
}

#[derive(Debug, thiserror::Error)]
pub enum JourneyError {
    #[error(transparent)]
    Invalid(#[from] scaan_schemas::Invalid),
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    /// No such journey, or not one the caller may see.
    #[error("journey not found")]
    NotFound,
    #[error("alarm not found")]
    AlarmNotFound,
    /// The journey is over: nothing more is expected of it.
    #[error("this journey is already {}", .0.as_str())]
    Over(JourneyStatus),
    /// Someone else acknowledged or resolved the alarm first.
    #[error("this alarm is already {}", .0.as_str())]
    AlarmHandled(AlarmStatus),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl JourneyError {
    /// The `code` of this refusal on every channel.
    pub fn code(&self) -> &'static str {
        match self {
            JourneyError::Invalid(_) => "invalid_field",
            JourneyError::Forbidden(_) => "forbidden",
            JourneyError::NotFound | JourneyError::AlarmNotFound => "not_found",
            JourneyError::Over(_) => "journey_over",
            JourneyError::AlarmHandled(_) => "alarm_changed",
            JourneyError::Store(_) => "internal",
        }
    }
}

impl From<JourneyError> for ApiError {
    fn from(e: JourneyError) -> Self {
        match e {
            JourneyError::Invalid(e) => e.into(),
            JourneyError::Forbidden(e) => e.into(),
            JourneyError::NotFound => ApiError::NotFound("journey"),
            JourneyError::AlarmNotFound => ApiError::NotFound("alarm"),
            JourneyError::Over(_) | JourneyError::AlarmHandled(_) => ApiError::Conflict {
                code: e.code(),
                message: e.to_string(),
            },
            JourneyError::Store(e) => e.into(),
        }
    }
}

impl FromRef<Arc<Hub>> for Journeys {
    fn from_ref(hub: &Arc<Hub>) -> Self {
        hub.journeys.clone()
    }
}

/// When the next check-in is expected: "every …" after the last one (or the start), and never
/// later than the leg's "arrived by". None once the journey is over.
fn due_at(journey: &Journey) -> Option<DateTime<Utc>> {
    if journey.status != JourneyStatus::Active {
        return None;
    }
    let leg = journey.legs.get(journey.current_leg)?;
    let since = journey.last_checkin_at.unwrap_or(journey.started_at);
    let every = journey.checkin_every_s.map(|s| since + Duration::seconds(i64::from(s)));
    Some(every.map_or(leg.arrive_by, |at| at.min(leg.arrive_by)))
}

/// What the timer does next about a journey's due check-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Tell the phone the check-in is due soon.
    Remind,
    /// Tell the phone it was due and not made.
    AskAgain,
    /// Tell the officers.
    RaiseAlarm,
}

/// When the timer next acts on the journey; none when it has nothing more to do.
fn next_step_at(journey: &Journey, timings: JourneyTimings) -> Option<DateTime<Utc>> {
    let due = journey.due_at?;
    match journey.stage {
        DueStage::Upcoming => Some(due - timings.remind_before),
        DueStage::Reminded => Some(due),
        DueStage::Overdue => Some(due + timings.grace),
        DueStage::Missed => None,
    }
}

/// The step due at `now`, if any. A hub that was down past a check-in's due time asks again
/// rather than reminding of something already late.
fn step_at(journey: &Journey, now: DateTime<Utc>, timings: JourneyTimings) -> Option<Step> {
    let due = journey.due_at?;
    match journey.stage {
        DueStage::Upcoming | DueStage::Reminded if now >= due => Some(Step::AskAgain),
        DueStage::Upcoming if now >= due - timings.remind_before => Some(Step::Remind),
        DueStage::Overdue if now >= due + timings.grace => Some(Step::RaiseAlarm),
        _ => None,
    }
}

/// A check-in from the person: all well (the next one counts from now), or arrived (the leg
/// ends; the journey after its last).
fn check_in(journey: &mut Journey, checkin: JourneyCheckin, now: DateTime<Utc>) -> Result<(), JourneyError> {
    if journey.status != JourneyStatus::Active {
        return Err(JourneyError::Over(journey.status));
    }
    journey.last_checkin_at = Some(now);
    if checkin.position.is_some() {
        journey.last_position = checkin.position;
    }
    journey.last_note = checkin.note;
    if checkin.status == JourneyCheckinStatus::Arrived {
        if let Some(leg) = journey.legs.get_mut(journey.current_leg) {
            leg.arrived_at = Some(now);
        }
        journey.current_leg += 1;
        if journey.current_leg >= journey.legs.len() {
            journey.status = JourneyStatus::Arrived;
            journey.ended_at = Some(now);
        }
    }
    journey.stage = DueStage::Upcoming;
    journey.due_at = due_at(journey);
    Ok(())
}

/// Ends a journey early: nothing more is expected of it.
fn end(journey: &mut Journey, by: &User, now: DateTime<Utc>) -> Result<(), JourneyError> {
    if journey.status != JourneyStatus::Active {
        return Err(JourneyError::Over(journey.status));
    }
    journey.status = JourneyStatus::Ended;
    journey.ended_at = Some(now);
    journey.ended_by = Some(by.username.clone());
    journey.due_at = None;
    Ok(())
}

/// The alarm for the journey's missed check-in.
fn alarm_for(journey: &Journey, now: DateTime<Utc>) -> Option<JourneyAlarm> {
    Some(JourneyAlarm {
        id: Uuid::new_v4(),
        journey_id: journey.id,
        staff_id: journey.staff_id,
        username: journey.username.clone(),
        name: journey.name.clone(),
        countries: journey.countries.clone(),
        status: AlarmStatus::Open,
        missed_due_at: journey.due_at?,
        heading_to: journey.legs.get(journey.current_leg)?.to.clone(),
        raised_at: now,
        last_checkin_at: journey.last_checkin_at,
        last_position: journey.last_position,
        phone: journey.phone.clone(),
        acknowledged_at: None,
        acknowledged_by: None,
        acknowledge_note: None,
        resolved_at: None,
        resolved_by: None,
        resolution: None,
    })
}

/// Someone is on it; only an open alarm is acknowledged.
fn acknowledge(
    alarm: &mut JourneyAlarm,
    by: &User,
    note: Option<String>,
    now: DateTime<Utc>,
) -> Result<(), JourneyError> {
    if alarm.status != AlarmStatus::Open {
        return Err(JourneyError::AlarmHandled(alarm.status));
    }
    alarm.status = AlarmStatus::Acknowledged;
    alarm.acknowledged_at = Some(now);
    alarm.acknowledged_by = Some(by.username.clone());
    alarm.acknowledge_note = note;
    Ok(())
}

/// Closes an alarm, acknowledged or not, once.
fn resolve(alarm: &mut JourneyAlarm, by: &User, note: String, now: DateTime<Utc>) -> Result<(), JourneyError> {
    if alarm.status == AlarmStatus::Resolved {
        return Err(JourneyError::AlarmHandled(alarm.status));
    }
    alarm.status = AlarmStatus::Resolved;
    alarm.resolved_at = Some(now);
    alarm.resolved_by = Some(by.username.clone());
    alarm.resolution = Some(note);
    Ok(())
}

/// The legs of a new journey: a leg naming no place or country goes to the trip's destination.
fn legs_of(new: &NewJourney, trip: Option<&Trip>) -> Result<Vec<JourneyLeg>, scaan_schemas::Invalid> {
    new.legs
        .iter()
        .enumerate()
        .map(|(i, leg)| {
            let missing = |what: &str| {
                scaan_schemas::Invalid::new(
                    format!("legs[{i}].{what}"),
                    "is required unless the journey names a trip (whose destination it then is)",
                )
            };
            let to = leg
                .to
                .clone()
                .filter(|t| !t.trim().is_empty())
                .or_else(|| {
                    trip.map(|t| {
                        t.destination
                            .city
                            .clone()
                            .unwrap_or_else(|| t.destination.country.clone())
                    })
                })
                .ok_or_else(|| missing("to"))?;
            let country = leg
                .country
                .clone()
                .or_else(|| trip.map(|t| t.destination.country.clone()))
                .ok_or_else(|| missing("country"))?;
            Ok(JourneyLeg {
                to,
                country,
                arrive_by: leg.arrive_by,
                arrived_at: None,
            })
        })
        .collect()
}

/// Every country of the legs, once each, in the order they come.
fn countries_of(legs: &[JourneyLeg]) -> Vec<String> {
    let mut countries: Vec<String> = Vec::new();
    for leg in legs {
        if !countries.contains(&leg.country) {
            countries.push(leg.country.clone());
        }
    }
    countries
}

/// Which journeys and alarms a caller lists: their own; officers also those of their countries.
fn scope_of(caller: &Caller) -> Result<JourneyScope, Forbidden> {
    match caller.role() {
        Role::Staff => Ok(JourneyScope::Staff(caller.user.id)),
        Role::SecurityOfficer => Ok(JourneyScope::CountriesOrStaff(
            caller.user.countries.clone(),
            caller.user.id,
        )),
        Role::WatchOfficer => Ok(JourneyScope::All),
        Role::Admin => Err(no_journeys_for_administrators()),
    }
}

fn no_journeys_for_administrators() -> Forbidden {
    Forbidden::new("administrators manage accounts, not journeys")
}

impl Journeys {
    pub fn new(
        store: Store,
        delivery: Arc<Delivery>,
        audit: Audit,
        privacy: LocationPrivacy,
        timings: JourneyTimings,
    ) -> Journeys {
        Journeys {
            store,
            delivery,
            audit,
            privacy,
            timings,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Starts a journey for the caller, or — an officer — for a staff member of their
    /// countries.
    pub async fn start(&self, caller: &Caller, new: NewJourney) -> Result<Journey, JourneyError> {
        if caller.role() == Role::Admin {
            return Err(no_journeys_for_administrators().into());
        }
        let traveller = match new.staff_id {
            Some(id) if id != caller.user.id => {
                caller.require_officer()?;
                match self.store.user(id).await? {
                    Some(user) if user.role == Role::Staff && !user.disabled => user,
                    _ => {
                        return Err(
                            scaan_schemas::Invalid::new("staff_id", "is not an active staff member's id").into(),
                        )
                    }
                }
            }
            _ => caller.user.clone(),
        };
        let trip = match new.trip_id {
            Some(id) => Some(self.trip_of(&traveller, id).await?),
            None => None,
        };
        let legs = legs_of(&new, trip.as_ref())?;
        let countries = countries_of(&legs);
        let for_someone_else = traveller.id != caller.user.id;
        if for_someone_else {
            caller.may_act_in(&countries)?;
        }
        let now = Utc::now();
        let mut journey = Journey {
            id: Uuid::new_v4(),
            staff_id: traveller.id,
            username: traveller.username.clone(),
            name: traveller.name.clone(),
            trip_id: new.trip_id,
            note: new.note,
            status: JourneyStatus::Active,
            countries,
            legs,
            current_leg: 0,
            checkin_every_s: new.checkin_every_s,
            due_at: None,
            stage: DueStage::Upcoming,
            started_at: now,
            started_by: caller.user.username.clone(),
            last_checkin_at: None,
            last_position: None,
            last_note: None,
            ended_at: None,
            ended_by: None,
            phone: traveller.phones.first().cloned(),
        };
        journey.due_at = due_at(&journey);
        self.store
            .insert_journey(&journey, next_step_at(&journey, self.timings))
            .await?;
        self.wake.notify_one();
        self.announce(&journey);
        if for_someone_else {
            self.audit
                .record(
                    Actor::Account(&caller.user),
                    "journey.started",
                    journey.id,
                    &journey.countries,
                    serde_json::json!({"staff": journey.username}),
                )
                .await;
        }
        tracing::info!(journey = %journey.id, staff = %journey.username, legs = journey.legs.len(), "journey started");
        Ok(journey)
    }

    /// The traveller's own trip, not cancelled or declined and not over.
    async fn trip_of(&self, traveller: &User, id: Uuid) -> Result<Trip, JourneyError> {
        let unknown = || scaan_schemas::Invalid::new("trip_id", "is not a trip of the traveller's that is still ahead");
        match self.store.trip(id).await? {
            Some(trip)
                if trip.traveller_id == traveller.id
                    && !matches!(trip.status, TripStatus::Cancelled | TripStatus::Declined)
                    && trip.return_at > Utc::now() =>
            {
                Ok(trip)
            }
            _ => Err(unknown().into()),
        }
    }

    /// Journeys the caller may see, latest started first; only active ones when `active`.
    pub async fn list(&self, caller: &Caller, active: bool, page: Page) -> Result<Vec<Journey>, JourneyError> {
        let mut journeys = self.store.journeys(&scope_of(caller)?, active, page).await?;
        for journey in &mut journeys {
            self.privacy.journey_for(&caller.user, journey);
        }
        Ok(journeys)
    }

    /// The stored journey, if `user` is its person or an officer who follows it.
    async fn visible_stored(&self, user: &User, id: Uuid) -> Result<StoredJourney, JourneyError> {
        match self.store.journey(id).await? {
            Some(stored) if stored.journey.staff_id == user.id || officer_sees(user, &stored.journey.countries) => {
                Ok(stored)
            }
            _ => Err(JourneyError::NotFound),
        }
    }

    pub async fn visible(&self, caller: &Caller, id: Uuid) -> Result<Journey, JourneyError> {
        let mut journey = self.visible_stored(&caller.user, id).await?.journey;
        self.privacy.journey_for(&caller.user, &mut journey);
        Ok(journey)
    }

    /// A check-in on a journey, by its person (any channel) or an officer who follows it (who
    /// heard from them another way); the journey as `user` may see it.
    pub async fn check_in(&self, user: &User, id: Uuid, checkin: JourneyCheckin) -> Result<Journey, JourneyError> {
        let mut journey = self
            .change(user, id, |journey, now| check_in(journey, checkin.clone(), now))
            .await?;
        self.privacy.journey_for(user, &mut journey);
        Ok(journey)
    }

    /// Ends a journey early (its person, or an officer who follows it); the journey as `user`
    /// may see it.
    pub async fn end(&self, user: &User, id: Uuid) -> Result<Journey, JourneyError> {
        let mut journey = self.change(user, id, |journey, now| end(journey, user, now)).await?;
        self.privacy.journey_for(user, &mut journey);
        if journey.staff_id != user.id {
            self.audit
                .record(
                    Actor::Account(user),
                    "journey.ended",
                    journey.id,
                    &journey.countries,
                    serde_json::json!({"staff": journey.username}),
                )
                .await;
        }
        Ok(journey)
    }

    /// Applies `change` to the stored journey and stores it over the revision it was read at,
    /// reading again when the timer stepped it meanwhile.
    async fn change(
        &self,
        user: &User,
        id: Uuid,
        change: impl Fn(&mut Journey, DateTime<Utc>) -> Result<(), JourneyError>,
    ) -> Result<Journey, JourneyError> {
        let mut attempt = 1;
        loop {
            let StoredJourney { mut journey, revision } = self.visible_stored(user, id).await?;
            if journey.staff_id != user.id {
                require_role(user, &[Role::SecurityOfficer, Role::WatchOfficer])?;
            }
            change(&mut journey, Utc::now())?;
            let next = next_step_at(&journey, self.timings);
            match self.store.update_journey(&journey, next, revision).await {
                Ok(()) => {
                    self.wake.notify_one();
                    self.announce(&journey);
                    return Ok(journey);
                }
                Err(StoreError::Conflict(Conflict::ChangedMeanwhile)) if attempt < ATTEMPTS => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Alarms the caller may see, newest first (each precise position an audited view).
    pub async fn alarms(
        &self,
        caller: &Caller,
        status: Option<AlarmStatus>,
        page: Page,
    ) -> Result<Vec<JourneyAlarm>, JourneyError> {
        caller.require_officer()?;
        let mut alarms = self.store.journey_alarms(&scope_of(caller)?, status, page).await?;
        self.privacy.screen_alarms(caller, "journey_alarms", &mut alarms).await;
        Ok(alarms)
    }

    /// The stored alarm, if the caller is an officer who may act on it.
    async fn alarm_to_handle(&self, caller: &Caller, id: Uuid) -> Result<JourneyAlarm, JourneyError> {
        caller.require_officer()?;
        match self.store.journey_alarm(id).await? {
            Some(alarm) if caller.may_see(&alarm.countries) => Ok(alarm),
            _ => Err(JourneyError::AlarmNotFound),
        }
    }

    pub async fn acknowledge(
        &self,
        caller: &Caller,
        id: Uuid,
        note: Option<String>,
    ) -> Result<JourneyAlarm, JourneyError> {
        let mut alarm = self.alarm_to_handle(caller, id).await?;
        acknowledge(&mut alarm, &caller.user, note.clone(), Utc::now())?;
        self.store.update_journey_alarm(&alarm, AlarmStatus::Open).await?;
        self.announce_alarm(&alarm);
        self.audit
            .record(
                Actor::Account(&caller.user),
                "journey_alarm.acknowledged",
                alarm.id,
                &alarm.countries,
                serde_json::json!({"note": note, "journey": alarm.journey_id}),
            )
            .await;
        self.privacy
            .screen_alarms(caller, "journey_alarms", std::slice::from_mut(&mut alarm))
            .await;
        Ok(alarm)
    }

    pub async fn resolve(&self, caller: &Caller, id: Uuid, note: String) -> Result<JourneyAlarm, JourneyError> {
        let mut alarm = self.alarm_to_handle(caller, id).await?;
        let previous = alarm.status;
        resolve(&mut alarm, &caller.user, note.clone(), Utc::now())?;
        self.store.update_journey_alarm(&alarm, previous).await?;
        self.privacy.incident_over(alarm.id);
        self.announce_alarm(&alarm);
        self.audit
            .record(
                Actor::Account(&caller.user),
                "journey_alarm.resolved",
                alarm.id,
                &alarm.countries,
                serde_json::json!({"note": note, "journey": alarm.journey_id}),
            )
            .await;
        self.privacy
            .screen_alarms(caller, "journey_alarms", std::slice::from_mut(&mut alarm))
            .await;
        Ok(alarm)
    }

    /// Tells the person (the journey whole) and its officers (the last position at area level).
    fn announce(&self, journey: &Journey) {
        let mut shown = journey.clone();
        shown.last_position = shown.last_position.map(|p| self.privacy.area_of(p));
        self.delivery.publish_screened(
            &Envelope::Journey {
                journey: journey.clone(),
            },
            OfficersCopy {
                envelope: &Envelope::Journey { journey: shown },
                view: None,
            },
            Audience {
                staff: &[journey.staff_id],
                countries: &journey.countries,
            },
        );
    }

    /// Tells the officers, as they may see the alarm (each write of one not resolved an audited
    /// view of the last position).
    fn announce_alarm(&self, alarm: &JourneyAlarm) {
        let mut shown = alarm.clone();
        let view = self.privacy.alarm_for_officers(&mut shown);
        let envelope = Envelope::JourneyAlarm { alarm: shown };
        self.delivery.publish_screened(
            &envelope,
            OfficersCopy {
                envelope: &envelope,
                view,
            },
            Audience {
                staff: &[],
                countries: &alarm.countries,
            },
        );
    }

    /// Takes each journey's steps when they fall due, until `shutdown`. The schedule is read
    /// from the database each time, so a restart picks up where the last run left off.
    pub async fn keep_time(self, shutdown: CancellationToken) {
        loop {
            let now = Utc::now();
            match self.store.journeys_due(now).await {
                Ok(due) => {
                    for stored in due {
                        self.take_step(stored, now).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not look for journeys' due check-ins"),
            }
            let wait = match self.store.next_journey_step().await {
                Ok(Some(at)) => (at - Utc::now()).to_std().unwrap_or_default().min(IDLE),
                Ok(None) => IDLE,
                Err(_) => std::time::Duration::from_secs(1),
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One step of one journey, stored over the revision it was read at: a check-in or another
    /// timer that got there first wins, and this step is not taken.
    async fn take_step(&self, StoredJourney { mut journey, revision }: StoredJourney, now: DateTime<Utc>) {
        let step = step_at(&journey, now, self.timings);
        let stored = match step {
            Some(Step::Remind) => {
                journey.stage = DueStage::Reminded;
                self.store
                    .update_journey(&journey, next_step_at(&journey, self.timings), revision)
                    .await
            }
            Some(Step::AskAgain) => {
                journey.stage = DueStage::Overdue;
                self.store
                    .update_journey(&journey, next_step_at(&journey, self.timings), revision)
                    .await
            }
            Some(Step::RaiseAlarm) => {
                journey.stage = DueStage::Missed;
                match alarm_for(&journey, now) {
                    Some(alarm) => {
                        let raised = self.store.raise_journey_alarm(&journey, revision, &alarm).await;
                        if raised.is_ok() {
                            tracing::warn!(journey = %journey.id, staff = %journey.username, "journey check-in missed: alarm raised");
                            self.announce_alarm(&alarm);
                        }
                        raised
                    }
                    None => Ok(()),
                }
            }
            // Nothing due after all (a schedule written by an older rule): store it afresh.
            None => {
                self.store
                    .update_journey(&journey, next_step_at(&journey, self.timings), revision)
                    .await
            }
        };
        match stored {
            Ok(()) => {
                if let (Some(step @ (Step::Remind | Step::AskAgain)), Some(due_at)) = (step, journey.due_at) {
                    self.remind(&journey, due_at, step == Step::AskAgain);
                }
                if step.is_some() {
                    self.announce(&journey);
                }
            }
            Err(StoreError::Conflict(_)) => tracing::debug!(journey = %journey.id, "journey changed before its step"),
            Err(e) => tracing::warn!(error = %e, journey = %journey.id, "could not take a journey's step"),
        }
    }

    fn remind(&self, journey: &Journey, due_at: DateTime<Utc>, overdue: bool) {
        let heading_to = journey
            .legs
            .get(journey.current_leg)
            .map(|l| l.to.clone())
            .unwrap_or_default();
        self.delivery.publish(
            &Envelope::JourneyReminder {
                journey_id: journey.id,
                due_at,
                heading_to,
                overdue,
            },
            Audience {
                staff: &[journey.staff_id],
                countries: &[],
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scaan_schemas::{NewLeg, Position};

    const TIMINGS: JourneyTimings = JourneyTimings {
        remind_before: Duration::minutes(15),
        grace: Duration::minutes(30),
    };

    fn person() -> User {
        User {
            id: Uuid::new_v4(),
            username: "amani".into(),
            name: "Amani".into(),
            role: Role::Staff,
            countries: Vec::new(),
            duty_station: None,
            disabled: false,
            phones: Vec::new(),
        }
    }

    fn journey(start: DateTime<Utc>, every: Option<u32>, arrivals: &[i64]) -> Journey {
        let staff = person();
        let mut journey = Journey {
            id: Uuid::new_v4(),
            staff_id: staff.id,
            username: staff.username,
            name: staff.name,
            trip_id: None,
            note: None,
            status: JourneyStatus::Active,
            countries: vec!["CD".into()],
            legs: arrivals
                .iter()
                .map(|h| JourneyLeg {
                    to: format!("stop {h}"),
                    country: "CD".into(),
                    arrive_by: start + Duration::hours(*h),
                    arrived_at: None,
                })
                .collect(),
            current_leg: 0,
            checkin_every_s: every,
            due_at: None,
            stage: DueStage::Upcoming,
            started_at: start,
            started_by: "amani".into(),
            last_checkin_at: None,
            last_position: None,
            last_note: None,
            ended_at: None,
            ended_by: None,
            phone: None,
        };
        journey.due_at = due_at(&journey);
        journey
    }

    fn checkin(status: JourneyCheckinStatus) -> JourneyCheckin {
        JourneyCheckin {
            status,
            position: Some(Position {
                lat: -1.68,
                lon: 29.22,
                accuracy_m: None,
            }),
            note: None,
        }
    }

    #[test]
    fn a_check_in_is_due_every_so_often_but_never_after_the_leg_s_arrival() {
        let start = Utc::now();
        let every_two_hours = journey(start, Some(7200), &[5]);
        assert_eq!(every_two_hours.due_at, Some(start + Duration::hours(2)));
        let mut late = every_two_hours.clone();
        late.last_checkin_at = Some(start + Duration::hours(4));
        assert_eq!(
            due_at(&late),
            Some(start + Duration::hours(5)),
            "the arrival comes first"
        );
        let by_arrival_only = journey(start, None, &[5]);
        assert_eq!(by_arrival_only.due_at, Some(start + Duration::hours(5)));
    }

    #[test]
    fn a_missed_check_in_is_reminded_then_asked_again_then_raised() {
        let start = Utc::now();
        let mut j = journey(start, None, &[2]);
        let due = start + Duration::hours(2);
        assert_eq!(next_step_at(&j, TIMINGS), Some(due - Duration::minutes(15)));
        assert_eq!(step_at(&j, due - Duration::minutes(20), TIMINGS), None);
        assert_eq!(step_at(&j, due - Duration::minutes(10), TIMINGS), Some(Step::Remind));
        j.stage = DueStage::Reminded;
        assert_eq!(next_step_at(&j, TIMINGS), Some(due));
        assert_eq!(step_at(&j, due - Duration::minutes(1), TIMINGS), None);
        assert_eq!(step_at(&j, due, TIMINGS), Some(Step::AskAgain));
        j.stage = DueStage::Overdue;
        assert_eq!(next_step_at(&j, TIMINGS), Some(due + Duration::minutes(30)));
        assert_eq!(step_at(&j, due + Duration::minutes(29), TIMINGS), None);
        assert_eq!(
            step_at(&j, due + Duration::minutes(30), TIMINGS),
            Some(Step::RaiseAlarm)
        );
        let alarm = alarm_for(&j, due + Duration::minutes(30)).unwrap();
        assert_eq!((alarm.missed_due_at, alarm.heading_to.as_str()), (due, "stop 2"));
        j.stage = DueStage::Missed;
        assert_eq!(next_step_at(&j, TIMINGS), None, "the alarm is the last step");
        assert_eq!(step_at(&j, due + Duration::days(1), TIMINGS), None);
    }

    #[test]
    fn a_hub_back_after_the_due_time_asks_again_rather_than_reminding() {
        let start = Utc::now();
        let j = journey(start, None, &[2]);
        assert_eq!(step_at(&j, start + Duration::hours(3), TIMINGS), Some(Step::AskAgain));
    }

    #[test]
    fn the_schedule_and_the_steps_agree() {
        // Whenever the timer finds a journey due, it has a step to take: it never spins.
        let start = Utc::now();
        for stage in [DueStage::Upcoming, DueStage::Reminded, DueStage::Overdue] {
            let mut j = journey(start, None, &[2]);
            j.stage = stage;
            let at = next_step_at(&j, TIMINGS).unwrap();
            assert!(step_at(&j, at, TIMINGS).is_some(), "{stage:?}");
        }
    }

    #[test]
    fn a_check_in_starts_the_count_again_and_arrival_ends_the_leg_then_the_journey() {
        let start = Utc::now();
        let mut j = journey(start, Some(3600), &[3, 6]);
        j.stage = DueStage::Overdue;
        let at = start + Duration::minutes(70);
        check_in(&mut j, checkin(JourneyCheckinStatus::Ok), at).unwrap();
        assert_eq!((j.stage, j.due_at), (DueStage::Upcoming, Some(at + Duration::hours(1))));
        assert!(j.last_position.is_some());
        let arrived = start + Duration::hours(2);
        check_in(&mut j, checkin(JourneyCheckinStatus::Arrived), arrived).unwrap();
        assert_eq!(j.current_leg, 1);
        assert_eq!(j.legs[0].arrived_at, Some(arrived));
        assert_eq!(j.status, JourneyStatus::Active);
        assert_eq!(j.due_at, Some(arrived + Duration::hours(1)));
        check_in(
            &mut j,
            checkin(JourneyCheckinStatus::Arrived),
            arrived + Duration::hours(3),
        )
        .unwrap();
        assert_eq!((j.status, j.due_at), (JourneyStatus::Arrived, None));
        assert_eq!(next_step_at(&j, TIMINGS), None);
        let again = check_in(&mut j, checkin(JourneyCheckinStatus::Ok), arrived).unwrap_err();
        assert_eq!(again.to_string(), "this journey is already arrived");
        assert!(end(&mut j, &person(), arrived).is_err());
    }

    #[test]
    fn legs_without_a_place_go_to_the_trip_s_destination() {
        let now = Utc::now();
        let new = NewJourney {
            staff_id: None,
            trip_id: None,
            checkin_every_s: None,
            legs: vec![NewLeg {
                to: None,
                country: None,
                arrive_by: now + Duration::hours(1),
            }],
            note: None,
        };
        assert_eq!(legs_of(&new, None).unwrap_err().field, "legs[0].to");
        let trip = Trip {
            id: Uuid::new_v4(),
            traveller_id: Uuid::new_v4(),
            traveller: "amani".into(),
            destination: scaan_schemas::Destination {
                country: "CD".into(),
                city: Some("Goma".into()),
                lat: -1.68,
                lon: 29.22,
            },
            depart_at: now,
            return_at: now + Duration::days(3),
            status: TripStatus::Planned,
            clearance_note: None,
            cleared_by: None,
            created_at: now,
        };
        let legs = legs_of(&new, Some(&trip)).unwrap();
        assert_eq!((legs[0].to.as_str(), legs[0].country.as_str()), ("Goma", "CD"));
    }

    #[test]
    fn an_alarm_is_acknowledged_while_open_and_resolved_once() {
        let officer = person();
        let start = Utc::now();
        let mut alarm = alarm_for(&journey(start, None, &[1]), start).unwrap();
        acknowledge(&mut alarm, &officer, Some("calling".into()), start).unwrap();
        assert_eq!(alarm.status, AlarmStatus::Acknowledged);
        assert!(acknowledge(&mut alarm, &officer, None, start).is_err());
        resolve(&mut alarm, &officer, "arrived late, phone flat".into(), start).unwrap();
        assert_eq!(alarm.resolution.as_deref(), Some("arrived late, phone flat"));
        let again = resolve(&mut alarm, &officer, "twice".into(), start).unwrap_err();
        assert_eq!(again.to_string(), "this alarm is already resolved");
    }
}
