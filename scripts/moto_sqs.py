#!/usr/bin/env python3
"""moto_server with SQS FIFO receives fixed and fair queues emulated — the local stack's SQS
(test emulator only).

    python scripts/moto_sqs.py -H 127.0.0.1 -p 4566      (moto_server's own arguments)

scripts/stack.sh starts moto through this module. moto 5.2.5 (5.2.6 is the same here) breaks two
guarantees of SQS FIFO queues that jobfleet's FIFO pools are tested on
(scripts/moto-sqs-check.py shows both against a stock moto_server):

1. A group stays locked while any of its messages is in flight. moto computes the locked groups
   once per ReceiveMessage call, so a long poll that started waiting before another consumer took
   some of a group's messages still sees that group as free and takes its later messages: two
   consumers hold one group at once (probe case "f").
2. After a visibility timeout runs out, the group's messages come back in order. moto drops the
   expired messages from its in-flight set one at a time during the scan that returns messages,
   so the group unlocks at the *last* expired one and the scan returns it and the messages after
   it first; the earlier expired ones come later, out of order (probe case "b2").

For FIFO queues only, ReceiveMessage is replaced: each attempt, under the queue's lock, first
drops every expired or deleted message from the in-flight set, then computes the locked groups
from what is still in flight, then scans the visible messages in send order, skipping locked
groups (several messages of one free group may be returned, in order, as SQS does). A long poll
repeats this on every wake-up, so a group taken meanwhile by another consumer is seen as locked.
DeleteMessage and ChangeMessageVisibility take the same lock and wake waiting receives. Not fixed
(not used by jobfleet): ReceiveRequestAttemptId is ignored, as in stock moto.

A third moto bug is fixed for every queue: DeleteMessage rebuilds the queue's message list without
the queue's lock. A message sent while the list was rebuilt was lost, and two deletes at once
brought back each other's deleted message (probe case "t"; the reliability scenario fair_tenants
lost 105 of 10,100 messages that way, with 1,325 duplicate deliveries, which is how it was found).
Both now run under the queue's lock, as sends already did.

One more moto problem, speed, is fixed for every queue. Every SendMessage builds the queue's
whole attribute map (four times on a FIFO queue) to read one entry of it
(ContentBasedDeduplication), and each build counts the queue's messages (visible, in flight,
delayed) with two clock reads per message: sending to a queue holding a few thousand messages
took up to seconds per message (a 5,000-message FIFO backlog could not be sent in 10 minutes; a
10,000-message standard one took 8 minutes). While a send runs, the queue's attribute map is
just that entry; elsewhere (GetQueueAttributes, the workers' gauges) the counts are made with
one clock read, as is the FIFO receive's scan. What is sent, counted and received is unchanged.

Standard queues' receives go through moto's own code, unchanged, until a message with a MessageGroupId is
sent to them: SQS then treats the queue as a *fair queue* (the group id names the message's
tenant), which moto does not emulate. From then on that queue's receives follow SQS's documented
rule (SQS Developer Guide, "How Amazon SQS fair queues work"): a tenant is a noisy neighbour while
it holds more than 10 % of the queue's in-flight messages and at least 30 of them; a receive returns
the quiet tenants' visible messages first (in send order) and a noisy tenant's only when no quiet
one is visible, the noisy tenant with the fewest in flight first. A message without a group is a
tenant of its own. Not emulated: the second measure (a tenant's share of recent processing time),
and the 5-minute quiet period that ends a noisy state without a drained backlog; jobfleet's fair
pool tests stay within the concurrency-share rule.

This patches moto internals (SQSBackend methods, Queue._messages, _messages_lock,
pending_messages), so it relies on the `moto[server]==5.2.5` pin in
scripts/requirements-stack.txt and refuses to start with another moto version: re-run
scripts/moto-sqs-check.py against the new version before changing the pin here.
"""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager
from copy import deepcopy
from importlib.metadata import version

import moto.sqs.models as sqs_models
from moto.core.utils import unix_time, unix_time_millis

PINNED_MOTO = "5.2.5"
# How often a waiting FIFO long poll looks again without being woken (a
# visibility timeout running out wakes nobody).
RECHECK_SECS = 0.1
# SQS fair queues' noisy-neighbour thresholds (concurrency share).
NOISY_MIN_IN_FLIGHT = 30
NOISY_SHARE = 0.10

_original_receive = sqs_models.SQSBackend.receive_message
_original_delete = sqs_models.SQSBackend.delete_message
_original_change_visibility = sqs_models.SQSBackend.change_message_visibility
_original_send = sqs_models.SQSBackend.send_message
_original_send_batch = sqs_models.SQSBackend.send_message_batch
_original_attributes = sqs_models.Queue.attributes.fget
_original_add_message = sqs_models.Queue.add_message
# The FIFO queue a send on this thread is adding to (see `_sending_to`).
_sending = threading.local()


# moto's Message.visible / .delayed, with the clock read once by the caller.
def _visible(message, now_ms):
    return now_ms > message.visible_at


def _delayed(message, now_ms):
    return now_ms < message.delayed_until


def _take(queue, count, visibility_timeout, attribute_names):
    """One receive attempt on a FIFO queue; the caller holds queue._messages_lock.
    Returns (messages to return, messages to move to the DLQ)."""
    now_ms = unix_time_millis()
    live = set(queue._messages)
    for message in list(queue.pending_messages):
        if _visible(message, now_ms) or message not in live:
            queue.pending_messages.discard(message)
    locked = {m.group_id for m in queue.pending_messages if m.group_id is not None}
    retain_ms = queue.message_retention_period * 1000
    result, to_dlq = [], []
    for message in queue._messages:  # in send order
        if not _visible(message, now_ms) or _delayed(message, now_ms) or message.group_id in locked:
            continue
        if (
            queue.dead_letter_queue is not None
            and queue.redrive_policy
            and message.approximate_receive_count >= queue.redrive_policy["maxReceiveCount"]
        ):
            to_dlq.append(message)
            # The rest of its group waits for the next receive, behind it.
            locked.add(message.group_id)
            continue
        if message.sent_timestamp + retain_ms <= now_ms:  # past retention, as moto checks it
            continue
        queue.pending_messages.add(message)
        message.mark_received(visibility_timeout=visibility_timeout)
        copy = deepcopy(message)
        sqs_models._filter_message_attributes(copy, attribute_names)
        result.append(copy)
        if len(result) >= count:
            break
    for message in to_dlq:
        queue._messages.remove(message)
    return result, to_dlq


def _tenant(message):
    return message.group_id if message.group_id is not None else message.id


def _take_fair(queue, count, visibility_timeout, attribute_names):
    """One receive attempt on a standard queue that has seen a MessageGroupId (a fair queue); the
    caller holds queue._messages_lock. Returns (messages to return, messages to move to the DLQ)."""
    now_ms = unix_time_millis()
    in_flight: dict[str, int] = {}
    total = 0
    visible = []
    for message in queue._messages:  # in send order
        if _delayed(message, now_ms):
            continue
        if _visible(message, now_ms):
            queue.pending_messages.discard(message)
            visible.append(message)
        else:
            total += 1
            tenant = _tenant(message)
            in_flight[tenant] = in_flight.get(tenant, 0) + 1
    noisy = {t for t, n in in_flight.items() if n >= NOISY_MIN_IN_FLIGHT and n > NOISY_SHARE * total}
    quiet, held, held_per_tenant = [], [], {}
    for message in visible:
        tenant = _tenant(message)
        if tenant not in noisy:
            quiet.append(message)
            if len(quiet) >= count:
                break
        elif held_per_tenant.get(tenant, 0) < count:
            held_per_tenant[tenant] = held_per_tenant.get(tenant, 0) + 1
            held.append(message)
    # Noisy tenants' messages only to fill up, the tenant with the fewest in flight first.
    order = quiet + sorted(held, key=lambda m: in_flight[_tenant(m)])
    retain_ms = queue.message_retention_period * 1000
    result, to_dlq = [], []
    for message in order:
        if (
            queue.dead_letter_queue is not None
            and queue.redrive_policy
            and message.approximate_receive_count >= queue.redrive_policy["maxReceiveCount"]
        ):
            to_dlq.append(message)
            continue
        if message.sent_timestamp + retain_ms <= now_ms:  # past retention, as moto checks it
            continue
        queue.pending_messages.add(message)
        message.mark_received(visibility_timeout=visibility_timeout)
        copy = deepcopy(message)
        sqs_models._filter_message_attributes(copy, attribute_names)
        result.append(copy)
        if len(result) >= count:
            break
    for message in to_dlq:
        queue._messages.remove(message)
    return result, to_dlq


def add_message(self, message):
    if not self.fifo_queue and message.group_id is not None:
        self.jobfleet_fair = True
    return _original_add_message(self, message)


def receive_message(self, queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names=None):
    queue = self.get_queue(queue_name)
    if queue.fifo_queue:
        take = _take
    elif getattr(queue, "jobfleet_fair", False):
        take = _take_fair
    else:
        return _original_receive(self, queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names)
    attribute_names = message_attribute_names or []
    deadline = unix_time() + wait_seconds_timeout
    while True:
        with queue._messages_lock:
            result, to_dlq = take(queue, count, visibility_timeout, attribute_names)
            remaining = deadline - unix_time()
            done = bool(result) or not wait_seconds_timeout or remaining <= 0
            if not done and not to_dlq:
                # Woken by a send, a delete or a visibility change on this queue.
                queue._messages_lock.wait(timeout=min(RECHECK_SECS, remaining))
        # Outside this queue's lock: the DLQ's add_message takes the DLQ's.
        for message in to_dlq:
            queue.dead_letter_queue.add_message(message)
        if done:
            return result


def delete_message(self, queue_name, receipt_handle):
    # Under the queue's lock for every queue: moto rebuilds the message list on a delete without it,
    # so a message sent during the rebuild was lost and two deletes at once brought each other's
    # message back (moto-sqs-check.py case t).
    queue = self.get_queue(queue_name)
    with queue._messages_lock:
        _original_delete(self, queue_name, receipt_handle)
        queue._messages_lock.notify_all()


def change_message_visibility(self, queue_name, receipt_handle, visibility_timeout):
    queue = self.get_queue(queue_name)
    with queue._messages_lock:
        _original_change_visibility(self, queue_name, receipt_handle, visibility_timeout)
        queue._messages_lock.notify_all()


@contextmanager
def _sending_to(queue):
    previous = getattr(_sending, "queue", None)
    _sending.queue = queue
    try:
        yield
    finally:
        _sending.queue = previous


def attributes(self):
    if getattr(_sending, "queue", None) is self:
        # All moto's send path reads of a queue's attributes (validation, deduplication).
        return {"ContentBasedDeduplication": str(self.content_based_deduplication).lower()}
    return _original_attributes(self)


def send_message(self, queue_name, *args, **kwargs):
    queue = self.get_queue(queue_name)
    with _sending_to(queue):
        return _original_send(self, queue_name, *args, **kwargs)


def send_message_batch(self, queue_name, entries):
    queue = self.get_queue(queue_name)
    with _sending_to(queue):
        return _original_send_batch(self, queue_name, entries)


def _fast_count(name, counts):
    """Queue.<name> (an approximate message count): moto's count, in one pass with one clock read."""

    def count(self):
        now_ms = unix_time_millis()
        return sum(1 for message in self._messages if counts(message, now_ms))

    return property(count)


def install() -> None:
    found = version("moto")
    if found != PINNED_MOTO:
        sys.exit(
            f"scripts/moto_sqs.py patches moto {PINNED_MOTO} internals but moto {found} is installed; "
            "check the new version with scripts/moto-sqs-check.py and update PINNED_MOTO"
        )
    sqs_models.SQSBackend.receive_message = receive_message
    sqs_models.Queue.add_message = add_message
    sqs_models.SQSBackend.delete_message = delete_message
    sqs_models.SQSBackend.change_message_visibility = change_message_visibility
    sqs_models.SQSBackend.send_message = send_message
    sqs_models.SQSBackend.send_message_batch = send_message_batch
    sqs_models.Queue.attributes = property(attributes)
    for name, counts in (
        ("approximate_number_of_messages", lambda m, now: _visible(m, now) and not _delayed(m, now)),
        ("approximate_number_of_messages_not_visible", lambda m, now: not _visible(m, now)),
        ("approximate_number_of_messages_delayed", _delayed),
    ):
        setattr(sqs_models.Queue, name, _fast_count(name, counts))


if __name__ == "__main__":
    install()
    from moto.server import main

    main(sys.argv[1:])
