//! The MQTT outbox (every inbox message, stored before it is published and marked when the
//! broker accepts it) and delivery receipts.

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::{Result, Store, ROWS_PER_INSERT};

/// One envelope for some people's inboxes.
pub struct OutboxEnvelope {
    pub id: Uuid,
    /// Set for the envelopes of an alert, so receipts can be found by alert.
    pub alert_id: Option<Uuid>,
    pub payload: String,
    pub recipients: Vec<Uuid>,
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
    pub broker_accepted_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Stores a batch of envelopes and one outbox row per recipient, in one transaction.
    pub async fn queue_inbox(&self, batch: &[OutboxEnvelope], now: DateTime<Utc>) -> Result<()> {
        let rows: Vec<(Uuid, Uuid)> = batch
            .iter()
            .flat_map(|e| e.recipients.iter().map(|u| (e.id, *u)))
            .collect();
        on_either!(self, |pool| {
            let mut tx = pool.begin().await?;
            for chunk in batch.chunks(ROWS_PER_INSERT / 4) {
                let mut q = QueryBuilder::new("INSERT INTO mqtt_envelopes (id, alert_id, payload, created_at) ");
                q.push_values(chunk, |mut row, e| {
                    row.push_bind(e.id)
                        .push_bind(e.alert_id)
                        .push_bind(e.payload.as_str())
                        .push_bind(now);
                });
                q.build().execute(&mut *tx).await?;
            }
            for chunk in rows.chunks(ROWS_PER_INSERT / 3) {
                let mut q = QueryBuilder::new("INSERT INTO mqtt_outbox (envelope_id, user_id, queued_at) ");
                q.push_values(chunk, |mut row, (envelope, user)| {
                    row.push_bind(*envelope).push_bind(*user).push_bind(now);
                });
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// Marks inbox messages as accepted by the broker, one statement per envelope and chunk.
    pub async fn mark_inbox_accepted(&self, accepted: &[(Uuid, Vec<Uuid>)], at: DateTime<Utc>) -> Result<()> {
        on_either!(self, |pool| {
            let mut tx = pool.begin().await?;
            for (envelope, users) in accepted {
                for chunk in users.chunks(ROWS_PER_INSERT) {
                    let mut q = QueryBuilder::new("UPDATE mqtt_outbox SET broker_accepted_at = ");
                    q.push_bind(at)
                        .push(" WHERE broker_accepted_at IS NULL AND envelope_id = ")
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

    /// Every stored inbox message the broker never acknowledged, oldest first.
    pub async fn unaccepted_inbox(&self) -> Result<Vec<Unaccepted>> {
        let sql = "SELECT o.envelope_id, o.user_id, e.payload
                   FROM mqtt_outbox o JOIN mqtt_envelopes e ON e.id = o.envelope_id
                   WHERE o.broker_accepted_at IS NULL
                   ORDER BY o.queued_at";
        Ok(on_either!(self, |pool| sqlx::query_as(sql).fetch_all(pool).await)?)
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
        let sql = "SELECT r.user_id, u.username,
                          MIN(o.queued_at) AS queued_at,
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
}
