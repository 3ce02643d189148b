#!/usr/bin/env bash
# `make demo`: runs one worker per pool (media, notifications, ai) on sample
# jobs — a thumbnail of a photo in S3, an email through SES, an SMS through
# SNS, a signed webhook to a local receiver, chat and embeddings calls to a
# local OpenAI-compatible stub, plus the runtime's diagnostic jobs
# (successes, slow jobs, transient failures, a panic, a permanent failure)
# and bad messages sent by a non-Rust client — then prints what happened:
# the ledger per type, what each handler produced, the dead-letter queue
# with reasons, a few metrics, and the drain on SIGTERM. The notifications
# pool also consumes a priority queue (examples/priority-queues.toml): one-time
# passwords sent while a backlog drains start ahead of it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="$ROOT/target/debug/worker"
PY="$ROOT/.tools/stack-venv/bin/python"
TOOLS="$ROOT/scripts/demo_tools.py"
STATE="$ROOT/.stack"
PORT_BASE="${DEMO_PORT_BASE:-9464}"
STUBS_PORT=$((PORT_BASE + 6))
BUCKET=local-jobfleet-media
SECRET="demo-signing-secret-0123456789"
SENDER="demo@jobfleet.local"
WEBHOOKS="$STATE/demo-webhooks.jsonl"
PRIORITY_CONFIG="$ROOT/examples/priority-queues.toml"
RUN="demo-$(date +%s)"
mkdir -p "$STATE"
: >"$WEBHOOKS"

export JOBFLEET_ENV=local JOBFLEET_LOG_FORMAT=json JOBFLEET_DIAG_ENABLED=true
# Short polls and retries so the demo finishes in seconds.
export JOBFLEET_RECEIVE_WAIT_TIME_SECS=2 JOBFLEET_RETRY_BASE_DELAY_SECS=1 JOBFLEET_RETRY_MAX_DELAY_SECS=2
export RUST_LOG="${RUST_LOG:-warn,worker=info,jobfleet_runtime::runtime=info}"
# The handlers' peers are on 127.0.0.1, which the SSRF guard refuses unless
# allow-listed; plain http is allowed for the local receiver only here.
export JOBFLEET_NOTIFICATIONS__EMAIL_FROM="$SENDER"
export JOBFLEET_NOTIFICATIONS__WEBHOOK_SIGNING_SECRET="$SECRET"
export JOBFLEET_NOTIFICATIONS__WEBHOOK_ALLOW_HOSTS='["127.0.0.1"]'
export JOBFLEET_NOTIFICATIONS__WEBHOOK_REQUIRE_HTTPS=false
export JOBFLEET_INFERENCE__BASE_URL="http://127.0.0.1:$STUBS_PORT"
export JOBFLEET_INFERENCE__MODEL=demo-chat
export JOBFLEET_INFERENCE__ALLOW_HOSTS='["127.0.0.1"]'

step() { printf '\n== %s\n' "$*"; }

PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

step "local peers: webhook receiver and inference stub on 127.0.0.1:$STUBS_PORT; a photo in S3; a verified SES sender"
"$PY" "$TOOLS" serve-stubs "$STUBS_PORT" "$SECRET" "$WEBHOOKS" &
PIDS+=($!)
cargo build -q --locked -p loadtest --bin media-corpus
"$ROOT/target/debug/media-corpus" "$STATE/demo-corpus" --photos 1 --size 2400x1600 >/dev/null
"$PY" "$TOOLS" upload "$BUCKET" "uploads/$RUN/photo.jpg" "$STATE/demo-corpus/photo-00.jpg"
"$PY" "$TOOLS" verify-sender "$SENDER"
JOBFLEET_CONFIG="$PRIORITY_CONFIG" "$PY" "$ROOT/scripts/stack_resources.py" >/dev/null
echo "uploaded s3://$BUCKET/uploads/$RUN/photo.jpg (2400x1600 JPEG); verified $SENDER"

"$BIN" migrate >/dev/null
declare -A ADMIN WORKER
i=0
for pool in media notifications ai; do
  ADMIN[$pool]="127.0.0.1:$((PORT_BASE + i))"
  i=$((i + 1))
  step "starting a worker for pool $pool (admin ${ADMIN[$pool]}, log: .stack/demo-$pool.log)"
  # notifications also consumes its priority queue `high` (examples/priority-queues.toml).
  config=()
  if [ "$pool" = notifications ]; then config=("JOBFLEET_CONFIG=$PRIORITY_CONFIG"); fi
  env "${config[@]}" JOBFLEET_ADMIN_ADDR="${ADMIN[$pool]}" "$BIN" run --pool "$pool" >"$STATE/demo-$pool.log" 2>&1 &
  WORKER[$pool]=$!
  PIDS+=($!)
  for _ in $(seq 1 100); do curl -fsS "http://${ADMIN[$pool]}/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fsS "http://${ADMIN[$pool]}/readyz"; echo
done

step "enqueueing sample jobs with \`worker enqueue\` (validated against each type's schema)"
IDS_FILE="$(mktemp)"
enqueue() { "$BIN" enqueue "$@" >>"$IDS_FILE"; }
enqueue media.thumbnail --payload "{\"bucket\": \"$BUCKET\", \"key\": \"uploads/$RUN/photo.jpg\"}"
enqueue notify.email --payload "{\"to\": [\"ada@example.com\"], \"subject\": \"Your $RUN report, {{ name }}\", \"text\": \"Hello {{ name }}\", \"html\": \"<p>Hello {{ name }}</p>\", \"vars\": {\"name\": \"Ada\"}}"
enqueue notify.sms --payload '{"phone_number": "+14155550100", "message": "Your code is 424242"}'
enqueue notify.webhook --payload "{\"url\": \"http://127.0.0.1:$STUBS_PORT/hook\", \"event\": \"report.ready\", \"body\": {\"run\": \"$RUN\"}}"
enqueue ai.inference --payload '{"operation": "chat", "messages": [{"role": "user", "content": "What is jobfleet?"}]}'
enqueue ai.inference --payload '{"operation": "embeddings", "input": ["thumbnails", "webhooks"], "model": "demo-embed"}'
enqueue diag.noop --pool media --count 20
enqueue diag.sleep --pool media --payload '{"ms": 1500}' --count 5
enqueue diag.fail --pool media --payload '{"mode": "retryable", "times": 1}' --count 3
enqueue diag.fail --pool media --payload '{"mode": "panic", "times": 1}'
enqueue diag.fail --pool media --payload '{"mode": "permanent"}'

step "sending raw messages with boto3, as any SQS client would (see docs/producers.md)"
"$PY" "$TOOLS" send-raw >>"$IDS_FILE"
mapfile -t IDS < <(grep -E '^[0-9a-f-]{36}$' "$IDS_FILE")
ID_LIST="$(printf "'%s'," "${IDS[@]}")"; ID_LIST="${ID_LIST%,}"
echo "${#IDS[@]} jobs with ids, plus one message that is not JSON at all"

step "waiting for every job to reach a final state in the ledger"
for i in $(seq 1 300); do
  done_count="$(psql "$DATABASE_URL" -qAtc "select count(*) from jobs where id in ($ID_LIST) and status in ('succeeded','failed','dead')")"
  [ "$done_count" -eq "${#IDS[@]}" ] && break
  [ "$i" -eq 300 ] && { echo "timed out: $done_count of ${#IDS[@]} finished"; tail -5 "$STATE"/demo-*.log; exit 1; }
  sleep 0.2
done
echo "all ${#IDS[@]} finished"

step "per-type summary (from the Postgres ledger)"
psql "$DATABASE_URL" -P pager=off -c "
  select pool, job_type, status, count(*) as jobs, round(avg(attempts), 2) as avg_attempts,
         coalesce(max(last_error_class), '') as error_class,
         round(avg(extract(epoch from finished_at - enqueued_at))::numeric, 3) as avg_latency_s
  from jobs where id in ($ID_LIST)
  group by pool, job_type, status order by pool, job_type, status"

step "media.thumbnail: the variants in the bucket"
"$PY" "$TOOLS" show-thumbnails "$BUCKET" "thumbnails/uploads/$RUN/"
step "notify.email: the mail as moto's SES holds it"
"$PY" "$TOOLS" show-email "Your $RUN report, Ada"
step "notify.webhook: what the local receiver got (signature checked with the shared secret)"
"$PY" "$TOOLS" show-webhooks "$WEBHOOKS"
step "ai.inference and notify.sms: results recorded in the ledger"
psql "$DATABASE_URL" -P pager=off -qAt -c "
  select job_type || '  ' || left(result::text, 160) from jobs
  where id in ($ID_LIST) and job_type in ('ai.inference', 'notify.sms') order by job_type"

step "dead-letter queue local-jobfleet-media-dlq (this run's messages, with their reasons)"
"$PY" "$TOOLS" show-dlq --since-file "$IDS_FILE"

step "a priority queue: 3 one-time passwords sent to local-jobfleet-notifications-high while 40 jobs of 250 ms drain from local-jobfleet-notifications (4 slots, weights 8:1)"
BACKLOG_FILE="$(mktemp)"
"$BIN" enqueue diag.sleep --pool notifications --payload '{"ms": 250}' --count 40 >"$BACKLOG_FILE"
JOBFLEET_CONFIG="$PRIORITY_CONFIG" "$BIN" enqueue notify.sms --pool notifications --queue high \
  --payload '{"phone_number": "+14155550100", "message": "Your one-time password is 731904"}' --count 3 >>"$BACKLOG_FILE"
mapfile -t PQ_IDS < <(grep -E '^[0-9a-f-]{36}$' "$BACKLOG_FILE")
PQ_LIST="$(printf "'%s'," "${PQ_IDS[@]}")"; PQ_LIST="${PQ_LIST%,}"
for i in $(seq 1 300); do
  done_count="$(psql "$DATABASE_URL" -qAtc "select count(*) from jobs where id in ($PQ_LIST) and status in ('succeeded','failed','dead')")"
  [ "$done_count" -eq "${#PQ_IDS[@]}" ] && break
  [ "$i" -eq 300 ] && { echo "timed out: $done_count of ${#PQ_IDS[@]} finished"; tail -5 "$STATE/demo-notifications.log"; exit 1; }
  sleep 0.2
done
psql "$DATABASE_URL" -P pager=off -c "
  select case job_type when 'notify.sms' then 'notifications-high' else 'notifications' end as queue, job_type,
         count(*) as jobs, min(status) as status,
         round(avg(extract(epoch from started_at - enqueued_at))::numeric, 2) as avg_wait_s,
         round(max(extract(epoch from started_at - enqueued_at))::numeric, 2) as max_wait_s
  from jobs where id in ($PQ_LIST) group by 1, 2 order by 1 desc"
rm -f "$BACKLOG_FILE"

step "metrics (http://${ADMIN[media]}/metrics, excerpt)"
curl -fsS "http://${ADMIN[media]}/metrics" | grep -E '^jobfleet_(jobs_total|sqs_requests_total|pool_concurrency|jobs_in_flight)' | sort

step "SIGTERM: draining every worker"
for pool in media notifications ai; do
  kill -TERM "${WORKER[$pool]}"
  status=0
  wait "${WORKER[$pool]}" || status=$?
  printf '%-14s ' "$pool"
  if ! drained=$(grep -E '"message":"drained"' "$STATE/demo-$pool.log"); then
    echo "no drain line in .stack/demo-$pool.log (exit status $status): the worker did not drain; see its log" >&2
    exit 1
  fi
  [ "$status" = 0 ] || { echo "the $pool worker exited with status $status after SIGTERM; see .stack/demo-$pool.log" >&2; exit 1; }
  sed -E 's/.*"took_ms":([0-9]+).*/drained in \1 ms, exit 0/' <<<"$drained"
done
cleanup
trap - EXIT
rm -f "$IDS_FILE"
echo
echo "demo finished: every pool ran its handlers against real peers, dead-lettered the bad messages with reasons, and drained cleanly."
echo
echo "the operator console (fleet overview, job search, dead-letter triage and replay) over this stack:"
echo "  JOBFLEET_CONFIG=examples/priority-queues.toml JOBFLEET_CONSOLE_AUTH=token JOBFLEET_CONSOLE_TOKEN=demo-token-0123456789 \\"
echo "  JOBFLEET_CONSOLE_ALLOW_ANONYMOUS=true \\"
echo "    target/debug/worker console        # then open http://127.0.0.1:9400/ (read-only without the token; docs/operations.md)"
