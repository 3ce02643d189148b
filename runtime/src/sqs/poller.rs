//! The receive loop.
//!
//! SQS's visibility clock starts at receive, so a message received without
//! a free handler slot is ageing for nothing. Each poll therefore first
//! takes slots from the pool's semaphore (at least one, at most 10) and asks
//! for exactly that many messages; slots not filled go straight back.
//! Several pollers share one semaphore when concurrency is large, so one
//! 20-second long poll never starves a pod with many free slots.
//!
//! After a receive that came back full there is a backlog, and a poll for
//! the one or two slots that happen to be free would cost a request for a
//! fraction of a batch. The poller then waits up to [`FULL_BATCH_WAIT`] for
//! ten slots, and only takes what is free if they do not come.

use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use futures_util::future::join_all;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_util::sync::CancellationToken;

use crate::admin::Health;
use crate::sqs::priority::Lane;
use crate::sqs::{Acker, Received, Sqs};

/// SQS's most messages per receive.
pub const MAX_BATCH: u32 = 10;
/// How long a poller waits for a full batch of slots when the queue has a
/// backlog. Jobs under load free slots every few milliseconds; a longer wait
/// would leave free slots idle when jobs are slow.
pub const FULL_BATCH_WAIT: Duration = Duration::from_millis(5);

/// Receives messages and hands each, with its slot, to `dispatch`.
#[derive(Debug, Clone)]
pub struct Poller {
    pub sqs: Sqs,
    pub queue_url: String,
    /// Where the poller's handler slots come from.
    pub slots: Slots,
    /// Slots a full receive takes: 10, or the whole concurrency if smaller.
    pub full_batch: u32,
    pub wait_time_secs: i32,
    pub visibility_timeout_secs: i32,
    pub health: Arc<Health>,
    pub acker: Acker,
    pub intake: Arc<Intake>,
}

/// Where a poller takes its slots from.
#[derive(Debug, Clone)]
pub enum Slots {
    /// The pool's semaphore, directly: a pool with one queue.
    Pool(Arc<Semaphore>),
    /// Through the priority arbiter: one queue of several.
    Lane(Lane),
}

impl Slots {
    async fn take(&self, full_batch: u32, backlog: bool) -> Option<OwnedSemaphorePermit> {
        match self {
            Self::Pool(capacity) => take_slots(capacity, full_batch, backlog.then_some(FULL_BATCH_WAIT)).await,
            Self::Lane(lane) => lane.take(backlog).await,
        }
    }
}

/// What the runtime does with one received message.
pub trait Dispatch: Send + Sync + 'static {
    fn dispatch(&self, message: Received, slot: OwnedSemaphorePermit);

    /// A stage that keeps messages it cannot start yet (a fair pool's
    /// tenant lines) gives the pollers its [`Room`]: they receive only while
    /// it is open, so held messages stay bounded. `None`: every message
    /// received is started, and the slots alone bound receiving.
    fn room(&self) -> Option<Room> {
        None
    }
}

/// Whether a dispatch stage has room for more received messages.
#[derive(Debug, Clone)]
pub struct Room(watch::Receiver<bool>);

impl Room {
    pub(crate) fn new(open: watch::Receiver<bool>) -> Self {
        Self(open)
    }

    /// Returns once the stage has room (at once when it has). A stage that
    /// is gone counts as open: the pollers then stop on their own signal.
    async fn wait_open(&mut self) {
        let _ = self.0.wait_for(|open| *open).await;
    }
}

/// Whether received messages may still start jobs. The drain closes it
/// once; from then on whatever a poll still in flight brings back is
/// released, and [`Intake::close`] returning means no job can start any
/// more — so the drain can wait for the jobs it knows of.
#[derive(Debug, Default)]
pub struct Intake {
    closed: RwLock<bool>,
}

/// Held while received messages are handed to jobs.
#[derive(Debug)]
pub struct IntakeOpen<'a> {
    _held: RwLockReadGuard<'a, bool>,
}

impl Intake {
    /// `None` once closed. Hold the guard only while dispatching (no await).
    pub fn open(&self) -> Option<IntakeOpen<'_>> {
        let guard = self.closed.read().unwrap_or_else(PoisonError::into_inner);
        (!*guard).then_some(IntakeOpen { _held: guard })
    }

    /// Closes intake; returns after any dispatch in progress has finished.
    pub fn close(&self) {
        *self.closed.write().unwrap_or_else(PoisonError::into_inner) = true;
    }
}

impl Poller {
    /// Polls until `stop`. A poller waiting for slots returns at once. A
    /// receive already in flight is kept until `cut_receive` — the drain
    /// fires it when the running jobs have finished, at once when there are
    /// none — because SQS goes on with a long poll whose client has gone
    /// (see docs/ARCHITECTURE.md, "Shutdown"): a message arriving in its
    /// remaining wait would be taken for nobody and stay invisible for a
    /// visibility timeout. What a poll returns after intake closed is
    /// released at once (visibility 0).
    pub async fn run(self, dispatch: Arc<dyn Dispatch>, stop: CancellationToken, cut_receive: CancellationToken) {
        let mut backoff = poll_backoff();
        let mut backlog = false;
        let mut room = dispatch.room();
        loop {
            if let Some(room) = room.as_mut() {
                tokio::select! {
                    biased;
                    () = stop.cancelled() => return,
                    () = room.wait_open() => {}
                }
            }
            let mut slots = tokio::select! {
                biased;
                () = stop.cancelled() => return,
                slots = self.slots.take(self.full_batch, backlog) => match slots {
                    Some(slots) => slots,
                    None => return,
                },
            };
            let received = tokio::select! {
                biased;
                () = cut_receive.cancelled() => {
                    tracing::info!(
                        visibility_timeout_secs = self.visibility_timeout_secs,
                        "receive in flight cut short by the drain; a message SQS hands to it now stays invisible for one visibility timeout"
                    );
                    return;
                }
                r = self.sqs.receive(&self.queue_url, slots.num_permits() as i32, self.wait_time_secs, self.visibility_timeout_secs) => r,
            };
            match received {
                Ok(messages) => {
                    backoff = poll_backoff();
                    self.health.sqs_ok();
                    let Some(open) = self.intake.open() else {
                        drop(slots);
                        self.release(messages).await;
                        return;
                    };
                    // Everything asked for came back: more is likely waiting.
                    backlog = messages.len() >= slots.num_permits();
                    for message in messages {
                        let Some(slot) = slots.split(1) else { break };
                        dispatch.dispatch(message, slot);
                    }
                    drop(open);
                }
                Err(e) => {
                    drop(slots);
                    backlog = false;
                    let delay = backoff.next().unwrap_or(POLL_BACKOFF_MAX);
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "receive failed");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }

    /// Makes messages received during the drain visible again at once.
    async fn release(&self, messages: Vec<Received>) {
        if messages.is_empty() {
            return;
        }
        tracing::info!(count = messages.len(), "releasing messages received while draining");
        join_all(messages.into_iter().map(|message| async move {
            if let Err(e) = self.acker.change_visibility(&message.receipt_handle, 0).await {
                tracing::warn!(error = %e, message_id = %message.message_id, "could not release message received during shutdown");
            }
        }))
        .await;
    }
}

/// One permit for 1..=`full_batch` slots (at most 10). With `wait_for_full`
/// (a backlog), `full_batch` slots if they come within that time; otherwise,
/// or when they do not, the first free slot and whatever else is free then.
/// `None` once the semaphore is closed.
pub async fn take_slots(capacity: &Arc<Semaphore>, full_batch: u32, wait_for_full: Option<Duration>) -> Option<OwnedSemaphorePermit> {
    let full_batch = full_batch.clamp(1, MAX_BATCH);
    if let Some(wait) = wait_for_full
        && let Ok(full) = tokio::time::timeout(wait, capacity.clone().acquire_many_owned(full_batch)).await
    {
        return full.ok();
    }
    let mut slots = capacity.clone().acquire_owned().await.ok()?;
    while slots.num_permits() < full_batch as usize {
        match capacity.clone().try_acquire_owned() {
            Ok(more) => slots.merge(more),
            Err(_) => break,
        }
    }
    Some(slots)
}

/// The longest wait between failed polls: the backoff's 5 s ceiling plus
/// its jitter of up to as much again.
pub(crate) const POLL_BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Backoff between failed polls: 100 ms doubling to 5 s, plus a jitter of
/// up to as much again (so at most 10 s), without end, so an SQS outage
/// costs a bounded number of requests per pod and pods do not retry in step.
/// backon's policy, like every other retry in the runtime; a fresh one
/// after each successful receive.
pub(crate) fn poll_backoff() -> ExponentialBackoff {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times()
        .build()
}

#[cfg(test)]
/// On tokio's paused clock: waits are exact and a 600 s wait that should
/// not happen fails the 60 s timeout deterministically.
mod tests {
    use std::pin::Pin;
    use std::task::Poll;

    use super::*;

    /// Polls once; true while still pending.
    async fn pending<F: Future + Unpin>(future: &mut F) -> bool {
        std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *future).poll(cx).is_pending())).await
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_backlog_it_takes_what_is_free_at_once() {
        let capacity = Arc::new(Semaphore::new(64));
        let slots = take_slots(&capacity, 10, None).await.expect("open");
        assert_eq!(slots.num_permits(), 10, "never more than one receive's worth");
        let _busy = capacity.clone().acquire_many_owned(51).await.expect("open");
        let slots = take_slots(&capacity, 10, None).await.expect("open");
        assert_eq!(slots.num_permits(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn with_a_backlog_it_waits_for_a_full_batch_of_slots() {
        let capacity = Arc::new(Semaphore::new(64));
        let mut busy = capacity.clone().acquire_many_owned(60).await.expect("open");
        let mut take = Box::pin(take_slots(&capacity, 10, Some(Duration::from_secs(600))));
        assert!(pending(&mut take).await, "4 free slots are not a full batch");
        drop(busy.split(6).expect("60 held"));
        let slots = tokio::time::timeout(Duration::from_secs(60), take).await.expect("took the batch once it was free").expect("open");
        assert_eq!(slots.num_permits(), 10);
        assert_eq!(capacity.available_permits(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn with_a_backlog_it_settles_for_what_is_free_after_the_wait() {
        let capacity = Arc::new(Semaphore::new(64));
        let _busy = capacity.clone().acquire_many_owned(60).await.expect("open");
        let wait = Duration::from_millis(100);
        let started = tokio::time::Instant::now();
        let slots = take_slots(&capacity, 10, Some(wait)).await.expect("open");
        let waited = started.elapsed();
        assert!((wait..wait + Duration::from_millis(2)).contains(&waited), "gave up after {waited:?}, not after the wait");
        assert_eq!(slots.num_permits(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_batch_is_never_more_than_the_concurrency() {
        let capacity = Arc::new(Semaphore::new(4));
        let slots = tokio::time::timeout(Duration::from_secs(60), take_slots(&capacity, 4, Some(Duration::from_secs(600))))
            .await
            .expect("4 slots are a full batch at concurrency 4")
            .expect("open");
        assert_eq!(slots.num_permits(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_of_slots_splits_into_one_per_message_and_returns_the_rest() {
        let capacity = Arc::new(Semaphore::new(64));
        let mut slots = take_slots(&capacity, 10, None).await.expect("open");
        let per_message: Vec<_> = (0..3).map(|_| slots.split(1).expect("10 held")).collect();
        drop(slots);
        assert_eq!(capacity.available_permits(), 61);
        drop(per_message);
        assert_eq!(capacity.available_permits(), 64);
    }

    #[test]
    fn intake_refuses_dispatch_once_closed() {
        let intake = Intake::default();
        let open = intake.open().expect("open at first");
        drop(open);
        intake.close();
        assert!(intake.open().is_none());
    }

    /// `close` must not return while a poller is between "intake is open"
    /// and handing its messages to jobs, or the drain could miss a job.
    #[test]
    fn closing_waits_for_a_dispatch_in_progress() {
        let intake = Arc::new(Intake::default());
        let open = intake.open().expect("open");
        let closer = {
            let intake = intake.clone();
            std::thread::spawn(move || intake.close())
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!closer.is_finished(), "close returned while a dispatch held intake open");
        drop(open);
        closer.join().expect("close returns once the dispatch is done");
        assert!(intake.open().is_none());
    }

    #[test]
    fn poll_backoff_is_bounded_grows_and_never_ends() {
        let delays: Vec<Duration> = poll_backoff().take(1_000).collect();
        assert_eq!(delays.len(), 1_000, "an outage is retried for as long as it lasts");
        assert!(delays[0] <= Duration::from_millis(200), "{:?}", delays[0]);
        assert!(delays[4] >= Duration::from_millis(1_600), "{:?}", delays[4]);
        for d in &delays[7..] {
            assert!(*d >= Duration::from_secs(5) && *d <= POLL_BACKOFF_MAX, "{d:?}");
        }
    }
}
