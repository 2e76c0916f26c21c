-- migrate's locks are out of SQL's reach (issue 12): a role with no grants at
-- all that holds pg_advisory_lock on the keys migrate once used (the deploy
-- lock (1835624306, 1), the run lock (1835624306, 2), a job's lock
-- (1835624298, job id)) stalls neither a background run nor its worker.
-- migrate's own locks have objsubid 3, which SQL's advisory locks never have.
CREATE EXTENSION migrate;
CREATE ROLE security_locks_nobody;
CREATE TABLE security_locks_t (id int);
SELECT migrate_register('1', 'vacuum', 'VACUUM security_locks_t', NULL, transactional => false);

-- the id the next job gets
SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END AS next_job
  FROM migrate.job_id_seq \gset

SET ROLE security_locks_nobody;
SELECT pg_advisory_lock(1835624306, 1) IS NULL AS deploy_key,
       pg_advisory_lock(1835624306, 2) IS NULL AS run_key,
       pg_advisory_lock(1835624298, :next_job) IS NULL AS job_key;
RESET ROLE;

-- the worker of the run gets its locks all the same, and finishes
SELECT * FROM migrate_upgrade();
SELECT id = :next_job AS is_next_job, kind FROM migrate.job;
SELECT migrate_wait(NULL, '60 s');
SELECT version, state FROM migrate.status;
SELECT id = :next_job AS is_next_job, state FROM migrate.job;

-- the SQL locks were held throughout
SELECT classid, CASE classid WHEN 1835624306 THEN objid::text ELSE 'the job id' END AS key2,
       objsubid
  FROM pg_locks
 WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
   AND (classid = 1835624306 OR objid::text::bigint = :next_job)
 ORDER BY classid, objid;
SELECT pg_advisory_unlock_all();

DROP EXTENSION migrate;
DROP TABLE security_locks_t;
DROP ROLE security_locks_nobody;
