//! Durable state: accounts, tokens, last known positions and alerts; the MQTT outbox in [`mqtt`].
//!
//! Two backends, chosen by the URL scheme: SQLite (embedded, the default) and PostgreSQL
//! (production). Each has its own migrations and connection set-up; the queries are written
//! once in portable SQL (`$1` placeholders work in both) and run through [`on_either!`], which
//! compiles every statement for both drivers. That keeps one conformance story: the same code
//! and the same test suite on both, with no lowest-common-denominator `Any` driver.

use chrono::{DateTime, Utc};
use scaan_schemas::{Alert, AuditEntry, Checkin, NewUser, PersonStatus, Position, Role, Sos, SosStatus, User, Via};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::types::Json;
use sqlx::QueryBuilder;
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique rule was broken (the value that clashed), or a row changed under us.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("invalid database URL: {0}")]
    BadUrl(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("migrating the database failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to whichever pool the store holds. The body is compiled once
/// per backend, so a query that one driver cannot type fails the build, not production.
macro_rules! on_either {
    ($store:expr, |$pool:ident| $body:expr) => {
        match $store {
            Store::Sqlite($pool) => $body,
            Store::Postgres($pool) => $body,
        }
    };
}

mod mqtt;
pub use mqtt::{InboxStep, OutboxEnvelope, OwedRow, ReceiptRow, StreamReceiptRow, Unaccepted};

/// Which alerts a caller may list.
#[derive(Debug, Clone)]
pub enum AlertScope {
    All,
    /// Alerts reaching any of these countries.
    Countries(Vec<String>),
    /// Alerts sent to this person.
    Recipient(Uuid),
}

/// What the targeting index needs to know about one staff member at start-up.
#[derive(Debug, Clone)]
pub struct StaffRecord {
    pub id: Uuid,
    pub duty_station: Option<Position>,
    pub position: Option<(Position, DateTime<Utc>)>,
}

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
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    username: String,
    name: String,
    role: String,
    countries: String,
    duty_lat: Option<f64>,
    duty_lon: Option<f64>,
    disabled_at: Option<DateTime<Utc>>,
    phone: Option<String>,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> User {
        User {
            id: r.id,
            username: r.username,
            name: r.name,
            // The column's CHECK constraint admits only known roles.
            role: Role::parse(&r.role).unwrap_or(Role::Staff),
            countries: r
                .countries
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect(),
            duty_station: r.duty_lat.zip(r.duty_lon).map(|(lat, lon)| Position::new(lat, lon)),
            disabled: r.disabled_at.is_some(),
            phone: r.phone,
        }
    }
}

const USER_COLUMNS: &str = "id, username, name, role, countries, duty_lat, duty_lon, disabled_at, phone";

const CHECKIN_COLUMNS: &str =
    "id, alert_id, user_id, status, via, lat, lon, accuracy_m, note, recorded_by, recorded_at";
const STANDING_COLUMNS: &str = "alert_id, user_id, status, via, updated_at, lat, lon, note";
/// Sets recipients' standing from `answer` (`STANDING_COLUMNS`); an older answer never
/// overwrites a newer one.
const UPDATE_STANDINGS: &str = "UPDATE alert_recipients SET status = answer.status, via = answer.via, \
     updated_at = answer.updated_at, lat = answer.lat, lon = answer.lon, note = answer.note FROM answer \
     WHERE alert_recipients.alert_id = answer.alert_id AND alert_recipients.user_id = answer.user_id \
     AND (alert_recipients.updated_at IS NULL OR alert_recipients.updated_at <= answer.updated_at)";

/// Whether a device of recipient `r` has the alert: a completed WebSocket write, a device's
/// MQTT PUBACK (an external broker's is not a device's), or the app's acknowledgement.
const REACHED: &str =
    "(EXISTS (SELECT 1 FROM stream_receipts w WHERE w.alert_id = r.alert_id AND w.user_id = r.user_id) \
     OR EXISTS (SELECT 1 FROM mqtt_envelopes e JOIN mqtt_outbox o ON o.envelope_id = e.id \
                WHERE e.alert_id = r.alert_id AND o.user_id = r.user_id AND o.delivered_at IS NOT NULL) \
     OR EXISTS (SELECT 1 FROM alert_acknowledgements a WHERE a.alert_id = r.alert_id AND a.user_id = r.user_id))";

/// SQLite caps bound parameters per statement; recipients are inserted in chunks below it.
const ROWS_PER_INSERT: usize = 5_000;

/// Inserts an alert's countries inside a transaction (both backends).
macro_rules! insert_countries {
    ($tx:expr, $alert:expr) => {
        if !$alert.countries.is_empty() {
            let mut q = QueryBuilder::new("INSERT INTO alert_countries (alert_id, country) ");
            q.push_values(&$alert.countries, |mut row, c| {
                row.push_bind($alert.id).push_bind(c);
            });
            q.build().execute($tx).await?;
        }
    };
}

/// Inserts recipients in chunks, skipping people already recorded for the alert.
macro_rules! insert_recipients {
    ($tx:expr, $alert_id:expr, $users:expr) => {
        for chunk in $users.chunks(ROWS_PER_INSERT) {
            let mut q = QueryBuilder::new("INSERT INTO alert_recipients (alert_id, user_id) ");
            q.push_values(chunk, |mut row, user| {
                row.push_bind($alert_id).push_bind(*user);
            });
            q.push(" ON CONFLICT DO NOTHING");
            q.build().execute($tx).await?;
        }
    };
}

impl Store {
    /// Opens (creating if needed) the database at `url` and brings its schema up to date.
    pub async fn connect(url: &str) -> Result<Store> {
        let store = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::BadUrl(e.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: a commit is on disk before we acknowledge it, even across power loss.
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            Store::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(8)
                    .connect_with(options)
                    .await?,
            )
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Store::Postgres(
                PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await?,
            )
        } else {
            return Err(StoreError::BadUrl(format!(
                "'{url}' must start with sqlite: or postgres:"
            )));
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        match self {
            Store::Sqlite(pool) => sqlx::migrate!("migrations/sqlite").run(pool).await?,
            Store::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        on_either!(self, |pool| sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn close(&self) {
        on_either!(self, |pool| pool.close().await)
    }

    // ---- accounts ----

    pub async fn create_user(&self, new: &NewUser, password_hash: &str, now: DateTime<Utc>) -> Result<User> {
        let user = User {
            id: Uuid::new_v4(),
            username: new.username.clone(),
            name: new.name.clone().unwrap_or_else(|| new.username.clone()),
            role: new.role,
            countries: new.countries.clone(),
            duty_station: new.duty_station.map(|p| Position::new(p.lat, p.lon)),
            disabled: false,
            phone: new.phone.clone(),
        };
        let sql =
            "INSERT INTO users (id, username, name, role, countries, duty_lat, duty_lon, password_hash, created_at, phone)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
        let inserted = on_either!(self, |pool| sqlx::query(sql)
            .bind(user.id)
            .bind(&user.username)
            .bind(&user.name)
            .bind(user.role.as_str())
            .bind(user.countries.join(","))
            .bind(user.duty_station.map(|p| p.lat))
            .bind(user.duty_station.map(|p| p.lon))
            .bind(password_hash)
            .bind(now)
            .bind(&user.phone)
            .execute(pool)
            .await
            .map(|_| ()));
        match inserted {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict("username")),
            other => other.map(|_| user).map_err(Into::into),
        }
    }

    /// The account and its password hash, for login; a disabled account has none.
    pub async fn credentials(&self, username: &str) -> Result<Option<(User, String)>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: UserRow,
            password_hash: String,
        }
        let sql =
            format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE username = $1 AND disabled_at IS NULL");
        let row: Option<Row> = on_either!(self, |pool| sqlx::query_as(&sql)
            .bind(username)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(|r| (r.user.into(), r.password_hash)))
    }

    pub async fn user(&self, id: Uuid) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row: Option<UserRow> = on_either!(self, |pool| sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?;
        Ok(row.map(Into::into))
    }

    pub async fn users(&self) -> Result<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username");
        let rows: Vec<UserRow> = on_either!(self, |pool| sqlx::query_as(&sql).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Accounts created at or after `since` (the hub polls this for accounts the CLI adds).
    pub async fn users_created_since(&self, since: DateTime<Utc>) -> Result<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE created_at >= $1");
        let rows: Vec<UserRow> = on_either!(self, |pool| sqlx::query_as(&sql).bind(since).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    // ---- tokens ----

    pub async fn insert_token(
        &self,
        hash: &[u8],
        user: Uuid,
        issued: DateTime<Utc>,
        expires: DateTime<Utc>,
    ) -> Result<()> {
        let sql = "INSERT INTO tokens (token_hash, user_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)";
        on_either!(self, |pool| sqlx::query(sql)
            .bind(hash)
            .bind(user)
            .bind(issued)
            .bind(expires)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// The account a token belongs to, and when the token expires, if it is neither expired nor
    /// revoked, and the account is not disabled.
    pub async fn token_user(&self, hash: &[u8], now: DateTime<Utc>) -> Result<Option<(User, DateTime<Utc>)>> {
        #[derive(sqlx::FromRow)]
        struct TokenRow {
            #[sqlx(flatten)]
            user: UserRow,
            expires_at: DateTime<Utc>,
        }
        let sql = "SELECT u.id, u.username, u.name, u.role, u.countries, u.duty_lat, u.duty_lon, u.disabled_at,
                          u.phone, t.expires_at
                   FROM tokens t JOIN users u ON u.id = t.user_id
                   WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > $2 AND u.disabled_at IS NULL";
        let row: Option<TokenRow> = on_either!(self, |pool| sqlx::query_as(sql)
            .bind(hash)
            .bind(now)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(|r| (r.user.into(), r.expires_at)))
    }

    /// The tokens revoked before they expired that have not expired yet: their hashes and
    /// when each was revoked (an external broker may still admit them unless told).
    pub async fn revoked_tokens(
        &self,
        user: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Result<Vec<(Vec<u8>, DateTime<Utc>)>> {
        let sql = "SELECT token_hash, revoked_at FROM tokens
                   WHERE revoked_at IS NOT NULL AND expires_at > $1 AND ($2 IS NULL OR user_id = $2)";
        let rows: Vec<(Vec<u8>, DateTime<Utc>)> = on_either!(self, |pool| sqlx::query_as(sql)
            .bind(now)
            .bind(user)
            .fetch_all(pool)
            .await)?;
        Ok(rows)
    }

    pub async fn revoke_token(&self, hash: &[u8], now: DateTime<Utc>) -> Result<()> {
        let sql = "UPDATE tokens SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL";
        on_either!(self, |pool| sqlx::query(sql)
            .bind(hash)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    // ---- positions ----

    /// Stores a position fix unless a newer one is already held; returns whether it was stored.
    pub async fn record_position(&self, user: Uuid, at: Position, recorded_at: DateTime<Utc>) -> Result<bool> {
        let sql = "INSERT INTO positions (user_id, lat, lon, accuracy_m, recorded_at) VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (user_id) DO UPDATE
                   SET lat = excluded.lat, lon = excluded.lon, accuracy_m = excluded.accuracy_m, recorded_at = excluded.recorded_at
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

    // ---- alerts ----

    /// Stores a new alert with the countries it reaches and the people it was sent to, at once.
    pub async fn insert_alert(&self, alert: &Alert, recipients: &[Uuid]) -> Result<()> {
        let sql =
            "INSERT INTO alerts (id, revision, sent_at, expires_at, cancelled, body) VALUES ($1, $2, $3, $4, $5, $6)";
        on_either!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(sql)
                .bind(alert.id)
                .bind(i64::from(alert.revision))
                .bind(alert.sent_at)
                .bind(alert.content.expires_at)
                .bind(false)
                .bind(Json(alert))
                .execute(&mut *tx)
                .await?;
            insert_countries!(&mut *tx, alert);
            insert_recipients!(&mut *tx, alert.id, recipients);
            tx.commit().await
        })?;
        Ok(())
    }

    /// Stores a new revision of an alert, provided nobody stored another since `previous`, and
    /// adds the people the new revision reaches for the first time.
    pub async fn update_alert(&self, alert: &Alert, previous: u32, new_recipients: &[Uuid]) -> Result<()> {
        let sql = "UPDATE alerts SET revision = $2, expires_at = $3, cancelled = $4, body = $5 WHERE id = $1 AND revision = $6";
        let cancelled = alert.msg_type == scaan_schemas::MsgType::Cancel;
        on_either!(self, |pool| {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(sql)
                .bind(alert.id)
                .bind(i64::from(alert.revision))
                .bind(alert.content.expires_at)
                .bind(cancelled)
                .bind(Json(alert))
                .bind(i64::from(previous))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if changed == 0 {
                return Err(StoreError::Conflict("revision"));
            }
            sqlx::query("DELETE FROM alert_countries WHERE alert_id = $1")
                .bind(alert.id)
                .execute(&mut *tx)
                .await?;
            insert_countries!(&mut *tx, alert);
            insert_recipients!(&mut *tx, alert.id, new_recipients);
            tx.commit().await
        })?;
        Ok(())
    }

    pub async fn alert(&self, id: Uuid) -> Result<Option<Alert>> {
        let sql = "SELECT body FROM alerts WHERE id = $1";
        let row: Option<(Json<Alert>,)> =
            on_either!(self, |pool| sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?;
        Ok(row.map(|(Json(a),)| a))
    }

    /// Newest first; with `active_at`, only alerts neither cancelled nor expired at that time.
    pub async fn alerts(&self, scope: &AlertScope, active_at: Option<DateTime<Utc>>, limit: u32) -> Result<Vec<Alert>> {
        if matches!(scope, AlertScope::Countries(c) if c.is_empty()) {
            return Ok(Vec::new());
        }
        let rows: Vec<(Json<Alert>,)> = on_either!(self, |pool| {
            let mut q = QueryBuilder::new("SELECT body FROM alerts WHERE 1 = 1");
            match scope {
                AlertScope::All => {}
                AlertScope::Countries(countries) => {
                    q.push(" AND id IN (SELECT alert_id FROM alert_countries WHERE country IN (");
                    let mut list = q.separated(", ");
                    for c in countries {
                        list.push_bind(c);
                    }
                    q.push("))");
                }
                AlertScope::Recipient(user) => {
                    q.push(" AND id IN (SELECT alert_id FROM alert_recipients WHERE user_id = ")
                        .push_bind(*user)
                        .push(")");
                }
            }
            if let Some(now) = active_at {
                q.push(" AND cancelled = ")
                    .push_bind(false)
                    .push(" AND expires_at > ")
                    .push_bind(now);
            }
            q.push(" ORDER BY sent_at DESC LIMIT ").push_bind(i64::from(limit));
            q.build_query_as().fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(|(Json(a),)| a).collect())
    }

    /// Everyone an alert was sent to, over all its revisions.
    pub async fn alert_recipients(&self, alert: Uuid) -> Result<Vec<Uuid>> {
        let sql = "SELECT user_id FROM alert_recipients WHERE alert_id = $1";
        let rows: Vec<(Uuid,)> = on_either!(self, |pool| sqlx::query_as(sql).bind(alert).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|(u,)| u).collect())
    }

    // ---- headcounts ----

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
        match self {
            Store::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                for chunk in batch.chunks(ROWS_PER_INSERT / 12) {
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
                            .push_bind(c.recorded_at);
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
                let mut tx = pool.begin().await?;
                sqlx::query(&format!(
                    "INSERT INTO checkins ({CHECKIN_COLUMNS}) SELECT * FROM UNNEST($1::uuid[], $2::uuid[], \
                     $3::uuid[], $4::text[], $5::text[], $6::float8[], $7::float8[], $8::float8[], $9::text[], \
                     $10::uuid[], $11::timestamptz[])"
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

    /// Adds people to an alert's recipients (late arrivals); returns those not already there.
    pub async fn add_recipients(&self, alert: Uuid, users: &[Uuid]) -> Result<Vec<Uuid>> {
        let mut added = Vec::new();
        let sql = "INSERT INTO alert_recipients (alert_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
        for user in users {
            let n = on_either!(self, |pool| sqlx::query(sql)
                .bind(alert)
                .bind(*user)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()))?;
            if n > 0 {
                added.push(*user);
            }
        }
        Ok(added)
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

    /// Recipients who have not answered yet.
    pub async fn silent_recipients(&self, alert: Uuid) -> Result<Vec<Uuid>> {
        let sql = "SELECT user_id FROM alert_recipients WHERE alert_id = $1 AND status = 'no_response'";
        let rows: Vec<(Uuid,)> = on_either!(self, |pool| sqlx::query_as(sql).bind(alert).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|(u,)| u).collect())
    }

    /// How many recipients of an alert stand at each status, and of those without an answer,
    /// how many no device has reached.
    pub async fn headcount_tally(&self, alert: Uuid) -> Result<Vec<(PersonStatus, u32, u32)>> {
        let sql = format!(
            // CASE stops at the first match: only the silent are looked up.
            "SELECT r.status, COUNT(*), SUM(CASE WHEN r.status <> 'no_response' THEN 0 WHEN {REACHED} THEN 0 ELSE 1 END)
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
        let sql = format!(
            "SELECT u.id, u.username, u.name, r.status, r.via, r.updated_at, r.lat, r.lon, r.note,
                    CASE WHEN {REACHED} THEN 1 ELSE 0 END AS reached, sos.id AS sos_id, sos.status AS sos_status, u.phone
             FROM alert_recipients r JOIN users u ON u.id = r.user_id
             LEFT JOIN sos ON sos.id = (SELECT s.id FROM sos s WHERE s.staff_id = r.user_id AND s.status <> 'resolved'
                                        ORDER BY s.raised_at DESC LIMIT 1)
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
            })
            .collect())
    }

    // ---- SOS ----

    pub async fn insert_sos(&self, sos: &Sos) -> Result<()> {
        let sql =
            "INSERT INTO sos (id, staff_id, status, raised_at, announced_at, body) VALUES ($1, $2, $3, $4, $4, $5)";
        on_either!(self, |pool| sqlx::query(sql)
            .bind(sos.id)
            .bind(sos.staff_id)
            .bind(sos.status.as_str())
            .bind(sos.raised_at)
            .bind(Json(sos))
            .execute(pool)
            .await
            .map(|_| ()))?;
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
            return Err(StoreError::Conflict("sos_status"));
        }
        Ok(())
    }

    pub async fn sos(&self, id: Uuid) -> Result<Option<(Sos, DateTime<Utc>)>> {
        let sql = "SELECT body, announced_at FROM sos WHERE id = $1";
        let row: Option<(Json<Sos>, DateTime<Utc>)> =
            on_either!(self, |pool| sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?;
        Ok(row.map(|(Json(s), at)| (s, at)))
    }

    /// Newest first, optionally only those at `status`.
    pub async fn sos_list(&self, status: Option<SosStatus>, limit: u32) -> Result<Vec<Sos>> {
        let rows: Vec<(Json<Sos>,)> = on_either!(self, |pool| {
            let mut q = QueryBuilder::new("SELECT body FROM sos");
            if let Some(status) = status {
                q.push(" WHERE status = ").push_bind(status.as_str());
            }
            q.push(" ORDER BY raised_at DESC LIMIT ").push_bind(i64::from(limit));
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

    // ---- audit ----

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
                countries: r
                    .countries
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect(),
                detail: r.detail.0,
            })
            .collect())
    }

    pub async fn is_recipient(&self, alert: Uuid, user: Uuid) -> Result<bool> {
        let sql = "SELECT 1 FROM alert_recipients WHERE alert_id = $1 AND user_id = $2";
        let row: Option<(i32,)> = on_either!(self, |pool| sqlx::query_as(sql)
            .bind(alert)
            .bind(user)
            .fetch_optional(pool)
            .await)?;
        Ok(row.is_some())
    }
}

mod accounts;
mod advisories;
mod reports;
mod trips;

pub use accounts::{Refused, SessionRecord};

pub use reports::ReportScope;
pub use trips::TripScope;
