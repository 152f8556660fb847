//! The SMS fallback: an alert that asks for a check-in goes by text to each person none of
//! whose devices had it within `sms_fallback_after_s`, and again to each who has not answered
//! at the second wave. Texts are owed in the database first (`sms_texts`, the channel's
//! durable outbox), then handed to the gateway at a ceiling per minute, retried with backoff
//! while it is down; a text a crash left half-sent waits for its delivery report before it is
//! sent again, so that a restart neither loses nor doubles one.
//!
//! [`TextFallback`] owns the SMS outbox. It uses the open headcounts and their deadlines (who
//! is owed a text, when), and the gateway.

use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use scaan_schemas::Status;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::gateway::{Gateway, SendError};
use super::wording::alert_text;
use crate::headcounts::{Deadlines, OpenHeadcounts};
use crate::metrics::{status_label, StatusLabel};
use crate::storage::{OwedText, Store, StoreError, TextReason};

/// How often open headcounts are looked at for people owed a text.
const SWEEP_TICK: std::time::Duration = std::time::Duration::from_secs(1);
/// Once an alert's owed texts are queued, how long until it is looked at again (for people
/// who joined it since, or whose devices never took it).
const RESWEEP: Duration = Duration::seconds(30);
/// Texts taken from the outbox at once, and handed to the gateway at once.
const BATCH: u32 = 100;
const IN_FLIGHT: usize = 8;
/// The longest wait between two tries of a text while the gateway is down.
const MAX_BACKOFF: Duration = Duration::minutes(5);

type NextSweeps = HashMap<(Uuid, TextReason), DateTime<Utc>>;

/// `sms_…` settings.
#[derive(Debug, Clone, Copy)]
pub struct FallbackSettings {
    pub after: Duration,
    pub max_per_alert: u32,
    pub per_minute: u32,
    pub unsure_wait: Duration,
}

#[derive(Clone)]
pub struct TextFallback {
    store: Store,
    open: Arc<OpenHeadcounts>,
    deadlines: Deadlines,
    gateway: Arc<Gateway>,
    settings: FallbackSettings,
    /// Wakes the sender when texts are queued.
    queued: Arc<Notify>,
    /// When each alert is next looked at, per reason.
    next_sweep: Arc<Mutex<NextSweeps>>,
    /// Texts handed to the gateway (the `sms_texts_handed` metric), by their alert's status.
    handed: Family<StatusLabel, Counter>,
}

impl TextFallback {
    /// Checks that the gateway answers (a configured gateway that does not is an error at
    /// start, not a silent loss later).
    pub async fn start(
        store: Store,
        open: Arc<OpenHeadcounts>,
        deadlines: Deadlines,
        gateway: Gateway,
        settings: FallbackSettings,
        handed: Family<StatusLabel, Counter>,
    ) -> anyhow::Result<TextFallback> {
        gateway.check().await?;
        Ok(TextFallback {
            store,
            open,
            deadlines,
            gateway: Arc::new(gateway),
            settings,
            queued: Arc::new(Notify::new()),
            next_sweep: Arc::default(),
            handed,
        })
    }

    /// Before this node hands texts to the gateway: those left being handed by the node that
    /// sent until now (this one before a crash, or another node that died or lost the lead)
    /// may be with the gateway already, so they wait for a delivery report and are sent again
    /// only if none comes. Only the node taking the lead may do this: a node merely starting
    /// beside a leader would release the texts the leader is handing over, and send them twice.
    pub async fn release_unsure(&self) -> Result<(), StoreError> {
        let unsure = self
            .store
            .release_unsure_texts(Utc::now() + self.settings.unsure_wait)
            .await?;
        if unsure > 0 {
            tracing::warn!(
                texts = unsure,
                wait_s = self.settings.unsure_wait.num_seconds(),
                "texts were being handed to the gateway when their sender stopped: they are sent again unless a delivery report shows the gateway has them"
            );
        }
        Ok(())
    }

    /// Queues the texts owed by `now`: for each open headcount, once its fallback time has
    /// passed, to the people no device of whose has it; once its deadline has passed, to those
    /// who have not answered.
    pub async fn queue_owed(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        for open in self.open.open_at(now) {
            let alert = &open.alert;
            let (deadline, _) = self.deadlines.of(alert);
            for (reason, from) in [
                (TextReason::Undelivered, alert.sent_at + self.settings.after),
                (TextReason::SecondWave, deadline),
            ] {
                if !self.due(alert.id, reason, from, now) {
                    continue;
                }
                let body = alert_text(alert, reason);
                let (queued, withheld) = self
                    .store
                    .queue_texts(alert.id, reason, &body, self.settings.max_per_alert, now)
                    .await?;
                if queued > 0 {
                    tracing::info!(alert = %alert.id, texts = queued, reason = reason.as_str(), "texts queued");
                    self.queued.notify_one();
                }
                if withheld > 0 {
                    tracing::warn!(
                        alert = %alert.id,
                        texts = withheld,
                        ceiling = self.settings.max_per_alert,
                        "texts withheld: the alert has reached sms_max_per_alert"
                    );
                }
                self.next_sweep
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert((alert.id, reason), now + RESWEEP);
            }
        }
        Ok(())
    }

    /// Whether an alert is to be looked at for `reason` now: from `from`, then every [`RESWEEP`].
    fn due(&self, alert: Uuid, reason: TextReason, from: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        let next = self.next_sweep.lock().unwrap_or_else(|e| e.into_inner());
        now >= from && next.get(&(alert, reason)).is_none_or(|at| now >= *at)
    }

    /// Runs [`TextFallback::queue_owed`] every second until `shutdown`.
    pub async fn chase(self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(SWEEP_TICK) => {}
            }
            if let Err(e) = self.queue_owed(Utc::now()).await {
                tracing::warn!(error = %e, "queueing texts failed; will retry");
            }
        }
    }

    /// Hands owed texts to the gateway until `shutdown`, at most `sms_per_minute`.
    pub async fn send(self, shutdown: CancellationToken) {
        let mut allowance = Allowance::per_minute(self.settings.per_minute, Instant::now());
        loop {
            let room = allowance.room(Instant::now()).min(BATCH);
            if room == 0 {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(allowance.until_next()) => continue,
                }
            }
            let due = match self.store.take_due_texts(Utc::now(), room).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::warn!(error = %e, "reading owed texts failed; will retry");
                    Vec::new()
                }
            };
            if due.is_empty() {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = self.queued.notified() => {}
                    _ = tokio::time::sleep(SWEEP_TICK) => {}
                }
                continue;
            }
            allowance.spend(due.len() as u32);
            if let Err(e) = self.hand_over(due).await {
                // Left being sent: settled when a node next takes the lead, by a report or a resend.
                tracing::error!(error = %e, "recording handed texts failed");
            }
        }
    }

    /// Hands a batch to the gateway, a few at once, and records each outcome.
    async fn hand_over(&self, due: Vec<OwedText>) -> Result<(), StoreError> {
        let outcomes: Vec<(OwedText, Result<(), SendError>)> = futures_util::stream::iter(due)
            .map(|text| async move {
                let sent = self.gateway.send(&text).await;
                (text, sent)
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        let now = Utc::now();
        let mut handed = Vec::with_capacity(outcomes.len());
        for (text, outcome) in outcomes {
            match outcome {
                Ok(()) => {
                    // A text goes only while its headcount is open; a closed one's is live.
                    let status = self
                        .open
                        .get(text.alert_id)
                        .map_or(Status::Actual, |open| open.alert.content.status);
                    self.handed.get_or_create(&status_label(status)).inc();
                    handed.push(text.id);
                }
                Err(SendError::Unreachable(why)) => {
                    let wait = retry_after(text.attempts);
                    tracing::warn!(text = text.id, attempt = text.attempts, retry_in_s = wait.num_seconds(), %why, "text not handed over");
                    self.store.text_retry_at(text.id, now + wait).await?;
                }
                Err(SendError::Refused(why)) => {
                    tracing::error!(text = text.id, %why, "the gateway refused a text");
                    self.store.text_refused(text.id, &why, now).await?;
                }
            }
        }
        self.store.texts_handed(&handed, now).await
    }
}

/// How long a text waits after its `attempts`-th failed try: 1 s, doubling, at most
/// [`MAX_BACKOFF`].
fn retry_after(attempts: i32) -> Duration {
    let doublings = attempts.saturating_sub(1).clamp(0, 16) as u32;
    (Duration::seconds(1) * 2i32.pow(doublings)).min(MAX_BACKOFF)
}

/// The ceiling per minute as a steady allowance: it fills at `per_minute` a minute, up to one
/// second's worth (at least one text), so texts leave evenly rather than in minute-long bursts.
struct Allowance {
    per_second: f64,
    capacity: f64,
    left: f64,
    at: Instant,
}

impl Allowance {
    fn per_minute(per_minute: u32, now: Instant) -> Allowance {
        let per_second = f64::from(per_minute) / 60.0;
        let capacity = per_second.max(1.0);
        Allowance {
            per_second,
            capacity,
            left: capacity,
            at: now,
        }
    }

    /// Whole texts that may go now.
    fn room(&mut self, now: Instant) -> u32 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.left = (self.left + elapsed * self.per_second).min(self.capacity);
        self.at = now;
        self.left.floor() as u32
    }

    fn spend(&mut self, texts: u32) {
        self.left -= f64::from(texts);
    }

    /// Until one more text may go.
    fn until_next(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(((1.0 - self.left) / self.per_second).max(0.001))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_doubling_to_five_minutes() {
        let waits: Vec<i64> = (1..=12).map(|a| retry_after(a).num_seconds()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(retry_after(0).num_seconds(), 1);
        assert_eq!(retry_after(i32::MAX).num_seconds(), 300);
    }

    #[test]
    fn the_allowance_keeps_to_its_ceiling_per_minute() {
        let start = Instant::now();
        let mut allowance = Allowance::per_minute(600, start);
        // One second's worth at once, then ten a second.
        assert_eq!(allowance.room(start), 10);
        allowance.spend(10);
        assert_eq!(allowance.room(start), 0);
        assert_eq!(allowance.room(start + std::time::Duration::from_millis(500)), 5);
        // Over a minute, never more than the ceiling (plus the first second's worth).
        let mut sent = 0;
        let mut now = start + std::time::Duration::from_millis(500);
        while now < start + std::time::Duration::from_secs(60) {
            let room = allowance.room(now);
            allowance.spend(room);
            sent += room;
            now += std::time::Duration::from_millis(7);
        }
        assert!((590..=600).contains(&sent), "{sent}");
        // A slow ceiling still lets one text go, then waits for the next.
        let mut slow = Allowance::per_minute(6, start);
        assert_eq!(slow.room(start), 1);
        slow.spend(1);
        assert_eq!(slow.room(start + std::time::Duration::from_secs(9)), 0);
        assert_eq!(slow.room(start + std::time::Duration::from_secs(10)), 1);
        assert!(slow.until_next() <= std::time::Duration::from_secs(10));
    }
}
