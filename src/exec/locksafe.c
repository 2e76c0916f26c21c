/*-------------------------------------------------------------------------
 *
 * locksafe.c
 *	  Lock-safe execution of migration statements.
 *
 * A DDL statement waiting for a lock blocks every query that queues behind
 * it: that is how most migration outages happen.  So every statement of a
 * migration runs in a subtransaction with lock_timeout set to
 * migrate.lock_timeout; when the lock is not granted in time, the
 * subtransaction rolls back (letting the queue behind it drain) and the
 * statement is retried after an exponential backoff with jitter, up to
 * migrate.lock_retries times.  Each retry is a NOTICE and a 'lock_retry'
 * event; when retries run out the error is 55P03 with a HINT naming the
 * processes that held the lock, and those that waited for it before.
 *
 * Which lock the statement was waiting for is gone by the time the timeout
 * error is raised (the wait queue entry is cleaned up first), so a timer
 * firing every tenth of the lock timeout notes the lock this backend waits
 * on.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timeout.h"

#include "common/pg_prng.h"

#include "base/base.h"
#include "catalog/migrate_catalog.h"
#include "exec/migrate_exec.h"

/* backoff between retries: 100ms, 200ms, ... at most 10s, halved by jitter */
#define BACKOFF_BASE_MS		100
#define BACKOFF_MAX_MS		10000

/* the lock this backend was waiting for when the timer fired */
static TimeoutId awaited_timeout_id = MAX_TIMEOUTS;
static volatile sig_atomic_t awaited_valid = false;
static LOCKTAG awaited_tag;
static LOCKMODE awaited_mode;
static TimestampTz awaited_since;	/* when that wait began (0: unknown) */

/*
 * Timer handler (signal context): copy the tag of the lock being waited on,
 * if any; the last wait seen is the one a lock timeout ends.  Only plain
 * memory reads of this backend's own PGPROC happen here.
 */
static void
note_awaited_lock(void)
{
	LOCK	   *lock = MyProc ? MyProc->waitLock : NULL;

	if (lock != NULL)
	{
		awaited_tag = lock->tag;
		awaited_mode = MyProc->waitLockMode;
#if defined(PG_HAVE_8BYTE_SINGLE_COPY_ATOMICITY) && \
	!defined(PG_HAVE_ATOMIC_U64_SIMULATION)
		/* a plain load here; simulated atomics would take a spinlock */
		awaited_since = (TimestampTz) pg_atomic_read_u64(&MyProc->waitStart);
#else
		awaited_since = 0;
#endif
		awaited_valid = true;
	}
}

static void
awaited_timer_start(int lock_timeout_ms)
{
	awaited_valid = false;
	if (lock_timeout_ms <= 0)
		return;
	if (awaited_timeout_id == MAX_TIMEOUTS)
		awaited_timeout_id = RegisterTimeout(USER_TIMEOUT, note_awaited_lock);
	{
		/*
		 * Every tenth of the lock timeout: a wait that lasts the whole lock
		 * timeout is seen, however long the statement worked before it began
		 * to wait (lock_timeout counts from the start of the wait).
		 */
		int			every = Max(1, lock_timeout_ms / 10);

		enable_timeout_every(awaited_timeout_id,
							 TimestampTzPlusMilliseconds(GetCurrentTimestamp(), every),
							 every);
	}
}

static void
awaited_timer_stop(void)
{
	if (awaited_timeout_id != MAX_TIMEOUTS)
		disable_timeout(awaited_timeout_id, false);
}

/*
 * For a caller that runs a statement its own way (toplevel.c): watch the
 * lock waits of what runs between start and stop, then describe who held
 * the lock the last wait was for (connected to SPI, in a transaction).
 */
void
locksafe_watch_start(int lock_timeout_ms)
{
	awaited_timer_start(lock_timeout_ms);
}

void
locksafe_watch_stop(void)
{
	awaited_timer_stop();
}

/* "table public.accounts", "transaction 1234", ... */
static char *
describe_locktag(const LOCKTAG *tag)
{
	StringInfoData buf;

	initStringInfo(&buf);
	/* what a background run waits for (deploy_lock_acquire) */
	if (tag->locktag_type == LOCKTAG_ADVISORY && tag->locktag_field1 == MyDatabaseId &&
		tag->locktag_field2 == MIGRATE_LOCK_KEY1 && tag->locktag_field3 == MIGRATE_LOCK_KEY2 &&
		tag->locktag_field4 == MIGRATE_LOCKTAG_FIELD4)
	{
		appendStringInfoString(&buf, "migrate's deploy lock");
		return buf.data;
	}
	if (tag->locktag_type == LOCKTAG_RELATION && tag->locktag_field1 == MyDatabaseId)
	{
		Oid			relid = tag->locktag_field2;
		char	   *relname = get_rel_name(relid);

		if (relname != NULL)
		{
			appendStringInfo(&buf, "relation %s",
							 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
														relname));
			return buf.data;
		}
	}
	DescribeLockTag(&buf, tag);
	return buf.data;
}

/* " (app, state in a transaction open for N s, last query: ...)" of a process */
static void
describe_process(StringInfo buf, int pid)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(pid)};

	int			nestlevel = catalog_path_pin();

	/* as far as this role may see: this query runs as the caller */
	SPI_execute_with_args("SELECT coalesce(nullif(application_name, ''), backend_type),"
						  "       state, left(query, 80),"
						  "       (extract(epoch FROM clock_timestamp() - xact_start))::int"
						  "  FROM pg_catalog.pg_stat_activity WHERE pid = $1",
						  1, argtypes, values, NULL, true, 1);
	catalog_path_unpin(nestlevel);
	if (SPI_processed > 0)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *app = SPI_getvalue(tup, desc, 1);
		char	   *state = SPI_getvalue(tup, desc, 2);
		char	   *query = SPI_getvalue(tup, desc, 3);
		char	   *age = SPI_getvalue(tup, desc, 4);

		appendStringInfo(buf, " (%s", app ? app : "unknown");
		if (state)
			appendStringInfo(buf, ", %s", state);
		if (age)
			appendStringInfo(buf, " in a transaction open for %s s", age);
		if (query)
			appendStringInfo(buf, ", last query: %s", query);
		appendStringInfoChar(buf, ')');
	}
}

/*
 * Describe who kept this backend from the lock noted by the timer, or
 * return NULL when unknown: the processes that hold it in a conflicting
 * mode, then those that wait for a conflicting mode since before this
 * backend began to wait (most likely queued ahead of it, and those go
 * first: a waiting ALTER TABLE blocks even a request that its holder would
 * not).  Wait start times only approximate the queue's order, which the
 * deadlock check may also rearrange.  The caller is connected to SPI and
 * outside any failed subtransaction.
 */
char *
locksafe_blockers(void)
{
	LockData   *data;
	LockMethod	method;
	StringInfoData buf;
	LOCKTAG		tag;
	LOCKMODE	mode;
	TimestampTz since;
	int			found = 0;

	if (!awaited_valid)
		return NULL;
	tag = awaited_tag;
	mode = awaited_mode;
	since = awaited_since;
	method = GetLockTagsMethodTable(&tag);

	initStringInfo(&buf);
	data = GetLockStatusData();
	for (int ahead = 0; ahead <= 1; ahead++)
	{
		for (int i = 0; i < data->nelements; i++)
		{
			LockInstanceData *inst = &data->locks[i];
			LOCKMODE	shown = NoLock;

			if (memcmp(&inst->locktag, &tag, sizeof(LOCKTAG)) != 0 ||
				inst->pid == MyProcPid || inst->pid == 0)
				continue;
			if (!ahead)
			{
				LOCKMASK	conflicting = inst->holdMask & method->conflictTab[mode];

				/* the first conflicting mode held: one line per process */
				for (LOCKMODE m = 1; m <= method->numLockModes && shown == NoLock; m++)
					if (conflicting & LOCKBIT_ON(m))
						shown = m;
			}
			/* a holder named already is not named again */
			else if ((inst->holdMask & method->conflictTab[mode]) == 0 &&
					 inst->waitLockMode != NoLock &&
					 (method->conflictTab[mode] & LOCKBIT_ON(inst->waitLockMode)) &&
					 inst->waitStart != 0 && since != 0 && inst->waitStart <= since)
				shown = inst->waitLockMode;
			if (shown == NoLock)
				continue;

			if (found++ > 0)
				appendStringInfoString(&buf, "; ");
			appendStringInfo(&buf, "process %d %s %s on %s",
							 inst->pid, ahead ? "waits (queued earlier) for" : "holds",
							 GetLockmodeName(tag.locktag_lockmethodid, shown),
							 describe_locktag(&tag));
			describe_process(&buf, inst->pid);
		}
	}
	if (found == 0)
		return NULL;
	return buf.data;
}

/*
 * After attempt (from 0) of what a lock timeout stopped: with the retries
 * used up, rethrow edata with a HINT saying who blocked, how often and how
 * long migrate tried, and what to do (advice); else say it is retried (a
 * NOTICE to the deployer, LOG in a worker), and sleep through the backoff.
 * blocked_by is "Blocked by: ..." or NULL when unknown; retry_hint, if
 * any, is the retry message's HINT.
 */
void
locksafe_retry_or_give_up(ErrorData *edata, int attempt, int timeout_ms, int elevel,
						  const char *version, const char *what, const char *blocked_by,
						  const char *retry_hint, const char *advice)
{
	int			delay;

	if (attempt >= migrate_lock_retries)
	{
		const char *blocker = blocked_by ? blocked_by
		: "Another session held a conflicting lock (see pg_locks for who).";

		if (attempt == 0)
			edata->hint = psprintf("%s The %s was tried once, waiting at most migrate.lock_timeout (%d ms) for each lock; %s. migrate.lock_retries sets how often migrate tries.",
								   blocker, what, timeout_ms, advice);
		else
			edata->hint = psprintf("%s The %s was tried %d times, waiting at most migrate.lock_timeout (%d ms) for each lock; %s. migrate.lock_retries sets how often migrate tries.",
								   blocker, what, attempt + 1, timeout_ms, advice);
		ReThrowError(edata);
	}

	delay = locksafe_backoff_ms(attempt + 1);
	ereport(elevel,
			(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
			 errmsg("migration %s, %s: lock not granted within %d ms, retry %d of %d in %d ms",
					version ? version : "?", what,
					timeout_ms, attempt + 1, migrate_lock_retries, delay),
			 blocked_by ? errdetail("%s", blocked_by) : 0,
			 retry_hint ? errhint("%s", retry_hint) : 0));
	FreeErrorData(edata);
	locksafe_sleep_ms(delay);
}

/* How long to wait before the n-th retry (n >= 1). */
int
locksafe_backoff_ms(int n)
{
	double		ceiling = BACKOFF_BASE_MS * pow(2.0, Min(n - 1, 20));
	double		r;

	ceiling = Min(ceiling, BACKOFF_MAX_MS);
	r = pg_prng_double(&pg_global_prng_state);
	/* "equal jitter": half the ceiling, plus a random share of the rest */
	return (int) (ceiling / 2 + r * ceiling / 2);
}

void
locksafe_sleep_ms(int ms)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
	/* a backfill's pause is where a worker picks up a reload */
	settings_reload();
}

/* One statement of a migration, through SPI (in locksafe_execute's subtransaction). */
static void
execute_statement(void *arg)
{
	int			rc = SPI_execute((const char *) arg, false, 0);

	if (rc == SPI_ERROR_TRANSACTION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("transaction control statements cannot run inside a migration")));
	if (rc == SPI_ERROR_COPY)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("COPY to or from the client cannot run inside a migration")));
	if (rc < 0)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	/* a data migration's result rows are not kept */
	SPI_freetuptable(SPI_tuptable);
}

/* Set while a caller retries its whole phase: statements do not retry alone. */
static bool locksafe_caller_retries = false;

/*
 * Run one statement of a migration with the lock-safe discipline.  The
 * caller is connected to SPI and has set lock_timeout (see
 * locksafe_begin); "where" describes the statement for messages.
 */
void
locksafe_execute(const char *sql, const char *version, const char *where)
{
	int			timeout_ms = migrate_lock_timeout;

	for (int attempt = 0;; attempt++)
	{
		ErrorData  *edata;
		char	   *blockers;
		char	   *blocked_by;

		/*
		 * Every statement waits at most migrate.lock_timeout, even after an
		 * earlier statement of the migration changed lock_timeout (the
		 * setting is undone with the rest at locksafe_end).
		 */
		if (timeout_ms > 0)
			(void) set_config_option("lock_timeout", psprintf("%d", timeout_ms),
									 PGC_USERSET, PGC_S_SESSION,
									 GUC_ACTION_SET, true, 0, false);
		awaited_timer_start(timeout_ms);
		edata = subxact_run(execute_statement, (void *) sql);
		awaited_timer_stop();

		if (edata == NULL)
			return;				/* done */

		/* only a lock timeout of our own making is retried */
		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE || timeout_ms <= 0)
			ReThrowError(edata);

		blockers = locksafe_blockers();
		blocked_by = blockers ? psprintf("Blocked by: %s.", blockers) : NULL;
		if (locksafe_caller_retries)
		{
			/*
			 * the caller retries the whole of what it runs, and says how
			 * often
			 */
			edata->hint = blocked_by;
			ReThrowError(edata);
		}
		if (attempt < migrate_lock_retries)
			locksafe_note_retry(version, psprintf("%s, attempt %d: %s", where, attempt + 1,
												  blockers ? blockers : "blocker unknown"));
		locksafe_retry_or_give_up(edata, attempt, timeout_ms, NOTICE, version, where,
								  blocked_by, NULL,
								  "cancel the blocker with pg_cancel_backend(), or deploy again when it is done");
	}
}

/*
 * The lock_retry events of the run at work.  They are written to
 * migrate.event in the run's transaction; when the run fails, that
 * transaction rolls back, so they are kept here too and recorded again
 * with the failure (worker_record_failure, record_job_failure).
 */
#define MAX_RETRY_NOTES 100

static List *retry_notes = NIL;

void
locksafe_note_retry(const char *version, const char *detail)
{
	MemoryContext old;

	catalog_event(version, "lock_retry", 0, detail, "55P03");
	if (list_length(retry_notes) >= MAX_RETRY_NOTES)
		return;
	old = MemoryContextSwitchTo(TopMemoryContext);
	retry_notes = lappend(retry_notes, psprintf("%s%c%s", version ? version : "", '\x1f', detail));
	MemoryContextSwitchTo(old);
}

/* "version<US>detail" strings, oldest first */
List *
locksafe_retry_notes(void)
{
	return retry_notes;
}

void
locksafe_forget_retries(void)
{
	list_free_deep(retry_notes);
	retry_notes = NIL;
}

typedef struct WholeCall
{
	void		(*fn) (void *);
	void	   *arg;
} WholeCall;

static void
whole_attempt(void *arg)
{
	WholeCall  *call = (WholeCall *) arg;
	bool		outer = locksafe_caller_retries;

	locksafe_caller_retries = true;
	PG_TRY();
	{
		call->fn(call->arg);
	}
	PG_FINALLY();
	{
		locksafe_caller_retries = outer;
	}
	PG_END_TRY();
}

/*
 * Run fn(arg), which runs statements through locksafe_execute, as a whole
 * under the lock-safe discipline.  A statement that waits longer than
 * migrate.lock_timeout does not retry alone, holding the locks the
 * statements before it took (the queries queued behind those would wait
 * through every retry): the whole of fn rolls back, releasing them all,
 * and runs again after a backoff.  *version names the migration at work,
 * what the run ("upgrade", "start", ...) in messages; advice ends the HINT
 * when the retries run out.
 */
void
locksafe_run_whole(const char *const *version, const char *what,
				   void (*fn) (void *), void *arg, const char *advice)
{
	WholeCall	call = {fn, arg};

	/* inside another whole run, that one retries */
	if (locksafe_caller_retries)
	{
		fn(arg);
		return;
	}

	for (int attempt = 0;; attempt++)
	{
		ErrorData  *edata = subxact_run(whole_attempt, &call);

		if (edata == NULL)
			return;
		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE || migrate_lock_timeout <= 0)
			ReThrowError(edata);
		/* a statement's timeout sets the hint to "Blocked by: ..." */
		if (attempt < migrate_lock_retries)
			locksafe_note_retry(*version, psprintf("%s, attempt %d: %s", what, attempt + 1,
												   edata->hint ? edata->hint : edata->message));
		locksafe_retry_or_give_up(edata, attempt, migrate_lock_timeout, NOTICE, *version, what,
								  edata->hint,
								  psprintf("The %s rolled back, releasing its locks, and runs again.", what),
								  advice);
	}
}

/*
 * Settings a migration may change that must not leak into the caller's
 * session or into the next migration.
 */
static const char *const restored_settings[] = {
	"lock_timeout", "statement_timeout", "search_path", "role"
};

#define N_RESTORED lengthof(restored_settings)

struct LockSafeState
{
	int			nestlevel;
	char	   *saved[N_RESTORED];
};

/*
 * Before a migration runs: remember the caller's settings and set
 * lock_timeout to migrate.lock_timeout.
 */
LockSafeState *
locksafe_begin(void)
{
	LockSafeState *state = palloc0(sizeof(LockSafeState));

	for (int i = 0; i < N_RESTORED; i++)
		state->saved[i] = GetConfigOptionByName(restored_settings[i], NULL, false);

	state->nestlevel = NewGUCNestLevel();
	if (migrate_lock_timeout > 0)
		(void) set_config_option("lock_timeout",
								 psprintf("%d", migrate_lock_timeout),
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	return state;
}

/*
 * After a migration ran: give the caller its settings back.  Unwinding the
 * nest level as if aborted undoes every SET the migration made, plain or
 * LOCAL, and puts back the caller's own values whatever their kind (a SET
 * LOCAL of the caller's stays local to its transaction).
 */
void
locksafe_end(LockSafeState *state)
{
	AtEOXact_GUC(false, state->nestlevel);

	for (int i = 0; i < N_RESTORED; i++)
		Assert(strcmp(GetConfigOptionByName(restored_settings[i], NULL, false),
					  state->saved[i]) == 0);
}
