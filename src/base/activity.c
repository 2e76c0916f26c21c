/*-------------------------------------------------------------------------
 *
 * activity.c
 *	  What a background worker is doing, in pg_stat_activity.query, and
 *	  how busy the server is around it.
 *
 * Every layer that runs a job's statements reports through here, so that
 * none of them has to call up into the worker that runs it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/backend_status.h"
#include "utils/wait_event.h"

#include "base/base.h"

static int64 activity_job_id = 0;

/* The job this worker runs: the prefix of what it reports. */
void
activity_set_job(int64 job_id)
{
	activity_job_id = job_id;
}

/* Show what the worker does in pg_stat_activity.query. */
void
activity_report(const char *fmt,...)
{
	StringInfoData buf;
	va_list		args;

	if (!IsBackgroundWorker)
		return;
	initStringInfo(&buf);
	appendStringInfo(&buf, "migrate job " INT64_FORMAT ": ", activity_job_id);
	for (;;)
	{
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	pgstat_report_activity(STATE_RUNNING, buf.data);
	pfree(buf.data);
}

/*
 * How many other client sessions of the cluster are running a statement
 * now: the load a backfill yields to.  A session waiting for its client, a
 * timer (pg_sleep) or an extension (migrate_wait itself) is not working and
 * does not count; one waiting for a lock does, as it may wait for the rows
 * of a batch.  Only the count is used, never who runs what, which
 * pg_stat_activity shows to members of pg_read_all_stats only.
 */
int
activity_sessions_running(void)
{
	int			n = 0;
	int			nbackends;

	pgstat_clear_backend_activity_snapshot();
	nbackends = pgstat_fetch_stat_numbackends();
	for (int i = 1; i <= nbackends; i++)
	{
		LocalPgBackendStatus *local = pgstat_fetch_stat_local_beentry(i);
		PgBackendStatus *be;
		PGPROC	   *proc;

		if (local == NULL)
			continue;
		be = &local->backendStatus;
		if (be->st_backendType != B_BACKEND || be->st_procpid == MyProcPid ||
			(be->st_state != STATE_RUNNING && be->st_state != STATE_FASTPATH))
			continue;
		proc = BackendPidGetProc(be->st_procpid);
		if (proc != NULL)
		{
			uint32		class = (*(volatile uint32 *) &proc->wait_event_info) & 0xFF000000;

			if (class == PG_WAIT_CLIENT || class == PG_WAIT_TIMEOUT ||
				class == PG_WAIT_EXTENSION)
				continue;
		}
		n++;
	}
	pgstat_clear_backend_activity_snapshot();
	return n;
}
