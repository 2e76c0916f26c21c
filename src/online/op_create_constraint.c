/*-------------------------------------------------------------------------
 *
 * op_create_constraint.c
 *	  create_constraint: a constraint over one or more columns.  A check or
 *	  foreign key is added NOT VALID at start and validated by the job; a
 *	  unique constraint or primary key is an index built concurrently by
 *	  the job, which complete makes the constraint (a primary key's columns
 *	  NOT NULL first, proven by a check the job validated, so without a
 *	  scan).  An exclusion constraint cannot be made from an index: it is
 *	  built at start, by ALTER TABLE, which holds ACCESS EXCLUSIVE on the
 *	  table while it builds its index.  On a partitioned table a check is
 *	  validated partition by partition (partitions.c); a unique constraint
 *	  and a primary key are refused (no USING INDEX of a partitioned index),
 *	  a foreign key before PostgreSQL 18 and an exclusion constraint before
 *	  17 or without the partition key's columns.
 *
 *	  {"create_constraint": {"table": "orders", "name": "orders_squad_fk",
 *	   "type": "foreign_key", "columns": ["squad_id"],
 *	   "references": {"table": "squads", "columns": ["id"]}}}
 *
 *	  {"create_constraint": {"table": "bookings", "name": "bookings_no_overlap",
 *	   "type": "exclude", "method": "gist",
 *	   "elements": [{"column": "room", "operator": "="},
 *	                {"expression": "tstzrange(starts, ends)", "operator": "&&"}],
 *	   "where": "NOT cancelled"}}
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_index.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "online/online_int.h"

typedef enum ConstraintKind
{
	CON_UNIQUE,
	CON_PRIMARY_KEY,
	CON_CHECK,
	CON_FOREIGN_KEY,
	CON_EXCLUDE,
} ConstraintKind;

static const char *const kind_names[] = {
	[CON_UNIQUE] = "unique",
	[CON_PRIMARY_KEY] = "primary_key",
	[CON_CHECK] = "check",
	[CON_FOREIGN_KEY] = "foreign_key",
	[CON_EXCLUDE] = "exclude",
};

/* their pg_constraint contype */
static const char kind_contypes[] = {
	[CON_UNIQUE] = CONSTRAINT_UNIQUE,
	[CON_PRIMARY_KEY] = CONSTRAINT_PRIMARY,
	[CON_CHECK] = CONSTRAINT_CHECK,
	[CON_FOREIGN_KEY] = CONSTRAINT_FOREIGN,
	[CON_EXCLUDE] = CONSTRAINT_EXCLUSION,
};

typedef struct CreateConstraint
{
	char	   *name;
	ConstraintKind kind;
	List	   *columns;		/* names, as the operation sees them */
	char	   *check;			/* an expression over the new shape */
	OnlineReference *references;
	OnlineExclusion *exclusion; /* exclude: its elements and predicate over
								 * the new shape */
	/* as online_shape left them: physical names, as they were when it came */
	List	   *physical;		/* of its columns, */
	List	   *ref_physical;	/* ... of the referenced ones, */
	char	   *ref_relname;	/* ... and of the referenced table */
} CreateConstraint;

static const char *const fields[] = {
	"schema", "table", "name", "type", "columns", "check", "references",
	"method", "elements", "where", NULL
};

static void
create_constraint_parse(OnlineMigration *m, OnlineOp *op, JsonbContainer *body,
						bool check_catalog)
{
	CreateConstraint *d = palloc0(sizeof(CreateConstraint));
	char	   *type;
	int			kind;

	op->data = d;
	op->table = doc_identifier(body, "table", true);
	d->name = doc_identifier(body, "name", true);
	type = doc_string(body, "type", true);
	for (kind = 0; kind < (int) lengthof(kind_names); kind++)
		if (strcmp(type, kind_names[kind]) == 0)
			break;
	if (kind == (int) lengthof(kind_names))
		op_error("constraint type must be unique, primary_key, check, foreign_key or exclude");
	d->kind = (ConstraintKind) kind;
	d->columns = doc_field(body, "columns") ? doc_identifiers(body, "columns") : NIL;
	doc_key_columns(d->columns, "columns");
	switch (d->kind)
	{
		case CON_UNIQUE:
		case CON_PRIMARY_KEY:
			if (d->columns == NIL)
				op_error("a %s constraint needs \"columns\"", type);
			break;
		case CON_CHECK:
			d->check = doc_string(body, "check", true);
			(void) online_expression(d->check, InvalidOid, InvalidOid, -1, NULL);
			break;
		case CON_FOREIGN_KEY:
			d->references = doc_reference(body, false, NULL);
			if (d->columns == NIL || d->references == NULL)
				op_error("a foreign key needs \"columns\" and \"references\"");
			if (list_length(d->columns) != list_length(d->references->columns))
				op_error("a foreign key references as many columns as it has");
			break;
		case CON_EXCLUDE:
			if (d->columns != NIL)
				op_error("an exclusion constraint has \"elements\", not \"columns\"");
			d->exclusion = online_exclusion_doc(body, check_catalog);
			break;
	}
	if (d->kind != CON_CHECK && doc_field(body, "check"))
		op_error("field \"check\" is for check constraints");
	if (d->kind != CON_FOREIGN_KEY && doc_field(body, "references"))
		op_error("field \"references\" is for foreign keys");
	if (d->kind != CON_EXCLUDE &&
		(doc_field(body, "method") || doc_field(body, "elements") || doc_field(body, "where")))
		op_error("fields \"method\", \"elements\" and \"where\" are for exclusion constraints");
}

/* The name of the table's primary key, or NULL. */
static char *
primary_key_name(Oid relid)
{
	Relation	rel = table_open(ConstraintRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *name = NULL;

	ScanKeyInit(&key, Anum_pg_constraint_conrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, ConstraintRelidTypidNameIndexId, true, NULL, 1, &key);
	while (name == NULL && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);

		if (con->contype == CONSTRAINT_PRIMARY)
			name = pstrdup(NameStr(con->conname));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return name;
}

/* A table has one primary key: none yet, and no other in this migration. */
static void
check_primary_key(ShapeState *s, OnlineOp *op, ShapeTable *t)
{
	ListCell   *lc;
	char	   *pk;

	if (t->created)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table \"%s\" is created by this migration", op->table),
				 errhint("Give its key columns \"primary_key\" in create_table.")));
	foreach(lc, s->m->ops)
	{
		OnlineOp   *other = lfirst(lc);

		if (other == op)
			break;
		if (other->methods == op->methods && other->st == t &&
			((CreateConstraint *) other->data)->kind == CON_PRIMARY_KEY)
			op_error("operation %d gives table \"%s\" a primary key already",
					 other->index, op->table);
	}
	if ((pk = primary_key_name(t->relid)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table \"%s\" already has a primary key", op->table),
				 errdetail("Its primary key is constraint \"%s\"; a table has one.", pk)));
}

/*
 * The elements of an exclusion constraint: their columns, and their
 * operators as far as they can be checked before start (that of a column
 * the table has: in full; else: that one of its name exists).
 */
static void
shape_elements(ShapeState *s, ShapeTable *t, OnlineExclusion *x)
{
	Oid			amoid = s->expanded ? InvalidOid : online_exclusion_method(x->method);
	ListCell   *lc;

	foreach(lc, x->elements)
	{
		OnlineExcludeElement *e = lfirst(lc);
		ShapeColumn *c = e->column ? shape_find_column(s, t, e->column, "table") : NULL;

		if (c)
			e->physical = c->physical;
		if (s->expanded)
			continue;
		if (c && c->added_by == NULL && OidIsValid(t->relid))
			(void) online_exclusion_operator(e->operator,
											 get_atttype(t->relid,
														 get_attnum(t->relid, c->physical)),
											 amoid);
		else
			online_exclusion_operator_exists(e->operator);
	}
}

/* The columns of an exclusion constraint's elements, by physical name. */
static List *
element_columns(OnlineExclusion *x)
{
	List	   *columns = NIL;
	ListCell   *lc;

	foreach(lc, x->elements)
	{
		OnlineExcludeElement *e = lfirst(lc);

		if (e->physical)
			columns = lappend(columns, e->physical);
	}
	return columns;
}

static void
create_constraint_shape(ShapeState *s, OnlineOp *op)
{
	CreateConstraint *d = op->data;
	ShapeTable *t = shape_open(s, op, false, NULL);

	if (!s->expanded && (OidIsValid(shape_constraint_oid(t->relid, d->name)) ||
						 OidIsValid(get_relname_relid(d->name, s->nsp))))
		op_error("constraint \"%s\" of table \"%s\" already exists", d->name, op->table);
	if (!s->expanded && d->kind != CON_CHECK && d->kind != CON_EXCLUDE)
		online_refuse_partitioned(t->relid, op->table, kind_contypes[d->kind]);
	if (d->kind == CON_PRIMARY_KEY && !s->expanded)
		check_primary_key(s, op, t);
	d->physical = shape_columns_physical(s, t, d->columns);
	if (d->references)
		d->ref_physical = shape_reference(s, d->references, &d->ref_relname);
	if (d->kind == CON_EXCLUDE)
	{
		shape_elements(s, t, d->exclusion);
		if (!s->expanded)
			online_refuse_partitioned_exclusion(t->relid, op->table,
												element_columns(d->exclusion));
	}
}

/* A comma-separated list of quoted names. */
static char *
name_list(List *names)
{
	StringInfoData list;
	ListCell   *lc;

	initStringInfo(&list);
	foreach(lc, names)
	{
		appendStringInfo(&list, "%s%s", list.len > 0 ? ", " : "", quote_identifier(lfirst(lc)));
	}
	return list.data;
}

/* Is this column of the table NOT NULL? */
static bool
column_not_null(Oid relid, const char *column)
{
	HeapTuple	tup = SearchSysCacheAttName(relid, column);
	bool		notnull;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "column \"%s\" of relation %u does not exist", column, relid);
	notnull = ((Form_pg_attribute) GETSTRUCT(tup))->attnotnull;
	ReleaseSysCache(tup);
	return notnull;
}

/*
 * A primary key's columns that may hold NULLs: one check that they do not,
 * NOT VALID now (it holds for new rows), validated by the job once the rows
 * are backfilled, so that complete's SET NOT NULL needs no scan.
 */
static void
primary_key_check(OnlineMigration *m, OnlineOp *op, StringInfo steps)
{
	CreateConstraint *d = op->data;
	Oid			relid = op->st->relid;
	char	   *rel = online_rel_sql(relid);
	StringInfoData check;
	ListCell   *lc;

	initStringInfo(&check);
	foreach(lc, d->physical)
	{
		if (!column_not_null(relid, lfirst(lc)))
			appendStringInfo(&check, "%s%s IS NOT NULL", check.len > 0 ? " AND " : "",
							 quote_identifier(lfirst(lc)));
	}
	if (check.len == 0)
		return;
	online_ddl(m, "create_constraint",
			   psprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s) NOT VALID", rel,
						quote_identifier(ONLINE_PKEY_CHECK), check.data));
	online_add_validation(steps, relid, ONLINE_PKEY_CHECK);
}

/* What element_sql reads an exclusion constraint's elements against. */
typedef struct ElementContext
{
	OnlineMigration *m;
	ShapeTable *t;
} ElementContext;

/* An element of an exclusion constraint, on the table's own columns. */
static const char *
element_sql(OnlineExcludeElement *e, void *arg, Oid *typid)
{
	ElementContext *cxt = arg;
	Oid			relid = cxt->t->relid;

	if (e->column)
	{
		*typid = get_atttype(relid, get_attnum(relid, e->physical));
		return quote_identifier(e->physical);
	}
	return psprintf("(%s)", online_mapped_element(e->expression, cxt->m, cxt->t, typid));
}

/*
 * The statement that adds an exclusion constraint: its elements' columns
 * and expressions, operators and predicate as the server resolved them,
 * on the table's own columns.
 */
static char *
exclusion_sql(OnlineMigration *m, OnlineOp *op)
{
	CreateConstraint *d = op->data;
	ShapeTable *t = op->st;
	ElementContext cxt = {m, t};
	char	   *sql;

	sql = psprintf("ALTER TABLE %s ADD CONSTRAINT %s %s", online_rel_sql(t->relid),
				   quote_identifier(d->name),
				   online_exclusion_sql(d->exclusion, element_sql, &cxt));
	if (d->exclusion->where)
		sql = psprintf("%s WHERE (%s)", sql,
					   online_mapped_expression(d->exclusion->where, m, t,
												EXPR_KIND_INDEX_PREDICATE));
	return sql;
}

/* At start, once the views exist (expressions are read against the new shape). */
static void
create_constraint_start_views(OnlineMigration *m, OnlineOp *op, StringInfo steps)
{
	CreateConstraint *d = op->data;
	ShapeTable *t = op->st;
	char	   *rel = online_rel_sql(t->relid);
	char	   *cols = name_list(d->physical);

	switch (d->kind)
	{
		case CON_PRIMARY_KEY:
			primary_key_check(m, op, steps);
			/* FALLTHROUGH */
		case CON_UNIQUE:
			online_add_index(m, steps, t->relid, true, d->name, psprintf(" (%s)", cols));
			break;
		case CON_CHECK:
			online_ddl(m, "create_constraint",
					   psprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s) NOT VALID", rel,
								quote_identifier(d->name),
								online_mapped_expression(d->check, m, t, EXPR_KIND_CHECK_CONSTRAINT)));
			online_add_validation(steps, t->relid, d->name);
			break;
		case CON_FOREIGN_KEY:
			online_ddl(m, "create_constraint",
					   psprintf("ALTER TABLE %s ADD CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s (%s)"
								" ON UPDATE %s ON DELETE %s NOT VALID",
								rel, quote_identifier(d->name), cols,
								online_qualified(m->schema, d->ref_relname),
								name_list(d->ref_physical),
								d->references->on_update, d->references->on_delete));
			online_add_validation(steps, t->relid, d->name);
			break;
		case CON_EXCLUDE:
			/* no index becomes one: built here, under ACCESS EXCLUSIVE */
			online_ddl(m, "create_constraint", exclusion_sql(m, op));
			break;
	}
}

/*
 * The primary key's columns that are not NOT NULL yet, by their names now
 * (the operations completed before this one may have renamed them): the
 * key columns of its index.
 */
static List *
nullable_key_columns(Oid relid, Oid indexid)
{
	HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexid));
	Form_pg_index index;
	List	   *columns = NIL;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for index %u", indexid);
	index = (Form_pg_index) GETSTRUCT(tup);
	for (int i = 0; i < index->indnkeyatts; i++)
	{
		char	   *name = get_attname(relid, index->indkey.values[i], false);

		if (!column_not_null(relid, name))
			columns = lappend(columns, name);
	}
	ReleaseSysCache(tup);
	return columns;
}

/*
 * A unique index becomes the constraint; a primary key's columns NOT NULL
 * first.  A check on a partitioned table, valid on every partition,
 * becomes valid on the table.
 */
static void
create_constraint_complete(OnlineMigration *m, OnlineOp *op)
{
	CreateConstraint *d = op->data;
	Oid			relid = op->st->relid;
	char	   *rel = online_rel_sql(relid);
	Oid			indexid;
	ListCell   *lc;

	switch (d->kind)
	{
		case CON_CHECK:
			online_validate_partitioned(m, relid, d->name);
			break;
		case CON_UNIQUE:
			online_ddl(m, "complete", psprintf("ALTER TABLE %s ADD CONSTRAINT %s UNIQUE USING INDEX %s",
											   rel, quote_identifier(d->name),
											   quote_identifier(d->name)));
			break;
		case CON_PRIMARY_KEY:
			indexid = get_relname_relid(d->name, get_rel_namespace(relid));
			if (OidIsValid(indexid))
			{
				/* the validated check spares SET NOT NULL its scan */
				foreach(lc, nullable_key_columns(relid, indexid))
				{
					online_ddl(m, "complete", psprintf("ALTER TABLE %s ALTER COLUMN %s SET NOT NULL",
													   rel, quote_identifier(lfirst(lc))));
				}
			}
			if (OidIsValid(get_relation_constraint_oid(relid, ONLINE_PKEY_CHECK, true)))
				online_ddl(m, "complete", psprintf("ALTER TABLE %s DROP CONSTRAINT %s", rel,
												   quote_identifier(ONLINE_PKEY_CHECK)));
			online_ddl(m, "complete", psprintf("ALTER TABLE %s ADD CONSTRAINT %s PRIMARY KEY USING INDEX %s",
											   rel, quote_identifier(d->name),
											   quote_identifier(d->name)));
			break;
		default:
			break;
	}
}

static void
create_constraint_rollback(OnlineMigration *m, OnlineOp *op)
{
	CreateConstraint *d = op->data;
	char	   *table = online_op_rel_sql(op);

	if (d->kind == CON_UNIQUE || d->kind == CON_PRIMARY_KEY)
	{
		if (d->kind == CON_PRIMARY_KEY && table)
			online_ddl(m, "rollback", psprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s", table,
											   quote_identifier(ONLINE_PKEY_CHECK)));
		online_ddl(m, "rollback", psprintf("DROP INDEX IF EXISTS %s",
										   online_qualified(m->schema, d->name)));
	}
	else if (table)
		online_ddl(m, "rollback", psprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s", table,
										   quote_identifier(d->name)));
}

/* listed in ops.c; declared first for -Wmissing-variable-declarations (18) */
extern const OnlineOpMethods online_op_create_constraint;

const OnlineOpMethods online_op_create_constraint = {
	.name = "create_constraint",
	.fields = fields,
	.parse = create_constraint_parse,
	.shape = create_constraint_shape,
	.start_views = create_constraint_start_views,
	.complete = create_constraint_complete,
	.rollback = create_constraint_rollback,
};
