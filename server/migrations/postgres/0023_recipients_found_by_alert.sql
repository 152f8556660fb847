-- Issue 18: SQLite drops its index of alert recipients by person here (each alert's 10,000
-- entries scattered over it cost more the more alerts came before). PostgreSQL keeps it:
-- changes to an index page are logged, not the page rewritten (bar its first change after a
-- checkpoint), so its cost grew less (for 10,000 people, 50–58 ms after one alert and 55–73 ms
-- after a hundred, in three runs of the inbox bench); and without it, in the same bench,
-- reading what 10,000 phones are owed took 25 s (100 per query) where it took 1.5 s with it.
-- (PostgreSQL)
COMMENT ON INDEX alert_recipients_user IS
    'A person''s alerts. SQLite has none (its migration 0023); its queries go through each alert''s rows.';
