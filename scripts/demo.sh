#!/usr/bin/env bash
# `make demo`: runs a worker for the media pool on a mix of sample jobs —
# successes, slow jobs, transient failures, a panic, a permanent failure and
# two bad messages sent by a non-Rust client — then prints what happened:
# a per-type summary from the ledger, the dead-letter queue with reasons,
# a few metrics, and the drain on SIGTERM.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="$ROOT/target/debug/worker"
PY="$ROOT/.tools/stack-venv/bin/python"
LOG="$ROOT/.stack/demo-worker.log"
ADMIN="127.0.0.1:${DEMO_ADMIN_PORT:-9464}"

export JOBFLEET_ENV=local JOBFLEET_ADMIN_ADDR="$ADMIN" JOBFLEET_LOG_FORMAT=json JOBFLEET_DIAG_ENABLED=true
# Short polls and retries so the demo finishes in seconds.
export JOBFLEET_RECEIVE_WAIT_TIME_SECS=2 JOBFLEET_RETRY_BASE_DELAY_SECS=1 JOBFLEET_RETRY_MAX_DELAY_SECS=2
export RUST_LOG="${RUST_LOG:-warn,worker=info}"

step() { printf '\n== %s\n' "$*"; }

step "starting a worker for pool media (log: .stack/demo-worker.log)"
"$BIN" migrate >/dev/null
"$BIN" run --pool media >"$LOG" 2>&1 &
WORKER=$!
trap 'kill -TERM $WORKER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fsS "http://$ADMIN/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://$ADMIN/readyz"

step "enqueueing sample jobs with \`worker enqueue\`"
IDS_FILE="$(mktemp)"
enqueue() { "$BIN" enqueue "$@" --pool media >>"$IDS_FILE"; }
enqueue diag.noop --count 20
enqueue diag.sleep --payload '{"ms": 1500}' --count 5
enqueue diag.fail --payload '{"mode": "retryable", "times": 1}' --count 3
enqueue diag.fail --payload '{"mode": "panic", "times": 1}'
enqueue diag.fail --payload '{"mode": "permanent"}'

step "sending raw messages with boto3, as any SQS client would (see docs/producers.md)"
"$PY" "$ROOT/scripts/demo_tools.py" send-raw >>"$IDS_FILE"
mapfile -t IDS < <(grep -E '^[0-9a-f-]{36}$' "$IDS_FILE")
ID_LIST="$(printf "'%s'," "${IDS[@]}")"; ID_LIST="${ID_LIST%,}"
echo "${#IDS[@]} jobs with ids, plus one message that is not JSON at all"

step "waiting for every job to reach a final state in the ledger"
for i in $(seq 1 300); do
  done_count="$(psql "$DATABASE_URL" -qAtc "select count(*) from jobs where id in ($ID_LIST) and status in ('succeeded','failed','dead')")"
  [ "$done_count" -eq "${#IDS[@]}" ] && break
  [ "$i" -eq 300 ] && { echo "timed out: $done_count of ${#IDS[@]} finished"; tail -20 "$LOG"; exit 1; }
  sleep 0.2
done
echo "all ${#IDS[@]} finished"

step "per-type summary (from the Postgres ledger)"
psql "$DATABASE_URL" -P pager=off -c "
  select job_type, status, count(*) as jobs, round(avg(attempts), 2) as avg_attempts,
         coalesce(max(last_error_class), '') as error_class,
         round(avg(extract(epoch from finished_at - enqueued_at))::numeric, 3) as avg_latency_s
  from jobs where id in ($ID_LIST)
  group by job_type, status order by job_type, status"

step "dead-letter queue local-jobfleet-media-dlq (this run's messages, with their reasons)"
"$PY" "$ROOT/scripts/demo_tools.py" show-dlq --since-file "$IDS_FILE"

step "metrics (http://$ADMIN/metrics, excerpt)"
curl -fsS "http://$ADMIN/metrics" | grep -E '^jobfleet_(jobs_total|sqs_requests_total|pool_concurrency|jobs_in_flight)' | sort

step "SIGTERM: draining"
kill -TERM "$WORKER"
wait "$WORKER"
trap - EXIT
grep -E '"message":"(draining|drained)"' "$LOG" | sed -E 's/.*"message":"([a-z]+)".*"took_ms":([0-9]+).*/\1 in \2 ms/; s/.*"message":"draining".*/draining.../'
rm -f "$IDS_FILE"
echo
echo "demo finished: the worker consumed every sample job, dead-lettered the bad ones with reasons, and drained cleanly."
