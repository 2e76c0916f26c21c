/*-------------------------------------------------------------------------
 *
 * op_drop_table.c
 *	  drop_table: at start the table is renamed away, and a view under its
 *	  name keeps it for the old shape (the new shape has no view of it).
 *	  Complete drops both; rollback renames the table back.
 *
 *	  {"drop_table": {"table": "legacy"}}
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"

#include "online/online_int.h"

static const char *const fields[] = {"schema", "table", NULL};

static void
drop_table_parse(OnlineMigration *m, OnlineOp *op, JsonbContainer *body,
				 bool check_catalog)
{
	op->table = doc_identifier(body, "table", true);
	if (strlen(op->table) > ONLINE_ADDED_NAME_MAX)
		op_error("name of dropped table \"%s\" is longer than %d bytes",
				 op->table, ONLINE_ADDED_NAME_MAX);
}

static void
drop_table_shape(ShapeState *s, OnlineOp *op)
{
	bool		loaded_now;
	ShapeTable *t = shape_open(s, op, true, &loaded_now);

	if (t->created)
		op_error("table \"%s\" is created by this migration", op->table);
	if (!loaded_now)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table \"%s\" is changed by an earlier operation", op->table),
				 errhint("Drop it in a migration of its own.")));
	t->dropped = true;
}

static void
drop_table_start(OnlineMigration *m, OnlineOp *op, StringInfo steps)
{
	ShapeTable *t = op->st;
	char	   *view = online_qualified(m->schema, op->table);

	online_ddl(m, "drop_table", psprintf("ALTER TABLE %s RENAME TO %s", online_rel_sql(t->relid),
										 quote_identifier(online_dropped_name(op->table))));
	t->physical = online_dropped_name(op->table);
	online_ddl(m, "drop_table", psprintf("CREATE VIEW %s WITH (%s) AS SELECT * FROM %s",
										 view, vschema_view_security(t->relid),
										 online_rel_sql(t->relid)));
	vschema_copy_grants(m, t, view, true);
}

static void
drop_table_complete(OnlineMigration *m, OnlineOp *op)
{
	online_ddl(m, "complete", psprintf("DROP VIEW IF EXISTS %s",
									   online_qualified(m->schema, op->table)));
	online_ddl(m, "complete", psprintf("DROP TABLE %s", online_op_rel_sql(op)));
}

static void
drop_table_rollback(OnlineMigration *m, OnlineOp *op)
{
	char	   *table = online_op_rel_sql(op);

	online_ddl(m, "rollback", psprintf("DROP VIEW IF EXISTS %s",
									   online_qualified(m->schema, op->table)));
	if (table)
		online_ddl(m, "rollback", psprintf("ALTER TABLE %s RENAME TO %s", table,
										   quote_identifier(op->table)));
}

/* listed in ops.c; declared first for -Wmissing-variable-declarations (18) */
extern const OnlineOpMethods online_op_drop_table;

const OnlineOpMethods online_op_drop_table = {
	.name = "drop_table",
	.fields = fields,
	.parse = drop_table_parse,
	.shape = drop_table_shape,
	.start = drop_table_start,
	.complete = drop_table_complete,
	.rollback = drop_table_rollback,
};
