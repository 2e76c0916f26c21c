/*-------------------------------------------------------------------------
 *
 * commands.h
 *	  What the commands that talk to the server share: the options of the
 *	  command line, the wait for background jobs (progress.c) and the
 *	  import of another tool's history (import.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_MIGRATE_COMMANDS_H
#define PG_MIGRATE_COMMANDS_H

#include "pg_migrate.h"

/* exit statuses */
#define EXIT_OK			0
#define EXIT_ERROR		1
#define EXIT_PENDING	2		/* plan: something would be applied */
#define EXIT_IN_FLIGHT	3		/* deploy: stopped at an online migration */

typedef struct Options
{
	ConnOptions conn;
	const char *format;			/* --format, NULL: detected */
	const char *target;			/* --target */
	PlaceholderValues vars;		/* -v name=value */
	const char *targets_file;	/* --targets */
	int			jobs;			/* -j */
	bool		no_wait;		/* --no-wait */
	int			batch;			/* --batch */
	bool		quiet;			/* -q */
	const char *from;			/* import --from */
	const char *history_table;	/* import --history-table */
	bool		online;			/* new --online */
	bool		no_transaction; /* new --no-transaction */
} Options;

/* pg_migrate.c */
extern void set_quiet_notices(bool quiet);
extern void suppress_notices(bool suppress);
extern PGconn *connect_to(const Options *opts, const char *conninfo);
extern char *query_value(PGconn *conn, const char *sql, int nparams,
						 const char *const *params, bool *ok);
extern void *pg_malloc_or_die(size_t size);
extern void *pg_realloc_or_die(void *p, size_t size);
extern char *pg_strdup_or_die(const char *s);
extern char *make_text_array(char *const *items, int n);

/* progress.c */
extern bool wait_for_jobs(PGconn *conn, bool quiet);

/* import.c */
extern int	import_history(PGconn *conn, const Options *opts,
						   const MigrationSet *set);

#endif							/* PG_MIGRATE_COMMANDS_H */
