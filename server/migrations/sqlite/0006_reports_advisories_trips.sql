-- Incident reports, country advisories with their history, trips, and who may read restricted
-- reports (SQLite).

CREATE TABLE reports (
    id          BLOB PRIMARY KEY,
    reporter_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status      TEXT NOT NULL CHECK (status IN ('new', 'confirmed', 'dismissed', 'merged')),
    country     TEXT,                   -- from the shipped boundaries; NULL at sea
    restricted  INTEGER NOT NULL,
    reported_at TEXT NOT NULL,
    revision    INTEGER NOT NULL,       -- +1 per change, so two officers cannot both act on one version
    body        TEXT NOT NULL           -- the report as the API shows it
);
CREATE INDEX reports_reported ON reports (reported_at DESC);
CREATE INDEX reports_reporter ON reports (reporter_id);

-- Accounts allowed to read restricted reports (sexual violence); granted by an admin.
CREATE TABLE sensitive_access (
    user_id    BLOB PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    granted_by BLOB NOT NULL REFERENCES users (id),
    granted_at TEXT NOT NULL
);

CREATE TABLE advisories (
    country    TEXT PRIMARY KEY,
    revision   INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    body       TEXT NOT NULL
);

CREATE TABLE advisory_history (
    country    TEXT NOT NULL,
    revision   INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    body       TEXT NOT NULL,
    PRIMARY KEY (country, revision)
);

CREATE TABLE trips (
    id           BLOB PRIMARY KEY,
    traveller_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    country      TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('planned', 'pending_clearance', 'approved', 'declined', 'cancelled')),
    depart_at    TEXT NOT NULL,
    return_at    TEXT NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX trips_traveller ON trips (traveller_id, return_at);
CREATE INDEX trips_country ON trips (country, return_at);
