-- SOS calls, and the audit trail of what officers did.

CREATE TABLE sos (
    id           BLOB PRIMARY KEY,
    staff_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status       TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    raised_at    TEXT NOT NULL,
    announced_at TEXT NOT NULL,          -- last time officers were told; reminders count from here
    body         TEXT NOT NULL           -- the SOS as the API shows it
);
CREATE INDEX sos_status ON sos (status, announced_at);
CREATE INDEX sos_staff ON sos (staff_id, status);

CREATE TABLE audit (
    id        BLOB PRIMARY KEY,
    at        TEXT NOT NULL,
    actor_id  BLOB NOT NULL REFERENCES users (id),
    actor     TEXT NOT NULL,           -- username, kept as it was then
    action    TEXT NOT NULL,
    subject   BLOB NOT NULL,            -- the alert or SOS acted on
    countries TEXT NOT NULL,           -- comma-separated, for officers' scope
    detail    TEXT NOT NULL
);
CREATE INDEX audit_at ON audit (at DESC);
