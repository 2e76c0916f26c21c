/*-------------------------------------------------------------------------
 *
 * exclusion.c
 *	  An exclusion constraint, as create_constraint and create_table take
 *	  it: its fields in the document ("method", "elements", "where"), its
 *	  access method and operators checked against the catalog as the server
 *	  would check them, and its EXCLUDE clause.  Each operation resolves
 *	  its elements' columns and expressions its own way (an existing table
 *	  seen through the new shape; a table yet to be created).
 *
 *	  "method": "gist",
 *	  "elements": [{"column": "room", "operator": "="},
 *	               {"expression": "tstzrange(starts, ends)", "operator": "&&"}],
 *	  "where": "NOT cancelled"
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/amapi.h"
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_opfamily.h"
#include "commands/defrem.h"
#include "parser/parse_oper.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "online/online_int.h"

static const char *const element_fields[] = {"column", "expression", "operator", NULL};

#define OPERATOR_CHARS	"+-*/<>=~!@#%^&|`?"

/*
 * An operator's name: the characters of one, and no more than a name; or
 * schema.name.
 */
static char *
doc_operator(JsonbContainer *obj, const char *key)
{
	char	   *s = doc_string(obj, key, true);
	char	   *dot = strrchr(s, '.');
	char	   *name = dot ? dot + 1 : s;
	size_t		len = strlen(name);

	if (len == 0 || len >= NAMEDATALEN || strspn(name, OPERATOR_CHARS) != len ||
		dot == s || (dot && dot - s >= NAMEDATALEN))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not the name of an operator", s),
				 errhint("Give the operator's name, as in \"&&\", which is looked up on the search_path, or the name and its schema, as in \"pg_catalog.&&\".")));
	return s;
}

/*
 * The fields of an exclusion constraint, from the object that has them:
 * "method" (gist by default; with check_catalog, checked), "elements" and
 * "where".  Expressions are checked for their syntax only: the operation
 * analyses them against its columns.
 */
OnlineExclusion *
online_exclusion_doc(JsonbContainer *obj, bool check_catalog)
{
	OnlineExclusion *x = palloc0(sizeof(OnlineExclusion));
	List	   *elems;
	ListCell   *lc;

	x->method = doc_identifier(obj, "method", false);
	if (x->method == NULL)
		x->method = "gist";
	if (check_catalog)
		(void) online_exclusion_method(x->method);
	elems = doc_array(obj, "elements");
	if (list_length(elems) > INDEX_MAX_KEYS)
		op_error("field \"elements\" has %d elements, more than the %d of an index",
				 list_length(elems), INDEX_MAX_KEYS);
	foreach(lc, elems)
	{
		JsonbContainer *c = doc_container(lfirst(lc));
		OnlineExcludeElement *e = palloc0(sizeof(OnlineExcludeElement));

		if (c == NULL || !JsonContainerIsObject(c))
			op_error("an element of \"elements\" must be an object");
		doc_check_keys(c, element_fields, "an element of \"elements\"");
		e->column = doc_identifier(c, "column", false);
		e->expression = doc_expression(c, "expression");
		if ((e->column == NULL) == (e->expression == NULL))
			op_error("an element of \"elements\" has a \"column\" or an \"expression\"");
		e->operator = doc_operator(c, "operator");
		x->elements = lappend(x->elements, e);
	}
	x->where = doc_expression(obj, "where");
	return x;
}

/* The index access method of an exclusion constraint, by its name. */
Oid
online_exclusion_method(const char *method)
{
	Oid			amoid = get_am_oid(method, true);
	HeapTuple	tup;
	char		amtype;

	if (!OidIsValid(amoid))
		op_error("access method \"%s\" does not exist", method);
	tup = SearchSysCache1(AMOID, ObjectIdGetDatum(amoid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for access method %u", amoid);
	amtype = ((Form_pg_am) GETSTRUCT(tup))->amtype;
	ReleaseSysCache(tup);
	if (amtype != AMTYPE_INDEX)
		op_error("access method \"%s\" is not an index access method", method);
	if (GetIndexAmRoutineByAmId(amoid, false)->amgettuple == NULL)
		op_error("access method \"%s\" does not support exclusion constraints", method);
	return amoid;
}

/* An operator's name as the lookups take it; its schema must exist. */
static List *
operator_names(const char *opname)
{
	const char *dot = strrchr(opname, '.');
	List	   *names = list_make1(makeString(pstrdup(dot ? dot + 1 : opname)));

	if (dot)
	{
		char	   *schema = pnstrdup(opname, dot - opname);

		if (!OidIsValid(get_namespace_oid(schema, true)))
			op_error("schema \"%s\" of operator \"%s\" does not exist", schema, opname);
		names = lcons(makeString(schema), names);
	}
	return names;
}

/*
 * Is there a binary operator of that name on the caller's search_path (or
 * in its schema)?  For an element whose type is known only at start.
 */
void
online_exclusion_operator_exists(const char *opname)
{
	List	   *names = operator_names(opname);
	int			nestlevel = online_user_path();
	bool		found = OpernameGetCandidates(names, 'b', false) != NULL;

	online_path_end(nestlevel);
	if (!found)
		op_error("operator %s does not exist", opname);
}

/* An operator family's name, for messages. */
static char *
opfamily_name(Oid opfamily)
{
	HeapTuple	tup = SearchSysCache1(OPFAMILYOID, ObjectIdGetDatum(opfamily));
	char	   *name;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator family %u", opfamily);
	name = pstrdup(NameStr(((Form_pg_opfamily) GETSTRUCT(tup))->opfname));
	ReleaseSysCache(tup);
	return name;
}

/*
 * The exclusion operator of an element of this type: found by its name on
 * the caller's search_path (or in its schema), as the server would find it
 * for the constraint, and refused for what the server would refuse.
 */
Oid
online_exclusion_operator(const char *opname, Oid typid, Oid amoid)
{
	List	   *names = operator_names(opname);
	Oid			opclass = GetDefaultOpClass(typid, amoid);
	Oid			opid;
	int			nestlevel;

	if (!OidIsValid(opclass))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("data type %s has no default operator class for access method \"%s\"",
						format_type_be(typid), get_am_name(amoid)),
				 amoid == GIST_AM_OID ?
				 errhint("The btree_gist extension has operator classes for the scalar types.") : 0));
	nestlevel = online_user_path();
	opid = compatible_oper_opid(names, typid, typid, true);
	online_path_end(nestlevel);
	if (!OidIsValid(opid))
		op_error("operator %s does not exist for type %s", opname, format_type_be(typid));
	if (get_commutator(opid) != opid)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("operator %s is not commutative", format_operator(opid)),
				 errdetail("Only commutative operators can be used in exclusion constraints.")));
	if (get_op_opfamily_strategy(opid, get_opclass_family(opclass)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("operator %s is not a member of operator family \"%s\"",
						format_operator(opid), opfamily_name(get_opclass_family(opclass))),
				 errdetail("The exclusion operator must be one of the default operator class of the element's type for access method \"%s\".",
						   get_am_name(amoid))));
	return opid;
}

/* An operator as SQL: OPERATOR(schema.name), from the catalog. */
static char *
operator_sql(Oid opid)
{
	HeapTuple	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opid));
	Form_pg_operator oper;
	char	   *sql;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator %u", opid);
	oper = (Form_pg_operator) GETSTRUCT(tup);
	sql = psprintf("OPERATOR(%s.%s)", quote_identifier(get_namespace_name(oper->oprnamespace)),
				   NameStr(oper->oprname));
	ReleaseSysCache(tup);
	return sql;
}

/*
 * "EXCLUDE USING method (element WITH operator, ...)": the method by its
 * name in the catalog, each element as the operation's callback gives it
 * (a quoted column, or an expression as the server deparsed it, in
 * parentheses) with its type, each operator as it resolved for that type.
 * The predicate is the operation's to append.
 */
char *
online_exclusion_sql(OnlineExclusion *x, OnlineElementSql element, void *arg)
{
	Oid			amoid = online_exclusion_method(x->method);
	StringInfoData sql;
	ListCell   *lc;

	initStringInfo(&sql);
	appendStringInfo(&sql, "EXCLUDE USING %s (", quote_identifier(get_am_name(amoid)));
	foreach(lc, x->elements)
	{
		OnlineExcludeElement *e = lfirst(lc);
		Oid			typid;
		const char *key = element(e, arg, &typid);

		appendStringInfo(&sql, "%s%s WITH %s", foreach_current_index(lc) > 0 ? ", " : "", key,
						 operator_sql(online_exclusion_operator(e->operator, typid, amoid)));
	}
	appendStringInfoChar(&sql, ')');
	return sql.data;
}
