/*-------------------------------------------------------------------------
 *
 * subxact.c
 *	  Work in a subtransaction of the current transaction, or in
 *	  transactions of its own, its error caught.
 *
 * A migration statement retried after a lock timeout, a phase of an online
 * migration retried as a whole, a migration whose failure must be recorded
 * before it is raised again, an expression tried by the analyser: each
 * runs in a subtransaction so that a failure rolls back only its own work
 * and locks, and the caller decides what to do with the error.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "base/base.h"

/*
 * Run fn(arg) in a subtransaction.  Returns NULL when it succeeded (its
 * work is now the current transaction's), else its error, copied into the
 * caller's memory context, after the subtransaction was rolled back.
 */
ErrorData *
subxact_run(void (*fn) (void *), void *arg)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcontext);
	CurrentResourceOwner = oldowner;
	return edata;
}

/*
 * Run fn(arg), which starts and ends transactions of its own (a worker at
 * its top level: a batch, a top-level statement).  Returns NULL when it
 * succeeded, else its error, copied into the caller's memory context,
 * after whatever transaction it left open was aborted.
 */
ErrorData *
subxact_catch(void (*fn) (void *), void *arg)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ErrorData  *volatile edata = NULL;

	PG_TRY();
	{
		fn(arg);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		AbortOutOfAnyTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcontext);
	return edata;
}

/*
 * Before a transaction migrate starts itself (in a worker): READ COMMITTED, read
 * and write, whatever a migration or a backfill's expression SET as the
 * defaults before.  worker_session_restore comes too late for these: a
 * transaction takes its isolation level and read-only flag when it starts,
 * and one that inherited "read only" could not even record its failure.
 */
void
subxact_defaults_reset(void)
{
	SetConfigOption("default_transaction_isolation", "read committed",
					PGC_USERSET, PGC_S_SESSION);
	SetConfigOption("default_transaction_read_only", "off",
					PGC_USERSET, PGC_S_SESSION);
	SetConfigOption("default_transaction_deferrable", "off",
					PGC_USERSET, PGC_S_SESSION);
}
