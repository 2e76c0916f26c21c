/*-------------------------------------------------------------------------
 *
 * activity.c
 *	  What a background worker is doing, in pg_stat_activity.query.
 *
 * Every layer that runs a job's statements reports through here, so that
 * none of them has to call up into the worker that runs it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"

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
