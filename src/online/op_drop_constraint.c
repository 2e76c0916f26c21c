/*-------------------------------------------------------------------------
 *
 * op_drop_constraint.c
 *	  drop_constraint: takes effect at complete (the new shape's writes
 *	  must satisfy it until then).
 *
 *	  {"drop_constraint": {"table": "orders", "name": "orders_legacy_check"}}
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"

#include "online/online_int.h"

typedef struct DropConstraint
{
	char	   *name;
} DropConstraint;

static const char *const fields[] = {"schema", "table", "name", NULL};

static void
drop_constraint_parse(OnlineMigration *m, OnlineOp *op, JsonbContainer *body,
					  bool check_catalog)
{
	DropConstraint *d = palloc0(sizeof(DropConstraint));

	op->data = d;
	op->table = doc_identifier(body, "table", true);
	d->name = doc_identifier(body, "name", true);
}

static void
drop_constraint_shape(ShapeState *s, OnlineOp *op)
{
	DropConstraint *d = op->data;
	ShapeTable *t = shape_open(s, op, false, NULL);

	if (!s->expanded && !OidIsValid(shape_constraint_oid(t->relid, d->name)))
		op_error("constraint \"%s\" of table \"%s\" does not exist", d->name, op->table);
}

static void
drop_constraint_complete(OnlineMigration *m, OnlineOp *op)
{
	DropConstraint *d = op->data;

	online_ddl(m, "complete", psprintf("ALTER TABLE %s DROP CONSTRAINT %s",
									   online_op_rel_sql(op), quote_identifier(d->name)));
}

/* listed in ops.c; declared first for -Wmissing-variable-declarations (18) */
extern const OnlineOpMethods online_op_drop_constraint;

const OnlineOpMethods online_op_drop_constraint = {
	.name = "drop_constraint",
	.fields = fields,
	.parse = drop_constraint_parse,
	.shape = drop_constraint_shape,
	.complete = drop_constraint_complete,
};
