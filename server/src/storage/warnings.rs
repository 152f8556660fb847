//! Outside warnings: the followed feeds (with what their servers last said, for conditional
//! requests), every fetch, the index entries already read, the warnings, and every CAP message
//! applied to them.

use chrono::{DateTime, Utc};
use scaan_schemas::{FeedFetch, Warning, WarningFeed, WarningState};
use sqlx::types::Json;
use uuid::Uuid;

use super::{BeginWrite, Conflict, Result, Store, StoreError};

/// What a feed's server said last, for the next conditional request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// A CAP message by what names it: `(sender, identifier, sent)`.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageKey {
    pub sender: String,
    pub identifier: String,
    pub sent: DateTime<Utc>,
}

impl MessageKey {
    pub fn of(warning: &Warning) -> MessageKey {
        MessageKey {
            sender: warning.sender.clone(),
            identifier: warning.identifier.clone(),
            sent: warning.sent,
        }
    }
}

/// Records a message as applied to a warning.
const INSERT_MESSAGE: &str =
    "INSERT INTO warning_messages (sender, identifier, sent, warning_id) VALUES ($1, $2, $3, $4)";

impl Store {
    /// Adds a feed; [`Conflict::FeedFollowed`] when its URL is followed already.
    pub async fn insert_feed(&self, feed: &WarningFeed) -> Result<()> {
        let sql = "INSERT INTO warning_feeds (id, url, next_poll_at, body) VALUES ($1, $2, $3, $4)";
        on_either!(self, |pool| sqlx::query(sql)
            .bind(feed.id)
            .bind(&feed.url)
            .bind(feed.next_poll_at)
            .bind(Json(feed))
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    pub async fn feeds(&self) -> Result<Vec<WarningFeed>> {
        let sql = "SELECT body FROM warning_feeds ORDER BY url";
        let rows: Vec<(Json<WarningFeed>,)> = on_either!(self, |pool| sqlx::query_as(sql).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|(Json(f),)| f).collect())
    }

    pub async fn feed(&self, id: Uuid) -> Result<Option<WarningFeed>> {
        let sql = "SELECT body FROM warning_feeds WHERE id = $1";
        let row: Option<(Json<WarningFeed>,)> =
            on_either!(self, |pool| sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?;
        Ok(row.map(|(Json(f),)| f))
    }

    /// Stops following a feed; its warnings and fetches stay as history. Whether it existed.
    pub async fn delete_feed(&self, id: Uuid) -> Result<bool> {
        let feed = "DELETE FROM warning_feeds WHERE id = $1";
        let entries = "DELETE FROM warning_feed_entries WHERE feed_id = $1";
        on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let deleted = sqlx::query(feed).bind(id).execute(&mut *tx).await?.rows_affected();
            sqlx::query(entries).bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(deleted > 0)
        })
    }

    /// The feeds whose next poll is due at `now`, soonest first, with their validators.
    pub async fn due_feeds(&self, now: DateTime<Utc>) -> Result<Vec<(WarningFeed, Validators)>> {
        let sql = "SELECT body, etag, last_modified FROM warning_feeds WHERE next_poll_at <= $1 ORDER BY next_poll_at";
        let rows: Vec<(Json<WarningFeed>, Option<String>, Option<String>)> =
            on_either!(self, |pool| sqlx::query_as(sql).bind(now).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(Json(feed), etag, last_modified)| (feed, Validators { etag, last_modified }))
            .collect())
    }

    /// Records a fetch and the feed's state after it (failures, next poll, validators). A feed
    /// deleted meanwhile keeps only the fetch. Only the poll's own fields are taken from `feed`:
    /// the poll began from an earlier copy, and the rest is read again under the write (an
    /// erasure meanwhile replaced who added it, which the earlier copy would write back).
    pub async fn record_fetch(&self, feed: &WarningFeed, validators: &Validators, fetch: &FeedFetch) -> Result<()> {
        // PostgreSQL: the row is locked from the read to the write, as the erasure locks it.
        let read = match self {
            Store::Sqlite(_) => "SELECT body FROM warning_feeds WHERE id = $1",
            Store::Postgres(_) => "SELECT body FROM warning_feeds WHERE id = $1 FOR UPDATE",
        };
        let update =
            "UPDATE warning_feeds SET next_poll_at = $2, etag = $3, last_modified = $4, body = $5 WHERE id = $1";
        let insert = "INSERT INTO warning_fetches (feed_id, at, body) VALUES ($1, $2, $3)";
        on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let stored: Option<(Json<WarningFeed>,)> =
                sqlx::query_as(read).bind(feed.id).fetch_optional(&mut *tx).await?;
            if let Some((Json(stored),)) = stored {
                let polled = WarningFeed {
                    failures: feed.failures,
                    next_poll_at: feed.next_poll_at,
                    last_success_at: feed.last_success_at,
                    last_error: feed.last_error.clone(),
                    ..stored
                };
                sqlx::query(update)
                    .bind(feed.id)
                    .bind(feed.next_poll_at)
                    .bind(validators.etag.as_deref())
                    .bind(validators.last_modified.as_deref())
                    .bind(Json(polled))
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(insert)
                .bind(fetch.feed_id)
                .bind(fetch.at)
                .bind(Json(fetch))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })
    }

    /// A feed's fetches, newest first.
    pub async fn fetches(&self, feed_id: Uuid, limit: u32) -> Result<Vec<FeedFetch>> {
        let sql = "SELECT body FROM warning_fetches WHERE feed_id = $1 ORDER BY id DESC LIMIT $2";
        let rows: Vec<(Json<FeedFetch>,)> = on_either!(self, |pool| sqlx::query_as(sql)
            .bind(feed_id)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(|(Json(f),)| f).collect())
    }

    /// Whether this index entry was read already.
    pub async fn feed_entry_read(&self, feed_id: Uuid, entry: &str) -> Result<bool> {
        let sql = "SELECT 1 FROM warning_feed_entries WHERE feed_id = $1 AND entry = $2";
        let row: Option<(i32,)> = on_either!(self, |pool| sqlx::query_as(sql)
            .bind(feed_id)
            .bind(entry)
            .fetch_optional(pool)
            .await)?;
        Ok(row.is_some())
    }

    pub async fn mark_feed_entry_read(&self, feed_id: Uuid, entry: &str) -> Result<()> {
        let sql = "INSERT INTO warning_feed_entries (feed_id, entry) VALUES ($1, $2) ON CONFLICT DO NOTHING";
        on_either!(self, |pool| sqlx::query(sql)
            .bind(feed_id)
            .bind(entry)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Whether this exact message was applied already.
    pub async fn warning_message_known(&self, key: &MessageKey) -> Result<bool> {
        let sql = "SELECT 1 FROM warning_messages WHERE sender = $1 AND identifier = $2 AND sent = $3";
        let row: Option<(i32,)> = on_either!(self, |pool| sqlx::query_as(sql)
            .bind(&key.sender)
            .bind(&key.identifier)
            .bind(key.sent)
            .fetch_optional(pool)
            .await)?;
        Ok(row.is_some())
    }

    /// The warning a message of `sender` and `identifier` was applied to, with its row version.
    pub async fn warning_of_message(&self, sender: &str, identifier: &str) -> Result<Option<(Warning, i64)>> {
        let sql = "SELECT w.body, w.row_version FROM warning_messages m JOIN warnings w ON w.id = m.warning_id
                   WHERE m.sender = $1 AND m.identifier = $2 ORDER BY m.sent DESC LIMIT 1";
        let row: Option<(Json<Warning>, i64)> = on_either!(self, |pool| sqlx::query_as(sql)
            .bind(sender)
            .bind(identifier)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(|(Json(w), v)| (w, v)))
    }

    /// Stores a new warning and the message that brought it.
    pub async fn insert_warning(&self, warning: &Warning) -> Result<()> {
        let sql = "INSERT INTO warnings (id, withdrawn, expires_at, updated_at, countries, alert_id, row_version, body)
                   VALUES ($1, $2, $3, $4, $5, $6, 1, $7)";
        let key = MessageKey::of(warning);
        on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(sql)
                .bind(warning.id)
                .bind(warning.state == WarningState::Withdrawn)
                .bind(warning.expires)
                .bind(warning.updated_at)
                .bind(warning.countries.join(","))
                .bind(warning.alert_id)
                .bind(Json(warning))
                .execute(&mut *tx)
                .await?;
            sqlx::query(INSERT_MESSAGE)
                .bind(&key.sender)
                .bind(&key.identifier)
                .bind(key.sent)
                .bind(warning.id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })
    }

    /// Stores a changed warning unless it was written since `row_version` was read
    /// ([`Conflict::ChangedMeanwhile`]); with the message that changed it, if one did.
    pub async fn update_warning(
        &self,
        warning: &Warning,
        row_version: i64,
        applied: Option<&MessageKey>,
    ) -> Result<()> {
        let sql = "UPDATE warnings SET withdrawn = $2, expires_at = $3, updated_at = $4, countries = $5, alert_id = $6,
                   row_version = row_version + 1, body = $7 WHERE id = $1 AND row_version = $8";
        on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let changed = sqlx::query(sql)
                .bind(warning.id)
                .bind(warning.state == WarningState::Withdrawn)
                .bind(warning.expires)
                .bind(warning.updated_at)
                .bind(warning.countries.join(","))
                .bind(warning.alert_id)
                .bind(Json(warning))
                .bind(row_version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if changed == 0 {
                return Err(StoreError::Conflict(Conflict::ChangedMeanwhile));
            }
            if let Some(key) = applied {
                sqlx::query(INSERT_MESSAGE)
                    .bind(&key.sender)
                    .bind(&key.identifier)
                    .bind(key.sent)
                    .bind(warning.id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// A warning and its row version.
    pub async fn warning(&self, id: Uuid) -> Result<Option<(Warning, i64)>> {
        let sql = "SELECT body, row_version FROM warnings WHERE id = $1";
        let row: Option<(Json<Warning>, i64)> =
            on_either!(self, |pool| sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?;
        Ok(row.map(|(Json(w), v)| (w, v)))
    }

    /// Warnings, most recently changed first: those current at `current_at` (neither
    /// withdrawn nor expired), or all.
    pub async fn warnings(&self, current_at: Option<DateTime<Utc>>, limit: u32) -> Result<Vec<Warning>> {
        let all = "SELECT body FROM warnings ORDER BY updated_at DESC LIMIT $1";
        let current = "SELECT body FROM warnings
                       WHERE withdrawn = $2 AND (expires_at IS NULL OR expires_at > $3)
                       ORDER BY updated_at DESC LIMIT $1";
        let rows: Vec<(Json<Warning>,)> = on_either!(self, |pool| match current_at {
            None => sqlx::query_as(all).bind(i64::from(limit)).fetch_all(pool).await,
            Some(now) => {
                sqlx::query_as(current)
                    .bind(i64::from(limit))
                    .bind(false)
                    .bind(now)
                    .fetch_all(pool)
                    .await
            }
        })?;
        Ok(rows.into_iter().map(|(Json(w),)| w).collect())
    }
}
