/*-------------------------------------------------------------------------
 *
 * version_check.c
 *	  The versions of migrate's SQL definitions that this library serves.
 *
 * The library reads and writes the catalog tables and is called through
 * function declarations that the extension's scripts created: a library
 * run against the definitions of another version reads columns that are
 * not there, or arguments that were not passed.  So every SQL-callable
 * function, every query of migrate's on its catalog (catalog_exec) and
 * every background worker, before it runs a job, first checks
 * pg_extension.extversion against the versions below, and refuses with a
 * message that names both and says which one to update.
 *
 * The answer is kept until the end of the transaction: ALTER EXTENSION
 * UPDATE is a transaction of its own before the next call, and a check
 * costs one index lookup per transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

#include "base/base.h"
#include "catalog/migrate_catalog.h"

/*
 * The versions of the SQL definitions (sql/migrate--*.sql) this library
 * reads and writes.  1.0's catalog lacks columns that 1.1 uses: it is
 * updated, not served.
 */
static const char *const sql_versions_served[] = {MIGRATE_LIBRARY_VERSION};

/* this transaction found the definitions served */
static bool checked_in_xact = false;
static bool callback_registered = false;

static void
version_check_xact_callback(XactEvent event, void *arg)
{
	/* whatever ends the transaction, the next one looks again */
	checked_in_xact = false;
}

/* pg_extension.extversion of migrate, or NULL if it is not installed. */
static char *
installed_sql_version(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *version = NULL;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("migrate"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_pg_extension_extversion,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = text_to_cstring(DatumGetTextPP(d));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

/*
 * Raise 55000 unless migrate's installed SQL definitions are of a version
 * this library serves.  In a transaction.
 */
void
sql_version_check(void)
{
	char	   *installed;

	if (checked_in_xact)
		return;

	installed = installed_sql_version();
	if (installed == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"migrate\" is not installed in this database"),
				 errhint("Install it with CREATE EXTENSION migrate.")));

	for (int i = 0; i < lengthof(sql_versions_served); i++)
		if (strcmp(installed, sql_versions_served[i]) == 0)
		{
			if (!callback_registered)
			{
				RegisterXactCallback(version_check_xact_callback, NULL);
				callback_registered = true;
			}
			checked_in_xact = true;
			return;
		}

	/* older definitions are updated; newer ones need their own library */
	if (version_valid(installed) &&
		version_cmp(installed, MIGRATE_LIBRARY_VERSION) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migrate's library is version %s but its SQL definitions are version %s",
						MIGRATE_LIBRARY_VERSION, installed),
				 errdetail("This library reads and writes only the catalog of version %s.",
						   MIGRATE_LIBRARY_VERSION),
				 errhint("Update them with ALTER EXTENSION migrate UPDATE.")));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("migrate's library is version %s but its SQL definitions are version %s",
					MIGRATE_LIBRARY_VERSION, installed),
			 errdetail("This library reads and writes only the catalog of version %s.",
					   MIGRATE_LIBRARY_VERSION),
			 errhint("Install the library of migrate %s, or, if it is installed, reconnect (restart the server if migrate is in shared_preload_libraries): a session keeps the library it loaded.",
					 installed)));
}
