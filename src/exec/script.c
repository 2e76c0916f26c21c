/*-------------------------------------------------------------------------
 *
 * script.c
 *	  Migration SQL: split into statements by the server's own parser,
 *	  checked at registration, executed one statement at a time.
 *
 * Running statements one by one (rather than handing the whole text to SPI)
 * lets an error name the statement that failed: it keeps its own SQLSTATE
 * and gains a CONTEXT line with the migration's version, name and the
 * statement's number.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/defrem.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"

#include "base/base.h"
#include "catalog/migrate_catalog.h"
#include "exec/migrate_exec.h"

typedef struct ScriptErrorArg
{
	MigrationScript *script;
	int			stmtno;			/* 1-based; 0 while parsing */
} ScriptErrorArg;

/* "migration 1.2 \"name\"", or "repeatable migration \"name\"" */
static char *
script_label(MigrationScript *s)
{
	if (s->version == NULL)
		return psprintf("repeatable migration \"%s\"", s->name);
	return psprintf("migration %s \"%s\"", s->version, s->name);
}

/* "migration 1.2", or "repeatable migration \"name\"", for messages */
static char *
script_what(MigrationScript *s)
{
	if (s->version == NULL)
		return psprintf("repeatable migration \"%s\"", s->name);
	return psprintf("migration %s", s->version);
}

static void
script_error_callback(void *arg)
{
	ScriptErrorArg *e = (ScriptErrorArg *) arg;
	MigrationScript *s = e->script;

	if (e->stmtno == 0)
	{
		/* a syntax error points into the migration text, not the caller's */
		int			pos = geterrposition();

		if (pos > 0)
		{
			errposition(0);
			internalerrposition(pos);
			internalerrquery(s->sql);
		}
		errcontext("%s, %s SQL", script_label(s), s->direction);
	}
	else
		errcontext("%s, %s statement %d of %d",
				   script_label(s), s->direction, e->stmtno,
				   list_length(s->stmts));
}

/* Text of one parsed statement, as a new null-terminated string. */
static char *
statement_text(const char *sql, RawStmt *raw)
{
	const char *start = sql + raw->stmt_location;
	int			len = raw->stmt_len;

	if (len == 0)				/* the last statement runs to the end */
		len = strlen(start);
	/* statements after the first start right after the previous ';' */
	while (len > 0 && isspace((unsigned char) *start))
	{
		start++;
		len--;
	}
	return pnstrdup(start, len);
}

/* The same, for migrate_plan. */
char *
script_statement_text(const char *sql, RawStmt *raw)
{
	return statement_text(sql, raw);
}

/* Parse the script's SQL into raw statements; a syntax error is raised. */
void
script_parse(MigrationScript *script)
{
	ErrorContextCallback errcb;
	ScriptErrorArg arg = {script, 0};

	errcb.callback = script_error_callback;
	errcb.arg = &arg;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	script->stmts = raw_parser(script->sql, RAW_PARSE_DEFAULT);

	error_context_stack = errcb.previous;
}

/* Does this statement refuse to run inside a transaction block? */
static const char *
needs_top_level(Node *stmt)
{
	switch (nodeTag(stmt))
	{
		case T_IndexStmt:
			return ((IndexStmt *) stmt)->concurrent ? "CREATE INDEX CONCURRENTLY" : NULL;
		case T_DropStmt:
			return ((DropStmt *) stmt)->concurrent ? "DROP INDEX CONCURRENTLY" : NULL;
		case T_ReindexStmt:
			{
				ListCell   *lc;

				foreach(lc, ((ReindexStmt *) stmt)->params)
				{
					DefElem    *opt = lfirst_node(DefElem, lc);

					if (strcmp(opt->defname, "concurrently") == 0 &&
						defGetBoolean(opt))
						return "REINDEX CONCURRENTLY";
				}
				if (((ReindexStmt *) stmt)->kind == REINDEX_OBJECT_SYSTEM)
					return "REINDEX SYSTEM";
				if (((ReindexStmt *) stmt)->kind == REINDEX_OBJECT_DATABASE)
					return "REINDEX DATABASE";
				return NULL;
			}
		case T_VacuumStmt:
			return ((VacuumStmt *) stmt)->is_vacuumcmd ? "VACUUM" : NULL;
		case T_CreatedbStmt:
			return "CREATE DATABASE";
		case T_DropdbStmt:
			return "DROP DATABASE";
		case T_CreateTableSpaceStmt:
			return "CREATE TABLESPACE";
		case T_DropTableSpaceStmt:
			return "DROP TABLESPACE";
		case T_AlterSystemStmt:
			return "ALTER SYSTEM";
		case T_DiscardStmt:
			return ((DiscardStmt *) stmt)->target == DISCARD_ALL ? "DISCARD ALL" : NULL;
		case T_AlterDatabaseStmt:
			{
				ListCell   *lc;

				foreach(lc, ((AlterDatabaseStmt *) stmt)->options)
				{
					if (strcmp(lfirst_node(DefElem, lc)->defname, "tablespace") == 0)
						return "ALTER DATABASE SET TABLESPACE";
				}
				return NULL;
			}
		default:
			return NULL;
	}
}

/*
 * Refuse what can never work inside a migration, before it is registered:
 * transaction control (migrate owns the transactions), COPY from the client,
 * and, in a transactional migration, statements that cannot run in a
 * transaction block.
 */
void
script_check(MigrationScript *script, bool transactional)
{
	ListCell   *lc;
	int			stmtno = 0;

	foreach(lc, script->stmts)
	{
		RawStmt    *raw = lfirst_node(RawStmt, lc);
		Node	   *stmt = raw->stmt;
		const char *what;

		stmtno++;
		if (IsA(stmt, TransactionStmt))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must not contain transaction control statements",
							script_what(script)),
					 errdetail("The %s SQL, statement %d, is: %s",
							   script->direction, stmtno,
							   statement_text(script->sql, raw)),
					 errhint("migrate begins and ends the transactions a migration runs in; split the work into several migrations instead.")));

		if (IsA(stmt, CopyStmt) &&
			((CopyStmt *) stmt)->filename == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must not use COPY %s",
							script_what(script),
							((CopyStmt *) stmt)->is_from ? "FROM STDIN" : "TO STDOUT"),
					 errdetail("The %s SQL, statement %d, copies to or from the client, and no client is attached while a migration runs.",
							   script->direction, stmtno),
					 errhint("Use INSERT statements, or COPY to or from a file on the server.")));

		if (IsA(stmt, IndexStmt) && ((IndexStmt *) stmt)->concurrent &&
			((IndexStmt *) stmt)->idxname == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("CREATE INDEX CONCURRENTLY in %s must name its index",
							script_what(script)),
					 errdetail("A concurrent build that fails halfway leaves an invalid index behind, which migrate drops before it tries again; it finds that index by its name (%s SQL, statement %d).",
							   script->direction, stmtno),
					 errhint("Write CREATE INDEX CONCURRENTLY index_name ON ...")));

		if (transactional && (what = needs_top_level(stmt)) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s cannot run inside a transactional migration",
							what),
					 script->version == NULL ?
					 errdetail("Repeatable migration \"%s\", statement %d.",
							   script->name, stmtno) :
					 errdetail("Migration %s, %s SQL, statement %d.",
							   script->version, script->direction, stmtno),
					 script->version == NULL ?
					 errhint("A repeatable migration runs in a transaction: move the statement into a non-transactional versioned migration.") :
					 errhint("Register the migration with transactional => false.")));
	}
}

/*
 * Execute every statement of the script through SPI, in order, each under
 * the lock-safe discipline.  The caller is connected to SPI.
 */
static void
script_execute(MigrationScript *script)
{
	ErrorContextCallback errcb;
	ScriptErrorArg arg = {script, 0};
	ListCell   *lc;
	LockSafeState *state;

	errcb.callback = script_error_callback;
	errcb.arg = &arg;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	state = locksafe_begin();
	foreach(lc, script->stmts)
	{
		RawStmt    *raw = lfirst_node(RawStmt, lc);
		char	   *text = statement_text(script->sql, raw);

		arg.stmtno++;
		CHECK_FOR_INTERRUPTS();
		locksafe_execute(text, script->version,
						 psprintf("%s statement %d of %d", script->direction,
								  arg.stmtno, list_length(script->stmts)));
		pfree(text);
	}
	locksafe_end(state);

	error_context_stack = errcb.previous;
}

/* Parse and execute a migration's up or down SQL. */
void
script_run(const char *version, const char *name, const char *direction,
		   const char *sql)
{
	MigrationScript script = {0};

	script.version = version;
	script.name = name;
	script.direction = direction;
	script.sql = sql;
	script_parse(&script);
	script_execute(&script);
}

/* The statements of a migration's SQL, as a list of strings. */
List *
script_statements(const char *version, const char *name, const char *sql)
{
	MigrationScript script = {0};
	List	   *texts = NIL;
	ListCell   *lc;

	script.version = version;
	script.name = name;
	script.direction = "up";
	script.sql = sql;
	script_parse(&script);
	foreach(lc, script.stmts)
	{
		texts = lappend(texts, statement_text(sql, lfirst_node(RawStmt, lc)));
	}
	return texts;
}
