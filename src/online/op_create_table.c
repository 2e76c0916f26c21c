/*-------------------------------------------------------------------------
 *
 * op_create_table.c
 *	  create_table: a new table, made at start, visible to both shapes.
 *
 *	  {"create_table": {"table": "orders", "columns": [{"name": "id",
 *	   "type": "bigserial", "primary_key": true}, ...]}}
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "online/online_int.h"

typedef struct CreateTable
{
	List	   *columns;		/* OnlineColumn * */
} CreateTable;

static const char *const fields[] = {"schema", "table", "columns", NULL};

static void
create_table_parse(OnlineMigration *m, OnlineOp *op, JsonbContainer *body,
				   bool check_catalog)
{
	CreateTable *d = palloc0(sizeof(CreateTable));
	List	   *elems;
	int			pk = 0;
	ListCell   *lc;

	op->data = d;
	op->table = doc_identifier(body, "table", true);
	elems = doc_array(body, "columns");
	if (list_length(elems) > MaxHeapAttributeNumber)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg_plural("field \"columns\" has %d column, more than the %d of a table",
							   "field \"columns\" has %d columns, more than the %d of a table",
							   list_length(elems), list_length(elems), MaxHeapAttributeNumber)));
	foreach(lc, elems)
	{
		OnlineColumn *col = doc_column(lfirst(lc), true, check_catalog);

		d->columns = lappend(d->columns, col);
		if (col->primary_key && ++pk > INDEX_MAX_KEYS)
			op_error("the primary key has more than the %d columns of an index",
					 INDEX_MAX_KEYS);
	}
}

static void
create_table_shape(ShapeState *s, OnlineOp *op)
{
	CreateTable *d = op->data;
	ShapeTable *t;
	ListCell   *lc;
	List	   *seen = NIL;

	if (shape_find(s->tables, op->table) ||
		(!s->expanded && shape_name_taken(s, op->table)))
		op_error("relation \"%s.%s\" already exists", s->m->schema, op->table);
	t = palloc0(sizeof(ShapeTable));
	t->name = t->physical = op->table;
	t->created = true;
	if (s->expanded)
		t->relid = get_relname_relid(op->table, s->nsp);
	foreach(lc, d->columns)
	{
		OnlineColumn *col = lfirst(lc);
		ShapeColumn *c;

		if (list_member(seen, makeString(col->name)))
			op_error("column \"%s\" appears twice", col->name);
		seen = lappend(seen, makeString(col->name));
		c = palloc0(sizeof(ShapeColumn));
		c->name = c->old_name = c->physical = col->name;
		t->columns = lappend(t->columns, c);
	}
	s->tables = lappend(s->tables, t);
	op->st = t;
}

static void
create_table_start(OnlineMigration *m, OnlineOp *op, StringInfo steps)
{
	CreateTable *d = op->data;
	char	   *table = online_qualified(m->schema, op->table);
	StringInfoData sql;
	ListCell   *lc;
	List	   *pk = NIL;

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE TABLE %s (", table);
	foreach(lc, d->columns)
	{
		OnlineColumn *col = lfirst(lc);
		Oid			typid = InvalidOid;
		int32		typmod = -1;
		const char *type = online_serial(col->type);

		if (type == NULL)
			type = online_column_type(col->type, &typid, &typmod);
		else if (col->default_expr)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" of type %s cannot have a default", col->name, type)));
		appendStringInfo(&sql, "%s%s %s", foreach_current_index(lc) > 0 ? ", " : "",
						 quote_identifier(col->name), type);
		if (!col->nullable)
			appendStringInfoString(&sql, " NOT NULL");
		if (col->default_expr)
			appendStringInfo(&sql, " DEFAULT %s",
							 online_default(col->default_expr, typid, typmod));
		if (col->unique)
			appendStringInfoString(&sql, " UNIQUE");
		if (col->primary_key)
			pk = lappend(pk, col->name);
	}
	if (pk != NIL)
	{
		appendStringInfoString(&sql, ", PRIMARY KEY (");
		foreach(lc, pk)
		{
			appendStringInfo(&sql, "%s%s", foreach_current_index(lc) > 0 ? ", " : "",
							 quote_identifier(lfirst(lc)));
		}
		appendStringInfoChar(&sql, ')');
	}
	appendStringInfoChar(&sql, ')');
	online_ddl(m, "create_table", sql.data);
	foreach(lc, d->columns)
	{
		OnlineColumn *col = lfirst(lc);

		if (col->comment)
			online_ddl(m, "create_table", psprintf("COMMENT ON COLUMN %s.%s IS %s", table,
												   quote_identifier(col->name),
												   quote_literal_cstr(col->comment)));
	}
	op->st->relid = get_relname_relid(op->st->name, get_namespace_oid(m->schema, false));
}

static void
create_table_rollback(OnlineMigration *m, OnlineOp *op)
{
	char	   *table = online_op_rel_sql(op);

	if (table)
		online_ddl(m, "rollback", psprintf("DROP TABLE %s", table));
	op->st->relid = InvalidOid;
}

/* listed in ops.c; declared first for -Wmissing-variable-declarations (18) */
extern const OnlineOpMethods online_op_create_table;

const OnlineOpMethods online_op_create_table = {
	.name = "create_table",
	.fields = fields,
	.parse = create_table_parse,
	.shape = create_table_shape,
	.start = create_table_start,
	.rollback = create_table_rollback,
};
