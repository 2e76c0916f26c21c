/*-------------------------------------------------------------------------
 *
 * script.c
 *	  The psql script that deploy would run (pg_migrate script), for teams
 *	  that hand SQL files to a DBA.
 *
 * No content of a file can end the quoting it is put in: bodies go into
 * dollar quotes whose tag does not occur in them, names and versions into
 * standard single-quoted literals (standard_conforming_strings is set on
 * first, so that a backslash is only a backslash).  psql does not expand
 * its variables or backslash commands inside either kind of quotes.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "pg_migrate.h"

/*
 * Whether the tag would end a dollar quote of text early: it occurs in the
 * text, or the end of the text followed by the tag contains it before the
 * closing one ("...$migrate" + "$migrate$").
 */
static bool
tag_collides(const char *str, const char *tag)
{
	size_t		lt = strlen(str);
	size_t		lg = strlen(tag);

	if (strstr(str, tag) != NULL)
		return true;
	for (size_t k = 1; k < lg && k <= lt; k++)
	{
		/* the last k bytes of the text, then the tag's first lg - k */
		if (memcmp(str + lt - k, tag, k) == 0 &&
			memcmp(tag + k, tag, lg - k) == 0)
			return true;
	}
	return false;
}

/*
 * $migrate$, else $migrate_1$, $migrate_2$ ...: one the text cannot end.
 *
 * One scan of the text marks which of these tags it holds, whole or cut off
 * by its end; the first unmarked one is then checked once.  Trying the tags
 * one by one would scan the text once a tag, and a file built to hold many
 * of them would take minutes.  A text holding n tags leaves one of the first
 * n + 1 free, so only those are marked.
 */
static void
choose_tag(const char *str, char *tag, size_t size)
{
	size_t		ntags = 0;
	size_t		nmarks;
	bool	   *used;
	const char *p;
	size_t		i;

	for (p = strstr(str, "$migrate"); p != NULL; p = strstr(p + 1, "$migrate"))
		ntags++;
	nmarks = ntags + 1;
	used = calloc(nmarks, sizeof(bool));
	if (used == NULL)
	{
		fprintf(stderr, "%s: error: out of memory\n", progname);
		exit(1);
	}
	for (p = strstr(str, "$migrate"); p != NULL; p = strstr(p + 1, "$migrate"))
	{
		const char *q = p + strlen("$migrate");
		unsigned long n = 0;
		bool		big = false;

		if (*q == '$' || *q == '\0')
		{
			used[0] = true;		/* $migrate$, or the text ends in $migrate */
			continue;
		}
		if (*q != '_' || q[1] < '1' || q[1] > '9')
			continue;
		for (q++; *q >= '0' && *q <= '9'; q++)
		{
			if (n > nmarks)
				big = true;		/* past every tag that could be chosen */
			else
				n = n * 10 + (*q - '0');
		}
		if (!big && n < nmarks && (*q == '$' || *q == '\0'))
			used[n] = true;
	}
	for (i = 0; i < nmarks && used[i]; i++)
		;
	free(used);

	if (i == 0)
		snprintf(tag, size, "$migrate$");
	else
		snprintf(tag, size, "$migrate_%zu$", i);
	if (tag_collides(str, tag))
	{
		/* cannot happen: the scan above marks every tag that collides */
		fprintf(stderr, "%s: error: no dollar-quote tag found for a file\n", progname);
		exit(1);
	}
}

static void
print_dollar_quoted(FILE *out, const char *str)
{
	char		tag[64];

	if (str == NULL)
	{
		fputs("NULL", out);
		return;
	}
	choose_tag(str, tag, sizeof(tag));
	fputs(tag, out);
	fputs(str, out);
	fputs(tag, out);
}

/* A standard single-quoted literal: quotes doubled, nothing else special */
static void
print_literal(FILE *out, const char *str)
{
	if (str == NULL)
	{
		fputs("NULL", out);
		return;
	}
	fputc('\'', out);
	for (const char *p = str; *p; p++)
	{
		if (*p == '\'')
			fputc('\'', out);
		fputc(*p, out);
	}
	fputc('\'', out);
}

/*
 * A file name in a comment line: a control character in it (a newline)
 * would end the comment and make the rest of the name a statement.
 */
static void
print_comment_path(FILE *out, const char *path)
{
	for (const char *p = path; *p; p++)
		fputc(((unsigned char) *p < 0x20 || *p == 0x7f) ? '?' : *p, out);
}

/*
 * The deploy step of one transaction: upgrade to target, commit, wait for
 * the background part.
 */
static void
print_upgrade(FILE *out, const MigrationSet *set, const char *target)
{
	fputs("SELECT * FROM :\"migrate_schema\".migrate_upgrade(", out);
	print_literal(out, target);
	fputs(");\n", out);
	fputs("COMMIT;\n", out);
	fputs("CALL :\"migrate_schema\".migrate_await();\n", out);

	/*
	 * An online migration after a non-transactional one is started by the
	 * next migrate_upgrade(), once the background run is done: one more round
	 * for each (a round with nothing to do is a no-op, one behind an online
	 * migration in flight a NOTICE).
	 */
	{
		bool		background = false;

		for (int i = 0; i < set->count; i++)
		{
			const Migration *m = &set->items[i];

			if (m->kind == MIG_REPEATABLE ||
				(target && compare_versions(m->version, target) > 0))
				continue;
			if (m->kind == MIG_SQL && !m->transactional)
				background = true;
			else if (m->kind == MIG_ONLINE && background)
			{
				fputs("\n-- online migration ", out);
				fputs(m->version, out);
				fputs(" starts once the background run before it is done\n", out);
				fputs("SELECT * FROM :\"migrate_schema\".migrate_upgrade(", out);
				print_literal(out, target);
				fputs(");\n", out);
				fputs("CALL :\"migrate_schema\".migrate_await();\n", out);
			}
		}
	}
}

/*
 * Print the script: register every migration of the set, upgrade to target
 * (NULL: all), commit, then wait for the background part.  The extension's
 * schema is the psql variable migrate_schema (default public), so that no
 * function of the same name elsewhere on search_path is called instead.
 *
 * It is one transaction, as deploy's: an online migration registered before
 * the migrations that create its tables have run is checked when it starts.
 *
 * Unless more than batch migrations are pending once all are registered,
 * which only a set of more than batch can make so: then, as deploy does, the
 * registrations are committed and CALL migrate_deploy() applies the pending
 * migrations batch at a time, each batch committed, waiting for the
 * background runs on the way.  The script asks the database which case it
 * is (psql's \gset and \if).
 */
void
print_script(FILE *out, const MigrationSet *set, const char *target, int batch)
{
	fprintf(out, "-- generated by pg_migrate script from %d %s migration%s\n",
			set->count, set->format ? set->format : "migrate",
			set->count == 1 ? "" : "s");
	fputs("-- run with: psql -X [-v migrate_schema=SCHEMA] -f FILE (the schema of the extension migrate, default public)\n", out);
	fputs("\\set ON_ERROR_STOP on\n", out);
	fputs("\\if :{?migrate_schema}\n\\else\n\\set migrate_schema public\n\\endif\n", out);
	fputs("SET standard_conforming_strings = on;\n", out);
	fputs("BEGIN;\n", out);

	for (int i = 0; i < set->count; i++)
	{
		const Migration *m = &set->items[i];

		fputc('\n', out);
		fputs("-- ", out);
		print_comment_path(out, m->path);
		if (m->down_path && strcmp(m->down_path, m->path) != 0)
		{
			fputs(", down: ", out);
			print_comment_path(out, m->down_path);
		}
		fputc('\n', out);
		switch (m->kind)
		{
			case MIG_SQL:
				fputs("SELECT :\"migrate_schema\".migrate_register(", out);
				print_literal(out, m->version);
				fputs(", ", out);
				print_literal(out, m->name);
				fputs(",\n", out);
				print_dollar_quoted(out, m->up);
				fputs(",\n", out);
				print_dollar_quoted(out, m->down);
				fputs(m->transactional ? ", true" : ", false", out);
				if (m->placeholders)
				{
					fputs(", ", out);
					print_dollar_quoted(out, m->placeholders);
					fputs("::pg_catalog.jsonb", out);
				}
				fputs(");\n", out);
				break;
			case MIG_ONLINE:
				fputs("SELECT :\"migrate_schema\".migrate_register_online(", out);
				print_literal(out, m->version);
				fputs(", ", out);
				print_literal(out, m->name);
				fputs(",\n", out);
				print_dollar_quoted(out, m->operations);
				fputs("::pg_catalog.jsonb);\n", out);
				break;
			case MIG_REPEATABLE:
				fputs("SELECT :\"migrate_schema\".migrate_register_repeatable(", out);
				print_literal(out, m->name);
				fputs(",\n", out);
				print_dollar_quoted(out, m->up);
				if (m->placeholders)
				{
					fputs(", ", out);
					print_dollar_quoted(out, m->placeholders);
					fputs("::pg_catalog.jsonb", out);
				}
				fputs(");\n", out);
				break;
		}
	}

	fputc('\n', out);
	if (set_versioned_upto(set, target) <= batch)
	{
		print_upgrade(out, set, target);
		return;
	}
	fprintf(out, "-- more than %d migrations pending: CALL migrate_deploy() applies them %d at a time,\n"
			"-- each batch committed (pg_migrate --batch); else one transaction\n",
			batch, batch);
	fprintf(out, "SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>) %d AS migrate_batched\n", batch);
	fputs(PENDING_FROM_HEAD, out);
	print_literal(out, target);
	fputs(PENDING_FROM_TAIL " \\gset\n", out);
	fputs("\\if :migrate_batched\n", out);
	fputs("COMMIT;\n", out);
	fputs("CALL :\"migrate_schema\".migrate_deploy(", out);
	print_literal(out, target);
	fprintf(out, ", %d);\n", batch);
	fputs("\\else\n", out);
	print_upgrade(out, set, target);
	fputs("\\endif\n", out);
}
