/*-------------------------------------------------------------------------
 *
 * op_drop_index.c
 *	  drop_index: the old shape may still use the index, so it goes at
 *	  complete.
 *
 *	  {"drop_index": {"name": "users_email_idx"}}
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "utils/lsyscache.h"

#include "online/online_int.h"

typedef struct DropIndex
{
	char	   *name;
} DropIndex;

static const char *const fields[] = {"schema", "name", NULL};

static void
drop_index_parse(OnlineMigration *m, OnlineOp *op, JsonbContainer *body,
				 bool check_catalog)
{
	DropIndex  *d = palloc0(sizeof(DropIndex));

	op->data = d;
	d->name = doc_identifier(body, "name", true);
}

static void
drop_index_shape(ShapeState *s, OnlineOp *op)
{
	DropIndex  *d = op->data;
	Oid			idx = get_relname_relid(d->name, s->nsp);

	if (s->expanded)
		return;
	if (!OidIsValid(idx) || get_rel_relkind(idx) != RELKIND_INDEX)
		op_error("index \"%s.%s\" does not exist", s->m->schema, d->name);
	shape_check_relation(idx, s->m->schema);
	if (get_index_constraint(idx) != InvalidOid)
		op_error("index \"%s\" belongs to a constraint", d->name);
}

static void
drop_index_complete(OnlineMigration *m, OnlineOp *op)
{
	DropIndex  *d = op->data;

	/* dropping a column may have taken the index with it */
	online_ddl(m, "complete", psprintf("DROP INDEX IF EXISTS %s",
									   online_qualified(m->schema, d->name)));
}

/* listed in ops.c; declared first for -Wmissing-variable-declarations (18) */
extern const OnlineOpMethods online_op_drop_index;

const OnlineOpMethods online_op_drop_index = {
	.name = "drop_index",
	.fields = fields,
	.parse = drop_index_parse,
	.shape = drop_index_shape,
	.complete = drop_index_complete,
};
