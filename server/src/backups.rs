//! Backups of the embedded SQLite database: `scaan backup DEST` takes a consistent copy while
//! the hub runs, `scaan restore SRC` puts one back while it does not. PostgreSQL has its own
//! tools for both (`pg_dump`, `pg_restore`: `deploy/README.md`).
//!
//! The copy is SQLite's `VACUUM INTO`: it reads inside one transaction, so it is the database
//! as it stood at one moment (every check-in acknowledged before it began is in it), and in WAL
//! mode it holds up no writer. A serving hub holds the database's lock file
//! ([`DatabaseLock`]), so a restore cannot pull the database from under it, nor can a second
//! hub serve the same file.

use anyhow::{bail, Context};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// What a copy holds, to tell the operator.
#[derive(Debug, serde::Serialize)]
pub struct Copied {
    pub path: PathBuf,
    pub bytes: u64,
    pub migrations: i64,
}

/// The SQLite file a `sqlite:` URL names; an error for PostgreSQL, whose tools do this.
fn sqlite_file(database_url: &str, verb: &str) -> anyhow::Result<PathBuf> {
    if !database_url.starts_with("sqlite:") {
        bail!(
            "scaan {verb} is for the embedded SQLite database; for PostgreSQL use pg_dump -Fc and \
             pg_restore (deploy/README.md, \"Backups\")"
        );
    }
    let options = SqliteConnectOptions::from_str(database_url)?;
    Ok(options.get_filename().to_path_buf())
}

/// Copies the database at `database_url` to `dest` (which must not exist), consistently, while
/// the hub may be running.
pub async fn backup(database_url: &str, dest: &Path) -> anyhow::Result<Copied> {
    let source = sqlite_file(database_url, "backup")?;
    if !source.exists() {
        bail!("there is no database at {}", source.display());
    }
    if dest.exists() {
        bail!("{} already exists; name a new file", dest.display());
    }
    let dest_text = dest
        .to_str()
        .with_context(|| format!("{} is not a UTF-8 path", dest.display()))?;
    let mut connection = SqliteConnectOptions::new()
        .filename(&source)
        .busy_timeout(std::time::Duration::from_secs(30))
        .connect()
        .await
        .with_context(|| format!("cannot open {}", source.display()))?;
    sqlx::query("VACUUM INTO ?")
        .bind(dest_text)
        .execute(&mut connection)
        .await
        .with_context(|| format!("cannot copy the database to {}", dest.display()))?;
    connection.close().await?;
    // VACUUM INTO writes without syncing: the copy is on disk before it is called done.
    File::open(dest)?.sync_all()?;
    sync_parent(dest)?;
    check(dest).await
}

/// Puts the copy at `src` in place of the database at `database_url`. Refused while a hub
/// serves that database.
pub async fn restore(src: &Path, database_url: &str) -> anyhow::Result<Copied> {
    let target = sqlite_file(database_url, "restore")?;
    let checked = check(src).await?;
    let _lock = DatabaseLock::take(&target)?;
    let staged = with_suffix(&target, ".restoring");
    std::fs::copy(src, &staged).with_context(|| format!("cannot copy {} to {}", src.display(), staged.display()))?;
    File::open(&staged)?.sync_all()?;
    // The old database's write-ahead log belongs to it, not to the copy.
    for stale in [with_suffix(&target, "-wal"), with_suffix(&target, "-shm")] {
        match std::fs::remove_file(&stale) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("cannot remove {}", stale.display()))
            }
            _ => {}
        }
    }
    std::fs::rename(&staged, &target)?;
    sync_parent(&target)?;
    Ok(Copied {
        path: target,
        ..checked
    })
}

/// Whether `path` is a whole SCAAN database: SQLite's integrity check passes and the hub's
/// migrations are recorded in it.
async fn check(path: &Path) -> anyhow::Result<Copied> {
    let mut connection = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .with_context(|| format!("cannot open {} as a SQLite database", path.display()))?;
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut connection)
        .await
        .with_context(|| format!("{} is not a SQLite database", path.display()))?;
    if integrity != "ok" {
        bail!("{} is damaged: {integrity}", path.display());
    }
    let migrations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&mut connection)
        .await
        .with_context(|| format!("{} is not a SCAAN hub's database", path.display()))?;
    connection.close().await?;
    Ok(Copied {
        path: path.to_path_buf(),
        bytes: std::fs::metadata(path)?.len(),
        migrations,
    })
}

/// The lock a serving hub holds on its SQLite database (`{file}.lock`, an advisory lock the
/// system drops with the process, even on `kill -9`).
pub struct DatabaseLock {
    _file: File,
}

impl DatabaseLock {
    /// Takes the lock for the SQLite database at `database_url`; `None` for PostgreSQL.
    pub fn for_url(database_url: &str) -> anyhow::Result<Option<DatabaseLock>> {
        if !database_url.starts_with("sqlite:") {
            return Ok(None);
        }
        DatabaseLock::take(&sqlite_file(database_url, "serve")?).map(Some)
    }

    fn take(database: &Path) -> anyhow::Result<DatabaseLock> {
        let path = with_suffix(database, ".lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(DatabaseLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => bail!(
                "a hub is serving {} (it holds {}); stop it first",
                database.display(),
                path.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
        }
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A rename or a new file is durable once its directory is synced too.
fn sync_parent(path: &Path) -> anyhow::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_is_pointed_at_its_own_tools() {
        let e = sqlite_file("postgres://db/scaan", "backup").unwrap_err().to_string();
        assert!(e.contains("pg_dump"), "{e}");
        assert_eq!(
            sqlite_file("sqlite:///var/lib/scaan/scaan.db", "backup").unwrap(),
            Path::new("/var/lib/scaan/scaan.db")
        );
    }

    #[test]
    fn one_lock_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("scaan.db");
        let held = DatabaseLock::take(&database).unwrap();
        let e = DatabaseLock::take(&database).err().unwrap().to_string();
        assert!(e.contains("stop it first"), "{e}");
        drop(held);
        assert!(DatabaseLock::take(&database).is_ok());
    }
}
