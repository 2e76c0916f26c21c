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

/*
 * upgrade.c: a run of the pending migrations in the caller's transaction
 * (migrate_upgrade's, or a batch of migrate_deploy's), told to the caller
 * one migration (version, name) or repeatable (version NULL) at a time:
 * action 'applied', 'queued' (to a background run that starts at commit)
 * or 'started' (an online migration).
 */
typedef void (*UpgradeResultFn) (void *arg, const char *version,
								 const char *name, const char *action);

typedef struct UpgradeBatch
{
	/* what to do */
	const char *target;			/* the last version to apply, NULL: all */
	int			limit;			/* at most this many migrations, 0: all */
	bool		first;			/* the first run of the call: warn of drift */
	bool		tell_commit;	/* NOTICE: commit, then wait for the run */
	const char *again;			/* what to run once an online one completes */
	UpgradeResultFn result;
	void	   *result_arg;
	/* what it did */
	int			applied;		/* migrations applied in this transaction */
	int			queued;			/* migrations handed to a background run */
	int64		job_id;			/* that run's job */
	char	   *queued_from;	/* the first of them (caller's memory) */
	bool		stopped;		/* at an online migration: started, or in
								 * flight and holding the rest back */
	bool		more;			/* pending migrations are left for another
								 * batch (after the background run) */
} UpgradeBatch;

extern void upgrade_pending(UpgradeBatch *batch);

/* upgrade.c: the body of a background run (job kinds upgrade, downgrade) */
extern void upgrade_background_run(int64 job_id, bool up, const char *target,
								   const char *resume_version);

#endif							/* MIGRATE_ENGINE_H */
