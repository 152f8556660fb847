//! SOS ("I'm not okay"): raised from the phone by HTTP or the stream, announced at once to
//! every officer concerned, followed by the person's later positions, announced again while
//! nobody acknowledges it, and closed by an officer with a note.
//!
//! Owns: the SOS calls, their trail and their reminders. Uses: [`Audit`] (acknowledging and
//! resolving are recorded), the delivery fan-out, the country atlas (whose officers follow
//! a call) and [`LocationPrivacy`] (what officers are shown of a call, and their views).

mod routes;

pub use routes::router;

use axum::extract::FromRef;
use chrono::{DateTime, Duration, Utc};
use scaan_schemas::{Envelope, NewSos, Position, Role, Sos, SosStatus, TrailPoint, User};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::audit::{Actor, Audit};
use crate::auth::{Caller, Forbidden};
use crate::countries::CountryAtlas;
use crate::delivery::{Audience, Delivery, OfficersCopy};
use crate::error::ApiError;
use crate::hub::Hub;
use crate::privacy::LocationPrivacy;
use crate::storage::{Page, SosScope, Store, StoreError};
use crate::time_zones;

/// Longest trail kept on one SOS; the oldest points give way.
const MAX_TRAIL: usize = 500;

/// The SOS calls: raising, following, reminding, acknowledging and resolving.
#[derive(Clone)]
pub struct SosCalls {
    store: Store,
    atlas: &'static CountryAtlas,
    delivery: Arc<Delivery>,
    audit: Audit,
    privacy: LocationPrivacy,
    /// An SOS nobody acknowledged is announced again after this long (`sos_reannounce_s`).
    reannounce: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SosError {
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    /// No such SOS, or not one the caller may act on.
    #[error("sos not found")]
    NotFound,
    /// Someone else acknowledged or resolved it first.
    #[error("this SOS is already {}", .0.as_str())]
    AlreadyHandled(SosStatus),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<SosError> for ApiError {
    fn from(e: SosError) -> Self {
        match e {
            SosError::Forbidden(e) => e.into(),
            SosError::NotFound => ApiError::NotFound("sos"),
            SosError::AlreadyHandled(_) => ApiError::Conflict {
                code: "sos_changed",
                message: e.to_string(),
            },
            SosError::Store(e) => e.into(),
        }
    }
}

impl FromRef<Arc<Hub>> for SosCalls {
    fn from_ref(hub: &Arc<Hub>) -> Self {
        hub.sos.clone()
    }
}

/// The countries whose officers follow an SOS: where the phone is, else where the person is
/// based. With neither, only watch officers see it.
fn countries_of(atlas: &CountryAtlas, staff: &User, position: Option<Position>) -> Vec<String> {
    position
        .or(staff.duty_station)
        .and_then(|p| atlas.country_at(p.lon, p.lat))
        .map(|c| vec![c.to_owned()])
        .unwrap_or_default()
}

/// The time zone of an SOS: where the phone is, else where the person is based.
fn zone_of(staff: &User, position: Option<Position>) -> Option<String> {
    position
        .or(staff.duty_station)
        .and_then(|p| time_zones::zone_at(p.lon, p.lat))
}

/// A second press while an SOS is unresolved adds to it: the new position joins the trail, a
/// new note replaces the old, and it counts as one more announcement.
fn press_again(sos: &mut Sos, staff: &User, new: NewSos, now: DateTime<Utc>) {
    if let Some(p) = new.position {
        sos.trail.push(TrailPoint {
            lat: p.lat,
            lon: p.lon,
            recorded_at: now,
        });
        sos.position = Some(p);
    }
    if let Some(note) = new.note {
        sos.note = Some(note);
    }
    sos.phone = staff.phones.first().cloned();
    sos.announcements += 1;
}

/// A later position of the person: the newest of at most [`MAX_TRAIL`] trail points.
fn follow(sos: &mut Sos, at: Position, recorded_at: DateTime<Utc>) {
    if sos.trail.len() == MAX_TRAIL {
        sos.trail.remove(0);
    }
    sos.trail.push(TrailPoint {
        lat: at.lat,
        lon: at.lon,
        recorded_at,
    });
    sos.position = Some(at);
}

/// Someone is on it; only an open SOS is acknowledged.
fn acknowledge(sos: &mut Sos, by: &User, note: Option<String>, now: DateTime<Utc>) -> Result<(), SosError> {
    if sos.status != SosStatus::Open {
        return Err(SosError::AlreadyHandled(sos.status));
    }
    sos.status = SosStatus::Acknowledged;
    sos.acknowledged_at = Some(now);
    sos.acknowledged_by = Some(by.username.clone());
    sos.acknowledge_note = note;
    Ok(())
}

/// Closes an SOS, acknowledged or not, once.
fn resolve(sos: &mut Sos, by: &User, note: String, now: DateTime<Utc>) -> Result<(), SosError> {
    if sos.status == SosStatus::Resolved {
        return Err(SosError::AlreadyHandled(sos.status));
    }
    sos.status = SosStatus::Resolved;
    sos.resolved_at = Some(now);
    sos.resolved_by = Some(by.username.clone());
    sos.resolution = Some(note);
    Ok(())
}

/// Who sees which SOS calls in the list: staff their own, officers those of their countries.
fn scope_of(caller: &Caller) -> SosScope {
    match caller.role() {
        Role::Staff => SosScope::RaisedBy(caller.user.id),
        Role::WatchOfficer => SosScope::All,
        Role::SecurityOfficer => SosScope::Countries(caller.user.countries.clone()),
        // Administrators manage accounts, not SOS calls.
        Role::Admin => SosScope::Countries(Vec::new()),
    }
}

impl SosCalls {
    pub fn new(
        store: Store,
        atlas: &'static CountryAtlas,
        delivery: Arc<Delivery>,
        audit: Audit,
        privacy: LocationPrivacy,
        reannounce: Duration,
    ) -> SosCalls {
        SosCalls {
            store,
            atlas,
            delivery,
            audit,
            privacy,
            reannounce,
        }
    }

    /// Raises an SOS, or — if the person already has one unresolved — adds to it and announces
    /// it again, so a panicked second press does not split the officers' attention.
    pub async fn raise(&self, staff: &User, new: NewSos) -> Result<Sos, SosError> {
        if staff.role != Role::Staff {
            return Err(Forbidden::new("SOS is for staff in the field; officers act on them").into());
        }
        let now = Utc::now();
        if let Some((mut sos, _)) = self.store.unresolved_sos_of(staff.id).await?.into_iter().next() {
            let previous = sos.status;
            press_again(&mut sos, staff, new, now);
            self.store.update_sos(&sos, previous, now).await?;
            self.announce(&sos, false);
            return Ok(sos);
        }
        let sos = Sos {
            id: Uuid::new_v4(),
            staff_id: staff.id,
            username: staff.username.clone(),
            name: staff.name.clone(),
            status: SosStatus::Open,
            countries: countries_of(self.atlas, staff, new.position),
            time_zone: zone_of(staff, new.position),
            position: new.position,
            note: new.note,
            raised_at: now,
            acknowledged_at: None,
            acknowledged_by: None,
            acknowledge_note: None,
            resolved_at: None,
            resolved_by: None,
            resolution: None,
            trail: Vec::new(),
            announcements: 1,
            phone: staff.phones.first().cloned(),
        };
        self.store.insert_sos(&sos).await?;
        self.announce(&sos, true);
        tracing::warn!(sos = %sos.id, staff = %staff.username, "SOS raised");
        Ok(sos)
    }

    /// SOS calls the caller may see, newest first (a page of at most 1000), as they may see
    /// them (an officer's view audited).
    pub async fn list(&self, caller: &Caller, status: Option<SosStatus>, page: Page) -> Result<Vec<Sos>, SosError> {
        let mut calls = self.store.sos_list(&scope_of(caller), status, page).await?;
        self.privacy.screen_sos(caller, "sos", &mut calls).await;
        Ok(calls)
    }

    /// Tells the person and the officers concerned: the person gets the call whole, the
    /// officers as they may see it (a resolved call at area level).
    fn announce(&self, sos: &Sos, new: bool) {
        let envelope = |sos: Sos| {
            if new {
                Envelope::Sos { sos }
            } else {
                Envelope::SosUpdate { sos }
            }
        };
        let mut shown = sos.clone();
        let view = self.privacy.sos_for_officers(&mut shown);
        self.delivery.publish_screened(
            &envelope(sos.clone()),
            OfficersCopy {
                envelope: &envelope(shown),
                view,
            },
            Audience {
                staff: &[sos.staff_id],
                countries: &sos.countries,
            },
        );
    }

    /// The stored SOS, if the caller is an officer who may act on it.
    async fn to_handle(&self, caller: &Caller, id: Uuid) -> Result<Sos, SosError> {
        caller.require_officer()?;
        match self.store.sos(id).await? {
            Some((sos, _)) if caller.may_see(&sos.countries) => Ok(sos),
            _ => Err(SosError::NotFound),
        }
    }

    pub async fn acknowledge(&self, caller: &Caller, id: Uuid, note: Option<String>) -> Result<Sos, SosError> {
        let mut sos = self.to_handle(caller, id).await?;
        let now = Utc::now();
        acknowledge(&mut sos, &caller.user, note.clone(), now)?;
        self.store.update_sos(&sos, SosStatus::Open, now).await?;
        self.announce(&sos, false);
        self.audit
            .record(
                Actor::Account(&caller.user),
                "sos.acknowledged",
                sos.id,
                &sos.countries,
                serde_json::json!({"note": note}),
            )
            .await;
        self.privacy
            .screen_sos(caller, "sos", std::slice::from_mut(&mut sos))
            .await;
        Ok(sos)
    }

    pub async fn resolve(&self, caller: &Caller, id: Uuid, note: String) -> Result<Sos, SosError> {
        let mut sos = self.to_handle(caller, id).await?;
        let previous = sos.status;
        let now = Utc::now();
        resolve(&mut sos, &caller.user, note.clone(), now)?;
        self.store.update_sos(&sos, previous, now).await?;
        self.privacy.incident_over(sos.id);
        self.announce(&sos, false);
        self.audit
            .record(
                Actor::Account(&caller.user),
                "sos.resolved",
                sos.id,
                &sos.countries,
                serde_json::json!({"note": note}),
            )
            .await;
        self.privacy
            .screen_sos(caller, "sos", std::slice::from_mut(&mut sos))
            .await;
        Ok(sos)
    }

    /// Adds a new position of the person to each of their unresolved SOS calls.
    pub async fn follow(&self, staff: &User, at: Position, recorded_at: DateTime<Utc>) -> Result<(), StoreError> {
        for (mut sos, announced_at) in self.store.unresolved_sos_of(staff.id).await? {
            follow(&mut sos, at, recorded_at);
            self.store.update_sos(&sos, sos.status, announced_at).await?;
            self.announce(&sos, false);
        }
        Ok(())
    }

    /// Announces again every SOS nobody has acknowledged within `reannounce`, until
    /// `shutdown`. The time of the last announcement is stored, so a restart neither skips
    /// nor repeats a reminder.
    pub async fn remind_unacknowledged(self, shutdown: CancellationToken) {
        let every = std::time::Duration::from_secs(self.reannounce.num_seconds().clamp(1, 5) as u64);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            let now = Utc::now();
            let due = match self.store.sos_unacknowledged_since(now - self.reannounce).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::warn!(error = %e, "could not look for unacknowledged SOS calls");
                    continue;
                }
            };
            for mut sos in due {
                sos.announcements += 1;
                match self.store.update_sos(&sos, SosStatus::Open, now).await {
                    Ok(()) => {
                        tracing::warn!(sos = %sos.id, announcements = sos.announcements, "SOS still unacknowledged: announced again");
                        self.announce(&sos, false);
                    }
                    Err(e) => tracing::debug!(error = %e, sos = %sos.id, "SOS changed before its reminder"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(role: Role) -> User {
        User {
            id: Uuid::new_v4(),
            username: "amani".into(),
            name: "Amani".into(),
            role,
            countries: vec!["CD".into()],
            duty_station: Some(Position {
                lat: 0.35,
                lon: 32.58,
                accuracy_m: None,
            }),
            disabled: false,
            phones: vec!["+243970000001".into()],
        }
    }

    fn beni() -> Position {
        Position {
            lat: 0.49,
            lon: 29.47,
            accuracy_m: None,
        }
    }

    fn open_sos(staff: &User) -> Sos {
        Sos {
            id: Uuid::new_v4(),
            staff_id: staff.id,
            username: staff.username.clone(),
            name: staff.name.clone(),
            status: SosStatus::Open,
            countries: vec!["CD".into()],
            time_zone: Some("Africa/Lubumbashi".into()),
            position: None,
            note: Some("shots fired".into()),
            raised_at: Utc::now(),
            acknowledged_at: None,
            acknowledged_by: None,
            acknowledge_note: None,
            resolved_at: None,
            resolved_by: None,
            resolution: None,
            trail: Vec::new(),
            announcements: 1,
            phone: None,
        }
    }

    #[test]
    fn officers_follow_an_sos_where_the_phone_is_else_where_its_person_is_based() {
        let atlas = CountryAtlas::embedded();
        let staff = person(Role::Staff);
        assert_eq!(countries_of(atlas, &staff, Some(beni())), vec!["CD"]);
        assert_eq!(countries_of(atlas, &staff, None), vec!["UG"], "Kampala duty station");
        let nowhere = User {
            duty_station: None,
            ..staff
        };
        assert!(
            countries_of(atlas, &nowhere, None).is_empty(),
            "only watch officers see it"
        );
    }

    #[test]
    fn an_sos_has_the_zone_where_the_phone_is_else_where_its_person_is_based() {
        let staff = person(Role::Staff);
        assert_eq!(zone_of(&staff, Some(beni())).as_deref(), Some("Africa/Lubumbashi"));
        assert_eq!(
            zone_of(&staff, None).as_deref(),
            Some("Africa/Kampala"),
            "Kampala duty station"
        );
        let nowhere = User {
            duty_station: None,
            ..staff
        };
        assert_eq!(zone_of(&nowhere, None), None);
    }

    #[test]
    fn a_second_press_adds_to_the_open_sos() {
        let staff = person(Role::Staff);
        let mut sos = open_sos(&staff);
        let now = Utc::now();
        press_again(
            &mut sos,
            &staff,
            NewSos {
                position: Some(beni()),
                note: None,
            },
            now,
        );
        assert_eq!(sos.announcements, 2);
        assert_eq!(sos.position, Some(beni()));
        assert_eq!(sos.trail.len(), 1);
        assert_eq!(
            sos.note.as_deref(),
            Some("shots fired"),
            "no new note keeps the old one"
        );
        assert_eq!(sos.phone, staff.phones.first().cloned());
    }

    #[test]
    fn the_trail_keeps_the_newest_points() {
        let staff = person(Role::Staff);
        let mut sos = open_sos(&staff);
        let start = Utc::now();
        for i in 0..MAX_TRAIL as i64 + 3 {
            follow(&mut sos, beni(), start + Duration::seconds(i));
        }
        assert_eq!(sos.trail.len(), MAX_TRAIL);
        assert_eq!(sos.trail[0].recorded_at, start + Duration::seconds(3));
    }

    #[test]
    fn an_sos_is_acknowledged_while_open_and_resolved_once() {
        let officer = person(Role::SecurityOfficer);
        let mut sos = open_sos(&person(Role::Staff));
        let now = Utc::now();
        acknowledge(&mut sos, &officer, Some("calling".into()), now).unwrap();
        assert_eq!(sos.status, SosStatus::Acknowledged);
        assert_eq!(sos.acknowledged_by.as_deref(), Some("amani"));
        let again = acknowledge(&mut sos, &officer, None, now).unwrap_err();
        assert_eq!(again.to_string(), "this SOS is already acknowledged");
        resolve(&mut sos, &officer, "evacuated".into(), now).unwrap();
        assert_eq!(sos.status, SosStatus::Resolved);
        assert_eq!(sos.resolution.as_deref(), Some("evacuated"));
        let again = resolve(&mut sos, &officer, "twice".into(), now).unwrap_err();
        assert_eq!(again.to_string(), "this SOS is already resolved");
        assert!(acknowledge(&mut sos, &officer, None, now).is_err());
    }

    #[test]
    fn an_unacknowledged_sos_can_be_resolved_directly() {
        let mut sos = open_sos(&person(Role::Staff));
        resolve(&mut sos, &person(Role::WatchOfficer), "false alarm".into(), Utc::now()).unwrap();
        assert_eq!(sos.status, SosStatus::Resolved);
    }
}
