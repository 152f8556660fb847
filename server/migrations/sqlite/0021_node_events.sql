-- Issue 14, several hub nodes on one database. SQLite serves one node only, which shares
-- nothing: the table is here so that both backends hold the same schema (see the PostgreSQL
-- migration for what it is).
CREATE TABLE node_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    node BLOB NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX node_events_at ON node_events (at);
