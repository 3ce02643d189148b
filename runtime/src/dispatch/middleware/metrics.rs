//! The in-flight gauge, the duration histogram and the retries counter, all
//! read from the run's verdict.

use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::Instant;

use tower::{Layer, Service};

use super::BoxFuture;
use crate::dispatch::{Invocation, Verdict};
use crate::telemetry::{JOB_DURATION_SECONDS, JOB_RETRIES_TOTAL, JOBS_IN_FLIGHT};

#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsLayer;

impl<S> Layer<S> for MetricsLayer {
    type Service = Metrics<S>;

    fn layer(&self, inner: S) -> Metrics<S> {
        Metrics { inner }
    }
}

#[derive(Debug, Clone)]
pub struct Metrics<S> {
    inner: S,
}

/// One job in `jobfleet_jobs_in_flight`, for as long as this value lives.
/// A guard rather than a decrement after the `.await`: a job abandoned at
/// abort (its future dropped mid-run) must leave the gauge too, or the pool
/// reports phantom work forever.
#[derive(Debug)]
struct InFlight(metrics::Gauge);

impl InFlight {
    fn enter(pool: &'static str) -> Self {
        let gauge = metrics::gauge!(JOBS_IN_FLIGHT, "pool" => pool);
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

impl<S> Service<Invocation> for Metrics<S>
where
    S: Service<Invocation, Response = Verdict, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Verdict;
    type Error = Infallible;
    type Future = BoxFuture<Result<Verdict, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, inv: Invocation) -> Self::Future {
        let (pool, job_type) = (inv.ctx.pool.as_str(), inv.job_type);
        let in_flight = InFlight::enter(pool);
        let started = Instant::now();
        let run = self.inner.call(inv);
        Box::pin(async move {
            let verdict = run.await?;
            drop(in_flight);
            let outcome = verdict.outcome().as_str();
            metrics::histogram!(JOB_DURATION_SECONDS, "pool" => pool, "job_type" => job_type, "outcome" => outcome)
                .record(started.elapsed().as_secs_f64());
            if let Some(kind) = verdict.retry_kind() {
                metrics::counter!(JOB_RETRIES_TOTAL, "pool" => pool, "job_type" => job_type, "kind" => kind).increment(1);
            }
            Ok(verdict)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_flight(handle: &metrics_exporter_prometheus::PrometheusHandle) -> Option<f64> {
        let text = handle.render();
        let line = text.lines().find(|l| l.starts_with(JOBS_IN_FLIGHT) && l.contains("pool=\"media\""))?;
        line.rsplit(' ').next()?.parse().ok()
    }

    #[test]
    fn a_job_dropped_mid_run_leaves_the_in_flight_gauge() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            let (first, second) = (InFlight::enter("media"), InFlight::enter("media"));
            assert_eq!(in_flight(&handle), Some(2.0));
            // What an abort does to a running job's future: drop it.
            drop(first);
            assert_eq!(in_flight(&handle), Some(1.0));
            drop(second);
        });
        assert_eq!(in_flight(&handle), Some(0.0));
    }
}
