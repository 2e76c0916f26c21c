-- users_status_nn, a validated CHECK (status IS NOT NULL), is already there
ALTER TABLE users ALTER COLUMN status SET NOT NULL;
