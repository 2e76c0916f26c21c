/*-------------------------------------------------------------------------
 *
 * toplevel.c
 *	  Running a statement as a top-level command in a background worker.
 *
 * CREATE INDEX CONCURRENTLY, REINDEX CONCURRENTLY, VACUUM and their kin
 * refuse to run inside a function or a transaction block.  A worker runs
 * them the way the server runs a client's query: parse, analyze, plan, and
 * a portal run as the top level, each in its own transaction (which such a
 * statement may commit and restart internally).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/amapi.h"
#include "access/htup_details.h"
#include "access/reloptions.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "parser/analyze.h"
#include "parser/parse_utilcmd.h"
#include "parser/parser.h"
#include "pgstat.h"
#include "storage/lmgr.h"
#include "tcop/dest.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/ps_status.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "base/base.h"
#include "catalog/migrate_catalog.h"
#include "exec/migrate_exec.h"

/* Parse trees and plans must survive the statement's internal commits. */
static MemoryContext toplevel_context = NULL;

/*
 * Execute sql (one statement) as a top-level command.  The caller has
 * started a transaction and commits it afterwards.
 */
static void
toplevel_execute(const char *sql)
{
	MemoryContext oldcontext;
	List	   *raw_list;
	ListCell   *lc;
	bool		is_top_level;

	if (toplevel_context == NULL)
		toplevel_context = AllocSetContextCreate(TopMemoryContext,
												 "migrate top-level statement",
												 ALLOCSET_DEFAULT_SIZES);
	MemoryContextReset(toplevel_context);

	/* the text must outlive the transactions the statement may end */
	oldcontext = MemoryContextSwitchTo(toplevel_context);
	sql = pstrdup(sql);
	raw_list = pg_parse_query(sql);
	MemoryContextSwitchTo(oldcontext);
	is_top_level = list_length(raw_list) == 1;

	foreach(lc, raw_list)
	{
		RawStmt    *raw = lfirst_node(RawStmt, lc);
		CommandTag	tag = CreateCommandTag(raw->stmt);
		bool		snapshot_set = false;
		List	   *querytrees;
		List	   *plans;
		Portal		portal;
		DestReceiver *receiver;
		QueryCompletion qc;

		if (IsA(raw->stmt, TransactionStmt))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
					 errmsg("transaction control statements cannot run inside a migration")));

		set_ps_display(GetCommandTagName(tag));
		BeginCommand(tag, DestNone);

		if (analyze_requires_snapshot(raw))
		{
			PushActiveSnapshot(GetTransactionSnapshot());
			snapshot_set = true;
		}

		oldcontext = MemoryContextSwitchTo(toplevel_context);
		querytrees = pg_analyze_and_rewrite_fixedparams(raw, sql, NULL, 0, NULL);
		plans = pg_plan_queries(querytrees, sql, CURSOR_OPT_PARALLEL_OK, NULL);
		if (snapshot_set)
			PopActiveSnapshot();
		CHECK_FOR_INTERRUPTS();

		portal = CreatePortal("", true, true);
		portal->visible = false;
		PortalDefineQuery(portal, NULL, sql, tag, plans, NULL);
		PortalStart(portal, NULL, 0, InvalidSnapshot);
		receiver = CreateDestReceiver(DestNone);
		MemoryContextSwitchTo(oldcontext);

		(void) migrate_PortalRun(portal, FETCH_ALL, is_top_level,
								 receiver, receiver, &qc);
		receiver->rDestroy(receiver);
		PortalDrop(portal, false);
	}
}

static bool
is_concurrent_reindex(ReindexStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->params)
	{
		DefElem    *opt = lfirst_node(DefElem, lc);

		if (strcmp(opt->defname, "concurrently") == 0 && defGetBoolean(opt))
			return true;
	}
	return false;
}

/*
 * Before (re)running REINDEX CONCURRENTLY of an index or a table: the
 * invalid "_ccnew" / "_ccold" indexes that a reindex which failed or was
 * interrupted leaves on the table are dropped, as a DBA would by hand.  A
 * leftover is a copy of an index it is reindexing: another index of the
 * table (the one named, for REINDEX INDEX) whose name it starts with, with
 * the same definition.  Any other invalid index is not migrate's to drop.
 */
static void
reindex_leftovers_drop(ReindexStmt *stmt)
{
	Oid			relid;
	Oid			indexid = InvalidOid;
	List	   *leftovers = NIL;
	ListCell   *lc;

	if (stmt->relation == NULL ||
		(stmt->kind != REINDEX_OBJECT_INDEX && stmt->kind != REINDEX_OBJECT_TABLE) ||
		!is_concurrent_reindex(stmt))
		return;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (OidIsValid(relid) && stmt->kind == REINDEX_OBJECT_INDEX)
	{
		indexid = relid;
		relid = IndexGetRelation(indexid, true);
	}
	if (OidIsValid(relid))
	{
		Oid			argtypes[2] = {OIDOID, OIDOID};
		Datum		values[2] = {ObjectIdGetDatum(relid), ObjectIdGetDatum(indexid)};

		SPI_connect();
		/* as migrate's catalog queries run: with a pinned search_path */
		catalog_exec("SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)"
					 "  FROM pg_catalog.pg_index i"
					 "  JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid"
					 "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
					 " WHERE i.indrelid = $1 AND NOT i.indisvalid"
					 "   AND c.relname OPERATOR(pg_catalog.~) '_cc(new|old)[0-9]*$'"
					 "   AND EXISTS (SELECT FROM pg_catalog.pg_index o"
					 "                 JOIN pg_catalog.pg_class oc ON oc.oid = o.indexrelid"
					 "                WHERE o.indrelid = i.indrelid AND o.indexrelid <> i.indexrelid"
					 "                  AND ($2 = 0 OR o.indexrelid = $2)"
		/* the name, maybe truncated, that "_ccnew" was appended to */
					 "                  AND pg_catalog.starts_with(oc.relname::pg_catalog.text,"
					 "                        pg_catalog.regexp_replace(c.relname::pg_catalog.text,"
					 "                                                  '_cc(new|old)[0-9]*$', ''))"
					 "                  AND oc.relam = c.relam AND o.indisunique = i.indisunique"
					 "                  AND o.indnatts = i.indnatts AND o.indnkeyatts = i.indnkeyatts"
					 "                  AND o.indkey::pg_catalog.text = i.indkey::pg_catalog.text"
					 "                  AND o.indclass::pg_catalog.text = i.indclass::pg_catalog.text"
					 "                  AND o.indcollation::pg_catalog.text = i.indcollation::pg_catalog.text"
					 "                  AND o.indoption::pg_catalog.text = i.indoption::pg_catalog.text"
					 "                  AND pg_catalog.pg_get_expr(o.indexprs, o.indrelid)"
					 "                      IS NOT DISTINCT FROM pg_catalog.pg_get_expr(i.indexprs, i.indrelid)"
					 "                  AND pg_catalog.pg_get_expr(o.indpred, o.indrelid)"
					 "                      IS NOT DISTINCT FROM pg_catalog.pg_get_expr(i.indpred, i.indrelid))",
					 2, argtypes, values, NULL, 0);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			/* the list outlives SPI and this transaction */
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

			leftovers = lappend(leftovers,
								pstrdup(SPI_getvalue(SPI_tuptable->vals[i],
													 SPI_tuptable->tupdesc, 1)));
			MemoryContextSwitchTo(old);
		}
		SPI_finish();
	}
	PopActiveSnapshot();
	CommitTransactionCommand();

	foreach(lc, leftovers)
	{
		ereport(LOG,
				(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
				 errmsg("dropping invalid index %s left by an earlier REINDEX CONCURRENTLY",
						(char *) lfirst(lc))));
		StartTransactionCommand();
		toplevel_execute(psprintf("DROP INDEX CONCURRENTLY IF EXISTS %s", (char *) lfirst(lc)));
		CommitTransactionCommand();
	}
	list_free_deep(leftovers);
}

/*
 * Is the existing index indexid (on table relid) the one that stmt builds:
 * same access method, uniqueness, key and included columns or expressions,
 * operator classes and their options, collations, orderings, storage
 * parameters and predicate?  The statement is analyzed the way CREATE
 * INDEX analyzes it (transformIndexStmt) and compared with pg_index, as
 * DefineIndex would have filled it in.  In a transaction, with the table
 * locked.
 */
static bool
index_matches_stmt(Oid indexid, Oid relid, IndexStmt *stmt, const char *sql)
{
	HeapTuple	indtup;
	HeapTuple	classtup;
	Form_pg_index index;
	Oid			amoid;
	bool		amcanorder;
	bool		isnull;
	Datum		datum;
	oidvector  *indclass;
	oidvector  *indcollation;
	int2vector *indoption;
	List	   *exprs = NIL;
	ListCell   *expr_cell;
	Node	   *pred = NULL;
	Datum		options;
	int			nkeys = list_length(stmt->indexParams);
	int			attn = 0;
	ListCell   *lc;
	bool		matches = false;

	stmt = transformIndexStmt(relid, stmt, sql);
	amoid = get_index_am_oid(stmt->accessMethod, true);
	if (!OidIsValid(amoid))
		return false;
	amcanorder = GetIndexAmRoutineByAmId(amoid, false)->amcanorder;

	indtup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexid));
	classtup = SearchSysCache1(RELOID, ObjectIdGetDatum(indexid));
	if (!HeapTupleIsValid(indtup) || !HeapTupleIsValid(classtup))
		elog(ERROR, "cache lookup failed for index %u", indexid);
	index = (Form_pg_index) GETSTRUCT(indtup);

	if (index->indrelid != relid ||
		((Form_pg_class) GETSTRUCT(classtup))->relam != amoid ||
		index->indisunique != stmt->unique ||
		index->indnullsnotdistinct != stmt->nulls_not_distinct ||
		index->indnkeyatts != nkeys ||
		index->indnatts != nkeys + list_length(stmt->indexIncludingParams))
		goto done;

	/* storage parameters, as DefineIndex stores them */
	options = transformRelOptions((Datum) 0, stmt->options, NULL, NULL, false, false);
	datum = SysCacheGetAttr(RELOID, classtup, Anum_pg_class_reloptions, &isnull);
	if (isnull != (options == (Datum) 0) ||
		(!isnull && !DatumGetBool(DirectFunctionCall2(array_eq, datum, options))))
		goto done;

	indclass = (oidvector *) DatumGetPointer(SysCacheGetAttr(INDEXRELID, indtup,
															 Anum_pg_index_indclass,
															 &isnull));
	indcollation = (oidvector *) DatumGetPointer(SysCacheGetAttr(INDEXRELID, indtup,
																 Anum_pg_index_indcollation,
																 &isnull));
	indoption = (int2vector *) DatumGetPointer(SysCacheGetAttr(INDEXRELID, indtup,
															   Anum_pg_index_indoption,
															   &isnull));
	datum = SysCacheGetAttr(INDEXRELID, indtup, Anum_pg_index_indexprs, &isnull);
	if (!isnull)
		exprs = (List *) stringToNode(TextDatumGetCString(datum));
	datum = SysCacheGetAttr(INDEXRELID, indtup, Anum_pg_index_indpred, &isnull);
	if (!isnull)
		pred = (Node *) stringToNode(TextDatumGetCString(datum));

	/* the predicate as DefineIndex stores it */
	if (stmt->whereClause == NULL ? pred != NULL :
		!equal(pred, make_ands_explicit(make_ands_implicit((Expr *) stmt->whereClause))))
		goto done;

	/* key columns, then included ones (ComputeIndexAttrs) */
	expr_cell = list_head(exprs);
	foreach(lc, list_concat_copy(stmt->indexParams, stmt->indexIncludingParams))
	{
		IndexElem  *elem = lfirst_node(IndexElem, lc);
		AttrNumber	attnum;
		Oid			atttype;
		Oid			attcollation;
		int16		option = 0;

		if (elem->name)
		{
			HeapTuple	atttup = SearchSysCacheAttName(relid, elem->name);

			if (!HeapTupleIsValid(atttup))
				goto done;
			attnum = ((Form_pg_attribute) GETSTRUCT(atttup))->attnum;
			atttype = ((Form_pg_attribute) GETSTRUCT(atttup))->atttypid;
			attcollation = ((Form_pg_attribute) GETSTRUCT(atttup))->attcollation;
			ReleaseSysCache(atttup);
		}
		else
		{
			Node	   *expr = elem->expr;

			atttype = exprType(expr);
			attcollation = exprCollation(expr);
			while (IsA(expr, CollateExpr))
				expr = (Node *) ((CollateExpr *) expr)->arg;
			if (IsA(expr, Var) && ((Var *) expr)->varattno != InvalidAttrNumber)
				attnum = ((Var *) expr)->varattno;	/* "(column)" */
			else
			{
				attnum = 0;
				if (expr_cell == NULL || !equal(lfirst(expr_cell), expr))
					goto done;
				expr_cell = lnext(exprs, expr_cell);
			}
		}
		if (index->indkey.values[attn] != attnum)
			goto done;
		if (attn < nkeys)
		{
			Datum		opclassopts;
			Datum		stored;

			if (elem->collation)
				attcollation = get_collation_oid(elem->collation, false);
			if (indcollation->values[attn] != attcollation ||
				indclass->values[attn] != ResolveOpClass(elem->opclass, atttype,
														 stmt->accessMethod, amoid))
				goto done;
			if (amcanorder)
			{
				if (elem->ordering == SORTBY_DESC)
					option |= INDOPTION_DESC;
				if (elem->nulls_ordering == SORTBY_NULLS_FIRST ||
					(elem->nulls_ordering == SORTBY_NULLS_DEFAULT &&
					 elem->ordering == SORTBY_DESC))
					option |= INDOPTION_NULLS_FIRST;
			}
			if (indoption->values[attn] != option)
				goto done;
			opclassopts = transformRelOptions((Datum) 0, elem->opclassopts,
											  NULL, NULL, false, false);
			stored = get_attoptions(indexid, attn + 1);
			if ((stored == (Datum) 0) != (opclassopts == (Datum) 0) ||
				(stored != (Datum) 0 &&
				 !DatumGetBool(DirectFunctionCall2(array_eq, stored, opclassopts))))
				goto done;
		}
		attn++;
	}
	matches = expr_cell == NULL;

done:
	ReleaseSysCache(indtup);
	ReleaseSysCache(classtup);
	return matches;
}

/*
 * Before (re)building a named index concurrently.  An index of that name
 * counts only when it is the one the statement builds: on the same table,
 * with the same definition (index_matches_stmt).  Such an index, when
 * invalid, is what a build that failed or was interrupted leaves: it is
 * dropped; when valid and the statement is being resumed, the build had
 * finished.  Returns true when there is nothing left to do.  Any other
 * index of that name is not migrate's to drop or to take for done: the
 * statement fails with 42P07 (unless it says IF NOT EXISTS, which then
 * skips it as CREATE INDEX does).
 */
static bool
concurrent_index_prepare(const char *sql, bool resuming)
{
	List	   *raw_list = raw_parser(sql, RAW_PARSE_DEFAULT);
	IndexStmt  *stmt;
	Oid			relid;
	Oid			indexid = InvalidOid;
	Oid			indrelid = InvalidOid;
	bool		valid = false;
	bool		matches = false;
	char	   *qualified = NULL;
	char	   *table = NULL;
	char	   *definition = NULL;

	if (list_length(raw_list) != 1)
		return false;

	/* a resumed DROP INDEX CONCURRENTLY whose index is gone had finished */
	if (resuming && IsA(linitial_node(RawStmt, raw_list)->stmt, DropStmt) &&
		((DropStmt *) linitial_node(RawStmt, raw_list)->stmt)->concurrent &&
		((DropStmt *) linitial_node(RawStmt, raw_list)->stmt)->removeType == OBJECT_INDEX)
	{
		DropStmt   *drop = (DropStmt *) linitial_node(RawStmt, raw_list)->stmt;
		bool		gone;

		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		gone = !OidIsValid(RangeVarGetRelid(makeRangeVarFromNameList(linitial(drop->objects)),
											NoLock, true));
		PopActiveSnapshot();
		CommitTransactionCommand();
		if (gone)
			ereport(LOG,
					(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
					 errmsg("the index was already dropped before the job was interrupted")));
		return gone;
	}

	if (IsA(linitial_node(RawStmt, raw_list)->stmt, ReindexStmt))
	{
		reindex_leftovers_drop((ReindexStmt *) linitial_node(RawStmt, raw_list)->stmt);
		return false;
	}

	if (!IsA(linitial_node(RawStmt, raw_list)->stmt, IndexStmt))
		return false;
	stmt = (IndexStmt *) linitial_node(RawStmt, raw_list)->stmt;
	if (!stmt->concurrent || stmt->idxname == NULL)
		return false;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (OidIsValid(relid))
	{
		/* an index is created in the schema of its table */
		Oid			nspid = get_rel_namespace(relid);

		indexid = get_relname_relid(stmt->idxname, nspid);
		if (OidIsValid(indexid))
		{
			HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexid));

			if (HeapTupleIsValid(tup))
			{
				MemoryContext old;

				valid = ((Form_pg_index) GETSTRUCT(tup))->indisvalid;
				indrelid = ((Form_pg_index) GETSTRUCT(tup))->indrelid;
				ReleaseSysCache(tup);

				/* the table's columns and expressions must stay put meanwhile */
				if (indrelid == relid)
				{
					LockRelationOid(relid, AccessShareLock);
					matches = index_matches_stmt(indexid, relid, stmt, sql);
				}

				old = MemoryContextSwitchTo(TopMemoryContext);
				qualified = quote_qualified_identifier(get_namespace_name(nspid),
													   stmt->idxname);
				table = quote_qualified_identifier(get_namespace_name(get_rel_namespace(indrelid)),
												   get_rel_name(indrelid));
				definition = TextDatumGetCString(DirectFunctionCall1(pg_get_indexdef,
																	 ObjectIdGetDatum(indexid)));
				MemoryContextSwitchTo(old);
			}
			else
				indexid = InvalidOid;	/* not an index: let the build fail */
		}
	}
	PopActiveSnapshot();
	CommitTransactionCommand();

	if (!OidIsValid(indexid))
		return false;
	if (!matches)
	{
		if (stmt->if_not_exists)
			return false;		/* CREATE INDEX skips it, with a NOTICE */
		if (indrelid != relid)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_TABLE),
					 errmsg("index %s already exists on another table, %s", qualified, table),
					 errdetail("It is %s: %s.", valid ? "valid" : "invalid", definition),
					 errhint("Drop or rename that index, or give the migration's index another name.")));
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE),
				 errmsg("index %s already exists on table %s with another definition",
						qualified, table),
				 errdetail("It is %s: %s.", valid ? "valid" : "invalid", definition),
				 errhint("Drop or rename that index, or give the migration's index another name.")));
	}
	if (valid)
	{
		if (resuming)
		{
			ereport(LOG,
					(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
					 errmsg("index %s was already built before the job was interrupted",
							qualified)));
			return true;
		}
		return false;			/* CREATE INDEX will say it exists */
	}

	ereport(LOG,
			(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
			 errmsg("dropping invalid index %s left by an earlier concurrent build",
					qualified)));
	StartTransactionCommand();
	toplevel_execute(psprintf("DROP INDEX CONCURRENTLY IF EXISTS %s", qualified));
	CommitTransactionCommand();
	return false;
}

/* Is this a CONCURRENTLY statement, whose waits block no reader or writer? */
static bool
is_concurrent(const char *sql)
{
	List	   *raw_list = raw_parser(sql, RAW_PARSE_DEFAULT);
	Node	   *stmt;

	if (list_length(raw_list) != 1)
		return false;
	stmt = linitial_node(RawStmt, raw_list)->stmt;
	if (IsA(stmt, IndexStmt))
		return ((IndexStmt *) stmt)->concurrent;
	if (IsA(stmt, DropStmt))
		return ((DropStmt *) stmt)->concurrent;
	if (IsA(stmt, ReindexStmt))
	{
		ListCell   *lc;

		foreach(lc, ((ReindexStmt *) stmt)->params)
		{
			if (strcmp(lfirst_node(DefElem, lc)->defname, "concurrently") == 0)
				return true;
		}
	}
	return false;
}

typedef struct AttemptCall
{
	const char *sql;
	const char *version;
	const char *where;
	int			timeout_ms;
	void		(*after) (void *);
	void	   *after_arg;
} AttemptCall;

/* One attempt at the statement, in a transaction of its own. */
static void
one_attempt(void *arg)
{
	AttemptCall *call = (AttemptCall *) arg;

	SetConfigOption("lock_timeout", psprintf("%d", call->timeout_ms),
					PGC_USERSET, PGC_S_SESSION);
	/* what the statement records commits with it: read and write */
	subxact_defaults_reset();
	StartTransactionCommand();
	SetCurrentStatementStartTimestamp();
	activity_report("migration %s, %s: %s", call->version, call->where, call->sql);
	locksafe_watch_start(call->timeout_ms);
	toplevel_execute(call->sql);
	locksafe_watch_stop();
	SetConfigOption("lock_timeout", "0", PGC_USERSET, PGC_S_SESSION);
	call->after(call->after_arg);
	CommitTransactionCommand();
}

/*
 * Run one statement of a non-transactional migration as a top-level command
 * in its own transaction.  Under migrate.lock_timeout: a lock timeout rolls
 * it back and it is retried after a backoff, up to migrate.lock_retries
 * times.  CONCURRENTLY statements are the exception: they wait for older
 * transactions by design, and their waits hold up no reader or writer.
 * after(arg) runs in the statement's last transaction, so that what it
 * records commits with the statement.  Errors propagate, outside of any
 * transaction.
 */
void
toplevel_execute_retrying(const char *sql, const char *version,
						  const char *where, bool resuming,
						  void (*after) (void *), void *after_arg)
{
	MemoryContext context = CurrentMemoryContext;
	int			timeout_ms = is_concurrent(sql) ? 0 : migrate_lock_timeout;
	AttemptCall call = {sql, version, where, timeout_ms, after, after_arg};

	for (int attempt = 0;; attempt++)
	{
		ErrorData  *edata;
		char	   *blockers;

		subxact_defaults_reset();
		if (concurrent_index_prepare(sql, resuming || attempt > 0))
		{
			StartTransactionCommand();
			after(after_arg);
			CommitTransactionCommand();
			return;
		}

		MemoryContextSwitchTo(context);
		edata = subxact_catch(one_attempt, &call);
		locksafe_watch_stop();
		SetConfigOption("lock_timeout", "0", PGC_USERSET, PGC_S_SESSION);

		if (edata == NULL)
			return;
		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE || timeout_ms <= 0)
			ReThrowError(edata);

		/* who held the lock, for the event or the error */
		StartTransactionCommand();
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		{
			char	   *held = locksafe_blockers();

			blockers = held ? MemoryContextStrdup(context, held) : NULL;
		}
		if (attempt < migrate_lock_retries)
			catalog_event(version, "lock_retry", 0,
						  psprintf("%s, attempt %d: %s", where, attempt + 1,
								   blockers ? blockers : "blocker unknown"),
						  "55P03");
		PopActiveSnapshot();
		SPI_finish();
		CommitTransactionCommand();
		MemoryContextSwitchTo(context);

		locksafe_retry_or_give_up(edata, attempt, timeout_ms, LOG, version, where,
								  blockers ? psprintf("Blocked by: %s.", blockers) : NULL,
								  NULL, "continue the job with migrate_resume()");
	}
}
