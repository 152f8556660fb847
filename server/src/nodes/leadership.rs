//! Scheduled work (escalation waves, overdue flags, SOS re-announcements, journeys' timers, the
//! SMS fallback, retention, outside warnings) runs on one node of a deployment at a time: the
//! leader, the node holding a PostgreSQL session-level advisory lock on a connection of its
//! own. A node killed outright closes that connection, which frees the lock at once, and
//! another node takes it within [`CAMPAIGN_EVERY`]; its work reads where things stand from the
//! database (each step is claimed there, so none is taken twice), after the new leader has
//! reloaded the open headcounts. A hub alone on its database always leads.

use futures_util::FutureExt as _;
use sqlx::{Connection, PgConnection};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::hub::Hub;

/// How often a node that does not lead tries to, and one that leads checks it still does.
pub const CAMPAIGN_EVERY: Duration = Duration::from_secs(1);
/// The advisory lock's key: any constant the hub alone uses.
const LEADER_LOCK: i64 = 0x5CAA_0014;

/// Whether this node leads, as it changes.
#[derive(Clone)]
pub struct Leadership {
    leading: watch::Receiver<bool>,
}

impl Leadership {
    /// A hub alone on its database: it leads from the start.
    pub fn alone() -> Leadership {
        let (_, leading) = watch::channel(true);
        Leadership { leading }
    }

    /// One node of several: campaigns for the lead on its own connection to `url`.
    pub fn campaign(url: String, shutdown: CancellationToken, tasks: &TaskTracker) -> Leadership {
        let (tell, leading) = watch::channel(false);
        tasks.spawn(hold(url, tell, shutdown));
        Leadership { leading }
    }

    pub fn leads(&self) -> bool {
        *self.leading.borrow()
    }

    /// Whenever this node takes the lead, `prepare`s then `start`s the leader's work with a
    /// token cancelled when it loses the lead (or the hub stops).
    pub fn lead<P, F>(&self, hub: &Arc<Hub>, prepare: impl Fn(Arc<Hub>) -> P + Send + 'static, start: F)
    where
        P: Future<Output = anyhow::Result<()>> + Send,
        F: Fn(&Arc<Hub>, CancellationToken) + Send + 'static,
    {
        let (hub, mut leading) = (hub.clone(), self.leading.clone());
        hub.tasks.clone().spawn(async move {
            loop {
                if leading.wait_for(|leads| *leads).await.map(drop).is_err() {
                    return;
                }
                if hub.shutdown.is_cancelled() {
                    return;
                }
                if let Err(e) = prepare(hub.clone()).await {
                    tracing::error!(error = format!("{e:#}"), "could not prepare to lead; trying again");
                    tokio::time::sleep(CAMPAIGN_EVERY).await;
                    continue;
                }
                let work = hub.shutdown.child_token();
                start(&hub, work.clone());
                tokio::select! {
                    _ = hub.shutdown.cancelled() => return,
                    lost = leading.wait_for(|leads| !*leads).map(|lost| lost.map(drop)) => {
                        if lost.is_err() {
                            // Alone on its database (nobody campaigns): it leads until it stops.
                            hub.shutdown.cancelled().await;
                            return;
                        }
                        work.cancel();
                        tracing::warn!("this node no longer leads: its scheduled work stops");
                    }
                }
            }
        });
    }
}

/// Holds the lead while it can: tries for the lock every [`CAMPAIGN_EVERY`], and once held,
/// checks every as often that its connection still answers (a lost connection is a lost lock).
async fn hold(url: String, tell: watch::Sender<bool>, shutdown: CancellationToken) {
    loop {
        let mut connection = match PgConnection::connect(&url).await {
            Ok(connection) => connection,
            Err(e) => {
                tracing::warn!(error = %e, "cannot connect to campaign for the lead");
                if pause(&shutdown).await {
                    return;
                }
                continue;
            }
        };
        loop {
            let leading = *tell.borrow();
            let asked = match leading {
                false => {
                    sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
                        .bind(LEADER_LOCK)
                        .fetch_one(&mut connection)
                        .await
                }
                true => {
                    sqlx::query_scalar::<_, bool>("SELECT TRUE")
                        .fetch_one(&mut connection)
                        .await
                }
            };
            match asked {
                Ok(leads) => {
                    if leads && !leading {
                        tracing::info!("this node leads: it runs the scheduled work");
                    }
                    tell.send_if_modified(|was| std::mem::replace(was, leads) != leads);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "lost the connection that holds the lead");
                    tell.send_if_modified(|was| std::mem::replace(was, false));
                    break;
                }
            }
            if pause(&shutdown).await {
                // Closing the connection frees the lock for another node at once.
                let _ = connection.close().await;
                tell.send_if_modified(|was| std::mem::replace(was, false));
                return;
            }
        }
    }
}

/// Waits [`CAMPAIGN_EVERY`]; true when the hub stops meanwhile.
async fn pause(shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => true,
        _ = tokio::time::sleep(CAMPAIGN_EVERY) => false,
    }
}
