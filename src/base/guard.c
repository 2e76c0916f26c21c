/*-------------------------------------------------------------------------
 *
 * guard.c
 *	  No migrate function that changes the catalog or runs migrations may be
 *	  called from inside another one: from a migration's SQL, a backfill's
 *	  expressions, or anything they call.
 *
 * A migration that registered, applied or marked migrations while it was
 * being applied would leave a catalog that records SQL that never ran (or
 * not what ran), and a migration that calls migrate_upgrade() would apply
 * itself again and again until the stack runs out.  The functions that
 * could do so take the guard on entry and leave it on return; an error
 * leaves it when the (sub)transaction it was taken in aborts.  A background
 * job holds it for as long as it runs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"

#include "base/base.h"

/* nest level of the transaction the guard was taken in, 0 when not taken */
static int	guard_level = 0;

/* the function holding the guard */
static const char *guard_holder = NULL;

/* a background worker running a job holds it throughout */
static bool guard_in_job = false;
static bool guard_callbacks_registered = false;

static void
guard_xact_callback(XactEvent event, void *arg)
{
	/* whatever ends the transaction, no guarded function runs any more */
	guard_level = 0;
}

static void
guard_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	/* the error left the guarded function if it aborts the guard's level */
	if (event == SUBXACT_EVENT_ABORT_SUB &&
		guard_level >= GetCurrentTransactionNestLevel())
		guard_level = 0;
}

/*
 * Enter a guarded function: refused (55000) when another one, or a
 * background job, is running in this process.
 */
void
migrate_guard_begin(const char *function)
{
	if (guard_in_job)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s cannot be called from inside a background job of migrate",
						function),
				 errdetail("A migration's SQL, and the functions it calls, must not change migrate's catalog or run migrations."),
				 errhint("Call migrate's functions from the deploy script, one after another.")));
	if (guard_level > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s cannot be called from inside %s", function, guard_holder),
				 errdetail("A migration's SQL, and the functions it calls, must not change migrate's catalog or run migrations."),
				 errhint("Call migrate's functions from the deploy script, one after another.")));

	if (!guard_callbacks_registered)
	{
		RegisterXactCallback(guard_xact_callback, NULL);
		RegisterSubXactCallback(guard_subxact_callback, NULL);
		guard_callbacks_registered = true;
	}
	guard_level = GetCurrentTransactionNestLevel();
	guard_holder = function;
}

/* Leave the guarded function (on its normal return). */
void
migrate_guard_end(void)
{
	guard_level = 0;
	guard_holder = NULL;
}

/* A background worker is about to run its job (and never leaves it). */
void
migrate_guard_job(void)
{
	guard_in_job = true;
}
