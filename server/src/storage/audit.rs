//! The audit trail: officer actions and account changes, newest first.

use chrono::{DateTime, Utc};
use scaan_schemas::AuditEntry;
use sqlx::types::Json;
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::{country_list, Result, Store};

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
        #[derive(sqlx::FromRow)]
        struct Row {
            id: Uuid,
            at: DateTime<Utc>,
            actor: String,
            action: String,
            subject: Uuid,
            countries: String,
            detail: Json<serde_json::Value>,
        }
        let rows: Vec<Row> = on_either!(self, |pool| {
            let mut q =
                QueryBuilder::new("SELECT id, at, actor, action, subject, countries, detail FROM audit WHERE 1 = 1");
            if accounts_only {
                q.push(" AND (action LIKE 'account.%' OR action LIKE 'session.%')");
            }
            if let Some(subject) = subject {
                q.push(" AND subject = ").push_bind(subject);
            }
            q.push(" ORDER BY at DESC LIMIT ").push_bind(i64::from(limit));
            q.build_query_as().fetch_all(pool).await
        })?;
        Ok(rows
            .into_iter()
            .map(|r| AuditEntry {
                id: r.id,
                at: r.at,
                actor: r.actor,
                action: r.action,
                subject: r.subject,
                countries: country_list(&r.countries),
                detail: r.detail.0,
            })
            .collect())
    }
}
