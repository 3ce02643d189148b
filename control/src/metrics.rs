//! The fleet service's own metric names (CONTRACTS.md, "The fleet service";
//! alerts in charts/observability read them). Every series has the `pool`
//! label only (plus `queue`/`state` on the queue gauge): bounded by the
//! configured pools.

pub use jobfleet_runtime::telemetry::QUEUE_MESSAGES;

pub const QUEUE_VISIBLE_DURATION_SECONDS: &str = "jobfleet_queue_visible_duration_seconds";
pub const POOL_IDLE_SECONDS: &str = "jobfleet_pool_idle_seconds";
pub const POOL_DESIRED_REPLICAS: &str = "jobfleet_pool_desired_replicas";
pub const POOL_MEAN_JOB_SECONDS: &str = "jobfleet_pool_mean_job_seconds";

pub(crate) fn describe() {
    use metrics::{Unit, describe_gauge};
    describe_gauge!(
        QUEUE_VISIBLE_DURATION_SECONDS,
        Unit::Seconds,
        "Seconds the pool's main queue has had visible messages without a break (0 when empty): an upper bound of the oldest visible message's age."
    );
    describe_gauge!(POOL_IDLE_SECONDS, Unit::Seconds, "Seconds since the ledger last recorded a job start in the pool.");
    describe_gauge!(POOL_DESIRED_REPLICAS, "Replicas the drain-time scaler recommends for the pool (what it gives KEDA).");
    describe_gauge!(
        POOL_MEAN_JOB_SECONDS,
        Unit::Seconds,
        "Mean run time of the pool's recently finished jobs (ledger), or the cold-start estimate without history."
    );
}
