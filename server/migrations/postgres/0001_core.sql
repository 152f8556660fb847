-- Accounts, tokens, last known positions and alerts (PostgreSQL).

CREATE TABLE users (
    id            UUID PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('staff', 'security_officer', 'watch_officer', 'admin')),
    countries     TEXT NOT NULL DEFAULT '',   -- comma-separated ISO 3166-1 alpha-2
    duty_lat      DOUBLE PRECISION,
    duty_lon      DOUBLE PRECISION,
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE INDEX users_created ON users (created_at);

CREATE TABLE tokens (
    token_hash BYTEA PRIMARY KEY,             -- SHA-256 of the bearer token; the token itself is never stored
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at  TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE positions (
    user_id     UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    lat         DOUBLE PRECISION NOT NULL,
    lon         DOUBLE PRECISION NOT NULL,
    accuracy_m  DOUBLE PRECISION,
    recorded_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE alerts (
    id         UUID PRIMARY KEY,
    revision   BIGINT NOT NULL,
    sent_at    TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    cancelled  BOOLEAN NOT NULL DEFAULT FALSE,
    body       JSONB NOT NULL                 -- the alert as the API shows it
);
CREATE INDEX alerts_sent ON alerts (sent_at DESC);

CREATE TABLE alert_countries (
    alert_id UUID NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    country  TEXT NOT NULL,
    PRIMARY KEY (country, alert_id)
);

CREATE TABLE alert_recipients (
    alert_id UUID NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    user_id  UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (alert_id, user_id)
);
CREATE INDEX alert_recipients_user ON alert_recipients (user_id);
