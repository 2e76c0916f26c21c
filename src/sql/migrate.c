/*-------------------------------------------------------------------------
 *
 * migrate.c
 *	  Entry point of the migrate extension: module magic, settings, and the
 *	  table of job kinds that the workers dispatch through.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "base/base.h"
#include "catalog/migrate_catalog.h"
#include "exec/migrate_exec.h"
#include "jobs/migrate_jobs.h"
#include "engine/migrate_engine.h"
#include "online/online.h"

PG_MODULE_MAGIC;

/* The engines' runners, in the shape of the jobs layer's table */
static void
run_upgrade(const JobRow *job)
{
	upgrade_background_run(job->id, true, job->target, job->current_version);
}

static void
run_downgrade(const JobRow *job)
{
	upgrade_background_run(job->id, false, job->target, job->current_version);
}

static void
run_backfill(const JobRow *job)
{
	backfill_run_job(job->id, job->relation, job->args);
}

static void
run_online(const JobRow *job)
{
	online_run_job(job->id, job->version, job->current_step, job->args);
}

extern PGDLLEXPORT void _PG_init(void);

void
_PG_init(void)
{
	settings_define();
	executing_install();

	job_kind_register("upgrade", run_upgrade);
	job_kind_register("downgrade", run_downgrade);
	job_kind_register("backfill", run_backfill);
	job_kind_register("online", run_online);

	/* with shared_preload_libraries, resume unfinished jobs at startup */
	if (process_shared_preload_libraries_in_progress)
	{
		migrate_preloaded = true;
		worker_launcher_register();
	}
}
