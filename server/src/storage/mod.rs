//! Durable state, one file per aggregate; this file holds the store itself (connecting to
//! either backend and migrating it), the errors, and the row helpers files share.
//!
//! | file | what it owns |
//! |---|---|
//! | [`accounts`] | accounts, tokens, sessions, the account lifecycle |
//! | [`positions`] | last known positions; the staff records targeting starts from |
//! | [`alerts`] | alerts, the countries they reach, their recipients |
//! | [`headcounts`] | check-ins, each recipient's standing, the tally and board, the second wave |
//! | [`sos`] | SOS calls |
//! | [`privacy`] | grounds for precise views, retention, one person's records exported or erased |
//! | [`audit`] | the audit trail |
//! | [`reports`] | incident reports and sensitive access |
//! | [`advisories`] | country advisories and their history |
//! | [`trips`] | trips and clearance |
//! | [`mqtt`] | the MQTT outbox and delivery receipts |
//! | [`texts`] | the SMS outbox and the gateway's delivery reports |
//! | [`warnings`] | followed CAP feeds, their fetches, outside warnings and the messages applied |
//! | [`nodes`] | what one hub node did that the others apply (several nodes on one database) |
//!
//! Two backends, chosen by the URL scheme: SQLite (embedded, the default) and PostgreSQL
//! (production). Each has its own migrations and connection set-up; the queries are written
//! once in portable SQL (`$1` placeholders work in both) and run through [`on_either!`], with no
//! lowest-common-denominator `Any` driver. Whether each SQL text means the same on both is
//! what the storage conformance suite (`server/tests/storage.rs`) pins, on both backends.

use chrono::{DateTime, Utc};
use scaan_schemas::{Position, Role, User};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The write clashes with what is stored: the caller's to hear about, not a failure.
    #[error("conflict: {0:?}")]
    Conflict(Conflict),
    /// A constraint no request is expected to break was broken: a bug, or a constraint missing
    /// from [`CONFLICTS`].
    #[error("the database refused the write: constraint {constraint}")]
    Constraint { constraint: String, source: sqlx::Error },
    #[error("invalid database URL: {0}")]
    BadUrl(String),
    #[error(transparent)]
    Database(sqlx::Error),
    #[error("migrating the database failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Why a write was refused for what is already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// Another account has that username.
    UsernameTaken,
    /// Someone stored another revision (or status) since the one the change was made from.
    ChangedMeanwhile,
    /// The SOS call's status moved on since it was read.
    SosChanged,
    /// A feed with that URL is followed already.
    FeedFollowed,
}

/// The constraints a request may break, as each backend names them, and what breaking each
/// means: PostgreSQL's constraint name, and SQLite's (which names none) columns from its
/// message, `UNIQUE constraint failed: users.username`. Any other constraint broken is
/// [`StoreError::Constraint`], which names it.
const CONFLICTS: &[(&str, &str, Conflict)] = &[
    // (PostgreSQL, SQLite, conflict)
    ("users_username_key", "users.username", Conflict::UsernameTaken),
    ("warning_feeds_url_key", "warning_feeds.url", Conflict::FeedFollowed),
];

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        let broken = match &e {
            sqlx::Error::Database(db) if db.kind() != sqlx::error::ErrorKind::Other => {
                match db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                    // A NOT NULL violation names a column, not a constraint.
                    Some(pg) => {
                        BrokenConstraint::Postgres(pg.constraint().or(pg.column()).unwrap_or(pg.message()).to_owned())
                    }
                    None => BrokenConstraint::Sqlite(
                        db.message()
                            .split_once(" constraint failed: ")
                            .map_or(db.message(), |(_, columns)| columns)
                            .to_owned(),
                    ),
                }
            }
            _ => return StoreError::Database(e),
        };
        let known = CONFLICTS.iter().find(|(postgres, sqlite, _)| match &broken {
            BrokenConstraint::Postgres(name) => name == postgres,
            BrokenConstraint::Sqlite(columns) => columns == sqlite,
        });
        match (known, broken) {
            (Some((_, _, conflict)), _) => StoreError::Conflict(*conflict),
            (None, BrokenConstraint::Postgres(constraint) | BrokenConstraint::Sqlite(constraint)) => {
                StoreError::Constraint { constraint, source: e }
            }
        }
    }
}

/// A constraint as its backend names it.
enum BrokenConstraint {
    Postgres(String),
    Sqlite(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to whichever pool the store holds. The body is compiled once
/// per backend, so the build checks the Rust side for each driver: that every bound value and
/// every decoded column type is one that driver can encode or decode. The SQL text is only a
/// string to the compiler: a statement one database rejects, or reads differently, still
/// builds; the conformance suite run on both backends is what catches that.
macro_rules! on_either {
    ($store:expr, |$pool:ident| $body:expr) => {
        match $store {
            Store::Sqlite($pool) => $body,
            Store::Postgres($pool) => $body,
        }
    };
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
    phones: Option<String>,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> User {
        User {
            id: r.id,
            username: r.username,
            name: r.name,
            // The column's CHECK constraint admits only known roles.
            role: Role::parse(&r.role).unwrap_or(Role::Staff),
            countries: country_list(&r.countries),
            duty_station: r.duty_lat.zip(r.duty_lon).map(|(lat, lon)| Position::new(lat, lon)),
            disabled: r.disabled_at.is_some(),
            phones: r
                .phones
                .map_or_else(Vec::new, |p| p.split(',').map(str::to_owned).collect()),
        }
    }
}

/// A comma-separated country column as a list (empty for none).
fn country_list(joined: &str) -> Vec<String> {
    joined.split(',').filter(|c| !c.is_empty()).map(str::to_owned).collect()
}

/// An account's columns, its numbers (`user_phones`) joined in order of preference.
const USER_COLUMNS: &str = "id, username, name, role, countries, duty_lat, duty_lon, disabled_at, \
     (SELECT string_agg(p.phone, ',' ORDER BY p.preference) FROM user_phones p WHERE p.user_id = users.id) AS phones";

/// SQLite caps bound parameters per statement (32,766): rows are inserted in chunks below it.
const ROWS_PER_INSERT: usize = 5_000;

/// Begins a transaction that writes. On SQLite it takes the write lock at once (`BEGIN
/// IMMEDIATE`, which waits out the busy timeout): one begun deferred that reads first fails at
/// its first write, at once and without waiting ("database is locked"), whenever another
/// connection wrote in between; since an alert's recipient rows are written after its answer
/// (issue 18), a request right after an alert often meets such a write.
trait BeginWrite {
    type Database: sqlx::Database;
    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, Self::Database>>;
}

impl BeginWrite for SqlitePool {
    type Database = sqlx::Sqlite;
    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for PgPool {
    type Database = sqlx::Postgres;
    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        self.begin().await
    }
}

/// People stored once as one list (issue 18): each id's 16 bytes, one after the other, in
/// order of id, so that the rows written from it go into each index in order.
fn pack(people: &[Uuid]) -> Vec<u8> {
    let mut people = people.to_vec();
    people.sort_unstable();
    people.iter().flat_map(|id| *id.as_bytes()).collect()
}

impl Store {
    /// `column` is one of the people of the [`pack`]ed list bound as `$list`: a condition that
    /// reads `column`'s index once per person. PostgreSQL plans a prepared statement once for
    /// any list, guessing a thousand people, and joined a guessed thousand by scanning the whole
    /// table; an array of them it looks up in the index.
    fn among(&self, column: &str, list: u8) -> String {
        let people = self.people(list, None);
        match self {
            Store::Sqlite(_) => format!("{column} IN (SELECT user_id FROM {people})"),
            Store::Postgres(_) => format!("{column} = ANY(ARRAY(SELECT user_id FROM {people}))"),
        }
    }

    /// The people of a [`pack`]ed list bound as the statement's parameter `$list`, as a table
    /// `people (user_id)` to select from, in the list's order; with `numbers`, the parameter
    /// holding a JSON array of one integer per person, `people (user_id, number)`. One parameter
    /// for all of them: binding two or three per person cost more than writing their rows.
    fn people(&self, list: u8, numbers: Option<u8>) -> String {
        match (self, numbers) {
            (Store::Sqlite(_), None) => format!(
                "(WITH RECURSIVE i (n) AS (SELECT 0 WHERE length(${list}) >= 16 \
                 UNION ALL SELECT n + 1 FROM i WHERE (n + 2) * 16 <= length(${list})) \
                 SELECT substr(${list}, n * 16 + 1, 16) AS user_id FROM i) people"
            ),
            (Store::Sqlite(_), Some(numbers)) => format!(
                "(SELECT substr(${list}, key * 16 + 1, 16) AS user_id, value AS number \
                 FROM json_each(${numbers})) people"
            ),
            (Store::Postgres(_), None) => format!(
                "(SELECT encode(substring(${list}::bytea FROM n * 16 + 1 FOR 16), 'hex')::uuid AS user_id \
                 FROM generate_series(0, length(${list}::bytea) / 16 - 1) n) people"
            ),
            (Store::Postgres(_), Some(numbers)) => format!(
                "(SELECT encode(substring(${list}::bytea FROM (n::int - 1) * 16 + 1 FOR 16), 'hex')::uuid AS user_id, \
                 number::int8 AS number FROM jsonb_array_elements_text(${numbers}::jsonb) WITH ORDINALITY j (number, n)) people"
            ),
        }
    }

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
        // What a hub killed right after answering left as lists (issue 18) becomes rows before
        // anything reads the store.
        let expanded = store.expand_pending().await?;
        if expanded > 0 {
            tracing::info!(
                lists = expanded,
                "wrote the per-person rows of recipient lists a stopped hub left"
            );
        }
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

    /// Writes the per-person rows of every recipient list not yet expanded, alerts' and inbox
    /// envelopes'; returns how many lists that was.
    pub async fn expand_pending(&self) -> Result<usize> {
        Ok(self.expand_audiences().await? + self.expand_inbox().await?)
    }

    pub async fn close(&self) {
        on_either!(self, |pool| pool.close().await)
    }
}

mod accounts;
mod advisories;
mod alerts;
mod audit;
mod headcounts;
mod journeys;
mod mqtt;
mod nodes;
mod positions;
mod privacy;
mod reports;
mod sos;
mod texts;
mod trips;
mod warnings;

pub use accounts::{Refused, SessionRecord};
pub use alerts::{AlertScope, AlertState};
pub use headcounts::StandingRecord;
pub use journeys::{JourneyScope, StoredJourney};
pub use mqtt::{InboxStep, OutboxEnvelope, OwedRow, ReceiptRow, StreamReceiptRow, Unaccepted};
pub use nodes::{NodeEventRow, NODE_EVENTS_CHANNEL};
pub use positions::StaffRecord;
pub use privacy::{pseudonym_username, GroundRecord, StalePosition, Swept, ERASED_NAME};
pub use reports::ReportScope;
pub use sos::SosScope;
pub use texts::{OwedText, TextReason, TextReceiptRow, TextReport};
pub use trips::TripScope;
pub use warnings::{MessageKey, Validators};

/// One page of a newest-first list: at most `limit` items, all older than `before` (the oldest
/// of the page before) when given.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub before: Option<DateTime<Utc>>,
    pub limit: u32,
}

impl Page {
    /// The newest `limit`.
    pub fn first(limit: u32) -> Self {
        Page { before: None, limit }
    }

    /// A page as a caller asks for it: 100 unless they say, and never more than 1000.
    pub fn asked(before: Option<DateTime<Utc>>, limit: Option<u32>) -> Self {
        Page {
            before,
            limit: limit.unwrap_or(100).clamp(1, 1000),
        }
    }
}
