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
 * view stays in the range table, with the INSERT or UPDATE privilege it was
 * checked for.  So the executor hooks keep a stack of the statements being
 * run (ExecutorRun, and ExecutorFinish, where data-modifying CTEs and AFTER
 * triggers run), and a trigger looks at the innermost one: while a row is
 * being written, that is the statement writing it, since anything nested
 * (a function in its VALUES, another trigger) has returned.
 *
 * The hooks exist once the library is loaded, which happens in a writer's
 * backend at its first write to a table with migrate's triggers: during
 * that first statement the stack is empty, and the portal's statement
 * answers instead (see executing_writes_through).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/executor.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "tcop/pquery.h"
#include "utils/portal.h"

#include "base/base.h"

typedef struct Executing
{
	QueryDesc  *query;
	struct Executing *outer;
} Executing;

static Executing *innermost = NULL;
static ExecutorRun_hook_type previous_run = NULL;
static ExecutorFinish_hook_type previous_finish = NULL;

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

/* Called once, by _PG_init. */
void
executing_install(void)
{
	previous_run = ExecutorRun_hook;
	ExecutorRun_hook = executing_run;
	previous_finish = ExecutorFinish_hook;
	ExecutorFinish_hook = executing_finish;
}

/* Whether the plan writes (INSERT, UPDATE, MERGE) through relation relid. */
static bool
plan_writes_through(PlannedStmt *plan, Oid relid)
{
	ListCell   *lc;

	if (plan == NULL || plan->commandType == CMD_UTILITY)
		return false;
	foreach(lc, plan->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);
		AclMode		perms;

		if (rte->relid != relid ||
			(rte->rtekind != RTE_RELATION && rte->rtekind != RTE_SUBQUERY))
			continue;
#if PG_VERSION_NUM >= 160000
		if (rte->perminfoindex == 0)
			continue;
		perms = ((RTEPermissionInfo *) list_nth(plan->permInfos,
												rte->perminfoindex - 1))->requiredPerms;
#else
		perms = rte->requiredPerms;
#endif
		if (perms & (ACL_INSERT | ACL_UPDATE))
			return true;
	}
	return false;
}

/*
 * Whether the statement writing now writes through relation relid (a view):
 * EXECUTING_YES or EXECUTING_NO; EXECUTING_UNKNOWN when no statement is
 * known to be running (the hooks came with this very statement, and the
 * write is not the portal's own statement, or it is a COPY, which does not
 * run through the executor's hooks).
 */
ExecutingAnswer
executing_writes_through(Oid relid)
{
	ListCell   *lc;

	if (innermost != NULL)
		return plan_writes_through(innermost->query->plannedstmt, relid)
			? EXECUTING_YES : EXECUTING_NO;
	if (ActivePortal == NULL)
		return EXECUTING_UNKNOWN;
	foreach(lc, ActivePortal->stmts)
	{
		if (plan_writes_through(lfirst_node(PlannedStmt, lc), relid))
			return EXECUTING_YES;
	}
	return EXECUTING_UNKNOWN;
}
