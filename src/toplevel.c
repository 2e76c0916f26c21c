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
#include "migrate.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_index.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "pgstat.h"
#include "tcop/dest.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/ps_status.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

/* Parse trees and plans must survive the statement's internal commits. */
static MemoryContext toplevel_context = NULL;

/*
 * Execute sql (one statement) as a top-level command.  The caller has
 * started a transaction and commits it afterwards.
 */
void
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
#if PG_VERSION_NUM >= 150000
		querytrees = pg_analyze_and_rewrite_fixedparams(raw, sql, NULL, 0, NULL);
#else
		querytrees = pg_analyze_and_rewrite(raw, sql, NULL, 0, NULL);
#endif
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

		(void) PortalRun(portal, FETCH_ALL, is_top_level, true,
						 receiver, receiver, &qc);
		receiver->rDestroy(receiver);
		PortalDrop(portal, false);
	}
}

static bool
is_concurrent_reindex(ReindexStmt *stmt)
{
#if PG_VERSION_NUM >= 140000
	ListCell   *lc;

	foreach(lc, stmt->params)
	{
		DefElem    *opt = lfirst_node(DefElem, lc);

		if (strcmp(opt->defname, "concurrently") == 0 && defGetBoolean(opt))
			return true;
	}
	return false;
#else
	return stmt->concurrent;
#endif
}

/*
 * Before (re)running REINDEX CONCURRENTLY of an index or a table: the
 * invalid "_ccnew" / "_ccold" indexes that a reindex which failed or was
 * interrupted leaves on the table are dropped, as a DBA would by hand.
 */
static void
reindex_leftovers_drop(ReindexStmt *stmt)
{
	Oid			relid;
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
		relid = IndexGetRelation(relid, true);
	if (OidIsValid(relid))
	{
		Oid			argtypes[1] = {OIDOID};
		Datum		values[1] = {ObjectIdGetDatum(relid)};

		SPI_connect();
		SPI_execute_with_args("SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)"
							  "  FROM pg_catalog.pg_index i"
							  "  JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid"
							  "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
							  " WHERE i.indrelid = $1 AND NOT i.indisvalid"
							  "   AND c.relname OPERATOR(pg_catalog.~) '_cc(new|old)[0-9]*$'",
							  1, argtypes, values, NULL, true, 0);
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
				(errmsg("migrate: dropping invalid index %s left by an earlier REINDEX CONCURRENTLY",
						(char *) lfirst(lc))));
		StartTransactionCommand();
		toplevel_execute(psprintf("DROP INDEX CONCURRENTLY IF EXISTS %s", (char *) lfirst(lc)));
		CommitTransactionCommand();
	}
	list_free_deep(leftovers);
}

/*
 * Before (re)building a named index concurrently: an invalid index of that
 * name, left by a build that failed or was interrupted, is dropped; a valid
 * one, when the statement is being resumed, means the build had finished.
 * Returns true when there is nothing left to do.
 */
static bool
concurrent_index_prepare(const char *sql, bool resuming)
{
	List	   *raw_list = raw_parse_sql(sql);
	IndexStmt  *stmt;
	Oid			relid;
	Oid			indexid = InvalidOid;
	bool		valid = false;
	char	   *qualified = NULL;

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
					(errmsg("migrate: the index was already dropped before the job was interrupted")));
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
		Oid			nspid = get_rel_namespace(relid);

		indexid = get_relname_relid(stmt->idxname, nspid);
		if (OidIsValid(indexid))
		{
			HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexid));

			if (HeapTupleIsValid(tup))
			{
				valid = ((Form_pg_index) GETSTRUCT(tup))->indisvalid;
				ReleaseSysCache(tup);
				qualified = MemoryContextStrdup(TopMemoryContext,
												quote_qualified_identifier(get_namespace_name(nspid),
																		   stmt->idxname));
			}
			else
				indexid = InvalidOid;	/* not an index: let the build fail */
		}
	}
	PopActiveSnapshot();
	CommitTransactionCommand();

	if (!OidIsValid(indexid))
		return false;
	if (valid)
	{
		if (resuming)
		{
			ereport(LOG,
					(errmsg("migrate: index %s was already built before the job was interrupted",
							qualified)));
			return true;
		}
		return false;			/* CREATE INDEX will say it exists */
	}

	ereport(LOG,
			(errmsg("migrate: dropping invalid index %s left by an earlier concurrent build",
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
	List	   *raw_list = raw_parse_sql(sql);
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
#if PG_VERSION_NUM >= 140000
		ListCell   *lc;

		foreach(lc, ((ReindexStmt *) stmt)->params)
			if (strcmp(lfirst_node(DefElem, lc)->defname, "concurrently") == 0)
				return true;
#else
		return ((ReindexStmt *) stmt)->concurrent;
#endif
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
	StartTransactionCommand();
	SetCurrentStatementStartTimestamp();
	worker_report("migration %s, %s: %s", call->version, call->where, call->sql);
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

		if (concurrent_index_prepare(sql, resuming || attempt > 0))
		{
			StartTransactionCommand();
			after(after_arg);
			CommitTransactionCommand();
			return;
		}

		MemoryContextSwitchTo(context);
		edata = xact_catch(one_attempt, &call);
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
			event_log(version, "lock_retry", 0,
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
