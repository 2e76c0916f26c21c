/*-------------------------------------------------------------------------
 *
 * migrate_engine.h
 *	  The engines: background runs of migrations and batched backfills
 *	  (online migrations have a folder of their own, src/online/).  They
 *	  call the jobs layer and below.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_ENGINE_H
#define MIGRATE_ENGINE_H


/* backfill.c: batched backfills */
extern void backfill_run_job(int64 job_id, Oid relid, const char *args_json);
extern char *backfill_job_args(Oid relid, const char *set_clause,
							   const char *where_clause, bool every_row,
							   int batch_size, int64 *rows_total);

/* upgrade.c: the body of a background run (job kinds upgrade, downgrade) */
extern void upgrade_background_run(int64 job_id, bool up, const char *target,
								   const char *resume_version);

#endif							/* MIGRATE_ENGINE_H */
