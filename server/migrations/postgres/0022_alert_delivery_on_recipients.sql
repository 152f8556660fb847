-- Issue 18: an alert's revisions go to its whole audience, whose rows (`alert_recipients`)
-- exist anyway for the headcount; where each person's copy of each revision has got to is kept
-- on that row, as a set of revisions (bit r = revision r), rather than in a row per envelope
-- and person in `mqtt_outbox`. Every other envelope (an escalation's wave to the silent, an
-- SOS's news, a reply) keeps its outbox rows. (PostgreSQL)

-- The revision an envelope carries to its alert's whole audience; NULL for every envelope
-- tracked in `mqtt_outbox`.
ALTER TABLE mqtt_envelopes ADD COLUMN revision BIGINT;
CREATE INDEX mqtt_envelopes_revisions ON mqtt_envelopes (created_at) WHERE revision IS NOT NULL;

-- The revisions written to one of the person's connections, PUBACKed by one of their devices,
-- PUBACKed by an external broker; the first time each step was reached for any revision; and
-- the first revision the person is owed (later for people a revision's new area added).
ALTER TABLE alert_recipients ADD COLUMN revisions_sent BIGINT NOT NULL DEFAULT 0;
ALTER TABLE alert_recipients ADD COLUMN revisions_delivered BIGINT NOT NULL DEFAULT 0;
ALTER TABLE alert_recipients ADD COLUMN revisions_accepted BIGINT NOT NULL DEFAULT 0;
ALTER TABLE alert_recipients ADD COLUMN sent_at TIMESTAMPTZ;
ALTER TABLE alert_recipients ADD COLUMN delivered_at TIMESTAMPTZ;
ALTER TABLE alert_recipients ADD COLUMN broker_accepted_at TIMESTAMPTZ;
ALTER TABLE alert_recipients ADD COLUMN owed_from BIGINT NOT NULL DEFAULT 1;
