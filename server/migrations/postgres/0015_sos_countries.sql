-- The countries whose officers follow each SOS call, so that a list is scoped before its limit
-- (an officer's history showed only their calls among the newest of every country's).

CREATE TABLE sos_countries (
    sos_id  UUID NOT NULL REFERENCES sos (id) ON DELETE CASCADE,
    country TEXT NOT NULL,
    PRIMARY KEY (country, sos_id)
);

INSERT INTO sos_countries (sos_id, country)
    SELECT sos.id, c.value FROM sos, jsonb_array_elements_text(sos.body -> 'countries') AS c (value);

CREATE INDEX sos_raised ON sos (raised_at DESC);
