/*-------------------------------------------------------------------------
 *
 * op_rename_table.c
 *	  rename_table: the new shape's view of the table has the new name;
 *	  complete renames the table.
 *
 *	  {"rename_table": {"from": "teams", "to": "squads"}}
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"

#include "online/online_int.h"

typedef struct RenameTable
{
	char	   *to;				/* from is op->table */
} RenameTable;

static const char *const fields[] = {"schema", "from", "to", NULL};

static void
rename_table_parse(OnlineMigration *m, OnlineOp *op, JsonbContainer *body,
				   bool check_catalog)
{
	RenameTable *d = palloc0(sizeof(RenameTable));

	op->data = d;
	op->table = doc_identifier(body, "from", true);
	d->to = doc_identifier(body, "to", true);
}

static void
rename_table_shape(ShapeState *s, OnlineOp *op)
{
	RenameTable *d = op->data;
	ShapeTable *t = shape_open(s, op, false, NULL);

	if (shape_name_taken(s, d->to) && !s->expanded)
		op_error("relation \"%s.%s\" already exists", s->m->schema, d->to);
	if (shape_find(s->tables, d->to))
		op_error("relation \"%s.%s\" already exists", s->m->schema, d->to);
	t->name = d->to;
}

static void
rename_table_complete(OnlineMigration *m, OnlineOp *op)
{
	RenameTable *d = op->data;

	online_ddl(m, "complete", psprintf("ALTER TABLE %s RENAME TO %s", online_op_rel_sql(op),
									   quote_identifier(d->to)));
}

/* listed in ops.c; declared first for -Wmissing-variable-declarations (18) */
extern const OnlineOpMethods online_op_rename_table;

const OnlineOpMethods online_op_rename_table = {
	.name = "rename_table",
	.fields = fields,
	.parse = rename_table_parse,
	.shape = rename_table_shape,
	.complete = rename_table_complete,
};
