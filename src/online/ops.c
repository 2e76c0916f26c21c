/*-------------------------------------------------------------------------
 *
 * ops.c
 *	  The operations of online migrations: one table of methods each
 *	  (OnlineOpMethods, online_int.h), found by the operation's name in
 *	  the document.
 *
 * Adding an online operation:
 *	- src/online/op_<name>.c: its fields in a struct of its own (its parse
 *	  allocates it into op->data), and the methods it needs, filling
 *	  const OnlineOpMethods online_op_<name>: parse (the document; errors
 *	  with op_error), shape (what it does to the new shape, checked against
 *	  the catalog), then what it does at start (start, start_views; steps
 *	  for the background job), complete and rollback.  A method it does
 *	  not need stays NULL.  The generic machinery (operations.c,
 *	  lifecycle.c) never names an operation: whatever differs goes in the
 *	  table.
 *	- its extern and its entry below (the order is the one the hint of an
 *	  unknown operation lists).
 *	- its tests: sql/online*.sql (and expected/), the refusals of its
 *	  fields in sql/security_online_input.sql (sec_onl_base).
 *	- its page, doc/online-<name>.md: its fields, what start, complete and
 *	  rollback do, an example.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "online/online_int.h"

/* the tables, each defined in its operation's file */
extern const OnlineOpMethods online_op_create_table;
extern const OnlineOpMethods online_op_add_column;
extern const OnlineOpMethods online_op_alter_column;
extern const OnlineOpMethods online_op_drop_column;
extern const OnlineOpMethods online_op_rename_column;
extern const OnlineOpMethods online_op_create_index;
extern const OnlineOpMethods online_op_drop_index;
extern const OnlineOpMethods online_op_rename_table;
extern const OnlineOpMethods online_op_drop_table;
extern const OnlineOpMethods online_op_create_constraint;
extern const OnlineOpMethods online_op_drop_constraint;
extern const OnlineOpMethods online_op_drop_multicolumn_constraint;
extern const OnlineOpMethods online_op_rename_constraint;
extern const OnlineOpMethods online_op_set_replica_identity;
extern const OnlineOpMethods online_op_sql;

static const OnlineOpMethods *const operations[] = {
	&online_op_create_table,
	&online_op_add_column,
	&online_op_alter_column,
	&online_op_drop_column,
	&online_op_rename_column,
	&online_op_create_index,
	&online_op_drop_index,
	&online_op_rename_table,
	&online_op_drop_table,
	&online_op_create_constraint,
	&online_op_drop_constraint,
	&online_op_drop_multicolumn_constraint,
	&online_op_rename_constraint,
	&online_op_set_replica_identity,
	&online_op_sql,
};

/* The operation of this name, or NULL. */
const OnlineOpMethods *
online_op_find(const char *name)
{
	for (int i = 0; i < lengthof(operations); i++)
		if (strcmp(operations[i]->name, name) == 0)
			return operations[i];
	return NULL;
}

/* The names of the operations, as a list in a sentence: "a, b and c". */
char *
online_op_list(void)
{
	StringInfoData list;

	initStringInfo(&list);
	for (int i = 0; i < lengthof(operations); i++)
		appendStringInfo(&list, "%s%s",
						 i == 0 ? "" : i == lengthof(operations) - 1 ? " and " : ", ",
						 operations[i]->name);
	return list.data;
}
