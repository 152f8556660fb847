-- Headcounts: each recipient's latest answer, and every check-in as it came.

ALTER TABLE alert_recipients ADD COLUMN status TEXT NOT NULL DEFAULT 'no_response'
    CHECK (status IN ('no_response', 'safe', 'need_help'));
ALTER TABLE alert_recipients ADD COLUMN via TEXT;
ALTER TABLE alert_recipients ADD COLUMN updated_at TEXT;
ALTER TABLE alert_recipients ADD COLUMN lat REAL;
ALTER TABLE alert_recipients ADD COLUMN lon REAL;

CREATE TABLE checkins (
    id          BLOB PRIMARY KEY,
    alert_id    BLOB NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status      TEXT NOT NULL CHECK (status IN ('safe', 'need_help')),
    via         TEXT NOT NULL,
    lat         REAL,
    lon         REAL,
    accuracy_m  REAL,
    note        TEXT,
    recorded_by BLOB NOT NULL REFERENCES users (id),
    recorded_at TEXT NOT NULL
);
CREATE INDEX checkins_alert ON checkins (alert_id, recorded_at);
