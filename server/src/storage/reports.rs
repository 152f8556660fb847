//! Incident reports, and the accounts allowed to read restricted ones.

use chrono::{DateTime, Utc};
use scaan_schemas::{Report, ReportStatus, User};
use sqlx::types::Json;
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::{Conflict, Result, Store, StoreError, UserRow, USER_COLUMNS};

/// Which reports a caller may list.
#[derive(Debug, Clone)]
pub struct ReportScope {
    /// Only this person's own reports.
    pub reporter: Option<Uuid>,
    /// Only reports in these countries; `None` for every country and the sea.
    pub countries: Option<Vec<String>>,
    /// Whether restricted reports are included (the reporter's own always are).
    pub restricted: bool,
}

impl Store {
    pub async fn insert_report(&self, report: &Report) -> Result<()> {
        let sql = "INSERT INTO reports (id, reporter_id, status, country, restricted, reported_at, revision, body)
                   VALUES ($1, $2, $3, $4, $5, $6, 1, $7)";
        on_either!(self, |pool| sqlx::query(sql)
            .bind(report.id)
            .bind(report.reporter_id)
            .bind(report.status.as_str())
            .bind(report.country.as_deref())
            .bind(report.restricted)
            .bind(report.reported_at)
            .bind(Json(report))
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Stores a changed report unless someone changed it since `revision` was read.
    pub async fn update_report(&self, report: &Report, revision: i64) -> Result<()> {
        let sql = "UPDATE reports SET status = $2, revision = revision + 1, body = $3 WHERE id = $1 AND revision = $4";
        let changed = on_either!(self, |pool| sqlx::query(sql)
            .bind(report.id)
            .bind(report.status.as_str())
            .bind(Json(report))
            .bind(revision)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        if changed == 0 {
            return Err(StoreError::Conflict(Conflict::ChangedMeanwhile));
        }
        Ok(())
    }

    /// A report and its revision.
    pub async fn report(&self, id: Uuid) -> Result<Option<(Report, i64)>> {
        let sql = "SELECT body, revision FROM reports WHERE id = $1";
        let row: Option<(Json<Report>, i64)> =
            on_either!(self, |pool| sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?;
        Ok(row.map(|(Json(r), revision)| (r, revision)))
    }

    /// Newest first, optionally only those at `status`.
    pub async fn reports(&self, scope: &ReportScope, status: Option<ReportStatus>, limit: u32) -> Result<Vec<Report>> {
        // No countries is no report; and `country IN ()` is no SQL PostgreSQL accepts.
        if matches!(&scope.countries, Some(c) if c.is_empty()) {
            return Ok(Vec::new());
        }
        let rows: Vec<(Json<Report>,)> = on_either!(self, |pool| {
            let mut q = QueryBuilder::new("SELECT body FROM reports WHERE 1 = 1");
            if let Some(reporter) = scope.reporter {
                q.push(" AND reporter_id = ").push_bind(reporter);
            }
            if let Some(countries) = &scope.countries {
                q.push(" AND country IN (");
                let mut list = q.separated(", ");
                for c in countries {
                    list.push_bind(c);
                }
                q.push(")");
            }
            if !scope.restricted && scope.reporter.is_none() {
                q.push(" AND restricted = ").push_bind(false);
            }
            if let Some(status) = status {
                q.push(" AND status = ").push_bind(status.as_str());
            }
            q.push(" ORDER BY reported_at DESC LIMIT ").push_bind(i64::from(limit));
            q.build_query_as().fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(|(Json(r),)| r).collect())
    }

    pub async fn has_sensitive_access(&self, user: Uuid) -> Result<bool> {
        let sql = "SELECT 1 FROM sensitive_access WHERE user_id = $1";
        let row: Option<(i32,)> = on_either!(self, |pool| sqlx::query_as(sql).bind(user).fetch_optional(pool).await)?;
        Ok(row.is_some())
    }

    /// Grants or withdraws access to restricted reports.
    pub async fn set_sensitive_access(&self, user: Uuid, granted: bool, by: Uuid, at: DateTime<Utc>) -> Result<()> {
        let grant = "INSERT INTO sensitive_access (user_id, granted_by, granted_at) VALUES ($1, $2, $3)
                     ON CONFLICT (user_id) DO NOTHING";
        let withdraw = "DELETE FROM sensitive_access WHERE user_id = $1";
        on_either!(self, |pool| if granted {
            sqlx::query(grant)
                .bind(user)
                .bind(by)
                .bind(at)
                .execute(pool)
                .await
                .map(|_| ())
        } else {
            sqlx::query(withdraw).bind(user).execute(pool).await.map(|_| ())
        })?;
        Ok(())
    }

    /// Every account with access to restricted reports.
    pub async fn sensitive_accounts(&self) -> Result<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id IN (SELECT user_id FROM sensitive_access)");
        let rows: Vec<UserRow> = on_either!(self, |pool| sqlx::query_as(&sql).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
