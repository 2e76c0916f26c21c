/*-------------------------------------------------------------------------
 *
 * expr.c
 *	  The search paths of an online migration's phases, and what the types
 *	  and expressions of its document become in SQL.
 *
 * Expressions are parsed and analysed by the server, and what migrate puts
 * into SQL is the server's own deparsed form of them, never the text as
 * given.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/sysattr.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/plannodes.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "parser/parse_type.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"

#include "base/base.h"
#include "online/online_int.h"

/*
 * Names in a document (types, functions, operators of expressions) are
 * resolved with the search_path of the role that registers or starts the
 * migration; what migrate generates from them is deparsed, and runs, under
 * ONLINE_PINNED_PATH, so that it means the same to every writer whatever
 * its own search_path.  While a phase runs pinned (online_phase_begin),
 * user_path keeps the caller's path for resolving the document's names.
 */
static char *user_path = NULL;

static int
path_begin(const char *path)
{
	int			nestlevel = NewGUCNestLevel();

	if (path != NULL)
		(void) set_config_option("search_path", path, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/* Until online_path_end: names resolve only in pg_catalog (then pg_temp). */
int
online_pinned_path(void)
{
	return path_begin(ONLINE_PINNED_PATH);
}

/* Until online_path_end: names resolve as the caller of the phase has them. */
int
online_user_path(void)
{
	return path_begin(user_path);
}

/* The end of online_pinned_path or online_user_path: whatever was set goes. */
void
online_path_end(int nestlevel)
{
	AtEOXact_GUC(false, nestlevel);
}

/*
 * A phase runs pinned; the caller's path is kept for the document's names.
 * Returns what online_phase_end takes.
 */
int
online_phase_begin(void)
{
	user_path = MemoryContextStrdup(TopMemoryContext,
									GetConfigOptionByName("search_path", NULL, false));
	return online_pinned_path();
}

/* The end of a phase, also on error (user_path must not outlive it). */
void
online_phase_end(int nestlevel, bool ok)
{
	if (user_path)
		pfree(user_path);
	user_path = NULL;
	if (ok)
		online_path_end(nestlevel);
}

/*
 * The serial types are a CREATE TABLE shorthand, not types: the keyword
 * to use for one, else NULL.
 */
const char *
online_serial(const char *type)
{
	static const char *const serials[] = {
		"smallserial", "serial2", "serial", "serial4", "bigserial", "serial8", NULL
	};

	for (int i = 0; serials[i]; i++)
		if (pg_strcasecmp(type, serials[i]) == 0)
			return serials[i];
	return NULL;
}

/* Resolve a type name with the server's parser. */
void
online_type(const char *type, Oid *typid, int32 *typmod)
{
	int			nestlevel = online_user_path();

	typenameTypeIdAndMod(NULL, typeStringToTypeName(type), typid, typmod);
	online_path_end(nestlevel);
}

/* A type name of the document, resolved, as SQL. */
char *
online_column_type(const char *type, Oid *typid, int32 *typmod)
{
	online_type(type, typid, typmod);
	return format_type_with_typemod(*typid, *typmod);
}

/*
 * The type of a column of the document; a serial type is the integer type
 * it stands for.
 */
void
online_column_typid(OnlineColumn *col, Oid *typid, int32 *typmod)
{
	const char *serial = online_serial(col->type);

	*typmod = -1;
	if (serial == NULL)
		online_type(col->type, typid, typmod);
	else if (strncmp(serial, "small", 5) == 0 || strcmp(serial, "serial2") == 0)
		*typid = INT2OID;
	else if (strncmp(serial, "big", 3) == 0 || strcmp(serial, "serial8") == 0)
		*typid = INT8OID;
	else
		*typid = INT4OID;
}

/* Errors in an expression point into it, not into the caller's query. */
static void
expression_error_callback(void *arg)
{
	int			pos = geterrposition();

	if (pos > 0)
	{
		errposition(0);
		internalerrposition(pos);
		internalerrquery((const char *) arg);
	}
}

#define WITH_EXPRESSION_ERRORS(sql, code) \
	do { \
		ErrorContextCallback errcb_; \
		errcb_.callback = expression_error_callback; \
		errcb_.arg = (void *) (sql); \
		errcb_.previous = error_context_stack; \
		error_context_stack = &errcb_; \
		code; \
		error_context_stack = errcb_.previous; \
	} while (0)

/*
 * Parse one expression the way the server parses a select-list item, and
 * insist that it is no more than that.  Returns its raw parse tree; *sql
 * gets the text it was parsed from (for error positions).
 */
static Node *
parse_expression(const char *expr, char **sql)
{
	List	   *raw;
	SelectStmt *select;
	ResTarget  *target;

	*sql = psprintf("SELECT %s", expr);
	WITH_EXPRESSION_ERRORS(*sql, raw = raw_parser(*sql, RAW_PARSE_DEFAULT));
	if (list_length(raw) != 1 ||
		!IsA(((RawStmt *) linitial(raw))->stmt, SelectStmt))
		goto not_one;
	select = (SelectStmt *) ((RawStmt *) linitial(raw))->stmt;
	if (list_length(select->targetList) != 1 || select->fromClause ||
		select->whereClause || select->groupClause || select->havingClause ||
		select->windowClause || select->sortClause || select->limitCount ||
		select->limitOffset || select->lockingClause || select->withClause ||
		select->intoClause || select->distinctClause || select->valuesLists ||
		select->op != SETOP_NONE)
		goto not_one;
	target = linitial(select->targetList);
	if (target->name != NULL || (IsA(target->val, ColumnRef) &&
								 IsA(llast(((ColumnRef *) target->val)->fields), A_Star)))
		goto not_one;
	return target->val;

not_one:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("\"%s\" is not a single expression", expr)));
	return NULL;
}

/*
 * Check an expression's syntax; with a relation, also analyse it against
 * that relation's columns (as an UPDATE's SET source would be), coerce it
 * to type (when valid) and return the server's deparsed text of it.
 */
char *
online_expression(const char *expr, Oid relid, Oid type, int32 typmod,
				  const char *what)
{
	char	   *sql;
	Node	   *raw = parse_expression(expr, &sql);
	ParseState *pstate;
	Relation	rel;
	Node	   *node;
	Oid			actual;
	char	   *result;
	int			nestlevel;

	if (!OidIsValid(relid))
		return NULL;

	nestlevel = online_user_path();
	pstate = make_parsestate(NULL);
	pstate->p_sourcetext = sql;
	rel = relation_open(relid, AccessShareLock);
	addNSItemToQuery(pstate,
					 addRangeTableEntryForRelation(pstate, rel, AccessShareLock,
												   NULL, false, true),
					 true, true, true);
	WITH_EXPRESSION_ERRORS(sql, node = transformExpr(pstate, raw, EXPR_KIND_UPDATE_SOURCE));
	actual = exprType(node);
	if (OidIsValid(type))
	{
		node = coerce_to_target_type(pstate, node, actual, type, typmod,
									 COERCION_ASSIGNMENT, COERCE_IMPLICIT_CAST, -1);
		if (node == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("%s expression \"%s\" is of type %s, but its column is of type %s",
							what, expr, format_type_be(actual),
							format_type_with_typemod(type, typmod))));
	}
	assign_expr_collations(pstate, node);
	online_path_end(nestlevel);
	nestlevel = online_pinned_path();
	result = deparse_expression(node,
								deparse_context_for(RelationGetRelationName(rel), relid),
								false, false);
	online_path_end(nestlevel);
	relation_close(rel, AccessShareLock);
	free_parsestate(pstate);
	return result;
}

/* A constant expression, as a column default: the server's text of it. */
static Node *
default_node(const char *expr)
{
	char	   *sql;
	Node	   *raw = parse_expression(expr, &sql);
	ParseState *pstate = make_parsestate(NULL);
	Node	   *node;
	int			nestlevel = online_user_path();

	pstate->p_sourcetext = sql;
	WITH_EXPRESSION_ERRORS(sql, node = transformExpr(pstate, raw, EXPR_KIND_COLUMN_DEFAULT));
	online_path_end(nestlevel);
	return node;
}

/* A column default, coerced to the column's type: the server's text of it. */
char *
online_default(const char *expr, Oid typid, int32 typmod)
{
	Node	   *node = default_node(expr);
	Oid			actual = exprType(node);
	int			nestlevel;
	char	   *result;

	nestlevel = online_user_path();
	node = coerce_to_target_type(NULL, node, actual, typid, typmod,
								 COERCION_ASSIGNMENT, COERCE_IMPLICIT_CAST, -1);
	online_path_end(nestlevel);
	if (node == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("default expression \"%s\" is of type %s, but its column is of type %s",
						expr, format_type_be(actual), format_type_with_typemod(typid, typmod))));
	assign_expr_collations(make_parsestate(NULL), node);
	nestlevel = online_pinned_path();
	result = deparse_expression(node, NIL, false, false);
	online_path_end(nestlevel);
	return result;
}

/* Would this default differ per row (and so rewrite the table)? */
bool
online_expression_volatile(const char *expr)
{
	return contain_volatile_functions(default_node(expr));
}

/* Map Vars of the view (the new shape) to the table's own columns. */
typedef struct VarMap
{
	AttrNumber *map;
	int			n;
} VarMap;

static Node *
map_vars_mutator(Node *node, VarMap *vm)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, Var))
	{
		Var		   *var = (Var *) copyObject(node);

		if (var->varattno > 0 && var->varattno <= vm->n)
		{
			var->varattno = vm->map[var->varattno - 1];
			var->varattnosyn = var->varattno;
		}
		return (Node *) var;
	}
	return expression_tree_mutator(node, map_vars_mutator, (void *) vm);
}

/*
 * An expression written against the new shape, analysed against the table's
 * view in the version schema (as a boolean: a predicate, a check), its
 * columns mapped to the table's own.
 */
static Node *
mapped_node(const char *expr, OnlineMigration *m, ShapeTable *t, ParseExprKind kind,
			bool boolean)
{
	char	   *sql;
	Node	   *raw = parse_expression(expr, &sql);
	ParseState *pstate = make_parsestate(NULL);
	Oid			viewid = get_relname_relid(t->name, get_namespace_oid(m->vschema, false));
	Relation	view;
	Node	   *node;
	VarMap		vm;
	ListCell   *lc;
	int			i = 0;
	int			nestlevel = online_user_path();

	pstate->p_sourcetext = sql;
	view = relation_open(viewid, AccessShareLock);
	addNSItemToQuery(pstate,
					 addRangeTableEntryForRelation(pstate, view, AccessShareLock,
												   NULL, false, true),
					 true, true, true);
	WITH_EXPRESSION_ERRORS(sql, node = transformExpr(pstate, raw, kind));
	if (boolean)
		node = coerce_to_boolean(pstate, node,
								 kind == EXPR_KIND_CHECK_CONSTRAINT ? "CHECK" : "WHERE");
	assign_expr_collations(pstate, node);
	relation_close(view, AccessShareLock);
	online_path_end(nestlevel);

	/* view column i is the i-th visible column of the shape */
	vm.map = palloc0(sizeof(AttrNumber) * (list_length(t->columns) + 1));
	foreach(lc, t->columns)
	{
		ShapeColumn *c = lfirst(lc);

		if (c->hidden)
			continue;
		vm.map[i++] = get_attnum(t->relid, c->physical);
	}
	vm.n = i;
	return map_vars_mutator(node, &vm);
}

/* The server's text of an expression on the table, its names qualified. */
static char *
table_deparse(Node *node, ShapeTable *t)
{
	int			nestlevel = online_pinned_path();
	char	   *result;

	result = deparse_expression(node, deparse_context_for(get_rel_name(t->relid), t->relid),
								false, false);
	online_path_end(nestlevel);
	return result;
}

/*
 * An expression written against the new shape (an index predicate, a check)
 * as SQL on the table itself.
 */
char *
online_mapped_expression(const char *expr, OnlineMigration *m, ShapeTable *t,
						 ParseExprKind kind)
{
	return table_deparse(mapped_node(expr, m, t, kind, true), t);
}

/*
 * An index expression written against the new shape (an element of an
 * exclusion constraint) as SQL on the table itself; *type gets its type.
 */
char *
online_mapped_element(const char *expr, OnlineMigration *m, ShapeTable *t, Oid *type)
{
	Node	   *node = mapped_node(expr, m, t, EXPR_KIND_INDEX_EXPRESSION, false);

	if (contain_mutable_functions(node))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expression \"%s\" is not immutable", expr),
				 errdetail("An index holds only expressions whose functions are marked IMMUTABLE.")));
	*type = exprType(node);
	return table_deparse(node, t);
}

/*
 * An expression over the columns of a table that does not exist yet (the
 * columns of a create_table), analysed as CREATE TABLE would analyse it: a
 * stored generated column's (kind EXPR_KIND_GENERATED_COLUMN, coerced to
 * the type of target), a check's or an index predicate's (boolean).  The
 * columns are those of a VALUES list named like the table.  Returns the
 * server's deparsed text of it; *attnos (if given) gets the columns it
 * reads, as pull_varattnos has them.  An index expression (kind
 * EXPR_KIND_INDEX_EXPRESSION: an element of an exclusion constraint) is
 * neither coerced nor boolean: *type gets its type.
 */
static char *
new_table_expression(const char *expr, const char *table, List *columns,
					 ParseExprKind kind, OnlineColumn *target, Bitmapset **attnos,
					 Oid *type)
{
	char	   *sql;
	Node	   *raw = parse_expression(expr, &sql);
	ParseState *pstate = make_parsestate(NULL);
	List	   *names = NIL;
	List	   *types = NIL;
	List	   *typmods = NIL;
	List	   *collations = NIL;
	List	   *row = NIL;
	Oid			target_type = InvalidOid;
	int32		target_typmod = -1;
	ParseNamespaceItem *nsitem;
	Node	   *node;
	Bitmapset  *used = NULL;
	PlannedStmt *stmt;
	ListCell   *lc;
	char	   *result;
	int			nestlevel;

	foreach(lc, columns)
	{
		OnlineColumn *col = lfirst(lc);
		Oid			typid;
		int32		typmod;

		online_column_typid(col, &typid, &typmod);
		names = lappend(names, makeString(col->name));
		types = lappend_oid(types, typid);
		typmods = lappend_int(typmods, typmod);
		collations = lappend_oid(collations, get_typcollation(typid));
		row = lappend(row, makeNullConst(typid, typmod, get_typcollation(typid)));
		if (col == target)
		{
			target_type = typid;
			target_typmod = typmod;
		}
	}

	nestlevel = online_user_path();
	pstate->p_sourcetext = sql;
	nsitem = addRangeTableEntryForValues(pstate, list_make1(row), types, typmods, collations,
										 makeAlias(table, names), false, true);
	addNSItemToQuery(pstate, nsitem, false, true, true);
	WITH_EXPRESSION_ERRORS(sql, node = transformExpr(pstate, raw, kind));
	if (target)
	{
		Oid			actual = exprType(node);

		node = coerce_to_target_type(pstate, node, actual, target_type, target_typmod,
									 COERCION_ASSIGNMENT, COERCE_IMPLICIT_CAST, -1);
		if (node == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("generation expression \"%s\" is of type %s, but its column is of type %s",
							expr, format_type_be(actual),
							format_type_with_typemod(target_type, target_typmod))));
	}
	else if (kind == EXPR_KIND_INDEX_EXPRESSION)
		*type = exprType(node);
	else
		node = coerce_to_boolean(pstate, node,
								 kind == EXPR_KIND_CHECK_CONSTRAINT ? "CHECK" : "WHERE");
	assign_expr_collations(pstate, node);
	online_path_end(nestlevel);

	pull_varattnos(node, 1, &used);
	if (bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, used))
		op_error("expression \"%s\" refers to the whole row", expr);
	if (kind != EXPR_KIND_CHECK_CONSTRAINT &&
		contain_mutable_functions_after_planning((Expr *) node))
	{
		if (kind == EXPR_KIND_INDEX_EXPRESSION)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("expression \"%s\" is not immutable", expr),
					 errdetail("An index holds only expressions whose functions are marked IMMUTABLE.")));
		op_error("%s \"%s\" is not immutable",
				 target ? "generation expression" : "predicate", expr);
	}
	if (attnos)
		*attnos = used;

	/* deparsed against the VALUES list, as a plan's expressions are */
	stmt = makeNode(PlannedStmt);
	stmt->rtable = pstate->p_rtable;
	nestlevel = online_pinned_path();
	result = deparse_expression(node,
								deparse_context_for_plan_tree(stmt, list_make1((char *) table)),
								false, false);
	online_path_end(nestlevel);
	free_parsestate(pstate);
	return result;
}

char *
online_new_table_expression(const char *expr, const char *table, List *columns,
							ParseExprKind kind, OnlineColumn *target, Bitmapset **attnos)
{
	Assert(kind != EXPR_KIND_INDEX_EXPRESSION);
	return new_table_expression(expr, table, columns, kind, target, attnos, NULL);
}

/*
 * An element of an exclusion constraint of a table that does not exist yet:
 * an immutable expression over its columns.  *type gets its type.
 */
char *
online_new_table_element(const char *expr, const char *table, List *columns, Oid *type)
{
	return new_table_expression(expr, table, columns, EXPR_KIND_INDEX_EXPRESSION,
								NULL, NULL, type);
}
