/*-------------------------------------------------------------------------
 *
 * op_alter_column.c
 *	  alter_column: a change of a column's type, nullability, constraints,
 *	  default or comment.
 *
 * A change of values or of what they may be (type, nullability, check,
 * foreign key, unique) works on a shadow column: added with the new type
 * at start, filled by the triggers (up from the old shape, down back to it
 * from the new) and the backfill, given the old column's default, comment,
 * indexes and constraints (each under a name of its own until complete),
 * and the new ones.  New constraints are added NOT VALID and validated by
 * the job, indexes are built CONCURRENTLY by it, and NOT NULL is a
 * validated check until complete turns it into the real thing.  Complete
 * drops the old column and puts the shadow and everything on it in its
 * place, under the old names.  Only a change of default or comment needs
 * no shadow: it is made at complete (the new shape's view shows a new
 * default at once).  drop_constraint (with up and down) and
 * drop_multicolumn_constraint make one of these for each column of the
 * constraint they drop (online_alter_dropping): a shadow with all the
 * column carries but that constraint.
 *
 * Keys go along.  A primary key is carried like a unique constraint: a
 * unique index built concurrently on the shadow, made the primary key
 * (USING INDEX) at complete, once SET NOT NULL has used the validated
 * check.  A foreign key of another table (or of this one) that references
 * the column gets a copy that references the shadow, added NOT VALID and
 * validated by the job once that index is built; complete drops the
 * original and gives the copy its name, so it is enforced throughout.  An
 * identity column keeps drawing for both shapes: a new-shape insert that
 * leaves the new column NULL gets up's value of what the old column drew
 * (the trigger); at complete the new column becomes the identity column,
 * its sequence (under the old one's name) going on from where the old one
 * stopped.  A drop of a constraint on a key column carries the keys the same
 * way, but not one that the foreign keys referencing the column rely on.
 *
 *	  {"alter_column": {"table": "orders", "column": "quantity",
 *	   "type": "bigint"}}
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/stratnum.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_sequence.h"
#include "catalog/pg_type.h"
#include "commands/comment.h"
#include "commands/defrem.h"
#include "executor/spi.h"
#include "nodes/nodeFuncs.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"

#include "online/online_int.h"

typedef struct AlterColumn
{
	char	   *column;
	char	   *type;
	int			nullable;		/* -1: unchanged */
	char	   *check;			/* an expression over the new shape */
	OnlineReference *references;
	char	   *constraint_name;	/* of check or references */
	char	   *unique_name;	/* a new unique constraint */
	bool		has_default;
	char	   *default_expr;	/* NULL with has_default: drop it */
	bool		has_comment;
	char	   *comment;
	char	   *up;				/* expressions: over the old shape, */
	char	   *down;			/* ... over the new one */
	bool		drops;			/* made by a drop of a constraint on it: */
	Oid			dropped;		/* ... that one, not carried to the shadow */
	/* as online_shape left them */
	ShapeColumn *sc;			/* the column altered */
	List	   *ref_physical;	/* references: the referenced columns, */
	char	   *ref_relname;	/* ... and table, as they were when it came */
	/* complete */
	List	   *carried;		/* what the column carries (CarriedObject *) */
	List	   *referencing;	/* foreign keys that reference it
								 * (CarriedObject *) */
} AlterColumn;

/*
 * An index or constraint on the old column, that its shadow gets too; or
 * a foreign key that references the old column, whose copy references the
 * shadow.
 */
typedef struct CarriedObject
{
	char		kind;			/* 'i' index, 'u' unique constraint, 'p'
								 * primary key, 'f', 'c'; 'r' a foreign key
								 * that references the column */
	Oid			oid;
	char	   *name;
	char	   *temp_name;		/* of its copy on the shadow column */
	char	   *deferrable;		/* a unique constraint's DEFERRABLE clause */
	bool		replident;		/* an index: the table's replica identity */
	Oid			relid;			/* 'r': the referencing table, */
	AttrNumber	attnum;			/* ... and its column */
	bool		gone;			/* 'r': the copy without its original */
} CarriedObject;

static const char *const fields[] = {
	"schema", "table", "column", "type", "nullable", "check", "references",
	"unique", "default", "comment", "up", "down", NULL
};
static const char *const check_fields[] = {"name", "constraint", NULL};
static const char *const unique_fields[] = {"name", NULL};

/*
 * Does this alter_column need a shadow column?  Only a change of default
 * or comment alone does not: the values stay as they are.
 */
static bool
shadows(AlterColumn *d)
{
	return d->type != NULL || d->nullable >= 0 || d->check != NULL ||
		d->references != NULL || d->unique_name != NULL || d->drops;
}

static void
alter_column_parse(OnlineMigration *m, OnlineOp *op, JsonbContainer *body,
				   bool check_catalog)
{
	AlterColumn *d = palloc0(sizeof(AlterColumn));
	JsonbContainer *c;
	JsonbValue *v;

	op->data = d;
	op->table = doc_identifier(body, "table", true);
	d->column = doc_identifier(body, "column", true);
	d->type = doc_string(body, "type", false);
	if (d->type)
	{
		Oid			typid;
		int32		typmod;

		if (online_serial(d->type))
			op_error("type %s is for new tables", d->type);
		if (check_catalog)
			online_type(d->type, &typid, &typmod);
	}
	d->nullable = doc_field(body, "nullable") ? doc_bool(body, "nullable", true) : -1;
	if ((c = doc_object(body, "check", check_fields)) != NULL)
	{
		d->constraint_name = doc_identifier(c, "name", true);
		d->check = doc_string(c, "constraint", true);
		(void) online_expression(d->check, InvalidOid, InvalidOid, -1, NULL);
	}
	d->references = doc_reference(body, true, &d->constraint_name);
	if (d->check && d->references)
		op_error("one alter_column adds a check or a foreign key, not both");
	if ((c = doc_object(body, "unique", unique_fields)) != NULL)
		d->unique_name = doc_identifier(c, "name", true);
	v = getKeyJsonValueFromContainer(body, "default", strlen("default"), NULL);
	if (v != NULL)
	{
		d->has_default = true;
		d->default_expr = doc_string(body, "default", false);
		if (d->default_expr)
			(void) online_expression(d->default_expr, InvalidOid, InvalidOid, -1, NULL);
	}
	v = getKeyJsonValueFromContainer(body, "comment", strlen("comment"), NULL);
	if (v != NULL)
	{
		d->has_comment = true;
		d->comment = doc_string(body, "comment", false);
	}
	d->up = doc_expression(body, "up");
	d->down = doc_expression(body, "down");
	if (d->type == NULL && d->nullable < 0 && d->check == NULL &&
		d->references == NULL && d->unique_name == NULL &&
		!d->has_default && !d->has_comment)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("nothing to alter"),
				 errhint("Give type, nullable, check, references, unique, default or comment.")));
	if (!shadows(d) && (d->up || d->down))
		op_error("\"up\" and \"down\" need a change of type, nullability or constraints");
	if (strlen(d->column) > ONLINE_ADDED_NAME_MAX)
		op_error("name of altered column \"%s\" is longer than %d bytes",
				 d->column, ONLINE_ADDED_NAME_MAX);
}

/*
 * Why a column cannot be altered online (yet), or NULL: what migrate cannot
 * carry over to its shadow column (but the constraint dropped, if any); and
 * a foreign key that references the column through the unique constraint
 * dropped (its copy on the shadow would have no unique index to use).
 */
static char *
alter_refusal(Oid relid, const char *column, Oid dropped)
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
	if (att->attgenerated)
		why = "it is a generated column";
	ReleaseSysCache(tup);
	if (why)
		return why;
	if (online_in_partition_key(relid, column))
		return "it is part of the partition key";

	/* names in it resolve in pg_catalog, whoever registers and whatever path */
	nestlevel = online_pinned_path();
	SPI_connect();
	{
		Oid			argtypes[4] = {OIDOID, INT2OID, OIDOID, BOOLOID};

		/* before 18, a partitioned table takes no foreign key NOT VALID */
		Datum		values[4] = {ObjectIdGetDatum(relid), Int16GetDatum(attnum),
		ObjectIdGetDatum(dropped), BoolGetDatum(PG_VERSION_NUM < 180000)};

		/* not read-only: it must see what this transaction did */
		SPI_execute_with_args(
							  "SELECT why FROM ("
							  "SELECT 1 AS prio, CASE"
							  "  WHEN c.contype = 'x' THEN 'it is part of exclusion constraint ' || quote_ident(c.conname)"
							  "  WHEN c.confrelid = $1 AND $2 = ANY (c.confkey) AND cardinality(c.confkey) > 1"
							  "  THEN 'multi-column foreign key ' || quote_ident(c.conname) || ' of table ' ||"
							  "       c.conrelid::regclass || ' references it'"
							  "  WHEN c.confrelid = $1 AND $2 = ANY (c.confkey) THEN 'foreign key ' ||"
							  "       quote_ident(c.conname) || ' of partitioned table ' || c.conrelid::regclass ||"
							  "       ' references it'"
							  "  WHEN c.contype = 'p' THEN 'it is part of multi-column primary key ' || quote_ident(c.conname)"
							  "  WHEN c.contype = 'f' THEN 'it is part of multi-column foreign key ' || quote_ident(c.conname)"
							  "  ELSE 'it is part of multi-column constraint ' || quote_ident(c.conname) END AS why"
							  "  FROM pg_catalog.pg_constraint c"
							  " WHERE ((c.conrelid = $1 AND $2 = ANY (c.conkey)"
							  "         AND (c.contype = 'x' OR cardinality(c.conkey) > 1))"
							  "        OR (c.confrelid = $1 AND $2 = ANY (c.confkey)"
							  "            AND (cardinality(c.confkey) > 1 OR EXISTS ("
							  "                 SELECT FROM pg_catalog.pg_class r"
							  "                  WHERE r.oid = c.conrelid AND r.relkind = 'p'))))"
							  "   AND c.oid <> $3"
							  " UNION ALL "
							  "SELECT 1, 'foreign key ' || quote_ident(f.conname) || ' of table ' ||"
							  "       f.conrelid::regclass || ' references it through ' || quote_ident(k.conname)"
							  "  FROM pg_catalog.pg_constraint f JOIN pg_catalog.pg_constraint k ON k.oid = $3"
							  " WHERE f.contype = 'f' AND f.confrelid = $1 AND $2 = ANY (f.confkey)"
							  "   AND k.contype IN ('u', 'p') AND f.conindid = k.conindid"
							  " UNION ALL "
							  "SELECT 1, 'it has ' || CASE c.contype WHEN 'u' THEN 'unique constraint '"
							  "       ELSE 'foreign key ' END || quote_ident(c.conname) ||"
							  "       ', which cannot be carried over online on a partitioned table'"
							  "  FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class r ON r.oid = c.conrelid"
							  " WHERE c.conrelid = $1 AND $2 = ANY (c.conkey) AND r.relkind = 'p'"
							  "   AND (c.contype = 'u' OR (c.contype = 'f' AND $4))"
							  " UNION ALL "
							  "SELECT 1, 'the replica identity of partition ' || x.indrelid::regclass ||"
							  "       ' is index ' || quote_ident(i.relname) || ', which uses it'"
							  "  FROM pg_catalog.pg_partition_tree($1) p"
							  "  JOIN pg_catalog.pg_index x ON x.indrelid = p.relid AND x.indisreplident"
							  "  JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid"
							  " WHERE p.relid <> $1 AND EXISTS (SELECT FROM pg_catalog.pg_attribute a"
							  "        WHERE a.attrelid = x.indrelid AND a.attnum = ANY (x.indkey::pg_catalog.int2[])"
							  "          AND a.attname = (SELECT b.attname FROM pg_catalog.pg_attribute b"
							  "                            WHERE b.attrelid = $1 AND b.attnum = $2))"
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
							  4, argtypes, values, NULL, false, 1);
		if (SPI_processed > 0)
			why = MemoryContextStrdup(caller,
									  SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	}
	SPI_finish();
	online_path_end(nestlevel);
	return why;
}

/* A column's attidentity: '\0', or the kind of identity column it is. */
static char
attidentity(Oid relid, AttrNumber attnum)
{
	HeapTuple	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
	char		identity;

	if (!HeapTupleIsValid(tup))
		return '\0';
	identity = ((Form_pg_attribute) GETSTRUCT(tup))->attidentity;
	ReleaseSysCache(tup);
	return identity;
}

/* The name of migrate's copy of an index or constraint until complete. */
static char *
temp_name(char kind, const char *name, Oid oid)
{
	if (strlen(name) + strlen("_migrate_") < NAMEDATALEN)
		return psprintf("_migrate_%s", name);
	return psprintf("_migrate_%c%u", kind, oid);
}

/*
 * The foreign keys that reference a column (attnum of relid) alone, but
 * the clones of a partitioned table's on its partitions (refused anyway):
 * kind 'r', with the referencing table and column.
 */
static List *
referencing_keys(Oid relid, AttrNumber attnum)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			argtypes[2] = {OIDOID, INT2OID};
	Datum		values[2] = {ObjectIdGetDatum(relid), Int16GetDatum(attnum)};
	List	   *keys = NIL;
	int			nestlevel = online_pinned_path();

	SPI_connect();
	/* not read-only: it must see what this transaction did */
	if (SPI_execute_with_args("SELECT c.oid, c.conname, c.conrelid, c.conkey[1]"
							  "  FROM pg_catalog.pg_constraint c"
							  " WHERE c.contype = 'f' AND c.confrelid = $1"
							  "   AND c.confkey = ARRAY[$2] AND c.conparentid = 0"
							  " ORDER BY c.conrelid::pg_catalog.regclass::text, c.conname",
							  2, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the foreign keys that reference column %d of relation %u",
			 attnum, relid);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext old = MemoryContextSwitchTo(caller);
		CarriedObject *r = palloc0(sizeof(CarriedObject));
		bool		isnull;

		r->kind = 'r';
		r->oid = DatumGetObjectId(SPI_getbinval(row, desc, 1, &isnull));
		r->name = pstrdup(SPI_getvalue(row, desc, 2));
		r->temp_name = temp_name('f', r->name, r->oid);
		r->relid = DatumGetObjectId(SPI_getbinval(row, desc, 3, &isnull));
		r->attnum = DatumGetInt16(SPI_getbinval(row, desc, 4, &isnull));
		keys = lappend(keys, r);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	online_path_end(nestlevel);
	return keys;
}

/* The primary key that is the column alone, or NULL. */
static char *
primary_key_of(Oid relid, AttrNumber attnum)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			argtypes[2] = {OIDOID, INT2OID};
	Datum		values[2] = {ObjectIdGetDatum(relid), Int16GetDatum(attnum)};
	char	   *name = NULL;
	int			nestlevel = online_pinned_path();

	SPI_connect();
	if (SPI_execute_with_args("SELECT c.conname FROM pg_catalog.pg_constraint c"
							  " WHERE c.conrelid = $1 AND c.contype = 'p' AND c.conkey = ARRAY[$2]",
							  2, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the primary key of relation %u", relid);
	if (SPI_processed > 0)
		name = MemoryContextStrdup(caller, SPI_getvalue(SPI_tuptable->vals[0],
														SPI_tuptable->tupdesc, 1));
	SPI_finish();
	online_path_end(nestlevel);
	return name;
}

/* The sequence of an identity column. */
static Oid
identity_sequence(Oid relid, AttrNumber attnum)
{
	Oid			argtypes[2] = {OIDOID, INT2OID};
	Datum		values[2] = {ObjectIdGetDatum(relid), Int16GetDatum(attnum)};
	Oid			seq = InvalidOid;
	bool		isnull;
	int			nestlevel = online_pinned_path();

	SPI_connect();
	if (SPI_execute_with_args("SELECT d.objid FROM pg_catalog.pg_depend d"
							  "  JOIN pg_catalog.pg_class s ON s.oid = d.objid"
							  " WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass"
							  "   AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass"
							  "   AND d.refobjid = $1 AND d.refobjsubid = $2"
							  "   AND d.deptype = 'i' AND s.relkind = 'S'",
							  2, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the sequence of column %d of relation %u", attnum, relid);
	if (SPI_processed > 0)
		seq = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	online_path_end(nestlevel);
	if (!OidIsValid(seq))
		elog(ERROR, "identity column %d of relation %u has no sequence", attnum, relid);
	return seq;
}

/*
 * Can a foreign key column of type fktype reference a column of type pktype
 * (whose unique index has the type's default btree class)?  As the server
 * decides when it adds the foreign key: an equality operator of the class's
 * family between the two types, or implicit casts of both to its type.
 */
static bool
references_type(Oid pktype, Oid fktype)
{
	Oid			opclass = GetDefaultOpClass(pktype, BTREE_AM_OID);
	Oid			opfamily;
	Oid			opcintype;
	Oid			fktyped = getBaseType(fktype);
	Oid			input[2] = {pktype, fktype};
	Oid			target[2];

	if (!OidIsValid(opclass))
		return false;
	opfamily = get_opclass_family(opclass);
	opcintype = get_opclass_input_type(opclass);
	if (OidIsValid(get_opfamily_member(opfamily, opcintype, fktyped, BTEqualStrategyNumber)) &&
		OidIsValid(get_opfamily_member(opfamily, fktyped, fktyped, BTEqualStrategyNumber)))
		return true;
	target[0] = target[1] = opcintype;
	return can_coerce_type(2, input, target, COERCION_IMPLICIT);
}

/* Is a column of the table altered by an operation before this one? */
static bool
altered_before(ShapeState *s, Oid relid, AttrNumber attnum)
{
	ListCell   *lc;

	foreach(lc, s->tables)
	{
		ShapeTable *t = lfirst(lc);
		ListCell   *cc;

		if (t->relid != relid)
			continue;
		foreach(cc, t->columns)
		{
			ShapeColumn *c = lfirst(cc);

			if (c->replaced_by && c->old_name && get_attnum(relid, c->physical) == attnum)
				return true;
		}
	}
	return false;
}

/*
 * A key column and its foreign keys, across an alter_column of the column
 * (22023 otherwise): an identity column stays an integer, NOT NULL and
 * without a default; a primary key column stays NOT NULL; each foreign key
 * that references the column must be able to reference the new type; and
 * no foreign key between the column and another one may have both ends
 * altered by the migration (the copy of the one would reference the column
 * that the other replaces).  Which operation comes first does not matter:
 * the second one refuses.
 */
static void
keys_check(ShapeState *s, ShapeTable *t, ShapeColumn *c, AlterColumn *d)
{
	AttrNumber	attnum = get_attnum(t->relid, c->physical);
	char		identity = attidentity(t->relid, attnum);
	char	   *pkey;
	Oid			typid = get_atttype(t->relid, attnum);
	Oid			newtyp = typid;
	int32		newtypmod;
	Oid			argtypes[2] = {OIDOID, INT2OID};
	Datum		values[2] = {ObjectIdGetDatum(t->relid), Int16GetDatum(attnum)};
	ListCell   *lc;
	bool		both_ends = false;
	int			nestlevel;

	if (identity && d->has_default)
		op_error("column \"%s\" is an identity column: it takes no default", d->column);
	if (!shadows(d))
		return;
	if (d->type)
		online_type(d->type, &newtyp, &newtypmod);
	if (identity && newtyp != INT2OID && newtyp != INT4OID && newtyp != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("identity column \"%s\" cannot become of type %s",
						d->column, format_type_be(newtyp)),
				 errhint("An identity column is of type smallint, integer or bigint.")));
	pkey = primary_key_of(t->relid, attnum);
	if ((identity || pkey) && d->nullable == 1)
		op_error("column \"%s\" cannot be made nullable: it is %s", d->column,
				 pkey ? psprintf("primary key %s", quote_identifier(pkey)) : "an identity column");

	foreach(lc, referencing_keys(t->relid, attnum))
	{
		CarriedObject *r = lfirst(lc);
		Oid			fktype = get_atttype(r->relid, r->attnum);

		if (r->relid == t->relid && r->attnum == attnum)
			op_error("foreign key %s of table %s references its own column",
					 quote_identifier(r->name), online_rel_sql(r->relid));
		if (altered_before(s, r->relid, r->attnum))
			both_ends = true;
		else if (newtyp != typid && !references_type(newtyp, fktype))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("foreign key %s of table %s cannot reference type %s",
							quote_identifier(r->name), online_rel_sql(r->relid),
							format_type_be(newtyp)),
					 errdetail("Its column %s is of type %s.",
							   quote_identifier(get_attname(r->relid, r->attnum, false)),
							   format_type_be(fktype))));
	}

	/* the column's own foreign keys */
	nestlevel = online_pinned_path();
	SPI_connect();
	if (SPI_execute_with_args("SELECT c.confrelid, c.confkey[1] FROM pg_catalog.pg_constraint c"
							  " WHERE c.conrelid = $1 AND c.contype = 'f' AND c.conkey = ARRAY[$2]",
							  2, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the foreign keys of relation %u", t->relid);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			confrelid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
															   SPI_tuptable->tupdesc, 1, &isnull));
		AttrNumber	confkey = DatumGetInt16(SPI_getbinval(SPI_tuptable->vals[i],
														  SPI_tuptable->tupdesc, 2, &isnull));

		if (altered_before(s, confrelid, confkey))
			both_ends = true;
	}
	SPI_finish();
	online_path_end(nestlevel);
	if (both_ends)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" and a column an earlier operation alters are the ends of a foreign key",
						d->column),
				 errdetail("One migration alters one end of a foreign key, not both."),
				 errhint("Alter the referenced column in one migration, the referencing one in the next.")));
}

static void
alter_column_shape(ShapeState *s, OnlineOp *op)
{
	AlterColumn *d = op->data;
	ShapeTable *t = shape_open(s, op, false, NULL);
	ShapeColumn *c = shape_find_column(s, t, d->column, "table");
	ShapeColumn *nc;
	char	   *why;
	int			pos = 0;
	ListCell   *lc;

	if (c->added_by || c->altered_from)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" is added or altered by this migration", d->column),
				 errhint("Change it in the operation that adds or alters it.")));
	if (t->created)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table \"%s\" is created by this migration", op->table),
				 errhint("Define the column as it should be in create_table.")));
	if (d->constraint_name && !s->expanded &&
		OidIsValid(shape_constraint_oid(t->relid, d->constraint_name)))
		op_error("constraint \"%s\" of table \"%s\" already exists",
				 d->constraint_name, op->table);
	if (d->unique_name && !s->expanded &&
		(OidIsValid(get_relname_relid(d->unique_name, s->nsp)) ||
		 OidIsValid(shape_constraint_oid(t->relid, d->unique_name))))
		op_error("relation \"%s.%s\" already exists", s->m->schema, d->unique_name);
	if (d->unique_name && strlen(d->unique_name) > ONLINE_ADDED_NAME_MAX)
		op_error("name of unique constraint \"%s\" is longer than %d bytes",
				 d->unique_name, ONLINE_ADDED_NAME_MAX);
	if (d->references)
		d->ref_physical = shape_reference(s, d->references, &d->ref_relname);
	d->sc = c;
	if (!s->expanded)
	{
		online_refuse_partition(t->relid, op->table);
		if (d->unique_name)
			online_refuse_partitioned(t->relid, op->table, CONSTRAINT_UNIQUE);
		if (d->references)
			online_refuse_partitioned(t->relid, op->table, CONSTRAINT_FOREIGN);
	}
	if (shadows(d) && !s->expanded &&
		(why = alter_refusal(t->relid, c->physical, d->dropped)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" cannot be altered online", d->column),
				 errdetail("%c%s.", pg_toupper((unsigned char) why[0]), why + 1)));
	if (!s->expanded)
		keys_check(s, t, c, d);
	if (!shadows(d))
		return;

	/* the old column hides in the new shape; its shadow takes its place */
	nc = palloc0(sizeof(ShapeColumn));
	nc->name = c->name;
	nc->physical = online_shadow_name(c->physical);
	nc->added_by = op;
	nc->altered_from = c;
	/* up and down default to the column itself, cast */
	nc->up = d->up ? d->up : quote_identifier(c->old_name);
	/* an identity column draws for new-shape inserts too (the trigger) */
	nc->up_on_insert = attidentity(t->relid, get_attnum(t->relid, c->physical)) != '\0';
	c->hidden = true;
	c->dropped_by = op;
	c->replaced_by = nc;
	c->down = d->down ? d->down : quote_identifier(nc->name);
	foreach(lc, t->columns)
	{
		if (lfirst(lc) == c)
			pos = foreach_current_index(lc) + 1;
	}
	t->columns = list_insert_nth(t->columns, pos, nc);
	t->sync = t->backfill = true;
}

/* SPI text of row i, column n, or NULL. */
static char *
value(uint64 i, int n)
{
	return SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, n);
}

/*
 * What the old column has that its shadow must get too: indexes ('i'),
 * unique constraints ('u'), its primary key ('p'), foreign keys ('f') and
 * checks ('c') on it; not the constraint dropped, nor its index.
 */
static List *
carried_objects(ShapeTable *t, ShapeColumn *c, Oid dropped)
{
	MemoryContext caller = CurrentMemoryContext;
	AttrNumber	attnum = get_attnum(t->relid, c->physical);
	Oid			argtypes[3] = {OIDOID, INT2OID, OIDOID};
	Datum		values[3] = {ObjectIdGetDatum(t->relid), Int16GetDatum(attnum),
	ObjectIdGetDatum(dropped)};
	List	   *carried = NIL;
	int			nestlevel = online_pinned_path();

	SPI_connect();
	if (SPI_execute_with_args("SELECT coalesce(c.contype::text, 'i'),"
							  "       coalesce(c.oid, i.indexrelid), coalesce(c.conname, x.relname),"
							  "       CASE WHEN c.condeferred THEN ' DEFERRABLE INITIALLY DEFERRED'"
							  "            WHEN c.condeferrable THEN ' DEFERRABLE' ELSE '' END,"
							  "       i.indisreplident"
							  "  FROM pg_catalog.pg_index i"
							  "  JOIN pg_catalog.pg_class x ON x.oid = i.indexrelid"
							  "  LEFT JOIN pg_catalog.pg_constraint c"
							  "    ON c.conindid = i.indexrelid AND c.contype IN ('u', 'p')"
							  "   AND c.conrelid = i.indrelid"
							  " WHERE i.indrelid = $1 AND $2 = ANY (i.indkey::pg_catalog.int2[])"
							  "   AND x.relname !~ '^_migrate_' AND c.oid IS DISTINCT FROM $3"
							  " UNION ALL "
							  "SELECT c.contype::text, c.oid, c.conname, '', false FROM pg_catalog.pg_constraint c"
							  " WHERE c.conrelid = $1 AND c.conkey = ARRAY[$2] AND c.contype IN ('f', 'c')"
							  "   AND c.conname !~ '^_migrate_' AND c.oid <> $3"
							  " ORDER BY 3",
							  3, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
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
		o->replident = strcmp(value(i, 5), "t") == 0;
		/* its copy's name until complete: the original's, marked as migrate's */
		o->temp_name = temp_name(o->kind, o->name, o->oid);
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
 * The definition of a copy of an index on the shadow columns (what follows
 * the table in CREATE INDEX): the same method, key order, operator classes
 * and collations (on a shadow of another type, its defaults), INCLUDE
 * columns, NULLS NOT DISTINCT, storage parameters, tablespace and
 * predicate.  All of it is the catalog's own text; only the shadow
 * columns' names are migrate's.  *unique says whether it is unique.
 */
static char *
carried_index_definition(ShapeTable *t, Oid indexid, bool *unique)
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
							  "       i.indnullsnotdistinct"
							  "  FROM pg_catalog.pg_index i"
							  "  JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid"
							  "  JOIN pg_catalog.pg_am a ON a.oid = c.relam"
							  " WHERE i.indexrelid = $1",
							  1, argtypes, values, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read index %u", indexid);
	initStringInfo(&sql);
	*unique = strcmp(value(0, 1), "t") == 0;
	appendStringInfo(&sql, " USING %s (", quote_identifier(value(0, 2)));
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

/*
 * A foreign key's clause as the catalog has it, but from column to the
 * referenced table's refcolumn.
 */
static void
append_foreign_key(StringInfo sql, Form_pg_constraint con, const char *column,
				   Oid refrelid, const char *refcolumn)
{
	appendStringInfo(sql, "FOREIGN KEY (%s) REFERENCES %s (%s)%s ON UPDATE %s ON DELETE %s",
					 quote_identifier(column), online_rel_sql(refrelid),
					 quote_identifier(refcolumn),
					 con->confmatchtype == FKCONSTR_MATCH_FULL ? " MATCH FULL" : "",
					 action_sql(con->confupdtype), action_sql(con->confdeltype));
	if (con->condeferrable)
		appendStringInfo(sql, " DEFERRABLE INITIALLY %s",
						 con->condeferred ? "DEFERRED" : "IMMEDIATE");
}

/*
 * The statement that adds the copy of a foreign key of another table (or of
 * this one) that references the shadow column instead of the old one.
 */
static char *
referencing_copy_sql(CarriedObject *r, Oid relid, const char *shadow)
{
	HeapTuple	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(r->oid));
	StringInfoData sql;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for constraint %u", r->oid);
	initStringInfo(&sql);
	appendStringInfo(&sql, "ALTER TABLE %s ADD CONSTRAINT %s ", online_rel_sql(r->relid),
					 quote_identifier(r->temp_name));
	append_foreign_key(&sql, (Form_pg_constraint) GETSTRUCT(tup),
					   get_attname(r->relid, r->attnum, false), relid, shadow);
	appendStringInfoString(&sql, " NOT VALID");
	ReleaseSysCache(tup);
	return sql.data;
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

		append_foreign_key(&sql, con, shadow, con->confrelid,
						   get_attname(con->confrelid, refattnum, false));
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
static void
alter_column_start(OnlineMigration *m, OnlineOp *op, StringInfo steps)
{
	AlterColumn *d = op->data;
	ShapeTable *t = op->st;
	ShapeColumn *c = d->sc;
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

	if (!shadows(d))
		return;
	shadow = c->replaced_by->physical;
	get_atttypetypmodcoll(t->relid, attnum, &typid, &typmod, &collid);
	newtyp = typid;
	newtypmod = typmod;
	if (d->type)
		online_type(d->type, &newtyp, &newtypmod);

	initStringInfo(&sql);
	appendStringInfo(&sql, "ALTER TABLE %s ADD COLUMN %s %s", rel, quote_identifier(shadow),
					 format_type_with_typemod(newtyp, newtypmod));
	/* the type stays: so does its collation */
	if (newtyp == typid && OidIsValid(collid) && collid != get_typcollation(typid))
		appendStringInfo(&sql, " COLLATE %s", quote_identifier(get_collation_name(collid)));
	online_ddl(m, "alter_column", sql.data);

	if (d->has_default)
		def = d->default_expr ? online_default(d->default_expr, newtyp, newtypmod) : NULL;
	else
		def = carried_default(t->relid, attnum, newtyp, newtypmod);
	if (def)
		online_ddl(m, "alter_column", psprintf("ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s",
											   rel, quote_identifier(shadow), def));

	comment = d->has_comment ? d->comment : GetComment(t->relid, RelationRelationId, attnum);
	if (comment)
		online_ddl(m, "alter_column", psprintf("COMMENT ON COLUMN %s.%s IS %s", rel,
											   quote_identifier(shadow),
											   quote_literal_cstr(comment)));
}

/* A default alone: the new shape shows it at once. */
static void
view_default(OnlineMigration *m, OnlineOp *op)
{
	AlterColumn *d = op->data;
	ShapeTable *t = op->st;
	ShapeColumn *c = d->sc;
	char	   *view = online_qualified(m->vschema, t->name);
	Oid			typid;
	int32		typmod;
	Oid			collid;

	get_atttypetypmodcoll(t->relid, get_attnum(t->relid, c->physical), &typid, &typmod, &collid);
	if (d->default_expr)
		online_ddl(m, "alter_column", psprintf("ALTER VIEW %s ALTER COLUMN %s SET DEFAULT %s", view,
											   quote_identifier(c->name),
											   online_default(d->default_expr, typid, typmod)));
	else
		online_ddl(m, "alter_column", psprintf("ALTER VIEW %s ALTER COLUMN %s DROP DEFAULT", view,
											   quote_identifier(c->name)));
}

/*
 * alter_column at start, second pass (the views exist): NOT NULL, checks,
 * foreign keys and unique constraints on the shadow column, new and carried;
 * or a new default alone, on the view.
 */
static void
alter_column_start_views(OnlineMigration *m, OnlineOp *op, StringInfo steps)
{
	AlterColumn *d = op->data;
	ShapeTable *t = op->st;
	ShapeColumn *c = d->sc;
	char	   *rel = online_rel_sql(t->relid);
	AttrNumber	attnum = get_attnum(t->relid, c->physical);
	char	   *shadow;
	AttrNumber	shadow_attnum;
	bool		notnull;
	ListCell   *lc;

	if (!shadows(d))
	{
		if (d->has_default)
			view_default(m, op);
		return;
	}
	shadow = c->replaced_by->physical;
	shadow_attnum = get_attnum(t->relid, shadow);

	if (d->nullable >= 0)
		notnull = !d->nullable;
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
		char	   *check = online_check_name(c->physical);

		online_ddl(m, "alter_column",
				   psprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s IS NOT NULL) NOT VALID",
							rel, quote_identifier(check), quote_identifier(shadow)));
		online_add_validation(steps, t->relid, check);
	}

	foreach(lc, carried_objects(t, c, d->dropped))
	{
		CarriedObject *o = lfirst(lc);

		if (o->kind == 'i' || o->kind == 'u' || o->kind == 'p')
		{
			if (!carried_before(t, o->oid))
			{
				bool		unique;
				char	   *definition;

				definition = carried_index_definition(t, o->kind == 'i' ? o->oid :
													  get_constraint_index(o->oid), &unique);
				online_add_index(m, steps, t->relid, unique, o->temp_name, definition);
			}
		}
		else
		{
			online_ddl(m, "alter_column",
					   carried_constraint_sql(t, attnum, shadow_attnum, shadow, o));
			online_add_validation(steps, t->relid, o->temp_name);
		}
	}

	/*
	 * The foreign keys that reference the column: a copy of each references
	 * the shadow, once the job has built the shadow's unique index (above).
	 */
	foreach(lc, referencing_keys(t->relid, attnum))
	{
		CarriedObject *r = lfirst(lc);

		online_add_step(steps, referencing_copy_sql(r, t->relid, shadow));
		online_add_validation(steps, r->relid, r->temp_name);
	}

	if (d->check)
	{
		online_ddl(m, "alter_column",
				   psprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s) NOT VALID", rel,
							quote_identifier(d->constraint_name),
							online_mapped_expression(d->check, m, t, EXPR_KIND_CHECK_CONSTRAINT)));
		online_add_validation(steps, t->relid, d->constraint_name);
	}
	if (d->references)
	{
		online_ddl(m, "alter_column",
				   psprintf("ALTER TABLE %s ADD CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s (%s)"
							" ON UPDATE %s ON DELETE %s NOT VALID",
							rel, quote_identifier(d->constraint_name), quote_identifier(shadow),
							online_qualified(m->schema, d->ref_relname),
							quote_identifier(linitial(d->ref_physical)),
							d->references->on_update, d->references->on_delete));
		online_add_validation(steps, t->relid, d->constraint_name);
	}
	if (d->unique_name)
		online_add_index(m, steps, t->relid, true, online_shadow_name(d->unique_name),
						 psprintf(" (%s)", quote_identifier(shadow)));
}

/* Is the constraint validated? */
static bool
get_constraint_validated(Oid oid)
{
	HeapTuple	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(oid));
	bool		validated;

	if (!HeapTupleIsValid(tup))
		return false;
	validated = ((Form_pg_constraint) GETSTRUCT(tup))->convalidated;
	ReleaseSysCache(tup);
	return validated;
}

/*
 * The foreign keys that reference the column, with their copies that
 * reference the shadow: each must have a validated copy (one added since
 * the start has none: 55000).  A copy without its original (dropped since)
 * goes at complete.
 */
static List *
referencing_at_complete(OnlineMigration *m, ShapeTable *t, ShapeColumn *c)
{
	AttrNumber	shadow_attnum = get_attnum(t->relid, c->replaced_by->physical);
	List	   *keys = referencing_keys(t->relid, get_attnum(t->relid, c->physical));
	List	   *copies = shadow_attnum > 0 ? referencing_keys(t->relid, shadow_attnum) : NIL;
	List	   *matched = NIL;
	ListCell   *lc;

	foreach(lc, keys)
	{
		CarriedObject *r = lfirst(lc);
		CarriedObject *copy = NULL;
		ListCell   *cc;

		foreach(cc, copies)
		{
			CarriedObject *k = lfirst(cc);

			if (k->relid == r->relid && strcmp(k->name, r->temp_name) == 0)
				copy = k;
		}
		if (copy == NULL || !get_constraint_validated(copy->oid))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("online migration %s cannot be completed", m->version),
					 errdetail("Foreign key %s of table %s references column %s of table %s, and no validated copy of it references the column that replaces it: it was added after the migration started.",
							   quote_identifier(r->name), online_rel_sql(r->relid),
							   quote_identifier(c->physical), online_rel_sql(t->relid)),
					 errhint("Drop it and add it again once the migration is completed, or undo the migration with migrate_rollback().")));
		matched = lappend(matched, copy);
	}
	foreach(lc, copies)
	{
		CarriedObject *k = lfirst(lc);

		if (list_member_ptr(matched, k))
			continue;
		k->temp_name = k->name;
		k->oid = InvalidOid;
		keys = lappend(keys, k);
	}
	return keys;
}

/* What the column carries, before any operation's complete changes it. */
static void
alter_column_before_complete(OnlineMigration *m, OnlineOp *op)
{
	AlterColumn *d = op->data;

	if (!shadows(d))
		return;
	d->carried = carried_objects(op->st, d->sc, d->dropped);
	d->referencing = referencing_at_complete(m, op->st, d->sc);
}

/* An identity column's sequence, as complete hands it to the new column. */
typedef struct IdentityCarried
{
	char		kind;			/* ATTRIBUTE_IDENTITY_ALWAYS or _BY_DEFAULT */
	char	   *sequence;		/* its name, qualified */
	char	   *options;		/* for the new column's sequence */
	char	   *last_value;		/* where it stopped */
	bool		is_called;
	List	   *privileges;		/* its grants: what, */
	List	   *grantees;		/* ... to whom */
} IdentityCarried;

/*
 * The identity of the old column and the state of its sequence, read once
 * nextval can no longer draw from it: an ALTER SEQUENCE that changes
 * nothing takes a lock that nextval waits for, until the sequence is
 * dropped with the column.  The new column's sequence gets the same
 * options but for the bounds that were the old type's defaults (they
 * become the new type's).
 */
static IdentityCarried *
identity_read(OnlineMigration *m, Oid relid, AttrNumber attnum, Oid newtyp)
{
	IdentityCarried *ic = palloc0(sizeof(IdentityCarried));
	MemoryContext caller = CurrentMemoryContext;
	Oid			seq = identity_sequence(relid, attnum);
	HeapTuple	tup;
	Form_pg_sequence sf;
	int64		typmin;
	int64		typmax;
	StringInfoData options;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(seq)};
	int			nestlevel;

	ic->kind = attidentity(relid, attnum);
	ic->sequence = online_rel_sql(seq);
	tup = SearchSysCache1(SEQRELID, ObjectIdGetDatum(seq));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for sequence %u", seq);
	sf = (Form_pg_sequence) GETSTRUCT(tup);
	online_ddl(m, "complete", psprintf("ALTER SEQUENCE %s INCREMENT BY " INT64_FORMAT,
									   ic->sequence, sf->seqincrement));
	ReleaseSysCache(tup);

	tup = SearchSysCache1(SEQRELID, ObjectIdGetDatum(seq));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for sequence %u", seq);
	sf = (Form_pg_sequence) GETSTRUCT(tup);
	typmin = sf->seqtypid == INT2OID ? PG_INT16_MIN : sf->seqtypid == INT4OID ? PG_INT32_MIN : PG_INT64_MIN;
	typmax = sf->seqtypid == INT2OID ? PG_INT16_MAX : sf->seqtypid == INT4OID ? PG_INT32_MAX : PG_INT64_MAX;
	initStringInfo(&options);
	appendStringInfo(&options, " START WITH " INT64_FORMAT " INCREMENT BY " INT64_FORMAT,
					 sf->seqstart, sf->seqincrement);
	if (sf->seqtypid == newtyp || sf->seqmin != (sf->seqincrement > 0 ? 1 : typmin))
		appendStringInfo(&options, " MINVALUE " INT64_FORMAT, sf->seqmin);
	if (sf->seqtypid == newtyp || sf->seqmax != (sf->seqincrement > 0 ? typmax : -1))
		appendStringInfo(&options, " MAXVALUE " INT64_FORMAT, sf->seqmax);
	appendStringInfo(&options, " CACHE " INT64_FORMAT "%s", sf->seqcache,
					 sf->seqcycle ? " CYCLE" : " NO CYCLE");
	ic->options = options.data;
	ReleaseSysCache(tup);

	nestlevel = online_pinned_path();
	SPI_connect();
	if (SPI_execute(psprintf("SELECT last_value, is_called FROM %s", ic->sequence),
					false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read sequence %s", ic->sequence);
	ic->last_value = MemoryContextStrdup(caller, value(0, 1));
	ic->is_called = strcmp(value(0, 2), "t") == 0;
	if (SPI_execute_with_args("SELECT a.privilege_type,"
							  "       coalesce(pg_catalog.quote_ident(r.rolname), 'PUBLIC')"
							  "  FROM pg_catalog.pg_class c"
							  " CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) a"
							  "  LEFT JOIN pg_catalog.pg_roles r ON r.oid = a.grantee"
							  " WHERE c.oid = $1 AND a.grantee <> c.relowner ORDER BY 1, 2",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the grants of sequence %s", ic->sequence);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(caller);

		ic->privileges = lappend(ic->privileges, pstrdup(value(i, 1)));
		ic->grantees = lappend(ic->grantees, pstrdup(value(i, 2)));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	online_path_end(nestlevel);
	return ic;
}

/*
 * The new column becomes the identity column, of the same kind, its
 * sequence under the old one's name (dropped with the old column), going
 * on where the old one stopped, with its grants.
 */
static void
identity_carry(OnlineMigration *m, const char *rel, const char *column, IdentityCarried *ic)
{
	ListCell   *lc;
	ListCell   *gc;

	online_ddl(m, "complete",
			   psprintf("ALTER TABLE %s ALTER COLUMN %s ADD GENERATED %s AS IDENTITY (SEQUENCE NAME %s%s)",
						rel, column, ic->kind == ATTRIBUTE_IDENTITY_ALWAYS ? "ALWAYS" : "BY DEFAULT",
						ic->sequence, ic->options));
	online_ddl(m, "complete",
			   psprintf("SELECT pg_catalog.setval(%s::pg_catalog.regclass, %s, %s)",
						quote_literal_cstr(ic->sequence), ic->last_value,
						ic->is_called ? "true" : "false"));
	forboth(lc, ic->privileges, gc, ic->grantees)
	{
		online_ddl(m, "complete", psprintf("GRANT %s ON SEQUENCE %s TO %s",
										   (char *) lfirst(lc), ic->sequence,
										   (char *) lfirst(gc)));
	}
}

/*
 * alter_column at complete: the old column goes, the shadow and all on it
 * take its place and names.
 */
static void
alter_column_complete(OnlineMigration *m, OnlineOp *op)
{
	AlterColumn *d = op->data;
	ShapeTable *t = op->st;
	char	   *rel = online_rel_sql(t->relid);
	const char *column = quote_identifier(d->column);
	ShapeColumn *c = d->sc;
	IdentityCarried *identity = NULL;
	ListCell   *lc;

	if (!shadows(d))
	{
		if (d->has_default && d->default_expr)
		{
			Oid			typid;
			int32		typmod;
			Oid			collid;

			get_atttypetypmodcoll(t->relid, get_attnum(t->relid, d->column),
								  &typid, &typmod, &collid);
			online_ddl(m, "complete", psprintf("ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s",
											   rel, column,
											   online_default(d->default_expr, typid, typmod)));
		}
		else if (d->has_default)
			online_ddl(m, "complete", psprintf("ALTER TABLE %s ALTER COLUMN %s DROP DEFAULT",
											   rel, column));
		if (d->has_comment)
			online_ddl(m, "complete", psprintf("COMMENT ON COLUMN %s.%s IS %s", rel, column,
											   d->comment ? quote_literal_cstr(d->comment) : "NULL"));
		return;
	}

	/* the foreign keys that reference the old column make way for copies */
	foreach(lc, d->referencing)
	{
		CarriedObject *r = lfirst(lc);

		r->gone = !OidIsValid(r->oid) ||
			!SearchSysCacheExists1(CONSTROID, ObjectIdGetDatum(r->oid));
		if (!r->gone)
			online_ddl(m, "complete", psprintf("ALTER TABLE %s DROP CONSTRAINT %s",
											   online_rel_sql(r->relid),
											   quote_identifier(r->name)));
	}

	/* an identity column's sequence goes with it: what its successor needs */
	if (attidentity(t->relid, get_attnum(t->relid, d->column)))
		identity = identity_read(m, t->relid, get_attnum(t->relid, d->column),
								 get_atttype(t->relid,
											 get_attnum(t->relid, c->replaced_by->physical)));

	online_ddl(m, "complete", psprintf("ALTER TABLE %s DROP COLUMN %s", rel, column));
	online_ddl(m, "complete", psprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", rel,
									   quote_identifier(online_shadow_name(c->physical)),
									   column));
	online_rename_index_columns(m, t->relid, online_shadow_name(c->physical), d->column);
	if (OidIsValid(get_relation_constraint_oid(t->relid, online_check_name(c->physical), true)))
	{
		/* the validated check spares SET NOT NULL its scan */
		online_validate_partitioned(m, t->relid, online_check_name(c->physical));
		online_ddl(m, "complete", psprintf("ALTER TABLE %s ALTER COLUMN %s SET NOT NULL", rel, column));
		online_ddl(m, "complete", psprintf("ALTER TABLE %s DROP CONSTRAINT %s", rel,
										   quote_identifier(online_check_name(c->physical))));
	}
	foreach(lc, d->carried)
	{
		CarriedObject *o = lfirst(lc);

		if ((o->kind == 'i' || o->kind == 'u' || o->kind == 'p') && carried_before(t, o->oid))
			continue;
		if (o->kind == 'i')
			online_ddl(m, "complete", psprintf("ALTER INDEX %s RENAME TO %s",
											   online_qualified(m->schema, o->temp_name),
											   quote_identifier(o->name)));
		else if (o->kind == 'u' || o->kind == 'p')
			/* NOT NULL is set: a primary key needs no scan either */
			online_ddl(m, "complete", psprintf("ALTER TABLE %s ADD CONSTRAINT %s %s USING INDEX %s%s",
											   rel, quote_identifier(o->name),
											   o->kind == 'p' ? "PRIMARY KEY" : "UNIQUE",
											   quote_identifier(o->temp_name), o->deferrable));
		else
		{
			online_ddl(m, "complete", psprintf("ALTER TABLE %s RENAME CONSTRAINT %s TO %s", rel,
											   quote_identifier(o->temp_name),
											   quote_identifier(o->name)));
			if (o->kind == 'c')
				online_validate_partitioned(m, t->relid, o->name);
		}
		if (o->replident)
			online_ddl(m, "complete", psprintf("ALTER TABLE %s REPLICA IDENTITY USING INDEX %s",
											   rel, quote_identifier(o->name)));
	}
	if (d->check)
		online_validate_partitioned(m, t->relid, d->constraint_name);
	if (identity)
		identity_carry(m, rel, column, identity);
	if (d->unique_name)
		online_ddl(m, "complete", psprintf("ALTER TABLE %s ADD CONSTRAINT %s UNIQUE USING INDEX %s",
										   rel, quote_identifier(d->unique_name),
										   quote_identifier(online_shadow_name(d->unique_name))));

	/*
	 * The copies of the foreign keys that reference the column take their
	 * names; a copy whose original was dropped since the start (by an earlier
	 * operation of this migration too) goes.
	 */
	foreach(lc, d->referencing)
	{
		CarriedObject *r = lfirst(lc);
		char	   *referencing;

		if (get_rel_name(r->relid) == NULL ||
			!OidIsValid(get_relation_constraint_oid(r->relid, r->temp_name, true)))
			continue;
		referencing = online_rel_sql(r->relid);
		if (r->gone)
			online_ddl(m, "complete", psprintf("ALTER TABLE %s DROP CONSTRAINT %s", referencing,
											   quote_identifier(r->temp_name)));
		else
			online_ddl(m, "complete", psprintf("ALTER TABLE %s RENAME CONSTRAINT %s TO %s",
											   referencing, quote_identifier(r->temp_name),
											   quote_identifier(r->name)));
	}
}

/*
 * The shadow column goes; its constraints and indexes go with it, and
 * before it the foreign keys that reference it (the copies the job added).
 */
static void
alter_column_rollback(OnlineMigration *m, OnlineOp *op)
{
	AlterColumn *d = op->data;
	char	   *table = online_op_rel_sql(op);
	AttrNumber	shadow_attnum;
	ListCell   *lc;

	if (!shadows(d) || table == NULL)
		return;
	shadow_attnum = get_attnum(op->st->relid, d->sc->replaced_by->physical);
	if (shadow_attnum != InvalidAttrNumber)
	{
		foreach(lc, referencing_keys(op->st->relid, shadow_attnum))
		{
			CarriedObject *r = lfirst(lc);

			online_ddl(m, "rollback", psprintf("ALTER TABLE %s DROP CONSTRAINT %s",
											   online_rel_sql(r->relid),
											   quote_identifier(r->name)));
		}
	}
	online_ddl(m, "rollback", psprintf("ALTER TABLE %s DROP COLUMN IF EXISTS %s", table,
									   quote_identifier(d->sc->replaced_by->physical)));
}

/* listed in ops.c; declared first for -Wmissing-variable-declarations (18) */
extern const OnlineOpMethods online_op_alter_column;

const OnlineOpMethods online_op_alter_column = {
	.name = "alter_column",
	.fields = fields,
	.parse = alter_column_parse,
	.shape = alter_column_shape,
	.start = alter_column_start,
	.start_views = alter_column_start_views,
	.before_complete = alter_column_before_complete,
	.complete = alter_column_complete,
	.rollback = alter_column_rollback,
};

/*
 * The alter_column of one column of a constraint that drop_constraint (with
 * up and down) or drop_multicolumn_constraint drops for the new shape at
 * start: a shadow column with all the old one carries but that constraint
 * (dropped; InvalidOid when it is gone, rolling back), filled with up and
 * down.  Its shape is applied; op is the dropping operation.
 */
OnlineOp *
online_alter_dropping(ShapeState *s, OnlineOp *op, const char *column,
					  const char *up, const char *down, Oid dropped)
{
	OnlineOp   *a = palloc0(sizeof(OnlineOp));
	AlterColumn *d = palloc0(sizeof(AlterColumn));

	if (strlen(column) > ONLINE_ADDED_NAME_MAX)
		op_error("name of column \"%s\" is longer than %d bytes: its shadow column's name would not fit",
				 column, ONLINE_ADDED_NAME_MAX);
	a->index = op->index;
	a->methods = &online_op_alter_column;
	a->table = op->table;
	a->data = d;
	d->column = pstrdup(column);
	d->nullable = -1;
	d->up = up ? pstrdup(up) : NULL;
	d->down = down ? pstrdup(down) : NULL;
	d->drops = true;
	d->dropped = dropped;
	alter_column_shape(s, a);
	return a;
}
