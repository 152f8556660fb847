//! Country advisories: the current one per country, and every version in its history.

use scaan_schemas::Advisory;
use sqlx::types::Json;

use super::{BeginWrite, Conflict, Result, Store, StoreError};

impl Store {
    pub async fn advisory(&self, country: &str) -> Result<Option<Advisory>> {
        let sql = "SELECT body FROM advisories WHERE country = $1";
        let row: Option<(Json<Advisory>,)> = on_either!(self, |pool| sqlx::query_as(sql)
            .bind(country)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(|(Json(a),)| a))
    }

    /// Every country's current advisory, by country code.
    pub async fn advisories(&self) -> Result<Vec<Advisory>> {
        let sql = "SELECT body FROM advisories ORDER BY country";
        let rows: Vec<(Json<Advisory>,)> = on_either!(self, |pool| sqlx::query_as(sql).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|(Json(a),)| a).collect())
    }

    /// Stores a new version of a country's advisory and adds it to the history, unless another
    /// version was stored since the one it follows (`Conflict`).
    pub async fn put_advisory(&self, advisory: &Advisory) -> Result<()> {
        let first = "INSERT INTO advisories (country, revision, updated_at, body) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (country) DO NOTHING";
        let next =
            "UPDATE advisories SET revision = $2, updated_at = $3, body = $4 WHERE country = $1 AND revision = $5";
        let history = "INSERT INTO advisory_history (country, revision, updated_at, body) VALUES ($1, $2, $3, $4)";
        let revision = i64::from(advisory.revision);
        on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let changed = if revision == 1 {
                sqlx::query(first)
                    .bind(&advisory.country)
                    .bind(revision)
                    .bind(advisory.updated_at)
                    .bind(Json(advisory))
                    .execute(&mut *tx)
                    .await?
            } else {
                sqlx::query(next)
                    .bind(&advisory.country)
                    .bind(revision)
                    .bind(advisory.updated_at)
                    .bind(Json(advisory))
                    .bind(revision - 1)
                    .execute(&mut *tx)
                    .await?
            }
            .rows_affected();
            if changed == 0 {
                return Err(StoreError::Conflict(Conflict::ChangedMeanwhile));
            }
            sqlx::query(history)
                .bind(&advisory.country)
                .bind(revision)
                .bind(advisory.updated_at)
                .bind(Json(advisory))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Every version of a country's advisory, newest first.
    pub async fn advisory_history(&self, country: &str) -> Result<Vec<Advisory>> {
        let sql = "SELECT body FROM advisory_history WHERE country = $1 ORDER BY revision DESC";
        let rows: Vec<(Json<Advisory>,)> =
            on_either!(self, |pool| sqlx::query_as(sql).bind(country).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|(Json(a),)| a).collect())
    }
}
