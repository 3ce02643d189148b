//! The receive loop.
//!
//! SQS's visibility clock starts at receive, so a message received without
//! a free handler slot is ageing for nothing. Each poll therefore first
//! takes slots from the pool's semaphore (at least one, at most 10) and asks
//! for exactly that many messages; slots not filled go straight back.
//! Several pollers share one semaphore when concurrency is large, so one
//! 20-second long poll never starves a pod with many free slots.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::Health;
use crate::sqs::{Acker, Received, Sqs};

/// Receives messages and hands each, with its slot, to `dispatch`.
#[derive(Debug, Clone)]
pub struct Poller {
    pub sqs: Sqs,
    pub queue_url: String,
    pub capacity: Arc<Semaphore>,
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
        loop {
            let first = tokio::select! {
                biased;
                () = stop.cancelled() => return,
                permit = self.capacity.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            let mut slots = vec![first];
            while slots.len() < 10 {
                match self.capacity.clone().try_acquire_owned() {
                    Ok(p) => slots.push(p),
                    Err(_) => break,
                }
            }
            let received = tokio::select! {
                biased;
                () = abort.cancelled() => return,
                r = self.sqs.receive(&self.queue_url, slots.len() as i32, self.wait_time_secs, self.visibility_timeout_secs) => r,
            };
            match received {
                Ok(messages) => {
                    consecutive_failures = 0;
                    self.health.poll_ok();
                    if stop.is_cancelled() {
                        self.release(messages);
                        return;
                    }
                    for message in messages {
                        let Some(slot) = slots.pop() else { break };
                        dispatch.dispatch(message, slot);
                    }
                }
                Err(e) => {
                    drop(slots);
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

/// Backoff between failed polls: 100 ms doubling to 10 s, with jitter, so an
/// SQS outage costs a bounded number of requests per pod.
pub fn poll_backoff(consecutive_failures: u32) -> Duration {
    let exp = consecutive_failures.saturating_sub(1).min(7);
    let ceiling_ms = (100u64 << exp).min(10_000);
    Duration::from_millis(ceiling_ms / 2 + fastrand::u64(0..=ceiling_ms / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

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
