/*-------------------------------------------------------------------------
 *
 * shape.c
 *	  The tables and columns of the shape an online migration makes, as the
 *	  operations find them: loaded from the catalog, then changed by each
 *	  operation's shape method (online_shape replays them in order).
 *
 * Errors (op_error) are raised under the error context of online_shape,
 * which names the operation.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/catalog.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "commands/extension.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "online/online_int.h"

/* The name a dropped table has until complete. */
char *
online_dropped_name(const char *table)
{
	return psprintf("_migrate_drop_%s", table);
}

char *
online_shadow_name(const char *column)
{
	return psprintf(ONLINE_SHADOW_PREFIX "%s", column);
}

char *
online_check_name(const char *column)
{
	return psprintf(ONLINE_CHECK_PREFIX "%s", column);
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
bool
shape_name_taken(ShapeState *s, const char *name)
{
	ListCell   *lc;

	foreach(lc, s->tables)
	{
		ShapeTable *t = lfirst(lc);

		if (strcmp(t->name, name) == 0 || strcmp(t->physical, name) == 0)
			return true;
	}
	return OidIsValid(get_relname_relid(name, s->nsp));
}

/* A relation the migration changes must not be an extension's own. */
void
shape_check_relation(Oid relid, const char *schema)
{
	Oid			ext;

	if (IsCatalogRelationOid(relid))
		op_error("relation \"%s.%s\" is a system catalog", schema, get_rel_name(relid));
	if (OidIsValid(ext = getExtensionOfObject(RelationRelationId, relid)))
		op_error("relation \"%s.%s\" belongs to extension \"%s\"", schema,
				 get_rel_name(relid), get_extension_name(ext));
}

/*
 * The table's columns as they are now.  Once started, a table that
 * drop_table (dropping) renamed away has its other name.
 */
static ShapeTable *
shape_load(ShapeState *s, const char *table, bool dropping)
{
	ShapeTable *t = palloc0(sizeof(ShapeTable));
	Oid			nsp = get_namespace_oid(s->m->schema, true);
	Relation	rel;
	TupleDesc	desc;

	t->name = t->physical = pstrdup(table);
	t->relid = OidIsValid(nsp) ? get_relname_relid(table, nsp) : InvalidOid;
	if (s->expanded && dropping &&
		(!OidIsValid(t->relid) || get_rel_relkind(t->relid) == RELKIND_VIEW))
	{
		t->physical = online_dropped_name(table);
		t->relid = get_relname_relid(t->physical, nsp);
	}
	if (!OidIsValid(t->relid) ||
		(get_rel_relkind(t->relid) != RELKIND_RELATION &&
		 get_rel_relkind(t->relid) != RELKIND_PARTITIONED_TABLE))
	{
		if (s->lenient)
		{
			t->relid = InvalidOid;
			return t;
		}
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table \"%s.%s\" does not exist", s->m->schema, table),
				 s->expanded ?
				 errdetail("It was dropped or renamed since the migration started.") : 0,
				 s->expanded ?
				 errhint("migrate_rollback() undoes what is left of the migration.") : 0));
	}
	if (!s->expanded)
		shape_check_relation(t->relid, s->m->schema);
	rel = table_open(t->relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		ShapeColumn *c;

		if (att->attisdropped)
			continue;
		/* what start added is not part of the shape it started from */
		if (s->expanded &&
			(strncmp(NameStr(att->attname), ONLINE_SHADOW_PREFIX, strlen(ONLINE_SHADOW_PREFIX)) == 0 ||
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
 * The table op works on (op->table), as the operations before it left it:
 * loaded from the catalog the first time one names it.  *loaded_now (if
 * given) tells whether this was that time.  Sets op->st.
 */
ShapeTable *
shape_open(ShapeState *s, OnlineOp *op, bool dropping, bool *loaded_now)
{
	ShapeTable *t = shape_find(s->tables, op->table);

	if (loaded_now)
		*loaded_now = (t == NULL);
	if (t == NULL)
	{
		ListCell   *tc;

		/* a table renamed or dropped by an earlier operation is gone */
		foreach(tc, s->tables)
		{
			if (strcmp(((ShapeTable *) lfirst(tc))->physical, op->table) == 0)
				op_error("table \"%s\" was renamed or dropped by an earlier operation",
						 op->table);
		}
		t = shape_load(s, op->table, dropping);
		s->tables = lappend(s->tables, t);
	}
	op->st = t;
	return t;
}

/*
 * A column of the new shape, by its name there.  Rolling back, a column
 * that is gone stands for itself, so that what was made for it can still
 * be named (and dropped if it exists).
 */
ShapeColumn *
shape_find_column(ShapeState *s, ShapeTable *t, const char *name, const char *what)
{
	ShapeColumn *c = shape_column(t, name);

	if (c == NULL && s->lenient)
	{
		c = palloc0(sizeof(ShapeColumn));
		c->name = c->old_name = c->physical = pstrdup(name);
		t->columns = lappend(t->columns, c);
	}
	if (c == NULL)
		op_error("column \"%s\" of %s \"%s\" does not exist", name, what, t->name);
	return c;
}

/* The physical names of columns of the table, named as in the shape now. */
List *
shape_columns_physical(ShapeState *s, ShapeTable *t, List *names)
{
	List	   *physical = NIL;
	ListCell   *lc;

	foreach(lc, names)
	{
		physical = lappend(physical, shape_find_column(s, t, lfirst(lc), "table")->physical);
	}
	return physical;
}

/* A constraint of the table, by name, or InvalidOid. */
Oid
shape_constraint_oid(Oid relid, const char *name)
{
	return OidIsValid(relid) ? get_relation_constraint_oid(relid, name, true) : InvalidOid;
}

/*
 * A referenced table and its columns, as they are during the migration:
 * physical names.  Fills *relname with the table's.
 */
List *
shape_reference(ShapeState *s, OnlineReference *r, char **relname)
{
	ShapeTable *rt = shape_find(s->tables, r->table);
	List	   *physical = NIL;
	ListCell   *lc;

	if (rt == NULL)
		rt = shape_load(s, r->table, false);
	*relname = rt->physical;
	if (OidIsValid(rt->relid))
		s->m->referenced = list_append_unique_oid(s->m->referenced, rt->relid);
	foreach(lc, r->columns)
	{
		ShapeColumn *c = shape_find_column(s, rt, lfirst(lc), "referenced table");

		physical = lappend(physical, c->physical);
	}
	return physical;
}
