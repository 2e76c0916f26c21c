/*-------------------------------------------------------------------------
 *
 * register.c
 *	  Registration of migrations in migrate.migration: migrate_register,
 *	  migrate_register_repeatable, and the checks every registration makes
 *	  (the SQL parses, migrate_check's findings, the order of versions).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"

#include "base/base.h"
#include "catalog/migrate_catalog.h"
#include "exec/migrate_exec.h"

PG_FUNCTION_INFO_V1(migrate_register);
PG_FUNCTION_INFO_V1(migrate_register_repeatable);

/* Text argument n, or NULL. */
static char *
text_arg(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

static char *
spi_getstr(int row, int col)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

/*
 * Store a definition on an existing migration.  A replacement (new_checksum
 * given) also resets its state and registration; a repair keeps them.
 */
static void
store_definition(const MigrationDefinition *def, const char *new_checksum)
{
	Oid			argtypes[10] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, BOOLOID, TEXTOID, NAMEOID,
	TEXTOID, TEXTOID, TEXTOID};
	Datum		values[10];
	char		nulls[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

	values[0] = CStringGetTextDatum(def->version);
	values[1] = CStringGetTextDatum(def->name);
	values[2] = def->up ? CStringGetTextDatum(def->up) : (Datum) 0;
	nulls[2] = def->up ? ' ' : 'n';
	values[3] = def->down ? CStringGetTextDatum(def->down) : (Datum) 0;
	nulls[3] = def->down ? ' ' : 'n';
	values[4] = BoolGetDatum(def->transactional);
	values[5] = new_checksum ? CStringGetTextDatum(new_checksum) : (Datum) 0;
	nulls[5] = new_checksum ? ' ' : 'n';
	values[6] = DirectFunctionCall1(namein, CStringGetDatum(catalog_actor()));
	values[7] = CStringGetTextDatum(def->kind);
	values[8] = def->operations ? CStringGetTextDatum(def->operations) : (Datum) 0;
	nulls[8] = def->operations ? ' ' : 'n';
	values[9] = def->placeholders ? CStringGetTextDatum(def->placeholders) : (Datum) 0;
	nulls[9] = def->placeholders ? ' ' : 'n';
	if (catalog_exec("UPDATE migrate.migration"
					 "   SET name = $2, kind = $8, up_sql = $3, down_sql = $4,"
					 "       operations = $9::jsonb, transactional = $5,"
					 "       placeholders = $10::jsonb,"
					 "       checksum = coalesce($6, checksum),"
					 "       state = CASE WHEN $6 IS NULL THEN state ELSE 'pending' END,"
					 "       last_error = CASE WHEN $6 IS NULL THEN last_error END,"
					 "       registered_at = CASE WHEN $6 IS NULL THEN registered_at ELSE now() END,"
					 "       registered_by = CASE WHEN $6 IS NULL THEN registered_by ELSE $7 END"
					 " WHERE version = $1",
					 10, argtypes, values, nulls, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not store the definition of migration %s", def->version);
}

/*
 * A run that failed or was cancelled, and that no later run superseded,
 * continues with migrate_resume(), as the role that queued it: only that
 * role (or a member of it) may change what the run will apply.  Then the
 * run's plan takes the new checksum, so that the owner can fix a failed
 * migration and resume.  (While a run is queued or running, nobody may:
 * deploy_guard_background_run.)
 */
static void
run_plan_guard(const char *version, const char *checksum)
{
	Oid			argtypes[3] = {TEXTOID, INT8OID, TEXTOID};
	Datum		values[3];
	int64		job_id;
	char	   *run_as;
	char	   *index;
	Oid			roleid;
	bool		isnull;

	values[0] = CStringGetTextDatum(version);
	catalog_exec("SELECT j.id, j.run_as, e.n - 1, j.state, j.run_as_oid"
				 "  FROM migrate.job j,"
				 "       jsonb_array_elements(j.args -> 'plan') WITH ORDINALITY AS e (p, n)"
				 " WHERE j.kind IN ('upgrade', 'downgrade')"
				 "   AND j.state IN ('queued', 'running', 'failed', 'cancelled')"
				 "   AND e.p ->> 'version' = $1"
				 "   AND NOT EXISTS (SELECT FROM migrate.job l"
				 "                    WHERE l.id > j.id AND l.kind IN ('upgrade', 'downgrade'))"
				 " ORDER BY j.id DESC LIMIT 1 FOR UPDATE OF j",
				 1, argtypes, values, NULL, 0);
	if (SPI_processed == 0)
		return;
	job_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
										 &isnull));
	run_as = spi_getstr(0, 2);
	index = spi_getstr(0, 3);

	/*
	 * The job's role is the one it was queued by, by OID (a role of the same
	 * name created later is another role); a job queued by migrate 1.0 has
	 * only the name.
	 */
	roleid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5,
											&isnull));
	if (isnull)
		roleid = get_role_oid(run_as, true);
	if (!OidIsValid(roleid) || !has_privs_of_role(GetUserId(), roleid))
	{
		if (strcmp(GetUserNameFromId(GetUserId(), false), run_as) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("migration %s belongs to background job " INT64_FORMAT ", which was queued by another role named \"%s\"",
							version, job_id, run_as),
					 errdetail("The job is %s; the role that queued it was dropped or renamed since.",
							   spi_getstr(0, 4)),
					 errhint("Register the change as a new version, or first take the job over with migrate_resume() naming its version.")));
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration %s belongs to background job " INT64_FORMAT ", which runs as role \"%s\"",
						version, job_id, run_as),
				 errdetail("The job is %s; migrate_resume() continues it with the definition it was queued with.",
						   spi_getstr(0, 4)),
				 errhint("Register the change as role \"%s\", or register it as a new version.",
						 run_as)));
	}

	values[0] = CStringGetTextDatum(index);
	values[1] = Int64GetDatum(job_id);
	values[2] = CStringGetTextDatum(checksum);
	catalog_exec("UPDATE migrate.job"
				 "   SET args = jsonb_set(args, ARRAY['plan', $1, 'checksum'], to_jsonb($3))"
				 " WHERE id = $2",
				 3, argtypes, values, NULL, 0);
}

/*
 * A background upgrade run that has not finished (queued, running, or
 * failed or cancelled and resumable, i.e. not superseded by a later run)
 * applies exactly its plan.  A new version that sorts below a migration
 * the run has yet to apply would be skipped by it, left pending below an
 * applied one, and applied out of order by the next deploy: refuse it, as
 * a version below an applied one is.  A run queued by migrate 1.0 has no
 * plan until its worker starts: its target is the highest it applies.
 */
static void
run_order_guard(const char *version, Datum key)
{
	Oid			argtypes[1] = {NUMERICARRAYOID};
	Datum		values[1] = {key};
	char	   *highest;

	catalog_exec("SELECT j.id, j.state, m.version"
				 "  FROM migrate.job j, migrate.migration m"
				 " WHERE j.kind = 'upgrade'"
				 "   AND j.state IN ('queued', 'running', 'failed', 'cancelled')"
				 "   AND NOT EXISTS (SELECT FROM migrate.job l"
				 "                    WHERE l.id > j.id AND l.kind IN ('upgrade', 'downgrade'))"
				 "   AND CASE WHEN jsonb_typeof(j.args -> 'plan') = 'array'"
				 "            THEN m.version IN (SELECT e.p ->> 'version'"
				 "                                 FROM jsonb_array_elements(j.args -> 'plan') AS e (p))"
				 "            ELSE m.version = j.target END"
				 "   AND m.kind = 'sql' AND m.state IN ('pending', 'failed')"
				 "   AND m.version_key >= $1"
				 " ORDER BY m.version_key DESC LIMIT 1",
				 1, argtypes, values, NULL, 0);
	if (SPI_processed == 0)
		return;
	highest = spi_getstr(0, 3);
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("migration %s is older than migration %s, which background job %s has yet to apply",
					version, highest, spi_getstr(0, 1)),
			 errdetail("Job %s is %s and applies only the migrations it was queued with, up to version %s: it would skip %s and apply the ones above it, out of order.",
					   spi_getstr(0, 1), spi_getstr(0, 2), highest, version),
			 errhint("Give it a version above %s. To register it below, first wait for the job with migrate_wait() or cancel it with migrate_cancel(), then set migrate.allow_out_of_order to on.",
					 highest)));
}

/* The version and name of a migration to register must be usable. */
void
register_check_names(const char *version, const char *name)
{
	version_check_arg(version, "version");
	if (strspn(version, "0.") == strlen(version))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("version \"%s\" is reserved", version),
				 errdetail("A version made only of zeros means \"before every migration\", as in migrate_downgrade('0').")));
	if (name == NULL || name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("migration name must not be NULL or empty")));
}

/*
 * migrate_register(version, name, up, down, transactional
 *					[, placeholders jsonb]) returns version
 *
 * Registers a plain SQL migration.  Its SQL is parsed and checked now, as
 * it will run (placeholders replaced), so a syntax error or a forbidden
 * statement is found by the deploy step that registers it, not by the one
 * that applies it.
 */
Datum
migrate_register(PG_FUNCTION_ARGS)
{
	char	   *version = text_arg(fcinfo, 0);
	char	   *name = text_arg(fcinfo, 1);
	char	   *up = text_arg(fcinfo, 2);
	char	   *down = text_arg(fcinfo, 3);
	char	   *placeholders = NULL;
	char	   *what;
	bool		transactional;
	MigrationScript up_script = {0};
	MigrationScript down_script = {0};

	sql_version_check();
	migrate_guard_begin("migrate_register");

	register_check_names(version, name);
	what = psprintf("migration %s", version);
	if (up == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("up SQL of migration %s must not be NULL", version)));
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("transactional must not be NULL")));
	transactional = PG_GETARG_BOOL(4);
	if (PG_NARGS() > 5)
		placeholders = placeholders_check(fcinfo, 5, what);

	up_script.version = down_script.version = version;
	up_script.name = down_script.name = name;
	up_script.direction = "up";
	up_script.sql = placeholders_apply(up, placeholders, what);
	script_parse(&up_script);
	if (up_script.stmts == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("up SQL of migration %s has no statements", version)));
	script_check(&up_script, transactional);
	if (down != NULL)
	{
		down_script.direction = "down";
		down_script.sql = placeholders_apply(down, placeholders, what);
		script_parse(&down_script);
		script_check(&down_script, transactional);
	}

	{
		MigrationDefinition def = {version, name, "sql", up, down, NULL, transactional,
		placeholders};

		register_definition(&def);
	}
	migrate_guard_end();
	PG_RETURN_TEXT_P(cstring_to_text(version));
}

/*
 * Store a checked definition: a new version, the same definition again (a
 * no-op), a repair of an edited catalog row, or a replacement of one that
 * has not been applied.
 */
void
register_definition(const MigrationDefinition *def)
{
	const char *version = def->version;
	TimestampTz started = GetCurrentTimestamp();
	char	   *checksum;
	Datum		key;

	checksum = catalog_checksum(def->kind, def->name, def->up, def->down,
								def->operations, def->transactional);
	key = version_key_datum(version);

	SPI_connect();
	deploy_lock_acquire();

	/* the same version, or one equal to it numerically ("01" and "1") */
	{
		Oid			argtypes[1] = {NUMERICARRAYOID};
		Datum		values[1] = {key};

		catalog_exec("SELECT version, checksum, state, kind, name, up_sql, down_sql,"
					 "       operations::text, transactional, steps_done, placeholders::text"
					 "  FROM migrate.migration WHERE version_key = $1"
					 "   FOR UPDATE",
					 1, argtypes, values, NULL, 1);
	}
	if (SPI_processed > 0)
	{
		char	   *old_version = spi_getstr(0, 1);
		char	   *old_checksum = spi_getstr(0, 2);
		char	   *state = spi_getstr(0, 3);
		char	   *kind = spi_getstr(0, 4);
		bool		isnull;
		char	   *old_placeholders;
		bool		same_placeholders;
		char	   *stored = catalog_checksum(spi_getstr(0, 4), spi_getstr(0, 5),
											  spi_getstr(0, 6), spi_getstr(0, 7),
											  spi_getstr(0, 8),
											  DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
																		 SPI_tuptable->tupdesc,
																		 9, &isnull)));

		if (strcmp(old_version, version) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("version \"%s\" is the same as registered version \"%s\"",
							version, old_version),
					 errdetail("Versions compare numerically, segment by segment.")));

		old_placeholders = spi_getstr(0, 11);
		same_placeholders = (old_placeholders == NULL) == (def->placeholders == NULL) &&
			(old_placeholders == NULL || strcmp(old_placeholders, def->placeholders) == 0);

		if (strcmp(old_checksum, checksum) == 0 && strcmp(stored, checksum) == 0 &&
			!same_placeholders)
		{
			/*
			 * Same SQL, other values: the values are this database's, not
			 * part of the definition, so even an applied migration takes them
			 * (for a downgrade).  A background run about to apply it must not
			 * see them change, nor any role but the one that queued a run it
			 * left unfinished.
			 */
			if (DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											10, &isnull)) > 0)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("migration %s is partly applied and its placeholder values have changed",
								version),
						 errhint("Let migrate_resume() finish it with the values it started with.")));
			deploy_guard_background_run();
			run_plan_guard(version, checksum);
			store_definition(def, NULL);
			catalog_event(version, "register", started,
						  def->placeholders ? psprintf("placeholder values replaced: %s", def->placeholders) :
						  pstrdup("placeholder values removed"), NULL);
			SPI_finish();
			return;
		}

		if (strcmp(old_checksum, checksum) == 0 && strcmp(stored, checksum) == 0)
		{
			/* same definition: re-running a deploy script is a no-op */
			SPI_finish();
			return;
		}

		if (strcmp(old_checksum, checksum) == 0)
		{
			/*
			 * The registered definition, edited in the catalog since: the
			 * definition that matches the checksum is put back.
			 */
			store_definition(def, NULL);
			catalog_event(version, "repair", started,
						  psprintf("definition restored to match checksum %s (the stored one had checksum %s)",
								   checksum, stored), NULL);
			SPI_finish();
			return;
		}

		/*
		 * part of it ran already: it must not change under the next
		 * statements
		 */
		if (DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										10, &isnull)) > 0)
			ereport(ERROR,
					(errcode(ERRCODE_MIGRATE_CHECKSUM_MISMATCH),
					 errmsg("migration %s is partly applied and its definition has changed",
							version),
					 errdetail("%s of its statements ran in the background. Registered checksum: %s, new checksum: %s.",
							   spi_getstr(0, 10), old_checksum, checksum),
					 errhint("Let migrate_resume() finish it, then register the change as a new version.")));
		/* a background run that is about to apply it must not see it change */
		deploy_guard_background_run();

		/* an online migration that failed is still expanded */
		if (strcmp(state, "pending") != 0 && strcmp(state, "rolled_back") != 0 &&
			(strcmp(state, "failed") != 0 || strcmp(kind, "online") == 0))
			ereport(ERROR,
					(errcode(ERRCODE_MIGRATE_CHECKSUM_MISMATCH),
					 errmsg("migration %s is %s and its definition has changed",
							version, state),
					 errdetail("Registered checksum: %s, new checksum: %s.",
							   old_checksum, checksum),
					 errhint("An applied migration must not change: register the change as a new version.")));

		/* not applied yet: the new definition replaces the old one */
		run_plan_guard(version, checksum);
		if (strcmp(def->kind, "sql") == 0)
			check_at_registration(psprintf("migration %s", version),
								  placeholders_apply(def->up, def->placeholders,
													 psprintf("migration %s", version)));
		store_definition(def, checksum);
		catalog_event(version, "register", started,
					  psprintf("definition replaced (checksum %s, was %s)",
							   checksum, old_checksum), NULL);
		SPI_finish();
		return;
	}

	/* a new version must not sort below what is already applied */
	if (!migrate_allow_out_of_order)
	{
		Oid			argtypes[1] = {NUMERICARRAYOID};
		Datum		values[1] = {key};

		/*
		 * Only versions above this one can make it out of order, and a
		 * history registered in order has none: the bound keeps the scan of
		 * the version_key index from walking past every pending migration,
		 * which made registering N pending migrations O(N^2). version_key
		 * sorts as version_cmp does, and no row has this key.
		 */
		catalog_exec("SELECT version FROM migrate.migration"
					 " WHERE state IN ('applied', 'active', 'ready')"
					 "   AND version_key > $1"
					 " ORDER BY version_key DESC LIMIT 1",
					 1, argtypes, values, NULL, 1);
		if (SPI_processed > 0)
		{
			char	   *highest = spi_getstr(0, 1);

			if (version_cmp(version, highest) < 0)
				ereport(ERROR,
						(errcode(ERRCODE_MIGRATE_OUT_OF_ORDER),
						 errmsg("migration %s is older than applied migration %s",
								version, highest),
						 errdetail("Registering it would apply it out of order."),
						 errhint("Give it a version above %s, or set migrate.allow_out_of_order to on.",
								 highest)));
		}
		run_order_guard(version, key);
	}

	/* migrate.check_level: findings about the new SQL, before it is stored */
	if (strcmp(def->kind, "sql") == 0)
		check_at_registration(psprintf("migration %s", version),
							  placeholders_apply(def->up, def->placeholders,
												 psprintf("migration %s", version)));

	{
		Oid			argtypes[11] = {TEXTOID, NUMERICARRAYOID, TEXTOID, TEXTOID,
		TEXTOID, BOOLOID, TEXTOID, NAMEOID, TEXTOID, TEXTOID, TEXTOID};
		Datum		values[11];
		char		nulls[11] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

		values[0] = CStringGetTextDatum(version);
		values[1] = key;
		values[2] = CStringGetTextDatum(def->name);
		values[3] = def->up ? CStringGetTextDatum(def->up) : (Datum) 0;
		nulls[3] = def->up ? ' ' : 'n';
		values[4] = def->down ? CStringGetTextDatum(def->down) : (Datum) 0;
		nulls[4] = def->down ? ' ' : 'n';
		values[5] = BoolGetDatum(def->transactional);
		values[6] = CStringGetTextDatum(checksum);
		values[7] = DirectFunctionCall1(namein, CStringGetDatum(catalog_actor()));
		values[8] = CStringGetTextDatum(def->kind);
		values[9] = def->operations ? CStringGetTextDatum(def->operations) : (Datum) 0;
		nulls[9] = def->operations ? ' ' : 'n';
		values[10] = def->placeholders ? CStringGetTextDatum(def->placeholders) : (Datum) 0;
		nulls[10] = def->placeholders ? ' ' : 'n';
		if (catalog_exec("INSERT INTO migrate.migration"
						 " (version, version_key, name, kind, up_sql,"
						 "  down_sql, transactional, checksum, registered_by, operations,"
						 "  placeholders)"
						 " VALUES ($1, $2, $3, $9, $4, $5, $6, $7, $8, $10::jsonb, $11::jsonb)",
						 11, argtypes, values, nulls, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not register migration %s", version);
	}
	catalog_event(version, "register", started, psprintf("checksum %s", checksum), NULL);

	SPI_finish();
	return;
}

/*
 * migrate_register_repeatable(name, up, placeholders jsonb DEFAULT NULL)
 *		returns name
 *
 * Registers a repeatable migration, or replaces its SQL: unlike a
 * versioned one it may always change, and migrate_upgrade applies it again
 * at the end of its run whenever its checksum is not the one last applied.
 * Its SQL is checked now as a transactional migration's is.
 */
Datum
migrate_register_repeatable(PG_FUNCTION_ARGS)
{
	char	   *name = text_arg(fcinfo, 0);
	char	   *up = text_arg(fcinfo, 1);
	char	   *placeholders;
	char	   *what;
	char	   *checksum;
	char	   *old_checksum = NULL;
	MigrationScript script = {0};
	TimestampTz started = GetCurrentTimestamp();
	Oid			argtypes[5] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, NAMEOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	sql_version_check();
	migrate_guard_begin("migrate_register_repeatable");

	if (name == NULL || name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("repeatable migration name must not be NULL or empty")));
	what = psprintf("repeatable migration \"%s\"", name);
	if (up == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("up SQL of %s must not be NULL", what)));
	placeholders = placeholders_check(fcinfo, 2, what);

	script.version = NULL;
	script.name = name;
	script.direction = "up";
	script.sql = placeholders_apply(up, placeholders, what);
	script_parse(&script);
	if (script.stmts == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("up SQL of %s has no statements", what)));
	script_check(&script, true);

	/*
	 * Unlike a versioned migration's, the values count: a repeatable one runs
	 * again when what it runs changes, and nothing refuses a change.
	 */
	checksum = catalog_checksum("repeatable", name, up, NULL, placeholders, true);

	SPI_connect();
	deploy_lock_acquire();

	values[0] = CStringGetTextDatum(name);
	catalog_exec("SELECT checksum, placeholders::text, up_sql"
				 "  FROM migrate.repeatable WHERE name = $1 FOR UPDATE",
				 1, argtypes, values, NULL, 1);
	if (SPI_processed > 0)
	{
		char	   *stored = catalog_checksum("repeatable", name, spi_getstr(0, 3),
											  NULL, spi_getstr(0, 2), true);

		old_checksum = spi_getstr(0, 1);
		if (strcmp(old_checksum, checksum) == 0 && strcmp(stored, checksum) == 0)
		{
			/* the same again: re-running a deploy script is a no-op */
			SPI_finish();
			migrate_guard_end();
			PG_RETURN_TEXT_P(cstring_to_text(name));
		}
	}

	check_at_registration(what, script.sql);

	values[1] = CStringGetTextDatum(up);
	values[2] = CStringGetTextDatum(checksum);
	values[3] = placeholders ? CStringGetTextDatum(placeholders) : (Datum) 0;
	nulls[3] = placeholders ? ' ' : 'n';
	values[4] = DirectFunctionCall1(namein, CStringGetDatum(catalog_actor()));
	if (catalog_exec("INSERT INTO migrate.repeatable AS r"
					 " (name, up_sql, checksum, placeholders, registered_by)"
					 " VALUES ($1, $2, $3, $4::jsonb, $5)"
					 " ON CONFLICT (name) DO UPDATE"
					 "   SET up_sql = $2, checksum = $3, placeholders = $4::jsonb,"
					 "       registered_at = now(), registered_by = $5, last_error = NULL",
					 5, argtypes, values, nulls, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not register repeatable migration \"%s\"", name);
	catalog_event_repeatable(name, "register", started,
							 old_checksum == NULL ? psprintf("checksum %s", checksum) :
							 strcmp(old_checksum, checksum) == 0 ?
							 psprintf("definition restored to match checksum %s", checksum) :
							 psprintf("definition replaced (checksum %s, was %s)",
									  checksum, old_checksum), NULL);
	SPI_finish();
	migrate_guard_end();
	PG_RETURN_TEXT_P(cstring_to_text(name));
}
