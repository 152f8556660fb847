//! The audit trail: officer actions and account changes, newest first.

use chrono::{DateTime, Utc};
use scaan_schemas::AuditEntry;
use sqlx::types::Json;
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::{country_list, BeginWrite, Result, Store, ROWS_PER_INSERT};

impl Store {
    /// `actor_id`: the account that acted; `None` for the command line.
    pub async fn record_audit(&self, entry: &AuditEntry, actor_id: Option<Uuid>) -> Result<()> {
        let sql = "INSERT INTO audit (id, at, actor_id, actor, action, subject, countries, detail)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        on_either!(self, |pool| sqlx::query(sql)
            .bind(entry.id)
            .bind(entry.at)
            .bind(actor_id)
            .bind(&entry.actor)
            .bind(&entry.action)
            .bind(entry.subject)
            .bind(entry.countries.join(","))
            .bind(Json(&entry.detail))
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Newest first; with `accounts_only`, only what was done to accounts and sessions.
    pub async fn audit(&self, limit: u32, accounts_only: bool, subject: Option<Uuid>) -> Result<Vec<AuditEntry>> {
        let rows: Vec<AuditRow> = on_either!(self, |pool| {
            let mut q =
                QueryBuilder::new("SELECT id, at, actor, action, subject, countries, detail FROM audit WHERE 1 = 1");
            if accounts_only {
                q.push(" AND (action LIKE 'account.%' OR action LIKE 'session.%' OR action LIKE 'person.%')");
            }
            if let Some(subject) = subject {
                q.push(" AND subject = ").push_bind(subject);
            }
            q.push(" ORDER BY at DESC LIMIT ").push_bind(i64::from(limit));
            q.build_query_as().fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Records many entries by one actor in one transaction (one commit for a whole view).
    pub async fn record_audits(&self, entries: &[AuditEntry], actor_id: Option<Uuid>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            for chunk in entries.chunks(ROWS_PER_INSERT / 8) {
                let mut q = QueryBuilder::new(
                    "INSERT INTO audit (id, at, actor_id, actor, action, subject, countries, detail) ",
                );
                q.push_values(chunk, |mut row, e| {
                    row.push_bind(e.id)
                        .push_bind(e.at)
                        .push_bind(actor_id)
                        .push_bind(&e.actor)
                        .push_bind(&e.action)
                        .push_bind(e.subject)
                        .push_bind(e.countries.join(","))
                        .push_bind(Json(&e.detail));
                });
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// The entries of one action done to one subject, newest first, at most `limit`.
    pub async fn audit_of(&self, action: &str, subject: Uuid, limit: u32) -> Result<Vec<AuditEntry>> {
        let sql = "SELECT id, at, actor, action, subject, countries, detail FROM audit
                   WHERE action = $1 AND subject = $2 ORDER BY at DESC LIMIT $3";
        let rows: Vec<AuditRow> = on_either!(self, |pool| sqlx::query_as(sql)
            .bind(action)
            .bind(subject)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    id: Uuid,
    at: DateTime<Utc>,
    actor: String,
    action: String,
    subject: Uuid,
    countries: String,
    detail: Json<serde_json::Value>,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> AuditEntry {
        AuditEntry {
            id: r.id,
            at: r.at,
            actor: r.actor,
            action: r.action,
            subject: r.subject,
            countries: country_list(&r.countries),
            detail: r.detail.0,
        }
    }
}
