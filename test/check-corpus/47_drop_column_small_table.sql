ALTER TABLE feature_flags DROP COLUMN enabled;
