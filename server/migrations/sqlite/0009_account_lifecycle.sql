-- Account lifecycle (SQLite). A disabled account logs in no more and its tokens are revoked;
-- `changed_at` is the time of an account's last change of standing, rights or password, which
-- a running hub polls to end the sessions a change made from the command line ends.
ALTER TABLE users ADD COLUMN disabled_at TEXT;
ALTER TABLE users ADD COLUMN changed_at TEXT;
CREATE INDEX users_changed ON users (changed_at);

-- What the command line does is audited too, and it acts as no account: `actor_id` may be
-- NULL. SQLite cannot drop a NOT NULL, so the table is rebuilt.
CREATE TABLE audit_new (
    id        BLOB PRIMARY KEY,
    at        TEXT NOT NULL,
    actor_id  BLOB REFERENCES users (id), -- NULL: the command line
    actor     TEXT NOT NULL,              -- username, kept as it was then
    action    TEXT NOT NULL,
    subject   BLOB NOT NULL,              -- what was acted on (alert, SOS, account, ...)
    countries TEXT NOT NULL,              -- comma-separated, for officers' scope
    detail    TEXT NOT NULL
);
INSERT INTO audit_new (id, at, actor_id, actor, action, subject, countries, detail)
    SELECT id, at, actor_id, actor, action, subject, countries, detail FROM audit;
DROP TABLE audit;
ALTER TABLE audit_new RENAME TO audit;
CREATE INDEX audit_at ON audit (at DESC);
