-- Issue 16: texts to staff. (SQLite)
--
-- A person's numbers, in their order of preference (0 first): a text goes to the first, and to
-- the next when the network reports it undeliverable. Replaces `users.phone`.
CREATE TABLE user_phones (
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    preference INTEGER NOT NULL,
    phone      TEXT NOT NULL,
    PRIMARY KEY (user_id, preference)
);
-- Texts from phones are matched to their account by number.
CREATE INDEX user_phones_phone ON user_phones (phone);
INSERT INTO user_phones (user_id, preference, phone) SELECT id, 0, phone FROM users WHERE phone IS NOT NULL;
DROP INDEX users_phone;
ALTER TABLE users DROP COLUMN phone;

-- The SMS channel's durable outbox: a text owed to a person for an alert, because no device of
-- theirs had it after `sms_fallback_after_s` (`undelivered`) or because they had not answered
-- at the second wave (`second_wave`); at most one per person, alert and reason.
CREATE TABLE sms_texts (
    -- The reference the gateway's delivery reports carry back.
    id            INTEGER PRIMARY KEY,
    alert_id      BLOB NOT NULL REFERENCES alerts (id),
    user_id       BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason        TEXT NOT NULL CHECK (reason IN ('undelivered', 'second_wave')),
    -- The number it goes to, and its place in the person's preference.
    phone         TEXT NOT NULL,
    preference    INTEGER NOT NULL,
    body          TEXT NOT NULL,
    queued_at     TEXT NOT NULL,
    -- Over the alert's ceiling (`sms_max_per_alert`): kept to be seen, never sent.
    withheld      INTEGER NOT NULL DEFAULT 0,
    next_try_at   TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    -- Being handed to the gateway: set before the request, cleared with its outcome. One left
    -- by a crash is unsure (the gateway may have it): it waits for a delivery report before
    -- it is sent again.
    sending_since TEXT,
    -- The gateway took it.
    handed_at     TEXT,
    -- The latest delivery report: `accepted` (by the network), `buffered`, `delivered`, `failed`.
    report        TEXT,
    reported_at   TEXT,
    delivered_at  TEXT,
    -- Refused by the gateway, or undeliverable to every number of the person.
    failed_at     TEXT,
    UNIQUE (alert_id, user_id, reason)
);
CREATE INDEX sms_texts_due ON sms_texts (next_try_at) WHERE handed_at IS NULL AND failed_at IS NULL AND NOT withheld;
