/*-------------------------------------------------------------------------
 *
 * upgrade.c
 *	  Applying and reverting migrations: migrate_upgrade, migrate_downgrade,
 *	  migrate_baseline, migrate_current, and the deploy lock.
 *
 * Transactional migrations run inside the caller's transaction, so one
 * SELECT migrate_upgrade() deploys all of them or none.  Every catalog read
 * made after the deploy lock is taken uses a fresh snapshot (SPI with
 * read_only = false), so a deployer that waited for another one sees what
 * that one committed and applies nothing twice.  Under REPEATABLE READ the
 * FOR UPDATE on the migration rows turns that case into a serialization
 * failure instead.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

#include "base/base.h"
#include "catalog/migrate_catalog.h"
#include "exec/migrate_exec.h"
#include "jobs/migrate_jobs.h"
#include "engine/migrate_engine.h"
#include "online/online.h"

PG_FUNCTION_INFO_V1(migrate_upgrade);
PG_FUNCTION_INFO_V1(migrate_downgrade);
PG_FUNCTION_INFO_V1(migrate_baseline);
PG_FUNCTION_INFO_V1(migrate_current);

/* A migration row, copied out of SPI's result. */
typedef struct MigrationRow
{
	char	   *version;
	char	   *name;
	char	   *kind;
	char	   *up;
	char	   *down;
	bool		transactional;
	char	   *checksum;		/* as stored */
	char	   *computed;		/* of the definition as stored */
	char	   *state;
	int			steps_done;		/* of a non-transactional one, in progress */
	char	   *placeholders;	/* values of its ${name} placeholders, jsonb
								 * text */
} MigrationRow;

/* A repeatable migration, copied out of SPI's result. */
typedef struct RepeatableRow
{
	char	   *name;
	char	   *up;
	char	   *checksum;
	char	   *placeholders;	/* jsonb text, or NULL */
} RepeatableRow;

static char *run_args(MigrationRow *rows, int from, int to,
					  RepeatableRow *reps, int nreps);

#define MIGRATION_COLUMNS \
	"SELECT version, name, kind, up_sql, down_sql, operations::text," \
	"       transactional, checksum, state, steps_done, placeholders::text" \
	"  FROM migrate.migration "

/* One attempt at the deploy lock, bounded by *timeout_ms. */
static void
deploy_lock_attempt(void *arg)
{
	int			timeout_ms = *(int *) arg;
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("lock_timeout", psprintf("%d", timeout_ms),
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	deploy_lock_acquire();
	AtEOXact_GUC(true, nestlevel);
}

/*
 * The deploy lock, for a background run.  Any role that may register a
 * migration can hold it in a transaction left open, and a worker's own
 * lock_timeout is 0: the run would wait without end, unseen.  So it waits
 * migrate.lock_timeout at a time with the backoff of a migration's
 * statements, each retry logged and kept as a lock_retry event naming the
 * holder, and once migrate.lock_retries retries are used up the job fails
 * with 55P03 (migrate_resume() continues it).  With migrate.lock_timeout
 * at 0 it waits as the statements then do, without a bound.  The caller is
 * connected to SPI, in a transaction.
 */
static void
deploy_lock_acquire_bounded(const char *version)
{
	int			timeout_ms = migrate_lock_timeout;

	if (timeout_ms <= 0)
	{
		deploy_lock_acquire();
		return;
	}

	for (int attempt = 0;; attempt++)
	{
		ErrorData  *edata;
		char	   *blockers;
		char	   *blocked_by;

		locksafe_watch_start(timeout_ms);
		edata = subxact_run(deploy_lock_attempt, &timeout_ms);
		locksafe_watch_stop();
		if (edata == NULL)
			return;
		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
			ReThrowError(edata);

		blockers = locksafe_blockers();
		blocked_by = blockers ? psprintf("Blocked by: %s.", blockers) : NULL;
		if (attempt < migrate_lock_retries)
			locksafe_note_retry(version, psprintf("deploy lock, attempt %d: %s", attempt + 1,
												  blockers ? blockers : "blocker unknown"));
		edata->message = pstrdup("could not obtain migrate's deploy lock");
		locksafe_retry_or_give_up(edata, attempt, timeout_ms, LOG, version, "deploy lock",
								  blocked_by, NULL, "continue the job with migrate_resume()");
	}
}

/*
 * Read migrations: MIGRATION_COLUMNS followed by "where", whose $1 is a
 * version key, or NULL for none.
 */
static MigrationRow *
fetch_migrations(const char *where, const char *key_version, int *count)
{
	Oid			argtypes[1] = {NUMERICARRAYOID};
	Datum		values[1];
	char		nulls[1];
	MigrationRow *rows;
	TupleDesc	tupdesc;

	values[0] = key_version ? version_key_datum(key_version) : (Datum) 0;
	nulls[0] = key_version ? ' ' : 'n';
	if (catalog_exec(psprintf("%s %s", MIGRATION_COLUMNS, where),
					 1, argtypes, values, nulls, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read migrate.migration");

	tupdesc = SPI_tuptable->tupdesc;
	*count = SPI_processed;
	rows = palloc0(sizeof(MigrationRow) * Max(*count, 1));
	for (int i = 0; i < *count; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;

		rows[i].version = SPI_getvalue(tup, tupdesc, 1);
		rows[i].name = SPI_getvalue(tup, tupdesc, 2);
		rows[i].kind = SPI_getvalue(tup, tupdesc, 3);
		rows[i].up = SPI_getvalue(tup, tupdesc, 4);
		rows[i].down = SPI_getvalue(tup, tupdesc, 5);
		rows[i].transactional =
			DatumGetBool(SPI_getbinval(tup, tupdesc, 7, &isnull));
		rows[i].checksum = SPI_getvalue(tup, tupdesc, 8);
		rows[i].state = SPI_getvalue(tup, tupdesc, 9);
		rows[i].steps_done = DatumGetInt32(SPI_getbinval(tup, tupdesc, 10, &isnull));
		rows[i].placeholders = SPI_getvalue(tup, tupdesc, 11);
		rows[i].computed = catalog_checksum(rows[i].kind, rows[i].name,
											rows[i].up, rows[i].down,
											SPI_getvalue(tup, tupdesc, 6),
											rows[i].transactional);
	}
	return rows;
}

/*
 * Refuse to run a migration whose stored definition no longer matches the
 * checksum it was registered with: someone edited the catalog by hand.
 */
static void
check_checksum(MigrationRow *row)
{
	if (strcmp(row->checksum, row->computed) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_MIGRATE_CHECKSUM_MISMATCH),
				 errmsg("definition of migration %s does not match its checksum",
						row->version),
				 errdetail("Registered checksum: %s, checksum of the stored definition: %s.",
						   row->checksum, row->computed),
				 errhint("The catalog was edited outside migrate_register. Register the migration again, or restore migrate.migration.")));
}

/* Set a migration's state; applied ones get their time, actor and duration. */
static void
set_state(const char *version, const char *state, TimestampTz started)
{
	Oid			argtypes[4] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, NAMEOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};

	values[0] = CStringGetTextDatum(version);
	values[1] = CStringGetTextDatum(state);
	values[2] = TimestampTzGetDatum(started);
	nulls[2] = started ? ' ' : 'n';
	values[3] = DirectFunctionCall1(namein, CStringGetDatum(catalog_actor()));
	if (catalog_exec("UPDATE migrate.migration"
					 "   SET state = $2, last_error = NULL, steps_done = 0,"
					 "       applied_at = CASE WHEN $2 = 'applied'"
					 "                    THEN clock_timestamp() END,"
					 "       applied_by = CASE WHEN $2 = 'applied'"
					 "                    THEN $4 END,"
					 "       duration = CASE WHEN $2 = 'applied'"
					 "                  THEN clock_timestamp() - $3 END"
					 " WHERE version = $1",
					 4, argtypes, values, nulls, 0) != SPI_OK_UPDATE ||
		SPI_processed != 1)
		elog(ERROR, "could not update state of migration %s", version);
}

/* A row of migrate_upgrade's or migrate_downgrade's result (arg: rsinfo). */
static void
put_result(void *arg, const char *version, const char *name,
		   const char *action)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) arg;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	values[0] = version ? CStringGetTextDatum(version) : (Datum) 0;
	nulls[0] = version == NULL;
	values[1] = CStringGetTextDatum(name);
	values[2] = CStringGetTextDatum(action);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* The objects that drifted, listed for a WARNING (the first few). */
typedef struct DriftList
{
	StringInfoData list;
	int			listed;
} DriftList;

#define DRIFT_LISTED 10

static void
note_drift(SchemaObject *before, SchemaObject *after, void *arg)
{
	DriftList  *drift = (DriftList *) arg;
	SchemaObject *o = before ? before : after;

	if (drift->listed++ >= DRIFT_LISTED)
		return;
	appendStringInfo(&drift->list, "%s%s %s %s", drift->listed > 1 ? ", " : "",
					 o->kind, o->object,
					 before == NULL ? "created" : after == NULL ? "dropped" : "changed");
}

/*
 * Before a run changes the schema: the fingerprint it records at its end
 * becomes migrate_validate()'s reference, so changes made by hand since
 * the last one would vanish from its reports unnoticed.  Say so now, and
 * keep it in the history.
 */
static void
warn_of_drift(void)
{
	Fingerprint *recorded = fingerprint_recorded();
	DriftList	drift;
	int			n;

	if (recorded == NULL)
		return;
	initStringInfo(&drift.list);
	drift.listed = 0;
	n = fingerprint_diff(recorded, fingerprint_take(), note_drift, &drift);
	if (n == 0)
		return;
	if (n > DRIFT_LISTED)
		appendStringInfo(&drift.list, ", and %d more", n - DRIFT_LISTED);
	ereport(WARNING,
			(errcode(ERRCODE_WARNING),
			 errmsg_plural("the schema changed outside migrations since the last one ran (%d object)",
						   "the schema changed outside migrations since the last one ran (%d objects)",
						   n, n),
			 errdetail("%s.", drift.list.data),
			 errhint("This upgrade records the schema as it finds it, so migrate_validate() will not report these changes afterwards; they are kept in migrate.event (action drift).")));
	catalog_event(NULL, "drift", 0,
				  n == 1 ? psprintf("1 object changed outside migrations before this upgrade: %s",
									drift.list.data)
				  : psprintf("%d objects changed outside migrations before this upgrade: %s",
							 n, drift.list.data), NULL);
}

/*
 * The repeatable migrations to apply: never applied, or applied at another
 * checksum; all of them (name NULL), or the one named.  In name order,
 * locked.  A stored definition that no longer matches its checksum (the
 * catalog edited by hand) is refused, as a migration's is.
 */
static RepeatableRow *
fetch_repeatables(const char *name, int *count)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	char		nulls[1];
	RepeatableRow *reps;

	values[0] = name ? CStringGetTextDatum(name) : (Datum) 0;
	nulls[0] = name ? ' ' : 'n';
	if (catalog_exec("SELECT name, up_sql, checksum, placeholders::text"
					 "  FROM migrate.repeatable"
					 " WHERE applied_checksum IS DISTINCT FROM checksum"
					 "   AND ($1 IS NULL OR name = $1)"
					 " ORDER BY name COLLATE \"C\" FOR UPDATE",
					 1, argtypes, values, nulls, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read migrate.repeatable");
	*count = SPI_processed;
	reps = palloc0(sizeof(RepeatableRow) * Max(*count, 1));
	for (int i = 0; i < *count; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	tupdesc = SPI_tuptable->tupdesc;
		char	   *computed;

		reps[i].name = SPI_getvalue(tup, tupdesc, 1);
		reps[i].up = SPI_getvalue(tup, tupdesc, 2);
		reps[i].checksum = SPI_getvalue(tup, tupdesc, 3);
		reps[i].placeholders = SPI_getvalue(tup, tupdesc, 4);
		computed = catalog_checksum("repeatable", reps[i].name, reps[i].up,
									NULL, reps[i].placeholders, true);
		if (strcmp(reps[i].checksum, computed) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_MIGRATE_CHECKSUM_MISMATCH),
					 errmsg("definition of repeatable migration \"%s\" does not match its checksum",
							reps[i].name),
					 errdetail("Registered checksum: %s, checksum of the stored definition: %s.",
							   reps[i].checksum, computed),
					 errhint("The catalog was edited outside migrate_register_repeatable. Register it again.")));
	}
	return reps;
}

/* Run a repeatable migration's SQL, its placeholders replaced. */
static void
repeatable_run(RepeatableRow *rep)
{
	script_run(NULL, rep->name, "up",
			   placeholders_apply(rep->up, rep->placeholders,
								  psprintf("repeatable migration \"%s\"", rep->name)));
}

/* A repeatable migration ran: record it, with the checksum it ran at. */
static void
repeatable_applied(RepeatableRow *rep, TimestampTz started, const char *detail)
{
	Oid			argtypes[4] = {TEXTOID, TEXTOID, NAMEOID, TIMESTAMPTZOID};
	Datum		values[4];

	values[0] = CStringGetTextDatum(rep->name);
	values[1] = CStringGetTextDatum(rep->checksum);
	values[2] = DirectFunctionCall1(namein, CStringGetDatum(catalog_actor()));
	values[3] = TimestampTzGetDatum(started);
	if (catalog_exec("UPDATE migrate.repeatable"
					 "   SET applied_checksum = $2, applied_at = clock_timestamp(),"
					 "       applied_by = $3, duration = clock_timestamp() - $4,"
					 "       last_error = NULL"
					 " WHERE name = $1",
					 4, argtypes, values, NULL, 0) != SPI_OK_UPDATE ||
		SPI_processed != 1)
		elog(ERROR, "could not update repeatable migration \"%s\"", rep->name);
	catalog_event_repeatable(rep->name, "upgrade", started, detail, NULL);
}

/* Work done in the caller's transaction, for in_caller_subtransaction. */
typedef struct CallerWork
{
	MigrationRow *rows;
	int			n;
	UpgradeBatch *batch;		/* an upgrade's, told what was applied */
	const char *current;		/* the migration at work, for the record */
	bool		down;			/* reverting rows (down SQL), not applying */
	RepeatableRow *reps;		/* then these repeatable migrations */
	int			nreps;
	const char *repeatable;		/* the one at work (current is then NULL) */
} CallerWork;

/*
 * Run fn(work) in a subtransaction of the caller's transaction, so that,
 * when a migration fails, its failure can be recorded by a transaction of
 * its own (which the caller's rollback does not undo) before the error is
 * raised again.
 */
static void
in_caller_subtransaction(void (*fn) (void *), CallerWork *work)
{
	ErrorData  *edata = subxact_run(fn, work);

	if (edata)
	{
		const char *failed = work->repeatable ? work->repeatable : work->current;

		if (failed != NULL)
			worker_record_failure(failed, work->repeatable != NULL, edata);
		ReThrowError(edata);
	}
}

/* Apply (or revert) rows[0..n), in order: one attempt. */
static void
run_rows_once(void *arg)
{
	CallerWork *work = (CallerWork *) arg;

	work->repeatable = NULL;
	if (work->n > 0 || work->nreps > 0)
		online_retire_shapes(work->n > 0 ? work->rows[0].version : NULL);
	for (int i = 0; i < work->n; i++)
	{
		MigrationRow *row = &work->rows[i];
		TimestampTz started = GetCurrentTimestamp();

		work->current = row->version;
		script_run(row->version, row->name, work->down ? "down" : "up",
				   placeholders_apply(work->down ? row->down : row->up, row->placeholders,
									  psprintf("migration %s", row->version)));
		set_state(row->version, work->down ? "pending" : "applied", work->down ? 0 : started);
		catalog_event(row->version, work->down ? "downgrade" : "upgrade", started, NULL, NULL);
	}
	for (int i = 0; i < work->nreps; i++)
	{
		TimestampTz started = GetCurrentTimestamp();

		/* a repeatable's lock retries are not any version's */
		work->current = NULL;
		work->repeatable = work->reps[i].name;
		repeatable_run(&work->reps[i]);
		repeatable_applied(&work->reps[i], started, NULL);
	}
}

/*
 * Apply rows[0..n) as one lock-safe run: a lock timeout in any statement
 * rolls back all of them, so that no lock an earlier migration took is held
 * while a later one waits.
 */
static void
apply_rows(void *arg)
{
	CallerWork *work = (CallerWork *) arg;

	locksafe_run_whole(&work->current, "upgrade", run_rows_once, work,
					   "cancel the blocker with pg_cancel_backend(), or deploy again when it is done");
	for (int i = 0; i < work->n; i++)
		work->batch->result(work->batch->result_arg, work->rows[i].version,
							work->rows[i].name, "applied");
	for (int i = 0; i < work->nreps; i++)
		work->batch->result(work->batch->result_arg, NULL, work->reps[i].name,
							"applied");
}

/* One migration of a background run, in the worker's transaction. */
typedef struct ScriptCall
{
	const char *version;
	const char *name;
	const char *direction;
	const char *sql;
} ScriptCall;

static void
script_call(void *arg)
{
	ScriptCall *call = (ScriptCall *) arg;

	online_retire_shapes(call->version);
	script_run(call->version, call->name, call->direction, call->sql);
}

/* Start (expand) the online migration rows[0]. */
static void
start_online(void *arg)
{
	CallerWork *work = (CallerWork *) arg;

	work->current = work->rows[0].version;
	online_start(online_load(work->rows[0].version, false, NULL));
}

/*
 * Apply the pending migrations up to batch->target in the caller's
 * transaction, at most batch->limit of them (0: all): migrate_upgrade's
 * run, and each batch of migrate_deploy's.  At the first non-transactional
 * one, the rest of the run (of this batch) is handed to a background worker
 * that starts when the caller commits (action 'queued').  The run stops at
 * the first online migration, which it starts and leaves in flight.
 *
 * The repeatable migrations run at the end of a run that reaches the end
 * (the target, or the last pending migration): never in a batch that more
 * migrations follow, since a repeatable may use what a later migration
 * creates.  The caller has checked the target's syntax and holds the
 * guard (migrate_guard_begin).
 */
void
upgrade_pending(UpgradeBatch *batch)
{
	MemoryContext caller = CurrentMemoryContext;
	char	   *target = batch->target ? pstrdup(batch->target) : NULL;
	const char *where;
	MigrationRow *rows;
	int			count;
	int			n;
	int			handoff;
	int			online;
	RepeatableRow *reps = NULL;
	int			nreps = 0;
	bool		flying = false;

	batch->applied = batch->queued = 0;
	batch->job_id = 0;
	batch->queued_from = NULL;
	batch->stopped = batch->more = false;

	SPI_connect();
	deploy_lock_acquire();
	deploy_guard_background_run();
	locksafe_forget_retries();
	if (target)
		target = deploy_lookup_version(target);

	/*
	 * Later migrations wait while an online migration is in flight, but for
	 * the next one when it is an online migration on other tables: it starts
	 * alongside.
	 */
	{
		char	   *state;
		char	   *in_flight = online_in_flight(&state);

		if (in_flight)
		{
			char	   *blocker;

			flying = true;
			if (online_startable(&blocker) == NULL)
			{
				if (blocker && strcmp(blocker, in_flight) != 0)
				{
					in_flight = blocker;
					state = "in flight";
				}
				ereport(NOTICE,
						(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
						 errmsg("online migration %s is %s: later migrations wait until it is completed",
								in_flight, state),
						 errhint("Complete it with migrate_complete(), or undo it with migrate_rollback().")));
				batch->stopped = true;
				SPI_finish();
				return;
			}
		}
	}

	/*
	 * The first batch reads the whole run, so that a refusal below (a
	 * definition edited by hand) comes before anything is applied, as in one
	 * migrate_upgrade(); a later batch reads one migration more than it may
	 * apply, which tells whether more follow.
	 */
	where = "WHERE ((kind = 'sql' AND state IN ('pending', 'failed'))"
		"       OR (kind = 'online' AND state IN ('pending', 'rolled_back')))"
		"   AND ($1 IS NULL OR version_key <= $1)"
		" ORDER BY version_key";
	if (batch->limit > 0 && !batch->first)
		where = psprintf("%s LIMIT %d", where, batch->limit + 1);
	rows = fetch_migrations(psprintf("%s FOR UPDATE", where), target, &count);

	/*
	 * Before running anything, make sure every migration of the run can be
	 * applied, so that a refusal leaves nothing half-done.  The run stops at
	 * the first online migration, which is started and stays in flight.
	 */
	online = count;
	for (int i = 0; i < count; i++)
	{
		check_checksum(&rows[i]);
		if (strcmp(rows[i].kind, "online") == 0)
		{
			online = i;
			break;
		}
	}

	/*
	 * With online migrations in flight, only the next one starts (all a run
	 * may do then, online_startable said).
	 */
	if (flying && count > 0)
	{
		if (online != 0)
			elog(ERROR, "migration %s is not the online migration that can start",
				 rows[0].version);
		count = 1;
	}

	/* this batch: rows[0..n); online == count only when it reaches the end */
	n = batch->limit > 0 ? Min(count, batch->limit) : count;
	online = Min(online, n);
	handoff = online;
	for (int i = 0; i < online; i++)
		if (!rows[i].transactional)
		{
			handoff = i;
			break;
		}

	/*
	 * The repeatable migrations come at the end of a run that reaches its
	 * end: not while an online migration it starts stays in flight, nor
	 * before the migrations of a later batch.
	 */
	if (online == count && !flying)
		reps = fetch_repeatables(NULL, &nreps);

	/*
	 * Not while online migrations are in flight: their jobs change the schema
	 * (validations, index builds) after the fingerprint their start recorded.
	 * Not for a later batch either: the batch before recorded the schema.
	 */
	if ((count > 0 || nreps > 0) && !flying && batch->first)
		warn_of_drift();
	{
		/* in this transaction, unless a background run applies them last */
		CallerWork	work = {rows, handoff, batch, NULL, false,
		reps, handoff == online ? nreps : 0, NULL};

		in_caller_subtransaction(apply_rows, &work);
	}
	batch->applied = handoff;
	if (handoff > 0 || (handoff == online && nreps > 0))
		fingerprint_record("upgrade", handoff > 0 ? rows[handoff - 1].version : NULL);

	if (handoff < online)
	{
		int64		job_id;

		job_id = job_queue("upgrade", rows[handoff].version,
						   rows[online - 1].version, InvalidOid, online - handoff,
						   run_args(rows, handoff, online, reps, nreps));
		for (int i = handoff; i < online; i++)
			batch->result(batch->result_arg, rows[i].version, rows[i].name, "queued");
		for (int i = 0; i < nreps; i++)
			batch->result(batch->result_arg, NULL, reps[i].name, "queued");
		batch->queued = online - handoff;
		batch->job_id = job_id;
		batch->queued_from = MemoryContextStrdup(caller, rows[handoff].version);
		if (batch->tell_commit)
		{
			ereport(NOTICE,
					(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
					 online - handoff == 1
					 ? errmsg("migration %s is applied by background job " INT64_FORMAT " once this transaction commits",
							  rows[handoff].version, job_id)
					 : errmsg("migrations %s to %s are applied by background job " INT64_FORMAT " once this transaction commits",
							  rows[handoff].version, rows[online - 1].version, job_id),
					 errdetail("Migration %s cannot run inside a transaction.", rows[handoff].version),
					 errhint("Commit, then wait for it with SELECT migrate_wait().")));
			if (online < n)
				ereport(NOTICE,
						(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
						 errmsg("online migration %s starts at the next migrate_upgrade(), once the background run is done",
								rows[online].version)));
		}
	}
	else if (online < n)
	{
		CallerWork	work = {&rows[online], 1, batch, NULL};

		in_caller_subtransaction(start_online, &work);
		batch->result(batch->result_arg, rows[online].version, rows[online].name, "started");
		batch->stopped = true;
		if (online + 1 < count)
			ereport(NOTICE,
					(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
					 errmsg("online migration %s is started: later migrations wait until it is completed",
							rows[online].version),
					 errhint("Complete it with migrate_complete(), then run %s again.",
							 batch->again)));
	}
	batch->more = !batch->stopped && online < count;

	SPI_finish();
}

/*
 * migrate_upgrade(target text DEFAULT NULL)
 *		RETURNS TABLE(version text, name text, action text)
 *
 * Applies the pending migrations up to target in the caller's transaction:
 * all of them in one run (upgrade_pending), so that one SELECT deploys all
 * or none.
 */
Datum
migrate_upgrade(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	UpgradeBatch batch = {0};

	sql_version_check();
	migrate_guard_begin("migrate_upgrade");

	batch.target = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (batch.target)
		version_check_arg(batch.target, "target");
	InitMaterializedSRF(fcinfo, 0);

	batch.first = true;
	batch.tell_commit = true;
	batch.again = "migrate_upgrade()";
	batch.result = put_result;
	batch.result_arg = rsinfo;
	upgrade_pending(&batch);

	migrate_guard_end();
	return (Datum) 0;
}

/* Note the migration a background run is on, and how far into it. */
static void
job_set_position(int64 job_id, const char *version, int step, bool advance)
{
	Oid			argtypes[4] = {INT8OID, TEXTOID, INT4OID, BOOLOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};

	values[0] = Int64GetDatum(job_id);
	values[1] = version ? CStringGetTextDatum(version) : (Datum) 0;
	nulls[1] = version ? ' ' : 'n';
	values[2] = Int32GetDatum(step);
	values[3] = BoolGetDatum(advance);
	catalog_exec("UPDATE migrate.job"
				 "   SET current_version = $2, current_step = $3,"
				 "       rows_done = rows_done + CASE WHEN $4 THEN 1 ELSE 0 END,"
				 "       updated_at = clock_timestamp(), attempts = 0"
				 " WHERE id = $1", 4, argtypes, values, nulls, 0);
}

/* A statement of a non-transactional migration is done. */
typedef struct StepDone
{
	int64		job_id;
	const char *version;
	int			steps;
} StepDone;

/* Record it in the statement's own (last) transaction. */
static void
record_step(void *arg)
{
	StepDone   *done = (StepDone *) arg;
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	Datum		values[2];

	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	values[0] = CStringGetTextDatum(done->version);
	values[1] = Int32GetDatum(done->steps);
	catalog_exec("UPDATE migrate.migration SET steps_done = $2 WHERE version = $1",
				 2, argtypes, values, NULL, 0);
	job_set_position(done->job_id, done->version, done->steps, false);
	PopActiveSnapshot();
	SPI_finish();
}

static void
worker_transaction_begin(void)
{
	subxact_defaults_reset();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
}

static void
worker_transaction_end(void)
{
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
}

/*
 * The args of a background run: the settings of the session that queues it
 * and its plan, the migrations rows[from..to) in the order the run applies
 * (or reverts) them, each with its checksum.  The run does exactly these:
 * a version registered later waits for the next deploy, and a definition
 * changed since is refused, so no role can slip SQL into a run that
 * another role queued.
 */
static char *
run_args(MigrationRow *rows, int from, int to, RepeatableRow *reps, int nreps)
{
	char	   *settings = worker_settings_json();
	StringInfoData buf;

	initStringInfo(&buf);
	/* the settings object, without its closing brace */
	appendBinaryStringInfo(&buf, settings, strlen(settings) - 1);
	appendStringInfoString(&buf, ", \"plan\": [");
	for (int i = from; i < to; i++)
	{
		appendStringInfoString(&buf, i > from ? ", {\"version\": " : "{\"version\": ");
		escape_json(&buf, rows[i].version);
		appendStringInfoString(&buf, ", \"checksum\": ");
		escape_json(&buf, rows[i].checksum);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, ']');
	/* and the repeatable migrations it applies at its end, with their values */
	if (nreps > 0)
	{
		appendStringInfoString(&buf, ", \"repeatables\": [");
		for (int i = 0; i < nreps; i++)
		{
			appendStringInfoString(&buf, i > 0 ? ", {\"name\": " : "{\"name\": ");
			escape_json(&buf, reps[i].name);
			appendStringInfoString(&buf, ", \"checksum\": ");
			escape_json(&buf, reps[i].checksum);
			appendStringInfoString(&buf, ", \"placeholders\": ");
			if (reps[i].placeholders)
				escape_json(&buf, reps[i].placeholders);
			else
				appendStringInfoString(&buf, "null");
			appendStringInfoChar(&buf, '}');
		}
		appendStringInfoChar(&buf, ']');
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* One migration of a run's plan. */
typedef struct PlannedMigration
{
	char	   *version;
	char	   *checksum;
} PlannedMigration;

/*
 * The plan of a background run, from its args.  A run queued before runs
 * had plans gets one now, of what it would have applied then: migrations
 * registered (or replaced) after it was queued are left out.
 */
static PlannedMigration *
run_plan(int64 job_id, bool up, const char *target, int *count,
		 MemoryContext context)
{
	Oid			argtypes[3] = {INT8OID, BOOLOID, NUMERICARRAYOID};
	Datum		values[3];
	PlannedMigration *plan;

	values[0] = Int64GetDatum(job_id);
	values[1] = BoolGetDatum(up);
	values[2] = version_key_datum(target);
	catalog_exec("UPDATE migrate.job j"
				 "   SET args = coalesce(j.args, '{}') || jsonb_build_object('plan', coalesce("
				 "       (SELECT jsonb_agg(jsonb_build_object('version', m.version,"
				 "                                            'checksum', m.checksum)"
				 "                         ORDER BY CASE WHEN $2 THEN m.version_key END,"
				 "                                  m.version_key DESC)"
				 "          FROM migrate.migration m"
				 "         WHERE CASE WHEN $2"
				 "                    THEN m.state IN ('pending', 'failed') AND m.kind = 'sql'"
				 "                         AND m.version_key <= $3"
				 "                         AND m.registered_at <= j.queued_at"
				 "                    ELSE m.state = 'applied' AND m.version_key > $3"
				 "                         AND m.applied_at <= j.queued_at END),"
				 "       '[]'))"
				 " WHERE j.id = $1 AND NOT coalesce(j.args ? 'plan', false)",
				 3, argtypes, values, NULL, 0);
	catalog_exec("SELECT e.p ->> 'version', e.p ->> 'checksum'"
				 "  FROM migrate.job j,"
				 "       jsonb_array_elements(j.args -> 'plan') WITH ORDINALITY AS e (p, n)"
				 " WHERE j.id = $1 ORDER BY e.n",
				 1, argtypes, values, NULL, 0);
	*count = SPI_processed;
	/* out of SPI's memory, which the transaction ends */
	plan = MemoryContextAllocZero(context, sizeof(PlannedMigration) * Max(*count, 1));
	for (int i = 0; i < *count; i++)
	{
		char	   *version = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *checksum = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		if (version == NULL || checksum == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the plan of background job " INT64_FORMAT " is malformed", job_id),
					 errhint("Cancel the job with migrate_cancel() and deploy again.")));
		plan[i].version = MemoryContextStrdup(context, version);
		plan[i].checksum = MemoryContextStrdup(context, checksum);
	}
	return plan;
}

/*
 * Before a background upgrade run applies version: no migration below it
 * may be pending that the run's plan leaves out.  Registration refuses
 * such a version (run_order_guard) unless migrate.allow_out_of_order was
 * on; the run would skip it, and the next deploy apply it below migrations
 * applied already.
 */
static void
run_order_check(int64 job_id, const char *version)
{
	Oid			argtypes[2] = {INT8OID, NUMERICARRAYOID};
	Datum		values[2];

	values[0] = Int64GetDatum(job_id);
	values[1] = version_key_datum(version);
	catalog_exec("SELECT m.version FROM migrate.migration m"
				 " WHERE ((m.kind = 'sql' AND m.state IN ('pending', 'failed'))"
				 "        OR (m.kind = 'online' AND m.state IN ('pending', 'rolled_back')))"
				 "   AND m.version_key < $2"
				 "   AND m.version NOT IN (SELECT e.p ->> 'version'"
				 "                           FROM migrate.job j,"
				 "                                jsonb_array_elements(j.args -> 'plan') AS e (p)"
				 "                          WHERE j.id = $1)"
				 " ORDER BY m.version_key LIMIT 1",
				 2, argtypes, values, NULL, 1);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("background job " INT64_FORMAT " would apply migration %s out of order",
						job_id, version),
				 errdetail("Migration %s, below it, is pending and not among the migrations the job was queued with.",
						   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errhint("Deploy again with migrate_upgrade(), which applies the pending migrations in order, rather than resuming the job.")));
}

/*
 * The end of a background upgrade run: the repeatable migrations it was
 * queued with, each in its own transaction as a transactional migration,
 * with the run's role and settings.  One changed since (its SQL or its
 * placeholder values) is left to the next deploy: a run applies only what
 * its role queued.  One applied since (by this run before it was
 * interrupted) is done.
 */
static void
background_repeatables(int64 job_id, MemoryContext runcontext)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(job_id)};
	RepeatableRow *planned;
	int			nplanned;

	MemoryContextReset(runcontext);
	worker_transaction_begin();
	catalog_exec("SELECT e.r ->> 'name', e.r ->> 'checksum', e.r ->> 'placeholders'"
				 "  FROM migrate.job j,"
				 "       jsonb_array_elements(CASE WHEN jsonb_typeof(j.args -> 'repeatables') = 'array'"
				 "                                 THEN j.args -> 'repeatables' ELSE '[]' END)"
				 "         WITH ORDINALITY AS e (r, n)"
				 " WHERE j.id = $1 ORDER BY e.n",
				 1, argtypes, values, NULL, 0);
	nplanned = SPI_processed;
	planned = MemoryContextAllocZero(runcontext, sizeof(RepeatableRow) * Max(nplanned, 1));
	for (int i = 0; i < nplanned; i++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *checksum = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		char	   *placeholders = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);

		if (name == NULL || checksum == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the plan of background job " INT64_FORMAT " is malformed", job_id),
					 errhint("Cancel the job with migrate_cancel() and deploy again.")));
		planned[i].name = MemoryContextStrdup(runcontext, name);
		planned[i].checksum = MemoryContextStrdup(runcontext, checksum);
		planned[i].placeholders = placeholders ? MemoryContextStrdup(runcontext, placeholders) : NULL;
	}
	worker_transaction_end();

	for (int i = 0; i < nplanned; i++)
	{
		MemoryContext oldcontext;
		RepeatableRow *rep;
		int			count;
		TimestampTz started;

		CHECK_FOR_INTERRUPTS();
		settings_reload();
		oldcontext = MemoryContextSwitchTo(runcontext);

		locksafe_forget_retries();
		worker_transaction_begin();
		worker_note_repeatable(planned[i].name);
		worker_session_restore();
		deploy_lock_acquire_bounded(NULL);
		rep = fetch_repeatables(planned[i].name, &count);
		if (count == 0)
		{
			/* applied already, or dropped from the catalog */
			worker_transaction_end();
			MemoryContextSwitchTo(oldcontext);
			continue;
		}
		if (strcmp(rep->checksum, planned[i].checksum) != 0 ||
			(rep->placeholders == NULL) != (planned[i].placeholders == NULL) ||
			(rep->placeholders && strcmp(rep->placeholders, planned[i].placeholders) != 0))
		{
			ereport(LOG,
					(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
					 errmsg("repeatable migration \"%s\" changed after background job " INT64_FORMAT " was queued",
							rep->name, job_id),
					 errdetail("The job skips it; the next deploy applies it.")));
			worker_transaction_end();
			MemoryContextSwitchTo(oldcontext);
			continue;
		}

		started = GetCurrentTimestamp();
		activity_report("repeatable migration \"%s\"", rep->name);
		{
			ScriptCall	call = {NULL, rep->name, "up",
				placeholders_apply(rep->up, rep->placeholders,
								   psprintf("repeatable migration \"%s\"", rep->name))};

			locksafe_run_whole(&call.version, "up", script_call, &call,
							   "continue the job with migrate_resume()");
		}
		/* recorded as the run's role, whatever role the migration set */
		worker_session_restore();
		repeatable_applied(rep, started, psprintf("applied by job " INT64_FORMAT, job_id));
		fingerprint_record("upgrade", NULL);
		worker_transaction_end();
		MemoryContextSwitchTo(oldcontext);
	}
}

/*
 * The body of a background run (job kind 'upgrade' or 'downgrade', in a
 * worker): apply the migrations of its plan in order (or revert them), each
 * in its own transaction, or, when it is non-transactional, each of its
 * statements as a top-level command in its own transaction.  The migration
 * rows record what is done, and how many statements of a migration in
 * progress, so an interrupted run continues there (resume_version names the
 * migration it was at) and does nothing twice.  Each migration starts with
 * the role and settings the run was queued with.
 */
void
upgrade_background_run(int64 job_id, bool up, const char *target,
					   const char *resume_version)
{
	const char *direction = up ? "up" : "down";
	MemoryContext runcontext = AllocSetContextCreate(CurrentMemoryContext,
													 "migrate background run",
													 ALLOCSET_DEFAULT_SIZES);
	MemoryContext plancontext = AllocSetContextCreate(CurrentMemoryContext,
													  "migrate background run plan",
													  ALLOCSET_DEFAULT_SIZES);
	PlannedMigration *plan;
	int			planned;
	LOCKTAG		tag;

	/*
	 * One run at a time, whatever happens to the job table: a second waits.
	 * Only a run takes this lock (SQL cannot, see migrate.h), and a cancel of
	 * the job ends the wait.
	 */
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, MIGRATE_LOCK_KEY1,
						 MIGRATE_RUN_LOCK_KEY2, MIGRATE_LOCKTAG_FIELD4);
	StartTransactionCommand();
	(void) LockAcquire(&tag, ExclusiveLock, true, false);
	CommitTransactionCommand();

	worker_transaction_begin();
	plan = run_plan(job_id, up, target, &planned, plancontext);
	worker_transaction_end();

	for (int p = 0; p < planned; p++)
	{
		MemoryContext oldcontext;
		MigrationRow *rows;
		int			count;
		char	   *version;
		char	   *name;
		char	   *sql;
		TimestampTz started;
		bool		resuming;
		int			step;
		List	   *statements;

		CHECK_FOR_INTERRUPTS();
		/* ALTER SYSTEM and pg_reload_conf() reach the job here too */
		settings_reload();
		MemoryContextReset(runcontext);
		oldcontext = MemoryContextSwitchTo(runcontext);

		/* the retries of the migrations before are committed with them */
		locksafe_forget_retries();
		worker_transaction_begin();
		worker_note_version(plan[p].version);
		worker_session_restore();
		deploy_lock_acquire_bounded(plan[p].version);
		rows = fetch_migrations("WHERE version_key = $1 FOR UPDATE",
								plan[p].version, &count);
		if (count == 0)
			ereport(ERROR,
					(errcode(ERRCODE_MIGRATE_UNKNOWN_VERSION),
					 errmsg("migration version %s is not registered", plan[p].version)));

		/* done already, by this run before it was interrupted */
		if (up ? (strcmp(rows[0].state, "pending") != 0 &&
				  strcmp(rows[0].state, "failed") != 0) :
			strcmp(rows[0].state, "applied") != 0)
		{
			worker_transaction_end();
			MemoryContextSwitchTo(oldcontext);
			continue;
		}

		if (up)
			run_order_check(job_id, plan[p].version);
		if (strcmp(rows[0].checksum, plan[p].checksum) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_MIGRATE_CHECKSUM_MISMATCH),
					 errmsg("migration %s changed after background job " INT64_FORMAT " was queued",
							rows[0].version, job_id),
					 errdetail("Checksum when the job was queued: %s, registered now: %s.",
							   plan[p].checksum, rows[0].checksum),
					 errhint("A run applies only what it was queued with. Cancel the job with migrate_cancel(), then deploy again.")));
		check_checksum(&rows[0]);
		if (strcmp(rows[0].kind, "sql") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("migration %s is an online migration, which this version of migrate cannot apply",
							rows[0].version)));
		if (!up && rows[0].down == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_MIGRATE_IRREVERSIBLE),
					 errmsg("migration %s \"%s\" is irreversible",
							rows[0].version, rows[0].name)));

		/* copied out of SPI's memory, which each transaction ends */
		MemoryContextSwitchTo(runcontext);
		version = pstrdup(rows[0].version);
		name = pstrdup(rows[0].name);
		sql = placeholders_apply(up ? rows[0].up : rows[0].down, rows[0].placeholders,
								 psprintf("migration %s", version));
		sql = pstrdup(sql);

		/*
		 * Where to start: the migration records how many of its statements
		 * are done (in this direction), whichever run did them.
		 */
		step = rows[0].steps_done;
		resuming = step > 0 || strcmp(rows[0].state, "failed") == 0 ||
			(resume_version != NULL && strcmp(resume_version, version) == 0);
		started = GetCurrentTimestamp();

		if (rows[0].transactional)
		{
			ScriptCall	call = {version, name, direction, sql};

			job_set_position(job_id, version, 0, false);
			activity_report("migration %s \"%s\", %s", version, name, direction);
			locksafe_run_whole(&call.version, direction, script_call, &call,
							   "continue the job with migrate_resume()");
		}
		else
		{
			job_set_position(job_id, version, step, false);
			worker_transaction_end();

			MemoryContextSwitchTo(runcontext);
			statements = script_statements(version, name, sql);
			for (int k = step; k < list_length(statements); k++)
			{
				char	   *where = psprintf("%s statement %d of %d", direction,
											 k + 1, list_length(statements));
				StepDone	done = {job_id, version, k + 1};

				toplevel_execute_retrying(list_nth(statements, k), version, where,
										  resuming && k == step, record_step, &done);
			}
			worker_transaction_begin();
			/* the role and settings of the run, not those a statement SET */
			worker_session_restore();
			deploy_lock_acquire_bounded(version);
		}

		/* recorded as the run's role, whatever role the migration set */
		worker_session_restore();
		set_state(version, up ? "applied" : "pending", started);
		catalog_event(version, up ? "upgrade" : "downgrade", started,
					  psprintf("%s by job " INT64_FORMAT, up ? "applied" : "reverted", job_id),
					  NULL);
		fingerprint_record(up ? "upgrade" : "downgrade", version);
		job_set_position(job_id, version, 0, true);
		worker_transaction_end();

		resume_version = NULL;
		MemoryContextSwitchTo(oldcontext);
	}
	if (up)
		background_repeatables(job_id, runcontext);
	worker_note_version(NULL);
	MemoryContextDelete(runcontext);
	MemoryContextDelete(plancontext);
	LockRelease(&tag, ExclusiveLock, true);
}

/*
 * migrate_downgrade(target text)
 *		RETURNS TABLE(version text, name text, action text)
 *
 * Reverts applied migrations above target, newest first.  '0' reverts all.
 */
Datum
migrate_downgrade(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *target;
	bool		all;
	MigrationRow *rows;
	int			count;
	int			handoff;

	sql_version_check();
	migrate_guard_begin("migrate_downgrade");

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("target must not be NULL"),
				 errhint("Use '0' to revert all migrations.")));
	target = text_to_cstring(PG_GETARG_TEXT_PP(0));
	version_check_arg(target, "target");
	/* '0' (or '0.0'...) is before every migration */
	all = strspn(target, "0.") == strlen(target);

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	deploy_lock_acquire();
	deploy_guard_background_run();
	if (!all)
		target = deploy_lookup_version(target);

	/* online migrations in flight must be rolled back by migrate_rollback */
	{
		Oid			argtypes[1] = {NUMERICARRAYOID};
		Datum		values[1] = {all ? (Datum) 0 : version_key_datum(target)};
		char		nulls[1] = {all ? 'n' : ' '};

		catalog_exec("SELECT version, state FROM migrate.migration"
					 " WHERE (state IN ('active', 'ready')"
					 "        OR (kind = 'online' AND state = 'failed'))"
					 "   AND ($1 IS NULL OR version_key > $1)"
					 " ORDER BY version_key LIMIT 1",
					 1, argtypes, values, nulls, 0);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("online migration %s is %s",
							SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
							SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2)),
					 errhint("Roll it back with migrate_rollback() first.")));
	}

	rows = fetch_migrations("WHERE state = 'applied'"
							"   AND ($1 IS NULL OR version_key > $1)"
							" ORDER BY version_key DESC FOR UPDATE",
							all ? NULL : target, &count);

	/* refuse before anything is reverted */
	handoff = count;
	for (int i = 0; i < count; i++)
	{
		check_checksum(&rows[i]);
		if (rows[i].down == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_MIGRATE_IRREVERSIBLE),
					 errmsg("migration %s \"%s\" is irreversible",
							rows[i].version, rows[i].name),
					 strcmp(rows[i].kind, "online") == 0 ?
					 errdetail("It is a completed online migration: a new migration undoes it. Nothing was reverted.") :
					 errdetail("It was registered without down SQL. Nothing was reverted."),
					 errhint("Downgrade to version %s or above.", rows[i].version)));
		if (!rows[i].transactional && handoff == count)
			handoff = i;
	}

	{
		CallerWork	work = {rows, handoff, NULL, NULL, true};

		locksafe_forget_retries();
		locksafe_run_whole(&work.current, "downgrade", run_rows_once, &work,
						   "cancel the blocker with pg_cancel_backend(), or downgrade again when it is done");
	}
	for (int i = 0; i < handoff; i++)
		put_result(rsinfo, rows[i].version, rows[i].name, "reverted");
	if (handoff > 0)
		fingerprint_record("downgrade", all ? NULL : target);

	/* from the first non-transactional one on, a worker reverts the rest */
	if (handoff < count)
	{
		int64		job_id;

		job_id = job_queue("downgrade", rows[handoff].version, all ? "0" : target,
						   InvalidOid, count - handoff, run_args(rows, handoff, count, NULL, 0));
		for (int i = handoff; i < count; i++)
			put_result(rsinfo, rows[i].version, rows[i].name, "queued");
		ereport(NOTICE,
				(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
				 count - handoff == 1
				 ? errmsg("reverting migration %s is left to background job " INT64_FORMAT " once this transaction commits",
						  rows[handoff].version, job_id)
				 : errmsg("reverting migration %s and the ones below it down to %s is left to background job " INT64_FORMAT " once this transaction commits",
						  rows[handoff].version, rows[count - 1].version, job_id),
				 errdetail("Migration %s cannot be reverted inside a transaction.", rows[handoff].version),
				 errhint("Commit, then wait for it with SELECT migrate_wait().")));
	}

	SPI_finish();
	migrate_guard_end();
	return (Datum) 0;
}

/*
 * migrate_baseline(version text) RETURNS integer
 *
 * Marks the registered migrations up to version as applied without running
 * them: how a database that already has that schema adopts migrate.
 */
Datum
migrate_baseline(PG_FUNCTION_ARGS)
{
	char	   *version = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			argtypes[2] = {NUMERICARRAYOID, NAMEOID};
	Datum		values[2];
	int			count;
	TimestampTz started = GetCurrentTimestamp();

	sql_version_check();
	migrate_guard_begin("migrate_baseline");

	version_check_arg(version, "version");

	SPI_connect();
	deploy_lock_acquire();
	deploy_guard_background_run();
	version = deploy_lookup_version(version);

	values[0] = version_key_datum(version);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(catalog_actor()));
	if (catalog_exec("UPDATE migrate.migration"
					 "   SET state = 'applied', last_error = NULL, steps_done = 0,"
					 "       applied_at = clock_timestamp(),"
					 "       applied_by = $2, duration = '0'::interval"
					 " WHERE (state IN ('pending', 'rolled_back')"
					 "        OR (state = 'failed' AND kind = 'sql'))"
					 "   AND version_key <= $1"
					 " RETURNING version",
					 2, argtypes, values, NULL, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not baseline migrations");

	count = SPI_processed;
	if (count > 0)
	{
		SPITupleTable *tuptable = SPI_tuptable;

		for (int i = 0; i < count; i++)
			catalog_event(SPI_getvalue(tuptable->vals[i], tuptable->tupdesc, 1),
						  "baseline", started, "marked applied without running", NULL);
		fingerprint_record("baseline", version);
	}

	SPI_finish();
	migrate_guard_end();
	PG_RETURN_INT32(count);
}

/* The elements of a text[] argument; NULL elements are refused. */
static char **
text_array_arg(FunctionCallInfo fcinfo, int argno, const char *argname, int *n)
{
	ArrayType  *array;
	Datum	   *elems;
	bool	   *nulls;
	char	  **out;

	*n = 0;
	if (PG_ARGISNULL(argno))
		return NULL;
	array = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array", argname)));
	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
	out = palloc(sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must not contain NULL", argname)));
		out[i] = TextDatumGetCString(elems[i]);
	}
	return out;
}

/*
 * migrate_adopt(versions text[], repeatables text[] DEFAULT NULL,
 *				 source text DEFAULT NULL) RETURNS integer
 *
 * Marks exactly the listed registered migrations as applied without
 * running them, and the listed repeatable ones as applied at their current
 * checksum: how a database another tool applied them to takes over that
 * tool's history.  Unlike migrate_baseline, nothing unlisted is touched, so
 * a version the other tool skipped stays pending.  Returns how many it
 * marked; those applied already are skipped.
 */
PG_FUNCTION_INFO_V1(migrate_adopt);

Datum
migrate_adopt(PG_FUNCTION_ARGS)
{
	int			nversions;
	int			nrepeatables;
	char	  **versions;
	char	  **repeatables;
	char	   *source = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *detail;
	char	   *highest = NULL;
	bool	   *adopt;
	int			count = 0;
	TimestampTz started = GetCurrentTimestamp();

	sql_version_check();
	migrate_guard_begin("migrate_adopt");

	versions = text_array_arg(fcinfo, 0, "versions", &nversions);
	repeatables = text_array_arg(fcinfo, 1, "repeatables", &nrepeatables);
	for (int i = 0; i < nversions; i++)
		version_check_arg(versions[i], "versions");
	detail = source ? psprintf("adopted from %s", source) : pstrdup("adopted");

	SPI_connect();
	deploy_lock_acquire();
	deploy_guard_background_run();

	/* refuse before anything is marked */
	adopt = palloc0(sizeof(bool) * Max(nversions, 1));
	for (int i = 0; i < nversions; i++)
	{
		Oid			argtypes[1] = {NUMERICARRAYOID};
		Datum		values[1] = {version_key_datum(versions[i])};
		char	   *state;

		catalog_exec("SELECT version, state, kind FROM migrate.migration"
					 " WHERE version_key = $1 FOR UPDATE",
					 1, argtypes, values, NULL, 1);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_MIGRATE_UNKNOWN_VERSION),
					 errmsg("migration version %s is not registered", versions[i]),
					 errhint("Register every migration to adopt before migrate_adopt().")));
		versions[i] = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		state = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		if (strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3), "online") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("migration %s is an online migration, which cannot be adopted",
							versions[i]),
					 errdetail("Its expand and contract phases are migrate's own; no other tool applied them.")));
		if (strcmp(state, "applied") == 0)
			continue;
		if (strcmp(state, "pending") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("migration %s is %s and cannot be adopted", versions[i], state),
					 errdetail("Only a pending migration can be marked applied without running it.")));
		adopt[i] = true;
	}
	for (int i = 0; i < nrepeatables; i++)
	{
		Oid			argtypes[1] = {TEXTOID};
		Datum		values[1] = {CStringGetTextDatum(repeatables[i])};

		catalog_exec("SELECT 1 FROM migrate.repeatable WHERE name = $1 FOR UPDATE",
					 1, argtypes, values, NULL, 1);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_MIGRATE_UNKNOWN_VERSION),
					 errmsg("repeatable migration \"%s\" is not registered", repeatables[i]),
					 errhint("Register every repeatable migration to adopt before migrate_adopt().")));
	}

	for (int i = 0; i < nversions; i++)
	{
		Oid			argtypes[2] = {TEXTOID, NAMEOID};
		Datum		values[2];

		if (!adopt[i])
			continue;
		values[0] = CStringGetTextDatum(versions[i]);
		values[1] = DirectFunctionCall1(namein, CStringGetDatum(catalog_actor()));
		/* a version listed twice is marked once */
		if (catalog_exec("UPDATE migrate.migration"
						 "   SET state = 'applied', last_error = NULL, steps_done = 0,"
						 "       applied_at = clock_timestamp(),"
						 "       applied_by = $2, duration = '0'::interval"
						 " WHERE version = $1 AND state = 'pending'",
						 2, argtypes, values, NULL, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not adopt migration %s", versions[i]);
		if (SPI_processed == 0)
			continue;
		catalog_event(versions[i], "baseline", started, detail, NULL);
		if (highest == NULL || version_cmp(versions[i], highest) > 0)
			highest = versions[i];
		count++;
	}
	for (int i = 0; i < nrepeatables; i++)
	{
		Oid			argtypes[2] = {TEXTOID, NAMEOID};
		Datum		values[2];

		values[0] = CStringGetTextDatum(repeatables[i]);
		values[1] = DirectFunctionCall1(namein, CStringGetDatum(catalog_actor()));
		if (catalog_exec("UPDATE migrate.repeatable"
						 "   SET applied_checksum = checksum, applied_at = clock_timestamp(),"
						 "       applied_by = $2, duration = '0'::interval, last_error = NULL"
						 " WHERE name = $1 AND applied_checksum IS DISTINCT FROM checksum",
						 2, argtypes, values, NULL, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not adopt repeatable migration \"%s\"", repeatables[i]);
		if (SPI_processed == 0)
			continue;
		catalog_event_repeatable(repeatables[i], "baseline", started, detail, NULL);
		count++;
	}
	if (count > 0)
		fingerprint_record("baseline", highest);

	SPI_finish();
	migrate_guard_end();
	PG_RETURN_INT32(count);
}

/* migrate_current() RETURNS text: the highest applied version, or NULL */
Datum
migrate_current(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	text	   *result = NULL;

	sql_version_check();
	SPI_connect();
	catalog_exec("SELECT version FROM migrate.migration"
				 " WHERE state = 'applied'"
				 " ORDER BY version_key DESC LIMIT 1", 0, NULL, NULL, NULL, 1);
	if (SPI_processed > 0)
	{
		char	   *version = SPI_getvalue(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1);
		MemoryContext old = MemoryContextSwitchTo(caller);

		result = cstring_to_text(version);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();

	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(result);
}
