/*-------------------------------------------------------------------------
 *
 * deploy.c
 *	  What every catalog-changing call checks first: the deploy lock that
 *	  admits one deployer per database, that no background run is under
 *	  way, and that a version it is given is registered.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lock.h"

#include "base/base.h"
#include "catalog/migrate_catalog.h"

/*
 * Take the transaction-level advisory lock that admits one deployer per
 * database at a time.  It waits for the holder to finish, or fails with
 * 55P03 when the caller's lock_timeout runs out first.
 */
void
deploy_lock_acquire(void)
{
	LOCKTAG		tag;

	/*
	 * A transaction snapshot taken before the lock was granted cannot see
	 * what the previous deployer committed: refuse rather than act on it.
	 */
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("migrate must run in a READ COMMITTED transaction"),
				 errdetail("The transaction is %s, so it could not see what another deployer committed while it waited.",
						   IsolationIsSerializable() ? "SERIALIZABLE" : "REPEATABLE READ"),
				 errhint("Deploy with the default isolation level, READ COMMITTED.")));

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, MIGRATE_LOCK_KEY1,
						 MIGRATE_LOCK_KEY2, MIGRATE_LOCKTAG_FIELD4);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/*
 * Look a target version up by its numeric key; raise MG004 if no migration
 * has it.  Returns the version as registered.
 */
char *
deploy_lookup_version(const char *version)
{
	Oid			argtypes[1] = {NUMERICARRAYOID};
	Datum		values[1] = {version_key_datum(version)};

	catalog_exec("SELECT version FROM migrate.migration"
				 " WHERE version_key = $1",
				 1, argtypes, values, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_MIGRATE_UNKNOWN_VERSION),
				 errmsg("migration version %s is not registered", version)));
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * While a background run of migrations is queued or running, no other
 * deploy may apply, revert or mark anything: it would race the worker.
 */
void
deploy_guard_background_run(void)
{
	catalog_exec("SELECT id FROM migrate.job"
				 " WHERE kind IN ('upgrade', 'downgrade') AND state IN ('queued', 'running')"
				 " ORDER BY id LIMIT 1", 0, NULL, NULL, NULL, 1);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("a background run of migrations is in progress (job %s)",
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errhint("Wait for it with migrate_wait(). If its worker is gone, continue it with migrate_resume(), or stop it with migrate_cancel().")));
}
