#!/usr/bin/env python3
"""Checks that the local SQS emulator keeps the FIFO guarantees jobfleet's FIFO pools rely on,
serves a fair queue's quiet tenants first as SQS fair queues do, and loses no message to
concurrent sends and deletes.

    .tools/stack-venv/bin/python scripts/moto-sqs-check.py [ENDPOINT]   (default $AWS_ENDPOINT_URL)

`make test-reliability` runs it before the scenarios. A stock moto 5.2.5 fails cases b2, f and q;
scripts/moto_sqs.py without its delete fix fails t (stock moto's delete is the same code, but a
stock server is too slow to run t in reasonable time). Against such an emulator the topology
scenarios (reliability/tests/topologies.rs) would fail for the emulator's reasons, not the
runtime's; scripts/stack.sh runs scripts/moto_sqs.py instead. Each case uses fresh queues; exit
status 1 if any case fails. Bodies are "G<n>" (group G) and "H<n>" (group H). About 25 s (case t,
7,000 messages, half of it).
"""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid

import boto3
from botocore.config import Config

ENDPOINT = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
# The visibility timeout of the receiver that "dies" in case b, seconds.
VT = 3

sqs = boto3.client(
    "sqs",
    endpoint_url=ENDPOINT,
    region_name=os.environ.get("AWS_REGION", "us-east-1"),
    aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
    aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
    config=Config(retries={"max_attempts": 1}),
)
RESULTS: list[tuple[str, bool]] = []
QUEUES: list[str] = []


def report(case: str, ok: bool, detail: str) -> None:
    RESULTS.append((case, ok))
    print(f"[{'PASS' if ok else 'FAIL'}] {case}: {detail}", flush=True)


def new_queue(tag: str, n_g: int = 0, n_h: int = 0, fifo: bool = True) -> str:
    name = f"fifo-check-{tag}-{uuid.uuid4().hex[:8]}"
    attributes = {"VisibilityTimeout": "30"}
    if fifo:
        name += ".fifo"
        attributes |= {"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    QUEUES.append(url)
    for group, n in (("G", n_g), ("H", n_h)):
        for i in range(0, n, 10):
            sqs.send_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(k), "MessageBody": f"{group}{k}", "MessageGroupId": group} for k in range(i, min(i + 10, n))],
            )
    return url


def receive(url: str, n: int, vt: int, wait: int = 0) -> list[dict]:
    out = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=n, VisibilityTimeout=vt, WaitTimeSeconds=wait, MessageSystemAttributeNames=["All"]
    )
    return out.get("Messages", [])


def bodies(messages: list[dict], group: str | None = None) -> list[str]:
    return [m["Body"] for m in messages if group is None or m["Body"].startswith(group)]


def delete(url: str, messages: list[dict]) -> None:
    for m in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def case_a() -> None:
    url = new_queue("a", 30, 5)
    a = receive(url, 3, 20)
    b = receive(url, 10, 20)
    report("a  group locked while A holds 3 of it", bool(bodies(a, "G")) and not bodies(b, "G"), f"A={bodies(a)} B={bodies(b)}")


def case_c() -> None:
    url = new_queue("c", 10)
    seq = [(who, bodies(receive(url, 1, 20))) for who in "ABAB"]
    got = [b for _, bs in seq for b in bs]
    report("c  alternating single receives: only the first gets G", got == ["G0"], f"{seq}")


def case_d() -> None:
    url = new_queue("d", 30)
    a = receive(url, 3, 20)
    delete(url, a[:1])
    b = receive(url, 10, 20)
    ok = len(a) >= 2 and not bodies(b, "G")
    report("d  deleting G0 while G1, G2 are in flight keeps G locked", ok, f"A={bodies(a)} deleted={bodies(a[:1])} B={bodies(b)}")


def case_e() -> None:
    url = new_queue("e", 1)
    got = receive(url, 1, 20)
    group = got[0].get("Attributes", {}).get("MessageGroupId") if got else None
    report("e  the MessageGroupId system attribute is returned", group == "G", f"MessageGroupId={group}")


def case_b() -> None:
    """Receiver A takes 3 of G and dies (no delete, no visibility change). Until A's visibility
    timeout runs out nobody gets G; then the first G messages handed out are A's, in order."""
    url = new_queue("b", 30, 5)
    a_g = bodies(receive(url, 3, VT), "G")
    started = time.monotonic()
    first, at, log = None, None, []
    while time.monotonic() - started < VT + 10:
        time.sleep(0.25)
        got = receive(url, 10, 60)
        delete(url, [m for m in got if m["Body"].startswith("H")])
        if got:
            log.append(f"t={time.monotonic() - started:.2f}s:{bodies(got)}")
        if bodies(got, "G"):
            first, at = bodies(got, "G"), time.monotonic() - started
            break
    early = at is not None and at < VT - 0.5
    report("b1 nobody gets G before A's visibility timeout", not early, f"A={a_g} first G to B={first} at t={at}")
    ok = not early and first is not None and first[: len(a_g)] == a_g
    report("b2 after it, A's messages come back first, in order", ok, f"first G after expiry={first}, expected to start {a_g}")
    print("     b: " + " | ".join(log), flush=True)


def case_f() -> None:
    """Two long polls (as a worker's pollers, or two pods) wait on an empty queue; then 30
    messages of G arrive. Only one of the receives may get messages of G. Three rounds."""
    failures = []
    for round_ in range(3):
        url = new_queue(f"f{round_}")
        got: dict[str, list[str]] = {}

        def poll(name: str, n: int) -> None:
            got[name] = bodies(receive(url, n, 20, wait=2))

        threads = [threading.Thread(target=poll, args=(name, n)) for name, n in (("A", 3), ("B", 10))]
        for t in threads:
            t.start()
        time.sleep(0.5)
        for k in range(0, 30, 10):
            sqs.send_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"G{i}", "MessageGroupId": "G"} for i in range(k, k + 10)]
            )
        for t in threads:
            t.join()
        if sum(1 for bs in got.values() if bs) > 1:
            failures.append(got)
    report("f  two waiting long polls: only one gets G", not failures, f"rounds where both got G: {failures}")


def case_g() -> None:
    """Two threads short-polling at once, no deletes: only one receive ever gets a message of G."""
    url = new_queue("g", 30)
    got: dict[str, list[str]] = {"A": [], "B": []}

    def poll(name: str) -> None:
        for _ in range(20):
            got[name] += bodies(receive(url, 1, 20))

    threads = [threading.Thread(target=poll, args=(name,)) for name in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report("g  concurrent short polls: exactly one G handed out", sum(map(len, got.values())) == 1, f"{got}")


def case_s() -> None:
    """Standard queues keep moto's own behaviour: a long poll gets a message sent while it waits."""
    url = new_queue("s", fifo=False)
    got: list[str] = []
    t = threading.Thread(target=lambda: got.extend(bodies(receive(url, 10, 20, wait=5))))
    t.start()
    time.sleep(0.5)
    sqs.send_message(QueueUrl=url, MessageBody="S0")
    t.join()
    report("s  standard queue: a waiting long poll gets a new message", got == ["S0"], f"got={got}")


def case_t() -> None:
    """Standard queue: messages sent while others are deleted are all kept, and a deleted message stays
    deleted. Stock moto rebuilds a queue's message list on each delete without the queue's lock, so a
    send landing during the rebuild is lost and two deletes at once bring each other's message back
    (the reliability scenario fair_tenants lost 105 of 10,100 jobs that way, with 1,325 duplicates)."""
    backlog, more = 5000, 2000
    # Tenant G's backlog makes it a fair queue as in the scenario; the deletes are the same for any
    # standard queue (a plain one fails the same way, only slower through moto's own receive).
    url = new_queue("t", backlog, fifo=False)
    got: list[str] = []
    lock = threading.Lock()

    def send(part: int) -> None:
        for i in range(part * more // 4, (part + 1) * more // 4, 10):
            sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(k), "MessageBody": f"N{i + k}"} for k in range(10)])

    def drain(until: threading.Event) -> None:
        while True:
            messages = receive(url, 10, 60, wait=1)
            if not messages and until.is_set():
                return
            if messages:
                entries = [{"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]} for k, m in enumerate(messages)]
                sqs.delete_message_batch(QueueUrl=url, Entries=entries)
            with lock:
                got.extend(bodies(messages))

    sent_all = threading.Event()
    drainers = [threading.Thread(target=drain, args=(sent_all,)) for _ in range(6)]
    senders = [threading.Thread(target=send, args=(part,)) for part in range(4)]
    for t in (*drainers, *senders):
        t.start()
    for t in senders:
        t.join()
    sent_all.set()
    for t in drainers:
        t.join()
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    left = int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
    unique, sent = len(set(got)), backlog + more
    report(
        "t  standard queue: concurrent sends and deletes lose nothing and delete for good",
        unique == sent and len(got) == unique and left == 0,
        f"{unique} of {sent} received, {len(got) - unique} twice, {left} left in the queue",
    )


def case_q() -> None:
    """Fair queue: a standard queue whose tenant G holds 30 messages in flight (the threshold, and
    all of the in-flight share) is a noisy neighbour, so the next receive returns H's message, sent
    last, and G's only after it."""
    url = new_queue("q", 50, 1, fifo=False)
    taken = receive(url, 10, 30) + receive(url, 10, 30) + receive(url, 10, 30)
    ok_taken = bodies(taken) == [f"G{k}" for k in range(30)]
    nxt = bodies(receive(url, 3, 30))
    report("q  fair queue: a quiet tenant goes ahead of a noisy one's backlog", ok_taken and nxt == ["H0", "G30", "G31"], f"first 30 in send order: {ok_taken}, then {nxt}")


def case_r() -> None:
    """Fair queue below the noisy threshold (29 of G in flight): send order, G before H."""
    url = new_queue("r", 50, 1, fifo=False)
    receive(url, 10, 30), receive(url, 10, 30), receive(url, 9, 30)
    nxt = bodies(receive(url, 1, 30))
    report("r  fair queue: under 30 in flight a tenant is not noisy (send order)", nxt == ["G29"], f"then {nxt}")


if __name__ == "__main__":
    print(f"FIFO checks against {ENDPOINT} (visibility timeout in case b: {VT} s)", flush=True)
    for case in (case_a, case_c, case_d, case_e, case_f, case_g, case_s, case_t, case_q, case_r, case_b):
        try:
            case()
        except Exception as e:  # one broken case must not hide the others
            report(case.__name__, False, f"error: {e!r}")
    for url in QUEUES:
        try:
            sqs.delete_queue(QueueUrl=url)
        except Exception:
            pass
    passed = sum(1 for _, ok in RESULTS if ok)
    print(f"{passed} passed, {len(RESULTS) - passed} failed", flush=True)
    if passed < len(RESULTS):
        print(
            "hint: the emulator is not scripts/moto_sqs.py (a moto_server started by an older scripts/stack.sh?): "
            "restart it with `scripts/stack.sh down && scripts/stack.sh up`",
            file=sys.stderr,
        )
    sys.exit(0 if passed == len(RESULTS) else 1)
