//! The node events: what one hub node did that the others apply to what they hold in memory
//! (see [`crate::nodes`]).

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::{BeginWrite, Result, Store, ROWS_PER_INSERT};

/// The channel on which a node announces that it wrote events (PostgreSQL's `NOTIFY`).
pub const NODE_EVENTS_CHANNEL: &str = "scaan_node_events";

/// One stored node event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NodeEventRow {
    pub id: i64,
    pub node: Uuid,
    pub kind: String,
    pub body: String,
}

impl Store {
    /// Stores events `node` wrote (`(kind, body)` each), and on PostgreSQL wakes the other
    /// nodes (the notification carries nothing: a payload is limited to 8000 bytes, and a
    /// node reads what is new from the table whichever notification woke it).
    pub async fn share_node_events(&self, node: Uuid, events: &[(&str, String)], now: DateTime<Utc>) -> Result<()> {
        on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            for chunk in events.chunks(ROWS_PER_INSERT / 4) {
                let mut q = QueryBuilder::new("INSERT INTO node_events (node, kind, body, at) ");
                q.push_values(chunk, |mut row, (kind, body)| {
                    row.push_bind(node)
                        .push_bind(*kind)
                        .push_bind(body.as_str())
                        .push_bind(now);
                });
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await
        })?;
        if let Store::Postgres(pool) = self {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(NODE_EVENTS_CHANNEL)
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// The events after `id`, oldest first, `limit` at most.
    pub async fn node_events_after(&self, id: i64, limit: i64) -> Result<Vec<NodeEventRow>> {
        let sql = "SELECT id, node, kind, body FROM node_events WHERE id > $1 ORDER BY id LIMIT $2";
        Ok(on_either!(self, |pool| sqlx::query_as(sql)
            .bind(id)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }

    /// The last event's id (0 when there is none).
    pub async fn last_node_event(&self) -> Result<i64> {
        let sql = "SELECT COALESCE(MAX(id), 0) FROM node_events";
        let (id,): (i64,) = on_either!(self, |pool| sqlx::query_as(sql).fetch_one(pool).await)?;
        Ok(id)
    }

    /// Deletes the events written before `before`; returns how many.
    pub async fn prune_node_events(&self, before: DateTime<Utc>) -> Result<u64> {
        let sql = "DELETE FROM node_events WHERE at < $1";
        Ok(on_either!(self, |pool| sqlx::query(sql)
            .bind(before)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?)
    }
}
