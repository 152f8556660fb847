-- WebSocket receipts, and what people said in their answers. (SQLite)

-- An envelope of an alert whose write to one of its recipient's streams completed: the first
-- counts. Written only by the hub, for recipients of stored alerts, and neither are ever
-- deleted: no foreign keys (see 0007).
CREATE TABLE stream_receipts (
    alert_id     BLOB NOT NULL,
    user_id      BLOB NOT NULL,
    delivered_at TEXT NOT NULL,
    PRIMARY KEY (alert_id, user_id)
);

-- A person's standing in a headcount keeps the note of their latest answer.
ALTER TABLE alert_recipients ADD COLUMN note TEXT;
UPDATE alert_recipients SET note = (
    SELECT c.note FROM checkins c
    WHERE c.alert_id = alert_recipients.alert_id AND c.user_id = alert_recipients.user_id
    ORDER BY c.recorded_at DESC LIMIT 1)
WHERE updated_at IS NOT NULL;
