/*-------------------------------------------------------------------------
 *
 * online.h
 *	  Online (expand/contract) migrations: what the rest of migrate calls.
 *	  What the files of src/online share among themselves is in
 *	  online_int.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_ONLINE_H
#define MIGRATE_ONLINE_H

/* a registered online migration, its document parsed (online_int.h) */
typedef struct OnlineMigration OnlineMigration;

/* operations.c */
extern OnlineMigration *online_load(const char *version, bool for_update,
									char **state);

/* lifecycle.c */
extern void online_start(OnlineMigration *m);
extern char *online_in_flight(char **state);
extern char *online_startable(char **blocker);
extern void online_retire_shapes(const char *version);

/* job.c: the background job of an online migration */
extern void online_run_job(int64 job_id, const char *version, int current_step,
						   const char *args_json);

#endif							/* MIGRATE_ONLINE_H */
