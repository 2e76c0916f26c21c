/*-------------------------------------------------------------------------
 *
 * op_drop_column.c
 *	  drop_column: the new shape no longer shows the column; "down" fills
 *	  it for the rows the new shape writes.  Complete drops it.
 *
 *	  {"drop_column": {"table": "users", "column": "email",
 *	   "down": "lower(name) || '@example.com'"}}
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "online/online_int.h"

typedef struct DropColumn
{
	char	   *column;
	char	   *down;			/* an expression over the new shape */
} DropColumn;

static const char *const fields[] = {"schema", "table", "column", "down", NULL};

static void
drop_column_parse(OnlineMigration *m, OnlineOp *op, JsonbContainer *body,
				  bool check_catalog)
{
	DropColumn *d = palloc0(sizeof(DropColumn));

	op->data = d;
	op->table = doc_identifier(body, "table", true);
	d->column = doc_identifier(body, "column", true);
	d->down = doc_expression(body, "down");
}

static void
drop_column_shape(ShapeState *s, OnlineOp *op)
{
	DropColumn *d = op->data;
	ShapeTable *t = shape_open(s, op, false, NULL);
	ShapeColumn *c = shape_find_column(s, t, d->column, "table");

	if (c->added_by || c->altered_from)
		op_error("column \"%s\" is added or altered by this migration", d->column);
	if (!s->expanded && !t->created && online_in_partition_key(t->relid, c->physical))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" of table \"%s\" is part of its partition key",
						d->column, op->table),
				 errdetail("A column of the partition key cannot be dropped.")));
	if (!s->expanded && d->down == NULL && !t->created)
	{
		AttrNumber	attnum = get_attnum(t->relid, c->physical);
		HeapTuple	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(t->relid),
										  Int16GetDatum(attnum));

		if (HeapTupleIsValid(tup))
		{
			Form_pg_attribute att = (Form_pg_attribute) GETSTRUCT(tup);
			bool		needs_down = att->attnotnull && !att->atthasdef;

			ReleaseSysCache(tup);
			if (needs_down)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("column \"%s\" is NOT NULL without a default", d->column),
						 errhint("Give \"down\" to fill it for the rows the new shape inserts.")));
		}
	}
	c->hidden = true;
	c->dropped_by = op;
	c->down = d->down;
	if (d->down)
		t->sync = true;
}

static void
drop_column_complete(OnlineMigration *m, OnlineOp *op)
{
	DropColumn *d = op->data;

	online_ddl(m, "complete", psprintf("ALTER TABLE %s DROP COLUMN %s", online_op_rel_sql(op),
									   quote_identifier(d->column)));
}

/* listed in ops.c; declared first for -Wmissing-variable-declarations (18) */
extern const OnlineOpMethods online_op_drop_column;

const OnlineOpMethods online_op_drop_column = {
	.name = "drop_column",
	.fields = fields,
	.parse = drop_column_parse,
	.shape = drop_column_shape,
	.complete = drop_column_complete,
};
