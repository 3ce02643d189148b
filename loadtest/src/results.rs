//! What a suite run records (results.json), and what the report reads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stats::Summary;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Consumer {
    Jobfleet,
    SqsConsumerMessage,
    SqsConsumerBatch,
    Celery,
}

impl Consumer {
    pub const ALL: [Consumer; 4] = [Consumer::Jobfleet, Consumer::SqsConsumerMessage, Consumer::SqsConsumerBatch, Consumer::Celery];

    pub fn label(self) -> &'static str {
        match self {
            Consumer::Jobfleet => "jobfleet worker",
            Consumer::SqsConsumerMessage => "sqs-consumer (per message)",
            Consumer::SqsConsumerBatch => "sqs-consumer (batch)",
            Consumer::Celery => "Celery (SQS transport)",
        }
    }

    pub fn slug(self) -> &'static str {
        match self {
            Consumer::Jobfleet => "jobfleet",
            Consumer::SqsConsumerMessage => "sqsc-msg",
            Consumer::SqsConsumerBatch => "sqsc-batch",
            Consumer::Celery => "celery",
        }
    }
}

/// The emulator's ceiling: a bare SDK loop (send batch 10 → receive 10 →
/// delete batch 10) with `concurrency` loops.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ceiling {
    pub msgs_per_sec: f64,
    pub concurrency: usize,
    pub secs: f64,
    /// CPU the emulator process used, as a fraction of one core.
    pub emulator_cores: Option<f64>,
    /// CPU the loop itself used, as a fraction of one core.
    pub client_cores: f64,
}

/// Draining a backlog of `jobs` no-op jobs (the consumer is paused with
/// SIGSTOP while the backlog is written, then resumed).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Saturation {
    pub consumer: Option<Consumer>,
    pub processes: usize,
    pub jobs: u64,
    /// Jobs gone from the queue when the measurement ended (all of them,
    /// unless the drain hit the time box).
    pub processed: u64,
    pub time_boxed: bool,
    /// Jobs the consumer reported handling (ledger or its own count).
    pub handled: u64,
    pub secs: f64,
    pub jobs_per_sec: f64,
    pub cpu_secs: f64,
    pub cpu_us_per_job: f64,
    /// CPU used while draining ÷ wall time (cores).
    pub cores: f64,
    pub emulator_cores: Option<f64>,
    pub idle_rss_kib: u64,
    pub peak_rss_kib: u64,
    /// CPU used while idle (no messages), % of one core.
    pub idle_cpu_pct: f64,
    /// Spawn → first ReceiveMessage at the emulator.
    pub start_secs: f64,
    pub requests_emulator: BTreeMap<String, u64>,
    pub requests_per_job_emulator: f64,
    /// From jobfleet_sqs_requests_total (ours only).
    pub requests_per_job_metrics: Option<f64>,
    pub load_avg: f64,
}

/// Jobs offered at a fixed rate (open loop); enqueue→handler-start latency.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LatencyPoint {
    pub consumer: Option<Consumer>,
    /// Fraction of the consumer's measured saturation throughput offered.
    pub load_fraction: f64,
    pub offered_per_sec: f64,
    pub achieved_send_per_sec: f64,
    pub jobs: u64,
    pub latency_ms: Option<Summary>,
    pub cpu_us_per_job: f64,
    pub requests_per_job_emulator: f64,
    pub load_avg: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Drain {
    pub jobs_sent: u64,
    pub sleep_ms: u64,
    pub rate: f64,
    pub sigterm_after_secs: f64,
    /// SIGTERM → process exit.
    pub drain_secs: f64,
    pub exit_code: Option<i32>,
    /// Jobs started by the first worker (rows in the ledger when it exited).
    pub started_by_first: u64,
    /// Rows left running/retrying when the first worker exited (abandoned).
    pub abandoned: u64,
    /// Messages in flight at the emulator right after exit (should be 0).
    pub in_flight_after_exit: u64,
    /// Visible messages after exit, and how many of them are unstarted ids.
    pub visible_after_exit: u64,
    pub unstarted_after_exit: u64,
    /// After a second worker finished the rest:
    pub succeeded: u64,
    pub lost: u64,
    pub attempts_over_one: u64,
    pub redelivered_after_completion: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Repeat {
    pub ceiling: Ceiling,
    pub saturation: Vec<Saturation>,
    pub mixed: Option<Saturation>,
    pub sweep: Vec<LatencyPoint>,
    pub peer_latency: Vec<LatencyPoint>,
    pub fleet: Vec<Saturation>,
    pub drain: Option<Drain>,
    /// Scenarios that failed, with the error.
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Environment {
    pub started_at: String,
    pub wall_secs: f64,
    pub cpus: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub mem_total_mib: u64,
    pub versions: BTreeMap<String, String>,
    pub settings: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Results {
    pub environment: Environment,
    pub repeats: Vec<Repeat>,
}
