//! Trips: where staff travel and when, and their clearance.

use chrono::{DateTime, Utc};
use scaan_schemas::{Trip, TripStatus};
use sqlx::types::Json;
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::{Conflict, Result, Store, StoreError};

/// Which trips a caller may list.
#[derive(Debug, Clone)]
pub enum TripScope {
    All,
    /// One person's own trips.
    Traveller(Uuid),
    /// Trips to these countries, and the caller's own.
    CountriesOrTraveller(Vec<String>, Uuid),
}

impl Store {
    pub async fn insert_trip(&self, trip: &Trip) -> Result<()> {
        let sql = "INSERT INTO trips (id, traveller_id, country, status, depart_at, return_at, body)
                   VALUES ($1, $2, $3, $4, $5, $6, $7)";
        on_either!(self, |pool| sqlx::query(sql)
            .bind(trip.id)
            .bind(trip.traveller_id)
            .bind(&trip.destination.country)
            .bind(trip.status.as_str())
            .bind(trip.depart_at)
            .bind(trip.return_at)
            .bind(Json(trip))
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Stores a changed trip unless its status moved on since it was read (`Conflict`).
    pub async fn update_trip(&self, trip: &Trip, previous: TripStatus) -> Result<()> {
        let sql = "UPDATE trips SET status = $2, body = $3 WHERE id = $1 AND status = $4";
        let changed = on_either!(self, |pool| sqlx::query(sql)
            .bind(trip.id)
            .bind(trip.status.as_str())
            .bind(Json(trip))
            .bind(previous.as_str())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        if changed == 0 {
            return Err(StoreError::Conflict(Conflict::ChangedMeanwhile));
        }
        Ok(())
    }

    pub async fn trip(&self, id: Uuid) -> Result<Option<Trip>> {
        let sql = "SELECT body FROM trips WHERE id = $1";
        let row: Option<(Json<Trip>,)> =
            on_either!(self, |pool| sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?;
        Ok(row.map(|(Json(t),)| t))
    }

    /// Latest departure first, optionally only those at `status`.
    pub async fn trips(&self, scope: &TripScope, status: Option<TripStatus>, limit: u32) -> Result<Vec<Trip>> {
        let rows: Vec<(Json<Trip>,)> = on_either!(self, |pool| {
            let mut q = QueryBuilder::new("SELECT body FROM trips WHERE 1 = 1");
            match scope {
                TripScope::All => {}
                TripScope::Traveller(user) => {
                    q.push(" AND traveller_id = ").push_bind(*user);
                }
                TripScope::CountriesOrTraveller(countries, user) => {
                    q.push(" AND (traveller_id = ").push_bind(*user);
                    if !countries.is_empty() {
                        q.push(" OR country IN (");
                        let mut list = q.separated(", ");
                        for c in countries {
                            list.push_bind(c);
                        }
                        q.push(")");
                    }
                    q.push(")");
                }
            }
            if let Some(status) = status {
                q.push(" AND status = ").push_bind(status.as_str());
            }
            q.push(" ORDER BY depart_at DESC LIMIT ").push_bind(i64::from(limit));
            q.build_query_as().fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(|(Json(t),)| t).collect())
    }

    /// Trips not over by `now`: of one traveller, or of everyone.
    pub async fn unfinished_trips(&self, traveller: Option<Uuid>, now: DateTime<Utc>) -> Result<Vec<Trip>> {
        let rows: Vec<(Json<Trip>,)> = on_either!(self, |pool| {
            let mut q = QueryBuilder::new("SELECT body FROM trips WHERE return_at > ");
            q.push_bind(now);
            if let Some(user) = traveller {
                q.push(" AND traveller_id = ").push_bind(user);
            }
            q.build_query_as().fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(|(Json(t),)| t).collect())
    }

    /// Who is travelling to `country` (under way or yet to leave), unless cancelled or declined.
    pub async fn travellers_to(&self, country: &str, now: DateTime<Utc>) -> Result<Vec<Uuid>> {
        let sql = "SELECT DISTINCT traveller_id FROM trips
                   WHERE country = $1 AND return_at > $2 AND status NOT IN ('cancelled', 'declined')";
        let rows: Vec<(Uuid,)> = on_either!(self, |pool| sqlx::query_as(sql)
            .bind(country)
            .bind(now)
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(|(u,)| u).collect())
    }
}
