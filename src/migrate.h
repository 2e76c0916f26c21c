/*-------------------------------------------------------------------------
 *
 * migrate.h
 *	  Declarations shared by the files of the migrate extension.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_H
#define MIGRATE_H

#include "postgres.h"

#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/timestamp.h"

#include "base/compat.h"

/* Custom SQLSTATEs, class MG (see SPEC.md, "Errors") */
#define ERRCODE_MIGRATE_CHECKSUM_MISMATCH	MAKE_SQLSTATE('M','G','0','0','1')
#define ERRCODE_MIGRATE_OUT_OF_ORDER		MAKE_SQLSTATE('M','G','0','0','2')
#define ERRCODE_MIGRATE_IRREVERSIBLE		MAKE_SQLSTATE('M','G','0','0','3')
#define ERRCODE_MIGRATE_UNKNOWN_VERSION		MAKE_SQLSTATE('M','G','0','0','4')
#define ERRCODE_MIGRATE_CHECK_REFUSED		MAKE_SQLSTATE('M','G','0','0','5')

/*
 * migrate's own locks.  They are advisory locktags whose fourth field is
 * MIGRATE_LOCKTAG_FIELD4: SQL's pg_advisory_* functions only ever use 1
 * (one int8 key) or 2 (two int4 keys) there, so no role can take one of
 * these from SQL and stall a deployer, a background run or a job.  In
 * pg_locks they show as locktype 'advisory' with objsubid 3:
 *
 *	database	classid		objid		what
 *	this db		1835624306	1			the deploy lock (transaction level)
 *	this db		1835624306	2			the run lock of a background run
 *	this db		1835624298	job id		the lock of a job's worker
 *	0			1835624298	slot		a migrate.max_workers slot
 *
 * (classid 1835624306 is 0x6D696772 'migr', 1835624298 is 0x6D69676A 'migj';
 * a job id is taken modulo 2^32.)
 */
#define MIGRATE_LOCKTAG_FIELD4	3
#define MIGRATE_LOCK_KEY1	0x6D696772
#define MIGRATE_LOCK_KEY2	1
#define MIGRATE_RUN_LOCK_KEY2	2
#define MIGRATE_JOB_LOCK_KEY1	0x6D69676A

/* pg_stat_activity.backend_type of the workers */
#define MIGRATE_WORKER_TYPE "migrate worker"

/* settings (migrate.c) */
extern bool migrate_allow_out_of_order;
extern int	migrate_lock_timeout;
extern int	migrate_lock_retries;
extern int	migrate_max_workers;
extern bool migrate_preloaded;	/* in shared_preload_libraries */
extern int	migrate_batch_size;
extern int	migrate_batch_target;
extern int	migrate_batch_delay;
extern int	migrate_max_replica_lag;
extern int	migrate_check_level;
extern int	migrate_check_legacy;	/* migrate.check, deprecated */
extern int	migrate_check_mode(void);
extern int	migrate_large_table_rows;

#define MIGRATE_CHECK_OFF	0
#define MIGRATE_CHECK_WARN	1
#define MIGRATE_CHECK_ERROR	2
#define MIGRATE_CHECK_UNSET	(-1)	/* migrate.check not set */

/* check.c: migrate_check, and its use at registration (what: "migration 1.2") */
extern void check_at_registration(const char *what, const char *sql);
extern List **check_statement_findings(const char *sql, int n);

/* placeholders.c: ${name} in migration SQL */
extern char *placeholders_check(FunctionCallInfo fcinfo, int argno, const char *what);
extern char *placeholders_apply(const char *sql, const char *values, const char *what);

/* locks.c: the locks a statement takes, for migrate_plan */
extern List *statement_locks(Node *stmt);

/* version.c */
extern List *version_parse(const char *version);
extern int	version_cmp(const char *a, const char *b);
extern Datum version_key_datum(const char *version);
extern void version_check_arg(const char *version, const char *argname);

/* script.c: migration SQL as a list of statements */
typedef struct MigrationScript
{
	const char *version;		/* for error context; NULL: a repeatable */
	const char *name;
	const char *direction;		/* "up" or "down" */
	const char *sql;			/* the whole text */
	List	   *stmts;			/* RawStmt list from raw_parser */
} MigrationScript;

extern void script_parse(MigrationScript *script);
extern void script_check(MigrationScript *script, bool transactional);
extern void script_execute(MigrationScript *script);
extern void script_run(const char *version, const char *name,
					   const char *direction, const char *sql);
extern List *script_statements(const char *version, const char *name,
							   const char *sql);
extern char *script_statement_text(const char *sql, RawStmt *raw);

/* locksafe.c: statements under lock_timeout, retried with backoff */
extern int	locksafe_backoff_ms(int n);
extern void locksafe_sleep_ms(int ms);
typedef struct LockSafeState LockSafeState;
extern LockSafeState *locksafe_begin(void);
extern void locksafe_end(LockSafeState *state);
extern void locksafe_execute(const char *sql, const char *version,
							 const char *where);
extern bool locksafe_caller_retries;
extern void locksafe_run_whole(const char *const *version, const char *what,
							   void (*fn) (void *), void *arg, const char *advice);
extern void locksafe_note_retry(const char *version, const char *detail);
extern List *locksafe_retry_notes(void);
extern void locksafe_forget_retries(void);
extern void locksafe_watch_start(int lock_timeout_ms);
extern void locksafe_watch_stop(void);
extern char *locksafe_blockers(void);
extern void locksafe_retry_or_give_up(ErrorData *edata, int attempt, int timeout_ms,
									  int elevel, const char *version, const char *what,
									  const char *blocked_by, const char *retry_hint,
									  const char *advice);

/* subxact.c: work in a subtransaction, its error caught */
extern ErrorData *subxact_run(void (*fn) (void *), void *arg);
extern ErrorData *xact_catch(void (*fn) (void *), void *arg);
extern void xact_defaults_reset(void);

/* catalog_query.c: migrate's own queries, as the catalog's owner */
extern int	search_path_pin(void);
extern void search_path_unpin(int nestlevel);
extern int	catalog_exec(const char *sql, int nargs, Oid *argtypes,
						 Datum *values, const char *nulls, long count);

/* catalog.c */
extern char *migration_checksum(const char *kind, const char *name,
								const char *up, const char *down,
								const char *operations, bool transactional);
extern void event_log(const char *version, const char *action,
					  TimestampTz started, const char *detail,
					  const char *sqlstate);
extern void event_log_repeatable(const char *name, const char *action,
								 TimestampTz started, const char *detail,
								 const char *sqlstate);
extern char *current_actor(void);

/* a migration's definition, as registered */
typedef struct MigrationDefinition
{
	const char *version;
	const char *name;
	const char *kind;			/* "sql" or "online" */
	const char *up;
	const char *down;
	const char *operations;		/* jsonb text, kind "online" */
	bool		transactional;
	const char *placeholders;	/* jsonb text: values of ${name} in up and down */
} MigrationDefinition;

extern void register_check_names(const char *version, const char *name);
extern void register_definition(const MigrationDefinition *def);

/* fingerprint.c: the schema as (kind, object, definition) rows */
typedef struct SchemaObject
{
	char	   *kind;
	char	   *object;
	char	   *definition;
} SchemaObject;

typedef struct Fingerprint
{
	int			n;
	SchemaObject *objects;		/* sorted by kind, then object */
} Fingerprint;

extern Fingerprint *fingerprint_take(void);
extern Fingerprint *fingerprint_recorded(void);
extern void fingerprint_record(const char *action, const char *version);
extern int	fingerprint_diff(Fingerprint *a, Fingerprint *b,
							 void (*found) (SchemaObject *before,
											SchemaObject *after, void *arg),
							 void *arg);

/* jobs.c: background jobs, started when the queueing transaction commits */
typedef struct MigrateWorkerArgs
{
	Oid			dboid;
	Oid			roleid;
	int64		job_id;
} MigrateWorkerArgs;

typedef struct QueuedJob
{
	int64		id;
	Oid			roleid;
} QueuedJob;

/* how a job that cannot start as it is (job_identity_problem) is started */
#define JOB_REBIND_HINT "If it should run here, run migrate_resume() as the role it names (or a member of it, or a superuser): that binds it to the role of that name in this database."

struct BackgroundWorkerHandle;
extern int64 job_queue(const char *kind, const char *version,
					   const char *target, Oid relation, int64 rows_total,
					   const char *args);
extern void job_start_at_commit(int64 job_id, Oid roleid);
extern bool job_start_worker(int64 job_id, Oid roleid,
							 struct BackgroundWorkerHandle **handle);
extern bool jobs_queued_in_this_transaction(void);
extern bool role_can_login(Oid roleid);
extern char *job_origin_here(void);
extern char *job_identity_problem(const char *run_as, Oid run_as_oid,
								  const char *queued_in, Oid *roleid);
extern void job_fail_identity(int64 job_id, const char *why);
extern bool job_is_live(int64 job_id);
extern int	workers_running(void);
extern void jobs_select(const char *version, const char *states_sql,
						bool for_update);
struct LOCKTAG;
extern void job_lock_tag(struct LOCKTAG *tag, int64 job_id);
extern List *jobs_queued_by_session(void);
extern void jobs_forget_session(void);

/* worker.c: the background worker processes */
struct BackgroundWorker;
extern void worker_init(struct BackgroundWorker *worker, const char *function,
						const char *name, const char *type);
extern PGDLLEXPORT void migrate_worker_main(Datum main_arg);
extern PGDLLEXPORT void migrate_launcher_main(Datum main_arg);
extern PGDLLEXPORT void migrate_resumer_main(Datum main_arg);
extern PGDLLEXPORT void migrate_recorder_main(Datum main_arg);
extern void launcher_register(void);
extern void failure_record_autonomously(const char *version, bool repeatable,
										ErrorData *edata);
extern void worker_report(const char *fmt,...) pg_attribute_printf(1, 2);
extern char *job_settings_json(void);
extern void worker_session_restore(void);
extern void worker_note_version(const char *version);
extern void worker_note_repeatable(const char *name);
extern void worker_reload_config(void);

/* toplevel.c: a statement run as a top-level command, in a worker */
extern void toplevel_execute(const char *sql);
extern void toplevel_execute_retrying(const char *sql, const char *version,
									  const char *where, bool resuming,
									  void (*after) (void *), void *after_arg);

/* backfill.c: batched backfills */
extern void backfill_run_job(int64 job_id, Oid relid, const char *args_json);
extern char *backfill_job_args(Oid relid, const char *set_clause,
							   const char *where_clause, bool every_row,
							   int batch_size, int64 *rows_total);

/* online/job.c: the background job of an online migration */
extern void online_run_job(int64 job_id, const char *version, int current_step,
						   const char *args_json);

/* guard.c: no catalog-changing call from inside another one, or a job */
extern void migrate_guard_begin(const char *function);
extern void migrate_guard_end(void);
extern void migrate_guard_job(void);

/* upgrade.c */
extern void deploy_lock_acquire(void);
extern char *lookup_version(const char *version);
extern void background_run(int64 job_id, bool up, const char *target,
						   const char *resume_version);
extern void background_run_guard(void);

#endif							/* MIGRATE_H */
