-- Account lifecycle (PostgreSQL). A disabled account logs in no more and its tokens are
-- revoked; `changed_at` is the time of an account's last change of standing, rights or
-- password, which a running hub polls to end the sessions a change made from the command line
-- ends.
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMPTZ;
ALTER TABLE users ADD COLUMN changed_at TIMESTAMPTZ;
CREATE INDEX users_changed ON users (changed_at);

-- What the command line does is audited too, and it acts as no account.
ALTER TABLE audit ALTER COLUMN actor_id DROP NOT NULL;
