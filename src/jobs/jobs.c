/*-------------------------------------------------------------------------
 *
 * jobs.c
 *	  Background jobs: queued in migrate.job, started by a dynamic background
 *	  worker once the transaction that queued them commits.
 *
 * A job runs as the role that queued it, in the database it was queued in.
 * Workers are started from the commit callback, so a job queued by a
 * transaction that rolls back never runs.  migrate.max_workers caps how many
 * run at once; a job over the cap stays queued, and a worker that finishes
 * starts the next queued job of its database.  migrate_cancel and
 * migrate_resume stop and restart jobs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "base/base.h"
#include "catalog/migrate_catalog.h"
#include "exec/migrate_exec.h"
#include "jobs/migrate_jobs.h"

PG_FUNCTION_INFO_V1(migrate_cancel);
PG_FUNCTION_INFO_V1(migrate_resume);

/* jobs queued by the current transaction, started when it commits */
static List *jobs_to_start = NIL;
static bool xact_callback_registered = false;

/* The advisory lock a worker holds, at session level, while it runs a job. */
void
job_lock_tag(LOCKTAG *tag, int64 job_id)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, MIGRATE_JOB_LOCK_KEY1,
						 (uint32) job_id, MIGRATE_LOCKTAG_FIELD4);
}

/*
 * Is a worker running this job?  A worker holds the job's advisory lock
 * from its claim to its exit, so the lock, not pg_stat_activity (which
 * some roles cannot read, and a migration may change the name it shows),
 * tells.
 */
bool
job_is_live(int64 job_id)
{
	LOCKTAG		tag;

	job_lock_tag(&tag, job_id);
	if (LockAcquire(&tag, ExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return true;
	LockRelease(&tag, ExclusiveLock, false);
	return false;
}

/*
 * The process of the worker holding the job's lock, or 0: a worker that
 * claimed the job before its row said so (its pid not committed yet) is
 * found too.
 */
int
job_worker_pid(int64 job_id)
{
	Oid			argtypes[3] = {OIDOID, OIDOID, INT4OID};
	Datum		values[3];
	bool		isnull;
	Datum		pid;

	values[0] = ObjectIdGetDatum(MyDatabaseId);
	values[1] = ObjectIdGetDatum((Oid) (uint32) job_id);
	values[2] = Int32GetDatum(MIGRATE_LOCKTAG_FIELD4);
	if (SPI_execute_with_args(psprintf("SELECT pid FROM pg_catalog.pg_locks"
									   " WHERE locktype = 'advisory' AND granted"
									   "   AND database = $1 AND classid = %u"
									   "   AND objid = $2 AND objsubid = $3 LIMIT 1",
									   (unsigned) MIGRATE_JOB_LOCK_KEY1),
							  3, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_locks");
	if (SPI_processed == 0)
		return 0;
	pid = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt32(pid);
}

/* How many migrate workers run now, in the whole cluster. */
int
jobs_workers_running(void)
{
	int			n = 0;
	int			nbackends;

	pgstat_clear_backend_activity_snapshot();
	nbackends = pgstat_fetch_stat_numbackends();
	for (int i = 1; i <= nbackends; i++)
	{
		LocalPgBackendStatus *local = pgstat_fetch_stat_local_beentry(i);
		const char *type;

		if (local == NULL || local->backendStatus.st_backendType != B_BG_WORKER)
			continue;
		type = GetBackgroundWorkerTypeByPid(local->backendStatus.st_procpid);
		if (type != NULL && strcmp(type, MIGRATE_WORKER_TYPE) == 0)
			n++;
	}
	pgstat_clear_backend_activity_snapshot();
	return n;
}

/*
 * Where this backend is, as migrate.job.queued_in records it: the cluster's
 * system identifier and the database's OID.  A promoted standby has both of
 * its primary, so its jobs carry on; a dump restored anywhere else does not.
 */
static char *
job_origin_here(void)
{
	/* signed, as pg_control_system() shows it (the update script uses that) */
	return psprintf(INT64_FORMAT "/%u", (int64) GetSystemIdentifier(), MyDatabaseId);
}

/*
 * Why a job must not start as it is, or NULL: it was queued in another
 * cluster or database (restored from a dump: its role OID means nothing
 * here), or its role is gone or no longer has the job's role name (a job
 * names its role by name and by OID, and runs as neither a renamed role nor
 * a new role of the same name).  Otherwise *roleid is the role it runs as.
 * Needs a transaction (catalog lookups).
 */
char *
job_identity_problem(const char *run_as, Oid run_as_oid, const char *queued_in,
					 Oid *roleid)
{
	char	   *here = job_origin_here();
	char	   *name;

	*roleid = InvalidOid;
	if (queued_in == NULL || strcmp(queued_in, here) != 0)
		return psprintf("it was queued in another database or cluster (%s, this one is %s), so it was restored from a dump, or the cluster went through pg_upgrade",
						queued_in ? queued_in : "unknown", here);
	name = OidIsValid(run_as_oid) ? GetUserNameFromId(run_as_oid, true) : NULL;
	if (name == NULL)
		return OidIsValid(get_role_oid(run_as, true)) ?
			psprintf("role \"%s\", which queued it, was dropped; the role of that name now is another role",
					 run_as) :
			psprintf("role \"%s\", which queued it, no longer exists", run_as);
	if (strcmp(name, run_as) != 0)
		return psprintf("role \"%s\", which queued it, was renamed to \"%s\"", run_as, name);
	*roleid = run_as_oid;
	return NULL;
}

/*
 * Mark a job that must not start (job_identity_problem) failed, with the
 * reason, and say so in the history.  The caller is connected to SPI.
 */
void
job_fail_identity(int64 job_id, const char *why)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2];
	char	   *detail = psprintf("job " INT64_FORMAT " was not started: %s", job_id, why);

	values[0] = Int64GetDatum(job_id);
	values[1] = CStringGetTextDatum(psprintf("%s\nHINT: %s", detail, JOB_REBIND_HINT));
	catalog_exec("UPDATE migrate.job SET state = 'failed', last_error = $2, last_sqlstate = '55000',"
				 "       worker_pid = NULL, updated_at = clock_timestamp(),"
				 "       finished_at = clock_timestamp()"
				 " WHERE id = $1", 2, argtypes, values, NULL, 0);
	catalog_event(NULL, "fail", 0, detail, "55000");
	ereport(LOG,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("migrate %s", detail),
			 errhint("%s", JOB_REBIND_HINT)));
}

/* A background worker of migrate's, to be registered. */
void
jobs_worker_init(BackgroundWorker *worker, const char *function, const char *name,
				 const char *type)
{
	memset(worker, 0, sizeof(*worker));
	worker->bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker->bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker->bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker->bgw_library_name, BGW_MAXLEN, "migrate");
	snprintf(worker->bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(worker->bgw_name, BGW_MAXLEN, "%s", name);
	snprintf(worker->bgw_type, BGW_MAXLEN, "%s", type);
}

/*
 * Start a worker for a job now.  Returns false when no background worker
 * slot is free (max_worker_processes); the job then stays queued.
 */
bool
job_start_worker(int64 job_id, Oid roleid, BackgroundWorkerHandle **handle)
{
	BackgroundWorker worker;
	MigrateWorkerArgs args;

	jobs_worker_init(&worker, "migrate_worker_main",
					 psprintf("migrate job " INT64_FORMAT, job_id), MIGRATE_WORKER_TYPE);
	worker.bgw_notify_pid = handle ? MyProcPid : 0;

	memset(&args, 0, sizeof(args));
	args.dboid = MyDatabaseId;
	args.roleid = roleid;
	args.job_id = job_id;
	memcpy(worker.bgw_extra, &args, sizeof(args));

	return RegisterDynamicBackgroundWorker(&worker, handle);
}

/* Start the workers of the jobs the committed transaction queued. */
static void session_job_note(int64 job_id);

static void
jobs_xact_callback(XactEvent event, void *arg)
{
	List	   *jobs;
	ListCell   *lc;
	int			running;

	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PREPARE)
		return;
	jobs = jobs_to_start;
	jobs_to_start = NIL;
	if (event == XACT_EVENT_PREPARE && jobs != NIL)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("the jobs queued by this prepared transaction are not started"),
				 errhint("After COMMIT PREPARED, start them with migrate_resume().")));
	if (event != XACT_EVENT_COMMIT || jobs == NIL)
	{
		list_free_deep(jobs);
		return;
	}

	running = jobs_workers_running();
	foreach(lc, jobs)
	{
		QueuedJob  *job = (QueuedJob *) lfirst(lc);

		session_job_note(job->id);

		if (running >= migrate_max_workers)
		{
			ereport(NOTICE,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("job " INT64_FORMAT " stays queued: %d migrate workers are running, migrate.max_workers is %d",
							job->id, running, migrate_max_workers),
					 errhint("It starts when a worker of this database finishes, or with migrate_resume().")));
			continue;
		}
		if (!job_start_worker(job->id, job->roleid, NULL))
		{
			ereport(WARNING,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("job " INT64_FORMAT " stays queued: no background worker slot is free",
							job->id),
					 errhint("Raise max_worker_processes, or run migrate_resume() when other workers have finished.")));
			continue;
		}
		running++;
	}
	list_free_deep(jobs);
}

/* Start this job's worker when the current transaction commits. */
static void
job_start_at_commit(int64 job_id, Oid roleid)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	QueuedJob  *job = palloc(sizeof(QueuedJob));

	job->id = job_id;
	job->roleid = roleid;
	jobs_to_start = lappend(jobs_to_start, job);
	MemoryContextSwitchTo(old);

	if (!xact_callback_registered)
	{
		RegisterXactCallback(jobs_xact_callback, NULL);
		xact_callback_registered = true;
	}
}

/* Did the current transaction queue jobs that have not started yet? */
bool
jobs_queued_in_this_transaction(void)
{
	return jobs_to_start != NIL;
}

/* A worker (no BGWORKER_BYPASS_ALLOWCONN) is refused where datallowconn is off. */
static bool
database_allows_connections(Oid dboid)
{
	HeapTuple	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(dboid));
	bool		allowed;

	if (!HeapTupleIsValid(tup))
		return false;
	allowed = ((Form_pg_database) GETSTRUCT(tup))->datallowconn;
	ReleaseSysCache(tup);
	return allowed;
}

/*
 * A background worker connects as the role that queued the job, never as a
 * superuser on its behalf: that role must be allowed to log in.
 */
bool
jobs_role_can_login(Oid roleid)
{
	HeapTuple	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(roleid));
	bool		canlogin;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for role %u", roleid);
	canlogin = ((Form_pg_authid) GETSTRUCT(tup))->rolcanlogin;
	ReleaseSysCache(tup);
	return canlogin;
}

static void
check_role_can_run_jobs(Oid roleid)
{
	if (!jobs_role_can_login(roleid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" cannot log in, so no background worker can run a job as it",
						GetUserNameFromId(roleid, false)),
				 errdetail("Background jobs run as the role that queues them."),
				 errhint("Deploy as a role with LOGIN.")));

	/* what a worker's connection to this database would be refused for */
	if (!database_allows_connections(MyDatabaseId))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("database \"%s\" does not allow connections, so no background worker can run a job in it",
						get_database_name(MyDatabaseId)),
				 errhint("Allow them with ALTER DATABASE %s WITH ALLOW_CONNECTIONS true.",
						 quote_identifier(get_database_name(MyDatabaseId)))));
	if (object_aclcheck(DatabaseRelationId, MyDatabaseId, roleid, ACL_CONNECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" may not connect to database \"%s\", so no background worker can run a job as it",
						GetUserNameFromId(roleid, false), get_database_name(MyDatabaseId)),
				 errdetail("Background jobs run as the role that queues them."),
				 errhint("Grant the role CONNECT on database \"%s\", or deploy as a role that has it.",
						 get_database_name(MyDatabaseId))));
}

/*
 * Queue a job that runs as the current user, and start its worker at
 * commit.  Returns its id.  The caller is connected to SPI.
 */
int64
job_queue(const char *kind, const char *version, const char *target,
		  Oid relation, int64 rows_total, const char *args)
{
	Oid			roleid = GetUserId();
	Oid			argtypes[10] = {TEXTOID, TEXTOID, TEXTOID, INT8OID, JSONBOID, NAMEOID,
	REGCLASSOID, OIDOID, TEXTOID, INT4OID};
	Datum		values[10];
	char		nulls[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	int64		job_id;
	int			running;

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("background jobs cannot be queued during recovery")));
	check_role_can_run_jobs(roleid);

	values[0] = CStringGetTextDatum(kind);
	values[1] = version ? CStringGetTextDatum(version) : (Datum) 0;
	nulls[1] = version ? ' ' : 'n';
	values[2] = target ? CStringGetTextDatum(target) : (Datum) 0;
	nulls[2] = target ? ' ' : 'n';
	values[3] = Int64GetDatum(rows_total);
	nulls[3] = rows_total >= 0 ? ' ' : 'n';
	values[4] = args ? DirectFunctionCall1(jsonb_in, CStringGetDatum(args)) : (Datum) 0;
	nulls[4] = args ? ' ' : 'n';
	values[5] = DirectFunctionCall1(namein, CStringGetDatum(catalog_actor()));
	values[6] = ObjectIdGetDatum(relation);
	nulls[6] = OidIsValid(relation) ? ' ' : 'n';

	values[7] = ObjectIdGetDatum(roleid);
	values[8] = CStringGetTextDatum(job_origin_here());
	/* so that a worker of another library knows how to read args */
	values[9] = Int32GetDatum(JOB_ARGS_FORMAT);

	if (catalog_exec("INSERT INTO migrate.job (kind, version, target, rows_total, args, run_as, relation,"
					 "                         run_as_oid, queued_in, args_format)"
					 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
					 10, argtypes, values, nulls, 0) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not queue job");
	job_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 1, &isnull));

	running = jobs_workers_running() + list_length(jobs_to_start);
	if (running >= migrate_max_workers)
		ereport(NOTICE,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("job " INT64_FORMAT " will wait in the queue: %d migrate workers are running or starting, migrate.max_workers is %d",
						job_id, running, migrate_max_workers)));
	job_start_at_commit(job_id, roleid);
	return job_id;
}

/*
 * The jobs this session queued (and committed) since its last
 * migrate_wait(): a wait for all jobs also reports those that ended
 * (failed, cancelled) before it began, such as a backfill that failed at
 * once.
 */
static List *session_jobs = NIL;

#define MAX_SESSION_JOBS 1000

static void
session_job_note(int64 job_id)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	int64	   *id = palloc(sizeof(int64));

	/* a session that never waits keeps the newest ones */
	if (list_length(session_jobs) >= MAX_SESSION_JOBS)
	{
		pfree(linitial(session_jobs));
		session_jobs = list_delete_first(session_jobs);
	}
	*id = job_id;
	session_jobs = lappend(session_jobs, id);
	MemoryContextSwitchTo(old);
}

List *
jobs_queued_by_session(void)
{
	return session_jobs;
}

void
jobs_forget_session(void)
{
	list_free_deep(session_jobs);
	session_jobs = NIL;
}

/*
 * The unfinished jobs of a version (NULL: all), as (id, state, worker_pid,
 * run_as, live, kind, run_as_oid, queued_in) rows in SPI_tuptable.  A run
 * of migrations counts for every version it covers.
 */
void
jobs_select(const char *version, const char *states_sql, bool for_update)
{
	Oid			argtypes[1] = {NUMERICARRAYOID};
	Datum		values[1];
	char		nulls[1];

	values[0] = version ? version_key_datum(version) : (Datum) 0;
	nulls[0] = version ? ' ' : 'n';
	catalog_exec(psprintf("SELECT j.id, j.state, j.worker_pid, j.run_as,"
						  "       false AS live,"
						  "       j.kind, j.run_as_oid, j.queued_in"
						  "  FROM migrate.job j"
						  "  LEFT JOIN migrate.migration f ON f.version = j.version"
						  "  LEFT JOIN migrate.migration t ON t.version = j.target"
						  " WHERE j.state IN (%s)"
						  "   AND ($1 IS NULL"
						  "        OR f.version_key = $1"
						  "        OR (j.kind IN ('upgrade', 'downgrade')"
						  "            AND $1 BETWEEN least(f.version_key, coalesce(t.version_key, '{0}'))"
						  "                       AND greatest(f.version_key, coalesce(t.version_key, '{0}'))))"
						  " ORDER BY j.id%s",
						  states_sql, for_update ? " FOR UPDATE OF j" : ""),
				 1, argtypes, values, nulls, 0);
}

/*
 * The role a job runs as, which only that role or a member of it may stop
 * or restart ("cancel", "resume"): the role it was queued by (its OID), or,
 * for a job that cannot start as it is (job_identity_problem), the role
 * that now has its role name, which a resume binds it to.  *why is that
 * problem, or NULL.  InvalidOid when no role has that name any more.
 */
static Oid
job_role_checked(SPITupleTable *jobs, uint64 i, const char *verb, char **why)
{
	HeapTuple	tup = jobs->vals[i];
	bool		isnull;
	int64		id = DatumGetInt64(SPI_getbinval(tup, jobs->tupdesc, 1, &isnull));
	char	   *run_as = SPI_getvalue(tup, jobs->tupdesc, 4);
	Oid			run_as_oid = DatumGetObjectId(SPI_getbinval(tup, jobs->tupdesc, 7, &isnull));
	Oid			roleid;

	*why = job_identity_problem(run_as, isnull ? InvalidOid : run_as_oid,
								SPI_getvalue(tup, jobs->tupdesc, 8), &roleid);
	if (*why)
		roleid = get_role_oid(run_as, true);
	if (!OidIsValid(roleid))
		return InvalidOid;
	if (!has_privs_of_role(GetUserId(), roleid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("job " INT64_FORMAT " runs as role \"%s\"", id, run_as),
				 errhint("%s it as that role, or as a member of it.", verb)));
	return roleid;
}

/* A job is queued again, or cancelled, while no worker runs it. */
static void
set_job_state(int64 id, const char *state)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(id), CStringGetTextDatum(state)};

	/* a person's decision: the count of unfinished workers starts afresh */
	catalog_exec("UPDATE migrate.job SET state = $2, worker_pid = NULL,"
				 "       updated_at = clock_timestamp(), attempts = 0, attempts_since = NULL"
				 " WHERE id = $1", 2, argtypes, values, NULL, 0);
}

/*
 * Connect to SPI and select, FOR UPDATE, the jobs of the version given as
 * the function's first argument (NULL: all) in these states.
 */
static SPITupleTable *
jobs_of_argument(FunctionCallInfo fcinfo, const char *states, char **version,
				 uint64 *n)
{
	*version = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (*version)
		version_check_arg(*version, "version");
	SPI_connect();
	if (*version)
		*version = deploy_lookup_version(*version);
	jobs_select(*version, states, true);
	*n = SPI_processed;
	return SPI_tuptable;
}

/*
 * migrate_cancel(version text DEFAULT NULL)
 *
 * Stops the jobs of a version (default: all): a queued job is marked
 * cancelled, a running one gets a cancel signal and marks itself cancelled
 * when its current statement has stopped.  migrate_resume continues them.
 */
Datum
migrate_cancel(PG_FUNCTION_ARGS)
{
	char	   *version;
	uint64		n;
	SPITupleTable *jobs;
	int			signalled = 0;
	int			dequeued = 0;
	Datum	   *pids;
	int			npids = 0;

	sql_version_check();
	migrate_guard_begin("migrate_cancel");
	jobs = jobs_of_argument(fcinfo, "'queued', 'running'", &version, &n);
	pids = palloc0(sizeof(Datum) * Max(n, 1));

	/*
	 * Everything that can fail comes before the first signal, which is not
	 * rolled back: every job's role (and, for a running job, what
	 * pg_cancel_backend would refuse), then the catalog writes.
	 */
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(jobs->vals[i], jobs->tupdesc, 1, &isnull));
		char	   *why;
		Oid			roleid = job_role_checked(jobs, i, "Cancel", &why);

		/* a job of a role that is gone: a superuser's to stop */
		if (!OidIsValid(roleid) && !superuser())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("job " INT64_FORMAT " runs as role \"%s\", which does not exist", id,
							SPI_getvalue(jobs->vals[i], jobs->tupdesc, 4)),
					 errhint("Only a superuser may cancel it.")));

		if (strcmp(SPI_getvalue(jobs->vals[i], jobs->tupdesc, 2), "running") == 0 &&
			superuser_arg(roleid) && !superuser())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("job " INT64_FORMAT " runs as superuser \"%s\"", id,
							SPI_getvalue(jobs->vals[i], jobs->tupdesc, 4)),
					 errhint("Only a superuser may cancel the worker of a superuser's job.")));
	}

	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	tup = jobs->vals[i];
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tup, jobs->tupdesc, 1, &isnull));
		char	   *state = SPI_getvalue(tup, jobs->tupdesc, 2);
		Datum		pid = SPI_getbinval(tup, jobs->tupdesc, 3, &isnull);
		bool		signal = strcmp(state, "running") == 0 && job_is_live(id);

		/* the worker marks its job cancelled once its statement stopped */
		if (signal)
		{
			if (!isnull)
				pids[npids++] = pid;
		}
		else
		{
			set_job_state(id, "cancelled");
			dequeued++;
		}
		catalog_event(version, "cancel", 0,
					  psprintf("job " INT64_FORMAT " %s", id, signal ? "signalled" : "cancelled"),
					  NULL);
	}

	/* false when the worker has just exited */
	for (int i = 0; i < npids; i++)
		if (DatumGetBool(DirectFunctionCall1(pg_cancel_backend, pids[i])))
			signalled++;
	SPI_finish();

	ereport(NOTICE,
			(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
			 errmsg_plural("%d running job signalled",
						   "%d running jobs signalled",
						   signalled, signalled),
			 errdetail_plural("%d waiting job was cancelled.",
							  "%d waiting jobs were cancelled.",
							  dequeued, dequeued)));
	migrate_guard_end();
	PG_RETURN_VOID();
}

/*
 * Why a job is over, though unfinished, or NULL: a run of migrations that
 * a later run superseded, the job of an online migration that is no longer
 * in flight (rolled back or completed) or of an earlier flight of it.
 */
static const char *
resume_refusal(int64 id, const char *kind)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};

	if (strcmp(kind, "upgrade") == 0 || strcmp(kind, "downgrade") == 0)
	{
		catalog_exec("SELECT 1 FROM migrate.job WHERE id > $1"
					 "   AND kind IN ('upgrade', 'downgrade')",
					 1, argtypes, values, NULL, 1);
		if (SPI_processed > 0)
			return "a later run of migrations superseded it";
	}
	else if (strcmp(kind, "online") == 0)
	{
		catalog_exec("SELECT 1 FROM migrate.job j JOIN migrate.migration m ON m.version = j.version"
					 " WHERE j.id = $1 AND m.state IN ('active', 'failed')",
					 1, argtypes, values, NULL, 1);
		if (SPI_processed == 0)
			return "its online migration is no longer in flight";
		/* rolled back and started again: the new start queued its own job */
		catalog_exec("SELECT 1 FROM migrate.job j JOIN migrate.job later"
					 "    ON later.version = j.version AND later.kind = 'online' AND later.id > j.id"
					 " WHERE j.id = $1",
					 1, argtypes, values, NULL, 1);
		if (SPI_processed > 0)
			return "its online migration was rolled back and started again since";
	}
	return NULL;
}

/*
 * migrate_resume(version text DEFAULT NULL)
 *
 * Relaunches the unfinished jobs of a version (default: all): queued ones,
 * interrupted ones (running, but their worker is gone after a crash or a
 * restart), cancelled and failed ones.  Each continues where it stopped.
 * The workers start when the calling transaction commits.
 */
Datum
migrate_resume(PG_FUNCTION_ARGS)
{
	char	   *version;
	uint64		n;
	SPITupleTable *jobs;
	int			resumed = 0;

	sql_version_check();
	migrate_guard_begin("migrate_resume");
	jobs = jobs_of_argument(fcinfo, "'queued', 'running', 'cancelled', 'failed'",
							&version, &n);

	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	tup = jobs->vals[i];
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tup, jobs->tupdesc, 1, &isnull));
		bool		live = job_is_live(id);
		Oid			roleid;
		const char *why;
		char	   *unbound;

		/*
		 * A worker holds the job's lock: it runs the job, or is about to
		 * claim a queued one.  A worker seen on a cancelled or failed job is
		 * on its way out: the new one waits for it.
		 */
		if (live && (strcmp(SPI_getvalue(tup, jobs->tupdesc, 2), "running") == 0 ||
					 strcmp(SPI_getvalue(tup, jobs->tupdesc, 2), "queued") == 0))
			continue;

		why = resume_refusal(id, SPI_getvalue(tup, jobs->tupdesc, 6));
		if (why)
		{
			ereport(NOTICE,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("job " INT64_FORMAT " is not resumed: %s", id, why)));
			continue;
		}

		/* resuming runs the job as its own role, so only that role may */
		roleid = job_role_checked(jobs, i, "Resume", &unbound);
		if (!OidIsValid(roleid))
		{
			ereport(NOTICE,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("job " INT64_FORMAT " is not resumed: role \"%s\" does not exist",
							id, SPI_getvalue(tup, jobs->tupdesc, 4)),
					 errdetail("It cannot start as it was: %s.", unbound),
					 errhint("Do its work again as an existing role, or create a role of that name and resume it as that role.")));
			continue;
		}
		check_role_can_run_jobs(roleid);
		if (unbound)
		{
			/*
			 * Restored from a dump, or its role renamed or replaced: resuming
			 * it is the decision to run it here, as the role now named so.
			 */
			Oid			argtypes[3] = {INT8OID, OIDOID, TEXTOID};
			Datum		values[3];

			values[0] = Int64GetDatum(id);
			values[1] = ObjectIdGetDatum(roleid);
			values[2] = CStringGetTextDatum(job_origin_here());
			catalog_exec("UPDATE migrate.job SET run_as_oid = $2, queued_in = $3 WHERE id = $1",
						 3, argtypes, values, NULL, 0);
			catalog_event(version, "resume", 0,
						  psprintf("job " INT64_FORMAT " bound to role \"%s\" of this database: %s",
								   id, GetUserNameFromId(roleid, false), unbound), NULL);
			ereport(NOTICE,
					(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
					 errmsg("job " INT64_FORMAT " now runs as role \"%s\" of this database",
							id, GetUserNameFromId(roleid, false)),
					 errdetail("It could not start as it was: %s.", unbound)));
		}
		set_job_state(id, "queued");
		catalog_event(version, "resume", 0, psprintf("job " INT64_FORMAT, id), NULL);
		job_start_at_commit(id, roleid);
		resumed++;
	}
	SPI_finish();

	ereport(NOTICE,
			(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
			 errmsg_plural("%d job resumed", "%d jobs resumed", resumed, resumed),
			 resumed > 0 ? errdetail("Their workers start when this transaction commits.") : 0));
	migrate_guard_end();
	PG_RETURN_VOID();
}
