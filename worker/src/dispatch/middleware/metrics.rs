//! Outcome counters, retry counters, duration histogram and in-flight gauge.

use std::time::Instant;

use jobs::JobError;

use super::{BoxFuture, Middleware, Next};
use crate::dispatch::{Failure, Invocation};
use crate::telemetry::{self, JOB_DURATION_SECONDS, JOB_RETRIES_TOTAL, JOBS_IN_FLIGHT, Outcome};

#[derive(Debug, Clone, Copy, Default)]
pub struct Metrics;

/// The `outcome` label for a run's result.
pub fn outcome_of(result: &Result<serde_json::Value, Failure>) -> Outcome {
    match result {
        Ok(_) => Outcome::Success,
        Err(Failure::Timeout(_)) => Outcome::Timeout,
        Err(Failure::Exhausted { .. }) => Outcome::Dead,
        Err(f) if f.is_retryable() => Outcome::Retry,
        Err(_) => Outcome::Failed,
    }
}

fn retry_kind(failure: &Failure) -> Option<&'static str> {
    match failure {
        Failure::Job(JobError::Retryable { .. }) => Some("retryable"),
        Failure::Job(JobError::RetryAfter { .. }) => Some("retry_after"),
        Failure::Timeout(_) => Some("timeout"),
        Failure::Panic(_) => Some("panic"),
        Failure::Job(JobError::Permanent { .. }) | Failure::Exhausted { .. } => None,
    }
}

impl Middleware for Metrics {
    fn around(&self, inv: Invocation, next: Next) -> BoxFuture {
        let pool = inv.ctx.pool.as_str();
        let job_type = inv.job_type;
        Box::pin(async move {
            let in_flight = metrics::gauge!(JOBS_IN_FLIGHT, "pool" => pool);
            in_flight.increment(1.0);
            let started = Instant::now();
            let result = next(inv).await;
            in_flight.decrement(1.0);
            let outcome = outcome_of(&result);
            metrics::histogram!(JOB_DURATION_SECONDS, "pool" => pool, "job_type" => job_type, "outcome" => outcome.as_str())
                .record(started.elapsed().as_secs_f64());
            telemetry::count_job(pool, job_type, outcome);
            if let Err(kind) = result.as_ref().map_err(retry_kind)
                && let Some(kind) = kind
                && outcome != Outcome::Dead
            {
                metrics::counter!(JOB_RETRIES_TOTAL, "pool" => pool, "job_type" => job_type, "kind" => kind).increment(1);
            }
            result
        })
    }
}
