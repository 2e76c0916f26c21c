/*-------------------------------------------------------------------------
 *
 * op_rename_column.c
 *	  rename_column: the new shape's view shows the column under its new
 *	  name; complete renames it in the table.
 *
 *	  {"rename_column": {"table": "users", "from": "full_name", "to": "name"}}
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"

#include "online/online_int.h"

typedef struct RenameColumn
{
	char	   *from;
	char	   *to;
} RenameColumn;

static const char *const fields[] = {"schema", "table", "from", "to", NULL};

static void
rename_column_parse(OnlineMigration *m, OnlineOp *op, JsonbContainer *body,
					bool check_catalog)
{
	RenameColumn *d = palloc0(sizeof(RenameColumn));

	op->data = d;
	op->table = doc_identifier(body, "table", true);
	d->from = doc_identifier(body, "from", true);
	d->to = doc_identifier(body, "to", true);
}

static void
rename_column_shape(ShapeState *s, OnlineOp *op)
{
	RenameColumn *d = op->data;
	ShapeTable *t = shape_open(s, op, false, NULL);
	ShapeColumn *c = shape_find_column(s, t, d->from, "table");

	if (shape_column(t, d->to) && !s->lenient)
		op_error("column \"%s\" of table \"%s\" already exists", d->to, op->table);
	if (c->added_by || c->altered_from)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" is added or altered by this migration", d->from),
				 errhint("Give it its new name in the operation that adds or alters it.")));
	c->name = d->to;
}

static void
rename_column_complete(OnlineMigration *m, OnlineOp *op)
{
	RenameColumn *d = op->data;

	online_ddl(m, "complete", psprintf("ALTER TABLE %s RENAME COLUMN %s TO %s",
									   online_op_rel_sql(op), quote_identifier(d->from),
									   quote_identifier(d->to)));
}

/* listed in ops.c; declared first for -Wmissing-variable-declarations (18) */
extern const OnlineOpMethods online_op_rename_column;

const OnlineOpMethods online_op_rename_column = {
	.name = "rename_column",
	.fields = fields,
	.parse = rename_column_parse,
	.shape = rename_column_shape,
	.complete = rename_column_complete,
};
