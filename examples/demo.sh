#!/bin/bash
# A local PostgreSQL 15 with migrate loaded, and a real example deploy.
#
#   examples/demo.sh            (as root, or through sudo)
#
# Installs the Debian packages, migrate and its client pg_migrate, starts a
# throwaway cluster on port 5499 (data in /var/tmp/migrate-demo) with
# shared_preload_libraries = 'migrate', deploys the migration files of
# examples/migrate/ to database "app" with pg_migrate (plan, deploy, an
# online migration completed, deploy again), then creates database "demo"
# and runs examples/deploy.sql in it, then the online (zero-downtime)
# migration of examples/online.sql.
# Running it again restarts the cluster (with the migrate just built) and
# recreates the database "demo".
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    exec sudo "$0" "$@"
fi

top=$(cd "$(dirname "$0")/.." && pwd)
PG_MAJOR=${PG_MAJOR:-15}
bin=/usr/lib/postgresql/$PG_MAJOR/bin
data=${MIGRATE_DEMO_DATA:-/var/tmp/migrate-demo}
port=${MIGRATE_DEMO_PORT:-5499}
as_pg() { runuser -u postgres -- "$@"; }

"$top/test/setup.sh"

if [ ! -s "$data/PG_VERSION" ]; then
    echo "== creating cluster in $data"
    install -d -o postgres -g postgres "$data"
    as_pg "$bin/initdb" -D "$data" -A peer --no-instructions >/dev/null
    cat >> "$data/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '/tmp'
shared_preload_libraries = 'migrate'
CONF
fi
if as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    # a running server has the migrate it preloaded: load the one just built
    echo "== restarting PostgreSQL $PG_MAJOR on port $port"
    as_pg "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -m fast restart >/dev/null
else
    echo "== starting PostgreSQL $PG_MAJOR on port $port"
    as_pg "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w start >/dev/null
fi
# a fresh database each time: the deploy is shown from the start, with the
# migrate just built
as_pg "$bin/dropdb" -h /tmp -p "$port" --if-exists app
as_pg "$bin/createdb" -h /tmp -p "$port" app
as_pg "$bin/psql" -h /tmp -p "$port" -d app -X -q -c 'CREATE EXTENSION migrate'

# postgres may not be able to read the checkout: pg_migrate reads a copy
dir=$(mktemp -d /tmp/migrate-demo-files.XXXXXX)
trap 'rm -rf "$dir"' EXIT
cp -r "$top/examples/migrate/." "$dir"
chown -R postgres: "$dir"
pgm() { as_pg "$bin/pg_migrate" -h /tmp -p "$port" -d app "$@"; }

echo "== pg_migrate plan examples/migrate: what deploy would do (exit status 2: something is pending)"
pgm plan "$dir" || [ $? -eq 2 ]
echo "== pg_migrate deploy examples/migrate (exit status 3: stopped at the online migration in flight)"
pgm deploy "$dir" || [ $? -eq 3 ]
echo "== the new application is out: pg_migrate complete 0005, then deploy the rest"
pgm complete 0005
pgm deploy "$dir"
pgm status

as_pg "$bin/dropdb" -h /tmp -p "$port" --if-exists demo
as_pg "$bin/createdb" -h /tmp -p "$port" demo

echo "== running examples/deploy.sql in database demo"
# postgres may not be able to read the checkout: feed the script on stdin
as_pg "$bin/psql" -h /tmp -p "$port" -d demo -X -v ON_ERROR_STOP=1 < "$top/examples/deploy.sql"
echo "== running examples/online.sql: an online migration, old and new application side by side"
as_pg "$bin/psql" -h /tmp -p "$port" -d demo -X -v ON_ERROR_STOP=1 < "$top/examples/online.sql"

cat <<MSG

The cluster keeps running.
  connect:  runuser -u postgres -- psql -h /tmp -p $port demo   (or app)
  deploy:   runuser -u postgres -- pg_migrate -h /tmp -p $port -d app deploy DIR
  stop:     runuser -u postgres -- $bin/pg_ctl -D $data stop
  remove:   stop it, then rm -rf $data
MSG
