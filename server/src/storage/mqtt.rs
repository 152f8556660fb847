//! The MQTT outbox (every inbox message, stored before it is sent, and marked as it is sent,
//! delivered to a device, or accepted by an external broker) and delivery receipts, the
//! WebSocket's included.
//!
//! Where each person's copy has got to is kept in one of two ways:
//! - **An alert's revision to its whole audience** (the alert, each update, its cancellation)
//!   goes to the alert's recipients, whose rows exist anyway for the headcount: a person is owed
//!   its revisions from their row's `owed_from` on (a revision's new area, or a late arrival,
//!   adds people later). What reached them is one row per alert and person
//!   (`alert_deliveries`), written once something did: per step, the set of revisions reached
//!   (bit r for revision r) and the first time. So the fan-out of an alert writes no row per
//!   person, and each person's receipts one (issue 18). It is a table apart from the
//!   recipients' rows, which check-ins update at the same moment.
//! - **Every other envelope** (an escalation's wave to the silent, a late arrival's copy, an
//!   SOS's news, a reply, an advisory) has an outbox row per person. Its recipients are stored
//!   as one list with it, in the transaction whose end its sender waits for
//!   (`inbox_audiences`); the rows are written from it afterwards ([`Store::expand_inbox`]).
//!   Every query here that reads or marks outbox rows expands what is pending first.

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use std::collections::{BTreeMap, HashMap, HashSet};
use uuid::Uuid;

use super::{pack, BeginWrite, Result, Store, ROWS_PER_INSERT};

/// One envelope for some people's inboxes.
pub struct OutboxEnvelope {
    pub id: Uuid,
    /// Set for the envelopes of an alert, so receipts can be found by alert.
    pub alert_id: Option<Uuid>,
    /// Set when the envelope is that alert's revision to its whole audience (the alert's
    /// recipients, each one's delivery kept in `alert_deliveries`).
    pub revision: Option<u32>,
    pub payload: String,
    pub recipients: Vec<Uuid>,
}

/// The newest revision whose delivery `alert_deliveries` keeps: one bit each in a signed
/// 64-bit set. An alert revised more often than that keeps outbox rows for the rest.
const REVISIONS_KEPT: u32 = 62;

/// The bit of revision `e.revision` in a set of revisions (SQL, both backends).
const REVISION_BIT: &str = "(CAST(1 AS BIGINT) << CAST(e.revision AS INTEGER))";

/// Each alert's revision `e` to its whole audience, with each recipient `r` it is owed to and
/// the revisions that reached them (`d`, whose columns are NULL until something did) (SQL,
/// both backends; a `WHERE` follows, to which `AND` adds).
const REVISIONS_OWED: &str = "mqtt_envelopes e JOIN alert_recipients r ON r.alert_id = e.alert_id
     LEFT JOIN alert_deliveries d ON d.alert_id = r.alert_id AND d.user_id = r.user_id
     WHERE e.revision IS NOT NULL AND e.revision >= r.owed_from";

impl OutboxEnvelope {
    /// The revision `alert_deliveries` keeps this envelope's delivery under, if it does.
    fn kept_revision(&self) -> Option<i64> {
        match (self.alert_id, self.revision) {
            (Some(_), Some(r)) if (1..=REVISIONS_KEPT).contains(&r) => Some(i64::from(r)),
            _ => None,
        }
    }
}

/// A step an inbox message reaches, each recorded once per (envelope, person).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InboxStep {
    /// Written to one of the person's connections to the hub.
    Sent,
    /// One of the person's devices PUBACKed it.
    Delivered,
    /// An external broker PUBACKed it.
    BrokerAccepted,
}

impl InboxStep {
    /// When the step was first reached (in `mqtt_outbox`, and in `alert_deliveries` for any
    /// revision).
    fn column(self) -> &'static str {
        match self {
            InboxStep::Sent => "sent_at",
            InboxStep::Delivered => "delivered_at",
            InboxStep::BrokerAccepted => "broker_accepted_at",
        }
    }

    /// The revisions that reached it (in `alert_deliveries`).
    fn revisions(self) -> &'static str {
        match self {
            InboxStep::Sent => "revisions_sent",
            InboxStep::Delivered => "revisions_delivered",
            InboxStep::BrokerAccepted => "revisions_accepted",
        }
    }
}

/// A stored inbox message one person has not received yet.
#[derive(sqlx::FromRow)]
pub struct OwedRow {
    /// Whose it is.
    pub user_id: Uuid,
    pub envelope_id: Uuid,
    pub payload: String,
    /// Written to one of their connections before (so it goes again with DUP set).
    pub sent_before: bool,
}

/// A stored inbox message the broker has not acknowledged.
#[derive(sqlx::FromRow)]
pub struct Unaccepted {
    pub envelope_id: Uuid,
    pub user_id: Uuid,
    pub payload: String,
}

/// One recipient's receipt for an alert.
pub struct ReceiptRow {
    pub user_id: Uuid,
    pub username: String,
    pub queued_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub broker_accepted_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// One recipient's receipt as read: the outbox's steps and the revisions', apart.
#[derive(sqlx::FromRow)]
struct ReceiptColumns {
    user_id: Uuid,
    username: String,
    queued_at: Option<DateTime<Utc>>,
    sent_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
    broker_accepted_at: Option<DateTime<Utc>>,
    acknowledged_at: Option<DateTime<Utc>>,
    revision_queued_at: Option<DateTime<Utc>>,
    revision_sent_at: Option<DateTime<Utc>>,
    revision_delivered_at: Option<DateTime<Utc>>,
    revision_accepted_at: Option<DateTime<Utc>>,
}

impl ReceiptColumns {
    /// Each step at the first time either way reached it.
    fn merged(self) -> ReceiptRow {
        let first = |a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>| a.into_iter().chain(b).min();
        ReceiptRow {
            user_id: self.user_id,
            username: self.username,
            queued_at: first(self.queued_at, self.revision_queued_at),
            sent_at: first(self.sent_at, self.revision_sent_at),
            delivered_at: first(self.delivered_at, self.revision_delivered_at),
            broker_accepted_at: first(self.broker_accepted_at, self.revision_accepted_at),
            acknowledged_at: self.acknowledged_at,
        }
    }
}

/// One recipient's WebSocket receipt for an alert.
#[derive(sqlx::FromRow)]
pub struct StreamReceiptRow {
    pub user_id: Uuid,
    pub username: String,
    pub delivered_at: DateTime<Utc>,
}

/// The statement that records revisions of alert `$1` reaching a step in `alert_deliveries`,
/// for the people of the [`pack`]ed list `$2`, each with the revisions (a JSON array in `$3`,
/// one set per person) that reached it at `$4`. A delivery marks the revisions sent too, whether
/// or not their "sent" was recorded first.
fn mark_revisions(store: &Store, step: InboxStep) -> String {
    let steps: &[InboxStep] = match step {
        InboxStep::Delivered => &[InboxStep::Delivered, InboxStep::Sent],
        InboxStep::Sent | InboxStep::BrokerAccepted => &[step],
    };
    let columns: Vec<String> = steps
        .iter()
        .map(|s| format!("{}, {}", s.revisions(), s.column()))
        .collect();
    let values = vec!["number, $4"; steps.len()].join(", ");
    let updates: Vec<String> = steps
        .iter()
        .map(|s| {
            let (revisions, column) = (s.revisions(), s.column());
            format!(
                "{revisions} = alert_deliveries.{revisions} | excluded.{revisions}, \
                 {column} = COALESCE(alert_deliveries.{column}, excluded.{column})"
            )
        })
        .collect();
    format!(
        "INSERT INTO alert_deliveries (alert_id, user_id, {}) SELECT $1, user_id, {values} FROM {} WHERE true \
         ON CONFLICT (alert_id, user_id) DO UPDATE SET {}",
        columns.join(", "),
        store.people(2, Some(3)),
        updates.join(", ")
    )
}

impl Store {
    /// Stores a batch of envelopes in one transaction: an alert's revision to its whole
    /// audience alone (its recipients are the alert's), any other with its recipients as
    /// one list, whose outbox rows [`Store::expand_inbox`] writes. The envelopes of a batch
    /// are a microsecond apart, so a person's messages keep their order.
    pub async fn queue_inbox(&self, batch: &[OutboxEnvelope], now: DateTime<Utc>) -> Result<()> {
        let at = |i: usize| now + chrono::Duration::microseconds(i as i64);
        on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            for (n, chunk) in batch.chunks(ROWS_PER_INSERT / 5).enumerate() {
                let first = n * (ROWS_PER_INSERT / 5);
                let mut q =
                    QueryBuilder::new("INSERT INTO mqtt_envelopes (id, alert_id, revision, payload, created_at) ");
                q.push_values(chunk.iter().enumerate(), |mut row, (i, e)| {
                    row.push_bind(e.id)
                        .push_bind(e.alert_id)
                        .push_bind(e.kept_revision())
                        .push_bind(e.payload.as_str())
                        .push_bind(at(first + i));
                });
                q.build().execute(&mut *tx).await?;
                let listed: Vec<(usize, &OutboxEnvelope)> = (first..)
                    .zip(chunk)
                    .filter(|(_, e)| e.kept_revision().is_none())
                    .collect();
                if listed.is_empty() {
                    continue;
                }
                let mut q = QueryBuilder::new("INSERT INTO inbox_audiences (envelope_id, queued_at, recipients) ");
                q.push_values(listed, |mut row, (i, e)| {
                    row.push_bind(e.id).push_bind(at(i)).push_bind(pack(&e.recipients));
                });
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// Writes the outbox rows of every envelope whose recipients are still a list, in one
    /// transaction that also deletes those lists (of two callers at once, the second finds
    /// nothing left); returns how many lists that was.
    pub async fn expand_inbox(&self) -> Result<usize> {
        // A look first: most calls find nothing pending, and a write transaction for nothing
        // would queue behind every other writer on SQLite.
        let sql = "SELECT 1 FROM inbox_audiences LIMIT 1";
        let pending: Option<(i32,)> = on_either!(self, |pool| sqlx::query_as(sql).fetch_optional(pool).await)?;
        if pending.is_none() {
            return Ok(0);
        }
        let claim = "DELETE FROM inbox_audiences RETURNING envelope_id, queued_at, recipients";
        let insert = format!(
            "INSERT INTO mqtt_outbox (envelope_id, user_id, queued_at) SELECT $1, user_id, $3 FROM {}",
            self.people(2, None)
        );
        on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let lists: Vec<(Uuid, DateTime<Utc>, Vec<u8>)> = sqlx::query_as(claim).fetch_all(&mut *tx).await?;
            for (envelope, queued_at, list) in &lists {
                let query = sqlx::query(&insert).bind(envelope).bind(list.as_slice());
                query.bind(queued_at).execute(&mut *tx).await?;
            }
            tx.commit().await.map(|()| lists.len())
        })
        .map_err(Into::into)
    }

    /// Records that inbox messages reached `step` (the first time counts), all in one
    /// transaction: for an alert's revisions to its whole audience, one row per alert and
    /// person, each written once with every revision of the batch, by one statement per alert
    /// (alerts and people in order, so that two nodes' transactions lock them in the same
    /// order); for any other envelope, one statement per envelope and chunk on its outbox rows.
    /// Returns the alerts these envelopes carry (those that carry one), whose open headcounts
    /// count who is reached.
    pub async fn mark_inbox(
        &self,
        step: InboxStep,
        reached: &[(Uuid, Vec<Uuid>)],
        at: DateTime<Utc>,
    ) -> Result<Vec<Uuid>> {
        self.expand_inbox().await?;
        let envelopes: Vec<Uuid> = reached.iter().map(|(envelope, _)| *envelope).collect();
        let carried = self.alerts_carried(&envelopes).await?;
        // The alert and revision of each envelope that is an alert's revision to its audience.
        let revisions: HashMap<Uuid, (Uuid, i64)> = carried
            .iter()
            .filter_map(|(envelope, (alert, revision))| Some((*envelope, (*alert, (*revision)?))))
            .collect();
        let mut marks: BTreeMap<Uuid, BTreeMap<Uuid, i64>> = BTreeMap::new();
        for (envelope, users) in reached {
            if let Some((alert, revision)) = revisions.get(envelope) {
                let people = marks.entry(*alert).or_default();
                for user in users {
                    *people.entry(*user).or_default() |= 1i64 << revision;
                }
            }
        }
        let marked = mark_revisions(self, step);
        let column = step.column();
        on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            for (alert, people) in &marks {
                // In order of id, as `pack` lists them: each person's revisions line up.
                let users: Vec<Uuid> = people.keys().copied().collect();
                let revisions: Vec<String> = people.values().map(i64::to_string).collect();
                let revisions = format!("[{}]", revisions.join(","));
                let query = sqlx::query(&marked).bind(alert).bind(pack(&users));
                query.bind(revisions).bind(at).execute(&mut *tx).await?;
            }
            for (envelope, users) in reached.iter().filter(|(e, _)| !revisions.contains_key(e)) {
                for chunk in users.chunks(ROWS_PER_INSERT) {
                    let mut q = QueryBuilder::new(format!("UPDATE mqtt_outbox SET {column} = "));
                    q.push_bind(at);
                    if step == InboxStep::Delivered {
                        // Delivered was sent, whether or not its "sent" was recorded first.
                        q.push(", sent_at = COALESCE(sent_at, ").push_bind(at).push(")");
                    }
                    q.push(format!(" WHERE {column} IS NULL AND envelope_id = "))
                        .push_bind(*envelope)
                        .push(" AND user_id IN (");
                    let mut list = q.separated(", ");
                    for user in chunk {
                        list.push_bind(*user);
                    }
                    q.push(")");
                    q.build().execute(&mut *tx).await?;
                }
            }
            tx.commit().await
        })?;
        let mut alerts: Vec<Uuid> = carried.into_values().map(|(alert, _)| alert).collect();
        alerts.sort_unstable();
        alerts.dedup();
        Ok(alerts)
    }

    /// The alert each of these envelopes carries (of those that carry one), with the revision
    /// it is to the alert's whole audience, if it is one.
    async fn alerts_carried(&self, envelopes: &[Uuid]) -> Result<HashMap<Uuid, (Uuid, Option<i64>)>> {
        let mut carried = HashMap::new();
        for chunk in envelopes.chunks(ROWS_PER_INSERT) {
            let rows: Vec<(Uuid, Uuid, Option<i64>)> = on_either!(self, |pool| {
                let mut q = QueryBuilder::new(
                    "SELECT id, alert_id, revision FROM mqtt_envelopes WHERE alert_id IS NOT NULL AND id IN (",
                );
                let mut list = q.separated(", ");
                for envelope in chunk {
                    list.push_bind(*envelope);
                }
                q.push(")");
                q.build_query_as().fetch_all(pool).await
            })?;
            carried.extend(
                rows.into_iter()
                    .map(|(envelope, alert, revision)| (envelope, (alert, revision))),
            );
        }
        Ok(carried)
    }

    /// Writes the rows still pending as lists that [`Self::owed_inbox`] and its kin read: the
    /// outbox's, and the alerts' recipients' (to whom their revisions are owed).
    async fn expand_all(&self) -> Result<()> {
        // One look at both kinds of list: nearly every call finds neither pending, and each
        // phone that connects reads what it is owed (after a restart, every phone at once).
        let sql = "SELECT EXISTS (SELECT 1 FROM inbox_audiences), EXISTS (SELECT 1 FROM alert_audiences)";
        let (inbox, audiences): (bool, bool) = on_either!(self, |pool| sqlx::query_as(sql).fetch_one(pool).await)?;
        if inbox {
            self.expand_inbox().await?;
        }
        if audiences {
            self.expand_audiences().await?;
        }
        Ok(())
    }

    /// Every stored inbox message the broker never acknowledged, oldest first.
    pub async fn unaccepted_inbox(&self) -> Result<Vec<Unaccepted>> {
        self.expand_all().await?;
        let sql = format!(
            "SELECT envelope_id, user_id, payload FROM (
                 SELECT o.envelope_id, o.user_id, e.payload, o.queued_at
                 FROM mqtt_outbox o JOIN mqtt_envelopes e ON e.id = o.envelope_id
                 WHERE o.broker_accepted_at IS NULL
                 UNION ALL
                 SELECT e.id, r.user_id, e.payload, e.created_at
                 FROM {REVISIONS_OWED} AND (COALESCE(d.revisions_accepted, 0) & {REVISION_BIT}) = 0
             ) unaccepted ORDER BY queued_at"
        );
        Ok(on_either!(self, |pool| sqlx::query_as(&sql).fetch_all(pool).await)?)
    }

    /// How many inbox messages queued since `since` neither a device nor the external broker
    /// has acknowledged yet (the metrics' outbox backlog).
    pub async fn outbox_backlog(&self, since: DateTime<Utc>) -> Result<i64> {
        self.expand_all().await?;
        let sql = format!(
            "SELECT (SELECT COUNT(*) FROM mqtt_outbox
                     WHERE delivered_at IS NULL AND broker_accepted_at IS NULL AND queued_at >= $1)
                  + (SELECT COUNT(*) FROM {REVISIONS_OWED} AND e.created_at >= $1
                     AND ((COALESCE(d.revisions_delivered, 0) | COALESCE(d.revisions_accepted, 0)) & {REVISION_BIT}) = 0)"
        );
        Ok(on_either!(self, |pool| sqlx::query_scalar(&sql)
            .bind(since)
            .fetch_one(pool)
            .await)?)
    }

    /// What each of `users` is owed: the inbox messages queued since `since` that no device of
    /// theirs has acknowledged, oldest first, at most `limit` each; someone owed nothing is
    /// absent. One query for all of them: after a restart every phone asks at once.
    pub async fn owed_inbox(
        &self,
        users: &[Uuid],
        since: DateTime<Utc>,
        limit: i64,
    ) -> Result<HashMap<Uuid, Vec<OwedRow>>> {
        self.expand_all().await?;
        let sql = format!(
            "SELECT user_id, envelope_id, payload, sent_before FROM (
                 SELECT owed.*, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY queued_at) AS n FROM (
                     SELECT o.user_id, o.envelope_id, e.payload, o.sent_at IS NOT NULL AS sent_before, o.queued_at
                     FROM mqtt_outbox o JOIN mqtt_envelopes e ON e.id = o.envelope_id
                     WHERE {outbox_people} AND o.delivered_at IS NULL
                     AND o.queued_at >= $2
                     UNION ALL
                     SELECT r.user_id, e.id, e.payload, (COALESCE(d.revisions_sent, 0) & {REVISION_BIT}) <> 0,
                            e.created_at
                     FROM {REVISIONS_OWED} AND {recipients_people}
                     AND e.created_at >= $2 AND (COALESCE(d.revisions_delivered, 0) & {REVISION_BIT}) = 0
                 ) owed
             ) numbered WHERE n <= $3 ORDER BY user_id, n",
            outbox_people = self.among("o.user_id", 1),
            recipients_people = self.among("r.user_id", 1),
        );
        let rows: Vec<OwedRow> = on_either!(self, |pool| sqlx::query_as(&sql)
            .bind(pack(users))
            .bind(since)
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        let mut owed: HashMap<Uuid, Vec<OwedRow>> = HashMap::new();
        for row in rows {
            owed.entry(row.user_id).or_default().push(row);
        }
        Ok(owed)
    }

    /// Everyone owed an inbox message queued since `since` that no device has acknowledged.
    pub async fn owing(&self, since: DateTime<Utc>) -> Result<HashSet<Uuid>> {
        self.expand_all().await?;
        let sql = format!(
            "SELECT user_id FROM mqtt_outbox WHERE delivered_at IS NULL AND queued_at >= $1
             UNION
             SELECT r.user_id FROM {REVISIONS_OWED} AND e.created_at >= $1
             AND (COALESCE(d.revisions_delivered, 0) & {REVISION_BIT}) = 0"
        );
        let rows: Vec<(Uuid,)> = on_either!(self, |pool| sqlx::query_as(&sql).bind(since).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|(user,)| user).collect())
    }

    /// Records that the app showed the alert to `user`; the first acknowledgement counts.
    pub async fn acknowledge_alert(&self, alert: Uuid, user: Uuid, channel: &str, at: DateTime<Utc>) -> Result<()> {
        let sql = "INSERT INTO alert_acknowledgements (alert_id, user_id, channel, acknowledged_at)
                   VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
        on_either!(self, |pool| sqlx::query(sql)
            .bind(alert)
            .bind(user)
            .bind(channel)
            .bind(at)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Every recipient of an alert with the first time each delivery step was reached, by any
    /// of the alert's envelopes: its revisions (in `alert_deliveries`) or the others
    /// (an escalation's wave, a late arrival's copy: in the outbox).
    pub async fn delivery_receipts(&self, alert: Uuid) -> Result<Vec<ReceiptRow>> {
        self.expand_audience(alert).await?;
        self.expand_inbox().await?;
        let sql = "SELECT r.user_id, u.username,
                          MIN(o.queued_at) AS queued_at,
                          MIN(o.sent_at) AS sent_at,
                          MIN(o.delivered_at) AS delivered_at,
                          MIN(o.broker_accepted_at) AS broker_accepted_at,
                          MIN(a.acknowledged_at) AS acknowledged_at,
                          MIN(CASE WHEN e.revision >= r.owed_from THEN e.created_at END) AS revision_queued_at,
                          d.sent_at AS revision_sent_at,
                          d.delivered_at AS revision_delivered_at,
                          d.broker_accepted_at AS revision_accepted_at
                   FROM alert_recipients r
                   JOIN users u ON u.id = r.user_id
                   LEFT JOIN alert_deliveries d ON d.alert_id = r.alert_id AND d.user_id = r.user_id
                   LEFT JOIN mqtt_envelopes e ON e.alert_id = r.alert_id
                   LEFT JOIN mqtt_outbox o ON o.envelope_id = e.id AND o.user_id = r.user_id
                   LEFT JOIN alert_acknowledgements a ON a.alert_id = r.alert_id AND a.user_id = r.user_id
                   WHERE r.alert_id = $1
                   GROUP BY r.user_id, u.username, d.sent_at, d.delivered_at, d.broker_accepted_at
                   ORDER BY u.username";
        let rows: Vec<ReceiptColumns> = on_either!(self, |pool| sqlx::query_as(sql).bind(alert).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(ReceiptColumns::merged).collect())
    }

    /// Records completed WebSocket writes of alerts: each alert with the people it was written
    /// to, all by `at`. The first per alert and person counts. One statement per alert, its
    /// people bound as one list ([`Store::people`]).
    pub async fn record_stream_receipts(&self, written: &[(Uuid, Vec<Uuid>)], at: DateTime<Utc>) -> Result<()> {
        // `WHERE true`: SQLite parses an upsert's ON CONFLICT after a SELECT only behind a WHERE.
        let sql = format!(
            "INSERT INTO stream_receipts (alert_id, user_id, delivered_at) SELECT $1, user_id, $3 FROM {} \
             WHERE true ON CONFLICT DO NOTHING",
            self.people(2, None)
        );
        on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            for (alert, people) in written {
                sqlx::query(&sql)
                    .bind(alert)
                    .bind(pack(people))
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// The recipients of an alert one of whose streams it was written to, with the first time.
    pub async fn stream_receipts(&self, alert: Uuid) -> Result<Vec<StreamReceiptRow>> {
        let sql = "SELECT w.user_id, u.username, w.delivered_at
                   FROM stream_receipts w JOIN users u ON u.id = w.user_id
                   WHERE w.alert_id = $1
                   ORDER BY u.username";
        Ok(on_either!(self, |pool| sqlx::query_as(sql)
            .bind(alert)
            .fetch_all(pool)
            .await)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(alert_id: Option<Uuid>, revision: Option<u32>) -> OutboxEnvelope {
        OutboxEnvelope {
            id: Uuid::new_v4(),
            alert_id,
            revision,
            payload: String::new(),
            recipients: Vec::new(),
        }
    }

    #[test]
    fn only_an_alert_s_revisions_that_fit_the_set_are_kept_on_its_recipients_rows() {
        let alert = Some(Uuid::new_v4());
        assert_eq!(envelope(alert, Some(1)).kept_revision(), Some(1));
        assert_eq!(envelope(alert, Some(62)).kept_revision(), Some(62));
        assert_eq!(
            envelope(alert, Some(63)).kept_revision(),
            None,
            "beyond a signed 64-bit set"
        );
        assert_eq!(envelope(alert, Some(0)).kept_revision(), None, "revisions count from 1");
        assert_eq!(
            envelope(alert, None).kept_revision(),
            None,
            "a wave, a late arrival's copy"
        );
        assert_eq!(envelope(None, Some(1)).kept_revision(), None, "no alert, no recipients");
    }
}
