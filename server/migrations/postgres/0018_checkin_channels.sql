-- Time-to-account: the way each check-in reached the hub (http, websocket, mqtt, sms, proxy),
-- and each person's first answer in a headcount found by index.
-- Earlier check-ins keep what can be told: an officer's are `proxy`, a text's `sms`; the app's
-- transport was not recorded, so theirs stay unknown (NULL).

ALTER TABLE checkins ADD COLUMN channel TEXT;
UPDATE checkins SET channel = CASE WHEN recorded_by <> user_id THEN 'proxy' WHEN via = 'sms' THEN 'sms' END;
CREATE INDEX checkins_person ON checkins (alert_id, user_id, recorded_at);
