/*-------------------------------------------------------------------------
 *
 * operations.c
 *	  The operations document of an online migration: its parsing and
 *	  validation, the shape of the tables it changes, and the expressions
 *	  it carries.
 *
 * A document is checked whole before anything is registered or started:
 * its structure here, its names against the live catalog by replaying the
 * operations over the tables' columns (online_shape).  Errors name the
 * operation by its position.  Expressions are parsed and analysed by the
 * server, and what migrate puts into SQL is the server's own deparsed form
 * of them, never the text as given.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/table.h"
#include "access/htup_details.h"
#include "catalog/catalog.h"
#include "catalog/dependency.h"
#include "catalog/pg_constraint.h"
#include "commands/extension.h"
#include "commands/tablecmds.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "parser/parse_type.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"
#include "utils/memutils.h"

#include "base/base.h"
#include "catalog/migrate_catalog.h"
#include "exec/migrate_exec.h"
#include "jobs/migrate_jobs.h"
#include "engine/migrate_engine.h"
#include "online/online.h"

#define SHADOW_PREFIX	"_migrate_new_"
#define CHECK_PREFIX	"_migrate_nn_"
/* the longest name of an added column: room for the prefixes */
#define ADDED_NAME_MAX	(NAMEDATALEN - 1 - (int) strlen(SHADOW_PREFIX))

static const char *const op_names[] = {
	"create_table", "add_column", "drop_column", "rename_column",
	"create_index", "drop_index", "sql", "alter_column", "rename_table",
	"drop_table", "create_constraint", "drop_constraint", NULL
};

static const char *const op_fields[][14] = {
	{"schema", "table", "columns", NULL},
	{"schema", "table", "column", "up", NULL},
	{"schema", "table", "column", "down", NULL},
	{"schema", "table", "from", "to", NULL},
	{"schema", "table", "name", "columns", "unique", "method", "where", NULL},
	{"schema", "name", NULL},
	{"up", "down", NULL},
	{"schema", "table", "column", "type", "nullable", "check", "references",
	"unique", "default", "comment", "up", "down", NULL},
	{"schema", "from", "to", NULL},
	{"schema", "table", NULL},
	{"schema", "table", "name", "type", "columns", "check", "references", NULL},
	{"schema", "table", "name", NULL},
};

static const char *const reference_fields[] = {
	"name", "table", "column", "columns", "on_delete", "on_update", NULL
};
static const char *const check_fields[] = {"name", "constraint", NULL};
static const char *const unique_fields[] = {"name", NULL};

static const char *const column_fields[] = {
	"name", "type", "nullable", "default", "primary_key", "unique", "comment", NULL
};

/*
 * Whether parsing checks the document against the catalog (types, access
 * methods): at registration, yes; for a stored document, no, so that a
 * later rename of a type cannot make it unreadable.
 */
static bool parse_checks_catalog = true;

/*
 * Whether online_shape takes what is gone from the catalog as gone (for
 * rollback) rather than as an error: a missing table is one without
 * columns, a missing column one without a table of its own.
 */
static bool shape_lenient = false;

/*
 * Names in a document (types, functions, operators of expressions) are
 * resolved with the search_path of the role that registers or starts the
 * migration; what migrate generates from them is deparsed, and runs, under
 * ONLINE_PINNED_PATH, so that it means the same to every writer whatever
 * its own search_path.  While a phase runs pinned (online_phase_begin),
 * user_path keeps the caller's path for resolving the document's names.
 */
static char *user_path = NULL;

static int
path_begin(const char *path)
{
	int			nestlevel = NewGUCNestLevel();

	if (path != NULL)
		(void) set_config_option("search_path", path, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/* Until online_path_end: names resolve only in pg_catalog (then pg_temp). */
int
online_pinned_path(void)
{
	return path_begin(ONLINE_PINNED_PATH);
}

/* Until online_path_end: names resolve as the caller of the phase has them. */
int
online_user_path(void)
{
	return path_begin(user_path);
}

/* The end of online_pinned_path or online_user_path: whatever was set goes. */
void
online_path_end(int nestlevel)
{
	AtEOXact_GUC(false, nestlevel);
}

/*
 * A phase runs pinned; the caller's path is kept for the document's names.
 * Returns what online_phase_end takes.
 */
int
online_phase_begin(void)
{
	user_path = MemoryContextStrdup(TopMemoryContext,
									GetConfigOptionByName("search_path", NULL, false));
	return online_pinned_path();
}

/* The end of a phase, also on error (user_path must not outlive it). */
void
online_phase_end(int nestlevel, bool ok)
{
	if (user_path)
		pfree(user_path);
	user_path = NULL;
	if (ok)
		online_path_end(nestlevel);
}

#define op_error(op, ...) \
	ereport(ERROR, \
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE), \
			 errmsg("operation %d (%s): %s", (op)->index, (op)->opname, \
					psprintf(__VA_ARGS__))))

/* errors of the server while it checks an operation name the operation */
static void
op_error_callback(void *arg)
{
	OnlineOp   *op = (OnlineOp *) arg;

	if (op != NULL)
		errcontext("operation %d (%s) of the online migration", op->index, op->opname);
}

/* The object or array a value holds; NULL for a scalar, a JSON null or none. */
static JsonbContainer *
container_of(JsonbValue *v)
{
	return v != NULL && v->type == jbvBinary ? v->val.binary.data : NULL;
}

/* The keys of an object must all be known. */
static void
check_keys(OnlineOp *op, JsonbContainer *obj, const char *const *allowed,
		   const char *what)
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
			op_error(op, "unknown field \"%s\" in %s", key, what);
	}
}

static JsonbValue *
get_field(JsonbContainer *obj, const char *key)
{
	JsonbValue *v = getKeyJsonValueFromContainer(obj, key, strlen(key), NULL);

	return (v && v->type == jbvNull) ? NULL : v;
}

static char *
get_string(OnlineOp *op, JsonbContainer *obj, const char *key, bool required)
{
	JsonbValue *v = get_field(obj, key);

	if (v == NULL)
	{
		if (required)
			op_error(op, "field \"%s\" is required", key);
		return NULL;
	}
	if (v->type != jbvString)
		op_error(op, "field \"%s\" must be a string", key);
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* An identifier: a non-empty string that fits in a name. */
static char *
get_identifier(OnlineOp *op, JsonbContainer *obj, const char *key, bool required)
{
	char	   *s = get_string(op, obj, key, required);

	if (s == NULL)
		return NULL;
	if (s[0] == '\0')
		op_error(op, "field \"%s\" must not be empty", key);
	if (strlen(s) >= NAMEDATALEN)
		op_error(op, "identifier \"%s\" is longer than %d bytes", s, NAMEDATALEN - 1);
	return s;
}

static bool
get_bool(OnlineOp *op, JsonbContainer *obj, const char *key, bool dflt)
{
	JsonbValue *v = get_field(obj, key);

	if (v == NULL)
		return dflt;
	if (v->type != jbvBool)
		op_error(op, "field \"%s\" must be true or false", key);
	return v->val.boolean;
}

/* An expression: one, as the server's grammar sees it. */
static char *
get_expression(OnlineOp *op, JsonbContainer *obj, const char *key)
{
	char	   *s = get_string(op, obj, key, false);

	if (s == NULL)
		return NULL;
	(void) online_expression(s, InvalidOid, InvalidOid, -1, NULL);
	return s;
}

static OnlineColumn *
parse_column(OnlineOp *op, JsonbValue *v)
{
	JsonbContainer *c = container_of(v);
	OnlineColumn *col = palloc0(sizeof(OnlineColumn));

	if (c == NULL || !JsonContainerIsObject(c))
		op_error(op, "a column must be an object");
	check_keys(op, c, column_fields, "a column");
	col->name = get_identifier(op, c, "name", true);
	col->type = get_string(op, c, "type", true);
	col->nullable = get_bool(op, c, "nullable", true);
	col->primary_key = get_bool(op, c, "primary_key", false);
	col->unique = get_bool(op, c, "unique", false);
	col->comment = get_string(op, c, "comment", false);
	col->default_expr = get_string(op, c, "default", false);
	if (col->default_expr)
		(void) online_expression(col->default_expr, InvalidOid, InvalidOid, -1, NULL);
	if (online_serial(col->type) == NULL)
	{
		Oid			typid;
		int32		typmod;

		if (parse_checks_catalog)
			online_type(col->type, &typid, &typmod);
	}
	else if (op->kind != OP_CREATE_TABLE)
		op_error(op, "type %s is for new tables: an added column with a sequence would rewrite the table",
				 col->type);
	return col;
}

/* The array under key, as a list of its elements' values. */
static List *
get_array(OnlineOp *op, JsonbContainer *obj, const char *key)
{
	JsonbValue *v = get_field(obj, key);
	JsonbContainer *c;
	List	   *elems = NIL;

	if (v == NULL)
		op_error(op, "field \"%s\" is required", key);
	c = container_of(v);
	if (c == NULL || !JsonContainerIsArray(c) || JsonContainerSize(c) == 0)
		op_error(op, "field \"%s\" must be a non-empty array", key);
	for (uint32 i = 0; i < JsonContainerSize(c); i++)
		elems = lappend(elems, getIthJsonbValueFromContainer(c, i));
	return elems;
}

/* An object under key (NULL when absent), its keys checked. */
static JsonbContainer *
get_object(OnlineOp *op, JsonbContainer *obj, const char *key,
		   const char *const *allowed)
{
	JsonbValue *v = get_field(obj, key);
	JsonbContainer *c;

	if (v == NULL)
		return NULL;
	c = container_of(v);
	if (c == NULL || !JsonContainerIsObject(c))
		op_error(op, "field \"%s\" must be an object", key);
	check_keys(op, c, allowed, psprintf("\"%s\"", key));
	return c;
}

/* A list of identifiers under key. */
static List *
get_identifiers(OnlineOp *op, JsonbContainer *obj, const char *key)
{
	List	   *names = NIL;
	ListCell   *lc;

	foreach(lc, get_array(op, obj, key))
	{
		JsonbValue *v = lfirst(lc);
		char	   *name;

		if (v->type != jbvString || v->val.string.len == 0)
			op_error(op, "\"%s\" must hold non-empty strings", key);
		name = pnstrdup(v->val.string.val, v->val.string.len);
		if (strlen(name) >= NAMEDATALEN)
			op_error(op, "identifier \"%s\" is longer than %d bytes", name, NAMEDATALEN - 1);
		names = lappend(names, name);
	}
	return names;
}

/*
 * The columns of an index or constraint: no more than an index can have,
 * none twice (the server would build an index it cannot use, or fail only
 * when the migration starts).
 */
static void
check_key_columns(OnlineOp *op, List *names, const char *key)
{
	ListCell   *lc;

	if (list_length(names) > INDEX_MAX_KEYS)
		op_error(op, "field \"%s\" has %d columns, more than the %d of an index",
				 key, list_length(names), INDEX_MAX_KEYS);
	foreach(lc, names)
	{
		for (int i = 0; i < foreach_current_index(lc); i++)
			if (strcmp(list_nth(names, i), lfirst(lc)) == 0)
				op_error(op, "column \"%s\" appears twice in field \"%s\"",
						 (char *) lfirst(lc), key);
	}
}

/* A referential action, as the SQL keywords for it. */
static const char *
get_action(OnlineOp *op, JsonbContainer *obj, const char *key)
{
	static const char *const actions[] = {
		"NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT", NULL
	};
	char	   *s = get_string(op, obj, key, false);

	if (s == NULL)
		return "NO ACTION";
	for (int i = 0; actions[i]; i++)
		if (pg_strcasecmp(s, actions[i]) == 0)
			return actions[i];
	op_error(op, "\"%s\" must be one of NO ACTION, RESTRICT, CASCADE, SET NULL, SET DEFAULT", key);
	return NULL;
}

/* A foreign key: the referenced table and column(s), and its actions. */
static OnlineReference *
get_reference(OnlineOp *op, JsonbContainer *obj, bool one_column)
{
	JsonbContainer *c = get_object(op, obj, "references", reference_fields);
	OnlineReference *r;

	if (c == NULL)
		return NULL;
	r = palloc0(sizeof(OnlineReference));
	r->table = get_identifier(op, c, "table", true);
	if (one_column)
	{
		if (get_field(c, "columns"))
			op_error(op, "a column's foreign key references one \"column\"");
		r->columns = list_make1(get_identifier(op, c, "column", true));
		op->constraint_name = get_identifier(op, c, "name", true);
	}
	else
	{
		if (get_field(c, "column") || get_field(c, "name"))
			op_error(op, "a constraint's \"references\" has \"table\", \"columns\" and actions");
		r->columns = get_identifiers(op, c, "columns");
		check_key_columns(op, r->columns, "references.columns");
	}
	r->on_delete = get_action(op, c, "on_delete");
	r->on_update = get_action(op, c, "on_update");
	return r;
}

static void
parse_op(OnlineMigration *m, OnlineOp *op, JsonbContainer *body)
{
	char	   *schema;
	ListCell   *lc;

	if (body == NULL || !JsonContainerIsObject(body))
		op_error(op, "the operation's value must be an object");
	check_keys(op, body, op_fields[op->kind], "the operation");

	if (op->kind != OP_SQL)
	{
		schema = get_identifier(op, body, "schema", false);
		if (schema == NULL)
			schema = "public";
		if (m->schema == NULL)
			m->schema = schema;
		else if (strcmp(m->schema, schema) != 0)
			op_error(op, "works in schema \"%s\", but the migration works in schema \"%s\"",
					 schema, m->schema);
	}

	switch (op->kind)
	{
		case OP_CREATE_TABLE:
			{
				List	   *elems;
				int			pk = 0;

				op->table = get_identifier(op, body, "table", true);
				elems = get_array(op, body, "columns");
				if (list_length(elems) > MaxHeapAttributeNumber)
					op_error(op, "field \"columns\" has %d columns, more than the %d of a table",
							 list_length(elems), MaxHeapAttributeNumber);
				foreach(lc, elems)
				{
					OnlineColumn *col = parse_column(op, lfirst(lc));

					op->columns = lappend(op->columns, col);
					if (col->primary_key && ++pk > INDEX_MAX_KEYS)
						op_error(op, "the primary key has more than the %d columns of an index",
								 INDEX_MAX_KEYS);
				}
				break;
			}
		case OP_ADD_COLUMN:
			{
				JsonbValue *v = get_field(body, "column");

				op->table = get_identifier(op, body, "table", true);
				if (v == NULL)
					op_error(op, "field \"column\" is required");
				op->column = parse_column(op, v);
				if (op->column->primary_key)
					op_error(op, "an added column cannot be the primary key");
				if (op->column->unique)
					op_error(op, "an added column cannot be unique: add it, then create a unique index");
				if (strlen(op->column->name) > ADDED_NAME_MAX)
					op_error(op, "name of added column \"%s\" is longer than %d bytes",
							 op->column->name, ADDED_NAME_MAX);
				op->up = get_expression(op, body, "up");
				if (!op->column->nullable && op->up == NULL && parse_checks_catalog &&
					(op->column->default_expr == NULL ||
					 online_expression_volatile(op->column->default_expr)))
					op_error(op, "column \"%s\" is NOT NULL without a default, so it needs \"up\" to fill the existing rows",
							 op->column->name);
				break;
			}
		case OP_DROP_COLUMN:
			op->table = get_identifier(op, body, "table", true);
			op->column_name = get_identifier(op, body, "column", true);
			op->down = get_expression(op, body, "down");
			break;
		case OP_RENAME_COLUMN:
			op->table = get_identifier(op, body, "table", true);
			op->column_name = get_identifier(op, body, "from", true);
			op->new_name = get_identifier(op, body, "to", true);
			break;
		case OP_CREATE_INDEX:
			op->table = get_identifier(op, body, "table", true);
			op->index_name = get_identifier(op, body, "name", true);
			foreach(lc, get_array(op, body, "columns"))
			{
				JsonbValue *v = lfirst(lc);
				char	   *name;

				if (v->type != jbvString || v->val.string.len == 0)
					op_error(op, "index columns must be non-empty strings");
				name = pnstrdup(v->val.string.val, v->val.string.len);
				if (strlen(name) >= NAMEDATALEN)
					op_error(op, "identifier \"%s\" is longer than %d bytes", name, NAMEDATALEN - 1);
				op->columns = lappend(op->columns, name);
			}
			check_key_columns(op, op->columns, "columns");
			op->unique = get_bool(op, body, "unique", false);
			op->method = get_identifier(op, body, "method", false);
			if (op->method && parse_checks_catalog &&
				!SearchSysCacheExists1(AMNAME, CStringGetDatum(op->method)))
				op_error(op, "access method \"%s\" does not exist", op->method);
			op->where = get_expression(op, body, "where");
			break;
		case OP_DROP_INDEX:
			op->index_name = get_identifier(op, body, "name", true);
			break;
		case OP_ALTER_COLUMN:
			{
				JsonbContainer *c;
				JsonbValue *v;

				op->table = get_identifier(op, body, "table", true);
				op->column_name = get_identifier(op, body, "column", true);
				op->type = get_string(op, body, "type", false);
				if (op->type)
				{
					Oid			typid;
					int32		typmod;

					if (online_serial(op->type))
						op_error(op, "type %s is for new tables", op->type);
					if (parse_checks_catalog)
						online_type(op->type, &typid, &typmod);
				}
				op->nullable = get_field(body, "nullable") ? get_bool(op, body, "nullable", true) : -1;
				if ((c = get_object(op, body, "check", check_fields)) != NULL)
				{
					op->constraint_name = get_identifier(op, c, "name", true);
					op->check = get_string(op, c, "constraint", true);
					(void) online_expression(op->check, InvalidOid, InvalidOid, -1, NULL);
				}
				op->references = get_reference(op, body, true);
				if (op->check && op->references)
					op_error(op, "one alter_column adds a check or a foreign key, not both");
				if ((c = get_object(op, body, "unique", unique_fields)) != NULL)
					op->unique_name = get_identifier(op, c, "name", true);
				v = getKeyJsonValueFromContainer(body, "default", strlen("default"), NULL);
				if (v != NULL)
				{
					op->has_default = true;
					op->default_expr = get_string(op, body, "default", false);
					if (op->default_expr)
						(void) online_expression(op->default_expr, InvalidOid, InvalidOid, -1, NULL);
				}
				v = getKeyJsonValueFromContainer(body, "comment", strlen("comment"), NULL);
				if (v != NULL)
				{
					op->has_comment = true;
					op->comment = get_string(op, body, "comment", false);
				}
				op->up = get_expression(op, body, "up");
				op->down = get_expression(op, body, "down");
				if (op->type == NULL && op->nullable < 0 && op->check == NULL &&
					op->references == NULL && op->unique_name == NULL &&
					!op->has_default && !op->has_comment)
					op_error(op, "nothing to alter: give type, nullable, check, references, unique, default or comment");
				if (!online_alter_shadows(op) && (op->up || op->down))
					op_error(op, "\"up\" and \"down\" need a change of type, nullability or constraints");
				if (strlen(op->column_name) > ADDED_NAME_MAX)
					op_error(op, "name of altered column \"%s\" is longer than %d bytes",
							 op->column_name, ADDED_NAME_MAX);
				break;
			}
		case OP_RENAME_TABLE:
			op->table = get_identifier(op, body, "from", true);
			op->new_name = get_identifier(op, body, "to", true);
			break;
		case OP_DROP_TABLE:
			op->table = get_identifier(op, body, "table", true);
			if (strlen(op->table) > ADDED_NAME_MAX)
				op_error(op, "name of dropped table \"%s\" is longer than %d bytes",
						 op->table, ADDED_NAME_MAX);
			break;
		case OP_CREATE_CONSTRAINT:
			op->table = get_identifier(op, body, "table", true);
			op->constraint_name = get_identifier(op, body, "name", true);
			op->constraint_type = get_string(op, body, "type", true);
			op->columns = get_field(body, "columns") ? get_identifiers(op, body, "columns") : NIL;
			check_key_columns(op, op->columns, "columns");
			if (strcmp(op->constraint_type, "unique") == 0)
			{
				if (op->columns == NIL)
					op_error(op, "a unique constraint needs \"columns\"");
			}
			else if (strcmp(op->constraint_type, "check") == 0)
			{
				op->check = get_string(op, body, "check", true);
				(void) online_expression(op->check, InvalidOid, InvalidOid, -1, NULL);
			}
			else if (strcmp(op->constraint_type, "foreign_key") == 0)
			{
				op->references = get_reference(op, body, false);
				if (op->columns == NIL || op->references == NULL)
					op_error(op, "a foreign key needs \"columns\" and \"references\"");
				if (list_length(op->columns) != list_length(op->references->columns))
					op_error(op, "a foreign key references as many columns as it has");
			}
			else
				op_error(op, "constraint type must be unique, check or foreign_key");
			if (strcmp(op->constraint_type, "check") != 0 && get_field(body, "check"))
				op_error(op, "field \"check\" is for check constraints");
			if (strcmp(op->constraint_type, "foreign_key") != 0 && get_field(body, "references"))
				op_error(op, "field \"references\" is for foreign keys");
			break;
		case OP_DROP_CONSTRAINT:
			op->table = get_identifier(op, body, "table", true);
			op->constraint_name = get_identifier(op, body, "name", true);
			break;
		case OP_SQL:
			{
				MigrationScript script = {0};

				op->sql_up = get_string(op, body, "up", true);
				op->sql_down = get_string(op, body, "down", false);
				script.version = m->version;
				script.name = m->name;
				script.direction = "up";
				script.sql = op->sql_up;
				script_parse(&script);
				if (script.stmts == NIL)
					op_error(op, "field \"up\" has no statements");
				script_check(&script, true);
				if (op->sql_down)
				{
					script.direction = "down";
					script.sql = op->sql_down;
					script_parse(&script);
					script_check(&script, true);
				}
				break;
			}
	}
}

/*
 * Parse and check the document: an array of one-key objects.  Checks the
 * names against the live catalog too (online_shape); raises 22023 naming
 * the operation at fault.
 */
OnlineMigration *
online_parse(const char *version, const char *name, Jsonb *operations,
			 bool check_catalog)
{
	OnlineMigration *m = palloc0(sizeof(OnlineMigration));
	JsonbContainer *root = &operations->root;
	ErrorContextCallback errcallback;
	OnlineOp   *current = NULL;
	StringInfoData vschema;

	m->version = pstrdup(version);
	m->name = pstrdup(name);
	parse_checks_catalog = check_catalog;
	if (!JsonContainerIsArray(root) || JsonContainerIsScalar(root) ||
		JsonContainerSize(root) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("operations must be a non-empty array of operations")));

	errcallback.callback = op_error_callback;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	for (uint32 i = 0; i < JsonContainerSize(root); i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(root, i);
		JsonbContainer *c = container_of(v);
		OnlineOp   *op = palloc0(sizeof(OnlineOp));
		JsonbIterator *it;
		JsonbValue	key;
		char	   *opname = NULL;

		op->index = i + 1;
		op->opname = "?";
		errcallback.arg = NULL;
		if (c == NULL || !JsonContainerIsObject(c) || JsonContainerSize(c) != 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("operation %d must be an object with one key, the operation's name",
							op->index)));
		it = JsonbIteratorInit(c);
		while (JsonbIteratorNext(&it, &key, true) != WJB_DONE)
			if (key.type == jbvString && opname == NULL)
				opname = pnstrdup(key.val.string.val, key.val.string.len);
		for (int k = 0; op_names[k]; k++)
			if (strcmp(op_names[k], opname) == 0)
			{
				op->kind = (OnlineOpKind) k;
				op->opname = op_names[k];
			}
		if (strcmp(op->opname, "?") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("operation %d: unknown operation \"%s\"", op->index, opname),
					 errhint("Operations are create_table, add_column, alter_column, drop_column, rename_column, create_index, drop_index, rename_table, drop_table, create_constraint, drop_constraint and sql.")));
		current = op;
		errcallback.arg = op;
		parse_op(m, op, container_of(get_field(c, opname)));
		m->ops = lappend(m->ops, op);
	}
	error_context_stack = errcallback.previous;

	if (m->schema == NULL)
		m->schema = "public";
	if (list_length(m->ops) > 1)
	{
		ListCell   *lc;

		foreach(lc, m->ops)
		{
			current = lfirst(lc);
			if (current->kind == OP_SQL)
				op_error(current, "an sql operation must be the only operation of its migration");
		}
	}

	/*
	 * The schema of the new shape: migrate_<schema>_v<version, dots as
	 * underscores>.  Schemas named migrate_... are migrate's own.
	 */
	initStringInfo(&vschema);
	appendStringInfo(&vschema, "migrate_%s_v", m->schema);
	for (const char *p = version; *p; p++)
		appendStringInfoChar(&vschema, *p == '.' ? '_' : *p);
	if (vschema.len >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the name of the version schema \"%s\" would be longer than %d bytes",
						vschema.data, NAMEDATALEN - 1),
				 errhint("Use a shorter version or schema name.")));
	m->vschema = vschema.data;
	return m;
}

/*
 * Does this alter_column need a shadow column?  Only a change of default
 * or comment alone does not: the values stay as they are.
 */
bool
online_alter_shadows(OnlineOp *op)
{
	return op->type != NULL || op->nullable >= 0 || op->check != NULL ||
		op->references != NULL || op->unique_name != NULL;
}

/* The name a dropped table has until complete. */
char *
online_dropped_name(const char *table)
{
	return psprintf("_migrate_drop_%s", table);
}

char *
online_shadow_name(const char *column)
{
	return psprintf(SHADOW_PREFIX "%s", column);
}

char *
online_check_name(const char *column)
{
	return psprintf(CHECK_PREFIX "%s", column);
}

char *
online_qualified(const char *schema, const char *name)
{
	return quote_qualified_identifier(schema, name);
}

/*
 * The serial types are a CREATE TABLE shorthand, not types: the keyword
 * to use for one, else NULL.
 */
const char *
online_serial(const char *type)
{
	static const char *const serials[] = {
		"smallserial", "serial2", "serial", "serial4", "bigserial", "serial8", NULL
	};

	for (int i = 0; serials[i]; i++)
		if (pg_strcasecmp(type, serials[i]) == 0)
			return serials[i];
	return NULL;
}

/* Resolve a type name with the server's parser. */
void
online_type(const char *type, Oid *typid, int32 *typmod)
{
	int			nestlevel = online_user_path();

	typenameTypeIdAndMod(NULL, typeStringToTypeName(type), typid, typmod);
	online_path_end(nestlevel);
}

/* A table of the new shape, by its name there (dropped ones are not). */
ShapeTable *
shape_find(List *shape, const char *table)
{
	ListCell   *lc;

	foreach(lc, shape)
	{
		ShapeTable *t = lfirst(lc);

		if (!t->dropped && strcmp(t->name, table) == 0)
			return t;
	}
	return NULL;
}

/* A column visible in the new shape, by its name there. */
ShapeColumn *
shape_column(ShapeTable *t, const char *name)
{
	ListCell   *lc;

	foreach(lc, t->columns)
	{
		ShapeColumn *c = lfirst(lc);

		if (!c->hidden && strcmp(c->name, name) == 0)
			return c;
	}
	return NULL;
}

/* Is this name taken by a table (of the shape, or in the schema)? */
static bool
table_name_taken(List *shape, Oid nsp, const char *name)
{
	ListCell   *lc;

	foreach(lc, shape)
	{
		ShapeTable *t = lfirst(lc);

		if (strcmp(t->name, name) == 0 || strcmp(t->physical, name) == 0)
			return true;
	}
	return OidIsValid(get_relname_relid(name, nsp));
}

/*
 * The schema an online migration works in must be the application's: not
 * a system schema, not one of temporary tables (the background job, in
 * another session, cannot see them), not one of an extension's or of
 * migrate's own (its catalog, the version schemas).
 */
static void
check_schema_allowed(OnlineMigration *m, OnlineOp *op, Oid nsp)
{
	Oid			ext;

	if (IsCatalogNamespace(nsp) || IsToastNamespace(nsp) ||
		strcmp(m->schema, "information_schema") == 0)
		op_error(op, "schema \"%s\" is a system schema", m->schema);
	if (isAnyTempNamespace(nsp))
		op_error(op, "schema \"%s\" holds temporary tables, which the background job cannot see",
				 m->schema);
	if (strcmp(m->schema, "migrate") == 0 || strncmp(m->schema, "migrate_", 8) == 0)
		op_error(op, "schema \"%s\" is migrate's own", m->schema);
	if (OidIsValid(ext = getExtensionOfObject(NamespaceRelationId, nsp)))
		op_error(op, "schema \"%s\" belongs to extension \"%s\"", m->schema,
				 get_extension_name(ext));
}

/* A relation the migration changes must not be an extension's own. */
static void
check_relation_allowed(OnlineOp *op, Oid relid, const char *schema)
{
	Oid			ext;

	if (IsCatalogRelationOid(relid))
		op_error(op, "relation \"%s.%s\" is a system catalog", schema, get_rel_name(relid));
	if (OidIsValid(ext = getExtensionOfObject(RelationRelationId, relid)))
		op_error(op, "relation \"%s.%s\" belongs to extension \"%s\"", schema,
				 get_rel_name(relid), get_extension_name(ext));
}

/* The table's columns as they are now. */
static ShapeTable *
shape_load(OnlineMigration *m, OnlineOp *op, const char *table, bool expanded)
{
	ShapeTable *t = palloc0(sizeof(ShapeTable));
	Oid			nsp = get_namespace_oid(m->schema, true);
	Relation	rel;
	TupleDesc	desc;

	t->name = t->physical = pstrdup(table);
	t->relid = OidIsValid(nsp) ? get_relname_relid(table, nsp) : InvalidOid;
	/* started, a dropped table has another name */
	if (expanded && op->kind == OP_DROP_TABLE &&
		(!OidIsValid(t->relid) || get_rel_relkind(t->relid) == RELKIND_VIEW))
	{
		t->physical = online_dropped_name(table);
		t->relid = get_relname_relid(t->physical, nsp);
	}
	if (!OidIsValid(t->relid) ||
		(get_rel_relkind(t->relid) != RELKIND_RELATION &&
		 get_rel_relkind(t->relid) != RELKIND_PARTITIONED_TABLE))
	{
		if (shape_lenient)
		{
			t->relid = InvalidOid;
			return t;
		}
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("operation %d (%s): table \"%s.%s\" does not exist",
						op->index, op->opname, m->schema, table),
				 expanded ?
				 errhint("It was dropped or renamed since the migration started: migrate_rollback() undoes what is left of the migration.") : 0));
	}
	if (!expanded)
		check_relation_allowed(op, t->relid, m->schema);
	rel = table_open(t->relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		ShapeColumn *c;

		if (att->attisdropped)
			continue;
		/* what start added is not part of the shape it started from */
		if (expanded && (strncmp(NameStr(att->attname), SHADOW_PREFIX, strlen(SHADOW_PREFIX)) == 0 ||
						 strcmp(NameStr(att->attname), ONLINE_MARKER) == 0))
			continue;
		c = palloc0(sizeof(ShapeColumn));
		c->name = c->old_name = c->physical = pstrdup(NameStr(att->attname));
		t->columns = lappend(t->columns, c);
	}
	table_close(rel, AccessShareLock);
	return t;
}

/*
 * A column of the new shape, by its name there.  Rolling back, a column
 * that is gone stands for itself, so that what was made for it can still
 * be named (and dropped if it exists).
 */
static ShapeColumn *
find_column(OnlineOp *op, ShapeTable *t, const char *name, const char *what)
{
	ShapeColumn *c = shape_column(t, name);

	if (c == NULL && shape_lenient)
	{
		c = palloc0(sizeof(ShapeColumn));
		c->name = c->old_name = c->physical = pstrdup(name);
		t->columns = lappend(t->columns, c);
	}
	if (c == NULL)
		op_error(op, "column \"%s\" of %s \"%s\" does not exist", name, what, t->name);
	return c;
}

/* A constraint of the table, by name, or InvalidOid. */
static Oid
constraint_oid(Oid relid, const char *name)
{
	return OidIsValid(relid) ? get_relation_constraint_oid(relid, name, true) : InvalidOid;
}

/*
 * A referenced table and its columns, as they are during the migration:
 * physical names.  Fills *relname with the table's.
 */
static List *
reference_target(OnlineMigration *m, OnlineOp *op, List *shape, bool expanded,
				 char **relname)
{
	OnlineReference *r = op->references;
	ShapeTable *rt = shape_find(shape, r->table);
	List	   *physical = NIL;
	ListCell   *lc;

	if (rt == NULL)
		rt = shape_load(m, op, r->table, expanded);
	*relname = rt->physical;
	foreach(lc, r->columns)
	{
		ShapeColumn *c = find_column(op, rt, lfirst(lc), "referenced table");

		physical = lappend(physical, c->physical);
	}
	return physical;
}

/*
 * Why a column cannot be altered online (yet), or NULL: what migrate cannot
 * carry over to its shadow column.
 */
static char *
alter_refusal(Oid relid, const char *column)
{
	AttrNumber	attnum = get_attnum(relid, column);
	MemoryContext caller = CurrentMemoryContext;
	HeapTuple	tup;
	Form_pg_attribute att;
	char	   *why = NULL;
	int			nestlevel;

	if (attnum <= 0)
		return NULL;
	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
	if (!HeapTupleIsValid(tup))
		return NULL;
	att = (Form_pg_attribute) GETSTRUCT(tup);
	if (att->attidentity)
		why = "it is an identity column";
	else if (att->attgenerated)
		why = "it is a generated column";
	ReleaseSysCache(tup);
	if (why)
		return why;

	/* names in it resolve in pg_catalog, whoever registers and whatever path */
	nestlevel = online_pinned_path();
	SPI_connect();
	{
		Oid			argtypes[2] = {OIDOID, INT2OID};
		Datum		values[2] = {ObjectIdGetDatum(relid), Int16GetDatum(attnum)};

		/* not read-only: it must see what this transaction did */
		SPI_execute_with_args(
			"SELECT why FROM ("
			"SELECT 1 AS prio, CASE"
			"  WHEN c.contype = 'p' THEN 'it is part of primary key ' || quote_ident(c.conname)"
			"  WHEN c.contype = 'x' THEN 'it is part of exclusion constraint ' || quote_ident(c.conname)"
			"  WHEN c.confrelid = $1 AND $2 = ANY (c.confkey) THEN 'foreign key ' ||"
			"       quote_ident(c.conname) || ' of table ' || c.conrelid::regclass || ' references it'"
			"  WHEN c.contype = 'f' THEN 'it is part of multi-column foreign key ' || quote_ident(c.conname)"
			"  ELSE 'it is part of multi-column constraint ' || quote_ident(c.conname) END AS why"
			"  FROM pg_catalog.pg_constraint c"
			" WHERE (c.conrelid = $1 AND $2 = ANY (c.conkey)"
			"        AND (c.contype IN ('p', 'x') OR cardinality(c.conkey) > 1))"
			"    OR (c.confrelid = $1 AND $2 = ANY (c.confkey))"
			" UNION ALL "
			"SELECT 2, 'index ' || quote_ident(i.relname) || ' uses it in an expression or predicate'"
			"  FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid"
			" WHERE x.indrelid = $1 AND (x.indexprs IS NOT NULL OR x.indpred IS NOT NULL)"
			"   AND EXISTS (SELECT FROM pg_catalog.pg_depend d"
			"                WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass"
			"                  AND d.objid = x.indexrelid AND d.refobjid = $1 AND d.refobjsubid = $2)"
			" UNION ALL "
			"SELECT 3, 'sequence ' || s.oid::regclass || ' belongs to it'"
			"  FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_class s ON s.oid = d.objid"
			" WHERE d.refobjid = $1 AND d.refobjsubid = $2 AND s.relkind = 'S' AND d.deptype = 'a'"
			" UNION ALL "
			"SELECT 4, 'view ' || v.oid::regclass || ' uses it'"
			"  FROM pg_catalog.pg_depend d"
			"  JOIN pg_catalog.pg_rewrite w ON w.oid = d.objid"
			"  JOIN pg_catalog.pg_class v ON v.oid = w.ev_class"
			" WHERE d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass"
			"   AND d.refobjid = $1 AND d.refobjsubid = $2 AND v.oid <> $1"
			"   AND v.relnamespace::regnamespace::text !~ '^migrate_'"
			") reasons ORDER BY prio, why LIMIT 1",
			2, argtypes, values, NULL, false, 1);
		if (SPI_processed > 0)
			why = MemoryContextStrdup(caller,
									  SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	}
	SPI_finish();
	online_path_end(nestlevel);
	return why;
}

/*
 * Replay the operations over the tables they change: the new shape of each
 * table, and where each of its columns lives during the migration.  Every
 * name is checked against the live catalog on the way (22023).  Once the
 * migration is started (expanded), what it created is expected to exist.
 */
List *
online_shape(OnlineMigration *m, bool expanded)
{
	List	   *shape = NIL;
	ListCell   *lc;
	Oid			nsp = get_namespace_oid(m->schema, true);
	ErrorContextCallback errcallback;

	errcallback.callback = op_error_callback;
	errcallback.arg = NULL;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	if (!OidIsValid(nsp))
	{
		/* the first operation that names a schema names this one */
		foreach(lc, m->ops)
			if (((OnlineOp *) lfirst(lc))->kind != OP_SQL)
			{
				errcallback.arg = lfirst(lc);
				break;
			}
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schema \"%s\" of the online migration does not exist", m->schema)));
	}

	foreach(lc, m->ops)
	{
		OnlineOp   *op = lfirst(lc);
		ShapeTable *t = NULL;
		ShapeColumn *c;
		bool		loaded_now;

		errcallback.arg = op;
		loaded_now = false;
		if (!expanded && op->kind != OP_SQL)
			check_schema_allowed(m, op, nsp);
		if (op->table && op->kind != OP_CREATE_TABLE)
		{
			t = shape_find(shape, op->table);
			if (t == NULL)
			{
				ListCell   *tc;

				loaded_now = true;
				/* a table renamed or dropped by an earlier operation is gone */
				foreach(tc, shape)
					if (strcmp(((ShapeTable *) lfirst(tc))->physical, op->table) == 0)
						op_error(op, "table \"%s\" was renamed or dropped by an earlier operation",
								 op->table);
				t = shape_load(m, op, op->table, expanded);
				shape = lappend(shape, t);
			}
		}
		op->st = t;

		switch (op->kind)
		{
			case OP_CREATE_TABLE:
				{
					ListCell   *cc;
					List	   *seen = NIL;

					if (shape_find(shape, op->table) ||
						(!expanded && table_name_taken(shape, nsp, op->table)))
						op_error(op, "relation \"%s.%s\" already exists", m->schema, op->table);
					t = palloc0(sizeof(ShapeTable));
					t->name = t->physical = op->table;
					t->created = true;
					if (expanded)
						t->relid = get_relname_relid(op->table, nsp);
					foreach(cc, op->columns)
					{
						OnlineColumn *col = lfirst(cc);

						if (list_member(seen, makeString(col->name)))
							op_error(op, "column \"%s\" appears twice", col->name);
						seen = lappend(seen, makeString(col->name));
						c = palloc0(sizeof(ShapeColumn));
						c->name = c->old_name = c->physical = col->name;
						t->columns = lappend(t->columns, c);
					}
					shape = lappend(shape, t);
					op->st = t;
					break;
				}
			case OP_ADD_COLUMN:
				if (shape_column(t, op->column->name) && !shape_lenient)
					op_error(op, "column \"%s\" of table \"%s\" already exists",
							 op->column->name, op->table);
				c = palloc0(sizeof(ShapeColumn));
				c->name = op->column->name;
				c->physical = t->created ? op->column->name : online_shadow_name(op->column->name);
				c->added_by = op;
				t->columns = lappend(t->columns, c);
				if (!t->created && op->up)
					t->sync = t->backfill = true;
				if (!t->created && op->up == NULL && op->column->default_expr &&
					online_expression_volatile(op->column->default_expr))
					t->sync = t->backfill = true;
				break;
			case OP_DROP_COLUMN:
				c = find_column(op, t, op->column_name, "table");
				if (c->added_by || c->altered_from)
					op_error(op, "column \"%s\" is added or altered by this migration", op->column_name);
				if (!expanded && op->down == NULL && !t->created)
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
							op_error(op, "column \"%s\" is NOT NULL without a default: it needs \"down\" to fill it for rows the new shape inserts",
									 op->column_name);
					}
				}
				c->hidden = true;
				c->dropped_by = op;
				if (op->down)
					t->sync = true;
				break;
			case OP_RENAME_COLUMN:
				c = find_column(op, t, op->column_name, "table");
				if (shape_column(t, op->new_name) && !shape_lenient)
					op_error(op, "column \"%s\" of table \"%s\" already exists",
							 op->new_name, op->table);
				if (c->added_by || c->altered_from)
					op_error(op, "column \"%s\" is added or altered by this migration: name it there",
							 op->column_name);
				c->name = op->new_name;
				break;
			case OP_CREATE_INDEX:
				{
					ListCell   *cc;

					if (!expanded && OidIsValid(get_relname_relid(op->index_name, nsp)))
						op_error(op, "relation \"%s.%s\" already exists", m->schema, op->index_name);
					op->physical = NIL;
					foreach(cc, op->columns)
						op->physical = lappend(op->physical,
											   find_column(op, t, lfirst(cc), "table")->physical);
					break;
				}
			case OP_DROP_INDEX:
				{
					Oid			idx = get_relname_relid(op->index_name, nsp);

					if (expanded)
						break;
					if (!OidIsValid(idx) || get_rel_relkind(idx) != RELKIND_INDEX)
						op_error(op, "index \"%s.%s\" does not exist", m->schema, op->index_name);
					check_relation_allowed(op, idx, m->schema);
					if (get_index_constraint(idx) != InvalidOid)
						op_error(op, "index \"%s\" belongs to a constraint", op->index_name);
					break;
				}
			case OP_SQL:
				break;
			case OP_ALTER_COLUMN:
				{
					ShapeColumn *nc;
					char	   *why;

					c = find_column(op, t, op->column_name, "table");
					if (c->added_by || c->altered_from)
						op_error(op, "column \"%s\" is added or altered by this migration: change it there",
								 op->column_name);
					if (t->created)
						op_error(op, "table \"%s\" is created by this migration: define the column there",
								 op->table);
					if (op->constraint_name && !expanded &&
						OidIsValid(constraint_oid(t->relid, op->constraint_name)))
						op_error(op, "constraint \"%s\" of table \"%s\" already exists",
								 op->constraint_name, op->table);
					if (op->unique_name && !expanded &&
						(OidIsValid(get_relname_relid(op->unique_name, nsp)) ||
						 OidIsValid(constraint_oid(t->relid, op->unique_name))))
						op_error(op, "relation \"%s.%s\" already exists", m->schema, op->unique_name);
					if (op->unique_name && strlen(op->unique_name) > ADDED_NAME_MAX)
						op_error(op, "name of unique constraint \"%s\" is longer than %d bytes",
								 op->unique_name, ADDED_NAME_MAX);
					if (op->references)
					{
						char	   *relname;

						op->ref_physical = reference_target(m, op, shape, expanded, &relname);
						op->ref_relname = relname;
					}
					op->sc = c;
					if (!online_alter_shadows(op))
						break;
					if (!expanded && (why = alter_refusal(t->relid, c->physical)) != NULL)
						op_error(op, "column \"%s\" cannot be altered online: %s",
								 op->column_name, why);

					/* the old column hides in the new shape; its shadow takes its place */
					nc = palloc0(sizeof(ShapeColumn));
					nc->name = c->name;
					nc->physical = online_shadow_name(c->physical);
					nc->added_by = op;
					nc->altered_from = c;
					c->hidden = true;
					c->dropped_by = op;
					c->replaced_by = nc;
					{
						int			pos = 0;
						ListCell   *cc;

						foreach(cc, t->columns)
							if (lfirst(cc) == c)
								pos = foreach_current_index(cc) + 1;
						t->columns = list_insert_nth(t->columns, pos, nc);
					}
					t->sync = t->backfill = true;
					break;
				}
			case OP_RENAME_TABLE:
				if (table_name_taken(shape, nsp, op->new_name) && !expanded)
					op_error(op, "relation \"%s.%s\" already exists", m->schema, op->new_name);
				if (shape_find(shape, op->new_name))
					op_error(op, "relation \"%s.%s\" already exists", m->schema, op->new_name);
				t->name = op->new_name;
				break;
			case OP_DROP_TABLE:
				if (t->created)
					op_error(op, "table \"%s\" is created by this migration", op->table);
				if (!loaded_now)
					op_error(op, "table \"%s\" is changed by an earlier operation: drop it in a migration of its own",
							 op->table);
				t->dropped = true;
				break;
			case OP_CREATE_CONSTRAINT:
				{
					ListCell   *cc;

					if (!expanded && (OidIsValid(constraint_oid(t->relid, op->constraint_name)) ||
									  OidIsValid(get_relname_relid(op->constraint_name, nsp))))
						op_error(op, "constraint \"%s\" of table \"%s\" already exists",
								 op->constraint_name, op->table);
					op->physical = NIL;
					foreach(cc, op->columns)
						op->physical = lappend(op->physical,
											   find_column(op, t, lfirst(cc), "table")->physical);
					if (op->references)
					{
						char	   *relname;

						op->ref_physical = reference_target(m, op, shape, expanded, &relname);
						op->ref_relname = relname;
					}
					break;
				}
			case OP_DROP_CONSTRAINT:
				if (!expanded && !OidIsValid(constraint_oid(t->relid, op->constraint_name)))
					op_error(op, "constraint \"%s\" of table \"%s\" does not exist",
							 op->constraint_name, op->table);
				break;
		}
	}
	error_context_stack = errcallback.previous;
	return shape;
}

/*
 * The shape of a started migration for its rollback: what the user dropped
 * since (a table, a column) is taken as gone, not as an error, so that the
 * rest can be undone.
 */
List *
online_shape_leftovers(OnlineMigration *m)
{
	List	   *shape;

	shape_lenient = true;
	PG_TRY();
	{
		shape = online_shape(m, true);
	}
	PG_FINALLY();
	{
		shape_lenient = false;
	}
	PG_END_TRY();
	return shape;
}

/*
 * The referenced table and columns of op, during the migration: as they
 * were when op came (a later operation may rename them in the new shape).
 */
List *
online_reference_target(OnlineMigration *m, OnlineOp *op, List *shape, char **relname)
{
	if (op->ref_relname == NULL)
		op->ref_physical = reference_target(m, op, shape, true, &op->ref_relname);
	*relname = op->ref_relname;
	return op->ref_physical;
}

/* Errors in an expression point into it, not into the caller's query. */
static void
expression_error_callback(void *arg)
{
	int			pos = geterrposition();

	if (pos > 0)
	{
		errposition(0);
		internalerrposition(pos);
		internalerrquery((const char *) arg);
	}
}

#define WITH_EXPRESSION_ERRORS(sql, code) \
	do { \
		ErrorContextCallback errcb_; \
		errcb_.callback = expression_error_callback; \
		errcb_.arg = (void *) (sql); \
		errcb_.previous = error_context_stack; \
		error_context_stack = &errcb_; \
		code; \
		error_context_stack = errcb_.previous; \
	} while (0)

/*
 * Parse one expression the way the server parses a select-list item, and
 * insist that it is no more than that.  Returns its raw parse tree; *sql
 * gets the text it was parsed from (for error positions).
 */
static Node *
parse_expression(const char *expr, char **sql)
{
	List	   *raw;
	SelectStmt *select;
	ResTarget  *target;

	*sql = psprintf("SELECT %s", expr);
	WITH_EXPRESSION_ERRORS(*sql, raw = raw_parse_sql(*sql));
	if (list_length(raw) != 1 ||
		!IsA(((RawStmt *) linitial(raw))->stmt, SelectStmt))
		goto not_one;
	select = (SelectStmt *) ((RawStmt *) linitial(raw))->stmt;
	if (list_length(select->targetList) != 1 || select->fromClause ||
		select->whereClause || select->groupClause || select->havingClause ||
		select->windowClause || select->sortClause || select->limitCount ||
		select->limitOffset || select->lockingClause || select->withClause ||
		select->intoClause || select->distinctClause || select->valuesLists ||
		select->op != SETOP_NONE)
		goto not_one;
	target = linitial(select->targetList);
	if (target->name != NULL || (IsA(target->val, ColumnRef) &&
								 IsA(llast(((ColumnRef *) target->val)->fields), A_Star)))
		goto not_one;
	return target->val;

not_one:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("\"%s\" is not a single expression", expr)));
	return NULL;
}

/*
 * Check an expression's syntax; with a relation, also analyse it against
 * that relation's columns (as an UPDATE's SET source would be), coerce it
 * to type (when valid) and return the server's deparsed text of it.
 */
char *
online_expression(const char *expr, Oid relid, Oid type, int32 typmod,
				  const char *what)
{
	char	   *sql;
	Node	   *raw = parse_expression(expr, &sql);
	ParseState *pstate;
	Relation	rel;
	Node	   *node;
	Oid			actual;
	char	   *result;
	int			nestlevel;

	if (!OidIsValid(relid))
		return NULL;

	nestlevel = online_user_path();
	pstate = make_parsestate(NULL);
	pstate->p_sourcetext = sql;
	rel = relation_open(relid, AccessShareLock);
	addNSItemToQuery(pstate,
					 addRangeTableEntryForRelation(pstate, rel, AccessShareLock,
												   NULL, false, true),
					 true, true, true);
	WITH_EXPRESSION_ERRORS(sql, node = transformExpr(pstate, raw, EXPR_KIND_UPDATE_SOURCE));
	actual = exprType(node);
	if (OidIsValid(type))
	{
		node = coerce_to_target_type(pstate, node, actual, type, typmod,
									 COERCION_ASSIGNMENT, COERCE_IMPLICIT_CAST, -1);
		if (node == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("%s expression \"%s\" is of type %s, but its column is of type %s",
							what, expr, format_type_be(actual),
							format_type_with_typemod(type, typmod))));
	}
	assign_expr_collations(pstate, node);
	online_path_end(nestlevel);
	nestlevel = online_pinned_path();
	result = deparse_expression(node,
								deparse_context_for(RelationGetRelationName(rel), relid),
								false, false);
	online_path_end(nestlevel);
	relation_close(rel, AccessShareLock);
	free_parsestate(pstate);
	return result;
}

/* A constant expression, as a column default: the server's text of it. */
static Node *
default_node(const char *expr)
{
	char	   *sql;
	Node	   *raw = parse_expression(expr, &sql);
	ParseState *pstate = make_parsestate(NULL);
	Node	   *node;
	int			nestlevel = online_user_path();

	pstate->p_sourcetext = sql;
	WITH_EXPRESSION_ERRORS(sql, node = transformExpr(pstate, raw, EXPR_KIND_COLUMN_DEFAULT));
	online_path_end(nestlevel);
	return node;
}

/* A column default, coerced to the column's type: the server's text of it. */
char *
online_default(const char *expr, Oid typid, int32 typmod)
{
	Node	   *node = default_node(expr);
	Oid			actual = exprType(node);
	int			nestlevel;
	char	   *result;

	nestlevel = online_user_path();
	node = coerce_to_target_type(NULL, node, actual, typid, typmod,
								 COERCION_ASSIGNMENT, COERCE_IMPLICIT_CAST, -1);
	online_path_end(nestlevel);
	if (node == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("default expression \"%s\" is of type %s, but its column is of type %s",
						expr, format_type_be(actual), format_type_with_typemod(typid, typmod))));
	assign_expr_collations(make_parsestate(NULL), node);
	nestlevel = online_pinned_path();
	result = deparse_expression(node, NIL, false, false);
	online_path_end(nestlevel);
	return result;
}

/* Would this default differ per row (and so rewrite the table)? */
bool
online_expression_volatile(const char *expr)
{
	return contain_volatile_functions(default_node(expr));
}

/* Map Vars of the view (the new shape) to the table's own columns. */
typedef struct VarMap
{
	AttrNumber *map;
	int			n;
} VarMap;

static Node *
map_vars_mutator(Node *node, VarMap *vm)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, Var))
	{
		Var		   *var = (Var *) copyObject(node);

		if (var->varattno > 0 && var->varattno <= vm->n)
		{
			var->varattno = vm->map[var->varattno - 1];
			var->varattnosyn = var->varattno;
		}
		return (Node *) var;
	}
	return expression_tree_mutator(node, map_vars_mutator, (void *) vm);
}

/*
 * An expression written against the new shape (an index predicate, a check)
 * as SQL on the table itself: analysed against the table's view in the
 * version schema, its columns mapped to the table's own.
 */
char *
online_mapped_expression(const char *expr, OnlineMigration *m, ShapeTable *t,
						 ParseExprKind kind)
{
	char	   *sql;
	Node	   *raw = parse_expression(expr, &sql);
	ParseState *pstate = make_parsestate(NULL);
	Oid			viewid = get_relname_relid(t->name, get_namespace_oid(m->vschema, false));
	Relation	view;
	Node	   *node;
	VarMap		vm;
	ListCell   *lc;
	int			i = 0;
	int			nestlevel = online_user_path();
	char	   *result;

	pstate->p_sourcetext = sql;
	view = relation_open(viewid, AccessShareLock);
	addNSItemToQuery(pstate,
					 addRangeTableEntryForRelation(pstate, view, AccessShareLock,
												   NULL, false, true),
					 true, true, true);
	WITH_EXPRESSION_ERRORS(sql, node = transformExpr(pstate, raw, kind));
	node = coerce_to_boolean(pstate, node, kind == EXPR_KIND_CHECK_CONSTRAINT ? "CHECK" : "WHERE");
	assign_expr_collations(pstate, node);
	relation_close(view, AccessShareLock);
	online_path_end(nestlevel);

	/* view column i is the i-th visible column of the shape */
	vm.map = palloc0(sizeof(AttrNumber) * (list_length(t->columns) + 1));
	foreach(lc, t->columns)
	{
		ShapeColumn *c = lfirst(lc);

		if (c->hidden)
			continue;
		vm.map[i++] = get_attnum(t->relid, c->physical);
	}
	vm.n = i;
	node = map_vars_mutator(node, &vm);
	nestlevel = online_pinned_path();
	result = deparse_expression(node, deparse_context_for(get_rel_name(t->relid), t->relid),
								false, false);
	online_path_end(nestlevel);
	return result;
}

/*
 * Read an online migration from the catalog (FOR UPDATE when asked) and
 * parse its document.  *state gets its state.
 */
OnlineMigration *
online_load(const char *version, bool for_update, char **state)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(version)};
	bool		isnull;
	Datum		ops;
	char	   *name;
	MemoryContext caller = CurrentMemoryContext;
	OnlineMigration *m;

	catalog_exec(psprintf("SELECT name, operations, state FROM migrate.migration"
						  " WHERE version = $1 AND kind = 'online'%s",
						  for_update ? " FOR UPDATE" : ""),
				 1, argtypes, values, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("migration %s is not an online migration", version)));
	name = MemoryContextStrdup(caller, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	ops = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (state)
		*state = MemoryContextStrdup(caller, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3));
	{
		MemoryContext old = MemoryContextSwitchTo(caller);
		Jsonb	   *doc = DatumGetJsonbPCopy(ops);

		m = online_parse(version, name, doc, false);
		MemoryContextSwitchTo(old);
	}
	return m;
}
