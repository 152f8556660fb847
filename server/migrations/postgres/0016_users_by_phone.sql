-- Texts from phones are matched to their account by number.

CREATE INDEX users_phone ON users (phone);
