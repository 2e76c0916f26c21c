/*-------------------------------------------------------------------------
 *
 * db.c
 *	  The connection to the server, its messages shown as psql shows them,
 *	  and the registration of a directory's migrations.
 *
 * Every value goes to the server as a query parameter: a file's content is
 * never spliced into SQL text.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "pg_migrate.h"

const char *progname = "pg_migrate";

/*
 * The schema of the extension's functions, quoted: every call names it, so
 * that no function planted earlier on the deployer's search_path is called
 * in its place.  Set by db_connect.
 */
char	   *extschema = NULL;

/*
 * Connect as psql would: -d may be a database name, a conninfo string or a
 * URI (expand_dbname), -h -p -U override it, and libpq reads the PG*
 * environment variables and .pgpass for the rest.  conninfo, when not
 * NULL, replaces -d (a line of a --targets file).  NULL after a message.
 */
PGconn *
db_connect(const ConnOptions *options, const char *conninfo)
{
	const char *keywords[6];
	const char *values[6];
	int			n = 0;
	PGconn	   *conn;

	keywords[n] = "dbname";
	values[n++] = conninfo ? conninfo : options->dbname;
	keywords[n] = "host";
	values[n++] = options->host;
	keywords[n] = "port";
	values[n++] = options->port;
	keywords[n] = "user";
	values[n++] = options->username;
	keywords[n] = "fallback_application_name";
	values[n++] = progname;
	keywords[n] = NULL;
	values[n] = NULL;

	conn = PQconnectdbParams(keywords, values, true);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "%s: error: %s", progname,
				conn ? PQerrorMessage(conn) : "out of memory\n");
		PQfinish(conn);
		return NULL;
	}

	{
		PGresult   *res;

		res = db_query(conn,
					   "SELECT n.nspname FROM pg_catalog.pg_extension e"
					   "  JOIN pg_catalog.pg_namespace n"
					   "    ON n.oid OPERATOR(pg_catalog.=) e.extnamespace"
					   " WHERE e.extname OPERATOR(pg_catalog.=) 'migrate'",
					   0, NULL, NULL);
		if (res == NULL)
		{
			PQfinish(conn);
			return NULL;
		}
		if (PQntuples(res) == 0)
		{
			fprintf(stderr, "%s: error: extension \"migrate\" is not installed in database \"%s\"\n"
					"HINT:  Run CREATE EXTENSION migrate; as its owner first.\n",
					progname, PQdb(conn));
			PQclear(res);
			PQfinish(conn);
			return NULL;
		}
		free(extschema);
		extschema = PQescapeIdentifier(conn, PQgetvalue(res, 0, 0),
									   strlen(PQgetvalue(res, 0, 0)));
		PQclear(res);
	}
	return conn;
}

/*
 * "schema"."function" for a function of the extension, in a buffer of the
 * caller's.
 */
const char *
migrate_fn(char *buf, size_t size, const char *call)
{
	/* call is such as "migrate_upgrade($1)" */
	snprintf(buf, size, "%s.%s", extschema, call);
	return buf;
}

/*
 * An error as psql shows it: severity and message, then DETAIL, HINT and
 * CONTEXT lines (libpq's default verbosity), and what the client was doing.
 */
void
db_report(PGconn *conn, const PGresult *res, const char *context)
{
	const char *msg = res ? PQresultErrorMessage(res) : "";

	if (msg[0] == '\0')
		msg = PQerrorMessage(conn);
	fputs(msg, stderr);
	if (msg[0] != '\0' && msg[strlen(msg) - 1] != '\n')
		fputc('\n', stderr);
	if (context)
		fprintf(stderr, "%s: %s\n", progname, context);
}

/*
 * Run a query with text parameters.  The result when it succeeded (the
 * caller clears it), else NULL after reporting the error with context.
 */
PGresult *
db_query(PGconn *conn, const char *sql, int nparams,
		 const char *const *params, const char *context)
{
	PGresult   *res = PQexecParams(conn, sql, nparams, NULL, params,
								   NULL, NULL, 0);
	ExecStatusType status = PQresultStatus(res);

	if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
	{
		db_report(conn, res, context);
		PQclear(res);
		return NULL;
	}
	return res;
}

bool
db_command(PGconn *conn, const char *sql, const char *context)
{
	PGresult   *res = db_query(conn, sql, 0, NULL, context);

	PQclear(res);
	return res != NULL;
}

/*
 * Register one migration in the caller's transaction, and return the
 * server's answer as it is (the caller checks it and clears it): plan tells
 * a changed applied migration (MG001) from other errors.
 */
PGresult *
register_migration(PGconn *conn, const Migration *m)
{
	const char *params[6];
	const char *call;
	char		sql[512];
	int			nparams;

	switch (m->kind)
	{
		case MIG_SQL:
			params[0] = m->version;
			params[1] = m->name;
			params[2] = m->up;
			params[3] = m->down;
			params[4] = m->transactional ? "true" : "false";
			params[5] = m->placeholders;
			if (m->placeholders)
			{
				call = "migrate_register($1, $2, $3, $4, $5::pg_catalog.bool, $6::pg_catalog.jsonb)";
				nparams = 6;
			}
			else
			{
				call = "migrate_register($1, $2, $3, $4, $5::pg_catalog.bool)";
				nparams = 5;
			}
			break;
		case MIG_ONLINE:
			params[0] = m->version;
			params[1] = m->name;
			params[2] = m->operations;
			call = "migrate_register_online($1, $2, $3::pg_catalog.jsonb)";
			nparams = 3;
			break;
		case MIG_REPEATABLE:
		default:
			params[0] = m->name;
			params[1] = m->up;
			params[2] = m->placeholders;
			if (m->placeholders)
			{
				call = "migrate_register_repeatable($1, $2, $3::pg_catalog.jsonb)";
				nparams = 3;
			}
			else
			{
				call = "migrate_register_repeatable($1, $2)";
				nparams = 2;
			}
			break;
	}
	snprintf(sql, sizeof(sql), "SELECT %s.%s", extschema, call);
	return PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
}

/*
 * Register every migration of the set, in the caller's transaction: the
 * same definition again is a no-op on the server, so a deploy re-registers
 * the whole directory each time.  False after reporting the first error,
 * naming the file.
 */
bool
register_set(PGconn *conn, const MigrationSet *set)
{
	for (int i = 0; i < set->count; i++)
	{
		const Migration *m = &set->items[i];
		PGresult   *res = register_migration(conn, m);

		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			char		context[1024];

			snprintf(context, sizeof(context), "while registering %s", m->path);
			db_report(conn, res, context);
			PQclear(res);
			return false;
		}
		PQclear(res);
	}
	return true;
}
