/*-------------------------------------------------------------------------
 *
 * op_create_index.c
 *	  create_index: built CONCURRENTLY by the background job, on the
 *	  table's own columns (a partitioned table's: created ON ONLY it at
 *	  start, built on each partition by the job, partitions.c).  Its columns (key and INCLUDE) are named as the
 *	  operation sees them; its predicate is read against the new shape.
 *
 *	  {"create_index": {"table": "users", "name": "users_handle_key",
 *	   "columns": ["handle", {"column": "email", "collate": "C",
 *	               "sort": "desc", "nulls": "last",
 *	               "opclass": "text_pattern_ops"}],
 *	   "include": ["id"], "unique": true, "nulls_not_distinct": true,
 *	   "method": "btree", "where": "handle <> ''",
 *	   "storage_parameters": {"fillfactor": 70}}}
 *
 * Collations and operator classes are names, exactly as the catalog has
 * them, found on the search_path of whoever registers (checked) or starts
 * (resolved) the migration; what the job runs names them qualified.  The
 * access method, its capabilities, the parameters of operator classes and
 * the storage parameters are checked by the server's own code at both
 * times, so that a bad one fails registration, not the background job.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/amapi.h"
#include "access/htup_details.h"
#include "access/reloptions.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_opclass.h"
#include "commands/defrem.h"
#include "nodes/makefuncs.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/syscache.h"

#include "online/online_int.h"

/* the longest value of a storage or operator class parameter */
#define PARAMETER_VALUE_MAX		1024

/* A key column of the index, and how it is indexed. */
typedef struct IndexKey
{
	char	   *column;			/* as the operation sees it */
	char	   *collate;		/* a collation's name, or NULL */
	const char *sort;			/* "ASC", "DESC" or NULL */
	const char *nulls;			/* "FIRST", "LAST" or NULL */
	char	   *opclass;		/* an operator class's name, or NULL */
	List	   *opclass_params; /* DefElem *, the parameters of opclass */
} IndexKey;

typedef struct CreateIndex
{
	char	   *name;
	List	   *keys;			/* IndexKey * */
	List	   *columns;		/* the keys' column names */
	List	   *include;		/* names of the INCLUDE columns */
	bool		unique;
	bool		nulls_not_distinct;
	char	   *method;
	char	   *where;			/* an expression over the new shape */
	List	   *parameters;		/* DefElem *, the storage parameters */
	List	   *physical;		/* the columns' names in the table, as they
								 * were when it came (shape) */
	List	   *include_physical;	/* the same, of include */
} CreateIndex;

static const char *const fields[] = {
	"schema", "table", "name", "columns", "include", "unique",
	"nulls_not_distinct", "method", "where", "storage_parameters", NULL
};

static const char *const key_fields[] = {
	"column", "collate", "sort", "nulls", "opclass", NULL
};

static const char *const opclass_fields[] = {
	"name", "params", NULL
};

/* One of the words allowed, as SQL keywords, whatever the case given. */
static const char *
get_keyword(JsonbContainer *obj, const char *key, const char *const *words)
{
	char	   *s = doc_string(obj, key, false);

	if (s == NULL)
		return NULL;
	for (int i = 0; words[i]; i++)
		if (pg_strcasecmp(s, words[i]) == 0)
			return words[i];
	op_error("field \"%s\" must be \"%s\" or \"%s\"", key, words[0], words[1]);
	return NULL;
}

/*
 * Parameters (storage, or of an operator class): an object of names and
 * values, each value a string, a number or true/false, as a list of
 * DefElem the server's reloptions code takes.  Never spliced into SQL: the
 * names are quoted as identifiers, the values as literals.
 */
static List *
get_parameters(JsonbContainer *obj, const char *key)
{
	JsonbValue *v = doc_field(obj, key);
	JsonbContainer *c = doc_container(v);
	JsonbIterator *it;
	JsonbValue	jv;
	JsonbIteratorToken tok;
	List	   *params = NIL;
	char	   *name = NULL;

	if (v == NULL)
		return NIL;
	if (c == NULL || !JsonContainerIsObject(c) || JsonContainerSize(c) == 0)
		op_error("field \"%s\" must be a non-empty object", key);
	it = JsonbIteratorInit(c);
	while ((tok = JsonbIteratorNext(&it, &jv, true)) != WJB_DONE)
	{
		char	   *value;

		if (tok == WJB_KEY)
		{
			name = pnstrdup(jv.val.string.val, jv.val.string.len);
			if (name[0] == '\0')
				op_error("the names in field \"%s\" must not be empty", key);
			if (strlen(name) >= NAMEDATALEN)
				op_error("identifier \"%s\" is longer than %d bytes", name, NAMEDATALEN - 1);
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		switch (jv.type)
		{
			case jbvString:
				value = pnstrdup(jv.val.string.val, jv.val.string.len);
				break;
			case jbvNumeric:
				value = DatumGetCString(DirectFunctionCall1(numeric_out,
															NumericGetDatum(jv.val.numeric)));
				break;
			case jbvBool:
				value = jv.val.boolean ? "true" : "false";
				break;
			default:
				op_error("parameter \"%s\" of field \"%s\" must be a string, a number or true or false",
						 name, key);
				value = NULL;	/* keep the compiler quiet */
		}
		if (strlen(value) > PARAMETER_VALUE_MAX)
			op_error("the value of parameter \"%s\" of field \"%s\" is longer than %d bytes",
					 name, key, PARAMETER_VALUE_MAX);
		params = lappend(params, makeDefElem(name, (Node *) makeString(value), -1));
	}
	return params;
}

/* A key column: its name, or an object with its name and how to index it. */
static IndexKey *
get_key(JsonbValue *v)
{
	static const char *const sorts[] = {"ASC", "DESC", NULL};
	static const char *const nulls[] = {"FIRST", "LAST", NULL};
	IndexKey   *k = palloc0(sizeof(IndexKey));
	JsonbContainer *c = doc_container(v);
	JsonbValue *opclass;

	if (v->type == jbvString)
	{
		if (v->val.string.len == 0)
			op_error("index columns must be non-empty strings or objects");
		k->column = pnstrdup(v->val.string.val, v->val.string.len);
		if (strlen(k->column) >= NAMEDATALEN)
			op_error("identifier \"%s\" is longer than %d bytes", k->column, NAMEDATALEN - 1);
		return k;
	}
	if (c == NULL || !JsonContainerIsObject(c))
		op_error("index columns must be non-empty strings or objects");
	doc_check_keys(c, key_fields, "an index column");
	k->column = doc_identifier(c, "column", true);
	k->collate = doc_identifier(c, "collate", false);
	k->sort = get_keyword(c, "sort", sorts);
	k->nulls = get_keyword(c, "nulls", nulls);
	opclass = doc_field(c, "opclass");
	if (opclass != NULL && opclass->type == jbvString)
		k->opclass = doc_identifier(c, "opclass", true);
	else if (opclass != NULL)
	{
		JsonbContainer *oc;

		if (doc_container(opclass) == NULL)
			op_error("field \"opclass\" must be a string or an object");
		oc = doc_object(c, "opclass", opclass_fields);
		k->opclass = doc_identifier(oc, "name", true);
		k->opclass_params = get_parameters(oc, "params");
	}
	return k;
}

/*
 * The index access method: an index one that exists.  Without a method,
 * the server's default, btree.
 */
static Oid
index_am(CreateIndex *d)
{
	HeapTuple	tup;
	Oid			amoid;
	char		amtype;

	if (d->method == NULL)
		return BTREE_AM_OID;
	tup = SearchSysCache1(AMNAME, CStringGetDatum(d->method));
	if (!HeapTupleIsValid(tup))
		op_error("access method \"%s\" does not exist", d->method);
	amoid = ((Form_pg_am) GETSTRUCT(tup))->oid;
	amtype = ((Form_pg_am) GETSTRUCT(tup))->amtype;
	ReleaseSysCache(tup);
	if (amtype != AMTYPE_INDEX)
		op_error("access method \"%s\" is not an index access method", d->method);
	return amoid;
}

/* A collation by its name, on the caller's search_path. */
static Oid
lookup_collation(const char *name)
{
	int			nestlevel = online_user_path();
	Oid			oid = get_collation_oid(list_make1(makeString(pstrdup(name))), true);

	online_path_end(nestlevel);
	if (!OidIsValid(oid))
		op_error("collation \"%s\" does not exist", name);
	return oid;
}

/* An operator class of the method by its name, on the caller's search_path. */
static Oid
lookup_opclass(const char *name, Oid amoid, const char *method)
{
	int			nestlevel = online_user_path();
	Oid			oid = get_opclass_oid(amoid, list_make1(makeString(pstrdup(name))), true);

	online_path_end(nestlevel);
	if (!OidIsValid(oid))
		op_error("operator class \"%s\" does not exist for access method \"%s\"",
				 name, method);
	return oid;
}

/*
 * The parameters of an operator class, checked as CREATE INDEX checks
 * them (index_opclass_options): by the class's own options procedure.
 */
static void
check_opclass_params(Oid opclass, const char *name, const IndexAmRoutine *am,
					 List *params)
{
	Oid			procid = InvalidOid;
	local_relopts relopts;

	if (am->amoptsprocnum != 0)
	{
		Oid			opcintype = get_opclass_input_type(opclass);

		procid = get_opfamily_proc(get_opclass_family(opclass), opcintype,
								   opcintype, am->amoptsprocnum);
	}
	if (!OidIsValid(procid))
		op_error("operator class \"%s\" has no parameters", name);
	init_local_reloptions(&relopts, 0);
	(void) OidFunctionCall1(procid, PointerGetDatum(&relopts));
	(void) build_local_reloptions(&relopts,
								  transformRelOptions((Datum) 0, params, NULL, NULL,
													  false, false),
								  true);
}

/* The name of a collation or an operator class, qualified, as SQL. */
static char *
qualified_collation(Oid oid)
{
	HeapTuple	tup = SearchSysCache1(COLLOID, ObjectIdGetDatum(oid));
	Form_pg_collation form;
	char	   *sql;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for collation %u", oid);
	form = (Form_pg_collation) GETSTRUCT(tup);
	sql = quote_qualified_identifier(get_namespace_name(form->collnamespace),
									 NameStr(form->collname));
	ReleaseSysCache(tup);
	return sql;
}

static char *
qualified_opclass(Oid oid)
{
	HeapTuple	tup = SearchSysCache1(CLAOID, ObjectIdGetDatum(oid));
	Form_pg_opclass form;
	char	   *sql;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator class %u", oid);
	form = (Form_pg_opclass) GETSTRUCT(tup);
	sql = quote_qualified_identifier(get_namespace_name(form->opcnamespace),
									 NameStr(form->opcname));
	ReleaseSysCache(tup);
	return sql;
}

/* Parameters as SQL: (name = 'value', ...), names and values quoted. */
static void
append_parameters(StringInfo sql, List *params)
{
	ListCell   *lc;

	appendStringInfoChar(sql, '(');
	foreach(lc, params)
	{
		DefElem    *def = lfirst(lc);

		appendStringInfo(sql, "%s%s = %s", foreach_current_index(lc) > 0 ? ", " : "",
						 quote_identifier(def->defname),
						 quote_literal_cstr(strVal(def->arg)));
	}
	appendStringInfoChar(sql, ')');
}

/*
 * Check the index against the catalog: its method and what the method can
 * do, its collations, operator classes and parameters.  With sql, the
 * index elements go there as SQL (the columns' names in the table, from
 * physical), checked against the types of the table's columns (relid).
 */
static void
check_index(CreateIndex *d, Oid relid, StringInfo sql)
{
	Oid			amoid = index_am(d);
	const char *method = d->method ? d->method : "btree";
	IndexAmRoutine *am = GetIndexAmRoutineByAmId(amoid, false);
	ListCell   *lc;

	if (d->unique && !am->amcanunique)
		op_error("access method \"%s\" does not support unique indexes", method);
	if (d->nulls_not_distinct && !d->unique)
		op_error("field \"nulls_not_distinct\" is for unique indexes");
	if (list_length(d->keys) > 1 && !am->amcanmulticol)
		op_error("access method \"%s\" does not support multicolumn indexes", method);
	if (d->include && !am->amcaninclude)
		op_error("access method \"%s\" does not support included columns", method);
	if (d->parameters)
		(void) index_reloptions(am->amoptions,
								transformRelOptions((Datum) 0, d->parameters, NULL, NULL,
													false, false),
								true);

	foreach(lc, d->keys)
	{
		IndexKey   *k = lfirst(lc);
		Oid			collation = InvalidOid;
		Oid			opclass = InvalidOid;
		AttrNumber	attnum = InvalidAttrNumber;
		Oid			type = InvalidOid;
		char	   *physical = sql ? list_nth(d->physical, foreach_current_index(lc)) : NULL;

		if ((k->sort || k->nulls) && !am->amcanorder)
			op_error("access method \"%s\" does not support ASC/DESC or NULLS FIRST/LAST",
					 method);
		if (k->collate)
			collation = lookup_collation(k->collate);
		if (k->opclass)
		{
			opclass = lookup_opclass(k->opclass, amoid, method);
			if (k->opclass_params)
				check_opclass_params(opclass, k->opclass, am, k->opclass_params);
		}
		if (physical && OidIsValid(relid))
		{
			attnum = get_attnum(relid, physical);
			if (attnum != InvalidAttrNumber)
				type = get_atttype(relid, attnum);
		}
		if (OidIsValid(type) && OidIsValid(collation) && !type_is_collatable(type))
			op_error("column \"%s\" is of type %s, which has no collations",
					 k->column, format_type_be(type));
		if (OidIsValid(type) && OidIsValid(opclass) &&
			!IsBinaryCoercible(type, get_opclass_input_type(opclass)))
			op_error("operator class \"%s\" does not accept column \"%s\" of type %s",
					 k->opclass, k->column, format_type_be(type));

		if (sql == NULL)
			continue;
		appendStringInfo(sql, "%s%s", foreach_current_index(lc) > 0 ? ", " : "",
						 quote_identifier(physical));
		if (OidIsValid(collation))
			appendStringInfo(sql, " COLLATE %s", qualified_collation(collation));
		if (OidIsValid(opclass))
		{
			appendStringInfo(sql, " %s", qualified_opclass(opclass));
			if (k->opclass_params)
			{
				appendStringInfoChar(sql, ' ');
				append_parameters(sql, k->opclass_params);
			}
		}
		if (k->sort)
			appendStringInfo(sql, " %s", k->sort);
		if (k->nulls)
			appendStringInfo(sql, " NULLS %s", k->nulls);
	}
	pfree(am);
}

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
		IndexKey   *k = get_key(lfirst(lc));

		d->keys = lappend(d->keys, k);
		d->columns = lappend(d->columns, k->column);
	}
	doc_key_columns(d->columns, "columns");
	if (doc_field(body, "include"))
	{
		d->include = doc_identifiers(body, "include");
		doc_key_columns(d->include, "include");
		if (list_length(d->keys) + list_length(d->include) > INDEX_MAX_KEYS)
			op_error("fields \"columns\" and \"include\" have %d columns, more than the %d of an index",
					 list_length(d->keys) + list_length(d->include), INDEX_MAX_KEYS);
	}
	d->unique = doc_bool(body, "unique", false);
	d->nulls_not_distinct = doc_bool(body, "nulls_not_distinct", false);
	d->method = doc_identifier(body, "method", false);
	d->where = doc_expression(body, "where");
	d->parameters = get_parameters(body, "storage_parameters");
	if (check_catalog)
		check_index(d, InvalidOid, NULL);
}

static void
create_index_shape(ShapeState *s, OnlineOp *op)
{
	CreateIndex *d = op->data;
	ShapeTable *t = shape_open(s, op, false, NULL);

	if (!s->expanded && OidIsValid(get_relname_relid(d->name, s->nsp)))
		op_error("relation \"%s.%s\" already exists", s->m->schema, d->name);
	d->physical = shape_columns_physical(s, t, d->columns);
	d->include_physical = shape_columns_physical(s, t, d->include);
}

/*
 * A concurrent build by the job, on the table's own columns.  What the
 * document names is resolved again now, as the caller of start has it.
 */
static void
create_index_start_views(OnlineMigration *m, OnlineOp *op, StringInfo steps)
{
	CreateIndex *d = op->data;
	ShapeTable *t = op->st;
	StringInfoData sql;
	ListCell   *lc;

	initStringInfo(&sql);
	if (d->method)
		appendStringInfo(&sql, " USING %s", quote_identifier(d->method));
	appendStringInfoString(&sql, " (");
	check_index(d, t->relid, &sql);
	appendStringInfoChar(&sql, ')');
	if (d->include_physical)
	{
		appendStringInfoString(&sql, " INCLUDE (");
		foreach(lc, d->include_physical)
		{
			appendStringInfo(&sql, "%s%s", foreach_current_index(lc) > 0 ? ", " : "",
							 quote_identifier(lfirst(lc)));
		}
		appendStringInfoChar(&sql, ')');
	}
	if (d->nulls_not_distinct)
		appendStringInfoString(&sql, " NULLS NOT DISTINCT");
	if (d->parameters)
	{
		appendStringInfoString(&sql, " WITH ");
		append_parameters(&sql, d->parameters);
	}
	if (d->where)
		appendStringInfo(&sql, " WHERE %s",
						 online_mapped_expression(d->where, m, t, EXPR_KIND_INDEX_PREDICATE));
	online_add_index(m, steps, t->relid, d->unique, d->name, sql.data);
}

static void
create_index_rollback(OnlineMigration *m, OnlineOp *op)
{
	CreateIndex *d = op->data;

	online_drop_index(m, m->schema, d->name);
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
