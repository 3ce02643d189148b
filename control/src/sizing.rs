//! Drain-time sizing: how many pods a pool needs to finish the work it has
//! within a target time, from its queue counts and its recent mean job
//! duration.
//!
//! Queue length alone cannot tell 1,000 messages of 10 ms from 1,000 of
//! 30 s; the work they represent, in slot-seconds, can. Per pod there are
//! `concurrency` slots, so
//!
//! ```text
//! desired = max( ceil((visible + delayed + in_flight) × mean_job_secs ÷ (target_drain_secs × concurrency)),
//!                ceil(in_flight ÷ concurrency),      // pods holding in-flight work are never sized away
//!                1 if anything is queued )            // a lone message wakes the pool
//! ```
//!
//! In-flight messages count with a whole mean duration (their remaining
//! time is unknown), which errs towards keeping capacity while work runs.

/// A pool's queue counts (main queue, approximate, from GetQueueAttributes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Demand {
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
}

impl Demand {
    pub fn total(&self) -> u64 {
        self.visible + self.in_flight + self.delayed
    }

    /// KEDA's activity: any message, queued, delayed or running, keeps the
    /// pool awake (so it never cools down to zero while a job runs).
    pub fn is_active(&self) -> bool {
        self.total() > 0
    }
}

/// What one pod of the pool can do and how fast the pool should drain.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sizing {
    pub mean_job_secs: f64,
    pub concurrency: u32,
    pub target_drain_secs: f64,
}

/// Pods the pool needs (see the module doc). Never more than `u32::MAX`;
/// KEDA's `maxReplicaCount` bounds it further.
pub fn desired_replicas(demand: Demand, sizing: Sizing) -> u32 {
    let concurrency = f64::from(sizing.concurrency.max(1));
    let mean = if sizing.mean_job_secs.is_finite() { sizing.mean_job_secs.max(0.0) } else { 0.0 };
    let drain = if sizing.target_drain_secs.is_finite() && sizing.target_drain_secs > 0.0 { sizing.target_drain_secs } else { 1.0 };
    let work_slot_secs = demand.total() as f64 * mean;
    let by_drain = (work_slot_secs / (drain * concurrency)).ceil();
    let holding = (demand.in_flight as f64 / concurrency).ceil();
    let wake = if demand.visible + demand.delayed > 0 { 1.0 } else { 0.0 };
    by_drain.max(holding).max(wake).min(f64::from(u32::MAX)) as u32
}

/// The pool's mean job seconds from per-type history: each type's mean
/// weighted by how many of its jobs finished (the mix the queue most likely
/// holds, since SQS does not say what is queued). `None` without history.
pub fn pool_mean_secs(per_type: &[(String, u64, f64)]) -> Option<f64> {
    let count: u64 = per_type.iter().map(|(_, n, _)| n).sum();
    if count == 0 {
        return None;
    }
    let total: f64 = per_type.iter().map(|(_, n, mean)| *n as f64 * mean).sum();
    Some(total / count as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizing(mean: f64, concurrency: u32, drain: f64) -> Sizing {
        Sizing { mean_job_secs: mean, concurrency, target_drain_secs: drain }
    }

    #[test]
    fn work_not_message_count_sets_the_size() {
        let queued = Demand { visible: 1000, in_flight: 0, delayed: 0 };
        // 1,000 × 10 ms on 32 slots per pod within 60 s: one pod.
        assert_eq!(desired_replicas(queued, sizing(0.01, 32, 60.0)), 1);
        // 1,000 × 30 s on 2 slots per pod within 600 s: 25 pods.
        assert_eq!(desired_replicas(queued, sizing(30.0, 2, 600.0)), 25);
    }

    #[test]
    fn delayed_messages_count_as_work() {
        let d = Demand { visible: 0, in_flight: 0, delayed: 40 };
        assert_eq!(desired_replicas(d, sizing(30.0, 4, 60.0)), 5);
    }

    #[test]
    fn a_lone_message_wakes_the_pool() {
        let d = Demand { visible: 1, in_flight: 0, delayed: 0 };
        assert_eq!(desired_replicas(d, sizing(0.001, 64, 600.0)), 1);
        assert!(d.is_active());
        assert!(!Demand::default().is_active());
        assert_eq!(desired_replicas(Demand::default(), sizing(30.0, 2, 60.0)), 0);
    }

    #[test]
    fn in_flight_work_is_never_sized_away() {
        // 12 running jobs on 4 slots per pod: at least 3 pods, however short the jobs.
        let d = Demand { visible: 0, in_flight: 12, delayed: 0 };
        assert_eq!(desired_replicas(d, sizing(0.001, 4, 600.0)), 3);
        assert!(d.is_active(), "running jobs keep the pool from cooling to zero");
    }

    #[test]
    fn bad_inputs_do_not_panic_or_explode() {
        let d = Demand { visible: 5, in_flight: 0, delayed: 0 };
        assert_eq!(desired_replicas(d, sizing(f64::NAN, 0, 0.0)), 1);
        assert_eq!(desired_replicas(d, sizing(f64::INFINITY, 1, f64::NAN)), 1);
    }

    #[test]
    fn the_pool_mean_weights_types_by_count() {
        assert_eq!(pool_mean_secs(&[]), None);
        let mixed = [("notify.email".to_owned(), 900, 0.05), ("ai.generate".to_owned(), 100, 30.0)];
        let mean = pool_mean_secs(&mixed).expect("history");
        assert!((mean - (900.0 * 0.05 + 100.0 * 30.0) / 1000.0).abs() < 1e-9, "{mean}");
    }
}
