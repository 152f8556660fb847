//! Accounts and their tokens: creating an account (a username is taken once), login
//! credentials, issuing, checking and revoking tokens; and the account's lifecycle: disabling
//! and enabling, passwords, role and countries, and its sessions (its tokens neither expired
//! nor revoked). Every lifecycle change stamps the account's `changed_at`, which a running hub
//! polls: that is how a change made from the command line reaches the sessions it ends.

use chrono::{DateTime, Utc};
use scaan_schemas::{NewUser, Position, Role, User};
use sqlx::QueryBuilder;
use std::collections::HashMap;
use uuid::Uuid;

use super::{BeginWrite, Result, Store, UserRow, ROWS_PER_INSERT, USER_COLUMNS};

/// One live token of an account.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub token_hash: [u8; 32],
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Why an account change was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    NotFound,
    /// It would leave no enabled administrator.
    LastAdmin,
}

/// The change keeps an enabled administrator other than the account `$1` changed.
const ANOTHER_ADMIN: &str =
    "EXISTS (SELECT 1 FROM users o WHERE o.role = 'admin' AND o.disabled_at IS NULL AND o.id <> $1)";
/// PostgreSQL checks [`ANOTHER_ADMIN`] under this lock, so that two administrators disabling
/// each other at once cannot both succeed (SQLite runs one writer at a time anyway).
const ONE_ADMIN_CHANGE_AT_ONCE: &str = "LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE";

const INSERT_PHONE: &str = "INSERT INTO user_phones (user_id, preference, phone) VALUES ($1, $2, $3)";

impl Store {
    pub async fn create_user(&self, new: &NewUser, password_hash: &str, now: DateTime<Utc>) -> Result<User> {
        let user = User {
            id: Uuid::new_v4(),
            username: new.username.clone(),
            name: new.name.clone().unwrap_or_else(|| new.username.clone()),
            role: new.role,
            countries: new.countries.clone(),
            duty_station: new.duty_station.map(|p| Position::new(p.lat, p.lon)),
            disabled: false,
            phones: new.phones.clone(),
        };
        let sql =
            "INSERT INTO users (id, username, name, role, countries, duty_lat, duty_lon, password_hash, created_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
        // A username already taken is `Conflict::UsernameTaken` (the `CONFLICTS` table).
        on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(sql)
                .bind(user.id)
                .bind(&user.username)
                .bind(&user.name)
                .bind(user.role.as_str())
                .bind(user.countries.join(","))
                .bind(user.duty_station.map(|p| p.lat))
                .bind(user.duty_station.map(|p| p.lon))
                .bind(password_hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            for (preference, phone) in user.phones.iter().enumerate() {
                sqlx::query(INSERT_PHONE)
                    .bind(user.id)
                    .bind(preference as i32)
                    .bind(phone)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        })?;
        Ok(user)
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
        // An erased person's pseudonym is no account anyone manages.
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE erased_at IS NULL ORDER BY username");
        let rows: Vec<UserRow> = on_either!(self, |pool| sqlx::query_as(&sql).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Accounts created at or after `since`, each with when (the hub polls this for accounts
    /// the CLI adds).
    pub async fn users_created_since(&self, since: DateTime<Utc>) -> Result<Vec<(User, DateTime<Utc>)>> {
        self.users_stamped_since("created_at", since).await
    }

    /// Accounts whose `stamp` (a column of when) is at or after `since`, each with it.
    async fn users_stamped_since(&self, stamp: &str, since: DateTime<Utc>) -> Result<Vec<(User, DateTime<Utc>)>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: UserRow,
            stamp: DateTime<Utc>,
        }
        let sql = format!("SELECT {USER_COLUMNS}, {stamp} AS stamp FROM users WHERE {stamp} >= $1");
        let rows: Vec<Row> = on_either!(self, |pool| sqlx::query_as(&sql).bind(since).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|r| (r.user.into(), r.stamp)).collect())
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
        let Ok(hash) = <[u8; 32]>::try_from(hash) else {
            return Ok(None);
        };
        Ok(self.token_users(&[hash], now).await?.remove(&hash))
    }

    /// [`Self::token_user`] for many tokens in one query, by token: phones coming back at
    /// once after a restart log in at once. Tokens that open nothing are absent.
    pub async fn token_users(
        &self,
        hashes: &[[u8; 32]],
        now: DateTime<Utc>,
    ) -> Result<HashMap<[u8; 32], (User, DateTime<Utc>)>> {
        #[derive(sqlx::FromRow)]
        struct TokenRow {
            #[sqlx(flatten)]
            user: UserRow,
            token_hash: Vec<u8>,
            expires_at: DateTime<Utc>,
        }
        let sql = "SELECT u.id, u.username, u.name, u.role, u.countries, u.duty_lat, u.duty_lon, u.disabled_at,
                          (SELECT string_agg(p.phone, ',' ORDER BY p.preference) FROM user_phones p
                           WHERE p.user_id = u.id) AS phones, t.token_hash, t.expires_at
                   FROM tokens t JOIN users u ON u.id = t.user_id
                   WHERE t.revoked_at IS NULL AND u.disabled_at IS NULL AND t.expires_at > ";
        let mut users = HashMap::new();
        // One parameter per token: within both backends' limit on a statement's parameters.
        for chunk in hashes.chunks(ROWS_PER_INSERT) {
            let rows: Vec<TokenRow> = on_either!(self, |pool| {
                let mut q = QueryBuilder::new(sql);
                q.push_bind(now).push(" AND t.token_hash IN (");
                let mut each = q.separated(", ");
                for hash in chunk {
                    each.push_bind(hash.as_slice());
                }
                q.push(")");
                q.build_query_as().fetch_all(pool).await
            })?;
            for row in rows {
                if let Ok(hash) = <[u8; 32]>::try_from(row.token_hash.as_slice()) {
                    users.insert(hash, (row.user.into(), row.expires_at));
                }
            }
        }
        Ok(users)
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

    /// Disables (revoking every token) or enables an account. Returns the account and whether
    /// it changed; disabling the last enabled administrator is refused.
    pub async fn set_disabled(
        &self,
        id: Uuid,
        disabled: bool,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<(User, bool), Refused>> {
        let change = if disabled {
            format!(
                "UPDATE users SET disabled_at = $2, changed_at = $2 WHERE id = $1 AND disabled_at IS NULL \
                 AND (role <> 'admin' OR {ANOTHER_ADMIN})"
            )
        } else {
            "UPDATE users SET disabled_at = NULL, changed_at = $2 WHERE id = $1 AND disabled_at IS NOT NULL".to_owned()
        };
        let revoke = "UPDATE tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL";
        let read = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let postgres = matches!(self, Store::Postgres(_));
        let (changed, user) = on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            if postgres && disabled {
                sqlx::query(ONE_ADMIN_CHANGE_AT_ONCE).execute(&mut *tx).await?;
            }
            let changed = sqlx::query(&change)
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
            if changed && disabled {
                sqlx::query(revoke).bind(id).bind(now).execute(&mut *tx).await?;
            }
            let user: Option<UserRow> = sqlx::query_as(&read).bind(id).fetch_optional(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>((changed, user))
        })?;
        Ok(match user.map(User::from) {
            None => Err(Refused::NotFound),
            Some(user) if user.disabled == disabled => Ok((user, changed)),
            Some(_) => Err(Refused::LastAdmin),
        })
    }

    /// Gives an account a new role and countries; returns it as it was and as it is now. Taking
    /// the role of administrator from the last enabled one is refused.
    pub async fn set_role(
        &self,
        id: Uuid,
        role: Role,
        countries: &[String],
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<(User, User), Refused>> {
        let change = format!(
            "UPDATE users SET role = $2, countries = $3, changed_at = $4 WHERE id = $1 \
             AND ($2 = 'admin' OR role <> 'admin' OR disabled_at IS NOT NULL OR {ANOTHER_ADMIN})"
        );
        let read = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let postgres = matches!(self, Store::Postgres(_));
        let (before, changed, after) = on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            if postgres {
                sqlx::query(ONE_ADMIN_CHANGE_AT_ONCE).execute(&mut *tx).await?;
            }
            let before: Option<UserRow> = sqlx::query_as(&read).bind(id).fetch_optional(&mut *tx).await?;
            let changed = sqlx::query(&change)
                .bind(id)
                .bind(role.as_str())
                .bind(countries.join(","))
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
            let after: Option<UserRow> = sqlx::query_as(&read).bind(id).fetch_optional(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>((before, changed, after))
        })?;
        Ok(match (before, after) {
            (Some(before), Some(after)) if changed => Ok((before.into(), after.into())),
            (Some(_), _) => Err(Refused::LastAdmin),
            _ => Err(Refused::NotFound),
        })
    }

    /// Sets an account's phone numbers, in order of preference (none removes them all);
    /// returns the account as it was and as it is now, `None` when there is no such account. A
    /// phone changes no rights: the account's `changed_at` stays.
    pub async fn set_phones(&self, id: Uuid, phones: &[String]) -> Result<Option<(User, User)>> {
        let clear = "DELETE FROM user_phones WHERE user_id = $1";
        let read = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let (before, after) = on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let before: Option<UserRow> = sqlx::query_as(&read).bind(id).fetch_optional(&mut *tx).await?;
            if before.is_some() {
                sqlx::query(clear).bind(id).execute(&mut *tx).await?;
                for (preference, phone) in phones.iter().enumerate() {
                    sqlx::query(INSERT_PHONE)
                        .bind(id)
                        .bind(preference as i32)
                        .bind(phone)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            let after: Option<UserRow> = sqlx::query_as(&read).bind(id).fetch_optional(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>((before, after))
        })?;
        Ok(before.zip(after).map(|(b, a)| (b.into(), a.into())))
    }

    /// Sets an account's password hash and revokes its tokens, all but `keep` (the one making
    /// the change, when it is the owner's). `None` when there is no such account.
    pub async fn set_password(
        &self,
        id: Uuid,
        password_hash: &str,
        keep: Option<&[u8; 32]>,
        now: DateTime<Utc>,
    ) -> Result<Option<User>> {
        let change = "UPDATE users SET password_hash = $2, changed_at = $3 WHERE id = $1";
        let revoke = "UPDATE tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL AND token_hash <> $3";
        let read = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        // No token hashes to nothing: with no token to keep, every one goes.
        let keep: &[u8] = keep.map_or(&[], |k| k.as_slice());
        let user: Option<UserRow> = on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let changed = sqlx::query(change)
                .bind(id)
                .bind(password_hash)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if changed > 0 {
                sqlx::query(revoke)
                    .bind(id)
                    .bind(now)
                    .bind(keep)
                    .execute(&mut *tx)
                    .await?;
            }
            let user = sqlx::query_as(&read).bind(id).fetch_optional(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(user)
        })?;
        Ok(user.map(Into::into))
    }

    /// An account's tokens neither expired nor revoked at `now`, newest first (none for a
    /// disabled account).
    pub async fn sessions(&self, user: Uuid, now: DateTime<Utc>) -> Result<Vec<SessionRecord>> {
        let sql = "SELECT t.token_hash, t.issued_at, t.expires_at FROM tokens t JOIN users u ON u.id = t.user_id
                   WHERE t.user_id = $1 AND t.revoked_at IS NULL AND t.expires_at > $2 AND u.disabled_at IS NULL
                   ORDER BY t.issued_at DESC";
        let rows: Vec<(Vec<u8>, DateTime<Utc>, DateTime<Utc>)> = on_either!(self, |pool| sqlx::query_as(sql)
            .bind(user)
            .bind(now)
            .fetch_all(pool)
            .await)?;
        Ok(rows
            .into_iter()
            .filter_map(|(hash, issued_at, expires_at)| {
                Some(SessionRecord {
                    token_hash: hash.try_into().ok()?,
                    issued_at,
                    expires_at,
                })
            })
            .collect())
    }

    /// Revokes one of `user`'s tokens; false when it is not theirs or no longer live.
    pub async fn revoke_session(&self, user: Uuid, token_hash: &[u8; 32], now: DateTime<Utc>) -> Result<bool> {
        let sql = "UPDATE tokens SET revoked_at = $3 WHERE user_id = $1 AND token_hash = $2 AND revoked_at IS NULL";
        let n = on_either!(self, |pool| sqlx::query(sql)
            .bind(user)
            .bind(token_hash.as_slice())
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// How many accounts were created at or after `since`: one row read from the index, for a
    /// look that is mostly at people already known (their ids, 10,000 of them after an import,
    /// were each a row handed over from the database's thread, every second).
    pub async fn users_created_count_since(&self, since: DateTime<Utc>) -> Result<usize> {
        let sql = "SELECT COUNT(*) FROM users WHERE created_at >= $1";
        let (n,): (i64,) = on_either!(self, |pool| sqlx::query_as(sql).bind(since).fetch_one(pool).await)?;
        Ok(usize::try_from(n).unwrap_or_default())
    }

    /// Accounts changed (disabled, enabled, password, role) at or after `since`, each with when.
    pub async fn users_changed_since(&self, since: DateTime<Utc>) -> Result<Vec<(User, DateTime<Utc>)>> {
        self.users_stamped_since("changed_at", since).await
    }

    /// The enabled accounts with this phone number (E.164, as stored): a text from it is theirs
    /// only when there is exactly one.
    pub async fn users_by_phone(&self, phone: &str) -> Result<Vec<User>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id IN (SELECT user_id FROM user_phones WHERE phone = $1)
             AND disabled_at IS NULL LIMIT 2"
        );
        let rows: Vec<UserRow> = on_either!(self, |pool| sqlx::query_as(&sql).bind(phone).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
        let row: Option<UserRow> = on_either!(self, |pool| sqlx::query_as(&sql)
            .bind(username)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(Into::into))
    }
}
