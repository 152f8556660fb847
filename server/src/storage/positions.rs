//! Last known positions, and the staff records the targeting index is built from (duty station
//! and last fix of every enabled staff member).

use chrono::{DateTime, Utc};
use scaan_schemas::Position;
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::{Result, Store};

/// What the targeting index needs to know about one staff member at start-up.
#[derive(Debug, Clone)]
pub struct StaffRecord {
    pub id: Uuid,
    pub duty_station: Option<Position>,
    pub position: Option<(Position, DateTime<Utc>)>,
}

impl Store {
    /// Stores a position fix unless a newer one is already held; returns whether it was stored.
    pub async fn record_position(&self, user: Uuid, at: Position, recorded_at: DateTime<Utc>) -> Result<bool> {
        let sql = "INSERT INTO positions (user_id, lat, lon, accuracy_m, recorded_at) VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (user_id) DO UPDATE
                   SET lat = excluded.lat, lon = excluded.lon, accuracy_m = excluded.accuracy_m, recorded_at = excluded.recorded_at, area_only = FALSE
                   WHERE positions.recorded_at < excluded.recorded_at";
        let done = on_either!(self, |pool| sqlx::query(sql)
            .bind(user)
            .bind(at.lat)
            .bind(at.lon)
            .bind(at.accuracy_m)
            .bind(recorded_at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// Every enabled staff member's duty station and last fix, to build the targeting index at
    /// start (a disabled account is sent nothing).
    pub async fn staff_records(&self) -> Result<Vec<StaffRecord>> {
        self.staff_where(None).await
    }

    /// One enabled staff member's record; `None` for anyone else.
    pub async fn staff_record(&self, id: Uuid) -> Result<Option<StaffRecord>> {
        Ok(self.staff_where(Some(id)).await?.pop())
    }

    async fn staff_where(&self, only: Option<Uuid>) -> Result<Vec<StaffRecord>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            id: Uuid,
            duty_lat: Option<f64>,
            duty_lon: Option<f64>,
            lat: Option<f64>,
            lon: Option<f64>,
            recorded_at: Option<DateTime<Utc>>,
        }
        let rows: Vec<Row> = on_either!(self, |pool| {
            let mut q = QueryBuilder::new(
                "SELECT u.id, u.duty_lat, u.duty_lon, p.lat, p.lon, p.recorded_at
                 FROM users u LEFT JOIN positions p ON p.user_id = u.id
                 WHERE u.role = 'staff' AND u.disabled_at IS NULL",
            );
            if let Some(id) = only {
                q.push(" AND u.id = ").push_bind(id);
            }
            q.build_query_as().fetch_all(pool).await
        })?;
        Ok(rows
            .into_iter()
            .map(|r| StaffRecord {
                id: r.id,
                duty_station: r.duty_lat.zip(r.duty_lon).map(|(lat, lon)| Position::new(lat, lon)),
                position: match (r.lat, r.lon, r.recorded_at) {
                    (Some(lat), Some(lon), Some(at)) => Some((Position::new(lat, lon), at)),
                    _ => None,
                },
            })
            .collect())
    }
}
