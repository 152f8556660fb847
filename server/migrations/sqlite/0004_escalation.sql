-- When a headcount's second wave went out; set once, so a restart neither loses nor repeats it.
ALTER TABLE alerts ADD COLUMN second_wave_at TEXT;
