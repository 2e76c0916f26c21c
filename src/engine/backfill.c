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
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/params.h"
#include "optimizer/plancat.h"
#include "parser/parsetree.h"
#include "parser/parser.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/itemptr.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "base/base.h"
#include "catalog/migrate_catalog.h"
#include "exec/migrate_exec.h"
#include "jobs/migrate_jobs.h"
#include "engine/migrate_engine.h"

PG_FUNCTION_INFO_V1(migrate_backfill);

/* A backfill's statement: its source text and parse tree, without batches. */
typedef struct BackfillStatement
{
	char	   *source;
	UpdateStmt *stmt;
	Oid			relid;
	Oid			index;			/* key batches: the key index (primary key,
								 * else a unique index over NOT NULL columns);
								 * else none */
	Oid			relfilenode;	/* page batches: the table's storage they walk */
	char	   *relation;		/* the relation's name in source, quoted */
	char	   *set_clause;
	char	   *where_clause;
} BackfillStatement;

static void refuse_key_assignment(BackfillStatement *bs, List *keys, Oid index);

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
/* Parse a statement, with syntax errors pointing into it. */
static List *
parse_with_context(const char *source)
{
	ErrorContextCallback errcb;
	BackfillErrorArg arg;
	List	   *raw;

	arg.source = source;
	errcb.callback = backfill_parse_error_callback;
	errcb.arg = &arg;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	raw = raw_parser(source, RAW_PARSE_DEFAULT);
	error_context_stack = errcb.previous;
	return raw;
}

static BackfillStatement *
backfill_parse(Oid relid, const char *set_clause, const char *where_clause)
{
	BackfillStatement *bs = palloc0(sizeof(BackfillStatement));
	char	   *relation = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
													  get_rel_name(relid));
	List	   *raw;
	RawStmt    *rs;
	UpdateStmt *stmt;

	/*
	 * Each clause must parse on its own, so that nothing in one (an open
	 * comment, an open quote) can reach into the other.
	 */
	raw = parse_with_context(psprintf("UPDATE ONLY %s SET %s\n", relation, set_clause));
	if (list_length(raw) != 1 || !IsA(linitial_node(RawStmt, raw)->stmt, UpdateStmt) ||
		((UpdateStmt *) linitial_node(RawStmt, raw)->stmt)->whereClause != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("set_clause must be the SET list of an UPDATE, and nothing else"),
				 errhint("Give the condition in where_clause.")));
	if (where_clause)
	{
		SelectStmt *select;

		raw = parse_with_context(psprintf("SELECT WHERE %s\n", where_clause));
		select = list_length(raw) == 1 && IsA(linitial_node(RawStmt, raw)->stmt, SelectStmt)
			? (SelectStmt *) linitial_node(RawStmt, raw)->stmt : NULL;
		if (select == NULL || select->op != SETOP_NONE || select->targetList != NIL ||
			select->fromClause != NIL || select->groupClause != NIL ||
			select->havingClause != NULL || select->windowClause != NIL ||
			select->sortClause != NIL || select->limitCount != NULL ||
			select->limitOffset != NULL || select->lockingClause != NIL ||
			select->withClause != NULL || select->distinctClause != NIL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("where_clause must be a condition, and nothing else")));
	}

	/* a newline ends any "--" comment the set clause might end with */
	bs->source = psprintf("UPDATE ONLY %s SET %s\n%s%s", relation, set_clause,
						  where_clause ? "WHERE " : "",
						  where_clause ? where_clause : "");
	raw = parse_with_context(bs->source);

	if (list_length(raw) != 1 || !IsA(linitial_node(RawStmt, raw)->stmt, UpdateStmt))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("set_clause and where_clause must make a single UPDATE statement"),
				 errdetail("The statement is: %s", bs->source)));
	rs = linitial_node(RawStmt, raw);
	stmt = (UpdateStmt *) rs->stmt;
	if (stmt->fromClause != NIL || migrate_update_returns(stmt) || stmt->withClause != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a backfill is a plain UPDATE of its relation"),
				 errdetail("FROM, RETURNING and WITH are not allowed; use a subquery in the set clause."),
				 errhint("The statement is: %s", bs->source)));
	bs->stmt = stmt;
	bs->relid = relid;
	bs->index = InvalidOid;
	bs->relation = relation;
	bs->set_clause = pstrdup(set_clause);
	bs->where_clause = where_clause ? pstrdup(where_clause) : NULL;
	return bs;
}

/* "ctid OPERATOR(pg_catalog.<op>) $n" as parse nodes */
static Node *
ctid_condition(const char *op, int param)
{
	ColumnRef  *ctid = makeNode(ColumnRef);
	ParamRef   *ref = makeNode(ParamRef);

	ctid->fields = list_make1(makeString(pstrdup("ctid")));
	ctid->location = -1;
	ref->number = param;
	ref->location = -1;
	return (Node *) makeA_Expr(AEXPR_OP,
							   list_make2(makeString(pstrdup("pg_catalog")), makeString(pstrdup(op))),
							   (Node *) ctid, (Node *) ref, -1);
}

/*
 * "NOT (xmin OPERATOR(pg_catalog.=) ANY ($n))": a row version that an earlier batch of this job
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
								 list_make1(makeA_Expr(AEXPR_OP_ANY,
													   list_make2(makeString(pstrdup("pg_catalog")),
																  makeString(pstrdup("="))),
													   (Node *) xmin, (Node *) ref, -1)),
								 -1);
}

/*
 * While a batch is planned, the table's only index is its primary key (key
 * batches) or none at all (page batches): no other index can lure the
 * planner into scanning more than the batch.
 */
static Oid	planning_relid = InvalidOid;
static Oid	planning_index = InvalidOid;
static get_relation_info_hook_type prev_get_relation_info = NULL;
static bool relation_info_hooked = false;

static void
batch_relation_info(PlannerInfo *root, Oid relid, bool inhparent, RelOptInfo *rel)
{
	if (prev_get_relation_info)
		prev_get_relation_info(root, relid, inhparent, rel);
	if (OidIsValid(planning_relid) && relid == planning_relid)
	{
		List	   *keep = NIL;
		ListCell   *lc;

		foreach(lc, rel->indexlist)
		{
			IndexOptInfo *index = lfirst(lc);

			if (index->indexoid == planning_index)
				keep = lappend(keep, index);
		}
		rel->indexlist = keep;
	}
}

/* Does the plan read the table only through the batch's range scan? */
static bool
scans_only_the_batch(Plan *plan, PlannedStmt *pstmt, BackfillStatement *bs, bool *found)
{
	if (plan == NULL)
		return true;
	switch (nodeTag(plan))
	{
		case T_SeqScan:
		case T_SampleScan:
		case T_BitmapHeapScan:
		case T_IndexScan:
		case T_IndexOnlyScan:
		case T_TidScan:
		case T_TidRangeScan:
			{
				Scan	   *scan = (Scan *) plan;

				if (rt_fetch(scan->scanrelid, pstmt->rtable)->relid != bs->relid)
					break;
				if (OidIsValid(bs->index)
					? (IsA(plan, IndexScan) && ((IndexScan *) plan)->indexid == bs->index &&
					   ((IndexScan *) plan)->indexqual != NIL)
					: IsA(plan, TidRangeScan))
					*found = true;
				else
					return false;
				break;
			}
		default:
			break;
	}
	return scans_only_the_batch(plan->lefttree, pstmt, bs, found) &&
		scans_only_the_batch(plan->righttree, pstmt, bs, found);
}

/*
 * Plan the statement restricted by a batch condition (parse nodes whose
 * parameters have the given types).  Scans that could read more than the
 * batch are discouraged, so that no batch turns into a full scan: page
 * ranges must use a TID range scan, key ranges the key index.
 */
static List *
backfill_plan(BackfillStatement *bs, Node *batch, Oid *paramtypes, int nparams,
			  ParamListInfo params)
{
	UpdateStmt *stmt = copyObject(bs->stmt);
	RawStmt    *rs = makeNode(RawStmt);
	List	   *queries;
	List	   *plans;
	int			nestlevel;
	ErrorContextCallback errcb;
	BackfillErrorArg arg;
	ListCell   *lc;

	stmt->whereClause = stmt->whereClause
		? (Node *) makeBoolExpr(AND_EXPR, list_make2(batch, stmt->whereClause), -1)
		: batch;
	rs->stmt = (Node *) stmt;
	rs->stmt_location = 0;
	rs->stmt_len = 0;

	arg.source = bs->source;
	errcb.callback = backfill_parse_error_callback;
	errcb.arg = &arg;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	queries = pg_analyze_and_rewrite_fixedparams(rs, bs->source, paramtypes, nparams, NULL);
	error_context_stack = errcb.previous;

	if (!relation_info_hooked)
	{
		prev_get_relation_info = get_relation_info_hook;
		get_relation_info_hook = batch_relation_info;
		relation_info_hooked = true;
	}
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_bitmapscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	/* the cost of a disabled path must not make every batch JIT-compile */
	(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	planning_relid = bs->relid;
	planning_index = bs->index;
	PG_TRY();
	{
		plans = pg_plan_queries(queries, bs->source, 0, params);
	}
	PG_FINALLY();
	{
		planning_relid = InvalidOid;
		planning_index = InvalidOid;
	}
	PG_END_TRY();
	AtEOXact_GUC(true, nestlevel);

	/* no batch may turn into a full scan */
	foreach(lc, plans)
	{
		PlannedStmt *pstmt = lfirst_node(PlannedStmt, lc);
		bool		found = false;

		bool		ok = scans_only_the_batch(pstmt->planTree, pstmt, bs, &found);
		ListCell   *sp;

		/* subqueries run for every batch: none may scan the whole table */
		foreach(sp, pstmt->subplans)
		{
			bool		ignored = false;

			ok = ok && scans_only_the_batch((Plan *) lfirst(sp), pstmt, bs, &ignored);
		}
		if (pstmt->commandType == CMD_UPDATE && (!ok || !found))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("a batch of the backfill of \"%s\" cannot be planned as a range scan",
							get_rel_name(bs->relid)),
					 errdetail(OidIsValid(bs->index)
							   ? "The batches need an index scan on the key index (the primary key, or a unique index over NOT NULL columns)."
							   : "The batches need a TID range scan."),
					 errhint("A subquery on the same table in the set or where clause can cause this.")));
	}

	/*
	 * A subquery over the table itself may pass that check with the values of
	 * one batch and fail it with those of another (a semi-join over the key
	 * index, say): it is refused whatever its plan, so that the call, not the
	 * worker, refuses it.  The final range table holds every subquery's
	 * relations.
	 */
	foreach(lc, plans)
	{
		PlannedStmt *pstmt = lfirst_node(PlannedStmt, lc);
		ListCell   *rt;

		if (pstmt->commandType != CMD_UPDATE)
			continue;
		foreach(rt, pstmt->rtable)
		{
			RangeTblEntry *rte = lfirst_node(RangeTblEntry, rt);

			if (rte->rtekind == RTE_RELATION && rte->relid == bs->relid &&
				!list_member_int(pstmt->resultRelations, foreach_current_index(rt) + 1))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("a batch of the backfill of \"%s\" cannot be planned as a range scan",
								get_rel_name(bs->relid)),
						 errdetail("The set or where clause reads \"%s\" in a subquery, which would read it anew in every batch.",
								   get_rel_name(bs->relid)),
						 errhint("Read the values from another table: copy them there first.")));
		}
	}
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
			migrate_ExecutorRun(qd, ForwardScanDirection, 0L);
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

static void
set_param(ParamListInfo params, int i, Datum value, Oid type)
{
	params->params[i].value = value;
	params->params[i].ptype = type;
	params->params[i].pflags = PARAM_FLAG_CONST;
	params->params[i].isnull = false;
}

/*
 * Page batches (tables without a primary key or a unique index over NOT NULL columns): ctid in [from, to), or the
 * one tuple (from, offset) when offset > 0.  Row versions that the job's
 * earlier batches wrote (job_xids) are skipped: an update can move a row to
 * a page still ahead, and it must not be updated twice.
 */
static uint64
backfill_pages(BackfillStatement *bs, BlockNumber from, BlockNumber to,
			   OffsetNumber offset, List *job_xids)
{
	ItemPointerData *start = palloc(sizeof(ItemPointerData));
	ItemPointerData *end = palloc(sizeof(ItemPointerData));
	Oid			types[3] = {TIDOID, TIDOID, XIDARRAYOID};
	ParamListInfo params = makeParamList(3);
	Datum	   *xids = palloc(sizeof(Datum) * Max(list_length(job_xids), 1));
	int			nxids = 0;
	ListCell   *lc;
	Node	   *batch;

	if (offset > 0)
	{
		ItemPointerSet(start, from, offset);
		ItemPointerSet(end, from, offset + 1);
	}
	else
	{
		ItemPointerSet(start, from, 0);
		ItemPointerSet(end, to, 0);
	}
	foreach(lc, job_xids)
	{
		xids[nxids++] = TransactionIdGetDatum((TransactionId) lfirst_oid(lc));
	}

	set_param(params, 0, PointerGetDatum(start), TIDOID);
	set_param(params, 1, PointerGetDatum(end), TIDOID);
	set_param(params, 2, PointerGetDatum(construct_array(xids, nxids, XIDOID,
														 sizeof(TransactionId), true,
														 TYPALIGN_INT)),
			  XIDARRAYOID);
	params->numParams = 3;

	batch = (Node *) makeBoolExpr(AND_EXPR,
								  list_make3(ctid_condition(">=", 1),
											 ctid_condition("<", 2),
											 not_written_by_job(3)),
								  -1);
	return backfill_execute(bs, backfill_plan(bs, batch, types, 3, params),
							params, false);
}

/*
 * Keyset batches (tables with a primary key, or else a unique index over NOT NULL columns): the key range (lo, hi], from
 * the start when lo is NULL.  A row other sessions update during the
 * backfill keeps its key wherever its new version lands, so no row is
 * skipped and none is visited twice.
 */
typedef struct KeyInfo
{
	int			n;
	char	  **names;			/* column names */
	Oid		   *types;
	Oid		   *inputs;
	Oid		   *ioparams;
	char	   *list;			/* quoted, "k1, k2" */
	char	   *relation;		/* quoted, qualified */
	/* the key's ordering operators, ">" and "<=", by schema and name */
	char	   *opschema;
	char	   *gt;
	char	   *le;
} KeyInfo;

/*
 * The schema and name of the operator of a btree strategy in the default
 * ordering of a type, or false.  A key comparison names its operators so:
 * resolved through the search_path of the job's role, "ROW(k) > ROW($1)"
 * could run an operator that anyone with CREATE on a schema in that path
 * planted (one of varchar's, say, a closer match than pg_catalog's text's).
 */
static bool
key_operator(Oid type, int16 strategy, char **schema, char **name)
{
	Oid			opclass = GetDefaultOpClass(type, BTREE_AM_OID);
	Oid			opintype;
	Oid			oper;
	HeapTuple	tup;
	Form_pg_operator form;

	if (!OidIsValid(opclass))
		return false;
	opintype = get_opclass_input_type(opclass);
	oper = get_opfamily_member(get_opclass_family(opclass), opintype, opintype, strategy);
	if (!OidIsValid(oper))
		return false;
	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(oper));
	if (!HeapTupleIsValid(tup))
		return false;
	form = (Form_pg_operator) GETSTRUCT(tup);
	*schema = get_namespace_name(form->oprnamespace);
	*name = pstrdup(NameStr(form->oprname));
	ReleaseSysCache(tup);
	return *schema != NULL;
}

/*
 * The ordering operators of a key's types, all of one schema and names:
 * else (columns of types from different schemas, rare) false, and the key
 * is not used, for one qualified name must serve the whole row comparison.
 */
static bool
key_operators(List *types, char **schema, char **gt, char **le)
{
	ListCell   *lc;

	*schema = *gt = *le = NULL;
	foreach(lc, types)
	{
		char	   *s1,
				   *s2,
				   *g,
				   *l;

		if (!key_operator(lfirst_oid(lc), BTGreaterStrategyNumber, &s1, &g) ||
			!key_operator(lfirst_oid(lc), BTLessEqualStrategyNumber, &s2, &l) ||
			strcmp(s1, s2) != 0)
			return false;
		if (*schema == NULL)
		{
			*schema = s1;
			*gt = g;
			*le = l;
		}
		else if (strcmp(*schema, s1) != 0 || strcmp(*gt, g) != 0 || strcmp(*le, l) != 0)
			return false;
	}
	return *schema != NULL;
}

/*
 * The index keyset batches walk: the primary key, else a unique index over
 * NOT NULL columns (no expressions, no predicate, valid), the one with the
 * fewest columns.  With names, the index whose key columns are those (a
 * resumed job finds its key again, whatever the index's OID now).  Returns
 * InvalidOid when there is none; *columns gets the key's column names.
 */
static Oid
backfill_key_index(Relation rel, List *names, List **columns)
{
	Oid			best = InvalidOid;
	int			best_n = INT_MAX;
	Oid			pkoid = migrate_RelationGetPrimaryKeyIndex(rel);
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	char	   *schema,
			   *gt,
			   *le;

	*columns = NIL;
	if (OidIsValid(pkoid))
		indexes = list_concat(list_make1_oid(pkoid), indexes);
	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index form = idx->rd_index;
		List	   *cols = NIL;
		List	   *types = NIL;
		bool		usable = form->indisunique && form->indisvalid && form->indimmediate &&
		RelationGetIndexExpressions(idx) == NIL &&
		RelationGetIndexPredicate(idx) == NIL;

		usable = usable && idx->rd_rel->relam == BTREE_AM_OID;
		for (int i = 0; usable && i < form->indnkeyatts; i++)
		{
			AttrNumber	att = form->indkey.values[i];
			Form_pg_attribute attr;
			Oid			opclass;

			if (att <= 0)
			{
				usable = false;
				break;
			}
			attr = TupleDescAttr(RelationGetDescr(rel), att - 1);
			opclass = GetDefaultOpClass(attr->atttypid, BTREE_AM_OID);

			/*
			 * The batch condition compares the key with the type's default
			 * ordering and the column's collation: the index must have the
			 * same, or it cannot serve it.
			 */
			if (!attr->attnotnull || !OidIsValid(opclass) ||
				idx->rd_opfamily[i] != get_opclass_family(opclass) ||
				idx->rd_indcollation[i] != attr->attcollation)
				usable = false;
			else
			{
				cols = lappend(cols, get_attname(RelationGetRelid(rel), att, false));
				types = lappend_oid(types, attr->atttypid);
			}
		}
		index_close(idx, AccessShareLock);
		usable = usable && key_operators(types, &schema, &gt, &le);
		if (!usable)
			continue;
		if (names != NIL)
		{
			ListCell   *a,
					   *b;
			bool		same = list_length(names) == list_length(cols);

			forboth(a, names, b, cols)
			{
				same = same && strcmp(lfirst(a), lfirst(b)) == 0;
			}
			if (same)
			{
				*columns = cols;
				return lfirst_oid(lc);
			}
			continue;
		}
		if (lfirst_oid(lc) == pkoid)
		{
			*columns = cols;
			return pkoid;
		}
		if (list_length(cols) < best_n)
		{
			best = lfirst_oid(lc);
			best_n = list_length(cols);
			*columns = cols;
		}
	}
	return best;
}

static KeyInfo *
key_info(Oid relid, List *names)
{
	KeyInfo    *ki = palloc0(sizeof(KeyInfo));
	StringInfoData list;
	ListCell   *lc;
	int			i = 0;

	ki->n = list_length(names);
	ki->names = palloc(sizeof(char *) * ki->n);
	ki->types = palloc(sizeof(Oid) * ki->n);
	ki->inputs = palloc(sizeof(Oid) * ki->n);
	ki->ioparams = palloc(sizeof(Oid) * ki->n);
	initStringInfo(&list);
	foreach(lc, names)
	{
		char	   *name = lfirst(lc);
		AttrNumber	att = get_attnum(relid, name);

		if (att == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("key column \"%s\" of the backfill's table is gone", name)));
		ki->names[i] = pstrdup(name);
		ki->types[i] = get_atttype(relid, att);
		getTypeInputInfo(ki->types[i], &ki->inputs[i], &ki->ioparams[i]);
		appendStringInfo(&list, "%s%s", i > 0 ? ", " : "", quote_identifier(name));
		i++;
	}
	ki->list = list.data;
	{
		List	   *types = NIL;

		for (int k = 0; k < ki->n; k++)
			types = lappend_oid(types, ki->types[k]);
		if (!key_operators(types, &ki->opschema, &ki->gt, &ki->le))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the key of the backfill's table has no ordering of one schema")));
	}
	ki->relation = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
											  get_rel_name(relid));
	return ki;
}

/*
 * "ROW(keys) OPERATOR(schema.op) ROW($first, ...)" as parse nodes, op being
 * BTGreaterStrategyNumber or BTLessEqualStrategyNumber.
 */
static Node *
key_condition(KeyInfo *ki, int strategy, int first)
{
	const char *op = strategy == BTGreaterStrategyNumber ? ki->gt : ki->le;
	RowExpr    *keys = makeNode(RowExpr);
	RowExpr    *params = makeNode(RowExpr);

	for (int i = 0; i < ki->n; i++)
	{
		ColumnRef  *col = makeNode(ColumnRef);
		ParamRef   *ref = makeNode(ParamRef);

		col->fields = list_make1(makeString(pstrdup(ki->names[i])));
		col->location = -1;
		ref->number = first + i;
		ref->location = -1;
		keys->args = lappend(keys->args, col);
		params->args = lappend(params->args, ref);
	}
	keys->row_format = COERCE_IMPLICIT_CAST;
	keys->location = -1;
	params->row_format = COERCE_IMPLICIT_CAST;
	params->location = -1;
	return (Node *) makeA_Expr(AEXPR_OP,
							   list_make2(makeString(pstrdup(ki->opschema)), makeString(pstrdup(op))),
							   (Node *) keys, (Node *) params, -1);
}

/*
 * Keys travel as text (in migrate.job.args, between sessions): they are
 * printed and read with fixed settings, so that every key reads back as
 * itself whatever the session's DateStyle, TimeZone or float digits.
 */
static int
key_format_begin(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("DateStyle", "ISO, MDY", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("IntervalStyle", "postgres", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("TimeZone", "UTC", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("extra_float_digits", "3", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("bytea_output", "hex", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

static void
key_format_end(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}

/* Key values from their text forms. */
static Datum *
key_datums(KeyInfo *ki, char **texts)
{
	Datum	   *values = palloc(sizeof(Datum) * ki->n);
	int			nestlevel = key_format_begin();

	for (int i = 0; i < ki->n; i++)
		values[i] = OidInputFunctionCall(ki->inputs[i], texts[i], ki->ioparams[i], -1);
	key_format_end(nestlevel);
	return values;
}

static uint64
backfill_keys(BackfillStatement *bs, KeyInfo *ki, char **lo, char **hi)
{
	int			nparams = ki->n * (lo ? 2 : 1);
	Oid		   *types = palloc(sizeof(Oid) * nparams);
	ParamListInfo params = makeParamList(nparams);
	Datum	   *hivalues = key_datums(ki, hi);
	Node	   *batch;
	int			p = 0;

	if (lo)
	{
		Datum	   *lovalues = key_datums(ki, lo);

		for (int i = 0; i < ki->n; i++, p++)
		{
			types[p] = ki->types[i];
			set_param(params, p, lovalues[i], ki->types[i]);
		}
	}
	for (int i = 0; i < ki->n; i++, p++)
	{
		types[p] = ki->types[i];
		set_param(params, p, hivalues[i], ki->types[i]);
	}
	params->numParams = nparams;

	batch = key_condition(ki, BTLessEqualStrategyNumber, lo ? ki->n + 1 : 1);
	if (lo)
		batch = (Node *) makeBoolExpr(AND_EXPR,
									  list_make2(key_condition(ki, BTGreaterStrategyNumber, 1), batch), -1);
	return backfill_execute(bs, backfill_plan(bs, batch, types, nparams, params),
							params, false);
}

/*
 * The keys of up to limit rows after lo (all of them when limit is 0), up
 * to hi at most, in key order, as text arrays; SPI_tuptable holds them.
 * The caller is connected to SPI.
 */
static void
select_keys(KeyInfo *ki, char **lo, char **hi, int64 limit, bool last_only)
{
	StringInfoData query;
	StringInfoData row;
	Oid		   *types = palloc(sizeof(Oid) * ki->n * 2);
	Datum	   *values = palloc(sizeof(Datum) * ki->n * 2);
	int			p = 0;

	/* aliased, so that ORDER BY sorts by the columns, not their text */
	initStringInfo(&row);
	for (int i = 0; i < ki->n; i++)
		appendStringInfo(&row, "%s%s::pg_catalog.text AS migrate_key_%d", i > 0 ? ", " : "",
						 quote_identifier(ki->names[i]), i);
	initStringInfo(&query);
	appendStringInfo(&query, "SELECT %s FROM ONLY %s WHERE ", row.data, ki->relation);
	if (lo)
	{
		Datum	   *v = key_datums(ki, lo);

		appendStringInfo(&query, "ROW(%s) OPERATOR(%s.%s) ROW(", ki->list,
						 quote_identifier(ki->opschema), ki->gt);
		for (int i = 0; i < ki->n; i++, p++)
		{
			types[p] = ki->types[i];
			values[p] = v[i];
			appendStringInfo(&query, "%s$%d", i > 0 ? ", " : "", p + 1);
		}
		appendStringInfoString(&query, ") AND ");
	}
	{
		Datum	   *v = key_datums(ki, hi);

		appendStringInfo(&query, "ROW(%s) OPERATOR(%s.%s) ROW(", ki->list,
						 quote_identifier(ki->opschema), ki->le);
		for (int i = 0; i < ki->n; i++, p++)
		{
			types[p] = ki->types[i];
			values[p] = v[i];
			appendStringInfo(&query, "%s$%d", i > 0 ? ", " : "", p + 1);
		}
		appendStringInfoString(&query, ")");
	}
	appendStringInfo(&query, " ORDER BY %s", ki->list);
	if (last_only)
		appendStringInfo(&query, " OFFSET " INT64_FORMAT " LIMIT 1", limit - 1);
	else if (limit > 0)
		appendStringInfo(&query, " LIMIT " INT64_FORMAT, limit);

	{
		int			nestlevel = key_format_begin();

		if (SPI_execute_with_args(query.data, p, types, values, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the keys of %s", ki->relation);
		key_format_end(nestlevel);
	}
}

/* Row i of SPI_tuptable as a key (text array), in the current context. */
static char **
key_of_row(KeyInfo *ki, uint64 i)
{
	char	  **key = palloc(sizeof(char *) * ki->n);

	for (int k = 0; k < ki->n; k++)
		key[k] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, k + 1);
	return key;
}

static char *
key_text(KeyInfo *ki, char **key)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "(%s)=(", ki->list);
	for (int i = 0; i < ki->n; i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "", key[i]);
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/* The key as a jsonb array text, for migrate.job.args. */
static char *
key_json(KeyInfo *ki, char **key)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (int i = 0; i < ki->n; i++)
	{
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, key[i]);
	}
	appendStringInfoChar(&buf, ']');
	return buf.data;
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
/*
 * What a DBA should know before the job runs: without a key, batches walk
 * the table's pages, and a row another session moves meanwhile can be
 * passed over or met twice; and a role that cannot see replication lag
 * never pauses for it.  The caller is connected to SPI.
 */
static void
backfill_warnings(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	List	   *columns;
	bool		keyless = !OidIsValid(backfill_key_index(rel, NIL, &columns));

	table_close(rel, AccessShareLock);
	if (keyless)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("\"%s\" has no primary key and no unique index over NOT NULL columns, so the backfill walks its pages",
						get_rel_name(relid)),
				 errdetail("A row that another session updates while the backfill runs can move to a page the backfill has passed (and be missed) or to one ahead of it (and be done twice)."),
				 errhint("Add a primary key first, or run the backfill while nothing updates the table.")));

	if (migrate_max_replica_lag > 0 && !has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS) &&
		SPI_execute("SELECT FROM pg_catalog.pg_stat_replication", true, 1) == SPI_OK_SELECT &&
		SPI_processed > 0)
		ereport(WARNING,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the backfill cannot see how far the standbys lag, so migrate.max_replica_lag will not pause it"),
				 errdetail("The lag columns of pg_stat_replication are shown only to members of pg_read_all_stats, and the job runs as this role."),
				 errhint("GRANT pg_read_all_stats to this role, or SET migrate.max_replica_lag = 0 to say that no pause is wanted.")));
}

Datum
migrate_backfill(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *set_clause;
	char	   *where_clause;
	int			batch_size = migrate_batch_size;
	int64		job_id;
	int64		rows_total;
	char	   *args;

	sql_version_check();
	migrate_guard_begin("migrate_backfill");

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

	args = backfill_job_args(relid, set_clause, where_clause, false, batch_size,
							 &rows_total);
	SPI_connect();
	job_id = job_queue("backfill", NULL, NULL, relid, rows_total, args);
	backfill_warnings(relid);
	SPI_finish();
	migrate_guard_end();
	PG_RETURN_INT64(job_id);
}

/*
 * How many rows the backfill will update, as the planner estimates them:
 * the rows of the table that match the where clause, or all of them when
 * every_row (a table never analyzed is estimated from its size, as the
 * planner does).  This is what
 * migrate.progress measures rows_done against.
 */
static int64
estimate_rows(BackfillStatement *bs, bool every_row)
{
	SelectStmt *select = makeNode(SelectStmt);
	RawStmt    *rs = makeNode(RawStmt);
	List	   *queries;
	PlannedStmt *plan;

	select->fromClause = list_make1(copyObject(bs->stmt->relation));
	select->whereClause = every_row ? NULL : copyObject(bs->stmt->whereClause);
	rs->stmt = (Node *) select;
	queries = pg_analyze_and_rewrite_fixedparams(rs, bs->source, NULL, 0, NULL);
	plan = pg_plan_query(linitial_node(Query, queries), bs->source, 0, NULL);
	return (int64) Max(plan->planTree->plan_rows, 0);
}

/*
 * Check a backfill (as the caller: it is parsed, planned and started
 * explain-only) and return the args of its job; *rows_total gets the
 * estimated count of the rows it will update.  every_row says the where
 * clause matches every row for now (an online migration's marker column,
 * just added: the planner would guess half of them).
 */
char *
backfill_job_args(Oid relid, const char *set_clause, const char *where_clause,
				  bool every_row, int batch_size, int64 *rows_total)
{
	MemoryContext caller = CurrentMemoryContext;
	Relation	rel;
	BlockNumber nblocks;
	List	   *keys;
	Oid			pkindex;
	BackfillStatement *bs;
	StringInfoData args;
	char	   *result;

	rel = table_open(relid, AccessShareLock);
	if (rel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot backfill \"%s\"", RelationGetRelationName(rel)),
				 errdetail("Only plain tables can be backfilled%s.",
						   rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE
						   ? "; backfill each partition" : "")));
	if (rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot backfill temporary table \"%s\"", RelationGetRelationName(rel)),
				 errdetail("The backfill runs in a background worker, which cannot see this session's temporary tables."),
				 errhint("Update it with a plain UPDATE.")));
	nblocks = RelationGetNumberOfBlocks(rel);
	pkindex = backfill_key_index(rel, NIL, &keys);
	table_close(rel, AccessShareLock);

	/*
	 * The whole statement, with the batch condition the worker will add, is
	 * parsed, planned and started (explain-only) as the caller: nothing runs.
	 */
	bs = backfill_parse(relid, set_clause, where_clause);
	if (keys != NIL)
	{
		KeyInfo    *ki = key_info(relid, keys);
		int			nparams = ki->n * 2;
		Oid		   *types = palloc(sizeof(Oid) * nparams);
		ParamListInfo params = makeParamList(nparams);
		Node	   *batch = (Node *) makeBoolExpr(AND_EXPR,
												  list_make2(key_condition(ki, BTGreaterStrategyNumber, 1),
															 key_condition(ki, BTLessEqualStrategyNumber, ki->n + 1)),
												  -1);

		for (int i = 0; i < nparams; i++)
		{
			types[i] = ki->types[i % ki->n];
			params->params[i].value = (Datum) 0;
			params->params[i].isnull = true;
			params->params[i].ptype = types[i];
			params->params[i].pflags = 0;
		}
		params->numParams = nparams;
		refuse_key_assignment(bs, keys, pkindex);
		bs->index = pkindex;
		(void) backfill_execute(bs, backfill_plan(bs, batch, types, nparams, params),
								params, true);
	}
	else
	{
		ItemPointerData *none = palloc0(sizeof(ItemPointerData));
		Oid			types[3] = {TIDOID, TIDOID, XIDARRAYOID};
		ParamListInfo params = makeParamList(3);
		Node	   *batch = (Node *) makeBoolExpr(AND_EXPR,
												  list_make3(ctid_condition(">=", 1),
															 ctid_condition("<", 2),
															 not_written_by_job(3)),
												  -1);

		set_param(params, 0, PointerGetDatum(none), TIDOID);
		set_param(params, 1, PointerGetDatum(none), TIDOID);
		set_param(params, 2, PointerGetDatum(construct_empty_array(XIDOID)), XIDARRAYOID);
		params->numParams = 3;
		(void) backfill_execute(bs, backfill_plan(bs, batch, types, 3, params),
								params, true);
	}

	initStringInfo(&args);
	appendStringInfoString(&args, "{\"set\": ");
	escape_json(&args, set_clause);
	appendStringInfoString(&args, ", \"where\": ");
	if (where_clause)
		escape_json(&args, where_clause);
	else
		appendStringInfoString(&args, "null");
	appendStringInfo(&args, ", \"batch_size\": %d, \"batches\": 0, \"longest_batch_ms\": 0,"
					 " \"settings\": %s", batch_size, worker_settings_json());

	SPI_connect();
	if (keys != NIL)
	{
		KeyInfo    *ki = key_info(relid, keys);
		StringInfoData names;
		ListCell   *lc;

		/* the largest key now bounds the job: it ends under sustained inserts */
		initStringInfo(&names);
		foreach(lc, keys)
		{
			if (names.len > 0)
				appendStringInfoString(&names, ", ");
			escape_json(&names, lfirst(lc));
		}
		appendStringInfo(&args, ", \"key\": [%s], \"key_types\": [", names.data);
		for (int k = 0; k < ki->n; k++)
			appendStringInfo(&args, "%s\"%u\"", k > 0 ? ", " : "", ki->types[k]);
		appendStringInfoString(&args, "], \"last_key\": null, \"end_key\": ");
		{
			StringInfoData cols;
			StringInfoData order;
			int			nestlevel;

			initStringInfo(&cols);
			initStringInfo(&order);
			for (int k = 0; k < ki->n; k++)
			{
				appendStringInfo(&cols, "%s%s::pg_catalog.text AS migrate_key_%d",
								 k > 0 ? ", " : "", quote_identifier(ki->names[k]), k);
				appendStringInfo(&order, "%s%s DESC", k > 0 ? ", " : "",
								 quote_identifier(ki->names[k]));
			}
			nestlevel = key_format_begin();

			/*
			 * A snapshot of its own (not read-only): rows committed while the
			 * caller waited for a lock are below the bound too.
			 */
			if (SPI_execute(psprintf("SELECT %s FROM ONLY %s ORDER BY %s LIMIT 1",
									 cols.data, ki->relation, order.data),
							false, 1) != SPI_OK_SELECT)
				elog(ERROR, "could not read the largest key of %s", ki->relation);
			key_format_end(nestlevel);
		}
		if (SPI_processed > 0)
		{
			char	  **key = palloc(sizeof(char *) * ki->n);

			for (int k = 0; k < ki->n; k++)
				key[k] = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, k + 1);
			appendStringInfoString(&args, key_json(ki, key));
		}
		else
			appendStringInfoString(&args, "null");
		appendStringInfoString(&args, ", \"rows_per_batch\": 0}");
	}
	else
		appendStringInfo(&args, ", \"pages_total\": %u, \"next_page\": 0,"
						 " \"pages_per_batch\": 0}", nblocks);

	*rows_total = estimate_rows(backfill_parse(relid, set_clause, where_clause), every_row);
	result = MemoryContextStrdup(caller, args.data);
	SPI_finish();
	return result;
}

/*
 * A set clause that assigns a column of the key the batches walk would move
 * rows into ranges still ahead, to be updated again there (or, a row moved
 * behind, pass it by): refused.
 */
static void
refuse_key_assignment(BackfillStatement *bs, List *keys, Oid index)
{
	ListCell   *lc;

	foreach(lc, bs->stmt->targetList)
	{
		ResTarget  *target = lfirst_node(ResTarget, lc);
		ListCell   *k;

		foreach(k, keys)
		{
			if (strcmp(target->name, lfirst(k)) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("a backfill cannot assign column \"%s\" of the key it walks",
								target->name),
						 errdetail("The batches of \"%s\" walk index \"%s\" in order; a row whose key changes can move to a batch still ahead and be updated twice.",
								   get_rel_name(bs->relid), get_rel_name(index)),
						 errhint("Change the key with a plain UPDATE.")));
		}
	}
}

/* A failing row's description, from its ctid: its key if it has one. */
static char *
describe_tid(Oid relid, BlockNumber block, OffsetNumber offset)
{
	return psprintf("ctid (%u,%u)", block, offset);
}

/* A batch waits for row locks at most migrate.lock_timeout, then is retried. */
static void
batch_lock_timeout(void)
{
	if (migrate_lock_timeout > 0)
		(void) set_config_option("lock_timeout", psprintf("%d", migrate_lock_timeout),
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
								 true, 0, false);
}

/*
 * Run fn(arg) in a transaction of its own, under the batch lock_timeout;
 * commit it, or roll it back (probes).  Returns the error, or NULL.
 */
typedef void (*batch_fn) (void *arg);

typedef struct OwnTransaction
{
	batch_fn	fn;
	void	   *arg;
	bool		commit;
} OwnTransaction;

static void
own_transaction(void *arg)
{
	OwnTransaction *call = (OwnTransaction *) arg;

	StartTransactionCommand();
	SetCurrentStatementStartTimestamp();
	batch_lock_timeout();
	PushActiveSnapshot(GetTransactionSnapshot());
	call->fn(call->arg);
	PopActiveSnapshot();
	if (call->commit)
		CommitTransactionCommand();
	else
		AbortCurrentTransaction();
}

static ErrorData *
in_own_transaction(batch_fn fn, void *arg, bool commit, MemoryContext context)
{
	OwnTransaction call = {fn, arg, commit};

	/* the error, and the caller afterwards, in context */
	MemoryContextSwitchTo(context);
	return subxact_catch(own_transaction, &call);
}

/* The SQLSTATE of the batch's error, which a probe must reproduce. */
static int	probe_code = 0;

/*
 * Does one probe batch fail as the batch did?  Probes never commit.  A
 * cancel stops the search.
 */
static bool
probe_fails(batch_fn fn, void *arg)
{
	ErrorData  *edata = in_own_transaction(fn, arg, false, CurrentMemoryContext);
	bool		same;

	if (edata == NULL)
		return false;
	if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
		ReThrowError(edata);
	same = edata->sqlerrcode == probe_code;
	FreeErrorData(edata);
	return same;
}

typedef struct PageProbe
{
	BackfillStatement *bs;
	BlockNumber from;
	BlockNumber to;
	OffsetNumber offset;
	List	   *xids;
} PageProbe;

static void
probe_pages(void *arg)
{
	PageProbe  *p = (PageProbe *) arg;

	(void) backfill_pages(p->bs, p->from, p->to, p->offset, p->xids);
}

/* The row of pages [from, to) the backfill fails on, or NULL. */
static char *
failing_row_in_pages(Oid relid, BackfillStatement *bs, BlockNumber from,
					 BlockNumber to, List *xids)
{
	PageProbe	p = {bs, 0, 0, 0, xids};

	/* an error that a batch of no row raises too is not a row's */
	if (probe_fails(probe_pages, &p))
		return NULL;
	for (BlockNumber page = from; page < to; page++)
	{
		CHECK_FOR_INTERRUPTS();
		p.from = page;
		p.to = page + 1;
		p.offset = 0;
		if (!probe_fails(probe_pages, &p))
			continue;
		for (OffsetNumber off = FirstOffsetNumber; off <= MaxHeapTuplesPerPage; off++)
		{
			p.offset = off;
			if (probe_fails(probe_pages, &p))
				return describe_tid(relid, page, off);
		}
	}
	return NULL;
}

typedef struct KeyProbe
{
	BackfillStatement *bs;
	KeyInfo    *ki;
	char	  **lo;
	char	  **hi;
} KeyProbe;

static void
probe_keys(void *arg)
{
	KeyProbe   *p = (KeyProbe *) arg;

	(void) backfill_keys(p->bs, p->ki, p->lo, p->hi);
}

/*
 * The row of the key range (lo, hi] the backfill fails on, or NULL: a
 * bisection over the keys of the range.
 */
static char *
failing_row_in_keys(BackfillStatement *bs, KeyInfo *ki, char **lo, char **hi)
{
	MemoryContext context = CurrentMemoryContext;
	char	 ***keys;
	uint64		n;
	int64		a,
				b;
	KeyProbe	p = {bs, ki, hi, hi};

	/* an error that a batch of no row, (hi, hi], raises too is not a row's */
	if (probe_fails(probe_keys, &p))
		return NULL;

	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	select_keys(ki, lo, hi, 0, false);
	n = SPI_processed;
	{
		MemoryContext old = MemoryContextSwitchTo(context);

		keys = palloc(sizeof(char **) * Max(n, 1));
		for (uint64 i = 0; i < n; i++)
			keys[i] = key_of_row(ki, i);
		MemoryContextSwitchTo(old);
	}
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	MemoryContextSwitchTo(context);

	/* the failing row is in keys[a..b]: (keys[a-1] or lo, keys[b]] fails */
	a = 0;
	b = (int64) n - 1;
	while (a < b)
	{
		int64		mid = (a + b) / 2;

		CHECK_FOR_INTERRUPTS();
		p.lo = a > 0 ? keys[a - 1] : lo;
		p.hi = keys[mid];
		if (probe_fails(probe_keys, &p))
			b = mid;
		else
			a = mid + 1;
	}
	if (n == 0)
		return NULL;
	p.lo = a > 0 ? keys[a - 1] : lo;
	p.hi = keys[a];
	return probe_fails(probe_keys, &p) ? key_text(ki, keys[a]) : NULL;
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
		if (SPI_execute("SELECT coalesce(pg_catalog.max(GREATEST(write_lag, flush_lag, replay_lag)),"
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
		activity_report("backfill paused: a standby lags %.0f ms, migrate.max_replica_lag is %d ms",
						lag_ms, migrate_max_replica_lag);
		locksafe_sleep_ms(1000);
	}
}

/* The throttle's state (below, throttle_ms), kept for the job's whole run */
typedef struct Throttle
{
	double		first_rate;		/* units per ms of the first full batches */
	int			firsts;			/* how many of them so far */
	double		recent_rate;	/* and of the latest, smoothed */
	int			sessions;		/* the sessions counted last */
	bool		busy;			/* whether the server was busy after the last
								 * batch */
	int64		pauses;			/* how many pauses it made */
	int64		slow_pauses;	/* of which because the batches ran slow */
	double		paused_ms;		/* and how long they took in all */
} Throttle;

/*
 * Record a batch in the job row, in the batch's own transaction: the rows
 * it did, the position reached (a jsonb object merged into args) and how
 * long it took.
 */
static void
job_progress(int64 job_id, uint64 rows, const char *position, double batch_ms,
			 bool keep_xid, const Throttle *throttle)
{
	Oid			argtypes[8] = {INT8OID, INT8OID, TEXTOID, FLOAT8OID, INT8OID, INT8OID, FLOAT8OID, INT8OID};
	Datum		values[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

	values[0] = Int64GetDatum(job_id);
	values[1] = Int64GetDatum((int64) rows);
	values[2] = CStringGetTextDatum(position);
	values[3] = Float8GetDatum(batch_ms);
	values[4] = keep_xid ? Int64GetDatum((int64) GetTopTransactionId()) : (Datum) 0;
	nulls[4] = keep_xid ? ' ' : 'n';
	values[5] = Int64GetDatum(throttle->pauses);
	values[6] = Float8GetDatum(throttle->paused_ms);
	values[7] = Int64GetDatum(throttle->slow_pauses);
	SPI_connect();
	catalog_exec("UPDATE migrate.job"
				 "   SET rows_done = rows_done + $2, updated_at = clock_timestamp(), attempts = 0,"
				 "       args = args || $3::jsonb || jsonb_build_object("
				 "           'batches', coalesce((args->>'batches')::bigint, 0) + 1,"
				 "           'longest_batch_ms', greatest(coalesce((args->>'longest_batch_ms')::float8, 0),"
				 "                                        round($4::numeric, 1)),"
				 "           'pauses', $6, 'paused_ms', round($7::numeric), 'slow_pauses', $8)"
				 " WHERE id = $1", 8, argtypes, values, nulls, 0);

	/*
	 * page mode: the batch's transaction, whose row versions are not updated
	 * again
	 */
	if (keep_xid)
		catalog_exec("INSERT INTO migrate.job_xid (job_id, xid) VALUES ($1, $5)",
					 5, argtypes, values, nulls, 0);
	SPI_finish();
}

/* Batch size adapted to take about target ms. */
static int64
adapt(int64 size, double ms, int64 max, double target)
{
	/*
	 * Aim a fifth under the target, so that the ordinary variation between
	 * batches stays under it; grow at most twofold, shrink as far as the last
	 * batch says (a batch that overshot by far is cut to size at once).
	 */
	if (ms < 1)
		size = size * 2;
	else
	{
		double		factor = Max(0.1, Min(2.0, 0.8 * target / ms));
		int64		next = factor > 1.0 ? (int64) ceil(size * factor) : (int64) (size * factor);

		/*
		 * A batch under the target takes at least one row more: a batch of a
		 * few rows is mostly its fixed cost (its commit, its progress row),
		 * which a smaller one does not save, and one shrunk to a row by a
		 * burst of load would otherwise stay at one row for good.
		 */
		if (ms < target && next <= size)
			next = size + 1;
		size = next;
	}
	return Max(1, Min(size, Max(max, 1)));
}

/*
 * Whether the batch in flight has got as far as the user's statement: an
 * error raised before it (the checks of batch_begin, reading the keys) is
 * about the table, not a row, and is raised as it is.
 */
static bool batch_in_statement = false;

/* The table's storage now (its relfilenode), or InvalidOid when it is gone. */
static Oid
current_relfilenode(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			result;

	if (!HeapTupleIsValid(tup))
		return InvalidOid;
	result = ((Form_pg_class) GETSTRUCT(tup))->relfilenode;
	ReleaseSysCache(tup);
	return result;
}

/* Page batches: the pages done no longer say which rows are done. */
static void
table_rewritten(const char *relname)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("\"%s\" was rewritten during the backfill", relname),
			 errdetail("Its rows moved to other pages (VACUUM FULL, CLUSTER, TRUNCATE or an ALTER TABLE that rewrites it), so the pages the job has done no longer tell which rows it has done."),
			 errhint("Queue the backfill again with migrate_backfill(); the batches before the rewrite were committed.")));
}

/* A key column's type is not the one the job started with. */
static void
key_type_changed(const char *column, const char *relname, Oid was, Oid now)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("key column \"%s\" of \"%s\" changed type during the backfill",
					column, relname),
			 errdetail("It was %s and is now %s; the position the job reached was taken in the old type's order.",
					   format_type_be(was), format_type_be(now)),
			 errhint("Queue the backfill again with migrate_backfill(); the batches before the change were committed.")));
}

/*
 * The start of every batch, in its transaction: the table is locked as the
 * UPDATE will lock it, then checked against what the job was started with.
 * A table dropped meanwhile fails the job (42P01) rather than the batch
 * probing for a failing row; a table renamed or moved gets its statement
 * parsed again; a key whose column changed type fails it, because the
 * position the job reached was taken in the old type's order, and so does
 * a rewrite of a table walked by pages.
 */
static void
batch_begin(BackfillStatement *bs, KeyInfo *ki, const char *relname)
{
	char	   *relation;

	batch_in_statement = false;
	LockRelationOid(bs->relid, RowExclusiveLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(bs->relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"%s\" of the backfill was dropped", relname),
				 errdetail("The batches before the drop were committed."),
				 errhint("A backfill does not follow its table's name to a new table: queue a new one.")));

	relation = quote_qualified_identifier(get_namespace_name(get_rel_namespace(bs->relid)),
										  get_rel_name(bs->relid));
	if (strcmp(relation, bs->relation) != 0)
	{
		MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(bs));
		BackfillStatement *renamed = backfill_parse(bs->relid, bs->set_clause,
													bs->where_clause);

		renamed->index = bs->index;
		renamed->relfilenode = bs->relfilenode;
		*bs = *renamed;
		if (ki)
			ki->relation = pstrdup(relation);
		MemoryContextSwitchTo(old);
	}

	if (!ki && OidIsValid(bs->relfilenode) &&
		current_relfilenode(bs->relid) != bs->relfilenode)
		table_rewritten(relname);

	if (ki)
	{
		for (int i = 0; i < ki->n; i++)
		{
			AttrNumber	att = get_attnum(bs->relid, ki->names[i]);
			Oid			type;

			if (att == InvalidAttrNumber)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("key column \"%s\" of the backfill's table is gone",
								ki->names[i])));
			type = get_atttype(bs->relid, att);
			if (type != ki->types[i])
				key_type_changed(ki->names[i], relname, ki->types[i], type);
		}
	}
}

/* One batch failed: retry it (true), or raise its error, naming the row. */
static bool
batch_failed(ErrorData *edata, int *retries, const char *relname, char *(*find) (void *),
			 void *find_arg, const char *where)
{
	char	   *row;

	if ((edata->sqlerrcode == ERRCODE_T_R_DEADLOCK_DETECTED ||
		 edata->sqlerrcode == ERRCODE_T_R_SERIALIZATION_FAILURE ||
		 edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE) &&
		*retries < Max(migrate_lock_retries, 1))
	{
		int			delay;

		(*retries)++;
		delay = locksafe_backoff_ms(*retries);
		ereport(LOG,
				(errcode(edata->sqlerrcode),
				 errmsg("backfill of %s, %s: %s; retry %d in %d ms",
						relname, where, edata->message, *retries, delay)));
		locksafe_sleep_ms(delay);
		return true;
	}
	if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED || !batch_in_statement)
		ReThrowError(edata);

	/* name the row it fails on; the batches before it stay done */
	probe_code = edata->sqlerrcode;
	row = find(find_arg);
	ereport(ERROR,
			(errcode(edata->sqlerrcode),
			 errmsg("%s", edata->message),
			 row ? errdetail("The backfill of %s failed on the row %s; the batches before it are committed.",
							 relname, row)
			 : errdetail("The backfill of %s failed on %s; the batches before it are committed.",
						 relname, where),
			 errhint("Fix the row or the statement, then continue with migrate_resume()."),
			 edata->context ? errcontext("%s", edata->context) : 0));
	return false;				/* keep the compiler quiet */
}

typedef struct PagesFind
{
	Oid			relid;
	BackfillStatement *bs;
	BlockNumber from;
	BlockNumber to;
	List	   *xids;
} PagesFind;

static char *
find_in_pages(void *arg)
{
	PagesFind  *f = (PagesFind *) arg;

	return failing_row_in_pages(f->relid, f->bs, f->from, f->to, f->xids);
}

typedef struct KeysFind
{
	BackfillStatement *bs;
	KeyInfo    *ki;
	char	  **lo;
	char	  **hi;
} KeysFind;

static char *
find_in_keys(void *arg)
{
	KeysFind   *f = (KeysFind *) arg;

	return failing_row_in_keys(f->bs, f->ki, f->lo, f->hi);
}


/* One page batch: its rows, and its position recorded in its transaction. */
typedef struct PageBatch
{
	int64		job_id;
	BackfillStatement *bs;
	BlockNumber from;
	BlockNumber to;
	int64		pages;
	List	   *xids;
	const char *relname;
	const Throttle *throttle;
	uint64		rows;			/* out */
	TransactionId xid;			/* out */
} PageBatch;

static void
page_batch(void *arg)
{
	PageBatch  *b = (PageBatch *) arg;
	TimestampTz started = GetCurrentTimestamp();

	batch_begin(b->bs, NULL, b->relname);
	batch_in_statement = true;
	b->rows = backfill_pages(b->bs, b->from, b->to, 0, b->xids);
	batch_in_statement = false;
	job_progress(b->job_id, b->rows,
				 psprintf("{\"next_page\": %u, \"pages_per_batch\": " INT64_FORMAT ","
						  " \"relfilenode\": \"%u\"}",
						  b->to, b->pages, b->bs->relfilenode),
				 (double) (GetCurrentTimestamp() - started) / 1000.0, true, b->throttle);
	b->xid = GetTopTransactionId();
}

/*
 * Throttling that follows the workload.  After each batch the job looks at
 * the server: while more than migrate.max_load other sessions are running a
 * statement, or its batches run at under half the speed of its first ones
 * (the machine is short of CPU or I/O, whatever keeps it busy), it pauses
 * migrate.nice_ratio times the batch's own time, as gh-ost's nice ratio
 * does, leaving the workload that share of the machine and of the rows; on
 * an idle server it goes straight on.  A fixed pause would slow an idle
 * backfill as much as a busy one.
 */

#define FIRST_BATCHES	3
/* while busy, batches aim at this share of migrate.batch_target */
#define BUSY_TARGET_SHARE	4

/*
 * What the next batch should take: migrate.batch_target, or a quarter of it
 * while the server is busy, because a writer that needs a row of a batch
 * waits for the whole batch to commit, and its wait is what the workload
 * feels.
 */
static double
batch_target(const Throttle *t)
{
	return t->busy ? (double) migrate_batch_target / BUSY_TARGET_SHARE : migrate_batch_target;
}

static double
throttle_ms(Throttle *t, double batch_ms, double units)
{
	double		rate = units / Max(batch_ms, 1.0);
	bool		full = batch_ms >= batch_target(t) / 2.0;
	bool		slow;

	if (migrate_nice_ratio <= 0)
	{
		t->busy = false;
		return 0;
	}

	/*
	 * Only batches near the target say how fast the job can go: a small one
	 * is mostly its fixed cost (its commit, its progress row).  The first few
	 * give the speed of this job on this table; the latest ones, smoothed so
	 * that one slow batch (a checkpoint's writes, a cold page) is not enough,
	 * say how fast it goes now.  Under half the first speed, the machine is
	 * busy with something else, whatever that is.
	 */
	if (full)
	{
		if (t->firsts < FIRST_BATCHES)
		{
			t->first_rate = (t->first_rate * t->firsts + rate) / (t->firsts + 1);
			t->firsts++;
			t->recent_rate = t->first_rate;
		}
		else
			t->recent_rate = 0.7 * t->recent_rate + 0.3 * rate;
	}
	slow = t->firsts == FIRST_BATCHES && t->recent_rate < t->first_rate / 2;
	t->sessions = activity_sessions_running();
	t->busy = t->sessions > migrate_max_load || slow;
	if (!t->busy)
		return 0;
	return migrate_nice_ratio * batch_ms;
}

/*
 * The pause after a batch: the throttle's, and at least migrate.batch_delay,
 * from the batch's end.  A latch set by anything (a sinval catch-up, a
 * reload) ends one wait early, so wait again until the time is up; the
 * setting is read again each time, so that a reload changes the pause under
 * way.
 */
static void
batch_pause(TimestampTz batch_end, Throttle *t, double batch_ms, double units,
			const char *relname)
{
	double		nice = throttle_ms(t, batch_ms, units);

	if (nice > 0)
	{
		if (t->sessions > migrate_max_load)
			activity_report("backfill %s: pausing %.0f ms, %d other %s running",
							relname, nice, t->sessions,
							t->sessions == 1 ? "session" : "sessions");
		else
		{
			activity_report("backfill %s: pausing %.0f ms, batches at under half their first speed",
							relname, nice);
			t->slow_pauses++;
		}
		t->pauses++;
		t->paused_ms += nice;
	}
	for (;;)
	{
		long		left;

		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
											   TimestampTzPlusMilliseconds(batch_end,
																		   (long) Max(nice, migrate_batch_delay)));
		if (left <= 0)
			return;
		locksafe_sleep_ms((int) left);
	}
}

/* Page batches from next_page up to pages_total. */
static void
run_pages(int64 job_id, Oid relid, BackfillStatement *bs, const char *relname,
		  BlockNumber pages_total, BlockNumber next_page, int64 pages, List *job_xids,
		  MemoryContext jobcontext, MemoryContext batchcontext)
{
	int			retries = 0;
	Throttle	throttle = {0};
	double		batch_ms;

	while (next_page < pages_total)
	{
		BlockNumber end = Min(next_page + (BlockNumber) pages, pages_total);
		ErrorData  *edata;
		PageBatch	batch = {job_id, bs, next_page, end, pages, job_xids, relname, &throttle, 0, InvalidTransactionId};
		TimestampTz started;

		CHECK_FOR_INTERRUPTS();
		/* ALTER SYSTEM and pg_reload_conf() reach the job here too */
		settings_reload();
		wait_for_replicas();
		activity_report("backfill %s: page %u of %u: %s",
						relname, next_page, pages_total, bs->source);
		MemoryContextReset(batchcontext);
		MemoryContextSwitchTo(batchcontext);
		started = GetCurrentTimestamp();

		edata = in_own_transaction(page_batch, &batch, true, batchcontext);
		if (edata != NULL)
		{
			PagesFind	f = {relid, bs, next_page, end, job_xids};

			if (batch_failed(edata, &retries, relname, find_in_pages, &f,
							 psprintf("pages %u to %u", next_page, end)))
				continue;
		}

		retries = 0;
		next_page = end;
		{
			MemoryContext old = MemoryContextSwitchTo(jobcontext);

			job_xids = lappend_oid(job_xids, (Oid) batch.xid);
			MemoryContextSwitchTo(old);
		}
		batch_ms = (double) (GetCurrentTimestamp() - started) / 1000.0;
		/* no pause after the last batch: the job is done */
		if (next_page < pages_total)
			batch_pause(GetCurrentTimestamp(), &throttle, batch_ms, (double) (end - batch.from),
						relname);
		pages = adapt(pages, batch_ms, pages_total, batch_target(&throttle));
	}
}

/*
 * One key batch: from last_key to batch_rows keys on (or end_key), its
 * position recorded in its transaction.
 */
typedef struct KeyBatch
{
	int64		job_id;
	BackfillStatement *bs;
	KeyInfo    *ki;
	char	  **last_key;
	char	  **end_key;
	int64		batch_rows;
	MemoryContext context;
	const char *relname;
	const Throttle *throttle;
	uint64		rows;			/* out */
	char	  **hi;				/* out: where the batch ends, once known */
	char	  **reached;		/* out: the same, once done */
} KeyBatch;

static void
key_batch(void *arg)
{
	KeyBatch   *b = (KeyBatch *) arg;
	TimestampTz started = GetCurrentTimestamp();
	char	  **hi;

	batch_begin(b->bs, b->ki, b->relname);

	/* the batch ends batch_rows keys on, or at the end key */
	SPI_connect();
	select_keys(b->ki, b->last_key, b->end_key, b->batch_rows, true);
	if (SPI_processed > 0)
	{
		MemoryContext old = MemoryContextSwitchTo(b->context);

		hi = key_of_row(b->ki, 0);
		MemoryContextSwitchTo(old);
	}
	else
		hi = b->end_key;
	SPI_finish();
	b->hi = hi;

	batch_in_statement = true;
	b->rows = backfill_keys(b->bs, b->ki, b->last_key, hi);
	batch_in_statement = false;
	job_progress(b->job_id, b->rows,
				 psprintf("{\"last_key\": %s, \"rows_per_batch\": " INT64_FORMAT "}",
						  key_json(b->ki, hi), b->batch_rows),
				 (double) (GetCurrentTimestamp() - started) / 1000.0, false, b->throttle);
	b->reached = hi;
}

/* Key batches from last_key (NULL: the start) up to end_key. */
static void
run_keys(int64 job_id, BackfillStatement *bs, KeyInfo *ki, const char *relname,
		 char **last_key, char **end_key, int64 batch_rows,
		 MemoryContext jobcontext, MemoryContext batchcontext)
{
	int			retries = 0;
	Throttle	throttle = {0};
	double		batch_ms;
	bool		done = false;

	while (!done)
	{
		char	  **hi;
		ErrorData  *edata;
		KeyBatch	batch = {job_id, bs, ki, last_key, end_key, batch_rows, batchcontext, relname, &throttle, 0, NULL, NULL};
		TimestampTz started;

		CHECK_FOR_INTERRUPTS();
		/* ALTER SYSTEM and pg_reload_conf() reach the job here too */
		settings_reload();
		wait_for_replicas();
		activity_report("backfill %s: from key %s: %s",
						relname, last_key ? key_text(ki, last_key) : "(start)", bs->source);
		MemoryContextReset(batchcontext);
		MemoryContextSwitchTo(batchcontext);
		started = GetCurrentTimestamp();

		edata = in_own_transaction(key_batch, &batch, true, batchcontext);
		hi = batch.reached;
		if (edata != NULL)
		{
			/* searched in the batch only, once its end is known */
			KeysFind	f = {bs, ki, last_key, batch.hi ? batch.hi : end_key};

			if (batch_failed(edata, &retries, relname, find_in_keys, &f,
							 psprintf("the keys after %s",
									  last_key ? key_text(ki, last_key) : "the start")))
				continue;
		}

		retries = 0;
		{
			MemoryContext old = MemoryContextSwitchTo(jobcontext);
			char	  **copy = palloc(sizeof(char *) * ki->n);

			for (int i = 0; i < ki->n; i++)
				copy[i] = pstrdup(hi[i]);
			done = true;
			for (int i = 0; i < ki->n; i++)
				if (strcmp(hi[i], end_key[i]) != 0)
					done = false;
			last_key = copy;
			MemoryContextSwitchTo(old);
		}
		batch_ms = (double) (GetCurrentTimestamp() - started) / 1000.0;
		if (!done)
			batch_pause(GetCurrentTimestamp(), &throttle, batch_ms, (double) batch.rows,
						relname);
		batch_rows = adapt(batch_rows, batch_ms, PG_INT32_MAX, batch_target(&throttle));
	}
}

/*
 * A job's arguments that do not say what the job needs (edited by hand, or
 * restored from elsewhere): the job fails rather than guess.
 */
static void
job_args_malformed(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("the arguments of the backfill job are malformed"),
			 errdetail("A value the job needs (its set clause, or an element of its key or position) is missing, null or of another length.")));
}

/* A jsonb array of strings (args->key and friends) as a C array, or NULL. */
static char **
json_strings(const char *json_text, int *n)
{
	MemoryContext context = CurrentMemoryContext;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(json_text)};
	char	  **result;

	if (SPI_execute_with_args("SELECT pg_catalog.jsonb_array_elements_text($1::pg_catalog.jsonb)",
							  1, argtypes, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read a backfill job's arguments");

	/* SPI returns in its own memory context: the result goes to the caller's */
	MemoryContextSwitchTo(context);
	*n = SPI_processed;
	result = palloc(sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		result[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		if (result[i] == NULL)
			job_args_malformed();
	}
	return result;
}

/*
 * The body of a backfill job (in a worker): key batches on a table with a
 * key index (primary key, or a unique index over NOT NULL columns), page
 * batches otherwise, from the position the job recorded.
 */
void
backfill_run_job(int64 job_id, Oid relid, const char *args_json)
{
	MemoryContext jobcontext = CurrentMemoryContext;
	MemoryContext batchcontext = AllocSetContextCreate(jobcontext, "migrate backfill batch",
													   ALLOCSET_DEFAULT_SIZES);
	BackfillStatement *bs;
	KeyInfo    *ki = NULL;
	char	  **last_key = NULL;
	char	  **end_key = NULL;
	char	   *relname;
	BlockNumber pages_total = 0;
	BlockNumber next_page = 0;
	int64		size = 0;
	List	   *job_xids = NIL;
	double		rows_per_page = 100;
	int			batch_size;

	/* a lost commit loses its batch and its position together */
	SetConfigOption("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION);

	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());

	/*
	 * The table may have been dropped since the job was queued (even in the
	 * transaction that queued it): the job fails, and stays failed.
	 */
	LockRelationOid(relid, AccessShareLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the table of backfill job " INT64_FORMAT " does not exist", job_id),
				 errdetail("It was dropped after the job was queued."),
				 errhint("A backfill does not follow its table's name to a new table: queue a new one.")));
	if (get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot backfill temporary table \"%s\"", get_rel_name(relid)),
				 errdetail("The backfill runs in a background worker, which cannot see another session's temporary tables.")));
	{
		Oid			argtypes[2] = {TEXTOID, OIDOID};
		Datum		values[2] = {CStringGetTextDatum(args_json), ObjectIdGetDatum(relid)};
		HeapTuple	tup;
		TupleDesc	desc;
		bool		isnull;
		MemoryContext old;
		char	   *set_clause;
		char	   *where_clause;
		char	   *key;
		char	   *last;
		char	   *end;
		char	   *key_types;

		/* as migrate's catalog queries run: with a pinned search_path */
		if (catalog_exec("SELECT a->>'set', a->>'where', (a->>'batch_size')::int,"
						 "       a->>'key', a->>'last_key', a->>'end_key',"
						 "       coalesce((a->>'rows_per_batch')::bigint, 0),"
						 "       coalesce((a->>'pages_total')::bigint, 0),"
						 "       coalesce((a->>'next_page')::bigint, 0),"
						 "       coalesce((a->>'pages_per_batch')::bigint, 0),"
						 "       NULL::pg_catalog.text,"
						 "       (SELECT CASE WHEN c.relpages OPERATOR(pg_catalog.>) 0"
						 "                         AND c.reltuples OPERATOR(pg_catalog.>) 0"
						 "                    THEN c.reltuples OPERATOR(pg_catalog./) c.relpages END"
						 "          FROM pg_catalog.pg_class c WHERE c.oid = $2),"
						 "       a->>'key_types', (a->>'relfilenode')::pg_catalog.oid,"
						 "       a OPERATOR(pg_catalog.?) 'backfill_step'"
						 "  FROM (SELECT $1::pg_catalog.jsonb AS a) s",
						 2, argtypes, values, NULL, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read backfill job " INT64_FORMAT, job_id);
		tup = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		old = MemoryContextSwitchTo(jobcontext);
		if (heap_attisnull(tup, 1, desc))
			job_args_malformed();
		set_clause = pstrdup(SPI_getvalue(tup, desc, 1));
		where_clause = SPI_getvalue(tup, desc, 2);
		where_clause = where_clause ? pstrdup(where_clause) : NULL;
		batch_size = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		key = SPI_getvalue(tup, desc, 4);
		last = SPI_getvalue(tup, desc, 5);
		end = SPI_getvalue(tup, desc, 6);
		key_types = SPI_getvalue(tup, desc, 13);
		key_types = key_types ? pstrdup(key_types) : NULL;
		key = key ? pstrdup(key) : NULL;
		last = last ? pstrdup(last) : NULL;
		end = end ? pstrdup(end) : NULL;
		if (!heap_attisnull(tup, 12, desc))
			rows_per_page = DatumGetFloat8(SPI_getbinval(tup, desc, 12, &isnull));
		if (key)
			size = DatumGetInt64(SPI_getbinval(tup, desc, 7, &isnull));
		else
		{
			pages_total = (BlockNumber) DatumGetInt64(SPI_getbinval(tup, desc, 8, &isnull));
			next_page = (BlockNumber) DatumGetInt64(SPI_getbinval(tup, desc, 9, &isnull));
			size = DatumGetInt64(SPI_getbinval(tup, desc, 10, &isnull));
		}

		bs = backfill_parse(relid, set_clause, where_clause);
		relname = get_rel_name(relid);
		if (key)
		{
			int			n;
			char	  **names = json_strings(key, &n);
			List	   *list = NIL;

			for (int i = 0; i < n; i++)
				list = lappend(list, pstrdup(names[i]));
			ki = key_info(relid, list);
			/* a job queued by migrate 1.0 has no key types */
			if (key_types)
			{
				char	  **was = json_strings(key_types, &n);

				for (int i = 0; i < n && i < ki->n; i++)
					if (atooid(was[i]) != ki->types[i])
						key_type_changed(ki->names[i], relname, atooid(was[i]), ki->types[i]);
			}
			{
				Relation	rel = table_open(relid, AccessShareLock);
				List	   *columns;

				bs->index = backfill_key_index(rel, list, &columns);
				table_close(rel, AccessShareLock);
				if (!OidIsValid(bs->index))
					ereport(ERROR,
							(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
							 errmsg("the key of \"%s\" the backfill walks is gone", relname),
							 errdetail("No valid unique index over NOT NULL columns (%s) is left.", key)));
			}
			if (end)
			{
				char	  **v = json_strings(end, &n);

				if (n != ki->n)
					job_args_malformed();
				end_key = palloc(sizeof(char *) * n);
				for (int i = 0; i < n; i++)
					end_key[i] = pstrdup(v[i]);
			}
			if (last)
			{
				char	  **v = json_strings(last, &n);

				if (n != ki->n)
					job_args_malformed();
				last_key = palloc(sizeof(char *) * n);
				for (int i = 0; i < n; i++)
					last_key[i] = pstrdup(v[i]);
			}
			if (size <= 0)
				size = batch_size;
		}
		else
		{
			/*
			 * The storage the batches walk, recorded with each batch: a
			 * rewrite since the last one moved the rows the job has done. Not
			 * for the step of an online migration: its rows say themselves
			 * whether they are done (_migrate_pending), and the job goes over
			 * the table again while any is not.
			 */
			if (!DatumGetBool(SPI_getbinval(tup, desc, 15, &isnull)))
			{
				bs->relfilenode = current_relfilenode(relid);
				if (!heap_attisnull(tup, 14, desc) &&
					DatumGetObjectId(SPI_getbinval(tup, desc, 14, &isnull)) != bs->relfilenode)
					table_rewritten(relname);
			}

			/* the transactions of the job's batches so far */
			{
				Oid			types[1] = {INT8OID};
				Datum		vals[1] = {Int64GetDatum(job_id)};

				catalog_exec("SELECT xid FROM migrate.job_xid WHERE job_id = $1",
							 1, types, vals, NULL, 0);
				MemoryContextSwitchTo(jobcontext);
				for (uint64 i = 0; i < SPI_processed; i++)
				{
					bool		xisnull;

					job_xids = lappend_oid(job_xids,
										   (Oid) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
																			 SPI_tuptable->tupdesc,
																			 1, &xisnull)));
				}
			}
			if (size <= 0)
				size = Max(1, (int64) (batch_size / Max(rows_per_page, 1)));
		}
		MemoryContextSwitchTo(old);
	}
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	MemoryContextSwitchTo(jobcontext);

	if (ki)
	{
		/* an empty table had no end key: nothing to do */
		if (end_key)
			run_keys(job_id, bs, ki, relname, last_key, end_key, size,
					 jobcontext, batchcontext);
	}
	else
	{
		Oid			types[1] = {INT8OID};
		Datum		vals[1] = {Int64GetDatum(job_id)};

		run_pages(job_id, relid, bs, relname, pages_total, next_page, size, job_xids,
				  jobcontext, batchcontext);
		StartTransactionCommand();
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		catalog_exec("DELETE FROM migrate.job_xid WHERE job_id = $1", 1, types, vals, NULL, 0);
		PopActiveSnapshot();
		SPI_finish();
		CommitTransactionCommand();
	}

	MemoryContextSwitchTo(jobcontext);
	MemoryContextDelete(batchcontext);
}
