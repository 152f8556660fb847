//! The MQTT outbox (every inbox message, stored before it is sent, and marked as it is sent,
//! delivered to a device, or accepted by an external broker) and delivery receipts, the
//! WebSocket's included.
//!
//! An envelope's recipients are stored as one list with it, in the transaction whose end its
//! sender waits for (`inbox_audiences`); the outbox rows, one per person, are written from it
//! afterwards ([`Store::expand_inbox`]). Every query here that reads or marks outbox rows
//! expands what is pending first.

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use std::collections::HashSet;
use uuid::Uuid;

use super::{pack, unpack, BeginWrite, Result, Store, ROWS_PER_INSERT};

/// One envelope for some people's inboxes.
pub struct OutboxEnvelope {
    pub id: Uuid,
    /// Set for the envelopes of an alert, so receipts can be found by alert.
    pub alert_id: Option<Uuid>,
    pub payload: String,
    pub recipients: Vec<Uuid>,
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
    fn column(self) -> &'static str {
        match self {
            InboxStep::Sent => "sent_at",
            InboxStep::Delivered => "delivered_at",
            InboxStep::BrokerAccepted => "broker_accepted_at",
        }
    }
}

/// A stored inbox message one person has not received yet.
#[derive(sqlx::FromRow)]
pub struct OwedRow {
    pub envelope_id: Uuid,
    pub payload: String,
    pub sent_at: Option<DateTime<Utc>>,
}

/// A stored inbox message the broker has not acknowledged.
#[derive(sqlx::FromRow)]
pub struct Unaccepted {
    pub envelope_id: Uuid,
    pub user_id: Uuid,
    pub payload: String,
}

/// One recipient's receipt for an alert.
#[derive(sqlx::FromRow)]
pub struct ReceiptRow {
    pub user_id: Uuid,
    pub username: String,
    pub queued_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub broker_accepted_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// One recipient's WebSocket receipt for an alert.
#[derive(sqlx::FromRow)]
pub struct StreamReceiptRow {
    pub user_id: Uuid,
    pub username: String,
    pub delivered_at: DateTime<Utc>,
}

impl Store {
    /// Stores a batch of envelopes, each with its recipients as one list, in one transaction;
    /// [`Store::expand_inbox`] writes their outbox rows. The envelopes of a batch are a
    /// microsecond apart, so a person's messages keep their order.
    pub async fn queue_inbox(&self, batch: &[OutboxEnvelope], now: DateTime<Utc>) -> Result<()> {
        let at = |i: usize| now + chrono::Duration::microseconds(i as i64);
        on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            for (n, chunk) in batch.chunks(ROWS_PER_INSERT / 4).enumerate() {
                let first = n * (ROWS_PER_INSERT / 4);
                let mut q = QueryBuilder::new("INSERT INTO mqtt_envelopes (id, alert_id, payload, created_at) ");
                q.push_values(chunk.iter().enumerate(), |mut row, (i, e)| {
                    row.push_bind(e.id)
                        .push_bind(e.alert_id)
                        .push_bind(e.payload.as_str())
                        .push_bind(at(first + i));
                });
                q.build().execute(&mut *tx).await?;
                let mut q = QueryBuilder::new("INSERT INTO inbox_audiences (envelope_id, queued_at, recipients) ");
                q.push_values(chunk.iter().enumerate(), |mut row, (i, e)| {
                    row.push_bind(e.id)
                        .push_bind(at(first + i))
                        .push_bind(pack(&e.recipients));
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
        on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let lists: Vec<(Uuid, DateTime<Utc>, Vec<u8>)> = sqlx::query_as(claim).fetch_all(&mut *tx).await?;
            let rows: Vec<(Uuid, Uuid, DateTime<Utc>)> = lists
                .iter()
                .flat_map(|(envelope, queued_at, list)| {
                    unpack(list).into_iter().map(move |u| (*envelope, u, *queued_at))
                })
                .collect();
            for chunk in rows.chunks(ROWS_PER_INSERT / 3) {
                let mut q = QueryBuilder::new("INSERT INTO mqtt_outbox (envelope_id, user_id, queued_at) ");
                q.push_values(chunk, |mut row, (envelope, user, queued_at)| {
                    row.push_bind(*envelope).push_bind(*user).push_bind(*queued_at);
                });
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await.map(|()| lists.len())
        })
        .map_err(Into::into)
    }

    /// Records that inbox messages reached `step` (the first time counts), one statement per
    /// envelope and chunk, all in one transaction.
    pub async fn mark_inbox(&self, step: InboxStep, reached: &[(Uuid, Vec<Uuid>)], at: DateTime<Utc>) -> Result<()> {
        self.expand_inbox().await?;
        let column = step.column();
        on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            for (envelope, users) in reached {
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
        Ok(())
    }

    /// The alerts these envelopes carry (those that carry one).
    pub async fn alerts_of_envelopes(&self, envelopes: &[Uuid]) -> Result<Vec<Uuid>> {
        let mut alerts = Vec::new();
        for chunk in envelopes.chunks(ROWS_PER_INSERT) {
            let rows: Vec<(Uuid,)> = on_either!(self, |pool| {
                let mut q = QueryBuilder::new(
                    "SELECT DISTINCT alert_id FROM mqtt_envelopes WHERE alert_id IS NOT NULL AND id IN (",
                );
                let mut list = q.separated(", ");
                for envelope in chunk {
                    list.push_bind(*envelope);
                }
                q.push(")");
                q.build_query_as().fetch_all(pool).await
            })?;
            alerts.extend(rows.into_iter().map(|(a,)| a));
        }
        alerts.sort_unstable();
        alerts.dedup();
        Ok(alerts)
    }

    /// Every stored inbox message the broker never acknowledged, oldest first.
    pub async fn unaccepted_inbox(&self) -> Result<Vec<Unaccepted>> {
        self.expand_inbox().await?;
        let sql = "SELECT o.envelope_id, o.user_id, e.payload
                   FROM mqtt_outbox o JOIN mqtt_envelopes e ON e.id = o.envelope_id
                   WHERE o.broker_accepted_at IS NULL
                   ORDER BY o.queued_at";
        Ok(on_either!(self, |pool| sqlx::query_as(sql).fetch_all(pool).await)?)
    }

    /// How many inbox messages queued since `since` neither a device nor the external broker
    /// has acknowledged yet (the metrics' outbox backlog).
    pub async fn outbox_backlog(&self, since: DateTime<Utc>) -> Result<i64> {
        self.expand_inbox().await?;
        let sql = "SELECT COUNT(*) FROM mqtt_outbox
                   WHERE delivered_at IS NULL AND broker_accepted_at IS NULL AND queued_at >= $1";
        Ok(on_either!(self, |pool| sqlx::query_scalar(sql)
            .bind(since)
            .fetch_one(pool)
            .await)?)
    }

    /// What `user` is owed: messages queued since `since` that none of their devices has
    /// PUBACKed, oldest first, at most `limit`.
    pub async fn owed_inbox(&self, user: Uuid, since: DateTime<Utc>, limit: i64) -> Result<Vec<OwedRow>> {
        self.expand_inbox().await?;
        let sql = "SELECT o.envelope_id, e.payload, o.sent_at
                   FROM mqtt_outbox o JOIN mqtt_envelopes e ON e.id = o.envelope_id
                   WHERE o.user_id = $1 AND o.delivered_at IS NULL AND o.queued_at >= $2
                   ORDER BY o.queued_at
                   LIMIT $3";
        Ok(on_either!(self, |pool| sqlx::query_as(sql)
            .bind(user)
            .bind(since)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }

    /// Everyone owed an inbox message queued since `since` that no device has acknowledged.
    pub async fn owing(&self, since: DateTime<Utc>) -> Result<HashSet<Uuid>> {
        self.expand_inbox().await?;
        let sql = "SELECT DISTINCT user_id FROM mqtt_outbox WHERE delivered_at IS NULL AND queued_at >= $1";
        let rows: Vec<(Uuid,)> = on_either!(self, |pool| sqlx::query_as(sql).bind(since).fetch_all(pool).await)?;
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

    /// Every recipient of an alert with the first time each delivery step was reached.
    pub async fn delivery_receipts(&self, alert: Uuid) -> Result<Vec<ReceiptRow>> {
        self.expand_audience(alert).await?;
        self.expand_inbox().await?;
        let sql = "SELECT r.user_id, u.username,
                          MIN(o.queued_at) AS queued_at,
                          MIN(o.sent_at) AS sent_at,
                          MIN(o.delivered_at) AS delivered_at,
                          MIN(o.broker_accepted_at) AS broker_accepted_at,
                          MIN(a.acknowledged_at) AS acknowledged_at
                   FROM alert_recipients r
                   JOIN users u ON u.id = r.user_id
                   LEFT JOIN mqtt_envelopes e ON e.alert_id = r.alert_id
                   LEFT JOIN mqtt_outbox o ON o.envelope_id = e.id AND o.user_id = r.user_id
                   LEFT JOIN alert_acknowledgements a ON a.alert_id = r.alert_id AND a.user_id = r.user_id
                   WHERE r.alert_id = $1
                   GROUP BY r.user_id, u.username
                   ORDER BY u.username";
        Ok(on_either!(self, |pool| sqlx::query_as(sql)
            .bind(alert)
            .fetch_all(pool)
            .await)?)
    }

    /// Records completed WebSocket writes of alerts (alert, person, when); the first per alert
    /// and person counts.
    pub async fn record_stream_receipts(&self, delivered: &[(Uuid, Uuid, DateTime<Utc>)]) -> Result<()> {
        on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            for chunk in delivered.chunks(ROWS_PER_INSERT / 3) {
                let mut q = QueryBuilder::new("INSERT INTO stream_receipts (alert_id, user_id, delivered_at) ");
                q.push_values(chunk, |mut row, (alert, user, at)| {
                    row.push_bind(*alert).push_bind(*user).push_bind(*at);
                });
                q.push(" ON CONFLICT DO NOTHING");
                q.build().execute(&mut *tx).await?;
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
