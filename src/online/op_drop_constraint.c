/*-------------------------------------------------------------------------
 *
 * op_drop_constraint.c
 *	  drop_constraint: takes effect at complete (the new shape's writes
 *	  must satisfy it until then); with up and down, the new shape stops
 *	  enforcing a check, unique or foreign key constraint on one column at
 *	  start, the old one keeps it (op_drop_multicolumn_constraint.c).
 *
 *	  {"drop_constraint": {"table": "orders", "name": "orders_legacy_check"}}
 *	  {"drop_constraint": {"table": "orders", "name": "orders_qty_check",
 *	   "down": "greatest(qty, 1)"}}
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"

#include "online/online_int.h"

static const char *const fields[] = {"schema", "table", "name", "up", "down", NULL};

static void
drop_constraint_parse(OnlineMigration *m, OnlineOp *op, JsonbContainer *body,
					  bool check_catalog)
{
	DropShadowed *d = palloc0(sizeof(DropShadowed));
	char	   *up;
	char	   *down;

	op->data = d;
	op->table = doc_identifier(body, "table", true);
	d->name = doc_identifier(body, "name", true);
	up = doc_expression(body, "up");
	down = doc_expression(body, "down");
	if (up && !down)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"up\" needs \"down\""),
				 errdetail("Without \"down\", the new shape's writes would still have to satisfy the constraint on the old column."),
				 errhint("Give \"down\", an expression over the new shape that satisfies the constraint.")));
	if (down)
	{
		d->up = list_make1(up);
		d->down = list_make1(down);
	}
}

static void
drop_constraint_shape(ShapeState *s, OnlineOp *op)
{
	DropShadowed *d = op->data;
	ShapeTable *t;

	if (d->down)
	{
		drop_shadowed_shape(s, op);
		return;
	}
	t = shape_open(s, op, false, NULL);
	if (!s->expanded && !OidIsValid(shape_constraint_oid(t->relid, d->name)))
		op_error("constraint \"%s\" of table \"%s\" does not exist", d->name, op->table);
}

static void
drop_constraint_complete(OnlineMigration *m, OnlineOp *op)
{
	DropShadowed *d = op->data;

	if (d->down)
		drop_shadowed_complete(m, op);
	else
		online_ddl(m, "complete", psprintf("ALTER TABLE %s DROP CONSTRAINT %s",
										   online_op_rel_sql(op), quote_identifier(d->name)));
}

/* listed in ops.c; declared first for -Wmissing-variable-declarations (18) */
extern const OnlineOpMethods online_op_drop_constraint;

/* with up and down, alter_column's methods for its column; else none */
const OnlineOpMethods online_op_drop_constraint = {
	.name = "drop_constraint",
	.fields = fields,
	.parse = drop_constraint_parse,
	.shape = drop_constraint_shape,
	.start = drop_shadowed_start,
	.start_views = drop_shadowed_start_views,
	.before_complete = drop_shadowed_before_complete,
	.complete = drop_constraint_complete,
	.rollback = drop_shadowed_rollback,
};
