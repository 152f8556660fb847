-- Issue 18: a new alert's recipients' rows go in order of (alert, person), one run of the
-- primary key's index; an index by person takes them at 10,000 scattered places, a page
-- rewritten per person once the table holds a few alerts to the same people. So each alert's
-- rows cost more the more alerts came before (~36 ms for 10,000 people after one alert,
-- ~190 ms after a hundred, in the inbox bench). A person's rows are found through the alerts
-- instead, one probe of the primary key per alert. PostgreSQL keeps its index (see its 0023).
-- (SQLite)
DROP INDEX alert_recipients_user;
