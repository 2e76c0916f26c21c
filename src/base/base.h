/*-------------------------------------------------------------------------
 *
 * base.h
 *	  The base layer: settings, versions, subtransactions, guards,
 *	  placeholders, what a worker reports, and the codes and keys every
 *	  layer above shares.  It calls nothing of migrate's.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_BASE_H
#define MIGRATE_BASE_H

#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/elog.h"

#include "base/compat.h"

/* Custom SQLSTATEs, class MG (see SPEC.md, "Errors") */
#define ERRCODE_MIGRATE_CHECKSUM_MISMATCH	MAKE_SQLSTATE('M','G','0','0','1')
#define ERRCODE_MIGRATE_OUT_OF_ORDER		MAKE_SQLSTATE('M','G','0','0','2')
#define ERRCODE_MIGRATE_IRREVERSIBLE		MAKE_SQLSTATE('M','G','0','0','3')
#define ERRCODE_MIGRATE_UNKNOWN_VERSION		MAKE_SQLSTATE('M','G','0','0','4')
#define ERRCODE_MIGRATE_CHECK_REFUSED		MAKE_SQLSTATE('M','G','0','0','5')

/*
 * migrate's own locks.  They are advisory locktags whose fourth field is
 * MIGRATE_LOCKTAG_FIELD4: SQL's pg_advisory_* functions only ever use 1
 * (one int8 key) or 2 (two int4 keys) there, so no role can take one of
 * these from SQL and stall a deployer, a background run or a job.  In
 * pg_locks they show as locktype 'advisory' with objsubid 3:
 *
 *	database	classid		objid		what
 *	this db		1835624306	1			the deploy lock (transaction level)
 *	this db		1835624306	2			the run lock of a background run
 *	this db		1835624298	job id		the lock of a job's worker
 *	0			1835624298	slot		a migrate.max_workers slot
 *
 * (classid 1835624306 is 0x6D696772 'migr', 1835624298 is 0x6D69676A 'migj';
 * a job id is taken modulo 2^32.)
 */
#define MIGRATE_LOCKTAG_FIELD4	3
#define MIGRATE_LOCK_KEY1	0x6D696772
#define MIGRATE_LOCK_KEY2	1
#define MIGRATE_RUN_LOCK_KEY2	2
#define MIGRATE_JOB_LOCK_KEY1	0x6D69676A

/*
 * The version of this library: of the SQL definitions it serves
 * (src/catalog/version_check.c), and the one its messages name.
 */
#define MIGRATE_LIBRARY_VERSION "1.1"

/* pg_stat_activity.backend_type of the workers */
#define MIGRATE_WORKER_TYPE "migrate worker"

/* settings.c: the settings migrate.* */
extern bool migrate_allow_out_of_order;
extern int	migrate_lock_timeout;
extern int	migrate_lock_retries;
extern int	migrate_max_workers;
extern bool migrate_preloaded;	/* in shared_preload_libraries */
extern int	migrate_batch_size;
extern int	migrate_batch_target;
extern int	migrate_batch_delay;
extern int	migrate_max_replica_lag;
extern double migrate_nice_ratio;
extern int	migrate_max_load;
extern int	migrate_check_mode(void);
extern int	migrate_large_table_rows;
extern void settings_define(void);
extern void settings_reload(void);

#define MIGRATE_CHECK_OFF	0
#define MIGRATE_CHECK_WARN	1
#define MIGRATE_CHECK_ERROR	2
#define MIGRATE_CHECK_UNSET	(-1)	/* migrate.check not set */

/* version.c */
extern bool version_valid(const char *version);
extern int	version_cmp(const char *a, const char *b);
extern Datum version_key_datum(const char *version);
extern void version_check_arg(const char *version, const char *argname);

/* subxact.c: work in a subtransaction, its error caught */
extern ErrorData *subxact_run(void (*fn) (void *), void *arg);
extern ErrorData *subxact_catch(void (*fn) (void *), void *arg);
extern void subxact_defaults_reset(void);

/* guard.c: no catalog-changing call from inside another one, or a job */
extern void migrate_guard_begin(const char *function);
extern void migrate_guard_end(void);
extern void migrate_guard_job(void);

/* placeholders.c: ${name} in migration SQL */
extern char *placeholders_check(FunctionCallInfo fcinfo, int argno, const char *what);
extern char *placeholders_apply(const char *sql, const char *values, const char *what);

/* activity.c: what a worker does, in pg_stat_activity */
extern void activity_set_job(int64 job_id);
extern void activity_report(const char *fmt,...) pg_attribute_printf(1, 2);
extern int	activity_sessions_running(void);

/* executing.c: the statements this backend runs, for the online triggers */
struct PlannedStmt;
extern void executing_install(void);
extern bool executing_statement(struct PlannedStmt **plan);
extern int	executing_writes(struct PlannedStmt *plan, Oid relid, bool partitions);

#endif							/* MIGRATE_BASE_H */
