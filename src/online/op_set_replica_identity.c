/*-------------------------------------------------------------------------
 *
 * op_set_replica_identity.c
 *	  set_replica_identity: what logical decoding logs of a row's old
 *	  version.  A table has one replica identity, both shapes write the
 *	  same table: start sets it, and records the one it replaces (an event
 *	  replica_identity in migrate.event), which rollback puts back.
 *
 *	  {"set_replica_identity": {"table": "orders",
 *	   "identity": {"type": "index", "index": "orders_code_key"}}}
 *
 * The old shape must keep working while the migration is in flight: a
 * replica identity that would make the table's updates or deletes fail
 * (its publications publish them, and it gives them no key, or one that
 * does not cover their row filters or column lists) is refused, at
 * registration where the catalog tells, and at start in any case.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "base/base.h"
#include "catalog/migrate_catalog.h"
#include "online/online_int.h"

typedef struct SetReplicaIdentity
{
	char		kind;			/* REPLICA_IDENTITY_* */
	char	   *index;			/* with REPLICA_IDENTITY_INDEX */
} SetReplicaIdentity;

static const char *const fields[] = {"schema", "table", "identity", NULL};
static const char *const identity_fields[] = {"type", "index", NULL};

/* the event start records, with the identity it replaces */
#define EVENT_ACTION	"replica_identity"

static const struct
{
	const char *name;			/* in the document */
	char		kind;			/* pg_class.relreplident */
}			kinds[] = {
	{"default", REPLICA_IDENTITY_DEFAULT},
	{"full", REPLICA_IDENTITY_FULL},
	{"nothing", REPLICA_IDENTITY_NOTHING},
	{"index", REPLICA_IDENTITY_INDEX},
};

static const char *
kind_name(char kind)
{
	for (int i = 0; i < lengthof(kinds); i++)
		if (kinds[i].kind == kind)
			return kinds[i].name;
	elog(ERROR, "unexpected replica identity \"%c\"", kind);
	return NULL;
}

/* The identity, for messages: full, ..., index "name". */
static char *
identity_desc(SetReplicaIdentity *d)
{
	if (d->kind == REPLICA_IDENTITY_INDEX)
		return psprintf("index \"%s\"", d->index);
	return pstrdup(kind_name(d->kind));
}

/* The clause of ALTER TABLE ... REPLICA IDENTITY. */
static char *
identity_sql(char kind, const char *index)
{
	switch (kind)
	{
		case REPLICA_IDENTITY_DEFAULT:
			return "DEFAULT";
		case REPLICA_IDENTITY_FULL:
			return "FULL";
		case REPLICA_IDENTITY_NOTHING:
			return "NOTHING";
		default:
			return psprintf("USING INDEX %s", quote_identifier(index));
	}
}

/* As the document writes it: {"type": ..., "index": ...}. */
static void
append_identity(StringInfo buf, char kind, const char *index)
{
	appendStringInfoString(buf, "{\"type\": ");
	escape_json(buf, kind_name(kind));
	if (index)
	{
		appendStringInfoString(buf, ", \"index\": ");
		escape_json(buf, index);
	}
	appendStringInfoChar(buf, '}');
}

static void
set_replica_identity_parse(OnlineMigration *m, OnlineOp *op, JsonbContainer *body,
						   bool check_catalog)
{
	SetReplicaIdentity *d = palloc0(sizeof(SetReplicaIdentity));
	JsonbContainer *c;
	char	   *type;

	op->data = d;
	op->table = doc_identifier(body, "table", true);
	c = doc_object(body, "identity", identity_fields);
	if (c == NULL)
		op_error("field \"identity\" is required");
	type = doc_string(c, "type", true);
	for (int i = 0; i < lengthof(kinds); i++)
		if (pg_strcasecmp(type, kinds[i].name) == 0)
			d->kind = kinds[i].kind;
	if (d->kind == '\0')
		op_error("replica identity type must be full, default, nothing or index");
	d->index = doc_identifier(c, "index", false);
	if (d->kind == REPLICA_IDENTITY_INDEX && d->index == NULL)
		op_error("replica identity type index needs \"index\"");
	if (d->kind != REPLICA_IDENTITY_INDEX && d->index != NULL)
		op_error("field \"index\" is for replica identity type index");
}

/*
 * The text of the first column of the first row of a query on the system
 * catalogs, names resolved in pg_catalog; NULL without a row.
 */
static char *
catalog_text(const char *sql, int nargs, Oid *argtypes, Datum *values)
{
	MemoryContext caller = CurrentMemoryContext;
	int			nestlevel = online_pinned_path();
	char	   *result = NULL;

	SPI_connect();
	/* not read-only: it must see what this transaction did */
	if (SPI_execute_with_args(sql, nargs, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the system catalogs");
	if (SPI_processed > 0)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (v)
			result = MemoryContextStrdup(caller, v);
	}
	SPI_finish();
	online_path_end(nestlevel);
	return result;
}

static void
refuse_index(const char *index, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("index \"%s\" cannot be a replica identity", index),
			 errdetail("%s", why)));
}

/*
 * The index's columns must stay until complete: dropping one drops the
 * index, and an altered one gets a copy of it that is not the identity.
 * Checked against the shape so far (shape), and at start against the
 * whole migration's (m given: no error context names the operation
 * there).
 */
static void
check_columns_kept(OnlineMigration *m, OnlineOp *op, Oid indexid)
{
	SetReplicaIdentity *d = op->data;
	ShapeTable *t = op->st;
	HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexid));
	Form_pg_index index;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for index %u", indexid);
	index = (Form_pg_index) GETSTRUCT(tup);
	for (int i = 0; i < index->indnatts; i++)
	{
		char	   *attname;
		ListCell   *lc;

		if (index->indkey.values[i] <= 0)
			continue;
		attname = get_attname(index->indrelid, index->indkey.values[i], false);
		foreach(lc, t->columns)
		{
			ShapeColumn *c = lfirst(lc);

			if (c->added_by == NULL && strcmp(c->physical, attname) == 0 &&
				c->dropped_by != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("index \"%s\" is on column \"%s\", which operation %d drops or alters",
								d->index, attname, c->dropped_by->index),
						 errhint("Set the replica identity in a migration of its own."),
						 m ? errcontext("operation %d (%s) of online migration %s",
										op->index, op->methods->name, m->version) : 0));
		}
	}
	ReleaseSysCache(tup);
}

/*
 * What ALTER TABLE ... REPLICA IDENTITY USING INDEX would refuse, and an
 * index whose columns have a NOT NULL constraint not validated yet (18).
 */
static void
check_index(ShapeState *s, OnlineOp *op, ShapeTable *t)
{
	SetReplicaIdentity *d = op->data;
	Oid			indexid = get_relname_relid(d->index, s->nsp);
	HeapTuple	tup;
	Form_pg_index index;

	if (!OidIsValid(indexid) || (get_rel_relkind(indexid) != RELKIND_INDEX &&
								 get_rel_relkind(indexid) != RELKIND_PARTITIONED_INDEX))
		op_error("index \"%s.%s\" does not exist", s->m->schema, d->index);
	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for index %u", indexid);
	index = (Form_pg_index) GETSTRUCT(tup);
	if (index->indrelid != t->relid)
		op_error("index \"%s\" is not an index of table \"%s\"", d->index, op->table);
	if (!index->indisunique)
		refuse_index(d->index, "It is not unique.");
	if (!index->indimmediate)
		refuse_index(d->index, "It is deferrable.");
	if (!heap_attisnull(tup, Anum_pg_index_indexprs, NULL))
		refuse_index(d->index, "It is an index on expressions.");
	if (!heap_attisnull(tup, Anum_pg_index_indpred, NULL))
		refuse_index(d->index, "It is a partial index.");
	if (!index->indisvalid)
		refuse_index(d->index, "It is invalid.");
	for (int i = 0; i < index->indnkeyatts; i++)
	{
		AttrNumber	attnum = index->indkey.values[i];
		HeapTuple	atttup;
		bool		notnull;
		char	   *attname;

		if (attnum <= 0)
			refuse_index(d->index, "It has a system column.");
		atttup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(t->relid), Int16GetDatum(attnum));
		if (!HeapTupleIsValid(atttup))
			elog(ERROR, "cache lookup failed for attribute %d of relation %u",
				 attnum, t->relid);
		notnull = ((Form_pg_attribute) GETSTRUCT(atttup))->attnotnull;
		attname = pstrdup(NameStr(((Form_pg_attribute) GETSTRUCT(atttup))->attname));
		ReleaseSysCache(atttup);
		if (!notnull)
			refuse_index(d->index, psprintf("Column \"%s\" is nullable.", attname));
		{
			Oid			argtypes[2] = {OIDOID, INT2OID};
			Datum		values[2] = {ObjectIdGetDatum(t->relid), Int16GetDatum(attnum)};

			if (catalog_text("SELECT conname FROM pg_catalog.pg_constraint"
							 " WHERE conrelid = $1 AND contype = 'n' AND NOT convalidated"
							 "   AND conkey[1] = $2",
							 2, argtypes, values) != NULL)
				refuse_index(d->index,
							 psprintf("The NOT NULL constraint of column \"%s\" is not validated.",
									  attname));
		}
	}
	ReleaseSysCache(tup);
	check_columns_kept(NULL, op, indexid);
}

/*
 * Would this identity leave the table's published updates or deletes
 * without a key?  What the catalog tells before start: a publication of
 * the table (of it, of its schema, of all tables, or of an ancestor)
 * publishes them, and the identity is nothing, or default without a
 * primary key.
 */
static void
check_publications(ShapeState *s, OnlineOp *op, ShapeTable *t)
{
	SetReplicaIdentity *d = op->data;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(t->relid)};
	char	   *pub;

	if (d->kind != REPLICA_IDENTITY_NOTHING && d->kind != REPLICA_IDENTITY_DEFAULT)
		return;
	/* a partitioned table's writes are its partitions' */
	if (get_rel_relkind(t->relid) != RELKIND_RELATION ||
		get_rel_persistence(t->relid) != RELPERSISTENCE_PERMANENT)
		return;
	if (d->kind == REPLICA_IDENTITY_DEFAULT &&
		catalog_text("SELECT indexrelid FROM pg_catalog.pg_index"
					 " WHERE indrelid = $1 AND indisprimary AND indisvalid AND indimmediate",
					 1, argtypes, values) != NULL)
		return;
	pub = catalog_text("WITH rel AS (SELECT $1 AS relid"
					   "             UNION SELECT relid FROM pg_catalog.pg_partition_ancestors($1))"
					   "SELECT p.pubname FROM pg_catalog.pg_publication p"
					   " WHERE (p.pubupdate OR p.pubdelete)"
					   "   AND (p.puballtables"
					   "        OR EXISTS (SELECT FROM pg_catalog.pg_publication_rel r"
					   "                    WHERE r.prpubid = p.oid"
					   "                      AND r.prrelid IN (SELECT relid FROM rel))"
					   "        OR EXISTS (SELECT FROM pg_catalog.pg_publication_namespace n"
					   "                     JOIN pg_catalog.pg_class c ON c.relnamespace = n.pnnspid"
					   "                    WHERE n.pnpubid = p.oid"
					   "                      AND c.oid IN (SELECT relid FROM rel)))"
					   " ORDER BY p.pubname LIMIT 1",
					   1, argtypes, values);
	if (pub)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("replica identity %s would make updates and deletes of table \"%s\" fail",
						kind_name(d->kind), op->table),
				 d->kind == REPLICA_IDENTITY_NOTHING ?
				 errdetail("Publication \"%s\" publishes them, and replica identity nothing gives them no key.",
						   pub) :
				 errdetail("Publication \"%s\" publishes them, and the table has no primary key for replica identity default.",
						   pub),
				 errhint("Use replica identity full, or index with a unique index.")));
}

static void
set_replica_identity_shape(ShapeState *s, OnlineOp *op)
{
	SetReplicaIdentity *d = op->data;
	ShapeTable *t = shape_open(s, op, false, NULL);

	if (s->expanded)
		return;
	if (t->created)
	{
		/* its indexes do not exist yet; it is as start creates it */
		if (d->kind == REPLICA_IDENTITY_INDEX)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("table \"%s\" is created by this migration", op->table),
					 errhint("Set its replica identity to an index in a later migration.")));
		return;
	}
	if (d->kind == REPLICA_IDENTITY_INDEX)
		check_index(s, op, t);
	check_publications(s, op, t);
}

/* The updates and deletes of a table, as the executor checks them. */
static void
check_writes_fn(void *arg)
{
	Relation	rel = (Relation) arg;

	CheckCmdReplicaIdentity(rel, CMD_UPDATE);
	CheckCmdReplicaIdentity(rel, CMD_DELETE);
}

/*
 * Once set, the identity must let the table's updates and deletes through
 * as the executor checks them: a key for its publications, covering their
 * row filters and column lists.
 */
static void
check_writes(OnlineMigration *m, OnlineOp *op, Oid relid)
{
	SetReplicaIdentity *d = op->data;
	Relation	rel;
	ErrorData  *edata;

	/* a partitioned table's writes are its partitions' */
	if (get_rel_relkind(relid) != RELKIND_RELATION)
		return;
	/* locked by the ALTER TABLE */
	rel = relation_open(relid, NoLock);
	edata = subxact_run(check_writes_fn, rel);
	relation_close(rel, NoLock);
	if (edata == NULL)
		return;
	/* a cancel, or anything but its verdict, stays what it is */
	if (edata->sqlerrcode != ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE &&
		edata->sqlerrcode != ERRCODE_INVALID_COLUMN_REFERENCE)
		ReThrowError(edata);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("replica identity %s would make updates and deletes of table \"%s\" fail",
					identity_desc(d), op->table),
			 edata->detail ?
			 errdetail("%s", edata->detail) :
			 errdetail("A publication of the table publishes them, and the replica identity gives them no key."),
			 errhint("Use replica identity full, or index with a unique index that covers the publications' row filters and column lists."),
			 errcontext("operation %d (%s) of online migration %s",
						op->index, op->methods->name, m->version)));
}

/*
 * The identity goes on the table; the one it replaces goes to the event,
 * for rollback.
 */
static void
set_replica_identity_start(OnlineMigration *m, OnlineOp *op, StringInfo steps)
{
	SetReplicaIdentity *d = op->data;
	ShapeTable *t = op->st;
	char	   *rel = online_rel_sql(t->relid);
	HeapTuple	tup;
	char		previous;
	char	   *previous_index = NULL;
	StringInfoData detail;

	/* what the operations after this one do is known now */
	if (d->kind == REPLICA_IDENTITY_INDEX)
		check_columns_kept(m, op, get_relname_relid(d->index, get_rel_namespace(t->relid)));

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(t->relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", t->relid);
	previous = ((Form_pg_class) GETSTRUCT(tup))->relreplident;
	ReleaseSysCache(tup);
	if (previous == REPLICA_IDENTITY_INDEX)
	{
		Oid			argtypes[1] = {OIDOID};
		Datum		values[1] = {ObjectIdGetDatum(t->relid)};

		previous_index = catalog_text("SELECT c.relname FROM pg_catalog.pg_index i"
									  "  JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid"
									  " WHERE i.indrelid = $1 AND i.indisreplident",
									  1, argtypes, values);

		/*
		 * Its index dropped, an index identity is nothing (no key is logged,
		 * published updates fail alike): rollback restores that.
		 */
		if (previous_index == NULL)
			previous = REPLICA_IDENTITY_NOTHING;
	}

	online_ddl(m, "set_replica_identity",
			   psprintf("ALTER TABLE %s REPLICA IDENTITY %s", rel, identity_sql(d->kind, d->index)));
	check_writes(m, op, t->relid);

	initStringInfo(&detail);
	appendStringInfo(&detail, "{\"operation\": %d, \"table\": ", op->index);
	escape_json(&detail, rel);
	appendStringInfoString(&detail, ", \"previous\": ");
	append_identity(&detail, previous, previous_index);
	appendStringInfoString(&detail, ", \"identity\": ");
	append_identity(&detail, d->kind, d->index);
	appendStringInfoChar(&detail, '}');
	catalog_event(m->version, EVENT_ACTION, 0, detail.data, NULL);
}

/* The identity start replaced, as its latest event has it. */
static void
set_replica_identity_rollback(OnlineMigration *m, OnlineOp *op)
{
	ShapeTable *t = op->st;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	char	   *rel;
	char	   *type = NULL;
	char	   *index = NULL;
	char		previous = '\0';

	/* a table created by the migration goes with its rollback */
	if (t == NULL || !OidIsValid(t->relid) || t->created)
		return;
	rel = online_rel_sql(t->relid);

	/* the fence keeps the cast off the other events' details */
	values[0] = CStringGetTextDatum(m->version);
	values[1] = CStringGetTextDatum(psprintf("%d", op->index));
	catalog_exec("SELECT d -> 'previous' ->> 'type', d -> 'previous' ->> 'index'"
				 "  FROM (SELECT e.id, e.detail::jsonb AS d FROM migrate.event e"
				 "         WHERE e.version = $1 AND e.action = '" EVENT_ACTION "'"
				 "        OFFSET 0) e"
				 " WHERE d ->> 'operation' = $2"
				 " ORDER BY e.id DESC LIMIT 1",
				 2, argtypes, values, NULL, 1);
	if (SPI_processed > 0)
	{
		type = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		index = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	}
	for (int i = 0; type && i < lengthof(kinds); i++)
		if (strcmp(type, kinds[i].name) == 0)
			previous = kinds[i].kind;
	if (previous == '\0' || (previous == REPLICA_IDENTITY_INDEX && index == NULL))
	{
		ereport(WARNING,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the replica identity of table %s stays as the migration set it", rel),
				 errdetail("The one before the start is not recorded in migrate.event (action %s).",
						   EVENT_ACTION)));
		return;
	}
	if (previous == REPLICA_IDENTITY_INDEX)
	{
		Oid			indexid = get_relname_relid(index, get_rel_namespace(t->relid));
		bool		found = false;

		if (OidIsValid(indexid))
		{
			HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexid));

			if (HeapTupleIsValid(tup))
			{
				found = ((Form_pg_index) GETSTRUCT(tup))->indrelid == t->relid;
				ReleaseSysCache(tup);
			}
		}
		if (!found)
		{
			ereport(WARNING,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("the replica identity of table %s stays as the migration set it", rel),
					 errdetail("Index \"%s\", the replica identity before the start, is gone.",
							   index)));
			return;
		}
	}
	online_ddl(m, "rollback", psprintf("ALTER TABLE %s REPLICA IDENTITY %s", rel,
									   identity_sql(previous, index)));
}

/* listed in ops.c; declared first for -Wmissing-variable-declarations (18) */
extern const OnlineOpMethods online_op_set_replica_identity;

const OnlineOpMethods online_op_set_replica_identity = {
	.name = "set_replica_identity",
	.fields = fields,
	.parse = set_replica_identity_parse,
	.shape = set_replica_identity_shape,
	.start = set_replica_identity_start,
	.rollback = set_replica_identity_rollback,
};
