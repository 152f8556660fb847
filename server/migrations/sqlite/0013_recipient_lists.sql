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
