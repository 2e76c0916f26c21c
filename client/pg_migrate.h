/*-------------------------------------------------------------------------
 *
 * pg_migrate.h
 *	  What the parts of the client share: a migration read from a file, and
 *	  the set of them that a directory holds.
 *
 * files.c reads a directory (every supported format) into a MigrationSet;
 * script.c renders a set as a psql script; pg_migrate.c (commands, the
 * connection) and progress.c talk to the server.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_MIGRATE_H
#define PG_MIGRATE_H

#include <stdbool.h>
#include <stdio.h>

#include "libpq-fe.h"

typedef enum MigrationKind
{
	MIG_SQL,					/* migrate_register */
	MIG_ONLINE,					/* migrate_register_online: a .json document */
	MIG_REPEATABLE				/* migrate_register_repeatable: no version */
} MigrationKind;

typedef struct Migration
{
	MigrationKind kind;
	char	   *version;		/* normalized ("1_2" reads as "1.2"); NULL for
								 * a repeatable */
	char	   *name;			/* description, from the file name */
	char	   *up;				/* SQL as written (placeholders not replaced) */
	char	   *down;			/* NULL: irreversible */
	char	   *operations;		/* MIG_ONLINE: the JSON document as written */
	bool		transactional;
	char	   *path;			/* the file that defines it, for messages */
	char	   *down_path;		/* the file of down, when another one */
	char	   *placeholders;	/* JSON object of the values of the ${name}s
								 * that up and down use; NULL when none */
} Migration;

typedef struct MigrationSet
{
	const char *format;			/* "flyway", "dbmate", "golang-migrate",
								 * "migrate" */
	Migration  *items;			/* versioned ones in version order, then the
								 * repeatables in name order */
	int			count;
} MigrationSet;

/* -v name=value options */
typedef struct PlaceholderValues
{
	char	  **names;
	char	  **values;
	int			count;
} PlaceholderValues;

/* files.c */
extern const char *const migration_formats[];	/* NULL-terminated */
extern bool load_migrations(const char *dir, const char *format,
							MigrationSet *set, char **error);
extern bool resolve_placeholders(MigrationSet *set,
								 const PlaceholderValues *values,
								 char **error);
extern int	compare_versions(const char *a, const char *b);
extern int	set_versioned_upto(const MigrationSet *set, const char *target);
extern bool new_migration(const char *dir, const char *format,
						  const char *name, char **path, char **error);
extern bool new_migration_ex(const char *dir, const char *format,
							 const char *name, bool online,
							 bool transactional, char **path,
							 char **error);

/* db.c: the connection, the server's messages, registration */
typedef struct ConnOptions
{
	const char *dbname;			/* -d: a database name, conninfo or URI */
	const char *host;			/* -h */
	const char *port;			/* -p */
	const char *username;		/* -U */
} ConnOptions;

extern const char *progname;
extern char *extschema;
extern const char *migrate_fn(char *buf, size_t size, const char *call);
extern PGconn *db_connect(const ConnOptions *options, const char *conninfo);
extern void db_report(PGconn *conn, const PGresult *res, const char *context);
extern PGresult *db_query(PGconn *conn, const char *sql, int nparams,
						  const char *const *params, const char *context);
extern bool db_command(PGconn *conn, const char *sql, const char *context);
extern PGresult *register_migration(PGconn *conn, const Migration *m);
extern bool register_set(PGconn *conn, const MigrationSet *set);

/*
 * More pending migrations than this are applied in batches of this many,
 * each committed (CALL migrate_deploy), rather than in one transaction
 * (SELECT migrate_upgrade()): deploy and script, unless --batch says
 * otherwise.
 */
#define DEFAULT_BATCH 500

/*
 * The migrations migrate_upgrade would apply up to a target (NULL: all):
 * "SELECT ..." PENDING_FROM_HEAD target-expression PENDING_FROM_TAIL,
 * where the expression is $1 or a literal.  deploy reads them, and the
 * script counts them, to choose between one transaction and batches.
 * Every operator is pg_catalog's, whatever the deployer's search_path.
 */
#define PENDING_FROM_HEAD \
	"  FROM migrate.migration m, (SELECT "
#define PENDING_FROM_TAIL \
	"::pg_catalog.text AS version) t\n" \
	" WHERE ((m.kind OPERATOR(pg_catalog.=) 'sql'\n" \
	"         AND m.state OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'failed']))\n" \
	"        OR (m.kind OPERATOR(pg_catalog.=) 'online'\n" \
	"            AND m.state OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'rolled_back'])))\n" \
	"   AND (t.version IS NULL OR m.version_key OPERATOR(pg_catalog.<=)\n" \
	"        (SELECT k.version_key FROM migrate.migration k\n" \
	"          WHERE k.version OPERATOR(pg_catalog.=) t.version))"

/* script.c */
extern void print_script(FILE *out, const MigrationSet *set,
						 const char *target, int batch);

#endif							/* PG_MIGRATE_H */
