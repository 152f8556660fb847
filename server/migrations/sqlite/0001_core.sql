-- Accounts, tokens, last known positions and alerts (SQLite).
-- Ids are 16-byte BLOBs (sqlx's uuid encoding), times RFC 3339 TEXT in UTC, which sorts in time order.

CREATE TABLE users (
    id            BLOB PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('staff', 'security_officer', 'watch_officer', 'admin')),
    countries     TEXT NOT NULL DEFAULT '',   -- comma-separated ISO 3166-1 alpha-2
    duty_lat      REAL,
    duty_lon      REAL,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
);

CREATE INDEX users_created ON users (created_at);

CREATE TABLE tokens (
    token_hash BLOB PRIMARY KEY,              -- SHA-256 of the bearer token; the token itself is never stored
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at  TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE positions (
    user_id     BLOB PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    lat         REAL NOT NULL,
    lon         REAL NOT NULL,
    accuracy_m  REAL,
    recorded_at TEXT NOT NULL
);

CREATE TABLE alerts (
    id         BLOB PRIMARY KEY,
    revision   INTEGER NOT NULL,
    sent_at    TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    cancelled  INTEGER NOT NULL DEFAULT 0,
    body       TEXT NOT NULL                  -- the alert as the API shows it (JSON)
);
CREATE INDEX alerts_sent ON alerts (sent_at DESC);

CREATE TABLE alert_countries (
    alert_id BLOB NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    country  TEXT NOT NULL,
    PRIMARY KEY (country, alert_id)
);

CREATE TABLE alert_recipients (
    alert_id BLOB NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    user_id  BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (alert_id, user_id)
);
CREATE INDEX alert_recipients_user ON alert_recipients (user_id);
