//! Chasing the silent: the open headcounts the hub watches, late arrivals who walk into one,
//! and the second wave at the deadline. Overdue marking needs no state: it follows from the
//! deadline and the grace period (see [`super::Deadlines`]).
//!
//! [`LateArrivals`] owns nothing of its own: it adds recipients to the open headcounts. It uses
//! the targeting index (does the area reach the person now) and the delivery fan-out.

use chrono::{DateTime, Utc};
use scaan_schemas::{Alert, Envelope, MsgType, User};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use uuid::Uuid;

use tokio_util::sync::CancellationToken;

use super::{HeadcountPulse, Headcounts};
use crate::delivery::{Audience, Delivery};
use crate::nodes::{NodeEvent, Nodes};
use crate::storage::{AlertScope, AlertState, Page, Store, StoreError};
use crate::targeting::{Point, TargetArea, Targeting};

/// Alerts with an open headcount, with their areas prepared for point tests.
#[derive(Default)]
pub struct OpenHeadcounts {
    alerts: RwLock<HashMap<Uuid, Arc<OpenHeadcount>>>,
}

pub struct OpenHeadcount {
    pub alert: Alert,
    area: TargetArea,
    /// Everyone in the headcount, so a check-in needs no database read to know its sender.
    recipients: RwLock<HashSet<Uuid>>,
}

impl OpenHeadcount {
    pub fn includes(&self, user: Uuid) -> bool {
        self.recipients
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&user)
    }
}

impl OpenHeadcounts {
    /// Tracks the latest revision of an alert and everyone it was sent to, or stops tracking
    /// it once closed.
    pub fn track(&self, alert: &Alert, recipients: &[Uuid]) {
        let mut alerts = self.alerts.write().unwrap_or_else(|e| e.into_inner());
        if alert.content.checkin_required && alert.msg_type != MsgType::Cancel {
            let entry = OpenHeadcount {
                area: TargetArea::new(&alert.content.area),
                alert: alert.clone(),
                recipients: RwLock::new(recipients.iter().copied().collect()),
            };
            alerts.insert(alert.id, Arc::new(entry));
        } else {
            alerts.remove(&alert.id);
        }
    }

    /// The open headcount of this alert, if it has one.
    pub fn get(&self, alert: Uuid) -> Option<Arc<OpenHeadcount>> {
        self.alerts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&alert)
            .cloned()
    }

    /// A late arrival another node found joins an open headcount here too.
    pub fn join(&self, alert: Uuid, user: Uuid) {
        if let Some(open) = self.get(alert) {
            open.recipients.write().unwrap_or_else(|e| e.into_inner()).insert(user);
        }
    }

    /// The headcounts still open at `now`; expired ones are dropped on the way.
    pub fn open_at(&self, now: DateTime<Utc>) -> Vec<Arc<OpenHeadcount>> {
        let mut alerts = self.alerts.write().unwrap_or_else(|e| e.into_inner());
        alerts.retain(|_, h| h.alert.content.expires_at > now);
        alerts.values().cloned().collect()
    }
}

/// Late arrivals: someone whose new place (a position, a trip under way) puts them inside an
/// open headcount joins it. Used by `Trips` and `Positions`.
#[derive(Clone)]
pub struct LateArrivals {
    store: Store,
    targeting: Arc<Targeting>,
    delivery: Arc<Delivery>,
    open_headcounts: Arc<OpenHeadcounts>,
    pulse: Arc<HeadcountPulse>,
    nodes: Arc<Nodes>,
}

impl LateArrivals {
    pub fn new(
        store: Store,
        targeting: Arc<Targeting>,
        delivery: Arc<Delivery>,
        open_headcounts: Arc<OpenHeadcounts>,
        pulse: Arc<HeadcountPulse>,
        nodes: Arc<Nodes>,
    ) -> LateArrivals {
        LateArrivals {
            store,
            targeting,
            delivery,
            open_headcounts,
            pulse,
            nodes,
        }
    }

    /// A staff member's new place puts them inside an open headcount they were not in: they
    /// join it and receive its alert.
    pub async fn join(&self, user: &User, at: Point) -> Result<(), StoreError> {
        let now = Utc::now();
        for open in self.open_headcounts.open_at(now) {
            if !open.area.contains(at) || !self.targeting.reaches(user.id, &open.area, now) {
                continue;
            }
            if open.includes(user.id) || self.store.add_recipients(open.alert.id, &[user.id]).await?.is_empty() {
                continue;
            }
            open.recipients
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(user.id);
            self.nodes.share(|| NodeEvent::Joined {
                alert: open.alert.id,
                user: user.id,
            });
            tracing::info!(alert = %open.alert.id, staff = %user.username, "late arrival joins the headcount");
            let envelope = Envelope::Alert {
                alert: open.alert.clone(),
                wave: None,
            };
            self.delivery.publish(
                &envelope,
                Audience {
                    staff: &[user.id],
                    countries: &[],
                },
            );
            self.pulse.mark(&open.alert);
        }
        Ok(())
    }
}

impl Headcounts {
    /// Loads the open headcounts at start.
    pub async fn load_open(&self) -> anyhow::Result<()> {
        for alert in self
            .store
            .alerts(
                &AlertScope::All,
                AlertState::ActiveAt(Utc::now()),
                Page::first(u32::MAX >> 1),
            )
            .await?
        {
            let recipients = self.store.alert_recipients(alert.id).await?;
            self.open.track(&alert, &recipients);
        }
        Ok(())
    }

    /// Sends the second wave of every open headcount whose deadline has passed by `now`, once:
    /// the wave is claimed in the database before it goes out, so a restart cannot repeat it.
    /// Also refreshes the officers' counts when people turn overdue.
    pub async fn escalate_due(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        for open in self.open.open_at(now) {
            let (deadline, overdue_at) = self.deadlines.of(&open.alert);
            if turned_overdue_within_a_tick(overdue_at, now) {
                self.pulse.mark(&open.alert);
            }
            if now < deadline || !self.store.claim_second_wave(open.alert.id, now).await? {
                continue;
            }
            let silent = self.store.silent_recipients(open.alert.id).await?;
            tracing::warn!(alert = %open.alert.id, silent = silent.len(), "headcount deadline passed: second wave");
            self.waves
                .get_or_create(&crate::metrics::status_label(open.alert.content.status))
                .inc();
            let envelope = Envelope::Alert {
                alert: open.alert.clone(),
                wave: Some(2),
            };
            self.delivery.publish(
                &envelope,
                Audience {
                    staff: &silent,
                    countries: &[],
                },
            );
        }
        Ok(())
    }
}

pub const ESCALATION_TICK: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether the silent turned overdue since the last escalation tick (with a second's slack),
/// so the officers' counts move when they do.
fn turned_overdue_within_a_tick(overdue_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now >= overdue_at && now - overdue_at < chrono::Duration::seconds(ESCALATION_TICK.as_secs() as i64 + 1)
}

impl Headcounts {
    /// Runs [`Headcounts::escalate_due`] every few seconds until `shutdown`.
    pub async fn escalate(self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(ESCALATION_TICK) => {}
            }
            if let Err(e) = self.escalate_due(Utc::now()).await {
                tracing::warn!(error = %e, "escalating headcounts failed; will retry");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counts_move_once_when_the_silent_turn_overdue() {
        let overdue_at = Utc::now();
        let tick = chrono::Duration::seconds(ESCALATION_TICK.as_secs() as i64);
        assert!(!turned_overdue_within_a_tick(
            overdue_at,
            overdue_at - chrono::Duration::milliseconds(1)
        ));
        assert!(turned_overdue_within_a_tick(overdue_at, overdue_at));
        assert!(turned_overdue_within_a_tick(overdue_at, overdue_at + tick));
        assert!(!turned_overdue_within_a_tick(
            overdue_at,
            overdue_at + tick + chrono::Duration::seconds(1)
        ));
    }
}
