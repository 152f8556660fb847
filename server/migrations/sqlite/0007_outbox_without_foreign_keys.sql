-- The outbox's rows are written only by the hub, in the same transaction as their envelope,
-- for people it has just resolved, and neither users nor envelopes are ever deleted: the
-- foreign-key checks only cost, and an officer waits for these rows (an alert is answered
-- once its outbox is stored). SQLite cannot drop a constraint: the table is rebuilt. (SQLite)
CREATE TABLE mqtt_outbox_new (
    envelope_id        BLOB NOT NULL,
    user_id            BLOB NOT NULL,
    queued_at          TEXT NOT NULL,
    broker_accepted_at TEXT,
    PRIMARY KEY (envelope_id, user_id)
);
INSERT INTO mqtt_outbox_new SELECT envelope_id, user_id, queued_at, broker_accepted_at FROM mqtt_outbox;
DROP TABLE mqtt_outbox;
ALTER TABLE mqtt_outbox_new RENAME TO mqtt_outbox;
CREATE INDEX mqtt_outbox_unaccepted ON mqtt_outbox (queued_at) WHERE broker_accepted_at IS NULL;
