/*-------------------------------------------------------------------------
 *
 * doc.c
 *	  The fields of an operation's object in the document of an online
 *	  migration: each read and checked for its type, its keys known.
 *
 * Errors (op_error) are raised under the error context of online_parse,
 * which names the operation.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/numeric.h"

#include "online/online_int.h"

static const char *const reference_fields[] = {
	"name", "table", "column", "columns", "on_delete", "on_update", NULL
};

/* a table constraint's of create_table */
static const char *const table_reference_fields[] = {
	"table", "columns", "on_delete", "on_update", "on_delete_set_columns",
	"match_type", NULL
};

static const char *const column_fields[] = {
	"name", "type", "nullable", "default", "primary_key", "unique", "comment",
	"generated", NULL
};

static const char *const generated_fields[] = {"expression", "identity", NULL};

static const char *const identity_fields[] = {
	"user_specified_values", "sequence_options", NULL
};

/* in the order of OnlineIdentity's values */
static const char *const sequence_fields[] = {
	"start", "increment", "minvalue", "maxvalue", "cache", "cycle", NULL
};

/* The object or array a value holds; NULL for a scalar, a JSON null or none. */
JsonbContainer *
doc_container(JsonbValue *v)
{
	return v != NULL && v->type == jbvBinary ? v->val.binary.data : NULL;
}

/* The keys of an object must all be known. */
void
doc_check_keys(JsonbContainer *obj, const char *const *allowed, const char *what)
{
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbValue	v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;
		bool		known = false;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		for (int i = 0; allowed[i]; i++)
			if (strcmp(allowed[i], key) == 0)
				known = true;
		if (!known)
			op_error("unknown field \"%s\" in %s", key, what);
	}
}

JsonbValue *
doc_field(JsonbContainer *obj, const char *key)
{
	JsonbValue *v = getKeyJsonValueFromContainer(obj, key, strlen(key), NULL);

	return (v && v->type == jbvNull) ? NULL : v;
}

char *
doc_string(JsonbContainer *obj, const char *key, bool required)
{
	JsonbValue *v = doc_field(obj, key);

	if (v == NULL)
	{
		if (required)
			op_error("field \"%s\" is required", key);
		return NULL;
	}
	if (v->type != jbvString)
		op_error("field \"%s\" must be a string", key);
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* An identifier: a non-empty string that fits in a name. */
char *
doc_identifier(JsonbContainer *obj, const char *key, bool required)
{
	char	   *s = doc_string(obj, key, required);

	if (s == NULL)
		return NULL;
	if (s[0] == '\0')
		op_error("field \"%s\" must not be empty", key);
	if (strlen(s) >= NAMEDATALEN)
		op_error("identifier \"%s\" is longer than %d bytes", s, NAMEDATALEN - 1);
	return s;
}

bool
doc_bool(JsonbContainer *obj, const char *key, bool dflt)
{
	JsonbValue *v = doc_field(obj, key);

	if (v == NULL)
		return dflt;
	if (v->type != jbvBool)
		op_error("field \"%s\" must be true or false", key);
	return v->val.boolean;
}

/* An integer (a JSON number without fraction, within bigint): is it there? */
static bool
doc_int64(JsonbContainer *obj, const char *key, int64 *result)
{
	JsonbValue *v = doc_field(obj, key);
	char	   *s;
	char	   *end;

	if (v == NULL)
		return false;
	if (v->type != jbvNumeric)
		op_error("field \"%s\" must be an integer", key);
	s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	errno = 0;
	*result = strtoi64(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		op_error("field \"%s\" must be an integer between %lld and %lld", key,
				 (long long) PG_INT64_MIN, (long long) PG_INT64_MAX);
	return true;
}

/* An expression: one, as the server's grammar sees it. */
char *
doc_expression(JsonbContainer *obj, const char *key)
{
	char	   *s = doc_string(obj, key, false);

	if (s == NULL)
		return NULL;
	(void) online_expression(s, InvalidOid, InvalidOid, -1, NULL);
	return s;
}

/*
 * The "generated" of a column of create_table: a stored expression, or an
 * identity and the options of its sequence.  What depends on the column's
 * type (the sequence's bounds) is checked by create_table.
 */
static void
doc_generated(JsonbContainer *c, OnlineColumn *col)
{
	JsonbContainer *g = doc_object(c, "generated", generated_fields);
	JsonbContainer *id;

	col->generated = doc_expression(g, "expression");
	id = doc_object(g, "identity", identity_fields);
	if ((col->generated == NULL) == (doc_field(g, "identity") == NULL))
		op_error("column \"%s\" is generated either by an \"expression\" or as an \"identity\"",
				 col->name);
	if (col->generated == NULL)
	{
		OnlineIdentity *identity = palloc0(sizeof(OnlineIdentity));
		char	   *when = doc_string(id, "user_specified_values", false);
		JsonbContainer *seq = doc_object(id, "sequence_options", sequence_fields);

		if (when == NULL || pg_strcasecmp(when, "always") == 0)
			identity->always = true;
		else if (pg_strcasecmp(when, "by default") != 0)
			op_error("\"user_specified_values\" must be ALWAYS or BY DEFAULT");
		for (int i = 0; seq && i < ONLINE_SEQ_OPTIONS; i++)
			identity->given[i] = doc_int64(seq, sequence_fields[i], &identity->value[i]);
		identity->cycle = seq ? doc_bool(seq, "cycle", false) : false;
		col->identity = identity;
	}
	if (col->default_expr)
		op_error("generated column \"%s\" cannot have a default", col->name);
	if (online_serial(col->type))
		op_error("column \"%s\" of type %s cannot be generated", col->name, col->type);
}

/*
 * A column of create_table (new_table) or add_column.  The serial types are
 * for new tables only.
 */
OnlineColumn *
doc_column(JsonbValue *v, bool new_table, bool check_catalog)
{
	JsonbContainer *c = doc_container(v);
	OnlineColumn *col = palloc0(sizeof(OnlineColumn));

	if (c == NULL || !JsonContainerIsObject(c))
		op_error("a column must be an object");
	doc_check_keys(c, column_fields, "a column");
	col->name = doc_identifier(c, "name", true);
	col->type = doc_string(c, "type", true);
	col->nullable = doc_bool(c, "nullable", true);
	col->primary_key = doc_bool(c, "primary_key", false);
	col->unique = doc_bool(c, "unique", false);
	col->comment = doc_string(c, "comment", false);
	col->default_expr = doc_string(c, "default", false);
	if (col->default_expr)
		(void) online_expression(col->default_expr, InvalidOid, InvalidOid, -1, NULL);
	if (doc_field(c, "generated"))
	{
		if (!new_table)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("an added column cannot be generated"),
					 errdetail("Adding a generated or identity column rewrites the table.")));
		doc_generated(c, col);
	}
	if (online_serial(col->type) == NULL)
	{
		Oid			typid;
		int32		typmod;

		if (check_catalog)
			online_type(col->type, &typid, &typmod);
	}
	else if (!new_table)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("type %s is for new tables", col->type),
				 errdetail("An added column with a sequence would rewrite the table.")));
	return col;
}

/* The array under key, as a list of its elements' values. */
List *
doc_array(JsonbContainer *obj, const char *key)
{
	JsonbValue *v = doc_field(obj, key);
	JsonbContainer *c;
	List	   *elems = NIL;

	if (v == NULL)
		op_error("field \"%s\" is required", key);
	c = doc_container(v);
	if (c == NULL || !JsonContainerIsArray(c) || JsonContainerSize(c) == 0)
		op_error("field \"%s\" must be a non-empty array", key);
	for (uint32 i = 0; i < JsonContainerSize(c); i++)
		elems = lappend(elems, getIthJsonbValueFromContainer(c, i));
	return elems;
}

/* An object under key (NULL when absent), its keys checked. */
JsonbContainer *
doc_object(JsonbContainer *obj, const char *key,
		   const char *const *allowed)
{
	JsonbValue *v = doc_field(obj, key);
	JsonbContainer *c;

	if (v == NULL)
		return NULL;
	c = doc_container(v);
	if (c == NULL || !JsonContainerIsObject(c))
		op_error("field \"%s\" must be an object", key);
	doc_check_keys(c, allowed, psprintf("\"%s\"", key));
	return c;
}

/* A list of identifiers under key. */
List *
doc_identifiers(JsonbContainer *obj, const char *key)
{
	List	   *names = NIL;
	ListCell   *lc;

	foreach(lc, doc_array(obj, key))
	{
		JsonbValue *v = lfirst(lc);
		char	   *name;

		if (v->type != jbvString || v->val.string.len == 0)
			op_error("\"%s\" must hold non-empty strings", key);
		name = pnstrdup(v->val.string.val, v->val.string.len);
		if (strlen(name) >= NAMEDATALEN)
			op_error("identifier \"%s\" is longer than %d bytes", name, NAMEDATALEN - 1);
		names = lappend(names, name);
	}
	return names;
}

/*
 * The columns of an index or constraint: no more than an index can have,
 * none twice (the server would build an index it cannot use, or fail only
 * when the migration starts).
 */
void
doc_key_columns(List *names, const char *key)
{
	ListCell   *lc;

	if (list_length(names) > INDEX_MAX_KEYS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg_plural("field \"%s\" has %d column, more than the %d of an index",
							   "field \"%s\" has %d columns, more than the %d of an index",
							   list_length(names), key, list_length(names), INDEX_MAX_KEYS)));
	foreach(lc, names)
	{
		for (int i = 0; i < foreach_current_index(lc); i++)
			if (strcmp(list_nth(names, i), lfirst(lc)) == 0)
				op_error("column \"%s\" appears twice in field \"%s\"",
						 (char *) lfirst(lc), key);
	}
}

/* A referential action, as the SQL keywords for it. */
static const char *
get_action(JsonbContainer *obj, const char *key)
{
	static const char *const actions[] = {
		"NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT", NULL
	};
	char	   *s = doc_string(obj, key, false);

	if (s == NULL)
		return "NO ACTION";
	for (int i = 0; actions[i]; i++)
		if (pg_strcasecmp(s, actions[i]) == 0)
			return actions[i];
	op_error("\"%s\" must be one of NO ACTION, RESTRICT, CASCADE, SET NULL, SET DEFAULT", key);
	return NULL;
}

/*
 * A foreign key: the referenced table and column(s), and its actions.  A
 * column's (one_column) has one column and its name, which *name gets.  A
 * table constraint's of create_table (full) has a match type, and the
 * columns an ON DELETE SET action sets.
 */
static OnlineReference *
reference(JsonbContainer *obj, bool one_column, char **name, bool full)
{
	JsonbContainer *c = doc_object(obj, "references",
								   full ? table_reference_fields : reference_fields);
	OnlineReference *r;

	if (c == NULL)
		return NULL;
	r = palloc0(sizeof(OnlineReference));
	r->table = doc_identifier(c, "table", true);
	r->match = "SIMPLE";
	if (one_column)
	{
		if (doc_field(c, "columns"))
			op_error("a column's foreign key references one \"column\"");
		r->columns = list_make1(doc_identifier(c, "column", true));
		*name = doc_identifier(c, "name", true);
	}
	else
	{
		if (doc_field(c, "column") || doc_field(c, "name"))
			op_error("a constraint's \"references\" has \"table\", \"columns\" and actions");
		r->columns = doc_identifiers(c, "columns");
		doc_key_columns(r->columns, "references.columns");
	}
	r->on_delete = get_action(c, "on_delete");
	r->on_update = get_action(c, "on_update");
	if (!full)
		return r;
	if (doc_field(c, "match_type"))
	{
		char	   *match = doc_string(c, "match_type", true);

		if (pg_strcasecmp(match, "simple") == 0)
			r->match = "SIMPLE";
		else if (pg_strcasecmp(match, "full") == 0)
			r->match = "FULL";
		else if (pg_strcasecmp(match, "partial") == 0)
			op_error("MATCH PARTIAL is not implemented by the server");
		else
			op_error("\"match_type\" must be SIMPLE or FULL");
	}
	if (doc_field(c, "on_delete_set_columns"))
	{
		if (strncmp(r->on_delete, "SET ", 4) != 0)
			op_error("\"on_delete_set_columns\" is for ON DELETE SET NULL or SET DEFAULT");
		r->set_columns = doc_identifiers(c, "on_delete_set_columns");
		doc_key_columns(r->set_columns, "on_delete_set_columns");
	}
	return r;
}

OnlineReference *
doc_reference(JsonbContainer *obj, bool one_column, char **name)
{
	return reference(obj, one_column, name, false);
}

/* The "references" of a foreign key of create_table's "constraints". */
OnlineReference *
doc_table_reference(JsonbContainer *obj)
{
	return reference(obj, false, NULL, true);
}
