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
extern int	catalog_path_pin(void);
extern void catalog_path_unpin(int nestlevel);
extern int	catalog_exec(const char *sql, int nargs, Oid *argtypes,
						 Datum *values, const char *nulls, long count);

/* catalog.c */
extern char *catalog_checksum(const char *kind, const char *name,
							  const char *up, const char *down,
							  const char *operations, bool transactional);
extern void catalog_event(const char *version, const char *action,
						  TimestampTz started, const char *detail,
						  const char *sqlstate);
extern void catalog_event_repeatable(const char *name, const char *action,
									 TimestampTz started, const char *detail,
									 const char *sqlstate);
extern char *catalog_actor(void);

/* fingerprint.c: the schema as (kind, object, definition) rows */
typedef struct SchemaObject
{
	char	   *kind;
	char	   *object;
	char	   *definition;
	Oid			owner;			/* the table it belongs to, or InvalidOid */
} SchemaObject;

typedef struct Fingerprint
{
	int			n;
	SchemaObject *objects;		/* sorted by kind, then object */
} Fingerprint;

extern Fingerprint *fingerprint_take(void);
extern void fingerprint_warm(void);
extern Fingerprint *fingerprint_recorded(void);
extern void fingerprint_record(const char *action, const char *version);
extern Fingerprint *fingerprint_record_before(const char *action, const char *version);
extern void fingerprint_record_after(Fingerprint *before, const char *action,
									 const char *version);
extern int	fingerprint_diff(Fingerprint *a, Fingerprint *b,
							 void (*found) (SchemaObject *before,
											SchemaObject *after, void *arg),
							 void *arg);

/* deploy.c: the deploy lock, the guard against a background run, lookups */
extern void deploy_lock_acquire(void);
extern void deploy_guard_background_run(void);
extern char *deploy_lookup_version(const char *version);

/* version_check.c: the versions of the SQL definitions this library serves */
extern void sql_version_check(void);

#endif							/* MIGRATE_CATALOG_H */
