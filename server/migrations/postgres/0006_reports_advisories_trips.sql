-- Incident reports, country advisories with their history, trips, and who may read restricted
-- reports (PostgreSQL).

CREATE TABLE reports (
    id          UUID PRIMARY KEY,
    reporter_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status      TEXT NOT NULL CHECK (status IN ('new', 'confirmed', 'dismissed', 'merged')),
    country     TEXT,                   -- from the shipped boundaries; NULL at sea
    restricted  BOOLEAN NOT NULL,
    reported_at TIMESTAMPTZ NOT NULL,
    revision    BIGINT NOT NULL,       -- +1 per change, so two officers cannot both act on one version
    body        JSONB NOT NULL          -- the report as the API shows it
);
CREATE INDEX reports_reported ON reports (reported_at DESC);
CREATE INDEX reports_reporter ON reports (reporter_id);

-- Accounts allowed to read restricted reports (sexual violence); granted by an admin.
CREATE TABLE sensitive_access (
    user_id    UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    granted_by UUID NOT NULL REFERENCES users (id),
    granted_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE advisories (
    country    TEXT PRIMARY KEY,
    revision   BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    body       JSONB NOT NULL
);

CREATE TABLE advisory_history (
    country    TEXT NOT NULL,
    revision   BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    body       JSONB NOT NULL,
    PRIMARY KEY (country, revision)
);

CREATE TABLE trips (
    id           UUID PRIMARY KEY,
    traveller_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    country      TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('planned', 'pending_clearance', 'approved', 'declined', 'cancelled')),
    depart_at    TIMESTAMPTZ NOT NULL,
    return_at    TIMESTAMPTZ NOT NULL,
    body         JSONB NOT NULL
);
CREATE INDEX trips_traveller ON trips (traveller_id, return_at);
CREATE INDEX trips_country ON trips (country, return_at);
