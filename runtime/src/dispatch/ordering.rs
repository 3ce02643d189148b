//! FIFO pools: one message of a group at a time inside the pod.
//!
//! SQS hands a FIFO group to one consumer at a time, but one receive may
//! return several messages of a group (in order), and later receives bring
//! more of it once those are gone. The plain dispatcher would run them all
//! at once; this stage sits between the poller and the processor and runs
//! each group's messages strictly one after another, in receive order,
//! while different groups run in parallel up to the pool's concurrency.
//!
//! - A message whose group is already running here *waits* in its group's
//!   line. A heartbeat keeps it invisible while it waits (SQS's visibility
//!   clock started at receive), first extension one heartbeat interval in.
//! - A waiting message gives its handler slot back to the pool while no
//!   more messages wait than the concurrency (`waiting` permits), so a
//!   receive full of one group does not idle the other slots; past that it
//!   keeps its slot, which throttles receiving. The pod thus holds at most
//!   twice its concurrency in messages.
//! - The running message's slot passes straight to the group's next
//!   message: a group never competes with the poller for a slot, so a head
//!   can never starve behind a long poll (or deadlock behind waiting
//!   messages holding every slot).
//! - Only a message that is gone (deleted or dead-lettered) lets the next
//!   run; the processor says which ([`Settled`]) and decides nothing else
//!   here. One that comes back (retry backoff, lease busy, ledger down,
//!   released at shutdown, outcome write or DLQ send failed) stays in place
//!   with its visibility set by the processor, and every message waiting
//!   behind it is released at once
//!   (visibility 0): SQS keeps the group locked while the failed one is
//!   invisible and then delivers it first, so nothing overtakes it.
//! - A dead-lettered message does not block its group: the rest of the
//!   group runs on, as SQS's own redrive (maxReceiveCount) would do.
//! - On shutdown, the messages still waiting are released at once when the
//!   running one of their group is done.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::MAX_VISIBILITY_SECS;
use crate::runtime::process::{Processor, Settled};
use crate::sqs::poller::Dispatch;
use crate::sqs::visibility::Heartbeat;
use crate::sqs::{Acker, Received};
use crate::telemetry::FIFO_WAITING_MESSAGES;

/// A message waiting for the one before it in its group.
struct Waiting {
    message: Received,
    /// Kept only when no `waiting` permit was free.
    slot: Option<OwnedSemaphorePermit>,
    _waiting: Option<OwnedSemaphorePermit>,
    heartbeat: Heartbeat,
}

pub(crate) struct Ordering {
    processor: Processor,
    /// Groups with a message running in this pod → the messages waiting
    /// behind it, in receive order.
    groups: Arc<Mutex<HashMap<String, VecDeque<Waiting>>>>,
    /// How many waiting messages may give their slot back.
    waiting: Arc<Semaphore>,
    stop: CancellationToken,
    tracker: TaskTracker,
    heartbeat_interval: Duration,
    visibility_timeout: Duration,
}

impl Ordering {
    pub(crate) fn new(processor: Processor, concurrency: u32, stop: CancellationToken) -> Self {
        Self {
            tracker: processor.tracker.clone(),
            heartbeat_interval: processor.heartbeat_interval,
            visibility_timeout: processor.visibility_timeout,
            processor,
            groups: Arc::default(),
            waiting: Arc::new(Semaphore::new(concurrency as usize)),
            stop,
        }
    }

    fn acker(&self) -> &Acker {
        self.processor.acker()
    }
}

impl Dispatch for Ordering {
    fn dispatch(&self, message: Received, slot: OwnedSemaphorePermit) {
        // SQS never delivers a FIFO message without a group; a message
        // without one has nothing to be ordered with.
        let Some(group) = message.group_id.clone() else {
            return self.processor.dispatch(message, slot);
        };
        let mut groups = self.groups.lock().expect("the FIFO group table lock is never held across a panic");
        if let Some(line) = groups.get_mut(&group) {
            let waiting = self.waiting.clone().try_acquire_owned().ok();
            let slot = if waiting.is_some() { None } else { Some(slot) };
            let now = tokio::time::Instant::now();
            let heartbeat = Heartbeat::start_at(
                now + self.heartbeat_interval,
                self.acker().clone(),
                message.receipt_handle.clone(),
                self.heartbeat_interval,
                self.visibility_timeout,
                Instant::now(),
                Instant::now() + Duration::from_secs(MAX_VISIBILITY_SECS),
            );
            line.push_back(Waiting { message, slot, _waiting: waiting, heartbeat });
            metrics::gauge!(FIFO_WAITING_MESSAGES, "pool" => self.processor.pool.as_str()).increment(1.0);
            return;
        }
        groups.insert(group.clone(), VecDeque::new());
        drop(groups);
        let runner = GroupRunner { processor: self.processor.clone(), groups: self.groups.clone(), stop: self.stop.clone() };
        // Boxed for the same reason as the processor's tasks: the job's
        // future is large.
        self.tracker.spawn(Box::pin(runner.run(group, message, slot)));
    }
}

struct GroupRunner {
    processor: Processor,
    groups: Arc<Mutex<HashMap<String, VecDeque<Waiting>>>>,
    stop: CancellationToken,
}

/// What a group does after its running message settled.
enum Next {
    Run(Box<Waiting>),
    Release(Vec<Waiting>),
    Done,
}

impl GroupRunner {
    async fn run(self, group: String, mut message: Received, mut slot: OwnedSemaphorePermit) {
        loop {
            let settled = self.processor.handle(message, None).await;
            match self.next(&group, settled) {
                Next::Run(waiting) => {
                    let Waiting { message: next, slot: own_slot, _waiting, heartbeat } = *waiting;
                    self.waited(1);
                    // Before the processor's own visibility changes, so a
                    // late extension cannot land after them.
                    heartbeat.stop().await;
                    if let Some(own_slot) = own_slot {
                        slot = own_slot;
                    }
                    message = next;
                }
                Next::Release(waiting) => {
                    drop(slot);
                    self.release(waiting).await;
                    return;
                }
                Next::Done => return,
            }
        }
    }

    /// Decides under the lock, so a message dispatched meanwhile either
    /// joins the line before the decision or starts the group afresh after.
    fn next(&self, group: &str, settled: Settled) -> Next {
        let mut groups = self.groups.lock().expect("the FIFO group table lock is never held across a panic");
        let Some(line) = groups.get_mut(group) else { return Next::Done };
        if settled == Settled::Gone
            && !self.stop.is_cancelled()
            && let Some(next) = line.pop_front()
        {
            return Next::Run(Box::new(next));
        }
        let rest: Vec<Waiting> = groups.remove(group).map(Vec::from).unwrap_or_default();
        if rest.is_empty() { Next::Done } else { Next::Release(rest) }
    }

    /// Puts waiting messages back at once: the one before them is still in
    /// the queue (or the worker is stopping), and SQS will deliver them
    /// after it, in order.
    async fn release(&self, waiting: Vec<Waiting>) {
        self.waited(waiting.len());
        let releases = waiting.into_iter().map(|w| {
            let acker = self.processor.acker().clone();
            async move {
                w.heartbeat.stop().await;
                if let Err(e) = acker.change_visibility(&w.message.receipt_handle, 0).await {
                    tracing::warn!(error = %e, message_id = %w.message.message_id, "could not release a message waiting behind its group; it reappears after its visibility timeout");
                }
            }
        });
        futures_util::future::join_all(releases).await;
    }

    fn waited(&self, n: usize) {
        metrics::gauge!(FIFO_WAITING_MESSAGES, "pool" => self.processor.pool.as_str()).decrement(n as f64);
    }
}
