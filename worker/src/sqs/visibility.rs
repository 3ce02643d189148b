//! Visibility: backoff for retries, and heartbeats for long jobs.
//!
//! The visibility clock starts at receive. A job that runs longer than the
//! visibility timeout would be delivered to a second consumer while the
//! first still runs it, so a heartbeat extends the timeout every
//! `heartbeat_interval_secs` until the job finishes or hits its hard timeout.

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
    /// `extend_by` is applied every `interval`, but never beyond `hard_deadline`
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
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
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

#[cfg(test)]
mod tests {
    use super::*;

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
