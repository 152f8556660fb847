-- Issue 18: an alert's revisions go to its whole audience, whose rows (`alert_recipients`)
-- exist anyway for the headcount. Where each person's copy of each revision has got to is kept
-- per alert and person, as a set of revisions (bit r = revision r), in a row written only once
-- something reached them, rather than in a row per envelope and person in `mqtt_outbox`
-- written for everyone. Every other envelope (an escalation's wave to the silent, a late
-- arrival's copy, an SOS's news, a reply, an advisory) keeps its outbox rows. (PostgreSQL)

-- The revision an envelope carries to its alert's whole audience; NULL for every envelope
-- tracked in `mqtt_outbox`.
ALTER TABLE mqtt_envelopes ADD COLUMN revision BIGINT;
CREATE INDEX mqtt_envelopes_revisions ON mqtt_envelopes (created_at) WHERE revision IS NOT NULL;

-- The first revision the person is owed (later for people a revision's new area, or a late
-- arrival, added).
ALTER TABLE alert_recipients ADD COLUMN owed_from BIGINT NOT NULL DEFAULT 1;

-- The revisions written to one of the person's connections, PUBACKed by one of their devices,
-- PUBACKed by an external broker; and the first time each step was reached for any revision.
-- Apart from the recipients' rows, which check-ins update meanwhile. As for the outbox (0007),
-- no foreign keys: only the hub writes it, for recipients it has just sent to.
CREATE TABLE alert_deliveries (
    alert_id            UUID NOT NULL,
    user_id             UUID NOT NULL,
    revisions_sent      BIGINT NOT NULL DEFAULT 0,
    revisions_delivered BIGINT NOT NULL DEFAULT 0,
    revisions_accepted  BIGINT NOT NULL DEFAULT 0,
    sent_at             TIMESTAMPTZ,
    delivered_at        TIMESTAMPTZ,
    broker_accepted_at  TIMESTAMPTZ,
    PRIMARY KEY (alert_id, user_id)
);
