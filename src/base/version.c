/*-------------------------------------------------------------------------
 *
 * version.c
 *	  Migration versions: dot-separated non-negative integers, ordered
 *	  numerically segment by segment ("1.9" < "1.10", "2" < "10").
 *
 * Segments may be arbitrarily long (timestamps such as 20260326120000) and
 * may carry leading zeros (dates such as 2026.03.26), so they are compared as
 * digit strings: without leading zeros, the longer one is larger, and equal
 * lengths compare lexically.  When one version is a prefix of the other, the
 * shorter one sorts first ("1" < "1.0").  The same order is stored in the
 * catalog as a numeric[] (migrate.migration.version_key) for SQL to sort by.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "base/base.h"

/* Long enough for any sane scheme, short enough to show in a message. */
#define VERSION_MAX_LEN 200

/*
 * Split a version into its segments (palloc'd strings without leading
 * zeros), or return NIL if it is not a well-formed version.
 */
static List *
version_parse(const char *version)
{
	List	   *segments = NIL;
	const char *p = version;

	if (version == NULL || *version == '\0' || strlen(version) > VERSION_MAX_LEN)
		return NIL;

	for (;;)
	{
		const char *start = p;

		while (*p >= '0' && *p <= '9')
			p++;
		if (p == start)
			return NIL;			/* empty segment or a non-digit */

		/* keep one digit of an all-zero segment */
		while (*start == '0' && start + 1 < p)
			start++;
		segments = lappend(segments, pnstrdup(start, p - start));

		if (*p == '\0')
			break;
		if (*p != '.')
			return NIL;
		p++;
	}
	return segments;
}

/* Raise 22023 unless version is well formed. */
void
version_check_arg(const char *version, const char *argname)
{
	if (version == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be NULL", argname)));
	if (version_parse(version) == NIL)
	{
		/*
		 * Echo at most a valid version's length: a megabyte of garbage must
		 * not become a megabyte of error message and server log.
		 */
		const char *shown = version;

		if (strlen(version) > VERSION_MAX_LEN)
			shown = psprintf("%s...",
							 pnstrdup(version, pg_mbcliplen(version, strlen(version),
															VERSION_MAX_LEN)));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid migration version \"%s\"", shown),
				 errdetail("A version is dot-separated non-negative integers of at most %d characters, such as \"1\", \"1.2\" or \"20260326120000\".",
						   VERSION_MAX_LEN)));
	}
}

/* Is version well formed (dot-separated non-negative integers)? */
bool
version_valid(const char *version)
{
	return version_parse(version) != NIL;
}

static int
segment_cmp(const char *a, const char *b)
{
	size_t		la = strlen(a);
	size_t		lb = strlen(b);
	int			c;

	if (la != lb)
		return la < lb ? -1 : 1;
	c = strcmp(a, b);
	return (c > 0) - (c < 0);
}

/* Compare two well-formed versions: -1, 0 or 1. */
int
version_cmp(const char *a, const char *b)
{
	List	   *sa = version_parse(a);
	List	   *sb = version_parse(b);
	int			n = Min(list_length(sa), list_length(sb));

	Assert(sa != NIL && sb != NIL);
	for (int i = 0; i < n; i++)
	{
		int			c = segment_cmp(list_nth(sa, i), list_nth(sb, i));

		if (c != 0)
			return c;
	}
	if (list_length(sa) != list_length(sb))
		return list_length(sa) < list_length(sb) ? -1 : 1;
	return 0;
}

/* The version as a numeric[] whose array order is version_cmp's order. */
Datum
version_key_datum(const char *version)
{
	List	   *segments = version_parse(version);
	int			n = list_length(segments);
	Datum	   *elems;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	ListCell   *lc;
	int			i = 0;

	Assert(segments != NIL);
	elems = palloc(sizeof(Datum) * n);
	foreach(lc, segments)
	{
		elems[i++] = DirectFunctionCall3(numeric_in,
										 CStringGetDatum(lfirst(lc)),
										 ObjectIdGetDatum(InvalidOid),
										 Int32GetDatum(-1));
	}
	get_typlenbyvalalign(NUMERICOID, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_array(elems, n, NUMERICOID,
										   typlen, typbyval, typalign));
}
