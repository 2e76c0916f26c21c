-- The database state the corpus assumes: two large tables, small ones, an
-- empty one, an enum and a domain.  test/bench/check_vs_squawk.sh loads it.
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, name varchar(100),
                    status text, created_at timestamptz);
INSERT INTO users SELECT g, 'u' || g || '@example.com', 'User ' || g, 'active', now()
  FROM generate_series(1, 50000) g;
ALTER TABLE users ADD CONSTRAINT users_status_nn CHECK (status IS NOT NULL) NOT VALID;
ALTER TABLE users VALIDATE CONSTRAINT users_status_nn;
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint, total_cents int,
                     note varchar(200), placed_at timestamptz);
INSERT INTO orders SELECT g, 1 + g % 50000, g % 10000, NULL, now() FROM generate_series(1, 50000) g;
CREATE INDEX orders_user_id ON orders (user_id);
CREATE TABLE countries (code text PRIMARY KEY, name text);
INSERT INTO countries SELECT 'c' || g, 'Country ' || g FROM generate_series(1, 20) g;
CREATE INDEX countries_name_lower ON countries (lower(name));
CREATE TABLE feature_flags (id bigint PRIMARY KEY, name text, enabled boolean);
INSERT INTO feature_flags VALUES (1, 'beta', true), (2, 'dark', false);
CREATE TABLE audit_log (id bigint, payload jsonb);
CREATE TYPE order_state AS ENUM ('new', 'paid');
CREATE DOMAIN email AS text;
VACUUM ANALYZE;
