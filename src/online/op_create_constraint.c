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
 *	  table while it builds its index.
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

#include "access/amapi.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_index.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_opfamily.h"
#include "commands/defrem.h"
#include "parser/parse_oper.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
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

/* One element of an exclusion constraint: a column or an expression. */
typedef struct ExcludeElement
{
	char	   *column;			/* as the operation sees it, */
	char	   *expression;		/* ... or an expression over the new shape */
	char	   *operator;		/* a name, resolved with the caller's path */
	char	   *physical;		/* the column's name in the table (shape) */
} ExcludeElement;

typedef struct CreateConstraint
{
	char	   *name;
	ConstraintKind kind;
	List	   *columns;		/* names, as the operation sees them */
	char	   *check;			/* an expression over the new shape */
	OnlineReference *references;
	char	   *method;			/* exclude: an index access method, */
	List	   *elements;		/* ... its elements (ExcludeElement *), */
	char	   *where;			/* ... its predicate, over the new shape */
	/* as online_shape left them: physical names, as they were when it came */
	List	   *physical;		/* of its columns, */
	List	   *ref_physical;	/* ... of the referenced ones, */
	char	   *ref_relname;	/* ... and of the referenced table */
} CreateConstraint;

static const char *const fields[] = {
	"schema", "table", "name", "type", "columns", "check", "references",
	"method", "elements", "where", NULL
};
static const char *const element_fields[] = {"column", "expression", "operator", NULL};

/* The index access method of an exclusion constraint, by its name. */
static Oid
exclusion_method(const char *method)
{
	Oid			amoid = get_am_oid(method, true);
	HeapTuple	tup;
	char		amtype;

	if (!OidIsValid(amoid))
		op_error("access method \"%s\" does not exist", method);
	tup = SearchSysCache1(AMOID, ObjectIdGetDatum(amoid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for access method %u", amoid);
	amtype = ((Form_pg_am) GETSTRUCT(tup))->amtype;
	ReleaseSysCache(tup);
	if (amtype != AMTYPE_INDEX)
		op_error("access method \"%s\" is not an index access method", method);
	if (GetIndexAmRoutineByAmId(amoid, false)->amgettuple == NULL)
		op_error("access method \"%s\" does not support exclusion constraints", method);
	return amoid;
}

/* An operator's name: the characters of one, and no more than a name. */
static char *
doc_operator(JsonbContainer *obj, const char *key)
{
	char	   *s = doc_string(obj, key, true);
	size_t		len = strlen(s);

	if (len == 0 || len >= NAMEDATALEN || strspn(s, "+-*/<>=~!@#%^&|`?") != len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not the name of an operator", s),
				 errhint("Give the operator's name alone, as in \"&&\"; it is looked up on the search_path.")));
	return s;
}

/* Is there a binary operator of that name on the caller's search_path? */
static void
check_operator_name(const char *opname)
{
	int			nestlevel = online_user_path();
	bool		found = OpernameGetCandidates(list_make1(makeString(pstrdup(opname))),
											  'b', false) != NULL;

	online_path_end(nestlevel);
	if (!found)
		op_error("operator %s does not exist", opname);
}

/* An operator family's name, for messages. */
static char *
opfamily_name(Oid opfamily)
{
	HeapTuple	tup = SearchSysCache1(OPFAMILYOID, ObjectIdGetDatum(opfamily));
	char	   *name;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator family %u", opfamily);
	name = pstrdup(NameStr(((Form_pg_opfamily) GETSTRUCT(tup))->opfname));
	ReleaseSysCache(tup);
	return name;
}

/*
 * The exclusion operator of an element of this type: found by its name on
 * the caller's search_path, as the server would find it for the constraint,
 * and refused for what the server would refuse.
 */
static Oid
exclusion_operator(const char *opname, Oid typid, Oid amoid)
{
	Oid			opclass = GetDefaultOpClass(typid, amoid);
	Oid			opid;
	int			nestlevel;

	if (!OidIsValid(opclass))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("data type %s has no default operator class for access method \"%s\"",
						format_type_be(typid), get_am_name(amoid)),
				 amoid == GIST_AM_OID ?
				 errhint("The btree_gist extension has operator classes for the scalar types.") : 0));
	nestlevel = online_user_path();
	opid = compatible_oper_opid(list_make1(makeString(pstrdup(opname))), typid, typid, true);
	online_path_end(nestlevel);
	if (!OidIsValid(opid))
		op_error("operator %s does not exist for type %s", opname, format_type_be(typid));
	if (get_commutator(opid) != opid)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("operator %s is not commutative", format_operator(opid)),
				 errdetail("Only commutative operators can be used in exclusion constraints.")));
	if (get_op_opfamily_strategy(opid, get_opclass_family(opclass)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("operator %s is not a member of operator family \"%s\"",
						format_operator(opid), opfamily_name(get_opclass_family(opclass))),
				 errdetail("The exclusion operator must be one of the default operator class of the element's type for access method \"%s\".",
						   get_am_name(amoid))));
	return opid;
}

/* An operator as SQL: OPERATOR(schema.name), from the catalog. */
static char *
operator_sql(Oid opid)
{
	HeapTuple	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opid));
	Form_pg_operator oper;
	char	   *sql;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator %u", opid);
	oper = (Form_pg_operator) GETSTRUCT(tup);
	sql = psprintf("OPERATOR(%s.%s)", quote_identifier(get_namespace_name(oper->oprnamespace)),
				   NameStr(oper->oprname));
	ReleaseSysCache(tup);
	return sql;
}

static void
parse_elements(CreateConstraint *d, JsonbContainer *body)
{
	List	   *elems = doc_array(body, "elements");
	ListCell   *lc;

	if (list_length(elems) > INDEX_MAX_KEYS)
		op_error("field \"elements\" has %d elements, more than the %d of an index",
				 list_length(elems), INDEX_MAX_KEYS);
	foreach(lc, elems)
	{
		JsonbContainer *c = doc_container(lfirst(lc));
		ExcludeElement *e = palloc0(sizeof(ExcludeElement));

		if (c == NULL || !JsonContainerIsObject(c))
			op_error("an element of \"elements\" must be an object");
		doc_check_keys(c, element_fields, "an element of \"elements\"");
		e->column = doc_identifier(c, "column", false);
		e->expression = doc_expression(c, "expression");
		if ((e->column == NULL) == (e->expression == NULL))
			op_error("an element of \"elements\" has a \"column\" or an \"expression\"");
		e->operator = doc_operator(c, "operator");
		d->elements = lappend(d->elements, e);
	}
}

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
			d->method = doc_identifier(body, "method", false);
			if (d->method == NULL)
				d->method = "gist";
			if (check_catalog)
				(void) exclusion_method(d->method);
			parse_elements(d, body);
			d->where = doc_expression(body, "where");
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
shape_elements(ShapeState *s, ShapeTable *t, CreateConstraint *d)
{
	Oid			amoid = s->expanded ? InvalidOid : exclusion_method(d->method);
	ListCell   *lc;

	foreach(lc, d->elements)
	{
		ExcludeElement *e = lfirst(lc);
		ShapeColumn *c = e->column ? shape_find_column(s, t, e->column, "table") : NULL;

		if (c)
			e->physical = c->physical;
		if (s->expanded)
			continue;
		if (c && c->added_by == NULL && OidIsValid(t->relid))
			(void) exclusion_operator(e->operator,
									  get_atttype(t->relid, get_attnum(t->relid, c->physical)),
									  amoid);
		else
			check_operator_name(e->operator);
	}
}

static void
create_constraint_shape(ShapeState *s, OnlineOp *op)
{
	CreateConstraint *d = op->data;
	ShapeTable *t = shape_open(s, op, false, NULL);

	if (!s->expanded && (OidIsValid(shape_constraint_oid(t->relid, d->name)) ||
						 OidIsValid(get_relname_relid(d->name, s->nsp))))
		op_error("constraint \"%s\" of table \"%s\" already exists", d->name, op->table);
	if (d->kind == CON_PRIMARY_KEY && !s->expanded)
		check_primary_key(s, op, t);
	d->physical = shape_columns_physical(s, t, d->columns);
	if (d->references)
		d->ref_physical = shape_reference(s, d->references, &d->ref_relname);
	if (d->kind == CON_EXCLUDE)
		shape_elements(s, t, d);
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
	online_add_validation(steps, rel, ONLINE_PKEY_CHECK);
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
	Oid			amoid = exclusion_method(d->method);
	StringInfoData sql;
	ListCell   *lc;

	initStringInfo(&sql);
	appendStringInfo(&sql, "ALTER TABLE %s ADD CONSTRAINT %s EXCLUDE USING %s (",
					 online_rel_sql(t->relid), quote_identifier(d->name),
					 quote_identifier(get_am_name(amoid)));
	foreach(lc, d->elements)
	{
		ExcludeElement *e = lfirst(lc);
		const char *key;
		Oid			typid;

		if (e->column)
		{
			key = quote_identifier(e->physical);
			typid = get_atttype(t->relid, get_attnum(t->relid, e->physical));
		}
		else
			key = psprintf("(%s)", online_mapped_element(e->expression, m, t, &typid));
		appendStringInfo(&sql, "%s%s WITH %s", foreach_current_index(lc) > 0 ? ", " : "",
						 key, operator_sql(exclusion_operator(e->operator, typid, amoid)));
	}
	appendStringInfoChar(&sql, ')');
	if (d->where)
		appendStringInfo(&sql, " WHERE (%s)",
						 online_mapped_expression(d->where, m, t, EXPR_KIND_INDEX_PREDICATE));
	return sql.data;
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
			online_add_step(steps, psprintf("CREATE UNIQUE INDEX CONCURRENTLY %s ON %s (%s)",
											quote_identifier(d->name), rel, cols));
			break;
		case CON_CHECK:
			online_ddl(m, "create_constraint",
					   psprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s) NOT VALID", rel,
								quote_identifier(d->name),
								online_mapped_expression(d->check, m, t, EXPR_KIND_CHECK_CONSTRAINT)));
			online_add_validation(steps, rel, d->name);
			break;
		case CON_FOREIGN_KEY:
			online_ddl(m, "create_constraint",
					   psprintf("ALTER TABLE %s ADD CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s (%s)"
								" ON UPDATE %s ON DELETE %s NOT VALID",
								rel, quote_identifier(d->name), cols,
								online_qualified(m->schema, d->ref_relname),
								name_list(d->ref_physical),
								d->references->on_update, d->references->on_delete));
			online_add_validation(steps, rel, d->name);
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

/* A unique index becomes the constraint; a primary key's columns NOT NULL first. */
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
