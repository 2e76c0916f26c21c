# migrate: schema migrations inside the database (PGXS)

MODULE_big = migrate
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*/*.c)))
PGFILEDESC = "migrate - schema migrations inside the database"

EXTENSION = migrate
DATA = $(wildcard sql/migrate--*.sql)
# the manual, installed into a folder of its own, doc/extension/migrate/
# (docmoduledir below): its pages have names such as reference.md
DOCS = $(wildcard doc/*.md)

# pg_regress tests: sql/<name>.sql against expected/<name>.out
REGRESS = setup repeatable placeholders adopt security_inputs security_runs security_online_input security_locks security_catalog build_retry online_faults oldversions libversion version register upgrade downgrade baseline privileges updownup locksafe verify validate jobs backfill backfill_faults online online_history online_alter online_partitioned online_drop_constraint online_keys online_create_table online_constraints online_constraint_types online_index online_shapes online_concurrent online_schemas online_fingerprint check plan await deploy_batches security_online security_shapes
# each run gets a throwaway cluster, so installcheck needs no running server
REGRESS_OPTS = --temp-instance=tmp_regress --temp-config=test/temp.conf

# isolation specs: test/isolation/specs/<name>.spec
ISOLATION = concurrent_upgrade deploy_lock_timeout security_locks run_deploy_lock lock_retry lock_queue concurrent_index backfill_writers backfill_deadlock online_locks online_writers check_locks wait_census plan_locks retire_locks
ISOLATION_OPTS = --inputdir=test/isolation --outputdir=test/isolation \
	--temp-instance=tmp_check_iso --temp-config=test/temp.conf

# TAP tests (PostgreSQL::Test::Cluster): test/t/*.pl
TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers
# only the SQL-callable functions and the workers' entry points are seen by
# other libraries (PGDLLEXPORT; src/base/compat.h): no generic name of ours
# can collide with another extension's
PG_CFLAGS += -fvisibility=hidden

EXTRA_CLEAN = tmp_regress tmp_check tmp_check_iso test/isolation/results \
	test/isolation/output_iso test/isolation/regression.diffs \
	test/isolation/regression.out

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS would put the pages straight into doc/extension/, where another
# extension's reference.md would overwrite ours; its uninstall also misses
# them (it keeps the doc/ prefix that install drops)
docmoduledir := extension/migrate
uninstall: uninstall-docs
uninstall-docs:
	rm -rf '$(DESTDIR)$(docdir)/$(docmoduledir)'
.PHONY: uninstall-docs

# The client, pg_migrate (client/), is a program of its own: built and
# installed (into bindir, next to psql) with the extension.
all: client-all
install: client-install
clean: client-clean
client-all:
	$(MAKE) -C client PG_CONFIG=$(PG_CONFIG)
client-install: client-all
	$(MAKE) -C client PG_CONFIG=$(PG_CONFIG) install
client-clean:
	$(MAKE) -C client PG_CONFIG=$(PG_CONFIG) clean
.PHONY: client-all client-install client-clean
