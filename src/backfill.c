/*-------------------------------------------------------------------------
 *
 * backfill.c
 *	  Batched backfills: migrate_backfill and the job that runs it.
 *
 * A backfill is the user's UPDATE (set clause, optional where clause) run
 * in batches of page ranges: each batch adds "ctid >= $1 AND ctid < $2" to
 * the statement, which the planner turns into a TID range scan, so a batch
 * reads only its pages and no batch turns into a full scan, however large
 * the table.  The range ends at the relation's size when the job started,
 * so the job terminates under sustained inserts.
 *
 * The user's clauses are parsed by the server's parser, inside an UPDATE
 * statement whose table name migrate quotes; the batch condition is added
 * to the parse tree as nodes, never as text, so no clause can undo it.
 *
 * Each batch is a transaction of its own, and the job's position is updated
 * in that same transaction: after a crash or a cancel the job resumes
 * exactly where it stopped.  That is also why the batches may commit with
 * synchronous_commit = off: a commit lost in a crash loses the batch and its
 * position together.  Batches grow or shrink to take about
 * migrate.batch_target each; the job pauses while a standby lags more than
 * migrate.max_replica_lag, and retries a batch after a deadlock, a
 * serialization failure or a lock timeout.
 *
 *-------------------------------------------------------------------------
 */
#include "migrate.h"

#include <math.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/params.h"
#include "parser/parser.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/itemptr.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(migrate_backfill);

/*
 * How many of its own transaction ids a job keeps in migrate.job.args, for
 * a resumed job not to update again the row versions its last batches
 * wrote.  A running job keeps all of them in memory.
 */
#define KEPT_XIDS 1000

/* A backfill's statement: its source text and parse tree, without batches. */
typedef struct BackfillStatement
{
	char	   *source;
	UpdateStmt *stmt;
} BackfillStatement;

typedef struct BackfillErrorArg
{
	const char *source;
} BackfillErrorArg;

/* Syntax errors point into the backfill's statement. */
static void
backfill_parse_error_callback(void *arg)
{
	BackfillErrorArg *e = (BackfillErrorArg *) arg;
	int			pos = geterrposition();

	if (pos > 0)
	{
		errposition(0);
		internalerrposition(pos);
		internalerrquery(e->source);
	}
	errcontext("backfill statement");
}

/*
 * Parse "UPDATE ONLY <relation> SET <set_clause> [WHERE <where_clause>]"
 * and make sure it is one plain UPDATE of that relation: no FROM, no
 * RETURNING, no WITH, no second statement.
 */
static BackfillStatement *
backfill_parse(Oid relid, const char *set_clause, const char *where_clause)
{
	BackfillStatement *bs = palloc0(sizeof(BackfillStatement));
	ErrorContextCallback errcb;
	BackfillErrorArg arg;
	List	   *raw;
	RawStmt    *rs;
	UpdateStmt *stmt;

	/* a newline ends any "--" comment the set clause might end with */
	bs->source = psprintf("UPDATE ONLY %s SET %s\n%s%s",
						  quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
													 get_rel_name(relid)),
						  set_clause,
						  where_clause ? "WHERE " : "",
						  where_clause ? where_clause : "");
	arg.source = bs->source;
	errcb.callback = backfill_parse_error_callback;
	errcb.arg = &arg;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
#if PG_VERSION_NUM >= 140000
	raw = raw_parser(bs->source, RAW_PARSE_DEFAULT);
#else
	raw = raw_parser(bs->source);
#endif
	error_context_stack = errcb.previous;

	if (list_length(raw) != 1 || !IsA(linitial_node(RawStmt, raw)->stmt, UpdateStmt))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("set_clause and where_clause must make a single UPDATE statement"),
				 errdetail("The statement is: %s", bs->source)));
	rs = linitial_node(RawStmt, raw);
	stmt = (UpdateStmt *) rs->stmt;
	if (stmt->fromClause != NIL || stmt->returningList != NIL || stmt->withClause != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a backfill is a plain UPDATE of its relation"),
				 errdetail("FROM, RETURNING and WITH are not allowed; use a subquery in the set clause."),
				 errhint("The statement is: %s", bs->source)));
	bs->stmt = stmt;
	return bs;
}

/* "ctid <op> $n" as parse nodes */
static Node *
ctid_condition(const char *op, int param)
{
	ColumnRef  *ctid = makeNode(ColumnRef);
	ParamRef   *ref = makeNode(ParamRef);

	ctid->fields = list_make1(makeString(pstrdup("ctid")));
	ctid->location = -1;
	ref->number = param;
	ref->location = -1;
	return (Node *) makeSimpleA_Expr(AEXPR_OP, pstrdup(op), (Node *) ctid, (Node *) ref, -1);
}

/*
 * "NOT (xmin = ANY ($n))": a row version that an earlier batch of this job
 * wrote (and that landed on a page still ahead) is not updated again.
 */
static Node *
not_written_by_job(int param)
{
	ColumnRef  *xmin = makeNode(ColumnRef);
	ParamRef   *ref = makeNode(ParamRef);

	xmin->fields = list_make1(makeString(pstrdup("xmin")));
	xmin->location = -1;
	ref->number = param;
	ref->location = -1;
	return (Node *) makeBoolExpr(NOT_EXPR,
								 list_make1(makeA_Expr(AEXPR_OP_ANY, list_make1(makeString(pstrdup("="))),
													   (Node *) xmin, (Node *) ref, -1)),
								 -1);
}

/*
 * Plan the statement restricted to ctid in [$1, $2), skipping row versions
 * written by the job's own transactions ($3).  Sequential and index
 * scans are discouraged while planning, so that the batch is a TID range
 * scan: no batch may turn into a full scan.
 */
static List *
backfill_plan(BackfillStatement *bs, ParamListInfo params)
{
	UpdateStmt *stmt = copyObject(bs->stmt);
	RawStmt    *rs = makeNode(RawStmt);
	Node	   *range;
	Oid			paramtypes[3] = {TIDOID, TIDOID, XIDARRAYOID};
	List	   *queries;
	List	   *plans;
	int			nestlevel;
	ErrorContextCallback errcb;
	BackfillErrorArg arg;

	range = (Node *) makeBoolExpr(AND_EXPR,
								  list_make3(ctid_condition(">=", 1),
											 ctid_condition("<", 2),
											 not_written_by_job(3)),
								  -1);
	stmt->whereClause = stmt->whereClause
		? (Node *) makeBoolExpr(AND_EXPR, list_make2(range, stmt->whereClause), -1)
		: range;
	rs->stmt = (Node *) stmt;
	rs->stmt_location = 0;
	rs->stmt_len = 0;

	arg.source = bs->source;
	errcb.callback = backfill_parse_error_callback;
	errcb.arg = &arg;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
#if PG_VERSION_NUM >= 150000
	queries = pg_analyze_and_rewrite_fixedparams(rs, bs->source, paramtypes, 3, NULL);
#else
	queries = pg_analyze_and_rewrite(rs, bs->source, paramtypes, 3, NULL);
#endif
	error_context_stack = errcb.previous;

	nestlevel = NewGUCNestLevel();
	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_indexscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_bitmapscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	plans = pg_plan_queries(queries, bs->source, 0, params);
	AtEOXact_GUC(true, nestlevel);
	return plans;
}

/*
 * Run the planned statement; returns the rows it updated.  With explain_only
 * the executor is only started: the privileges are checked, nothing runs.
 */
static uint64
backfill_execute(BackfillStatement *bs, List *plans, ParamListInfo params,
				 bool explain_only)
{
	uint64		processed = 0;
	ListCell   *lc;

	foreach(lc, plans)
	{
		PlannedStmt *pstmt = lfirst_node(PlannedStmt, lc);
		QueryDesc  *qd;

		if (pstmt->commandType == CMD_UTILITY)
			elog(ERROR, "a backfill cannot run utility statements");
		qd = CreateQueryDesc(pstmt, bs->source, GetActiveSnapshot(), InvalidSnapshot,
							 None_Receiver, params, NULL, 0);
		ExecutorStart(qd, explain_only ? EXEC_FLAG_EXPLAIN_ONLY : 0);
		if (!explain_only)
		{
			ExecutorRun(qd, ForwardScanDirection, 0L, true);
			ExecutorFinish(qd);
			if (pstmt->canSetTag)
				processed += qd->estate->es_processed;
		}
		ExecutorEnd(qd);
		FreeQueryDesc(qd);
		CommandCounterIncrement();
	}
	return processed;
}

static ParamListInfo
range_params(ItemPointerData *from, ItemPointerData *to, Datum xids)
{
	ParamListInfo params = makeParamList(3);

	params->params[0].value = PointerGetDatum(from);
	params->params[0].ptype = TIDOID;
	params->params[0].pflags = PARAM_FLAG_CONST;
	params->params[0].isnull = false;
	params->params[1].value = PointerGetDatum(to);
	params->params[1].ptype = TIDOID;
	params->params[1].pflags = PARAM_FLAG_CONST;
	params->params[1].isnull = false;
	params->params[2].value = xids;
	params->params[2].ptype = XIDARRAYOID;
	params->params[2].pflags = PARAM_FLAG_CONST;
	params->params[2].isnull = false;
	params->numParams = 3;
	return params;
}

/* The job's own transaction ids as an xid[] datum. */
static Datum
xid_array(List *xids)
{
	int			n = list_length(xids);
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			i = 0;
	ListCell   *lc;

	foreach(lc, xids)
		elems[i++] = TransactionIdGetDatum((TransactionId) lfirst_oid(lc));
	return PointerGetDatum(construct_array(elems, n, XIDOID, sizeof(TransactionId),
										   true, TYPALIGN_INT));
}

/* Run the backfill over pages [from, to), or over one tuple (offset > 0). */
static uint64
backfill_range(BackfillStatement *bs, BlockNumber from, BlockNumber to,
			   OffsetNumber offset, List *job_xids)
{
	ItemPointerData start;
	ItemPointerData end;
	ParamListInfo params;

	if (offset > 0)
	{
		ItemPointerSet(&start, from, offset);
		ItemPointerSet(&end, from, offset + 1);
	}
	else
	{
		ItemPointerSet(&start, from, 0);
		ItemPointerSet(&end, to, 0);
	}
	params = range_params(&start, &end, xid_array(job_xids));
	return backfill_execute(bs, backfill_plan(bs, params), params, false);
}

/*
 * migrate_backfill(relation regclass, set_clause text,
 *					where_clause text DEFAULT NULL,
 *					batch_size integer DEFAULT NULL) RETURNS bigint
 *
 * Checks the statement now (syntax, columns, types, privileges: bad input
 * queues nothing), then queues a backfill job that a worker starts after
 * commit.  Returns the job's id.
 */
Datum
migrate_backfill(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *set_clause;
	char	   *where_clause;
	int			batch_size = migrate_batch_size;
	Relation	rel;
	BlockNumber nblocks;
	double		reltuples;
	BackfillStatement *bs;
	int64		job_id;
	StringInfoData args;
	ItemPointerData nowhere;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("relation must not be NULL")));
	if (PG_ARGISNULL(1) || VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(1)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("set_clause must not be NULL or empty")));
	relid = PG_GETARG_OID(0);
	set_clause = text_to_cstring(PG_GETARG_TEXT_PP(1));
	where_clause = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (!PG_ARGISNULL(3))
	{
		batch_size = PG_GETARG_INT32(3);
		if (batch_size < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("batch_size must be at least 1")));
	}

	rel = table_open(relid, AccessShareLock);
	if (rel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot backfill \"%s\"", RelationGetRelationName(rel)),
				 errdetail("Only plain tables can be backfilled%s.",
						   rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE
						   ? "; backfill each partition" : "")));
	nblocks = RelationGetNumberOfBlocks(rel);
	reltuples = rel->rd_rel->reltuples;
	table_close(rel, AccessShareLock);

	/* the whole statement is checked as the caller: nothing runs */
	bs = backfill_parse(relid, set_clause, where_clause);
	ItemPointerSet(&nowhere, 0, 0);
	{
		ParamListInfo params = range_params(&nowhere, &nowhere, xid_array(NIL));

		(void) backfill_execute(bs, backfill_plan(bs, params), params, true);
	}

	if (reltuples < 0)
		reltuples = 0;

	initStringInfo(&args);
	appendStringInfoString(&args, "{\"set\": ");
	escape_json(&args, set_clause);
	appendStringInfoString(&args, ", \"where\": ");
	if (where_clause)
		escape_json(&args, where_clause);
	else
		appendStringInfoString(&args, "null");
	appendStringInfo(&args,
					 ", \"batch_size\": %d, \"pages_total\": %u, \"next_page\": 0,"
					 " \"pages_per_batch\": 0, \"batches\": 0, \"longest_batch_ms\": 0,"
					 " \"settings\": %s}",
					 batch_size, nblocks, job_settings_json());

	SPI_connect();
	job_id = job_queue("backfill", NULL, NULL, relid, (int64) reltuples, args.data);
	SPI_finish();
	PG_RETURN_INT64(job_id);
}

/* The primary key of the row at tid, as "(id)=(42)", or its ctid. */
static char *
describe_row(Oid relid, BlockNumber block, OffsetNumber offset)
{
	Relation	rel = table_open(relid, AccessShareLock);
	Oid			pkoid = RelationGetPrimaryKeyIndex(rel);
	char	   *ctid = psprintf("(%u,%u)", block, offset);
	char	   *result = psprintf("ctid %s", ctid);

	MemoryContext caller = CurrentMemoryContext;

	if (OidIsValid(pkoid))
	{
		Relation	idx = index_open(pkoid, AccessShareLock);
		StringInfoData cols;
		StringInfoData query;
		Oid			argtypes[1] = {TIDOID};
		ItemPointerData tid;
		Datum		values[1];

		initStringInfo(&cols);
		for (int i = 0; i < idx->rd_index->indnkeyatts; i++)
		{
			AttrNumber	att = idx->rd_index->indkey.values[i];

			appendStringInfo(&cols, "%s%s", i > 0 ? ", " : "",
							 quote_identifier(get_attname(relid, att, false)));
		}
		index_close(idx, AccessShareLock);

		ItemPointerSet(&tid, block, offset);
		values[0] = PointerGetDatum(&tid);
		initStringInfo(&query);
		appendStringInfo(&query, "SELECT ROW(%s)::text FROM ONLY %s WHERE ctid = $1",
						 cols.data,
						 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
													get_rel_name(relid)));
		SPI_connect();
		if (SPI_execute_with_args(query.data, 1, argtypes, values, NULL, true, 1) == SPI_OK_SELECT &&
			SPI_processed > 0)
		{
			char	   *key = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
			MemoryContext old = MemoryContextSwitchTo(caller);

			result = psprintf("(%s)=%s, ctid %s", cols.data, key, ctid);
			MemoryContextSwitchTo(old);
		}
		SPI_finish();
	}
	table_close(rel, AccessShareLock);
	return result;
}

/* Did one probe batch fail?  Probes never commit. */
static bool
probe_fails(BackfillStatement *bs, BlockNumber from, BlockNumber to,
			OffsetNumber offset, List *job_xids)
{
	MemoryContext context = CurrentMemoryContext;
	volatile bool failed = false;

	PG_TRY();
	{
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		(void) backfill_range(bs, from, to, offset, job_xids);
		PopActiveSnapshot();
		AbortCurrentTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(context);
		FlushErrorState();
		AbortOutOfAnyTransaction();
		failed = true;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(context);
	return failed;
}

/* Find the row of pages [from, to) the backfill fails on: "(id)=(42), ..." */
static char *
find_failing_row(Oid relid, BackfillStatement *bs, BlockNumber from, BlockNumber to,
				 List *job_xids)
{
	for (BlockNumber page = from; page < to; page++)
	{
		CHECK_FOR_INTERRUPTS();
		if (!probe_fails(bs, page, page + 1, 0, job_xids))
			continue;
		for (OffsetNumber off = FirstOffsetNumber; off <= MaxHeapTuplesPerPage; off++)
		{
			if (probe_fails(bs, page, page, off, job_xids))
			{
				char	   *row;

				StartTransactionCommand();
				PushActiveSnapshot(GetTransactionSnapshot());
				row = describe_row(relid, page, off);
				PopActiveSnapshot();
				CommitTransactionCommand();
				return row;
			}
		}
	}
	return NULL;
}

/* Wait while a standby lags more than migrate.max_replica_lag. */
static void
wait_for_replicas(void)
{
	for (;;)
	{
		double		lag_ms = 0;

		if (migrate_max_replica_lag <= 0)
			return;
		StartTransactionCommand();
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (SPI_execute("SELECT coalesce(max(GREATEST(write_lag, flush_lag, replay_lag)),"
						"                '0'::pg_catalog.interval)"
						"  FROM pg_catalog.pg_stat_replication", true, 1) == SPI_OK_SELECT &&
			SPI_processed > 0)
		{
			bool		isnull;
			Datum		lag = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
				lag_ms = DatumGetFloat8(DirectFunctionCall2(interval_part,
															CStringGetTextDatum("epoch"),
															lag)) * 1000;
		}
		PopActiveSnapshot();
		SPI_finish();
		CommitTransactionCommand();

		if (lag_ms <= migrate_max_replica_lag)
			return;
		worker_report("backfill paused: a standby lags %.0f ms, migrate.max_replica_lag is %d ms",
					  lag_ms, migrate_max_replica_lag);
		locksafe_sleep_ms(1000);
	}
}

static void
job_progress(int64 job_id, uint64 rows, BlockNumber next_page, int pages_per_batch,
			 double batch_ms)
{
	Oid			argtypes[6] = {INT8OID, INT8OID, INT8OID, INT4OID, FLOAT8OID, INT8OID};
	Datum		values[6];

	values[0] = Int64GetDatum(job_id);
	values[1] = Int64GetDatum((int64) rows);
	values[2] = Int64GetDatum((int64) next_page);
	values[3] = Int32GetDatum(pages_per_batch);
	values[4] = Float8GetDatum(batch_ms);
	values[5] = Int64GetDatum((int64) GetTopTransactionId());
	SPI_connect();
	catalog_exec("UPDATE migrate.job"
				 "   SET rows_done = rows_done + $2, updated_at = clock_timestamp(),"
				 "       args = args || jsonb_build_object("
				 "           'next_page', $3, 'pages_per_batch', $4,"
				 "           'batches', coalesce((args->>'batches')::bigint, 0) + 1,"
				 "           'longest_batch_ms', greatest(coalesce((args->>'longest_batch_ms')::float8, 0),"
				 "                                        round($5::numeric, 1)),"
				 "           'xids', (SELECT coalesce(jsonb_agg(x), '[]') FROM"
				 "                     (SELECT x FROM jsonb_array_elements(coalesce(args->'xids', '[]'))"
				 "                           WITH ORDINALITY e(x, n)"
				 "                       ORDER BY n DESC LIMIT " CppAsString2(KEPT_XIDS) " - 1) k)"
				 "                    || to_jsonb($6))"
				 " WHERE id = $1", 6, argtypes, values, NULL, 0);
	SPI_finish();
}

/*
 * The body of a backfill job (in a worker): batches of page ranges from the
 * position the job recorded up to the relation's size when it was queued.
 */
void
backfill_run_job(int64 job_id, Oid relid, const char *args_json)
{
	MemoryContext jobcontext = CurrentMemoryContext;
	MemoryContext batchcontext = AllocSetContextCreate(jobcontext, "migrate backfill batch",
													   ALLOCSET_DEFAULT_SIZES);
	char	   *set_clause;
	char	   *where_clause;
	int			batch_size;
	BlockNumber pages_total;
	BlockNumber next_page;
	int			pages;
	BackfillStatement *bs;
	char	   *relname;
	int			retries = 0;
	uint64		rows_done = 0;
	List	   *job_xids = NIL;

	/* a lost commit loses its batch and its position together */
	SetConfigOption("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION);

	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	{
		Oid			argtypes[2] = {TEXTOID, OIDOID};
		Datum		values[2] = {CStringGetTextDatum(args_json), ObjectIdGetDatum(relid)};
		HeapTuple	tup;
		TupleDesc	desc;
		bool		isnull;
		double		rows_per_page = 100;
		MemoryContext old;

		if (SPI_execute_with_args("SELECT a->>'set', a->>'where', (a->>'batch_size')::int,"
								  "       (a->>'pages_total')::bigint, (a->>'next_page')::bigint,"
								  "       (a->>'pages_per_batch')::int,"
								  "       (SELECT CASE WHEN c.relpages > 0 AND c.reltuples > 0"
								  "                    THEN c.reltuples / c.relpages END"
								  "          FROM pg_catalog.pg_class c WHERE c.oid = $2),"
								  "       (SELECT pg_catalog.array_agg(x::text::pg_catalog.int8)"
								  "          FROM pg_catalog.jsonb_array_elements(a->'xids') x)"
								  "  FROM (SELECT $1::pg_catalog.jsonb AS a) s",
								  2, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read backfill job " INT64_FORMAT, job_id);
		tup = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		old = MemoryContextSwitchTo(jobcontext);
		set_clause = pstrdup(SPI_getvalue(tup, desc, 1));
		where_clause = SPI_getvalue(tup, desc, 2);
		where_clause = where_clause ? pstrdup(where_clause) : NULL;
		batch_size = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		pages_total = (BlockNumber) DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
		next_page = (BlockNumber) DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
		pages = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));
		if (!heap_attisnull(tup, 7, desc))
			rows_per_page = DatumGetFloat8(SPI_getbinval(tup, desc, 7, &isnull));
		if (pages <= 0)
			pages = Max(1, (int) (batch_size / Max(rows_per_page, 1)));
		if (!heap_attisnull(tup, 8, desc))
		{
			ArrayType  *arr = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 8, &isnull));
			Datum	   *elems;
			int			n;

			deconstruct_array(arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
							  &elems, NULL, &n);
			for (int i = 0; i < n; i++)
				job_xids = lappend_oid(job_xids, (Oid) DatumGetInt64(elems[i]));
		}
		bs = backfill_parse(relid, set_clause, where_clause);
		relname = get_rel_name(relid);
		MemoryContextSwitchTo(old);
	}
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	MemoryContextSwitchTo(jobcontext);

	while (next_page < pages_total)
	{
		BlockNumber end = Min(next_page + (BlockNumber) pages, pages_total);
		ErrorData  *volatile edata = NULL;
		volatile uint64 rows = 0;
		volatile TransactionId batch_xid = InvalidTransactionId;
		TimestampTz started;
		double		ms;

		CHECK_FOR_INTERRUPTS();
		wait_for_replicas();
		worker_report("backfill %s: %lu rows, page %u of %u: %s",
					  relname, (unsigned long) rows_done, next_page, pages_total,
					  bs->source);
		MemoryContextReset(batchcontext);
		MemoryContextSwitchTo(batchcontext);
		started = GetCurrentTimestamp();

		PG_TRY();
		{
			StartTransactionCommand();
			SetCurrentStatementStartTimestamp();
			PushActiveSnapshot(GetTransactionSnapshot());
			rows = backfill_range(bs, next_page, end, 0, job_xids);
			ms = (double) (GetCurrentTimestamp() - started) / 1000.0;
			job_progress(job_id, rows, end, pages, ms);
			batch_xid = GetTopTransactionId();
			PopActiveSnapshot();
			CommitTransactionCommand();
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(batchcontext);
			edata = CopyErrorData();
			FlushErrorState();
			AbortOutOfAnyTransaction();
		}
		PG_END_TRY();
		MemoryContextSwitchTo(batchcontext);

		if (edata != NULL)
		{
			char	   *row;
			int			delay;

			if ((edata->sqlerrcode == ERRCODE_T_R_DEADLOCK_DETECTED ||
				 edata->sqlerrcode == ERRCODE_T_R_SERIALIZATION_FAILURE ||
				 edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE) &&
				retries < Max(migrate_lock_retries, 1))
			{
				retries++;
				delay = locksafe_backoff_ms(retries);
				ereport(LOG,
						(errmsg("migrate: backfill of %s, pages %u to %u: %s; retry %d in %d ms",
								relname, next_page, end, edata->message, retries, delay)));
				locksafe_sleep_ms(delay);
				continue;
			}
			if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
				ReThrowError(edata);

			/* name the row it fails on; the batches before it stay done */
			row = find_failing_row(relid, bs, next_page, end, job_xids);
			ereport(ERROR,
					(errcode(edata->sqlerrcode),
					 errmsg("%s", edata->message),
					 row ? errdetail("The backfill of %s failed on the row %s; the batches before it are committed.",
									 relname, row)
					 : errdetail("The backfill of %s failed on pages %u to %u; the batches before them are committed.",
								 relname, next_page, end),
					 errhint("Fix the row or the statement, then continue with migrate_resume()."),
					 edata->context ? errcontext("%s", edata->context) : 0));
		}

		retries = 0;
		rows_done += rows;
		next_page = end;
		{
			MemoryContext old = MemoryContextSwitchTo(jobcontext);

			job_xids = lappend_oid(job_xids, (Oid) batch_xid);
			MemoryContextSwitchTo(old);
		}

		/* adapt: aim at migrate.batch_target per batch */
		ms = (double) (GetCurrentTimestamp() - started) / 1000.0;
		if (ms < 1)
			pages = pages * 2;
		else
			pages = (int) (pages * Max(0.5, Min(2.0, migrate_batch_target / ms)));
		pages = Max(1, Min(pages, (int) Max(pages_total, 1)));

		if (migrate_batch_delay > 0)
			locksafe_sleep_ms(migrate_batch_delay);
	}
	MemoryContextSwitchTo(jobcontext);
	MemoryContextDelete(batchcontext);
}
