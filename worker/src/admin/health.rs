//! Liveness and readiness.
//!
//! Ready means: a poll succeeded recently, the database answered recently,
//! and we are not draining. Kubernetes stops routing to (and KEDA/alerts
//! look at) a pod that is not ready; liveness stays true while the process
//! runs, so a dependency outage does not turn into a restart storm.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Health {
    origin: Instant,
    max_age: Duration,
    /// Milliseconds since `origin` + 1 of the last success (0 = never).
    last_poll_ok: AtomicU64,
    last_db_ok: AtomicU64,
    draining: AtomicBool,
}

impl Health {
    pub fn new(max_age: Duration) -> Self {
        Self {
            origin: Instant::now(),
            max_age,
            last_poll_ok: AtomicU64::new(0),
            last_db_ok: AtomicU64::new(0),
            draining: AtomicBool::new(false),
        }
    }

    fn stamp(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64 + 1
    }

    pub fn poll_ok(&self) {
        self.last_poll_ok.store(self.stamp(), Ordering::Relaxed);
    }

    pub fn poll_failed(&self) {
        // Nothing to record: readiness lapses when successes stop.
    }

    pub fn db_ok(&self) {
        self.last_db_ok.store(self.stamp(), Ordering::Relaxed);
    }

    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    fn fresh(&self, stamp: &AtomicU64) -> bool {
        let at = stamp.load(Ordering::Relaxed);
        at != 0 && self.stamp().saturating_sub(at) <= self.max_age.as_millis() as u64
    }

    /// `Ok` when ready, else the reasons it is not.
    pub fn readiness(&self) -> Result<(), Vec<&'static str>> {
        let mut reasons = Vec::new();
        if self.is_draining() {
            reasons.push("draining");
        }
        if !self.fresh(&self.last_poll_ok) {
            reasons.push("no successful SQS poll recently");
        }
        if !self.fresh(&self.last_db_ok) {
            reasons.push("database not reachable recently");
        }
        if reasons.is_empty() { Ok(()) } else { Err(reasons) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_with_fresh_poll_and_database_and_not_draining() {
        let health = Health::new(Duration::from_secs(60));
        assert_eq!(health.readiness().err().map(|r| r.len()), Some(2));
        health.poll_ok();
        assert!(health.readiness().is_err());
        health.db_ok();
        assert!(health.readiness().is_ok());
        health.set_draining();
        assert_eq!(health.readiness().err(), Some(vec!["draining"]));
    }

    #[test]
    fn stale_successes_do_not_count() {
        let health = Health::new(Duration::ZERO);
        health.poll_ok();
        health.db_ok();
        std::thread::sleep(Duration::from_millis(5));
        assert!(health.readiness().is_err());
    }
}
