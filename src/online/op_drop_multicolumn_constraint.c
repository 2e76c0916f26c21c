/*-------------------------------------------------------------------------
 *
 * op_drop_multicolumn_constraint.c
 *	  drop_multicolumn_constraint: the new shape stops enforcing a check,
 *	  unique or foreign key constraint at start; the old one keeps it.
 *
 * Each of its columns is altered (op_alter_column.c) into a shadow column
 * that carries all the old one does but this constraint: writes of the old
 * shape fill the shadows with up, writes of the new one fill the old
 * columns with down (which must satisfy the constraint), and complete puts
 * the shadows in the old columns' places, the constraint going with the
 * old columns.  drop_constraint with up and down is one of these, of the
 * one column of its constraint.
 *
 *	  {"drop_multicolumn_constraint": {"table": "events", "name": "events_span_check",
 *	   "up": {"starts": "starts", "ends": "ends"},
 *	   "down": {"starts": "least(starts, ends)", "ends": "greatest(starts, ends)"}}}
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_constraint.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "online/online_int.h"

static const char *const fields[] = {"schema", "table", "name", "up", "down", NULL};

/*
 * up or down: an object of one expression per column.  Its keys come
 * sorted and once each (jsonb's order), so up's and down's line up when
 * they name the same columns.
 */
static void
column_expressions(JsonbContainer *body, const char *key, List **columns,
				   List **exprs)
{
	JsonbValue *v = doc_field(body, key);
	JsonbContainer *c;
	JsonbIterator *it;
	JsonbValue	jv;
	JsonbIteratorToken tok;
	char	   *column = NULL;

	if (v == NULL)
		op_error("field \"%s\" is required", key);
	c = doc_container(v);
	if (c == NULL || !JsonContainerIsObject(c) || JsonContainerSize(c) == 0)
		op_error("field \"%s\" must be an object of an expression per column", key);
	it = JsonbIteratorInit(c);
	while ((tok = JsonbIteratorNext(&it, &jv, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			column = pnstrdup(jv.val.string.val, jv.val.string.len);
			if (column[0] == '\0')
				op_error("field \"%s\" names a column with an empty name", key);
			if (strlen(column) >= NAMEDATALEN)
				op_error("identifier \"%s\" is longer than %d bytes", column, NAMEDATALEN - 1);
		}
		else if (tok == WJB_VALUE)
		{
			char	   *expr;

			if (jv.type != jbvString)
				op_error("\"%s\" of column \"%s\" must be an expression, as a string",
						 key, column);
			expr = pnstrdup(jv.val.string.val, jv.val.string.len);
			(void) online_expression(expr, InvalidOid, InvalidOid, -1, NULL);
			*columns = lappend(*columns, column);
			*exprs = lappend(*exprs, expr);
		}
	}
}

static void
drop_multicolumn_constraint_parse(OnlineMigration *m, OnlineOp *op,
								  JsonbContainer *body, bool check_catalog)
{
	DropShadowed *d = palloc0(sizeof(DropShadowed));
	List	   *down_columns = NIL;
	ListCell   *lc;

	op->data = d;
	op->table = doc_identifier(body, "table", true);
	d->name = doc_identifier(body, "name", true);
	column_expressions(body, "up", &d->columns, &d->up);
	column_expressions(body, "down", &down_columns, &d->down);
	if (list_length(down_columns) != list_length(d->columns))
		op_error("\"up\" and \"down\" must name the same columns");
	foreach(lc, d->columns)
	{
		if (strcmp(lfirst(lc), list_nth(down_columns, foreach_current_index(lc))) != 0)
			op_error("\"up\" and \"down\" must name the same columns");
	}
}

/*
 * The columns of the constraint, by their names in the new shape as the
 * operation finds it; the kinds of constraint that cannot be dropped so
 * refused.
 */
static List *
constraint_columns(ShapeTable *t, const char *name, Oid conoid)
{
	HeapTuple	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	char		contype;
	bool		isnull;
	Datum		conkey;
	List	   *attnums = NIL;
	List	   *columns = NIL;
	ListCell   *lc;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for constraint %u", conoid);
	contype = ((Form_pg_constraint) GETSTRUCT(tup))->contype;
	conkey = SysCacheGetAttr(CONSTROID, tup, Anum_pg_constraint_conkey, &isnull);
	if (!isnull)
	{
		ArrayType  *arr = DatumGetArrayTypeP(conkey);

		for (int i = 0; i < ARR_DIMS(arr)[0]; i++)
			attnums = lappend_int(attnums, ((int16 *) ARR_DATA_PTR(arr))[i]);
	}
	ReleaseSysCache(tup);

	if (contype == CONSTRAINT_PRIMARY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("constraint \"%s\" is the primary key of table \"%s\"", name, t->name),
				 errdetail("A primary key is not dropped for the new shape at start: the foreign keys that reference it and the table's replica identity rely on it until complete."),
				 errhint("drop_constraint without \"up\" and \"down\" drops it at complete.")));
	if (contype == 'n')			/* CONSTRAINT_NOTNULL, from 18 on */
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("constraint \"%s\" is a NOT NULL constraint", name),
				 errhint("alter_column with \"nullable\": true lets the new shape write NULLs from start on.")));
	if (contype != CONSTRAINT_CHECK && contype != CONSTRAINT_UNIQUE &&
		contype != CONSTRAINT_FOREIGN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("constraint \"%s\" is not a check, unique or foreign key constraint", name),
				 errdetail("Only those are dropped for the new shape at start."),
				 errhint("drop_constraint without \"up\" and \"down\" drops it at complete.")));

	foreach(lc, attnums)
	{
		char	   *physical = get_attname(t->relid, lfirst_int(lc), true);
		ShapeColumn *c = NULL;
		ListCell   *cc;

		if (physical == NULL)
			op_error("constraint \"%s\" is on the whole row, not on columns", name);
		foreach(cc, t->columns)
		{
			ShapeColumn *sc = lfirst(cc);

			if (!sc->hidden && strcmp(sc->physical, physical) == 0)
				c = sc;
		}
		if (c == NULL)
			op_error("column \"%s\" of constraint \"%s\" is dropped or altered by an earlier operation",
					 physical, name);
		columns = lappend(columns, c->name);
	}
	if (columns == NIL)
		op_error("constraint \"%s\" is on no column", name);
	return columns;
}

/* The names of a list, for a sentence: "a, b". */
static char *
names_list(List *names)
{
	StringInfoData s;
	ListCell   *lc;

	initStringInfo(&s);
	foreach(lc, names)
		appendStringInfo(&s, "%s%s", foreach_current_index(lc) > 0 ? ", " : "",
						 quote_identifier(lfirst(lc)));
	return s.data;
}

/*
 * The constraint's columns, each altered into a shadow column without it.
 * Rolling back, a constraint that is gone leaves the columns the document
 * names (drop_constraint's, none).
 */
void
drop_shadowed_shape(ShapeState *s, OnlineOp *op)
{
	DropShadowed *d = op->data;
	ShapeTable *t = shape_open(s, op, false, NULL);
	Oid			conoid = shape_constraint_oid(t->relid, d->name);
	List	   *columns = d->columns;
	ListCell   *lc;

	d->alters = NIL;
	if (OidIsValid(conoid))
	{
		List	   *actual = constraint_columns(t, d->name, conoid);
		bool		same = list_length(actual) == list_length(columns);

		foreach(lc, columns)
		{
			ListCell   *ac;
			bool		found = false;

			foreach(ac, actual)
				found |= strcmp(lfirst(ac), lfirst(lc)) == 0;
			same &= found;
		}
		if (columns == NIL && list_length(actual) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("constraint \"%s\" is on %d columns", d->name, list_length(actual)),
					 errhint("drop_multicolumn_constraint drops it, with \"up\" and \"down\" for each of %s.",
							 names_list(actual))));
		else if (columns == NIL)
			columns = actual;
		else if (!same)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"up\" and \"down\" must name the columns of constraint \"%s\", no others",
							d->name),
					 errdetail("Its columns are %s.", names_list(actual))));
	}
	else if (!s->lenient)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("constraint \"%s\" of table \"%s\" does not exist", d->name, op->table),
				 s->expanded ?
				 errdetail("It was dropped or renamed since the migration started.") : 0,
				 s->expanded ?
				 errhint("migrate_rollback() undoes what is left of the migration.") : 0));
	else if (columns == NIL)
		return;					/* rolling back: which column is not known */

	foreach(lc, columns)
	{
		int			i = foreach_current_index(lc);

		d->alters = lappend(d->alters,
							online_alter_dropping(s, op, lfirst(lc), list_nth(d->up, i),
												  list_nth(d->down, i), conoid));
	}
}

/* The methods of alter_column, of each column. */
void
drop_shadowed_start(OnlineMigration *m, OnlineOp *op, StringInfo steps)
{
	ListCell   *lc;

	foreach(lc, ((DropShadowed *) op->data)->alters)
		((OnlineOp *) lfirst(lc))->methods->start(m, lfirst(lc), steps);
}

void
drop_shadowed_start_views(OnlineMigration *m, OnlineOp *op, StringInfo steps)
{
	ListCell   *lc;

	foreach(lc, ((DropShadowed *) op->data)->alters)
		((OnlineOp *) lfirst(lc))->methods->start_views(m, lfirst(lc), steps);
}

void
drop_shadowed_before_complete(OnlineMigration *m, OnlineOp *op)
{
	ListCell   *lc;

	foreach(lc, ((DropShadowed *) op->data)->alters)
		((OnlineOp *) lfirst(lc))->methods->before_complete(m, lfirst(lc));
}

/* The old columns go, and the constraint with them. */
void
drop_shadowed_complete(OnlineMigration *m, OnlineOp *op)
{
	ListCell   *lc;

	foreach(lc, ((DropShadowed *) op->data)->alters)
		((OnlineOp *) lfirst(lc))->methods->complete(m, lfirst(lc));
}

void
drop_shadowed_rollback(OnlineMigration *m, OnlineOp *op)
{
	List	   *alters = ((DropShadowed *) op->data)->alters;

	for (int i = list_length(alters) - 1; i >= 0; i--)
		((OnlineOp *) list_nth(alters, i))->methods->rollback(m, list_nth(alters, i));
}

/* listed in ops.c; declared first for -Wmissing-variable-declarations (18) */
extern const OnlineOpMethods online_op_drop_multicolumn_constraint;

const OnlineOpMethods online_op_drop_multicolumn_constraint = {
	.name = "drop_multicolumn_constraint",
	.fields = fields,
	.parse = drop_multicolumn_constraint_parse,
	.shape = drop_shadowed_shape,
	.start = drop_shadowed_start,
	.start_views = drop_shadowed_start_views,
	.before_complete = drop_shadowed_before_complete,
	.complete = drop_shadowed_complete,
	.rollback = drop_shadowed_rollback,
};
