/*-------------------------------------------------------------------------
 *
 * op_add_column.c
 *	  add_column: a column of the new shape.  At start it is added under
 *	  its shadow name (its own on a table the migration creates), hidden
 *	  from the old shape; "up" fills it for old-shape writes and the
 *	  backfill.  NOT NULL is a check, NOT VALID until the job validates it,
 *	  until complete makes it the real thing and renames the column into
 *	  place.
 *
 *	  {"add_column": {"table": "users", "column": {"name": "handle",
 *	   "type": "text", "nullable": false}, "up": "lower(name)"}}
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"

#include "online/online_int.h"

typedef struct AddColumn
{
	OnlineColumn *column;
	char	   *up;				/* an expression over the old shape */
} AddColumn;

static const char *const fields[] = {"schema", "table", "column", "up", NULL};

static void
add_column_parse(OnlineMigration *m, OnlineOp *op, JsonbContainer *body,
				 bool check_catalog)
{
	AddColumn  *d = palloc0(sizeof(AddColumn));
	JsonbValue *v = doc_field(body, "column");

	op->data = d;
	op->table = doc_identifier(body, "table", true);
	if (v == NULL)
		op_error("field \"column\" is required");
	d->column = doc_column(v, false, check_catalog);
	if (d->column->primary_key)
		op_error("an added column cannot be the primary key");
	if (d->column->unique)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an added column cannot be unique"),
				 errhint("Add it, then create a unique index on it.")));
	if (strlen(d->column->name) > ONLINE_ADDED_NAME_MAX)
		op_error("name of added column \"%s\" is longer than %d bytes",
				 d->column->name, ONLINE_ADDED_NAME_MAX);
	d->up = doc_expression(body, "up");
	if (!d->column->nullable && d->up == NULL && check_catalog &&
		(d->column->default_expr == NULL ||
		 online_expression_volatile(d->column->default_expr)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" is NOT NULL without a default", d->column->name),
				 errhint("Give \"up\" to fill the existing rows.")));
}

static void
add_column_shape(ShapeState *s, OnlineOp *op)
{
	AddColumn  *d = op->data;
	OnlineColumn *col = d->column;
	ShapeTable *t = shape_open(s, op, false, NULL);
	ShapeColumn *c;

	if (shape_column(t, col->name) && !s->lenient)
		op_error("column \"%s\" of table \"%s\" already exists", col->name, op->table);
	if (!s->expanded && !t->created)
		online_refuse_partition(t->relid, op->table);
	c = palloc0(sizeof(ShapeColumn));
	c->name = col->name;
	c->physical = t->created ? col->name : online_shadow_name(col->name);
	c->added_by = op;
	c->up = d->up;
	c->added_default = col->default_expr;
	t->columns = lappend(t->columns, c);
	if (!t->created && d->up)
		t->sync = t->backfill = true;
	if (!t->created && d->up == NULL && col->default_expr &&
		online_expression_volatile(col->default_expr))
		t->sync = t->backfill = true;
}

/* The column under its shadow name (its own on a new table). */
static void
add_column_start(OnlineMigration *m, OnlineOp *op, StringInfo steps)
{
	AddColumn  *d = op->data;
	OnlineColumn *col = d->column;
	ShapeTable *t = op->st;
	Oid			typid;
	int32		typmod;
	char	   *type = online_column_type(col->type, &typid, &typmod);
	char	   *physical = t->created ? col->name : online_shadow_name(col->name);
	char	   *def = col->default_expr ? online_default(col->default_expr, typid, typmod) : NULL;
	bool		volatile_default = def && online_expression_volatile(col->default_expr);
	char	   *table = online_rel_sql(t->relid);

	/* a volatile default in ADD COLUMN would rewrite the table */
	online_ddl(m, "add_column",
			   psprintf("ALTER TABLE %s ADD COLUMN %s %s%s%s%s", table,
						quote_identifier(physical), type,
						def && !volatile_default ? " DEFAULT " : "",
						def && !volatile_default ? def : "",
						t->created && !col->nullable ? " NOT NULL" : ""));
	if (volatile_default)
		online_ddl(m, "add_column",
				   psprintf("ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s", table,
							quote_identifier(physical), def));
	if (col->comment)
		online_ddl(m, "add_column", psprintf("COMMENT ON COLUMN %s.%s IS %s", table,
											 quote_identifier(physical),
											 quote_literal_cstr(col->comment)));
	if (!t->created && !col->nullable)
	{
		/* NOT NULL for new rows now; for old ones once they are backfilled */
		const char *check = quote_identifier(online_check_name(col->name));

		online_ddl(m, "add_column",
				   psprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s IS NOT NULL) NOT VALID",
							table, check, quote_identifier(physical)));
		online_add_validation(steps, t->relid, online_check_name(col->name));
	}
}

static void
add_column_complete(OnlineMigration *m, OnlineOp *op)
{
	AddColumn  *d = op->data;
	char	   *table = online_op_rel_sql(op);

	if (op->st->created)
		return;
	if (!d->column->nullable)
	{
		/* the validated check spares SET NOT NULL its scan */
		online_validate_partitioned(m, op->st->relid, online_check_name(d->column->name));
		online_ddl(m, "complete", psprintf("ALTER TABLE %s ALTER COLUMN %s SET NOT NULL", table,
										   quote_identifier(online_shadow_name(d->column->name))));
		online_ddl(m, "complete", psprintf("ALTER TABLE %s DROP CONSTRAINT %s", table,
										   quote_identifier(online_check_name(d->column->name))));
	}
	online_ddl(m, "complete", psprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", table,
									   quote_identifier(online_shadow_name(d->column->name)),
									   quote_identifier(d->column->name)));
	online_rename_index_columns(m, op->st->relid, online_shadow_name(d->column->name),
								d->column->name);
}

static void
add_column_rollback(OnlineMigration *m, OnlineOp *op)
{
	AddColumn  *d = op->data;
	char	   *table = online_op_rel_sql(op);

	if (!op->st->created && table)
		online_ddl(m, "rollback", psprintf("ALTER TABLE %s DROP COLUMN IF EXISTS %s", table,
										   quote_identifier(online_shadow_name(d->column->name))));
}

/* listed in ops.c; declared first for -Wmissing-variable-declarations (18) */
extern const OnlineOpMethods online_op_add_column;

const OnlineOpMethods online_op_add_column = {
	.name = "add_column",
	.fields = fields,
	.parse = add_column_parse,
	.shape = add_column_shape,
	.start = add_column_start,
	.complete = add_column_complete,
	.rollback = add_column_rollback,
};
