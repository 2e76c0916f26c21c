/*-------------------------------------------------------------------------
 *
 * lifecycle.c
 *	  The life of an online migration: register, start (expand), complete
 *	  (contract), rollback; and its version schema.
 *
 * Start runs in the deployer's transaction (migrate_upgrade): shadow
 * columns under names of their own, a schema of views presenting the new
 * shape, triggers that keep both shapes written, and a background job for
 * what must not block (backfills, validations, concurrent index builds).
 * The old shape is the tables themselves, unchanged for old readers and
 * writers.  Every DDL statement runs under the lock-safe discipline, and
 * each takes its ACCESS EXCLUSIVE lock, if any, only for a catalog change.
 * Complete renames the shadow columns into place and drops what the new
 * shape hides; rollback drops everything start made, so that the schema
 * is as it was.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "base/base.h"
#include "catalog/migrate_catalog.h"
#include "exec/migrate_exec.h"
#include "jobs/migrate_jobs.h"
#include "engine/migrate_engine.h"
#include "online/online.h"

PG_FUNCTION_INFO_V1(migrate_register_online);
PG_FUNCTION_INFO_V1(migrate_complete);
PG_FUNCTION_INFO_V1(migrate_rollback);
PG_FUNCTION_INFO_V1(migrate_version_schema);

/* How long rollback waits for the workers it cancelled to let go. */
#define ROLLBACK_WAIT_MS	30000

static void
ddl(OnlineMigration *m, const char *where, const char *sql)
{
	locksafe_execute(sql, m->version, where);
}

static char *
table_sql(OnlineMigration *m, const char *table)
{
	return online_qualified(m->schema, table);
}


/* The trigger function of a table: named after it, if the name fits. */
static char *
sync_function(OnlineMigration *m, ShapeTable *t)
{
	char	   *name = psprintf("_migrate_sync_%s", t->name);

	if (strlen(name) >= NAMEDATALEN)
		name = psprintf("_migrate_sync_%u", t->relid);
	return online_qualified(m->vschema, name);
}

/* Run a query on the system catalogs; its rows are in SPI_tuptable. */
static void
catalog_query(const char *sql, Oid arg)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(arg)};

	/* not read-only: it must see what this transaction just created */
	if (SPI_execute_with_args(sql, 1, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the system catalogs");
}

/*
 * Whether the document is checked against the catalog at registration.  Not
 * when a registered version below it is not applied yet: its migrations may
 * create the tables and columns that the document names (a whole history
 * registered on a fresh database in one transaction), and start checks the
 * document again in any case.  Nor when this version has started already:
 * the tables no longer have the shape it starts from (a column it added
 * exists), and registering the same definition again is a no-op, another
 * one MG001.
 */
static bool
check_shape_now(const char *version)
{
	Oid			argtypes[1] = {NUMERICARRAYOID};
	Datum		values[1];
	bool		now;

	values[0] = version_key_datum(version);
	SPI_connect();
	catalog_exec("SELECT FROM migrate.migration"
				 " WHERE (version_key < $1 AND state <> 'applied')"
				 "    OR (version_key = $1 AND state NOT IN ('pending', 'rolled_back'))"
				 " LIMIT 1",
				 1, argtypes, values, NULL, 1);
	now = SPI_processed == 0;
	SPI_finish();
	return now;
}

/*
 * migrate_register_online(version text, name text, operations jsonb)
 *		RETURNS text
 *
 * Registers an online migration after checking its whole document; nothing
 * is registered when any of it is wrong.  Its names are checked against the
 * catalog now or at start (check_shape_now).
 */
Datum
migrate_register_online(PG_FUNCTION_ARGS)
{
	char	   *version = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *name = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	Jsonb	   *operations;
	OnlineMigration *m;
	MigrationDefinition def = {0};

	migrate_guard_begin("migrate_register_online");

	register_check_names(version, name);
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("operations must not be NULL")));
	operations = PG_GETARG_JSONB_P(2);
	m = online_parse(version, name, operations, true);
	if (check_shape_now(version))
		(void) online_shape(m, false);

	def.version = version;
	def.name = name;
	def.kind = "online";
	def.operations = JsonbToCString(NULL, &operations->root, VARSIZE(operations));
	def.transactional = true;
	register_definition(&def);
	migrate_guard_end();
	PG_RETURN_TEXT_P(cstring_to_text(version));
}

/* The SQL type of a column of the document. */
static char *
column_type(OnlineColumn *col, Oid *typid, int32 *typmod)
{
	online_type(col->type, typid, typmod);
	return format_type_with_typemod(*typid, *typmod);
}

static void
start_create_table(OnlineMigration *m, OnlineOp *op)
{
	StringInfoData sql;
	ListCell   *lc;
	List	   *pk = NIL;

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE TABLE %s (", table_sql(m, op->table));
	foreach(lc, op->columns)
	{
		OnlineColumn *col = lfirst(lc);
		Oid			typid = InvalidOid;
		int32		typmod = -1;
		const char *type = online_serial(col->type);

		if (type == NULL)
			type = column_type(col, &typid, &typmod);
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
			appendStringInfo(&sql, "%s%s", foreach_current_index(lc) > 0 ? ", " : "",
							 quote_identifier(lfirst(lc)));
		appendStringInfoChar(&sql, ')');
	}
	appendStringInfoChar(&sql, ')');
	ddl(m, "create_table", sql.data);
	foreach(lc, op->columns)
	{
		OnlineColumn *col = lfirst(lc);

		if (col->comment)
			ddl(m, "create_table", psprintf("COMMENT ON COLUMN %s.%s IS %s",
											table_sql(m, op->table),
											quote_identifier(col->name),
											quote_literal_cstr(col->comment)));
	}
}

/* add_column: the column under its shadow name (its own on a new table). */
static void
start_add_column(OnlineMigration *m, OnlineOp *op, ShapeTable *t, StringInfo steps)
{
	OnlineColumn *col = op->column;
	Oid			typid;
	int32		typmod;
	char	   *type = column_type(col, &typid, &typmod);
	char	   *physical = t->created ? col->name : online_shadow_name(col->name);
	char	   *def = col->default_expr ? online_default(col->default_expr, typid, typmod) : NULL;
	bool		volatile_default = def && online_expression_volatile(col->default_expr);
	char	   *table = online_rel_sql(t->relid);

	/* a volatile default in ADD COLUMN would rewrite the table */
	ddl(m, "add_column",
		psprintf("ALTER TABLE %s ADD COLUMN %s %s%s%s%s", table,
				 quote_identifier(physical), type,
				 def && !volatile_default ? " DEFAULT " : "",
				 def && !volatile_default ? def : "",
				 t->created && !col->nullable ? " NOT NULL" : ""));
	if (volatile_default)
		ddl(m, "add_column",
			psprintf("ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s", table,
					 quote_identifier(physical), def));
	if (col->comment)
		ddl(m, "add_column", psprintf("COMMENT ON COLUMN %s.%s IS %s", table,
									  quote_identifier(physical),
									  quote_literal_cstr(col->comment)));
	if (!t->created && !col->nullable)
	{
		/* NOT NULL for new rows now; for old ones once they are backfilled */
		const char *check = quote_identifier(online_check_name(col->name));

		ddl(m, "add_column",
			psprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s IS NOT NULL) NOT VALID",
					 table, check, quote_identifier(physical)));
		appendStringInfo(steps, "%s{\"sql\": ", steps->len > 1 ? ", " : "");
		escape_json(steps, psprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", table, check));
		appendStringInfoString(steps, ", \"after_backfill\": true}");
	}
}

/* The columns of a table not changed by the migration, as its shape. */
static ShapeTable *
unchanged_table(Oid relid, const char *name)
{
	ShapeTable *t = palloc0(sizeof(ShapeTable));

	t->name = pstrdup(name);
	t->relid = relid;
	catalog_query("SELECT attname FROM pg_catalog.pg_attribute"
				  " WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
				  relid);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		ShapeColumn *c = palloc0(sizeof(ShapeColumn));

		c->name = c->old_name = c->physical =
			SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		t->columns = lappend(t->columns, c);
	}
	return t;
}

/*
 * A view of a table gets the table's column defaults (so that inserts
 * through it work as on the table) and grants, of the table and of its
 * columns (security_invoker views check the table's too).  Its columns are
 * the new shape's, or the old shape's (old_shape: a dropped table's
 * stand-in).  A shadow column gets the grants of the column it replaces,
 * on the table too: reading it through the view needs them, and it keeps
 * them when it takes the column's place.
 */
static void
copy_defaults_and_grants(OnlineMigration *m, ShapeTable *t, const char *view, bool old_shape)
{
	ListCell   *lc;
	uint64		n;
	SPITupleTable *tuptable;

	foreach(lc, t->columns)
	{
		ShapeColumn *c = lfirst(lc);
		char	   *name = old_shape ? c->old_name : (c->hidden ? NULL : c->name);
		Oid			argtypes[2] = {OIDOID, TEXTOID};
		Datum		values[2] = {ObjectIdGetDatum(t->relid), CStringGetTextDatum(c->physical)};

		if (name == NULL)
			continue;
		if (SPI_execute_with_args("SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid)"
								  "  FROM pg_catalog.pg_attrdef d"
								  "  JOIN pg_catalog.pg_attribute a"
								  "    ON a.attrelid = d.adrelid AND a.attnum = d.adnum"
								  " WHERE d.adrelid = $1 AND a.attname = $2"
								  "   AND a.attgenerated = ''",
								  2, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read column defaults");
		if (SPI_processed > 0)
			ddl(m, "version schema",
				psprintf("ALTER VIEW %s ALTER COLUMN %s SET DEFAULT %s", view,
						 quote_identifier(name),
						 SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)));
	}

	catalog_query("SELECT a.privilege_type, r.rolname"
				  "  FROM pg_catalog.pg_class c"
				  " CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) a"
				  "  LEFT JOIN pg_catalog.pg_roles r ON r.oid = a.grantee"
				  " WHERE c.oid = $1 AND a.grantee <> c.relowner"
				  "   AND a.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')",
				  t->relid);
	n = SPI_processed;
	tuptable = SPI_tuptable;
	for (uint64 i = 0; i < n; i++)
	{
		char	   *role = SPI_getvalue(tuptable->vals[i], tuptable->tupdesc, 2);

		ddl(m, "version schema",
			psprintf("GRANT %s ON %s TO %s",
					 SPI_getvalue(tuptable->vals[i], tuptable->tupdesc, 1), view,
					 role ? quote_identifier(role) : "PUBLIC"));
	}

	catalog_query("SELECT a.attname, p.privilege_type, r.rolname"
				  "  FROM pg_catalog.pg_attribute a"
				  "  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid"
				  " CROSS JOIN LATERAL pg_catalog.aclexplode(a.attacl) p"
				  "  LEFT JOIN pg_catalog.pg_roles r ON r.oid = p.grantee"
				  " WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped"
				  "   AND p.grantee <> c.relowner"
				  " ORDER BY a.attnum, 2, 3",
				  t->relid);
	n = SPI_processed;
	tuptable = SPI_tuptable;
	for (uint64 i = 0; i < n; i++)
	{
		char	   *attname = SPI_getvalue(tuptable->vals[i], tuptable->tupdesc, 1);
		char	   *privilege = SPI_getvalue(tuptable->vals[i], tuptable->tupdesc, 2);
		char	   *role = SPI_getvalue(tuptable->vals[i], tuptable->tupdesc, 3);
		const char *grantee = role ? quote_identifier(role) : "PUBLIC";

		foreach(lc, t->columns)
		{
			ShapeColumn *c = lfirst(lc);
			char	   *name = old_shape ? c->old_name : (c->hidden ? NULL : c->name);
			ShapeColumn *source = c->altered_from ? c->altered_from : c;

			if (strcmp(source->physical, attname) != 0)
				continue;
			if (name && strcmp(privilege, "REFERENCES") != 0)
				ddl(m, "version schema",
					psprintf("GRANT %s (%s) ON %s TO %s", privilege,
							 quote_identifier(name), view, grantee));
			if (c->altered_from && !old_shape)
				ddl(m, "version schema",
					psprintf("GRANT %s (%s) ON %s TO %s", privilege,
							 quote_identifier(c->physical), online_rel_sql(t->relid),
							 grantee));
		}
	}
}

/*
 * Who the table's privileges are checked for when a view of it is read or
 * written.  A security_invoker view checks every column it shows against
 * the reader's grants on the table, whatever the reader uses: a role with
 * grants on some columns only could use none of them through it.  So a
 * table with column grants gets a view checked as its owner (the role that
 * starts the migration), which carries the table's grants, table and
 * column ones; unless the table has row level security, whose policies
 * must see the reader.
 */
static const char *
view_security(Oid relid)
{
	bool		isnull;

	catalog_query("SELECT c.relrowsecurity OR NOT EXISTS ("
				  "       SELECT FROM pg_catalog.pg_attribute a"
				  "        CROSS JOIN LATERAL pg_catalog.aclexplode(a.attacl) p"
				  "        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
				  "          AND p.grantee <> c.relowner)"
				  "  FROM pg_catalog.pg_class c WHERE c.oid = $1",
				  relid);
	if (SPI_processed == 1 &&
		DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		return "security_invoker = true";
	return "security_invoker = false";
}

/*
 * The view of one table in the version schema: the new shape's columns
 * under their new names, the table's defaults, and the table's grants.
 */
static void
create_view(OnlineMigration *m, ShapeTable *t)
{
	StringInfoData sql;
	char	   *view = online_qualified(m->vschema, t->name);
	ListCell   *lc;

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE VIEW %s WITH (%s) AS SELECT ", view,
					 view_security(t->relid));
	foreach(lc, t->columns)
	{
		ShapeColumn *c = lfirst(lc);

		if (c->hidden)
			continue;
		appendStringInfo(&sql, "%s%s AS %s", sql.data[sql.len - 1] == ' ' ? "" : ", ",
						 quote_identifier(c->physical), quote_identifier(c->name));
	}
	appendStringInfo(&sql, " FROM %s", online_rel_sql(t->relid));
	ddl(m, "version schema", sql.data);
	copy_defaults_and_grants(m, t, view, false);
}

/* The version schema, with a view of every table of the schema. */
static void
create_version_schema(OnlineMigration *m, List *shape)
{
	Oid			nsp = get_namespace_oid(m->schema, false);
	List	   *tables = NIL;
	ListCell   *lc;
	uint64		n;
	SPITupleTable *tuptable;

	if (OidIsValid(get_namespace_oid(m->vschema, true)))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_SCHEMA),
				 errmsg("schema \"%s\" already exists", m->vschema),
				 errdetail("Online migration %s keeps the views of its new shape in it.", m->version)));
	ddl(m, "version schema", psprintf("CREATE SCHEMA %s", quote_identifier(m->vschema)));

	catalog_query("SELECT r.rolname FROM pg_catalog.pg_namespace n"
				  " CROSS JOIN LATERAL pg_catalog.aclexplode(n.nspacl) a"
				  "  LEFT JOIN pg_catalog.pg_roles r ON r.oid = a.grantee"
				  " WHERE n.oid = $1 AND a.privilege_type = 'USAGE' AND a.grantee <> n.nspowner",
				  nsp);
	n = SPI_processed;
	tuptable = SPI_tuptable;
	for (uint64 i = 0; i < n; i++)
	{
		char	   *role = SPI_getvalue(tuptable->vals[i], tuptable->tupdesc, 1);

		ddl(m, "version schema",
			psprintf("GRANT USAGE ON SCHEMA %s TO %s", quote_identifier(m->vschema),
					 role ? quote_identifier(role) : "PUBLIC"));
	}

	catalog_query("SELECT c.oid, c.relname FROM pg_catalog.pg_class c"
				  " WHERE c.relnamespace = $1 AND c.relkind IN ('r', 'p')"
				  "   AND NOT c.relispartition ORDER BY c.relname",
				  nsp);
	n = SPI_processed;
	tuptable = SPI_tuptable;
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(tuptable->vals[i], tuptable->tupdesc, 1, &isnull));
		char	   *name = SPI_getvalue(tuptable->vals[i], tuptable->tupdesc, 2);
		ShapeTable *t = NULL;
		ListCell   *sc;

		foreach(sc, shape)
			if (((ShapeTable *) lfirst(sc))->relid == relid)
				t = lfirst(sc);
		if (t == NULL)
			t = unchanged_table(relid, name);
		if (!t->dropped)
			tables = lappend(tables, t);
	}
	foreach(lc, tables)
		create_view(m, lfirst(lc));
}

/*
 * The expression that fills a column for writes through the old shape:
 * an added column's up, an altered one's (by default the old column).
 */
static char *
column_up(ShapeColumn *c)
{
	if (c->added_by == NULL)
		return NULL;
	if (c->altered_from)
		return c->added_by->up ? c->added_by->up : (char *) quote_identifier(c->altered_from->old_name);
	return c->added_by->up;
}

/*
 * The expression that fills a column hidden from the new shape for writes
 * through it: a dropped column's down, an altered one's (by default its
 * shadow).
 */
static char *
column_down(ShapeColumn *c)
{
	if (c->dropped_by == NULL)
		return NULL;
	if (c->replaced_by)
		return c->dropped_by->down ? c->dropped_by->down : (char *) quote_identifier(c->replaced_by->name);
	return c->dropped_by->down;
}

/*
 * The triggers that keep both shapes written.  A write by a session whose
 * search_path starts with the version schema comes from the new shape: the
 * columns it hides get their down expressions.  Any other write comes from
 * the old shape: the added columns get their up expressions.  Expressions
 * see the row's columns as variables named as in their shape; they are the
 * server's deparsed text of what it analysed, every name in it qualified
 * but pg_catalog's, and the function runs with its search_path pinned to
 * pg_catalog, so that no writer's search_path changes what they call.
 */
static void
create_sync_trigger(OnlineMigration *m, ShapeTable *t)
{
	StringInfoData body;
	StringInfoData newside;
	StringInfoData oldside;
	StringInfoData catchup;
	StringInfoData fill;
	StringInfoData oldvars;
	StringInfoData newvars;
	char	   *table = online_rel_sql(t->relid);
	const char *marker = quote_identifier(ONLINE_MARKER);
	Oid			viewid = get_relname_relid(t->name, get_namespace_oid(m->vschema, false));
	char	   *new_shape;
	ListCell   *lc;

	initStringInfo(&newside);
	initStringInfo(&oldside);
	initStringInfo(&catchup);
	initStringInfo(&fill);
	initStringInfo(&oldvars);
	initStringInfo(&newvars);
	foreach(lc, t->columns)
	{
		ShapeColumn *c = lfirst(lc);
		const char *col = quote_identifier(c->physical);
		Oid			typid;
		int32		typmod;
		Oid			collid;

		get_atttypetypmodcoll(t->relid, get_attnum(t->relid, c->physical),
							  &typid, &typmod, &collid);
		if (column_down(c))
			appendStringInfo(&newside, "      NEW.%s := (%s);\n", col,
							 online_expression(column_down(c), viewid, typid, typmod, "down"));
		if (column_up(c))
		{
			char	   *up = online_expression(column_up(c), t->relid, typid, typmod, "up");

			appendStringInfo(&oldside, "      NEW.%s := (%s);\n", col, up);
			appendStringInfo(&catchup,
							 "        IF NEW.%s IS NOT DISTINCT FROM OLD.%s THEN NEW.%s := (%s); END IF;\n",
							 col, col, col, up);
		}
		else if (c->added_by && c->added_by->column->default_expr &&
				 online_expression_volatile(c->added_by->column->default_expr))
			appendStringInfo(&fill, "    IF NEW.%s IS NOT DISTINCT FROM OLD.%s THEN NEW.%s := %s; END IF;\n",
							 col, col, col,
							 online_default(c->added_by->column->default_expr, typid, typmod));
		if (c->old_name)
			appendStringInfo(&oldvars, "      %s %s.%s%%TYPE := NEW.%s;\n",
							 quote_identifier(c->old_name), table, col, col);
		if (!c->hidden)
			appendStringInfo(&newvars, "      %s %s.%s%%TYPE := NEW.%s;\n",
							 quote_identifier(c->name), table, col, col);
	}

	initStringInfo(&body);
	appendStringInfoString(&body, "BEGIN\n");
	/* a volatile default is drawn once per row: when it is backfilled */
	if (t->backfill && fill.len > 0)
		appendStringInfo(&body, "  IF TG_OP = 'UPDATE' AND OLD.%s THEN\n%s  END IF;\n", marker, fill.data);
	appendStringInfoString(&body, "  IF TG_ARGV[0] = 'new' THEN\n");
	/*
	 * A new-shape update of a row the backfill has not reached: what the
	 * backfill would have filled is filled first (unless the writer set
	 * it), so that the downs see the row whole.
	 */
	if (t->backfill && catchup.len > 0)
		appendStringInfo(&body,
						 "    IF TG_OP = 'UPDATE' AND OLD.%s THEN\n"
						 "      DECLARE\n%s      BEGIN\n%s      END;\n"
						 "    END IF;\n",
						 marker, oldvars.data, catchup.data);
	if (newside.len > 0)
		appendStringInfo(&body, "    DECLARE\n%s    BEGIN\n%s    END;\n", newvars.data, newside.data);
	else
		appendStringInfoString(&body, "    NULL;\n");
	appendStringInfoString(&body, "  ELSE\n");
	if (oldside.len > 0)
		appendStringInfo(&body, "    DECLARE\n%s    BEGIN\n%s    END;\n", oldvars.data, oldside.data);
	else
		appendStringInfoString(&body, "    NULL;\n");
	appendStringInfoString(&body, "  END IF;\n");
	if (t->backfill)
		appendStringInfo(&body, "  NEW.%s := false;\n", marker);
	appendStringInfoString(&body, "  RETURN NEW;\nEND\n");

	ddl(m, "sync trigger",
		psprintf("CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql"
				 " SET search_path = " ONLINE_PINNED_PATH " AS %s",
				 sync_function(m, t), quote_literal_cstr(body.data)));

	/*
	 * The function runs with its search_path pinned, so the shape of the
	 * writer is told by the triggers' conditions, evaluated in the writer's
	 * session: one trigger for each shape, one of them fires.
	 */
	new_shape = psprintf("((pg_catalog.current_schemas(false))[1]"
						 " OPERATOR(pg_catalog.=) %s::pg_catalog.name)",
						 quote_literal_cstr(m->vschema));
	ddl(m, "sync trigger",
		psprintf("CREATE TRIGGER %s BEFORE INSERT OR UPDATE ON %s"
				 " FOR EACH ROW WHEN (%s IS NOT TRUE) EXECUTE FUNCTION %s('old')",
				 quote_identifier(ONLINE_TRIGGER), table, new_shape, sync_function(m, t)));
	ddl(m, "sync trigger",
		psprintf("CREATE TRIGGER %s BEFORE INSERT OR UPDATE ON %s"
				 " FOR EACH ROW WHEN (%s IS TRUE) EXECUTE FUNCTION %s('new')",
				 quote_identifier(ONLINE_TRIGGER_NEW), table, new_shape, sync_function(m, t)));
}

/* create_index: a concurrent build by the job, on the table's own columns. */
static void
index_step(OnlineMigration *m, OnlineOp *op, ShapeTable *t, StringInfo steps)
{
	StringInfoData sql;
	ListCell   *lc;

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE %sINDEX CONCURRENTLY %s ON %s",
					 op->unique ? "UNIQUE " : "", quote_identifier(op->index_name),
					 online_rel_sql(t->relid));
	if (op->method)
		appendStringInfo(&sql, " USING %s", quote_identifier(op->method));
	appendStringInfoString(&sql, " (");
	foreach(lc, op->physical)
		appendStringInfo(&sql, "%s%s", foreach_current_index(lc) > 0 ? ", " : "",
						 quote_identifier(lfirst(lc)));
	appendStringInfoChar(&sql, ')');
	if (op->where)
		appendStringInfo(&sql, " WHERE %s",
						 online_mapped_expression(op->where, m, t, EXPR_KIND_INDEX_PREDICATE));
	appendStringInfo(steps, "%s{\"sql\": ", steps->len > 1 ? ", " : "");
	escape_json(steps, sql.data);
	appendStringInfoString(steps, "}");
}

/*
 * Run one phase (expand, contract, undo) of an online migration under the
 * lock-safe discipline as a whole (locksafe_run_whole): when a statement
 * times out, the whole phase rolls back, letting go of every lock it took,
 * and is tried again after a backoff.  So no lock taken for one table is
 * held while the phase waits for the next one's.
 */
typedef struct PhaseCall
{
	OnlineMigration *m;
	void		(*fn) (OnlineMigration *m, void *arg);
	void	   *arg;
} PhaseCall;

static void
phase_call(void *arg)
{
	PhaseCall  *call = (PhaseCall *) arg;

	call->fn(call->m, call->arg);
}

/* A phase runs as a whole: on a lock timeout it rolls back and runs again. */
static void
run_phase(OnlineMigration *m, const char *phase,
		  void (*fn) (OnlineMigration *m, void *arg), void *arg)
{
	PhaseCall	call = {m, fn, arg};
	const char *version = m->version;
	int			nestlevel = online_phase_begin();

	PG_TRY();
	{
		locksafe_run_whole(&version, phase, phase_call, &call,
						   "cancel the blocker with pg_cancel_backend(), or try again when it is done");
	}
	PG_CATCH();
	{
		online_phase_end(nestlevel, false);
		PG_RE_THROW();
	}
	PG_END_TRY();
	online_phase_end(nestlevel, true);
}

/* An sql operation's own statements run as its caller would run them. */
static void
run_sql_operation(OnlineMigration *m, const char *direction, const char *sql)
{
	int			nestlevel = online_user_path();

	script_run(m->version, m->name, direction, sql);
	online_path_end(nestlevel);
}

/*
 * drop_table at start: the table is renamed away, and a view under its
 * name keeps it for the old shape (the new shape has no view of it).
 */
static void
start_drop_table(OnlineMigration *m, OnlineOp *op, ShapeTable *t)
{
	char	   *view = online_qualified(m->schema, op->table);

	ddl(m, "drop_table", psprintf("ALTER TABLE %s RENAME TO %s", online_rel_sql(t->relid),
								  quote_identifier(online_dropped_name(op->table))));
	t->physical = online_dropped_name(op->table);
	ddl(m, "drop_table", psprintf("CREATE VIEW %s WITH (%s) AS SELECT * FROM %s",
								  view, view_security(t->relid), online_rel_sql(t->relid)));
	copy_defaults_and_grants(m, t, view, true);
}

/* alter_column of a default alone: the new shape shows it at once. */
static void
view_default(OnlineMigration *m, OnlineOp *op)
{
	ShapeTable *t = op->st;
	ShapeColumn *c = op->sc;
	char	   *view = online_qualified(m->vschema, t->name);
	Oid			typid;
	int32		typmod;
	Oid			collid;

	get_atttypetypmodcoll(t->relid, get_attnum(t->relid, c->physical), &typid, &typmod, &collid);
	if (op->default_expr)
		ddl(m, "alter_column", psprintf("ALTER VIEW %s ALTER COLUMN %s SET DEFAULT %s", view,
										quote_identifier(c->name),
										online_default(op->default_expr, typid, typmod)));
	else
		ddl(m, "alter_column", psprintf("ALTER VIEW %s ALTER COLUMN %s DROP DEFAULT", view,
										quote_identifier(c->name)));
}

/* What expand hands to the background job. */
typedef struct Expanded
{
	StringInfoData steps;
	StringInfoData backfills;
	int64		rows_total;
} Expanded;

/* The expand phase: everything start does to the schema. */
static void
expand(OnlineMigration *m, void *arg)
{
	Expanded   *x = (Expanded *) arg;
	List	   *shape = online_shape(m, false);
	LockSafeState *ls;
	ListCell   *lc;

	initStringInfo(&x->steps);
	initStringInfo(&x->backfills);
	appendStringInfoChar(&x->steps, '[');
	appendStringInfoChar(&x->backfills, '[');
	x->rows_total = 0;

	ls = locksafe_begin();
	foreach(lc, m->ops)
	{
		OnlineOp   *op = lfirst(lc);
		ShapeTable *t = op->st;

		CHECK_FOR_INTERRUPTS();
		switch (op->kind)
		{
			case OP_CREATE_TABLE:
				start_create_table(m, op);
				t->relid = get_relname_relid(t->name, get_namespace_oid(m->schema, false));
				break;
			case OP_ADD_COLUMN:
				start_add_column(m, op, t, &x->steps);
				break;
			case OP_ALTER_COLUMN:
				online_alter_start(m, op, t, &x->steps);
				break;
			case OP_DROP_TABLE:
				start_drop_table(m, op, t);
				break;
			case OP_SQL:
				run_sql_operation(m, "up", op->sql_up);
				break;
			default:
				break;
		}
	}

	/* the marker: existing rows need the backfill, rows written since do not */
	foreach(lc, shape)
	{
		ShapeTable *t = lfirst(lc);

		if (!t->backfill)
			continue;
		ddl(m, "backfill marker",
			psprintf("ALTER TABLE %s ADD COLUMN %s boolean DEFAULT true",
					 online_rel_sql(t->relid), quote_identifier(ONLINE_MARKER)));
		ddl(m, "backfill marker",
			psprintf("ALTER TABLE %s ALTER COLUMN %s SET DEFAULT false",
					 online_rel_sql(t->relid), quote_identifier(ONLINE_MARKER)));
	}

	create_version_schema(m, shape);

	foreach(lc, shape)
	{
		ShapeTable *t = lfirst(lc);

		if (t->sync)
			create_sync_trigger(m, t);
		if (t->backfill)
		{
			int64		rows;
			char	   *args = backfill_job_args(t->relid,
												 psprintf("%s = false", quote_identifier(ONLINE_MARKER)),
												 quote_identifier(ONLINE_MARKER), true,
												 migrate_batch_size, &rows);

			x->rows_total += rows;
			appendStringInfo(&x->backfills, "%s{\"relation\": %u, \"backfill\": %s}",
							 x->backfills.len > 1 ? ", " : "", t->relid, args);
		}
	}

	/* what refers to the new shape's names: the views exist now */
	foreach(lc, m->ops)
	{
		OnlineOp   *op = lfirst(lc);

		CHECK_FOR_INTERRUPTS();
		switch (op->kind)
		{
			case OP_CREATE_INDEX:
				index_step(m, op, op->st, &x->steps);
				break;
			case OP_ALTER_COLUMN:
				online_alter_constraints(m, op, op->st, shape, &x->steps);
				if (!online_alter_shadows(op) && op->has_default)
					view_default(m, op);
				break;
			case OP_CREATE_CONSTRAINT:
				online_constraint_start(m, op, shape, &x->steps);
				break;
			default:
				break;
		}
	}
	locksafe_end(ls);
	appendStringInfoChar(&x->steps, ']');
	appendStringInfoChar(&x->backfills, ']');
}

/*
 * Start (expand) an online migration in the caller's transaction, and
 * queue its background job.  The caller holds the deploy lock and is
 * connected to SPI.
 */
void
online_start(OnlineMigration *m)
{
	TimestampTz started = GetCurrentTimestamp();
	Expanded	x;
	bool		has_steps;

	run_phase(m, "start", expand, &x);

	has_steps = x.steps.len > 2 || x.backfills.len > 2;
	if (has_steps)
	{
		/* backfills first: validations need the rows filled */
		StringInfoData args;

		initStringInfo(&args);
		appendStringInfo(&args, "{\"settings\": %s, \"backfills\": %s, \"steps\": %s}",
						 job_settings_json(), x.backfills.data, x.steps.data);
		(void) job_queue("online", m->version, NULL, InvalidOid, x.rows_total, args.data);
	}

	{
		Oid			argtypes[2] = {TEXTOID, TEXTOID};
		Datum		values[2] = {CStringGetTextDatum(m->version),
		CStringGetTextDatum(has_steps ? "active" : "ready")};

		catalog_exec("UPDATE migrate.migration SET state = $2, last_error = NULL,"
					 "       steps_done = 0 WHERE version = $1",
					 2, argtypes, values, NULL, 0);
	}
	event_log(m->version, "start", started,
			  psprintf("new shape in schema %s%s", m->vschema,
					   has_steps ? "; background job queued" : ""), NULL);
	fingerprint_record("start", m->version);
}

/*
 * The online migration in flight (active, ready, or failed in its
 * background phase), or NULL; *state gets its state.
 */
char *
online_in_flight(char **state)
{
	catalog_exec("SELECT version, state FROM migrate.migration"
				 " WHERE kind = 'online' AND state IN ('active', 'ready', 'failed')"
				 " ORDER BY version_key LIMIT 1", 0, NULL, NULL, NULL, 1);
	if (SPI_processed == 0)
		return NULL;
	if (state)
		*state = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/* The version argument, or the migration in flight; raises 55000 if none. */
static OnlineMigration *
migration_in_flight(FunctionCallInfo fcinfo, char **state)
{
	char	   *version = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (version)
	{
		version_check_arg(version, "version");
		version = lookup_version(version);
	}
	else
	{
		version = online_in_flight(NULL);
		if (version == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("no online migration is in flight"),
					 errhint("migrate_upgrade() starts one.")));
	}
	return online_load(version, true, state);
}

/* Drop the views of a version schema, then the schema (never CASCADE). */
static void
drop_version_schema(OnlineMigration *m, const char *vschema)
{
	Oid			nsp = get_namespace_oid(vschema, true);
	uint64		n;
	SPITupleTable *tuptable;

	if (!OidIsValid(nsp))
		return;
	catalog_query("SELECT c.relname FROM pg_catalog.pg_class c"
				  " WHERE c.relnamespace = $1 AND c.relkind = 'v' ORDER BY c.relname", nsp);
	n = SPI_processed;
	tuptable = SPI_tuptable;
	for (uint64 i = 0; i < n; i++)
		ddl(m, "version schema",
			psprintf("DROP VIEW %s",
					 online_qualified(vschema, SPI_getvalue(tuptable->vals[i], tuptable->tupdesc, 1))));

	/* the trigger functions of tables dropped since (their triggers went with them) */
	catalog_query("SELECT p.proname FROM pg_catalog.pg_proc p"
				  " WHERE p.pronamespace = $1 AND p.pronargs = 0"
				  "   AND p.prorettype = 'pg_catalog.trigger'::pg_catalog.regtype"
				  "   AND p.proname OPERATOR(pg_catalog.~~) '\\_migrate\\_sync\\_%'"
				  " ORDER BY p.proname", nsp);
	n = SPI_processed;
	tuptable = SPI_tuptable;
	for (uint64 i = 0; i < n; i++)
		ddl(m, "version schema",
			psprintf("DROP FUNCTION %s()",
					 online_qualified(vschema, SPI_getvalue(tuptable->vals[i], tuptable->tupdesc, 1))));
	ddl(m, "version schema", psprintf("DROP SCHEMA %s", quote_identifier(vschema)));
}

static void
drop_sync_triggers(OnlineMigration *m, List *shape)
{
	ListCell   *lc;

	foreach(lc, shape)
	{
		ShapeTable *t = lfirst(lc);

		if (!t->sync || !OidIsValid(t->relid))
			continue;
		ddl(m, "sync trigger", psprintf("DROP TRIGGER IF EXISTS %s ON %s",
										quote_identifier(ONLINE_TRIGGER),
										online_rel_sql(t->relid)));
		ddl(m, "sync trigger", psprintf("DROP TRIGGER IF EXISTS %s ON %s",
										quote_identifier(ONLINE_TRIGGER_NEW),
										online_rel_sql(t->relid)));
		ddl(m, "sync trigger", psprintf("DROP FUNCTION IF EXISTS %s()",
										sync_function(m, t)));
	}
}

static void
drop_markers(OnlineMigration *m, List *shape)
{
	ListCell   *lc;

	foreach(lc, shape)
	{
		ShapeTable *t = lfirst(lc);

		if (t->backfill && OidIsValid(t->relid))
			ddl(m, "backfill marker",
				psprintf("ALTER TABLE %s DROP COLUMN IF EXISTS %s",
						 online_rel_sql(t->relid), quote_identifier(ONLINE_MARKER)));
	}
}

/*
 * The end of a migration's flight: its state, an event, the fingerprint.
 * A completed one's duration runs from its start.
 */
static void
finish(OnlineMigration *m, const char *state, const char *action, TimestampTz started)
{
	Oid			argtypes[4] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, NAMEOID};
	Datum		values[4];

	values[0] = CStringGetTextDatum(m->version);
	values[1] = CStringGetTextDatum(state);
	values[2] = TimestampTzGetDatum(started);
	values[3] = DirectFunctionCall1(namein, CStringGetDatum(current_actor()));
	catalog_exec("UPDATE migrate.migration"
				 "   SET state = $2, last_error = NULL, steps_done = 0,"
				 "       applied_at = CASE WHEN $2 = 'applied' THEN clock_timestamp() END,"
				 "       applied_by = CASE WHEN $2 = 'applied' THEN $4 END,"
				 "       duration = CASE WHEN $2 = 'applied' THEN clock_timestamp() - coalesce("
				 "           (SELECT max(e.at) FROM migrate.event e"
				 "             WHERE e.version = $1 AND e.action = 'start'), $3) END"
				 " WHERE version = $1",
				 4, argtypes, values, NULL, 0);
	event_log(m->version, action, started, NULL, NULL);
	fingerprint_record(action, m->version);
}

/* The contract phase: the new shape becomes the tables' own. */
static void
contract(OnlineMigration *m, void *arg)
{
	List	   *shape;
	ListCell   *lc;
	LockSafeState *ls;

	shape = online_shape(m, true);

	/*
	 * Every row must be backfilled: the job may have missed rows moved
	 * behind it, or written since by writers whose triggers do not fire.
	 */
	foreach(lc, shape)
	{
		ShapeTable *t = lfirst(lc);
		char	   *table;

		if (!t->backfill || !online_rows_pending(t->relid))
			continue;
		table = online_rel_sql(t->relid);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("online migration %s cannot be completed: table %s has rows not backfilled",
						m->version, table),
				 errdetail("Rows written by sessions whose triggers do not fire (session_replication_role = replica), or moved by a table rewrite, can escape the backfill."),
				 errhint("Fill them with UPDATE %s SET %s = false WHERE %s IS NOT FALSE, or undo the migration with migrate_rollback().",
						 table, quote_identifier(ONLINE_MARKER), quote_identifier(ONLINE_MARKER))));
	}

	/* what the altered columns carry, before anything changes */
	foreach(lc, m->ops)
	{
		OnlineOp   *op = lfirst(lc);

		if (op->kind == OP_ALTER_COLUMN && online_alter_shadows(op))
			op->carried = online_carried(op->st, op->sc);
	}
	ls = locksafe_begin();

	/* the shape before this one (of the same schema) goes: nothing may use it any more */
	catalog_exec("SELECT version FROM migrate.migration"
				 " WHERE kind = 'online' AND state = 'applied'"
				 " ORDER BY version_key DESC", 0, NULL, NULL, NULL, 0);
	{
		SPITupleTable *applied = SPI_tuptable;
		uint64		n = SPI_processed;

		for (uint64 i = 0; i < n; i++)
		{
			OnlineMigration *previous = online_load(SPI_getvalue(applied->vals[i],
																 applied->tupdesc, 1),
													false, NULL);

			if (strcmp(previous->schema, m->schema) == 0)
			{
				drop_version_schema(m, previous->vschema);
				break;
			}
		}
	}

	drop_sync_triggers(m, shape);
	foreach(lc, m->ops)
	{
		OnlineOp   *op = lfirst(lc);
		ShapeTable *t = op->st;
		char	   *table = t && OidIsValid(t->relid) ? online_rel_sql(t->relid) : NULL;

		CHECK_FOR_INTERRUPTS();
		switch (op->kind)
		{
			case OP_ADD_COLUMN:
				if (t->created)
					break;
				if (!op->column->nullable)
				{
					/* the validated check spares SET NOT NULL its scan */
					ddl(m, "complete", psprintf("ALTER TABLE %s ALTER COLUMN %s SET NOT NULL", table,
												quote_identifier(online_shadow_name(op->column->name))));
					ddl(m, "complete", psprintf("ALTER TABLE %s DROP CONSTRAINT %s", table,
												quote_identifier(online_check_name(op->column->name))));
				}
				ddl(m, "complete", psprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", table,
											quote_identifier(online_shadow_name(op->column->name)),
											quote_identifier(op->column->name)));
				break;
			case OP_DROP_COLUMN:
				ddl(m, "complete", psprintf("ALTER TABLE %s DROP COLUMN %s", table,
											quote_identifier(op->column_name)));
				break;
			case OP_RENAME_COLUMN:
				ddl(m, "complete", psprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", table,
											quote_identifier(op->column_name),
											quote_identifier(op->new_name)));
				break;
			case OP_DROP_INDEX:
				/* dropping a column may have taken the index with it */
				ddl(m, "complete", psprintf("DROP INDEX IF EXISTS %s",
											online_qualified(m->schema, op->index_name)));
				break;
			case OP_ALTER_COLUMN:
				online_alter_complete(m, op, t, op->carried);
				break;
			case OP_RENAME_TABLE:
				ddl(m, "complete", psprintf("ALTER TABLE %s RENAME TO %s", table,
											quote_identifier(op->new_name)));
				break;
			case OP_DROP_TABLE:
				ddl(m, "complete", psprintf("DROP VIEW IF EXISTS %s",
											online_qualified(m->schema, op->table)));
				ddl(m, "complete", psprintf("DROP TABLE %s", table));
				break;
			case OP_CREATE_CONSTRAINT:
				online_constraint_complete(m, op, t);
				break;
			case OP_DROP_CONSTRAINT:
				ddl(m, "complete", psprintf("ALTER TABLE %s DROP CONSTRAINT %s", table,
											quote_identifier(op->constraint_name)));
				break;
			default:
				break;
		}
	}
	drop_markers(m, shape);
	locksafe_end(ls);
}

/*
 * migrate_complete(version text DEFAULT NULL)
 *
 * Contracts the online migration: the new shape becomes the tables' own.
 * Only once its background job is done (state ready).
 */
Datum
migrate_complete(PG_FUNCTION_ARGS)
{
	TimestampTz started = GetCurrentTimestamp();
	OnlineMigration *m;
	char	   *state;

	migrate_guard_begin("migrate_complete");

	SPI_connect();
	deploy_lock_acquire();
	m = migration_in_flight(fcinfo, &state);
	if (strcmp(state, "ready") != 0)
	{
		bool		cancelled = false;

		if (strcmp(state, "active") == 0)
		{
			jobs_select(m->version, "'cancelled'", false);
			cancelled = SPI_processed > 0;
			jobs_select(m->version, "'queued', 'running'", false);
			cancelled = cancelled && SPI_processed == 0;
		}
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("online migration %s is %s, not ready", m->version, state),
				 cancelled ?
				 errdetail("Its background job was cancelled: continue it with migrate_resume(), then wait for it with migrate_wait().") :
				 strcmp(state, "active") == 0 ?
				 errdetail("Its background job is unfinished: see migrate.progress, or wait for it with migrate_wait().") :
				 strcmp(state, "failed") == 0 ?
				 errdetail("Its background job failed: fix the cause and continue it with migrate_resume(), or undo the migration with migrate_rollback().") :
				 errdetail("Only a started online migration can be completed.")));
	}

	run_phase(m, "complete", contract, NULL);
	finish(m, "applied", "complete", started);
	SPI_finish();
	migrate_guard_end();
	PG_RETURN_VOID();
}

/*
 * Cancel the jobs of the migration and wait until their workers have let
 * go of them, so that what they worked on can be dropped.
 */
static void
stop_jobs(OnlineMigration *m)
{
	List	   *ids = NIL;
	ListCell   *lc;
	TimestampTz start = GetCurrentTimestamp();

	jobs_select(m->version, "'queued', 'running'", false);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
													 SPI_tuptable->tupdesc, 1, &isnull));
		int64	   *p = palloc(sizeof(int64));
		Datum		pid = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull);

		*p = id;
		ids = lappend(ids, p);
		if (!isnull && job_is_live(id))
			(void) DirectFunctionCall1(pg_cancel_backend, pid);
	}

	/* a failed job of a migration rolled back is over as well */
	{
		Oid			argtypes[1] = {TEXTOID};
		Datum		values[1] = {CStringGetTextDatum(m->version)};

		catalog_exec("UPDATE migrate.job SET state = 'cancelled', updated_at = clock_timestamp()"
					 " WHERE version = $1 AND kind = 'online' AND state = 'failed'",
					 1, argtypes, values, NULL, 0);
	}

	foreach(lc, ids)
	{
		int64		id = *(int64 *) lfirst(lc);
		Oid			argtypes[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(id)};

		while (job_is_live(id))
		{
			if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), ROLLBACK_WAIT_MS))
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_IN_USE),
						 errmsg("background job " INT64_FORMAT " of online migration %s is still stopping",
								id, m->version),
						 errhint("Call migrate_rollback() again.")));
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 50, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		catalog_exec("UPDATE migrate.job SET state = 'cancelled', worker_pid = NULL,"
					 "       updated_at = clock_timestamp(), finished_at = clock_timestamp()"
					 " WHERE id = $1 AND state IN ('queued', 'running')",
					 1, argtypes, values, NULL, 0);
	}
}

/* The undo phase: everything start made is dropped, in reverse order. */
static void
undo(OnlineMigration *m, void *arg)
{
	List	   *shape;
	LockSafeState *ls;

	/* what the user dropped since start is gone: the rest is undone */
	shape = online_shape_leftovers(m);
	ls = locksafe_begin();
	drop_sync_triggers(m, shape);
	drop_version_schema(m, m->vschema);
	for (int i = list_length(m->ops) - 1; i >= 0; i--)
	{
		OnlineOp   *op = list_nth(m->ops, i);
		ShapeTable *t = op->st;
		char	   *table = t && OidIsValid(t->relid) ? online_rel_sql(t->relid) : NULL;

		CHECK_FOR_INTERRUPTS();
		switch (op->kind)
		{
			case OP_SQL:
				run_sql_operation(m, "down", op->sql_down);
				break;
			case OP_CREATE_INDEX:
				ddl(m, "rollback", psprintf("DROP INDEX IF EXISTS %s",
											online_qualified(m->schema, op->index_name)));
				break;
			case OP_ADD_COLUMN:
				if (!t->created && table)
					ddl(m, "rollback", psprintf("ALTER TABLE %s DROP COLUMN IF EXISTS %s", table,
												quote_identifier(online_shadow_name(op->column->name))));
				break;
			case OP_ALTER_COLUMN:
				/* its constraints and indexes go with it */
				if (online_alter_shadows(op) && table)
					ddl(m, "rollback", psprintf("ALTER TABLE %s DROP COLUMN IF EXISTS %s", table,
												quote_identifier(op->sc->replaced_by->physical)));
				break;
			case OP_CREATE_TABLE:
				if (table)
					ddl(m, "rollback", psprintf("DROP TABLE %s", table));
				t->relid = InvalidOid;
				break;
			case OP_DROP_TABLE:
				ddl(m, "rollback", psprintf("DROP VIEW IF EXISTS %s",
											online_qualified(m->schema, op->table)));
				if (table)
					ddl(m, "rollback", psprintf("ALTER TABLE %s RENAME TO %s", table,
												quote_identifier(op->table)));
				break;
			case OP_CREATE_CONSTRAINT:
				if (strcmp(op->constraint_type, "unique") == 0)
					ddl(m, "rollback", psprintf("DROP INDEX IF EXISTS %s",
												online_qualified(m->schema, op->constraint_name)));
				else if (table)
					ddl(m, "rollback", psprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s", table,
												quote_identifier(op->constraint_name)));
				break;
			default:
				break;
		}
	}
	drop_markers(m, shape);
	locksafe_end(ls);
}

/*
 * migrate_rollback(version text DEFAULT NULL)
 *
 * Undoes the expand phase of an online migration in flight: its jobs are
 * cancelled and everything start made is dropped, in reverse order.
 */
Datum
migrate_rollback(PG_FUNCTION_ARGS)
{
	TimestampTz started = GetCurrentTimestamp();
	OnlineMigration *m;
	char	   *state;
	ListCell   *lc;

	migrate_guard_begin("migrate_rollback");

	SPI_connect();
	deploy_lock_acquire();
	m = migration_in_flight(fcinfo, &state);
	if (strcmp(state, "active") != 0 && strcmp(state, "ready") != 0 &&
		strcmp(state, "failed") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("online migration %s is %s, not in flight", m->version, state),
				 strcmp(state, "applied") == 0 ?
				 errhint("A completed online migration is undone by a new migration.") : 0));
	foreach(lc, m->ops)
	{
		OnlineOp   *op = lfirst(lc);

		if (op->kind == OP_SQL && op->sql_down == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_MIGRATE_IRREVERSIBLE),
					 errmsg("online migration %s \"%s\" is irreversible", m->version, m->name),
					 errdetail("Its sql operation has no down SQL.")));
	}

	stop_jobs(m);
	run_phase(m, "rollback", undo, NULL);
	finish(m, "rolled_back", "rollback", started);
	SPI_finish();
	migrate_guard_end();
	PG_RETURN_VOID();
}

/*
 * migrate_version_schema(version text DEFAULT NULL) RETURNS name
 *
 * The schema of the views of an online migration's new shape: of the given
 * one, else of the one in flight, else of the latest completed one.
 */
Datum
migrate_version_schema(PG_FUNCTION_ARGS)
{
	char	   *version = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	MemoryContext caller = CurrentMemoryContext;
	OnlineMigration *m;
	char	   *vschema;

	SPI_connect();
	if (version)
	{
		version_check_arg(version, "version");
		version = lookup_version(version);
	}
	else
	{
		version = online_in_flight(NULL);
		if (version == NULL)
		{
			catalog_exec("SELECT version FROM migrate.migration"
						 " WHERE kind = 'online' AND state = 'applied'"
						 " ORDER BY version_key DESC LIMIT 1", 0, NULL, NULL, NULL, 1);
			if (SPI_processed == 0)
			{
				SPI_finish();
				PG_RETURN_NULL();
			}
			version = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		}
	}
	m = online_load(version, false, NULL);
	vschema = MemoryContextStrdup(caller, m->vschema);
	SPI_finish();
	PG_RETURN_DATUM(DirectFunctionCall1(namein, CStringGetDatum(vschema)));
}
