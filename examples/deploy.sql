-- examples/deploy.sql: a deploy step, as a CI job or a release script runs it.
--
--   psql -v ON_ERROR_STOP=1 -d app -f examples/deploy.sql
--
-- Registering is idempotent: every deploy registers the whole history, and
-- migrate applies only what is new.  A changed migration that was already
-- applied stops the deploy (MG001) before anything runs.
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS migrate;

-- Registering and applying commit together, or not at all.
BEGIN;

SELECT migrate_register('2026.03.01.1', 'create users', $$
    CREATE TABLE users (
        id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        email       text NOT NULL,
        full_name   text,
        created_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX users_email_key ON users (lower(email));
$$, down => 'DROP TABLE users');

SELECT migrate_register('2026.03.01.2', 'create orders', $$
    CREATE TABLE orders (
        id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        user_id     bigint NOT NULL REFERENCES users ON DELETE CASCADE,
        total_cents integer NOT NULL CHECK (total_cents >= 0),
        placed_at   timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX orders_user_placed_idx ON orders (user_id, placed_at DESC);
$$, down => 'DROP TABLE orders');

SELECT migrate_register('2026.03.05', 'seed users and orders', $$
    INSERT INTO users (email, full_name)
    SELECT 'user' || i || '@example.com', 'User ' || i FROM generate_series(1, 1000) i;
    INSERT INTO orders (user_id, total_cents)
    SELECT 1 + i % 1000, (i * 37) % 10000 FROM generate_series(1, 5000) i;
$$, down => 'TRUNCATE orders, users');

SELECT migrate_register('2026.03.12', 'users.display_name with data migration', $$
    ALTER TABLE users ADD COLUMN display_name text;
    UPDATE users SET display_name = coalesce(full_name, split_part(email, '@', 1));
    ALTER TABLE users ALTER COLUMN display_name SET NOT NULL;
$$, down => 'ALTER TABLE users DROP COLUMN display_name');

SELECT migrate_register('2026.03.20', 'orders.placed_at index, built concurrently',
    'CREATE INDEX CONCURRENTLY orders_placed_at_idx ON orders (placed_at)',
    down => 'DROP INDEX CONCURRENTLY orders_placed_at_idx',
    transactional => false);

SELECT migrate_register('2026.03.21', 'users.last_order_at', $$
    ALTER TABLE users ADD COLUMN last_order_at timestamptz;
    UPDATE users u SET last_order_at = (SELECT max(placed_at) FROM orders o WHERE o.user_id = u.id);
$$, down => 'ALTER TABLE users DROP COLUMN last_order_at');

SELECT migrate_register('2026.03.22', 'users.email_domain', $$
    ALTER TABLE users ADD COLUMN email_domain text;
$$, down => 'ALTER TABLE users DROP COLUMN email_domain');

-- One statement deploys the pending migrations: the transactional ones now,
-- in this transaction; from the CONCURRENTLY one on, a background worker
-- takes over once this transaction commits (action 'queued').
SELECT * FROM migrate_upgrade();
COMMIT;

-- Wait for the background part; it raises the error if it failed.
SELECT migrate_wait();

-- Fill the new column in batches, from a background worker: the table stays
-- writable, each batch holds its row locks for about migrate.batch_target.
SELECT migrate_backfill('users', $$email_domain = split_part(email, '@', 2)$$,
                        'email_domain IS NULL') AS backfill_job;
SELECT migrate_wait();
SELECT email_domain, count(*) FROM users GROUP BY 1;

-- Where the database stands.
SELECT migrate_current() AS current_version;
SELECT version, name, state, applied_by, duration, job FROM migrate_status();
SELECT id, version, action, actor, duration, detail FROM migrate.event ORDER BY id DESC LIMIT 8;
-- No drift: the schema is exactly what the migrations made.
SELECT * FROM migrate_validate();
