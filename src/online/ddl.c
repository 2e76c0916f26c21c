/*-------------------------------------------------------------------------
 *
 * ddl.c
 *	  What the phases of an online migration run, and what start leaves to
 *	  its background job.
 *
 * Every statement of a phase runs under the lock-safe discipline
 * (online_ddl); the job's steps are statements it runs as top-level
 * commands after the backfills (online_add_step).  Generated SQL names
 * every object, schema-qualified.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"

#include "exec/migrate_exec.h"
#include "online/online_int.h"

/* One statement of a phase, under the lock-safe discipline. */
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

/* The qualified name of a relation as it is now. */
char *
online_rel_sql(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/* The table an operation works on, as it is now; NULL if it is gone. */
char *
online_op_rel_sql(OnlineOp *op)
{
	ShapeTable *t = op->st;

	return t && OidIsValid(t->relid) ? online_rel_sql(t->relid) : NULL;
}

char *
online_qualified(const char *schema, const char *name)
{
	return quote_qualified_identifier(schema, name);
}
