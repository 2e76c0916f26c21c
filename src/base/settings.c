/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  migrate's settings (migrate.*): defined once at load, read by every
 *	  layer above.
 *
 * A background worker reads its settings at start and then only between
 * transactions, when the postmaster signalled a reload: settings_reload().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "postmaster/interrupt.h"
#include "utils/guc.h"

#include "base/base.h"

bool		migrate_allow_out_of_order = false;
int			migrate_lock_timeout = 500;
int			migrate_lock_retries = 10;
int			migrate_max_workers = 4;
int			migrate_batch_size = 1000;
int			migrate_batch_target = 100;
int			migrate_batch_delay = 0;
int			migrate_max_replica_lag = 10000;
double		migrate_nice_ratio = 3.0;
int			migrate_max_load = 0;
static int	migrate_check_level = MIGRATE_CHECK_WARN;
static int	migrate_check_legacy = MIGRATE_CHECK_UNSET;
int			migrate_large_table_rows = 10000;
bool		migrate_preloaded = false;

static const struct config_enum_entry check_modes[] = {
	{"off", MIGRATE_CHECK_OFF, false},
	{"warn", MIGRATE_CHECK_WARN, false},
	{"error", MIGRATE_CHECK_ERROR, false},
	{NULL, 0, false}
};

/* migrate.check, the old name: "unset" (hidden) until it is set */
static const struct config_enum_entry legacy_check_modes[] = {
	{"off", MIGRATE_CHECK_OFF, false},
	{"warn", MIGRATE_CHECK_WARN, false},
	{"error", MIGRATE_CHECK_ERROR, false},
	{"unset", MIGRATE_CHECK_UNSET, true},
	{NULL, 0, false}
};

/*
 * What registration does with migrate_check's findings: migrate.check_level,
 * unless the deprecated migrate.check is set (then it still decides, so
 * that configurations written for 1.0 keep their meaning).
 */
int
migrate_check_mode(void)
{
	return migrate_check_legacy != MIGRATE_CHECK_UNSET ? migrate_check_legacy
		: migrate_check_level;
}

/* SHOW migrate.check: the mode in effect, as 1.0 showed it */
static const char *
show_legacy_check(void)
{
	switch (migrate_check_mode())
	{
		case MIGRATE_CHECK_OFF:
			return "off";
		case MIGRATE_CHECK_ERROR:
			return "error";
		default:
			return "warn";
	}
}

/* Defines the settings; _PG_init calls it first. */
void
settings_define(void)
{
	DefineCustomBoolVariable("migrate.allow_out_of_order",
							 "Allows registering a migration older than the highest applied one.",
							 NULL,
							 &migrate_allow_out_of_order,
							 false,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("migrate.lock_timeout",
							"Sets how long each statement of a migration waits for a lock before it is retried.",
							"Zero leaves lock waits to the session's own lock_timeout, without retries.",
							&migrate_lock_timeout,
							500, 0, INT_MAX,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate.lock_retries",
							"Sets how many times a statement that timed out waiting for a lock is retried.",
							NULL,
							&migrate_lock_retries,
							10, 0, 1000,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate.max_workers",
							"Sets how many migrate background workers may run at once.",
							"Jobs over the limit wait in the queue.",
							&migrate_max_workers,
							4, 1, 64,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate.batch_size",
							"Sets the rows of a backfill's first batch.",
							"Later batches grow or shrink to take about migrate.batch_target.",
							&migrate_batch_size,
							1000, 1, INT_MAX,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate.batch_target",
							"Sets how long each backfill batch should take.",
							NULL,
							&migrate_batch_target,
							100, 1, 3600 * 1000,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate.batch_delay",
							"Sets the pause between two backfill batches.",
							NULL,
							&migrate_batch_delay,
							0, 0, 3600 * 1000,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate.max_replica_lag",
							"Sets the standby lag above which backfills pause.",
							"Zero never pauses.  The lag is read from pg_stat_replication, which shows it to members of pg_read_all_stats.",
							&migrate_max_replica_lag,
							10000, 0, INT_MAX,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomRealVariable("migrate.nice_ratio",
							 "Sets how long a backfill pauses after each batch while the server is busy, as a multiple of the batch's time.",
							 "Busy: more than migrate.max_load other sessions are running a statement, or the batches run at under half their best speed.  Zero never slows down.",
							 &migrate_nice_ratio,
							 3.0, 0.0, 100.0,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("migrate.max_load",
							"Sets how many other sessions may be running a statement before a backfill slows down.",
							"Counted in the whole cluster, without what they run; sessions waiting on their client, a timer or an extension do not count.",
							&migrate_max_load,
							0, 0, INT_MAX,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("migrate.check_level",
							 "What migrate_register does with the findings of migrate_check.",
							 "off: nothing; warn: a NOTICE per finding of severity warning or error; error: refuses the migration (MG005).",
							 &migrate_check_level,
							 MIGRATE_CHECK_WARN, check_modes,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	DefineCustomEnumVariable("migrate.check",
							 "Deprecated name of migrate.check_level: when set, it decides instead.",
							 "Kept until version 1.1 is released; check is a keyword, so SQL must quote it.",
							 &migrate_check_legacy,
							 MIGRATE_CHECK_UNSET, legacy_check_modes,
							 PGC_USERSET, GUC_NOT_IN_SAMPLE,
							 NULL, NULL, show_legacy_check);

	DefineCustomIntVariable("migrate.large_table_rows",
							"Sets the row count from which migrate_check takes a table for large.",
							NULL,
							&migrate_large_table_rows,
							10000, 0, INT_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("migrate");
}

/*
 * In a background worker, apply a pending reload of the configuration file,
 * so that ALTER SYSTEM and pg_reload_conf() reach running jobs (a job's own
 * settings, taken from the session that queued it, still win).  Between
 * transactions only, where a backend would do it too.
 */
void
settings_reload(void)
{
	if (!IsBackgroundWorker || !ConfigReloadPending || IsTransactionOrTransactionBlock())
		return;
	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
}
