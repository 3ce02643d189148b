"""Creates the local environment's queues and buckets in moto (idempotent).

Mirrors what infra/terraform's sqs and s3 modules create in AWS:
`<env>-jobfleet-<pool>` with a dead-letter queue `<env>-jobfleet-<pool>-dlq`
wired by a RedrivePolicy, and the media bucket.

The pools are the worker's: the bundled `media`, `notifications` and `ai`,
plus every `[pools.<name>]` of the TOML file `$JOBFLEET_CONFIG` names (the
file the workers read), so a pool added in configuration gets its queues
from `make stack-up` like the bundled ones. The environment name is
`$JOBFLEET_ENV`, else the file's `env`, else `local` — the worker's order.
A pool whose file entry sets an explicit `queue_url` is not created here:
its queues are someone else's. A pool's priority queues
(`[pools.<name>.priority_queues.<queue>]`) get `<env>-jobfleet-<pool>-<queue>`
and its DLQ, unless they set their own `queue_url`.
"""

import json
import os
import re
import sys
import tomllib

import boto3

BUNDLED_POOLS = ("media", "notifications", "ai")
# docs/ARCHITECTURE.md "Pools and routing": valid in SQS names, Kubernetes
# names and Prometheus labels.
POOL_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$")
ENV_NAME = re.compile(r"^[a-z0-9-]{1,32}$")
# The worker dead-letters after its own max_attempts (default 5) with the
# reason attached; the queue's redrive is only the backstop.
MAX_RECEIVE_COUNT = "10"


def fail(message: str) -> None:
    print(f"[stack] error: {message}", file=sys.stderr)
    sys.exit(2)


def read_config() -> tuple[str, list[str], list[str], set[str], dict[str, list[str]]]:
    """(env, pools to create, pools skipped because their URLs are explicit, FIFO pools,
    each pool's priority queues to create)."""
    path = os.environ.get("JOBFLEET_CONFIG")
    settings: dict = {}
    if path:
        try:
            with open(path, "rb") as file:
                settings = tomllib.load(file)
        except FileNotFoundError:
            fail(f"JOBFLEET_CONFIG names {path}, which does not exist")
        except tomllib.TOMLDecodeError as error:
            fail(f"{path} is not valid TOML: {error}")
    env = os.environ.get("JOBFLEET_ENV") or settings.get("env") or "local"
    if not isinstance(env, str) or not ENV_NAME.match(env):
        fail(f"setting `env` ({path or 'JOBFLEET_ENV'}): {env!r} must be 1-32 characters of a-z, 0-9 and '-'")
    declared = settings.get("pools", {})
    if not isinstance(declared, dict):
        fail(f"setting `pools` ({path}): must be a table of [pools.<name>] tables")
    pools = list(BUNDLED_POOLS)
    external = []
    fifo = set()
    priority: dict[str, list[str]] = {}
    for name, pool in declared.items():
        if isinstance(pool, dict) and pool.get("fifo") is True:
            fifo.add(name)
        if isinstance(pool, dict) and isinstance(pool.get("priority_queues"), dict):
            priority[name] = [q for q, spec in pool["priority_queues"].items() if not (isinstance(spec, dict) and spec.get("queue_url"))]
        if not POOL_NAME.match(name):
            fail(
                f"setting `pools.{name}` ({path}): invalid pool name: 1-32 characters of a-z, 0-9 and '-', "
                "starting with a letter, not ending with '-'"
            )
        if isinstance(pool, dict) and pool.get("queue_url"):
            external.append(name)
            if name in pools:
                pools.remove(name)
        elif name not in pools:
            pools.append(name)
    return env, pools, external, fifo, priority


def create_pool_queues(sqs, env: str, pool: str, fifo: bool = False) -> None:
    """A FIFO pool (`fifo = true`) gets `.fifo` on both names, as the
    Terraform sqs module names them; a FIFO queue needs a FIFO DLQ. `pool`
    may also be `<pool>-<priority queue>`."""
    name = f"{env}-jobfleet-{pool}"
    suffix = ".fifo" if fifo else ""
    fifo_attributes = {"FifoQueue": "true"} if fifo else {}
    dlq_url = sqs.create_queue(
        QueueName=f"{name}-dlq{suffix}",
        Attributes={"MessageRetentionPeriod": str(14 * 24 * 3600), **fifo_attributes},
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.create_queue(
        QueueName=f"{name}{suffix}",
        Attributes={
            **fifo_attributes,
            "VisibilityTimeout": "60",
            "ReceiveMessageWaitTimeSeconds": "20",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}),
        },
    )


def main() -> None:
    env, pools, external, fifo, priority = read_config()
    # AWS_REGION is what the Rust SDK reads; boto3 reads AWS_DEFAULT_REGION.
    session = boto3.session.Session(region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    sqs = session.client("sqs")
    for pool in pools:
        create_pool_queues(sqs, env, pool, pool in fifo)
        for queue in priority.get(pool, []):
            create_pool_queues(sqs, env, f"{pool}-{queue}")
    s3 = session.client("s3")
    bucket = f"{env}-jobfleet-media"
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        s3.create_bucket(Bucket=bucket)
    note = f"; not created (explicit queue_url): {', '.join(external)}" if external else ""
    print(f"[stack] queues and DLQs for {', '.join(pools)} and bucket {bucket} ready (env {env}){note}")


if __name__ == "__main__":
    main()
