/*-------------------------------------------------------------------------
 *
 * op_rename_constraint.c
 *	  rename_constraint: the constraint keeps its name while the migration
 *	  is in flight (the old version may name it: ON CONFLICT ON CONSTRAINT,
 *	  errors it tells apart by the name); complete renames it, and its
 *	  index with it for a primary key, unique or exclusion constraint.
 *
 *	  {"rename_constraint": {"table": "orders", "from": "orders_qty_check",
 *	   "to": "orders_quantity_positive"}}
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_inherits.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "online/online_int.h"

typedef struct RenameConstraint
{
	char	   *from;
	char	   *to;
} RenameConstraint;

static const char *const fields[] = {"schema", "table", "from", "to", NULL};

/* what start makes has names of this prefix: never the user's to rename */
#define MIGRATE_NAME_PREFIX		"_migrate_"

static void
rename_constraint_parse(OnlineMigration *m, OnlineOp *op, JsonbContainer *body,
						bool check_catalog)
{
	RenameConstraint *d = palloc0(sizeof(RenameConstraint));

	op->data = d;
	op->table = doc_identifier(body, "table", true);
	d->from = doc_identifier(body, "from", true);
	d->to = doc_identifier(body, "to", true);
	if (strncmp(d->from, MIGRATE_NAME_PREFIX, strlen(MIGRATE_NAME_PREFIX)) == 0 ||
		strncmp(d->to, MIGRATE_NAME_PREFIX, strlen(MIGRATE_NAME_PREFIX)) == 0)
		op_error("constraint names beginning with \"%s\" are migrate's own",
				 MIGRATE_NAME_PREFIX);
}

/*
 * The constraint's columns must stay as they are until complete: a column
 * dropped takes the constraint with it, and one altered gets a copy of it
 * under the old name.  Checked against the shape so far (shape), and at
 * start against the whole migration's.
 */
static void
check_columns_kept(OnlineMigration *m, OnlineOp *op, Oid conoid)
{
	RenameConstraint *d = op->data;
	ShapeTable *t = op->st;
	HeapTuple	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	Datum		conkey;
	bool		isnull;
	ArrayType  *arr;
	int16	   *attnums;
	int			n;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for constraint %u", conoid);
	conkey = SysCacheGetAttr(CONSTROID, tup, Anum_pg_constraint_conkey, &isnull);
	if (isnull)
	{
		ReleaseSysCache(tup);
		return;
	}
	arr = DatumGetArrayTypeP(conkey);
	attnums = (int16 *) ARR_DATA_PTR(arr);
	n = ARR_DIMS(arr)[0];
	for (int i = 0; i < n; i++)
	{
		char	   *attname = get_attname(t->relid, attnums[i], true);
		ListCell   *lc;

		if (attname == NULL)
			continue;
		foreach(lc, t->columns)
		{
			ShapeColumn *c = lfirst(lc);

			if (c->added_by == NULL && strcmp(c->physical, attname) == 0 &&
				c->dropped_by != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("constraint \"%s\" is on column \"%s\", which operation %d drops or alters",
								d->from, attname, c->dropped_by->index),
						 errhint("Rename the constraint in a migration of its own."),
						 m ? errcontext("operation %d (%s) of online migration %s",
										op->index, op->methods->name, m->version) : 0));
		}
	}
	ReleaseSysCache(tup);
}

static void
rename_constraint_shape(ShapeState *s, OnlineOp *op)
{
	RenameConstraint *d = op->data;
	ShapeTable *t = shape_open(s, op, false, NULL);
	Oid			conoid;
	HeapTuple	tup;
	Form_pg_constraint con;

	if (s->expanded)
		return;
	if (t->created)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table \"%s\" is created by this migration", op->table),
				 errhint("Rename its constraints in a later migration.")));
	conoid = shape_constraint_oid(t->relid, d->from);
	if (!OidIsValid(conoid))
		op_error("constraint \"%s\" of table \"%s\" does not exist", d->from, op->table);
	if (OidIsValid(shape_constraint_oid(t->relid, d->to)))
		op_error("constraint \"%s\" of table \"%s\" already exists", d->to, op->table);

	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for constraint %u", conoid);
	con = (Form_pg_constraint) GETSTRUCT(tup);
	if (con->coninhcount > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("constraint \"%s\" of table \"%s\" is inherited", d->from, op->table),
				 errdetail("Only the table it is inherited from can rename it.")));

	/* a key's index is renamed with it */
	if ((con->contype == CONSTRAINT_PRIMARY || con->contype == CONSTRAINT_UNIQUE ||
		 con->contype == CONSTRAINT_EXCLUSION) && OidIsValid(con->conindid) &&
		shape_name_taken(s, d->to))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("relation \"%s.%s\" already exists", s->m->schema, d->to),
				 errdetail("Renaming constraint \"%s\" renames its index too.", d->from)));

	/* an inherited check (or not-null, 18) is renamed in the children too */
	if ((con->contype == CONSTRAINT_CHECK || con->contype == 'n') && !con->connoinherit)
	{
		ListCell   *lc;

		foreach(lc, find_all_inheritors(t->relid, NoLock, NULL))
		{
			Oid			child = lfirst_oid(lc);

			if (child != t->relid && OidIsValid(shape_constraint_oid(child, d->to)))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("constraint \"%s\" of table \"%s\" already exists",
								d->to, get_rel_name(child)),
						 errdetail("Table \"%s\" inherits constraint \"%s\", which is renamed there too.",
								   get_rel_name(child), d->from)));
		}
	}
	ReleaseSysCache(tup);
	check_columns_kept(NULL, op, conoid);
}

/* Nothing changes at start; the whole migration's shape is known now. */
static void
rename_constraint_start(OnlineMigration *m, OnlineOp *op, StringInfo steps)
{
	RenameConstraint *d = op->data;
	Oid			conoid = shape_constraint_oid(op->st->relid, d->from);

	if (OidIsValid(conoid))
		check_columns_kept(m, op, conoid);
}

static void
rename_constraint_complete(OnlineMigration *m, OnlineOp *op)
{
	RenameConstraint *d = op->data;

	online_ddl(m, "complete", psprintf("ALTER TABLE %s RENAME CONSTRAINT %s TO %s",
									   online_op_rel_sql(op), quote_identifier(d->from),
									   quote_identifier(d->to)));
}

/* listed in ops.c; declared first for -Wmissing-variable-declarations (18) */
extern const OnlineOpMethods online_op_rename_constraint;

const OnlineOpMethods online_op_rename_constraint = {
	.name = "rename_constraint",
	.fields = fields,
	.parse = rename_constraint_parse,
	.shape = rename_constraint_shape,
	.start = rename_constraint_start,
	.complete = rename_constraint_complete,
};
