/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The background worker processes of migrate.
 *
 *	- migrate worker: runs one job (migrate.job) as the role that queued
 *	  it, then starts the next queued job of its database, and exits.
 *	- migrate launcher: with shared_preload_libraries = 'migrate', starts
 *	  once the server accepts connections (never on a standby) and has a
 *	  resumer relaunch the unfinished jobs of every database.
 *	- migrate resumer: one database's share of the launcher's work.
 *	- migrate recorder: writes the failure of a synchronous migrate_upgrade
 *	  to migrate.event in a transaction of its own, so that the evidence
 *	  survives the caller's rollback.
 *
 * SIGTERM ends a worker at its next interruption point (die): its job stays
 * 'running' without a worker, i.e. interrupted, and is resumed by the
 * launcher or by migrate_resume().  A worker exits with the postmaster.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "base/base.h"
#include "catalog/migrate_catalog.h"
#include "exec/migrate_exec.h"
#include "jobs/migrate_jobs.h"

/* what this worker runs, for its pg_stat_activity line */
static int64 current_job_id = 0;

/* the job's args (the settings it was queued with), for worker_session_restore */
static char *current_job_args = NULL;

/*
 * The migration a background run is at.  Kept here, not only in the job
 * row, because the transaction of a migration that fails rolls back its
 * update of that row: the failure must be recorded against this one.
 */
static char *current_run_version = NULL;

/* current_run_version is the name of a repeatable migration */
static bool current_run_repeatable = false;

/*
 * A worker that dies (a crash, a kill -9, a restart) leaves its job
 * 'running'; the launcher (after a crash restart) or migrate_resume() starts
 * it again.  A job that kills its worker every time would have the server
 * crash and restart in a loop, however long each attempt takes: once
 * JOB_MAX_UNFINISHED workers in a row started on a job and ended without
 * recording any progress (a batch, a statement, a step), the next one fails
 * it instead.  Progress, and a migrate_resume() or cancel by a person,
 * start the count afresh.
 */
#define JOB_MAX_UNFINISHED 3

static void
begin_catalog_transaction(void)
{
	subxact_defaults_reset();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
}

static void
end_catalog_transaction(void)
{
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
}

/*
 * The settings a job takes from the session that queues it: migrate's own,
 * and those that change what its SQL means (names, times, dates).
 */
static const char *const job_settings[] = {
	"migrate.lock_timeout", "migrate.lock_retries", "migrate.batch_target",
	"migrate.batch_delay", "migrate.max_replica_lag", "migrate.nice_ratio",
	"migrate.max_load",
	"search_path", "TimeZone", "DateStyle", "IntervalStyle", "extra_float_digits"
};

/* Apply the settings the queueing session had (job args). */
static void
apply_job_settings(const char *args)
{
	if (args == NULL)
		return;
	for (int i = 0; i < lengthof(job_settings); i++)
	{
		Oid			argtypes[2] = {TEXTOID, TEXTOID};
		Datum		values[2];

		values[0] = CStringGetTextDatum(args);
		values[1] = CStringGetTextDatum(job_settings[i]);
		/* an upgrade run keeps them at the top, a backfill under "settings" */
		/* operators named: the settings applied so far include search_path */
		SPI_execute_with_args("SELECT coalesce($1::pg_catalog.jsonb OPERATOR(pg_catalog.->>) $2,"
							  "                ($1::pg_catalog.jsonb OPERATOR(pg_catalog.->) 'settings')"
							  "                OPERATOR(pg_catalog.->>) $2)",
							  2, argtypes, values, NULL, true, 1);
		if (SPI_processed > 0)
		{
			char	   *value = SPI_getvalue(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 1);

			if (value)
				SetConfigOption(job_settings[i], value, PGC_USERSET, PGC_S_SESSION);
		}
	}
}

/*
 * The settings a job takes from the session that queues it, as a jsonb
 * text for migrate.job.args.
 */
char *
worker_settings_json(void)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < lengthof(job_settings); i++)
	{
		/*
		 * migrate's own settings pace the job: one the session did not set is
		 * left to the server's configuration, so that a reload changes it for
		 * a running job too.
		 */
		if (strncmp(job_settings[i], "migrate.", 8) == 0 &&
			strcmp(GetConfigOption(job_settings[i], false, false),
				   GetConfigOptionResetString(job_settings[i])) == 0)
			continue;
		if (buf.len > 1)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, job_settings[i]);
		appendStringInfoString(&buf, ": ");
		escape_json(&buf, GetConfigOptionByName(job_settings[i], NULL, false));
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * Give the session back the role and settings the job was queued with, as
 * a new transaction of the deployer's would have them: whatever a
 * top-level statement of an earlier migration set (SET, SET ROLE, SET
 * SESSION AUTHORIZATION, which RESET ALL leaves alone) ends here.  In a
 * transaction.
 */
void
worker_session_restore(void)
{
	SetPGVariable("session_authorization", NIL, false);
	SetPGVariable("role", NIL, false);
	ResetAllOptions();
	SetConfigOption("application_name",
					psprintf("migrate job " INT64_FORMAT, current_job_id),
					PGC_USERSET, PGC_S_SESSION);
	/* as migrate_worker_main sets them, see there */
	SetConfigOption("lock_timeout", "0", PGC_USERSET, PGC_S_SESSION);
	SetConfigOption("statement_timeout", "0", PGC_USERSET, PGC_S_SESSION);
	apply_job_settings(current_job_args);
}

/* Note the migration a background run is at (NULL: none). */
void
worker_note_version(const char *version)
{
	if (current_run_version)
		pfree(current_run_version);
	current_run_version = version ? MemoryContextStrdup(TopMemoryContext, version) : NULL;
	current_run_repeatable = false;
}

/* Note the repeatable migration a background run is at. */
void
worker_note_repeatable(const char *name)
{
	worker_note_version(name);
	current_run_repeatable = name != NULL;
}

/* The text of a failure as the history keeps it: message, detail, hint, context. */
static char *
failure_text(ErrorData *edata)
{
	return psprintf("%s%s%s%s%s%s%s", edata->message,
					edata->detail ? "\nDETAIL: " : "", edata->detail ? edata->detail : "",
					edata->hint ? "\nHINT: " : "", edata->hint ? edata->hint : "",
					edata->context ? "\nCONTEXT: " : "", edata->context ? edata->context : "");
}

/* The lock retries noted by locksafe_note_retry, one string. */
static char *
retry_notes_text(void)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, locksafe_retry_notes())
	{
		if (buf.len > 0)
			appendStringInfoChar(&buf, '\x1e');
		appendStringInfoString(&buf, (char *) lfirst(lc));
	}
	return buf.data;
}

/* Write the lock_retry events of a failed run again, in the current transaction. */
static void
record_retry_notes(const char *notes, const char *actor)
{
	char	   *copy = pstrdup(notes);
	char	   *next = copy;

	while (next && *next)
	{
		char	   *note = next;
		char	   *sep;
		Oid			argtypes[3] = {TEXTOID, NAMEOID, TEXTOID};
		Datum		values[3];
		char		nulls[3] = {' ', ' ', ' '};

		next = strchr(note, '\x1e');
		if (next)
			*next++ = '\0';
		sep = strchr(note, '\x1f');
		if (sep == NULL)
			continue;
		*sep = '\0';
		values[0] = CStringGetTextDatum(note);
		nulls[0] = *note ? ' ' : 'n';
		values[1] = DirectFunctionCall1(namein, CStringGetDatum(actor));
		values[2] = CStringGetTextDatum(sep + 1);
		catalog_exec("INSERT INTO migrate.event (version, action, actor, detail, sqlstate)"
					 " VALUES ($1, 'lock_retry', $2, $3, '55P03')", 3, argtypes, values, nulls, 0);
	}
}

/* Record that the job failed, or was cancelled, in a transaction of its own. */
static void
record_job_failure(int64 job_id, ErrorData *edata)
{
	bool		cancelled = edata->sqlerrcode == ERRCODE_QUERY_CANCELED;
	const char *sqlstate = unpack_sql_state(edata->sqlerrcode);
	char	   *detail = failure_text(edata);
	Oid			argtypes[5] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	char	   *version = NULL;

	begin_catalog_transaction();
	/* recorded as the job's role, whatever role the failed statement set */
	worker_session_restore();
	record_retry_notes(retry_notes_text(), catalog_actor());
	locksafe_forget_retries();
	values[0] = Int64GetDatum(job_id);
	values[1] = CStringGetTextDatum(cancelled ? "cancelled" : "failed");
	values[2] = CStringGetTextDatum(detail);
	values[3] = CStringGetTextDatum(sqlstate);
	values[4] = current_run_version && !current_run_repeatable ?
		CStringGetTextDatum(current_run_version) : (Datum) 0;
	nulls[4] = current_run_version && !current_run_repeatable ? ' ' : 'n';
	/* a run failed at the migration it was at, which its row may not say */
	catalog_exec("UPDATE migrate.job SET state = $2, last_error = $3, last_sqlstate = $4,"
				 "       current_step = CASE WHEN $5 IS NULL OR $5 = current_version"
				 "                      THEN current_step ELSE 0 END,"
				 "       current_version = coalesce($5, current_version),"
				 "       worker_pid = NULL, updated_at = clock_timestamp(),"
				 "       finished_at = clock_timestamp(), attempts = 0, attempts_since = NULL"
				 " WHERE id = $1 RETURNING coalesce(current_version, version)",
				 5, argtypes, values, nulls, 0);
	if (SPI_processed > 0)
		version = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

	/* a run that failed at a repeatable migration, after its versioned ones */
	if (current_run_repeatable)
	{
		Oid			rtypes[2] = {TEXTOID, TEXTOID};
		Datum		rvalues[2];

		rvalues[0] = CStringGetTextDatum(current_run_version);
		rvalues[1] = CStringGetTextDatum(psprintf("%s: %s", sqlstate, detail));
		if (!cancelled)
			catalog_exec("UPDATE migrate.repeatable SET last_error = $2 WHERE name = $1",
						 2, rtypes, rvalues, NULL, 0);
		catalog_event_repeatable(current_run_version, cancelled ? "cancel" : "fail", 0,
								 psprintf("job " INT64_FORMAT ": %s", job_id, detail), sqlstate);
		end_catalog_transaction();
		return;
	}

	if (!cancelled && version)
	{
		Oid			mtypes[2] = {TEXTOID, TEXTOID};
		Datum		mvalues[2];

		mvalues[0] = CStringGetTextDatum(version);
		mvalues[1] = CStringGetTextDatum(psprintf("%s: %s", sqlstate, detail));
		catalog_exec("UPDATE migrate.migration SET state = 'failed', last_error = $2"
					 " WHERE version = $1 AND state IN ('pending', 'failed', 'active')",
					 2, mtypes, mvalues, NULL, 0);
	}
	catalog_event(version, cancelled ? "cancel" : "fail", 0,
				  psprintf("job " INT64_FORMAT ": %s", job_id, detail), sqlstate);
	end_catalog_transaction();
}

/* Start the oldest queued job of this database, if the cap allows. */
static void
start_next_queued_job(void)
{
	int64		next_id = 0;
	Oid			roleid = InvalidOid;

	/* its worker waits for a free slot (migrate.max_workers) if need be */
	begin_catalog_transaction();
	for (;;)
	{
		bool		isnull;
		Oid			run_as_oid;
		char	   *why;

		catalog_exec("SELECT id, run_as, run_as_oid, queued_in FROM migrate.job"
					 " WHERE state = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
					 0, NULL, NULL, NULL, 1);
		if (SPI_processed == 0)
			break;
		next_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1, &isnull));
		run_as_oid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc, 3, &isnull));
		why = job_identity_problem(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2),
								   isnull ? InvalidOid : run_as_oid,
								   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4),
								   &roleid);
		if (why == NULL)
			break;
		/* never as another role, nor a job of another cluster: the next one */
		job_fail_identity(next_id, why);
		next_id = 0;
	}
	end_catalog_transaction();

	if (next_id > 0 && OidIsValid(roleid) && !job_start_worker(next_id, roleid, NULL))
		ereport(LOG,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("no background worker slot is free for queued migrate job " INT64_FORMAT,
						next_id)));
}

#define SLOT_POLL_MS 1000

/*
 * migrate.max_workers caps the jobs running at once in the whole cluster:
 * a worker runs its job only while it holds one of that many slot locks
 * (advisory, database 0, so shared by all databases).  Taking one is a
 * conditional lock, so two workers starting together cannot both pass a
 * count.  Returns the slot, or -1 when all are taken.  In a transaction.
 */
static void
worker_slot_tag(LOCKTAG *tag, int slot)
{
	SET_LOCKTAG_ADVISORY(*tag, InvalidOid, MIGRATE_JOB_LOCK_KEY1, (uint32) slot,
						 MIGRATE_LOCKTAG_FIELD4);
}

static int
worker_slot_take(void)
{
	for (int slot = 0; slot < migrate_max_workers; slot++)
	{
		LOCKTAG		tag;

		worker_slot_tag(&tag, slot);
		if (LockAcquire(&tag, ExclusiveLock, true, true) != LOCKACQUIRE_NOT_AVAIL)
			return slot;
	}
	return -1;
}

/* Is the job still waiting to run (not cancelled, not taken by another)? */
static bool
job_still_queued(int64 job_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(job_id)};
	bool		queued;

	begin_catalog_transaction();
	catalog_exec("SELECT FROM migrate.job WHERE id = $1 AND state = 'queued'",
				 1, argtypes, values, NULL, 1);
	queued = SPI_processed > 0;
	end_catalog_transaction();
	return queued;
}

static void
worker_slot_release(int slot)
{
	LOCKTAG		tag;

	worker_slot_tag(&tag, slot);
	LockRelease(&tag, ExclusiveLock, true);
}

/*
 * The kinds of job, filled in at load time (_PG_init) by the layers that
 * run them: the worker dispatches through this table and calls none of
 * them by name.
 */
#define MAX_JOB_KINDS 8

static struct
{
	const char *kind;
	JobRunner	run;
}			job_kinds[MAX_JOB_KINDS];
static int	n_job_kinds = 0;

void
job_kind_register(const char *kind, JobRunner run)
{
	for (int i = 0; i < n_job_kinds; i++)
		if (strcmp(job_kinds[i].kind, kind) == 0)
		{
			job_kinds[i].run = run;
			return;
		}
	if (n_job_kinds >= MAX_JOB_KINDS)
		elog(ERROR, "too many kinds of migrate job");
	job_kinds[n_job_kinds].kind = kind;
	job_kinds[n_job_kinds].run = run;
	n_job_kinds++;
}

static JobRunner
job_kind_runner(const char *kind)
{
	for (int i = 0; i < n_job_kinds; i++)
		if (strcmp(job_kinds[i].kind, kind) == 0)
			return job_kinds[i].run;
	return NULL;
}

/* Entry point of a migrate worker: run the job in bgw_extra. */
void
migrate_worker_main(Datum main_arg)
{
	MigrateWorkerArgs args;
	MemoryContext context;
	LOCKTAG		tag;

	/* what the job table says; a struct, so that it stays put across longjmp */
	struct
	{
		char	   *kind;
		char	   *target;
		char	   *current_version;
		char	   *args;
		Oid			relation;
		int			current_step;
		char	   *version;
		char	   *run_as;
		Oid			run_as_oid;
		char	   *queued_in;
		int			attempts;	/* workers started on it lately, this one
								 * included */
		int			args_format;	/* JOB_ARGS_FORMAT of the library that
									 * queued it */
	}			job = {0};
	bool		claimed = false;
	JobRunner	runner;
	static int	slot;			/* static: kept across the longjmp below */

	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));
	current_job_id = args.job_id;
	activity_set_job(args.job_id);

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(args.dboid, args.roleid, 0);

	/* never on a standby: everything a job does arrives there by WAL */
	if (RecoveryInProgress())
		proc_exit(0);

	context = AllocSetContextCreate(TopMemoryContext, "migrate worker",
									ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(context);
	SetConfigOption("application_name",
					psprintf("migrate job " INT64_FORMAT, args.job_id),
					PGC_USERSET, PGC_S_SESSION);

	/*
	 * Not against the catalog of another version: the job stays as it is
	 * (queued, or running without a worker) for a worker of the library that
	 * serves it, or for migrate_resume() after ALTER EXTENSION UPDATE.
	 */
	StartTransactionCommand();
	sql_version_check();
	CommitTransactionCommand();

	/*
	 * One worker per job: a second one started for it waits here until the
	 * first has exited, then finds the job finished (the claim below checks).
	 */
	StartTransactionCommand();
	job_lock_tag(&tag, args.job_id);
	(void) LockAcquire(&tag, ExclusiveLock, true, false);
	CommitTransactionCommand();

	/* over migrate.max_workers, the job stays queued until a slot frees up */
	for (;;)
	{
		StartTransactionCommand();
		slot = worker_slot_take();
		CommitTransactionCommand();
		if (slot >= 0)
			break;
		if (!job_still_queued(args.job_id))
			proc_exit(0);		/* cancelled meanwhile */
		activity_report("job " INT64_FORMAT " queued: waiting for one of the migrate.max_workers (%d) slots",
						args.job_id, migrate_max_workers);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 SLOT_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		settings_reload();
	}

	begin_catalog_transaction();
	{
		Oid			argtypes[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(args.job_id)};

		catalog_exec("UPDATE migrate.job job SET state = 'running', worker_pid = pg_backend_pid(),"
					 "       started_at = coalesce(started_at, clock_timestamp()),"
					 "       updated_at = clock_timestamp(), finished_at = NULL,"
					 "       last_error = NULL, last_sqlstate = NULL,"
		/* committed before the job runs: a crash cannot lose the count */
					 "       attempts = attempts + 1,"
					 "       attempts_since = CASE WHEN attempts = 0 OR attempts_since IS NULL"
					 "                       THEN clock_timestamp() ELSE attempts_since END"
					 " WHERE id = $1 AND state IN ('queued', 'running')"
		/* the job of an online migration no longer in flight is over */
					 "   AND (kind <> 'online' OR EXISTS (SELECT FROM migrate.migration m"
					 "                                     WHERE m.version = job.version"
					 "                                       AND m.state IN ('active', 'failed')))"
					 " RETURNING kind, target, current_version, current_step, args::text,"
					 "           relation::oid, version, run_as, run_as_oid, queued_in, attempts,"
					 "           args_format",
					 1, argtypes, values, NULL, 0);
		if (SPI_processed > 0)
		{
			HeapTuple	tup = SPI_tuptable->vals[0];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			MemoryContext old = MemoryContextSwitchTo(context);
			bool		isnull;

			job.kind = pstrdup(SPI_getvalue(tup, desc, 1));
			job.target = SPI_getvalue(tup, desc, 2);
			job.target = job.target ? pstrdup(job.target) : NULL;
			job.current_version = SPI_getvalue(tup, desc, 3);
			job.current_version = job.current_version ? pstrdup(job.current_version) : NULL;
			job.current_step = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
			job.args = SPI_getvalue(tup, desc, 5);
			job.args = job.args ? pstrdup(job.args) : NULL;
			current_job_args = job.args;
			job.relation = DatumGetObjectId(SPI_getbinval(tup, desc, 6, &isnull));
			if (isnull)
				job.relation = InvalidOid;
			job.version = SPI_getvalue(tup, desc, 7);
			job.version = job.version ? pstrdup(job.version) : NULL;
			job.run_as = pstrdup(SPI_getvalue(tup, desc, 8));
			job.run_as_oid = DatumGetObjectId(SPI_getbinval(tup, desc, 9, &isnull));
			if (isnull)
				job.run_as_oid = InvalidOid;
			job.queued_in = SPI_getvalue(tup, desc, 10);
			job.queued_in = job.queued_in ? pstrdup(job.queued_in) : NULL;
			job.attempts = DatumGetInt32(SPI_getbinval(tup, desc, 11, &isnull));
			job.args_format = DatumGetInt32(SPI_getbinval(tup, desc, 12, &isnull));
			MemoryContextSwitchTo(old);
			claimed = true;
			apply_job_settings(job.args);
			/* a resumed job of an online migration puts it back in flight */
			if (strcmp(job.kind, "online") == 0)
				catalog_exec("UPDATE migrate.migration m SET state = 'active', last_error = NULL"
							 "  FROM migrate.job j"
							 " WHERE j.id = $1 AND m.version = j.version AND m.state = 'failed'",
							 1, argtypes, values, NULL, 0);
		}
	}
	end_catalog_transaction();

	/* cancelled, finished, or queued by a transaction that rolled back */
	if (!claimed)
		proc_exit(0);

	/*
	 * Lock waits are bounded around the migration's own statements only
	 * (locksafe.c, toplevel.c); a job is not subject to the role's
	 * statement_timeout either, so that a 57014 means a cancel.
	 */
	SetConfigOption("lock_timeout", "0", PGC_USERSET, PGC_S_SESSION);
	SetConfigOption("statement_timeout", "0", PGC_USERSET, PGC_S_SESSION);

	/* the job's SQL must not call migrate's catalog-changing functions */
	migrate_guard_job();

	PG_TRY();
	{
		Oid			roleid;
		char	   *why;

		/*
		 * Whoever started this worker checked who the job runs as; the role
		 * may have been renamed or replaced since.
		 */
		StartTransactionCommand();
		why = job_identity_problem(job.run_as, job.run_as_oid, job.queued_in, &roleid);
		CommitTransactionCommand();
		if (why == NULL && roleid != args.roleid)
			why = psprintf("its worker was started as role %u, not as role \"%s\"",
						   args.roleid, job.run_as);
		if (why)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("job " INT64_FORMAT " was not started: %s", args.job_id, why),
					 errhint("%s", JOB_REBIND_HINT)));

		if (job.attempts > JOB_MAX_UNFINISHED)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("job " INT64_FORMAT " is not started again: its last %d workers ended without finishing it",
							args.job_id, JOB_MAX_UNFINISHED),
					 errdetail("Each crashed, was killed, or stopped with the server before the job made any progress; the job is failed rather than crashing the server in a loop."),
					 errhint("Look for the cause in the server log, then continue the job with migrate_resume().")));

		/*
		 * Args of a later library's layout could mean what this one cannot do
		 * (or must not skip): the job fails, and migrate_resume() runs it
		 * once the library that queued it is installed.
		 */
		if (job.args_format > JOB_ARGS_FORMAT)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("job " INT64_FORMAT " has arguments in format %d, which migrate %s does not read",
							args.job_id, job.args_format, MIGRATE_LIBRARY_VERSION),
					 errdetail("This library reads the formats 1 to %d: a later version of migrate queued the job.",
							   JOB_ARGS_FORMAT),
					 errhint("Install the library of the version of migrate that queued the job, then continue it with migrate_resume().")));

		runner = job_kind_runner(job.kind);
		if (runner == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("job kind \"%s\" is not supported by this version of migrate",
							job.kind)));
		{
			JobRow		row = {
				.id = args.job_id,
				.kind = job.kind,
				.version = job.version,
				.target = job.target,
				.current_version = job.current_version,
				.relation = job.relation,
				.current_step = job.current_step,
				.args = job.args,
			};

			runner(&row);
		}

		begin_catalog_transaction();
		{
			Oid			argtypes[1] = {INT8OID};
			Datum		values[1] = {Int64GetDatum(args.job_id)};

			/* unless a cancel came in between */
			catalog_exec("UPDATE migrate.job SET state = 'done', worker_pid = NULL,"
						 "       updated_at = clock_timestamp(), finished_at = clock_timestamp(),"
						 "       attempts = 0, attempts_since = NULL"
						 " WHERE id = $1 AND state = 'running'", 1, argtypes, values, NULL, 0);
			/* an online migration whose job is done can be completed */
			catalog_exec("UPDATE migrate.migration m SET state = 'ready', last_error = NULL"
						 "  FROM migrate.job j"
						 " WHERE j.id = $1 AND j.kind = 'online' AND j.state = 'done'"
						 "   AND m.version = j.version AND m.state IN ('active', 'failed')",
						 1, argtypes, values, NULL, 0);
		}
		end_catalog_transaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(context);
		EmitErrorReport();
		edata = CopyErrorData();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		MemoryContextSwitchTo(context);
		/* a cancel is done: do not cancel the recording too */
		QueryCancelPending = false;
		RESUME_INTERRUPTS();

		record_job_failure(args.job_id, edata);
	}
	PG_END_TRY();

	/* the job's final state is committed: let go of it, and of the slot */
	LockRelease(&tag, ExclusiveLock, true);
	worker_slot_release(slot);
	pgstat_report_activity(STATE_IDLE, NULL);
	start_next_queued_job();
	proc_exit(0);
}

/*
 * Entry point of the resumer: relaunch the unfinished jobs of one database
 * after a server start.  Connects as the bootstrap superuser only to read
 * the queue; every job runs as its own role.
 */
void
migrate_resumer_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	List	   *ids = NIL;
	List	   *roles = NIL;
	ListCell   *lc1,
			   *lc2;
	int			running;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	if (RecoveryInProgress())
		proc_exit(0);

	begin_catalog_transaction();
	if (OidIsValid(get_extension_oid("migrate", true)))
	{
		SPITupleTable *unfinished;

		/* the jobs stay unfinished until the SQL definitions are updated */
		sql_version_check();
		catalog_exec("SELECT id, run_as, run_as_oid, queued_in FROM migrate.job"
					 " WHERE state IN ('queued', 'running') ORDER BY id FOR UPDATE",
					 0, NULL, NULL, NULL, 0);
		unfinished = SPI_tuptable;
		for (uint64 i = 0; i < unfinished->numvals; i++)
		{
			HeapTuple	tup = unfinished->vals[i];
			bool		isnull;
			MemoryContext old;
			int64	   *id;
			Oid			argtypes[1] = {INT8OID};
			Datum		values[1];
			Oid			run_as_oid;
			Oid			roleid;
			char	   *why;

			/*
			 * a worker still runs it (the launcher itself restarted): leave
			 * it be
			 */
			values[0] = SPI_getbinval(tup, unfinished->tupdesc, 1, &isnull);
			if (job_is_live(DatumGetInt64(values[0])))
				continue;
			/* restored from a dump, or its role renamed or replaced */
			run_as_oid = DatumGetObjectId(SPI_getbinval(tup, unfinished->tupdesc, 3, &isnull));
			why = job_identity_problem(SPI_getvalue(tup, unfinished->tupdesc, 2),
									   isnull ? InvalidOid : run_as_oid,
									   SPI_getvalue(tup, unfinished->tupdesc, 4), &roleid);
			if (why)
			{
				job_fail_identity(DatumGetInt64(values[0]), why);
				continue;
			}
			catalog_exec("UPDATE migrate.job SET state = 'queued', worker_pid = NULL,"
						 "       updated_at = clock_timestamp() WHERE id = $1",
						 1, argtypes, values, NULL, 0);

			old = MemoryContextSwitchTo(TopMemoryContext);
			id = palloc(sizeof(int64));
			*id = DatumGetInt64(values[0]);
			ids = lappend(ids, id);
			roles = lappend_oid(roles, roleid);
			MemoryContextSwitchTo(old);
		}
		if (ids != NIL)
			catalog_event(NULL, "resume", 0,
						  list_length(ids) == 1
						  ? pstrdup("1 unfinished job resumed at server start")
						  : psprintf("%d unfinished jobs resumed at server start",
									 list_length(ids)),
						  NULL);
	}
	end_catalog_transaction();

	running = jobs_workers_running();
	forboth(lc1, ids, lc2, roles)
	{
		int64		id = *(int64 *) lfirst(lc1);
		Oid			roleid = lfirst_oid(lc2);

		if (!OidIsValid(roleid) || running >= migrate_max_workers)
			continue;			/* stays queued */
		if (job_start_worker(id, roleid, NULL))
			running++;
	}
	proc_exit(0);
}

/*
 * Entry point of the launcher (shared_preload_libraries): has a resumer
 * visit every database, one at a time, then idles until shutdown, so that a
 * crash and restart of the server resumes jobs again.
 */
void
migrate_launcher_main(Datum main_arg)
{
	List	   *databases = NIL;
	ListCell   *lc;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	StartTransactionCommand();
	{
		Relation	rel = table_open(DatabaseRelationId, AccessShareLock);
		TableScanDesc scan = table_beginscan_catalog(rel, 0, NULL);
		HeapTuple	tup;

		while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
		{
			Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
			MemoryContext old;

			if (!db->datallowconn || db->datistemplate)
				continue;
			old = MemoryContextSwitchTo(TopMemoryContext);
			databases = lappend_oid(databases, db->oid);
			MemoryContextSwitchTo(old);
		}
		table_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	CommitTransactionCommand();

	foreach(lc, databases)
	{
		BackgroundWorker worker;
		BackgroundWorkerHandle *handle;

		jobs_worker_init(&worker, "migrate_resumer_main", "migrate resumer", "migrate resumer");
		worker.bgw_main_arg = ObjectIdGetDatum(lfirst_oid(lc));
		worker.bgw_notify_pid = MyProcPid;

		if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		{
			ereport(LOG,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("no background worker slot is free to resume migrate jobs in database %u",
							lfirst_oid(lc))));
			continue;
		}
		(void) WaitForBackgroundWorkerShutdown(handle);
	}

	for (;;)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1L,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		settings_reload();
	}
}

void
worker_launcher_register(void)
{
	BackgroundWorker worker;

	jobs_worker_init(&worker, "migrate_launcher_main", "migrate launcher", "migrate launcher");
	worker.bgw_restart_time = 10;	/* and again after a crash restart */
	RegisterBackgroundWorker(&worker);
}

/* What the recorder writes, in a dynamic shared memory segment. */
typedef struct FailureRecord
{
	Oid			dboid;
	Oid			roleid;
	NameData	actor;
	bool		repeatable;		/* version is the name of a repeatable
								 * migration */
	char		version[256];
	char		sqlstate[6];

	/*
	 * the failure's text, NUL, then its lock retries ("version US detail" RS
	 * ...), NUL
	 */
	char		detail[FLEXIBLE_ARRAY_MEMBER];
} FailureRecord;

/*
 * Record a failed synchronous migration in migrate.event through a short
 * lived worker, whose transaction commits whatever the caller's does.  Waits
 * for it.  The caller is in a valid (sub)transaction.
 */
void
worker_record_failure(const char *version, bool repeatable, ErrorData *edata)
{
	char	   *detail = failure_text(edata);
	char	   *notes = retry_notes_text();
	Size		size = offsetof(FailureRecord, detail) + strlen(detail) + 1 + strlen(notes) + 1;
	dsm_segment *seg;
	FailureRecord *record;
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

	seg = dsm_create(size, DSM_CREATE_NULL_IF_MAXSEGMENTS);
	if (seg == NULL)
	{
		ereport(WARNING,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not record the failure of migration %s: no dynamic shared memory segment",
						version)));
		return;
	}
	record = dsm_segment_address(seg);
	record->dboid = MyDatabaseId;
	/* as the deployer; as the catalog's owner if the deployer cannot log in */
	record->roleid = jobs_role_can_login(GetUserId()) ? GetUserId() : InvalidOid;
	namestrcpy(&record->actor, catalog_actor());
	record->repeatable = repeatable;
	strlcpy(record->version, version, sizeof(record->version));
	strlcpy(record->sqlstate, unpack_sql_state(edata->sqlerrcode), sizeof(record->sqlstate));
	strcpy(record->detail, detail);
	strcpy(record->detail + strlen(detail) + 1, notes);

	jobs_worker_init(&worker, "migrate_recorder_main", "migrate recorder", "migrate recorder");
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not record the failure of migration %s: no background worker slot is free",
						version)));
	else
		(void) WaitForBackgroundWorkerShutdown(handle);
	dsm_detach(seg);
}

/* Entry point of the recorder. */
void
migrate_recorder_main(Datum main_arg)
{
	dsm_segment *seg;
	FailureRecord *record;
	Oid			argtypes[5] = {TEXTOID, NAMEOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		proc_exit(0);
	record = dsm_segment_address(seg);

	/*
	 * Connect as the deployer; the catalog write itself runs as the catalog's
	 * owner (catalog_exec), as it does in the deployer's session.
	 */
	BackgroundWorkerInitializeConnectionByOid(record->dboid, record->roleid, 0);

	begin_catalog_transaction();
	record_retry_notes(record->detail + strlen(record->detail) + 1, NameStr(record->actor));
	values[0] = CStringGetTextDatum(record->version);
	nulls[0] = record->repeatable ? 'n' : ' ';
	values[1] = NameGetDatum(&record->actor);
	values[2] = CStringGetTextDatum(record->detail);
	values[3] = CStringGetTextDatum(record->sqlstate);
	values[4] = CStringGetTextDatum(record->version);
	nulls[4] = record->repeatable ? ' ' : 'n';
	catalog_exec("INSERT INTO migrate.event (version, action, actor, detail, sqlstate, repeatable)"
				 " VALUES ($1, 'fail', $2, $3, $4, $5)", 5, argtypes, values, nulls, 0);
	end_catalog_transaction();

	dsm_detach(seg);
	proc_exit(0);
}
