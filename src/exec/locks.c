/*-------------------------------------------------------------------------
 *
 * locks.c
 *	  The table locks a migration statement takes, read off its raw parse
 *	  tree, for migrate_plan.
 *
 * Nothing is executed and nothing is locked: relations are looked up by
 * name only (NoLock), with the caller's search_path, as the statement
 * would resolve them.  A relation that exists now is named with its
 * schema; one that does not (created earlier in the same migration, or
 * misspelt) is named as written.
 *
 * The modes are those the server takes.  Each case says where its mode
 * comes from: "probed" means it was read from pg_locks on a PostgreSQL 15
 * server, inside a transaction that ran the statement (or, for statements
 * that cannot run in one, from the mode the statement waited for behind a
 * conflicting lock); "source" names the function of the server that takes
 * it.  Only the strongest lock of a statement on a relation is listed, and
 * ACCESS SHARE (reading) is not: it conflicts with ACCESS EXCLUSIVE only.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "commands/defrem.h"
#include "commands/tablecmds.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "storage/lockdefs.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "base/base.h"
#include "catalog/migrate_catalog.h"
#include "exec/migrate_exec.h"

/* PostgreSQL's names of the lock modes, as its documentation writes them */
static const char *const lock_mode_names[] = {
	"",
	"ACCESS SHARE",				/* AccessShareLock */
	"ROW SHARE",				/* RowShareLock */
	"ROW EXCLUSIVE",			/* RowExclusiveLock */
	"SHARE UPDATE EXCLUSIVE",	/* ShareUpdateExclusiveLock */
	"SHARE",					/* ShareLock */
	"SHARE ROW EXCLUSIVE",		/* ShareRowExclusiveLock */
	"EXCLUSIVE",				/* ExclusiveLock */
	"ACCESS EXCLUSIVE"			/* AccessExclusiveLock */
};

typedef struct LockEntry
{
	LOCKMODE	mode;
	char	   *relation;
} LockEntry;

typedef struct LockList
{
	List	   *locks;			/* LockEntry *, in the order found */
} LockList;

static void
add_lock(LockList *ll, LOCKMODE mode, const char *relation)
{
	LockEntry  *e;
	ListCell   *lc;

	if (mode <= NoLock || mode > AccessExclusiveLock || relation == NULL)
		return;
	/* quadratic: a statement naming thousands of tables can be cancelled */
	CHECK_FOR_INTERRUPTS();
	foreach(lc, ll->locks)
	{
		e = lfirst(lc);
		if (e->mode == mode && strcmp(e->relation, relation) == 0)
			return;
	}
	e = palloc(sizeof(LockEntry));
	e->mode = mode;
	e->relation = pstrdup(relation);
	ll->locks = lappend(ll->locks, e);
}

/*
 * Does holding "stronger" block everything "weaker" blocks?  A lock mode of
 * a higher number conflicts with a superset of what a lower one conflicts
 * with, except SHARE: it does not conflict with SHARE, which both ROW
 * EXCLUSIVE and SHARE UPDATE EXCLUSIVE conflict with.
 */
static bool
lock_covers(LOCKMODE stronger, LOCKMODE weaker)
{
	if (stronger == ShareLock && (weaker == RowExclusiveLock ||
								  weaker == ShareUpdateExclusiveLock))
		return false;
	return stronger > weaker;
}

/*
 * A relation by its OID: schema-qualified, quoted where needed.  NULL when
 * it is gone: nothing is locked, so a concurrent DROP may have removed it
 * since it was looked up.
 */
static char *
relation_by_oid(Oid relid)
{
	char	   *relname = get_rel_name(relid);
	char	   *nspname = get_namespace_name(get_rel_namespace(relid));

	if (relname == NULL || nspname == NULL)
		return NULL;
	return quote_qualified_identifier(nspname, relname);
}

/* The relation a RangeVar names now (InvalidOid: none), and its name. */
static char *
relation_name(RangeVar *rv, Oid *relid)
{
	Oid			oid = RangeVarGetRelid(rv, NoLock, true);
	char	   *name = OidIsValid(oid) ? relation_by_oid(oid) : NULL;

	if (relid)
		*relid = name ? oid : InvalidOid;
	if (name)
		return name;
	return rv->schemaname ? quote_qualified_identifier(rv->schemaname, rv->relname) :
		pstrdup(quote_identifier(rv->relname));
}

static Oid
add_rangevar(LockList *ll, LOCKMODE mode, RangeVar *rv)
{
	Oid			relid;
	char	   *name = relation_name(rv, &relid);

	add_lock(ll, mode, name);
	return relid;
}

/*
 * Relations found by a catalog query whose $1 is an OID (and $2, if used, a
 * boolean), each as a schema-qualified name, all locked in mode.
 */
static void
add_query(LockList *ll, LOCKMODE mode, const char *sql, Oid relid, bool flag)
{
	Oid			argtypes[2] = {OIDOID, BOOLOID};
	Datum		values[2] = {ObjectIdGetDatum(relid), BoolGetDatum(flag)};
	MemoryContext caller = CurrentMemoryContext;
	List	   *found = NIL;
	int			nestlevel;
	ListCell   *lc;

	if (!OidIsValid(relid))
		return;
	SPI_connect();
	nestlevel = catalog_path_pin();
	if (SPI_execute_with_args(sql, 2, argtypes, values, NULL, true, 0) == SPI_OK_SELECT)
	{
		for (uint64 i = 0; i < SPI_processed; i++)
			found = lappend(found,
							MemoryContextStrdup(caller,
												SPI_getvalue(SPI_tuptable->vals[i],
															 SPI_tuptable->tupdesc, 1)));
	}
	catalog_path_unpin(nestlevel);
	SPI_finish();
	foreach(lc, found)
	{
		add_lock(ll, mode, lfirst(lc));
	}
}

#define QUALIFIED_NAME \
	"SELECT pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.'" \
	"       OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname)" \
	"  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"

/* The indexes of a table. */
static void
add_indexes(LockList *ll, LOCKMODE mode, Oid relid)
{
	add_query(ll, mode,
			  QUALIFIED_NAME
			  " WHERE c.oid IN (SELECT i.indexrelid FROM pg_catalog.pg_index i WHERE i.indrelid = $1)"
			  "   AND $2 ORDER BY 1", relid, true);
}

/*
 * The other tables of the table's foreign keys: those it references, and,
 * when referencing too, those that reference it.
 */
static void
add_foreign_key_tables(LockList *ll, LOCKMODE mode, Oid relid, bool referencing)
{
	add_query(ll, mode,
			  QUALIFIED_NAME
			  " WHERE c.oid IN (SELECT k.confrelid FROM pg_catalog.pg_constraint k"
			  "                  WHERE k.contype = 'f' AND k.conrelid = $1"
			  "                 UNION"
			  "                 SELECT k.conrelid FROM pg_catalog.pg_constraint k"
			  "                  WHERE k.contype = 'f' AND k.confrelid = $1 AND $2)"
			  "   AND c.oid <> $1 ORDER BY 1", relid, referencing);
}

/* The table a foreign key of this table, by name, references. */
static void
add_constraint_referenced(LockList *ll, LOCKMODE mode, Oid relid, const char *conname)
{
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		values[2] = {ObjectIdGetDatum(relid), CStringGetTextDatum(conname)};
	Oid			confrelid = InvalidOid;
	int			nestlevel;

	if (!OidIsValid(relid))
		return;
	SPI_connect();

	/*
	 * As add_query: the caller's search_path could put an = of its own
	 * choosing before pg_catalog's.
	 */
	nestlevel = catalog_path_pin();
	if (SPI_execute_with_args("SELECT k.confrelid FROM pg_catalog.pg_constraint k"
							  " WHERE k.contype = 'f' AND k.conrelid = $1"
							  "   AND k.conname OPERATOR(pg_catalog.=) $2::pg_catalog.name",
							  2, argtypes, values, NULL, true, 1) == SPI_OK_SELECT &&
		SPI_processed > 0)
	{
		bool		isnull;

		confrelid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 1, &isnull));
	}
	catalog_path_unpin(nestlevel);
	SPI_finish();
	if (OidIsValid(confrelid) && confrelid != relid)
		add_lock(ll, mode, relation_by_oid(confrelid));
}

/* The referenced table of a foreign key being added, in a constraint list. */
static void
add_references(LockList *ll, List *constraints)
{
	ListCell   *lc;

	foreach(lc, constraints)
	{
		Node	   *n = lfirst(lc);

		/*
		 * probed; source: ATAddForeignKeyConstraint (and, through it, CREATE
		 * TABLE) opens the referenced table in SHARE ROW EXCLUSIVE mode, to
		 * add its triggers
		 */
		if (IsA(n, Constraint) && ((Constraint *) n)->contype == CONSTR_FOREIGN &&
			((Constraint *) n)->pktable != NULL)
			add_rangevar(ll, ShareRowExclusiveLock, ((Constraint *) n)->pktable);
	}
}

static void
alter_table_locks(LockList *ll, AlterTableStmt *stmt)
{
	Oid			relid;
	ListCell   *lc;

	/*
	 * The mode ALTER TABLE (INDEX, VIEW, ...) takes on its relation is the
	 * one ProcessUtilitySlow asks AlterTableGetLockLevel for, from the same
	 * raw commands: the strongest any of them needs (probed for ADD COLUMN,
	 * ADD CONSTRAINT, SET (fillfactor), SET STATISTICS, ENABLE TRIGGER).
	 */
	relid = add_rangevar(ll, AlterTableGetLockLevel(stmt->cmds), stmt->relation);

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		if (cmd->subtype == AT_AddConstraint && cmd->def && IsA(cmd->def, Constraint))
			add_references(ll, list_make1(cmd->def));
		else if (cmd->subtype == AT_AddColumn && cmd->def && IsA(cmd->def, ColumnDef))
			add_references(ll, ((ColumnDef *) cmd->def)->constraints);
		else if ((cmd->subtype == AT_AttachPartition ||
				  cmd->subtype == AT_DetachPartition) &&
				 cmd->def && IsA(cmd->def, PartitionCmd))
		{
			PartitionCmd *pc = (PartitionCmd *) cmd->def;
			Oid			partid;
			Oid			defaultid;

			/*
			 * probed (pg_locks); source: ATExecAttachPartition and
			 * ATExecDetachPartition open the partition in ACCESS EXCLUSIVE
			 * mode (SHARE UPDATE EXCLUSIVE when detached concurrently), and
			 * the table's default partition, whose rows they check or whose
			 * constraint they change, in ACCESS EXCLUSIVE mode
			 */
			partid = add_rangevar(ll, pc->concurrent ? ShareUpdateExclusiveLock :
								  AccessExclusiveLock, pc->name);
			defaultid = OidIsValid(relid) && stmt->objtype == OBJECT_TABLE ?
				get_default_partition_oid(relid) : InvalidOid;
			if (OidIsValid(defaultid) && defaultid != partid && !pc->concurrent)
			{
				char	   *name = relation_by_oid(defaultid);

				if (name)
					add_lock(ll, AccessExclusiveLock, name);
			}
		}
		else if (cmd->subtype == AT_DropConstraint && cmd->name)
		{
			/*
			 * probed; source: RemoveConstraintById opens the referenced table
			 * of a foreign key in ACCESS EXCLUSIVE mode to drop its triggers
			 */
			add_constraint_referenced(ll, AccessExclusiveLock, relid, cmd->name);
		}
	}
}

static void
create_table_locks(LockList *ll, CreateStmt *stmt)
{
	ListCell   *lc;

	/*
	 * The parents: probed; source: DefineRelation locks a partitioned parent
	 * in ACCESS EXCLUSIVE mode, an inheritance parent in SHARE UPDATE
	 * EXCLUSIVE mode.
	 */
	foreach(lc, stmt->inhRelations)
	{
		if (IsA(lfirst(lc), RangeVar))
			add_rangevar(ll, stmt->partbound ? AccessExclusiveLock : ShareUpdateExclusiveLock,
						 lfirst(lc));
	}
	/* the new table itself: no one else can see it yet */
	foreach(lc, stmt->tableElts)
	{
		Node	   *elt = lfirst(lc);

		if (IsA(elt, ColumnDef))
			add_references(ll, ((ColumnDef *) elt)->constraints);
		else if (IsA(elt, Constraint))
			add_references(ll, list_make1(elt));
	}
	add_references(ll, stmt->constraints);
}

static void
drop_locks(LockList *ll, DropStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->objects)
	{
		RangeVar   *rv;
		Oid			relid;

		switch (stmt->removeType)
		{
			case OBJECT_TABLE:
			case OBJECT_VIEW:
			case OBJECT_MATVIEW:
			case OBJECT_SEQUENCE:
			case OBJECT_FOREIGN_TABLE:

				/*
				 * probed; source: RemoveRelations, ACCESS EXCLUSIVE.  Its
				 * foreign keys go with it, and RemoveConstraintById locks
				 * each referenced table in ACCESS EXCLUSIVE mode too; with
				 * CASCADE, the foreign keys of the tables that reference it
				 * go as well (probed).
				 */
				rv = makeRangeVarFromNameList(lfirst(lc));
				relid = add_rangevar(ll, AccessExclusiveLock, rv);
				if (OidIsValid(relid) && get_rel_relkind(relid) != RELKIND_VIEW &&
					get_rel_relkind(relid) != RELKIND_SEQUENCE)
					add_foreign_key_tables(ll, AccessExclusiveLock, relid,
										   stmt->behavior == DROP_CASCADE);
				break;
			case OBJECT_INDEX:
				{
					/*
					 * probed; source: RangeVarCallbackForDropRelation locks
					 * the table in the index's mode: ACCESS EXCLUSIVE, or
					 * SHARE UPDATE EXCLUSIVE when CONCURRENTLY
					 */
					LOCKMODE	mode = stmt->concurrent ? ShareUpdateExclusiveLock : AccessExclusiveLock;
					char	   *index;

					rv = makeRangeVarFromNameList(lfirst(lc));
					index = relation_name(rv, &relid);
					if (OidIsValid(relid) && get_rel_relkind(relid) == RELKIND_INDEX)
						add_lock(ll, mode, relation_by_oid(IndexGetRelation(relid, true)));
					add_lock(ll, mode, index);
					break;
				}
			default:
				return;
		}
	}
}

static void
rename_locks(LockList *ll, RenameStmt *stmt)
{
	switch (stmt->renameType)
	{
		case OBJECT_INDEX:

			/*
			 * probed; source: RenameRelation takes SHARE UPDATE EXCLUSIVE for
			 * ALTER INDEX ... RENAME (since PostgreSQL 12), whatever the
			 * relation is
			 */
			add_rangevar(ll, ShareUpdateExclusiveLock, stmt->relation);
			break;
		case OBJECT_TABLE:
		case OBJECT_VIEW:
		case OBJECT_MATVIEW:
		case OBJECT_SEQUENCE:
		case OBJECT_FOREIGN_TABLE:
		case OBJECT_COLUMN:
		case OBJECT_TABCONSTRAINT:
		case OBJECT_TRIGGER:
		case OBJECT_POLICY:
		case OBJECT_RULE:

			/*
			 * probed (table, column, ALTER TABLE ... RENAME of an index);
			 * source: RenameRelation, renameatt, RenameConstraint,
			 * renametrig, rename_policy, RenameRewriteRule all take ACCESS
			 * EXCLUSIVE
			 */
			if (stmt->relation)
				add_rangevar(ll, AccessExclusiveLock, stmt->relation);
			break;
		default:
			break;
	}
}

static void
vacuum_locks(LockList *ll, VacuumStmt *stmt)
{
	ListCell   *lc;
	bool		full = false;
	LOCKMODE	mode;

	foreach(lc, stmt->options)
	{
		DefElem    *opt = lfirst_node(DefElem, lc);

		if (strcmp(opt->defname, "full") == 0)
			full = defGetBoolean(opt);
	}

	/*
	 * probed (waiting behind a lock): VACUUM FULL takes ACCESS EXCLUSIVE,
	 * VACUUM and ANALYZE take SHARE UPDATE EXCLUSIVE (vacuum_rel,
	 * analyze_rel)
	 */
	mode = stmt->is_vacuumcmd && full ? AccessExclusiveLock : ShareUpdateExclusiveLock;
	if (stmt->rels == NIL)
		add_lock(ll, mode, "every table of the database");
	foreach(lc, stmt->rels)
	{
		VacuumRelation *vr = lfirst_node(VacuumRelation, lc);

		if (vr->relation)
			add_rangevar(ll, mode, vr->relation);
	}
}

static void
reindex_locks(LockList *ll, ReindexStmt *stmt)
{
	bool		concurrently = false;
	ListCell   *lc;
	Oid			relid;

	foreach(lc, stmt->params)
	{
		DefElem    *opt = lfirst_node(DefElem, lc);

		if (strcmp(opt->defname, "concurrently") == 0)
			concurrently = defGetBoolean(opt);
	}

	/*
	 * probed: REINDEX takes SHARE on the table and ACCESS EXCLUSIVE on each
	 * index it rebuilds (ReindexIndex, reindex_index); CONCURRENTLY takes
	 * SHARE UPDATE EXCLUSIVE on both (ReindexRelationConcurrently)
	 */
	if (stmt->kind == REINDEX_OBJECT_INDEX && stmt->relation)
	{
		char	   *index = relation_name(stmt->relation, &relid);

		if (OidIsValid(relid) && get_rel_relkind(relid) == RELKIND_INDEX)
			add_lock(ll, concurrently ? ShareUpdateExclusiveLock : ShareLock,
					 relation_by_oid(IndexGetRelation(relid, true)));
		add_lock(ll, concurrently ? ShareUpdateExclusiveLock : AccessExclusiveLock, index);
	}
	else if (stmt->kind == REINDEX_OBJECT_TABLE && stmt->relation)
	{
		relid = add_rangevar(ll, concurrently ? ShareUpdateExclusiveLock : ShareLock,
							 stmt->relation);
		add_indexes(ll, concurrently ? ShareUpdateExclusiveLock : AccessExclusiveLock, relid);
	}
}

/* COMMENT ON a relation or a column of one. */
static void
comment_locks(LockList *ll, CommentStmt *stmt)
{
	List	   *names;

	switch (stmt->objtype)
	{
		case OBJECT_TABLE:
		case OBJECT_INDEX:
		case OBJECT_VIEW:
		case OBJECT_MATVIEW:
		case OBJECT_SEQUENCE:
		case OBJECT_FOREIGN_TABLE:
			names = castNode(List, stmt->object);
			break;
		case OBJECT_COLUMN:
			names = list_copy(castNode(List, stmt->object));
			names = list_truncate(names, list_length(names) - 1);
			if (names == NIL)
				return;
			break;
		default:
			return;
	}

	/*
	 * probed (table, column, index); source: CommentObject looks the object
	 * up with get_object_address in SHARE UPDATE EXCLUSIVE mode
	 */
	add_rangevar(ll, ShareUpdateExclusiveLock, makeRangeVarFromNameList(names));
}

/*
 * The locks the statement takes, each as "MODE on relation" (a palloc'd
 * string), in the order the statement takes them.
 */
List *
locks_of_statement(Node *stmt)
{
	LockList	ll = {NIL};
	ListCell   *lc;
	List	   *result = NIL;

	switch (nodeTag(stmt))
	{
		case T_AlterTableStmt:
			alter_table_locks(&ll, (AlterTableStmt *) stmt);
			break;
		case T_CreateStmt:
			create_table_locks(&ll, (CreateStmt *) stmt);
			break;
		case T_IndexStmt:

			/*
			 * probed; source: DefineIndex: SHARE, or SHARE UPDATE EXCLUSIVE
			 * when CONCURRENTLY
			 */
			add_rangevar(&ll, ((IndexStmt *) stmt)->concurrent ?
						 ShareUpdateExclusiveLock : ShareLock,
						 ((IndexStmt *) stmt)->relation);
			break;
		case T_DropStmt:
			drop_locks(&ll, (DropStmt *) stmt);
			break;
		case T_RenameStmt:
			rename_locks(&ll, (RenameStmt *) stmt);
			break;
		case T_AlterObjectSchemaStmt:
			/* source: AlterTableNamespace, ACCESS EXCLUSIVE */
			if (((AlterObjectSchemaStmt *) stmt)->relation)
				add_rangevar(&ll, AccessExclusiveLock,
							 ((AlterObjectSchemaStmt *) stmt)->relation);
			break;
		case T_TruncateStmt:
			/* probed; source: ExecuteTruncate, ACCESS EXCLUSIVE */
			foreach(lc, ((TruncateStmt *) stmt)->relations)
			{
				add_rangevar(&ll, AccessExclusiveLock, lfirst_node(RangeVar, lc));
			}
			break;
		case T_VacuumStmt:
			vacuum_locks(&ll, (VacuumStmt *) stmt);
			break;
		case T_ClusterStmt:
			/* probed (waiting behind a lock); source: cluster_rel */
			if (((ClusterStmt *) stmt)->relation)
				add_rangevar(&ll, AccessExclusiveLock, ((ClusterStmt *) stmt)->relation);
			else
				add_lock(&ll, AccessExclusiveLock, "every clustered table of the database");
			break;
		case T_ReindexStmt:
			reindex_locks(&ll, (ReindexStmt *) stmt);
			break;
		case T_CreateTrigStmt:
			/* probed; source: CreateTrigger, SHARE ROW EXCLUSIVE */
			add_rangevar(&ll, ShareRowExclusiveLock, ((CreateTrigStmt *) stmt)->relation);
			break;
		case T_InsertStmt:
			/* probed: the target of a write, ROW EXCLUSIVE */
			add_rangevar(&ll, RowExclusiveLock, ((InsertStmt *) stmt)->relation);
			break;
		case T_UpdateStmt:
			add_rangevar(&ll, RowExclusiveLock, ((UpdateStmt *) stmt)->relation);
			break;
		case T_DeleteStmt:
			add_rangevar(&ll, RowExclusiveLock, ((DeleteStmt *) stmt)->relation);
			break;
		case T_MergeStmt:
			add_rangevar(&ll, RowExclusiveLock, ((MergeStmt *) stmt)->relation);
			break;
		case T_CommentStmt:
			comment_locks(&ll, (CommentStmt *) stmt);
			break;
		case T_GrantStmt:

			/*
			 * probed: GRANT and REVOKE on a table take no lock on it
			 * (ExecGrant_Relation updates its pg_class row in place)
			 */
			break;
		case T_ViewStmt:
			{
				ViewStmt   *view = (ViewStmt *) stmt;
				Oid			relid = RangeVarGetRelid(view->view, NoLock, true);

				/*
				 * probed; source: DefineVirtualRelation locks the view it
				 * replaces in ACCESS EXCLUSIVE mode.  A new view is seen by
				 * no one yet.
				 */
				if (view->replace && OidIsValid(relid))
					add_lock(&ll, AccessExclusiveLock, relation_by_oid(relid));
				break;
			}
		case T_RefreshMatViewStmt:
			/* probed: ACCESS EXCLUSIVE, or EXCLUSIVE when CONCURRENTLY */
			add_rangevar(&ll, ((RefreshMatViewStmt *) stmt)->concurrent ?
						 ExclusiveLock : AccessExclusiveLock,
						 ((RefreshMatViewStmt *) stmt)->relation);
			break;
		case T_LockStmt:
			/* probed: the mode it names */
			foreach(lc, ((LockStmt *) stmt)->relations)
			{
				add_rangevar(&ll, ((LockStmt *) stmt)->mode, lfirst_node(RangeVar, lc));
			}
			break;
		case T_CreatePolicyStmt:
			/* probed; source: CreatePolicy, ACCESS EXCLUSIVE */
			add_rangevar(&ll, AccessExclusiveLock, ((CreatePolicyStmt *) stmt)->table);
			break;
		case T_AlterPolicyStmt:
			/* source: AlterPolicy, ACCESS EXCLUSIVE */
			add_rangevar(&ll, AccessExclusiveLock, ((AlterPolicyStmt *) stmt)->table);
			break;
		case T_RuleStmt:
			/* probed; source: DefineQueryRewrite, ACCESS EXCLUSIVE */
			add_rangevar(&ll, AccessExclusiveLock, ((RuleStmt *) stmt)->relation);
			break;
		case T_CreateStatsStmt:
			/* probed; source: CreateStatistics, SHARE UPDATE EXCLUSIVE */
			foreach(lc, ((CreateStatsStmt *) stmt)->relations)
			{
				if (IsA(lfirst(lc), RangeVar))
					add_rangevar(&ll, ShareUpdateExclusiveLock, lfirst(lc));
			}
			break;
		default:
			break;
	}

	/* of a relation's locks, those that another one of them covers go */
	foreach(lc, ll.locks)
	{
		LockEntry  *e = lfirst(lc);
		bool		covered = false;
		ListCell   *oc;

		CHECK_FOR_INTERRUPTS();

		foreach(oc, ll.locks)
		{
			LockEntry  *o = lfirst(oc);

			if (o != e && strcmp(o->relation, e->relation) == 0 &&
				lock_covers(o->mode, e->mode))
				covered = true;
		}
		if (!covered)
			result = lappend(result, psprintf("%s on %s", lock_mode_names[e->mode],
											  e->relation));
	}
	return result;
}
