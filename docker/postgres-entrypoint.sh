#!/bin/bash
# The PostgreSQL image's entrypoint (docker/Dockerfile.postgres). On an empty data directory: initdb with the
# superuser POSTGRES_USER (default postgres) and POSTGRES_PASSWORD (required; given to initdb through a
# private temporary file, removed at once), password (scram-sha-256) logins from any address, local socket
# logins trusted; the database POSTGRES_DB (default: the user's name); then every
# /docker-entrypoint-initdb.d/*.sql, on a server reachable only through its socket. Then runs "$@".
set -euo pipefail

if [[ ${1:-} == postgres && ! -s $PGDATA/PG_VERSION ]]; then
    : "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
    user=${POSTGRES_USER:-postgres}
    db=${POSTGRES_DB:-$user}
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
    if [[ $db != postgres ]]; then
        psql -v ON_ERROR_STOP=1 -q -U "$user" -d postgres -c "CREATE DATABASE \"$db\""
    fi
    for f in /docker-entrypoint-initdb.d/*.sql; do
        [[ -e $f ]] || continue
        echo "postgres-entrypoint: running $f"
        psql -v ON_ERROR_STOP=1 -q -U "$user" -d "$db" -f "$f"
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "postgres-entrypoint: initialised $PGDATA (user $user, database $db)"
fi
exec "$@"
