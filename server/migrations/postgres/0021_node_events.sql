-- Issue 14, several hub nodes on one database (PostgreSQL).
-- What one node did that the others must apply to what they hold in memory (envelopes for
-- their streams and phones, places for their targeting index, open headcounts): written by
-- the node, announced by NOTIFY carrying nothing but a wake-up, read by the others above the
-- last id they applied, and pruned after a few minutes.
CREATE TABLE node_events (
    id BIGSERIAL PRIMARY KEY,
    -- The writing process (a new id each start): a node skips its own.
    node UUID NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL
);
CREATE INDEX node_events_at ON node_events (at);
