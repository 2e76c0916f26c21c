/*-------------------------------------------------------------------------
 *
 * migrate_catalog.h
 *	  The catalog layer: migrate's own queries, checksums, events, the
 *	  schema fingerprint, the deploy lock and lookups.  It calls only the
 *	  base layer.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_CATALOG_H
#define MIGRATE_CATALOG_H

#include "utils/timestamp.h"

/* catalog_query.c: migrate's own queries, as the catalog's owner */
extern int	search_path_pin(void);
extern void search_path_unpin(int nestlevel);
extern int	catalog_exec(const char *sql, int nargs, Oid *argtypes,
						 Datum *values, const char *nulls, long count);

/* catalog.c */
extern char *migration_checksum(const char *kind, const char *name,
								const char *up, const char *down,
								const char *operations, bool transactional);
extern void event_log(const char *version, const char *action,
					  TimestampTz started, const char *detail,
					  const char *sqlstate);
extern void event_log_repeatable(const char *name, const char *action,
								 TimestampTz started, const char *detail,
								 const char *sqlstate);
extern char *current_actor(void);

/* fingerprint.c: the schema as (kind, object, definition) rows */
typedef struct SchemaObject
{
	char	   *kind;
	char	   *object;
	char	   *definition;
} SchemaObject;

typedef struct Fingerprint
{
	int			n;
	SchemaObject *objects;		/* sorted by kind, then object */
} Fingerprint;

extern Fingerprint *fingerprint_take(void);
extern Fingerprint *fingerprint_recorded(void);
extern void fingerprint_record(const char *action, const char *version);
extern int	fingerprint_diff(Fingerprint *a, Fingerprint *b,
							 void (*found) (SchemaObject *before,
											SchemaObject *after, void *arg),
							 void *arg);

/* deploy.c: the deploy lock, the guard against a background run, lookups */
extern void deploy_lock_acquire(void);
extern void background_run_guard(void);
extern char *lookup_version(const char *version);

/* version_check.c: the versions of the SQL definitions this library serves */
extern void sql_version_check(void);

#endif							/* MIGRATE_CATALOG_H */
