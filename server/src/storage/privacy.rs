//! Location privacy's storage: the grounds on which officers may see precise positions, the
//! retention sweep's deletions, and one person's records, exported whole or erased (leaving a
//! pseudonym in the counts they were part of).

use chrono::{DateTime, Utc};
use scaan_schemas::{Position, Sos, SosStatus, User};
use serde_json::{json, Value};
use sqlx::types::Json;
use std::collections::HashMap;
use uuid::Uuid;

use super::{BeginWrite, Result, Store};

/// Why an officer may see someone's precise position, as stored: the incident and the
/// countries whose officers follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroundRecord {
    pub person: Uuid,
    /// `alert`, `sos` or `journey_alarm`: the kinds [`Store::precise_grounds`] reads.
    pub kind: String,
    pub id: Uuid,
    pub countries: Vec<String>,
}

/// A last known position past the freshness window, still held precisely.
#[derive(Debug, Clone)]
pub struct StalePosition {
    pub person: Uuid,
    pub position: Position,
}

/// What the retention sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub positions: u64,
    pub trails: u64,
    pub checkins: u64,
    pub reports: u64,
}

/// The tables and JSON columns an erased person's username, name, id or phone may appear in
/// (an officer's username as an alert's sender, a trip's approver, a report's triager, who
/// started someone's journey or handled its alarm, who added a warnings feed…):
/// `(table, column, whether the column is JSON rather than text on PostgreSQL)`.
const BODIES: [(&str, &str, bool); 12] = [
    ("alerts", "body", true),
    ("sos", "body", true),
    ("reports", "body", true),
    ("trips", "body", true),
    ("audit", "detail", true),
    ("warnings", "body", true),
    ("mqtt_envelopes", "payload", false),
    ("advisories", "body", true),
    ("advisory_history", "body", true),
    ("journeys", "body", true),
    ("journey_alarms", "body", true),
    ("warning_feeds", "body", true),
];

/// The records about a person that name them only by their id: their SOS calls, reports, trips,
/// journeys and journeys' alarms (what the audit trail says about these is theirs too). `$1` is
/// the person's id.
const ABOUT_THEM: &str = "subject IN (SELECT id FROM sos WHERE staff_id = $1)
    OR subject IN (SELECT id FROM reports WHERE reporter_id = $1)
    OR subject IN (SELECT id FROM trips WHERE traveller_id = $1)
    OR subject IN (SELECT id FROM journeys WHERE staff_id = $1)
    OR subject IN (SELECT a.id FROM journey_alarms a JOIN journeys j ON j.id = a.journey_id WHERE j.staff_id = $1)";

impl Store {
    /// Every ground for a precise view at `now`: each recipient of an alert neither expired nor
    /// cancelled, each person with an SOS call not resolved, and each person with a journey
    /// alarm (a missed check-in) not resolved, the alarm's countries being its journey's.
    pub async fn precise_grounds(&self, now: DateTime<Utc>) -> Result<Vec<GroundRecord>> {
        self.expand_audiences().await?;
        let sql = "SELECT r.user_id AS person, 'alert' AS kind, a.id AS id, c.country AS country
                   FROM alert_recipients r JOIN alerts a ON a.id = r.alert_id
                   LEFT JOIN alert_countries c ON c.alert_id = a.id
                   WHERE a.cancelled = $1 AND a.expires_at > $2
                   UNION ALL
                   SELECT s.staff_id, 'sos', s.id, c.country
                   FROM sos s LEFT JOIN sos_countries c ON c.sos_id = s.id
                   WHERE s.status <> 'resolved'
                   UNION ALL
                   SELECT j.staff_id, 'journey_alarm', a.id, c.country
                   FROM journey_alarms a JOIN journeys j ON j.id = a.journey_id
                   LEFT JOIN journey_countries c ON c.journey_id = j.id
                   WHERE a.status <> 'resolved'";
        let rows: Vec<(Uuid, String, Uuid, Option<String>)> = on_either!(self, |pool| sqlx::query_as(sql)
            .bind(false)
            .bind(now)
            .fetch_all(pool)
            .await)?;
        let mut grounds: HashMap<(Uuid, Uuid), GroundRecord> = HashMap::new();
        for (person, kind, id, country) in rows {
            let ground = grounds.entry((person, id)).or_insert_with(|| GroundRecord {
                person,
                kind,
                id,
                countries: Vec::new(),
            });
            ground.countries.extend(country);
        }
        Ok(grounds.into_values().collect())
    }

    /// Last known positions recorded before `before` and not yet reduced to their area.
    pub async fn stale_positions(&self, before: DateTime<Utc>) -> Result<Vec<StalePosition>> {
        let sql = "SELECT user_id, lat, lon FROM positions WHERE recorded_at < $1 AND area_only = $2";
        let rows: Vec<(Uuid, f64, f64)> = on_either!(self, |pool| sqlx::query_as(sql)
            .bind(before)
            .bind(false)
            .fetch_all(pool)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|(person, lat, lon)| StalePosition {
                person,
                position: Position::new(lat, lon),
            })
            .collect())
    }

    /// Replaces stale positions by their areas, unless a newer fix came meanwhile (`before`
    /// is the cut-off they were read with).
    pub async fn reduce_positions(&self, areas: &[(Uuid, Position)], before: DateTime<Utc>) -> Result<()> {
        let sql = "UPDATE positions SET lat = $2, lon = $3, accuracy_m = NULL, area_only = $4
                   WHERE user_id = $1 AND recorded_at < $5";
        on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            for (person, area) in areas {
                sqlx::query(sql)
                    .bind(person)
                    .bind(area.lat)
                    .bind(area.lon)
                    .bind(true)
                    .bind(before)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// Deletes what is older than each limit: last known positions, the trails (and positions)
    /// of SOS calls resolved and raised before theirs, check-ins (the history, and the position
    /// and note of each standing; the standing itself stays, for the counts), incident reports.
    pub async fn sweep_retention(
        &self,
        positions_before: DateTime<Utc>,
        trails_before: DateTime<Utc>,
        checkins_before: DateTime<Utc>,
        reports_before: DateTime<Utc>,
    ) -> Result<Swept> {
        let mut swept = Swept::default();
        let run = |sql: &'static str, before: DateTime<Utc>| async move {
            on_either!(self, |pool| sqlx::query(sql)
                .bind(before)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()))
        };
        swept.positions = run("DELETE FROM positions WHERE recorded_at < $1", positions_before).await?;
        swept.checkins = run("DELETE FROM checkins WHERE recorded_at < $1", checkins_before).await?;
        run(
            "UPDATE alert_recipients SET lat = NULL, lon = NULL, note = NULL
             WHERE updated_at < $1 AND (lat IS NOT NULL OR note IS NOT NULL)",
            checkins_before,
        )
        .await?;
        swept.reports = run("DELETE FROM reports WHERE reported_at < $1", reports_before).await?;
        let sql = "SELECT body FROM sos WHERE status = 'resolved' AND raised_at < $1";
        let calls: Vec<(Json<Sos>,)> = on_either!(self, |pool| sqlx::query_as(sql)
            .bind(trails_before)
            .fetch_all(pool)
            .await)?;
        let update = "UPDATE sos SET body = $2 WHERE id = $1 AND status = $3";
        for (Json(mut call),) in calls {
            if call.trail.is_empty() && call.position.is_none() {
                continue;
            }
            call.trail.clear();
            call.position = None;
            on_either!(self, |pool| sqlx::query(update)
                .bind(call.id)
                .bind(Json(&call))
                .bind(SosStatus::Resolved.as_str())
                .execute(pool)
                .await
                .map(|_| ()))?;
            swept.trails += 1;
        }
        Ok(swept)
    }

    /// Everything the hub holds about one person, as JSON (their journeys and alarms among it);
    /// `None` for an unknown id or an erased person's pseudonym.
    pub async fn person_records(&self, id: Uuid) -> Result<Option<Value>> {
        self.expand_pending().await?;
        let Some(user) = self.person(id).await? else {
            return Ok(None);
        };
        let bodies = |sql: &'static str| async move {
            let rows: Vec<(Json<Value>,)> =
                on_either!(self, |pool| sqlx::query_as(sql).bind(id).fetch_all(pool).await)?;
            Ok::<_, super::StoreError>(rows.into_iter().map(|(Json(v),)| v).collect::<Vec<_>>())
        };
        let position: Option<PositionRow> = on_either!(self, |pool| sqlx::query_as(
            "SELECT lat, lon, accuracy_m, recorded_at, area_only FROM positions WHERE user_id = $1"
        )
        .bind(id)
        .fetch_optional(pool)
        .await)?;
        let standings: Vec<StandingRow> = on_either!(self, |pool| sqlx::query_as(
            // Through each alert's own rows: SQLite has no index by person (its migration 0023).
            "SELECT alert_id, status, via, updated_at, lat, lon, note FROM alert_recipients
             WHERE alert_id IN (SELECT id FROM alerts) AND user_id = $1 ORDER BY alert_id"
        )
        .bind(id)
        .fetch_all(pool)
        .await)?;
        let checkins: Vec<CheckinRow> = on_either!(self, |pool| sqlx::query_as(
            "SELECT id, alert_id, user_id, status, via, lat, lon, note, recorded_by, recorded_at FROM checkins
             WHERE user_id = $1 OR recorded_by = $1 ORDER BY recorded_at"
        )
        .bind(id)
        .fetch_all(pool)
        .await)?;
        let sessions: Vec<SessionRow> = on_either!(self, |pool| sqlx::query_as(
            "SELECT issued_at, expires_at, revoked_at FROM tokens WHERE user_id = $1 ORDER BY issued_at"
        )
        .bind(id)
        .fetch_all(pool)
        .await)?;
        let receipts: Vec<(Uuid, String, DateTime<Utc>)> = on_either!(self, |pool| sqlx::query_as(
            "SELECT alert_id, channel, acknowledged_at FROM alert_acknowledgements WHERE user_id = $1
             UNION ALL SELECT alert_id, 'stream', delivered_at FROM stream_receipts WHERE user_id = $1"
        )
        .bind(id)
        .fetch_all(pool)
        .await)?;
        let texts: Vec<TextRow> = on_either!(self, |pool| sqlx::query_as(
            "SELECT alert_id, reason, phone, body, queued_at, delivered_at FROM sms_texts WHERE user_id = $1
             ORDER BY queued_at"
        )
        .bind(id)
        .fetch_all(pool)
        .await)?;
        let audit_sql = format!(
            "SELECT id, at, actor, action, subject, countries, detail FROM audit
             WHERE subject = $1 OR actor_id = $1 OR {ABOUT_THEM} ORDER BY at"
        );
        let audit: Vec<super::audit::AuditRow> =
            on_either!(self, |pool| sqlx::query_as(&audit_sql).bind(id).fetch_all(pool).await)?;
        let audit: Vec<scaan_schemas::AuditEntry> = audit.into_iter().map(Into::into).collect();
        Ok(Some(json!({
            "account": user,
            "position": position.map(|p| json!({
                "lat": p.lat, "lon": p.lon, "accuracy_m": p.accuracy_m, "recorded_at": p.recorded_at,
                "precision": if p.area_only { "area" } else { "precise" },
            })),
            "trips": bodies("SELECT body FROM trips WHERE traveller_id = $1 ORDER BY depart_at").await?,
            "reports": bodies("SELECT body FROM reports WHERE reporter_id = $1 ORDER BY reported_at").await?,
            "sos": bodies("SELECT body FROM sos WHERE staff_id = $1 ORDER BY raised_at").await?,
            "journeys": bodies("SELECT body FROM journeys WHERE staff_id = $1 ORDER BY started_at").await?,
            "journey_alarms": bodies(
                "SELECT a.body FROM journey_alarms a JOIN journeys j ON j.id = a.journey_id
                 WHERE j.staff_id = $1 ORDER BY a.raised_at"
            )
            .await?,
            "headcounts": standings.into_iter().map(|r| json!({
                "alert_id": r.alert_id, "status": r.status, "via": r.via, "updated_at": r.updated_at,
                "position": point(r.lat, r.lon), "note": r.note,
            })).collect::<Vec<_>>(),
            "checkins": checkins.into_iter().map(|c| json!({
                "id": c.id, "alert_id": c.alert_id, "staff_id": c.user_id, "status": c.status, "via": c.via,
                "position": point(c.lat, c.lon), "note": c.note, "recorded_by": c.recorded_by,
                "recorded_at": c.recorded_at,
            })).collect::<Vec<_>>(),
            "receipts": receipts.into_iter().map(|(alert_id, channel, at)| json!({
                "alert_id": alert_id, "channel": channel, "at": at,
            })).collect::<Vec<_>>(),
            "texts": texts.into_iter().map(|t| json!({
                "alert_id": t.alert_id, "reason": t.reason, "phone": t.phone, "body": t.body,
                "queued_at": t.queued_at, "delivered_at": t.delivered_at,
            })).collect::<Vec<_>>(),
            "sessions": sessions.into_iter().map(|t| json!({
                "issued_at": t.issued_at, "expires_at": t.expires_at, "revoked_at": t.revoked_at,
            })).collect::<Vec<_>>(),
            "audit": audit,
        })))
    }

    /// An account that is a person (not an erased person's pseudonym).
    async fn person(&self, id: Uuid) -> Result<Option<User>> {
        let sql = "SELECT 1 FROM users WHERE id = $1 AND erased_at IS NULL";
        let found: Option<(i32,)> = on_either!(self, |pool| sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?;
        match found {
            Some(_) => self.user(id).await,
            None => Ok(None),
        }
    }

    /// Erases a person in one transaction: their account, sessions, position, trips, reports,
    /// SOS calls, journeys and journeys' alarms are deleted; what counts them in headcounts (their standing, check-ins,
    /// delivery receipts) moves to `pseudonym`, a new account row holding nothing of theirs,
    /// stripped of positions and notes; the audit trail keeps each action under the pseudonym,
    /// its details about them dropped; and their username, name, id and phone are replaced
    /// wherever an officer's record quotes them. Returns the erased account, `None` if unknown.
    pub async fn erase_person(&self, id: Uuid, pseudonym: Uuid, now: DateTime<Utc>) -> Result<Option<User>> {
        // Lists not yet written as rows would otherwise keep the person's id.
        self.expand_pending().await?;
        let Some(user) = self.person(id).await? else {
            return Ok(None);
        };
        let alias = pseudonym_username(pseudonym);
        let erased = json!({"erased": true});
        let replacements: Vec<(String, Value)> = [
            (id.to_string(), Value::String(pseudonym.to_string())),
            (user.username.clone(), Value::String(alias.clone())),
            (user.name.clone(), Value::String(ERASED_NAME.to_owned())),
        ]
        .into_iter()
        .chain(user.phones.iter().map(|p| (p.clone(), Value::Null)))
        .collect();
        // PostgreSQL: each body to rewrite is locked from its read, so that a writer of the same
        // row (a feed's poll) either goes first, and is read, or waits, and reads the rewrite.
        let lock = match self {
            Store::Sqlite(_) => "",
            Store::Postgres(_) => " FOR UPDATE",
        };
        on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO users (id, username, name, role, countries, password_hash, created_at, disabled_at, changed_at, erased_at)
                 SELECT $2, $3, $4, role, '', '!', $5, $5, $5, $5 FROM users WHERE id = $1",
            )
            .bind(id)
            .bind(pseudonym)
            .bind(&alias)
            .bind(ERASED_NAME)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            for sql in [
                // Through each alert's rows, as above.
                "UPDATE alert_recipients SET user_id = $2, lat = NULL, lon = NULL, note = NULL
                 WHERE alert_id IN (SELECT id FROM alerts) AND user_id = $1",
                "UPDATE checkins SET user_id = $2, lat = NULL, lon = NULL, accuracy_m = NULL, note = NULL WHERE user_id = $1",
                "UPDATE checkins SET recorded_by = $2 WHERE recorded_by = $1",
                "UPDATE alert_acknowledgements SET user_id = $2 WHERE user_id = $1",
                "UPDATE stream_receipts SET user_id = $2 WHERE user_id = $1",
                "UPDATE alert_deliveries SET user_id = $2 WHERE user_id = $1",
                // A receipt of an alert counts; any other envelope (an SOS's news) was theirs alone.
                "UPDATE mqtt_outbox SET user_id = $2 WHERE user_id = $1
                 AND envelope_id IN (SELECT id FROM mqtt_envelopes WHERE alert_id IS NOT NULL)",
                "UPDATE sensitive_access SET granted_by = $2 WHERE granted_by = $1",
                // A text delivered counts them reached; one not yet delivered is theirs alone.
                "DELETE FROM sms_texts WHERE user_id = $1 AND delivered_at IS NULL AND user_id <> $2",
                "UPDATE sms_texts SET user_id = $2, phone = '', body = '', report = NULL WHERE user_id = $1",
            ] {
                sqlx::query(sql).bind(id).bind(pseudonym).execute(&mut *tx).await?;
            }
            let own: Vec<(Uuid,)> = sqlx::query_as("SELECT envelope_id FROM mqtt_outbox WHERE user_id = $1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM mqtt_outbox WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for (envelope,) in own {
                sqlx::query(
                    "DELETE FROM mqtt_envelopes WHERE id = $1
                     AND NOT EXISTS (SELECT 1 FROM mqtt_outbox o WHERE o.envelope_id = $1)",
                )
                .bind(envelope)
                .execute(&mut *tx)
                .await?;
            }
            // What officers did about them stays in the trail, without what it said of them.
            sqlx::query(&format!(
                "UPDATE audit SET detail = $2 WHERE subject = $1 OR {ABOUT_THEM}"
            ))
            .bind(id)
            .bind(Json(&erased))
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE audit SET subject = $2 WHERE subject = $1")
                .bind(id)
                .bind(pseudonym)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE audit SET actor_id = $2, actor = $3 WHERE actor_id = $1")
                .bind(id)
                .bind(pseudonym)
                .bind(&alias)
                .execute(&mut *tx)
                .await?;
            for sql in [
                "DELETE FROM sos WHERE staff_id = $1",
                "DELETE FROM reports WHERE reporter_id = $1",
                "DELETE FROM trips WHERE traveller_id = $1",
                "DELETE FROM journey_alarms WHERE journey_id IN (SELECT id FROM journeys WHERE staff_id = $1)",
                "DELETE FROM journey_countries WHERE journey_id IN (SELECT id FROM journeys WHERE staff_id = $1)",
                "DELETE FROM journeys WHERE staff_id = $1",
                "DELETE FROM sensitive_access WHERE user_id = $1",
                "DELETE FROM tokens WHERE user_id = $1",
                "DELETE FROM positions WHERE user_id = $1",
                "DELETE FROM users WHERE id = $1",
            ] {
                sqlx::query(sql).bind(id).execute(&mut *tx).await?;
            }
            for (table, column, json_column) in BODIES {
                for (needle, _) in &replacements {
                    // Bodies are matched and rewritten by their whole text: they hold no key of
                    // one type on both backends, and two equal bodies take the same rewrite.
                    let select = format!(
                        "SELECT CAST({column} AS TEXT) FROM {table} WHERE CAST({column} AS TEXT) LIKE $1{lock}"
                    );
                    let quoted = serde_json::to_string(needle).unwrap_or_default();
                    let rows: Vec<(String,)> = sqlx::query_as(&select)
                        .bind(format!("%{quoted}%"))
                        .fetch_all(&mut *tx)
                        .await?;
                    let update = format!("UPDATE {table} SET {column} = $2 WHERE CAST({column} AS TEXT) = $1");
                    for (text,) in rows {
                        let Ok(mut value) = serde_json::from_str::<Value>(&text) else {
                            continue;
                        };
                        replace_strings(&mut value, &replacements);
                        let q = sqlx::query(&update).bind(text);
                        let q = if json_column {
                            q.bind(Json(value))
                        } else {
                            q.bind(value.to_string())
                        };
                        q.execute(&mut *tx).await?;
                    }
                }
            }
            tx.commit().await
        })?;
        Ok(Some(user))
    }
}

#[derive(sqlx::FromRow)]
struct PositionRow {
    lat: f64,
    lon: f64,
    accuracy_m: Option<f64>,
    recorded_at: DateTime<Utc>,
    area_only: bool,
}

#[derive(sqlx::FromRow)]
struct TextRow {
    alert_id: Uuid,
    reason: String,
    phone: String,
    body: String,
    queued_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct StandingRow {
    alert_id: Uuid,
    status: String,
    via: Option<String>,
    updated_at: Option<DateTime<Utc>>,
    lat: Option<f64>,
    lon: Option<f64>,
    note: Option<String>,
}

#[derive(sqlx::FromRow)]
struct CheckinRow {
    id: Uuid,
    alert_id: Uuid,
    user_id: Uuid,
    status: String,
    via: String,
    lat: Option<f64>,
    lon: Option<f64>,
    note: Option<String>,
    recorded_by: Uuid,
    recorded_at: DateTime<Utc>,
}

/// A stored latitude and longitude as the API shows a position, or null.
fn point(lat: Option<f64>, lon: Option<f64>) -> Value {
    lat.zip(lon)
        .map_or(Value::Null, |(lat, lon)| json!({"lat": lat, "lon": lon}))
}

/// The name an erased person's pseudonym carries.
pub const ERASED_NAME: &str = "Erased person";

/// The username of an erased person's pseudonym: nothing of theirs, unique by the pseudonym.
pub fn pseudonym_username(pseudonym: Uuid) -> String {
    format!("erased-{}", &pseudonym.simple().to_string()[..12])
}

/// Replaces every string in `value` equal to a needle by its replacement.
fn replace_strings(value: &mut Value, replacements: &[(String, Value)]) {
    match value {
        Value::String(s) => {
            if let Some((_, by)) = replacements.iter().find(|(needle, _)| needle == s) {
                *value = by.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| replace_strings(v, replacements)),
        Value::Object(map) => map.values_mut().for_each(|v| replace_strings(v, replacements)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_strings_equal_to_a_needle_are_replaced() {
        let mut value = json!({"sender": "amani", "note": "amani is fine", "ids": ["amani", 3], "n": {"x": "amani"}});
        replace_strings(&mut value, &[("amani".into(), json!("erased-1"))]);
        assert_eq!(
            value,
            json!({"sender": "erased-1", "note": "amani is fine", "ids": ["erased-1", 3], "n": {"x": "erased-1"}})
        );
    }

    #[test]
    fn a_pseudonym_username_says_nothing_of_the_person() {
        let p = Uuid::new_v4();
        let name = pseudonym_username(p);
        assert_eq!(name.len(), "erased-".len() + 12);
        assert!(p.simple().to_string().starts_with(&name["erased-".len()..]));
    }
}
