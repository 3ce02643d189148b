#!/usr/bin/env python3
"""moto_server with SQS FIFO receives fixed — the local stack's SQS (test emulator only).

    python scripts/moto_fifo.py -H 127.0.0.1 -p 4566      (moto_server's own arguments)

scripts/stack.sh starts moto through this module. moto 5.2.5 (5.2.6 is the same here) breaks two
guarantees of SQS FIFO queues that jobfleet's FIFO pools are tested on
(scripts/moto-fifo-check.py shows both against a stock moto_server):

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
DeleteMessage and ChangeMessageVisibility on FIFO queues take the same lock and wake waiting
receives. Not fixed (not used by jobfleet): ReceiveRequestAttemptId is ignored, as in stock moto.

One more moto problem, speed, is fixed for FIFO queues as well. Every SendMessage to a FIFO
queue builds the queue's whole attribute map four times to read one entry of it
(ContentBasedDeduplication), and each build counts the queue's messages (visible, in flight,
delayed) with two clock reads per message: sending to a FIFO queue holding a few thousand
messages took seconds per message (a 5,000-message backlog could not be sent in 10 minutes).
While a send to a FIFO queue runs, that queue's attribute map is just that entry; elsewhere
(GetQueueAttributes, the workers' gauges) a FIFO queue's counts are made with one clock read,
as is the receive's scan. What is sent, counted and received is unchanged.

Standard queues go through moto's own code, unchanged.

This patches moto internals (SQSBackend methods, Queue._messages, _messages_lock,
pending_messages), so it relies on the `moto[server]==5.2.5` pin in
scripts/requirements-stack.txt and refuses to start with another moto version: re-run
scripts/moto-fifo-check.py against the new version before changing the pin here.
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

_original_receive = sqs_models.SQSBackend.receive_message
_original_delete = sqs_models.SQSBackend.delete_message
_original_change_visibility = sqs_models.SQSBackend.change_message_visibility
_original_send = sqs_models.SQSBackend.send_message
_original_send_batch = sqs_models.SQSBackend.send_message_batch
_original_attributes = sqs_models.Queue.attributes.fget
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


def receive_message(self, queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names=None):
    queue = self.get_queue(queue_name)
    if not queue.fifo_queue:
        return _original_receive(self, queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names)
    attribute_names = message_attribute_names or []
    deadline = unix_time() + wait_seconds_timeout
    while True:
        with queue._messages_lock:
            result, to_dlq = _take(queue, count, visibility_timeout, attribute_names)
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
    queue = self.get_queue(queue_name)
    if not queue.fifo_queue:
        return _original_delete(self, queue_name, receipt_handle)
    with queue._messages_lock:
        _original_delete(self, queue_name, receipt_handle)
        queue._messages_lock.notify_all()


def change_message_visibility(self, queue_name, receipt_handle, visibility_timeout):
    queue = self.get_queue(queue_name)
    if not queue.fifo_queue:
        return _original_change_visibility(self, queue_name, receipt_handle, visibility_timeout)
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
        # All moto's send path reads of a FIFO queue's attributes (validation, deduplication).
        return {"ContentBasedDeduplication": str(self.content_based_deduplication).lower()}
    return _original_attributes(self)


def send_message(self, queue_name, *args, **kwargs):
    queue = self.get_queue(queue_name)
    if not queue.fifo_queue:
        return _original_send(self, queue_name, *args, **kwargs)
    with _sending_to(queue):
        return _original_send(self, queue_name, *args, **kwargs)


def send_message_batch(self, queue_name, entries):
    queue = self.get_queue(queue_name)
    if not queue.fifo_queue:
        return _original_send_batch(self, queue_name, entries)
    with _sending_to(queue):
        return _original_send_batch(self, queue_name, entries)


def _fifo_count(name, counts):
    """Queue.<name> (an approximate message count): moto's own for a standard queue; for a FIFO
    queue the same count in one pass with one clock read."""
    original = getattr(sqs_models.Queue, name)

    def count(self):
        if not self.fifo_queue:
            return original.fget(self)
        now_ms = unix_time_millis()
        return sum(1 for message in self._messages if counts(message, now_ms))

    return property(count)


def install() -> None:
    found = version("moto")
    if found != PINNED_MOTO:
        sys.exit(
            f"scripts/moto_fifo.py patches moto {PINNED_MOTO} internals but moto {found} is installed; "
            "check the new version with scripts/moto-fifo-check.py and update PINNED_MOTO"
        )
    sqs_models.SQSBackend.receive_message = receive_message
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
        setattr(sqs_models.Queue, name, _fifo_count(name, counts))


if __name__ == "__main__":
    install()
    from moto.server import main

    main(sys.argv[1:])
