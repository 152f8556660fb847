//! Journeys and their missed-check-in alarms. Each journey row carries when the timer next acts
//! on it (`next_step_at`) and a revision: a change is stored only over the revision it was made
//! from, so each step is taken once however many timers (or restarts) look at it.

use chrono::{DateTime, Utc};
use scaan_schemas::{AlarmStatus, Journey, JourneyAlarm};
use sqlx::types::Json;
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::{BeginWrite, Conflict, Page, Result, Store, StoreError};

/// Which journeys (and their alarms) a caller may list.
#[derive(Debug, Clone)]
pub enum JourneyScope {
    All,
    /// Those followed by the officers of any of these countries, and the caller's own.
    CountriesOrStaff(Vec<String>, Uuid),
    /// One person's own.
    Staff(Uuid),
}

/// A journey as stored: the body, and the revision a change must be made over.
#[derive(Debug, Clone)]
pub struct StoredJourney {
    pub journey: Journey,
    pub revision: i64,
}

impl Store {
    pub async fn insert_journey(&self, journey: &Journey, next_step_at: Option<DateTime<Utc>>) -> Result<()> {
        let sql = "INSERT INTO journeys (id, staff_id, status, started_at, next_step_at, revision, body)
                   VALUES ($1, $2, $3, $4, $5, 1, $6)";
        let countries = "INSERT INTO journey_countries (journey_id, country) VALUES ($1, $2) ON CONFLICT DO NOTHING";
        on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(sql)
                .bind(journey.id)
                .bind(journey.staff_id)
                .bind(journey.status.as_str())
                .bind(journey.started_at)
                .bind(next_step_at)
                .bind(Json(journey))
                .execute(&mut *tx)
                .await?;
            for country in &journey.countries {
                sqlx::query(countries)
                    .bind(journey.id)
                    .bind(country)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// Stores a changed journey over `revision`; `Conflict` if it changed since it was read.
    pub async fn update_journey(
        &self,
        journey: &Journey,
        next_step_at: Option<DateTime<Utc>>,
        revision: i64,
    ) -> Result<()> {
        let changed = on_either!(self, |pool| sqlx::query(UPDATE_JOURNEY)
            .bind(journey.id)
            .bind(journey.status.as_str())
            .bind(next_step_at)
            .bind(Json(journey))
            .bind(revision)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        if changed == 0 {
            return Err(StoreError::Conflict(Conflict::ChangedMeanwhile));
        }
        Ok(())
    }

    /// Stores the journey over `revision` and raises its alarm, both or neither.
    pub async fn raise_journey_alarm(&self, journey: &Journey, revision: i64, alarm: &JourneyAlarm) -> Result<()> {
        let sql = "INSERT INTO journey_alarms (id, journey_id, status, raised_at, body) VALUES ($1, $2, $3, $4, $5)";
        let changed = on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let stored = sqlx::query(UPDATE_JOURNEY)
                .bind(journey.id)
                .bind(journey.status.as_str())
                .bind(None::<DateTime<Utc>>)
                .bind(Json(journey))
                .bind(revision)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if stored == 0 {
                // Dropping the transaction rolls it back.
                Ok(false)
            } else {
                sqlx::query(sql)
                    .bind(alarm.id)
                    .bind(alarm.journey_id)
                    .bind(alarm.status.as_str())
                    .bind(alarm.raised_at)
                    .bind(Json(alarm))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await.map(|()| true)
            }
        })?;
        if !changed {
            return Err(StoreError::Conflict(Conflict::ChangedMeanwhile));
        }
        Ok(())
    }

    pub async fn journey(&self, id: Uuid) -> Result<Option<StoredJourney>> {
        let sql = "SELECT body, revision FROM journeys WHERE id = $1";
        let row: Option<(Json<Journey>, i64)> =
            on_either!(self, |pool| sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?;
        Ok(row.map(|(Json(journey), revision)| StoredJourney { journey, revision }))
    }

    /// Those in scope, latest started first; only active ones when `active`.
    pub async fn journeys(&self, scope: &JourneyScope, active: bool, page: Page) -> Result<Vec<Journey>> {
        let rows: Vec<(Json<Journey>,)> = on_either!(self, |pool| {
            let mut q = QueryBuilder::new("SELECT body FROM journeys WHERE 1 = 1");
            push_scope(&mut q, scope, "id");
            if active {
                q.push(" AND status = 'active'");
            }
            if let Some(before) = page.before {
                q.push(" AND started_at < ").push_bind(before);
            }
            q.push(" ORDER BY started_at DESC LIMIT ")
                .push_bind(i64::from(page.limit));
            q.build_query_as().fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(|(Json(j),)| j).collect())
    }

    /// Journeys whose next step is due by `now`.
    pub async fn journeys_due(&self, now: DateTime<Utc>) -> Result<Vec<StoredJourney>> {
        let sql = "SELECT body, revision FROM journeys WHERE next_step_at <= $1 ORDER BY next_step_at";
        let rows: Vec<(Json<Journey>, i64)> =
            on_either!(self, |pool| sqlx::query_as(sql).bind(now).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(Json(journey), revision)| StoredJourney { journey, revision })
            .collect())
    }

    /// When the timer next has something to do, if ever.
    pub async fn next_journey_step(&self) -> Result<Option<DateTime<Utc>>> {
        let sql = "SELECT MIN(next_step_at) FROM journeys WHERE next_step_at IS NOT NULL";
        let (at,): (Option<DateTime<Utc>>,) = on_either!(self, |pool| sqlx::query_as(sql).fetch_one(pool).await)?;
        Ok(at)
    }

    pub async fn journey_alarm(&self, id: Uuid) -> Result<Option<JourneyAlarm>> {
        let sql = "SELECT body FROM journey_alarms WHERE id = $1";
        let row: Option<(Json<JourneyAlarm>,)> =
            on_either!(self, |pool| sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?;
        Ok(row.map(|(Json(a),)| a))
    }

    /// Stores a changed alarm unless its status moved on since it was read (`Conflict`).
    pub async fn update_journey_alarm(&self, alarm: &JourneyAlarm, previous: AlarmStatus) -> Result<()> {
        let sql = "UPDATE journey_alarms SET status = $2, body = $3 WHERE id = $1 AND status = $4";
        let changed = on_either!(self, |pool| sqlx::query(sql)
            .bind(alarm.id)
            .bind(alarm.status.as_str())
            .bind(Json(alarm))
            .bind(previous.as_str())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        if changed == 0 {
            return Err(StoreError::Conflict(Conflict::ChangedMeanwhile));
        }
        Ok(())
    }

    /// Alarms in scope (by their journey's), newest first, optionally only those at `status`.
    pub async fn journey_alarms(
        &self,
        scope: &JourneyScope,
        status: Option<AlarmStatus>,
        page: Page,
    ) -> Result<Vec<JourneyAlarm>> {
        let rows: Vec<(Json<JourneyAlarm>,)> = on_either!(self, |pool| {
            let mut q = QueryBuilder::new(
                "SELECT a.body FROM journey_alarms a JOIN journeys j ON j.id = a.journey_id WHERE 1 = 1",
            );
            push_scope(&mut q, scope, "j.id");
            if let Some(status) = status {
                q.push(" AND a.status = ").push_bind(status.as_str());
            }
            if let Some(before) = page.before {
                q.push(" AND a.raised_at < ").push_bind(before);
            }
            q.push(" ORDER BY a.raised_at DESC LIMIT ")
                .push_bind(i64::from(page.limit));
            q.build_query_as().fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(|(Json(a),)| a).collect())
    }
}

/// Stores a journey over `revision` (bound as $5), moving the revision on.
const UPDATE_JOURNEY: &str = "UPDATE journeys SET status = $2, next_step_at = $3, revision = revision + 1, body = $4
                              WHERE id = $1 AND revision = $5";

fn push_scope<'a, DB>(q: &mut QueryBuilder<'a, DB>, scope: &'a JourneyScope, journey_id: &str)
where
    DB: sqlx::Database,
    Uuid: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    match scope {
        JourneyScope::All => {}
        JourneyScope::Staff(staff) => {
            q.push(format!(
                " AND {journey_id} IN (SELECT id FROM journeys WHERE staff_id = "
            ))
            .push_bind(*staff)
            .push(")");
        }
        JourneyScope::CountriesOrStaff(countries, staff) => {
            q.push(format!(
                " AND ({journey_id} IN (SELECT id FROM journeys WHERE staff_id = "
            ))
            .push_bind(*staff)
            .push(")");
            if !countries.is_empty() {
                q.push(format!(
                    " OR {journey_id} IN (SELECT journey_id FROM journey_countries WHERE country IN ("
                ));
                let mut list = q.separated(", ");
                for c in countries {
                    list.push_bind(c.clone());
                }
                q.push("))");
            }
            q.push(")");
        }
    }
}
