-- MQTT delivery: the durable outbox of inbox messages, and receipts (PostgreSQL).

-- One serialized envelope, shared by every recipient it was sent to.
CREATE TABLE mqtt_envelopes (
    id         UUID PRIMARY KEY,
    alert_id   UUID REFERENCES alerts (id) ON DELETE CASCADE,  -- set for alert, update and cancel envelopes
    payload    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX mqtt_envelopes_alert ON mqtt_envelopes (alert_id);

-- One envelope for one person's inbox: stored before it is published, marked when the broker PUBACKs it.
CREATE TABLE mqtt_outbox (
    envelope_id        UUID NOT NULL REFERENCES mqtt_envelopes (id) ON DELETE CASCADE,
    user_id            UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    queued_at          TIMESTAMPTZ NOT NULL,
    broker_accepted_at TIMESTAMPTZ,
    PRIMARY KEY (envelope_id, user_id)
);
CREATE INDEX mqtt_outbox_unaccepted ON mqtt_outbox (queued_at) WHERE broker_accepted_at IS NULL;

-- The app showed the alert to its person (first acknowledgement wins).
CREATE TABLE alert_acknowledgements (
    alert_id        UUID NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    user_id         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel         TEXT NOT NULL,
    acknowledged_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (alert_id, user_id)
);
