-- migrate_validate: drift since the last migration, and applied migrations
-- whose definition changed in the catalog.
CREATE EXTENSION migrate;

-- before any migration there is nothing to compare with
SELECT * FROM migrate_validate();
SELECT count(*) AS fingerprints FROM migrate.fingerprint;

SELECT migrate_register('1', 'members', $$
    CREATE TABLE members (id int PRIMARY KEY, email text NOT NULL, joined date DEFAULT current_date);
    CREATE INDEX members_email ON members (email);
    CREATE VIEW recent_members AS SELECT id FROM members WHERE joined > current_date - 30;
    CREATE FUNCTION member_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM members';
$$, $$
    DROP FUNCTION member_count();
    DROP VIEW recent_members;
    DROP TABLE members;
$$);
SELECT * FROM migrate_upgrade();
SELECT action, version FROM migrate.fingerprint;

-- right after a migration: no drift
SELECT * FROM migrate_validate();

-- data changes are not drift
INSERT INTO members VALUES (1, 'a@example.com');
SELECT * FROM migrate_validate();

-- an ALTER TABLE made by hand is
ALTER TABLE members ALTER COLUMN email TYPE varchar(100);
ALTER TABLE members ADD COLUMN nickname text;
SELECT * FROM migrate_validate() ORDER BY 1, 2;

-- and so are objects created, dropped or redefined by hand
CREATE INDEX members_joined ON members (joined);
DROP INDEX members_email;
CREATE OR REPLACE FUNCTION member_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) + 0 FROM members';
CREATE SCHEMA scratch;
CREATE TYPE scratch.mood AS ENUM ('ok');
SELECT * FROM migrate_validate() ORDER BY 1, 2;

-- putting it back by hand makes the drift disappear
ALTER TABLE members DROP COLUMN nickname;
ALTER TABLE members ALTER COLUMN email TYPE text;
DROP INDEX members_joined;
CREATE INDEX members_email ON members (email);
CREATE OR REPLACE FUNCTION member_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM members';
DROP SCHEMA scratch CASCADE;
SELECT * FROM migrate_validate();

-- security, rules, inheritance, view options and trigger firing are part of
-- the schema too
CREATE TABLE members_archive () INHERITS (members);
ALTER TABLE members ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON members USING (email = current_user);
CREATE RULE no_delete AS ON DELETE TO members DO INSTEAD NOTHING;
ALTER TABLE members REPLICA IDENTITY FULL;
ALTER VIEW recent_members SET (security_barrier = true);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
SELECT * FROM migrate_validate() ORDER BY 1, 2;
DROP TABLE members_archive;
DROP FUNCTION touch();
DROP POLICY own_rows ON members;
ALTER TABLE members DISABLE ROW LEVEL SECURITY;
DROP RULE no_delete ON members;
ALTER TABLE members REPLICA IDENTITY DEFAULT;
ALTER VIEW recent_members RESET (security_barrier);
SELECT * FROM migrate_validate();
SELECT migrate_register('1.1', 'members trigger', $$
    CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
    CREATE TRIGGER members_touch BEFORE UPDATE ON members FOR EACH ROW EXECUTE FUNCTION touch();
$$, $$
    DROP TRIGGER members_touch ON members;
    DROP FUNCTION touch();
$$);
SELECT * FROM migrate_upgrade();
ALTER TABLE members ENABLE ALWAYS TRIGGER members_touch;
SELECT * FROM migrate_validate() ORDER BY 1, 2;
ALTER TABLE members ENABLE TRIGGER members_touch;
SELECT * FROM migrate_downgrade('1');
SELECT * FROM migrate_validate();

-- an empty enum is a type like any other
SELECT migrate_register('1.2', 'empty enum', 'CREATE TYPE nothing_yet AS ENUM ()', 'DROP TYPE nothing_yet');
SELECT * FROM migrate_upgrade();
SELECT * FROM migrate_validate();
SELECT * FROM migrate_downgrade('1');

-- an applied migration edited in the catalog behind migrate's back
UPDATE migrate.migration SET up_sql = replace(up_sql, 'email text', 'email varchar') WHERE version = '1';
SELECT kind, object, detail ~ '^applied with checksum [0-9a-f]{64}, its definition now has checksum [0-9a-f]{64}$' AS detail_ok
  FROM migrate_validate();
-- (register refuses that change outright)
SELECT migrate_register('1', 'members', (SELECT up_sql FROM migrate.migration WHERE version = '1'),
                        (SELECT down_sql FROM migrate.migration WHERE version = '1'));
\echo :LAST_ERROR_SQLSTATE

-- a downgrade records a new fingerprint: the schema without the migration
UPDATE migrate.migration SET up_sql = replace(up_sql, 'email varchar', 'email text') WHERE version = '1';
SELECT * FROM migrate_downgrade('0');
SELECT action, version FROM migrate.fingerprint;
SELECT * FROM migrate_validate();
CREATE TABLE by_hand (id int);
SELECT * FROM migrate_validate();
DROP TABLE by_hand;

-- so does a baseline
SELECT * FROM migrate_upgrade();
SELECT migrate_register('2', 'by hand', 'CREATE TABLE by_hand (id int)', 'DROP TABLE by_hand');
CREATE TABLE by_hand (id int);
SELECT migrate_baseline('2');
SELECT action, version FROM migrate.fingerprint;
SELECT * FROM migrate_validate();

-- an upgrade over changes made by hand says so, and keeps them in the
-- history, since the fingerprint it records includes them
CREATE TABLE by_hand_too (id int);
SELECT migrate_register('3', 'three', 'CREATE TABLE three (id int)', 'DROP TABLE three');
SELECT * FROM migrate_upgrade();
SELECT version, action, detail FROM migrate.event WHERE action = 'drift';
SELECT * FROM migrate_validate();
DROP TABLE by_hand_too;

SELECT * FROM migrate_downgrade('0');
DROP EXTENSION migrate;
