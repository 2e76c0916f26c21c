/*-------------------------------------------------------------------------
 *
 * online_int.h
 *	  What the files of src/online share among themselves: the document of
 *	  an online migration, the shape of the tables it changes, the table of
 *	  methods every operation fills (ops.c lists them), and the helpers the
 *	  operations are written with.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_ONLINE_INT_H
#define MIGRATE_ONLINE_INT_H

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "parser/parse_node.h"
#include "utils/jsonb.h"

#include "online/online.h"

struct OnlineOpMethods;
struct ShapeTable;

/*
 * One operation of the document, in its order.  What only it has is in
 * data, the struct of its own file (op_<name>.c), which its parse fills.
 */
typedef struct OnlineOp
{
	int			index;			/* its position in the document, from 1 */
	const struct OnlineOpMethods *methods;
	char	   *table;			/* the table it works on, by its name when the
								 * operation comes; NULL: none */
	struct ShapeTable *st;		/* that table, as online_shape left it */
	void	   *data;
} OnlineOp;

struct OnlineMigration
{
	char	   *version;
	char	   *name;
	char	   *schema;			/* every operation works in this schema */
	char	   *vschema;		/* the schema of the new shape's views */
	List	   *ops;			/* OnlineOp * */
	List	   *referenced;		/* OIDs of the tables its foreign keys
								 * reference, as online_shape found them */

	/*
	 * A migration whose operations work in several schemas: one part per
	 * schema (an OnlineMigration of its own, with that schema's operations
	 * and version schema), in the order the document first names them; the
	 * migration's schema and version schema are its first part's.  NIL when
	 * it works in one schema.
	 */
	List	   *parts;
};

/* The sequence of an identity column (create_table). */
#define ONLINE_SEQ_OPTIONS	5	/* start, increment, minvalue, maxvalue, cache */
typedef struct OnlineIdentity
{
	bool		always;			/* GENERATED ALWAYS, else BY DEFAULT */
	bool		given[ONLINE_SEQ_OPTIONS];
	int64		value[ONLINE_SEQ_OPTIONS];
	bool		cycle;
} OnlineIdentity;

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
	char	   *generated;		/* a stored generated column's expression */
	OnlineIdentity *identity;	/* NULL: not an identity column */
} OnlineColumn;

/* A foreign key of alter_column, create_constraint or create_table. */
typedef struct OnlineReference
{
	char	   *table;
	List	   *columns;		/* names in the referenced table */
	const char *on_delete;		/* SQL keywords, from a fixed list */
	const char *on_update;
	const char *match;			/* SIMPLE or FULL (create_table's only) */
	List	   *set_columns;	/* of ON DELETE SET NULL/DEFAULT (ditto) */
} OnlineReference;

/* An exclusion constraint of create_constraint or create_table. */
typedef struct OnlineExcludeElement
{
	char	   *column;			/* a column's name, */
	char	   *expression;		/* ... or an expression over the columns */
	char	   *operator;		/* name or schema.name, found with the
								 * caller's search_path */
	char	   *physical;		/* create_constraint: the column's name in the
								 * table, as online_shape found it */
} OnlineExcludeElement;

typedef struct OnlineExclusion
{
	char	   *method;			/* an index access method, gist by default */
	List	   *elements;		/* OnlineExcludeElement * */
	char	   *where;			/* a predicate over the columns, or NULL */
} OnlineExclusion;

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
	const char *up;				/* what writes of the old shape fill it with */
	const char *down;			/* what writes of the new shape fill it with */
	const char *added_default;	/* an added column's default (a volatile one
								 * is drawn per row by the backfill) */
	bool		up_on_insert;	/* a shadow whose old column draws its own
								 * value (identity): a new-shape insert that
								 * leaves it NULL gets up's value too */
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

/* The shape so far, as online_shape hands it to each operation's shape. */
typedef struct ShapeState
{
	OnlineMigration *m;
	List	   *tables;			/* ShapeTable * */
	Oid			nsp;			/* the migration's schema */
	bool		expanded;		/* started: what start made exists */
	bool		lenient;		/* rolling back: what is gone is gone */
} ShapeState;

/*
 * What an operation is: one table of these per operation, in its own file
 * op_<name>.c, listed in ops.c.  The generic machinery (operations.c,
 * lifecycle.c) calls them in this order; a NULL method has nothing to do.
 * Statements for the background job (validations, concurrent index builds)
 * go to steps, as online_add_step writes them; the backfills of the tables
 * that need one (ShapeTable.backfill) are queued before them.
 */
typedef struct OnlineOpMethods
{
	const char *name;			/* its key in the document */
	const char *const *fields;	/* the keys its object may have; with
								 * "schema", it works in the migration's */
	bool		alone;			/* must be the only operation of its migration */

	/* its fields, from its object in the document (op_error on a bad one) */
	void		(*parse) (OnlineMigration *m, OnlineOp *op, JsonbContainer *body,
						  bool check_catalog);
	/* its effect on the shape, its names checked against the catalog */
	void		(*shape) (ShapeState *s, OnlineOp *op);
	/* start, before the version schema exists */
	void		(*start) (OnlineMigration *m, OnlineOp *op, StringInfo steps);
	/* start, once the views of the new shape exist */
	void		(*start_views) (OnlineMigration *m, OnlineOp *op, StringInfo steps);
	/* complete, before any operation's complete changes anything */
	void		(*before_complete) (OnlineMigration *m, OnlineOp *op);
	/* complete: the new shape becomes the tables' own */
	void		(*complete) (OnlineMigration *m, OnlineOp *op);
	/* rollback, in reverse order: what start made goes */
	void		(*rollback) (OnlineMigration *m, OnlineOp *op);
	/* why the migration cannot be rolled back (a sentence), or NULL */
	const char *(*irreversible) (OnlineOp *op);
} OnlineOpMethods;

/* ops.c: the registry of the operations, one file each (op_<name>.c) */
extern const OnlineOpMethods *online_op_find(const char *name);
extern char *online_op_list(void);

/*
 * An error in the document or against the catalog (22023).  The error
 * context (operations.c) names the operation and the migration.
 */
#define op_error(...) \
	ereport(ERROR, \
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE), \
			 errmsg(__VA_ARGS__)))

/* migrate's names for what start makes */
#define ONLINE_SHADOW_PREFIX	"_migrate_new_"
#define ONLINE_CHECK_PREFIX		"_migrate_nn_"
#define ONLINE_PKEY_CHECK	"_migrate_pkey_nn"	/* a primary key's columns */
/* the longest name of an added column: room for the prefixes */
#define ONLINE_ADDED_NAME_MAX	(NAMEDATALEN - 1 - (int) strlen(ONLINE_SHADOW_PREFIX))
#define ONLINE_MARKER	"_migrate_pending"
#define ONLINE_TRIGGER	"_migrate_sync" /* for writes of the old shape */
#define ONLINE_TRIGGER_NEW	"_migrate_sync_new" /* of the new shape */

/* operations.c: the document, its shape */
extern OnlineMigration *online_parse(const char *version, const char *name,
									 Jsonb *operations, bool check_catalog);
extern List *online_shape(OnlineMigration *m, bool expanded);
extern List *online_shape_leftovers(OnlineMigration *m);
extern List *online_parts(OnlineMigration *m);

/* doc.c: the fields of an operation's object */
extern JsonbContainer *doc_container(JsonbValue *v);
extern void doc_check_keys(JsonbContainer *obj, const char *const *allowed,
						   const char *what);
extern JsonbValue *doc_field(JsonbContainer *obj, const char *key);
extern char *doc_string(JsonbContainer *obj, const char *key, bool required);
extern char *doc_identifier(JsonbContainer *obj, const char *key, bool required);
extern bool doc_bool(JsonbContainer *obj, const char *key, bool dflt);
extern char *doc_expression(JsonbContainer *obj, const char *key);
extern List *doc_array(JsonbContainer *obj, const char *key);
extern JsonbContainer *doc_object(JsonbContainer *obj, const char *key,
								  const char *const *allowed);
extern List *doc_identifiers(JsonbContainer *obj, const char *key);
extern void doc_key_columns(List *names, const char *key);
extern OnlineColumn *doc_column(JsonbValue *v, bool new_table, bool check_catalog);
extern OnlineReference *doc_reference(JsonbContainer *obj, bool one_column,
									  char **name);
extern OnlineReference *doc_table_reference(JsonbContainer *obj);

/* shape.c: tables and columns of the shape */
extern ShapeTable *shape_find(List *shape, const char *table);
extern ShapeColumn *shape_column(ShapeTable *t, const char *name);
extern ShapeTable *shape_open(ShapeState *s, OnlineOp *op, bool dropping,
							  bool *loaded_now);
extern ShapeColumn *shape_find_column(ShapeState *s, ShapeTable *t,
									  const char *name, const char *what);
extern bool shape_name_taken(ShapeState *s, const char *name);
extern Oid	shape_constraint_oid(Oid relid, const char *name);
extern void shape_check_relation(Oid relid, const char *schema);
extern List *shape_columns_physical(ShapeState *s, ShapeTable *t, List *names);
extern List *shape_reference(ShapeState *s, OnlineReference *r, char **relname);
extern char *online_shadow_name(const char *column);
extern char *online_dropped_name(const char *table);
extern char *online_check_name(const char *column);

/* expr.c: search paths, types and expressions */
#define ONLINE_PINNED_PATH	"pg_catalog, pg_temp"
extern int	online_pinned_path(void);
extern int	online_user_path(void);
extern void online_path_end(int nestlevel);
extern int	online_phase_begin(void);
extern void online_phase_end(int nestlevel, bool ok);
extern const char *online_serial(const char *type);
extern void online_type(const char *type, Oid *typid, int32 *typmod);
extern char *online_column_type(const char *type, Oid *typid, int32 *typmod);
extern void online_column_typid(OnlineColumn *col, Oid *typid, int32 *typmod);
extern char *online_expression(const char *expr, Oid relid, Oid type,
							   int32 typmod, const char *what);
extern bool online_expression_volatile(const char *expr);
extern char *online_default(const char *expr, Oid typid, int32 typmod);
extern char *online_mapped_expression(const char *expr, OnlineMigration *m,
									  ShapeTable *t, ParseExprKind kind);
extern char *online_new_table_expression(const char *expr, const char *table,
										 List *columns, ParseExprKind kind,
										 OnlineColumn *target, Bitmapset **attnos);
extern char *online_mapped_element(const char *expr, OnlineMigration *m,
								   ShapeTable *t, Oid *type);
extern char *online_new_table_element(const char *expr, const char *table,
									  List *columns, Oid *type);

/* exclusion.c: an exclusion constraint's fields, method and operators */
typedef const char *(*OnlineElementSql) (OnlineExcludeElement *e, void *arg, Oid *typid);
extern OnlineExclusion *online_exclusion_doc(JsonbContainer *obj, bool check_catalog);
extern Oid	online_exclusion_method(const char *method);
extern void online_exclusion_operator_exists(const char *opname);
extern Oid	online_exclusion_operator(const char *opname, Oid typid, Oid amoid);
extern char *online_exclusion_sql(OnlineExclusion *x, OnlineElementSql element,
								  void *arg);

/* op_alter_column.c: a column of a constraint dropped at start */
extern OnlineOp *online_alter_dropping(ShapeState *s, OnlineOp *op,
									   const char *column, const char *up,
									   const char *down, Oid dropped);

/*
 * A constraint the new shape stops enforcing at start: each of its columns
 * altered into a shadow column without it (drop_multicolumn_constraint,
 * drop_constraint with up and down).  The methods of the operations that
 * do, in op_drop_multicolumn_constraint.c, do nothing without alters.
 */
typedef struct DropShadowed
{
	char	   *name;			/* the constraint's */
	List	   *columns;		/* its columns, named as in the shape; NIL:
								 * its one column, found in the catalog */
	List	   *up;				/* an expression per column (NULL: itself), */
	List	   *down;			/* ... NIL: not dropped at start */
	List	   *alters;			/* OnlineOp *, of each column (shape) */
} DropShadowed;

extern void drop_shadowed_shape(ShapeState *s, OnlineOp *op);
extern void drop_shadowed_start(OnlineMigration *m, OnlineOp *op, StringInfo steps);
extern void drop_shadowed_start_views(OnlineMigration *m, OnlineOp *op,
									  StringInfo steps);
extern void drop_shadowed_before_complete(OnlineMigration *m, OnlineOp *op);
extern void drop_shadowed_complete(OnlineMigration *m, OnlineOp *op);
extern void drop_shadowed_rollback(OnlineMigration *m, OnlineOp *op);

/* ddl.c: what the phases run, and what they leave to the job */
extern void online_ddl(OnlineMigration *m, const char *where, const char *sql);
extern void online_add_step(StringInfo steps, const char *sql);
extern char *online_rel_sql(Oid relid);
extern char *online_op_rel_sql(OnlineOp *op);
extern char *online_qualified(const char *schema, const char *name);

/* another online migration in flight, and the shape it gives its tables */
typedef struct OnlineFlying
{
	OnlineMigration *m;
	List	   *shape;			/* ShapeTable * */
} OnlineFlying;

/* a view of another version schema, dropped while complete changes a table */
typedef struct DetachedView
{
	char	   *vschema;
	char	   *name;
	Oid			relid;			/* the table it shows */
} DetachedView;

/* vschema.c: the version schema and the triggers of both shapes */
extern void vschema_create(OnlineMigration *m, List *shape, List *flying);
extern bool vschema_has_dependents(const char *vschema, List *vschemas);
extern List *vschema_detach(OnlineMigration *m, List *relids, List *vschemas);
extern void vschema_reattach(OnlineMigration *m, List *detached);
extern void vschema_drop(OnlineMigration *m, const char *vschema);
extern void vschema_create_sync(OnlineMigration *m, ShapeTable *t);
extern void vschema_drop_sync(OnlineMigration *m, List *shape);
extern const char *vschema_view_security(Oid relid);
extern void vschema_copy_grants(OnlineMigration *m, ShapeTable *t,
								const char *view, bool old_shape);

/* partitions.c: partitioned tables, partition by partition */
extern bool online_partitioned(Oid relid);
extern List *online_leaves(Oid relid);
extern bool online_leaf_of(Oid leaf, Oid relid);
extern void online_check_partitions(Oid relid, const char *what);
extern void online_refuse_partition(Oid relid, const char *table);
extern bool online_in_partition_key(Oid relid, const char *column);
extern void online_refuse_partitioned(Oid relid, const char *table,
									  char contype);
extern void online_refuse_partitioned_exclusion(Oid relid, const char *table,
												List *columns);
extern void online_add_validation(StringInfo steps, Oid relid,
								  const char *constraint);
extern void online_validate_partitioned(OnlineMigration *m, Oid relid,
										const char *constraint);
extern void online_add_index(OnlineMigration *m, StringInfo steps, Oid relid,
							 bool unique, const char *name,
							 const char *definition);
extern void online_drop_index(OnlineMigration *m, const char *schema,
							  const char *name);
extern void online_rename_index_columns(OnlineMigration *m, Oid relid,
										const char *shadow, const char *column);
extern void online_run_leaf_validations(const char *version, const char *where,
										Oid relid, const char *constraint);
extern void online_run_leaf_indexes(const char *version, const char *where,
									Oid relid, const char *name, bool unique,
									const char *definition);

/* job.c */
extern bool online_rows_pending(Oid relid);
extern void online_queue_backfill(StringInfo backfills, Oid relid,
								  int64 *rows_total);

#endif							/* MIGRATE_ONLINE_INT_H */
