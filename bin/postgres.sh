# Sourced by bin/test (TEST_POSTGRES=1) and bin/bench (--db postgres): start a throwaway
# PostgreSQL 15 server on 127.0.0.1 for this run, export DATABASE_URL, stop it on exit.
PG_BIN=/usr/lib/postgresql/15/bin
if [[ ! -x "$PG_BIN/initdb" ]]; then
    sudo=$([ "$(id -u)" = 0 ] || echo sudo)
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

# PostgreSQL refuses to run as root: then the cluster belongs to the postgres user.
pg_run() {
    if [[ "$(id -u)" = 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
# In the temporary directory, not the checkout: the postgres user may not enter the latter
# (a clone under `mktemp -d` is private to root).
PG_DIR="$(mktemp -d -t issues-postgres.XXXXXX)"
PG_PORT="$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
[[ "$(id -u)" = 0 ]] && chown postgres: "$PG_DIR"
pg_run "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 >/dev/null
# Throwaway data: durability off, for speed; enough connections for the pools of a few
# service processes (tests) or workers (benchmark).
pg_run "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -o \
    "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
    start >/dev/null
pg_stop() {
    pg_run "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
}
trap pg_stop EXIT
pg_run "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres issues
export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/issues"
echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') for this run: $DATABASE_URL" >&2
