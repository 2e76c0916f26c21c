/*-------------------------------------------------------------------------
 *
 * pg_migrate.c
 *	  The command line of pg_migrate, and the commands that talk to the
 *	  server: deploy (to one database or to the targets of a file), plan,
 *	  status, complete and rollback.  script and new are files.c's and
 *	  script.c's; import is import.c's.
 *
 * Every call of a function of the extension names its schema (extschema),
 * and every value goes to the server as a query parameter.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"

#define PG_MIGRATE_VERSION "1.1"

/* The output of --help; doc/pg_migrate.md shows it verbatim (018 checks). */
static const char help_text[] =
"pg_migrate deploys a directory of migration files with the migrate extension.\n"
"\n"
"Usage:\n"
"  pg_migrate [OPTION]... COMMAND [ARG]...\n"
"\n"
"Commands:\n"
"  deploy DIR           register DIR's migrations, apply them, wait for the\n"
"                       background part\n"
"  plan DIR             what deploy would do, changing nothing (exit status 2\n"
"                       when something is pending)\n"
"  script DIR           print the psql script deploy would run (no connection)\n"
"  import --from TOOL DIR\n"
"                       adopt a database managed by TOOL: flyway, dbmate or\n"
"                       golang-migrate\n"
"  status               the migrations and repeatables of the database, and\n"
"                       its running jobs\n"
"  new NAME [DIR]       create the next migration file in DIR's format\n"
"                       (DIR default .)\n"
"  complete [VERSION]   contract the online migration in flight\n"
"  rollback [VERSION]   undo the online migration in flight\n"
"\n"
"Options:\n"
"      --format=FORMAT      read DIR as flyway, dbmate, golang-migrate or\n"
"                           migrate (default: detected from the file names)\n"
"      --target=VERSION     deploy, plan or script up to VERSION only\n"
"  -v, --set=NAME=VALUE     value of placeholder ${NAME} (default: the\n"
"                           environment variable PG_MIGRATE_<NAME>)\n"
"      --targets=FILE       deploy: to each conninfo of FILE, one a line\n"
"  -j, --jobs=N             deploy: to N targets at a time (default 1)\n"
"      --no-wait            deploy: do not wait for the background part\n"
"      --batch=N            deploy, script: more than N migrations pending are\n"
"                           applied N at a time, each batch committed\n"
"                           (default 500)\n"
"  -q, --quiet              print errors and warnings only\n"
"      --from=TOOL          import: the tool whose history to adopt\n"
"      --history-table=NAME import: the tool's history table (default:\n"
"                           flyway_schema_history or schema_migrations)\n"
"      --online             new: an online migration (.json)\n"
"      --no-transaction     new: a non-transactional migration\n"
"  -V, --version            output version information, then exit\n"
"  -?, --help               show this help, then exit\n"
"\n"
"Connection options:\n"
"  -d, --dbname=DBNAME      database name, conninfo string or URI\n"
"  -h, --host=HOSTNAME      database server host or socket directory\n"
"  -p, --port=PORT          database server port\n"
"  -U, --username=USERNAME  database user name\n"
"The PG* environment variables and ~/.pgpass are read as psql reads them.\n"
"\n"
"Exit status: 0 success (deploy: everything up to the target is applied),\n"
"1 error, 2 plan: something is pending, 3 deploy: stopped at an online\n"
"migration in flight (run \"pg_migrate complete VERSION\" once the new\n"
"application is out).\n";

static const char *const import_tools[] = {"flyway", "dbmate", "golang-migrate", NULL};

enum
{
	OPT_FORMAT = 256,
	OPT_TARGET,
	OPT_TARGETS,
	OPT_NO_WAIT,
	OPT_FROM,
	OPT_HISTORY_TABLE,
	OPT_ONLINE,
	OPT_NO_TRANSACTION,
	OPT_BATCH,
	OPT_HELP
};

static bool quiet_notices = false;
static bool notices_suppressed = false;

static int	run_deploy(const Options *opts, const MigrationSet *set,
					   const char *conninfo, char **before, char **after);

/*----------
 * Small helpers
 *----------
 */
void *
pg_malloc_or_die(size_t size)
{
	void	   *p = malloc(size ? size : 1);

	if (p == NULL)
	{
		fprintf(stderr, "%s: error: out of memory\n", progname);
		exit(EXIT_ERROR);
	}
	return p;
}

void *
pg_realloc_or_die(void *p, size_t size)
{
	void	   *q = realloc(p, size ? size : 1);

	if (q == NULL)
	{
		fprintf(stderr, "%s: error: out of memory\n", progname);
		exit(EXIT_ERROR);
	}
	return q;
}

char *
pg_strdup_or_die(const char *s)
{
	char	   *p = pg_malloc_or_die(strlen(s) + 1);

	strcpy(p, s);
	return p;
}

/* "prefix" and a string, malloc'd */
static char *
psprintf_or_die(const char *fmt, const char *arg)
{
	size_t		size = strlen(fmt) + strlen(arg) + 1;
	char	   *buf = pg_malloc_or_die(size);

	snprintf(buf, size, fmt, arg);
	return buf;
}

/* A text[] literal of the given strings, for a query parameter. */
char *
make_text_array(char *const *items, int n)
{
	size_t		size = 3;
	char	   *buf;
	char	   *p;

	for (int i = 0; i < n; i++)
		size += strlen(items[i]) * 2 + 3;
	buf = p = pg_malloc_or_die(size);
	*p++ = '{';
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			*p++ = ',';
		*p++ = '"';
		for (const char *s = items[i]; *s; s++)
		{
			if (*s == '"' || *s == '\\')
				*p++ = '\\';
			*p++ = *s;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return buf;
}

static void
usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: error: ", progname);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	fprintf(stderr, "%s: hint: Try \"%s --help\" for more information.\n",
			progname, progname);
	exit(EXIT_ERROR);
}

static bool
in_list(const char *const *list, const char *s)
{
	for (int i = 0; list[i]; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

/*
 * The server's NOTICEs and WARNINGs, as psql shows them.  -q drops NOTICEs
 * (and INFOs), never WARNINGs.  They are dropped too while the client says
 * itself what a call did: migrate_upgrade's "commit, then wait" and
 * migrate_await's "waiting …" would only repeat the lines of the deploy
 * and of the progress.
 */
static void
notice_receiver(void *arg, const PGresult *res)
{
	const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	bool		notice = severity == NULL ||
	strcmp(severity, "NOTICE") == 0 || strcmp(severity, "INFO") == 0 ||
	strcmp(severity, "LOG") == 0 || strcmp(severity, "DEBUG") == 0;

	if (notice && (quiet_notices || notices_suppressed))
		return;
	fputs(PQresultErrorMessage(res), stderr);
}

void
set_quiet_notices(bool quiet)
{
	quiet_notices = quiet;
}

void
suppress_notices(bool suppress)
{
	notices_suppressed = suppress;
}

PGconn *
connect_to(const Options *opts, const char *conninfo)
{
	PGconn	   *conn = db_connect(&opts->conn, conninfo);

	if (conn)
		PQsetNoticeReceiver(conn, notice_receiver, NULL);
	return conn;
}

/*
 * The first column of the first row of a query, malloc'd; NULL when the
 * query returned no row or NULL.  *ok is false after an error, reported.
 */
char *
query_value(PGconn *conn, const char *sql, int nparams,
			const char *const *params, bool *ok)
{
	PGresult   *res = db_query(conn, sql, nparams, params, NULL);
	char	   *value = NULL;

	*ok = res != NULL;
	if (res && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
		value = pg_strdup_or_die(PQgetvalue(res, 0, 0));
	PQclear(res);
	return value;
}

static char *
current_version(PGconn *conn, bool *ok)
{
	char		sql[512];

	snprintf(sql, sizeof(sql), "SELECT %s.migrate_current()", extschema);
	return query_value(conn, sql, 0, NULL, ok);
}

/*
 * The version of the database for the summary of --targets: "none" when
 * nothing is applied, so that NULL means the database could not be asked.
 */
static char *
known_version(PGconn *conn, bool *ok)
{
	char	   *version = current_version(conn, ok);

	if (*ok && version == NULL)
		version = pg_strdup_or_die("none");
	return version;
}

static void
load_or_die(const Options *opts, const char *dir, MigrationSet *set)
{
	char	   *error = NULL;

	if (!load_migrations(dir, opts->format, set, &error) ||
		!resolve_placeholders(set, &opts->vars, &error))
	{
		fprintf(stderr, "%s: error: %s\n", progname,
				error ? error : "could not read the migrations");
		exit(EXIT_ERROR);
	}
}

/*----------
 * deploy
 *----------
 */

/* Is a background run of migrations unfinished (from an earlier deploy)? */
static bool
run_unfinished(PGconn *conn, bool *ok)
{
	char	   *n = query_value(conn,
								"SELECT pg_catalog.count(*) FROM migrate.progress"
								" WHERE kind OPERATOR(pg_catalog.=) ANY ('{upgrade,downgrade}')",
								0, NULL, ok);
	bool		unfinished = n && strcmp(n, "0") != 0;

	free(n);
	return unfinished;
}

/* Has the extension repeatable migrations (1.1)? */
static bool
has_repeatables(PGconn *conn)
{
	bool		ok;
	char	   *v = query_value(conn,
								"SELECT pg_catalog.to_regclass('migrate.repeatable_status') IS NOT NULL",
								0, NULL, &ok);
	bool		has = v && strcmp(v, "t") == 0;

	free(v);
	return has;
}

/*
 * Why the database is not where the deploy should have brought it, as the
 * exit status: an online migration in flight (3), anything else pending
 * (1), nothing (0).
 */
static int
check_reached(PGconn *conn, const Options *opts)
{
	const char *params[1] = {opts->target};
	PGresult   *res;
	int			status = EXIT_OK;

	res = db_query(conn,
				   "SELECT m.version, m.name, m.kind, m.state"
				   "  FROM migrate.migration m"
				   " WHERE m.state OPERATOR(pg_catalog.<>) 'applied'"
				   "   AND ($1::pg_catalog.text IS NULL OR m.version_key OPERATOR(pg_catalog.<=)"
				   "        (SELECT t.version_key FROM migrate.migration t"
				   "          WHERE t.version OPERATOR(pg_catalog.=) $1))"
				   " ORDER BY m.version_key",
				   1, params, "while checking what is applied");
	if (res == NULL)
		return EXIT_ERROR;
	for (int i = 0; i < PQntuples(res); i++)
	{
		const char *version = PQgetvalue(res, i, 0);
		const char *state = PQgetvalue(res, i, 3);

		if (strcmp(PQgetvalue(res, i, 2), "online") == 0 &&
			(strcmp(state, "active") == 0 || strcmp(state, "ready") == 0))
		{
			fprintf(stderr, "%s: online migration %s \"%s\" is in flight (%s): the migrations after it wait for its end\n",
					progname, version, PQgetvalue(res, i, 1), state);
			fprintf(stderr, "%s: hint: Once no instance of the old application is left, run \"%s complete %s\", then deploy again.\n",
					progname, progname, version);
			status = EXIT_IN_FLIGHT;
			break;
		}
		fprintf(stderr, "%s: error: migration %s \"%s\" is %s, not applied\n",
				progname, version, PQgetvalue(res, i, 1), state);
		status = EXIT_ERROR;
		break;
	}
	PQclear(res);

	/* changed repeatables wait for the end of a run that reached the target */
	if (status == EXIT_OK)
	{
		res = NULL;
		if (has_repeatables(conn))
			res = db_query(conn,
						   "SELECT r.name, r.state FROM migrate.repeatable_status r"
						   " WHERE r.state OPERATOR(pg_catalog.<>) 'applied'",
						   0, NULL, "while checking what is applied");
		if (res && PQntuples(res) > 0)
		{
			fprintf(stderr, "%s: error: repeatable migration \"%s\" is %s, not applied\n",
					progname, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
			status = EXIT_ERROR;
		}
		PQclear(res);
	}
	return status;
}

/*
 * What became of the migrations handed to the background: waited holds
 * their versions, and "R:name" for a repeatable.
 */
static bool
report_waited(PGconn *conn, char **waited, int n)
{
	char	  **versions = pg_malloc_or_die(sizeof(char *) * (n + 1));
	char	  **names = pg_malloc_or_die(sizeof(char *) * (n + 1));
	int			nversions = 0;
	int			nnames = 0;
	const char *params[1];
	PGresult   *res;

	for (int i = 0; i < n; i++)
	{
		if (strncmp(waited[i], "R:", 2) == 0)
			names[nnames++] = waited[i] + 2;
		else
			versions[nversions++] = waited[i];
	}
	params[0] = make_text_array(versions, nversions);
	res = db_query(conn,
				   "SELECT m.version, m.name, m.state FROM migrate.migration m"
				   " WHERE m.version OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])"
				   " ORDER BY m.version_key",
				   1, params, "while reading what was applied");
	free((char *) params[0]);
	if (res == NULL)
		return false;
	for (int i = 0; i < PQntuples(res); i++)
		printf("%-8s %s \"%s\"\n", PQgetvalue(res, i, 2), PQgetvalue(res, i, 0),
			   PQgetvalue(res, i, 1));
	PQclear(res);

	/* the run applies the changed repeatables at its end */
	if (nnames > 0)
	{
		params[0] = make_text_array(names, nnames);
		res = db_query(conn,
					   "SELECT r.name, r.state FROM migrate.repeatable_status r"
					   " WHERE r.name OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])"
					   " ORDER BY r.name COLLATE pg_catalog.\"C\"",
					   1, params, "while reading what was applied");
		free((char *) params[0]);
		if (res == NULL)
			return false;
		for (int i = 0; i < PQntuples(res); i++)
			printf("%-8s repeatable \"%s\"\n", PQgetvalue(res, i, 1),
				   PQgetvalue(res, i, 0));
		PQclear(res);
	}
	free(versions);
	free(names);
	return true;
}

/*
 * A deploy of more pending migrations than one transaction should hold
 * (--batch): the registrations, made in the transaction still open, are
 * committed, and CALL migrate_deploy applies the pending migrations batch
 * at a time, each batch committed, waiting for the background runs on the
 * way and stopping at an online migration, which it starts.  pending holds
 * the versions of the migrations that were pending; what became of each
 * (and of the repeatables that were to apply) is printed afterwards, also
 * when the call failed, since the batches before the failure stay applied.
 * False after reporting an error.
 */
static bool
deploy_batched(PGconn *conn, const Options *opts, const char *target,
			   PGresult *pending, bool *applied)
{
	int			npending = PQntuples(pending);
	char	  **versions = pg_malloc_or_die(sizeof(char *) * (npending + 1));
	char	   *version_array;
	char	   *repeatables = NULL;
	char		batch[16];
	const char *params[2];
	char		sql[512];
	PGresult   *res;
	bool		ok;
	int			done = 0;

	for (int i = 0; i < npending; i++)
		versions[i] = PQgetvalue(pending, i, 0);
	version_array = make_text_array(versions, npending);
	free(versions);

	/* the repeatables the run is to apply at its end */
	if (has_repeatables(conn))
	{
		repeatables = query_value(conn,
								  "SELECT pg_catalog.array_agg(r.name) FROM migrate.repeatable_status r"
								  " WHERE r.state OPERATOR(pg_catalog.<>) 'applied'",
								  0, NULL, &ok);
		if (!ok)
		{
			free(version_array);
			return false;
		}
	}
	if (!db_command(conn, "COMMIT", "while committing the registrations"))
	{
		free(version_array);
		free(repeatables);
		return false;
	}

	if (!opts->quiet)
	{
		printf("%d migrations pending: applying them %d at a time, each batch committed\n",
			   npending, opts->batch);
		fflush(stdout);
	}
	snprintf(batch, sizeof(batch), "%d", opts->batch);
	params[0] = target;
	params[1] = batch;
	snprintf(sql, sizeof(sql),
			 "CALL %s.migrate_deploy($1::pg_catalog.text, $2::pg_catalog.int4)", extschema);
	res = db_query(conn, sql, 2, params, "while applying the migrations");
	ok = res != NULL;
	PQclear(res);

	/* what the batches did, committed whatever became of the call */
	params[0] = version_array;
	res = db_query(conn,
				   "SELECT m.version, m.name, m.state FROM migrate.migration m"
				   " WHERE m.version OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])"
				   "   AND m.state OPERATOR(pg_catalog.<>) 'pending'"
				   " ORDER BY m.version_key",
				   1, params, "while reading what was applied");
	free(version_array);
	if (res != NULL)
	{
		for (int i = 0; i < PQntuples(res); i++)
		{
			const char *state = PQgetvalue(res, i, 2);
			bool		online = strcmp(state, "active") == 0 || strcmp(state, "ready") == 0;

			*applied = true;
			if (strcmp(state, "applied") == 0)
				done++;
			if (opts->quiet)
				continue;
			printf("%-8s %s \"%s\"%s\n", online ? "started" : state,
				   PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
				   online ? " (online)" : "");
		}
		PQclear(res);
	}
	if (repeatables != NULL)
	{
		params[0] = repeatables;
		res = db_query(conn,
					   "SELECT r.name FROM migrate.repeatable_status r"
					   " WHERE r.name OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])"
					   "   AND r.state OPERATOR(pg_catalog.=) 'applied'"
					   " ORDER BY r.name COLLATE pg_catalog.\"C\"",
					   1, params, "while reading what was applied");
		free(repeatables);
		if (res != NULL)
		{
			for (int i = 0; i < PQntuples(res); i++)
			{
				*applied = true;
				if (!opts->quiet)
					printf("%-8s repeatable \"%s\"\n", "applied", PQgetvalue(res, i, 0));
			}
			PQclear(res);
		}
	}
	fflush(stdout);
	if (!ok)
	{
		if (done == 0)
			fprintf(stderr, "%s: error: deploy failed: no migration was applied\n", progname);
		else
			fprintf(stderr, "%s: error: deploy failed: the %d migrations applied before the failure stay applied\n",
					progname, done);
	}
	return ok;
}

/*
 * One round of a deploy: register everything and upgrade in one
 * transaction, and print what the upgrade did.  *background tells whether
 * it handed work to a worker (queued) or started an online migration;
 * *applied whether it did anything.  False after reporting an error, the
 * transaction rolled back.  When more migrations are pending than --batch,
 * the round is deploy_batched's instead (*batched), which does all rounds.
 */
static bool
deploy_round(PGconn *conn, const Options *opts, const MigrationSet *set,
			 const char *target, bool *background, bool *started,
			 bool *applied, bool *batched, char ***waited, int *nwaited)
{
	const char *params[1] = {target};
	char		sql[1024];
	PGresult   *res;

	*background = *started = *applied = *batched = false;
	if (!db_command(conn, "BEGIN", NULL))
		return false;
	if (!register_set(conn, set))
		goto rollback;

	/* more pending than one batch (which takes a set of more than one) */
	if (set_versioned_upto(set, target) > opts->batch)
	{
		snprintf(sql, sizeof(sql), "SELECT m.version\n%s$1%s\n ORDER BY m.version_key",
				 PENDING_FROM_HEAD, PENDING_FROM_TAIL);
		res = db_query(conn, sql, 1, params, "while counting the pending migrations");
		if (res == NULL)
			goto rollback;
		if (PQntuples(res) > opts->batch)
		{
			bool		ok;

			*batched = true;
			ok = deploy_batched(conn, opts, target, res, applied);
			PQclear(res);
			return ok;
		}
		PQclear(res);
	}

	snprintf(sql, sizeof(sql),
			 "SELECT version, name, action FROM %s.migrate_upgrade($1)", extschema);
	/* its NOTICEs say to commit and wait: the lines below say what it did */
	suppress_notices(true);
	res = db_query(conn, sql, 1, params, "while applying the migrations");
	suppress_notices(false);
	if (res == NULL)
		goto rollback;
	if (!db_command(conn, "COMMIT", "while committing the migrations"))
	{
		PQclear(res);
		goto rollback;
	}

	*waited = pg_realloc_or_die(*waited, sizeof(char *) * (*nwaited + PQntuples(res) + 1));
	for (int i = 0; i < PQntuples(res); i++)
	{
		const char *action = PQgetvalue(res, i, 2);

		*applied = true;
		if (strcmp(action, "queued") == 0 || strcmp(action, "started") == 0)
		{
			*background = true;
			if (action[0] == 's')
				*started = true;
			if (!PQgetisnull(res, i, 0))
				(*waited)[(*nwaited)++] = pg_strdup_or_die(PQgetvalue(res, i, 0));
			else
				(*waited)[(*nwaited)++] = psprintf_or_die("R:%s", PQgetvalue(res, i, 1));
		}
		if (opts->quiet)
			continue;
		if (PQgetisnull(res, i, 0))
			printf("%-8s repeatable \"%s\"\n", action, PQgetvalue(res, i, 1));
		else
			printf("%-8s %s \"%s\"%s\n", action, PQgetvalue(res, i, 0),
				   PQgetvalue(res, i, 1),
				   strcmp(action, "queued") == 0 ? " (in the background)" :
				   strcmp(action, "started") == 0 ? " (online)" : "");
	}
	PQclear(res);
	fflush(stdout);
	return true;

rollback:
	/* one transaction: none of this round's registrations or migrations */
	PQclear(PQexec(conn, "ROLLBACK"));
	fprintf(stderr, "%s: error: deploy failed: nothing was applied\n", progname);
	return false;
}

/*
 * Deploy the set to one database, in rounds: the upgrade of each round
 * applies what it can in its transaction and hands the rest to a worker,
 * which the client waits for before the next round; an online migration
 * after a non-transactional one is started by the round after it.  The
 * deploy stops when a round applies nothing, or starts an online
 * migration (whose end, complete, is for later).  *before and *after get
 * the versions (malloc'd, NULL when none or unknown).
 */
static int
run_deploy(const Options *opts, const MigrationSet *set, const char *conninfo,
		   char **before, char **after)
{
	PGconn	   *conn;
	bool		ok;
	bool		background = false;
	bool		started = false;
	bool		applied = false;
	bool		batched = false;
	bool		anything = false;
	char	  **waited = NULL;
	int			nwaited = 0;
	int			status;

	*before = *after = NULL;
	conn = connect_to(opts, conninfo);
	if (conn == NULL)
		return EXIT_ERROR;

	*before = known_version(conn, &ok);
	if (!ok)
		goto fail;

	/* a run left by an earlier deploy (its client killed): see it through */
	if (run_unfinished(conn, &ok))
	{
		if (!opts->quiet)
			printf("waiting for the background run of an earlier deploy\n");
		fflush(stdout);
		if (!wait_for_jobs(conn, opts->quiet))
			goto fail;
	}
	if (!ok)
		goto fail;

	for (;;)
	{
		if (!deploy_round(conn, opts, set, opts->target, &background, &started,
						  &applied, &batched, &waited, &nwaited))
			goto fail;
		anything |= applied;
		/* migrate_deploy did every round, and waited for their runs */
		if (batched)
			break;
		if (background && !opts->no_wait)
		{
			if (!wait_for_jobs(conn, opts->quiet))
				goto fail;
			if (!opts->quiet && !report_waited(conn, waited, nwaited))
				goto fail;
			nwaited = 0;
		}
		if (started || (background && opts->no_wait))
			break;
		/* after a background run, the next round starts what waited for it */
		if (!background)
			break;
	}
	if (!anything && !opts->quiet)
		printf("nothing to apply\n");

	*after = known_version(conn, &ok);
	if (!ok)
		goto fail;
	if (opts->no_wait && background)
		status = EXIT_OK;
	else
		status = check_reached(conn, opts);
	if (!opts->quiet)
		printf("database \"%s\" is at version %s\n", PQdb(conn),
			   *after ? *after : "none");
	PQfinish(conn);
	return status;

fail:
	/* where it is now, for the summary of --targets */
	if (PQstatus(conn) == CONNECTION_OK)
	{
		if (PQtransactionStatus(conn) != PQTRANS_IDLE)
			PQclear(PQexec(conn, "ROLLBACK"));
		free(*after);
		*after = known_version(conn, &ok);
	}
	PQfinish(conn);
	return EXIT_ERROR;
}

/*----------
 * deploy --targets FILE: a child process per target, N at a time
 *----------
 */
typedef struct Target
{
	char	   *conninfo;
	char	   *label;			/* as shown: the line, without a password */
	pid_t		pid;
	int			out;			/* read end of the child's stdout and stderr */
	int			result;			/* read end of its "before\nafter\n" */
	char	   *partial;		/* output after its last newline */
	char	   *before;
	char	   *after;
	enum
	{
		T_WAITING, T_RUNNING, T_DONE, T_SKIPPED
	}			state;
	int			status;
} Target;

/* A target as the summary shows it: the line, unless it holds a password. */
static char *
target_label(const char *conninfo)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	bool		secret = false;
	char		buf[1024] = "";

	if (opts == NULL)
		return pg_strdup_or_die(conninfo);
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val && o->val[0])
			secret = true;
	if (secret)
	{
		for (PQconninfoOption *o = opts; o->keyword; o++)
		{
			if (o->val == NULL || o->val[0] == '\0' ||
				!(strcmp(o->keyword, "host") == 0 || strcmp(o->keyword, "port") == 0 ||
				  strcmp(o->keyword, "dbname") == 0 || strcmp(o->keyword, "user") == 0))
				continue;
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s=%s",
					 buf[0] ? " " : "", o->keyword, o->val);
		}
	}
	PQconninfoFree(opts);
	return pg_strdup_or_die(secret ? buf : conninfo);
}

static Target *
read_targets(const char *file, int *count)
{
	FILE	   *f = fopen(file, "r");
	Target	   *targets = NULL;
	int			n = 0;
	char	   *line = NULL;
	size_t		cap = 0;
	int			lineno = 0;

	if (f == NULL)
	{
		fprintf(stderr, "%s: error: could not open targets file \"%s\": %s\n",
				progname, file, strerror(errno));
		exit(EXIT_ERROR);
	}
	while (getline(&line, &cap, f) != -1)
	{
		char	   *s = line;
		char	   *e;

		lineno++;
		while (*s == ' ' || *s == '\t')
			s++;
		e = s + strlen(s);
		while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		if (*s == '\0' || *s == '#')
			continue;

		/*
		 * A line libpq would read as a conninfo or URI (not a plain database
		 * name) but cannot parse fails before any target is deployed.  It is
		 * not shown, nor libpq's message quoting it: it may hold a password
		 * that target_label could not find.
		 */
		if (strchr(s, '=') != NULL || strncmp(s, "postgres://", 11) == 0 ||
			strncmp(s, "postgresql://", 13) == 0)
		{
			char	   *errmsg = NULL;
			PQconninfoOption *parsed = PQconninfoParse(s, &errmsg);

			if (parsed == NULL)
			{
				fprintf(stderr, "%s: error: line %d of targets file \"%s\" is not a valid connection string (the line is not shown: it may hold a password)\n",
						progname, lineno, file);
				exit(EXIT_ERROR);
			}
			PQconninfoFree(parsed);
			PQfreemem(errmsg);
		}
		targets = pg_realloc_or_die(targets, sizeof(Target) * (n + 1));
		memset(&targets[n], 0, sizeof(Target));
		targets[n].conninfo = pg_strdup_or_die(s);
		targets[n].label = target_label(s);
		targets[n].state = T_WAITING;
		n++;
	}
	free(line);
	fclose(f);
	if (n == 0)
	{
		fprintf(stderr, "%s: error: targets file \"%s\" names no database\n",
				progname, file);
		exit(EXIT_ERROR);
	}
	*count = n;
	return targets;
}

static void
start_target(Target *t, const Options *opts, const MigrationSet *set)
{
	int			out[2];
	int			result[2];

	if (pipe(out) != 0 || pipe(result) != 0)
	{
		fprintf(stderr, "%s: error: could not create a pipe: %s\n",
				progname, strerror(errno));
		exit(EXIT_ERROR);
	}
	fflush(stdout);
	fflush(stderr);
	t->pid = fork();
	if (t->pid < 0)
	{
		fprintf(stderr, "%s: error: could not fork: %s\n", progname, strerror(errno));
		exit(EXIT_ERROR);
	}
	if (t->pid == 0)
	{
		char	   *before;
		char	   *after;
		int			status;
		FILE	   *r;

		close(out[0]);
		close(result[0]);
		dup2(out[1], STDOUT_FILENO);
		dup2(out[1], STDERR_FILENO);
		close(out[1]);
		/* one line at a time, so that the parent interleaves whole lines */
		setvbuf(stdout, NULL, _IOLBF, 0);
		status = run_deploy(opts, set, t->conninfo, &before, &after);
		fflush(stdout);
		r = fdopen(result[1], "w");
		if (r)
		{
			/* NULL: not known, the database could not be asked */
			fprintf(r, "%s\n%s\n", before ? before : "?", after ? after : "?");
			fclose(r);
		}
		_exit(status);
	}
	close(out[1]);
	close(result[1]);
	t->out = out[0];
	t->result = result[0];
	t->state = T_RUNNING;
}

/* Print each whole line of a child's output with its target's number. */
static void
relay_output(Target *t, int number, const char *data, size_t len, bool flush)
{
	size_t		have = t->partial ? strlen(t->partial) : 0;
	char	   *buf = pg_malloc_or_die(have + len + 1);
	char	   *line;
	char	   *nl;

	if (have)
		memcpy(buf, t->partial, have);
	memcpy(buf + have, data, len);
	buf[have + len] = '\0';
	free(t->partial);
	t->partial = NULL;

	line = buf;
	while ((nl = strchr(line, '\n')) != NULL)
	{
		*nl = '\0';
		printf("[%d] %s\n", number, line);
		line = nl + 1;
	}
	if (*line && flush)
		printf("[%d] %s\n", number, line);
	else if (*line)
		t->partial = pg_strdup_or_die(line);
	free(buf);
	fflush(stdout);
}

static void
finish_target(Target *t)
{
	char		buf[512];
	ssize_t		n;
	size_t		len = 0;
	int			wstatus;

	while (len < sizeof(buf) - 1 &&
		   (n = read(t->result, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += n;
	buf[len] = '\0';
	close(t->result);
	close(t->out);
	waitpid(t->pid, &wstatus, 0);
	t->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : EXIT_ERROR;
	{
		char	   *nl = strchr(buf, '\n');

		if (nl)
		{
			char	   *nl2;

			*nl = '\0';
			nl2 = strchr(nl + 1, '\n');
			if (nl2)
				*nl2 = '\0';
			t->before = pg_strdup_or_die(buf);
			t->after = pg_strdup_or_die(nl + 1);
		}
	}
	t->state = T_DONE;
}

static int
deploy_targets(const Options *opts, const MigrationSet *set)
{
	int			count;
	Target	   *targets = read_targets(opts->targets_file, &count);
	int			next = 0;
	int			running = 0;
	bool		failed = false;
	bool		in_flight = false;
	struct pollfd *fds = pg_malloc_or_die(sizeof(struct pollfd) * count);
	int		   *which = pg_malloc_or_die(sizeof(int) * count);

	if (!opts->quiet)
		for (int i = 0; i < count; i++)
			printf("[%d] %s\n", i + 1, targets[i].label);

	while (next < count || running > 0)
	{
		int			nfds = 0;

		/* after the first failure, start no new one */
		while (!failed && next < count && running < opts->jobs)
		{
			start_target(&targets[next++], opts, set);
			running++;
		}
		if (running == 0)
			break;

		for (int i = 0; i < count; i++)
			if (targets[i].state == T_RUNNING)
			{
				fds[nfds].fd = targets[i].out;
				fds[nfds].events = POLLIN;
				fds[nfds].revents = 0;
				which[nfds++] = i;
			}
		if (poll(fds, nfds, -1) < 0)
		{
			if (errno == EINTR)
				continue;
			fprintf(stderr, "%s: error: poll failed: %s\n", progname, strerror(errno));
			exit(EXIT_ERROR);
		}
		for (int k = 0; k < nfds; k++)
		{
			Target	   *t = &targets[which[k]];
			char		buf[4096];
			ssize_t		n;

			if (fds[k].revents == 0)
				continue;
			n = read(t->out, buf, sizeof(buf));
			if (n > 0)
			{
				relay_output(t, which[k] + 1, buf, n, false);
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			/* end of its output: it is exiting */
			relay_output(t, which[k] + 1, "", 0, true);
			finish_target(t);
			running--;
			if (t->status == EXIT_IN_FLIGHT)
				in_flight = true;
			else if (t->status != EXIT_OK)
				failed = true;
		}
	}

	printf("\n");
	for (int i = 0; i < count; i++)
	{
		Target	   *t = &targets[i];
		const char *result;

		if (t->state != T_DONE)
			result = "skipped";
		else if (t->status == EXIT_OK || t->status == EXIT_IN_FLIGHT)
			result = "ok";
		else
			result = "failed";
		printf("%s  %s -> %s  %s\n", t->label,
			   t->before ? t->before : "?", t->after ? t->after : "?", result);
	}
	return failed ? EXIT_ERROR : in_flight ? EXIT_IN_FLIGHT : EXIT_OK;
}

/*----------
 * plan
 *----------
 */

static void
print_array_lines(const char *label, const char *array)
{
	/* a text[] as the server prints it: {"a b",c}; one element a line */
	const char *p = array;

	if (p == NULL || strcmp(p, "{}") == 0)
		return;
	if (*p == '{')
		p++;
	while (*p && *p != '}')
	{
		printf("      %s", label);
		if (*p == '"')
		{
			for (p++; *p && *p != '"'; p++)
			{
				if (*p == '\\' && p[1])
					p++;
				putchar(*p);
			}
			if (*p == '"')
				p++;
		}
		else
			for (; *p && *p != ',' && *p != '}'; p++)
				putchar(*p);
		putchar('\n');
		if (*p == ',')
			p++;
	}
}

static int
cmd_plan(const Options *opts, const MigrationSet *all)
{
	const MigrationSet *set = all;
	int			unplanned = 0;
	PGconn	   *conn = connect_to(opts, NULL);
	PGresult   *res;
	const char *params[1];
	char		sql[512];
	int			changed = 0;
	int			pending = 0;
	const char *last_version = NULL;
	const char *last_name = NULL;
	char	   *array;

	if (conn == NULL)
		return EXIT_ERROR;
	if (!db_command(conn, "BEGIN", NULL))
		return EXIT_ERROR;

	/* register each in a savepoint: a changed applied one is reported */
	for (int i = 0; i < set->count; i++)
	{
		if (!db_command(conn, "SAVEPOINT pg_migrate_plan", NULL))
			return EXIT_ERROR;
		res = register_migration(conn, &set->items[i]);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);

			if (sqlstate && strcmp(sqlstate, "MG001") == 0)
			{
				printf("changed since applied: %s (%s)\n",
					   set->items[i].version ? set->items[i].version : set->items[i].name,
					   set->items[i].path);
				changed++;
			}
			else if (set->items[i].kind == MIG_ONLINE)
			{
				/* checked against tables that the versions before it make */
				printf("%s \"%s\" (online): not planned before the versions before it are applied: %s",
					   set->items[i].version, set->items[i].name,
					   PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) ?
					   PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : "");
				putchar('\n');
				unplanned++;
			}
			else
			{
				char		context[1024];

				snprintf(context, sizeof(context), "while registering %s",
						 set->items[i].path);
				db_report(conn, res, context);
				PQclear(res);
				PQfinish(conn);
				return EXIT_ERROR;
			}
			PQclear(res);
			if (!db_command(conn, "ROLLBACK TO SAVEPOINT pg_migrate_plan", NULL))
				return EXIT_ERROR;
			continue;
		}
		PQclear(res);
		if (!db_command(conn, "RELEASE SAVEPOINT pg_migrate_plan", NULL))
			return EXIT_ERROR;
	}

	params[0] = opts->target;
	snprintf(sql, sizeof(sql),
			 "SELECT version, name, runs, statement, sql, locks, findings"
			 "  FROM %s.migrate_plan($1)", extschema);
	res = db_query(conn, sql, 1, params, "while planning");
	if (res == NULL)
	{
		PQfinish(conn);
		return EXIT_ERROR;
	}
	for (int i = 0; i < PQntuples(res); i++)
	{
		const char *version = PQgetisnull(res, i, 0) ? NULL : PQgetvalue(res, i, 0);
		const char *name = PQgetvalue(res, i, 1);

		if (i == 0 || (version == NULL) != (last_version == NULL) ||
			(version && strcmp(version, last_version) != 0) ||
			strcmp(name, last_name) != 0)
		{
			if (version)
				printf("%s \"%s\" (%s)\n", version, name, PQgetvalue(res, i, 2));
			else
				printf("repeatable \"%s\"\n", name);
			pending++;
		}
		last_version = version;
		last_name = name;
		printf("  %s: ", PQgetvalue(res, i, 3));
		/* a statement of several lines stays under its number */
		for (const char *c = PQgetvalue(res, i, 4); *c; c++)
		{
			putchar(*c);
			if (*c == '\n')
				fputs("     ", stdout);
		}
		putchar('\n');
		print_array_lines("lock: ", PQgetvalue(res, i, 5));
		print_array_lines("", PQgetvalue(res, i, 6));
	}
	if (pending == 0 && unplanned == 0)
		printf("nothing to apply\n");

	/* registered versions whose files are gone */
	{
		char	  **versions = pg_malloc_or_die(sizeof(char *) * (all->count + 1));
		int			n = 0;

		for (int i = 0; i < all->count; i++)
			if (all->items[i].version)
				versions[n++] = all->items[i].version;
		array = make_text_array(versions, n);
		free(versions);
	}
	params[0] = array;
	{
		PGresult   *gone = db_query(conn,
									"SELECT m.version, m.name, m.state FROM migrate.migration m"
									" WHERE m.version OPERATOR(pg_catalog.<>) ALL ($1::pg_catalog.text[])"
									" ORDER BY m.version_key",
									1, params, NULL);

		if (gone == NULL)
		{
			PQclear(res);
			PQfinish(conn);
			return EXIT_ERROR;
		}
		for (int i = 0; i < PQntuples(gone); i++)
			printf("registered, without a file: %s \"%s\" (%s)\n",
				   PQgetvalue(gone, i, 0), PQgetvalue(gone, i, 1),
				   PQgetvalue(gone, i, 2));
		PQclear(gone);
	}
	free(array);
	PQclear(res);
	db_command(conn, "ROLLBACK", NULL);
	PQfinish(conn);
	return (pending > 0 || changed > 0 || unplanned > 0) ? EXIT_PENDING : EXIT_OK;
}

/*----------
 * status
 *----------
 */

/* Print a result as a table with aligned columns, NULLs empty. */
static void
print_table(const PGresult *res)
{
	int			ncols = PQnfields(res);
	int		   *width = pg_malloc_or_die(sizeof(int) * ncols);

	for (int c = 0; c < ncols; c++)
	{
		width[c] = strlen(PQfname(res, c));
		for (int r = 0; r < PQntuples(res); r++)
			if (PQgetlength(res, r, c) > width[c])
				width[c] = PQgetlength(res, r, c);
	}
	for (int c = 0; c < ncols; c++)
		printf("%s%-*s", c ? "  " : "", c == ncols - 1 ? 0 : width[c], PQfname(res, c));
	putchar('\n');
	for (int r = 0; r < PQntuples(res); r++)
	{
		for (int c = 0; c < ncols; c++)
			printf("%s%-*s", c ? "  " : "", c == ncols - 1 ? 0 : width[c],
				   PQgetvalue(res, r, c));
		putchar('\n');
	}
	free(width);
}

static int
cmd_status(const Options *opts)
{
	PGconn	   *conn = connect_to(opts, NULL);
	PGresult   *res;
	bool		ok;
	char	   *version;

	if (conn == NULL)
		return EXIT_ERROR;
	version = current_version(conn, &ok);
	if (!ok)
		return EXIT_ERROR;
	printf("database \"%s\" is at version %s\n\n", PQdb(conn), version ? version : "none");

	/* the view is in version order */
	res = db_query(conn,
				   "SELECT version, name, kind, state,"
				   "       pg_catalog.to_char(applied_at, 'YYYY-MM-DD HH24:MI:SS') AS applied_at,"
				   "       job, last_error FROM migrate.status",
				   0, NULL, "while reading migrate.status");
	if (res == NULL)
		return EXIT_ERROR;
	if (PQntuples(res) == 0)
		printf("no migration is registered\n");
	else
		print_table(res);
	PQclear(res);

	res = NULL;
	if (has_repeatables(conn))
	{
		res = db_query(conn,
					   "SELECT name AS repeatable, state,"
					   "       pg_catalog.to_char(applied_at, 'YYYY-MM-DD HH24:MI:SS') AS applied_at,"
					   "       last_error"
					   "  FROM migrate.repeatable_status", 0, NULL,
					   "while reading migrate.repeatable_status");
		if (res && PQntuples(res) > 0)
		{
			putchar('\n');
			print_table(res);
		}
	}
	PQclear(res);

	res = db_query(conn,
				   "SELECT id AS job, kind, state, coalesce(current_version, version) AS version,"
				   "       relation, rows_done AS done, rows_total AS total, percent,"
				   "       rows_per_sec AS per_second,"
				   "       pg_catalog.date_trunc('second', eta) AS eta"
				   "  FROM migrate.progress ORDER BY id", 0, NULL,
				   "while reading migrate.progress");
	if (res == NULL)
		return EXIT_ERROR;
	if (PQntuples(res) > 0)
	{
		putchar('\n');
		print_table(res);
	}
	PQclear(res);
	PQfinish(conn);
	return EXIT_OK;
}

/*----------
 * complete and rollback
 *----------
 */
static int
cmd_online(const Options *opts, const char *function, const char *version)
{
	PGconn	   *conn = connect_to(opts, NULL);
	PGresult   *res;
	const char *params[1] = {version};
	char		sql[512];

	if (conn == NULL)
		return EXIT_ERROR;
	snprintf(sql, sizeof(sql), "SELECT %s.%s($1)", extschema, function);
	res = db_query(conn, sql, 1, params, NULL);
	if (res == NULL)
	{
		PQfinish(conn);
		return EXIT_ERROR;
	}
	PQclear(res);
	if (!opts->quiet)
		printf("%s\n", strcmp(function, "migrate_complete") == 0 ?
			   "completed: deploy again to apply the migrations after it" :
			   "rolled back");
	PQfinish(conn);
	return EXIT_OK;
}

/*----------
 * main
 *----------
 */
static void
add_placeholder(PlaceholderValues *vars, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char	   *name;

	if (eq == NULL || eq == arg)
		usage_error("invalid -v argument \"%s\": NAME=VALUE expected", arg);
	name = pg_malloc_or_die(eq - arg + 1);
	memcpy(name, arg, eq - arg);
	name[eq - arg] = '\0';
	vars->names = pg_realloc_or_die(vars->names, sizeof(char *) * (vars->count + 1));
	vars->values = pg_realloc_or_die(vars->values, sizeof(char *) * (vars->count + 1));
	vars->names[vars->count] = name;
	vars->values[vars->count] = pg_strdup_or_die(eq + 1);
	vars->count++;
}

int
main(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"host", required_argument, NULL, 'h'},
		{"port", required_argument, NULL, 'p'},
		{"username", required_argument, NULL, 'U'},
		{"format", required_argument, NULL, OPT_FORMAT},
		{"target", required_argument, NULL, OPT_TARGET},
		{"set", required_argument, NULL, 'v'},
		{"targets", required_argument, NULL, OPT_TARGETS},
		{"jobs", required_argument, NULL, 'j'},
		{"no-wait", no_argument, NULL, OPT_NO_WAIT},
		{"quiet", no_argument, NULL, 'q'},
		{"from", required_argument, NULL, OPT_FROM},
		{"history-table", required_argument, NULL, OPT_HISTORY_TABLE},
		{"online", no_argument, NULL, OPT_ONLINE},
		{"no-transaction", no_argument, NULL, OPT_NO_TRANSACTION},
		{"batch", required_argument, NULL, OPT_BATCH},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0}
	};
	Options		opts;
	const char *command;
	int			nargs;
	char	  **args;
	int			c;

	memset(&opts, 0, sizeof(opts));
	opts.jobs = 1;

	if (argc > 1 && (strcmp(argv[1], "-?") == 0 || strcmp(argv[1], "--help") == 0))
	{
		fputs(help_text, stdout);
		exit(EXIT_OK);
	}
	if (argc > 1 && (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0))
	{
		printf("pg_migrate (migrate) " PG_MIGRATE_VERSION "\n");
		exit(EXIT_OK);
	}

	while ((c = getopt_long(argc, argv, "d:h:p:U:v:j:qV?", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
				opts.conn.dbname = optarg;
				break;
			case 'h':
				opts.conn.host = optarg;
				break;
			case 'p':
				opts.conn.port = optarg;
				break;
			case 'U':
				opts.conn.username = optarg;
				break;
			case OPT_FORMAT:
				if (!in_list(migration_formats, optarg))
					usage_error("unknown format \"%s\": flyway, dbmate, golang-migrate or migrate expected", optarg);
				opts.format = optarg;
				break;
			case OPT_TARGET:
				opts.target = optarg;
				break;
			case 'v':
				add_placeholder(&opts.vars, optarg);
				break;
			case OPT_TARGETS:
				opts.targets_file = optarg;
				break;
			case 'j':
				{
					char	   *end;
					long		n = strtol(optarg, &end, 10);

					if (*optarg == '\0' || *end != '\0' || n < 1 || n > 1000)
						usage_error("invalid number of jobs \"%s\": 1 to 1000 expected", optarg);
					opts.jobs = (int) n;
				}
				break;
			case OPT_BATCH:
				{
					char	   *end;
					long		n = strtol(optarg, &end, 10);

					if (*optarg == '\0' || *end != '\0' || n < 1 || n > 1000000)
						usage_error("invalid batch \"%s\": 1 to 1000000 migrations expected", optarg);
					opts.batch = (int) n;
				}
				break;
			case OPT_NO_WAIT:
				opts.no_wait = true;
				break;
			case 'q':
				opts.quiet = true;
				break;
			case OPT_FROM:
				if (!in_list(import_tools, optarg))
					usage_error("unknown tool \"%s\": flyway, dbmate or golang-migrate expected", optarg);
				opts.from = optarg;
				break;
			case OPT_HISTORY_TABLE:
				opts.history_table = optarg;
				break;
			case OPT_ONLINE:
				opts.online = true;
				break;
			case OPT_NO_TRANSACTION:
				opts.no_transaction = true;
				break;
			case 'V':
				printf("pg_migrate (migrate) " PG_MIGRATE_VERSION "\n");
				exit(EXIT_OK);
			case OPT_HELP:
				fputs(help_text, stdout);
				exit(EXIT_OK);
			default:
				/* getopt_long has said what is wrong */
				fprintf(stderr, "%s: hint: Try \"%s --help\" for more information.\n",
						progname, progname);
				exit(EXIT_ERROR);
		}
	}

	if (optind >= argc)
		usage_error("%s", "no command given");
	command = argv[optind];
	args = argv + optind + 1;
	nargs = argc - optind - 1;
	set_quiet_notices(opts.quiet);

#define NEED_ARGS(min, max, what) \
	do { \
		if (nargs < (min)) \
			usage_error("missing argument, usage: pg_migrate %s", what); \
		if (nargs > (max)) \
			usage_error("too many arguments, first extra one: \"%s\"", args[max]); \
	} while (0)

	if (opts.targets_file && strcmp(command, "deploy") != 0)
		usage_error("%s", "--targets is an option of deploy only");
	if ((opts.from || opts.history_table) && strcmp(command, "import") != 0)
		usage_error("%s", "--from and --history-table are options of import only");
	if ((opts.online || opts.no_transaction) && strcmp(command, "new") != 0)
		usage_error("%s", "--online and --no-transaction are options of new only");
	if (opts.batch != 0 && strcmp(command, "deploy") != 0 &&
		strcmp(command, "script") != 0)
		usage_error("%s", "--batch is an option of deploy and script only");
	if (opts.batch == 0)
		opts.batch = DEFAULT_BATCH;

	if (strcmp(command, "deploy") == 0)
	{
		MigrationSet set;

		NEED_ARGS(1, 1, "deploy DIR");
		load_or_die(&opts, args[0], &set);
		if (opts.targets_file)
			return deploy_targets(&opts, &set);
		{
			char	   *before;
			char	   *after;

			return run_deploy(&opts, &set, NULL, &before, &after);
		}
	}
	else if (strcmp(command, "plan") == 0)
	{
		MigrationSet set;

		NEED_ARGS(1, 1, "plan DIR");
		load_or_die(&opts, args[0], &set);
		return cmd_plan(&opts, &set);
	}
	else if (strcmp(command, "script") == 0)
	{
		MigrationSet set;

		NEED_ARGS(1, 1, "script DIR");
		load_or_die(&opts, args[0], &set);
		print_script(stdout, &set, opts.target, opts.batch);
		return EXIT_OK;
	}
	else if (strcmp(command, "import") == 0)
	{
		MigrationSet set;
		PGconn	   *conn;
		int			status;

		NEED_ARGS(1, 1, "import --from TOOL DIR");
		if (opts.from == NULL)
			usage_error("%s", "import needs --from flyway, dbmate or golang-migrate");
		if (opts.format == NULL)
			opts.format = opts.from;
		load_or_die(&opts, args[0], &set);
		conn = connect_to(&opts, NULL);
		if (conn == NULL)
			return EXIT_ERROR;
		status = import_history(conn, &opts, &set);
		PQfinish(conn);
		return status;
	}
	else if (strcmp(command, "status") == 0)
	{
		NEED_ARGS(0, 0, "status");
		return cmd_status(&opts);
	}
	else if (strcmp(command, "new") == 0)
	{
		char	   *path = NULL;
		char	   *error = NULL;

		NEED_ARGS(1, 2, "new NAME [DIR]");
		if (opts.online && opts.no_transaction)
			usage_error("%s", "--online and --no-transaction cannot go together");
		if (!new_migration_ex(nargs > 1 ? args[1] : ".", opts.format, args[0],
							  opts.online, !opts.no_transaction, &path, &error))
		{
			fprintf(stderr, "%s: error: %s\n", progname, error ? error : "could not create the file");
			return EXIT_ERROR;
		}
		if (!opts.quiet)
			printf("%s\n", path);
		return EXIT_OK;
	}
	else if (strcmp(command, "complete") == 0 || strcmp(command, "rollback") == 0)
	{
		NEED_ARGS(0, 1, "complete|rollback [VERSION]");
		return cmd_online(&opts, command[0] == 'c' ? "migrate_complete" : "migrate_rollback",
						  nargs > 0 ? args[0] : NULL);
	}
	usage_error("unknown command \"%s\"", command);
	return EXIT_ERROR;
}
