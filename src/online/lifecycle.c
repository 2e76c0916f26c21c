/*-------------------------------------------------------------------------
 *
 * lifecycle.c
 *	  The life of an online migration: register, start (expand), complete
 *	  (contract), rollback; and its version schema.
 *
 * Start runs in the deployer's transaction (migrate_upgrade): shadow
 * columns under names of their own, a schema of views presenting the new
 * shape, triggers that keep both shapes written, and a background job for
 * what must not block (backfills, validations, concurrent index builds).
 * The old shape is the tables themselves, unchanged for old readers and
 * writers.  Every DDL statement runs under the lock-safe discipline, and
 * each takes its ACCESS EXCLUSIVE lock, if any, only for a catalog change.
 * Complete renames the shadow columns into place and drops what the new
 * shape hides; rollback drops everything start made, so that the schema
 * is as it was.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"

#include "base/base.h"
#include "catalog/migrate_catalog.h"
#include "exec/migrate_exec.h"
#include "jobs/migrate_jobs.h"
#include "engine/migrate_engine.h"
#include "online/online_int.h"

PG_FUNCTION_INFO_V1(migrate_register_online);
PG_FUNCTION_INFO_V1(migrate_complete);
PG_FUNCTION_INFO_V1(migrate_rollback);
PG_FUNCTION_INFO_V1(migrate_version_schema);

/* How long rollback waits for the workers it cancelled to let go. */
#define ROLLBACK_WAIT_MS	30000

/*
 * Whether the document is checked against the catalog at registration.  Not
 * when a registered version below it is not applied yet: its migrations may
 * create the tables and columns that the document names (a whole history
 * registered on a fresh database in one transaction), and start checks the
 * document again in any case.  Nor when this version has started already:
 * the tables no longer have the shape it starts from (a column it added
 * exists), and registering the same definition again is a no-op, another
 * one MG001.
 */
static bool
check_shape_now(const char *version)
{
	Oid			argtypes[1] = {NUMERICARRAYOID};
	Datum		values[1];
	bool		now;

	values[0] = version_key_datum(version);
	SPI_connect();
	catalog_exec("SELECT FROM migrate.migration"
				 " WHERE (version_key < $1 AND state <> 'applied')"
				 "    OR (version_key = $1 AND state NOT IN ('pending', 'rolled_back'))"
				 " LIMIT 1",
				 1, argtypes, values, NULL, 1);
	now = SPI_processed == 0;
	SPI_finish();
	return now;
}

/*
 * migrate_register_online(version text, name text, operations jsonb)
 *		RETURNS text
 *
 * Registers an online migration after checking its whole document; nothing
 * is registered when any of it is wrong.  Its names are checked against the
 * catalog now or at start (check_shape_now).
 */
Datum
migrate_register_online(PG_FUNCTION_ARGS)
{
	char	   *version = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *name = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	Jsonb	   *operations;
	OnlineMigration *m;
	MigrationDefinition def = {0};

	migrate_guard_begin("migrate_register_online");

	register_check_names(version, name);
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("operations must not be NULL")));
	operations = PG_GETARG_JSONB_P(2);
	m = online_parse(version, name, operations, true);
	if (check_shape_now(version))
	{
		ListCell   *lc;

		foreach(lc, online_parts(m))
		{
			(void) online_shape(lfirst(lc), false);
		}
	}

	def.version = version;
	def.name = name;
	def.kind = "online";
	def.operations = JsonbToCString(NULL, &operations->root, VARSIZE(operations));
	def.transactional = true;
	register_definition(&def);
	migrate_guard_end();
	PG_RETURN_TEXT_P(cstring_to_text(version));
}

/*
 * Run one phase (expand, contract, undo) of an online migration under the
 * lock-safe discipline as a whole (locksafe_run_whole): when a statement
 * times out, the whole phase rolls back, letting go of every lock it took,
 * and is tried again after a backoff.  So no lock taken for one table is
 * held while the phase waits for the next one's.
 */
typedef struct PhaseCall
{
	OnlineMigration *m;
	void		(*fn) (OnlineMigration *m, void *arg);
	void	   *arg;
} PhaseCall;

static void
phase_call(void *arg)
{
	PhaseCall  *call = (PhaseCall *) arg;

	call->fn(call->m, call->arg);
}

/* A phase runs as a whole: on a lock timeout it rolls back and runs again. */
static void
run_phase(OnlineMigration *m, const char *phase,
		  void (*fn) (OnlineMigration *m, void *arg), void *arg)
{
	PhaseCall	call = {m, fn, arg};
	const char *version = m->version;
	int			nestlevel = online_phase_begin();

	PG_TRY();
	{
		locksafe_run_whole(&version, phase, phase_call, &call,
						   "cancel the blocker with pg_cancel_backend(), or try again when it is done");
	}
	PG_CATCH();
	{
		online_phase_end(nestlevel, false);
		PG_RE_THROW();
	}
	PG_END_TRY();
	online_phase_end(nestlevel, true);
}

/*
 * The parts (one per schema) of the online migrations a query of versions
 * returns, given version as $1, in its order.
 */
static List *
parts_of(const char *sql, const char *version)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(version)};
	List	   *versions = NIL;
	List	   *parts = NIL;
	ListCell   *lc;

	catalog_exec(sql, 1, argtypes, values, NULL, 0);
	for (uint64 i = 0; i < SPI_processed; i++)
		versions = lappend(versions, SPI_getvalue(SPI_tuptable->vals[i],
												  SPI_tuptable->tupdesc, 1));
	foreach(lc, versions)
	{
		parts = list_concat(parts, online_parts(online_load(lfirst(lc), false, NULL)));
	}
	return parts;
}

/*
 * The online migrations in flight but m, earliest first, with the shapes
 * they give their tables (what the user dropped since taken as gone): one
 * entry per part (per schema) of each.
 */
static List *
flying_others(OnlineMigration *m)
{
	List	   *flying = NIL;
	ListCell   *pc;

	foreach(pc, parts_of("SELECT version FROM migrate.migration"
						 " WHERE kind = 'online' AND state IN ('active', 'ready', 'failed')"
						 "   AND version <> $1 ORDER BY version_key", m->version))
	{
		OnlineFlying *f = palloc0(sizeof(OnlineFlying));

		f->m = lfirst(pc);
		f->shape = online_shape_leftovers(f->m);
		flying = lappend(flying, f);
	}
	return flying;
}

/*
 * The tables an online migration works on (relids, and names as
 * "schema.name" for those it creates or renames), with the tables its
 * foreign keys reference, and every table linked to one of them: by
 * inheritance or partitioning, up and down, or by a foreign key, either
 * way (of the family too).  *all: it cannot say (an sql operation may do
 * anything).  Call it after online_shape, which finds the referenced
 * tables.
 */
static void
migration_tables(OnlineMigration *m, List *shape, List **relids, List **names,
				 bool *all)
{
	ListCell   *lc;
	List	   *linked = NIL;

	*relids = NIL;
	*names = NIL;
	*all = false;
	foreach(lc, m->ops)
	{
		OnlineOp   *op = lfirst(lc);

		if (strcmp(op->methods->name, "sql") == 0)
			*all = true;
	}
	foreach(lc, shape)
	{
		ShapeTable *t = lfirst(lc);

		if (OidIsValid(t->relid))
			*relids = list_append_unique_oid(*relids, t->relid);
		*names = lappend(*names, psprintf("%s.%s", m->schema, t->name));
		*names = lappend(*names, psprintf("%s.%s", m->schema, t->physical));
	}
	foreach(lc, m->referenced)
	{
		*relids = list_append_unique_oid(*relids, lfirst_oid(lc));
	}
	foreach(lc, *relids)
	{
		Oid			argtypes[1] = {OIDOID};
		Datum		values[1] = {ObjectIdGetDatum(lfirst_oid(lc))};

		catalog_exec("WITH RECURSIVE up(r) AS ("
					 "    SELECT $1 UNION SELECT i.inhparent FROM pg_catalog.pg_inherits i"
					 "      JOIN up ON i.inhrelid = up.r),"
					 "  down(r) AS ("
					 "    SELECT $1 UNION SELECT i.inhrelid FROM pg_catalog.pg_inherits i"
					 "      JOIN down ON i.inhparent = down.r),"
					 "  family(r) AS (SELECT r FROM up UNION SELECT r FROM down)"
					 " SELECT r FROM family"
					 " UNION"
					 " SELECT CASE WHEN c.conrelid = f.r THEN c.confrelid ELSE c.conrelid END"
					 "   FROM pg_catalog.pg_constraint c"
					 "   JOIN family f ON c.conrelid = f.r OR c.confrelid = f.r"
					 "  WHERE c.contype = 'f'",
					 1, argtypes, values, NULL, 0);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;

			linked = lappend_oid(linked,
								 DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																SPI_tuptable->tupdesc, 1, &isnull)));
		}
	}
	foreach(lc, linked)
	{
		*relids = list_append_unique_oid(*relids, lfirst_oid(lc));
	}
}

static bool
names_overlap(List *a, List *b)
{
	ListCell   *la;
	ListCell   *lb;

	foreach(la, a)
	{
		foreach(lb, b)
		{
			if (strcmp(lfirst(la), lfirst(lb)) == 0)
				return true;
		}
	}
	return false;
}

typedef struct ShapeCall
{
	OnlineMigration *m;
	List	   *parts;			/* OnlineFlying *, one per part */
} ShapeCall;

static void
shape_of(void *arg)
{
	ShapeCall  *call = (ShapeCall *) arg;
	ListCell   *lc;

	foreach(lc, online_parts(call->m))
	{
		OnlineFlying *f = palloc0(sizeof(OnlineFlying));

		f->m = lfirst(lc);
		f->shape = online_shape(f->m, false);
		call->parts = lappend(call->parts, f);
	}
}

/*
 * The first pending migration, when it is an online migration that can
 * start while the ones in flight go on: none of its tables (those its
 * foreign keys will reference too) is a table of one of them, or linked to
 * one by inheritance, a partition or a foreign key, and neither it nor they
 * have an sql operation.  NULL otherwise, with *blocker the migration in
 * flight it waits for (NULL: it is not an online migration, or there is no
 * pending migration).
 */
char *
online_startable(char **blocker)
{
	char	   *next;
	OnlineMigration *m;
	List	   *relids = NIL;
	List	   *names = NIL;
	bool		all = false;
	ListCell   *lc;

	*blocker = NULL;
	catalog_exec("SELECT version, kind FROM migrate.migration"
				 " WHERE (kind = 'sql' AND state IN ('pending', 'failed'))"
				 "    OR (kind = 'online' AND state IN ('pending', 'rolled_back'))"
				 " ORDER BY version_key LIMIT 1", 0, NULL, NULL, NULL, 1);
	if (SPI_processed == 0 ||
		strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2), "online") != 0)
		return NULL;
	next = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	m = online_load(next, false, NULL);

	/*
	 * A document that does not fit the tables (yet) cannot start: it waits,
	 * as it did when one migration in flight stopped every later one, and its
	 * start says what is wrong with it once the others are done.
	 */
	{
		ShapeCall	call = {m, NIL};
		ErrorData  *edata = subxact_run(shape_of, &call);

		if (edata != NULL)
		{
			if (edata->sqlerrcode != ERRCODE_INVALID_PARAMETER_VALUE)
				ReThrowError(edata);
			FreeErrorData(edata);
			return NULL;
		}
		foreach(lc, call.parts)
		{
			OnlineFlying *f = lfirst(lc);
			List	   *prelids;
			List	   *pnames;
			bool		pall;

			migration_tables(f->m, f->shape, &prelids, &pnames, &pall);
			relids = list_concat_unique_oid(relids, prelids);
			names = list_concat(names, pnames);
			all = all || pall;
		}
	}
	foreach(lc, flying_others(m))
	{
		OnlineFlying *f = lfirst(lc);
		List	   *frelids;
		List	   *fnames;
		bool		fall;
		ListCell   *rc;
		bool		overlap = all;

		migration_tables(f->m, f->shape, &frelids, &fnames, &fall);
		overlap = overlap || fall || names_overlap(names, fnames);
		foreach(rc, relids)
		{
			if (list_member_oid(frelids, lfirst_oid(rc)))
				overlap = true;
		}
		if (overlap)
		{
			*blocker = f->m->version;
			return NULL;
		}
	}
	return next;
}

/*
 * The version schemas of the online migrations in flight or completed but
 * m (their names: a schema may be gone).
 */
static List *
other_vschemas(OnlineMigration *m)
{
	List	   *vschemas = NIL;
	ListCell   *pc;

	foreach(pc, parts_of("SELECT version FROM migrate.migration"
						 " WHERE kind = 'online' AND state IN ('active', 'ready', 'failed', 'applied')"
						 "   AND version <> $1 ORDER BY version_key", m->version))
	{
		vschemas = lappend(vschemas, ((OnlineMigration *) lfirst(pc))->vschema);
	}
	return vschemas;
}

static void vschema_retire(OnlineMigration *ctx, const char *vschema, bool quiet);

/*
 * Record the whole schema fingerprint before a phase locks the migration's
 * tables, and return it for fingerprint_record_after to record again only
 * what the phase changed, under the locks.  Not when an operation runs SQL
 * of the migration's own, which may change anything: then the whole
 * fingerprint is recorded at the end, once the catalog caches are warm.
 */
static Fingerprint *
fingerprint_before(OnlineMigration *m, const char *action)
{
	ListCell   *pc;

	foreach(pc, online_parts(m))
	{
		ListCell   *lc;

		foreach(lc, ((OnlineMigration *) lfirst(pc))->ops)
		{
			if (strcmp(((OnlineOp *) lfirst(lc))->methods->name, "sql") == 0)
			{
				fingerprint_warm();
				return NULL;
			}
		}
	}
	return fingerprint_record_before(action, m->version);
}

/* What expand hands to the background job. */
typedef struct Expanded
{
	StringInfoData steps;
	StringInfoData backfills;
	int64		rows_total;
} Expanded;

/* What start does to one schema's tables (one part of the migration). */
static void
expand_part(OnlineMigration *m, Expanded *x)
{
	List	   *shape = online_shape(m, false);
	ListCell   *lc;

	foreach(lc, m->ops)
	{
		OnlineOp   *op = lfirst(lc);

		CHECK_FOR_INTERRUPTS();
		if (op->methods->start)
			op->methods->start(m, op, &x->steps);
	}

	/* the marker: existing rows need the backfill, rows written since do not */
	foreach(lc, shape)
	{
		ShapeTable *t = lfirst(lc);

		if (!t->backfill)
			continue;
		online_ddl(m, "backfill marker",
				   psprintf("ALTER TABLE %s ADD COLUMN %s boolean DEFAULT true",
							online_rel_sql(t->relid), quote_identifier(ONLINE_MARKER)));
		online_ddl(m, "backfill marker",
				   psprintf("ALTER TABLE %s ALTER COLUMN %s SET DEFAULT false",
							online_rel_sql(t->relid), quote_identifier(ONLINE_MARKER)));
	}

	vschema_create(m, shape, flying_others(m));

	foreach(lc, shape)
	{
		ShapeTable *t = lfirst(lc);

		if (t->sync)
			vschema_create_sync(m, t);
		if (t->backfill)
			online_queue_backfill(&x->backfills, t->relid, &x->rows_total);
	}

	/* what refers to the new shape's names: the views exist now */
	foreach(lc, m->ops)
	{
		OnlineOp   *op = lfirst(lc);

		CHECK_FOR_INTERRUPTS();
		if (op->methods->start_views)
			op->methods->start_views(m, op, &x->steps);
	}
}

/* The expand phase: everything start does to the schema, part by part. */
static void
expand(OnlineMigration *m, void *arg)
{
	Expanded   *x = (Expanded *) arg;
	LockSafeState *ls;
	ListCell   *lc;

	initStringInfo(&x->steps);
	initStringInfo(&x->backfills);
	appendStringInfoChar(&x->steps, '[');
	appendStringInfoChar(&x->backfills, '[');
	x->rows_total = 0;

	ls = locksafe_begin();
	foreach(lc, online_parts(m))
	{
		expand_part(lfirst(lc), x);
	}
	locksafe_end(ls);
	appendStringInfoChar(&x->steps, ']');
	appendStringInfoChar(&x->backfills, ']');
}

/*
 * Start (expand) an online migration in the caller's transaction, and
 * queue its background job.  The caller holds the deploy lock and is
 * connected to SPI.
 */
void
online_start(OnlineMigration *m)
{
	TimestampTz started = GetCurrentTimestamp();
	Expanded	x;
	bool		has_steps;
	Fingerprint *before = fingerprint_before(m, "start");

	run_phase(m, "start", expand, &x);

	has_steps = x.steps.len > 2 || x.backfills.len > 2;
	if (has_steps)
	{
		/* backfills first: validations need the rows filled */
		StringInfoData args;

		initStringInfo(&args);
		appendStringInfo(&args, "{\"settings\": %s, \"backfills\": %s, \"steps\": %s}",
						 worker_settings_json(), x.backfills.data, x.steps.data);
		(void) job_queue("online", m->version, NULL, InvalidOid, x.rows_total, args.data);
	}

	{
		Oid			argtypes[2] = {TEXTOID, TEXTOID};
		Datum		values[2] = {CStringGetTextDatum(m->version),
		CStringGetTextDatum(has_steps ? "active" : "ready")};

		catalog_exec("UPDATE migrate.migration SET state = $2, last_error = NULL,"
					 "       steps_done = 0 WHERE version = $1",
					 2, argtypes, values, NULL, 0);
	}
	{
		StringInfoData vschemas;
		ListCell   *lc;

		initStringInfo(&vschemas);
		foreach(lc, online_parts(m))
		{
			appendStringInfo(&vschemas, "%s%s", vschemas.len > 0 ? ", " : "",
							 ((OnlineMigration *) lfirst(lc))->vschema);
		}
		catalog_event(m->version, "start", started,
					  psprintf("new shape in schema %s%s", vschemas.data,
							   has_steps ? "; background job queued" : ""), NULL);
	}
	fingerprint_record_after(before, "start", m->version);
}

/*
 * The online migration in flight (active, ready, or failed in its
 * background phase), or NULL; *state gets its state.
 */
char *
online_in_flight(char **state)
{
	catalog_exec("SELECT version, state FROM migrate.migration"
				 " WHERE kind = 'online' AND state IN ('active', 'ready', 'failed')"
				 " ORDER BY version_key LIMIT 1", 0, NULL, NULL, NULL, 1);
	if (SPI_processed == 0)
		return NULL;
	if (state)
		*state = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/* The version argument, or the migration in flight; raises 55000 if none. */
static OnlineMigration *
migration_in_flight(FunctionCallInfo fcinfo, char **state)
{
	char	   *version = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (version)
	{
		version_check_arg(version, "version");
		version = deploy_lookup_version(version);
	}
	else
	{
		uint64		n;

		catalog_exec("SELECT version FROM migrate.migration"
					 " WHERE kind = 'online' AND state IN ('active', 'ready', 'failed')"
					 " ORDER BY version_key", 0, NULL, NULL, NULL, 0);
		n = SPI_processed;
		if (n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("no online migration is in flight"),
					 errhint("migrate_upgrade() starts one.")));
		version = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		if (n > 1)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg_plural("%d online migration is in flight",
								   "%d online migrations are in flight",
								   (int) n, (int) n),
					 errdetail("Versions %s to %s.", version,
							   SPI_getvalue(SPI_tuptable->vals[n - 1], SPI_tuptable->tupdesc, 1)),
					 errhint("Name the one to act on, as in migrate_complete('%s').", version)));
	}
	return online_load(version, true, state);
}

static void
drop_markers(OnlineMigration *m, List *shape)
{
	ListCell   *lc;

	foreach(lc, shape)
	{
		ShapeTable *t = lfirst(lc);

		if (t->backfill && OidIsValid(t->relid))
			online_ddl(m, "backfill marker",
					   psprintf("ALTER TABLE %s DROP COLUMN IF EXISTS %s",
								online_rel_sql(t->relid), quote_identifier(ONLINE_MARKER)));
	}
}

/*
 * The end of a migration's flight: its state, an event, the fingerprint.
 * A completed one's duration runs from its start.
 */
static void
finish(OnlineMigration *m, const char *state, const char *action, TimestampTz started,
	   Fingerprint *before)
{
	Oid			argtypes[4] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, NAMEOID};
	Datum		values[4];

	values[0] = CStringGetTextDatum(m->version);
	values[1] = CStringGetTextDatum(state);
	values[2] = TimestampTzGetDatum(started);
	values[3] = DirectFunctionCall1(namein, CStringGetDatum(catalog_actor()));
	catalog_exec("UPDATE migrate.migration"
				 "   SET state = $2, last_error = NULL, steps_done = 0,"
				 "       applied_at = CASE WHEN $2 = 'applied' THEN clock_timestamp() END,"
				 "       applied_by = CASE WHEN $2 = 'applied' THEN $4 END,"
				 "       duration = CASE WHEN $2 = 'applied' THEN clock_timestamp() - coalesce("
				 "           (SELECT max(e.at) FROM migrate.event e"
				 "             WHERE e.version = $1 AND e.action = 'start'), $3) END"
				 " WHERE version = $1",
				 4, argtypes, values, NULL, 0);
	catalog_event(m->version, action, started, NULL, NULL);
	fingerprint_record_after(before, action, m->version);
}

/* The contract phase: the new shape becomes the tables' own. */
/* What complete does to one schema's tables (one part of the migration). */
static void
contract_part(OnlineMigration *m, List *shape)
{
	ListCell   *lc;
	List	   *detached;

	/*
	 * the shape before this one (of the same schema) goes: nothing may use it
	 * any more
	 */
	{
		ListCell   *pc;
		List	   *vschemas = other_vschemas(m);
		List	   *relids = NIL;

		/*
		 * The version schemas of completed migrations before this one, of the
		 * same schema, newest first: one a later migration's views are over
		 * stays until that one's goes; so does one the deployer cannot drop
		 * (vschema_retire).
		 */
		foreach(pc, parts_of("SELECT version FROM migrate.migration"
							 " WHERE kind = 'online' AND state = 'applied'"
							 "   AND version_key < (SELECT version_key FROM migrate.migration"
							 "                       WHERE version = $1)"
							 " ORDER BY version_key DESC", m->version))
		{
			OnlineMigration *previous = lfirst(pc);

			if (strcmp(previous->schema, m->schema) == 0 &&
				OidIsValid(get_namespace_oid(previous->vschema, true)) &&
				!vschema_has_dependents(previous->vschema, vschemas))
				vschema_retire(m, previous->vschema, true);
		}

		/*
		 * The views other version schemas have on this migration's tables
		 * themselves (of migrations in flight that started before it, or of
		 * completed ones kept) show them as they were: made again once
		 * complete has changed them.
		 */
		foreach(lc, shape)
		{
			ShapeTable *t = lfirst(lc);

			if (OidIsValid(t->relid))
				relids = lappend_oid(relids, t->relid);
		}
		detached = vschema_detach(m, relids, vschemas);
	}

	vschema_drop_sync(m, shape);
	foreach(lc, m->ops)
	{
		OnlineOp   *op = lfirst(lc);

		CHECK_FOR_INTERRUPTS();
		if (op->methods->complete)
			op->methods->complete(m, op);
	}
	drop_markers(m, shape);
	vschema_reattach(m, detached);
}

static void
contract(OnlineMigration *m, void *arg)
{
	List	   *shapes = NIL;
	ListCell   *pc;
	ListCell   *sc;
	LockSafeState *ls;

	foreach(pc, online_parts(m))
	{
		OnlineMigration *part = lfirst(pc);
		List	   *shape;
		ListCell   *lc;

		shape = online_shape(part, true);

		/*
		 * Every row must be backfilled: the job may have missed rows moved
		 * behind it, or written since by writers whose triggers do not fire.
		 */
		foreach(lc, shape)
		{
			ShapeTable *t = lfirst(lc);
			char	   *table;

			if (!t->backfill || !online_rows_pending(t->relid))
				continue;
			table = online_rel_sql(t->relid);
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("online migration %s cannot be completed", m->version),
					 errdetail("Table %s has rows not backfilled. Rows written by sessions whose triggers do not fire (session_replication_role = replica), moved by a table rewrite, or brought by a partition attached after the backfill can escape it.",
							   table),
					 errhint("Fill them with UPDATE %s SET %s = false WHERE %s IS NOT FALSE, or undo the migration with migrate_rollback().",
							 table, quote_identifier(ONLINE_MARKER), quote_identifier(ONLINE_MARKER))));
		}

		shapes = lappend(shapes, shape);
	}

	/* what complete needs to know before anything changes */
	foreach(pc, online_parts(m))
	{
		OnlineMigration *part = lfirst(pc);
		ListCell   *lc;

		foreach(lc, part->ops)
		{
			OnlineOp   *op = lfirst(lc);

			if (op->methods->before_complete)
				op->methods->before_complete(part, op);
		}
	}
	ls = locksafe_begin();
	forboth(pc, online_parts(m), sc, shapes)
	{
		contract_part(lfirst(pc), lfirst(sc));
	}
	locksafe_end(ls);
}

typedef struct RetireCall
{
	OnlineMigration *ctx;
	const char *vschema;
} RetireCall;

static void
retire_one(void *arg)
{
	RetireCall *call = (RetireCall *) arg;

	vschema_drop(call->ctx, call->vschema);
}

/*
 * Drops the version schemas that completed online migrations keep for the
 * new application's search_path, before the plain migration (or
 * repeatable) "version" runs.  Once an online migration is completed its
 * new shape is the tables' own, so a session with the version schema first
 * on its search_path finds the same columns in the tables once the schema
 * is gone; but the views of the schema depend on the tables' columns, and
 * would make a plain ALTER COLUMN ... TYPE or DROP COLUMN fail (2BP01).
 * The drop is part of the plain migration's transaction: if it fails, the
 * schema is back.
 */
void
online_retire_shapes(const char *version)
{
	OnlineMigration ctx = {0};
	List	   *vschemas = NIL;
	ListCell   *lc;
	uint64		n;
	SPITupleTable *applied;

	/* the common case, no version schema at all, costs one lookup */
	catalog_exec("SELECT 1 FROM pg_catalog.pg_namespace"
				 " WHERE nspname OPERATOR(pg_catalog.~~) 'migrate\\_%\\_v%'",
				 0, NULL, NULL, NULL, 1);
	if (SPI_processed == 0)
		return;
	catalog_exec("SELECT version FROM migrate.migration"
				 " WHERE kind = 'online' AND state = 'applied'"
				 " ORDER BY version_key DESC", 0, NULL, NULL, NULL, 0);
	n = SPI_processed;
	applied = SPI_tuptable;
	for (uint64 i = 0; i < n; i++)
	{
		OnlineMigration *m = online_load(SPI_getvalue(applied->vals[i],
													  applied->tupdesc, 1),
										 false, NULL);
		ListCell   *pc;

		foreach(pc, online_parts(m))
		{
			OnlineMigration *part = lfirst(pc);

			if (OidIsValid(get_namespace_oid(part->vschema, true)))
				vschemas = lappend(vschemas, part->vschema);
		}
	}

	/* lock waits and retries are reported as the running migration's */
	ctx.version = (char *) (version ? version : "repeatable");
	foreach(lc, vschemas)
		vschema_retire(&ctx, lfirst(lc), false);
}

/*
 * Drops the version schema of a completed online migration (quiet: without
 * a NOTICE that it does).  What the deployer may not drop (a view owned by
 * another role, an object of another role in the schema or over its views)
 * keeps the schema, with a NOTICE, and the caller runs on: without the drop
 * it is as it was before.  So does a lock not granted within
 * migrate.lock_timeout: a session of the new application still reads
 * through the schema, and holds the tables it shows too, so a migration
 * that changes them would wait for it anyway; one that does not must not
 * fail for it.  The next plain migration tries again.  A cancel or anything
 * else is the caller's error.
 */
static void
vschema_retire(OnlineMigration *ctx, const char *vschema, bool quiet)
{
	RetireCall	call = {ctx, vschema};
	ErrorData  *edata;

	if (!quiet)
		ereport(NOTICE,
				(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
				 errmsg("dropping version schema %s of a completed online migration",
						vschema),
				 errdetail("Its views would block changes to the columns they show; the tables have the new shape now.")));
	edata = subxact_run(retire_one, &call);
	if (edata == NULL)
		return;
	if (edata->sqlerrcode != ERRCODE_INSUFFICIENT_PRIVILEGE &&
		edata->sqlerrcode != ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST &&
		edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
		ReThrowError(edata);
	ereport(NOTICE,
			(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
			 errmsg("version schema %s of a completed online migration is kept", vschema),
			 errdetail("Dropping it failed: %s.", edata->message),
			 errhint("Its views block changes to the columns they show: drop it as its owner with DROP SCHEMA %s CASCADE once no application has it on its search_path.",
					 quote_identifier(vschema))));
	FreeErrorData(edata);
}

/*
 * migrate_complete(version text DEFAULT NULL)
 *
 * Contracts the online migration: the new shape becomes the tables' own.
 * Only once its background job is done (state ready).
 */
Datum
migrate_complete(PG_FUNCTION_ARGS)
{
	TimestampTz started = GetCurrentTimestamp();
	OnlineMigration *m;
	char	   *state;
	Fingerprint *before;

	migrate_guard_begin("migrate_complete");

	SPI_connect();
	deploy_lock_acquire();
	m = migration_in_flight(fcinfo, &state);
	if (strcmp(state, "ready") != 0)
	{
		bool		cancelled = false;

		if (strcmp(state, "active") == 0)
		{
			jobs_select(m->version, "'cancelled'", false);
			cancelled = SPI_processed > 0;
			jobs_select(m->version, "'queued', 'running'", false);
			cancelled = cancelled && SPI_processed == 0;
		}
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("online migration %s is %s, not ready", m->version, state),
				 cancelled ?
				 errdetail("Its background job was cancelled.") :
				 strcmp(state, "active") == 0 ?
				 errdetail("Its background job is unfinished.") :
				 strcmp(state, "failed") == 0 ?
				 errdetail("Its background job failed.") :
				 errdetail("Only a started online migration can be completed."),
				 cancelled ?
				 errhint("Continue it with migrate_resume(), then wait for it with migrate_wait().") :
				 strcmp(state, "active") == 0 ?
				 errhint("See migrate.progress, or wait for it with migrate_wait().") :
				 strcmp(state, "failed") == 0 ?
				 errhint("Fix the cause and continue it with migrate_resume(), or undo the migration with migrate_rollback().") : 0));
	}

	before = fingerprint_before(m, "complete");
	run_phase(m, "complete", contract, NULL);
	finish(m, "applied", "complete", started, before);
	SPI_finish();
	migrate_guard_end();
	PG_RETURN_VOID();
}

/*
 * Cancel the jobs of the migration and wait until their workers have let
 * go of them, so that what they worked on can be dropped.
 */
static void
stop_jobs(OnlineMigration *m)
{
	List	   *ids = NIL;
	ListCell   *lc;
	TimestampTz start = GetCurrentTimestamp();

	jobs_select(m->version, "'queued', 'running'", false);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
													 SPI_tuptable->tupdesc, 1, &isnull));
		int64	   *p = palloc(sizeof(int64));

		/* its worker is cancelled below, found by the job's lock */
		*p = id;
		ids = lappend(ids, p);
	}

	/* a failed job of a migration rolled back is over as well */
	{
		Oid			argtypes[1] = {TEXTOID};
		Datum		values[1] = {CStringGetTextDatum(m->version)};

		catalog_exec("UPDATE migrate.job SET state = 'cancelled', updated_at = clock_timestamp()"
					 " WHERE version = $1 AND kind = 'online' AND state = 'failed'",
					 1, argtypes, values, NULL, 0);
	}

	foreach(lc, ids)
	{
		int64		id = *(int64 *) lfirst(lc);
		Oid			argtypes[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(id)};
		int			cancelled_pid = 0;

		while (job_is_live(id))
		{
			/*
			 * A worker that was starting when the jobs were read had no pid
			 * in its row: it would go on, and wait for this transaction's
			 * lock on the migration's row.  The job's lock names it.
			 */
			int			pid = job_worker_pid(id);

			if (pid != 0 && pid != cancelled_pid)
			{
				(void) DirectFunctionCall1(pg_cancel_backend, Int32GetDatum(pid));
				cancelled_pid = pid;
			}
			if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), ROLLBACK_WAIT_MS))
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_IN_USE),
						 errmsg("background job " INT64_FORMAT " of online migration %s is still stopping",
								id, m->version),
						 errhint("Call migrate_rollback() again.")));
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 50, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		catalog_exec("UPDATE migrate.job SET state = 'cancelled', worker_pid = NULL,"
					 "       updated_at = clock_timestamp(), finished_at = clock_timestamp()"
					 " WHERE id = $1 AND state IN ('queued', 'running')",
					 1, argtypes, values, NULL, 0);
	}
}

/* The undo phase: everything start made is dropped, in reverse order. */
static void
undo(OnlineMigration *m, void *arg)
{
	List	   *parts = online_parts(m);
	LockSafeState *ls;

	ls = locksafe_begin();
	for (int p = list_length(parts) - 1; p >= 0; p--)
	{
		OnlineMigration *part = list_nth(parts, p);

		/* what the user dropped since start is gone: the rest is undone */
		List	   *shape = online_shape_leftovers(part);

		vschema_drop_sync(part, shape);
		vschema_drop(part, part->vschema);
		for (int i = list_length(part->ops) - 1; i >= 0; i--)
		{
			OnlineOp   *op = list_nth(part->ops, i);

			CHECK_FOR_INTERRUPTS();
			if (op->methods->rollback)
				op->methods->rollback(part, op);
		}
		drop_markers(part, shape);
	}
	locksafe_end(ls);
}

/*
 * migrate_rollback(version text DEFAULT NULL)
 *
 * Undoes the expand phase of an online migration in flight: its jobs are
 * cancelled and everything start made is dropped, in reverse order.
 */
Datum
migrate_rollback(PG_FUNCTION_ARGS)
{
	TimestampTz started = GetCurrentTimestamp();
	OnlineMigration *m;
	char	   *state;
	Fingerprint *before;
	ListCell   *lc;

	migrate_guard_begin("migrate_rollback");

	SPI_connect();
	deploy_lock_acquire();
	m = migration_in_flight(fcinfo, &state);
	if (strcmp(state, "active") != 0 && strcmp(state, "ready") != 0 &&
		strcmp(state, "failed") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("online migration %s is %s, not in flight", m->version, state),
				 strcmp(state, "applied") == 0 ?
				 errhint("A completed online migration is undone by a new migration.") : 0));
	foreach(lc, m->ops)
	{
		OnlineOp   *op = lfirst(lc);
		const char *why = op->methods->irreversible ? op->methods->irreversible(op) : NULL;

		if (why)
			ereport(ERROR,
					(errcode(ERRCODE_MIGRATE_IRREVERSIBLE),
					 errmsg("online migration %s \"%s\" is irreversible", m->version, m->name),
					 errdetail("%s", why)));
	}

	foreach(lc, online_parts(m))
	{
		OnlineMigration *part = lfirst(lc);

		if (vschema_has_dependents(part->vschema, other_vschemas(m)))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("online migration %s cannot be rolled back", m->version),
					 errdetail("The version schema of a later online migration, started while this one was in flight, shows this one's new shape through views over %s.",
							   part->vschema),
					 errhint("Roll back the later one first; or, if it is completed, drop its version schema with DROP SCHEMA ... CASCADE once no application uses it.")));
	}
	stop_jobs(m);
	before = fingerprint_before(m, "rollback");
	run_phase(m, "rollback", undo, NULL);
	finish(m, "rolled_back", "rollback", started, before);
	SPI_finish();
	migrate_guard_end();
	PG_RETURN_VOID();
}

/*
 * migrate_version_schema(version text DEFAULT NULL) RETURNS name
 *
 * The schema of the views of an online migration's new shape: of the given
 * one, else of the one in flight, else of the latest completed one.
 */
Datum
migrate_version_schema(PG_FUNCTION_ARGS)
{
	char	   *version = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	MemoryContext caller = CurrentMemoryContext;
	OnlineMigration *m;
	char	   *vschema;

	SPI_connect();
	if (version)
	{
		version_check_arg(version, "version");
		version = deploy_lookup_version(version);
	}
	else
	{
		/* the latest in flight: its views show every new shape in flight */
		catalog_exec("SELECT version FROM migrate.migration"
					 " WHERE kind = 'online' AND state IN ('active', 'ready', 'failed')"
					 " ORDER BY version_key DESC LIMIT 1", 0, NULL, NULL, NULL, 1);
		version = SPI_processed > 0 ?
			SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) : NULL;
		if (version == NULL)
		{
			catalog_exec("SELECT version FROM migrate.migration"
						 " WHERE kind = 'online' AND state = 'applied'"
						 " ORDER BY version_key DESC LIMIT 1", 0, NULL, NULL, NULL, 1);
			if (SPI_processed == 0)
			{
				SPI_finish();
				PG_RETURN_NULL();
			}
			version = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		}
	}
	m = online_load(version, false, NULL);
	vschema = MemoryContextStrdup(caller, m->vschema);
	SPI_finish();
	PG_RETURN_DATUM(DirectFunctionCall1(namein, CStringGetDatum(vschema)));
}
