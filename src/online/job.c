/*-------------------------------------------------------------------------
 *
 * job.c
 *	  The background job of an online migration (kind 'online', in a
 *	  worker): its backfills, then its validations and concurrent index
 *	  builds, in order.
 *
 * The job's args hold the steps, fixed at start: "backfills" (one per
 * table, each the args of a batched backfill) and "steps" (statements run
 * as top-level commands).  current_step counts the steps done, recorded in
 * each step's last transaction, so that a resumed job does nothing twice; a
 * backfill resumes from the position its batches recorded.
 *
 * A partitioned table's backfill is one step per leaf partition (each its
 * own batches and progress), then a sweep over the leaves there are when
 * it runs: a partition attached since start brings rows not backfilled.
 * Its validations and index builds go partition by partition too
 * (partitions.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "base/base.h"
#include "catalog/migrate_catalog.h"
#include "exec/migrate_exec.h"
#include "jobs/migrate_jobs.h"
#include "engine/migrate_engine.h"
#include "online/online_int.h"

/* concurrent index builds that fail this way are dropped and built again */
#define INDEX_BUILD_ATTEMPTS 3

/* passes of a backfill over a table before rows still pending fail the job */
#define BACKFILL_PASSES 3

typedef struct OnlineStep
{
	Oid			relation;		/* a backfill of this table, or */
	char	   *backfill;		/* ... with these args */
	Oid			parent;			/* ... a leaf partition of this table; */
	bool		sweep;			/* the leaves of relation with rows pending */
	char	   *sql;			/* a statement */
	Oid			leaves;			/* on each partition of this table: */
	char	   *validate;		/* ... validate this check, or */
	char	   *index;			/* ... build this index of it */
	bool		unique;
	char	   *definition;
} OnlineStep;

typedef struct StepDone
{
	int64		job_id;
	int			step;
} StepDone;

/* The job has done this many steps: in the step's own last transaction. */
static void
record_step(void *arg)
{
	StepDone   *done = (StepDone *) arg;
	Oid			argtypes[2] = {INT8OID, INT4OID};
	Datum		values[2] = {Int64GetDatum(done->job_id), Int32GetDatum(done->step)};

	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	catalog_exec("UPDATE migrate.job SET current_step = $2, updated_at = clock_timestamp(),"
				 "       attempts = 0"
				 " WHERE id = $1", 2, argtypes, values, NULL, 0);
	PopActiveSnapshot();
	SPI_finish();
}

/* A text column of an SPI row, in the given memory, or NULL. */
static char *
text_value(MemoryContext context, HeapTuple tup, TupleDesc desc, int n)
{
	char	   *s = SPI_getvalue(tup, desc, n);

	return s ? MemoryContextStrdup(context, s) : NULL;
}

/* The steps in the job's args, in the order they run. */
static List *
read_steps(const char *args_json)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(args_json)};
	List	   *steps = NIL;

	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	/* as migrate's catalog queries run: with a pinned search_path */
	if (catalog_exec("SELECT (b->>'relation')::pg_catalog.oid, b->>'backfill',"
					 "       (b->>'parent')::pg_catalog.oid,"
					 "       coalesce((b->>'sweep')::pg_catalog.bool, false),"
					 "       NULL::pg_catalog.text, NULL::pg_catalog.oid, NULL::pg_catalog.text,"
					 "       NULL::pg_catalog.text, false, NULL::pg_catalog.text"
					 "  FROM pg_catalog.jsonb_array_elements($1::pg_catalog.jsonb->'backfills')"
					 "       WITH ORDINALITY AS x(b, n)"
					 " UNION ALL"
					 " SELECT * FROM (SELECT NULL::pg_catalog.oid, NULL::pg_catalog.text,"
					 "       NULL::pg_catalog.oid, false, s->>'sql',"
					 "       (s->>'leaves')::pg_catalog.oid, s->>'validate', s->>'index',"
					 "       coalesce((s->>'unique')::pg_catalog.bool, false), s->>'definition'"
					 "  FROM pg_catalog.jsonb_array_elements($1::pg_catalog.jsonb->'steps')"
					 "       WITH ORDINALITY AS y(s, n) ORDER BY n) z",
					 1, argtypes, values, NULL, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the steps of an online migration's job");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		OnlineStep *step = MemoryContextAllocZero(caller, sizeof(OnlineStep));
		bool		isnull;

		step->relation = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		if (isnull)
			step->relation = InvalidOid;
		step->backfill = text_value(caller, tup, desc, 2);
		step->parent = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
		if (isnull)
			step->parent = InvalidOid;
		step->sweep = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
		step->sql = text_value(caller, tup, desc, 5);
		step->leaves = DatumGetObjectId(SPI_getbinval(tup, desc, 6, &isnull));
		if (isnull)
			step->leaves = InvalidOid;
		step->validate = text_value(caller, tup, desc, 7);
		step->index = text_value(caller, tup, desc, 8);
		step->unique = DatumGetBool(SPI_getbinval(tup, desc, 9, &isnull));
		step->definition = text_value(caller, tup, desc, 10);
		{
			/*
			 * SPI's memory goes with SPI_finish: the list lives in the
			 * caller's
			 */
			MemoryContext old = MemoryContextSwitchTo(caller);

			steps = lappend(steps, step);
			MemoryContextSwitchTo(old);
		}
	}
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	return steps;
}

/*
 * A backfill step: its args go to the job row (once; after that the row
 * keeps its position), replacing the position of the backfill before it,
 * then the batches run.
 */
static void
run_backfill(int64 job_id, int n, OnlineStep *step)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			argtypes[4] = {INT8OID, TEXTOID, INT4OID, OIDOID};
	Datum		values[4];
	char	   *args;

	values[0] = Int64GetDatum(job_id);
	values[1] = CStringGetTextDatum(step->backfill);
	values[2] = Int32GetDatum(n);
	values[3] = ObjectIdGetDatum(step->relation);

	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	catalog_exec("UPDATE migrate.job"
				 "   SET args = CASE WHEN (args->>'backfill_step')::int IS DISTINCT FROM $3"
				 "                   THEN (args - ARRAY['key', 'last_key', 'end_key', 'rows_per_batch',"
				 "                                      'pages_total', 'next_page', 'pages_per_batch',"
				 "                                      'batches', 'longest_batch_ms', 'relfilenode'])"
				 "                        || $2::jsonb || jsonb_build_object('backfill_step', $3)"
				 "                   ELSE args END,"
				 "       relation = $4"
				 " WHERE id = $1 RETURNING args::text",
				 4, argtypes, values, NULL, 0);
	args = MemoryContextStrdup(caller, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();

	backfill_run_job(job_id, step->relation, args);
}

typedef struct StatementCall
{
	const char *sql;
	const char *version;
	const char *where;
	bool		resuming;
	StepDone   *done;
} StatementCall;

static void
statement_call(void *arg)
{
	StatementCall *call = (StatementCall *) arg;

	toplevel_execute_retrying(call->sql, call->version, call->where, call->resuming,
							  record_step, call->done);
}

/* A statement step; a failed concurrent index build is dropped and redone. */
static void
run_statement(int64 job_id, const char *version, int n, OnlineStep *step,
			  bool resuming)
{
	StepDone	done = {job_id, n + 1};
	StatementCall call = {step->sql, version, psprintf("online step %d", n + 1),
	resuming, &done};

	for (int attempt = 1;; attempt++)
	{
		ErrorData  *edata;

		call.resuming = resuming || attempt > 1;
		edata = subxact_catch(statement_call, &call);
		if (edata == NULL)
			return;

		/* deadlocks and serialization failures are worth another build */
		if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_TRANSACTION_ROLLBACK ||
			attempt >= INDEX_BUILD_ATTEMPTS)
			ReThrowError(edata);
		ereport(LOG,
				(errmsg("step %d of online migration %s failed, retrying", n + 1, version),
				 errdetail_internal("%s", edata->message)));
		FreeErrorData(edata);
	}
}

/*
 * Has the table rows the backfill has not filled yet (their marker is not
 * false)?  The caller is in a transaction, with a snapshot.
 */
bool
online_rows_pending(Oid relid)
{
	char	   *relname = get_rel_name(relid);
	char	   *nspname = relname ? get_namespace_name(get_rel_namespace(relid)) : NULL;
	bool		pending;
	bool		isnull;

	if (relname == NULL || nspname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("a table of the online migration was dropped during its backfill"),
				 errhint("migrate_rollback() undoes what is left of the migration.")));
	SPI_connect();
	if (SPI_execute(psprintf("SELECT EXISTS (SELECT FROM %s WHERE %s IS NOT FALSE)",
							 quote_qualified_identifier(nspname, relname),
							 quote_identifier(ONLINE_MARKER)), true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look for rows not backfilled");
	pending = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return pending;
}

/*
 * The backfill of a leaf partition is for as long as it is one: a
 * partition dropped or detached since start is no longer the table's.  The
 * caller is in a transaction.
 */
static bool
leaf_still_there(OnlineStep *step)
{
	return !OidIsValid(step->parent) || online_leaf_of(step->relation, step->parent);
}

/*
 * The marker's condition and assignment, for the backfills of a table: a
 * leaf partition's rows may bring it NULL (attached since start, see
 * doc/online.md), the others have it true or false.
 */
static char *
pending_condition(bool partition)
{
	return partition ? psprintf("%s IS NOT FALSE", quote_identifier(ONLINE_MARKER)) :
		pstrdup(quote_identifier(ONLINE_MARKER));
}

static char *
done_assignment(void)
{
	return psprintf("%s = false", quote_identifier(ONLINE_MARKER));
}

/*
 * At start: the backfill steps of a table whose rows need the up
 * expressions, in its job's "backfills".  A partitioned table has one per
 * leaf partition, then its sweep.  Adds the rows they will update (as
 * the planner estimates them) to *rows_total.
 */
void
online_queue_backfill(StringInfo backfills, Oid relid, int64 *rows_total)
{
	bool		partitioned = online_partitioned(relid);
	List	   *tables;
	ListCell   *lc;

	if (partitioned)
	{
		online_check_partitions(relid, "a backfill");
		tables = online_leaves(relid);
	}
	else
		tables = list_make1_oid(relid);
	foreach(lc, tables)
	{
		int64		rows;
		char	   *args = backfill_job_args(lfirst_oid(lc), done_assignment(),
											 pending_condition(partitioned), true,
											 migrate_batch_size, &rows);

		*rows_total += rows;
		appendStringInfo(backfills, "%s{\"relation\": %u, ", backfills->len > 1 ? ", " : "",
						 lfirst_oid(lc));
		if (partitioned)
			appendStringInfo(backfills, "\"parent\": %u, ", relid);
		appendStringInfo(backfills, "\"backfill\": %s}", args);
	}
	if (partitioned)
		appendStringInfo(backfills, "%s{\"relation\": %u, \"sweep\": true}",
						 backfills->len > 1 ? ", " : "", relid);
}

/*
 * After a pass of a backfill: rows still pending are ones it could not see
 * where it looked (a page backfill: rows moved to pages it had passed, by
 * VACUUM FULL or CLUSTER, or by writers whose triggers do not fire).  The
 * backfill starts over, over the table as it is now; its where clause
 * skips the rows already filled.  Raises an error after BACKFILL_PASSES.
 */
static bool
backfill_again(int64 job_id, int pass, OnlineStep *step)
{
	MemoryContext caller = CurrentMemoryContext;
	bool		pending;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pending = leaf_still_there(step) && online_rows_pending(step->relation);
	if (pending && pass >= BACKFILL_PASSES)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg_plural("table %s still has rows not backfilled after %d pass",
							   "table %s still has rows not backfilled after %d passes",
							   pass, get_rel_name(step->relation), pass),
				 errdetail("Rows move to pages a page backfill has passed when the table is rewritten (VACUUM FULL, CLUSTER) or updated by writers whose triggers do not fire (session_replication_role = replica)."),
				 errhint("migrate_resume() runs the backfill again; migrate_rollback() undoes the migration.")));
	if (pending)
	{
		Oid			argtypes[3] = {INT8OID, TEXTOID, OIDOID};
		Datum		values[3] = {Int64GetDatum(job_id), CStringGetTextDatum(step->backfill),
		ObjectIdGetDatum(step->relation)};

		ereport(LOG,
				(errmsg("table %s has rows not backfilled after pass %d of its backfill, starting over",
						get_rel_name(step->relation), pass)));
		SPI_connect();
		/* the position goes; a page backfill covers the table's pages of now */
		catalog_exec("UPDATE migrate.job SET args = args - 'backfill_step' WHERE id = $1",
					 1, argtypes, values, NULL, 0);
		catalog_exec("SELECT CASE WHEN $2::jsonb ? 'pages_total'"
					 "  THEN ($2::jsonb || jsonb_build_object('pages_total',"
					 "        pg_relation_size($3) / current_setting('block_size')::bigint))::text"
					 "  ELSE $2 END",
					 3, argtypes, values, NULL, 1);
		step->backfill = MemoryContextStrdup(caller, SPI_getvalue(SPI_tuptable->vals[0],
																  SPI_tuptable->tupdesc, 1));
		SPI_finish();
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	return pending;
}

/*
 * The sweep of a partitioned table, after its leaves' backfills: the
 * leaves with rows still pending (other than those backfilled just before:
 * they were looked at once done), each backfilled in its turn, with args
 * of its own and from its start; up to BACKFILL_PASSES times over.  They
 * are partitions attached since start, whose rows came not backfilled.
 */
static void
run_sweep(int64 job_id, int n, OnlineStep *sweep, List *done)
{
	MemoryContext caller = CurrentMemoryContext;
	List	   *again = NIL;

	for (int pass = 1;; pass++)
	{
		List	   *pending = NIL;
		List	   *leaves;
		ListCell   *lc;

		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (get_rel_relkind(sweep->relation) == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("a table of the online migration was dropped during its backfill"),
					 errhint("migrate_rollback() undoes what is left of the migration.")));
		/* the first pass looks at every leaf not done, the next ones again */
		leaves = online_leaves(sweep->relation);
		foreach(lc, pass == 1 ? leaves : again)
		{
			Oid			leaf = lfirst_oid(lc);

			if (pass == 1 && list_member_oid(done, leaf))
				continue;
			if (list_member_oid(leaves, leaf) && online_rows_pending(leaf))
			{
				MemoryContext old = MemoryContextSwitchTo(caller);

				pending = lappend_oid(pending, leaf);
				MemoryContextSwitchTo(old);
			}
		}
		if (pending != NIL && pass > BACKFILL_PASSES)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("partition %s still has rows not backfilled after %d passes",
							get_rel_name(linitial_oid(pending)), BACKFILL_PASSES),
					 errdetail("Rows move to pages a page backfill has passed when the table is rewritten (VACUUM FULL, CLUSTER) or updated by writers whose triggers do not fire (session_replication_role = replica)."),
					 errhint("migrate_resume() runs the backfill again; migrate_rollback() undoes the migration.")));
		PopActiveSnapshot();
		CommitTransactionCommand();
		MemoryContextSwitchTo(caller);
		if (pending == NIL)
			return;

		foreach(lc, pending)
		{
			OnlineStep	leaf = {0};
			int64		rows;

			CHECK_FOR_INTERRUPTS();
			leaf.relation = lfirst_oid(lc);
			leaf.parent = sweep->relation;
			StartTransactionCommand();
			SPI_connect();
			PushActiveSnapshot(GetTransactionSnapshot());
			if (leaf_still_there(&leaf))
			{
				Oid			argtypes[2] = {INT8OID, INT8OID};
				Datum		values[2];

				leaf.backfill = MemoryContextStrdup(caller,
													backfill_job_args(leaf.relation, done_assignment(),
																	  pending_condition(true), false,
																	  migrate_batch_size, &rows));
				ereport(LOG,
						(errmsg("partition %s has rows not backfilled, attached since the migration started: backfilling it",
								get_rel_name(leaf.relation))));
				/* its own position, from its start; its rows count too */
				values[0] = Int64GetDatum(job_id);
				values[1] = Int64GetDatum(rows);
				catalog_exec("UPDATE migrate.job SET args = args - 'backfill_step',"
							 "       rows_total = rows_total + $2 WHERE id = $1",
							 2, argtypes, values, NULL, 0);
			}
			PopActiveSnapshot();
			SPI_finish();
			CommitTransactionCommand();
			MemoryContextSwitchTo(caller);
			if (leaf.backfill)
				run_backfill(job_id, n, &leaf);
		}
		again = pending;
	}
}

/*
 * The body of the job, from the step it reached.  Statement steps always
 * run as resumed ones: an index that a start cannot have left behind is
 * one this job built (kept when valid, dropped and built again if not).
 */
void
online_run_job(int64 job_id, const char *version, int current_step,
			   const char *args_json)
{
	List	   *steps = read_steps(args_json);

	/*
	 * The statements were generated at start with every name qualified but
	 * pg_catalog's (operations.c): they run under the same pinned
	 * search_path, not the one the job took from the session that queued it.
	 */
	SetConfigOption("search_path", ONLINE_PINNED_PATH, PGC_USERSET, PGC_S_SESSION);

	for (int n = current_step; n < list_length(steps); n++)
	{
		OnlineStep *step = list_nth(steps, n);
		StepDone	done = {job_id, n + 1};

		CHECK_FOR_INTERRUPTS();
		/* ALTER SYSTEM and pg_reload_conf() reach the job here too */
		settings_reload();
		if (step->backfill || step->sweep)
		{
			bool		there = true;

			if (step->sweep)
			{
				List	   *leaves = NIL;

				/* the leaves backfilled by the steps before it */
				for (int k = 0; k < n; k++)
				{
					OnlineStep *before = list_nth(steps, k);

					if (before->parent == step->relation)
						leaves = lappend_oid(leaves, before->relation);
				}
				run_sweep(job_id, n, step, leaves);
			}
			else
			{
				MemoryContext jobcontext = CurrentMemoryContext;

				StartTransactionCommand();
				PushActiveSnapshot(GetTransactionSnapshot());
				there = leaf_still_there(step);
				PopActiveSnapshot();
				CommitTransactionCommand();
				MemoryContextSwitchTo(jobcontext);
				if (!there)
					ereport(LOG,
							(errmsg("step %d of online migration %s skipped: its partition was dropped or detached",
									n + 1, version)));
			}
			if (there && !step->sweep)
			{
				run_backfill(job_id, n, step);
				for (int pass = 1; backfill_again(job_id, pass, step); pass++)
					run_backfill(job_id, n, step);
			}
			StartTransactionCommand();
			record_step(&done);
			CommitTransactionCommand();
		}
		else if (step->validate || step->index)
		{
			char	   *where = psprintf("online step %d", n + 1);

			if (step->validate)
				online_run_leaf_validations(version, where, step->leaves, step->validate);
			else
				online_run_leaf_indexes(version, where, step->leaves, step->index,
										step->unique, step->definition);
			StartTransactionCommand();
			record_step(&done);
			CommitTransactionCommand();
		}
		else
			run_statement(job_id, version, n, step, true);
	}
}
