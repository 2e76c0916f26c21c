/*-------------------------------------------------------------------------
 *
 * op_sql.c
 *	  sql: statements of its own, run at start ("up") and at rollback
 *	  ("down"; without it, the migration is irreversible).  Alone in its
 *	  migration, since migrate cannot tell what they change.
 *
 *	  {"sql": {"up": "CREATE TABLE audit (id bigint)",
 *	   "down": "DROP TABLE audit"}}
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "exec/migrate_exec.h"
#include "online/online_int.h"

typedef struct Sql
{
	char	   *up;
	char	   *down;
} Sql;

static const char *const fields[] = {"up", "down", NULL};

static void
sql_parse(OnlineMigration *m, OnlineOp *op, JsonbContainer *body, bool check_catalog)
{
	Sql		   *d = palloc0(sizeof(Sql));
	MigrationScript script = {0};

	op->data = d;
	d->up = doc_string(body, "up", true);
	d->down = doc_string(body, "down", false);
	script.version = m->version;
	script.name = m->name;
	script.direction = "up";
	script.sql = d->up;
	script_parse(&script);
	if (script.stmts == NIL)
		op_error("field \"up\" has no statements");
	script_check(&script, true);
	if (d->down)
	{
		script.direction = "down";
		script.sql = d->down;
		script_parse(&script);
		script_check(&script, true);
	}
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
	run(m, "up", ((Sql *) op->data)->up);
}

static void
sql_rollback(OnlineMigration *m, OnlineOp *op)
{
	run(m, "down", ((Sql *) op->data)->down);
}

static const char *
sql_irreversible(OnlineOp *op)
{
	return ((Sql *) op->data)->down == NULL ? "Its sql operation has no down SQL." : NULL;
}

/* listed in ops.c; declared first for -Wmissing-variable-declarations (18) */
extern const OnlineOpMethods online_op_sql;

const OnlineOpMethods online_op_sql = {
	.name = "sql",
	.fields = fields,
	.alone = true,
	.parse = sql_parse,
	.start = sql_start,
	.rollback = sql_rollback,
	.irreversible = sql_irreversible,
};
