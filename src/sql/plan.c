/*-------------------------------------------------------------------------
 *
 * plan.c
 *	  migrate_plan: what migrate_upgrade would do now, statement by
 *	  statement, with the locks each statement takes and migrate_check's
 *	  findings, changing nothing.
 *
 * The plan follows migrate_upgrade's rules (upgrade.c): the pending
 * migrations up to the target in version order; nothing while an online
 * migration is in flight; in the caller's transaction up to the first
 * non-transactional migration, handed to a background run from there on;
 * the first online migration started and the rest left waiting for its
 * completion; the repeatable migrations at the end of a run that reaches
 * its end; while a background run is queued or running, its migrations are
 * its own and the others wait.  It takes no deploy lock and writes
 * nothing, so it works in a READ ONLY transaction; what it shows is what
 * the catalog holds as it runs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "base/base.h"
#include "catalog/migrate_catalog.h"
#include "exec/migrate_exec.h"
#include "jobs/migrate_jobs.h"
#include "engine/migrate_engine.h"
#include "online/online.h"

PG_FUNCTION_INFO_V1(migrate_plan);

/* A pending migration, copied out of SPI's result. */
typedef struct PlanMigration
{
	char	   *version;
	char	   *name;
	char	   *kind;
	char	   *up;
	char	   *operations;
	bool		transactional;
	char	   *placeholders;	/* jsonb text, or NULL */
} PlanMigration;

typedef struct PlanOutput
{
	ReturnSetInfo *rsinfo;
	const char *version;		/* NULL: a repeatable */
	const char *name;
	const char *runs;
} PlanOutput;

static Datum
text_array(List *strings)
{
	Datum	   *elems;
	int			n = list_length(strings);
	ListCell   *lc;

	if (n == 0)
		return PointerGetDatum(construct_empty_array(TEXTOID));
	elems = palloc(sizeof(Datum) * n);
	foreach(lc, strings)
	{
		elems[foreach_current_index(lc)] = CStringGetTextDatum(lfirst(lc));
	}
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* statement 0: NULL (the whole text, which does not parse) */
static void
put_row(PlanOutput *out, int statement, const char *sql, List *locks,
		List *findings)
{
	Datum		values[7];
	bool		nulls[7] = {false, false, false, false, false, false, false};

	values[0] = out->version ? CStringGetTextDatum(out->version) : (Datum) 0;
	nulls[0] = out->version == NULL;
	values[1] = CStringGetTextDatum(out->name);
	values[2] = CStringGetTextDatum(out->runs);
	values[3] = Int32GetDatum(statement);
	nulls[3] = statement == 0;
	values[4] = CStringGetTextDatum(sql);
	values[5] = text_array(locks);
	values[6] = text_array(findings);
	tuplestore_putvalues(out->rsinfo->setResult, out->rsinfo->setDesc, values, nulls);
}

/* text without the white space around it */
static char *
trimmed(const char *str)
{
	const char *end;

	while (isspace((unsigned char) *str))
		str++;
	end = str + strlen(str);
	while (end > str && isspace((unsigned char) end[-1]))
		end--;
	return pnstrdup(str, end - str);
}

typedef struct ParseCall
{
	const char *sql;
	List	   *stmts;
} ParseCall;

static void
parse_call(void *arg)
{
	ParseCall  *call = (ParseCall *) arg;

	call->stmts = raw_parser(call->sql, RAW_PARSE_DEFAULT);
}

/* Names the statement an error (a lookup of a relation) is about. */
typedef struct PlanErrorArg
{
	PlanOutput *out;
	int			statement;
	int			count;
} PlanErrorArg;

static void
plan_error_callback(void *arg)
{
	PlanErrorArg *e = (PlanErrorArg *) arg;

	if (e->out->version == NULL)
		errcontext("planning repeatable migration \"%s\"", e->out->name);
	else if (e->statement == 0)
		errcontext("planning migration %s \"%s\", up SQL", e->out->version, e->out->name);
	else
		errcontext("planning migration %s \"%s\", up statement %d of %d",
				   e->out->version, e->out->name, e->statement, e->count);
}

/*
 * The rows of a migration's SQL: one per statement, with its locks and
 * findings.  SQL that does not parse (a hand-edited catalog, or, once
 * placeholders are replaced, a value that breaks it) is one row without a
 * statement number, whose finding says why: a plan shows what is wrong
 * with every migration rather than stop at the first.
 */
static void
plan_sql(PlanOutput *out, const char *sql)
{
	ParseCall	call = {sql, NIL};
	ErrorData  *edata = subxact_run(parse_call, &call);
	List	  **locks;
	List	  **findings;
	ErrorContextCallback errcb;
	PlanErrorArg errarg = {out, 0, 0};
	ListCell   *lc;

	if (edata)
	{
		int			category = ERRCODE_TO_CATEGORY(edata->sqlerrcode);

		/*
		 * The position in the SQL; an error context of the caller's (a SQL
		 * function's) may have made it an internal one.
		 */
		int			position = edata->cursorpos > 0 ? edata->cursorpos : edata->internalpos;

		/* a cancel, or the server's own trouble, is not the SQL's fault */
		if (category != ERRCODE_SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION &&
			category != ERRCODE_DATA_EXCEPTION &&
			category != ERRCODE_PROGRAM_LIMIT_EXCEEDED)
			ReThrowError(edata);
		put_row(out, 0, trimmed(sql), NIL,
				list_make1(position > 0 ?
						   psprintf("error syntax-error: %s (at character %d)",
									edata->message, position) :
						   psprintf("error syntax-error: %s", edata->message)));
		FreeErrorData(edata);
		return;
	}

	/*
	 * An error in the lookups (a name in another database, a schema the
	 * caller may not use) names the statement: the locks come first, each
	 * statement's in turn, then the findings.
	 */
	errarg.count = list_length(call.stmts);
	errcb.callback = plan_error_callback;
	errcb.arg = &errarg;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	locks = palloc0(sizeof(List *) * Max(errarg.count, 1));
	foreach(lc, call.stmts)
	{
		errarg.statement = foreach_current_index(lc) + 1;
		CHECK_FOR_INTERRUPTS();
		locks[foreach_current_index(lc)] = locks_of_statement(lfirst_node(RawStmt, lc)->stmt);
	}
	errarg.statement = 0;
	findings = check_statement_findings(sql, errarg.count);
	error_context_stack = errcb.previous;

	foreach(lc, call.stmts)
	{
		int			i = foreach_current_index(lc);

		put_row(out, i + 1, trimmed(script_statement_text(sql, lfirst_node(RawStmt, lc))),
				locks[i], findings[i]);
	}
}

/* The rows of an online migration: one per operation, as JSON. */
static void
plan_online(PlanOutput *out, const char *operations)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(operations)};
	SPITupleTable *tuptable;
	uint64		n;

	catalog_exec("SELECT e.op::pg_catalog.text"
				 "  FROM pg_catalog.jsonb_array_elements($1::pg_catalog.jsonb)"
				 "       WITH ORDINALITY AS e (op, n)"
				 " ORDER BY e.n", 1, argtypes, values, NULL, 0);
	tuptable = SPI_tuptable;
	n = SPI_processed;
	for (uint64 i = 0; i < n; i++)
		put_row(out, (int) i + 1, SPI_getvalue(tuptable->vals[i], tuptable->tupdesc, 1),
				NIL, NIL);
}

/*
 * The background run queued or running, if any: the versions of its plan
 * and the repeatable migrations it applies at its end ("name\nchecksum").
 * Returns whether there is one.
 */
static bool
background_run_in_progress(List **versions, List **repeatables)
{
	uint64		n;
	SPITupleTable *tuptable;

	catalog_exec("SELECT e.p ->> 'version', r.p ->> 'name', r.p ->> 'checksum'"
				 "  FROM migrate.job j"
				 "  LEFT JOIN LATERAL jsonb_array_elements(CASE WHEN j.kind = 'upgrade'"
				 "                                               AND jsonb_typeof(j.args -> 'plan') = 'array'"
				 "                                              THEN j.args -> 'plan' END) AS e (p)"
				 "       ON true"
				 "  LEFT JOIN LATERAL jsonb_array_elements(CASE WHEN j.kind = 'upgrade'"
				 "                                               AND jsonb_typeof(j.args -> 'repeatables') = 'array'"
				 "                                              THEN j.args -> 'repeatables' END) AS r (p)"
				 "       ON true"
				 " WHERE j.kind IN ('upgrade', 'downgrade') AND j.state IN ('queued', 'running')",
				 0, NULL, NULL, NULL, 0);
	n = SPI_processed;
	tuptable = SPI_tuptable;
	for (uint64 i = 0; i < n; i++)
	{
		char	   *version = SPI_getvalue(tuptable->vals[i], tuptable->tupdesc, 1);
		char	   *name = SPI_getvalue(tuptable->vals[i], tuptable->tupdesc, 2);
		char	   *checksum = SPI_getvalue(tuptable->vals[i], tuptable->tupdesc, 3);

		if (version)
			*versions = lappend(*versions, version);
		if (name && checksum)
			*repeatables = lappend(*repeatables, psprintf("%s\n%s", name, checksum));
	}
	return n > 0;
}

static bool
string_member(List *list, const char *s)
{
	ListCell   *lc;

	foreach(lc, list)
	{
		if (strcmp(lfirst(lc), s) == 0)
			return true;
	}
	return false;
}

/*
 * migrate_plan(target text DEFAULT NULL)
 *		RETURNS TABLE(version text, name text, runs text, statement integer,
 *					  sql text, locks text[], findings text[])
 */
Datum
migrate_plan(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *target = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			argtypes[1] = {NUMERICARRAYOID};
	Datum		values[1];
	char		nulls[1];
	PlanMigration *rows;
	int			count;
	const char *runs = "transaction";
	char	   *startable = NULL;
	PlanOutput	out = {rsinfo, NULL, NULL, NULL};
	bool		run_in_progress;
	List	   *run_versions = NIL;
	List	   *run_repeatables = NIL;
	SPITupleTable *tuptable;

	sql_version_check();
	if (target)
		version_check_arg(target, "target");
	InitMaterializedSRF(fcinfo, 0);

	SPI_connect();
	if (target)
		target = deploy_lookup_version(target);

	/*
	 * While an online migration is in flight, every later one waits; but for
	 * the next one, when it is an online migration that starts alongside
	 * (online_startable).
	 */
	if (online_in_flight(NULL) != NULL)
	{
		char	   *blocker;

		runs = "waits";
		startable = online_startable(&blocker);
	}

	/*
	 * While a background run is queued or running, migrate_upgrade refuses to
	 * start (55000): the migrations of the run's plan are the run's, the
	 * others wait for a deploy after it.  (A run queued before runs had plans
	 * gets its plan when it starts: until then all wait.)
	 */
	run_in_progress = background_run_in_progress(&run_versions, &run_repeatables);
	if (run_in_progress)
	{
		runs = "waits";
		startable = NULL;
	}

	/* the pending migrations migrate_upgrade would apply, in its order */
	values[0] = target ? version_key_datum(target) : (Datum) 0;
	nulls[0] = target ? ' ' : 'n';
	catalog_exec("SELECT version, name, kind, up_sql, down_sql, operations::text,"
				 "       transactional, checksum, placeholders::text"
				 "  FROM migrate.migration"
				 " WHERE ((kind = 'sql' AND state IN ('pending', 'failed'))"
				 "        OR (kind = 'online' AND state IN ('pending', 'rolled_back')))"
				 "   AND ($1 IS NULL OR version_key <= $1)"
				 " ORDER BY version_key",
				 1, argtypes, values, nulls, 0);
	count = SPI_processed;
	tuptable = SPI_tuptable;
	rows = palloc0(sizeof(PlanMigration) * Max(count, 1));
	for (int i = 0; i < count; i++)
	{
		HeapTuple	tup = tuptable->vals[i];
		TupleDesc	tupdesc = tuptable->tupdesc;
		bool		isnull;
		char	   *computed;
		char	   *checksum;

		rows[i].version = SPI_getvalue(tup, tupdesc, 1);
		rows[i].name = SPI_getvalue(tup, tupdesc, 2);
		rows[i].kind = SPI_getvalue(tup, tupdesc, 3);
		rows[i].up = SPI_getvalue(tup, tupdesc, 4);
		rows[i].operations = SPI_getvalue(tup, tupdesc, 6);
		rows[i].transactional = DatumGetBool(SPI_getbinval(tup, tupdesc, 7, &isnull));
		checksum = SPI_getvalue(tup, tupdesc, 8);
		rows[i].placeholders = SPI_getvalue(tup, tupdesc, 9);

		/*
		 * migrate_upgrade refuses a definition edited by hand: so does its
		 * plan
		 */
		computed = catalog_checksum(rows[i].kind, rows[i].name, rows[i].up,
									SPI_getvalue(tup, tupdesc, 5), rows[i].operations,
									rows[i].transactional);
		if (strcmp(checksum, computed) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_MIGRATE_CHECKSUM_MISMATCH),
					 errmsg("definition of migration %s does not match its checksum",
							rows[i].version),
					 errdetail("Registered checksum: %s, checksum of the stored definition: %s.",
							   checksum, computed),
					 errhint("The catalog was edited outside migrate_register. Register the migration again, or restore migrate.migration.")));
	}

	for (int i = 0; i < count; i++)
	{
		PlanMigration *m = &rows[i];

		out.version = m->version;
		out.name = m->name;
		if (strcmp(m->kind, "online") == 0)
		{
			/*
			 * The run stops at it: migrate_upgrade starts it (or, after a
			 * hand-off to a background run, the next migrate_upgrade once
			 * that run is done), and everything after it waits for its
			 * completion.
			 */
			out.runs = strcmp(runs, "waits") == 0 &&
				!(startable && strcmp(startable, m->version) == 0) ? "waits" : "online";
			plan_online(&out, m->operations ? m->operations : "[]");
			runs = "waits";
			continue;
		}
		/* from the first non-transactional one on, a background run */
		if (!m->transactional && strcmp(runs, "transaction") == 0)
			runs = "background";
		out.runs = string_member(run_versions, m->version) ? "background" : runs;
		/* the SQL as it will run, its placeholders replaced */
		plan_sql(&out, placeholders_apply(m->up, m->placeholders,
										  psprintf("migration %s", m->version)));
	}

	/*
	 * Then the repeatable migrations never applied or changed since, in name
	 * order: applied at the end of a run that reaches its end (by the
	 * background run when there is one), not while an online migration stays
	 * in flight; a background run in progress applies those it was queued
	 * with, unchanged since.
	 */
	catalog_exec("SELECT name, up_sql, checksum, placeholders::text"
				 "  FROM migrate.repeatable"
				 " WHERE applied_checksum IS DISTINCT FROM checksum"
				 " ORDER BY name COLLATE \"C\"",
				 0, NULL, NULL, NULL, 0);
	tuptable = SPI_tuptable;
	count = SPI_processed;
	out.version = NULL;
	for (int i = 0; i < count; i++)
	{
		char	   *name = SPI_getvalue(tuptable->vals[i], tuptable->tupdesc, 1);
		char	   *up = SPI_getvalue(tuptable->vals[i], tuptable->tupdesc, 2);
		char	   *checksum = SPI_getvalue(tuptable->vals[i], tuptable->tupdesc, 3);
		char	   *placeholders = SPI_getvalue(tuptable->vals[i], tuptable->tupdesc, 4);

		/* a repeatable's checksum covers its placeholder values */
		char	   *computed = catalog_checksum("repeatable", name, up, NULL,
												placeholders, true);

		if (strcmp(checksum, computed) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_MIGRATE_CHECKSUM_MISMATCH),
					 errmsg("definition of repeatable migration \"%s\" does not match its checksum",
							name),
					 errdetail("Registered checksum: %s, checksum of the stored definition: %s.",
							   checksum, computed),
					 errhint("The catalog was edited outside migrate_register_repeatable. Register it again.")));
		out.name = name;
		if (run_in_progress)
			out.runs = string_member(run_repeatables, psprintf("%s\n%s", name, checksum)) ?
				"repeatable" : "waits";
		else
			out.runs = strcmp(runs, "waits") == 0 ? "waits" : "repeatable";
		plan_sql(&out, placeholders_apply(up, placeholders,
										  psprintf("repeatable migration \"%s\"", name)));
	}

	SPI_finish();
	return (Datum) 0;
}
