/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  What differs between the PostgreSQL versions migrate is tested on
 *	  (15, 17 and 18), each with the version that changed it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_COMPAT_H
#define MIGRATE_COMPAT_H

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "parser/parser.h"
#include "miscadmin.h"
#include "parser/parse_type.h"
#include "utils/tuplestore.h"

/*
 * Only what SQL and the postmaster call is visible outside migrate.so
 * (the Makefile builds with -fvisibility=hidden): before 16, PGDLLEXPORT is
 * empty outside Windows and PG_FUNCTION_INFO_V1 does not mark the function
 * itself, so both are defined here as 16 defines them.
 */
#if PG_VERSION_NUM < 160000 && defined(__GNUC__)
#undef PGDLLEXPORT
#define PGDLLEXPORT __attribute__((visibility("default")))
#undef PG_FUNCTION_INFO_V1
#define PG_FUNCTION_INFO_V1(funcname) \
extern PGDLLEXPORT Datum funcname(PG_FUNCTION_ARGS); \
extern PGDLLEXPORT const Pg_finfo_record * CppConcat(pg_finfo_,funcname)(void); \
const Pg_finfo_record * \
CppConcat(pg_finfo_,funcname) (void) \
{ \
	static const Pg_finfo_record my_finfo = { 1 }; \
	return &my_finfo; \
} \
extern int no_such_variable
#endif

/* InitMaterializedSRF appeared in 15.1; 15.0 called it SetSingleFuncCall */
#if PG_VERSION_NUM < 150001
#define InitMaterializedSRF(fcinfo, flags) SetSingleFuncCall(fcinfo, flags)
#endif

/* 16: pg_database_aclcheck became object_aclcheck (migrate checks databases only) */
#if PG_VERSION_NUM < 160000
#define object_aclcheck(classid, objectid, roleid, mode) \
	pg_database_aclcheck((objectid), (roleid), (mode))
#endif

/* 16: typeStringToTypeName takes an error context (NULL: throw) */
#if PG_VERSION_NUM >= 160000
#define typeStringToTypeName(str) typeStringToTypeName((str), NULL)
#endif

/* 17: IsBackgroundWorker became AmBackgroundWorkerProcess() */
#if PG_VERSION_NUM >= 170000
#define IsBackgroundWorker AmBackgroundWorkerProcess()
#endif

/* 17: pgstat_fetch_stat_local_beentry was renamed, same 1-based index */
#if PG_VERSION_NUM >= 170000
#define pgstat_fetch_stat_local_beentry(idx) pgstat_get_local_beentry_by_index(idx)
#endif

/* 17: the backend's local transaction id moved into PGPROC.vxid */
#if PG_VERSION_NUM >= 170000
#define migrate_local_xid() (MyProc->vxid.lxid)
#else
#define migrate_local_xid() (MyProc->lxid)
#endif

/* 18: ExecutorRun and PortalRun lost their run-once flags (always true here) */
#if PG_VERSION_NUM >= 180000
#define migrate_ExecutorRun(qd, dir, count) ExecutorRun((qd), (dir), (count))
#define migrate_PortalRun(portal, count, top, dest, alt, qc) \
	PortalRun((portal), (count), (top), (dest), (alt), (qc))
#else
#define migrate_ExecutorRun(qd, dir, count) ExecutorRun((qd), (dir), (count), true)
#define migrate_PortalRun(portal, count, top, dest, alt, qc) \
	PortalRun((portal), (count), (top), true, (dest), (alt), (qc))
#endif

/* 18: RelationGetPrimaryKeyIndex asks whether a deferrable key will do (yes) */
#if PG_VERSION_NUM >= 180000
#define migrate_RelationGetPrimaryKeyIndex(rel) RelationGetPrimaryKeyIndex((rel), true)
#else
#define migrate_RelationGetPrimaryKeyIndex(rel) RelationGetPrimaryKeyIndex(rel)
#endif

/* 18: UPDATE ... RETURNING is a ReturningClause, no longer a bare list */
#if PG_VERSION_NUM >= 180000
#define migrate_update_returns(stmt) ((stmt)->returningClause != NULL)
#else
#define migrate_update_returns(stmt) ((stmt)->returningList != NIL)
#endif

#endif							/* MIGRATE_COMPAT_H */
