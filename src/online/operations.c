/*-------------------------------------------------------------------------
 *
 * operations.c
 *	  The operations document of an online migration: its parsing and
 *	  validation, and the shape of the tables it changes.
 *
 * A document is checked whole before anything is registered or started:
 * its structure here, its names against the live catalog by replaying the
 * operations over the tables' columns (online_shape).  What each operation
 * is, its fields and its effect on the shape, is its own (op_<name>.c,
 * through the table of methods ops.c finds by its name); errors name the
 * operation and the migration in their context.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/catalog.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "catalog/migrate_catalog.h"
#include "online/online_int.h"

/*
 * The error context of the document's operations: which one, of which
 * migration.  Errors in an operation (op_error, and those of the server
 * while it checks one) say what is wrong; the context says where.
 */
typedef struct OpContext
{
	ErrorContextCallback callback;
	OnlineMigration *m;
	int			index;			/* 0: none */
	OnlineOp   *op;				/* NULL: not known yet */
} OpContext;

static void
op_context_callback(void *arg)
{
	OpContext  *ctx = (OpContext *) arg;

	if (ctx->op != NULL)
		errcontext("operation %d (%s) of online migration %s",
				   ctx->op->index, ctx->op->methods->name, ctx->m->version);
	else if (ctx->index > 0)
		errcontext("operation %d of online migration %s", ctx->index, ctx->m->version);
}

static void
op_context_push(OpContext *ctx, OnlineMigration *m)
{
	ctx->m = m;
	ctx->index = 0;
	ctx->op = NULL;
	ctx->callback.callback = op_context_callback;
	ctx->callback.arg = ctx;
	ctx->callback.previous = error_context_stack;
	error_context_stack = &ctx->callback;
}

static void
op_context_set(OpContext *ctx, OnlineOp *op)
{
	ctx->op = op;
	ctx->index = op ? op->index : 0;
}

static void
op_context_pop(OpContext *ctx)
{
	error_context_stack = ctx->callback.previous;
}

/* Does the operation work in a schema (it has the field)? */
static bool
in_schema(const OnlineOpMethods *methods)
{
	for (int i = 0; methods->fields[i]; i++)
		if (strcmp(methods->fields[i], "schema") == 0)
			return true;
	return false;
}

/* The fields every operation's object has, then its own. */
static void
parse_op(OnlineMigration *m, OnlineOp *op, JsonbContainer *body, bool check_catalog)
{
	if (body == NULL || !JsonContainerIsObject(body))
		op_error("the operation's value must be an object");
	doc_check_keys(body, op->methods->fields, "the operation");
	if (in_schema(op->methods))
		(void) doc_identifier(body, "schema", false);
	op->methods->parse(m, op, body, check_catalog);
}

/*
 * The schema an operation's object names (public when it names none); NULL
 * for an operation without one (it works in the migration's first), or an
 * object parse_op will refuse.
 */
static char *
op_schema(const OnlineOpMethods *methods, JsonbContainer *body)
{
	JsonbValue *v;

	if (methods == NULL || !in_schema(methods) ||
		body == NULL || !JsonContainerIsObject(body))
		return NULL;
	v = doc_field(body, "schema");
	if (v == NULL || v->type == jbvNull)
		return "public";
	if (v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* The version schema of a schema: migrate_<schema>_v<version, dots as _>. */
static char *
version_schema_name(const char *schema, const char *version)
{
	StringInfoData vschema;

	initStringInfo(&vschema);
	appendStringInfo(&vschema, "migrate_%s_v", schema);
	for (const char *p = version; *p; p++)
		appendStringInfoChar(&vschema, *p == '.' ? '_' : *p);
	if (vschema.len >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the name of the version schema \"%s\" would be longer than %d bytes",
						vschema.data, NAMEDATALEN - 1),
				 errhint("Use a shorter version or schema name.")));
	return vschema.data;
}

/* The part of the migration working in schema, made on first use. */
static OnlineMigration *
part_for(OnlineMigration *m, List **parts, const char *schema)
{
	ListCell   *lc;
	OnlineMigration *part;

	foreach(lc, *parts)
	{
		part = lfirst(lc);
		if (strcmp(part->schema, schema) == 0)
			return part;
	}
	part = palloc0(sizeof(OnlineMigration));
	part->version = m->version;
	part->name = m->name;
	part->schema = pstrdup(schema);
	*parts = lappend(*parts, part);
	return part;
}

/* The parts of a migration: itself when it works in one schema. */
List *
online_parts(OnlineMigration *m)
{
	return m->parts != NIL ? m->parts : list_make1(m);
}

/*
 * Parse and check the document: an array of one-key objects.  Raises 22023
 * with the operation at fault in the error context.
 */
OnlineMigration *
online_parse(const char *version, const char *name, Jsonb *operations,
			 bool check_catalog)
{
	OnlineMigration *m = palloc0(sizeof(OnlineMigration));
	JsonbContainer *root = &operations->root;
	OpContext	ctx;
	List	   *parts = NIL;
	char	   *first_schema = NULL;

	m->version = pstrdup(version);
	m->name = pstrdup(name);
	if (!JsonContainerIsArray(root) || JsonContainerIsScalar(root) ||
		JsonContainerSize(root) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("operations must be a non-empty array of operations")));

	/*
	 * The migration's first schema, the one of operations that name none: the
	 * first an operation names.
	 */
	for (uint32 i = 0; i < JsonContainerSize(root) && first_schema == NULL; i++)
	{
		JsonbContainer *c = doc_container(getIthJsonbValueFromContainer(root, i));
		JsonbIterator *it;
		JsonbValue	key;

		if (c == NULL || !JsonContainerIsObject(c) || JsonContainerSize(c) != 1)
			continue;
		it = JsonbIteratorInit(c);
		while (JsonbIteratorNext(&it, &key, true) != WJB_DONE)
		{
			if (key.type == jbvString && first_schema == NULL)
			{
				char	   *opname = pnstrdup(key.val.string.val, key.val.string.len);

				first_schema = op_schema(online_op_find(opname),
										 doc_container(doc_field(c, opname)));
			}
		}
	}
	if (first_schema == NULL)
		first_schema = "public";
	(void) part_for(m, &parts, first_schema);

	op_context_push(&ctx, m);
	for (uint32 i = 0; i < JsonContainerSize(root); i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(root, i);
		JsonbContainer *c = doc_container(v);
		OnlineOp   *op = palloc0(sizeof(OnlineOp));
		JsonbIterator *it;
		JsonbValue	key;
		char	   *opname = NULL;

		op->index = i + 1;
		op_context_set(&ctx, NULL);
		ctx.index = op->index;
		if (c == NULL || !JsonContainerIsObject(c) || JsonContainerSize(c) != 1)
			op_error("an operation must be an object with one key, the operation's name");
		it = JsonbIteratorInit(c);
		while (JsonbIteratorNext(&it, &key, true) != WJB_DONE)
			if (key.type == jbvString && opname == NULL)
				opname = pnstrdup(key.val.string.val, key.val.string.len);
		op->methods = online_op_find(opname);
		if (op->methods == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown operation \"%s\"", opname),
					 errhint("Operations are %s.", online_op_list())));
		op_context_set(&ctx, op);
		{
			JsonbContainer *body = doc_container(doc_field(c, opname));
			char	   *schema = op_schema(op->methods, body);
			OnlineMigration *part = part_for(m, &parts, schema ? schema : first_schema);

			parse_op(part, op, body, check_catalog);
			part->ops = lappend(part->ops, op);
		}
		m->ops = lappend(m->ops, op);
	}

	if (list_length(m->ops) > 1)
	{
		ListCell   *lc;

		foreach(lc, m->ops)
		{
			OnlineOp   *op = lfirst(lc);

			op_context_set(&ctx, op);
			if (op->methods->alone)
				op_error("this operation must be the only one of its migration");
		}
	}
	op_context_pop(&ctx);

	/*
	 * The schema of each part's new shape: migrate_<schema>_v<version, dots
	 * as underscores>.  Schemas named migrate_... are migrate's own.
	 */
	{
		ListCell   *lc;

		foreach(lc, parts)
		{
			OnlineMigration *part = lfirst(lc);

			part->vschema = version_schema_name(part->schema, version);
		}
	}
	if (list_length(parts) == 1)
	{
		/* one schema: the migration is its one part */
		OnlineMigration *part = linitial(parts);

		part->ops = m->ops;
		return part;
	}
	m->schema = ((OnlineMigration *) linitial(parts))->schema;
	m->vschema = ((OnlineMigration *) linitial(parts))->vschema;
	m->parts = parts;
	return m;
}

/*
 * The schema an online migration works in must be the application's: not
 * a system schema, not one of temporary tables (the background job, in
 * another session, cannot see them), not one of an extension's or of
 * migrate's own (its catalog, the version schemas).
 */
static void
check_schema_allowed(OnlineMigration *m, Oid nsp)
{
	Oid			ext;

	if (IsCatalogNamespace(nsp) || IsToastNamespace(nsp) ||
		strcmp(m->schema, "information_schema") == 0)
		op_error("schema \"%s\" is a system schema", m->schema);
	if (isAnyTempNamespace(nsp))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schema \"%s\" holds temporary tables", m->schema),
				 errdetail("The background job, in a session of its own, cannot see them.")));
	if (strcmp(m->schema, "migrate") == 0 || strncmp(m->schema, "migrate_", 8) == 0)
		op_error("schema \"%s\" is migrate's own", m->schema);
	if (OidIsValid(ext = getExtensionOfObject(NamespaceRelationId, nsp)))
		op_error("schema \"%s\" belongs to extension \"%s\"", m->schema,
				 get_extension_name(ext));
}

/*
 * Replay the operations over the tables they change: the new shape of each
 * table, and where each of its columns lives during the migration.  Every
 * name is checked against the live catalog on the way (22023).  Once the
 * migration is started (expanded), what it created is expected to exist;
 * rolling back (lenient), what is gone is taken as gone.
 */
static List *
shape(OnlineMigration *m, bool expanded, bool lenient)
{
	ShapeState	s = {0};
	ListCell   *lc;
	OpContext	ctx;

	s.m = m;
	s.nsp = get_namespace_oid(m->schema, true);
	s.expanded = expanded;
	s.lenient = lenient;
	op_context_push(&ctx, m);

	if (!OidIsValid(s.nsp))
	{
		/* the first operation that names a schema names this one */
		foreach(lc, m->ops)
		{
			if (in_schema(((OnlineOp *) lfirst(lc))->methods))
			{
				op_context_set(&ctx, lfirst(lc));
				break;
			}
		}
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schema \"%s\" of the online migration does not exist", m->schema)));
	}

	foreach(lc, m->ops)
	{
		OnlineOp   *op = lfirst(lc);

		op_context_set(&ctx, op);
		if (!expanded && in_schema(op->methods))
			check_schema_allowed(m, s.nsp);
		op->st = NULL;
		if (op->methods->shape)
			op->methods->shape(&s, op);
	}
	op_context_pop(&ctx);
	return s.tables;
}

List *
online_shape(OnlineMigration *m, bool expanded)
{
	return shape(m, expanded, false);
}

/*
 * The shape of a started migration for its rollback: what the user dropped
 * since (a table, a column) is taken as gone, not as an error, so that the
 * rest can be undone.
 */
List *
online_shape_leftovers(OnlineMigration *m)
{
	return shape(m, true, true);
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
