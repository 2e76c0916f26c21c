/*-------------------------------------------------------------------------
 *
 * fingerprint.c
 *	  A fingerprint of the schema: one (kind, object, definition) row per
 *	  schema object, by name, in every non-system schema.
 *
 * migrate_verify compares fingerprints taken before a migration's up and
 * after its down; migrate_validate compares the live schema with the
 * fingerprint recorded after the last upgrade, downgrade or baseline.
 * Objects are named, never identified by OID, so a fingerprint survives
 * pg_dump and restore.  Extension members, the migrate schema and temporary
 * and system schemas are left out.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "lib/stringinfo.h"
#include "storage/proc.h"
#include "utils/builtins.h"

#include "base/base.h"
#include "catalog/migrate_catalog.h"

/*
 * Names are quoted with quote_ident; the rows come sorted by kind and
 * object in the C collation, the order fingerprint_diff merges in.
 */
static const char *const fingerprint_query =
"WITH nsp AS ("
"  SELECT n.oid, n.nspname FROM pg_catalog.pg_namespace n"
"   WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'"
"     AND n.nspname <> 'migrate' AND n.nspname !~ '^migrate_'"
"     AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d"
"                      WHERE d.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass"
"                        AND d.objid = n.oid AND d.deptype = 'e')),"
/*
 * the relations to read: all of them, or with tables given, only the ones
 * they own (below): the tables, their indexes, their sequences, found by
 * the catalogs' indexes.  That part runs under a phase's locks, and must
 * not read the whole catalog there.
 */
" rel_oid AS ("
"  SELECT c.oid FROM pg_catalog.pg_class c WHERE $1::pg_catalog.oid[] IS NULL"
"  UNION ALL SELECT pg_catalog.unnest($1)"
"  UNION ALL SELECT i.indexrelid FROM pg_catalog.pg_index i"
"             WHERE i.indrelid OPERATOR(pg_catalog.=) ANY ($1)"
"  UNION ALL SELECT d.objid FROM pg_catalog.pg_depend d"
"             WHERE d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass"
"               AND d.refobjid OPERATOR(pg_catalog.=) ANY ($1)"
"               AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass"
"               AND d.deptype IN ('a', 'i')),"
" every_rel AS ("
"  SELECT c.oid, c.relname, c.relkind, c.relpersistence, c.reloptions, c.relpartbound,"
"         c.relrowsecurity, c.relforcerowsecurity, c.relreplident, nsp.nspname,"
"         pg_catalog.quote_ident(nsp.nspname) OPERATOR(pg_catalog.||) '.'"
"           OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname) AS qname,"
"         CASE WHEN c.relkind IN ('i', 'I') THEN i.indrelid"
"              WHEN c.relkind = 'S' THEN coalesce((SELECT d.refobjid FROM pg_catalog.pg_depend d"
"                      WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid"
"                        AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass"
"                        AND d.deptype IN ('a', 'i') LIMIT 1), c.oid)"
"              ELSE c.oid END AS owner"
"    FROM pg_catalog.pg_class c JOIN nsp ON nsp.oid = c.relnamespace"
"    LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid"
"   WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S', 'c', 'i', 'I')"
"     AND c.oid IN (SELECT oid FROM rel_oid)"
"     AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d"
"                      WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass"
"                        AND d.objid = c.oid AND d.deptype = 'e')),"
" rel AS (SELECT * FROM every_rel"
"          WHERE $1::pg_catalog.oid[] IS NULL OR owner OPERATOR(pg_catalog.=) ANY ($1))"
"SELECT kind, object, coalesce(definition, '') AS definition, owner FROM ("
/* schemas */
"  SELECT 'schema' AS kind, pg_catalog.quote_ident(nspname) AS object, 'exists' AS definition,"
"         NULL::pg_catalog.oid AS owner"
"    FROM nsp WHERE $1::pg_catalog.oid[] IS NULL"
/* tables, views, sequences, composite types (indexes below) */
"  UNION ALL"
"  SELECT CASE relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'"
"                      WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table'"
"                      WHEN 'S' THEN 'sequence' ELSE 'type' END,"
"         qname,"
"         CASE relkind"
"           WHEN 'v' THEN pg_catalog.pg_get_viewdef(rel.oid)"
"                OPERATOR(pg_catalog.||) coalesce(' with ' OPERATOR(pg_catalog.||) rel.reloptions::text, '')"
"           WHEN 'm' THEN pg_catalog.pg_get_viewdef(rel.oid)"
"           WHEN 'S' THEN (SELECT pg_catalog.format('%s start %s increment %s minvalue %s maxvalue %s cache %s%s',"
"                                 s.seqtypid::pg_catalog.regtype, s.seqstart, s.seqincrement, s.seqmin,"
"                                 s.seqmax, s.seqcache, CASE WHEN s.seqcycle THEN ' cycle' ELSE '' END)"
"                            FROM pg_catalog.pg_sequence s WHERE s.seqrelid = rel.oid)"
"           WHEN 'c' THEN 'composite'"
"           ELSE CASE relpersistence WHEN 'u' THEN 'unlogged' ELSE 'logged' END"
"                OPERATOR(pg_catalog.||) coalesce(' partition by ' OPERATOR(pg_catalog.||) pg_catalog.pg_get_partkeydef(rel.oid), '')"
"                OPERATOR(pg_catalog.||) coalesce(' with ' OPERATOR(pg_catalog.||) rel.reloptions::text, '')"
"                OPERATOR(pg_catalog.||) coalesce((SELECT ' inherits ' OPERATOR(pg_catalog.||)"
"                       pg_catalog.string_agg(inh.inhparent::pg_catalog.regclass::text, ', ' ORDER BY inh.inhseqno)"
"                       FROM pg_catalog.pg_inherits inh WHERE inh.inhrelid = rel.oid), '')"
"                OPERATOR(pg_catalog.||) coalesce(' ' OPERATOR(pg_catalog.||) pg_catalog.pg_get_expr(rel.relpartbound, rel.oid), '')"
"                OPERATOR(pg_catalog.||) CASE WHEN rel.relrowsecurity THEN ' row level security' ELSE '' END"
"                OPERATOR(pg_catalog.||) CASE WHEN rel.relforcerowsecurity THEN ' forced' ELSE '' END"
"                OPERATOR(pg_catalog.||) CASE rel.relreplident WHEN 'd' THEN '' ELSE ' replica identity '"
"                                            OPERATOR(pg_catalog.||) rel.relreplident::text END"
"         END, rel.owner"
"    FROM rel WHERE relkind <> 'i' AND relkind <> 'I'"
/* columns */
"  UNION ALL"
"  SELECT 'column', rel.qname OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(a.attname),"
"         pg_catalog.format_type(a.atttypid, a.atttypmod)"
"         OPERATOR(pg_catalog.||) CASE WHEN a.attcollation <> t.typcollation"
"              THEN ' collate ' OPERATOR(pg_catalog.||) a.attcollation::pg_catalog.regcollation::text ELSE '' END"
"         OPERATOR(pg_catalog.||) CASE WHEN a.attnotnull THEN ' not null' ELSE '' END"
"         OPERATOR(pg_catalog.||) CASE a.attidentity WHEN 'a' THEN ' generated always as identity'"
"              WHEN 'd' THEN ' generated by default as identity' ELSE '' END"
"         OPERATOR(pg_catalog.||) CASE WHEN a.attgenerated = 's'"
"              THEN ' generated always as (' OPERATOR(pg_catalog.||) pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) OPERATOR(pg_catalog.||) ') stored'"
"              ELSE coalesce(' default ' OPERATOR(pg_catalog.||) pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), '') END,"
"         rel.owner"
"    FROM rel JOIN pg_catalog.pg_attribute a ON a.attrelid = rel.oid"
"    JOIN pg_catalog.pg_type t ON t.oid = a.atttypid"
"    LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum"
"   WHERE a.attnum > 0 AND NOT a.attisdropped AND rel.relkind NOT IN ('S', 'i', 'I')"
/*
 * constraints of tables and domains; NOT NULL ones are pg_constraint rows
 * from 17 (domains) and 18 (tables) on, but the column and the domain
 * already say "not null": left out, a fingerprint reads the same on each
 * version
 */
"  UNION ALL"
"  SELECT 'constraint', rel.qname OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(con.conname),"
"         pg_catalog.pg_get_constraintdef(con.oid), rel.owner"
"    FROM pg_catalog.pg_constraint con JOIN rel ON rel.oid = con.conrelid"
"   WHERE con.contype OPERATOR(pg_catalog.<>) 'n'"
"  UNION ALL"
"  SELECT 'constraint', pg_catalog.quote_ident(nsp.nspname) OPERATOR(pg_catalog.||) '.'"
"           OPERATOR(pg_catalog.||) pg_catalog.quote_ident(t.typname) OPERATOR(pg_catalog.||) '.'"
"           OPERATOR(pg_catalog.||) pg_catalog.quote_ident(con.conname),"
"         pg_catalog.pg_get_constraintdef(con.oid), NULL"
"    FROM pg_catalog.pg_constraint con JOIN pg_catalog.pg_type t ON t.oid = con.contypid"
"    JOIN nsp ON nsp.oid = t.typnamespace"
"   WHERE con.contype OPERATOR(pg_catalog.<>) 'n' AND $1::pg_catalog.oid[] IS NULL"
/* indexes */
"  UNION ALL"
"  SELECT 'index', rel.qname,"
"         pg_catalog.pg_get_indexdef(rel.oid)"
"         OPERATOR(pg_catalog.||) CASE WHEN i.indisvalid THEN '' ELSE ' (invalid)' END,"
"         rel.owner"
"    FROM rel JOIN pg_catalog.pg_index i ON i.indexrelid = rel.oid"
/* functions and procedures */
"  UNION ALL"
"  SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END,"
"         pg_catalog.quote_ident(nsp.nspname) OPERATOR(pg_catalog.||) '.'"
"           OPERATOR(pg_catalog.||) pg_catalog.quote_ident(p.proname) OPERATOR(pg_catalog.||) '('"
"           OPERATOR(pg_catalog.||) pg_catalog.pg_get_function_identity_arguments(p.oid) OPERATOR(pg_catalog.||) ')',"
"         CASE WHEN p.prokind = 'a' THEN pg_catalog.pg_get_function_result(p.oid)"
"              ELSE 'md5 ' OPERATOR(pg_catalog.||) pg_catalog.md5(pg_catalog.pg_get_functiondef(p.oid)) END,"
"         NULL"
"    FROM pg_catalog.pg_proc p JOIN nsp ON nsp.oid = p.pronamespace"
"   WHERE $1::pg_catalog.oid[] IS NULL AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d"
"                      WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass"
"                        AND d.objid = p.oid AND d.deptype = 'e')"
/* triggers */
"  UNION ALL"
"  SELECT 'trigger', rel.qname OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(tg.tgname),"
"         pg_catalog.pg_get_triggerdef(tg.oid)"
"         OPERATOR(pg_catalog.||) CASE tg.tgenabled WHEN 'D' THEN ' (disabled)' WHEN 'R' THEN ' (replica)'"
"                                                   WHEN 'A' THEN ' (always)' ELSE '' END,"
"         rel.owner"
"    FROM pg_catalog.pg_trigger tg JOIN rel ON rel.oid = tg.tgrelid WHERE NOT tg.tgisinternal"
/* row level security policies and rewrite rules */
"  UNION ALL"
"  SELECT 'policy', rel.qname OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(pol.polname),"
"         pg_catalog.format('%s for %s to %s using (%s) with check (%s)',"
"                CASE WHEN pol.polpermissive THEN 'permissive' ELSE 'restrictive' END, pol.polcmd,"
"                (SELECT pg_catalog.string_agg(CASE WHEN r = 0 THEN 'public' ELSE r::pg_catalog.regrole::text END, ', ' ORDER BY 1)"
"                   FROM pg_catalog.unnest(pol.polroles) r),"
"                pg_catalog.pg_get_expr(pol.polqual, pol.polrelid),"
"                pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid)),"
"         rel.owner"
"    FROM pg_catalog.pg_policy pol JOIN rel ON rel.oid = pol.polrelid"
"  UNION ALL"
"  SELECT 'rule', rel.qname OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(ru.rulename),"
"         pg_catalog.pg_get_ruledef(ru.oid)"
"         OPERATOR(pg_catalog.||) CASE ru.ev_enabled WHEN 'D' THEN ' (disabled)' WHEN 'R' THEN ' (replica)'"
"                                                    WHEN 'A' THEN ' (always)' ELSE '' END,"
"         rel.owner"
"    FROM pg_catalog.pg_rewrite ru JOIN rel ON rel.oid = ru.ev_class WHERE ru.rulename <> '_RETURN'"
/* enums, domains, ranges */
"  UNION ALL"
"  SELECT 'type', pg_catalog.quote_ident(nsp.nspname) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(t.typname),"
"         CASE t.typtype"
"           WHEN 'e' THEN 'enum ' OPERATOR(pg_catalog.||) (SELECT pg_catalog.array_agg(e.enumlabel ORDER BY e.enumsortorder)::text"
"                                     FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid)"
"           WHEN 'd' THEN 'domain ' OPERATOR(pg_catalog.||) pg_catalog.format_type(t.typbasetype, t.typtypmod)"
"                OPERATOR(pg_catalog.||) CASE WHEN t.typnotnull THEN ' not null' ELSE '' END"
"                OPERATOR(pg_catalog.||) coalesce(' default ' OPERATOR(pg_catalog.||) t.typdefault, '')"
"           WHEN 'r' THEN 'range of ' OPERATOR(pg_catalog.||) (SELECT r.rngsubtype::pg_catalog.regtype::text"
"                                          FROM pg_catalog.pg_range r WHERE r.rngtypid = t.oid)"
"           ELSE t.typtype::text END,"
"         NULL"
"    FROM pg_catalog.pg_type t JOIN nsp ON nsp.oid = t.typnamespace"
"   WHERE t.typtype IN ('e', 'd', 'r') AND $1::pg_catalog.oid[] IS NULL"
"     AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d"
"                      WHERE d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass"
"                        AND d.objid = t.oid AND d.deptype = 'e')"
") f ORDER BY kind COLLATE \"C\", object COLLATE \"C\"";

/* The local transaction that last ran fingerprint_query (fingerprint_warm). */
static LocalTransactionId fingerprint_taken_in = InvalidLocalTransactionId;

/*
 * Run fingerprint_query, of the whole schema (tables NULL) or of the
 * objects of some tables only (an oid array of them: the tables,
 * their columns, constraints, triggers, policies and rules, their indexes
 * and the sequences they own); prefix, when given, makes it the query of
 * a statement (an INSERT).
 */
static int
fingerprint_run(const char *prefix, Datum tables)
{
	Oid			argtypes[1] = {OIDARRAYOID};
	Datum		values[1] = {tables};
	char		nulls[1] = {tables == (Datum) 0 ? 'n' : ' '};

	fingerprint_taken_in = migrate_local_xid();
	if (prefix == NULL)
		return catalog_exec(fingerprint_query, 1, argtypes, values, nulls, 0);
	return catalog_exec(psprintf("%s (%s) f", prefix, fingerprint_query),
						1, argtypes, values, nulls, 0);
}

/* The rows fingerprint_run returned, in the current memory context. */
static Fingerprint *
fingerprint_read(void)
{
	Fingerprint *fp = palloc0(sizeof(Fingerprint));

	fp->n = SPI_processed;
	fp->objects = palloc0(sizeof(SchemaObject) * Max(fp->n, 1));
	for (int i = 0; i < fp->n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *def = SPI_getvalue(tup, desc, 3);
		bool		isnull;
		Datum		owner = SPI_getbinval(tup, desc, 4, &isnull);

		fp->objects[i].kind = SPI_getvalue(tup, desc, 1);
		fp->objects[i].object = SPI_getvalue(tup, desc, 2);
		fp->objects[i].definition = def ? def : "";
		fp->objects[i].owner = isnull ? InvalidOid : DatumGetObjectId(owner);
	}
	SPI_freetuptable(SPI_tuptable);
	return fp;
}

/* The live schema's fingerprint, in the current memory context. */
Fingerprint *
fingerprint_take(void)
{
	if (fingerprint_run(NULL, (Datum) 0) != SPI_OK_SELECT)
		elog(ERROR, "could not take schema fingerprint");
	return fingerprint_read();
}

/*
 * Take the fingerprint once in this transaction, if not yet, and throw it
 * away: what a phase of an online migration that must record the whole
 * fingerprint under its locks (one with an sql operation) calls before it
 * takes them; the others use fingerprint_record_before.  In a backend that has not taken one yet,
 * loading the catalog caches the query needs takes longer than the query
 * itself (about 20 ms against 6 ms for a small schema), so that part is
 * paid before the locks.
 */
void
fingerprint_warm(void)
{
	if (fingerprint_taken_in != migrate_local_xid())
		(void) fingerprint_take();
}

/* The fingerprint recorded by the last fingerprint_record, or NULL. */
Fingerprint *
fingerprint_recorded(void)
{
	Fingerprint *fp;

	catalog_exec("SELECT 1 FROM migrate.fingerprint", 0, NULL, NULL, NULL, 1);
	if (SPI_processed == 0)
		return NULL;

	fp = palloc0(sizeof(Fingerprint));
	catalog_exec("SELECT kind, object, definition FROM migrate.fingerprint_object"
				 " ORDER BY kind COLLATE \"C\", object COLLATE \"C\"", 0, NULL, NULL, NULL, 0);
	fp->n = SPI_processed;
	fp->objects = palloc0(sizeof(SchemaObject) * Max(fp->n, 1));
	for (int i = 0; i < fp->n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		fp->objects[i].kind = SPI_getvalue(tup, desc, 1);
		fp->objects[i].object = SPI_getvalue(tup, desc, 2);
		fp->objects[i].definition = SPI_getvalue(tup, desc, 3);
	}
	return fp;
}

/* The header of the recorded fingerprint: when, by whom, after what. */
static void
fingerprint_stamp(const char *action, const char *version)
{
	Oid			argtypes[3] = {TEXTOID, TEXTOID, NAMEOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};

	values[0] = CStringGetTextDatum(action);
	values[1] = version ? CStringGetTextDatum(version) : (Datum) 0;
	nulls[1] = version ? ' ' : 'n';
	values[2] = DirectFunctionCall1(namein, CStringGetDatum(catalog_actor()));
	if (catalog_exec("INSERT INTO migrate.fingerprint AS f"
					 " (recorded_at, recorded_by, action, version)"
					 " VALUES (clock_timestamp(), $3, $1, $2)"
					 " ON CONFLICT (singleton) DO UPDATE"
					 " SET recorded_at = excluded.recorded_at,"
					 "     recorded_by = excluded.recorded_by,"
					 "     action = excluded.action, version = excluded.version",
					 3, argtypes, values, nulls, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record schema fingerprint");
}

/*
 * Record the live schema as the reference for migrate_validate, after an
 * upgrade, downgrade or baseline that changed something (as of version).
 */
void
fingerprint_record(const char *action, const char *version)
{
	catalog_exec("DELETE FROM migrate.fingerprint_object", 0, NULL, NULL, NULL, 0);
	if (fingerprint_run("INSERT INTO migrate.fingerprint_object (kind, object, definition)"
						" SELECT kind, object, definition FROM", (Datum) 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record schema fingerprint");
	fingerprint_stamp(action, version);
}

/*
 * Record the whole fingerprint before the phase of an online migration
 * that locks its tables, and return it: fingerprint_record_after then
 * records again only what belongs to the tables the phase changed, while
 * their locks are held.  The whole fingerprint's time grows with the
 * database (about 0.4 s at 5,000 tables with an index each), and every
 * writer of the locked tables would wait for it.
 */
Fingerprint *
fingerprint_record_before(const char *action, const char *version)
{
	Fingerprint *fp;
	Datum	   *kinds;
	Datum	   *objects;
	Datum	   *definitions;
	Oid			argtypes[3] = {TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[3];

	fp = fingerprint_take();
	kinds = palloc(sizeof(Datum) * Max(fp->n, 1));
	objects = palloc(sizeof(Datum) * Max(fp->n, 1));
	definitions = palloc(sizeof(Datum) * Max(fp->n, 1));
	for (int i = 0; i < fp->n; i++)
	{
		kinds[i] = CStringGetTextDatum(fp->objects[i].kind);
		objects[i] = CStringGetTextDatum(fp->objects[i].object);
		definitions[i] = CStringGetTextDatum(fp->objects[i].definition);
	}
	values[0] = PointerGetDatum(construct_array(kinds, fp->n, TEXTOID, -1, false, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_array(objects, fp->n, TEXTOID, -1, false, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(definitions, fp->n, TEXTOID, -1, false, TYPALIGN_INT));
	catalog_exec("DELETE FROM migrate.fingerprint_object", 0, NULL, NULL, NULL, 0);
	if (catalog_exec("INSERT INTO migrate.fingerprint_object (kind, object, definition)"
					 " SELECT * FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]),"
					 "     pg_catalog.unnest($2::pg_catalog.text[]), pg_catalog.unnest($3::pg_catalog.text[]))",
					 3, argtypes, values, NULL, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record schema fingerprint");
	fingerprint_stamp(action, version);
	return fp;
}

/*
 * The relations whose objects a phase may have changed, for
 * fingerprint_record_after: the ones this transaction has locked against
 * schema changes (SHARE UPDATE EXCLUSIVE or stronger: every DDL on a
 * relation, CREATE and DROP included, takes one); the relations of objects
 * that depend on them or on their row types, whose definitions name them
 * (a view, another table's foreign key or column, a partition: renaming a
 * table or a column locks only that table); and the tables that own the
 * indexes and sequences among them, by which their objects are recorded.
 * The second column is true when a function, a domain or a domain's
 * constraint depends on them: those are recorded only with the whole
 * fingerprint.
 */
static const char *const fingerprint_changed_query =
"WITH locked AS ("
"  SELECT l.relation AS oid FROM pg_catalog.pg_locks l"
"   WHERE l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()"
"     AND l.locktype OPERATOR(pg_catalog.=) 'relation' AND l.granted"
"     AND l.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d"
"          WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())"
"     AND l.mode IN ('ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock',"
"                    'ExclusiveLock', 'AccessExclusiveLock')),"
" referenced AS ("
"  SELECT 'pg_catalog.pg_class'::pg_catalog.regclass AS classid, oid FROM locked"
"  UNION ALL"
"  SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, c.reltype FROM pg_catalog.pg_class c"
"   WHERE c.oid IN (SELECT oid FROM locked) AND c.reltype OPERATOR(pg_catalog.<>) 0),"
" dependent AS ("
"  SELECT d.classid, d.objid, d.deptype FROM referenced r"
"    JOIN pg_catalog.pg_depend d ON d.refclassid OPERATOR(pg_catalog.=) r.classid"
"                               AND d.refobjid OPERATOR(pg_catalog.=) r.oid),"
" changed AS ("
"  SELECT oid FROM locked"
"  UNION"
"  SELECT CASE d.classid"
"           WHEN 'pg_catalog.pg_class'::pg_catalog.regclass THEN d.objid"
"           WHEN 'pg_catalog.pg_rewrite'::pg_catalog.regclass THEN"
"             (SELECT r.ev_class FROM pg_catalog.pg_rewrite r WHERE r.oid OPERATOR(pg_catalog.=) d.objid)"
"           WHEN 'pg_catalog.pg_constraint'::pg_catalog.regclass THEN"
"             (SELECT c.conrelid FROM pg_catalog.pg_constraint c WHERE c.oid OPERATOR(pg_catalog.=) d.objid)"
"           WHEN 'pg_catalog.pg_trigger'::pg_catalog.regclass THEN"
"             (SELECT t.tgrelid FROM pg_catalog.pg_trigger t WHERE t.oid OPERATOR(pg_catalog.=) d.objid)"
"           WHEN 'pg_catalog.pg_policy'::pg_catalog.regclass THEN"
"             (SELECT p.polrelid FROM pg_catalog.pg_policy p WHERE p.oid OPERATOR(pg_catalog.=) d.objid)"
"           WHEN 'pg_catalog.pg_attrdef'::pg_catalog.regclass THEN"
"             (SELECT a.adrelid FROM pg_catalog.pg_attrdef a WHERE a.oid OPERATOR(pg_catalog.=) d.objid)"
"         END FROM dependent d)"
"SELECT (SELECT coalesce(pg_catalog.array_agg(DISTINCT o), '{}') FROM ("
"          SELECT oid AS o FROM changed"
"          UNION ALL"
"          SELECT d.refobjid FROM changed c JOIN pg_catalog.pg_depend d"
"              ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
"             AND d.objid OPERATOR(pg_catalog.=) c.oid"
"             AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
"             AND d.deptype IN ('a', 'i')) owners WHERE o IS NOT NULL),"
"       EXISTS (SELECT FROM dependent d"
"                WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass"
"                   OR (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass"
"                       AND d.deptype OPERATOR(pg_catalog.<>) 'i')"
"                   OR (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_constraint'::pg_catalog.regclass"
"                       AND (SELECT c.contypid FROM pg_catalog.pg_constraint c"
"                             WHERE c.oid OPERATOR(pg_catalog.=) d.objid) OPERATOR(pg_catalog.<>) 0))";

/*
 * Record the fingerprint again after the phase: the objects of the
 * relations it may have changed (fingerprint_changed_query) are taken
 * again and replace those of the same relations in before, what
 * fingerprint_record_before recorded in this transaction.  Nothing else
 * can have changed in between: the objects of other relations are locked
 * by whoever changes them until they commit.  Without before (a phase that
 * runs SQL of the migration's own, which may change anything), or when a
 * function or a domain depends on what it changed, the whole fingerprint.
 */
void
fingerprint_record_after(Fingerprint *before, const char *action, const char *version)
{
	Datum		tables;
	bool		isnull;
	Datum	   *kinds;
	Datum	   *objects;
	int			n = 0;
	Oid			argtypes[3] = {TEXTARRAYOID, TEXTARRAYOID, OIDARRAYOID};
	Datum		values[3];

	if (before == NULL)
	{
		fingerprint_record(action, version);
		return;
	}
	if (catalog_exec(fingerprint_changed_query, 0, NULL, NULL, NULL, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not find the relations a phase changed");
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)))
	{
		fingerprint_record(action, version);
		return;
	}
	tables = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	tables = PointerGetDatum(DatumGetArrayTypePCopy(tables));

	kinds = palloc(sizeof(Datum) * Max(before->n, 1));
	objects = palloc(sizeof(Datum) * Max(before->n, 1));
	{
		ArrayType  *locked = DatumGetArrayTypeP(tables);
		Datum	   *oids;
		int			noids;

		deconstruct_array(locked, OIDOID, sizeof(Oid), true, TYPALIGN_INT, &oids, NULL, &noids);
		for (int i = 0; i < before->n; i++)
		{
			if (!OidIsValid(before->objects[i].owner))
				continue;
			for (int k = 0; k < noids; k++)
				if (DatumGetObjectId(oids[k]) == before->objects[i].owner)
				{
					kinds[n] = CStringGetTextDatum(before->objects[i].kind);
					objects[n] = CStringGetTextDatum(before->objects[i].object);
					n++;
					break;
				}
		}
	}
	values[0] = PointerGetDatum(construct_array(kinds, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_array(objects, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[2] = tables;
	catalog_exec("DELETE FROM migrate.fingerprint_object f"
				 " USING ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]),"
				 "                 pg_catalog.unnest($2::pg_catalog.text[])) AS o(kind, object)"
				 " WHERE f.kind OPERATOR(pg_catalog.=) o.kind AND f.object OPERATOR(pg_catalog.=) o.object",
				 2, argtypes, values, NULL, 0);
	if (fingerprint_run("INSERT INTO migrate.fingerprint_object (kind, object, definition)"
						" SELECT kind, object, definition FROM", tables) != SPI_OK_INSERT)
		elog(ERROR, "could not record schema fingerprint");
	fingerprint_stamp(action, version);
}

/*
 * Compare two fingerprints.  Calls found(kind, object, before, after, arg)
 * for each object whose definition differs; before or after is NULL for an
 * object that exists on one side only.  Returns the number of differences.
 */
int
fingerprint_diff(Fingerprint *a, Fingerprint *b,
				 void (*found) (SchemaObject *before, SchemaObject *after, void *arg),
				 void *arg)
{
	int			i = 0,
				j = 0,
				n = 0;

	while (i < a->n || j < b->n)
	{
		int			c;

		if (i >= a->n)
			c = 1;
		else if (j >= b->n)
			c = -1;
		else
		{
			c = strcmp(a->objects[i].kind, b->objects[j].kind);
			if (c == 0)
				c = strcmp(a->objects[i].object, b->objects[j].object);
		}

		if (c < 0)
		{
			found(&a->objects[i++], NULL, arg);
			n++;
		}
		else if (c > 0)
		{
			found(NULL, &b->objects[j++], arg);
			n++;
		}
		else
		{
			if (strcmp(a->objects[i].definition, b->objects[j].definition) != 0)
			{
				found(&a->objects[i], &b->objects[j], arg);
				n++;
			}
			i++;
			j++;
		}
	}
	return n;
}
