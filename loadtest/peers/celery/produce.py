"""Producer for the Celery peer: sends `bench.noop` tasks with Celery's own
client (one SendMessage per task, as `apply_async` does), either as fast as
it can or at a target rate (open loop, catching up when behind).

    python produce.py <count> [rate_per_sec]
"""

import sys
import time

from bench_app import app

count = int(sys.argv[1])
rate = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
start = time.monotonic()
with app.producer_or_acquire() as producer:
    for i in range(count):
        if rate > 0:
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        app.send_task("bench.noop", args=[time.time()], producer=producer)
elapsed = time.monotonic() - start
print(f"sent {count} in {elapsed:.2f}s ({count / elapsed:.0f}/s)", file=sys.stderr)
