/*-------------------------------------------------------------------------
 *
 * vschema.c
 *	  The version schema of an online migration (a view of every table of
 *	  its schema, in the new shape), and the triggers that keep both
 *	  shapes written while it is in flight.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "nodes/plannodes.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteHandler.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "base/base.h"
#include "online/online_int.h"

PG_FUNCTION_INFO_V1(migrate_online_new_shape);
PG_FUNCTION_INFO_V1(migrate_online_guard);

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
void
vschema_copy_grants(OnlineMigration *m, ShapeTable *t, const char *view, bool old_shape)
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
			online_ddl(m, "version schema",
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

		online_ddl(m, "version schema",
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
				online_ddl(m, "version schema",
						   psprintf("GRANT %s (%s) ON %s TO %s", privilege,
									quote_identifier(name), view, grantee));
			if (c->altered_from && !old_shape)
				online_ddl(m, "version schema",
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
const char *
vschema_view_security(Oid relid)
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

static char *extension_function(const char *name);

/*
 * A view of table t's shape: its columns but the hidden ones, read from
 * "from" by their names in the table (by_physical; mapped to the shape's)
 * or in the shape (from another view of the same shape), with the table's
 * defaults and grants.
 */
static void
make_view(OnlineMigration *m, ShapeTable *t, const char *view, const char *from,
		  bool by_physical)
{
	StringInfoData sql;
	ListCell   *lc;
	int			ncolumns = 0;

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE VIEW %s WITH (%s) AS SELECT ", view,
					 vschema_view_security(t->relid));
	foreach(lc, t->columns)
	{
		ShapeColumn *c = lfirst(lc);

		if (c->hidden)
			continue;
		appendStringInfo(&sql, "%s%s AS %s", ncolumns++ == 0 ? "" : ", ",
						 quote_identifier(by_physical ? c->physical : c->name),
						 quote_identifier(c->name));
	}

	/*
	 * The guard: a qual of an IMMUTABLE function of migrate's library, which
	 * the planner folds to true (no cost per row), in the view's WHERE
	 * (UPDATE) and, by the check option, in the checks of INSERT. Folding it
	 * loads the library while the write through the view is planned, so that
	 * its executor hooks see that write run even in a session that never
	 * loaded it before: inside a function or a DO block of a new session's
	 * first statement, migrate_online_new_shape would otherwise find no
	 * statement and go by the search_path.
	 *
	 * A view with no columns (of a table that has none, or only hidden ones)
	 * is not automatically updatable, and PostgreSQL refuses a check option
	 * on it; nothing can be written through it, so it needs no guard.
	 */
	if (ncolumns == 0)
		appendStringInfo(&sql, " FROM %s", from);
	else
		appendStringInfo(&sql, " FROM %s WHERE %s() WITH LOCAL CHECK OPTION", from,
						 extension_function("migrate_online_guard"));
	online_ddl(m, "version schema", sql.data);
	vschema_copy_grants(m, t, view, false);
}

/* The view of one table in the version schema: the new shape, renamed. */
static void
create_view(OnlineMigration *m, ShapeTable *t)
{
	make_view(m, t, online_qualified(m->vschema, t->name), online_rel_sql(t->relid), true);
}

/*
 * The view of a table that another online migration in flight changes:
 * over that migration's view, so that it shows that migration's new shape
 * too (this one comes later), and so that a write through it is a write
 * through that view, which the other migration's triggers take for its
 * new shape (migrate_online_new_shape).
 */
static void
create_view_over(OnlineMigration *m, OnlineFlying *f, ShapeTable *t)
{
	make_view(m, t, online_qualified(m->vschema, t->name),
			  online_qualified(f->m->vschema, t->name), false);
}

/*
 * The version schema, with a view of every table of the schema: in this
 * migration's new shape for the tables it changes, in the new shape of
 * another migration in flight (flying, OnlineFlying *) for that one's.
 */
void
vschema_create(OnlineMigration *m, List *shape, List *flying)
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
	online_ddl(m, "version schema", psprintf("CREATE SCHEMA %s", quote_identifier(m->vschema)));

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

		online_ddl(m, "version schema",
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
		{
			if (((ShapeTable *) lfirst(sc))->relid == relid)
				t = lfirst(sc);
		}
		if (t == NULL)
		{
			foreach(sc, flying)
			{
				OnlineFlying *f = lfirst(sc);
				ListCell   *fc;

				foreach(fc, f->shape)
				{
					ShapeTable *ft = lfirst(fc);

					if (ft->relid == relid)
					{
						/* not in that migration's new shape: not in this one */
						if (!ft->dropped)
							create_view_over(m, f, ft);
						t = ft;
					}
				}
			}
			if (t != NULL)
				continue;
			t = unchanged_table(relid, name);
		}
		if (!t->dropped)
			tables = lappend(tables, t);
	}
	foreach(lc, tables)
	{
		create_view(m, lfirst(lc));
	}
}

/*
 * Whether a view of another version schema (vschemas, names) is defined
 * over one of the views of vschema: that of a later migration started
 * while this one was in flight.  Other objects over its views, of the
 * application's roles, are not migrate's to decide about: dropping the
 * schema fails on them, and says which.
 */
bool
vschema_has_dependents(const char *vschema, List *vschemas)
{
	Oid			nsp = get_namespace_oid(vschema, true);
	ListCell   *lc;

	if (!OidIsValid(nsp))
		return false;
	foreach(lc, vschemas)
	{
		Oid			other = get_namespace_oid(lfirst(lc), true);
		Oid			argtypes[2] = {OIDOID, OIDOID};
		Datum		values[2] = {ObjectIdGetDatum(nsp), ObjectIdGetDatum(other)};

		if (!OidIsValid(other) || other == nsp)
			continue;
		if (SPI_execute_with_args("SELECT 1 FROM pg_catalog.pg_depend d"
								  "  JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid"
								  "  JOIN pg_catalog.pg_class v ON v.oid = r.ev_class"
								  "  JOIN pg_catalog.pg_class o ON o.oid = d.refobjid"
								  " WHERE d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass"
								  "   AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass"
								  "   AND o.relnamespace = $1 AND v.relnamespace = $2",
								  2, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read the system catalogs");
		if (SPI_processed > 0)
			return true;
	}
	return false;
}

typedef struct DetachCall
{
	OnlineMigration *m;
	const char *sql;
} DetachCall;

static void
detach_one(void *arg)
{
	DetachCall *call = (DetachCall *) arg;

	online_ddl(call->m, "version schema", call->sql);
}

/*
 * The views of other version schemas (vschemas, names) defined on the
 * tables (relids) themselves, dropped before complete changes the tables
 * (a view on a column complete drops would stop it); vschema_reattach
 * makes them again, on the tables as complete leaves them.  They show the
 * tables as those migrations saw them, before this one: once it is
 * completed, that shape is gone from the tables, as from their own schema.
 */
List *
vschema_detach(OnlineMigration *m, List *relids, List *vschemas)
{
	List	   *found = NIL;
	List	   *detached = NIL;
	ListCell   *lc;

	foreach(lc, vschemas)
	{
		const char *vschema = lfirst(lc);
		Oid			nsp = get_namespace_oid(vschema, true);
		uint64		n;
		SPITupleTable *tuptable;

		if (!OidIsValid(nsp) || strcmp(vschema, m->vschema) == 0)
			continue;
		catalog_query("SELECT DISTINCT v.relname, d.refobjid FROM pg_catalog.pg_depend d"
					  "  JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid"
					  "  JOIN pg_catalog.pg_class v ON v.oid = r.ev_class"
					  "  JOIN pg_catalog.pg_class o ON o.oid = d.refobjid"
					  " WHERE d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass"
					  "   AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass"
					  "   AND v.relnamespace = $1 AND v.relkind = 'v'"
					  "   AND o.relkind IN ('r', 'p') ORDER BY 1",
					  nsp);
		n = SPI_processed;
		tuptable = SPI_tuptable;
		for (uint64 i = 0; i < n; i++)
		{
			bool		isnull;
			Oid			relid = DatumGetObjectId(SPI_getbinval(tuptable->vals[i],
															   tuptable->tupdesc, 2, &isnull));
			DetachedView *d;

			if (!list_member_oid(relids, relid))
				continue;
			d = palloc0(sizeof(DetachedView));
			d->vschema = pstrdup(vschema);
			d->name = SPI_getvalue(tuptable->vals[i], tuptable->tupdesc, 1);
			d->relid = relid;
			found = lappend(found, d);
		}
	}

	/*
	 * A view the deployer may not drop (another role's), or that another
	 * role's object depends on (a view, a function of its row type), stays as
	 * it is: complete goes on, unless it changes a column that view shows,
	 * and then fails naming the view.
	 */
	foreach(lc, found)
	{
		DetachedView *d = lfirst(lc);
		DetachCall	call = {m, psprintf("DROP VIEW %s",
										online_qualified(d->vschema, d->name))};
		ErrorData  *edata = subxact_run(detach_one, &call);

		if (edata == NULL)
		{
			detached = lappend(detached, d);
			continue;
		}
		if (edata->sqlerrcode != ERRCODE_INSUFFICIENT_PRIVILEGE &&
			edata->sqlerrcode != ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST)
			ReThrowError(edata);
		ereport(NOTICE,
				(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
				 errmsg("view %s is kept as it is",
						online_qualified(d->vschema, d->name)),
				 edata->detail ?
				 errdetail("Dropping it failed: %s: %s.", edata->message, edata->detail) :
				 errdetail("Dropping it failed: %s.", edata->message),
				 errhint("It shows the table as it was before online migration %s.",
						 m->version)));
		FreeErrorData(edata);
	}
	return detached;
}

void
vschema_reattach(OnlineMigration *m, List *detached)
{
	ListCell   *lc;

	foreach(lc, detached)
	{
		DetachedView *d = lfirst(lc);
		char	   *view = online_qualified(d->vschema, d->name);
		ShapeTable *t;

		/* a table complete dropped has no view any more */
		if (get_rel_relkind(d->relid) != RELKIND_RELATION &&
			get_rel_relkind(d->relid) != RELKIND_PARTITIONED_TABLE)
			continue;
		t = unchanged_table(d->relid, d->name);
		make_view(m, t, view, online_rel_sql(d->relid), true);
	}
}

/*
 * The qualified name of a function of migrate's in the extension's schema
 * (which the deploy role can use, unlike migrate's).
 */
static char *
extension_function(const char *name)
{
	bool		isnull;
	Datum		nsp;

	if (SPI_execute("SELECT e.extnamespace FROM pg_catalog.pg_extension e"
					" WHERE e.extname OPERATOR(pg_catalog.=) 'migrate'",
					false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "extension migrate not found");
	nsp = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return online_qualified(get_namespace_name(DatumGetObjectId(nsp)), name);
}

/* The table a view of a version schema shows, cached for the statement. */
typedef struct ShapeView
{
	Oid			view;
	Oid			table;
} ShapeView;

static Oid
view_table(FunctionCallInfo fcinfo, Oid view)
{
	ShapeView  *cache = (ShapeView *) fcinfo->flinfo->fn_extra;

	if (cache == NULL || cache->view != view)
	{
		Oid			table = InvalidOid;
		Relation	rel = try_relation_open(view, AccessShareLock);

		if (rel != NULL)
		{
			if (rel->rd_rel->relkind == RELKIND_VIEW)
			{
				Query	   *query = get_view_query(rel);
				List	   *from = query->jointree->fromlist;

				if (list_length(from) == 1 && IsA(linitial(from), RangeTblRef))
					table = rt_fetch(linitial_node(RangeTblRef, from)->rtindex,
									 query->rtable)->relid;
			}
			relation_close(rel, AccessShareLock);
		}
		if (cache == NULL)
			cache = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(ShapeView));
		cache->view = view;
		cache->table = table;
		fcinfo->flinfo->fn_extra = cache;
	}
	return cache->table;
}

/*
 * migrate_online_new_shape(view oid) RETURNS boolean
 *
 * The condition of the sync triggers: whether the row being written comes
 * from the new shape.  It does when the statement writing it writes through
 * the version schema's view of the table, by whatever name (the plan keeps
 * the view, with the privilege and columns it was checked for; a row locked
 * through the view is not written through it).  A statement that also
 * writes the table otherwise is refused (0A000): its rows cannot be told
 * apart.  A COPY writes the table by its name: the old shape.  When the
 * statement is not known (the first write of a session, inside a function,
 * before the library was loaded), by the writer's search_path: new when it
 * starts with the version schema, as before.  Executable by every writer;
 * it reads nothing but the running plan, so it skips the version check.
 */
Datum
migrate_online_new_shape(PG_FUNCTION_ARGS)
{
	Oid			view = PG_GETARG_OID(0);
	PlannedStmt *plan;
	int			through;
	Oid			table;
	Oid			vschema;
	List	   *path;
	bool		first;

	if (executing_statement(&plan))
	{
		through = executing_writes(plan, view, false);
		if (through == 0)
			PG_RETURN_BOOL(false);
		table = view_table(fcinfo, view);
		if (OidIsValid(table) && executing_writes(plan, table, true) > through)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("a statement cannot write table %s both through view %s and otherwise",
							online_rel_sql(table), online_rel_sql(view)),
					 errdetail("While an online migration is in flight, a write through the view of its version schema writes the new shape, any other write of the table the old shape, and the rows of one statement cannot be told apart."),
					 errhint("Write them in separate statements.")));
		PG_RETURN_BOOL(true);
	}
	vschema = get_rel_namespace(view);
	if (!OidIsValid(vschema))
		PG_RETURN_BOOL(false);
	path = fetch_search_path(false);
	first = path != NIL && linitial_oid(path) == vschema;
	list_free(path);
	PG_RETURN_BOOL(first);
}

/*
 * migrate_online_guard() RETURNS boolean, IMMUTABLE
 *
 * True: the qual of the version schema's views (make_view), there only to
 * load this library when a write through one is planned.  Executable by
 * every writer; it reads nothing, so it skips the version check.
 */
Datum
migrate_online_guard(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(true);
}

/*
 * The triggers that keep both shapes written.  A write through the version
 * schema's view comes from the new shape (migrate_online_new_shape): the
 * columns it hides get their down expressions.  Any other write comes from
 * the old shape: the added columns get their up expressions.  Expressions
 * see the row's columns as variables named as in their shape; they are the
 * server's deparsed text of what it analysed, every name in it qualified
 * but pg_catalog's, and the function runs with its search_path pinned to
 * pg_catalog, so that no writer's search_path changes what they call.
 */
void
vschema_create_sync(OnlineMigration *m, ShapeTable *t)
{
	StringInfoData body;
	StringInfoData newside;
	StringInfoData oldside;
	StringInfoData catchup;
	StringInfoData fill;
	StringInfoData drawn;
	StringInfoData oldvars;
	StringInfoData newvars;
	char	   *table = online_rel_sql(t->relid);
	const char *marker = quote_identifier(ONLINE_MARKER);
	Oid			viewid = get_relname_relid(t->name, get_namespace_oid(m->vschema, false));
	char	   *new_shape;
	ListCell   *lc;

	/*
	 * The blocks declaring the row's columns as variables are labelled with
	 * the name the expressions' deparsed text gives the row: inside a
	 * subquery the server writes a column as table.column (the table's name
	 * for up, the view's for down), which a label makes a variable too.
	 */
	const char *old_label = quote_identifier(get_rel_name(t->relid));
	const char *new_label = quote_identifier(t->name);

	initStringInfo(&newside);
	initStringInfo(&oldside);
	initStringInfo(&catchup);
	initStringInfo(&fill);
	initStringInfo(&drawn);
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
		if (c->down)
			appendStringInfo(&newside, "      NEW.%s := (%s);\n", col,
							 online_expression(c->down, viewid, typid, typmod, "down"));
		if (c->up)
		{
			char	   *up = online_expression(c->up, t->relid, typid, typmod, "up");

			appendStringInfo(&oldside, "      NEW.%s := (%s);\n", col, up);
			appendStringInfo(&catchup,
							 "        IF NEW.%s IS NOT DISTINCT FROM OLD.%s THEN NEW.%s := (%s); END IF;\n",
							 col, col, col, up);
			if (c->up_on_insert)
				appendStringInfo(&drawn, "        IF NEW.%s IS NULL THEN NEW.%s := (%s); END IF;\n",
								 col, col, up);
		}
		else if (c->added_default && online_expression_volatile(c->added_default))
			appendStringInfo(&fill, "    IF NEW.%s IS NOT DISTINCT FROM OLD.%s THEN NEW.%s := %s; END IF;\n",
							 col, col, col,
							 online_default(c->added_default, typid, typmod));
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
		appendStringInfo(&body, "  IF TG_OP = 'UPDATE' AND OLD.%s IS NOT FALSE THEN\n%s  END IF;\n", marker, fill.data);
	appendStringInfoString(&body, "  IF TG_ARGV[0] = 'new' THEN\n");

	/*
	 * A new-shape update of a row the backfill has not reached: what the
	 * backfill would have filled is filled first (unless the writer set it),
	 * so that the downs see the row whole.
	 */
	if (t->backfill && catchup.len > 0)
		appendStringInfo(&body,
						 "    IF TG_OP = 'UPDATE' AND OLD.%s IS NOT FALSE THEN\n"
						 "      <<%s>> DECLARE\n%s      BEGIN\n%s      END;\n"
						 "    END IF;\n",
						 marker, old_label, oldvars.data, catchup.data);
	/* a new-shape insert that left it NULL: from what the old column drew */
	if (drawn.len > 0)
		appendStringInfo(&body,
						 "    IF TG_OP = 'INSERT' THEN\n"
						 "      <<%s>> DECLARE\n%s      BEGIN\n%s      END;\n"
						 "    END IF;\n",
						 old_label, oldvars.data, drawn.data);
	if (newside.len > 0)
		appendStringInfo(&body, "    <<%s>> DECLARE\n%s    BEGIN\n%s    END;\n",
						 new_label, newvars.data, newside.data);
	else
		appendStringInfoString(&body, "    NULL;\n");
	appendStringInfoString(&body, "  ELSE\n");
	if (oldside.len > 0)
		appendStringInfo(&body, "    <<%s>> DECLARE\n%s    BEGIN\n%s    END;\n",
						 old_label, oldvars.data, oldside.data);
	else
		appendStringInfoString(&body, "    NULL;\n");
	appendStringInfoString(&body, "  END IF;\n");
	if (t->backfill)
		appendStringInfo(&body, "  NEW.%s := false;\n", marker);
	appendStringInfoString(&body, "  RETURN NEW;\nEND\n");

	online_ddl(m, "sync trigger",
			   psprintf("CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql"
						" SET search_path = " ONLINE_PINNED_PATH " AS %s",
						sync_function(m, t), quote_literal_cstr(body.data)));

	/*
	 * The function runs with its search_path pinned, so the shape of the
	 * writer is told by the triggers' conditions, evaluated in the writer's
	 * session: one trigger for each shape, one of them fires.  A write
	 * through the view is the new shape's, by any name and with any
	 * search_path (migrate_online_new_shape).  The view is named by its OID,
	 * not as a regclass: a trigger depending on the view would go with it.
	 */
	new_shape = psprintf("%s(%u::pg_catalog.oid)",
						 extension_function("migrate_online_new_shape"), viewid);
	online_ddl(m, "sync trigger",
			   psprintf("CREATE TRIGGER %s BEFORE INSERT OR UPDATE ON %s"
						" FOR EACH ROW WHEN (%s IS NOT TRUE) EXECUTE FUNCTION %s('old')",
						quote_identifier(ONLINE_TRIGGER), table, new_shape, sync_function(m, t)));
	online_ddl(m, "sync trigger",
			   psprintf("CREATE TRIGGER %s BEFORE INSERT OR UPDATE ON %s"
						" FOR EACH ROW WHEN (%s IS TRUE) EXECUTE FUNCTION %s('new')",
						quote_identifier(ONLINE_TRIGGER_NEW), table, new_shape, sync_function(m, t)));
}

void
vschema_drop(OnlineMigration *m, const char *vschema)
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
		online_ddl(m, "version schema",
				   psprintf("DROP VIEW %s",
							online_qualified(vschema, SPI_getvalue(tuptable->vals[i], tuptable->tupdesc, 1))));

	/*
	 * the trigger functions of tables dropped since (their triggers went with
	 * them)
	 */
	catalog_query("SELECT p.proname FROM pg_catalog.pg_proc p"
				  " WHERE p.pronamespace = $1 AND p.pronargs = 0"
				  "   AND p.prorettype = 'pg_catalog.trigger'::pg_catalog.regtype"
				  "   AND p.proname OPERATOR(pg_catalog.~~) '\\_migrate\\_sync\\_%'"
				  " ORDER BY p.proname", nsp);
	n = SPI_processed;
	tuptable = SPI_tuptable;
	for (uint64 i = 0; i < n; i++)
		online_ddl(m, "version schema",
				   psprintf("DROP FUNCTION %s()",
							online_qualified(vschema, SPI_getvalue(tuptable->vals[i], tuptable->tupdesc, 1))));
	online_ddl(m, "version schema", psprintf("DROP SCHEMA %s", quote_identifier(vschema)));
}

void
vschema_drop_sync(OnlineMigration *m, List *shape)
{
	ListCell   *lc;

	foreach(lc, shape)
	{
		ShapeTable *t = lfirst(lc);

		if (!t->sync || !OidIsValid(t->relid))
			continue;
		online_ddl(m, "sync trigger", psprintf("DROP TRIGGER IF EXISTS %s ON %s",
											   quote_identifier(ONLINE_TRIGGER),
											   online_rel_sql(t->relid)));
		online_ddl(m, "sync trigger", psprintf("DROP TRIGGER IF EXISTS %s ON %s",
											   quote_identifier(ONLINE_TRIGGER_NEW),
											   online_rel_sql(t->relid)));
		online_ddl(m, "sync trigger", psprintf("DROP FUNCTION IF EXISTS %s()",
											   sync_function(m, t)));
	}
}
