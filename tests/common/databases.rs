//! Fresh databases for tests, of either backend: a SQLite file, or a new PostgreSQL database on
//! the server `SCAAN_TEST_POSTGRES_URL` names (skipped loudly without it, and never in CI).
//! Included by path by the end-to-end harness (`tests/tests/e2e/harness.rs`) and the storage
//! conformance suite (`server/tests/storage.rs`).

#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    /// The server URL of a PostgreSQL whose `postgres`-like user may create databases.
    Postgres(String),
}

impl Backend {
    /// PostgreSQL from `SCAAN_TEST_POSTGRES_URL`. Without it the test is skipped — loudly, and
    /// never in CI, where a missing database is a failure.
    pub fn postgres() -> Option<Backend> {
        match std::env::var("SCAAN_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => Some(Backend::Postgres(url)),
            _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("CI=true but SCAAN_TEST_POSTGRES_URL is not set: the PostgreSQL tests must run in CI")
            }
            _ => {
                // Written past the test harness's capture, so the skip shows in every run.
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED (PostgreSQL): set SCAAN_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test to run it"
                );
                None
            }
        }
    }

    /// A database nobody else uses: a file in `dir`, or a new PostgreSQL database.
    pub async fn fresh_database(&self, dir: &std::path::Path) -> String {
        match self {
            Backend::Sqlite => format!("sqlite://{}", dir.join("scaan.db").display()),
            Backend::Postgres(server) => {
                use sqlx::Connection;
                let name = format!("scaan_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = sqlx::PgConnection::connect(server)
                    .await
                    .expect("connect to SCAAN_TEST_POSTGRES_URL");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .expect("create a test database");
                let base = server.rsplit_once('/').map(|(b, _)| b).unwrap_or(server);
                format!("{base}/{name}")
            }
        }
    }
}
