//! Fair pools: a cap on each tenant's running jobs inside the pod.
//!
//! On a standard queue a message's `MessageGroupId` names its tenant (SQS
//! fair queues use the same field). SQS decides which messages a receive
//! returns — with fair queues it serves quiet tenants ahead of a noisy
//! one's backlog — but one receive still brings whatever was next, and a
//! pod that ran everything it received would give every slot to the tenant
//! with the most messages. This stage sits between the poller and the
//! processor and keeps any one tenant to its share of the pod's slots:
//!
//! - A tenant runs at most its **share** of jobs at once: the configured
//!   `tenant_max_concurrency`, or by default `ceil(concurrency / active
//!   tenants)`, where a tenant is active while it has jobs running or
//!   waiting here. One tenant alone gets every slot; a second one arriving
//!   halves the first one's share (running jobs are not interrupted: the
//!   first tenant's next messages wait until it is back under its share).
//! - A message over its tenant's share **waits** in its tenant's line, its
//!   handler slot given back to the pool, its visibility kept by a
//!   heartbeat. The free slots are what the next receive fills — with the
//!   other tenants' messages, which then run at once.
//! - A slot freed by a finished job goes to the waiting message whose
//!   tenant has the fewest jobs running (max-min fairness), provided that
//!   tenant is under its share; otherwise back to the pool. A tenant's own
//!   messages start in receive order.
//! - Waiting is bounded: while `concurrency` messages wait, the stage
//!   closes its [`Room`] and the pollers stop receiving until one leaves
//!   (a receive already under way may add one batch more). The pod thus
//!   holds at most about twice its concurrency in messages, and a tenant
//!   that alone fills the queue cannot make the pod churn receives.
//! - Messages without a group are each their own tenant (as SQS treats
//!   them) and run at once.
//! - On shutdown the waiting messages are released at once (visibility 0)
//!   for another pod; running jobs drain as usual.
//!
//! The scheduling rules live in [`Lines`], free of I/O, so they are unit
//! tested on their own; [`Fairness`] wires them to the processor.

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::MAX_VISIBILITY_SECS;
use crate::runtime::process::Processor;
use crate::sqs::poller::{Dispatch, Room};
use crate::sqs::visibility::Heartbeat;
use crate::sqs::{Acker, Received};
use crate::telemetry::{POOL_ACTIVE_TENANTS, TENANT_WAITING_MESSAGES};

/// The scheduling state: per tenant, its running count and its line of
/// waiting items (`T` is a message in the runtime, a number in tests).
#[derive(Debug)]
pub(crate) struct Lines<T> {
    concurrency: u32,
    cap: Option<NonZeroU32>,
    tenants: HashMap<String, Tenant<T>>,
    waiting: usize,
    /// Arrival order across tenants, to break ties by the oldest head.
    next_seq: u64,
}

#[derive(Debug)]
struct Tenant<T> {
    running: u32,
    line: VecDeque<(u64, T)>,
}

impl<T> Default for Tenant<T> {
    fn default() -> Self {
        Self { running: 0, line: VecDeque::new() }
    }
}

/// What to do with a message that just arrived with a slot.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admit<T> {
    /// Run this item with the slot. When the tenant had others waiting,
    /// this is its oldest waiting one and the new item joined the line.
    Run(T),
    /// The tenant is at its share: the item waits, the slot goes back.
    Wait,
}

impl<T> Lines<T> {
    pub(crate) fn new(concurrency: u32, cap: Option<NonZeroU32>) -> Self {
        Self { concurrency: concurrency.max(1), cap, tenants: HashMap::new(), waiting: 0, next_seq: 0 }
    }

    /// Jobs a tenant may run at once now.
    pub(crate) fn share(&self) -> u32 {
        match self.cap {
            Some(cap) => cap.get(),
            None => self.concurrency.div_ceil(self.active().max(1) as u32),
        }
    }

    /// Tenants with a job running or waiting here.
    pub(crate) fn active(&self) -> usize {
        self.tenants.len()
    }

    pub(crate) fn waiting(&self) -> usize {
        self.waiting
    }

    #[cfg(test)]
    fn running(&self, tenant: &str) -> u32 {
        self.tenants.get(tenant).map_or(0, |t| t.running)
    }

    /// A message of `tenant` arrived with a slot.
    pub(crate) fn admit(&mut self, tenant: &str, item: T) -> Admit<T> {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.tenants.entry(tenant.to_owned()).or_default();
        let share = self.share();
        let entry = self.tenants.get_mut(tenant).expect("inserted above");
        if entry.running >= share {
            entry.line.push_back((seq, item));
            self.waiting += 1;
            return Admit::Wait;
        }
        entry.running += 1;
        match entry.line.pop_front() {
            Some((_, oldest)) => {
                entry.line.push_back((seq, item));
                Admit::Run(oldest)
            }
            None => Admit::Run(item),
        }
    }

    /// A job of `tenant` finished; returns what its slot runs next, if
    /// anything: the waiting item of the tenant with the fewest running jobs
    /// among those under their share (ties: the oldest head). `None` gives
    /// the slot back to the pool.
    pub(crate) fn finish(&mut self, tenant: &str) -> Option<(String, T)> {
        self.done(tenant);
        let share = self.share();
        let (next, _) = self
            .tenants
            .iter()
            .filter(|(_, t)| t.running < share)
            .filter_map(|(name, t)| t.line.front().map(|(seq, _)| (name, (t.running, *seq))))
            .min_by_key(|(_, key)| *key)?;
        let next = next.clone();
        let entry = self.tenants.get_mut(&next).expect("found above");
        let (_, item) = entry.line.pop_front().expect("has a head");
        entry.running += 1;
        self.waiting -= 1;
        Some((next, item))
    }

    /// A job of `tenant` finished and nothing is to start in its place.
    pub(crate) fn done(&mut self, tenant: &str) {
        if let Some(entry) = self.tenants.get_mut(tenant) {
            entry.running = entry.running.saturating_sub(1);
            if entry.running == 0 && entry.line.is_empty() {
                self.tenants.remove(tenant);
            }
        }
    }

    /// Empties every line (shutdown); running counts stay.
    pub(crate) fn take_waiting(&mut self) -> Vec<T> {
        let mut all = Vec::with_capacity(self.waiting);
        for entry in self.tenants.values_mut() {
            all.extend(entry.line.drain(..).map(|(_, item)| item));
        }
        self.tenants.retain(|_, t| t.running > 0);
        self.waiting = 0;
        all
    }
}

/// A message waiting for its tenant to be under its share.
struct Waiting {
    message: Received,
    heartbeat: Heartbeat,
}

/// What a finished job's slot does next.
enum Next {
    Run(String, Waiting),
    Release(Vec<Waiting>),
    Done,
}

pub(crate) struct Fairness {
    inner: Arc<Inner>,
}

struct Inner {
    processor: Processor,
    lines: Mutex<Lines<Waiting>>,
    /// Open while fewer than `waiting_limit` messages wait.
    room: watch::Sender<bool>,
    waiting_limit: usize,
    stop: CancellationToken,
    tracker: TaskTracker,
}

impl Fairness {
    pub(crate) fn new(processor: Processor, concurrency: u32, cap: Option<NonZeroU32>, stop: CancellationToken) -> Self {
        let (room, _) = watch::channel(true);
        let inner = Arc::new(Inner {
            tracker: processor.tracker.clone(),
            processor,
            lines: Mutex::new(Lines::new(concurrency, cap)),
            room,
            waiting_limit: concurrency.max(1) as usize,
            stop: stop.clone(),
        });
        // Waiting messages will not run once the worker stops: release them
        // for another pod at once rather than when their heartbeat ends.
        let releaser = inner.clone();
        inner.tracker.spawn(async move {
            stop.cancelled().await;
            let waiting = releaser.lock().take_waiting();
            releaser.publish(&releaser.lock());
            releaser.release(waiting).await;
        });
        Self { inner }
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Lines<Waiting>> {
        self.lines.lock().expect("the tenant table lock is never held across a panic")
    }

    /// Gauges and the room gate, from the state just changed.
    fn publish(&self, lines: &Lines<Waiting>) {
        let pool = self.processor.pool.as_str();
        metrics::gauge!(POOL_ACTIVE_TENANTS, "pool" => pool).set(lines.active() as f64);
        metrics::gauge!(TENANT_WAITING_MESSAGES, "pool" => pool).set(lines.waiting() as f64);
        let open = lines.waiting() < self.waiting_limit;
        self.room.send_if_modified(|room| std::mem::replace(room, open) != open);
    }

    fn wait(&self, message: Received) -> Waiting {
        let interval = self.processor.heartbeat_interval;
        let heartbeat = Heartbeat::start_at(
            tokio::time::Instant::now() + interval,
            self.acker().clone(),
            message.receipt_handle.clone(),
            interval,
            self.processor.visibility_timeout,
            Instant::now(),
            Instant::now() + Duration::from_secs(MAX_VISIBILITY_SECS),
        );
        Waiting { message, heartbeat }
    }

    fn acker(&self) -> &Acker {
        self.processor.acker()
    }

    /// Runs `message` of `tenant`, then whatever its slot is given next.
    async fn run(self: Arc<Self>, mut tenant: String, mut message: Received, slot: OwnedSemaphorePermit) {
        loop {
            self.processor.handle(message, None).await;
            let next = {
                let mut lines = self.lock();
                let next = if self.stop.is_cancelled() {
                    // Stopping: nothing more starts here. Whatever waits
                    // (also a message a last poll brought in after the
                    // releaser ran) goes back to the queue.
                    lines.done(&tenant);
                    Next::Release(lines.take_waiting())
                } else {
                    match lines.finish(&tenant) {
                        Some((next_tenant, waiting)) => Next::Run(next_tenant, waiting),
                        None => Next::Done,
                    }
                };
                self.publish(&lines);
                next
            };
            match next {
                Next::Run(next_tenant, waiting) => {
                    // Before the processor's own visibility changes, so a
                    // late extension cannot land after them.
                    waiting.heartbeat.stop().await;
                    tenant = next_tenant;
                    message = waiting.message;
                }
                Next::Release(waiting) => {
                    self.release(waiting).await;
                    break;
                }
                Next::Done => break,
            }
        }
        drop(slot);
    }

    /// Puts waiting messages back at once (visibility 0).
    async fn release(&self, waiting: Vec<Waiting>) {
        let releases = waiting.into_iter().map(|w| {
            let acker = self.acker().clone();
            async move {
                w.heartbeat.stop().await;
                if let Err(e) = acker.change_visibility(&w.message.receipt_handle, 0).await {
                    tracing::warn!(error = %e, message_id = %w.message.message_id, "could not release a message waiting for its tenant's share; it reappears after its visibility timeout");
                }
            }
        });
        futures_util::future::join_all(releases).await;
    }
}

impl Dispatch for Fairness {
    fn dispatch(&self, message: Received, slot: OwnedSemaphorePermit) {
        // Without a group a message is its own tenant: nothing to share with.
        let Some(tenant) = message.group_id.clone() else {
            return self.inner.processor.dispatch(message, slot);
        };
        let inner = &self.inner;
        let waiting = inner.wait(message);
        let admitted = {
            let mut lines = inner.lock();
            let admitted = lines.admit(&tenant, waiting);
            inner.publish(&lines);
            admitted
        };
        match admitted {
            Admit::Run(waiting) => {
                let runner = inner.clone();
                // Boxed for the same reason as the processor's tasks: the
                // job's future is large.
                inner.tracker.spawn(Box::pin(async move {
                    waiting.heartbeat.stop().await;
                    runner.run(tenant, waiting.message, slot).await;
                }));
            }
            Admit::Wait => drop(slot),
        }
    }

    fn room(&self) -> Option<Room> {
        Some(Room::new(self.inner.room.subscribe()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(n: u32) -> Option<NonZeroU32> {
        NonZeroU32::new(n)
    }

    #[test]
    fn a_tenant_alone_gets_every_slot() {
        let mut lines = Lines::new(4, None);
        for i in 0..4 {
            assert_eq!(lines.admit("a", i), Admit::Run(i));
        }
        assert_eq!(lines.running("a"), 4);
        assert_eq!(lines.share(), 4);
    }

    #[test]
    fn a_second_tenant_halves_the_first_ones_share_and_runs_at_once() {
        let mut lines = Lines::new(4, None);
        for i in 0..4 {
            lines.admit("a", i);
        }
        assert_eq!(lines.admit("b", 10), Admit::Run(10), "b is under its share of 2");
        assert_eq!(lines.share(), 2);
        assert_eq!(lines.admit("a", 4), Admit::Wait, "a runs 4, over its share of 2");
        assert_eq!(lines.waiting(), 1);
        // a's jobs finishing do not start a's waiting one until a is under 2.
        assert_eq!(lines.finish("a"), None);
        assert_eq!(lines.finish("a"), None);
        assert_eq!(lines.finish("a"), Some(("a".into(), 4)), "a runs 1 now, under its share");
    }

    #[test]
    fn a_freed_slot_goes_to_the_waiting_tenant_with_the_fewest_running() {
        let mut lines = Lines::new(6, cap(2));
        for i in 0..2 {
            lines.admit("a", i);
        }
        lines.admit("b", 10);
        lines.admit("c", 20);
        lines.admit("c", 21);
        assert_eq!(lines.admit("a", 2), Admit::Wait, "the configured cap, not the fair share, applies");
        assert_eq!(lines.admit("c", 22), Admit::Wait);
        // c finishes one: both a (2 running) and c (1 running) wait; c has fewer.
        assert_eq!(lines.finish("c"), Some(("c".into(), 22)));
        // b finishes: a is at its cap, c too; nobody is under: the slot goes back.
        assert_eq!(lines.finish("b"), None);
        assert_eq!(lines.finish("a"), Some(("a".into(), 2)));
        assert_eq!(lines.waiting(), 0);
    }

    #[test]
    fn a_tenant_under_its_share_starts_its_oldest_waiting_message_first() {
        let mut lines = Lines::new(4, None);
        lines.admit("a", 0);
        lines.admit("a", 1);
        lines.admit("b", 10);
        lines.admit("b", 11);
        assert_eq!(lines.admit("a", 2), Admit::Wait, "two tenants: a share of 2 each");
        assert_eq!(lines.finish("b"), None, "a still runs its share; the slot goes back to the pool");
        assert_eq!(lines.admit("a", 3), Admit::Wait);
        assert_eq!(lines.finish("b"), Some(("a".into(), 2)), "b is gone: a's share is 4 again");
        // A slot from the pool, with a under its share and a line: the line
        // goes first, the newcomer joins its end.
        assert_eq!(lines.admit("a", 4), Admit::Run(3));
        assert_eq!(lines.running("a"), 4);
        assert_eq!(lines.finish("a"), Some(("a".into(), 4)));
    }

    #[test]
    fn shutdown_takes_every_waiting_message_and_keeps_running_counts() {
        let mut lines = Lines::new(2, cap(1));
        lines.admit("a", 0);
        lines.admit("a", 1);
        lines.admit("b", 10);
        lines.admit("b", 11);
        let mut taken = lines.take_waiting();
        taken.sort_unstable();
        assert_eq!(taken, vec![1, 11]);
        assert_eq!(lines.waiting(), 0);
        assert_eq!(lines.active(), 2, "a and b still run one job each");
        assert_eq!(lines.finish("a"), None);
        assert_eq!(lines.active(), 1);
    }
}
