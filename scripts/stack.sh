#!/usr/bin/env bash
# The local stack: moto server (SQS, S3, SES, SNS) on 127.0.0.1:4566 — run
# through scripts/moto_sqs.py, which fixes moto's FIFO receives — and a
# Postgres for the ledger. Idempotent: `up` reuses whatever is already
# running; `down` stops only what `up` started.
#
#   scripts/stack.sh up | down | status | deps | reset
#
# Everything is installed into the project (.tools/, .stack/), except
# Debian's PostgreSQL binaries when no Postgres is reachable and none is
# installed (apt-get, needs root).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
STATE="$ROOT/.stack"
VENV="$TOOLS/stack-venv"
MOTO_HOST=127.0.0.1
MOTO_PORT="${MOTO_PORT:-4566}"
DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/jobfleet}"
export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://$MOTO_HOST:$MOTO_PORT}"
export AWS_REGION="${AWS_REGION:-us-east-1}" AWS_DEFAULT_REGION="${AWS_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"

say() { printf '[stack] %s\n' "$*"; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root for: $*"; fi
}

apt_install() {
  say "installing Debian packages: $*"
  if [ ! -f "$STATE/.apt-updated" ]; then as_root apt-get update -qq >/dev/null; mkdir -p "$STATE"; touch "$STATE/.apt-updated"; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local secs=$1 what=$2; shift 2
  for _ in $(seq 1 $((secs * 10))); do "$@" && return 0; sleep 0.1; done
  die "$what did not come up within ${secs}s"
}

# --- moto -------------------------------------------------------------------
ensure_venv() {
  local stamp="$VENV/.requirements.sha"
  local want; want="$(sha256sum "$ROOT/scripts/requirements-stack.txt" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
  if ! python3 -m venv --help >/dev/null 2>&1; then apt_install python3-venv; fi
  say "installing moto into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || { apt_install python3-venv; python3 -m venv "$VENV"; }
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/scripts/requirements-stack.txt"
  echo "$want" > "$stamp"
}

moto_up() {
  if port_open "$MOTO_HOST" "$MOTO_PORT"; then say "moto: already listening on $MOTO_HOST:$MOTO_PORT"; return; fi
  mkdir -p "$STATE"
  say "moto: starting on $MOTO_HOST:$MOTO_PORT (log: .stack/moto.log)"
  # moto_server with its SQS FIFO receive fixed (scripts/moto_sqs.py says which bugs).
  nohup "$VENV/bin/python" "$ROOT/scripts/moto_sqs.py" -H "$MOTO_HOST" -p "$MOTO_PORT" >"$STATE/moto.log" 2>&1 &
  echo $! > "$STATE/moto.pid"
  wait_for 60 "moto" port_open "$MOTO_HOST" "$MOTO_PORT"
}

# --- Postgres -----------------------------------------------------------------
# Splits DATABASE_URL (postgres://user[:pass]@host[:port]/db) into parts.
parse_db_url() {
  local rest=${DATABASE_URL#*://}
  local auth=${rest%%@*} hostpart=${rest#*@}
  DB_USER=${auth%%:*}
  local hostport=${hostpart%%/*}
  DB_NAME=${hostpart#*/}; DB_NAME=${DB_NAME%%\?*}
  DB_HOST=${hostport%%:*}
  DB_PORT=${hostport#*:}; [ "$DB_PORT" = "$hostport" ] && DB_PORT=5432
  ADMIN_URL="${DATABASE_URL%%/"$DB_NAME"*}/postgres"
}

ensure_psql() {
  command -v psql >/dev/null && return
  ls /usr/lib/postgresql/*/bin/psql >/dev/null 2>&1 && { PATH="$(dirname "$(ls -d /usr/lib/postgresql/*/bin/psql | tail -1)"):$PATH"; return; }
  apt_install postgresql-client
}

pg_bin_dir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

start_throwaway_postgres() {
  case "$DB_HOST" in 127.0.0.1|localhost) ;; *) die "nothing answers at $DB_HOST:$DB_PORT (DATABASE_URL); start that server or unset DATABASE_URL";; esac
  if [ -z "$(pg_bin_dir)" ]; then
    # Binaries only: Debian would otherwise create and start its own cluster.
    if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
      as_root mkdir -p /etc/postgresql-common
      echo "create_main_cluster = false" | as_root tee /etc/postgresql-common/createcluster.conf >/dev/null
    fi
    apt_install postgresql
  fi
  local bin; bin="$(pg_bin_dir)"
  [ -n "$bin" ] || die "PostgreSQL binaries not found after install"
  local data="$STATE/pgdata" run_as=()
  # Postgres refuses to run as root; use the postgres system user then.
  if [ "$(id -u)" -eq 0 ]; then id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres; run_as=(runuser -u postgres --); fi
  mkdir -p "$STATE"
  if [ ! -f "$data/PG_VERSION" ]; then
    say "postgres: creating a throwaway cluster in .stack/pgdata"
    mkdir -p "$data"; [ ${#run_as[@]} -gt 0 ] && chown postgres "$data" "$STATE"
    "${run_as[@]}" "$bin/initdb" -D "$data" -U "$DB_USER" --auth=trust -E UTF8 >/dev/null
  fi
  say "postgres: starting throwaway cluster on $DB_HOST:$DB_PORT (log: .stack/postgres.log)"
  [ ${#run_as[@]} -gt 0 ] && touch "$STATE/postgres.log" && chown postgres "$STATE/postgres.log"
  "${run_as[@]}" "$bin/pg_ctl" -D "$data" -l "$STATE/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $DB_PORT -k $STATE -c fsync=on" start >/dev/null
  echo "$data" > "$STATE/postgres.ours"
}

postgres_up() {
  parse_db_url
  if port_open "$DB_HOST" "$DB_PORT"; then say "postgres: already listening on $DB_HOST:$DB_PORT"; else start_throwaway_postgres; fi
  ensure_psql
  wait_for 30 "postgres" psql "$ADMIN_URL" -qAtc 'select 1' -o /dev/null
  if [ "$(psql "$ADMIN_URL" -qAtc "select 1 from pg_database where datname = '$DB_NAME'")" != "1" ]; then
    say "postgres: creating database $DB_NAME"
    psql "$ADMIN_URL" -qc "CREATE DATABASE \"$DB_NAME\"" >/dev/null
  fi
}

# --- queues and buckets ---------------------------------------------------------
resources_up() {
  "$VENV/bin/python" "$ROOT/scripts/stack_resources.py"
}

up() {
  ensure_venv
  moto_up
  postgres_up
  resources_up
  say "ready: AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL DATABASE_URL=$DATABASE_URL"
}

# Empties moto (every queue, message, bucket, mail) and recreates the
# standard resources. Tests make their own uniquely named queues, but moto
# keeps them all in memory, and reading its state (sent mail, in the
# notification tests) slows down as it grows: `make test` starts clean.
reset() {
  up >/dev/null
  "$VENV/bin/python" -c "import urllib.request as u; u.urlopen(u.Request('$AWS_ENDPOINT_URL/moto-api/reset', method='POST'))"
  resources_up
  say "moto reset: standard queues and bucket recreated"
}

down() {
  if [ -f "$STATE/moto.pid" ]; then
    kill "$(cat "$STATE/moto.pid")" 2>/dev/null && say "moto: stopped" || true
    rm -f "$STATE/moto.pid"
  fi
  if [ -f "$STATE/postgres.ours" ]; then
    local data; data="$(cat "$STATE/postgres.ours")" run_as=()
    [ "$(id -u)" -eq 0 ] && run_as=(runuser -u postgres --)
    "${run_as[@]}" "$(pg_bin_dir)/pg_ctl" -D "$data" -m fast stop >/dev/null 2>&1 && say "postgres: stopped" || true
    rm -f "$STATE/postgres.ours"
  fi
}

# Build tools the Rust crates need: turbojpeg (media decoding at reduced
# scale) builds libjpeg-turbo from source with cmake, and its SIMD paths
# need nasm; Node.js and npm for the tested Node.js producer example; PgBouncer
# for the ledger-behind-PgBouncer test. Checked first so a machine that has them never touches apt.
deps() {
  local missing=()
  command -v cmake >/dev/null || missing+=(cmake)
  command -v nasm >/dev/null || missing+=(nasm)
  command -v cc >/dev/null || missing+=(build-essential)
  # docs/producers.md's Node.js example runs in the tests (worker/tests/node_producer.rs).
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  # worker/tests/database.rs runs the ledger through a transaction-pooling PgBouncer it starts itself.
  command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
  # The console's browser test drives Debian's chromium (console/tests/browser).
  command -v chromium >/dev/null || missing+=(chromium)
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
}

status() {
  parse_db_url
  port_open "$MOTO_HOST" "$MOTO_PORT" && say "moto: up" || say "moto: down"
  port_open "$DB_HOST" "$DB_PORT" && say "postgres: up" || say "postgres: down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  deps) deps ;;
  reset) reset ;;
  *) echo "usage: $0 up|down|status|deps|reset" >&2; exit 2 ;;
esac
