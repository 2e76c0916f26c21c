/*-------------------------------------------------------------------------
 *
 * deploy.c
 *	  migrate_deploy: the pending migrations in batches, each committed.
 *
 * One SELECT migrate_upgrade() applies every pending migration in the
 * caller's transaction, and a transaction holds each lock it took until it
 * ends: a history of thousands of migrations that each create a table and
 * an index needs more locks than the shared lock table has on default
 * settings (max_locks_per_transaction), and fails with "out of shared
 * memory" halfway.  The procedure applies the same migrations in the same
 * order, batch migrations at a time, and commits after each batch, which
 * lets its locks go.
 *
 * Each batch is a run of upgrade_pending, as one migrate_upgrade() would
 * make it: it takes the deploy lock, applies its migrations, and records the
 * schema's fingerprint, so a deploy interrupted between two batches leaves
 * a history that says exactly what is applied, and the next call goes on
 * from there.  Only the batch that reaches the end runs the repeatable
 * migrations, which come after every migration of the run, as in one
 * migrate_upgrade().  Where a batch hands its non-transactional migrations
 * to a background run, the procedure commits, waits for the run as
 * migrate_await does (holding no snapshot while it sleeps), and goes on
 * once it is done.  It stops at an online migration, which it starts.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "base/base.h"
#include "catalog/migrate_catalog.h"
#include "engine/migrate_engine.h"
#include "sql/wait.h"

PG_FUNCTION_INFO_V1(migrate_deploy);

/* a NOTICE of how far the deploy is, at most this often */
#define DEPLOY_NOTICE_EVERY_MS	10000

/*
 * The last migration a batch applied or queued, for the NOTICE of progress
 * (one it queued is applied by the time that is given, or the call failed).
 */
static void
note_applied(void *arg, const char *version, const char *name,
			 const char *action)
{
	StringInfo	last = (StringInfo) arg;

	if (version == NULL || strcmp(action, "started") == 0)
		return;
	resetStringInfo(last);
	appendStringInfoString(last, version);
}

/* How a background run of migrations ended, per migrate.job. */
static char *
job_final_state(int64 job_id, MemoryContext caller)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(job_id)};
	char	   *state = "gone";

	SPI_connect();
	catalog_exec("SELECT state FROM migrate.job WHERE id = $1",
				 1, argtypes, values, NULL, 1);
	if (SPI_processed > 0)
		state = MemoryContextStrdup(caller,
									SPI_getvalue(SPI_tuptable->vals[0],
												 SPI_tuptable->tupdesc, 1));
	SPI_finish();
	return state;
}

/*
 * migrate_deploy(target text DEFAULT NULL, batch integer DEFAULT 500,
 *				  INOUT applied integer DEFAULT NULL)
 *
 * Applies the pending migrations up to target as migrate_upgrade does,
 * committing after every batch of them, and waits for the background runs
 * of non-transactional ones on the way.  Returns in "applied" how many
 * migrations it applied (repeatable migrations not counted).
 */
Datum
migrate_deploy(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	CallContext *call = (CallContext *) fcinfo->context;
	char	   *target;
	int			batch_size;
	int			applied = 0;
	StringInfoData last;
	TimestampTz last_notice = GetCurrentTimestamp();
	TupleDesc	tupdesc;
	Datum		values[1];
	bool		nulls[1] = {false};

	sql_version_check();
	if (call == NULL || !IsA(call, CallContext) || call->atomic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("migrate_deploy must be called outside a transaction block"),
				 errdetail("It commits after every batch of migrations."),
				 errhint("CALL it as a statement of its own, not inside BEGIN ... COMMIT, a function or a query string of several statements; there, use SELECT migrate_upgrade(), which applies every migration in the caller's transaction.")));
	target = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (target)
		version_check_arg(target, "target");
	if (PG_ARGISNULL(1) || PG_GETARG_INT32(1) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch must be at least 1"),
				 errdetail("It is the number of migrations applied in each transaction.")));
	batch_size = PG_GETARG_INT32(1);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	initStringInfo(&last);

	SPI_connect_ext(SPI_OPT_NONATOMIC);
	for (bool first = true;; first = false)
	{
		UpgradeBatch batch = {0};
		TimestampTz now;

		batch.target = target;
		batch.limit = batch_size;
		batch.first = first;
		batch.again = "migrate_deploy()";
		batch.result = note_applied;
		batch.result_arg = &last;

		/* the guard, like the snapshot, lasts one transaction: one batch */
		PushActiveSnapshot(GetTransactionSnapshot());
		migrate_guard_begin("migrate_deploy");
		upgrade_pending(&batch);
		migrate_guard_end();
		PopActiveSnapshot();
		SPI_commit();
		applied += batch.applied;

		/* the background run this batch queued starts now: see it through */
		if (batch.queued > 0)
		{
			char	   *state;

			(void) wait_for_jobs(batch.queued_from, -1, caller, true);
			state = job_final_state(batch.job_id, caller);
			if (strcmp(state, "done") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("background job " INT64_FORMAT " of migration %s is %s",
								batch.job_id, batch.queued_from, state),
						 errdetail("The batches before it stay committed."),
						 errhint("Continue the job with migrate_resume(), then deploy again.")));
			applied += batch.queued;
			SPI_commit();
		}
		if (batch.stopped || !batch.more)
			break;

		now = GetCurrentTimestamp();
		if (TimestampDifferenceExceeds(last_notice, now, DEPLOY_NOTICE_EVERY_MS))
		{
			ereport(NOTICE,
					(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
					 errmsg_plural("%d migration applied so far, up to version %s",
								   "%d migrations applied so far, up to version %s",
								   applied, applied, last.len > 0 ? last.data : "?")));
			last_notice = now;
		}
		CHECK_FOR_INTERRUPTS();
	}
	SPI_finish();

	values[0] = Int32GetDatum(applied);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
