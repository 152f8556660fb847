-- The trail of one alert, SOS call or report (the console's history view reads it by subject).

CREATE INDEX audit_subject ON audit (subject, at DESC);
