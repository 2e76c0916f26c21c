/*-------------------------------------------------------------------------
 *
 * verify.c
 *	  migrate_verify: does a migration's down really reverse its up?
 *	  migrate_validate: has anything drifted since the last migration?
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/resowner.h"

#include "base/base.h"
#include "catalog/migrate_catalog.h"
#include "exec/migrate_exec.h"
#include "jobs/migrate_jobs.h"
#include "engine/migrate_engine.h"
#include "online/online.h"

PG_FUNCTION_INFO_V1(migrate_verify);
PG_FUNCTION_INFO_V1(migrate_validate);

/* At most this many differing objects are listed in an error's DETAIL. */
#define MAX_LISTED 50

typedef struct DiffList
{
	StringInfoData buf;
	int			n;
	const char *gone;			/* how to say "before, not after" */
	const char *came;			/* how to say "after, not before" */
} DiffList;

static void
note_difference(SchemaObject *before, SchemaObject *after, void *arg)
{
	DiffList   *d = (DiffList *) arg;

	if (d->n++ >= MAX_LISTED)
		return;
	if (d->buf.len > 0)
		appendStringInfoChar(&d->buf, '\n');
	if (after == NULL)
		appendStringInfo(&d->buf, "%s %s: %s", before->kind, before->object, d->gone);
	else if (before == NULL)
		appendStringInfo(&d->buf, "%s %s: %s", after->kind, after->object, d->came);
	else
		appendStringInfo(&d->buf, "%s %s: was \"%s\", is \"%s\"",
						 after->kind, after->object, before->definition,
						 after->definition);
}

static void
diff_init(DiffList *d, const char *gone, const char *came)
{
	initStringInfo(&d->buf);
	d->n = 0;
	d->gone = gone;
	d->came = came;
}

static char *
diff_detail(DiffList *d)
{
	if (d->n > MAX_LISTED)
		appendStringInfo(&d->buf, "\n... and %d more", d->n - MAX_LISTED);
	return d->buf.data;
}

/*
 * migrate_verify(version text) RETURNS boolean
 *
 * Inside a subtransaction that is always rolled back: applies the pending
 * migrations below version, then runs version's up, down and up again.  The
 * schema after down must equal the schema before up, and the second up must
 * produce the schema the first one did.  Returns true, or raises 42P17 with
 * a DETAIL listing every object that differs.
 */
Datum
migrate_verify(PG_FUNCTION_ARGS)
{
	char	   *version = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	MemoryContext oldcontext;
	ResourceOwner oldowner;
	char	   *name;
	char	   *up;
	char	   *down;
	int			npred;
	char	  **pred_version;
	char	  **pred_name;
	char	  **pred_up;
	DiffList	down_diff;
	DiffList	redo_diff;

	sql_version_check();
	migrate_guard_begin("migrate_verify");

	version_check_arg(version, "version");

	SPI_connect();
	deploy_lock_acquire();
	deploy_guard_background_run();
	version = deploy_lookup_version(version);

	{
		Oid			argtypes[1] = {TEXTOID};
		Datum		values[1] = {CStringGetTextDatum(version)};
		HeapTuple	tup;
		TupleDesc	desc;
		bool		isnull;
		char	   *state;
		char	   *kind;
		bool		transactional;

		catalog_exec("SELECT name, state, kind, up_sql, down_sql, transactional,"
					 "       placeholders::text"
					 "  FROM migrate.migration WHERE version = $1",
					 1, argtypes, values, NULL, 1);
		tup = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		name = SPI_getvalue(tup, desc, 1);
		state = SPI_getvalue(tup, desc, 2);
		kind = SPI_getvalue(tup, desc, 3);
		up = SPI_getvalue(tup, desc, 4);
		down = SPI_getvalue(tup, desc, 5);
		transactional = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
		/* verified as it will run: placeholders replaced */
		up = placeholders_apply(up, SPI_getvalue(tup, desc, 7),
								psprintf("migration %s", version));
		down = placeholders_apply(down, SPI_getvalue(tup, desc, 7),
								  psprintf("migration %s", version));

		if (strcmp(state, "pending") != 0 && strcmp(state, "failed") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("migration %s is %s", version, state),
					 errdetail("Only a migration that is not applied yet can be verified."),
					 errhint("To check an applied one, downgrade below it first, in a copy of the database.")));
		if (strcmp(kind, "sql") != 0 || !transactional)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("migration %s cannot be verified inside a transaction", version),
					 errdetail("Only transactional SQL migrations can be verified.")));
		if (down == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_MIGRATE_IRREVERSIBLE),
					 errmsg("migration %s \"%s\" is irreversible", version, name),
					 errdetail("It was registered without down SQL, so there is nothing to verify.")));
	}

	/* the pending migrations it builds on */
	{
		Oid			argtypes[1] = {NUMERICARRAYOID};
		Datum		values[1] = {version_key_datum(version)};

		catalog_exec("SELECT version, name, up_sql, kind = 'sql' AND transactional,"
					 "       placeholders::text"
					 "  FROM migrate.migration"
					 " WHERE state IN ('pending', 'failed') AND version_key < $1"
					 " ORDER BY version_key",
					 1, argtypes, values, NULL, 0);
		npred = SPI_processed;
		pred_version = palloc(sizeof(char *) * Max(npred, 1));
		pred_name = palloc(sizeof(char *) * Max(npred, 1));
		pred_up = palloc(sizeof(char *) * Max(npred, 1));
		for (int i = 0; i < npred; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;

			pred_version[i] = SPI_getvalue(tup, desc, 1);
			pred_name[i] = SPI_getvalue(tup, desc, 2);
			pred_up[i] = placeholders_apply(SPI_getvalue(tup, desc, 3),
											SPI_getvalue(tup, desc, 5),
											psprintf("migration %s", pred_version[i]));
			if (!DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull)))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("migration %s cannot be verified before migration %s is applied",
								version, pred_version[i]),
						 errdetail("Migration %s cannot run inside a transaction.",
								   pred_version[i])));
		}
	}

	diff_init(&down_diff, "dropped by up and down", "left behind by down");
	diff_init(&redo_diff, "made by the first up, not by the second", "made by the second up, not by the first");

	oldcontext = CurrentMemoryContext;
	oldowner = CurrentResourceOwner;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		Fingerprint *before,
				   *after_up,
				   *after_down,
				   *after_redo;

		for (int i = 0; i < npred; i++)
			script_run(pred_version[i], pred_name[i], "up", pred_up[i]);

		before = fingerprint_take();
		script_run(version, name, "up", up);
		after_up = fingerprint_take();
		script_run(version, name, "down", down);
		after_down = fingerprint_take();
		if (fingerprint_diff(before, after_down, note_difference, &down_diff) == 0)
		{
			script_run(version, name, "up", up);
			after_redo = fingerprint_take();
			fingerprint_diff(after_up, after_redo, note_difference, &redo_diff);
		}
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcontext);
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		PG_RE_THROW();
	}
	PG_END_TRY();

	/* whatever happened, none of it stays */
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(oldcontext);
	CurrentResourceOwner = oldowner;

	if (down_diff.n > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("down SQL of migration %s \"%s\" does not restore the schema",
						version, name),
				 errdetail_plural("%d object differs after up and down:\n%s",
								  "%d objects differ after up and down:\n%s",
								  down_diff.n, down_diff.n, diff_detail(&down_diff))));
	if (redo_diff.n > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("migration %s \"%s\" does not apply the same way after its down SQL",
						version, name),
				 errdetail_plural("%d object differs between the first and the second up:\n%s",
								  "%d objects differ between the first and the second up:\n%s",
								  redo_diff.n, redo_diff.n, diff_detail(&redo_diff))));

	catalog_event(version, "verify", 0, "up, down and up again leave the schema as expected", NULL);
	SPI_finish();
	migrate_guard_end();
	PG_RETURN_BOOL(true);
}

static void
put_drift(ReturnSetInfo *rsinfo, const char *kind, const char *object,
		  const char *detail)
{
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	values[0] = CStringGetTextDatum(kind);
	values[1] = CStringGetTextDatum(object);
	values[2] = CStringGetTextDatum(detail);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

static void
report_drift(SchemaObject *before, SchemaObject *after, void *arg)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) arg;

	if (after == NULL)
		put_drift(rsinfo, "dropped",
				  psprintf("%s %s", before->kind, before->object),
				  psprintf("was: %s", before->definition));
	else if (before == NULL)
		put_drift(rsinfo, "created",
				  psprintf("%s %s", after->kind, after->object),
				  psprintf("is: %s", after->definition));
	else
		put_drift(rsinfo, "changed",
				  psprintf("%s %s", after->kind, after->object),
				  psprintf("was: %s; is: %s", before->definition, after->definition));
}

/*
 * migrate_validate() RETURNS TABLE(kind text, object text, detail text)
 *
 * One row per drift: an applied migration whose definition no longer
 * matches its checksum ('checksum'), and each schema object created,
 * dropped or changed since the fingerprint recorded by the last upgrade,
 * downgrade or baseline ('created', 'dropped', 'changed').
 */
Datum
migrate_validate(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Fingerprint *recorded;

	sql_version_check();
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();

	/* definitions edited in the catalog behind migrate's back */
	catalog_exec("SELECT version, kind, name, up_sql, down_sql, operations::text,"
				 "       transactional, checksum"
				 "  FROM migrate.migration"
				 " WHERE state IN ('applied', 'active', 'ready')"
				 " ORDER BY version_key", 0, NULL, NULL, NULL, 0);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *stored = SPI_getvalue(tup, desc, 8);
		char	   *computed;

		computed = catalog_checksum(SPI_getvalue(tup, desc, 2),
									SPI_getvalue(tup, desc, 3),
									SPI_getvalue(tup, desc, 4),
									SPI_getvalue(tup, desc, 5),
									SPI_getvalue(tup, desc, 6),
									DatumGetBool(SPI_getbinval(tup, desc, 7, &isnull)));
		if (strcmp(stored, computed) != 0)
			put_drift(rsinfo, "checksum",
					  psprintf("migration %s", SPI_getvalue(tup, desc, 1)),
					  psprintf("applied with checksum %s, its definition now has checksum %s",
							   stored, computed));
	}

	recorded = fingerprint_recorded();
	if (recorded == NULL)
		ereport(NOTICE,
				(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
				 errmsg("no schema fingerprint has been recorded yet"),
				 errdetail("One is recorded by every migrate_upgrade, migrate_downgrade and migrate_baseline that changes something.")));
	else
		fingerprint_diff(recorded, fingerprint_take(), report_drift, rsinfo);

	SPI_finish();
	return (Datum) 0;
}
