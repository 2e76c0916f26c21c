/*-------------------------------------------------------------------------
 *
 * op_sql.c
 *	  sql: statements of its own, run at start ("up"), at complete
 *	  ("on_complete", with the version schema made again around them) and
 *	  at rollback ("down", which undoes up; without it, a migration with up
 *	  is irreversible).  Alone in its migration, since migrate cannot tell
 *	  what they change.
 *
 *	  {"sql": {"up": "CREATE TABLE audit (id bigint)",
 *	   "down": "DROP TABLE audit", "on_complete": "DROP TABLE audit_old"}}
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "exec/migrate_exec.h"
#include "online/online_int.h"

typedef struct Sql
{
	char	   *up;				/* NULL: nothing at start */
	char	   *down;
	char	   *on_complete;	/* NULL: nothing at complete */
} Sql;

static const char *const fields[] = {"up", "down", "on_complete", NULL};

/*
 * One field's SQL, checked as a migration's is at registration: parsed, no
 * transaction control, nothing that cannot run in a transaction block.
 */
static void
check_sql(OnlineMigration *m, const char *field, const char *sql, bool nonempty)
{
	MigrationScript script = {0};

	script.version = m->version;
	script.name = m->name;
	script.direction = field;
	script.sql = sql;
	script_parse(&script);
	if (nonempty && script.stmts == NIL)
		op_error("field \"%s\" has no statements", field);
	script_check(&script, true);
}

static void
sql_parse(OnlineMigration *m, OnlineOp *op, JsonbContainer *body, bool check_catalog)
{
	Sql		   *d = palloc0(sizeof(Sql));

	op->data = d;
	d->on_complete = doc_string(body, "on_complete", false);
	/* up, unless on_complete is all there is */
	d->up = doc_string(body, "up", d->on_complete == NULL);
	d->down = doc_string(body, "down", false);
	if (d->up)
		check_sql(m, "up", d->up, true);
	if (d->down)
	{
		if (d->up == NULL)
			op_error("field \"down\" undoes \"up\", and there is no \"up\"");
		check_sql(m, "down", d->down, false);
	}
	if (d->on_complete)
		check_sql(m, "on_complete", d->on_complete, true);
}

/* The statements run as its caller would run them. */
static void
run(OnlineMigration *m, const char *direction, const char *sql)
{
	int			nestlevel = online_user_path();

	script_run(m->version, m->name, direction, sql);
	online_path_end(nestlevel);
}

static void
sql_start(OnlineMigration *m, OnlineOp *op, StringInfo steps)
{
	Sql		   *d = op->data;

	if (d->up)
		run(m, "up", d->up);
}

/*
 * on_complete may drop or change what the views of the new shape show (the
 * table its up replaced, say): they go first, and are made again from the
 * tables as it leaves them.
 */
static void
sql_complete(OnlineMigration *m, OnlineOp *op)
{
	Sql		   *d = op->data;

	if (d->on_complete == NULL)
		return;
	vschema_drop(m, m->vschema);
	run(m, "on_complete", d->on_complete);
	vschema_create(m, NIL, NIL);
}

static void
sql_rollback(OnlineMigration *m, OnlineOp *op)
{
	Sql		   *d = op->data;

	if (d->down)
		run(m, "down", d->down);
}

static const char *
sql_irreversible(OnlineOp *op)
{
	Sql		   *d = op->data;

	return d->up != NULL && d->down == NULL ? "Its sql operation has no down SQL." : NULL;
}

/* listed in ops.c; declared first for -Wmissing-variable-declarations (18) */
extern const OnlineOpMethods online_op_sql;

const OnlineOpMethods online_op_sql = {
	.name = "sql",
	.fields = fields,
	.alone = true,
	.parse = sql_parse,
	.start = sql_start,
	.complete = sql_complete,
	.rollback = sql_rollback,
	.irreversible = sql_irreversible,
};
