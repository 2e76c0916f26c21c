/*-------------------------------------------------------------------------
 *
 * op_create_table.c
 *	  create_table: a new table, made at start, visible to both shapes.
 *	  Its columns may be generated (a stored expression, or an identity),
 *	  and it may have table constraints: check, unique, primary key, foreign
 *	  key, exclusion.
 *
 *	  {"create_table": {"table": "orders", "columns": [{"name": "id",
 *	   "type": "bigint", "generated": {"identity": {}}}, ...],
 *	   "constraints": [{"name": "orders_pkey", "type": "primary_key",
 *	   "columns": ["id"]}, ...]}}
 *
 * The whole of it is checked when the migration is registered: what its
 * CREATE TABLE would be is built then, as start builds it.  Expressions
 * (generated columns, checks, exclusion elements, predicates) are analysed
 * by the server over the columns of the document and put into SQL as the
 * server deparses them; operators and access methods go in as what they
 * resolved to (exclusion.c, shared with create_constraint).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/amapi.h"
#include "access/reloptions.h"
#include "access/sysattr.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_tablespace.h"
#include "catalog/pg_type.h"
#include "commands/tablespace.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "online/online_int.h"

/* The kinds of table constraint, as bits (for the fields each may have). */
#define CON_CHECK		0x01
#define CON_UNIQUE		0x02
#define CON_PRIMARY_KEY 0x04
#define CON_FOREIGN_KEY 0x08
#define CON_EXCLUDE		0x10
#define CON_INDEX		(CON_UNIQUE | CON_PRIMARY_KEY | CON_EXCLUDE)
#define CON_ALL			0x1f

static const char *const constraint_types[] = {
	"check", "unique", "primary_key", "foreign_key", "exclude", NULL
};

/* The fields of a table constraint, and the kinds that may have each. */
typedef struct ConstraintField
{
	const char *name;
	int			kinds;
} ConstraintField;

static const ConstraintField constraint_fields[] = {
	{"name", CON_ALL},
	{"type", CON_ALL},
	{"columns", CON_UNIQUE | CON_PRIMARY_KEY | CON_FOREIGN_KEY},
	{"check", CON_CHECK},
	{"no_inherit", CON_CHECK},
	{"nulls_not_distinct", CON_UNIQUE},
	{"deferrable", CON_ALL & ~CON_CHECK},
	{"initially_deferred", CON_ALL & ~CON_CHECK},
	{"references", CON_FOREIGN_KEY},
	{"index_parameters", CON_INDEX},
	{"method", CON_EXCLUDE},
	{"elements", CON_EXCLUDE},
	{"where", CON_EXCLUDE},
	{NULL, 0}
};

static const char *const constraint_keys[] = {
	"name", "type", "columns", "check", "no_inherit", "nulls_not_distinct",
	"deferrable", "initially_deferred", "references", "index_parameters",
	"method", "elements", "where", NULL
};

static const char *const index_parameter_fields[] = {
	"include_columns", "storage_parameters", "tablespace", NULL
};

/* in the order of OnlineIdentity's values */
static const char *const sequence_options[] = {
	"START WITH", "INCREMENT BY", "MINVALUE", "MAXVALUE", "CACHE"
};

typedef struct TableConstraint
{
	char	   *name;
	int			kind;			/* CON_... */
	List	   *columns;		/* names */
	char	   *check;			/* an expression over the columns */
	bool		no_inherit;
	bool		nulls_not_distinct;
	bool		deferrable;
	bool		initially_deferred;
	OnlineReference *references;
	/* index_parameters */
	List	   *include;		/* names */
	List	   *storage;		/* DefElem *, of String values */
	char	   *tablespace;
	OnlineExclusion *exclusion; /* exclude: over the columns */
	/* as online_shape left them (references) */
	List	   *ref_physical;
	char	   *ref_relname;
} TableConstraint;

typedef struct CreateTable
{
	List	   *columns;		/* OnlineColumn * */
	List	   *constraints;	/* TableConstraint * */
	char	   *comment;
} CreateTable;

static const char *const fields[] = {
	"schema", "table", "columns", "constraints", "comment", NULL
};

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

/* A column of the table, by its name; NULL if it has none of that name. */
static OnlineColumn *
find_column(CreateTable *d, const char *name)
{
	ListCell   *lc;

	foreach(lc, d->columns)
	{
		OnlineColumn *col = lfirst(lc);

		if (strcmp(col->name, name) == 0)
			return col;
	}
	return NULL;
}

/* The columns a constraint names must be the table's. */
static void
check_columns(CreateTable *d, TableConstraint *con, List *names)
{
	ListCell   *lc;

	foreach(lc, names)
	{
		if (find_column(d, lfirst(lc)) == NULL)
			op_error("column \"%s\" of constraint \"%s\" is not a column of the table",
					 (char *) lfirst(lc), con->name);
	}
}

/*
 * The storage parameters of an index: an object of names and values
 * (numbers, strings, true or false), as DefElems of their text.
 */
static List *
doc_storage_parameters(JsonbContainer *obj)
{
	JsonbValue *v = doc_field(obj, "storage_parameters");
	JsonbContainer *c = doc_container(v);
	JsonbIterator *it;
	JsonbValue	key;
	JsonbValue	val;
	JsonbIteratorToken tok;
	List	   *defs = NIL;

	if (v == NULL)
		return NIL;
	if (c == NULL || !JsonContainerIsObject(c))
		op_error("field \"storage_parameters\" must be an object");
	it = JsonbIteratorInit(c);
	while ((tok = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
	{
		char	   *name;
		char	   *value;

		if (tok != WJB_KEY)
			continue;
		name = pnstrdup(key.val.string.val, key.val.string.len);
		if (JsonbIteratorNext(&it, &val, true) != WJB_VALUE)
			elog(ERROR, "unexpected jsonb token");
		if (name[0] == '\0' || strlen(name) >= NAMEDATALEN ||
			strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(name))
			op_error("\"%s\" is not the name of a storage parameter", name);
		if (val.type == jbvNumeric)
			value = DatumGetCString(DirectFunctionCall1(numeric_out,
														NumericGetDatum(val.val.numeric)));
		else if (val.type == jbvString)
			value = pnstrdup(val.val.string.val, val.val.string.len);
		else if (val.type == jbvBool)
			value = val.val.boolean ? "true" : "false";
		else
			op_error("storage parameter \"%s\" must be a number, a string, true or false", name);
		defs = lappend(defs, makeDefElem(name, (Node *) makeString(value), -1));
	}
	return defs;
}

/* "index_parameters": included columns, storage parameters, tablespace. */
static void
parse_index_parameters(CreateTable *d, TableConstraint *con, JsonbContainer *c)
{
	JsonbContainer *p = doc_object(c, "index_parameters", index_parameter_fields);

	if (p == NULL)
		return;
	if (doc_field(p, "include_columns"))
	{
		con->include = doc_identifiers(p, "include_columns");
		doc_key_columns(con->include, "include_columns");
		if (list_length(con->include) + list_length(con->columns) +
			(con->exclusion ? list_length(con->exclusion->elements) : 0) > INDEX_MAX_KEYS)
			op_error("the index of constraint \"%s\" has more than the %d columns of an index",
					 con->name, INDEX_MAX_KEYS);
		check_columns(d, con, con->include);
	}
	con->storage = doc_storage_parameters(p);
	con->tablespace = doc_identifier(p, "tablespace", false);
}

/*
 * An exclusion constraint: "method", "elements", "where", as create_constraint
 * has them (the catalog is checked by create_table_sql); the columns of its
 * elements must be the table's.
 */
static void
parse_exclude(CreateTable *d, TableConstraint *con, JsonbContainer *c)
{
	ListCell   *lc;

	con->exclusion = online_exclusion_doc(c, false);
	foreach(lc, con->exclusion->elements)
	{
		OnlineExcludeElement *e = lfirst(lc);

		if (e->column && find_column(d, e->column) == NULL)
			op_error("column \"%s\" of constraint \"%s\" is not a column of the table",
					 e->column, con->name);
	}
}

/* One of "constraints", its fields checked against its kind. */
static TableConstraint *
parse_constraint(CreateTable *d, JsonbValue *v)
{
	JsonbContainer *c = doc_container(v);
	TableConstraint *con = palloc0(sizeof(TableConstraint));
	char	   *type;

	if (c == NULL || !JsonContainerIsObject(c))
		op_error("a constraint must be an object");
	doc_check_keys(c, constraint_keys, "a constraint");
	con->name = doc_identifier(c, "name", true);
	type = doc_string(c, "type", true);
	for (int i = 0; constraint_types[i]; i++)
		if (strcmp(type, constraint_types[i]) == 0)
			con->kind = 1 << i;
	if (con->kind == 0)
		op_error("constraint type must be check, unique, primary_key, foreign_key or exclude");
	for (int i = 0; constraint_fields[i].name; i++)
		if (!(constraint_fields[i].kinds & con->kind) && doc_field(c, constraint_fields[i].name))
			op_error("field \"%s\" is not for %s constraints", constraint_fields[i].name, type);

	if (con->kind & (CON_UNIQUE | CON_PRIMARY_KEY | CON_FOREIGN_KEY))
	{
		con->columns = doc_identifiers(c, "columns");
		doc_key_columns(con->columns, "columns");
		check_columns(d, con, con->columns);
	}
	con->deferrable = doc_bool(c, "deferrable", false);
	con->initially_deferred = doc_bool(c, "initially_deferred", false);
	if (con->initially_deferred && !con->deferrable)
		op_error("constraint \"%s\" is initially deferred, so it must be deferrable", con->name);

	switch (con->kind)
	{
		case CON_CHECK:
			con->check = doc_expression(c, "check");
			if (con->check == NULL)
				op_error("field \"check\" is required");
			con->no_inherit = doc_bool(c, "no_inherit", false);
			break;
		case CON_UNIQUE:
			con->nulls_not_distinct = doc_bool(c, "nulls_not_distinct", false);
			break;
		case CON_FOREIGN_KEY:
			{
				OnlineReference *r = doc_table_reference(c);
				ListCell   *lc;

				if (r == NULL)
					op_error("field \"references\" is required");
				if (list_length(r->columns) != list_length(con->columns))
					op_error("a foreign key references as many columns as it has");
				foreach(lc, r->set_columns)
				{
					bool		found = false;
					ListCell   *kc;

					foreach(kc, con->columns)
						found |= strcmp(lfirst(kc), lfirst(lc)) == 0;
					if (!found)
						op_error("column \"%s\" of \"on_delete_set_columns\" is not one of the foreign key's",
								 (char *) lfirst(lc));
				}
				foreach(lc, con->columns)
				{
					OnlineColumn *col = find_column(d, lfirst(lc));

					if (col->generated == NULL)
						continue;
					if (strcmp(r->on_update, "NO ACTION") != 0 && strcmp(r->on_update, "RESTRICT") != 0)
						op_error("foreign key \"%s\" on generated column \"%s\" cannot be ON UPDATE %s",
								 con->name, col->name, r->on_update);
					if (strncmp(r->on_delete, "SET ", 4) == 0)
						op_error("foreign key \"%s\" on generated column \"%s\" cannot be ON DELETE %s",
								 con->name, col->name, r->on_delete);
				}
				con->references = r;
			}
			break;
		case CON_EXCLUDE:
			parse_exclude(d, con, c);
			break;
	}
	if (con->kind & CON_INDEX)
		parse_index_parameters(d, con, c);
	return con;
}

/*
 * An identity column's type must be an integer type, and its sequence's
 * options within it: what CREATE SEQUENCE would say, said now.
 */
static void
check_identity(OnlineColumn *col, Oid typid)
{
	OnlineIdentity *id = col->identity;
	int64		typmin;
	int64		typmax;
	int64		increment;
	int64		minvalue;
	int64		maxvalue;
	int64		start;

	if (typid == INT2OID)
		typmin = PG_INT16_MIN, typmax = PG_INT16_MAX;
	else if (typid == INT4OID)
		typmin = PG_INT32_MIN, typmax = PG_INT32_MAX;
	else if (typid == INT8OID)
		typmin = PG_INT64_MIN, typmax = PG_INT64_MAX;
	else
		op_error("identity column \"%s\" must be of type smallint, integer or bigint", col->name);
	increment = id->given[1] ? id->value[1] : 1;
	if (increment == 0)
		op_error("the increment of identity column \"%s\" must not be zero", col->name);
	for (int i = 2; i <= 3; i++)
		if (id->given[i] && (id->value[i] < typmin || id->value[i] > typmax))
			op_error("the %s of identity column \"%s\" is out of range for type %s",
					 i == 2 ? "minvalue" : "maxvalue", col->name, format_type_be(typid));
	minvalue = id->given[2] ? id->value[2] : (increment > 0 ? 1 : typmin);
	maxvalue = id->given[3] ? id->value[3] : (increment > 0 ? typmax : -1);
	if (minvalue >= maxvalue)
		op_error("the minvalue " INT64_FORMAT " of identity column \"%s\" must be less than its maxvalue " INT64_FORMAT,
				 minvalue, col->name, maxvalue);
	start = id->given[0] ? id->value[0] : (increment > 0 ? minvalue : maxvalue);
	if (start < minvalue || start > maxvalue)
		op_error("the start " INT64_FORMAT " of identity column \"%s\" is not between its minvalue and maxvalue",
				 start, col->name);
	if (id->given[4] && id->value[4] < 1)
		op_error("the cache of identity column \"%s\" must be at least 1", col->name);
}

/* A column's definition, in CREATE TABLE. */
static char *
column_sql(CreateTable *d, const char *table, OnlineColumn *col)
{
	StringInfoData sql;
	Oid			typid = InvalidOid;
	int32		typmod = -1;
	const char *type = online_serial(col->type);

	initStringInfo(&sql);
	if (type == NULL)
		type = online_column_type(col->type, &typid, &typmod);
	else if (col->default_expr)
		op_error("column \"%s\" of type %s cannot have a default", col->name, type);
	appendStringInfo(&sql, "%s %s", quote_identifier(col->name), type);
	if (col->generated)
	{
		Bitmapset  *attnos = NULL;
		char	   *expr = online_new_table_expression(col->generated, table, d->columns,
													   EXPR_KIND_GENERATED_COLUMN, col,
													   &attnos);
		int			attno = -1;

		while ((attno = bms_next_member(attnos, attno)) >= 0)
		{
			OnlineColumn *used = list_nth(d->columns,
										  attno + FirstLowInvalidHeapAttributeNumber - 1);

			if (used->generated)
				op_error("generated column \"%s\" refers to generated column \"%s\"",
						 col->name, used->name);
		}
		appendStringInfo(&sql, " GENERATED ALWAYS AS (%s) STORED", expr);
	}
	if (col->identity)
	{
		OnlineIdentity *id = col->identity;
		int			n = 0;

		check_identity(col, typid);
		appendStringInfo(&sql, " GENERATED %s AS IDENTITY", id->always ? "ALWAYS" : "BY DEFAULT");
		for (int i = 0; i < ONLINE_SEQ_OPTIONS; i++)
			if (id->given[i])
				appendStringInfo(&sql, "%s%s " INT64_FORMAT, n++ ? " " : " (",
								 sequence_options[i], id->value[i]);
		if (id->cycle)
			appendStringInfo(&sql, "%sCYCLE", n++ ? " " : " (");
		if (n > 0)
			appendStringInfoChar(&sql, ')');
	}
	if (!col->nullable)
		appendStringInfoString(&sql, " NOT NULL");
	if (col->default_expr)
		appendStringInfo(&sql, " DEFAULT %s", online_default(col->default_expr, typid, typmod));
	if (col->unique)
		appendStringInfoString(&sql, " UNIQUE");
	return sql.data;
}

/* What element_sql reads an exclusion constraint's elements against. */
typedef struct ElementContext
{
	CreateTable *d;
	const char *table;
} ElementContext;

/* An element of an exclusion constraint, over the columns of the document. */
static const char *
element_sql(OnlineExcludeElement *e, void *arg, Oid *typid)
{
	ElementContext *cxt = arg;
	int32		typmod;

	if (e->column)
	{
		online_column_typid(find_column(cxt->d, e->column), typid, &typmod);
		return quote_identifier(e->column);
	}
	return psprintf("(%s)", online_new_table_element(e->expression, cxt->table,
													 cxt->d->columns, typid));
}

/* What follows the columns of an index-backed constraint. */
static void
append_index_parameters(StringInfo sql, TableConstraint *con, Oid amoid, const char *method)
{
	IndexAmRoutine *am = GetIndexAmRoutineByAmId(amoid, false);
	ListCell   *lc;

	if (con->include)
	{
		if (!am->amcaninclude)
			op_error("access method \"%s\" does not support included columns", method);
		appendStringInfo(sql, " INCLUDE (%s)", name_list(con->include));
	}
	if (con->storage)
	{
		/* the access method's own check of its options */
		(void) index_reloptions(am->amoptions,
								transformRelOptions((Datum) 0, con->storage, NULL, NULL,
													false, false),
								true);
		appendStringInfoString(sql, " WITH (");
		foreach(lc, con->storage)
		{
			DefElem    *def = lfirst(lc);

			appendStringInfo(sql, "%s%s = %s", foreach_current_index(lc) > 0 ? ", " : "",
							 quote_identifier(def->defname), quote_literal_cstr(strVal(def->arg)));
		}
		appendStringInfoChar(sql, ')');
	}
	if (con->tablespace)
	{
		Oid			spc = get_tablespace_oid(con->tablespace, true);

		if (!OidIsValid(spc))
			op_error("tablespace \"%s\" does not exist", con->tablespace);
		if (spc == GLOBALTABLESPACE_OID)
			op_error("the index of constraint \"%s\" cannot be in tablespace %s",
					 con->name, con->tablespace);
		appendStringInfo(sql, " USING INDEX TABLESPACE %s", quote_identifier(con->tablespace));
	}
}

/* A table constraint, in CREATE TABLE. */
static char *
constraint_sql(OnlineMigration *m, CreateTable *d, const char *table, TableConstraint *con)
{
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfo(&sql, "CONSTRAINT %s ", quote_identifier(con->name));
	switch (con->kind)
	{
		case CON_CHECK:
			appendStringInfo(&sql, "CHECK (%s)%s",
							 online_new_table_expression(con->check, table, d->columns,
														 EXPR_KIND_CHECK_CONSTRAINT, NULL, NULL),
							 con->no_inherit ? " NO INHERIT" : "");
			break;
		case CON_UNIQUE:
		case CON_PRIMARY_KEY:
			appendStringInfo(&sql, "%s%s (%s)",
							 con->kind == CON_UNIQUE ? "UNIQUE" : "PRIMARY KEY",
							 con->nulls_not_distinct ? " NULLS NOT DISTINCT" : "",
							 name_list(con->columns));
			append_index_parameters(&sql, con, BTREE_AM_OID, "btree");
			break;
		case CON_FOREIGN_KEY:
			{
				OnlineReference *r = con->references;

				/* the referenced table as online_shape found it, when it has */
				appendStringInfo(&sql, "FOREIGN KEY (%s) REFERENCES %s (%s) MATCH %s ON DELETE %s",
								 name_list(con->columns),
								 online_qualified(m->schema,
												  con->ref_relname ? con->ref_relname : r->table),
								 name_list(con->ref_physical ? con->ref_physical : r->columns),
								 r->match, r->on_delete);
				if (r->set_columns)
					appendStringInfo(&sql, " (%s)", name_list(r->set_columns));
				appendStringInfo(&sql, " ON UPDATE %s", r->on_update);
			}
			break;
		case CON_EXCLUDE:
			{
				OnlineExclusion *x = con->exclusion;
				ElementContext cxt = {d, table};

				appendStringInfoString(&sql, online_exclusion_sql(x, element_sql, &cxt));
				append_index_parameters(&sql, con, online_exclusion_method(x->method), x->method);
				if (x->where)
					appendStringInfo(&sql, " WHERE (%s)",
									 online_new_table_expression(x->where, table, d->columns,
																 EXPR_KIND_INDEX_PREDICATE,
																 NULL, NULL));
			}
			break;
	}
	if (con->deferrable)
		appendStringInfo(&sql, " DEFERRABLE INITIALLY %s",
						 con->initially_deferred ? "DEFERRED" : "IMMEDIATE");
	return sql.data;
}

/* The CREATE TABLE of the operation, everything in it resolved. */
static char *
create_table_sql(OnlineMigration *m, OnlineOp *op)
{
	CreateTable *d = op->data;
	StringInfoData sql;
	ListCell   *lc;
	List	   *pk = NIL;

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE TABLE %s (", online_qualified(m->schema, op->table));
	foreach(lc, d->columns)
	{
		OnlineColumn *col = lfirst(lc);

		appendStringInfo(&sql, "%s%s", foreach_current_index(lc) > 0 ? ", " : "",
						 column_sql(d, op->table, col));
		if (col->primary_key)
			pk = lappend(pk, col->name);
	}
	if (pk != NIL)
		appendStringInfo(&sql, ", PRIMARY KEY (%s)", name_list(pk));
	foreach(lc, d->constraints)
	{
		appendStringInfo(&sql, ", %s", constraint_sql(m, d, op->table, lfirst(lc)));
	}
	appendStringInfoChar(&sql, ')');
	return sql.data;
}

static void
create_table_parse(OnlineMigration *m, OnlineOp *op, JsonbContainer *body,
				   bool check_catalog)
{
	CreateTable *d = palloc0(sizeof(CreateTable));
	JsonbValue *v;
	List	   *elems;
	int			pk = 0;
	ListCell   *lc;

	op->data = d;
	op->table = doc_identifier(body, "table", true);
	d->comment = doc_string(body, "comment", false);
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

		if (find_column(d, col->name))
			op_error("column \"%s\" appears twice", col->name);
		d->columns = lappend(d->columns, col);
		if (col->primary_key && ++pk > INDEX_MAX_KEYS)
			op_error("the primary key has more than the %d columns of an index",
					 INDEX_MAX_KEYS);
	}

	/* "constraints": an array, which may be empty */
	v = doc_field(body, "constraints");
	if (v != NULL)
	{
		JsonbContainer *c = doc_container(v);

		if (c == NULL || !JsonContainerIsArray(c) || JsonContainerIsScalar(c))
			op_error("field \"constraints\" must be an array");
		if (JsonContainerSize(c) > MaxHeapAttributeNumber)
			op_error("field \"constraints\" has more than %d constraints", MaxHeapAttributeNumber);
		for (uint32 i = 0; i < JsonContainerSize(c); i++)
		{
			TableConstraint *con = parse_constraint(d, getIthJsonbValueFromContainer(c, i));
			ListCell   *oc;

			foreach(oc, d->constraints)
			{
				TableConstraint *other = lfirst(oc);

				if (strcmp(other->name, con->name) == 0)
					op_error("constraint \"%s\" appears twice", con->name);
				if (other->kind == CON_PRIMARY_KEY && con->kind == CON_PRIMARY_KEY)
					op_error("the table has two primary keys, \"%s\" and \"%s\"",
							 other->name, con->name);
			}
			if (con->kind == CON_PRIMARY_KEY && pk > 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the table has a primary key in its columns and constraint \"%s\"",
								con->name),
						 errhint("Give it in one of them.")));
			d->constraints = lappend(d->constraints, con);
		}
	}

	/* the names of the document against the catalog: what start would run */
	if (check_catalog)
		(void) create_table_sql(m, op);
}

static void
create_table_shape(ShapeState *s, OnlineOp *op)
{
	CreateTable *d = op->data;
	ShapeTable *t;
	ListCell   *lc;

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
		ShapeColumn *c = palloc0(sizeof(ShapeColumn));

		c->name = c->old_name = c->physical = col->name;
		t->columns = lappend(t->columns, c);
	}
	s->tables = lappend(s->tables, t);
	op->st = t;

	/* what start needs: the names of the indexes, the referenced tables */
	if (s->expanded)
		return;
	foreach(lc, d->constraints)
	{
		TableConstraint *con = lfirst(lc);

		if ((con->kind & CON_INDEX) && shape_name_taken(s, con->name))
			op_error("relation \"%s.%s\" already exists", s->m->schema, con->name);
		if (con->references)
			con->ref_physical = shape_reference(s, con->references, &con->ref_relname);
	}
}

static void
create_table_start(OnlineMigration *m, OnlineOp *op, StringInfo steps)
{
	CreateTable *d = op->data;
	char	   *table = online_qualified(m->schema, op->table);
	ListCell   *lc;

	online_ddl(m, "create_table", create_table_sql(m, op));
	if (d->comment)
		online_ddl(m, "create_table", psprintf("COMMENT ON TABLE %s IS %s", table,
											   quote_literal_cstr(d->comment)));
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
