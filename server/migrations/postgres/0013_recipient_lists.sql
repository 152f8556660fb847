-- Issue 18: who an alert or an inbox envelope is for is stored once, as one list (each
-- person's 16-byte id, one after the other), in the transaction its sender waits for. The
-- per-person rows (`alert_recipients`, `mqtt_outbox`) are written from that list afterwards,
-- off the sender's path, and the list's row is deleted in the same transaction: a row here is
-- a list not yet expanded. Whatever reads or marks per-person rows expands first what is
-- pending, and opening the store expands what a `kill -9` left. (PostgreSQL)
CREATE TABLE alert_audiences (
    alert_id   UUID PRIMARY KEY REFERENCES alerts (id),
    recipients BYTEA NOT NULL
);
-- `queued_at`: the time each expanded outbox row takes.
CREATE TABLE inbox_audiences (
    envelope_id UUID PRIMARY KEY REFERENCES mqtt_envelopes (id),
    queued_at   TIMESTAMPTZ NOT NULL,
    recipients  BYTEA NOT NULL
);

-- Those rows are now written from the list, after the answer, but still on the same cores as
-- the fan-out: as for the outbox in 0007, only the hub writes them, for people it has just
-- resolved, and no alert or account is ever deleted, so the foreign-key checks only cost
-- (10,000 rows: 249-285 ms with them, `cargo bench -p scaan-tests --bench inbox`'s
-- `expand_alert_ms`).
ALTER TABLE alert_recipients
    DROP CONSTRAINT alert_recipients_alert_id_fkey,
    DROP CONSTRAINT alert_recipients_user_id_fkey;
