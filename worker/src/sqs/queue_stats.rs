//! Queue gauges for dashboards and autoscaling, refreshed on an interval
//! from GetQueueAttributes (2 requests per interval: queue and DLQ).
//!
//! `jobfleet_queue_backlog_seconds` = visible ÷ this pod's recent completion
//! rate: the pod-seconds of work waiting. Averaged over pods and divided by
//! a target drain time it gives the pods needed (see docs/ARCHITECTURE.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jobs::Pool;
use tokio_util::sync::CancellationToken;

use crate::sqs::Sqs;
use crate::telemetry::{QUEUE_BACKLOG_SECONDS, QUEUE_MESSAGES, QUEUE_OLDEST_MESSAGE_AGE_SECONDS};

/// Counters the processor feeds and the stats task reads.
#[derive(Debug, Default)]
pub struct Activity {
    completions: AtomicU64,
    /// Longest queue wait (ms) among messages received since the last tick.
    max_wait_ms: AtomicU64,
    received: AtomicU64,
}

impl Activity {
    pub fn completed(&self) {
        self.completions.fetch_add(1, Ordering::Relaxed);
    }

    pub fn received(&self, queue_wait: Option<Duration>) {
        self.received.fetch_add(1, Ordering::Relaxed);
        if let Some(wait) = queue_wait {
            self.max_wait_ms.fetch_max(wait.as_millis() as u64, Ordering::Relaxed);
        }
    }
}

/// Smoothed completion rate and oldest-age estimate, updated per tick.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimator {
    rate_per_sec: f64,
    oldest_age_secs: f64,
    min_rate: f64,
}

impl Estimator {
    pub fn new(min_rate: f64) -> Self {
        Self { rate_per_sec: 0.0, oldest_age_secs: 0.0, min_rate }
    }

    /// Folds in one interval; returns (backlog seconds, oldest age seconds).
    pub fn tick(&mut self, elapsed: Duration, completions: u64, received: u64, max_wait: Duration, visible: u64) -> (f64, f64) {
        let secs = elapsed.as_secs_f64().max(1e-3);
        let instant_rate = completions as f64 / secs;
        // EWMA with weight ½: reacts within a few intervals, ignores one-off gaps.
        self.rate_per_sec = if self.rate_per_sec == 0.0 { instant_rate } else { 0.5 * self.rate_per_sec + 0.5 * instant_rate };
        self.oldest_age_secs = if visible == 0 {
            0.0
        } else if received > 0 {
            max_wait.as_secs_f64()
        } else {
            // Nobody took anything: whatever was oldest has aged by `elapsed`.
            self.oldest_age_secs + secs
        };
        let backlog = visible as f64 / self.rate_per_sec.max(self.min_rate);
        (backlog, self.oldest_age_secs)
    }
}

pub async fn run(
    sqs: Sqs,
    pool: Pool,
    queues: [(&'static str, String); 2],
    activity: Arc<Activity>,
    interval: Duration,
    min_rate: f64,
    stop: CancellationToken,
) {
    let pool_label = pool.as_str();
    let mut estimator = Estimator::new(min_rate);
    let mut last = Instant::now();
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let mut main_visible = None;
        for (queue_label, url) in &queues {
            match sqs.queue_depth(url).await {
                Ok((visible, in_flight, delayed)) => {
                    for (state, value) in [("visible", visible), ("in_flight", in_flight), ("delayed", delayed)] {
                        metrics::gauge!(QUEUE_MESSAGES, "pool" => pool_label, "queue" => *queue_label, "state" => state).set(value as f64);
                    }
                    if *queue_label == "main" {
                        main_visible = Some(visible);
                    }
                }
                Err(e) => tracing::warn!(error = %e, queue = *queue_label, "queue depth refresh failed"),
            }
        }
        let Some(visible) = main_visible else { continue };
        let elapsed = last.elapsed();
        last = Instant::now();
        let (backlog, oldest) = estimator.tick(
            elapsed,
            activity.completions.swap(0, Ordering::Relaxed),
            activity.received.swap(0, Ordering::Relaxed),
            Duration::from_millis(activity.max_wait_ms.swap(0, Ordering::Relaxed)),
            visible,
        );
        metrics::gauge!(QUEUE_BACKLOG_SECONDS, "pool" => pool_label).set(backlog);
        metrics::gauge!(QUEUE_OLDEST_MESSAGE_AGE_SECONDS, "pool" => pool_label).set(oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backlog_is_visible_over_the_smoothed_rate_with_a_floor() {
        let mut e = Estimator::new(1.0);
        let (backlog, _) = e.tick(Duration::from_secs(10), 1000, 1000, Duration::from_secs(2), 500);
        assert!((backlog - 5.0).abs() < 1e-9, "500 visible at 100/s is 5 s: {backlog}");
        let (backlog, _) = e.tick(Duration::from_secs(10), 0, 0, Duration::ZERO, 500);
        assert!((backlog - 10.0).abs() < 1e-9, "rate halves to 50/s: {backlog}");
        let mut idle = Estimator::new(2.0);
        let (backlog, _) = idle.tick(Duration::from_secs(10), 0, 0, Duration::ZERO, 100);
        assert!((backlog - 50.0).abs() < 1e-9, "floor rate 2/s: {backlog}");
    }

    #[test]
    fn oldest_age_tracks_receives_and_grows_when_nothing_is_taken() {
        let mut e = Estimator::new(1.0);
        let (_, age) = e.tick(Duration::from_secs(15), 10, 10, Duration::from_secs(3), 5);
        assert!((age - 3.0).abs() < 1e-9);
        let (_, age) = e.tick(Duration::from_secs(15), 0, 0, Duration::ZERO, 5);
        assert!((age - 18.0).abs() < 1e-9);
        let (_, age) = e.tick(Duration::from_secs(15), 0, 0, Duration::ZERO, 0);
        assert_eq!(age, 0.0);
    }
}
