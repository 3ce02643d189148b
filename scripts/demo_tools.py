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


def seed_dlq(count: int) -> None:
    """Fills local-jobfleet-media-dlq with `count` dead letters as the worker
    writes them: 12 of 13 are media.thumbnail/decode_error (the "bad deploy"),
    the rest diag.fail/diag_permanent. For trying `worker dlq replay` at scale."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=DLQ)["QueueUrl"]
    failed_at = datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
    for start in range(0, count, 10):
        entries = []
        for k in range(start, min(start + 10, count)):
            if k % 13 == 0:
                job = envelope("diag.fail", {"mode": "permanent"})
                error_class, message = "diag_permanent", "asked to fail (attempt 1)"
            else:
                job = envelope("media.thumbnail", {"bucket": "local-jobfleet-media", "key": f"uploads/{k}.jpg"})
                error_class, message = "decode_error", "libjpeg: unsupported marker (fixed in 1.4.2)"
            attrs = {"job_type": job["type"], "error_class": error_class, "error_message": message,
                     "failed_at": failed_at, "source_queue": QUEUE}
            attributes = {k: {"DataType": "String", "StringValue": v} for k, v in attrs.items()}
            attributes["attempts"] = {"DataType": "Number", "StringValue": "1"}
            entries.append({"Id": str(k - start), "MessageBody": json.dumps(job), "MessageAttributes": attributes})
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    print(f"seeded {count} dead letters in {DLQ}")


# --- peers the handlers talk to ---------------------------------------------


def serve_stubs(port: int, secret: str, record: str) -> None:
    """A webhook receiver that checks jobfleet's signature, and an
    OpenAI-compatible inference stub, on 127.0.0.1:<port> (one server, two
    roles: it is all the demo needs)."""
    import hashlib
    import hmac
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet: the demo prints what matters
            pass

        def reply(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path == "/hook":
                # docs/handlers.md: t=<ts>,v1=<hex HMAC-SHA256(secret, "<ts>." + body)>
                parts = dict(p.split("=", 1) for p in self.headers.get("jobfleet-signature", "").split(",") if "=" in p)
                expected = hmac.new(secret.encode(), f"{parts.get('t', '')}.".encode() + body, hashlib.sha256).hexdigest()
                valid = hmac.compare_digest(expected, parts.get("v1", ""))
                with open(record, "a") as f:
                    f.write(json.dumps({"signature_valid": valid, "idempotency_key": self.headers.get("idempotency-key"),
                                        "event": self.headers.get("jobfleet-event"), "body": json.loads(body)}) + "\n")
                return self.reply(200 if valid else 401, {"received": valid})
            request = json.loads(body or b"{}")
            if self.path == "/v1/chat/completions":
                question = request["messages"][-1]["content"]
                return self.reply(200, {"id": "chatcmpl-demo", "object": "chat.completion", "model": request.get("model"),
                                        "choices": [{"index": 0, "finish_reason": "stop",
                                                     "message": {"role": "assistant", "content": f"(stub) you asked: {question}"}}],
                                        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}})
            if self.path == "/v1/embeddings":
                inputs = request["input"] if isinstance(request["input"], list) else [request["input"]]
                return self.reply(200, {"object": "list", "model": request.get("model"),
                                        "data": [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]} for i, _ in enumerate(inputs)]})
            self.reply(404, {"error": "not found"})

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def upload(bucket: str, key: str, path: str) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    with open(path, "rb") as f:
        s3.put_object(Bucket=bucket, Key=key, Body=f.read())


def verify_sender(address: str) -> None:
    boto3.client("ses", region_name=REGION).verify_email_identity(EmailAddress=address)


def show_thumbnails(bucket: str, prefix: str) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        head = s3.head_object(Bucket=bucket, Key=obj["Key"])
        print(f"  s3://{bucket}/{obj['Key']:<48} {obj['Size']:>8} bytes  {head.get('ContentType', '')}")


def show_email(job_subject: str) -> None:
    """Reads the mail back from moto's state, as a mailbox would show it."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    import urllib.request

    data = json.load(urllib.request.urlopen(f"{endpoint}/moto-api/data.json"))
    for message in data.get("ses", {}).get("Message", []):
        text = json.dumps(message)
        if job_subject in text:
            print(json.dumps(message, indent=2)[:1200])
            return
    print("  (no such mail in moto)")


def show_webhooks(record: str) -> None:
    with open(record) as f:
        for line in f:
            print("  " + line.strip())


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "send-raw":
        send_raw()
    elif command == "show-dlq":
        show_dlq(sys.argv[3])
    elif command == "seed-dlq":
        seed_dlq(int(sys.argv[2]))
    elif command == "serve-stubs":
        serve_stubs(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif command == "upload":
        upload(sys.argv[2], sys.argv[3], sys.argv[4])
    elif command == "verify-sender":
        verify_sender(sys.argv[2])
    elif command == "show-thumbnails":
        show_thumbnails(sys.argv[2], sys.argv[3])
    elif command == "show-email":
        show_email(sys.argv[2])
    elif command == "show-webhooks":
        show_webhooks(sys.argv[2])
    else:
        sys.exit(f"unknown command {command}")
