/*-------------------------------------------------------------------------
 *
 * progress.c
 *	  Waiting for the background jobs of a deploy, with a progress line per
 *	  job from migrate.progress.
 *
 * On a terminal the lines are redrawn in place once a second (ANSI cursor
 * movement); otherwise (a log, a CI step, a pipe) a plain line per job is
 * printed every 5 seconds, so that a log does not fill with redraws.  The
 * client polls migrate.progress itself, outside any transaction, and holds
 * no snapshot while it sleeps: a concurrent index build never waits for
 * it.  Once no job is queued or running, CALL migrate_await() gives the
 * outcome: the error of a failed job, with its SQLSTATE and context.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"

#define POLL_INTERVAL_MS	1000
#define PLAIN_EVERY_SECONDS	5

static void
sleep_ms(long ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0)
		;
}

/*
 * One job's line: "job 3 upgrade 2.1: 1 of 3 migrations (33.3%), 1 per
 * second, about 00:00:02 to go"; what is unknown is left out.
 */
static void
format_job(const PGresult *res, int row, char *buf, size_t size)
{
	const char *id = PQgetvalue(res, row, 0);
	const char *kind = PQgetvalue(res, row, 1);
	const char *state = PQgetvalue(res, row, 2);
	const char *what = PQgetvalue(res, row, 3);
	const char *done = PQgetvalue(res, row, 4);
	const char *total = PQgetvalue(res, row, 5);
	const char *percent = PQgetvalue(res, row, 6);
	const char *rate = PQgetvalue(res, row, 7);
	const char *eta = PQgetvalue(res, row, 8);
	const char *unit = strcmp(kind, "backfill") == 0 ? "rows" :
	strcmp(kind, "online") == 0 ? "rows and steps" : "migrations";
	size_t		len;

	snprintf(buf, size, "job %s %s%s%s: ", id, kind, what[0] ? " " : "", what);
	len = strlen(buf);
	if (strcmp(state, "running") != 0)
	{
		snprintf(buf + len, size - len, "%s%s", state,
				 strcmp(state, "interrupted") == 0 ? " (its worker is gone)" : "");
		return;
	}
	if (total[0])
		snprintf(buf + len, size - len, "%s of %s %s", done, total, unit);
	else
		snprintf(buf + len, size - len, "%s %s", done, unit);
	len = strlen(buf);
	if (percent[0])
	{
		snprintf(buf + len, size - len, " (%s%%)", percent);
		len = strlen(buf);
	}
	if (rate[0])
	{
		snprintf(buf + len, size - len, ", %s per second", rate);
		len = strlen(buf);
	}
	if (eta[0])
		snprintf(buf + len, size - len, ", ETA %s", eta);
}

/*
 * Wait until no background job of the database is queued or running, then
 * let migrate_await() report the outcome.  False after reporting an error.
 */
bool
wait_for_jobs(PGconn *conn, bool quiet)
{
	bool		tty = !quiet && isatty(STDOUT_FILENO);
	int			drawn = 0;		/* lines drawn last time, on a terminal */
	int			width = 1023;	/* of the terminal, less one */
	time_t		last_plain = time(NULL);
	char		sql[512];
	PGresult   *res;
	bool		ok;

	for (;;)
	{
		int			unfinished = 0;

		res = db_query(conn,
					   "SELECT id, kind, state,"
					   "       coalesce(current_version, version, relation::pg_catalog.text, ''),"
					   "       rows_done, rows_total, percent, rows_per_sec,"
					   "       pg_catalog.date_trunc('second', eta)"
					   "  FROM migrate.progress ORDER BY id",
					   0, NULL, "while reading migrate.progress");
		if (res == NULL)
			return false;
		for (int i = 0; i < PQntuples(res); i++)
			if (strcmp(PQgetvalue(res, i, 2), "interrupted") != 0)
				unfinished++;

		if (tty)
		{
			char		line[1024];
			struct winsize ws;

			/* a line that wraps would throw the cursor movements off */
			if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
				width = ws.ws_col - 1 < (int) sizeof(line) ? ws.ws_col - 1 : (int) sizeof(line) - 1;

			/* back to the first line drawn, then each line afresh */
			if (drawn > 0)
				printf("\033[%dA", drawn);
			for (int i = 0; i < PQntuples(res); i++)
			{
				format_job(res, i, line, sizeof(line));
				line[width] = '\0';
				printf("\r\033[K%s\n", line);
			}
			/* what is left of the last drawing, when fewer jobs remain */
			printf("\033[J");
			drawn = PQntuples(res);
			fflush(stdout);
		}
		else if (!quiet && unfinished > 0 &&
				 time(NULL) - last_plain >= PLAIN_EVERY_SECONDS)
		{
			char		line[1024];

			for (int i = 0; i < PQntuples(res); i++)
			{
				format_job(res, i, line, sizeof(line));
				printf("%s\n", line);
			}
			fflush(stdout);
			last_plain = time(NULL);
		}
		PQclear(res);

		/* only interrupted ones left: migrate_await says what to do */
		if (unfinished == 0)
			break;
		sleep_ms(POLL_INTERVAL_MS);
	}

	/* the outcome: returns at once now, or raises the error of a failed job */
	snprintf(sql, sizeof(sql), "CALL %s.migrate_await()", extschema);
	suppress_notices(true);
	res = PQexec(conn, sql);
	suppress_notices(false);
	ok = PQresultStatus(res) == PGRES_TUPLES_OK ||
		PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok)
		db_report(conn, res, "while waiting for the background jobs");
	PQclear(res);
	return ok;
}
