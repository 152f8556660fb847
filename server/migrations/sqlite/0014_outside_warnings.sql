-- Outside warnings: the public CAP feeds the hub follows, every fetch of them, and the warnings
-- they brought (SQLite).

CREATE TABLE warning_feeds (
    id              BLOB PRIMARY KEY,
    url             TEXT NOT NULL UNIQUE,
    -- Conditional requests: what the server's last answer said.
    etag            TEXT,
    last_modified   TEXT,
    next_poll_at    TEXT NOT NULL,
    body            TEXT NOT NULL       -- the feed as the API shows it
);

-- Every fetch and its outcome, so an outage is on record.
CREATE TABLE warning_fetches (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    feed_id    BLOB NOT NULL,
    at         TEXT NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX warning_fetches_feed ON warning_fetches (feed_id, id DESC);

-- The entries of an index already read (link and its update time): not fetched again.
CREATE TABLE warning_feed_entries (
    feed_id BLOB NOT NULL,
    entry   TEXT NOT NULL,
    PRIMARY KEY (feed_id, entry)
);

CREATE TABLE warnings (
    id          BLOB PRIMARY KEY,
    withdrawn   INTEGER NOT NULL,
    expires_at  TEXT,
    updated_at  TEXT NOT NULL,
    countries   TEXT NOT NULL,          -- comma-separated, for scoping to an officer's countries
    alert_id    BLOB,                   -- the alert an officer made from it
    row_version INTEGER NOT NULL,       -- +1 per write, so a promotion and a feed update cannot cross
    body        TEXT NOT NULL           -- the warning as the API shows it
);
CREATE INDEX warnings_updated ON warnings (updated_at DESC);

-- Every CAP message applied, by (sender, identifier, sent): a message fetched again is not
-- applied twice, and an Update or Cancel finds the warning it refers to.
CREATE TABLE warning_messages (
    sender     TEXT NOT NULL,
    identifier TEXT NOT NULL,
    sent       TEXT NOT NULL,
    warning_id BLOB NOT NULL REFERENCES warnings (id) ON DELETE CASCADE,
    PRIMARY KEY (sender, identifier, sent)
);
CREATE INDEX warning_messages_thread ON warning_messages (sender, identifier);
