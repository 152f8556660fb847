//! SOS calls: each call's body, its status, and when it was last announced (for reminders).

use chrono::{DateTime, Utc};
use scaan_schemas::{Sos, SosStatus};
use sqlx::types::Json;
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::{BeginWrite, Conflict, Page, Result, Store, StoreError};

/// Which SOS calls a caller may list.
#[derive(Debug, Clone)]
pub enum SosScope {
    All,
    /// Calls followed by the officers of any of these countries.
    Countries(Vec<String>),
    /// This person's own calls.
    RaisedBy(Uuid),
}

impl Store {
    pub async fn insert_sos(&self, sos: &Sos) -> Result<()> {
        let sql =
            "INSERT INTO sos (id, staff_id, status, raised_at, announced_at, body) VALUES ($1, $2, $3, $4, $4, $5)";
        let countries = "INSERT INTO sos_countries (sos_id, country) VALUES ($1, $2) ON CONFLICT DO NOTHING";
        on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(sql)
                .bind(sos.id)
                .bind(sos.staff_id)
                .bind(sos.status.as_str())
                .bind(sos.raised_at)
                .bind(Json(sos))
                .execute(&mut *tx)
                .await?;
            for country in &sos.countries {
                sqlx::query(countries)
                    .bind(sos.id)
                    .bind(country)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// Stores a changed SOS unless its status moved on since it was read (`Conflict`).
    pub async fn update_sos(&self, sos: &Sos, previous: SosStatus, announced_at: DateTime<Utc>) -> Result<()> {
        let sql = "UPDATE sos SET status = $2, announced_at = $3, body = $4 WHERE id = $1 AND status = $5";
        let changed = on_either!(self, |pool| sqlx::query(sql)
            .bind(sos.id)
            .bind(sos.status.as_str())
            .bind(announced_at)
            .bind(Json(sos))
            .bind(previous.as_str())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        if changed == 0 {
            return Err(StoreError::Conflict(Conflict::SosChanged));
        }
        Ok(())
    }

    pub async fn sos(&self, id: Uuid) -> Result<Option<(Sos, DateTime<Utc>)>> {
        let sql = "SELECT body, announced_at FROM sos WHERE id = $1";
        let row: Option<(Json<Sos>, DateTime<Utc>)> =
            on_either!(self, |pool| sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?;
        Ok(row.map(|(Json(s), at)| (s, at)))
    }

    /// Those in scope, newest first, optionally only those at `status`.
    pub async fn sos_list(&self, scope: &SosScope, status: Option<SosStatus>, page: Page) -> Result<Vec<Sos>> {
        if matches!(scope, SosScope::Countries(c) if c.is_empty()) {
            return Ok(Vec::new());
        }
        let rows: Vec<(Json<Sos>,)> = on_either!(self, |pool| {
            let mut q = QueryBuilder::new("SELECT body FROM sos WHERE 1 = 1");
            match scope {
                SosScope::All => {}
                SosScope::Countries(countries) => {
                    q.push(" AND id IN (SELECT sos_id FROM sos_countries WHERE country IN (");
                    let mut list = q.separated(", ");
                    for c in countries {
                        list.push_bind(c);
                    }
                    q.push("))");
                }
                SosScope::RaisedBy(staff) => {
                    q.push(" AND staff_id = ").push_bind(*staff);
                }
            }
            if let Some(status) = status {
                q.push(" AND status = ").push_bind(status.as_str());
            }
            if let Some(before) = page.before {
                q.push(" AND raised_at < ").push_bind(before);
            }
            q.push(" ORDER BY raised_at DESC LIMIT ")
                .push_bind(i64::from(page.limit));
            q.build_query_as().fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(|(Json(s),)| s).collect())
    }

    /// A person's SOS calls not yet resolved, with when each was last announced.
    pub async fn unresolved_sos_of(&self, staff: Uuid) -> Result<Vec<(Sos, DateTime<Utc>)>> {
        let sql = "SELECT body, announced_at FROM sos WHERE staff_id = $1 AND status <> 'resolved'";
        let rows: Vec<(Json<Sos>, DateTime<Utc>)> =
            on_either!(self, |pool| sqlx::query_as(sql).bind(staff).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|(Json(s), at)| (s, at)).collect())
    }

    /// Open SOS calls last announced before `before`: due for a reminder.
    pub async fn sos_unacknowledged_since(&self, before: DateTime<Utc>) -> Result<Vec<Sos>> {
        let sql = "SELECT body FROM sos WHERE status = 'open' AND announced_at < $1";
        let rows: Vec<(Json<Sos>,)> = on_either!(self, |pool| sqlx::query_as(sql).bind(before).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|(Json(s),)| s).collect())
    }
}
