/*-------------------------------------------------------------------------
 *
 * wait.h
 *	  What the files of src/sql share: wait.c's wait for background jobs,
 *	  which migrate_deploy (deploy.c) uses between its batches.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_SQL_WAIT_H
#define MIGRATE_SQL_WAIT_H

extern char *wait_for_jobs(char *version, long timeout_ms, MemoryContext caller,
						   bool commit_between);

#endif							/* MIGRATE_SQL_WAIT_H */
