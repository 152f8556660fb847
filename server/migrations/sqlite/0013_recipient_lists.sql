-- Issue 18: who an alert or an inbox envelope is for is stored once, as one list (each
-- person's 16-byte id, one after the other), in the transaction its sender waits for. The
-- per-person rows (`alert_recipients`, `mqtt_outbox`) are written from that list afterwards,
-- off the sender's path, and the list's row is deleted in the same transaction: a row here is
-- a list not yet expanded. Whatever reads or marks per-person rows expands first what is
-- pending, and opening the store expands what a `kill -9` left. (SQLite)
CREATE TABLE alert_audiences (
    alert_id   BLOB PRIMARY KEY REFERENCES alerts (id),
    recipients BLOB NOT NULL
);
-- `queued_at`: the time each expanded outbox row takes.
CREATE TABLE inbox_audiences (
    envelope_id BLOB PRIMARY KEY REFERENCES mqtt_envelopes (id),
    queued_at   TEXT NOT NULL,
    recipients  BLOB NOT NULL
);

-- Those rows are now written from the list, after the answer, but still on the same cores as
-- the fan-out: as for the outbox in 0007, only the hub writes them, for people it has just
-- resolved, and no alert or account is ever deleted, so the foreign-key checks only cost.
-- SQLite cannot drop a constraint: the table is rebuilt.
CREATE TABLE alert_recipients_new (
    alert_id   BLOB NOT NULL,
    user_id    BLOB NOT NULL,
    status     TEXT NOT NULL DEFAULT 'no_response' CHECK (status IN ('no_response', 'safe', 'need_help')),
    via        TEXT,
    updated_at TEXT,
    lat        REAL,
    lon        REAL,
    note       TEXT,
    PRIMARY KEY (alert_id, user_id)
);
INSERT INTO alert_recipients_new (alert_id, user_id, status, via, updated_at, lat, lon, note)
    SELECT alert_id, user_id, status, via, updated_at, lat, lon, note FROM alert_recipients;
DROP TABLE alert_recipients;
ALTER TABLE alert_recipients_new RENAME TO alert_recipients;
CREATE INDEX alert_recipients_user ON alert_recipients (user_id);
