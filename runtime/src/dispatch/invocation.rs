//! What flows through the middleware stack.

use std::time::{Duration, Instant};

use jobfleet_contract::{Envelope, JobContext, JobError};
use serde_json::Value;

/// One run of one job: the decoded envelope (payload resolved) and its context.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub envelope: Envelope,
    pub ctx: JobContext,
    pub message_id: String,
    /// The registered type name (a `&'static str`, safe as a metric label).
    pub job_type: &'static str,
    /// When the message was received: SQS counts its 12 h visibility limit
    /// from here, so a Retry-After is capped against it.
    pub received: Instant,
}

/// Why a run did not succeed. [`JobError`] is the handler's own account; the
/// other variants are the runtime's. What follows from it (retry, dead-letter)
/// is the [`Verdict`](super::Verdict), decided once from this.
#[derive(Debug, Clone)]
pub enum Failure {
    Job(JobError),
    /// The handler ran past its timeout and was dropped.
    Timeout(Duration),
    /// The handler panicked; the panic message.
    Panic(String),
}

impl Failure {
    /// Stable class for the ledger and the DLQ `error_class` attribute.
    pub fn class(&self) -> &'static str {
        match self {
            Failure::Job(e) => e.class(),
            Failure::Timeout(_) => "timeout",
            Failure::Panic(_) => "panic",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Failure::Job(e) => e.message().to_owned(),
            Failure::Timeout(d) => format!("handler ran longer than its {} s timeout", d.as_secs()),
            Failure::Panic(m) => format!("handler panicked: {m}"),
        }
    }

    /// Whether the message would come back for another attempt.
    pub fn is_retryable(&self) -> bool {
        match self {
            Failure::Job(e) => !e.is_permanent(),
            Failure::Timeout(_) | Failure::Panic(_) => true,
        }
    }
}

pub type JobResult = Result<Value, Failure>;
