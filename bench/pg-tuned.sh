#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on 127.0.0.1:5433 (data in ${PG_TUNED_DIR:-/tmp/omnitalk-pg-tuned}) with
# the settings docs/postgresql.md recommends for large mailings on a 24 GB, 2-core machine, so the benches can
# be compared on a stock server (5432) and a tuned one:
#
#   bench/pg-tuned.sh start    # initdb on first use, then start; prints the TEST_DATABASE_URL to use
#   bench/pg-tuned.sh stop
#
# Needs Debian's postgresql package (initdb and pg_ctl under /usr/lib/postgresql/*/bin). Run as root it
# runs the server as the postgres user.
set -euo pipefail
dir="${PG_TUNED_DIR:-/tmp/omnitalk-pg-tuned}"
port="${PG_TUNED_PORT:-5433}"
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -x "$bin/initdb" ] || { echo "initdb not found under /usr/lib/postgresql/*/bin (apt-get install postgresql)" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }

case "${1:-start}" in
  start)
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      mkdir -p "$dir"
      [ "$(id -u)" = 0 ] && chown postgres "$dir"
      as_pg "'$bin/initdb' -D '$dir/data' -A trust -U postgres --locale=C.UTF-8 -E UTF8" >/dev/null
      cat >>"$dir/data/postgresql.auto.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
shared_buffers = 6GB
effective_cache_size = 18GB
maintenance_work_mem = 1GB
work_mem = 32MB
wal_buffers = 16MB
min_wal_size = 2GB
max_wal_size = 8GB
checkpoint_completion_target = 0.9
random_page_cost = 1.1
CONF
    fi
    as_pg "'$bin/pg_ctl' -D '$dir/data' status" >/dev/null 2>&1 ||
      as_pg "'$bin/pg_ctl' -D '$dir/data' -l '$dir/log' -w start" >/dev/null
    as_pg "'$bin/psql' -h 127.0.0.1 -p $port -U postgres -Atc \"select 1 from pg_database where datname = 'test'\" postgres" | grep -q 1 ||
      as_pg "'$bin/createdb' -h 127.0.0.1 -p $port -U postgres test"
    echo "TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$port/test"
    ;;
  stop)
    as_pg "'$bin/pg_ctl' -D '$dir/data' -m fast stop"
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
