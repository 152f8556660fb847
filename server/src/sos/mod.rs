//! SOS ("I'm not okay"): raised from the phone by HTTP or the stream, announced at once to
//! every officer concerned, followed by the person's later positions, announced again while
//! nobody acknowledges it, and closed by an officer with a note.

mod routes;

pub use routes::router;

use chrono::{DateTime, Duration, Utc};
use scaan_schemas::{Envelope, NewSos, Position, Role, Sos, SosStatus, TrailPoint, User};
use std::sync::Arc;
use uuid::Uuid;

use crate::auth::Caller;
use crate::delivery::Audience;
use crate::error::ApiError;
use crate::hub::Hub;

/// Longest trail kept on one SOS; the oldest points give way.
const MAX_TRAIL: usize = 500;

impl Hub {
    /// Raises an SOS, or — if the person already has one unresolved — adds to it and announces
    /// it again, so a panicked second press does not split the officers' attention.
    pub async fn raise_sos(&self, staff: &User, new: NewSos) -> Result<Sos, ApiError> {
        if staff.role != Role::Staff {
            return Err(ApiError::forbidden(
                "SOS is for staff in the field; officers act on them",
            ));
        }
        let now = Utc::now();
        if let Some((mut sos, _)) = self.store.unresolved_sos_of(staff.id).await?.into_iter().next() {
            let previous = sos.status;
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
            sos.phone.clone_from(&staff.phone);
            sos.announcements += 1;
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
            countries: self.sos_countries(staff, new.position),
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
            phone: staff.phone.clone(),
        };
        self.store.insert_sos(&sos).await?;
        self.announce(&sos, true);
        tracing::warn!(sos = %sos.id, staff = %staff.username, "SOS raised");
        Ok(sos)
    }

    /// The countries whose officers follow an SOS: where the phone is, else where the person
    /// is based. With neither, only watch officers see it.
    fn sos_countries(&self, staff: &User, position: Option<Position>) -> Vec<String> {
        position
            .or(staff.duty_station)
            .and_then(|p| self.atlas.country_at(p.lon, p.lat))
            .map(|c| vec![c.to_owned()])
            .unwrap_or_default()
    }

    fn announce(&self, sos: &Sos, new: bool) {
        let envelope = if new {
            Envelope::Sos { sos: sos.clone() }
        } else {
            Envelope::SosUpdate { sos: sos.clone() }
        };
        self.delivery.publish(
            &envelope,
            Audience {
                staff: &[sos.staff_id],
                countries: &sos.countries,
            },
        );
    }

    /// The stored SOS, if the caller is an officer who may act on it.
    async fn sos_to_handle(&self, caller: &Caller, id: Uuid) -> Result<Sos, ApiError> {
        caller.require_officer()?;
        match self.store.sos(id).await? {
            Some((sos, _)) if caller.may_see(&sos.countries) => Ok(sos),
            _ => Err(ApiError::NotFound("sos")),
        }
    }

    pub async fn acknowledge_sos(&self, caller: &Caller, id: Uuid, note: Option<String>) -> Result<Sos, ApiError> {
        let mut sos = self.sos_to_handle(caller, id).await?;
        if sos.status != SosStatus::Open {
            return Err(ApiError::Conflict {
                code: "sos_changed",
                message: format!("this SOS is already {}", sos.status.as_str()),
            });
        }
        let now = Utc::now();
        sos.status = SosStatus::Acknowledged;
        sos.acknowledged_at = Some(now);
        sos.acknowledged_by = Some(caller.user.username.clone());
        sos.acknowledge_note = note.clone();
        self.store.update_sos(&sos, SosStatus::Open, now).await?;
        self.announce(&sos, false);
        self.audit(
            &caller.user,
            "sos.acknowledged",
            sos.id,
            &sos.countries,
            serde_json::json!({"note": note}),
        )
        .await;
        Ok(sos)
    }

    pub async fn resolve_sos(&self, caller: &Caller, id: Uuid, note: String) -> Result<Sos, ApiError> {
        let mut sos = self.sos_to_handle(caller, id).await?;
        let previous = sos.status;
        if previous == SosStatus::Resolved {
            return Err(ApiError::Conflict {
                code: "sos_changed",
                message: "this SOS is already resolved".into(),
            });
        }
        let now = Utc::now();
        sos.status = SosStatus::Resolved;
        sos.resolved_at = Some(now);
        sos.resolved_by = Some(caller.user.username.clone());
        sos.resolution = Some(note.clone());
        self.store.update_sos(&sos, previous, now).await?;
        self.announce(&sos, false);
        self.audit(
            &caller.user,
            "sos.resolved",
            sos.id,
            &sos.countries,
            serde_json::json!({"note": note}),
        )
        .await;
        Ok(sos)
    }

    /// Adds a new position of the person to each of their unresolved SOS calls.
    pub async fn follow_sos(&self, staff: &User, at: Position, recorded_at: DateTime<Utc>) -> Result<(), ApiError> {
        for (mut sos, announced_at) in self.store.unresolved_sos_of(staff.id).await? {
            if sos.trail.len() == MAX_TRAIL {
                sos.trail.remove(0);
            }
            sos.trail.push(TrailPoint {
                lat: at.lat,
                lon: at.lon,
                recorded_at,
            });
            sos.position = Some(at);
            self.store.update_sos(&sos, sos.status, announced_at).await?;
            self.announce(&sos, false);
        }
        Ok(())
    }
}

/// Announces again every SOS nobody has acknowledged within `sos_reannounce_s`. The time of the
/// last announcement is stored, so a restart neither skips nor repeats a reminder.
pub async fn remind_unacknowledged(hub: Arc<Hub>) {
    let every = std::time::Duration::from_secs(hub.config.sos_reannounce_s.clamp(1, 5));
    loop {
        tokio::select! {
            _ = hub.shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let now = Utc::now();
        let due = match hub
            .store
            .sos_unacknowledged_since(now - Duration::seconds(hub.config.sos_reannounce_s as i64))
            .await
        {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "could not look for unacknowledged SOS calls");
                continue;
            }
        };
        for mut sos in due {
            sos.announcements += 1;
            match hub.store.update_sos(&sos, SosStatus::Open, now).await {
                Ok(()) => {
                    tracing::warn!(sos = %sos.id, announcements = sos.announcements, "SOS still unacknowledged: announced again");
                    hub.announce(&sos, false);
                }
                Err(e) => tracing::debug!(error = %e, sos = %sos.id, "SOS changed before its reminder"),
            }
        }
    }
}
