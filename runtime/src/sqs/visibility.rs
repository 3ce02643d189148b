//! Visibility: backoff for retries, and heartbeats for long jobs.
//!
//! The visibility clock starts at receive. A job that runs longer than the
//! visibility timeout would be delivered to a second consumer while the
//! first still runs it, so a heartbeat extends the timeout every
//! `heartbeat_interval_secs` until the job finishes or hits its hard timeout.
//! Most jobs finish long before the first extension is due, so the heartbeat
//! task is only spawned for a job still running then ([`Lazy`]).

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::MAX_VISIBILITY_SECS;
use crate::sqs::Acker;

/// Retry delay for the `attempt`-th delivery (1-based): "full jitter" —
/// uniform in `[0, min(max, base × 2^(attempt−1))]` — so a burst of failures
/// spreads out instead of returning together; never below 1 s (SQS's
/// granularity) nor above `max` (at most SQS's 12 h). `unit_random` ∈ [0, 1).
pub fn retry_delay_secs(attempt: u32, base_secs: u64, max_secs: u64, unit_random: f64) -> u64 {
    let max_secs = max_secs.clamp(1, MAX_VISIBILITY_SECS);
    let exponent = attempt.saturating_sub(1).min(40);
    let ceiling = base_secs.saturating_mul(1u64 << exponent).min(max_secs);
    let jittered = (ceiling as f64 * unit_random.clamp(0.0, 1.0)).round() as u64;
    jittered.clamp(1, max_secs)
}

/// Extends a message's visibility periodically until stopped.
#[derive(Debug)]
pub struct Heartbeat {
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Heartbeat {
    /// `extend_by` is applied at once and then every `interval`, but never beyond `hard_deadline`
    /// (the job's timeout, after which the runtime gives up on it anyway) nor
    /// beyond 12 h from `received_at`, which SQS refuses.
    pub fn start(
        acker: Acker,
        receipt_handle: String,
        interval: Duration,
        extend_by: Duration,
        received_at: Instant,
        hard_deadline: Instant,
    ) -> Self {
        Self::start_at(tokio::time::Instant::now(), acker, receipt_handle, interval, extend_by, received_at, hard_deadline)
    }

    /// `start` with the first extension at `first_beat` instead of at once:
    /// a message that only waits (behind its FIFO group) costs no request
    /// until its visibility actually needs extending.
    pub fn start_at(
        first_beat: tokio::time::Instant,
        acker: Acker,
        receipt_handle: String,
        interval: Duration,
        extend_by: Duration,
        received_at: Instant,
        hard_deadline: Instant,
    ) -> Self {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval_at(first_beat, interval);
            loop {
                tokio::select! {
                    () = token.cancelled() => return,
                    _ = ticker.tick() => {}
                }
                let now = Instant::now();
                let sqs_limit = received_at + Duration::from_secs(MAX_VISIBILITY_SECS);
                let until = (now + extend_by).min(hard_deadline + interval).min(sqs_limit);
                let secs = until.saturating_duration_since(now).as_secs();
                if secs == 0 {
                    return;
                }
                if let Err(e) = acker.change_visibility(&receipt_handle, secs as i32).await {
                    tracing::warn!(error = %e, "visibility heartbeat failed; the message may be redelivered");
                }
            }
        });
        Self { stop, task: Some(task) }
    }

    /// Stops extending and waits for an extension in flight, so it cannot
    /// land after the runtime's own final visibility change.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A heartbeat (or anything `start` makes) that only starts if work run
/// through [`Lazy::during`] is still going at `first_beat`. A job that is
/// done by then costs one timer entry instead of a task, a cancellation
/// token and an interval.
#[derive(Debug)]
pub struct Lazy<S, H> {
    first_beat: tokio::time::Instant,
    start: Option<S>,
    started: Option<H>,
}

impl<S: FnOnce() -> H, H> Lazy<S, H> {
    pub fn new(first_beat: tokio::time::Instant, start: S) -> Self {
        Self { first_beat, start: Some(start), started: None }
    }

    /// Runs `work`, starting the heartbeat if `work` outlasts `first_beat`.
    /// Called once per phase that needs cover (the handler, then the outcome
    /// write); the heartbeat, once started, runs until [`Lazy::into_started`]
    /// is stopped.
    pub async fn during<F: Future>(&mut self, work: F) -> F::Output {
        let mut work = std::pin::pin!(work);
        if self.started.is_none() {
            tokio::select! {
                biased;
                output = &mut work => return output,
                () = tokio::time::sleep_until(self.first_beat) => {
                    self.started = self.start.take().map(|start| start());
                }
            }
        }
        work.await
    }
}

impl<S, H> Lazy<S, H> {
    /// The heartbeat, if it was started.
    pub fn into_started(self) -> Option<H> {
        self.started
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use tokio::sync::oneshot;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn work_done_before_the_first_beat_starts_no_heartbeat() {
        let starts = Arc::new(AtomicU32::new(0));
        let counter = starts.clone();
        let mut lazy = Lazy::new(tokio::time::Instant::now() + Duration::from_secs(600), move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(lazy.during(async { 1 }).await, 1);
        assert_eq!(lazy.during(async { 2 }).await, 2);
        assert!(lazy.into_started().is_none());
        assert_eq!(starts.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn work_still_running_at_the_first_beat_gets_a_heartbeat_once() {
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let mut started_tx = Some(started_tx);
        let starts = Arc::new(AtomicU32::new(0));
        let counter = starts.clone();
        let mut lazy = Lazy::new(tokio::time::Instant::now() + Duration::from_millis(20), move || {
            counter.fetch_add(1, Ordering::SeqCst);
            if let Some(tx) = started_tx.take() {
                let _ = tx.send(());
            }
            "heartbeat"
        });
        // This work can only finish once the heartbeat has started.
        let output = tokio::time::timeout(Duration::from_secs(60), lazy.during(async { started_rx.await.is_ok() })).await;
        assert_eq!(output.ok(), Some(true), "the heartbeat did not start while the work ran");
        // A later phase (the outcome write) keeps the same heartbeat.
        assert_eq!(lazy.during(async { 3 }).await, 3);
        assert_eq!(lazy.into_started(), Some("heartbeat"));
        assert_eq!(starts.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_phase_that_outlasts_the_first_beat_starts_it_too() {
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let mut lazy = Lazy::new(tokio::time::Instant::now() + Duration::from_millis(20), move || {
            let _ = started_tx.send(());
        });
        assert_eq!(lazy.during(async { 1 }).await, 1);
        let output = tokio::time::timeout(Duration::from_secs(60), lazy.during(async { started_rx.await.is_ok() })).await;
        assert_eq!(output.ok(), Some(true), "a slow outcome write must be covered");
        assert!(lazy.into_started().is_some());
    }

    #[test]
    fn delay_grows_exponentially_up_to_the_cap_and_jitter_spans_the_range() {
        assert_eq!(retry_delay_secs(1, 2, 3600, 0.999_999), 2);
        assert_eq!(retry_delay_secs(4, 2, 3600, 0.999_999), 16);
        assert_eq!(retry_delay_secs(30, 2, 3600, 0.999_999), 3600);
        assert_eq!(retry_delay_secs(200, 2, u64::MAX, 0.999_999), MAX_VISIBILITY_SECS);
        assert_eq!(retry_delay_secs(10, 2, 3600, 0.0), 1, "never below 1 s");
        assert_eq!(retry_delay_secs(10, 2, 3600, 0.5), 512);
    }

    #[test]
    fn jitter_is_spread_across_the_whole_window() {
        let mut rng = fastrand::Rng::with_seed(7);
        let delays: Vec<u64> = (0..1000).map(|_| retry_delay_secs(6, 2, 3600, rng.f64())).collect();
        let (min, max) = (delays.iter().min().copied(), delays.iter().max().copied());
        assert!(min.is_some_and(|m| m <= 4), "{min:?}");
        assert!(max.is_some_and(|m| m >= 60), "{max:?}");
        assert!(delays.iter().all(|&d| (1..=64).contains(&d)));
    }
}
