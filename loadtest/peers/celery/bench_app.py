"""Peer: Celery 5 with its SQS transport, doing no-op work.

Configured as Celery's SQS docs describe for an existing queue:
`predefined_queues` (so the worker never lists or creates queues) and,
because SQS has no broadcast, remote control, events, gossip, mingle and
heartbeats off. Everything else is Celery's default: the prefork pool with
one process per CPU, prefetch multiplier 4, early acknowledgement, long
polling with wait_time_seconds 10 — except polling_interval, which the SQS
transport's docs set to 0 "to rely entirely on long polling" (its default,
1 s, also applies whenever the prefetch window is full, which caps a
no-op workload at a few tasks per second); BENCH_POLLING_INTERVAL overrides.

Environment: BENCH_ENDPOINT (http://127.0.0.1:PORT), BENCH_QUEUE_URL,
BENCH_OUT (prefix of the per-process latency files written at shutdown).
"""

import json
import os
import time
from urllib.parse import urlparse

from celery import Celery, signals

endpoint = urlparse(os.environ["BENCH_ENDPOINT"])
QUEUE = "bench"

app = Celery("jobfleet_bench")
app.conf.update(
    broker_url=f"sqs://test:test@{endpoint.hostname}:{endpoint.port}",
    broker_transport_options={
        "region": os.environ.get("AWS_REGION", "us-east-1"),
        "is_secure": False,
        "polling_interval": float(os.environ.get("BENCH_POLLING_INTERVAL", "0")),
        "predefined_queues": {
            QUEUE: {"url": os.environ["BENCH_QUEUE_URL"], "access_key_id": "test", "secret_access_key": "test"},
        },
    },
    task_default_queue=QUEUE,
    worker_enable_remote_control=False,
    worker_send_task_events=False,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

# Per process: handler-start latency in ms, and the last start (epoch ms).
_latencies = []
_last = [0.0]


@app.task(name="bench.noop")
def noop(created_epoch_s):
    now = time.time()
    _latencies.append((now - created_epoch_s) * 1000.0)
    _last[0] = now * 1000.0


def _dump(**_kwargs):
    if not _latencies:
        return
    path = f"{os.environ['BENCH_OUT']}.{os.getpid()}.json"
    with open(path, "w") as f:
        json.dump({"count": len(_latencies), "last_start_ms": _last[0], "latencies_ms": _latencies}, f)


signals.worker_process_shutdown.connect(_dump, weak=False)
signals.worker_shutdown.connect(_dump, weak=False)
