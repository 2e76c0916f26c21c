ALTER TABLE feature_flags ALTER COLUMN id TYPE numeric;
