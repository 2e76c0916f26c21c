/*-------------------------------------------------------------------------
 *
 * wait.c
 *	  migrate_await and migrate_wait: block until background jobs finish.
 *
 * A session waiting for a job must not hold back the job itself: CREATE
 * INDEX CONCURRENTLY waits for every transaction of its database that holds
 * a snapshot older than its reference snapshot, before it marks the index
 * valid, because such a snapshot can see row versions the index lacks (a
 * HOT chain broken by an update made before the build began has only its
 * newest version indexed).
 *
 * The procedure migrate_await commits after every look at the jobs, so it
 * holds no snapshot while it sleeps: a build waits for it at most one look,
 * and no snapshot it held can be used after the index became valid.
 *
 * The function migrate_wait waits inside its caller's transaction, holding
 * its statement's snapshot throughout.  It marks its backend as one that
 * index builds need not wait for (PROC_IN_SAFE_IC, as they do not wait for
 * each other) only when that snapshot cannot be used after it returns: the
 * statement, sent by the client, is exactly the call, and no other snapshot
 * (an open cursor's) is registered.  Otherwise a later part of the same
 * statement could read a table through the new index with the old snapshot
 * and miss rows.  A build that waits for it all the same (it started in the
 * instant a build listed the snapshots to outwait, or PostgreSQL 13) makes it
 * stop with 40P01 rather than wait forever.
 *
 * A job is alive while its worker holds the job's advisory lock; migrate.job
 * is read only when none of the jobs waited for is alive.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "base/base.h"
#include "catalog/migrate_catalog.h"
#include "exec/migrate_exec.h"
#include "jobs/migrate_jobs.h"
#include "engine/migrate_engine.h"
#include "online/online.h"
#include "sql/wait.h"

PG_FUNCTION_INFO_V1(migrate_wait);
PG_FUNCTION_INFO_V1(migrate_await);

#define POLL_MS			200
#define NOTICE_EVERY_MS	5000
/* a job queued this long without a worker gets a hint in the NOTICE */
#define QUEUED_HINT_S	10

typedef struct WaitedJob
{
	int64		id;
	bool		live;			/* its worker holds the job lock */
	int			pid;			/* that worker, when found, or 0 */
	char	   *activity;		/* what it reports doing */
} WaitedJob;

/*
 * Tell concurrent index builds not to wait for this backend (as they do not
 * wait for each other): it reads only migrate's catalog while it waits, and
 * never the tables being indexed.  Only for a call that
 * statement_is_only_this_call() approved.
 */
static void
ignore_me_in_index_builds(bool on)
{
	LWLockAcquire(ProcArrayLock, LW_EXCLUSIVE);
	if (on)
		MyProc->statusFlags |= PROC_IN_SAFE_IC;
	else
		MyProc->statusFlags &= ~PROC_IN_SAFE_IC;
	ProcGlobal->statusFlags[MyProc->pgxactoff] = MyProc->statusFlags;
	LWLockRelease(ProcArrayLock);
}

/*
 * Can no snapshot that this backend holds now be used once this call of
 * migrate_wait returns?  True when the portal running is a statement the
 * client sent (not one run by a function, procedure or cursor loop, whose
 * caller may read on with its snapshot), that statement is exactly a call
 * of this function with constant arguments (nothing else in it runs after
 * the call), and no other snapshot is registered (an open cursor's, whose
 * next FETCH could plan a query over the new index).
 */
static bool
statement_is_only_this_call(FunctionCallInfo fcinfo)
{
	Portal		portal = ActivePortal;
	PlannedStmt *stmt;
	Plan	   *plan;
	FuncExpr   *call;
	ListCell   *lc;

	if (portal == NULL || debug_query_string == NULL ||
		strcmp(portal->sourceText, debug_query_string) != 0 ||
		list_length(portal->stmts) != 1)
		return false;
	stmt = (PlannedStmt *) linitial(portal->stmts);
	if (!IsA(stmt, PlannedStmt) || stmt->commandType != CMD_SELECT ||
		stmt->subplans != NIL || stmt->planTree == NULL)
		return false;
	plan = stmt->planTree;
	if (!IsA(plan, Result) || plan->lefttree != NULL || plan->initPlan != NIL ||
		((Result *) plan)->resconstantqual != NULL ||
		list_length(plan->targetlist) != 1)
		return false;
	foreach(lc, stmt->rtable)
	{
		if (lfirst_node(RangeTblEntry, lc)->rtekind != RTE_RESULT)
			return false;
	}
	call = (FuncExpr *) ((TargetEntry *) linitial(plan->targetlist))->expr;
	if (!IsA(call, FuncExpr) || call->funcid != fcinfo->flinfo->fn_oid)
		return false;
	foreach(lc, call->args)
	{
		Node	   *arg = lfirst(lc);

		if (!IsA(arg, Const) &&
			!(IsA(arg, Param) && ((Param *) arg)->paramkind == PARAM_EXTERN))
			return false;
	}
	/* the catalog snapshot is renewed at will; any other is the portal's */
	InvalidateCatalogSnapshot();
	return ThereAreNoPriorRegisteredSnapshots();
}

/*
 * Which jobs are alive (their worker holds the job lock), and, for the
 * NOTICEs, the pid and activity of their workers from the backend status
 * array.  Returns how many are alive.
 */
static int
find_live_workers(WaitedJob *jobs, int njobs)
{
	int			live = 0;
	int			nbackends;

	for (int j = 0; j < njobs; j++)
	{
		jobs[j].pid = 0;
		jobs[j].activity = NULL;
		jobs[j].live = job_is_live(jobs[j].id);
		if (jobs[j].live)
			live++;
	}

	pgstat_clear_backend_activity_snapshot();
	nbackends = pgstat_fetch_stat_numbackends();
	for (int i = 1; i <= nbackends; i++)
	{
		LocalPgBackendStatus *local = pgstat_fetch_stat_local_beentry(i);
		PgBackendStatus *be;
		int64		id;

		if (local == NULL)
			continue;
		be = &local->backendStatus;
		if (be->st_backendType != B_BG_WORKER || be->st_appname == NULL ||
			sscanf(be->st_appname, "migrate job " INT64_FORMAT, &id) != 1)
			continue;
		for (int j = 0; j < njobs; j++)
		{
			if (jobs[j].id != id || !jobs[j].live)
				continue;
			jobs[j].pid = be->st_procpid;
			jobs[j].activity = be->st_activity_raw
				? pgstat_clip_activity(be->st_activity_raw) : NULL;
		}
	}
	pgstat_clear_backend_activity_snapshot();
	return live;
}

/* Is this worker waiting for a lock that this session holds? */
static bool
worker_waits_for_me(int pid)
{
	ArrayType  *blockers;
	Datum	   *elems;
	int			n;

	blockers = DatumGetArrayTypeP(DirectFunctionCall1(pg_blocking_pids,
													  Int32GetDatum(pid)));
	deconstruct_array(blockers, INT4OID, 4, true, TYPALIGN_INT, &elems, NULL, &n);
	for (int i = 0; i < n; i++)
		if (DatumGetInt32(elems[i]) == MyProcPid)
			return true;
	return false;
}

/* The first column of a query about one job ($1), or NULL without a row. */
static char *
job_query_text(int64 job_id, const char *query)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(job_id)};
	MemoryContext caller = CurrentMemoryContext;
	char	   *result = NULL;

	SPI_connect();
	catalog_exec(query, 1, argtypes, values, NULL, 1);
	if (SPI_processed > 0)
	{
		char	   *text = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (text)
			result = MemoryContextStrdup(caller, text);
	}
	SPI_finish();
	return result;
}

/* A job's state in migrate.job now ("gone" when it is not there). */
static char *
job_state_now(int64 job_id)
{
	char	   *state = job_query_text(job_id, "SELECT state FROM migrate.job WHERE id = $1");

	return state ? state : "gone";
}

/* How far a job is, from migrate.progress: done, total, percent, rate, ETA. */
static char *
job_how_far(int64 job_id)
{
	/*
	 * an estimate rows_done has passed (off, or rows inserted since) is no
	 * total
	 */
	return job_query_text(job_id,
						  "SELECT pg_catalog.format('%s%s %s done%s%s%s%s.', rows_done,"
						  "         CASE WHEN rows_total IS NULL THEN ' of an unknown number of'"
						  "              WHEN rows_done <= rows_total"
						  "              THEN ' of about ' OPERATOR(pg_catalog.||) rows_total END,"
						  "         CASE kind WHEN 'backfill' THEN 'rows' WHEN 'online' THEN 'rows and steps'"
						  "                   ELSE 'migrations' END,"
						  "         ' (' OPERATOR(pg_catalog.||) percent OPERATOR(pg_catalog.||) '%)',"
						  "         CASE WHEN rows_done > rows_total"
						  "              THEN ' (more than the estimated ' OPERATOR(pg_catalog.||) rows_total"
						  "                   OPERATOR(pg_catalog.||) ')' END,"
						  "         ', ' OPERATOR(pg_catalog.||) rows_per_sec OPERATOR(pg_catalog.||) ' per second',"
						  "         ', about ' OPERATOR(pg_catalog.||) pg_catalog.date_trunc('second', eta) OPERATOR(pg_catalog.||) ' to go')"
						  "  FROM migrate.progress WHERE id = $1");
}

/* How many of the jobs are still queued or running, per migrate.job. */
static int
count_unfinished(WaitedJob *jobs, int njobs, int64 *interrupted)
{
	int			unfinished = 0;

	*interrupted = 0;
	SPI_connect();
	for (int j = 0; j < njobs; j++)
	{
		Oid			argtypes[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(jobs[j].id)};

		catalog_exec("SELECT state FROM migrate.job WHERE id = $1",
					 1, argtypes, values, NULL, 1);
		if (SPI_processed == 0)
			continue;
		if (strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
				   "queued") == 0)
			unfinished++;
		else if (strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
						"running") == 0)
		{
			/* running, yet no worker of it holds its lock: interrupted */
			if (!job_is_live(jobs[j].id))
				*interrupted = jobs[j].id;
			unfinished++;
		}
	}
	SPI_finish();
	return unfinished;
}

/* Raise the error a failed job recorded, with its SQLSTATE. */
static void
raise_job_error(int64 job_id, char *error, const char *sqlstate)
{
	char	   *context = error ? strstr(error, "\nCONTEXT: ") : NULL;
	char	   *hint;
	char	   *detail;
	int			code = ERRCODE_INTERNAL_ERROR;

	/* the parts the failure was recorded with (worker.c, failure_text) */
	if (context)
	{
		*context = '\0';
		context += strlen("\nCONTEXT: ");
	}
	hint = error ? strstr(error, "\nHINT: ") : NULL;
	if (hint)
	{
		*hint = '\0';
		hint += strlen("\nHINT: ");
	}
	detail = error ? strstr(error, "\nDETAIL: ") : NULL;
	if (detail)
	{
		*detail = '\0';
		detail += strlen("\nDETAIL: ");
	}
	if (sqlstate && strlen(sqlstate) == 5)
		code = MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2],
							 sqlstate[3], sqlstate[4]);
	ereport(ERROR,
			(errcode(code),
			 errmsg("%s", error ? error : "background job failed"),
			 detail ? errdetail("%s", detail)
			 : errdetail("Background job " INT64_FORMAT " failed.", job_id),
			 hint ? errhint("%s", hint)
			 : errhint("Fix the cause, then continue the job with migrate_resume()."),
			 context ? errcontext("%s", context) : 0,
			 detail ? errcontext("background job " INT64_FORMAT, job_id) : 0));
}

/*
 * The failed job the query just run found (id, last_error, last_sqlstate),
 * if any: its error ends the wait.
 */
static void
raise_found_job_error(void)
{
	bool		isnull;

	if (SPI_processed == 0)
		return;
	raise_job_error(DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 1, &isnull)),
					SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2),
					SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3));
}

/*
 * The final state: raise the error of a failed job, else return the state
 * of the migration (version given) or 'done' / 'cancelled'.  A job that
 * failed before the wait began counts too: any migration in scope that a
 * background job left failed raises that job's error.
 */
static char *
final_state(const char *version, WaitedJob *jobs, int njobs)
{
	MemoryContext caller = CurrentMemoryContext;
	char	   *result = "done";

	SPI_connect();
	for (int j = 0; j < njobs; j++)
	{
		Oid			argtypes[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(jobs[j].id)};
		char	   *state;

		catalog_exec("SELECT state, last_error, last_sqlstate FROM migrate.job WHERE id = $1",
					 1, argtypes, values, NULL, 1);
		if (SPI_processed == 0)
			continue;
		state = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		if (strcmp(state, "failed") == 0)
			raise_job_error(jobs[j].id,
							SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2),
							SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3));
		if (strcmp(state, "cancelled") == 0)
			result = "cancelled";
	}

	{
		Oid			argtypes[1] = {TEXTOID};
		Datum		values[1];
		char		nulls[1] = {version ? ' ' : 'n'};

		values[0] = version ? CStringGetTextDatum(version) : (Datum) 0;
		catalog_exec("SELECT j.id, j.last_error, j.last_sqlstate"
					 "  FROM migrate.migration m"
					 "  JOIN LATERAL (SELECT * FROM migrate.job j"
					 "                 WHERE j.current_version = m.version OR j.version = m.version"
					 "                 ORDER BY j.id DESC LIMIT 1) j ON j.state = 'failed'"
					 " WHERE m.state = 'failed' AND ($1 IS NULL OR m.version = $1)"
					 " ORDER BY m.version_key LIMIT 1",
					 1, argtypes, values, nulls, 1);
		raise_found_job_error();

		/*
		 * A downgrade that failed leaves its migration applied: the latest
		 * run, failed at that version, is the evidence, for a session that
		 * did not queue it too.
		 */
		catalog_exec("SELECT j.id, j.last_error, j.last_sqlstate FROM migrate.job j"
					 " WHERE j.kind = 'downgrade' AND j.state = 'failed'"
					 "   AND ($1 IS NULL OR j.current_version = $1)"
					 "   AND NOT EXISTS (SELECT FROM migrate.job l"
					 "                    WHERE l.id > j.id AND l.kind IN ('upgrade', 'downgrade'))",
					 1, argtypes, values, nulls, 1);
		raise_found_job_error();
	}

	if (version)
	{
		Oid			argtypes[1] = {TEXTOID};
		Datum		values[1] = {CStringGetTextDatum(version)};

		catalog_exec("SELECT state FROM migrate.migration WHERE version = $1",
					 1, argtypes, values, NULL, 1);
		if (SPI_processed > 0)
			result = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	}
	result = MemoryContextStrdup(caller, result);
	SPI_finish();
	return result;
}

/*
 * The waiting itself; returns the final state.  With commit_between (a
 * procedure, connected to SPI as nonatomic: migrate_await, migrate_deploy),
 * the transaction is committed after every look, before the sleep, so that
 * no snapshot is held while sleeping.
 */
char *
wait_for_jobs(char *version, long timeout_ms, MemoryContext caller,
			  bool commit_between)
{
	WaitedJob  *jobs;
	int			njobs;
	TimestampTz start = GetCurrentTimestamp();
	TimestampTz last_notice = start;
	MemoryContext outer;
	MemoryContext looks;

	SPI_connect();
	if (version)
	{
		char	   *registered = deploy_lookup_version(version);

		version = MemoryContextStrdup(caller, registered);
	}
	jobs_select(version, "'queued', 'running'", false);
	njobs = SPI_processed;
	jobs = MemoryContextAllocZero(caller, sizeof(WaitedJob) *
								  (njobs + list_length(jobs_queued_by_session()) + 1));
	for (int j = 0; j < njobs; j++)
	{
		bool		isnull;

		jobs[j].id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[j],
												 SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_finish();

	/* a wait for all jobs covers the ones this session queued, over or not */
	if (version == NULL)
	{
		ListCell   *lc;

		foreach(lc, jobs_queued_by_session())
		{
			int64		id = *(int64 *) lfirst(lc);
			bool		seen = false;

			for (int j = 0; j < njobs && !seen; j++)
				seen = jobs[j].id == id;
			if (!seen)
				jobs[njobs++].id = id;
		}
	}

	/* what each look allocates goes with it: a wait may last hours */
	outer = CurrentMemoryContext;
	looks = AllocSetContextCreate(outer, "migrate wait looks", ALLOCSET_DEFAULT_SIZES);
	while (njobs > 0)
	{
		int			live;
		TimestampTz now;

		MemoryContextSwitchTo(outer);
		MemoryContextReset(looks);
		MemoryContextSwitchTo(looks);
		live = find_live_workers(jobs, njobs);
		if (live == 0)
		{
			int64		interrupted;
			int			unfinished = count_unfinished(jobs, njobs, &interrupted);

			if (unfinished == 0)
				break;
			if (interrupted > 0)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("background job " INT64_FORMAT " was interrupted", interrupted),
						 errdetail("Its worker is gone: the server restarted or the worker was killed."),
						 migrate_preloaded
						 ? errhint("Continue it with migrate_resume(); the launcher resumes interrupted jobs only when the server starts.")
						 : errhint("Continue it with migrate_resume(), or preload migrate (shared_preload_libraries) to have that done at startup.")));
		}
		else if (!commit_between)
		{
			/*
			 * The procedure's look ends with a commit, so a build that waits
			 * for it goes on after that look: no deadlock to report.
			 */
			for (int j = 0; j < njobs; j++)
				if (jobs[j].pid != 0 && worker_waits_for_me(jobs[j].pid))
					ereport(ERROR,
							(errcode(ERRCODE_T_R_DEADLOCK_DETECTED),
							 errmsg("background job " INT64_FORMAT " is waiting for this transaction to end",
									jobs[j].id),
							 errdetail("A concurrent index build waits for every older snapshot, and this transaction holds one."),
							 errhint("The job goes on once this transaction ends: wait with CALL migrate_await(), which holds no snapshot while it waits.")));
		}

		now = GetCurrentTimestamp();
		if (TimestampDifferenceExceeds(last_notice, now, NOTICE_EVERY_MS))
		{
			long		secs = (long) ((now - start) / USECS_PER_SEC);

			for (int j = 0; j < njobs; j++)
			{
				if (jobs[j].activity)
				{
					char	   *how_far = job_how_far(jobs[j].id);

					ereport(NOTICE,
							(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
							 errmsg("waiting %ld s for %s", secs, jobs[j].activity),
							 how_far ? errdetail("%s", how_far) : 0));
				}
				else if (jobs[j].live)
					ereport(NOTICE,
							(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
							 errmsg("waiting %ld s for job " INT64_FORMAT ", running", secs, jobs[j].id)));
				else
				{
					char	   *state = job_state_now(jobs[j].id);

					if (strcmp(state, "queued") != 0)
						continue;	/* over, or about to be taken up */
					ereport(NOTICE,
							(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
							 errmsg("waiting %ld s for job " INT64_FORMAT ", queued", secs, jobs[j].id),
							 secs >= QUEUED_HINT_S ?
							 errhint("No worker has taken it up yet: all migrate.max_workers or max_worker_processes slots may be busy, or its worker could not start (see the server log); migrate_resume() starts it again.") : 0));
				}
			}
			last_notice = now;
		}
		if (timeout_ms >= 0 && TimestampDifferenceExceeds(start, now, timeout_ms))
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("timed out waiting for background jobs"),
					 errhint("They go on in the background: see migrate.progress, wait again, or stop them with migrate_cancel().")));

		/* end this look's transaction: sleep without a snapshot */
		if (commit_between)
			SPI_commit();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	MemoryContextSwitchTo(outer);
	MemoryContextDelete(looks);
	/* reported now, whatever they ended with: the next wait need not */
	if (version == NULL)
		jobs_forget_session();
	return final_state(version, jobs, njobs);
}

/* The arguments of migrate_wait and migrate_await: version, timeout. */
static void
wait_args(FunctionCallInfo fcinfo, char **version, long *timeout_ms)
{
	*version = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (*version)
		version_check_arg(*version, "version");
	*timeout_ms = -1;
	if (!PG_ARGISNULL(1))
	{
		float8		seconds = DatumGetFloat8(DirectFunctionCall2(interval_part,
																 CStringGetTextDatum("epoch"),
																 PG_GETARG_DATUM(1)));

		if (seconds < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("timeout must not be negative")));
		*timeout_ms = (long) (seconds * 1000);
	}
}

/*
 * migrate_wait(version text DEFAULT NULL, timeout interval DEFAULT NULL)
 *		RETURNS text
 *
 * Waits for the unfinished background jobs of a migration (default: all),
 * with a NOTICE every few seconds saying what runs and for how long.
 * Returns the final state; raises a failed job's error.
 */
Datum
migrate_wait(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	char	   *version;
	long		timeout_ms;
	bool		safe_ic;
	char	   *volatile result = NULL;

	sql_version_check();
	migrate_guard_begin("migrate_wait");
	wait_args(fcinfo, &version, &timeout_ms);
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("migrate_wait must run in a READ COMMITTED transaction"),
				 errdetail("Under a transaction snapshot it could not see the jobs finish.")));
	if (jobs_queued_in_this_transaction())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the jobs queued by this transaction start when it commits"),
				 errhint("COMMIT first, then run SELECT migrate_wait().")));

	/* the index builds we wait for must not wait for us, when that is safe */
	safe_ic = statement_is_only_this_call(fcinfo);
	if (safe_ic)
		ignore_me_in_index_builds(true);
	PG_TRY();
	{
		result = wait_for_jobs(version, timeout_ms, caller, false);
	}
	PG_FINALLY();
	{
		if (safe_ic)
			ignore_me_in_index_builds(false);
	}
	PG_END_TRY();

	migrate_guard_end();
	PG_RETURN_TEXT_P(cstring_to_text(result));
}

/*
 * migrate_await(version text DEFAULT NULL, timeout interval DEFAULT NULL,
 *				 INOUT state text DEFAULT NULL)
 *
 * The procedure: waits as migrate_wait does, but commits first (so the jobs
 * the calling transaction queued start, and the snapshot the arguments were
 * computed with is gone) and after every look.  Returns the final state in
 * "state".
 */
Datum
migrate_await(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	CallContext *call = (CallContext *) fcinfo->context;
	char	   *version;
	long		timeout_ms;
	char	   *state;
	TupleDesc	tupdesc;
	Datum		values[1];
	bool		nulls[1] = {false};

	sql_version_check();
	if (call == NULL || !IsA(call, CallContext) || call->atomic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("migrate_await must be called outside a transaction block"),
				 errdetail("It commits after every look at the jobs, so that it holds no snapshot while it waits."),
				 errhint("CALL it as a statement of its own, not inside BEGIN ... COMMIT, a function or a query string of several statements; there, use SELECT migrate_wait().")));
	migrate_guard_begin("migrate_await");
	wait_args(fcinfo, &version, &timeout_ms);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	SPI_connect_ext(SPI_OPT_NONATOMIC);
	SPI_commit();
	state = wait_for_jobs(version, timeout_ms, caller, true);
	SPI_finish();
	migrate_guard_end();

	values[0] = PointerGetDatum(cstring_to_text(state));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
