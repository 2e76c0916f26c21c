ALTER TABLE audit_log ADD COLUMN actor text NOT NULL;
