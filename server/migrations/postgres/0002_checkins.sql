-- Headcounts: each recipient's latest answer, and every check-in as it came.

ALTER TABLE alert_recipients ADD COLUMN status TEXT NOT NULL DEFAULT 'no_response'
    CHECK (status IN ('no_response', 'safe', 'need_help'));
ALTER TABLE alert_recipients ADD COLUMN via TEXT;
ALTER TABLE alert_recipients ADD COLUMN updated_at TIMESTAMPTZ;
ALTER TABLE alert_recipients ADD COLUMN lat DOUBLE PRECISION;
ALTER TABLE alert_recipients ADD COLUMN lon DOUBLE PRECISION;

CREATE TABLE checkins (
    id          UUID PRIMARY KEY,
    alert_id    UUID NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status      TEXT NOT NULL CHECK (status IN ('safe', 'need_help')),
    via         TEXT NOT NULL,
    lat         DOUBLE PRECISION,
    lon         DOUBLE PRECISION,
    accuracy_m  DOUBLE PRECISION,
    note        TEXT,
    recorded_by UUID NOT NULL REFERENCES users (id),
    recorded_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX checkins_alert ON checkins (alert_id, recorded_at);
