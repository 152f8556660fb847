-- Issue 15, location privacy by default (PostgreSQL).
-- A last known position older than the freshness window is kept at area level only: the
-- retention sweep replaces it by its grid cell and marks it so, and a newer fix clears the mark.
ALTER TABLE positions ADD COLUMN area_only BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX positions_recorded ON positions (recorded_at);
-- The sweep deletes check-ins by age.
CREATE INDEX checkins_recorded ON checkins (recorded_at);
-- An erased person's pseudonym: an account row with no personal data, never enabled, that
-- keeps the headcounts, check-ins and receipts the person was part of counted.
ALTER TABLE users ADD COLUMN erased_at TIMESTAMPTZ;
-- Location views are read back per person (GET /api/v1/me/location-access).
CREATE INDEX audit_action_subject ON audit (action, subject, at);
