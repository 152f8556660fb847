-- The hub terminates MQTT itself: an inbox message is owed to its person until one of their
-- devices PUBACKs it. `sent_at`: first written to one of their connections (a later send has
-- DUP set); `delivered_at`: a device's PUBACK. `broker_accepted_at` stays for an external
-- broker's PUBACK. (SQLite)
ALTER TABLE mqtt_outbox ADD COLUMN sent_at TEXT;
ALTER TABLE mqtt_outbox ADD COLUMN delivered_at TEXT;
-- What the embedded broker (rumqttd, which kept sessions in memory only) had accepted cannot
-- be known to have arrived; counting it delivered keeps an upgrade from sending it all again.
UPDATE mqtt_outbox SET sent_at = broker_accepted_at, delivered_at = broker_accepted_at
    WHERE broker_accepted_at IS NOT NULL;
-- What a connecting person is owed.
CREATE INDEX mqtt_outbox_owed ON mqtt_outbox (user_id, queued_at) WHERE delivered_at IS NULL;
