/*-------------------------------------------------------------------------
 *
 * partitions.c
 *	  Online migrations of partitioned tables.
 *
 * What start does to a partitioned table (shadow columns, the marker,
 * NOT VALID checks, the sync triggers) it does to the parent, and the
 * server passes it on to every partition, those created or attached later
 * included.  What scans rows is done partition by partition, each leaf on
 * its own: the backfill (job.c), the validation of the checks and the
 * concurrent index builds (here).  The leaves are read when the job runs,
 * so that a partition attached since start is covered, and one dropped or
 * detached since is not looked for.
 *
 * A check stays NOT VALID on the parent while the migration is in flight,
 * valid on each leaf once the job has validated it there, so that a table
 * attached meanwhile may bring it NOT VALID; complete validates it on the
 * parent, which scans nothing once every leaf's is valid.  An index is
 * created ON ONLY the parent at start (invalid), built concurrently on
 * each leaf by the job and attached to it, which makes it valid (what
 * CREATE INDEX CONCURRENTLY cannot do on a partitioned table).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_inherits.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "nodes/bitmapset.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "exec/migrate_exec.h"
#include "online/online_int.h"

/* the names of the leaves' indexes until they are attached */
#define LEAF_INDEX_PREFIX	"_migrate_ix"

static char *index_name_columns(Oid index);
static char *partition_index_name(Oid partition, const char *columns);

bool
online_partitioned(Oid relid)
{
	return OidIsValid(relid) && get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE;
}

/*
 * The partitions of a partitioned table, at every level, of this kind
 * (RELKIND_RELATION: the leaves that hold rows), in the order the server
 * lists them (by OID under each parent).  No lock is taken: the caller is
 * in a transaction, and a partition dropped meanwhile is skipped.
 */
static List *
partitions_of_kind(Oid relid, char relkind)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, find_all_inheritors(relid, NoLock, NULL))
	{
		Oid			child = lfirst_oid(lc);

		if (child != relid && get_rel_relkind(child) == relkind)
			result = lappend_oid(result, child);
	}
	return result;
}

List *
online_leaves(Oid relid)
{
	return partitions_of_kind(relid, RELKIND_RELATION);
}

/* Is the table a leaf partition of relid (at any level) now? */
bool
online_leaf_of(Oid leaf, Oid relid)
{
	return get_rel_relkind(leaf) == RELKIND_RELATION && get_rel_relispartition(leaf) &&
		list_member_oid(get_partition_ancestors(leaf), relid);
}

/*
 * A partitioned table whose rows the job must reach: every partition holds
 * its rows itself.  A foreign table's rows are elsewhere, and its triggers
 * and indexes are not the server's to keep.
 */
void
online_check_partitions(Oid relid, const char *what)
{
	List	   *foreign;

	if (!online_partitioned(relid))
		return;
	foreign = partitions_of_kind(relid, RELKIND_FOREIGN_TABLE);
	if (foreign != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("partition %s of table %s is a foreign table",
						online_rel_sql(linitial_oid(foreign)), online_rel_sql(relid)),
				 errdetail("The background job of an online migration cannot do %s on a foreign table.",
						   what)));
}

/*
 * The operations that change a table's columns work on the partitioned
 * table, never on one of its partitions (whose columns are the parent's).
 */
void
online_refuse_partition(Oid relid, const char *table)
{
	Oid			parent;

	if (!OidIsValid(relid) || !get_rel_relispartition(relid))
		return;
	parent = get_partition_parent(relid, true);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("table \"%s\" is a partition of %s", table, online_rel_sql(parent)),
			 errhint("Migrate the partitioned table: its partitions follow.")));
}

/*
 * Is the column part of the partition key of the table, or of a partition
 * of it partitioned in turn (by a column or in an expression)?  Such a
 * column cannot be dropped, nor replaced by its shadow.
 */
bool
online_in_partition_key(Oid relid, const char *column)
{
	List	   *tables;
	ListCell   *lc;

	if (!online_partitioned(relid))
		return false;
	tables = lcons_oid(relid, partitions_of_kind(relid, RELKIND_PARTITIONED_TABLE));
	foreach(lc, tables)
	{
		Relation	rel = table_open(lfirst_oid(lc), AccessShareLock);
		AttrNumber	attnum = get_attnum(RelationGetRelid(rel), column);
		bool		in_key = false;
		bool		in_expr;

		if (attnum > 0)
			in_key = has_partition_attrs(rel,
										 bms_make_singleton(attnum - FirstLowInvalidHeapAttributeNumber),
										 &in_expr);
		table_close(rel, AccessShareLock);
		if (in_key)
			return true;
	}
	return false;
}

/*
 * What cannot be added online to a partitioned table (by its pg_constraint
 * contype): a unique constraint or a primary key (ADD CONSTRAINT ... USING
 * INDEX, which turns the concurrently built index into the constraint,
 * does not take a partitioned index), and before PostgreSQL 18 a foreign
 * key (it cannot be added NOT VALID).  Exclusion constraints:
 * online_refuse_partitioned_exclusion.
 */
void
online_refuse_partitioned(Oid relid, const char *table, char contype)
{
	if (!online_partitioned(relid))
		return;
	if (contype == CONSTRAINT_UNIQUE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a unique constraint cannot be added online to partitioned table \"%s\"",
						table),
				 errdetail("ADD CONSTRAINT ... USING INDEX, which makes the index built concurrently the constraint, does not take the index of a partitioned table."),
				 errhint("Create a unique index with create_index instead.")));
	if (contype == CONSTRAINT_PRIMARY)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a primary key cannot be added online to partitioned table \"%s\"",
						table),
				 errdetail("ADD CONSTRAINT ... PRIMARY KEY USING INDEX, which makes the index built concurrently the primary key, does not take the index of a partitioned table."),
				 errhint("Add it in a plain migration, or create a unique index with create_index.")));
#if PG_VERSION_NUM < 180000
	if (contype == CONSTRAINT_FOREIGN)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a foreign key cannot be added online to partitioned table \"%s\"",
						table),
				 errdetail("Before PostgreSQL 18, a partitioned table cannot take a foreign key NOT VALID, and one validated as it is added scans the table under lock."),
				 errhint("Add it in a plain migration.")));
#endif
}

/*
 * An exclusion constraint on a partitioned table (its column elements:
 * columns, physical names).  Before PostgreSQL 17 the server has none on
 * a partitioned table.  From 17 on, ALTER TABLE ... ADD CONSTRAINT ...
 * EXCLUDE builds it on every partition at start, as on a plain table
 * (under ACCESS EXCLUSIVE), if every column of the partition key, at every
 * level, is one of its elements; that each uses the key's equality
 * operator, the server checks at start (0A000 too).
 */
void
online_refuse_partitioned_exclusion(Oid relid, const char *table, List *columns)
{
	List	   *tables;
	ListCell   *lc;

	if (!online_partitioned(relid))
		return;
	if (PG_VERSION_NUM < 170000)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("an exclusion constraint cannot be added online to partitioned table \"%s\"",
						table),
				 errdetail("Before PostgreSQL 17, a partitioned table takes no exclusion constraint.")));
	tables = lcons_oid(relid, partitions_of_kind(relid, RELKIND_PARTITIONED_TABLE));
	foreach(lc, tables)
	{
		Relation	rel = table_open(lfirst_oid(lc), AccessShareLock);
		PartitionKey key = RelationGetPartitionKey(rel);
		char	   *missing = NULL;

		for (int i = 0; i < get_partition_natts(key) && missing == NULL; i++)
		{
			AttrNumber	attnum = get_partition_col_attnum(key, i);
			char	   *name;
			ListCell   *cc;

			if (attnum == 0)
			{
				missing = "an expression";
				break;
			}
			name = get_attname(RelationGetRelid(rel), attnum, false);
			missing = psprintf("column %s", quote_identifier(name));
			foreach(cc, columns)
			{
				if (strcmp(lfirst(cc), name) == 0)
					missing = NULL;
			}
		}
		table_close(rel, AccessShareLock);
		if (missing)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("an exclusion constraint cannot be added online to partitioned table \"%s\"",
							table),
					 errdetail("The partition key of %s has %s, which is not an element of the constraint: an exclusion constraint of a partitioned table has each column of its partition key as an element, with its equality operator.",
							   online_rel_sql(lfirst_oid(lc)), missing)));
	}
}

/*
 * The job validates a constraint added NOT VALID: on a plain table, as one
 * statement; on a partitioned table, a check leaf by leaf (and the parent
 * at complete), a foreign key on the parent (the server validates it on
 * each partition; NOT VALID foreign keys on partitioned tables come with
 * PostgreSQL 18).  A plain table's constraint may be one that an earlier
 * step of the job adds (a copy of a foreign key that references an altered
 * column): it is not looked up.
 */
void
online_add_validation(StringInfo steps, Oid relid, const char *constraint)
{
	HeapTuple	tup;
	char		contype = '\0';

	if (online_partitioned(relid))
	{
		tup = SearchSysCache1(CONSTROID,
							  ObjectIdGetDatum(get_relation_constraint_oid(relid, constraint,
																		   false)));
		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for constraint \"%s\" of relation %u",
				 constraint, relid);
		contype = ((Form_pg_constraint) GETSTRUCT(tup))->contype;
		ReleaseSysCache(tup);
	}
	if (contype != CONSTRAINT_CHECK)
	{
		online_add_step(steps, psprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s",
										online_rel_sql(relid), quote_identifier(constraint)));
		return;
	}
	appendStringInfo(steps, "%s{\"leaves\": %u, \"validate\": ", steps->len > 1 ? ", " : "",
					 relid);
	escape_json(steps, constraint);
	appendStringInfoChar(steps, '}');
}

/* Is this constraint of the table valid? (It must exist.) */
static bool
constraint_valid(Oid conoid)
{
	HeapTuple	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	bool		valid;

	if (!HeapTupleIsValid(tup))
		return true;			/* gone meanwhile: nothing to validate */
	valid = ((Form_pg_constraint) GETSTRUCT(tup))->convalidated;
	ReleaseSysCache(tup);
	return valid;
}

static int
name_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp(lfirst(a), lfirst(b));
}

/*
 * The checks of a leaf that are NOT VALID on it and on the partitioned
 * table (what start added, and the job has not validated there), as
 * VALIDATE CONSTRAINT clauses of one ALTER TABLE.
 */
static char *
leaf_checks_not_valid(Oid relid, Oid leaf)
{
	StringInfoData clauses;
	Relation	rel = table_open(leaf, AccessShareLock);
	List	   *names = NIL;
	ListCell   *lc;

	/* the checks of the leaf, from its relcache entry */
	if (rel->rd_att->constr)
	{
		for (int i = 0; i < rel->rd_att->constr->num_check; i++)
		{
			ConstrCheck *check = &rel->rd_att->constr->check[i];

			if (!check->ccvalid)
				names = lappend(names, pstrdup(check->ccname));
		}
	}
	table_close(rel, AccessShareLock);
	list_sort(names, name_cmp);

	initStringInfo(&clauses);
	foreach(lc, names)
	{
		Oid			parent = get_relation_constraint_oid(relid, lfirst(lc), true);

		if (OidIsValid(parent) && !constraint_valid(parent))
			appendStringInfo(&clauses, "%sVALIDATE CONSTRAINT %s", clauses.len > 0 ? ", " : "",
							 quote_identifier(lfirst(lc)));
	}
	return clauses.data;
}

/*
 * At complete: a check the migration added NOT VALID to a partitioned
 * table becomes valid on it, which scans nothing once it is valid on every
 * leaf (the job validated them).  A leaf attached since the job's
 * validation may bring it NOT VALID: complete does not scan it under its
 * locks, it refuses (55000), with the statement that validates it.
 */
void
online_validate_partitioned(OnlineMigration *m, Oid relid, const char *constraint)
{
	ListCell   *lc;

	if (!online_partitioned(relid))
		return;
	foreach(lc, online_leaves(relid))
	{
		Oid			leaf = lfirst_oid(lc);
		Oid			conoid = get_relation_constraint_oid(leaf, constraint, true);

		if (OidIsValid(conoid) && !constraint_valid(conoid))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("online migration %s cannot be completed", m->version),
					 errdetail("Partition %s came after the background job had validated the checks on the other partitions.",
							   online_rel_sql(leaf)),
					 errhint("Validate its checks with ALTER TABLE %s %s, then complete the migration.",
							 online_rel_sql(leaf), leaf_checks_not_valid(relid, leaf))));
	}
	online_ddl(m, "complete", psprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s",
									   online_rel_sql(relid), quote_identifier(constraint)));
}

/*
 * An index the job builds concurrently: "definition" is what follows the
 * table in CREATE INDEX (USING, the columns, INCLUDE, WITH, WHERE).  On a
 * partitioned table, it is created now ON ONLY the table (invalid, and
 * catalog only), and the job builds each leaf's and attaches it.
 */
void
online_add_index(OnlineMigration *m, StringInfo steps, Oid relid, bool unique,
				 const char *name, const char *definition)
{
	const char *kind = unique ? "UNIQUE " : "";

	if (!online_partitioned(relid))
	{
		online_add_step(steps, psprintf("CREATE %sINDEX CONCURRENTLY %s ON %s%s", kind,
										quote_identifier(name), online_rel_sql(relid),
										definition));
		return;
	}
	online_check_partitions(relid, "an index build");
	online_ddl(m, "partitioned index", psprintf("CREATE %sINDEX %s ON ONLY %s%s", kind,
												quote_identifier(name), online_rel_sql(relid),
												definition));
	appendStringInfo(steps, "%s{\"leaves\": %u, \"index\": ", steps->len > 1 ? ", " : "",
					 relid);
	escape_json(steps, name);
	appendStringInfo(steps, ", \"unique\": %s, \"definition\": ", unique ? "true" : "false");
	escape_json(steps, definition);
	appendStringInfoChar(steps, '}');
}

/*
 * Drop an index the migration created, when it exists; of a partitioned
 * one, the leaves' indexes too that the job built but had not attached yet
 * (attached ones go with it).
 */
void
online_drop_index(OnlineMigration *m, const char *schema, const char *name)
{
	Oid			nsp = get_namespace_oid(schema, true);
	Oid			index = OidIsValid(nsp) ? get_relname_relid(name, nsp) : InvalidOid;

	if (OidIsValid(index) && get_rel_relkind(index) == RELKIND_PARTITIONED_INDEX)
	{
		Oid			table = IndexGetRelation(index, false);
		List	   *prefixes = NIL;
		ListCell   *lc;

		/* the job's names of the partitions' indexes of it, at any level */
		foreach(lc, find_all_inheritors(index, NoLock, NULL))
		{
			if (get_rel_relkind(lfirst_oid(lc)) == RELKIND_PARTITIONED_INDEX)
				prefixes = lappend(prefixes, psprintf(LEAF_INDEX_PREFIX "%u_", lfirst_oid(lc)));
		}

		foreach(lc, find_all_inheritors(table, NoLock, NULL))
		{
			ListCell   *ic;
			Relation	rel;
			List	   *indexes;

			if (get_rel_relkind(lfirst_oid(lc)) == '\0')
				continue;
			rel = table_open(lfirst_oid(lc), AccessShareLock);
			indexes = RelationGetIndexList(rel);
			table_close(rel, AccessShareLock);
			foreach(ic, indexes)
			{
				char	   *leaf_index = get_rel_name(lfirst_oid(ic));
				ListCell   *pc;

				if (leaf_index == NULL || get_rel_relispartition(lfirst_oid(ic)))
					continue;
				foreach(pc, prefixes)
				{
					if (strncmp(leaf_index, lfirst(pc), strlen(lfirst(pc))) == 0)
					{
						online_ddl(m, "rollback",
								   psprintf("DROP INDEX IF EXISTS %s",
											online_rel_sql(lfirst_oid(ic))));
						break;
					}
				}
			}
		}
	}
	online_ddl(m, "rollback", psprintf("DROP INDEX IF EXISTS %s", online_qualified(schema, name)));
}

/* Has the index a column of that name? */
static bool
index_has_column(Oid index, const char *name)
{
	Relation	rel = index_open(index, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	bool		found = false;

	for (int i = 0; i < desc->natts; i++)
		if (strcmp(NameStr(TupleDescAttr(desc, i)->attname), name) == 0)
			found = true;
	index_close(rel, AccessShareLock);
	return found;
}

/*
 * At complete, once a shadow column took its place under its name: the
 * columns of the indexes of a partitioned table on it are still named as
 * it was (an index keeps the names its columns had when it was created),
 * and the server names the index of each partition created from now on
 * after them.  They take the column's name, and the partitions' indexes
 * named after the shadow (the server's, for partitions created or attached
 * since the job built them) the names the server would give them now.
 */
void
online_rename_index_columns(OnlineMigration *m, Oid relid, const char *shadow,
							const char *column)
{
	Relation	rel;
	List	   *indexes;
	ListCell   *lc;

	if (!online_partitioned(relid))
		return;
	rel = table_open(relid, AccessShareLock);
	indexes = RelationGetIndexList(rel);
	table_close(rel, AccessShareLock);
	foreach(lc, indexes)
	{
		Oid			index = lfirst_oid(lc);
		char	   *columns;
		ListCell   *cc;

		if (!index_has_column(index, shadow) || index_has_column(index, column))
			continue;
		online_ddl(m, "complete", psprintf("ALTER TABLE %s RENAME COLUMN %s TO %s",
										   online_rel_sql(index), quote_identifier(shadow),
										   quote_identifier(column)));
		columns = index_name_columns(index);
		foreach(cc, find_all_inheritors(index, NoLock, NULL))
		{
			Oid			child = lfirst_oid(cc);
			char	   *name = get_rel_name(child);

			if (child == index || name == NULL || strstr(name, ONLINE_SHADOW_PREFIX) == NULL)
				continue;
			online_ddl(m, "complete",
					   psprintf("ALTER INDEX %s RENAME TO %s", online_rel_sql(child),
								quote_identifier(partition_index_name(IndexGetRelation(child, false),
																	  columns))));
		}
	}
}

/*
 * What the job runs on the partitions: each statement a top-level command
 * of its own transaction, under migrate.lock_timeout (but CONCURRENTLY
 * ones), retried on a lock timeout.  The step is recorded done by the
 * caller once all of them are.
 */
static void
nothing_to_record(void *arg)
{
}

static void
run(const char *version, const char *where, const char *sql)
{
	toplevel_execute_retrying(sql, version, where, true, nothing_to_record, NULL);
}

/* The leaves of the table, as they are now, in the caller's memory. */
static List *
leaves_now(Oid relid)
{
	MemoryContext caller = CurrentMemoryContext;
	List	   *leaves;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (get_rel_relkind(relid) == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("a table of the online migration was dropped during its background job"),
				 errhint("migrate_rollback() undoes what is left of the migration.")));
	leaves = online_leaves(relid);
	MemoryContextSwitchTo(caller);
	leaves = list_copy(leaves);
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(caller);
	return leaves;
}

/*
 * The job's validation of a check on a partitioned table: each leaf whose
 * copy of it is NOT VALID, in a transaction of its own (one that is valid
 * was done before an interruption, or came valid with a new partition).
 */
void
online_run_leaf_validations(const char *version, const char *where, Oid relid,
							const char *constraint)
{
	MemoryContext caller = CurrentMemoryContext;
	ListCell   *lc;

	foreach(lc, leaves_now(relid))
	{
		Oid			leaf = lfirst_oid(lc);
		char	   *sql = NULL;

		CHECK_FOR_INTERRUPTS();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (get_rel_relkind(leaf) == RELKIND_RELATION)
		{
			Oid			conoid = get_relation_constraint_oid(leaf, constraint, true);

			if (OidIsValid(conoid) && !constraint_valid(conoid))
				sql = MemoryContextStrdup(caller,
										  psprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s",
												   online_rel_sql(leaf),
												   quote_identifier(constraint)));
		}
		PopActiveSnapshot();
		CommitTransactionCommand();
		MemoryContextSwitchTo(caller);
		if (sql)
			run(version, where, sql);
	}
}

/* The index of a partition that is attached to this partitioned index. */
static Oid
attached_index(Oid index, Oid partition)
{
	Relation	rel = table_open(partition, AccessShareLock);
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;

	table_close(rel, AccessShareLock);
	foreach(lc, indexes)
	{
		if (get_rel_relispartition(lfirst_oid(lc)) &&
			get_partition_parent(lfirst_oid(lc), true) == index)
			return lfirst_oid(lc);
	}
	return InvalidOid;
}

typedef struct LeafIndexes
{
	const char *version;
	const char *where;
	bool		unique;
	const char *definition;
	char	   *columns;		/* for the names of the partitions' indexes */
} LeafIndexes;

/*
 * The columns of an index, for the names of its partitions' indexes,
 * joined as the server's own names join them; a shadow column by the name
 * it has once the migration is complete.
 */
static char *
index_name_columns(Oid index)
{
	StringInfoData columns;
	Relation	rel = index_open(index, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);

	initStringInfo(&columns);
	for (int i = 0; i < desc->natts; i++)
	{
		char	   *attname = NameStr(TupleDescAttr(desc, i)->attname);

		if (strncmp(attname, ONLINE_SHADOW_PREFIX, strlen(ONLINE_SHADOW_PREFIX)) == 0)
			attname += strlen(ONLINE_SHADOW_PREFIX);
		if (columns.len + strlen(attname) + 1 >= NAMEDATALEN)
			break;
		appendStringInfo(&columns, "%s%s", i > 0 ? "_" : "", attname);
	}
	index_close(rel, AccessShareLock);
	return columns.data;
}

/*
 * The name the server gives a partition's index when it creates it: the
 * partition's name, the columns', "idx".
 */
static char *
partition_index_name(Oid partition, const char *columns)
{
	return ChooseRelationName(get_rel_name(partition), columns, "idx",
							  get_rel_namespace(partition), false);
}

/*
 * Every partition of the table gets its index, attached to "index": a leaf
 * one built concurrently, a partitioned one created ON ONLY it and done
 * the same way in turn.  An index is built under a name of migrate's
 * (_migrate_ix<index>_<partition>, so that an interrupted build is found
 * again and redone) and takes its name for good once attached: the one
 * the server would give it, after the columns the index has once the
 * migration is complete (so is renamed one the server created for a
 * partition created or attached since start, named after a shadow column).
 */
static void
index_partitions(LeafIndexes *li, Oid table, Oid index)
{
	MemoryContext caller = CurrentMemoryContext;
	List	   *partitions;
	ListCell   *lc;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	partitions = find_inheritance_children(table, NoLock);
	MemoryContextSwitchTo(caller);
	partitions = list_copy(partitions);
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(caller);

	foreach(lc, partitions)
	{
		Oid			partition = lfirst_oid(lc);
		char		relkind;
		Oid			child;
		char	   *temp = psprintf(LEAF_INDEX_PREFIX "%u_%u", index, partition);
		char	   *partition_sql = NULL;
		char	   *index_sql = NULL;
		char	   *temp_sql = NULL;
		char	   *name = NULL;

		CHECK_FOR_INTERRUPTS();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		relkind = get_rel_relkind(partition);
		child = relkind ? attached_index(index, partition) : InvalidOid;
		if (relkind)
		{
			MemoryContext old = MemoryContextSwitchTo(caller);

			partition_sql = online_rel_sql(partition);
			index_sql = online_rel_sql(index);
			temp_sql = online_qualified(get_namespace_name(get_rel_namespace(partition)), temp);
			MemoryContextSwitchTo(old);
		}
		PopActiveSnapshot();
		CommitTransactionCommand();
		MemoryContextSwitchTo(caller);

		if (relkind == '\0')
			continue;			/* dropped meanwhile */
		if (relkind == RELKIND_FOREIGN_TABLE)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("partition %s is a foreign table", partition_sql),
					 errdetail("An index of its partitioned table cannot be built on it."),
					 errhint("Detach it, then resume the job with migrate_resume().")));

		if (!OidIsValid(child))
		{
			if (relkind == RELKIND_PARTITIONED_TABLE)
				run(li->version, li->where,
					psprintf("CREATE %sINDEX IF NOT EXISTS %s ON ONLY %s%s",
							 li->unique ? "UNIQUE " : "", quote_identifier(temp),
							 partition_sql, li->definition));
			else
				run(li->version, li->where,
					psprintf("CREATE %sINDEX CONCURRENTLY %s ON %s%s",
							 li->unique ? "UNIQUE " : "", quote_identifier(temp),
							 partition_sql, li->definition));
			run(li->version, li->where,
				psprintf("ALTER INDEX %s ATTACH PARTITION %s", index_sql, temp_sql));
		}

		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		child = attached_index(index, partition);
		/* ours, or the server's, named after a shadow column */
		if (OidIsValid(child) && (strcmp(get_rel_name(child), temp) == 0 ||
								  strstr(get_rel_name(child), ONLINE_SHADOW_PREFIX) != NULL))
		{
			name = MemoryContextStrdup(caller, partition_index_name(partition, li->columns));
			if (strcmp(get_rel_name(child), temp) != 0)
				temp_sql = MemoryContextStrdup(caller, online_rel_sql(child));
		}
		PopActiveSnapshot();
		CommitTransactionCommand();
		MemoryContextSwitchTo(caller);

		if (!OidIsValid(child))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the index of partition %s was not attached", partition_sql)));
		if (relkind == RELKIND_PARTITIONED_TABLE)
			index_partitions(li, partition, child);
		if (name)
			run(li->version, li->where,
				psprintf("ALTER INDEX %s RENAME TO %s", temp_sql, quote_identifier(name)));
	}
}

/*
 * The job's build of an index of a partitioned table, created ON ONLY it
 * at start: once every partition's is attached, the server makes it valid.
 */
void
online_run_leaf_indexes(const char *version, const char *where, Oid relid,
						const char *name, bool unique, const char *definition)
{
	MemoryContext caller = CurrentMemoryContext;
	LeafIndexes li = {version, where, unique, definition, NULL};
	Oid			index;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	index = get_rel_relkind(relid) ? get_relname_relid(name, get_rel_namespace(relid)) : InvalidOid;
	if (!OidIsValid(index) || get_rel_relkind(index) != RELKIND_PARTITIONED_INDEX)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("index \"%s\" of the online migration is gone", name),
				 errdetail("Start created it on the partitioned table, for the background job to build on each partition."),
				 errhint("migrate_rollback() undoes what is left of the migration.")));

	MemoryContextSwitchTo(caller);
	li.columns = index_name_columns(index);
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(caller);

	index_partitions(&li, relid, index);
}
