"""Helpers for scripts/demo.sh, written against plain boto3 to show that the
message contract is language-neutral (docs/producers.md)."""

import datetime
import json
import os
import sys
import uuid

import boto3

# boto3 reads AWS_DEFAULT_REGION; the project standardises on AWS_REGION.
REGION = os.environ.get("AWS_REGION", "us-east-1")
QUEUE = "local-jobfleet-media"
DLQ = "local-jobfleet-media-dlq"


def uuid7() -> str:
    """A UUID v7 (time-ordered), as the envelope contract asks for."""
    ms = int(datetime.datetime.now(datetime.timezone.utc).timestamp() * 1000)
    rand = uuid.uuid4().int & ((1 << 74) - 1)
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def envelope(job_type: str, payload: dict) -> dict:
    return {
        "id": uuid7(),
        "type": job_type,
        "version": 1,
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "payload": payload,
    }


def send_raw() -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    for job in (envelope("diag.noop", {}), envelope("media.teleport", {"to": "mars"})):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps(job),
            MessageAttributes={"job_type": {"DataType": "String", "StringValue": job["type"]}},
        )
        print(job["id"])
    sqs.send_message(QueueUrl=url, MessageBody="this is not JSON")


def show_dlq(ids_file: str) -> None:
    """Peeks at the DLQ (receive, print, release) and prints this run's messages."""
    with open(ids_file) as f:
        ours = {line.strip() for line in f if line.strip()}
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=DLQ)["QueueUrl"]
    seen, rows = set(), []
    for _ in range(10):
        out = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=5, WaitTimeSeconds=1, MessageAttributeNames=["All"])
        messages = out.get("Messages", [])
        if not messages:
            break
        for m in messages:
            if m["MessageId"] in seen:
                continue
            seen.add(m["MessageId"])
            attrs = {k: v.get("StringValue", "") for k, v in m.get("MessageAttributes", {}).items()}
            try:
                job_id = json.loads(m["Body"]).get("id", "")
            except (ValueError, AttributeError):
                job_id = ""
            # This run's jobs, and this run's undecodable message (no id).
            if job_id in ours or (not job_id and m["Body"] == "this is not JSON"):
                rows.append((job_id or "(no id)", attrs.get("error_class", ""), attrs.get("error_message", "")[:70]))
        sqs.change_message_visibility_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0} for i, m in enumerate(messages)]
        )
    width = max((len(r[0]) for r in rows), default=5)
    print(f"{'job id':<{width}}  {'error_class':<20}  error_message")
    for job_id, cls, msg in rows:
        print(f"{job_id:<{width}}  {cls:<20}  {msg}")


if __name__ == "__main__":
    if sys.argv[1] == "send-raw":
        send_raw()
    elif sys.argv[1] == "show-dlq":
        show_dlq(sys.argv[3])
