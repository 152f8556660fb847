//! Several hub nodes serving one deployment on one PostgreSQL database. What each node holds in
//! memory (its streams and phones, the targeting index, the open headcounts) is a cache of the
//! database that every node keeps current from the others' node events: a node writes one for
//! each change the others must apply ([`NodeEvent`]), wakes them with `NOTIFY`, and each reads
//! the table above the last event it applied ([`follow`]); a missed notification or a dropped
//! connection only delays that to the next look, a second at most. Scheduled work runs on one
//! node at a time ([`leadership`]). On SQLite there is one node: nothing is shared and it always
//! leads.
//!
//! Owns: the node events, written ([`Nodes::share`]) and applied ([`follow`]). Uses: the
//! whole hub's caches, which it updates as the writing node updated its own.

pub mod leadership;

use chrono::{DateTime, Utc};
use scaan_schemas::Alert;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::hub::Hub;
use crate::privacy::PreciseView;
use crate::storage::{Store, NODE_EVENTS_CHANNEL};
use crate::targeting::{Fix, Point};

/// Events written per transaction at most.
const EVENTS_PER_BATCH: usize = 256;
/// Events read per query at most.
const EVENTS_PER_READ: i64 = 500;
/// A node looks for events this often even without a notification: the bound on how stale
/// its caches can be when notifications are lost.
pub const LOOK_EVERY: Duration = Duration::from_secs(1);
/// An id missing between ones already read is waited for this long (its writer has not
/// committed yet), then given up (its transaction rolled back).
const GAP_WAIT: Duration = Duration::from_secs(5);
/// Events are kept this long (a node that was away longer reloads everything at its start).
const KEPT_FOR: chrono::Duration = chrono::Duration::minutes(5);

/// What one node did that the others apply to what they hold.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NodeEvent {
    /// An envelope for the streams of an audience.
    Stream(SharedStream),
    /// Envelopes stored in the MQTT outbox, for the phones connected to each node.
    Inbox { envelopes: Vec<SharedEnvelope> },
    /// An alert was sent or revised to these people: its headcount opens, follows it or closes.
    Headcount { alert: Box<Alert>, recipients: Vec<Uuid> },
    /// A late arrival joined an open headcount.
    Joined { alert: Uuid, user: Uuid },
    /// These headcounts' counts changed (with the countries their officers watch): each node
    /// counts them and pushes them to its own officers.
    Counted { alerts: Vec<(Uuid, Vec<String>)> },
    /// A staff member's new position.
    Fix {
        user: Uuid,
        lon: f64,
        lat: f64,
        recorded_at: DateTime<Utc>,
    },
    /// A staff member's trips changed: placed again from the database.
    Trips { user: Uuid },
    /// An account's tokens or rights changed: its streams and connections that no longer fit
    /// it end.
    Enforce { user: Uuid },
}

impl NodeEvent {
    fn kind(&self) -> &'static str {
        match self {
            NodeEvent::Stream(_) => "stream",
            NodeEvent::Inbox { .. } => "inbox",
            NodeEvent::Headcount { .. } => "headcount",
            NodeEvent::Joined { .. } => "joined",
            NodeEvent::Counted { .. } => "counted",
            NodeEvent::Fix { .. } => "fix",
            NodeEvent::Trips { .. } => "trips",
            NodeEvent::Enforce { .. } => "enforce",
        }
    }
}

/// An envelope for the streams of an audience (`only`: of these people, whatever their role),
/// with the alert whose receipt its recipients' writes record.
#[derive(Debug, Serialize, Deserialize)]
pub struct SharedStream {
    pub payload: String,
    /// The copy officers outside the staff get instead, when it differs (a screened position).
    pub officers: Option<OfficersShared>,
    pub staff: Vec<Uuid>,
    pub countries: Vec<String>,
    pub alert: Option<Uuid>,
    pub only: bool,
}

/// The officers' copy of a shared envelope, and the precise view each write of it shows.
#[derive(Debug, Serialize, Deserialize)]
pub struct OfficersShared {
    pub payload: String,
    pub view: Option<PreciseView>,
}

/// One envelope of the MQTT outbox, as stored.
#[derive(Debug, Serialize, Deserialize)]
pub struct SharedEnvelope {
    pub id: Uuid,
    pub payload: String,
    pub recipients: Vec<Uuid>,
}

/// An event on its way to the table, and whoever waits for it to be there.
struct Sharing {
    event: NodeEvent,
    written: oneshot::Sender<()>,
}

/// This node's way to the others.
pub struct Nodes {
    /// This process, as its events name it (a new id each start, so two nodes given the same
    /// name still read each other).
    id: Uuid,
    /// The events' writer's queue; `None` on a single node, which shares nothing.
    queue: Option<mpsc::UnboundedSender<Sharing>>,
}

impl Nodes {
    /// A hub alone on its database.
    pub fn single() -> Nodes {
        Nodes {
            id: Uuid::new_v4(),
            queue: None,
        }
    }

    /// One node of several: its events are written by [`write`], started with the hub.
    pub fn cluster(store: Store, shutdown: CancellationToken, tasks: &tokio_util::task::TaskTracker) -> Nodes {
        let (queue, events) = mpsc::unbounded_channel();
        let id = Uuid::new_v4();
        tasks.spawn(write(store, id, events, shutdown));
        Nodes { id, queue: Some(queue) }
    }

    pub fn is_cluster(&self) -> bool {
        self.queue.is_some()
    }

    /// Shares `event` with the other nodes, without waiting; returns the wait for it to be
    /// written (`None` on a single node). Whoever answers for the change awaits it, so that
    /// what was acknowledged reaches the other nodes even if this one is killed right after.
    pub fn share(&self, event: impl FnOnce() -> NodeEvent) -> Option<oneshot::Receiver<()>> {
        let queue = self.queue.as_ref()?;
        let (written, wait) = oneshot::channel();
        // Fails only once the writer has stopped, with the hub.
        let _ = queue.send(Sharing {
            event: event(),
            written,
        });
        Some(wait)
    }

    /// [`Nodes::share`], waiting until the event is written.
    pub async fn shared(&self, event: impl FnOnce() -> NodeEvent) {
        if let Some(written) = self.share(event) {
            let _ = written.await;
        }
    }
}

/// Writes the shared events, batch by batch, until the hub stops (what is queued then is
/// written too).
async fn write(store: Store, node: Uuid, mut queue: mpsc::UnboundedReceiver<Sharing>, shutdown: CancellationToken) {
    while let Some(batch) = crate::mqtt::next_batch(&mut queue, EVENTS_PER_BATCH, &shutdown).await {
        write_batch(&store, node, batch).await;
    }
    let rest = crate::mqtt::rest(&mut queue);
    if !rest.is_empty() {
        write_batch(&store, node, rest).await;
    }
}

async fn write_batch(store: &Store, node: Uuid, batch: Vec<Sharing>) {
    let (batch, waiting): (Vec<NodeEvent>, Vec<oneshot::Sender<()>>) =
        batch.into_iter().map(|s| (s.event, s.written)).unzip();
    let mut events = Vec::with_capacity(batch.len());
    for event in coalesce(batch) {
        match serde_json::to_string(&event) {
            Ok(body) => events.push((event.kind(), body)),
            Err(e) => tracing::error!(error = %e, "a node event failed to serialize"),
        }
    }
    // Tried again while the database is away: the other nodes need it as soon as it is back.
    let mut delay = Duration::from_millis(100);
    while let Err(e) = store.share_node_events(node, &events, Utc::now()).await {
        tracing::warn!(error = %e, events = events.len(), "could not share node events; trying again");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
    for written in waiting {
        let _ = written.send(());
    }
}

/// A batch's `counted` events as one, last: each only asks the other nodes to count those
/// boards again from the database, so one row per batch tells them what one per check-in did
/// (at 10,000 check-ins, 10,000 rows every node read).
fn coalesce(batch: Vec<NodeEvent>) -> Vec<NodeEvent> {
    let mut counted: BTreeMap<Uuid, Vec<String>> = BTreeMap::new();
    let mut events: Vec<NodeEvent> = batch
        .into_iter()
        .filter_map(|event| match event {
            NodeEvent::Counted { alerts } => {
                counted.extend(alerts);
                None
            }
            other => Some(other),
        })
        .collect();
    if !counted.is_empty() {
        events.push(NodeEvent::Counted {
            alerts: counted.into_iter().collect(),
        });
    }
    events
}

/// How far this node has read the events: every id up to `through` is applied (or given up),
/// and those in `ahead` too.
#[derive(Debug)]
pub struct ReadMark {
    through: i64,
    ahead: BTreeSet<i64>,
    /// Ids found missing, and since when.
    gaps: HashMap<i64, Instant>,
}

impl ReadMark {
    pub fn from(through: i64) -> ReadMark {
        ReadMark {
            through,
            ahead: BTreeSet::new(),
            gaps: HashMap::new(),
        }
    }

    /// Whether `id` is new (and marks it read).
    fn first_read(&mut self, id: i64) -> bool {
        id > self.through && self.ahead.insert(id)
    }

    /// Moves `through` up over what was read and over gaps waited for long enough. A gap is
    /// an id whose transaction has not committed yet: ids are taken in one order and
    /// committed in another.
    fn advance(&mut self, now: Instant) {
        let Some(&last) = self.ahead.last() else {
            return;
        };
        while self.through < last {
            let next = self.through + 1;
            if !self.ahead.remove(&next) {
                let since = *self.gaps.entry(next).or_insert(now);
                if now.duration_since(since) < GAP_WAIT {
                    break;
                }
                tracing::debug!(id = next, "a node event id never committed: given up");
            }
            self.gaps.remove(&next);
            self.through = next;
        }
    }
}

/// Applies the other nodes' events as they come, until the hub stops: woken by their
/// notifications, and looking every [`LOOK_EVERY`] anyway.
pub async fn follow(hub: Arc<Hub>, url: String, mut mark: ReadMark) {
    let mut listener = None;
    loop {
        if listener.is_none() {
            listener = listen(&url).await;
        }
        let woken = async {
            match listener.as_mut() {
                Some(l) => match tokio::time::timeout(LOOK_EVERY, l.try_recv()).await {
                    Ok(Ok(Some(_))) | Err(_) => {}
                    // Disconnected: it reconnects at the next call; look meanwhile.
                    Ok(Ok(None)) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "the node events' listener failed; reconnecting");
                        listener = None;
                    }
                },
                None => tokio::time::sleep(LOOK_EVERY).await,
            }
        };
        tokio::select! {
            _ = hub.shutdown.cancelled() => return,
            () = woken => {}
        }
        if let Err(e) = catch_up(&hub, &mut mark).await {
            tracing::warn!(error = %e, "could not read the other nodes' events; will retry");
        }
    }
}

async fn listen(url: &str) -> Option<sqlx::postgres::PgListener> {
    let connected = async {
        let mut listener = sqlx::postgres::PgListener::connect(url).await?;
        listener.listen(NODE_EVENTS_CHANNEL).await?;
        Ok::<_, sqlx::Error>(listener)
    };
    match connected.await {
        Ok(listener) => Some(listener),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for the other nodes' events; looking every second instead");
            None
        }
    }
}

/// Reads and applies every event not yet applied.
async fn catch_up(hub: &Hub, mark: &mut ReadMark) -> Result<(), crate::storage::StoreError> {
    // From the first id not yet read (below it: what was waited for); page by page after.
    let mut after = mark.through;
    loop {
        let rows = hub.store.node_events_after(after, EVENTS_PER_READ).await?;
        let full = rows.len() as i64 == EVENTS_PER_READ;
        for row in rows {
            after = row.id;
            if !mark.first_read(row.id) || row.node == hub.nodes.id {
                continue;
            }
            match serde_json::from_str::<NodeEvent>(&row.body) {
                Ok(event) => apply(hub, event).await,
                Err(e) => tracing::error!(error = %e, id = row.id, kind = row.kind, "a node event could not be read"),
            }
        }
        if !full {
            mark.advance(Instant::now());
            return Ok(());
        }
    }
}

/// Does on this node what the writing node did on its own.
async fn apply(hub: &Hub, event: NodeEvent) {
    match event {
        NodeEvent::Stream(event) => hub.delivery.hand_shared(event),
        NodeEvent::Inbox { envelopes } => hub.mqtt.deliver_shared(envelopes).await,
        NodeEvent::Headcount { alert, recipients } => hub.open_headcounts.track(&alert, &recipients),
        NodeEvent::Joined { alert, user } => hub.open_headcounts.join(alert, user),
        NodeEvent::Counted { alerts } => hub.pulse.mark_here(alerts),
        NodeEvent::Fix {
            user,
            lon,
            lat,
            recorded_at,
        } => {
            hub.targeting.record_fix(
                user,
                Fix {
                    at: Point { lon, lat },
                    recorded_at,
                },
            );
        }
        NodeEvent::Enforce { user } => {
            let enforced = match hub.store.user(user).await {
                Ok(Some(account)) => hub.follower.enforce_here(&account).await,
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            };
            if let Err(e) = enforced {
                tracing::warn!(error = %e, %user, "could not end the sessions another node ended");
            }
        }
        NodeEvent::Trips { user } => {
            if let Err(e) = hub.trips.place_again(user).await {
                tracing::warn!(error = %e, %user, "could not place a traveller another node changed");
            }
        }
    }
}

/// Deletes the events every node has had time to read, every minute while this node leads.
pub async fn prune(store: Store, stop: CancellationToken) {
    loop {
        match store.prune_node_events(Utc::now() - KEPT_FOR).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(events = n, "old node events pruned"),
            Err(e) => tracing::warn!(error = %e, "could not prune old node events"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_moves_over_what_was_read_and_waits_for_a_gap_then_gives_it_up() {
        let mut mark = ReadMark::from(10);
        let start = Instant::now();
        assert!(!mark.first_read(9), "already applied");
        assert!(mark.first_read(11));
        assert!(mark.first_read(13), "12 is not committed yet");
        assert!(!mark.first_read(13), "read once");
        mark.advance(start);
        assert_eq!(mark.through, 11, "12 is waited for");
        assert!(mark.first_read(12), "12 commits late and is still applied");
        mark.advance(start);
        assert_eq!(mark.through, 13);

        assert!(mark.first_read(15));
        mark.advance(start);
        assert_eq!(mark.through, 13);
        mark.advance(start + GAP_WAIT);
        assert_eq!(mark.through, 15, "14 never came: given up");
        assert!(mark.gaps.is_empty() && mark.ahead.is_empty());
    }

    #[test]
    fn a_batch_counts_each_board_once_after_the_rest() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let counted = |alert: Uuid| NodeEvent::Counted {
            alerts: vec![(alert, vec!["CD".to_owned()])],
        };
        let joined = NodeEvent::Joined { alert: a, user: b };
        let events = coalesce(vec![counted(a), counted(b), joined, counted(a)]);
        let kinds: Vec<&str> = events.iter().map(NodeEvent::kind).collect();
        assert_eq!(kinds, ["joined", "counted"]);
        let NodeEvent::Counted { alerts } = &events[1] else {
            unreachable!()
        };
        let boards: Vec<Uuid> = alerts.iter().map(|(alert, _)| *alert).collect();
        assert_eq!(boards, [a, b]);
        assert_eq!(
            coalesce(vec![NodeEvent::Trips { user: a }]).len(),
            1,
            "nothing else is merged"
        );
    }

    #[test]
    fn an_event_reads_back_as_written() {
        let event = NodeEvent::Joined {
            alert: Uuid::new_v4(),
            user: Uuid::new_v4(),
        };
        let body = serde_json::to_string(&event).unwrap();
        assert!(body.contains(r#""kind":"joined""#));
        assert!(matches!(serde_json::from_str(&body).unwrap(), NodeEvent::Joined { .. }));
    }
}
