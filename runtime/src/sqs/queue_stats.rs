//! Queue gauges for dashboards and autoscaling, refreshed on an interval
//! from GetQueueAttributes (2 requests per interval and queue: the queue and
//! its DLQ; a pool with priority queues has several).
//!
//! `jobfleet_queue_backlog_seconds` = visible ÷ this pod's recent completion
//! rate: the pod-seconds of work waiting. Averaged over pods and divided by
//! a target drain time it gives the pods needed (see docs/ARCHITECTURE.md).
//! Only an idle pod (nothing completed in the last interval, nothing
//! running) has no rate to divide by: it assumes `backlog_min_rate_per_sec`
//! (or its decaying recent rate, if higher), so a new backlog still reads as
//! finite. A working pod divides by what it measured, however slow — a
//! floor there would make a slow pool's backlog read many times too low.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jobfleet_contract::Pool;
use tokio_util::sync::CancellationToken;

use crate::admin::Health;
use crate::sqs::Sqs;
use crate::telemetry::{QUEUE_BACKLOG_SECONDS, QUEUE_MESSAGES, QUEUE_OLDEST_MESSAGE_AGE_SECONDS};

/// Counters the processor feeds and the stats task reads.
#[derive(Debug, Default)]
pub struct Activity {
    completions: AtomicU64,
    /// Longest queue wait (ms) among messages received since the last tick.
    max_wait_ms: AtomicU64,
    received: AtomicU64,
    /// Jobs received and not yet completed.
    running: AtomicU64,
}

impl Activity {
    pub fn completed(&self) {
        self.completions.fetch_add(1, Ordering::Relaxed);
        self.running.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn received(&self, queue_wait: Option<Duration>) {
        self.received.fetch_add(1, Ordering::Relaxed);
        self.running.fetch_add(1, Ordering::Relaxed);
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
    /// `running` is the number of jobs in progress at the end of it.
    pub fn tick(
        &mut self,
        elapsed: Duration,
        completions: u64,
        received: u64,
        running: u64,
        max_wait: Duration,
        visible: u64,
    ) -> (f64, f64) {
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
        let idle = completions == 0 && running == 0;
        let rate = if idle || self.rate_per_sec == 0.0 {
            // No measurement to go by: idle, or working on its first jobs.
            self.rate_per_sec.max(self.min_rate)
        } else {
            self.rate_per_sec
        };
        (visible as f64 / rate, self.oldest_age_secs)
    }
}

/// A queue the gauges report: `label` is the `queue` label (`main`, `dlq`,
/// or a priority queue's name and `<name>-dlq`); `backlog` queues' visible
/// messages add up to the pool's backlog.
#[derive(Debug, Clone)]
pub struct Gauged {
    pub label: String,
    pub url: String,
    pub backlog: bool,
}

/// What the gauge refresh reads and feeds.
#[derive(Debug)]
pub struct Gauges {
    pub sqs: Sqs,
    pub pool: Pool,
    /// The pool's queues and their DLQs.
    pub queues: Vec<Gauged>,
    pub activity: Arc<Activity>,
    /// Told each time SQS answers (readiness counts it).
    pub health: Arc<Health>,
    pub interval: Duration,
    pub min_rate: f64,
}

pub async fn run(gauges: Gauges, stop: CancellationToken) {
    let Gauges { sqs, pool, queues, activity, health, interval, min_rate } = gauges;
    let pool_label = pool.as_str();
    let mut estimator = Estimator::new(min_rate);
    let mut last = Instant::now();
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        // The backlog is only known when every queue that adds to it answered.
        let mut backlog_visible = Some(0);
        for queue in &queues {
            match sqs.queue_depth(&queue.url).await {
                Ok((visible, in_flight, delayed)) => {
                    health.sqs_ok();
                    for (state, value) in [("visible", visible), ("in_flight", in_flight), ("delayed", delayed)] {
                        metrics::gauge!(QUEUE_MESSAGES, "pool" => pool_label, "queue" => queue.label.clone(), "state" => state)
                            .set(value as f64);
                    }
                    if queue.backlog {
                        backlog_visible = backlog_visible.map(|sum| sum + visible);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, queue = %queue.label, "queue depth refresh failed");
                    if queue.backlog {
                        backlog_visible = None;
                    }
                }
            }
        }
        let Some(visible) = backlog_visible else { continue };
        let elapsed = last.elapsed();
        last = Instant::now();
        let (backlog, oldest) = estimator.tick(
            elapsed,
            activity.completions.swap(0, Ordering::Relaxed),
            activity.received.swap(0, Ordering::Relaxed),
            activity.running.load(Ordering::Relaxed),
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

    const SECS: Duration = Duration::from_secs(15);

    /// media under load: ~0.13 jobs/s per pod. The gauge must divide by
    /// that, not by the 1/s floor (which read 7.5× too low).
    #[test]
    fn a_working_pod_divides_by_its_measured_rate_however_slow() {
        let mut e = Estimator::new(1.0);
        // 2 completions per 15 s with 2 running: 0.133/s.
        let (backlog, _) = e.tick(SECS, 2, 2, 2, Duration::ZERO, 40);
        assert!((backlog - 300.0).abs() < 1e-6, "40 visible at 2/15 per s is 300 s: {backlog}");
    }

    /// ai: one completion every ~33 s, so most intervals complete nothing
    /// while jobs run. The pod is working, not idle: no floor.
    #[test]
    fn an_interval_without_completions_while_jobs_run_is_not_idle() {
        let mut e = Estimator::new(1.0);
        let (first, _) = e.tick(SECS, 1, 1, 2, Duration::ZERO, 10);
        assert!((first - 150.0).abs() < 1e-6, "10 at 1/15 per s: {first}");
        let (second, _) = e.tick(SECS, 0, 0, 2, Duration::ZERO, 10);
        assert!((second - 300.0).abs() < 1e-6, "the smoothed rate halves, the backlog doubles: {second}");
        assert!(second > 10.0, "a floor of 1/s would have read 10 s");
    }

    #[test]
    fn an_idle_pod_assumes_the_floor_rate() {
        let mut idle = Estimator::new(2.0);
        let (backlog, _) = idle.tick(SECS, 0, 0, 0, Duration::ZERO, 100);
        assert!((backlog - 50.0).abs() < 1e-9, "floor rate 2/s: {backlog}");
    }

    /// A pod that just went idle after fast work keeps its (decaying)
    /// measured rate while it is above the floor: max(rate, floor).
    #[test]
    fn a_pod_turning_idle_uses_the_higher_of_its_recent_rate_and_the_floor() {
        let mut e = Estimator::new(1.0);
        let (busy, _) = e.tick(Duration::from_secs(10), 1000, 1000, 0, Duration::from_secs(2), 500);
        assert!((busy - 5.0).abs() < 1e-9, "500 visible at 100/s is 5 s: {busy}");
        let (cooling, _) = e.tick(Duration::from_secs(10), 0, 0, 0, Duration::ZERO, 500);
        assert!((cooling - 10.0).abs() < 1e-9, "rate halves to 50/s: {cooling}");
        for _ in 0..10 {
            e.tick(Duration::from_secs(10), 0, 0, 0, Duration::ZERO, 500);
        }
        let (idle, _) = e.tick(Duration::from_secs(10), 0, 0, 0, Duration::ZERO, 500);
        assert!((idle - 500.0).abs() < 1e-9, "long idle: the floor, 1/s: {idle}");
    }

    /// Busy on its first jobs, nothing completed yet: no rate measured, so
    /// the floor stands in rather than a division by zero.
    #[test]
    fn a_pod_on_its_first_jobs_uses_the_floor() {
        let mut e = Estimator::new(1.0);
        let (backlog, _) = e.tick(SECS, 0, 2, 2, Duration::ZERO, 30);
        assert!((backlog - 30.0).abs() < 1e-9, "{backlog}");
    }

    #[test]
    fn oldest_age_tracks_receives_and_grows_when_nothing_is_taken() {
        let mut e = Estimator::new(1.0);
        let (_, age) = e.tick(Duration::from_secs(15), 10, 10, 0, Duration::from_secs(3), 5);
        assert!((age - 3.0).abs() < 1e-9);
        let (_, age) = e.tick(Duration::from_secs(15), 0, 0, 0, Duration::ZERO, 5);
        assert!((age - 18.0).abs() < 1e-9);
        let (_, age) = e.tick(Duration::from_secs(15), 0, 0, 0, Duration::ZERO, 0);
        assert_eq!(age, 0.0);
    }
}
