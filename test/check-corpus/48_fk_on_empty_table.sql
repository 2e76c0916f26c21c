ALTER TABLE audit_log ADD COLUMN user_id bigint;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_user_fk FOREIGN KEY (user_id) REFERENCES users (id);
