//! The retention sweep: every `retention_sweep_s`, a last known position past the freshness
//! window is reduced to its area (the precise one is kept only while it places its owner), and
//! what is older than its configured limit is deleted: positions, SOS trails, check-ins,
//! incident reports. Headcount counts stay: a person's standing keeps its status when its
//! position and note go.
//!
//! Owns: when to sweep and the limits. Uses: the store.

use chrono::{DateTime, Duration, Utc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::area_of;
use crate::config::Config;
use crate::storage::{Store, StoreError, Swept};

/// How long each kind of record is kept.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A position older than this is reduced to its area (`position_freshness_s`).
    pub freshness: Duration,
    pub positions: Duration,
    pub trails: Duration,
    pub checkins: Duration,
    pub reports: Duration,
}

impl Limits {
    pub fn of(config: &Config) -> Limits {
        let s = |v: u64| Duration::seconds(v as i64);
        Limits {
            freshness: s(config.position_freshness_s),
            positions: s(config.retention_positions_s),
            trails: s(config.retention_trails_s),
            checkins: s(config.retention_checkins_s),
            reports: s(config.retention_reports_s),
        }
    }
}

/// The sweep.
#[derive(Clone)]
pub struct Retention {
    store: Store,
    limits: Limits,
    area_deg: f64,
    every: std::time::Duration,
}

impl Retention {
    pub fn new(store: Store, limits: Limits, area_deg: f64, every: std::time::Duration) -> Retention {
        Retention {
            store,
            limits,
            area_deg,
            every,
        }
    }

    /// One sweep as of `now`; returns what it deleted.
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<Swept, StoreError> {
        let stale_before = now - self.limits.freshness;
        let areas: Vec<_> = self
            .store
            .stale_positions(stale_before)
            .await?
            .into_iter()
            .map(|s| (s.person, area_of(s.position, self.area_deg)))
            .collect();
        self.store.reduce_positions(&areas, stale_before).await?;
        self.store
            .sweep_retention(
                now - self.limits.positions,
                now - self.limits.trails,
                now - self.limits.checkins,
                now - self.limits.reports,
            )
            .await
    }

    /// Sweeps at start and then every `retention_sweep_s` until the hub stops.
    pub fn follow(&self, shutdown: &CancellationToken, tasks: &TaskTracker) {
        let (this, shutdown) = (self.clone(), shutdown.clone());
        tasks.spawn(async move {
            loop {
                match this.sweep(Utc::now()).await {
                    Ok(swept) if swept != Swept::default() => tracing::info!(
                        positions = swept.positions,
                        trails = swept.trails,
                        checkins = swept.checkins,
                        reports = swept.reports,
                        "retention sweep deleted what was past its limit"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "the retention sweep failed; it runs again at its next turn"),
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(this.every) => {}
                }
            }
        });
    }
}
