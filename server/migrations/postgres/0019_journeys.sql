-- Journeys with timed check-ins, and the alarms raised when one is missed. `next_step_at` is
-- when the hub's timer next acts on a journey (remind, ask again, raise the alarm); it is
-- stored so that a restart neither skips nor repeats a step, and `revision` lets exactly one
-- timer take each step.

CREATE TABLE journeys (
    id           UUID PRIMARY KEY,
    staff_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status       TEXT NOT NULL CHECK (status IN ('active', 'arrived', 'ended')),
    started_at   TIMESTAMPTZ NOT NULL,
    next_step_at TIMESTAMPTZ,
    revision     BIGINT NOT NULL,
    body         JSONB NOT NULL           -- the journey as the API shows it
);
CREATE INDEX journeys_next_step ON journeys (next_step_at) WHERE next_step_at IS NOT NULL;
CREATE INDEX journeys_staff ON journeys (staff_id, started_at DESC);
CREATE INDEX journeys_started ON journeys (started_at DESC);

-- The countries whose officers follow each journey, so a list is scoped before its limit.
CREATE TABLE journey_countries (
    journey_id UUID NOT NULL REFERENCES journeys (id) ON DELETE CASCADE,
    country    TEXT NOT NULL,
    PRIMARY KEY (country, journey_id)
);

CREATE TABLE journey_alarms (
    id         UUID PRIMARY KEY,
    journey_id UUID NOT NULL REFERENCES journeys (id) ON DELETE CASCADE,
    status     TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    raised_at  TIMESTAMPTZ NOT NULL,
    body       JSONB NOT NULL           -- the alarm as the API shows it
);
CREATE INDEX journey_alarms_raised ON journey_alarms (raised_at DESC);
CREATE INDEX journey_alarms_journey ON journey_alarms (journey_id);
