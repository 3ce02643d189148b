//! Liveness and readiness.
//!
//! Ready means "can make progress": SQS and the database both answered
//! within `max_age`, and we are not draining. A pod whose every slot is busy
//! does not poll, so a poll alone cannot be the SQS signal: polls, the queue
//! gauges' GetQueueAttributes and, when neither ran lately, a dedicated cheap
//! check ([`watch`]) all count as SQS answering. Busy is not unready —
//! Kubernetes (PDB eviction, alerts, the drain-time estimate per ready pod)
//! must keep seeing a saturated pool as healthy.
//!
//! Liveness stays true while the process runs, so a dependency outage does
//! not turn into a restart storm.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use std::time::Instant;

use tokio_util::sync::CancellationToken;

#[derive(Debug)]
pub struct Health {
    origin: Instant,
    /// Moves this health's clock forward: unit tests age answers without
    /// waiting for them.
    #[cfg(test)]
    skew_ms: AtomicU64,
    max_age: Duration,
    /// Milliseconds since `origin` + 1 of the last success (0 = never).
    last_sqs_ok: AtomicU64,
    last_db_ok: AtomicU64,
    draining: AtomicBool,
}

/// A dependency readiness depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    Sqs,
    Database,
}

impl Dependency {
    fn as_str(self) -> &'static str {
        match self {
            Dependency::Sqs => "SQS",
            Dependency::Database => "database",
        }
    }
}

impl Health {
    pub fn new(max_age: Duration) -> Self {
        Self {
            origin: Instant::now(),
            #[cfg(test)]
            skew_ms: AtomicU64::new(0),
            max_age,
            last_sqs_ok: AtomicU64::new(0),
            last_db_ok: AtomicU64::new(0),
            draining: AtomicBool::new(false),
        }
    }

    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    fn stamp(&self) -> u64 {
        #[cfg(test)]
        let skew = self.skew_ms.load(Ordering::Relaxed);
        #[cfg(not(test))]
        let skew = 0;
        self.origin.elapsed().as_millis() as u64 + skew + 1
    }

    #[cfg(test)]
    fn advance(&self, by: Duration) {
        self.skew_ms.fetch_add(by.as_millis() as u64, Ordering::Relaxed);
    }

    fn slot(&self, dependency: Dependency) -> &AtomicU64 {
        match dependency {
            Dependency::Sqs => &self.last_sqs_ok,
            Dependency::Database => &self.last_db_ok,
        }
    }

    /// `dependency` answered just now.
    pub fn answered(&self, dependency: Dependency) {
        self.slot(dependency).fetch_max(self.stamp(), Ordering::Relaxed);
    }

    /// An SQS call (a poll, a gauge refresh, a check) succeeded.
    pub fn sqs_ok(&self) {
        self.answered(Dependency::Sqs);
    }

    pub fn db_ok(&self) {
        self.answered(Dependency::Database);
    }

    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// How long ago `dependency` last answered; `None` if it never did.
    pub fn since(&self, dependency: Dependency) -> Option<Duration> {
        match self.slot(dependency).load(Ordering::Relaxed) {
            0 => None,
            at => Some(Duration::from_millis(self.stamp().saturating_sub(at))),
        }
    }

    fn fresh(&self, dependency: Dependency) -> bool {
        self.since(dependency).is_some_and(|age| age <= self.max_age)
    }

    /// `Ok` when ready, else the reasons it is not.
    pub fn readiness(&self) -> Result<(), Vec<&'static str>> {
        let mut reasons = Vec::new();
        if self.is_draining() {
            reasons.push("draining");
        }
        if !self.fresh(Dependency::Sqs) {
            reasons.push("SQS has not answered recently");
        }
        if !self.fresh(Dependency::Database) {
            reasons.push("database has not answered recently");
        }
        if reasons.is_empty() { Ok(()) } else { Err(reasons) }
    }
}

/// How often [`watch`] looks at a dependency: a quarter of the max age
/// (between 100 ms and 5 s), so a dependency is checked at least twice
/// before its last answer expires.
pub fn check_interval(max_age: Duration) -> Duration {
    (max_age / 4).clamp(Duration::from_millis(100), Duration::from_secs(5))
}

/// Keeps `dependency` fresh while nothing else talks to it (every slot busy,
/// so no poll is due): when its last answer is older than half the max age,
/// runs `check` (bounded by that half) and records a success. Cheap by
/// construction — a worker that polls never checks. Runs until `stop`.
pub async fn watch<F, Fut, E>(health: Arc<Health>, dependency: Dependency, check: F, stop: CancellationToken)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let half = health.max_age() / 2;
    let mut ticker = tokio::time::interval(check_interval(health.max_age()));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        if health.since(dependency).is_some_and(|age| age < half) {
            continue;
        }
        let outcome = tokio::select! {
            () = stop.cancelled() => return,
            outcome = tokio::time::timeout(half.max(Duration::from_millis(100)), check()) => outcome,
        };
        match outcome {
            Ok(Ok(())) => health.answered(dependency),
            Ok(Err(e)) => tracing::warn!(error = %e, dependency = dependency.as_str(), "readiness check failed"),
            Err(_) => tracing::warn!(dependency = dependency.as_str(), "readiness check timed out"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;

    #[test]
    fn ready_only_with_fresh_sqs_and_database_and_not_draining() {
        let health = Health::new(Duration::from_secs(60));
        assert_eq!(health.readiness().err().map(|r| r.len()), Some(2));
        health.sqs_ok();
        assert!(health.readiness().is_err());
        health.db_ok();
        assert!(health.readiness().is_ok());
        health.set_draining();
        assert_eq!(health.readiness().err(), Some(vec!["draining"]));
    }

    #[test]
    fn answers_expire_after_the_max_age() {
        let health = Health::new(Duration::from_secs(60));
        health.sqs_ok();
        health.db_ok();
        health.advance(Duration::from_secs(59));
        assert!(health.readiness().is_ok(), "59 s old answers are fresh");
        health.advance(Duration::from_secs(2));
        assert_eq!(health.readiness().err().map(|r| r.len()), Some(2));
        health.sqs_ok();
        assert_eq!(health.readiness().err(), Some(vec!["database has not answered recently"]));
    }

    /// A pod whose every slot is busy never polls: the watcher's checks keep
    /// it ready for as long as they succeed, and it turns unready within
    /// the max age once SQS stops answering. (Short, real durations: the
    /// watcher runs on tokio's clock.)
    #[tokio::test]
    async fn a_busy_pod_stays_ready_while_its_checks_succeed_and_not_after() {
        let max_age = Duration::from_millis(800);
        let health = Arc::new(Health::new(max_age));
        health.sqs_ok();
        health.db_ok();
        let sqs_up = Arc::new(AtomicBool::new(true));
        let checks = Arc::new(AtomicU64::new(0));
        let stop = CancellationToken::new();
        let check = {
            let (sqs_up, checks) = (sqs_up.clone(), checks.clone());
            move || {
                let (sqs_up, checks) = (sqs_up.clone(), checks.clone());
                async move {
                    checks.fetch_add(1, Ordering::Relaxed);
                    if sqs_up.load(Ordering::Relaxed) { Ok(()) } else { Err("connection refused") }
                }
            }
        };
        tokio::spawn(watch(health.clone(), Dependency::Sqs, check, stop.clone()));
        tokio::spawn(watch(health.clone(), Dependency::Database, || async { Ok::<(), &str>(()) }, stop.clone()));

        // Five max ages of nothing but busy slots: ready throughout.
        let busy = max_age * 5;
        let from = Instant::now();
        while from.elapsed() < busy {
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(health.readiness().is_ok(), "busy is not unready: {:?}", health.readiness());
        }
        let made = checks.load(Ordering::Relaxed);
        assert!(made <= 12, "checks run only when the last answer is half expired: {made} in {busy:?}");

        // SQS stops answering: unready within the max age, never before the last answer expires.
        sqs_up.store(false, Ordering::Relaxed);
        let last = health.since(Dependency::Sqs).expect("answered before");
        let down_at = Instant::now();
        while health.readiness().is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let took = down_at.elapsed();
        assert!(took <= max_age + Duration::from_millis(100), "unready {took:?} after SQS went away (max age {max_age:?})");
        assert!(took + last >= max_age, "the last answer counts for the whole max age");
        assert_eq!(health.readiness().err(), Some(vec!["SQS has not answered recently"]));

        // And ready again once it answers.
        sqs_up.store(true, Ordering::Relaxed);
        let back = Instant::now();
        while health.readiness().is_err() {
            assert!(back.elapsed() < max_age, "ready again within a check interval or two");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.cancel();
    }

    #[tokio::test]
    async fn a_hung_check_does_not_count_and_is_cut_off() {
        let health = Arc::new(Health::new(Duration::from_millis(400)));
        let stop = CancellationToken::new();
        let started = Arc::new(AtomicU64::new(0));
        let counter = started.clone();
        let hang = move || {
            counter.fetch_add(1, Ordering::Relaxed);
            std::future::pending::<Result<(), &str>>()
        };
        tokio::spawn(watch(health.clone(), Dependency::Sqs, hang, stop.clone()));
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        assert_eq!(health.since(Dependency::Sqs), None);
        assert!(started.load(Ordering::Relaxed) >= 2, "a hung check is abandoned and tried again");
        stop.cancel();
    }

    #[test]
    fn check_interval_is_a_quarter_of_the_max_age_within_bounds() {
        assert_eq!(check_interval(Duration::from_secs(60)), Duration::from_secs(5));
        assert_eq!(check_interval(Duration::from_secs(4)), Duration::from_secs(1));
        assert_eq!(check_interval(Duration::from_millis(100)), Duration::from_millis(100));
    }
}
