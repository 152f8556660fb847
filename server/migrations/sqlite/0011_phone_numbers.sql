-- Phone numbers (SQLite): the number to call a person on, in E.164 (`+243970000001`), checked
-- by the hub before it is stored; NULL when the account has none.
ALTER TABLE users ADD COLUMN phone TEXT;
