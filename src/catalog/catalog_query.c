/*-------------------------------------------------------------------------
 *
 * catalog_query.c
 *	  How migrate's own queries on its catalog run.
 *
 * Every internal query (on migrate.*, and the schema fingerprint) runs as
 * the owner of the extension's catalog, with search_path pinned to
 * pg_catalog and in a security-restricted context:
 *
 *	- the deploy role needs no privilege on the catalog tables, so it cannot
 *	  rewrite a migration's SQL or the history behind migrate's back;
 *	- no operator or function of the caller's search_path can be picked up
 *	  by these queries and so run with the owner's privileges.
 *
 * Migration SQL never runs this way: it runs as the caller (locksafe.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "base/base.h"
#include "catalog/migrate_catalog.h"

/* The owner of migrate.migration, i.e. of the extension's catalog. */
static Oid
catalog_owner(void)
{
	Oid			nspid = get_namespace_oid("migrate", false);
	Oid			relid = get_relname_relid("migration", nspid);
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("catalog table migrate.migration does not exist"),
				 errhint("Reinstall the extension: DROP EXTENSION migrate, then CREATE EXTENSION migrate.")));
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Until catalog_path_unpin: names resolve in pg_catalog only (pg_temp is
 * searched for relations only, never for functions or operators).  For
 * migrate's queries that run as the caller, not as the catalog's owner.
 */
int
catalog_path_pin(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

void
catalog_path_unpin(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}

/*
 * SPI_execute_with_args for migrate's own queries, with a fresh snapshot
 * (never read_only: a deployer that waited for the deploy lock must see what
 * the other one committed).  The caller is connected to SPI.
 */
int
catalog_exec(const char *sql, int nargs, Oid *argtypes, Datum *values,
			 const char *nulls, long count)
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	int			rc;

	/* no query on a catalog of another version's shape */
	sql_version_check();
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(catalog_owner(),
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	rc = SPI_execute_with_args(sql, nargs, argtypes, values, nulls, false, count);

	/* an error rolls all of this back with the (sub)transaction */
	AtEOXact_GUC(true, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return rc;
}
