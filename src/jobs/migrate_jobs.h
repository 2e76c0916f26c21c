/*-------------------------------------------------------------------------
 *
 * migrate_jobs.h
 *	  The jobs layer: the queue of background jobs, the worker processes
 *	  that run them, and what a running job reports and records.  It calls
 *	  the execution layer and below; the engines above register their
 *	  kinds of job with it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_JOBS_H
#define MIGRATE_JOBS_H

#include "utils/elog.h"

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

/*
 * The layout of migrate.job.args that job_queue writes, stored with the job
 * (migrate.job.args_format) so that a worker of a later library reads a job
 * an earlier one queued, and one of an earlier library refuses a later one:
 *	1	as migrate 1.0 wrote them: a background run without a plan (it gets
 *		one when it starts, engine/upgrade.c)
 *	2	migrate 1.1: a background run's plan and repeatable migrations; an
 *		online migration's steps over the partitions of a table (online/job.c)
 * Raise it with every change to what a job's args mean, and keep reading
 * the formats before it.
 */
#define JOB_ARGS_FORMAT 2

/* how a job that cannot start as it is (job_identity_problem) is started */
#define JOB_REBIND_HINT "If it should run here, run migrate_resume() as the role it names (or a member of it, or a superuser): that binds it to the role of that name in this database."

struct BackgroundWorker;
struct BackgroundWorkerHandle;
extern void jobs_worker_init(struct BackgroundWorker *worker, const char *function,
							 const char *name, const char *type);
extern int64 job_queue(const char *kind, const char *version,
					   const char *target, Oid relation, int64 rows_total,
					   const char *args);
extern bool job_start_worker(int64 job_id, Oid roleid,
							 struct BackgroundWorkerHandle **handle);
extern bool jobs_queued_in_this_transaction(void);
extern bool jobs_role_can_login(Oid roleid);
extern char *job_identity_problem(const char *run_as, Oid run_as_oid,
								  const char *queued_in, Oid *roleid);
extern void job_fail_identity(int64 job_id, const char *why);
extern bool job_is_live(int64 job_id);
extern int	job_worker_pid(int64 job_id);
extern int	jobs_workers_running(void);
extern void jobs_select(const char *version, const char *states_sql,
						bool for_update);
struct LOCKTAG;
extern void job_lock_tag(struct LOCKTAG *tag, int64 job_id);
extern List *jobs_queued_by_session(void);
extern void jobs_forget_session(void);

/*
 * The kinds of job (migrate.job.kind): each engine's runner, registered at
 * load time (_PG_init), so that the worker calls none of them by name.
 */
typedef struct JobRow
{
	int64		id;
	const char *kind;
	const char *version;		/* an online migration's version */
	const char *target;			/* a background run's target */
	const char *current_version;	/* where a background run stopped */
	Oid			relation;		/* a backfill's table */
	int			current_step;	/* an online migration's next step */
	const char *args;			/* json */
} JobRow;

typedef void (*JobRunner) (const JobRow *job);

extern void job_kind_register(const char *kind, JobRunner run);

/* worker.c: the background worker processes */
extern PGDLLEXPORT void migrate_worker_main(Datum main_arg);
extern PGDLLEXPORT void migrate_launcher_main(Datum main_arg);
extern PGDLLEXPORT void migrate_resumer_main(Datum main_arg);
extern PGDLLEXPORT void migrate_recorder_main(Datum main_arg);
extern void worker_launcher_register(void);
extern void worker_record_failure(const char *version, bool repeatable,
								  ErrorData *edata);
extern void activity_report(const char *fmt,...) pg_attribute_printf(1, 2);
extern char *worker_settings_json(void);
extern void worker_session_restore(void);
extern void worker_note_version(const char *version);
extern void worker_note_repeatable(const char *name);
extern void settings_reload(void);

#endif							/* MIGRATE_JOBS_H */
