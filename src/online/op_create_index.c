/*-------------------------------------------------------------------------
 *
 * op_create_index.c
 *	  create_index: built CONCURRENTLY by the background job, on the
 *	  table's own columns.  Its columns are named as the operation sees
 *	  them; its predicate is read against the new shape.
 *
 *	  {"create_index": {"table": "users", "name": "users_handle_key",
 *	   "columns": ["handle"], "unique": true, "method": "btree",
 *	   "where": "handle <> ''"}}
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "online/online_int.h"

typedef struct CreateIndex
{
	char	   *name;
	List	   *columns;		/* names, as the operation sees them */
	bool		unique;
	char	   *method;
	char	   *where;			/* an expression over the new shape */
	List	   *physical;		/* the columns' names in the table, as they
								 * were when it came (shape) */
} CreateIndex;

static const char *const fields[] = {
	"schema", "table", "name", "columns", "unique", "method", "where", NULL
};

static void
create_index_parse(OnlineMigration *m, OnlineOp *op, JsonbContainer *body,
				   bool check_catalog)
{
	CreateIndex *d = palloc0(sizeof(CreateIndex));
	ListCell   *lc;

	op->data = d;
	op->table = doc_identifier(body, "table", true);
	d->name = doc_identifier(body, "name", true);
	foreach(lc, doc_array(body, "columns"))
	{
		JsonbValue *v = lfirst(lc);
		char	   *name;

		if (v->type != jbvString || v->val.string.len == 0)
			op_error("index columns must be non-empty strings");
		name = pnstrdup(v->val.string.val, v->val.string.len);
		if (strlen(name) >= NAMEDATALEN)
			op_error("identifier \"%s\" is longer than %d bytes", name, NAMEDATALEN - 1);
		d->columns = lappend(d->columns, name);
	}
	doc_key_columns(d->columns, "columns");
	d->unique = doc_bool(body, "unique", false);
	d->method = doc_identifier(body, "method", false);
	if (d->method && check_catalog &&
		!SearchSysCacheExists1(AMNAME, CStringGetDatum(d->method)))
		op_error("access method \"%s\" does not exist", d->method);
	d->where = doc_expression(body, "where");
}

static void
create_index_shape(ShapeState *s, OnlineOp *op)
{
	CreateIndex *d = op->data;
	ShapeTable *t = shape_open(s, op, false, NULL);

	if (!s->expanded && OidIsValid(get_relname_relid(d->name, s->nsp)))
		op_error("relation \"%s.%s\" already exists", s->m->schema, d->name);
	d->physical = shape_columns_physical(s, t, d->columns);
}

/* A concurrent build by the job, on the table's own columns. */
static void
create_index_start_views(OnlineMigration *m, OnlineOp *op, StringInfo steps)
{
	CreateIndex *d = op->data;
	ShapeTable *t = op->st;
	StringInfoData sql;
	ListCell   *lc;

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE %sINDEX CONCURRENTLY %s ON %s",
					 d->unique ? "UNIQUE " : "", quote_identifier(d->name),
					 online_rel_sql(t->relid));
	if (d->method)
		appendStringInfo(&sql, " USING %s", quote_identifier(d->method));
	appendStringInfoString(&sql, " (");
	foreach(lc, d->physical)
	{
		appendStringInfo(&sql, "%s%s", foreach_current_index(lc) > 0 ? ", " : "",
						 quote_identifier(lfirst(lc)));
	}
	appendStringInfoChar(&sql, ')');
	if (d->where)
		appendStringInfo(&sql, " WHERE %s",
						 online_mapped_expression(d->where, m, t, EXPR_KIND_INDEX_PREDICATE));
	online_add_step(steps, sql.data);
}

static void
create_index_rollback(OnlineMigration *m, OnlineOp *op)
{
	CreateIndex *d = op->data;

	online_ddl(m, "rollback", psprintf("DROP INDEX IF EXISTS %s",
									   online_qualified(m->schema, d->name)));
}

/* listed in ops.c; declared first for -Wmissing-variable-declarations (18) */
extern const OnlineOpMethods online_op_create_index;

const OnlineOpMethods online_op_create_index = {
	.name = "create_index",
	.fields = fields,
	.parse = create_index_parse,
	.shape = create_index_shape,
	.start_views = create_index_start_views,
	.rollback = create_index_rollback,
};
