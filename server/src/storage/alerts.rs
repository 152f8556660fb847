//! Alerts (every revision's body), the countries each reaches, and the people it was sent to.
//!
//! A new alert's recipients are stored as one list in the transaction its sender waits for
//! (`alert_audiences`); their rows in `alert_recipients`, which also hold each person's
//! standing in the headcount, are written from it afterwards ([`Store::expand_audience`]).
//! Every query here that reads those rows expands the alert's list first if it is pending.

use chrono::{DateTime, Utc};
use scaan_schemas::Alert;
use sqlx::types::Json;
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::{pack, BeginWrite, Conflict, Page, Result, Store, StoreError};

/// Which alerts a caller may list.
#[derive(Debug, Clone)]
pub enum AlertScope {
    All,
    /// Alerts reaching any of these countries.
    Countries(Vec<String>),
    /// Alerts sent to this person.
    Recipient(Uuid),
}

/// Which of the alerts in scope to list.
#[derive(Debug, Clone, Copy)]
pub enum AlertState {
    Any,
    /// Unexpired and uncancelled at this moment.
    ActiveAt(DateTime<Utc>),
    /// Cancelled (the console's history).
    Cancelled,
}

/// Inserts an alert's countries inside a transaction (both backends).
macro_rules! insert_countries {
    ($tx:expr, $alert:expr) => {
        if !$alert.countries.is_empty() {
            let mut q = QueryBuilder::new("INSERT INTO alert_countries (alert_id, country) ");
            q.push_values(&$alert.countries, |mut row, c| {
                row.push_bind($alert.id).push_bind(c);
            });
            q.build().execute($tx).await?;
        }
    };
}

impl Store {
    /// Inserts the people of a [`super::pack`]ed list (`$2`) as recipients of alert `$1`,
    /// skipping people already recorded for it; each is owed the alert's revisions from `$3`
    /// on (see [`super::mqtt`]).
    fn insert_recipients(&self) -> String {
        format!(
            "INSERT INTO alert_recipients (alert_id, user_id, owed_from) SELECT $1, user_id, $3 FROM {} \
             WHERE true ON CONFLICT DO NOTHING",
            self.people(2, None)
        )
    }

    /// Stores a new alert with the countries it reaches and the people it was sent to, at once:
    /// the people as one list, whose rows [`Store::expand_audience`] writes.
    pub async fn insert_alert(&self, alert: &Alert, recipients: &[Uuid]) -> Result<()> {
        let sql =
            "INSERT INTO alerts (id, revision, sent_at, expires_at, cancelled, body) VALUES ($1, $2, $3, $4, $5, $6)";
        let audience = "INSERT INTO alert_audiences (alert_id, recipients) VALUES ($1, $2)";
        on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(sql)
                .bind(alert.id)
                .bind(i64::from(alert.revision))
                .bind(alert.sent_at)
                .bind(alert.content.expires_at)
                .bind(false)
                .bind(Json(alert))
                .execute(&mut *tx)
                .await?;
            insert_countries!(&mut *tx, alert);
            if !recipients.is_empty() {
                sqlx::query(audience)
                    .bind(alert.id)
                    .bind(pack(recipients))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// Writes the rows of the alert's recipient list, if it is still a list: in one
    /// transaction that also deletes the list, so that of two callers at once the second
    /// (waiting on the first's lock) finds nothing left to do.
    pub async fn expand_audience(&self, alert: Uuid) -> Result<()> {
        // A look first: most reads find nothing pending, and a write transaction for nothing
        // would queue behind every other writer on SQLite.
        let sql = "SELECT 1 FROM alert_audiences WHERE alert_id = $1";
        let pending: Option<(i32,)> =
            on_either!(self, |pool| sqlx::query_as(sql).bind(alert).fetch_optional(pool).await)?;
        if pending.is_none() {
            return Ok(());
        }
        let claim = "DELETE FROM alert_audiences WHERE alert_id = $1 RETURNING recipients";
        let insert = self.insert_recipients();
        on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let list: Option<(Vec<u8>,)> = sqlx::query_as(claim).bind(alert).fetch_optional(&mut *tx).await?;
            if let Some((list,)) = list {
                let query = sqlx::query(&insert).bind(alert).bind(list).bind(1i64);
                query.execute(&mut *tx).await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// [`Store::expand_audience`] for every alert whose list is pending; returns how many.
    pub async fn expand_audiences(&self) -> Result<usize> {
        let sql = "SELECT alert_id FROM alert_audiences";
        let pending: Vec<(Uuid,)> = on_either!(self, |pool| sqlx::query_as(sql).fetch_all(pool).await)?;
        for (alert,) in &pending {
            self.expand_audience(*alert).await?;
        }
        Ok(pending.len())
    }

    /// Stores a new revision of an alert, provided nobody stored another since `previous`, and
    /// adds the people the new revision reaches for the first time.
    pub async fn update_alert(&self, alert: &Alert, previous: u32, new_recipients: &[Uuid]) -> Result<()> {
        let sql = "UPDATE alerts SET revision = $2, expires_at = $3, cancelled = $4, body = $5 WHERE id = $1 AND revision = $6";
        let cancelled = alert.msg_type == scaan_schemas::MsgType::Cancel;
        let insert = self.insert_recipients();
        on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let changed = sqlx::query(sql)
                .bind(alert.id)
                .bind(i64::from(alert.revision))
                .bind(alert.content.expires_at)
                .bind(cancelled)
                .bind(Json(alert))
                .bind(i64::from(previous))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if changed == 0 {
                return Err(StoreError::Conflict(Conflict::ChangedMeanwhile));
            }
            sqlx::query("DELETE FROM alert_countries WHERE alert_id = $1")
                .bind(alert.id)
                .execute(&mut *tx)
                .await?;
            insert_countries!(&mut *tx, alert);
            let added = sqlx::query(&insert).bind(alert.id).bind(pack(new_recipients));
            added.bind(i64::from(alert.revision)).execute(&mut *tx).await?;
            if cancelled {
                // A text still owed for a cancelled alert would ask people to answer an alert
                // that is over: it is withheld, as one over the ceiling is (one being handed
                // to the gateway at this moment goes).
                sqlx::query(&super::texts::withhold_cancelled())
                    .bind(alert.id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    pub async fn alert(&self, id: Uuid) -> Result<Option<Alert>> {
        let sql = "SELECT body FROM alerts WHERE id = $1";
        let row: Option<(Json<Alert>,)> =
            on_either!(self, |pool| sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?;
        Ok(row.map(|(Json(a),)| a))
    }

    /// Newest first; with `active_at`, only alerts neither cancelled nor expired at that time.
    pub async fn alerts(&self, scope: &AlertScope, state: AlertState, page: Page) -> Result<Vec<Alert>> {
        if matches!(scope, AlertScope::Countries(c) if c.is_empty()) {
            return Ok(Vec::new());
        }
        if matches!(scope, AlertScope::Recipient(_)) {
            self.expand_audiences().await?;
        }
        let rows: Vec<(Json<Alert>,)> = on_either!(self, |pool| {
            let mut q = QueryBuilder::new("SELECT body FROM alerts WHERE 1 = 1");
            match scope {
                AlertScope::All => {}
                AlertScope::Countries(countries) => {
                    q.push(" AND id IN (SELECT alert_id FROM alert_countries WHERE country IN (");
                    let mut list = q.separated(", ");
                    for c in countries {
                        list.push_bind(c);
                    }
                    q.push("))");
                }
                AlertScope::Recipient(user) => {
                    // Through each alert's own rows: SQLite has no index by person (its migration 0023).
                    q.push(
                        " AND EXISTS (SELECT 1 FROM alert_recipients r WHERE r.alert_id = alerts.id AND r.user_id = ",
                    )
                    .push_bind(*user)
                    .push(")");
                }
            }
            match state {
                AlertState::Any => {}
                AlertState::ActiveAt(now) => {
                    q.push(" AND cancelled = ")
                        .push_bind(false)
                        .push(" AND expires_at > ")
                        .push_bind(now);
                }
                AlertState::Cancelled => {
                    q.push(" AND cancelled = ").push_bind(true);
                }
            }
            if let Some(before) = page.before {
                q.push(" AND sent_at < ").push_bind(before);
            }
            q.push(" ORDER BY sent_at DESC LIMIT ").push_bind(i64::from(page.limit));
            q.build_query_as().fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(|(Json(a),)| a).collect())
    }

    /// Everyone an alert was sent to, over all its revisions.
    pub async fn alert_recipients(&self, alert: Uuid) -> Result<Vec<Uuid>> {
        self.expand_audience(alert).await?;
        let sql = "SELECT user_id FROM alert_recipients WHERE alert_id = $1";
        let rows: Vec<(Uuid,)> = on_either!(self, |pool| sqlx::query_as(sql).bind(alert).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|(u,)| u).collect())
    }

    /// Adds people to an alert's recipients (late arrivals); returns those not already there.
    pub async fn add_recipients(&self, alert: Uuid, users: &[Uuid]) -> Result<Vec<Uuid>> {
        self.expand_audience(alert).await?;
        let mut added = Vec::new();
        // Their copy of the current revision goes by its own outbox row; they are owed the
        // revisions after it.
        let sql = "INSERT INTO alert_recipients (alert_id, user_id, owed_from)
                   SELECT $1, $2, revision + 1 FROM alerts WHERE id = $1 ON CONFLICT DO NOTHING";
        for user in users {
            let n = on_either!(self, |pool| sqlx::query(sql)
                .bind(alert)
                .bind(*user)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()))?;
            if n > 0 {
                added.push(*user);
            }
        }
        Ok(added)
    }

    pub async fn is_recipient(&self, alert: Uuid, user: Uuid) -> Result<bool> {
        self.expand_audience(alert).await?;
        let sql = "SELECT 1 FROM alert_recipients WHERE alert_id = $1 AND user_id = $2";
        let row: Option<(i32,)> = on_either!(self, |pool| sqlx::query_as(sql)
            .bind(alert)
            .bind(user)
            .fetch_optional(pool)
            .await)?;
        Ok(row.is_some())
    }
}
