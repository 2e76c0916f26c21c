/*-------------------------------------------------------------------------
 *
 * op_create_constraint.c
 *	  create_constraint: a constraint over one or more columns.  A check or
 *	  foreign key is added NOT VALID at start and validated by the job; a
 *	  unique one is an index built concurrently by the job, which complete
 *	  makes the constraint.
 *
 *	  {"create_constraint": {"table": "orders", "name": "orders_squad_fk",
 *	   "type": "foreign_key", "columns": ["squad_id"],
 *	   "references": {"table": "squads", "columns": ["id"]}}}
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "online/online_int.h"

typedef struct CreateConstraint
{
	char	   *name;
	char	   *type;			/* unique, check, foreign_key */
	List	   *columns;		/* names, as the operation sees them */
	char	   *check;			/* an expression over the new shape */
	OnlineReference *references;
	/* as online_shape left them: physical names, as they were when it came */
	List	   *physical;		/* of its columns, */
	List	   *ref_physical;	/* ... of the referenced ones, */
	char	   *ref_relname;	/* ... and of the referenced table */
} CreateConstraint;

static const char *const fields[] = {
	"schema", "table", "name", "type", "columns", "check", "references", NULL
};

static void
create_constraint_parse(OnlineMigration *m, OnlineOp *op, JsonbContainer *body,
						bool check_catalog)
{
	CreateConstraint *d = palloc0(sizeof(CreateConstraint));

	op->data = d;
	op->table = doc_identifier(body, "table", true);
	d->name = doc_identifier(body, "name", true);
	d->type = doc_string(body, "type", true);
	d->columns = doc_field(body, "columns") ? doc_identifiers(body, "columns") : NIL;
	doc_key_columns(d->columns, "columns");
	if (strcmp(d->type, "unique") == 0)
	{
		if (d->columns == NIL)
			op_error("a unique constraint needs \"columns\"");
	}
	else if (strcmp(d->type, "check") == 0)
	{
		d->check = doc_string(body, "check", true);
		(void) online_expression(d->check, InvalidOid, InvalidOid, -1, NULL);
	}
	else if (strcmp(d->type, "foreign_key") == 0)
	{
		d->references = doc_reference(body, false, NULL);
		if (d->columns == NIL || d->references == NULL)
			op_error("a foreign key needs \"columns\" and \"references\"");
		if (list_length(d->columns) != list_length(d->references->columns))
			op_error("a foreign key references as many columns as it has");
	}
	else
		op_error("constraint type must be unique, check or foreign_key");
	if (strcmp(d->type, "check") != 0 && doc_field(body, "check"))
		op_error("field \"check\" is for check constraints");
	if (strcmp(d->type, "foreign_key") != 0 && doc_field(body, "references"))
		op_error("field \"references\" is for foreign keys");
}

static void
create_constraint_shape(ShapeState *s, OnlineOp *op)
{
	CreateConstraint *d = op->data;
	ShapeTable *t = shape_open(s, op, false, NULL);

	if (!s->expanded && (OidIsValid(shape_constraint_oid(t->relid, d->name)) ||
						 OidIsValid(get_relname_relid(d->name, s->nsp))))
		op_error("constraint \"%s\" of table \"%s\" already exists", d->name, op->table);
	d->physical = shape_columns_physical(s, t, d->columns);
	if (d->references)
		d->ref_physical = shape_reference(s, d->references, &d->ref_relname);
	if (!s->expanded && strcmp(d->type, "check") != 0)
		online_refuse_partitioned(t->relid, op->table,
								  strcmp(d->type, "unique") == 0 ? "u" : "f");
}

/* A comma-separated list of quoted names. */
static char *
name_list(List *names)
{
	StringInfoData list;
	ListCell   *lc;

	initStringInfo(&list);
	foreach(lc, names)
	{
		appendStringInfo(&list, "%s%s", list.len > 0 ? ", " : "", quote_identifier(lfirst(lc)));
	}
	return list.data;
}

/* At start, once the views exist (a check is read against the new shape). */
static void
create_constraint_start_views(OnlineMigration *m, OnlineOp *op, StringInfo steps)
{
	CreateConstraint *d = op->data;
	ShapeTable *t = op->st;
	char	   *rel = online_rel_sql(t->relid);
	char	   *cols = name_list(d->physical);

	if (strcmp(d->type, "unique") == 0)
		online_add_index(m, steps, t->relid, true, d->name, psprintf(" (%s)", cols));
	else if (strcmp(d->type, "check") == 0)
	{
		online_ddl(m, "create_constraint",
				   psprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s) NOT VALID", rel,
							quote_identifier(d->name),
							online_mapped_expression(d->check, m, t, EXPR_KIND_CHECK_CONSTRAINT)));
		online_add_validation(steps, t->relid, d->name);
	}
	else
	{
		online_ddl(m, "create_constraint",
				   psprintf("ALTER TABLE %s ADD CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s (%s)"
							" ON UPDATE %s ON DELETE %s NOT VALID",
							rel, quote_identifier(d->name), cols,
							online_qualified(m->schema, d->ref_relname),
							name_list(d->ref_physical),
							d->references->on_update, d->references->on_delete));
		online_add_validation(steps, t->relid, d->name);
	}
}

/*
 * A unique index becomes the constraint; a check on a partitioned table,
 * valid on every partition, becomes valid on the table.
 */
static void
create_constraint_complete(OnlineMigration *m, OnlineOp *op)
{
	CreateConstraint *d = op->data;

	if (strcmp(d->type, "check") == 0)
		online_validate_partitioned(m, op->st->relid, d->name);
	if (strcmp(d->type, "unique") == 0)
		online_ddl(m, "complete", psprintf("ALTER TABLE %s ADD CONSTRAINT %s UNIQUE USING INDEX %s",
										   online_rel_sql(op->st->relid),
										   quote_identifier(d->name),
										   quote_identifier(d->name)));
}

static void
create_constraint_rollback(OnlineMigration *m, OnlineOp *op)
{
	CreateConstraint *d = op->data;
	char	   *table = online_op_rel_sql(op);

	if (strcmp(d->type, "unique") == 0)
		online_ddl(m, "rollback", psprintf("DROP INDEX IF EXISTS %s",
										   online_qualified(m->schema, d->name)));
	else if (table)
		online_ddl(m, "rollback", psprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s", table,
										   quote_identifier(d->name)));
}

/* listed in ops.c; declared first for -Wmissing-variable-declarations (18) */
extern const OnlineOpMethods online_op_create_constraint;

const OnlineOpMethods online_op_create_constraint = {
	.name = "create_constraint",
	.fields = fields,
	.parse = create_constraint_parse,
	.shape = create_constraint_shape,
	.start_views = create_constraint_start_views,
	.complete = create_constraint_complete,
	.rollback = create_constraint_rollback,
};
