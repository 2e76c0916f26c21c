/*-------------------------------------------------------------------------
 *
 * upgrade.c
 *	  Applying and reverting migrations: migrate_upgrade, migrate_downgrade,
 *	  migrate_baseline, migrate_current, and the deploy lock.
 *
 * Transactional migrations run inside the caller's transaction, so one
 * SELECT migrate_upgrade() deploys all of them or none.  Every catalog read
 * made after the deploy lock is taken uses a fresh snapshot (SPI with
 * read_only = false), so a deployer that waited for another one sees what
 * that one committed and applies nothing twice.  Under REPEATABLE READ the
 * FOR UPDATE on the migration rows turns that case into a serialization
 * failure instead.
 *
 *-------------------------------------------------------------------------
 */
#include "migrate.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(migrate_upgrade);
PG_FUNCTION_INFO_V1(migrate_downgrade);
PG_FUNCTION_INFO_V1(migrate_baseline);
PG_FUNCTION_INFO_V1(migrate_current);

/* A migration row, copied out of SPI's result. */
typedef struct MigrationRow
{
	char	   *version;
	char	   *name;
	char	   *kind;
	char	   *up;
	char	   *down;
	bool		transactional;
	char	   *checksum;		/* as stored */
	char	   *computed;		/* of the definition as stored */
} MigrationRow;

#define MIGRATION_COLUMNS \
	"SELECT version, name, kind, up_sql, down_sql, operations::text," \
	"       transactional, checksum FROM migrate.migration "

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
						 MIGRATE_LOCK_KEY2, 2);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/*
 * Look a target version up by its numeric key; raise MG004 if no migration
 * has it.  Returns the version as registered.
 */
char *
lookup_version(const char *version)
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
 * Read migrations: MIGRATION_COLUMNS followed by "where", whose $1 is a
 * version key, or NULL for none.
 */
static MigrationRow *
fetch_migrations(const char *where, const char *key_version, int *count)
{
	Oid			argtypes[1] = {NUMERICARRAYOID};
	Datum		values[1];
	char		nulls[1];
	MigrationRow *rows;
	TupleDesc	tupdesc;

	values[0] = key_version ? version_key_datum(key_version) : (Datum) 0;
	nulls[0] = key_version ? ' ' : 'n';
	if (catalog_exec(psprintf("%s %s", MIGRATION_COLUMNS, where),
					 1, argtypes, values, nulls, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read migrate.migration");

	tupdesc = SPI_tuptable->tupdesc;
	*count = SPI_processed;
	rows = palloc0(sizeof(MigrationRow) * Max(*count, 1));
	for (int i = 0; i < *count; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;

		rows[i].version = SPI_getvalue(tup, tupdesc, 1);
		rows[i].name = SPI_getvalue(tup, tupdesc, 2);
		rows[i].kind = SPI_getvalue(tup, tupdesc, 3);
		rows[i].up = SPI_getvalue(tup, tupdesc, 4);
		rows[i].down = SPI_getvalue(tup, tupdesc, 5);
		rows[i].transactional =
			DatumGetBool(SPI_getbinval(tup, tupdesc, 7, &isnull));
		rows[i].checksum = SPI_getvalue(tup, tupdesc, 8);
		rows[i].computed = migration_checksum(rows[i].kind, rows[i].name,
											  rows[i].up, rows[i].down,
											  SPI_getvalue(tup, tupdesc, 6),
											  rows[i].transactional);
	}
	return rows;
}

/*
 * Refuse to run a migration whose stored definition no longer matches the
 * checksum it was registered with: someone edited the catalog by hand.
 */
static void
check_checksum(MigrationRow *row)
{
	if (strcmp(row->checksum, row->computed) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_MIGRATE_CHECKSUM_MISMATCH),
				 errmsg("definition of migration %s does not match its checksum",
						row->version),
				 errdetail("Registered checksum: %s, checksum of the stored definition: %s.",
						   row->checksum, row->computed),
				 errhint("The catalog was edited outside migrate_register. Register the migration again, or restore migrate.migration.")));
}

/* Set a migration's state; applied ones get their time, actor and duration. */
static void
set_state(const char *version, const char *state, TimestampTz started)
{
	Oid			argtypes[4] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, NAMEOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};

	values[0] = CStringGetTextDatum(version);
	values[1] = CStringGetTextDatum(state);
	values[2] = TimestampTzGetDatum(started);
	nulls[2] = started ? ' ' : 'n';
	values[3] = DirectFunctionCall1(namein, CStringGetDatum(current_actor()));
	if (catalog_exec("UPDATE migrate.migration"
							  "   SET state = $2, last_error = NULL,"
							  "       applied_at = CASE WHEN $2 = 'applied'"
							  "                    THEN clock_timestamp() END,"
							  "       applied_by = CASE WHEN $2 = 'applied'"
							  "                    THEN $4 END,"
							  "       duration = CASE WHEN $2 = 'applied'"
							  "                  THEN clock_timestamp() - $3 END"
							  " WHERE version = $1",
							  4, argtypes, values, nulls, 0) != SPI_OK_UPDATE ||
		SPI_processed != 1)
		elog(ERROR, "could not update state of migration %s", version);
}

static void
put_result(ReturnSetInfo *rsinfo, const char *version, const char *name,
		   const char *action)
{
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	values[0] = CStringGetTextDatum(version);
	values[1] = CStringGetTextDatum(name);
	values[2] = CStringGetTextDatum(action);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * migrate_upgrade(target text DEFAULT NULL)
 *		RETURNS TABLE(version text, name text, action text)
 */
Datum
migrate_upgrade(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *target = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	MigrationRow *rows;
	int			count;

	if (target)
		version_check_arg(target, "target");
	InitMaterializedSRF(fcinfo, 0);

	SPI_connect();
	deploy_lock_acquire();
	if (target)
		target = lookup_version(target);

	rows = fetch_migrations("WHERE state IN ('pending', 'failed')"
							"   AND ($1 IS NULL OR version_key <= $1)"
							" ORDER BY version_key FOR UPDATE",
							target, &count);

	/*
	 * Before running anything, make sure every migration of the run can be
	 * applied here, so that a refusal leaves nothing half-done.
	 */
	for (int i = 0; i < count; i++)
	{
		check_checksum(&rows[i]);
		if (strcmp(rows[i].kind, "sql") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("migration %s is an online migration, which this version of migrate cannot apply",
							rows[i].version),
					 errdetail("Nothing was applied.")));
		if (!rows[i].transactional)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("migration %s is non-transactional and cannot be applied inside the deployer's transaction",
							rows[i].version),
					 errdetail("Nothing was applied."),
					 i > 0 ? errhint("Apply the migrations before it with migrate_upgrade('%s').",
									 rows[i - 1].version) : 0));
	}

	for (int i = 0; i < count; i++)
	{
		TimestampTz started = GetCurrentTimestamp();

		script_run(rows[i].version, rows[i].name, "up", rows[i].up);
		set_state(rows[i].version, "applied", started);
		event_log(rows[i].version, "upgrade", started, NULL, NULL);
		put_result(rsinfo, rows[i].version, rows[i].name, "applied");
	}
	if (count > 0)
		fingerprint_record("upgrade", rows[count - 1].version);

	SPI_finish();
	return (Datum) 0;
}

/*
 * migrate_downgrade(target text)
 *		RETURNS TABLE(version text, name text, action text)
 *
 * Reverts applied migrations above target, newest first.  '0' reverts all.
 */
Datum
migrate_downgrade(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *target;
	bool		all;
	MigrationRow *rows;
	int			count;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("target must not be NULL"),
				 errhint("Use '0' to revert all migrations.")));
	target = text_to_cstring(PG_GETARG_TEXT_PP(0));
	version_check_arg(target, "target");
	/* '0' (or '0.0'...) is before every migration */
	all = strspn(target, "0.") == strlen(target);

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	deploy_lock_acquire();
	if (!all)
		target = lookup_version(target);

	/* online migrations in flight must be rolled back by migrate_rollback */
	{
		Oid			argtypes[1] = {NUMERICARRAYOID};
		Datum		values[1] = {all ? (Datum) 0 : version_key_datum(target)};
		char		nulls[1] = {all ? 'n' : ' '};

		catalog_exec("SELECT version, state FROM migrate.migration"
							  " WHERE state IN ('active', 'ready')"
							  "   AND ($1 IS NULL OR version_key > $1)"
							  " ORDER BY version_key LIMIT 1",
							  1, argtypes, values, nulls, 0);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("online migration %s is %s",
							SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
							SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2)),
					 errhint("Roll it back with migrate_rollback() first.")));
	}

	rows = fetch_migrations("WHERE state = 'applied'"
							"   AND ($1 IS NULL OR version_key > $1)"
							" ORDER BY version_key DESC FOR UPDATE",
							all ? NULL : target, &count);

	/* refuse before anything is reverted */
	for (int i = 0; i < count; i++)
	{
		check_checksum(&rows[i]);
		if (rows[i].down == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_MIGRATE_IRREVERSIBLE),
					 errmsg("migration %s \"%s\" is irreversible",
							rows[i].version, rows[i].name),
					 errdetail("It was registered without down SQL. Nothing was reverted."),
					 errhint("Downgrade to version %s or above.", rows[i].version)));
		if (!rows[i].transactional)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("migration %s is non-transactional and cannot be reverted inside the deployer's transaction",
							rows[i].version),
					 errdetail("Nothing was reverted.")));
	}

	for (int i = 0; i < count; i++)
	{
		TimestampTz started = GetCurrentTimestamp();

		script_run(rows[i].version, rows[i].name, "down", rows[i].down);
		set_state(rows[i].version, "pending", 0);
		event_log(rows[i].version, "downgrade", started, NULL, NULL);
		put_result(rsinfo, rows[i].version, rows[i].name, "reverted");
	}
	if (count > 0)
		fingerprint_record("downgrade", all ? NULL : target);

	SPI_finish();
	return (Datum) 0;
}

/*
 * migrate_baseline(version text) RETURNS integer
 *
 * Marks the registered migrations up to version as applied without running
 * them: how a database that already has that schema adopts migrate.
 */
Datum
migrate_baseline(PG_FUNCTION_ARGS)
{
	char	   *version = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			argtypes[2] = {NUMERICARRAYOID, NAMEOID};
	Datum		values[2];
	int			count;

	version_check_arg(version, "version");

	SPI_connect();
	deploy_lock_acquire();
	version = lookup_version(version);

	values[0] = version_key_datum(version);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(current_actor()));
	if (catalog_exec("UPDATE migrate.migration"
							  "   SET state = 'applied', last_error = NULL,"
							  "       applied_at = clock_timestamp(),"
							  "       applied_by = $2, duration = NULL"
							  " WHERE state IN ('pending', 'failed')"
							  "   AND version_key <= $1"
							  " RETURNING version",
							  2, argtypes, values, NULL, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not baseline migrations");

	count = SPI_processed;
	if (count > 0)
	{
		SPITupleTable *tuptable = SPI_tuptable;

		for (int i = 0; i < count; i++)
			event_log(SPI_getvalue(tuptable->vals[i], tuptable->tupdesc, 1),
					  "baseline", 0, "marked applied without running", NULL);
		fingerprint_record("baseline", version);
	}

	SPI_finish();
	PG_RETURN_INT32(count);
}

/* migrate_current() RETURNS text: the highest applied version, or NULL */
Datum
migrate_current(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	text	   *result = NULL;

	SPI_connect();
	catalog_exec("SELECT version FROM migrate.migration"
				" WHERE state = 'applied'"
				" ORDER BY version_key DESC LIMIT 1", 0, NULL, NULL, NULL, 1);
	if (SPI_processed > 0)
	{
		char	   *version = SPI_getvalue(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1);
		MemoryContext old = MemoryContextSwitchTo(caller);

		result = cstring_to_text(version);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();

	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(result);
}
