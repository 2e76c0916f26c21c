/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  The checksums of migrations, the actor that changed them, and the
 *	  event history in migrate.event.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"

#include "common/cryptohash.h"

#include "base/base.h"
#include "catalog/migrate_catalog.h"

/* Append one field of the definition: its length, then its bytes. */
static void
append_field(StringInfo buf, const char *value)
{
	if (value == NULL)
		appendStringInfoString(buf, "-;");
	else
	{
		appendStringInfo(buf, "%zu:", strlen(value));
		appendStringInfoString(buf, value);
		appendStringInfoChar(buf, ';');
	}
}

/*
 * sha256 (hex) of a migration's definition: everything that decides what
 * applying it does.  Fields are length-prefixed so that no two different
 * definitions serialize alike.
 */
char *
catalog_checksum(const char *kind, const char *name, const char *up,
				 const char *down, const char *operations,
				 bool transactional)
{
	StringInfoData def;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char	   *hex = palloc(PG_SHA256_DIGEST_STRING_LENGTH);

	initStringInfo(&def);
	append_field(&def, kind);
	append_field(&def, name);
	append_field(&def, up);
	append_field(&def, down);
	append_field(&def, operations);
	append_field(&def, transactional ? "t" : "f");

	{
		pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

		if (pg_cryptohash_init(ctx) < 0 ||
			pg_cryptohash_update(ctx, (uint8 *) def.data, def.len) < 0 ||
			pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
			elog(ERROR, "could not compute sha256 checksum");
		pg_cryptohash_free(ctx);
	}

	hex_encode((char *) digest, sizeof(digest), hex);
	hex[PG_SHA256_DIGEST_LENGTH * 2] = '\0';
	return hex;
}

char *
catalog_actor(void)
{
	return GetUserNameFromId(GetUserId(), false);
}

/*
 * Append a row to migrate.event, about a migration (version) or a
 * repeatable one (repeatable).  started is when the action began (0 for
 * none): its duration is measured up to now.  The caller is connected to
 * SPI.
 */
static void
event_insert(const char *version, const char *repeatable, const char *action,
			 TimestampTz started, const char *detail, const char *sqlstate)
{
	Oid			argtypes[7] = {TEXTOID, TEXTOID, NAMEOID, TIMESTAMPTZOID,
	TEXTOID, TEXTOID, TEXTOID};
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};

	values[0] = version ? CStringGetTextDatum(version) : (Datum) 0;
	nulls[0] = version ? ' ' : 'n';
	values[1] = CStringGetTextDatum(action);
	values[2] = DirectFunctionCall1(namein, CStringGetDatum(catalog_actor()));
	values[3] = TimestampTzGetDatum(started);
	nulls[3] = started ? ' ' : 'n';
	values[4] = detail ? CStringGetTextDatum(detail) : (Datum) 0;
	nulls[4] = detail ? ' ' : 'n';
	values[5] = sqlstate ? CStringGetTextDatum(sqlstate) : (Datum) 0;
	nulls[5] = sqlstate ? ' ' : 'n';
	values[6] = repeatable ? CStringGetTextDatum(repeatable) : (Datum) 0;
	nulls[6] = repeatable ? ' ' : 'n';

	if (catalog_exec("INSERT INTO migrate.event"
					 " (version, action, actor, duration, detail, sqlstate, repeatable)"
					 " VALUES ($1, $2, $3, clock_timestamp() - $4, $5, $6, $7)",
					 7, argtypes, values, nulls, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record migrate event");
}

void
catalog_event(const char *version, const char *action, TimestampTz started,
			  const char *detail, const char *sqlstate)
{
	event_insert(version, NULL, action, started, detail, sqlstate);
}

void
catalog_event_repeatable(const char *name, const char *action, TimestampTz started,
						 const char *detail, const char *sqlstate)
{
	event_insert(NULL, name, action, started, detail, sqlstate);
}
