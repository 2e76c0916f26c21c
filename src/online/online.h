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

#include "migrate.h"

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

typedef enum OnlineOpKind
{
	OP_CREATE_TABLE,
	OP_ADD_COLUMN,
	OP_DROP_COLUMN,
	OP_RENAME_COLUMN,
	OP_CREATE_INDEX,
	OP_DROP_INDEX,
	OP_SQL
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
} ShapeColumn;

typedef struct ShapeTable
{
	char	   *name;
	Oid			relid;			/* InvalidOid until created */
	bool		created;		/* by this migration */
	List	   *columns;		/* ShapeColumn *, in table order */
	bool		sync;			/* needs the dual-write trigger */
	bool		backfill;		/* existing rows need the up expressions */
} ShapeTable;

/* operations.c */
extern OnlineMigration *online_parse(const char *version, const char *name,
									 Jsonb *operations);
extern List *online_shape(OnlineMigration *m, bool expanded);
extern ShapeTable *shape_find(List *shape, const char *table);
extern ShapeColumn *shape_column(ShapeTable *t, const char *name);
extern char *online_shadow_name(const char *column);
extern char *online_check_name(const char *column);
extern char *online_qualified(const char *schema, const char *name);
extern const char *online_serial(const char *type);
extern void online_type(const char *type, Oid *typid, int32 *typmod);
extern char *online_expression(const char *expr, Oid relid, Oid type,
							   int32 typmod, const char *what);
extern bool online_expression_volatile(const char *expr);
extern char *online_default(const char *expr, Oid typid, int32 typmod);
extern char *online_index_predicate(const char *expr, Oid viewid, Oid relid,
									ShapeTable *t);
extern OnlineMigration *online_load(const char *version, bool for_update,
									char **state);

#define ONLINE_MARKER	"_migrate_pending"
#define ONLINE_TRIGGER	"_migrate_sync"

/* lifecycle.c */
extern void online_start(OnlineMigration *m);
extern char *online_in_flight(char **state);

#endif							/* MIGRATE_ONLINE_H */
