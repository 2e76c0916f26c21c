/*-------------------------------------------------------------------------
 *
 * migrate.c
 *	  Entry point of the migrate extension: module magic and settings.
 *
 *-------------------------------------------------------------------------
 */
#include "migrate.h"

#include "utils/guc.h"

PG_MODULE_MAGIC;

bool		migrate_allow_out_of_order = false;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomBoolVariable("migrate.allow_out_of_order",
							 "Allows registering a migration older than the highest applied one.",
							 NULL,
							 &migrate_allow_out_of_order,
							 false,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("migrate");
#else
	EmitWarningsOnPlaceholders("migrate");
#endif
}
