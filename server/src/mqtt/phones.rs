//! What the hub's MQTT endpoint asks of the hub: whose a login is, what a person is owed, the
//! receipts of what was sent and delivered, and what to do with what a phone published.
//!
//! Logins and what is owed are read for many connections per query ([`answer_in_batches`]).
//!
//! Receipts are recorded in batches by [`record`], which also counts the deliveries in the
//! metrics. A delivery not yet recorded is remembered in memory until its commit, so that a
//! phone reconnecting in that moment is not sent again what it has just acknowledged. A
//! delivery of an alert moves its open headcount's counts (who is reached).

use bytes::Bytes;
use chrono::Utc;
use scaan_mobile_bridge::endpoint::{Login, Owed, PhoneHub};
use scaan_mobile_bridge::topics::PhoneTopic;
use scaan_schemas::User;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::inbound;
use crate::auth::token_hash;
use crate::hub::Hub;
use crate::metrics::{Metrics, MQTT};
use crate::storage::InboxStep;

/// How long an undelivered inbox message stays owed: a phone away for longer is sent what is
/// newer, and refetches the rest over HTTP.
pub(super) const OWED_FOR: chrono::Duration = chrono::Duration::days(7);
/// The most owed messages handed to one connection at its start.
const OWED_AT_ONCE: i64 = 1_000;
/// Connections whose questions (a login, what is owed) one query answers at most: what is owed
/// is read under the outbox's lock (`storing`), which an alert being stored waits for, so one
/// read stays short even when 10,000 phones come back at once.
const ASKED_AT_ONCE: usize = 100;
/// Receipts recorded per transaction at most.
const RECEIPTS_PER_BATCH: usize = 20_000;
/// How long a batch of receipts gathers before it is written.
const RECEIPTS_LINGER: std::time::Duration = std::time::Duration::from_millis(100);

pub(super) struct Phones {
    hub: Arc<Hub>,
    /// To [`answer_logins`].
    logins: mpsc::UnboundedSender<LoginAsk>,
    /// To [`answer_owed`].
    owed: mpsc::UnboundedSender<Ask<Uuid, Vec<Owed>>>,
}

impl Phones {
    /// Starts, on the hub's tasks, what answers the endpoint's questions to the store.
    pub(super) fn start(hub: &Arc<Hub>) -> Arc<Phones> {
        let (logins, asked_logins) = mpsc::unbounded_channel();
        let (owed, asked_owed) = mpsc::unbounded_channel();
        hub.tasks
            .spawn(answer_in_batches(hub.clone(), asked_logins, answer_logins));
        hub.tasks.spawn(answer_in_batches(hub.clone(), asked_owed, answer_owed));
        Arc::new(Phones {
            hub: hub.clone(),
            logins,
            owed,
        })
    }
}

impl PhoneHub for Phones {
    /// The account, kept for the connection's life: acting on its messages reads no account.
    type Person = User;

    async fn authenticate(&self, username: &str, password: &str) -> Option<Login<User>> {
        ask(&self.logins, (username.to_owned(), token_hash(password))).await
    }

    async fn owed(&self, user: Uuid) -> Vec<Owed> {
        ask(&self.owed, user).await
    }

    fn sent(&self, user: Uuid, envelopes: Vec<Uuid>) {
        self.hub.mqtt.receipts.sent(user, envelopes);
    }

    fn delivered(&self, user: Uuid, envelope: Uuid) {
        self.hub.mqtt.receipts.delivered(user, envelope);
    }

    async fn received(&self, user: &User, topic: PhoneTopic, payload: Bytes) {
        inbound::handle(&self.hub, user, topic, &payload).await;
    }
}

/// A question to the store from one connection, and where to answer it.
type Ask<Q, A> = (Q, oneshot::Sender<A>);
/// A login's username and its token's hash: whose login it is, if anyone's.
type LoginAsk = Ask<(String, [u8; 32]), Option<Login<User>>>;

async fn ask<Q, A: Default>(asked: &mpsc::UnboundedSender<Ask<Q, A>>, question: Q) -> A {
    let (answer, answered) = oneshot::channel();
    // Fails, and answers nothing, only once the hub is stopping.
    let _ = asked.send((question, answer));
    answered.await.unwrap_or_default()
}

/// Answers connections' questions many per query, until the hub stops: whoever asks while
/// one batch is being read is answered by the next read, with everyone else who asked
/// meanwhile. A phone connecting alone waits for one query, as before; 10,000 coming back
/// at once after a restart cost a query per batch, not one each (each handed to one of the
/// store's threads and back: half their CPU).
async fn answer_in_batches<Q, A, F, Fut>(hub: Arc<Hub>, mut asked: mpsc::UnboundedReceiver<Ask<Q, A>>, answer: F)
where
    F: Fn(Arc<Hub>, Vec<Ask<Q, A>>) -> Fut,
    Fut: Future<Output = ()>,
{
    while let Some(batch) = super::next_batch(&mut asked, ASKED_AT_ONCE, &hub.shutdown).await {
        answer(hub.clone(), batch).await;
    }
}

/// The same rule as a bearer token over HTTP (unknown, expired or revoked: refused), and the
/// username must match.
async fn answer_logins(hub: Arc<Hub>, asked: Vec<LoginAsk>) {
    let keys: Vec<[u8; 32]> = asked.iter().map(|((_, key), _)| *key).collect();
    let users = match hub.store.token_users(&keys, Utc::now()).await {
        Ok(users) => users,
        Err(e) => {
            // Each refused: their answers are dropped.
            tracing::warn!(error = %e, "cannot check MQTT logins: the database is unreachable");
            return;
        }
    };
    for ((username, key), answer) in asked {
        // Keyed by the token's hash: a logout closes the connections it opened, and they end
        // when it expires.
        let login = users
            .get(&key)
            .filter(|(user, _)| user.username == username)
            .map(|(user, expires_at)| Login {
                user: user.id,
                rights: rights(user),
                person: user.clone(),
                key,
                expires_at: Some((*expires_at).into()),
            });
        let _ = answer.send(login);
    }
}

async fn answer_owed(hub: Arc<Hub>, asked: Vec<Ask<Uuid, Vec<Owed>>>) {
    // A batch already sent to live connections (not to these yet) is in the store first.
    let _stored = hub.mqtt.storing.read().await;
    let (asked, nothing): (Vec<_>, Vec<_>) = {
        let owing = hub.mqtt.owing();
        asked.into_iter().partition(|(user, _)| owing.contains(user))
    };
    for (_, answer) in nothing {
        let _ = answer.send(Vec::new());
    }
    if asked.is_empty() {
        return;
    }
    let users: Vec<Uuid> = asked.iter().map(|(user, _)| *user).collect();
    // Taken before the query: a delivery committed meanwhile is then absent from both.
    let unrecorded: Vec<HashSet<Uuid>> = users
        .iter()
        .map(|user| hub.mqtt.receipts.unrecorded_of(*user))
        .collect();
    let owed: HashMap<Uuid, Vec<Owed>> = match hub.store.owed_inbox(&users, Utc::now() - OWED_FOR, OWED_AT_ONCE).await {
        Ok(rows) => rows
            .into_iter()
            .map(|(user, rows)| {
                let rows = rows.into_iter().map(|row| Owed {
                    id: row.envelope_id,
                    payload: Bytes::from(row.payload),
                    sent_before: row.sent_before,
                });
                (user, rows.collect())
            })
            .collect(),
        Err(e) => {
            let phones = users.len();
            tracing::error!(error = %e, phones, "cannot read what phones are owed; they get it when they reconnect");
            return;
        }
    };
    for ((user, answer), unrecorded) in asked.into_iter().zip(unrecorded) {
        let Some(rows) = owed.get(&user) else {
            // Owed nothing now, and nothing new can be stored for them before `_stored` goes.
            hub.mqtt.owing().remove(&user);
            let _ = answer.send(Vec::new());
            continue;
        };
        // Two devices of one person may ask in the same batch: each is sent all of it.
        let _ = answer.send(rows.iter().filter(|o| !unrecorded.contains(&o.id)).cloned().collect());
    }
}

/// What a connection is admitted with, as far as the account goes: its role and countries.
/// A connection keeps its account, so a change of either closes it ([`super::Mqtt::enforce`]).
pub(super) fn rights(user: &User) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut digest = std::collections::hash_map::DefaultHasher::new();
    (user.role, &user.countries).hash(&mut digest);
    digest.finish()
}

pub(super) enum Receipt {
    Sent {
        user: Uuid,
        envelopes: Vec<Uuid>,
    },
    /// With when the PUBACK came, for the delivery's latency.
    Delivered {
        user: Uuid,
        envelope: Uuid,
        at: Instant,
    },
}

/// The receipts on their way to the store.
pub(super) struct Receipts {
    queue: mpsc::UnboundedSender<Receipt>,
    /// The deliveries not yet committed, as (person, envelope), in order: each of 10,000 phones
    /// reconnecting at once reads its own range, not every other's, and a PUBACK allocates
    /// nothing of its own (a set per person cost an allocation and a free per PUBACK).
    unrecorded: Mutex<BTreeSet<(Uuid, Uuid)>>,
}

impl Receipts {
    pub(super) fn new() -> (Receipts, mpsc::UnboundedReceiver<Receipt>) {
        let (queue, rx) = mpsc::unbounded_channel();
        let receipts = Receipts {
            queue,
            unrecorded: Mutex::default(),
        };
        (receipts, rx)
    }

    fn unrecorded(&self) -> MutexGuard<'_, BTreeSet<(Uuid, Uuid)>> {
        self.unrecorded.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn unrecorded_of(&self, user: Uuid) -> HashSet<Uuid> {
        let theirs = (user, Uuid::nil())..=(user, Uuid::max());
        self.unrecorded().range(theirs).map(|(_, envelope)| *envelope).collect()
    }

    /// These deliveries are committed: nothing of them need be remembered any more.
    fn recorded(&self, delivered: &HashMap<Uuid, Vec<Uuid>>) {
        let mut unrecorded = self.unrecorded();
        for (envelope, users) in delivered {
            for user in users {
                unrecorded.remove(&(*user, *envelope));
            }
        }
    }

    fn sent(&self, user: Uuid, envelopes: Vec<Uuid>) {
        // Fails only once the recorder has stopped, when the hub is stopping.
        let _ = self.queue.send(Receipt::Sent { user, envelopes });
    }

    fn delivered(&self, user: Uuid, envelope: Uuid) {
        self.unrecorded().insert((user, envelope));
        let at = Instant::now();
        let _ = self.queue.send(Receipt::Delivered { user, envelope, at });
    }
}

/// Records receipts, many per transaction, until the hub stops (then what is already in). A
/// batch gathers for [`RECEIPTS_LINGER`] after its first receipt: during a fan-out most
/// phones' PUBACKs then join their "sent" in one transaction, and each row is written once.
pub(super) async fn record(hub: Arc<Hub>, mut receipts: mpsc::UnboundedReceiver<Receipt>) {
    while let Some(batch) =
        super::gathered_batch(&mut receipts, RECEIPTS_PER_BATCH, RECEIPTS_LINGER, &hub.shutdown).await
    {
        write(&hub, batch).await;
    }
    write(&hub, super::rest(&mut receipts)).await;
}

async fn write(hub: &Hub, batch: Vec<Receipt>) {
    let mut sent: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    let mut delivered: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    let mut moments: HashMap<Uuid, Vec<Instant>> = HashMap::new();
    for receipt in batch {
        match receipt {
            Receipt::Sent { user, envelopes } => {
                for envelope in envelopes {
                    sent.entry(envelope).or_default().push(user);
                }
            }
            Receipt::Delivered { user, envelope, at } => {
                delivered.entry(envelope).or_default().push(user);
                moments.entry(envelope).or_default().push(at);
            }
        }
    }
    // The phones have them, whatever becomes of the write below.
    count(&hub.metrics, moments);
    // Marking it delivered marks it sent too.
    for (envelope, users) in &mut sent {
        if let Some(done) = delivered.get(envelope) {
            let done: HashSet<&Uuid> = done.iter().collect();
            users.retain(|user| !done.contains(user));
        }
    }
    sent.retain(|_, users| !users.is_empty());
    let now = Utc::now();
    let stored = hub.mqtt.storing.read().await;
    let mut reached = Vec::new();
    for (step, rows) in [(InboxStep::Sent, &sent), (InboxStep::Delivered, &delivered)] {
        if rows.is_empty() {
            continue;
        }
        let rows: Vec<(Uuid, Vec<Uuid>)> = rows.iter().map(|(e, users)| (*e, users.clone())).collect();
        match hub.store.mark_inbox(step, &rows, now).await {
            Ok(alerts) if step == InboxStep::Delivered => reached = alerts,
            Ok(_) => {}
            // Not lost: an unrecorded delivery is sent again at the next connection (with DUP).
            Err(e) => tracing::warn!(error = %e, ?step, "could not record MQTT receipts"),
        }
    }
    drop(stored);
    hub.mqtt.receipts.recorded(&delivered);
    // A device has these alerts now: their open headcounts count who is reached again.
    for alert in reached {
        if let Some(open) = hub.open_headcounts.get(alert) {
            hub.pulse.mark(&open.alert);
        }
    }
}

/// Counts deliveries and their latencies envelope by envelope: the metrics, which every
/// connection shares, are touched once per envelope in a batch rather than at every PUBACK.
fn count(metrics: &Metrics, moments: HashMap<Uuid, Vec<Instant>>) {
    for (envelope, moments) in moments {
        let dispatch = metrics.dispatched.of(envelope);
        metrics.delivered(MQTT, dispatch.status).inc_by(moments.len() as u64);
        let latencies = metrics.delivery_latency(MQTT, dispatch.status);
        for latency in moments.into_iter().filter_map(|at| dispatch.latency(at)) {
            latencies.observe(latency.as_secs_f64());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_is_remembered_for_its_person_alone_until_it_is_recorded() {
        let (receipts, _queue) = Receipts::new();
        let (ana, ben) = (Uuid::new_v4(), Uuid::new_v4());
        let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
        receipts.delivered(ana, first);
        receipts.delivered(ana, second);
        receipts.delivered(ben, first);
        assert_eq!(receipts.unrecorded_of(ana), HashSet::from([first, second]));
        assert_eq!(receipts.unrecorded_of(ben), HashSet::from([first]));

        receipts.recorded(&HashMap::from([(first, vec![ana, ben])]));
        assert_eq!(receipts.unrecorded_of(ana), HashSet::from([second]));
        assert!(receipts.unrecorded_of(ben).is_empty());
        receipts.recorded(&HashMap::from([(second, vec![ana])]));
        assert!(receipts.unrecorded().is_empty(), "nobody is kept once all is recorded");
    }
}
