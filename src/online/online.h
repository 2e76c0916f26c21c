/*-------------------------------------------------------------------------
 *
 * online.h
 *	  Online (expand/contract) migrations: the operations document, the
 *	  shape of the tables it changes, and the lifecycle.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_ONLINE_H
#define MIGRATE_ONLINE_H

#include "nodes/pg_list.h"
#include "parser/parse_node.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

typedef enum OnlineOpKind
{
	OP_CREATE_TABLE,
	OP_ADD_COLUMN,
	OP_DROP_COLUMN,
	OP_RENAME_COLUMN,
	OP_CREATE_INDEX,
	OP_DROP_INDEX,
	OP_SQL,
	OP_ALTER_COLUMN,
	OP_RENAME_TABLE,
	OP_DROP_TABLE,
	OP_CREATE_CONSTRAINT,
	OP_DROP_CONSTRAINT
} OnlineOpKind;

/* A column of create_table or add_column. */
typedef struct OnlineColumn
{
	char	   *name;
	char	   *type;			/* as written; resolved by the server */
	bool		nullable;
	char	   *default_expr;
	bool		primary_key;
	bool		unique;
	char	   *comment;
} OnlineColumn;

/* A foreign key of alter_column or create_constraint. */
typedef struct OnlineReference
{
	char	   *table;
	List	   *columns;		/* names in the referenced table */
	const char *on_delete;		/* SQL keywords, from a fixed list */
	const char *on_update;
} OnlineReference;

/* One operation of the document, in its order (index counts from 1). */
typedef struct OnlineOp
{
	int			index;
	OnlineOpKind kind;
	const char *opname;
	char	   *table;
	OnlineColumn *column;		/* add_column */
	List	   *columns;		/* create_table: OnlineColumn *; create_index: names */
	char	   *column_name;	/* drop_column; rename_column: from */
	char	   *new_name;		/* rename_column: to */
	char	   *up;				/* an expression (add_column, drop_column: down) */
	char	   *down;
	char	   *index_name;		/* create_index, drop_index */
	bool		unique;
	char	   *method;
	char	   *where;
	char	   *sql_up;			/* sql */
	char	   *sql_down;
	/* alter_column: what changes; create_constraint: the constraint */
	char	   *type;
	int			nullable;		/* -1: unchanged */
	char	   *check;			/* an expression */
	OnlineReference *references;
	bool		has_default;
	char	   *default_expr;	/* NULL with has_default: drop it */
	bool		has_comment;
	char	   *comment;
	char	   *constraint_name;	/* of check, references, unique */
	char	   *unique_name;	/* alter_column: a new unique constraint */
	char	   *constraint_type;	/* create_constraint: unique, check,
									 * foreign_key */
	struct ShapeTable *st;		/* its table, as online_shape left it */
	List	   *physical;		/* create_index, create_constraint: its
								 * columns' physical names, as they were when
								 * it came (a later operation may rename or
								 * drop them in the new shape) */
	List	   *ref_physical;	/* references: the same, of the referenced
								 * columns ... */
	char	   *ref_relname;	/* ... and table */
	struct ShapeColumn *sc;		/* alter_column: the column altered */
	List	   *carried;		/* ... and what it carries (complete) */
} OnlineOp;

typedef struct OnlineMigration
{
	char	   *version;
	char	   *name;
	char	   *schema;			/* every operation works in this schema */
	char	   *vschema;		/* the schema of the new shape's views */
	List	   *ops;			/* OnlineOp * */
} OnlineMigration;

/* A column as the new shape shows it, and where it lives in the table. */
typedef struct ShapeColumn
{
	char	   *name;			/* in the new shape */
	char	   *old_name;		/* in the old shape; NULL: added */
	char	   *physical;		/* in the table during the migration */
	bool		hidden;			/* dropped: in the old shape only */
	OnlineOp   *added_by;
	OnlineOp   *dropped_by;
	struct ShapeColumn *replaced_by;	/* altered: its shadow column */
	struct ShapeColumn *altered_from;	/* a shadow: the column it replaces */
} ShapeColumn;

typedef struct ShapeTable
{
	char	   *name;			/* in the new shape */
	char	   *physical;		/* in the schema during the migration */
	Oid			relid;			/* InvalidOid until created */
	bool		created;		/* by this migration */
	bool		dropped;		/* by this migration: not in the new shape */
	List	   *columns;		/* ShapeColumn *, in table order */
	bool		sync;			/* needs the dual-write trigger */
	bool		backfill;		/* existing rows need the up expressions */
	List	   *carried;		/* indexes copied for its altered columns */
} ShapeTable;

/* operations.c */
extern OnlineMigration *online_parse(const char *version, const char *name,
									 Jsonb *operations, bool check_catalog);
extern List *online_shape(OnlineMigration *m, bool expanded);
extern List *online_shape_leftovers(OnlineMigration *m);
extern ShapeTable *shape_find(List *shape, const char *table);
extern bool online_alter_shadows(OnlineOp *op);
extern List *online_reference_target(OnlineMigration *m, OnlineOp *op, List *shape,
									 char **relname);
extern ShapeColumn *shape_column(ShapeTable *t, const char *name);
extern char *online_shadow_name(const char *column);
extern char *online_dropped_name(const char *table);
extern char *online_check_name(const char *column);
extern char *online_qualified(const char *schema, const char *name);
extern const char *online_serial(const char *type);
extern void online_type(const char *type, Oid *typid, int32 *typmod);
extern char *online_expression(const char *expr, Oid relid, Oid type,
							   int32 typmod, const char *what);
extern bool online_expression_volatile(const char *expr);
extern char *online_default(const char *expr, Oid typid, int32 typmod);
extern char *online_mapped_expression(const char *expr, OnlineMigration *m,
									  ShapeTable *t, ParseExprKind kind);
extern OnlineMigration *online_load(const char *version, bool for_update,
									char **state);

/* the search_path of what migrate generates: see operations.c */
#define ONLINE_PINNED_PATH	"pg_catalog, pg_temp"
extern int	online_pinned_path(void);
extern int	online_user_path(void);
extern void online_path_end(int nestlevel);
extern int	online_phase_begin(void);
extern void online_phase_end(int nestlevel, bool ok);

#define ONLINE_MARKER	"_migrate_pending"
#define ONLINE_TRIGGER	"_migrate_sync" /* for writes of the old shape */
#define ONLINE_TRIGGER_NEW	"_migrate_sync_new"	/* of the new shape */

/* alter.c: alter_column and constraints */
typedef struct CarriedObject
{
	char		kind;			/* 'i' index, 'u' unique constraint, 'f', 'c' */
	Oid			oid;
	char	   *name;
	char	   *temp_name;		/* of its copy on the shadow column */
	char	   *deferrable;		/* a unique constraint's DEFERRABLE clause */
} CarriedObject;

extern List *online_carried(ShapeTable *t, ShapeColumn *c);
extern void online_alter_start(OnlineMigration *m, OnlineOp *op, ShapeTable *t,
							   StringInfo steps);
extern void online_alter_constraints(OnlineMigration *m, OnlineOp *op, ShapeTable *t,
									 List *shape, StringInfo steps);
extern void online_alter_complete(OnlineMigration *m, OnlineOp *op, ShapeTable *t,
								  List *carried);
extern void online_constraint_start(OnlineMigration *m, OnlineOp *op, List *shape,
									StringInfo steps);
extern void online_constraint_complete(OnlineMigration *m, OnlineOp *op, ShapeTable *t);
extern char *online_rel_sql(Oid relid);
extern void online_ddl(OnlineMigration *m, const char *where, const char *sql);
extern void online_add_step(StringInfo steps, const char *sql);

/* job.c */
extern bool online_rows_pending(Oid relid);

/* lifecycle.c */
extern void online_start(OnlineMigration *m);
extern char *online_in_flight(char **state);

/* job.c: the background job of an online migration */
extern void online_run_job(int64 job_id, const char *version, int current_step,
						   const char *args_json);

#endif							/* MIGRATE_ONLINE_H */
