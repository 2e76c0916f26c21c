CREATE INDEX CONCURRENTLY users_created_idx ON users (created_at);
