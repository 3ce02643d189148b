//! Logging and metrics set-up, and the metric names (the contract with the
//! dashboards, alerts and autoscalers in `charts/`: change them together).
//!
//! Labels are bounded: pool, job type (only types registered in the router;
//! anything else is `unknown`), outcome, SQS operation. Never ids, URLs or
//! error strings.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

pub const JOBS_TOTAL: &str = "jobfleet_jobs_total";
pub const JOB_RETRIES_TOTAL: &str = "jobfleet_job_retries_total";
pub const JOB_DURATION_SECONDS: &str = "jobfleet_job_duration_seconds";
pub const JOB_QUEUE_WAIT_SECONDS: &str = "jobfleet_job_queue_wait_seconds";
pub const JOBS_IN_FLIGHT: &str = "jobfleet_jobs_in_flight";
pub const POOL_CONCURRENCY: &str = "jobfleet_pool_concurrency";
pub const QUEUE_MESSAGES: &str = "jobfleet_queue_messages";
pub const QUEUE_OLDEST_MESSAGE_AGE_SECONDS: &str = "jobfleet_queue_oldest_message_age_seconds";
pub const QUEUE_BACKLOG_SECONDS: &str = "jobfleet_queue_backlog_seconds";
pub const SQS_REQUESTS_TOTAL: &str = "jobfleet_sqs_requests_total";
pub const WORKER_READY: &str = "jobfleet_worker_ready";
pub const FIFO_WAITING_MESSAGES: &str = "jobfleet_fifo_waiting_messages";
pub const POOL_ACTIVE_TENANTS: &str = "jobfleet_pool_active_tenants";
pub const TENANT_WAITING_MESSAGES: &str = "jobfleet_tenant_waiting_messages";

/// The job-type label for messages whose type is not one we handle: the
/// type string comes from the producer and must not become a label value.
pub const UNKNOWN_JOB_TYPE: &str = "unknown";

/// `outcome` label values of `jobfleet_jobs_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Retry,
    Failed,
    Dead,
    Timeout,
    Duplicate,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Retry => "retry",
            Outcome::Failed => "failed",
            Outcome::Dead => "dead",
            Outcome::Timeout => "timeout",
            Outcome::Duplicate => "duplicate",
        }
    }
}

/// Counts one finished delivery.
pub fn count_job(pool: &'static str, job_type: &'static str, outcome: Outcome) {
    metrics::counter!(JOBS_TOTAL, "pool" => pool, "job_type" => job_type, "outcome" => outcome.as_str()).increment(1);
}

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide Prometheus recorder once and returns its handle
/// (tests run several runtimes in one process; they share it).
pub fn prometheus() -> PrometheusHandle {
    PROMETHEUS
        .get_or_init(|| {
            let duration_buckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(JOB_DURATION_SECONDS.into()), &duration_buckets)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(JOB_QUEUE_WAIT_SECONDS.into()), &duration_buckets));
            let recorder = match builder {
                Ok(builder) => builder.build_recorder(),
                // Only reachable with an empty bucket list, which we never pass.
                Err(_) => PrometheusBuilder::new().build_recorder(),
            };
            let handle = recorder.handle();
            // A recorder may already be installed by an embedding program; then
            // our handle renders only what we record through it, which is fine.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(JOBS_TOTAL, "Deliveries finished, by outcome.");
    describe_counter!(JOB_RETRIES_TOTAL, "Deliveries scheduled for a retry, by kind (retryable, retry_after, timeout, panic).");
    describe_histogram!(JOB_DURATION_SECONDS, Unit::Seconds, "Handler run time, by outcome.");
    describe_histogram!(JOB_QUEUE_WAIT_SECONDS, Unit::Seconds, "Time from SQS SentTimestamp to receive.");
    describe_gauge!(JOBS_IN_FLIGHT, "Handlers running now.");
    describe_gauge!(POOL_CONCURRENCY, "Handlers this process may run at once.");
    describe_gauge!(QUEUE_MESSAGES, "Approximate messages in the pool's queue (main) and dead-letter queue (dlq), by state.");
    describe_gauge!(QUEUE_OLDEST_MESSAGE_AGE_SECONDS, Unit::Seconds, "Estimated age of the oldest visible message.");
    describe_gauge!(
        QUEUE_BACKLOG_SECONDS,
        Unit::Seconds,
        "Visible messages divided by this pod's recent completion rate: pod-seconds of queued work."
    );
    describe_counter!(SQS_REQUESTS_TOTAL, "SQS API requests, by operation and result (ok, error).");
    describe_gauge!(FIFO_WAITING_MESSAGES, "FIFO pools: received messages waiting in this pod behind the running message of their group.");
    describe_gauge!(POOL_ACTIVE_TENANTS, "Fair pools: tenants (MessageGroupIds) with jobs running or waiting in this pod.");
    describe_gauge!(
        TENANT_WAITING_MESSAGES,
        "Fair pools: received messages waiting in this pod for their tenant to be under its share of the slots."
    );
    describe_gauge!(WORKER_READY, "1 when the worker is ready (SQS and the database answering, not draining; busy counts as ready).");
}

/// Installs the global tracing subscriber. `RUST_LOG` filters (default `info`).
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    // try_init: a second call (tests) keeps the first subscriber.
    let _ = match format {
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json().flatten_event(true).with_current_span(true).with_span_list(false))
            .try_init(),
        LogFormat::Pretty => registry.with(tracing_subscriber::fmt::layer().compact()).try_init(),
    };
}
