#!/bin/sh
# The part of the official postgres image's entrypoint that docker-compose.yml uses: on an
# empty data directory, initdb with POSTGRES_USER / POSTGRES_PASSWORD, create POSTGRES_DB and
# run /docker-entrypoint-initdb.d/*.sql and *.sh with the server listening on its socket
# only, then restart it listening on all addresses. Runs as the postgres user.
set -eu

: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
if [ "${1:-postgres}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "docker-entrypoint: POSTGRES_PASSWORD is not set" >&2
        exit 1
    fi
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --encoding=UTF8 \
        --auth-local=trust --auth-host=scram-sha-256 -D "$PGDATA"
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"

    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
    if [ "$POSTGRES_DB" != postgres ]; then
        psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
            -c "CREATE DATABASE \"$POSTGRES_DB\""
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sql) echo "docker-entrypoint: running $f"
                   psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -f "$f" ;;
            *.sh)  echo "docker-entrypoint: running $f"
                   # shellcheck disable=SC1090  # the init scripts are the user's
                   . "$f" ;;
            *)     [ -e "$f" ] && echo "docker-entrypoint: ignoring $f" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    echo "docker-entrypoint: init done; starting the server"
fi

if [ "${1:-postgres}" = postgres ]; then
    shift $(( $# > 0 ? 1 : 0 ))
    exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
fi
exec "$@"
