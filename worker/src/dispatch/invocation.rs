//! What flows through the middleware stack.

use std::time::Duration;

use jobs::{Envelope, JobContext, JobError};
use serde_json::Value;

/// One run of one job: the decoded envelope (payload resolved) and its context.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub envelope: Envelope,
    pub ctx: JobContext,
    pub message_id: String,
    /// The registered type name (a `&'static str`, safe as a metric label).
    pub job_type: &'static str,
}

/// Why a run did not succeed. [`JobError`] is the handler's verdict; the
/// other variants are the runtime's.
#[derive(Debug, Clone)]
pub enum Failure {
    Job(JobError),
    /// The handler ran past its timeout and was dropped.
    Timeout(Duration),
    /// The handler panicked; the panic message.
    Panic(String),
    /// A failure that would be retried, on the last allowed attempt.
    Exhausted {
        attempts: u32,
        last: Box<Failure>,
    },
}

impl Failure {
    /// Stable class for the ledger and the DLQ `error_class` attribute.
    pub fn class(&self) -> &'static str {
        match self {
            Failure::Job(e) => e.class(),
            Failure::Timeout(_) => "timeout",
            Failure::Panic(_) => "panic",
            Failure::Exhausted { .. } => "max_attempts_exceeded",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Failure::Job(e) => e.message().to_owned(),
            Failure::Timeout(d) => format!("handler ran longer than its {} s timeout", d.as_secs()),
            Failure::Panic(m) => format!("handler panicked: {m}"),
            Failure::Exhausted { attempts, last } => {
                format!("gave up after {attempts} attempts; last error ({}): {}", last.class(), last.message())
            }
        }
    }

    /// Whether the message would come back for another attempt.
    pub fn is_retryable(&self) -> bool {
        match self {
            Failure::Job(e) => !e.is_permanent(),
            Failure::Timeout(_) | Failure::Panic(_) => true,
            Failure::Exhausted { .. } => false,
        }
    }
}

pub type JobResult = Result<Value, Failure>;
