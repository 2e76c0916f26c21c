/*-------------------------------------------------------------------------
 *
 * placeholders.c
 *	  ${name} placeholders in migration SQL, replaced by their values when
 *	  the SQL is run or analysed.
 *
 * A migration's checksum is of its SQL as written, so one set of files can
 * be deployed with different values to different databases.  Only
 * ${name} with name matching [A-Za-z_][A-Za-z0-9_]* is a placeholder:
 * anything else that looks alike (${flyway:user}, $1, $$) is SQL and stays
 * as it is.  The values are a JSON object of strings; a migration without
 * one (NULL) runs its SQL as written.
 *
 * This file uses nothing of migrate's own: every layer may call it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "base/base.h"

static bool
name_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool
name_char(char c)
{
	return name_start(c) || (c >= '0' && c <= '9');
}

/* Is s[0..len) a placeholder name? */
static bool
valid_name(const char *s, int len)
{
	if (len == 0 || !name_start(s[0]))
		return false;
	for (int i = 1; i < len; i++)
		if (!name_char(s[i]))
			return false;
	return true;
}

/*
 * The length of the placeholder at p ("${name}"), or 0 when p does not
 * start one.
 */
static int
placeholder_at(const char *p)
{
	int			len;

	if (p[0] != '$' || p[1] != '{' || !name_start(p[2]))
		return 0;
	for (len = 3; name_char(p[len]); len++)
		;
	return p[len] == '}' ? len + 1 : 0;
}

/*
 * Check the values given to a registration, argument argno: NULL (no
 * placeholders), or an object whose keys are placeholder names and whose
 * values are strings.  Returns them as text, the form the catalog stores,
 * or NULL.
 */
char *
placeholders_check(FunctionCallInfo fcinfo, int argno, const char *what)
{
	Jsonb	   *values;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (PG_ARGISNULL(argno))
		return NULL;
	values = PG_GETARG_JSONB_P(argno);
	if (!JB_ROOT_IS_OBJECT(values) || JB_ROOT_IS_SCALAR(values))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("placeholders of %s must be a JSON object", what),
				 errdetail("They are a JSON object of strings, such as {\"schema\": \"app\"}.")));

	it = JsonbIteratorInit(&values->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			if (!valid_name(v.val.string.val, v.val.string.len))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid placeholder name \"%.*s\" in the placeholders of %s",
								pg_mbcliplen(v.val.string.val, v.val.string.len, 64),
								v.val.string.val, what),
						 errdetail("A placeholder name is a letter or underscore followed by letters, digits and underscores, written ${name} in the SQL.")));
		}
		else if (tok == WJB_VALUE && v.type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("placeholders of %s must have string values", what),
					 errdetail("A placeholder's value is a JSON string, such as {\"schema\": \"app\"}.")));
	}
	return JsonbToCString(NULL, &values->root, VARSIZE(values));
}

/*
 * sql with every ${name} replaced by its value in values (JSON object text,
 * as placeholders_check returns it).  NULL values: sql as it is.  A
 * placeholder without a value is an error naming it and what (such as
 * "migration 1.2").
 */
char *
placeholders_apply(const char *sql, const char *values, const char *what)
{
	Jsonb	   *jb;
	StringInfoData out;
	const char *p;

	if (sql == NULL || values == NULL)
		return (char *) sql;

	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(values)));
	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("placeholders of %s must be a JSON object", what)));

	initStringInfo(&out);
	p = sql;
	while (*p)
	{
		int			len = placeholder_at(p);
		JsonbValue	key;
		JsonbValue *value;

		if (len == 0)
		{
			appendStringInfoChar(&out, *p++);
			continue;
		}
		key.type = jbvString;
		key.val.string.val = (char *) p + 2;
		key.val.string.len = len - 3;
		value = findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &key);
		if (value == NULL || value->type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("placeholder \"%.*s\" of %s has no value", len - 3, p + 2, what),
					 errhint("Give it a value in the placeholders argument, such as {\"%.*s\": \"...\"}.",
							 len - 3, p + 2)));
		appendBinaryStringInfo(&out, value->val.string.val, value->val.string.len);
		p += len;
	}
	return out.data;
}
