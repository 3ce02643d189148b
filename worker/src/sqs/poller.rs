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

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::Health;
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
    pub capacity: Arc<Semaphore>,
    /// Slots a full receive takes: 10, or the whole concurrency if smaller.
    pub full_batch: u32,
    pub wait_time_secs: i32,
    pub visibility_timeout_secs: i32,
    pub health: Arc<Health>,
    pub acker: Acker,
    pub tracker: TaskTracker,
}

/// What the runtime does with one received message.
pub trait Dispatch: Send + Sync + 'static {
    fn dispatch(&self, message: Received, slot: OwnedSemaphorePermit);
}

impl Poller {
    /// Polls until `stop`; a poll already in flight when `stop` fires is let
    /// finish (at most the wait time) and whatever it returns is released at
    /// once — dropping the request could leave messages invisible for a whole
    /// visibility timeout. `abort` cuts even that short.
    pub async fn run(self, dispatch: Arc<dyn Dispatch>, stop: CancellationToken, abort: CancellationToken) {
        let mut consecutive_failures: u32 = 0;
        let mut backlog = false;
        loop {
            let mut slots = tokio::select! {
                biased;
                () = stop.cancelled() => return,
                slots = take_slots(&self.capacity, self.full_batch, backlog.then_some(FULL_BATCH_WAIT)) => match slots {
                    Some(slots) => slots,
                    None => return,
                },
            };
            let received = tokio::select! {
                biased;
                () = abort.cancelled() => return,
                r = self.sqs.receive(&self.queue_url, slots.num_permits() as i32, self.wait_time_secs, self.visibility_timeout_secs) => r,
            };
            match received {
                Ok(messages) => {
                    consecutive_failures = 0;
                    self.health.poll_ok();
                    if stop.is_cancelled() {
                        self.release(messages);
                        return;
                    }
                    // Everything asked for came back: more is likely waiting.
                    backlog = messages.len() >= slots.num_permits();
                    for message in messages {
                        let Some(slot) = slots.split(1) else { break };
                        dispatch.dispatch(message, slot);
                    }
                }
                Err(e) => {
                    drop(slots);
                    backlog = false;
                    self.health.poll_failed();
                    consecutive_failures = consecutive_failures.saturating_add(1);
                    let delay = poll_backoff(consecutive_failures);
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "receive failed");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }

    fn release(&self, messages: Vec<Received>) {
        for message in messages {
            let acker = self.acker.clone();
            self.tracker.spawn(async move {
                if let Err(e) = acker.change_visibility(&message.receipt_handle, 0).await {
                    tracing::warn!(error = %e, message_id = %message.message_id, "could not release message received during shutdown");
                }
            });
        }
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

/// Backoff between failed polls: 100 ms doubling to 10 s, with jitter, so an
/// SQS outage costs a bounded number of requests per pod.
pub fn poll_backoff(consecutive_failures: u32) -> Duration {
    let exp = consecutive_failures.saturating_sub(1).min(7);
    let ceiling_ms = (100u64 << exp).min(10_000);
    Duration::from_millis(ceiling_ms / 2 + fastrand::u64(0..=ceiling_ms / 2))
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::Poll;

    use super::*;

    /// Polls once; true while still pending.
    async fn pending<F: Future + Unpin>(future: &mut F) -> bool {
        std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *future).poll(cx).is_pending())).await
    }

    #[tokio::test]
    async fn without_a_backlog_it_takes_what_is_free_at_once() {
        let capacity = Arc::new(Semaphore::new(64));
        let slots = take_slots(&capacity, 10, None).await.expect("open");
        assert_eq!(slots.num_permits(), 10, "never more than one receive's worth");
        let _busy = capacity.clone().acquire_many_owned(51).await.expect("open");
        let slots = take_slots(&capacity, 10, None).await.expect("open");
        assert_eq!(slots.num_permits(), 3);
    }

    #[tokio::test]
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

    #[tokio::test]
    async fn with_a_backlog_it_settles_for_what_is_free_after_the_wait() {
        let capacity = Arc::new(Semaphore::new(64));
        let _busy = capacity.clone().acquire_many_owned(60).await.expect("open");
        let wait = Duration::from_millis(100);
        let started = std::time::Instant::now();
        let slots = take_slots(&capacity, 10, Some(wait)).await.expect("open");
        assert!(started.elapsed() >= wait, "gave up after {:?}", started.elapsed());
        assert_eq!(slots.num_permits(), 4);
    }

    #[tokio::test]
    async fn a_full_batch_is_never_more_than_the_concurrency() {
        let capacity = Arc::new(Semaphore::new(4));
        let slots = tokio::time::timeout(Duration::from_secs(60), take_slots(&capacity, 4, Some(Duration::from_secs(600))))
            .await
            .expect("4 slots are a full batch at concurrency 4")
            .expect("open");
        assert_eq!(slots.num_permits(), 4);
    }

    #[tokio::test]
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
    fn poll_backoff_is_bounded_and_grows() {
        assert!(poll_backoff(1) <= Duration::from_millis(100));
        assert!(poll_backoff(5) >= Duration::from_millis(800));
        for n in [8, 50, u32::MAX] {
            let d = poll_backoff(n);
            assert!(d >= Duration::from_secs(5) && d <= Duration::from_secs(10), "{d:?}");
        }
    }
}
