//! Check-ins (the history of answers) and each recipient's standing in an alert's headcount:
//! the latest answer, whether a device has the alert, the tally, and the second wave's claim.

use chrono::{DateTime, Utc};
use scaan_schemas::{Channel, Checkin, PersonStatus, Position, SosStatus, Via};
use sqlx::QueryBuilder;
use std::collections::HashMap;
use uuid::Uuid;

use super::{BeginWrite, Result, Store, ROWS_PER_INSERT};

/// One person's standing in a headcount.
#[derive(Debug, Clone)]
pub struct StandingRecord {
    pub staff_id: Uuid,
    pub username: String,
    pub name: String,
    pub status: PersonStatus,
    pub via: Option<Via>,
    pub updated_at: Option<DateTime<Utc>>,
    pub position: Option<Position>,
    pub note: Option<String>,
    pub reached: bool,
    /// Their SOS call not yet resolved.
    pub sos: Option<(Uuid, SosStatus)>,
    pub phone: Option<String>,
    /// Their first answer (which accounted for them) and its channel.
    pub accounted_at: Option<DateTime<Utc>>,
    pub accounted_channel: Option<Channel>,
    pub duty_station: Option<Position>,
}

#[derive(sqlx::FromRow)]
struct StandingRow {
    id: Uuid,
    username: String,
    name: String,
    status: String,
    via: Option<String>,
    updated_at: Option<DateTime<Utc>>,
    lat: Option<f64>,
    lon: Option<f64>,
    note: Option<String>,
    reached: i32,
    sos_id: Option<Uuid>,
    sos_status: Option<String>,
    phone: Option<String>,
    accounted_at: Option<DateTime<Utc>>,
    accounted_channel: Option<String>,
    duty_lat: Option<f64>,
    duty_lon: Option<f64>,
}

const CHECKIN_COLUMNS: &str =
    "id, alert_id, user_id, status, via, lat, lon, accuracy_m, note, recorded_by, recorded_at, channel";
const STANDING_COLUMNS: &str = "alert_id, user_id, status, via, updated_at, lat, lon, note";
/// Sets recipients' standing from `answer` (`STANDING_COLUMNS`); an older answer never
/// overwrites a newer one.
const UPDATE_STANDINGS: &str = "UPDATE alert_recipients SET status = answer.status, via = answer.via, \
     updated_at = answer.updated_at, lat = answer.lat, lon = answer.lon, note = answer.note FROM answer \
     WHERE alert_recipients.alert_id = answer.alert_id AND alert_recipients.user_id = answer.user_id \
     AND (alert_recipients.updated_at IS NULL OR alert_recipients.updated_at <= answer.updated_at)";

/// Who has alert `$1` on a device: a completed WebSocket write, a device's MQTT PUBACK of one
/// of its revisions or of another of its envelopes (an external broker's is not a device's),
/// the app's acknowledgement, or a text the network reported delivered. For
/// `user_id IN …`: the database reads each table once along its index by alert, the first time
/// it is asked, and looks each person up in what it read. Asked of each person in each table,
/// it was five probes for each of 10,000 silent people at each push of a headcount's counts
/// (80–180 ms on PostgreSQL after a hundred alerts).
pub(super) const REACHED_PEOPLE: &str =
    "(SELECT d.user_id FROM alert_deliveries d WHERE d.alert_id = $1 AND d.delivered_at IS NOT NULL \
     UNION ALL SELECT w.user_id FROM stream_receipts w WHERE w.alert_id = $1 \
     UNION ALL SELECT o.user_id FROM mqtt_envelopes e JOIN mqtt_outbox o ON o.envelope_id = e.id \
           WHERE e.alert_id = $1 AND o.delivered_at IS NOT NULL \
     UNION ALL SELECT a.user_id FROM alert_acknowledgements a WHERE a.alert_id = $1 \
     UNION ALL SELECT t.user_id FROM sms_texts t WHERE t.alert_id = $1 AND t.delivered_at IS NOT NULL)";

impl Store {
    /// Stores a batch of check-ins in one transaction (one commit, one fsync, for all of them):
    /// each goes into the history, and becomes its person's standing unless a later one has.
    pub async fn record_checkins(&self, batch: &[Checkin]) -> Result<()> {
        // Each person's standing takes their latest answer in the batch, so that one statement
        // can update everyone (not one statement per person, which costs a round trip each).
        let mut latest: HashMap<(Uuid, Uuid), &Checkin> = HashMap::with_capacity(batch.len());
        for c in batch {
            latest
                .entry((c.alert_id, c.staff_id))
                .and_modify(|kept| {
                    if c.recorded_at >= kept.recorded_at {
                        *kept = c;
                    }
                })
                .or_insert(c);
        }
        let standings: Vec<&Checkin> = latest.into_values().collect();
        // A standing is a row of the alert's recipients: those rows must be there to update.
        let alerts: std::collections::BTreeSet<Uuid> = standings.iter().map(|c| c.alert_id).collect();
        for alert in alerts {
            self.expand_audience(alert).await?;
        }
        match self {
            Store::Sqlite(pool) => {
                let mut tx = pool.begin_write().await?;
                for chunk in batch.chunks(ROWS_PER_INSERT / 13) {
                    let mut q = QueryBuilder::new(format!("INSERT INTO checkins ({CHECKIN_COLUMNS}) "));
                    q.push_values(chunk, |mut row, c| {
                        row.push_bind(c.id)
                            .push_bind(c.alert_id)
                            .push_bind(c.staff_id)
                            .push_bind(PersonStatus::from(c.status).as_str())
                            .push_bind(c.via.as_str())
                            .push_bind(c.position.map(|p| p.lat))
                            .push_bind(c.position.map(|p| p.lon))
                            .push_bind(c.position.and_then(|p| p.accuracy_m))
                            .push_bind(c.note.as_deref())
                            .push_bind(c.recorded_by)
                            .push_bind(c.recorded_at)
                            .push_bind(c.channel.as_str());
                    });
                    q.build().execute(&mut *tx).await?;
                }
                for chunk in standings.chunks(ROWS_PER_INSERT / 9) {
                    let mut q = QueryBuilder::new(format!("WITH answer ({STANDING_COLUMNS}) AS ("));
                    q.push_values(chunk, |mut row, c| {
                        row.push_bind(c.alert_id)
                            .push_bind(c.staff_id)
                            .push_bind(PersonStatus::from(c.status).as_str())
                            .push_bind(c.via.as_str())
                            .push_bind(c.recorded_at)
                            .push_bind(c.position.map(|p| p.lat))
                            .push_bind(c.position.map(|p| p.lon))
                            .push_bind(c.note.as_deref());
                    });
                    q.push(format!(") {UPDATE_STANDINGS}"));
                    q.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
            // PostgreSQL takes the batch as arrays: one statement text whatever the batch's
            // size, so it is parsed and planned once per connection, not once per batch.
            Store::Postgres(pool) => {
                let column = |f: fn(&Checkin) -> Option<f64>| batch.iter().map(f).collect::<Vec<_>>();
                let mut tx = pool.begin_write().await?;
                sqlx::query(&format!(
                    "INSERT INTO checkins ({CHECKIN_COLUMNS}) SELECT * FROM UNNEST($1::uuid[], $2::uuid[], \
                     $3::uuid[], $4::text[], $5::text[], $6::float8[], $7::float8[], $8::float8[], $9::text[], \
                     $10::uuid[], $11::timestamptz[], $12::text[])"
                ))
                .bind(batch.iter().map(|c| c.id).collect::<Vec<_>>())
                .bind(batch.iter().map(|c| c.alert_id).collect::<Vec<_>>())
                .bind(batch.iter().map(|c| c.staff_id).collect::<Vec<_>>())
                .bind(
                    batch
                        .iter()
                        .map(|c| PersonStatus::from(c.status).as_str())
                        .collect::<Vec<_>>(),
                )
                .bind(batch.iter().map(|c| c.via.as_str()).collect::<Vec<_>>())
                .bind(column(|c| c.position.map(|p| p.lat)))
                .bind(column(|c| c.position.map(|p| p.lon)))
                .bind(column(|c| c.position.and_then(|p| p.accuracy_m)))
                .bind(batch.iter().map(|c| c.note.clone()).collect::<Vec<_>>())
                .bind(batch.iter().map(|c| c.recorded_by).collect::<Vec<_>>())
                .bind(batch.iter().map(|c| c.recorded_at).collect::<Vec<_>>())
                .bind(batch.iter().map(|c| c.channel.as_str()).collect::<Vec<_>>())
                .execute(&mut *tx)
                .await?;
                let column = |f: fn(&Checkin) -> Option<f64>| standings.iter().map(|c| f(c)).collect::<Vec<_>>();
                sqlx::query(&format!(
                    "WITH answer ({STANDING_COLUMNS}) AS (SELECT * FROM UNNEST($1::uuid[], $2::uuid[], \
                     $3::text[], $4::text[], $5::timestamptz[], $6::float8[], $7::float8[], $8::text[])) \
                     {UPDATE_STANDINGS}"
                ))
                .bind(standings.iter().map(|c| c.alert_id).collect::<Vec<_>>())
                .bind(standings.iter().map(|c| c.staff_id).collect::<Vec<_>>())
                .bind(
                    standings
                        .iter()
                        .map(|c| PersonStatus::from(c.status).as_str())
                        .collect::<Vec<_>>(),
                )
                .bind(standings.iter().map(|c| c.via.as_str()).collect::<Vec<_>>())
                .bind(standings.iter().map(|c| c.recorded_at).collect::<Vec<_>>())
                .bind(column(|c| c.position.map(|p| p.lat)))
                .bind(column(|c| c.position.map(|p| p.lon)))
                .bind(standings.iter().map(|c| c.note.clone()).collect::<Vec<_>>())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Claims an alert's second wave: true for the one caller that set it, false if already set.
    pub async fn claim_second_wave(&self, alert: Uuid, now: DateTime<Utc>) -> Result<bool> {
        let sql = "UPDATE alerts SET second_wave_at = $2 WHERE id = $1 AND second_wave_at IS NULL";
        let n = on_either!(self, |pool| sqlx::query(sql)
            .bind(alert)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// When an alert's second wave went, if it has.
    pub async fn second_wave_at(&self, alert: Uuid) -> Result<Option<DateTime<Utc>>> {
        let sql = "SELECT second_wave_at FROM alerts WHERE id = $1";
        let row: Option<(Option<DateTime<Utc>>,)> =
            on_either!(self, |pool| sqlx::query_as(sql).bind(alert).fetch_optional(pool).await)?;
        Ok(row.and_then(|(at,)| at))
    }

    /// Recipients who have not answered yet.
    pub async fn silent_recipients(&self, alert: Uuid) -> Result<Vec<Uuid>> {
        self.expand_audience(alert).await?;
        let sql = "SELECT user_id FROM alert_recipients WHERE alert_id = $1 AND status = 'no_response'";
        let rows: Vec<(Uuid,)> = on_either!(self, |pool| sqlx::query_as(sql).bind(alert).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|(u,)| u).collect())
    }

    /// How many recipients of an alert stand at each status, and of those without an answer,
    /// how many no device has reached.
    pub async fn headcount_tally(&self, alert: Uuid) -> Result<Vec<(PersonStatus, u32, u32)>> {
        self.expand_audience(alert).await?;
        let sql = format!(
            // CASE stops at the first match: once everyone has answered, nobody is looked up.
            "SELECT r.status, COUNT(*),
                    SUM(CASE WHEN r.status <> 'no_response' THEN 0 WHEN r.user_id IN {REACHED_PEOPLE} THEN 0 ELSE 1 END)
             FROM alert_recipients r WHERE r.alert_id = $1 GROUP BY r.status"
        );
        let rows: Vec<(String, i64, i64)> =
            on_either!(self, |pool| sqlx::query_as(&sql).bind(alert).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .filter_map(|(s, n, unreached)| Some((PersonStatus::parse(&s)?, n as u32, unreached as u32)))
            .collect())
    }

    /// Every recipient of an alert with their standing (the headcount board): their latest
    /// answer, whether a device of theirs has the alert, and their SOS call not yet resolved.
    pub async fn headcount_people(&self, alert: Uuid) -> Result<Vec<StandingRecord>> {
        self.expand_audience(alert).await?;
        let sql = format!(
            "SELECT u.id, u.username, u.name, r.status, r.via, r.updated_at, r.lat, r.lon, r.note,
                    CASE WHEN r.user_id IN {REACHED_PEOPLE} THEN 1 ELSE 0 END AS reached, sos.id AS sos_id, sos.status AS sos_status,
                    (SELECT p.phone FROM user_phones p WHERE p.user_id = u.id ORDER BY p.preference LIMIT 1) AS phone,
                    answer1.recorded_at AS accounted_at, answer1.channel AS accounted_channel,
                    u.duty_lat, u.duty_lon
             FROM alert_recipients r JOIN users u ON u.id = r.user_id
             LEFT JOIN sos ON sos.id = (SELECT s.id FROM sos s WHERE s.staff_id = r.user_id AND s.status <> 'resolved'
                                        ORDER BY s.raised_at DESC LIMIT 1)
             LEFT JOIN checkins answer1 ON answer1.id = (SELECT c.id FROM checkins c
                                        WHERE c.alert_id = r.alert_id AND c.user_id = r.user_id
                                        ORDER BY c.recorded_at LIMIT 1)
             WHERE r.alert_id = $1 ORDER BY u.username"
        );
        let rows: Vec<StandingRow> = on_either!(self, |pool| sqlx::query_as(&sql).bind(alert).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|r| StandingRecord {
                staff_id: r.id,
                username: r.username,
                name: r.name,
                status: PersonStatus::parse(&r.status).unwrap_or(PersonStatus::NoResponse),
                via: r.via.as_deref().and_then(Via::parse),
                updated_at: r.updated_at,
                position: r.lat.zip(r.lon).map(|(lat, lon)| Position::new(lat, lon)),
                note: r.note,
                reached: r.reached != 0,
                sos: r.sos_id.zip(r.sos_status.as_deref().and_then(SosStatus::parse)),
                phone: r.phone,
                accounted_at: r.accounted_at,
                accounted_channel: r.accounted_channel.as_deref().and_then(Channel::parse),
                duty_station: r.duty_lat.zip(r.duty_lon).map(|(lat, lon)| Position::new(lat, lon)),
            })
            .collect())
    }
}
