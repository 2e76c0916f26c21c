/*-------------------------------------------------------------------------
 *
 * executing.c
 *	  Which statements this backend is running, innermost last: what the
 *	  triggers of an online migration ask to tell a write through the
 *	  version schema's view (the new shape) from a write to the table
 *	  itself (the old shape), whatever the writer's search_path.
 *
 * A write through an automatically updatable view reaches the table's
 * BEFORE triggers as a write to the table: nothing in the trigger's
 * arguments says that a view was the target.  The executor's plan does: the
 * view stays in the range table, with the INSERT or UPDATE privilege (and
 * the columns) it was checked for.  So the executor hooks keep a stack of
 * the statements being run (ExecutorRun, and ExecutorFinish, where
 * data-modifying CTEs and AFTER triggers run), and a trigger looks at the
 * innermost one: while a row is being written, that is the statement
 * writing it, since anything nested (a function in its VALUES, another
 * trigger) has returned.  The one writer that runs no plan, COPY FROM, is
 * a utility statement: the ProcessUtility hook puts those on the stack too,
 * so that a COPY's own rows are known to be written to a table by its name.
 *
 * The hooks exist once the library is loaded, which happens in a writer's
 * backend at its first write to a table with migrate's triggers: during
 * that first statement the stack is empty, and the portal's statement
 * answers instead, but only for a row the portal's statement writes itself
 * (see executing_statement).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/partition.h"
#include "executor/executor.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "tcop/pquery.h"
#include "tcop/utility.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"

#include "base/base.h"

typedef struct Executing
{
	QueryDesc  *query;			/* NULL: a utility statement */
	struct Executing *outer;
} Executing;

static Executing *innermost = NULL;
static ExecutorRun_hook_type previous_run = NULL;
static ExecutorFinish_hook_type previous_finish = NULL;
static ProcessUtility_hook_type previous_utility = NULL;

#if PG_VERSION_NUM >= 180000
static void
executing_run(QueryDesc *query, ScanDirection direction, uint64 count)
#else
static void
executing_run(QueryDesc *query, ScanDirection direction, uint64 count,
			  bool execute_once)
#endif
{
	Executing	frame = {query, innermost};

	innermost = &frame;
	PG_TRY();
	{
#if PG_VERSION_NUM >= 180000
		if (previous_run)
			previous_run(query, direction, count);
		else
			standard_ExecutorRun(query, direction, count);
#else
		if (previous_run)
			previous_run(query, direction, count, execute_once);
		else
			standard_ExecutorRun(query, direction, count, execute_once);
#endif
	}
	PG_FINALLY();
	{
		innermost = frame.outer;
	}
	PG_END_TRY();
}

static void
executing_finish(QueryDesc *query)
{
	Executing	frame = {query, innermost};

	innermost = &frame;
	PG_TRY();
	{
		if (previous_finish)
			previous_finish(query);
		else
			standard_ExecutorFinish(query);
	}
	PG_FINALLY();
	{
		innermost = frame.outer;
	}
	PG_END_TRY();
}

static void
executing_utility(PlannedStmt *pstmt, const char *queryString,
				  bool readOnlyTree, ProcessUtilityContext context,
				  ParamListInfo params, QueryEnvironment * queryEnv,
				  DestReceiver *dest, QueryCompletion *qc)
{
	Executing	frame = {NULL, innermost};

	innermost = &frame;
	PG_TRY();
	{
		if (previous_utility)
			previous_utility(pstmt, queryString, readOnlyTree, context,
							 params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		innermost = frame.outer;
	}
	PG_END_TRY();
}

/* Called once, by _PG_init. */
void
executing_install(void)
{
	previous_run = ExecutorRun_hook;
	ExecutorRun_hook = executing_run;
	previous_finish = ExecutorFinish_hook;
	ExecutorFinish_hook = executing_finish;
	previous_utility = ProcessUtility_hook;
	ProcessUtility_hook = executing_utility;
}

/*
 * The statement that writes the row a trigger's condition is evaluated for,
 * when known: true, with *plan its plan, or NULL for a utility statement
 * (a COPY FROM, which writes to a table by its name).  False when it is not
 * known: the hooks came with this very statement, and the row is not the
 * portal's own statement's (a function's, a trigger's, one of several
 * statements a rule made).
 *
 * A trigger's condition is evaluated in the per-tuple memory of the
 * executor state writing the row, a child of that state's query context;
 * the portal's own statement has its executor state in the portal's
 * memory.  So the row is the portal's statement's when the parent of the
 * current memory context is a child of the portal's.
 */
bool
executing_statement(PlannedStmt **plan)
{
	PlannedStmt *stmt;

	*plan = NULL;
	if (innermost != NULL)
	{
		if (innermost->query != NULL)
			*plan = innermost->query->plannedstmt;
		return true;
	}
	if (ActivePortal == NULL || list_length(ActivePortal->stmts) != 1 ||
		CurrentMemoryContext->parent == NULL ||
		CurrentMemoryContext->parent->parent != ActivePortal->portalContext)
		return false;
	stmt = linitial_node(PlannedStmt, ActivePortal->stmts);
	if (stmt->commandType != CMD_UTILITY)
		*plan = stmt;
	else if (!IsA(stmt->utilityStmt, CopyStmt))
		return false;
	return true;
}

/*
 * How many of the plan's range table entries write (INSERT, UPDATE, MERGE)
 * relation relid: entries checked for INSERT, or for UPDATE of some
 * columns (a row locked FOR UPDATE is checked for UPDATE too, of no
 * column).  With partitions, the entries of relid's partitions count too.
 * The entries a table's inheritance children or partitions get when the
 * planner expands it are checked for nothing: each write counts once.
 */
int
executing_writes(PlannedStmt *plan, Oid relid, bool partitions)
{
	ListCell   *lc;
	int			n = 0;

	if (plan == NULL || plan->commandType == CMD_UTILITY)
		return 0;
	foreach(lc, plan->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);
		AclMode		perms;
		Bitmapset  *updated;

		if (!OidIsValid(rte->relid) ||
			(rte->rtekind != RTE_RELATION && rte->rtekind != RTE_SUBQUERY))
			continue;
#if PG_VERSION_NUM >= 160000
		if (rte->perminfoindex == 0)
			continue;
		{
			RTEPermissionInfo *info = list_nth(plan->permInfos,
											   rte->perminfoindex - 1);

			perms = info->requiredPerms;
			updated = info->updatedCols;
		}
#else
		perms = rte->requiredPerms;
		updated = rte->updatedCols;
#endif
		if (!(perms & ACL_INSERT) &&
			!((perms & ACL_UPDATE) && !bms_is_empty(updated)))
			continue;
		if (rte->relid == relid ||
			(partitions && get_rel_relispartition(rte->relid) &&
			 list_member_oid(get_partition_ancestors(rte->relid), relid)))
			n++;
	}
	return n;
}
