-- migrate_adopt: take over the history of another tool, exactly the
-- versions (and repeatable migrations) it applied.
CREATE EXTENSION migrate;

-- the other tool applied 1 and 3, and the view, but not 2
CREATE TABLE adopt_t (id int PRIMARY KEY);
CREATE INDEX adopt_t_idx ON adopt_t (id);
CREATE VIEW adopt_v AS SELECT id FROM adopt_t;

SELECT migrate_register('1', 'table', 'CREATE TABLE adopt_t (id int PRIMARY KEY)', 'DROP TABLE adopt_t');
SELECT migrate_register('2', 'column', 'ALTER TABLE adopt_t ADD COLUMN note text',
                        'ALTER TABLE adopt_t DROP COLUMN note');
SELECT migrate_register('3', 'index', 'CREATE INDEX adopt_t_idx ON adopt_t (id)', 'DROP INDEX adopt_t_idx');
SELECT migrate_register('4', 'later', 'ALTER TABLE adopt_t ADD COLUMN later int');
SELECT migrate_register_repeatable('views', 'CREATE OR REPLACE VIEW adopt_v AS SELECT id FROM adopt_t');
SELECT migrate_register_repeatable('grants', 'GRANT SELECT ON adopt_v TO PUBLIC');

-- exactly 1, 3 and the view; 2 stays pending below 3 (unlike migrate_baseline)
SELECT migrate_adopt(ARRAY['1', '3'], ARRAY['views'], 'flyway_schema_history');
SELECT version, state, duration FROM migrate.status;
SELECT name, state, duration FROM migrate.repeatable_status;
SELECT version, repeatable, action, detail FROM migrate.event
 WHERE action = 'baseline' ORDER BY id;
SELECT action, version FROM migrate.fingerprint;

-- again: applied already, nothing marked (a version listed twice counts once)
SELECT migrate_adopt(ARRAY['1', '3', '03', '1'], ARRAY['views', 'views']);
-- no source: detail 'adopted'; only repeatables
SELECT migrate_adopt(NULL, ARRAY['grants']);
SELECT repeatable, detail FROM migrate.event WHERE action = 'baseline' AND repeatable = 'grants';
SELECT migrate_adopt('{}');

-- the rest is applied by the next upgrade: 2 and 4, and no repeatable
SELECT * FROM migrate_upgrade();

-- refusals, with nothing marked
SELECT migrate_register('5', 'five', 'SELECT 5');
SELECT migrate_adopt(ARRAY['5', '9']);
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_adopt(ARRAY['5'], ARRAY['nope']);
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_adopt(ARRAY['5.x']);
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_adopt(ARRAY['5', NULL]);
\echo :LAST_ERROR_SQLSTATE
SELECT migrate_adopt(ARRAY[['5'], ['4']]);
\echo :LAST_ERROR_SQLSTATE
SELECT version, state FROM migrate.status WHERE version = '5';
-- an online migration is migrate's own
SELECT migrate_register_online('6', 'online', '[{"add_column": {"table": "adopt_t", "column": {"name": "o", "type": "int"}}}]');
SELECT migrate_adopt(ARRAY['6']);
\echo :LAST_ERROR_SQLSTATE

-- like a deploy, it runs in READ COMMITTED
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT migrate_adopt(ARRAY['5']);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- a deploy role with the README's grants may adopt; a role without them may not
CREATE ROLE adopt_deployer;
CALL grant_deploy('adopt_deployer');
CREATE ROLE adopt_nobody;
SET ROLE adopt_nobody;
SELECT migrate_adopt(ARRAY['5']);
\echo :LAST_ERROR_SQLSTATE
SET ROLE adopt_deployer;
SELECT migrate_adopt(ARRAY['5'], NULL, 'dbmate');
SELECT version, state, applied_by FROM migrate.status WHERE version = '5';
RESET ROLE;

DROP VIEW adopt_v;
DROP TABLE adopt_t;
DROP EXTENSION migrate;
DROP OWNED BY adopt_deployer;
DROP ROLE adopt_deployer;
DROP ROLE adopt_nobody;
