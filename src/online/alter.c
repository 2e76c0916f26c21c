/*-------------------------------------------------------------------------
 *
 * alter.c
 *	  alter_column and the constraint operations of online migrations.
 *
 * An alter_column that changes values or what they may be (type,
 * nullability, check, foreign key, unique) works on a shadow column: added
 * with the new type at start, filled by the triggers (up from the old
 * shape, down back to it from the new) and the backfill, given the old
 * column's default, comment, indexes and constraints (each under a name of
 * its own until complete), and the new ones.  New constraints are added NOT
 * VALID and validated by the job, indexes are built CONCURRENTLY by it, and
 * NOT NULL is a validated check until complete turns it into the real
 * thing.  Complete drops the old column and puts the shadow and everything
 * on it in its place, under the old names.  Only a change of default or
 * comment needs no shadow: it is made at complete (the new shape's view
 * shows a new default at once).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "commands/comment.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "nodes/nodeFuncs.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"

#include "base/base.h"
#include "catalog/migrate_catalog.h"
#include "exec/migrate_exec.h"
#include "jobs/migrate_jobs.h"
#include "engine/migrate_engine.h"
#include "online/online.h"

/* The qualified name of a relation as it is now. */
char *
online_rel_sql(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

void
online_ddl(OnlineMigration *m, const char *where, const char *sql)
{
	locksafe_execute(sql, m->version, where);
}

/* A statement for the background job, after the backfills. */
void
online_add_step(StringInfo steps, const char *sql)
{
	appendStringInfo(steps, "%s{\"sql\": ", steps->len > 1 ? ", " : "");
	escape_json(steps, sql);
	appendStringInfoChar(steps, '}');
}

/* SPI text of row i, column n, or NULL. */
static char *
value(uint64 i, int n)
{
	return SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, n);
}

/*
 * What the old column has that its shadow must get too: indexes ('i'),
 * unique constraints ('u'), foreign keys ('f') and checks ('c') on it.
 */
List *
online_carried(ShapeTable *t, ShapeColumn *c)
{
	MemoryContext caller = CurrentMemoryContext;
	AttrNumber	attnum = get_attnum(t->relid, c->physical);
	Oid			argtypes[2] = {OIDOID, INT2OID};
	Datum		values[2] = {ObjectIdGetDatum(t->relid), Int16GetDatum(attnum)};
	List	   *carried = NIL;
	int			nestlevel = online_pinned_path();

	SPI_connect();
	if (SPI_execute_with_args("SELECT CASE WHEN c.oid IS NULL THEN 'i' ELSE 'u' END,"
							  "       coalesce(c.oid, i.indexrelid), coalesce(c.conname, x.relname),"
							  "       CASE WHEN c.condeferred THEN ' DEFERRABLE INITIALLY DEFERRED'"
							  "            WHEN c.condeferrable THEN ' DEFERRABLE' ELSE '' END"
							  "  FROM pg_catalog.pg_index i"
							  "  JOIN pg_catalog.pg_class x ON x.oid = i.indexrelid"
							  "  LEFT JOIN pg_catalog.pg_constraint c"
							  "    ON c.conindid = i.indexrelid AND c.contype = 'u' AND c.conrelid = i.indrelid"
							  " WHERE i.indrelid = $1 AND $2 = ANY (i.indkey::pg_catalog.int2[])"
							  "   AND x.relname !~ '^_migrate_'"
							  " UNION ALL "
							  "SELECT c.contype::text, c.oid, c.conname, '' FROM pg_catalog.pg_constraint c"
							  " WHERE c.conrelid = $1 AND c.conkey = ARRAY[$2] AND c.contype IN ('f', 'c')"
							  "   AND c.conname !~ '^_migrate_'"
							  " ORDER BY 3",
							  2, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read what column \"%s\" carries", c->physical);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(caller);
		CarriedObject *o = palloc0(sizeof(CarriedObject));
		bool		isnull;

		o->kind = value(i, 1)[0];
		o->oid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		o->name = pstrdup(value(i, 3));
		o->deferrable = pstrdup(value(i, 4));
		/* its copy's name until complete: the original's, marked as migrate's */
		if (strlen(o->name) + strlen("_migrate_") < NAMEDATALEN)
			o->temp_name = psprintf("_migrate_%s", o->name);
		else
			o->temp_name = psprintf("_migrate_%c%u", o->kind, o->oid);
		carried = lappend(carried, o);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	online_path_end(nestlevel);
	return carried;
}

/* The SQL of a referential action, from pg_constraint's code for it. */
static const char *
action_sql(char code)
{
	switch (code)
	{
		case 'r':
			return "RESTRICT";
		case 'c':
			return "CASCADE";
		case 'n':
			return "SET NULL";
		case 'd':
			return "SET DEFAULT";
		default:
			return "NO ACTION";
	}
}

/* Replace Vars of one attribute by another: the old column by its shadow. */
typedef struct AttnoMap
{
	AttrNumber	from;
	AttrNumber	to;
} AttnoMap;

static Node *
map_attno_mutator(Node *node, AttnoMap *map)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, Var))
	{
		Var		   *var = (Var *) copyObject(node);

		if (var->varattno == map->from)
			var->varattno = var->varattnosyn = map->to;
		return (Node *) var;
	}
	return expression_tree_mutator(node, map_attno_mutator, (void *) map);
}

/*
 * The shadow of a column of the table, if the migration alters it: an
 * index on several altered columns gets one copy, on all their shadows.
 */
static char *
shadow_of(ShapeTable *t, AttrNumber attnum)
{
	ListCell   *lc;

	foreach(lc, t->columns)
	{
		ShapeColumn *c = lfirst(lc);

		if (c->replaced_by && get_attnum(t->relid, c->physical) == attnum)
			return c->replaced_by->physical;
	}
	return NULL;
}

/* Has an earlier alter_column of the table carried this index already? */
static bool
carried_before(ShapeTable *t, Oid oid)
{
	if (list_member_oid(t->carried, oid))
		return true;
	t->carried = lappend_oid(t->carried, oid);
	return false;
}

/*
 * The statement that puts a copy of an index on the shadow columns: the
 * same method, key order, operator classes and collations (on a shadow of
 * another type, its defaults), INCLUDE columns, NULLS NOT DISTINCT, storage
 * parameters, tablespace and predicate.  All of it is the catalog's own
 * text; only the shadow columns' names are migrate's.
 */
static char *
carried_index_sql(ShapeTable *t, CarriedObject *o, Oid indexid)
{
	StringInfoData sql;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(indexid)};
	int			nkeys;
	char	   *result;
	char	   *with;
	char	   *tablespace;
	char	   *predicate;
	bool		nulls_not_distinct;
	MemoryContext caller = CurrentMemoryContext;
	int			nestlevel = online_pinned_path();

	SPI_connect();
	if (SPI_execute_with_args("SELECT i.indisunique, a.amname, i.indnkeyatts,"
							  "       pg_catalog.pg_get_expr(i.indpred, i.indrelid),"
							  "       (SELECT string_agg(pg_catalog.quote_ident(split_part(o, '=', 1)) || ' = ' ||"
							  "                          pg_catalog.quote_literal(substr(o, strpos(o, '=') + 1)), ', ')"
							  "          FROM unnest(c.reloptions) o),"
							  "       (SELECT pg_catalog.quote_ident(spcname) FROM pg_catalog.pg_tablespace"
							  "         WHERE oid = c.reltablespace),"
#if PG_VERSION_NUM >= 150000
							  "       i.indnullsnotdistinct"
#else
							  "       false"
#endif
							  "  FROM pg_catalog.pg_index i"
							  "  JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid"
							  "  JOIN pg_catalog.pg_am a ON a.oid = c.relam"
							  " WHERE i.indexrelid = $1",
							  1, argtypes, values, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read index %u", indexid);
	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE %sINDEX CONCURRENTLY %s ON %s USING %s (",
					 strcmp(value(0, 1), "t") == 0 ? "UNIQUE " : "",
					 quote_identifier(o->temp_name), online_rel_sql(t->relid),
					 quote_identifier(value(0, 2)));
	nkeys = atoi(value(0, 3));
	predicate = value(0, 4);
	with = value(0, 5);
	tablespace = value(0, 6);
	nulls_not_distinct = strcmp(value(0, 7), "t") == 0;

	/* each column, with its operator class, collation and order */
	if (SPI_execute_with_args("SELECT k.attnum,"
							  "       CASE WHEN k.n <= i.indnkeyatts AND NOT oc.opcdefault"
							  "            THEN ' ' || pg_catalog.quote_ident(ocn.nspname) || '.' ||"
							  "                 pg_catalog.quote_ident(oc.opcname) ELSE '' END,"
							  "       CASE WHEN k.n <= i.indnkeyatts AND i.indcollation[k.n - 1] <> 0"
							  "                 AND i.indcollation[k.n - 1] <> coalesce(a.attcollation, 0)"
							  "            THEN ' COLLATE ' || pg_catalog.quote_ident(cn.nspname) || '.' ||"
							  "                 pg_catalog.quote_ident(co.collname) ELSE '' END,"
							  "       CASE WHEN k.n > i.indnkeyatts THEN ''"
							  "            ELSE CASE i.indoption[k.n - 1] & 3 WHEN 1 THEN ' DESC NULLS LAST'"
							  "                 WHEN 2 THEN ' NULLS FIRST' WHEN 3 THEN ' DESC' ELSE '' END END"
							  "  FROM pg_catalog.pg_index i"
							  " CROSS JOIN LATERAL unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY k(attnum, n)"
							  "  LEFT JOIN pg_catalog.pg_attribute a"
							  "    ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
							  "  LEFT JOIN pg_catalog.pg_opclass oc ON oc.oid = i.indclass[k.n - 1]"
							  "  LEFT JOIN pg_catalog.pg_namespace ocn ON ocn.oid = oc.opcnamespace"
							  "  LEFT JOIN pg_catalog.pg_collation co ON co.oid = i.indcollation[k.n - 1]"
							  "  LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace"
							  " WHERE i.indexrelid = $1 ORDER BY k.n",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the columns of index %u", indexid);
	for (uint64 k = 0; k < SPI_processed; k++)
	{
		AttrNumber	attnum = atoi(value(k, 1));
		char	   *shadow = shadow_of(t, attnum);

		if ((int) k == nkeys)
			appendStringInfoString(&sql, ") INCLUDE (");
		else if (k > 0)
			appendStringInfoString(&sql, ", ");
		if (shadow)
		{
			/* a shadow of another type keeps the order, not the class */
			bool		same_type = get_atttype(t->relid, attnum) ==
				get_atttype(t->relid, get_attnum(t->relid, shadow));

			appendStringInfo(&sql, "%s%s%s%s", quote_identifier(shadow),
							 same_type ? value(k, 2) : "", same_type ? value(k, 3) : "",
							 value(k, 4));
		}
		else
			appendStringInfo(&sql, "%s%s%s%s",
							 TextDatumGetCString(DirectFunctionCall3(pg_get_indexdef_ext,
																	 ObjectIdGetDatum(indexid),
																	 Int32GetDatum(k + 1),
																	 BoolGetDatum(false))),
							 value(k, 2), value(k, 3), value(k, 4));
	}
	appendStringInfoChar(&sql, ')');
	if (nulls_not_distinct)
		appendStringInfoString(&sql, " NULLS NOT DISTINCT");
	if (with)
		appendStringInfo(&sql, " WITH (%s)", with);
	if (tablespace)
		appendStringInfo(&sql, " TABLESPACE %s", tablespace);
	if (predicate)
		appendStringInfo(&sql, " WHERE %s", predicate);
	result = MemoryContextStrdup(caller, sql.data);
	SPI_finish();
	online_path_end(nestlevel);
	return result;
}

/* The statement that puts a copy of a foreign key or check on the shadow. */
static char *
carried_constraint_sql(ShapeTable *t, AttrNumber attnum, AttrNumber shadow_attnum,
					   const char *shadow, CarriedObject *o)
{
	HeapTuple	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(o->oid));
	Form_pg_constraint con;
	StringInfoData sql;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for constraint %u", o->oid);
	con = (Form_pg_constraint) GETSTRUCT(tup);
	initStringInfo(&sql);
	appendStringInfo(&sql, "ALTER TABLE %s ADD CONSTRAINT %s ", online_rel_sql(t->relid),
					 quote_identifier(o->temp_name));
	if (con->contype == CONSTRAINT_FOREIGN)
	{
		bool		isnull;
		Datum		confkey = SysCacheGetAttr(CONSTROID, tup, Anum_pg_constraint_confkey, &isnull);
		ArrayType  *arr = DatumGetArrayTypeP(confkey);
		int16		refattnum = ((int16 *) ARR_DATA_PTR(arr))[0];

		appendStringInfo(&sql, "FOREIGN KEY (%s) REFERENCES %s (%s)%s ON UPDATE %s ON DELETE %s",
						 quote_identifier(shadow), online_rel_sql(con->confrelid),
						 quote_identifier(get_attname(con->confrelid, refattnum, false)),
						 con->confmatchtype == FKCONSTR_MATCH_FULL ? " MATCH FULL" : "",
						 action_sql(con->confupdtype), action_sql(con->confdeltype));
		if (con->condeferrable)
			appendStringInfo(&sql, " DEFERRABLE INITIALLY %s",
							 con->condeferred ? "DEFERRED" : "IMMEDIATE");
	}
	else
	{
		bool		isnull;
		Datum		conbin = SysCacheGetAttr(CONSTROID, tup, Anum_pg_constraint_conbin, &isnull);
		AttnoMap	map = {attnum, shadow_attnum};
		Node	   *expr = stringToNode(TextDatumGetCString(conbin));

		/* the same expression, over the shadow column: as nodes, not text */
		expr = map_attno_mutator(expr, &map);
		appendStringInfo(&sql, "CHECK (%s)%s",
						 deparse_expression(expr,
											deparse_context_for(get_rel_name(t->relid), t->relid),
											false, false),
						 con->connoinherit ? " NO INHERIT" : "");
	}
	appendStringInfoString(&sql, " NOT VALID");
	ReleaseSysCache(tup);
	return sql.data;
}

/* The default of the old column, as one for the new type, or NULL. */
static char *
carried_default(Oid relid, AttrNumber attnum, Oid typid, int32 typmod)
{
	char	   *result = NULL;
	MemoryContext caller = CurrentMemoryContext;
	Oid			argtypes[2] = {OIDOID, INT2OID};
	Datum		values[2] = {ObjectIdGetDatum(relid), Int16GetDatum(attnum)};

	SPI_connect();
	if (SPI_execute_with_args("SELECT adbin::text FROM pg_catalog.pg_attrdef"
							  " WHERE adrelid = $1 AND adnum = $2",
							  2, argtypes, values, NULL, false, 1) == SPI_OK_SELECT &&
		SPI_processed > 0)
	{
		Node	   *expr = stringToNode(value(0, 1));
		Node	   *coerced = coerce_to_target_type(NULL, expr, exprType(expr), typid, typmod,
													COERCION_ASSIGNMENT, COERCE_IMPLICIT_CAST, -1);

		/* a default the new type cannot take is left behind */
		if (coerced != NULL)
			result = MemoryContextStrdup(caller, deparse_expression(coerced, NIL, false, false));
	}
	SPI_finish();
	return result;
}

/*
 * alter_column at start, first pass (before the views): the shadow column,
 * with its type, default and comment.
 */
void
online_alter_start(OnlineMigration *m, OnlineOp *op, ShapeTable *t, StringInfo steps)
{
	ShapeColumn *c = op->sc;
	char	   *rel = online_rel_sql(t->relid);
	AttrNumber	attnum = get_attnum(t->relid, c->physical);
	char	   *shadow;
	Oid			typid;
	int32		typmod;
	Oid			collid;
	Oid			newtyp;
	int32		newtypmod;
	char	   *def;
	char	   *comment;
	StringInfoData sql;

	if (!online_alter_shadows(op))
		return;
	shadow = c->replaced_by->physical;
	get_atttypetypmodcoll(t->relid, attnum, &typid, &typmod, &collid);
	newtyp = typid;
	newtypmod = typmod;
	if (op->type)
		online_type(op->type, &newtyp, &newtypmod);

	initStringInfo(&sql);
	appendStringInfo(&sql, "ALTER TABLE %s ADD COLUMN %s %s", rel, quote_identifier(shadow),
					 format_type_with_typemod(newtyp, newtypmod));
	/* the type stays: so does its collation */
	if (newtyp == typid && OidIsValid(collid) && collid != get_typcollation(typid))
		appendStringInfo(&sql, " COLLATE %s", quote_identifier(get_collation_name(collid)));
	online_ddl(m, "alter_column", sql.data);

	if (op->has_default)
		def = op->default_expr ? online_default(op->default_expr, newtyp, newtypmod) : NULL;
	else
		def = carried_default(t->relid, attnum, newtyp, newtypmod);
	if (def)
		online_ddl(m, "alter_column", psprintf("ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s",
											   rel, quote_identifier(shadow), def));

	comment = op->has_comment ? op->comment : GetComment(t->relid, RelationRelationId, attnum);
	if (comment)
		online_ddl(m, "alter_column", psprintf("COMMENT ON COLUMN %s.%s IS %s", rel,
											   quote_identifier(shadow),
											   quote_literal_cstr(comment)));
	(void) steps;
}

/*
 * alter_column at start, second pass (the views exist): NOT NULL, checks,
 * foreign keys and unique constraints on the shadow column, new and carried.
 */
void
online_alter_constraints(OnlineMigration *m, OnlineOp *op, ShapeTable *t, List *shape,
						 StringInfo steps)
{
	ShapeColumn *c = op->sc;
	char	   *rel = online_rel_sql(t->relid);
	AttrNumber	attnum = get_attnum(t->relid, c->physical);
	char	   *shadow;
	AttrNumber	shadow_attnum;
	bool		notnull;
	ListCell   *lc;

	if (!online_alter_shadows(op))
		return;
	shadow = c->replaced_by->physical;
	shadow_attnum = get_attnum(t->relid, shadow);

	if (op->nullable >= 0)
		notnull = !op->nullable;
	else
	{
		HeapTuple	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(t->relid),
										  Int16GetDatum(attnum));

		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for attribute %d of relation %u", attnum, t->relid);
		notnull = ((Form_pg_attribute) GETSTRUCT(tup))->attnotnull;
		ReleaseSysCache(tup);
	}
	if (notnull)
	{
		const char *check = quote_identifier(online_check_name(c->physical));

		online_ddl(m, "alter_column",
				   psprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s IS NOT NULL) NOT VALID",
							rel, check, quote_identifier(shadow)));
		online_add_step(steps, psprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", rel, check));
	}

	foreach(lc, online_carried(t, c))
	{
		CarriedObject *o = lfirst(lc);

		if (o->kind == 'i' || o->kind == 'u')
		{
			if (!carried_before(t, o->oid))
				online_add_step(steps, carried_index_sql(t, o,
														 o->kind == 'i' ? o->oid : get_constraint_index(o->oid)));
		}
		else
		{
			online_ddl(m, "alter_column",
					   carried_constraint_sql(t, attnum, shadow_attnum, shadow, o));
			online_add_step(steps, psprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", rel,
											quote_identifier(o->temp_name)));
		}
	}

	if (op->check)
	{
		online_ddl(m, "alter_column",
				   psprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s) NOT VALID", rel,
							quote_identifier(op->constraint_name),
							online_mapped_expression(op->check, m, t, EXPR_KIND_CHECK_CONSTRAINT)));
		online_add_step(steps, psprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", rel,
										quote_identifier(op->constraint_name)));
	}
	if (op->references)
	{
		char	   *target;
		List	   *cols = online_reference_target(m, op, shape, &target);

		online_ddl(m, "alter_column",
				   psprintf("ALTER TABLE %s ADD CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s (%s)"
							" ON UPDATE %s ON DELETE %s NOT VALID",
							rel, quote_identifier(op->constraint_name), quote_identifier(shadow),
							online_qualified(m->schema, target),
							quote_identifier(linitial(cols)),
							op->references->on_update, op->references->on_delete));
		online_add_step(steps, psprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", rel,
										quote_identifier(op->constraint_name)));
	}
	if (op->unique_name)
		online_add_step(steps, psprintf("CREATE UNIQUE INDEX CONCURRENTLY %s ON %s (%s)",
										quote_identifier(online_shadow_name(op->unique_name)),
										rel, quote_identifier(shadow)));
}

/*
 * alter_column at complete: the old column goes, the shadow and all on it
 * take its place and names.  carried is what online_carried found before
 * complete changed anything.
 */
void
online_alter_complete(OnlineMigration *m, OnlineOp *op, ShapeTable *t, List *carried)
{
	char	   *rel = online_rel_sql(t->relid);
	const char *column = quote_identifier(op->column_name);
	ShapeColumn *c = op->sc;
	ListCell   *lc;

	if (!online_alter_shadows(op))
	{
		if (op->has_default && op->default_expr)
		{
			Oid			typid;
			int32		typmod;
			Oid			collid;

			get_atttypetypmodcoll(t->relid, get_attnum(t->relid, op->column_name),
								  &typid, &typmod, &collid);
			online_ddl(m, "complete", psprintf("ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s",
											   rel, column,
											   online_default(op->default_expr, typid, typmod)));
		}
		else if (op->has_default)
			online_ddl(m, "complete", psprintf("ALTER TABLE %s ALTER COLUMN %s DROP DEFAULT",
											   rel, column));
		if (op->has_comment)
			online_ddl(m, "complete", psprintf("COMMENT ON COLUMN %s.%s IS %s", rel, column,
											   op->comment ? quote_literal_cstr(op->comment) : "NULL"));
		return;
	}

	online_ddl(m, "complete", psprintf("ALTER TABLE %s DROP COLUMN %s", rel, column));
	online_ddl(m, "complete", psprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", rel,
									   quote_identifier(online_shadow_name(c->physical)),
									   column));
	if (OidIsValid(get_relation_constraint_oid(t->relid, online_check_name(c->physical), true)))
	{
		/* the validated check spares SET NOT NULL its scan */
		online_ddl(m, "complete", psprintf("ALTER TABLE %s ALTER COLUMN %s SET NOT NULL", rel, column));
		online_ddl(m, "complete", psprintf("ALTER TABLE %s DROP CONSTRAINT %s", rel,
										   quote_identifier(online_check_name(c->physical))));
	}
	foreach(lc, carried)
	{
		CarriedObject *o = lfirst(lc);

		if ((o->kind == 'i' || o->kind == 'u') && carried_before(t, o->oid))
			continue;
		if (o->kind == 'i')
			online_ddl(m, "complete", psprintf("ALTER INDEX %s RENAME TO %s",
											   online_qualified(m->schema, o->temp_name),
											   quote_identifier(o->name)));
		else if (o->kind == 'u')
			online_ddl(m, "complete", psprintf("ALTER TABLE %s ADD CONSTRAINT %s UNIQUE USING INDEX %s%s",
											   rel, quote_identifier(o->name),
											   quote_identifier(o->temp_name), o->deferrable));
		else
			online_ddl(m, "complete", psprintf("ALTER TABLE %s RENAME CONSTRAINT %s TO %s", rel,
											   quote_identifier(o->temp_name),
											   quote_identifier(o->name)));
	}
	if (op->unique_name)
		online_ddl(m, "complete", psprintf("ALTER TABLE %s ADD CONSTRAINT %s UNIQUE USING INDEX %s",
										   rel, quote_identifier(op->unique_name),
										   quote_identifier(online_shadow_name(op->unique_name))));
}

/* create_constraint at start (the views exist). */
void
online_constraint_start(OnlineMigration *m, OnlineOp *op, List *shape, StringInfo steps)
{
	ShapeTable *t = op->st;
	char	   *rel = online_rel_sql(t->relid);
	StringInfoData cols;
	ListCell   *lc;

	initStringInfo(&cols);
	foreach(lc, op->physical)
		appendStringInfo(&cols, "%s%s", cols.len > 0 ? ", " : "", quote_identifier(lfirst(lc)));

	if (strcmp(op->constraint_type, "unique") == 0)
		online_add_step(steps, psprintf("CREATE UNIQUE INDEX CONCURRENTLY %s ON %s (%s)",
										quote_identifier(op->constraint_name), rel, cols.data));
	else if (strcmp(op->constraint_type, "check") == 0)
	{
		online_ddl(m, "create_constraint",
				   psprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s) NOT VALID", rel,
							quote_identifier(op->constraint_name),
							online_mapped_expression(op->check, m, t, EXPR_KIND_CHECK_CONSTRAINT)));
		online_add_step(steps, psprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", rel,
										quote_identifier(op->constraint_name)));
	}
	else
	{
		char	   *target;
		StringInfoData refcols;

		initStringInfo(&refcols);
		foreach(lc, online_reference_target(m, op, shape, &target))
			appendStringInfo(&refcols, "%s%s", refcols.len > 0 ? ", " : "",
							 quote_identifier(lfirst(lc)));
		online_ddl(m, "create_constraint",
				   psprintf("ALTER TABLE %s ADD CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s (%s)"
							" ON UPDATE %s ON DELETE %s NOT VALID",
							rel, quote_identifier(op->constraint_name), cols.data,
							online_qualified(m->schema, target), refcols.data,
							op->references->on_update, op->references->on_delete));
		online_add_step(steps, psprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", rel,
										quote_identifier(op->constraint_name)));
	}
}

/* create_constraint at complete: a unique index becomes the constraint. */
void
online_constraint_complete(OnlineMigration *m, OnlineOp *op, ShapeTable *t)
{
	if (strcmp(op->constraint_type, "unique") == 0)
		online_ddl(m, "complete", psprintf("ALTER TABLE %s ADD CONSTRAINT %s UNIQUE USING INDEX %s",
										   online_rel_sql(t->relid),
										   quote_identifier(op->constraint_name),
										   quote_identifier(op->constraint_name)));
}
