//! Group commit for check-ins: whoever submits while a commit is under way waits for the next
//! one, which carries them all. Each check-in is acknowledged only once its commit is durable
//! (SQLite `synchronous=FULL`, PostgreSQL's default), yet a burst costs one fsync per batch
//! instead of one per person.

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use scaan_schemas::{Checkin, Status};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::metrics::{status_label, StatusLabel};
use crate::storage::Store;

/// Most check-ins one commit carries.
const MAX_BATCH: usize = 2_000;

type Reply = oneshot::Sender<Result<(), String>>;
/// A check-in, who waits for its commit, when it was submitted, and its alert's status.
type Submitted = (Checkin, Reply, Instant, Status);

#[derive(Clone)]
pub struct CheckinWriter {
    submit: mpsc::Sender<Submitted>,
}

impl CheckinWriter {
    /// Starts the writer task; it stops when `shutdown` fires, after committing what it holds.
    /// `latency` gets each check-in's time from submission to commit, by its alert's status.
    pub fn start(
        store: Store,
        latency: Family<StatusLabel, Histogram>,
        shutdown: CancellationToken,
        tasks: &tokio_util::task::TaskTracker,
    ) -> CheckinWriter {
        let (submit, queue) = mpsc::channel(4 * MAX_BATCH);
        let writer = Writer { store, latency };
        tasks.spawn(run(writer, queue, shutdown));
        CheckinWriter { submit }
    }

    /// Stores a check-in on an alert of `status` durably; returns once it is committed.
    pub async fn write(&self, checkin: Checkin, status: Status) -> anyhow::Result<()> {
        let (reply, committed) = oneshot::channel();
        self.submit
            .send((checkin, reply, Instant::now(), status))
            .await
            .map_err(|_| anyhow::anyhow!("the check-in writer has stopped"))?;
        committed
            .await
            .map_err(|_| anyhow::anyhow!("the check-in writer has stopped"))?
            .map_err(anyhow::Error::msg)
    }
}

/// What the writer task holds.
struct Writer {
    store: Store,
    latency: Family<StatusLabel, Histogram>,
}

async fn run(writer: Writer, mut queue: mpsc::Receiver<Submitted>, shutdown: CancellationToken) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        let first = tokio::select! {
            first = queue.recv() => first,
            _ = shutdown.cancelled() => None,
        };
        let Some(first) = first else { break };
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        writer.commit(&mut batch).await;
    }
    // Stopping: commit whatever was already submitted, so nothing in flight is dropped.
    queue.close();
    while let Some(next) = queue.recv().await {
        batch.push(next);
        if batch.len() == MAX_BATCH {
            writer.commit(&mut batch).await;
        }
    }
    writer.commit(&mut batch).await;
}

impl Writer {
    async fn commit(&self, batch: &mut Vec<Submitted>) {
        if batch.is_empty() {
            return;
        }
        let checkins: Vec<Checkin> = batch.iter().map(|(c, ..)| c.clone()).collect();
        let outcome = self.store.record_checkins(&checkins).await.map_err(|e| {
            tracing::error!(error = %e, count = checkins.len(), "storing check-ins failed");
            "the check-in could not be stored".to_owned()
        });
        for (_, reply, submitted, status) in batch.drain(..) {
            if outcome.is_ok() {
                self.latency
                    .get_or_create(&status_label(status))
                    .observe(submitted.elapsed().as_secs_f64());
            }
            let _ = reply.send(outcome.clone());
        }
    }
}
