/*-------------------------------------------------------------------------
 *
 * import.c
 *	  pg_migrate import: take over a database whose migrations another tool
 *	  (Flyway, dbmate, golang-migrate) applied, from that tool's history
 *	  table.
 *
 * The history decides which of DIR's versions that tool applied; the
 * import registers every file of DIR and marks exactly those as applied
 * (migrate_adopt), in one transaction, so that the next deploy applies only
 * what the old tool had not.  The history table is read, never written.
 * It refuses, changing nothing, when the history shows a failed or dirty
 * migration, or a version applied that has no file in DIR.
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

/* What the history says of a version the tool applied without a file. */
typedef struct Orphan
{
	char	   *version;
	char	   *what;			/* for the message: the script, or "" */
	bool		applied;
} Orphan;

typedef struct History
{
	const MigrationSet *set;
	bool	   *applied;		/* per item of the set */
	char	  **repeatable_checksum;	/* per item: Flyway's last one */
	Orphan	   *orphans;
	int			norphans;
} History;

/*----------
 * Flyway's checksum of a file: CRC-32 (java.util.zip.CRC32) over the UTF-8
 * bytes of each line without its terminator (\n, \r\n or \r, as
 * BufferedReader.readLine() splits them), a byte order mark at the start
 * left out, as a signed 32-bit integer (ChecksumCalculator).
 *----------
 */
static uint32_t crc_table[256];

static void
crc_init(void)
{
	for (uint32_t n = 0; n < 256; n++)
	{
		uint32_t	c = n;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		crc_table[n] = c;
	}
}

static int32_t
flyway_checksum(const char *str)
{
	const unsigned char *p = (const unsigned char *) str;
	uint32_t	crc = 0xFFFFFFFFu;

	if (crc_table[1] == 0)
		crc_init();
	if (p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
		p += 3;
	for (; *p; p++)
	{
		if (*p == '\n' || *p == '\r')
			continue;			/* terminators are not fed, lines are */
		crc = crc_table[(crc ^ *p) & 0xFF] ^ (crc >> 8);
	}
	return (int32_t) (crc ^ 0xFFFFFFFFu);
}

/*
 * A value of the history as a message shows it: the history table is the
 * old tool's (or anyone's who could write to it), so a control character
 * in it (an escape sequence for the terminal, a newline faking another
 * line of output) is shown as "?", C1 controls in UTF-8 included.
 * Malloc'd; the process ends soon after such a message.
 */
static char *
shown(const char *s)
{
	char	   *out = pg_malloc_or_die(strlen(s) + 1);
	char	   *p = out;

	for (const unsigned char *c = (const unsigned char *) s; *c; c++)
	{
		if (c[0] == 0xC2 && c[1] >= 0x80 && c[1] <= 0x9F)
		{
			*p++ = '?';
			c++;
		}
		else if (*c < 0x20 || *c == 0x7F)
			*p++ = '?';
		else
			*p++ = (char) *c;
	}
	*p = '\0';
	return out;
}

/*----------
 * Bookkeeping of what the history says
 *----------
 */
static int
find_version(const History *h, const char *version)
{
	for (int i = 0; i < h->set->count; i++)
		if (h->set->items[i].kind != MIG_REPEATABLE &&
			compare_versions(h->set->items[i].version, version) == 0)
			return i;
	return -1;
}

static int
find_repeatable(const History *h, const char *name)
{
	for (int i = 0; i < h->set->count; i++)
		if (h->set->items[i].kind == MIG_REPEATABLE &&
			strcmp(h->set->items[i].name, name) == 0)
			return i;
	return -1;
}

static void
mark(History *h, const char *version, const char *what, bool applied)
{
	int			i = find_version(h, version);

	if (i >= 0)
	{
		h->applied[i] = applied;
		return;
	}
	for (int k = 0; k < h->norphans; k++)
		if (compare_versions(h->orphans[k].version, version) == 0)
		{
			h->orphans[k].applied = applied;
			return;
		}
	if (!applied)
		return;
	h->orphans = pg_realloc_or_die(h->orphans, sizeof(Orphan) * (h->norphans + 1));
	h->orphans[h->norphans].version = pg_strdup_or_die(version);
	h->orphans[h->norphans].what = pg_strdup_or_die(what);
	h->orphans[h->norphans].applied = true;
	h->norphans++;
}

/* every file version up to this one is applied (a baseline) */
static void
mark_up_to(History *h, const char *version)
{
	for (int i = 0; i < h->set->count; i++)
		if (h->set->items[i].kind != MIG_REPEATABLE &&
			compare_versions(h->set->items[i].version, version) <= 0)
			h->applied[i] = true;
}

static bool
valid_version(const char *v)
{
	bool		digit = false;

	for (; *v; v++)
	{
		if (*v >= '0' && *v <= '9')
			digit = true;
		else if (*v == '.' && digit)
			digit = false;
		else
			return false;
	}
	return digit;
}

/*----------
 * Reading each tool's history
 *----------
 */
static bool
read_flyway(PGconn *conn, const char *table, History *h, const char *tool)
{
	char		sql[1024];
	PGresult   *res;

	snprintf(sql, sizeof(sql),
			 "SELECT installed_rank, version, description, type, script,"
			 "       checksum, success"
			 "  FROM %s ORDER BY installed_rank", table);
	res = db_query(conn, sql, 0, NULL, "while reading Flyway's history table");
	if (res == NULL)
		return false;

	/* a failed migration anywhere: Flyway itself wants a repair first */
	for (int r = 0; r < PQntuples(res); r++)
		if (strcmp(PQgetvalue(res, r, 6), "t") != 0)
		{
			fprintf(stderr, "%s: error: %s's history shows a failed migration: %s%s%s\"%s\" (%s, installed_rank %s)\n",
					progname, tool,
					PQgetisnull(res, r, 1) ? "" : "version ",
					PQgetisnull(res, r, 1) ? "" : shown(PQgetvalue(res, r, 1)),
					PQgetisnull(res, r, 1) ? "" : " ",
					shown(PQgetvalue(res, r, 2)), shown(PQgetvalue(res, r, 4)),
					shown(PQgetvalue(res, r, 0)));
			fprintf(stderr, "%s: hint: Fix the database and repair the history with Flyway (flyway repair), then import again.\n",
					progname);
			PQclear(res);
			return false;
		}

	for (int r = 0; r < PQntuples(res); r++)
	{
		const char *version = PQgetisnull(res, r, 1) ? NULL : PQgetvalue(res, r, 1);
		const char *description = PQgetvalue(res, r, 2);
		const char *type = PQgetvalue(res, r, 3);
		const char *script = PQgetvalue(res, r, 4);
		size_t		tlen = strlen(type);

		if (strcmp(type, "SCHEMA") == 0)
			continue;			/* Flyway created the schemas: no migration */
		if (version == NULL)
		{
			/* a repeatable: its checksum, or forgotten by a DELETE */
			int			i = find_repeatable(h, description);

			if (i < 0)
				continue;
			free(h->repeatable_checksum[i]);
			h->repeatable_checksum[i] = NULL;
			if (strcmp(type, "DELETE") != 0 && !PQgetisnull(res, r, 5))
				h->repeatable_checksum[i] = pg_strdup_or_die(PQgetvalue(res, r, 5));
			continue;
		}
		if (!valid_version(version))
		{
			fprintf(stderr, "%s: error: %s's history has version \"%s\" (%s), which migrate cannot order\n",
					progname, tool, shown(version), shown(script));
			PQclear(res);
			return false;
		}
		if (strcmp(type, "BASELINE") == 0 ||
			(tlen > 9 && strcmp(type + tlen - 9, "_BASELINE") == 0))
			mark_up_to(h, version);
		else if (strcmp(type, "DELETE") == 0 || strncmp(type, "UNDO_", 5) == 0)
			mark(h, version, script, false);
		else
			mark(h, version, script, true);
	}
	PQclear(res);
	return true;
}

static bool
read_dbmate(PGconn *conn, const char *table, History *h, const char *tool)
{
	char		sql[1024];
	PGresult   *res;

	snprintf(sql, sizeof(sql),
			 "SELECT version::pg_catalog.text FROM %s", table);
	res = db_query(conn, sql, 0, NULL, "while reading dbmate's history table");
	if (res == NULL)
		return false;
	for (int r = 0; r < PQntuples(res); r++)
	{
		const char *version = PQgetvalue(res, r, 0);

		if (!valid_version(version))
		{
			fprintf(stderr, "%s: error: %s's history has version \"%s\", which migrate cannot order\n",
					progname, tool, shown(version));
			PQclear(res);
			return false;
		}
		mark(h, version, "", true);
	}
	PQclear(res);
	return true;
}

static bool
read_golang_migrate(PGconn *conn, const char *table, History *h, const char *tool)
{
	char		sql[1024];
	PGresult   *res;
	const char *version;

	snprintf(sql, sizeof(sql),
			 "SELECT version::pg_catalog.text, dirty FROM %s", table);
	res = db_query(conn, sql, 0, NULL, "while reading golang-migrate's history table");
	if (res == NULL)
		return false;
	if (PQntuples(res) == 0)
	{
		PQclear(res);
		return true;			/* nothing applied */
	}
	if (PQntuples(res) > 1)
	{
		fprintf(stderr, "%s: error: %s's history table %s has %d rows, one expected\n",
				progname, tool, shown(table), PQntuples(res));
		PQclear(res);
		return false;
	}
	version = PQgetvalue(res, 0, 0);
	if (strcmp(PQgetvalue(res, 0, 1), "f") != 0)
	{
		fprintf(stderr, "%s: error: %s's history is dirty at version %s: that migration failed half-way\n",
				progname, tool, shown(version));
		fprintf(stderr, "%s: hint: Fix the database by hand and set the version with \"migrate force\", then import again.\n",
				progname);
		PQclear(res);
		return false;
	}
	if (!valid_version(version))
	{
		fprintf(stderr, "%s: error: %s's history has version \"%s\", which migrate cannot order\n",
				progname, tool, shown(version));
		PQclear(res);
		return false;
	}
	/* golang-migrate keeps the latest version only: everything up to it */
	mark(h, version, "", true);
	mark_up_to(h, version);
	PQclear(res);
	return true;
}

/*
 * The history table, schema-qualified and quoted, as the server resolves
 * the name given (default: the tool's), or NULL after a message.
 */
static char *
history_table(PGconn *conn, const char *name)
{
	const char *params[1] = {name};
	PGresult   *res;
	char	   *schema;
	char	   *rel;
	char	   *quoted;

	/*
	 * Reading a table runs none of its owner's code, but a policy of row
	 * level security would, as the deployer: read without them (an error when
	 * one applies).
	 */
	if (!db_command(conn, "SET LOCAL row_security = off", NULL))
		return NULL;
	res = db_query(conn,
				   "SELECT n.nspname, c.relname, c.relkind FROM pg_catalog.pg_class c"
				   "  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
				   " WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1)",
				   1, params, "while looking for the history table");
	if (res == NULL)
		return NULL;
	if (PQntuples(res) == 0)
	{
		fprintf(stderr, "%s: error: history table \"%s\" does not exist\n", progname, shown(name));
		fprintf(stderr, "%s: hint: Name it with --history-table, schema-qualified if it is not on the search_path.\n",
				progname);
		PQclear(res);
		return NULL;
	}

	/*
	 * A view (or a foreign table) would run the functions of its owner's
	 * choosing as the deployer, in the transaction that registers.
	 */
	if (strcmp(PQgetvalue(res, 0, 2), "r") != 0 &&
		strcmp(PQgetvalue(res, 0, 2), "p") != 0)
	{
		fprintf(stderr, "%s: error: history table \"%s\" is not a table\n",
				progname, shown(name));
		fprintf(stderr, "%s: hint: Copy it into a table (CREATE TABLE ... AS SELECT) and name that one with --history-table.\n",
				progname);
		PQclear(res);
		return NULL;
	}
	schema = PQescapeIdentifier(conn, PQgetvalue(res, 0, 0), strlen(PQgetvalue(res, 0, 0)));
	rel = PQescapeIdentifier(conn, PQgetvalue(res, 0, 1), strlen(PQgetvalue(res, 0, 1)));
	PQclear(res);
	if (schema == NULL || rel == NULL)
	{
		db_report(conn, NULL, NULL);
		return NULL;
	}
	quoted = pg_malloc_or_die(strlen(schema) + strlen(rel) + 2);
	sprintf(quoted, "%s.%s", schema, rel);
	PQfreemem(schema);
	PQfreemem(rel);
	return quoted;
}

int
import_history(PGconn *conn, const Options *opts, const MigrationSet *set)
{
	const char *tool = opts->from;
	const char *name = opts->history_table ? opts->history_table :
	strcmp(tool, "flyway") == 0 ? "flyway_schema_history" : "schema_migrations";
	History		h;
	char	   *table;
	bool		ok;
	char	  **versions;
	char	  **repeatables;
	int			nversions = 0;
	int			nrepeatables = 0;
	char	   *source;
	const char *params[3];
	char		sql[512];
	PGresult   *res;

	memset(&h, 0, sizeof(h));
	h.set = set;
	h.applied = pg_malloc_or_die(sizeof(bool) * (set->count + 1));
	h.repeatable_checksum = pg_malloc_or_die(sizeof(char *) * (set->count + 1));
	for (int i = 0; i < set->count; i++)
	{
		h.applied[i] = false;
		h.repeatable_checksum[i] = NULL;
	}

	/* the history is read in the transaction that adopts what it says */
	if (!db_command(conn, "BEGIN", NULL))
		return EXIT_ERROR;
	table = history_table(conn, name);
	if (table == NULL)
		return EXIT_ERROR;
	if (strcmp(tool, "flyway") == 0)
		ok = read_flyway(conn, table, &h, tool);
	else if (strcmp(tool, "dbmate") == 0)
		ok = read_dbmate(conn, table, &h, tool);
	else
		ok = read_golang_migrate(conn, table, &h, tool);
	if (!ok)
		return EXIT_ERROR;

	for (int k = 0; k < h.norphans; k++)
		if (h.orphans[k].applied)
		{
			fprintf(stderr, "%s: error: %s applied version %s%s%s%s, which has no file in the directory\n",
					progname, tool, shown(h.orphans[k].version),
					h.orphans[k].what[0] ? " (" : "", shown(h.orphans[k].what),
					h.orphans[k].what[0] ? ")" : "");
			fprintf(stderr, "%s: hint: Restore the file of every version %s applied, then import again.\n",
					progname, tool);
			return EXIT_ERROR;
		}

	versions = pg_malloc_or_die(sizeof(char *) * (set->count + 1));
	repeatables = pg_malloc_or_die(sizeof(char *) * (set->count + 1));
	for (int i = 0; i < set->count; i++)
	{
		const Migration *m = &set->items[i];

		if (m->kind != MIG_REPEATABLE && h.applied[i])
			versions[nversions++] = m->version;
		else if (m->kind == MIG_REPEATABLE && h.repeatable_checksum[i])
		{
			char		mine[16];

			/* adopted only when the file is the one Flyway applied last */
			snprintf(mine, sizeof(mine), "%d", (int) flyway_checksum(m->up));
			if (strcmp(mine, h.repeatable_checksum[i]) == 0)
				repeatables[nrepeatables++] = m->name;
			else if (!opts->quiet)
				printf("repeatable \"%s\" changed since %s applied it: the next deploy applies it\n",
					   m->name, tool);
		}
	}

	if (!register_set(conn, set))
		return EXIT_ERROR;
	source = pg_malloc_or_die(strlen(tool) + strlen(table) + 2);
	sprintf(source, "%s %s", tool, table);
	params[0] = make_text_array(versions, nversions);
	params[1] = make_text_array(repeatables, nrepeatables);
	params[2] = source;
	snprintf(sql, sizeof(sql),
			 "SELECT %s.migrate_adopt($1::pg_catalog.text[], $2::pg_catalog.text[], $3)",
			 extschema);
	res = db_query(conn, sql, 3, params, "while adopting the history");
	if (res == NULL)
		return EXIT_ERROR;
	PQclear(res);
	if (!db_command(conn, "COMMIT", "while committing the import"))
		return EXIT_ERROR;

	if (!opts->quiet)
	{
		int			pending = 0;

		for (int i = 0; i < nversions; i++)
			printf("adopted  %s\n", versions[i]);
		for (int i = 0; i < nrepeatables; i++)
			printf("adopted  repeatable \"%s\"\n", repeatables[i]);
		for (int i = 0; i < set->count; i++)
		{
			const Migration *m = &set->items[i];
			bool		adopted = false;

			if (m->kind == MIG_REPEATABLE)
				for (int k = 0; k < nrepeatables; k++)
					adopted |= repeatables[k] == m->name;
			else
				adopted = h.applied[i];
			if (adopted)
				continue;
			pending++;
			if (m->kind == MIG_REPEATABLE)
				printf("pending  repeatable \"%s\"\n", m->name);
			else
				printf("pending  %s \"%s\"\n", m->version, m->name);
		}
		printf("imported the history of %s from %s: %d adopted, %d pending (the next deploy applies them)\n",
			   tool, shown(table), nversions + nrepeatables, pending);
	}
	return EXIT_OK;
}
