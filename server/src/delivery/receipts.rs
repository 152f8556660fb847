//! WebSocket receipts: an alert's envelope whose write to one of its recipients' streams has
//! completed is `delivered` on the channel `websocket`. A stream only queues the receipt; one
//! recorder stores them many per transaction, off the fan-out and off the streams' writes, and
//! moves the counts of the open headcounts they concern (who is reached changes).

use chrono::Utc;
use scaan_schemas::Status;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::hub::Hub;
use crate::metrics::WEBSOCKET;

/// Receipts stored per transaction at most.
const RECEIPTS_PER_BATCH: usize = 10_000;
/// How long a batch of receipts gathers before it is stored, as the MQTT receipts' do: an
/// alert's writes complete over a few hundred milliseconds, and each transaction rewrites the
/// same last pages of the receipts' table and index.
const RECEIPTS_LINGER: Duration = Duration::from_millis(100);

/// A completed write of an alert to one of its recipient's streams.
struct Delivered {
    alert: Uuid,
    user: Uuid,
}

/// The receipts on their way to the store.
pub struct StreamReceipts {
    queue: mpsc::UnboundedSender<Delivered>,
    /// Taken by [`record`] when the hub starts serving.
    pending: Mutex<Option<mpsc::UnboundedReceiver<Delivered>>>,
}

impl Default for StreamReceipts {
    fn default() -> StreamReceipts {
        let (queue, pending) = mpsc::unbounded_channel();
        StreamReceipts {
            queue,
            pending: Mutex::new(Some(pending)),
        }
    }
}

impl StreamReceipts {
    /// Records, without waiting, that `alert` was written to one of `user`'s streams.
    pub fn delivered(&self, alert: Uuid, user: Uuid) {
        // Fails only once the recorder has stopped, when the hub is stopping.
        let _ = self.queue.send(Delivered { alert, user });
    }
}

/// Stores receipts, many per transaction, until the hub stops (then what is already in).
pub async fn record(hub: Arc<Hub>) {
    let taken = hub
        .delivery
        .receipts
        .pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    let Some(mut queue) = taken else {
        return;
    };
    while let Some(batch) =
        crate::mqtt::gathered_batch(&mut queue, RECEIPTS_PER_BATCH, RECEIPTS_LINGER, &hub.shutdown).await
    {
        write(&hub, batch).await;
    }
    write(&hub, crate::mqtt::rest(&mut queue)).await;
}

async fn write(hub: &Hub, batch: Vec<Delivered>) {
    // Every write in the batch had completed by now: each is recorded at this time, at most one
    // batch's linger and store late (the time of each write was not worth a clock read each).
    let at = Utc::now();
    let mut per_alert: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for d in batch {
        per_alert.entry(d.alert).or_default().push(d.user);
    }
    if per_alert.is_empty() {
        return;
    }
    // A person written to on two streams counts once.
    for people in per_alert.values_mut() {
        people.sort_unstable();
        people.dedup();
    }
    let written: Vec<(Uuid, Vec<Uuid>)> = per_alert.into_iter().collect();
    if let Err(e) = hub.store.record_stream_receipts(&written, at).await {
        // The person has the alert all the same; only the receipt is missing.
        let receipts: usize = written.iter().map(|(_, people)| people.len()).sum();
        tracing::warn!(error = %e, receipts, "could not record WebSocket receipts");
        return;
    }
    for (alert, people) in written {
        let written = people.len() as u64;
        let open = hub.open_headcounts.get(alert);
        let status = match &open {
            Some(open) => open.alert.content.status,
            None => status_of(hub, alert).await,
        };
        hub.metrics.delivered(WEBSOCKET, status).inc_by(written);
        if let Some(open) = open {
            hub.pulse.mark(&open.alert);
        }
    }
}

/// The CAP status of an alert whose headcount is not open (`actual` if it cannot be read).
async fn status_of(hub: &Hub, alert: Uuid) -> Status {
    match hub.store.alert(alert).await {
        Ok(Some(alert)) => alert.content.status,
        Ok(None) => Status::Actual,
        Err(e) => {
            tracing::warn!(error = %e, %alert, "metrics: cannot read an alert's status; counted as actual");
            Status::Actual
        }
    }
}
