/* migrate--1.0.sql: catalog and SQL interface of the migrate extension */

\echo Use "CREATE EXTENSION migrate" to load this file. \quit

-- The catalog has a fixed home so that every function (in @extschema@) and every
-- deploy script can name it; the extension itself must not be created in it.
CREATE SCHEMA migrate;
COMMENT ON SCHEMA migrate IS 'catalog of the migrate extension: registered migrations and their history';

CREATE TABLE migrate.migration (
    version         text PRIMARY KEY,
    -- numeric segments of version; the C code fills it and all ordering uses it
    version_key     numeric[] NOT NULL UNIQUE,
    name            text NOT NULL,
    kind            text NOT NULL DEFAULT 'sql' CHECK (kind IN ('sql', 'online')),
    up_sql          text,
    down_sql        text,
    operations      jsonb,
    transactional   boolean NOT NULL DEFAULT true,
    checksum        text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'active', 'ready', 'applied',
                                     'rolled_back', 'failed')),
    registered_at   timestamptz NOT NULL DEFAULT now(),
    registered_by   name NOT NULL DEFAULT current_user,
    applied_at      timestamptz,
    applied_by      name,
    duration        interval,
    last_error      text,
    CHECK (kind <> 'sql' OR up_sql IS NOT NULL),
    CHECK ((state = 'applied') = (applied_at IS NOT NULL))
);
COMMENT ON TABLE migrate.migration IS 'one row per registered migration';

CREATE TABLE migrate.event (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    version     text,
    action      text NOT NULL,
    actor       name NOT NULL DEFAULT current_user,
    duration    interval,
    detail      text,
    sqlstate    text
);
CREATE INDEX ON migrate.event (version, id);
COMMENT ON TABLE migrate.event IS 'append-only history of everything migrate did';

-- The schema as of the last upgrade, downgrade or baseline that changed
-- something: what migrate_validate compares the live schema with.
CREATE TABLE migrate.fingerprint (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    recorded_at timestamptz NOT NULL,
    recorded_by name NOT NULL,
    action      text NOT NULL,
    version     text
);
CREATE TABLE migrate.fingerprint_object (
    kind        text NOT NULL,
    object      text NOT NULL,
    definition  text NOT NULL,
    PRIMARY KEY (kind, object)
);
COMMENT ON TABLE migrate.fingerprint_object IS 'schema objects by name as of the last recorded fingerprint';

-- pg_dump keeps the migration history with the schema it describes
SELECT pg_catalog.pg_extension_config_dump('migrate.fingerprint', '');
SELECT pg_catalog.pg_extension_config_dump('migrate.fingerprint_object', '');
SELECT pg_catalog.pg_extension_config_dump('migrate.migration', '');
SELECT pg_catalog.pg_extension_config_dump('migrate.event', '');
SELECT pg_catalog.pg_extension_config_dump('migrate.event_id_seq', '');

CREATE VIEW migrate.status AS
SELECT m.version,
       m.name,
       m.kind,
       m.state,
       m.transactional,
       m.down_sql IS NOT NULL OR m.kind = 'online' AS reversible,
       m.checksum,
       m.registered_at,
       m.registered_by,
       m.applied_at,
       m.applied_by,
       m.duration,
       m.last_error
  FROM migrate.migration m
 ORDER BY m.version_key;
COMMENT ON VIEW migrate.status IS 'a row per migration: its state and timings, in version order';

CREATE FUNCTION migrate_register(version text, name text, up text,
                                 down text DEFAULT NULL,
                                 transactional boolean DEFAULT true)
RETURNS text
AS 'MODULE_PATHNAME', 'migrate_register'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_register(text, text, text, text, boolean)
    IS 'register a plain SQL migration; returns its version';

CREATE FUNCTION migrate_upgrade(target text DEFAULT NULL)
RETURNS TABLE (version text, name text, action text)
AS 'MODULE_PATHNAME', 'migrate_upgrade'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_upgrade(text)
    IS 'apply pending migrations in version order up to target (all when NULL)';

CREATE FUNCTION migrate_downgrade(target text)
RETURNS TABLE (version text, name text, action text)
AS 'MODULE_PATHNAME', 'migrate_downgrade'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_downgrade(text)
    IS 'revert applied migrations above target in reverse order (''0'' reverts all)';

CREATE FUNCTION migrate_baseline(version text)
RETURNS integer
AS 'MODULE_PATHNAME', 'migrate_baseline'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_baseline(text)
    IS 'mark registered migrations up to version as applied without running them';

CREATE FUNCTION migrate_current()
RETURNS text
AS 'MODULE_PATHNAME', 'migrate_current'
LANGUAGE C STABLE;
COMMENT ON FUNCTION migrate_current()
    IS 'the highest applied version, NULL if none';

CREATE FUNCTION migrate_status()
RETURNS SETOF migrate.status
LANGUAGE sql STABLE
AS $$ SELECT * FROM migrate.status $$;
COMMENT ON FUNCTION migrate_status()
    IS 'a row per migration: its state and timings, in version order';

CREATE FUNCTION migrate_verify(version text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'migrate_verify'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_verify(text)
    IS 'run up, down and up of a pending migration in a rolled-back subtransaction and check that down restores the schema';

CREATE FUNCTION migrate_validate()
RETURNS TABLE (kind text, object text, detail text)
AS 'MODULE_PATHNAME', 'migrate_validate'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_validate()
    IS 'drift: changed applied migrations, and schema changes made outside migrations';

-- Nothing is granted to PUBLIC: the extension owner grants to a deploy role.
REVOKE ALL ON SCHEMA migrate FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA migrate FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA migrate FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_register(text, text, text, text, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_upgrade(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_downgrade(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_baseline(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_current() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_status() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_verify(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION migrate_validate() FROM PUBLIC;
