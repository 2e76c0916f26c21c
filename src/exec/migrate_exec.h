/*-------------------------------------------------------------------------
 *
 * migrate_exec.h
 *	  The execution layer: a migration's SQL parsed, checked and run
 *	  (lock-safe, or top-level in a worker), the locks it takes, and its
 *	  registration.  It calls only the catalog and base layers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_EXEC_H
#define MIGRATE_EXEC_H

#include "nodes/parsenodes.h"
#include "utils/elog.h"

/* script.c: migration SQL as a list of statements */
typedef struct MigrationScript
{
	const char *version;		/* for error context; NULL: a repeatable */
	const char *name;
	const char *direction;		/* "up" or "down" */
	const char *sql;			/* the whole text */
	List	   *stmts;			/* RawStmt list from raw_parser */
} MigrationScript;

extern void script_parse(MigrationScript *script);
extern void script_check(MigrationScript *script, bool transactional);
extern void script_run(const char *version, const char *name,
					   const char *direction, const char *sql);
extern List *script_statements(const char *version, const char *name,
							   const char *sql);
extern char *script_statement_text(const char *sql, RawStmt *raw);

/* locksafe.c: statements under lock_timeout, retried with backoff */
extern int	locksafe_backoff_ms(int n);
extern void locksafe_sleep_ms(int ms);
typedef struct LockSafeState LockSafeState;
extern LockSafeState *locksafe_begin(void);
extern void locksafe_end(LockSafeState *state);
extern void locksafe_execute(const char *sql, const char *version,
							 const char *where);
extern void locksafe_run_whole(const char *const *version, const char *what,
							   void (*fn) (void *), void *arg, const char *advice);
extern void locksafe_note_retry(const char *version, const char *detail);
extern List *locksafe_retry_notes(void);
extern void locksafe_forget_retries(void);
extern void locksafe_watch_start(int lock_timeout_ms);
extern void locksafe_watch_stop(void);
extern char *locksafe_blockers(void);
extern void locksafe_retry_or_give_up(ErrorData *edata, int attempt, int timeout_ms,
									  int elevel, const char *version, const char *what,
									  const char *blocked_by, const char *retry_hint,
									  const char *advice);

/* toplevel.c: a statement run as a top-level command, in a worker */
extern void toplevel_execute_retrying(const char *sql, const char *version,
									  const char *where, bool resuming,
									  void (*after) (void *), void *after_arg);

/* check.c: migrate_check, and its use at registration (what: "migration 1.2") */
extern void check_at_registration(const char *what, const char *sql);
extern List **check_statement_findings(const char *sql, int n);

/* locks.c: the locks a statement takes, for migrate_plan */
extern List *locks_of_statement(Node *stmt);

/* register.c: a migration's definition, as registered */
typedef struct MigrationDefinition
{
	const char *version;
	const char *name;
	const char *kind;			/* "sql" or "online" */
	const char *up;
	const char *down;
	const char *operations;		/* jsonb text, kind "online" */
	bool		transactional;
	const char *placeholders;	/* jsonb text: values of ${name} in up and
								 * down */
} MigrationDefinition;

extern void register_check_names(const char *version, const char *name);
extern void register_definition(const MigrationDefinition *def);

#endif							/* MIGRATE_EXEC_H */
