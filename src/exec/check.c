/*-------------------------------------------------------------------------
 *
 * check.c
 *	  migrate_check: safety analysis of migration SQL against the live
 *	  catalog, and its use when a migration is registered (migrate.check).
 *
 * The SQL is parsed by the server's own parser and every statement walked.
 * What makes a statement dangerous is mostly the table it touches: a table
 * created earlier in the same migration is empty and unseen by anyone, so
 * nothing done to it matters; a table of a few rows is rewritten in no
 * time; a large one (migrate.large_table_rows, from pg_class) is not.  So
 * findings about locks and rewrites are errors on large tables, notes on
 * small or unknown ones, and nothing on new ones; findings about what
 * breaks running code, or about types, do not depend on size.  The live
 * catalog also answers whether a NOT NULL is already backed by a validated
 * check, whether a type change is binary coercible, whether an index
 * exists, and who holds a lock the statement would wait for.
 *
 * A comment "-- migrate:allow RULE" before a statement suppresses that
 * rule for it; an allow that suppresses nothing is reported itself.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "commands/defrem.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_expr.h"
#include "parser/parse_node.h"
#include "parser/parse_type.h"
#include "parser/scanner.h"
#include "utils/guc.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "base/base.h"
#include "catalog/migrate_catalog.h"
#include "exec/migrate_exec.h"

PG_FUNCTION_INFO_V1(migrate_check);

typedef struct Finding
{
	const char *severity;		/* "error", "warning", "info" */
	const char *rule;
	int			statement;
	char	   *message;
	char	   *hint;
} Finding;

typedef struct Allow
{
	char	   *rule;
	bool		used;
} Allow;

/* What the walk knows so far. */
typedef struct CheckState
{
	List	   *findings;		/* Finding * */
	List	   *created;		/* tables created earlier: "schema.name" or
								 * "name" */
	List	   *validated_not_null; /* "table.column" with a validated check */
	List	   *not_valid_checks;	/* "table.constraint" -> column, see below */
	List	   *allows;			/* of the current statement */
	int			statement;
	bool		in_transaction_block;
	bool		lock_timeout_set;
} CheckState;

/* The table a statement works on, as the catalog knows it. */
typedef struct TableInfo
{
	char	   *name;
	Oid			relid;
	bool		created;		/* earlier in this migration */
	double		rows;
	bool		estimated;		/* never analyzed: rows guessed from bytes */
	int64		bytes;
} TableInfo;

static void
report(CheckState *st, const char *severity, const char *rule, char *message,
	   char *hint)
{
	ListCell   *lc;
	Finding    *f;

	foreach(lc, st->allows)
	{
		Allow	   *a = lfirst(lc);

		if (strcmp(a->rule, rule) == 0)
		{
			a->used = true;
			return;
		}
	}
	f = palloc0(sizeof(Finding));
	f->severity = severity;
	f->rule = rule;
	f->statement = st->statement;
	f->message = message;
	f->hint = hint;
	st->findings = lappend(st->findings, f);
}

static char *
rangevar_name(RangeVar *rv)
{
	return rv->schemaname ? psprintf("%s.%s", rv->schemaname, rv->relname) : pstrdup(rv->relname);
}

static bool
was_created(CheckState *st, RangeVar *rv)
{
	ListCell   *lc;

	foreach(lc, st->created)
	{
		char	   *c = lfirst(lc);

		if (strcmp(c, rangevar_name(rv)) == 0 || strcmp(c, rv->relname) == 0)
			return true;
	}
	return false;
}

static TableInfo *
table_info(CheckState *st, RangeVar *rv)
{
	TableInfo  *t = palloc0(sizeof(TableInfo));

	t->name = rangevar_name(rv);
	t->created = was_created(st, rv);
	if (t->created)
		return t;
	t->relid = RangeVarGetRelid(rv, NoLock, true);
	if (OidIsValid(t->relid))
	{
		HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(t->relid));
		int32		relpages = 0;

		if (HeapTupleIsValid(tup))
		{
			Form_pg_class cls = (Form_pg_class) GETSTRUCT(tup);

			t->rows = cls->reltuples;
			relpages = cls->relpages;
			ReleaseSysCache(tup);
		}

		/*
		 * Its size now, if that needs no wait: a check must not queue behind
		 * the very lock it may report.  Else the size at the last VACUUM or
		 * ANALYZE.
		 */
		if (ConditionalLockRelationOid(t->relid, AccessShareLock))
		{
			t->bytes = DatumGetInt64(DirectFunctionCall2(pg_relation_size,
														 ObjectIdGetDatum(t->relid),
														 CStringGetTextDatum("main")));
			UnlockRelationOid(t->relid, AccessShareLock);
		}
		else
			t->bytes = (int64) relpages * BLCKSZ;
		/* never analyzed: guess from its size (about 100 bytes a row) */
		if (t->rows < 0)
		{
			t->rows = t->bytes / 100;
			t->estimated = true;
		}
	}
	return t;
}

static bool
is_large(TableInfo *t)
{
	return OidIsValid(t->relid) && t->rows >= migrate_large_table_rows;
}

/* "table orders (about 1200000 rows, 85 MB)" and friends. */
static char *
describe(TableInfo *t)
{
	if (t->created)
		return psprintf("table %s (created earlier in this migration)", t->name);
	if (!OidIsValid(t->relid))
		return psprintf("table %s (not found: its size is unknown)", t->name);
	if (t->estimated)
		return psprintf("table %s (%s, not analyzed yet)", t->name,
						text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty,
																		   Int64GetDatum(t->bytes)))));
	return psprintf("table %s (about %.0f rows, %s)", t->name, t->rows,
					text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty,
																	   Int64GetDatum(t->bytes)))));
}

/*
 * A statement that blocks the table (or rewrites it) while it works: an
 * error on a large table, a note on a small or unknown one, nothing on a
 * table this migration created.
 */
static void
report_blocking(CheckState *st, TableInfo *t, const char *rule, const char *what,
				char *hint)
{
	if (t->created)
		return;
	report(st, is_large(t) ? "error" : "info", rule,
		   psprintf("%s %s%s", what, describe(t),
					is_large(t) ? "" : OidIsValid(t->relid) ? ": small enough now" : ""),
		   hint);
}

/* Another session's lock that the statement would queue behind. */
static void
report_blockers(CheckState *st, TableInfo *t)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	int			nestlevel;

	if (t->created || !OidIsValid(t->relid))
		return;
	values[0] = ObjectIdGetDatum(t->relid);
	SPI_connect();
	nestlevel = catalog_path_pin();
	if (SPI_execute_with_args("SELECT l.pid, l.mode, a.state,"
							  "       pg_catalog.floor(extract(epoch FROM pg_catalog.now() - a.xact_start))::bigint"
							  "  FROM pg_catalog.pg_locks l"
							  "  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid"
							  " WHERE l.locktype = 'relation' AND l.relation = $1 AND l.granted"
							  "   AND l.pid <> pg_catalog.pg_backend_pid()"
							  " ORDER BY a.xact_start LIMIT 1",
							  1, argtypes, values, NULL, true, 1) == SPI_OK_SELECT &&
		SPI_processed > 0)
	{
		char	   *pid = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		char	   *mode = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		char	   *state = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
		char	   *age = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4);
		MemoryContext old = MemoryContextSwitchTo(CurTransactionContext);

		report(st, "warning", "blocked-by-lock",
			   psprintf("%s is locked right now: process %s holds %s (%s, transaction open for %s s)",
						describe(t), pid, mode, state ? state : "?", age ? age : "?"),
			   pstrdup("The statement would wait for it, and everything queued behind the statement with it."));
		MemoryContextSwitchTo(old);
	}
	catalog_path_unpin(nestlevel);
	SPI_finish();
}

/* A statement that takes ACCESS EXCLUSIVE: who is in the way, and the timeout. */
static void
access_exclusive(CheckState *st, TableInfo *t)
{
	report_blockers(st, t);
	if (!t->created && OidIsValid(t->relid) && migrate_lock_timeout == 0 &&
		!st->lock_timeout_set)
		report(st, "warning", "missing-lock-timeout",
			   psprintf("ACCESS EXCLUSIVE lock on %s without a lock timeout", describe(t)),
			   pstrdup("Set migrate.lock_timeout (it is 0), or SET lock_timeout first: a statement waiting for the lock blocks every query queued behind it."));
}


/* The type a TypeName denotes, or InvalidOid (serial types are not types). */
static Oid
type_of(TypeName *tn, int32 *typmod)
{
	Type		typ = LookupTypeName(NULL, tn, typmod, true);
	Oid			oid;

	if (typ == NULL)
		return InvalidOid;
	oid = typeTypeId(typ);
	ReleaseSysCache(typ);
	return oid;
}

static char *
type_name_text(TypeName *tn)
{
	return strVal(llast(tn->names));
}

/* json, timestamp without time zone: types with better alternatives. */
static void
check_column_type(CheckState *st, TypeName *tn, const char *column, const char *table)
{
	int32		typmod;
	Oid			typid = type_of(tn, &typmod);

	if (typid == JSONOID)
		report(st, "warning", "prefer-jsonb",
			   psprintf("column %s of %s is json", column, table),
			   pstrdup("jsonb can be indexed and compared, and is what json is usually meant to be."));
	else if (typid == TIMESTAMPOID)
		report(st, "warning", "prefer-timestamptz",
			   psprintf("column %s of %s is timestamp without time zone", column, table),
			   pstrdup("timestamptz stores an instant; timestamp a wall-clock reading whose zone is lost."));
}

/* An int (or serial) primary key runs out at 2^31. */
static void
check_int_pk(CheckState *st, TypeName *tn, const char *column, const char *table)
{
	int32		typmod;
	Oid			typid = type_of(tn, &typmod);
	const char *name = type_name_text(tn);

	if (typid == INT4OID || typid == INT2OID || strcmp(name, "serial") == 0 ||
		strcmp(name, "serial4") == 0 || strcmp(name, "smallserial") == 0 ||
		strcmp(name, "serial2") == 0)
		report(st, "warning", "prefer-bigint-pk",
			   psprintf("primary key %s of %s is %s", column, table,
						OidIsValid(typid) ? format_type_be(typid) : name),
			   pstrdup("Use bigint (or bigserial, or an identity bigint): changing the type of a key later rewrites the table and everything that references it."));
}

/* A default expression, and whether it is volatile, for default_is_volatile. */
typedef struct DefaultProbe
{
	Node	   *raw;
	bool		is_volatile;
} DefaultProbe;

static void
probe_default(void *arg)
{
	DefaultProbe *probe = (DefaultProbe *) arg;
	ParseState *pstate = make_parsestate(NULL);
	Node	   *expr = transformExpr(pstate, copyObject(probe->raw), EXPR_KIND_COLUMN_DEFAULT);

	probe->is_volatile = contain_volatile_functions(expr);
}

/*
 * Is this default expression volatile (adding the column rewrites)?  It is
 * analysed like a column default; one that does not analyse is no rewrite.
 */
static bool
default_is_volatile(Node *raw)
{
	DefaultProbe probe = {raw, false};
	ErrorData  *edata = subxact_run(probe_default, &probe);

	if (edata)
	{
		FreeErrorData(edata);
		return false;
	}
	return probe.is_volatile;
}

/* The table-level primary key constraints of a CREATE TABLE. */
static void
check_create(CheckState *st, CreateStmt *stmt)
{
	char	   *table = rangevar_name(stmt->relation);
	ListCell   *lc;

	foreach(lc, stmt->tableElts)
	{
		Node	   *elt = lfirst(lc);

		if (IsA(elt, ColumnDef))
		{
			ColumnDef  *col = (ColumnDef *) elt;
			ListCell   *cc;

			check_column_type(st, col->typeName, col->colname, table);
			foreach(cc, col->constraints)
			{
				Constraint *con = lfirst(cc);

				if (con->contype == CONSTR_PRIMARY)
					check_int_pk(st, col->typeName, col->colname, table);
			}
		}
		else if (IsA(elt, Constraint))
		{
			Constraint *con = (Constraint *) elt;

			if (con->contype == CONSTR_PRIMARY && list_length(con->keys) == 1)
			{
				ListCell   *kc;

				foreach(kc, stmt->tableElts)
				{
					if (IsA(lfirst(kc), ColumnDef) &&
						strcmp(((ColumnDef *) lfirst(kc))->colname, strVal(linitial(con->keys))) == 0)
						check_int_pk(st, ((ColumnDef *) lfirst(kc))->typeName,
									 strVal(linitial(con->keys)), table);
				}
			}
		}
	}
	st->created = lappend(st->created, table);
}

/* Does the live table have a validated CHECK (column IS NOT NULL)? */
static bool
has_not_null_check(CheckState *st, TableInfo *t, const char *column)
{
	ListCell   *lc;
	bool		found = false;

	foreach(lc, st->validated_not_null)
	{
		if (strcmp(lfirst(lc), psprintf("%s.%s", t->name, column)) == 0)
			return true;
	}
	if (!OidIsValid(t->relid))
		return false;
	SPI_connect();
	{
		Oid			argtypes[2] = {OIDOID, TEXTOID};
		Datum		values[2] = {ObjectIdGetDatum(t->relid), CStringGetTextDatum(column)};
		int			nestlevel = catalog_path_pin();

		if (SPI_execute_with_args("SELECT 1 FROM pg_catalog.pg_constraint c"
								  "  JOIN pg_catalog.pg_attribute a"
								  "    ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]"
								  " WHERE c.conrelid = $1 AND c.contype = 'c' AND c.convalidated"
								  "   AND pg_catalog.cardinality(c.conkey) = 1 AND a.attname = $2"
								  "   AND pg_catalog.pg_get_constraintdef(c.oid) ="
								  "       'CHECK ((' || pg_catalog.quote_ident($2) || ' IS NOT NULL))'",
								  2, argtypes, values, NULL, true, 1) == SPI_OK_SELECT)
			found = SPI_processed > 0;
		catalog_path_unpin(nestlevel);
	}
	SPI_finish();
	return found;
}

/* "column IS NOT NULL" as a raw expression: the column, or NULL. */
static char *
not_null_column(Node *expr)
{
	NullTest   *nt;

	if (expr == NULL || !IsA(expr, NullTest))
		return NULL;
	nt = (NullTest *) expr;
	if (nt->nulltesttype != IS_NOT_NULL || !IsA(nt->arg, ColumnRef) ||
		list_length(((ColumnRef *) nt->arg)->fields) != 1 ||
		!IsA(linitial(((ColumnRef *) nt->arg)->fields), String))
		return NULL;
	return strVal(linitial(((ColumnRef *) nt->arg)->fields));
}

/* A type change rewrites the table unless the catalog says it need not. */
static void
check_type_change(CheckState *st, TableInfo *t, const char *column, ColumnDef *def)
{
	AttrNumber	attnum;
	Oid			oldtyp;
	int32		oldmod;
	Oid			collid;
	Oid			newtyp;
	int32		newmod;

	if (t->created)
		return;
	newtyp = type_of(def->typeName, &newmod);
	attnum = OidIsValid(t->relid) ? get_attnum(t->relid, column) : InvalidAttrNumber;
	if (attnum <= 0 || !OidIsValid(newtyp))
	{
		report_blocking(st, t, "table-rewrite",
						psprintf("changing the type of column %s rewrites", column),
						pstrdup("Add a column of the new type, backfill it, and switch over (an online migration's alter_column does that)."));
		return;
	}
	get_atttypetypmodcoll(t->relid, attnum, &oldtyp, &oldmod, &collid);
	if (def->raw_default == NULL &&
		((oldtyp == newtyp && (oldtyp == VARCHAROID || oldtyp == BPCHAROID ? false : true) &&
		  (newmod == -1 || newmod == oldmod)) ||
		 (oldtyp == VARCHAROID && newtyp == VARCHAROID && oldmod != -1 &&
		  (newmod == -1 || newmod >= oldmod)) ||
		 (oldtyp == VARCHAROID && newtyp == TEXTOID) ||
		 (oldtyp == TEXTOID && newtyp == VARCHAROID && newmod == -1)))
		return;					/* binary coercible, no narrowing: no rewrite */
	if (oldtyp == VARCHAROID && newtyp == VARCHAROID && newmod != -1 &&
		(oldmod == -1 || newmod < oldmod))
		report(st, OidIsValid(t->relid) && t->rows > 0 ? "error" : "info", "varchar-narrowing",
			   psprintf("column %s of %s narrows from %s to %s: every row is checked, under an ACCESS EXCLUSIVE lock, and the statement fails on a longer value",
						column, describe(t), format_type_with_typemod(oldtyp, oldmod),
						format_type_with_typemod(newtyp, newmod)),
			   pstrdup("Add a CHECK (length(column) <= n) NOT VALID and validate it instead."));
	else
		report_blocking(st, t, "table-rewrite",
						psprintf("changing column %s from %s to %s rewrites", column,
								 format_type_with_typemod(oldtyp, oldmod),
								 format_type_with_typemod(newtyp, newmod)),
						pstrdup("Add a column of the new type, backfill it, and switch over (an online migration's alter_column does that)."));
}

static void
check_add_column(CheckState *st, TableInfo *t, ColumnDef *col)
{
	ListCell   *lc;
	bool		not_null = col->is_not_null;
	Node	   *def = col->raw_default;
	bool		generated = false;
	bool		identity = false;
	const char *tname = type_name_text(col->typeName);

	check_column_type(st, col->typeName, col->colname, t->name);
	foreach(lc, col->constraints)
	{
		Constraint *con = lfirst(lc);

		if (con->contype == CONSTR_NOTNULL)
			not_null = true;
		else if (con->contype == CONSTR_DEFAULT)
			def = con->raw_expr;
		else if (con->contype == CONSTR_GENERATED)
			generated = true;
		else if (con->contype == CONSTR_IDENTITY)
			identity = true;
		else if ((con->contype == CONSTR_CHECK || con->contype == CONSTR_FOREIGN) &&
				 !con->skip_validation && def != NULL)
			report_blocking(st, t, "constraint-not-valid",
							psprintf("the %s on new column %s is validated against every row of",
									 con->contype == CONSTR_CHECK ? "CHECK" : "foreign key", col->colname),
							pstrdup("Add the column, then the constraint NOT VALID, then VALIDATE CONSTRAINT."));
		else if (con->contype == CONSTR_PRIMARY || con->contype == CONSTR_UNIQUE)
			report_blocking(st, t, "unique-in-place",
							psprintf("the %s on new column %s builds its index while locking",
									 con->contype == CONSTR_PRIMARY ? "primary key" : "unique constraint",
									 col->colname),
							pstrdup("Add the column, CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX."));
	}

	if (generated || identity ||
		(def && default_is_volatile(def)) ||
		strncmp(tname, "serial", 6) == 0 || strcmp(tname, "bigserial") == 0 ||
		strcmp(tname, "smallserial") == 0)
		report_blocking(st, t, "table-rewrite",
						psprintf("adding column %s with %s rewrites", col->colname,
								 generated ? "a stored generated value" :
								 identity ? "an identity" : "a volatile default"),
						pstrdup("Add the column without a default, set the default, then backfill the existing rows in batches."));
	if (not_null && def == NULL && !generated && !identity && !t->created)
	{
		if (OidIsValid(t->relid) && t->rows <= 0)
			report(st, "info", "add-column-not-null-no-default",
				   psprintf("column %s is added NOT NULL without a default to %s: works while it is empty",
							col->colname, describe(t)),
				   pstrdup("Give it a default, or add it nullable, backfill it, and set NOT NULL once a validated check backs it."));
		else
			report(st, OidIsValid(t->relid) ? "error" : "warning", "add-column-not-null-no-default",
				   psprintf("column %s is added NOT NULL without a default to %s: the statement fails on its existing rows",
							col->colname, describe(t)),
				   pstrdup("Give it a default, or add it nullable, backfill it, and set NOT NULL once a validated check backs it."));
	}
}

static void
check_alter_table(CheckState *st, AlterTableStmt *stmt)
{
	TableInfo  *t;
	ListCell   *lc;
	bool		exclusive = false;

	if (stmt->objtype != OBJECT_TABLE)
		return;
	t = table_info(st, stmt->relation);
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst(lc);

		switch (cmd->subtype)
		{
			case AT_AddColumn:
				check_add_column(st, t, (ColumnDef *) cmd->def);
				exclusive = true;
				break;
			case AT_AlterColumnType:
				check_type_change(st, t, cmd->name, (ColumnDef *) cmd->def);
				exclusive = true;
				break;
			case AT_SetNotNull:
				if (!t->created && !has_not_null_check(st, t, cmd->name))
					report_blocking(st, t, "not-null-without-check",
									psprintf("SET NOT NULL on column %s scans every row, under an ACCESS EXCLUSIVE lock, of",
											 cmd->name),
									pstrdup("First ADD CONSTRAINT ... CHECK (column IS NOT NULL) NOT VALID and VALIDATE CONSTRAINT it: SET NOT NULL then skips the scan."));
				exclusive = true;
				break;
			case AT_AddConstraint:
				{
					Constraint *con = (Constraint *) cmd->def;

					if ((con->contype == CONSTR_CHECK || con->contype == CONSTR_FOREIGN) &&
						!con->skip_validation)
						report_blocking(st, t, "constraint-not-valid",
										psprintf("%s %s is validated against every row, while writes wait, of",
												 con->contype == CONSTR_CHECK ? "CHECK" : "foreign key",
												 con->conname ? con->conname : "(unnamed)"),
										pstrdup("Add it NOT VALID, then VALIDATE CONSTRAINT in a later statement: validation does not block writes."));
					else if ((con->contype == CONSTR_PRIMARY || con->contype == CONSTR_UNIQUE) &&
							 con->indexname == NULL)
						report_blocking(st, t, "unique-in-place",
										psprintf("the %s builds its index while writes wait, on",
												 con->contype == CONSTR_PRIMARY ? "primary key" : "unique constraint"),
										pstrdup("CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... USING INDEX."));
					/* a check that will back a NOT NULL once validated */
					if (con->contype == CONSTR_CHECK && con->conname && not_null_column(con->raw_expr))
					{
						if (con->skip_validation)
							st->not_valid_checks = lappend(st->not_valid_checks,
														   psprintf("%s.%s\n%s", t->name, con->conname,
																	not_null_column(con->raw_expr)));
						else
							st->validated_not_null = lappend(st->validated_not_null,
															 psprintf("%s.%s", t->name, not_null_column(con->raw_expr)));
					}
					exclusive = true;
					break;
				}
			case AT_ValidateConstraint:
				{
					ListCell   *cc;
					char	   *key = psprintf("%s.%s\n", t->name, cmd->name);

					foreach(cc, st->not_valid_checks)
					{
						if (strncmp(lfirst(cc), key, strlen(key)) == 0)
							st->validated_not_null = lappend(st->validated_not_null,
															 psprintf("%s.%s", t->name,
																	  (char *) lfirst(cc) + strlen(key)));
					}
					break;
				}
			case AT_DropColumn:
				if (!t->created)
					report(st, "warning", "drop-column",
						   psprintf("column %s of %s is dropped: running code that uses it breaks",
									cmd->name, describe(t)),
						   pstrdup("Stop using it in the application first (or use an online migration's drop_column)."));
				exclusive = true;
				break;
			case AT_SetLogged:
			case AT_SetUnLogged:
				report_blocking(st, t, "table-rewrite",
								psprintf("SET %s rewrites", cmd->subtype == AT_SetLogged ? "LOGGED" : "UNLOGGED"),
								pstrdup("Create a new table and copy the rows in batches instead."));
				exclusive = true;
				break;
			default:
				exclusive = true;
				break;
		}
	}
	if (exclusive)
		access_exclusive(st, t);
}

/* Is there already an index on exactly these columns? */
static char *
equivalent_index(TableInfo *t, IndexStmt *stmt)
{
	StringInfoData cols;
	ListCell   *lc;
	char	   *found = NULL;
	MemoryContext caller = CurrentMemoryContext;

	if (!OidIsValid(t->relid) || stmt->whereClause || stmt->indexIncludingParams)
		return NULL;
	initStringInfo(&cols);
	foreach(lc, stmt->indexParams)
	{
		IndexElem  *e = lfirst(lc);

		if (e->name == NULL)
			return NULL;
		appendStringInfo(&cols, "%s%s", cols.len > 0 ? "," : "", e->name);
	}
	SPI_connect();
	{
		Oid			argtypes[2] = {OIDOID, TEXTOID};
		Datum		values[2] = {ObjectIdGetDatum(t->relid), CStringGetTextDatum(cols.data)};

		if (SPI_execute_with_args("SELECT i.indexrelid::regclass::text FROM pg_catalog.pg_index i"
								  " WHERE i.indrelid = $1 AND i.indpred IS NULL AND i.indexprs IS NULL"
								  "   AND (SELECT pg_catalog.string_agg(a.attname, ',' ORDER BY k.n)"
								  "          FROM pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY k(attnum, n)"
								  "          JOIN pg_catalog.pg_attribute a"
								  "            ON a.attrelid = i.indrelid AND a.attnum = k.attnum) = $2"
								  " LIMIT 1",
								  2, argtypes, values, NULL, true, 1) == SPI_OK_SELECT &&
			SPI_processed > 0)
			found = MemoryContextStrdup(caller, SPI_getvalue(SPI_tuptable->vals[0],
															 SPI_tuptable->tupdesc, 1));
	}
	SPI_finish();
	return found;
}

/*
 * Transactions that hold a snapshot and have been open for more than a
 * second: a concurrent build waits for every one of them to end.
 */
static void
report_long_transactions(CheckState *st)
{
	SPI_connect();
	if (SPI_execute("SELECT pg_catalog.count(*),"
					"       pg_catalog.max(pg_catalog.floor(extract(epoch FROM pg_catalog.now() - xact_start)))::bigint"
					"  FROM pg_catalog.pg_stat_activity"
					" WHERE datname = pg_catalog.current_database() AND pid <> pg_catalog.pg_backend_pid()"
					"   AND backend_xmin IS NOT NULL AND backend_type = 'client backend'"
					"   AND xact_start < pg_catalog.now() - interval '1 second'",
					true, 1) == SPI_OK_SELECT &&
		strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "0") != 0)
	{
		char	   *n = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		char	   *age = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		MemoryContext old = MemoryContextSwitchTo(CurTransactionContext);

		report(st, "warning", "long-transaction",
			   strcmp(n, "1") == 0
			   ? psprintf("1 transaction of this database holds a snapshot (open for %s s): a concurrent build waits for it to end",
						  age)
			   : psprintf("%s transactions of this database hold a snapshot (the oldest open for %s s): a concurrent build waits for them to end",
						  n, age),
			   pstrdup(strcmp(n, "1") == 0
					   ? "Let it end first, or expect the build to take that long."
					   : "Let them end first, or expect the build to take that long."));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
}

static void
check_index(CheckState *st, IndexStmt *stmt)
{
	TableInfo  *t = table_info(st, stmt->relation);
	char	   *existing;

	if (stmt->concurrent)
	{
		if (st->in_transaction_block)
			report(st, "error", "concurrently-in-transaction",
				   psprintf("CREATE INDEX CONCURRENTLY on %s inside a transaction block fails", describe(t)),
				   pstrdup("Run it on its own, as a non-transactional migration."));
		else if (!t->created)
			report_long_transactions(st);
	}
	else
	{
		report_blocking(st, t, "index-not-concurrently",
						"CREATE INDEX blocks writes while it builds, on",
						pstrdup("Use CREATE INDEX CONCURRENTLY, in a non-transactional migration."));
		report_blockers(st, t);
	}
	if (!t->created && (existing = equivalent_index(t, stmt)) != NULL &&
		(stmt->idxname == NULL || strcmp(existing, stmt->idxname) != 0))
		report(st, "info", "duplicate-index",
			   psprintf("%s already has index %s on the same columns", describe(t), existing),
			   NULL);
}

static void
check_drop(CheckState *st, DropStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->objects)
	{
		RangeVar   *rv;

		if (stmt->removeType != OBJECT_TABLE && stmt->removeType != OBJECT_INDEX)
			return;
		rv = makeRangeVarFromNameList(lfirst(lc));
		if (stmt->removeType == OBJECT_TABLE)
		{
			TableInfo  *t = table_info(st, rv);

			if (!t->created)
			{
				report(st, "warning", "drop-table",
					   psprintf("%s is dropped: running code that uses it breaks", describe(t)),
					   pstrdup("Stop using it in the application first (or use an online migration's drop_table)."));
				access_exclusive(st, t);
			}
		}
		else if (!stmt->concurrent)
		{
			Oid			idx = RangeVarGetRelid(rv, NoLock, true);
			Oid			relid;
			char	   *relname;
			char	   *nspname;
			TableInfo  *t;

			if (!OidIsValid(idx) || get_rel_relkind(idx) != RELKIND_INDEX)
				continue;

			/*
			 * No lock is taken: the index or its table may be dropped
			 * meanwhile, and then there is nothing to report.
			 */
			relid = IndexGetRelation(idx, true);
			if (!OidIsValid(relid))
				continue;
			relname = get_rel_name(relid);
			nspname = get_namespace_name(get_rel_namespace(relid));
			if (relname == NULL || nspname == NULL)
				continue;
			t = table_info(st, makeRangeVar(nspname, relname, -1));
			report_blocking(st, t, "index-not-concurrently",
							psprintf("DROP INDEX %s takes an ACCESS EXCLUSIVE lock on", rv->relname),
							pstrdup("Use DROP INDEX CONCURRENTLY, in a non-transactional migration."));
			access_exclusive(st, t);
		}
	}
}

static void
check_rename(CheckState *st, RenameStmt *stmt)
{
	TableInfo  *t;

	if (stmt->renameType != OBJECT_COLUMN && stmt->renameType != OBJECT_TABLE)
		return;
	t = table_info(st, stmt->relation);
	if (t->created)
		return;
	if (stmt->renameType == OBJECT_COLUMN)
		report(st, "warning", "rename-column",
			   psprintf("column %s of %s is renamed to %s: running code that uses the old name breaks",
						stmt->subname, describe(t), stmt->newname),
			   pstrdup("Use an online migration's rename_column: old and new code work side by side."));
	else
		report(st, "warning", "rename-table",
			   psprintf("%s is renamed to %s: running code that uses the old name breaks",
						describe(t), stmt->newname),
			   pstrdup("Use an online migration's rename_table: old and new code work side by side."));
	access_exclusive(st, t);
}

static void
check_statement(CheckState *st, Node *stmt)
{
	switch (nodeTag(stmt))
	{
		case T_CreateStmt:
			check_create(st, (CreateStmt *) stmt);
			break;
		case T_AlterTableStmt:
			check_alter_table(st, (AlterTableStmt *) stmt);
			break;
		case T_IndexStmt:
			check_index(st, (IndexStmt *) stmt);
			break;
		case T_DropStmt:
			check_drop(st, (DropStmt *) stmt);
			break;
		case T_RenameStmt:
			check_rename(st, (RenameStmt *) stmt);
			break;
		case T_VacuumStmt:
			{
				VacuumStmt *vac = (VacuumStmt *) stmt;
				ListCell   *lc;
				bool		full = false;

				foreach(lc, vac->options)
				{
					if (strcmp(((DefElem *) lfirst(lc))->defname, "full") == 0)
						full = defGetBoolean(lfirst(lc));
				}
				if (!full)
					break;
				if (vac->rels == NIL)
					report(st, "error", "vacuum-full",
						   pstrdup("VACUUM FULL rewrites every table of the database, each under an ACCESS EXCLUSIVE lock"),
						   pstrdup("Use pg_repack or pg_squeeze, or plain VACUUM."));
				foreach(lc, vac->rels)
				{
					TableInfo  *t = table_info(st, ((VacuumRelation *) lfirst(lc))->relation);

					report_blocking(st, t, "vacuum-full", "VACUUM FULL rewrites, under an ACCESS EXCLUSIVE lock,",
									pstrdup("Use pg_repack or pg_squeeze, or plain VACUUM."));
					access_exclusive(st, t);
				}
				break;
			}
		case T_ClusterStmt:
			{
				ClusterStmt *cl = (ClusterStmt *) stmt;

				if (cl->relation == NULL)
					report(st, "error", "cluster",
						   pstrdup("CLUSTER rewrites every clustered table of the database under ACCESS EXCLUSIVE locks"),
						   pstrdup("Use pg_repack or pg_squeeze."));
				else
				{
					TableInfo  *t = table_info(st, cl->relation);

					report_blocking(st, t, "cluster", "CLUSTER rewrites, under an ACCESS EXCLUSIVE lock,",
									pstrdup("Use pg_repack or pg_squeeze."));
					access_exclusive(st, t);
				}
				break;
			}
		case T_TruncateStmt:
			{
				TruncateStmt *tr = (TruncateStmt *) stmt;

				if (tr->behavior == DROP_CASCADE)
					report(st, "warning", "truncate-cascade",
						   pstrdup("TRUNCATE ... CASCADE also empties every table with a foreign key to these, and theirs"),
						   pstrdup("Name every table to empty."));
				break;
			}
		case T_AlterEnumStmt:
			if (((AlterEnumStmt *) stmt)->oldVal == NULL)
				report(st, "info", "enum-add-value",
					   psprintf("enum value \"%s\" is added: it cannot be used before this transaction commits",
								((AlterEnumStmt *) stmt)->newVal),
					   pstrdup("Use the new value in a later migration."));
			break;
		case T_AlterDomainStmt:
			{
				AlterDomainStmt *ad = (AlterDomainStmt *) stmt;

				if (ad->subtype == 'C' && ad->def && IsA(ad->def, Constraint) &&
					!((Constraint *) ad->def)->skip_validation)
					report(st, "warning", "domain-add-constraint",
						   pstrdup("ALTER DOMAIN ... ADD CONSTRAINT checks every column of the domain in every table, locking them"),
						   pstrdup("Add it NOT VALID, then ALTER DOMAIN ... VALIDATE CONSTRAINT."));
				break;
			}
		case T_VariableSetStmt:
			{
				VariableSetStmt *set = (VariableSetStmt *) stmt;

				if (set->name && strcmp(set->name, "lock_timeout") == 0)
					st->lock_timeout_set = set->kind == VAR_SET_VALUE;
				break;
			}
		case T_TransactionStmt:
			{
				TransactionStmt *tx = (TransactionStmt *) stmt;

				if (tx->kind == TRANS_STMT_BEGIN || tx->kind == TRANS_STMT_START)
					st->in_transaction_block = true;
				else if (tx->kind == TRANS_STMT_COMMIT || tx->kind == TRANS_STMT_ROLLBACK)
					st->in_transaction_block = false;
				break;
			}
		default:
			break;
	}
}

/* The "-- migrate:allow RULE" comments in a statement's text (before it). */
static List *
parse_allows(const char *str, int len)
{
	List	   *allows = NIL;
	const char *marker = "migrate:allow";
	const char *p = str;
	const char *end = len > 0 ? str + len : str + strlen(str);

	while (p < end && (p = strstr(p, "--")) != NULL && p < end)
	{
		const char *q = p + 2;

		while (*q == ' ' || *q == '\t')
			q++;
		if (strncmp(q, marker, strlen(marker)) == 0)
		{
			q += strlen(marker);
			while (*q == ' ' || *q == '\t')
				q++;
			{
				const char *r = q;
				Allow	   *a;

				while ((*r >= 'a' && *r <= 'z') || *r == '-' || (*r >= '0' && *r <= '9'))
					r++;
				if (r > q)
				{
					a = palloc0(sizeof(Allow));
					a->rule = pnstrdup(q, r - q);
					allows = lappend(allows, a);
				}
			}
		}
		p = q;
	}
	return allows;
}

/*
 * The scanner's token for an identifier.  Its number is the grammar's, and
 * the grammar's header (parser/gram.h) is not installed from 17 on, so the
 * scanner is asked once, with a name that is no keyword.
 */
static int
ident_token(void)
{
	static int	token = -1;

	if (token < 0)
	{
		core_yyscan_t scanner;
		core_yy_extra_type yyextra;
		core_YYSTYPE yylval;
		YYLTYPE		yylloc;

		scanner = scanner_init("migrate_identifier", &yyextra, &ScanKeywords,
							   ScanKeywordTokens);
		token = core_yylex(&yylval, &yylloc, scanner);
		scanner_finish(scanner);
	}
	return token;
}

/*
 * Identifiers over 63 bytes: the parser hands them over truncated, so they
 * are found by scanning the text, with the server's own scanner.
 */
static List *
long_identifiers(const char *sql, List *raw)
{
	core_yyscan_t scanner;
	core_yy_extra_type yyextra;
	core_YYSTYPE yylval;
	YYLTYPE		yylloc;
	int			ident = ident_token();
	int			nestlevel = NewGUCNestLevel();
	List	   *found = NIL;

	/* the parser already said it truncates them: once is enough */
	(void) set_config_option("client_min_messages", "warning", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	scanner = scanner_init(sql, &yyextra, &ScanKeywords, ScanKeywordTokens);
	for (;;)
	{
		int			tok = core_yylex(&yylval, &yylloc, scanner);
		const char *p;
		int			len = 0;

		if (tok == 0)
			break;
		if (tok != ident)
			continue;
		p = sql + yylloc;
		if (*p == '"')
		{
			for (p++; *p && !(*p == '"' && p[1] != '"'); p++, len++)
				if (*p == '"')
					p++;
		}
		else
			while (isalnum((unsigned char) *p) || *p == '_' || *p == '$' ||
				   IS_HIGHBIT_SET(*p))
				p++, len++;
		if (len >= NAMEDATALEN)
		{
			Finding    *f = palloc0(sizeof(Finding));
			ListCell   *lc;

			foreach(lc, raw)
			{
				RawStmt    *rs = lfirst_node(RawStmt, lc);

				if (yylloc >= rs->stmt_location)
					f->statement = foreach_current_index(lc) + 1;
			}
			f->severity = "error";
			f->rule = "identifier-too-long";
			f->message = psprintf("identifier \"%s\" is %d bytes long: PostgreSQL truncates it to %d",
								  pnstrdup(sql + yylloc + (sql[yylloc] == '"'), len), len,
								  NAMEDATALEN - 1);
			f->hint = pstrdup("Use a name of at most 63 bytes: two names that differ only after it are the same name.");
			found = lappend(found, f);
		}
	}
	scanner_finish(scanner);
	AtEOXact_GUC(true, nestlevel);
	return found;
}

/* All the findings for a migration's SQL. */
static List *
check_sql(const char *sql)
{
	CheckState	st = {0};
	List	   *raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	ListCell   *lc;

	List	   *long_names = long_identifiers(sql, raw);
	int			from = 0;		/* where the previous statement ended */

	foreach(lc, raw)
	{
		RawStmt    *rs = lfirst_node(RawStmt, lc);
		ListCell   *ac;
		int			end = rs->stmt_len > 0 ? rs->stmt_location + rs->stmt_len
		: (int) strlen(sql);

		st.statement++;

		/*
		 * Its allows are in the comments between the previous statement and
		 * its end: from 18 on, stmt_location skips the comments before it.
		 */
		st.allows = parse_allows(sql + from, Max(end - from, 1));
		from = end;
		foreach(ac, long_names)
		{
			Finding    *f = lfirst(ac);

			if (f->statement == st.statement)
				report(&st, f->severity, f->rule, f->message, f->hint);
		}
		check_statement(&st, rs->stmt);
		foreach(ac, st.allows)
		{
			Allow	   *a = lfirst(ac);

			if (!a->used)
			{
				Finding    *f = palloc0(sizeof(Finding));

				f->severity = "warning";
				f->rule = "unused-allow";
				f->statement = st.statement;
				f->message = psprintf("\"-- migrate:allow %s\" suppresses nothing in this statement",
									  a->rule);
				f->hint = pstrdup("Remove it, or fix the rule's name.");
				st.findings = lappend(st.findings, f);
			}
		}
	}
	return st.findings;
}

/*
 * migrate_check(sql text)
 *		RETURNS TABLE(severity text, rule text, statement integer,
 *					  message text, hint text)
 */
Datum
migrate_check(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *sql;
	ListCell   *lc;

	sql_version_check();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sql must not be NULL")));
	sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, check_sql(sql))
	{
		Finding    *f = lfirst(lc);
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		values[0] = CStringGetTextDatum(f->severity);
		values[1] = CStringGetTextDatum(f->rule);
		values[2] = Int32GetDatum(f->statement);
		values[3] = CStringGetTextDatum(f->message);
		values[4] = f->hint ? CStringGetTextDatum(f->hint) : (Datum) 0;
		nulls[4] = f->hint == NULL;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * For migrate_plan: the findings of each of the n statements of sql, as
 * an array of n lists of "<severity> <rule>: <message>" strings.
 */
List	  **
check_statement_findings(const char *sql, int n)
{
	List	  **found = palloc0(sizeof(List *) * Max(n, 1));
	ListCell   *lc;

	foreach(lc, check_sql(sql))
	{
		Finding    *f = lfirst(lc);

		/* a finding before the first statement (none so far) is the first's */
		if (f->statement > n)
			continue;
		found[Max(f->statement, 1) - 1] =
			lappend(found[Max(f->statement, 1) - 1],
					psprintf("%s %s: %s", f->severity, f->rule, f->message));
	}
	return found;
}

/*
 * At registration (migrate.check_level): the findings of severity warning or
 * error become NOTICEs, or (error) refuse the migration with MG005.
 */
void
check_at_registration(const char *what, const char *sql)
{
	StringInfoData detail;
	ListCell   *lc;
	int			n = 0;
	int			mode = migrate_check_mode();

	if (mode == MIGRATE_CHECK_OFF)
		return;
	initStringInfo(&detail);
	foreach(lc, check_sql(sql))
	{
		Finding    *f = lfirst(lc);

		if (strcmp(f->severity, "info") == 0)
			continue;
		n++;
		if (mode == MIGRATE_CHECK_WARN)
			ereport(NOTICE,
					(errcode(ERRCODE_WARNING),
					 errmsg("%s, statement %d: %s [%s]", what, f->statement,
							f->message, f->rule),
					 f->hint ? errhint("%s", f->hint) : 0));
		else
			appendStringInfo(&detail, "%sstatement %d: %s: %s [%s]", n > 1 ? "\n" : "",
							 f->statement, f->severity, f->message, f->rule);
	}
	if (mode == MIGRATE_CHECK_ERROR && n > 0)
		ereport(ERROR,
				(errcode(ERRCODE_MIGRATE_CHECK_REFUSED),
				 errmsg_plural("%s is refused by migrate_check: %d finding",
							   "%s is refused by migrate_check: %d findings",
							   n, what, n),
				 errdetail("%s", detail.data),
				 errhint("Fix them, suppress one with a \"-- migrate:allow RULE\" comment before its statement, or SET migrate.check_level = warn.")));
}
