"""Creates the local environment's queues and buckets in moto (idempotent).

Mirrors what infra/terraform's sqs and s3 modules create in AWS:
`<env>-jobfleet-<pool>` with a dead-letter queue `<env>-jobfleet-<pool>-dlq`
wired by a RedrivePolicy, and the media bucket.
"""

import json
import os

import boto3

ENV = os.environ.get("JOBFLEET_ENV", "local")
POOLS = ("media", "notifications", "ai")
# The worker dead-letters after its own max_attempts (default 5) with the
# reason attached; the queue's redrive is only the backstop.
MAX_RECEIVE_COUNT = "10"


def main() -> None:
    sqs = boto3.client("sqs")
    for pool in POOLS:
        name = f"{ENV}-jobfleet-{pool}"
        dlq_url = sqs.create_queue(
            QueueName=f"{name}-dlq",
            Attributes={"MessageRetentionPeriod": str(14 * 24 * 3600)},
        )["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sqs.create_queue(
            QueueName=name,
            Attributes={
                "VisibilityTimeout": "60",
                "ReceiveMessageWaitTimeSeconds": "20",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}),
            },
        )
    s3 = boto3.client("s3")
    bucket = f"{ENV}-jobfleet-media"
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        s3.create_bucket(Bucket=bucket)
    print(f"[stack] queues and DLQs for {', '.join(POOLS)} and bucket {bucket} ready (env {ENV})")


if __name__ == "__main__":
    main()
