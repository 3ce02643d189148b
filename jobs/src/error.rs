//! The handler's verdict on a failure.

use std::fmt;
use std::time::Duration;

/// How a job failed, and so what the runtime does with its message.
///
/// Each variant carries a `class`: a short, stable, snake_case name
/// (`"unknown_version"`, `"upstream_5xx"`, …). Classes are what operators filter
/// dead-letter queues by and what the ledger stores, so they must come from a
/// small fixed set per handler — never from input data. The `message` is for
/// humans and may contain details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// Transient: the message becomes visible again after an exponential
    /// backoff (full jitter) computed from its receive count.
    Retryable { class: &'static str, message: String },
    /// The peer told us when to come back (HTTP 429/503 `Retry-After`, …):
    /// the message becomes visible again after exactly `after`.
    RetryAfter { after: Duration, class: &'static str, message: String },
    /// Retrying cannot help: the message goes to the dead-letter queue with
    /// the class and message attached.
    Permanent { class: &'static str, message: String },
}

impl JobError {
    /// A transient failure of class `"transient"`.
    pub fn retryable(message: impl fmt::Display) -> Self {
        Self::Retryable { class: "transient", message: message.to_string() }
    }

    /// A transient failure with a specific class.
    pub fn retryable_as(class: &'static str, message: impl fmt::Display) -> Self {
        Self::Retryable { class, message: message.to_string() }
    }

    /// A failure to retry after exactly `after`.
    pub fn retry_after(after: Duration, message: impl fmt::Display) -> Self {
        Self::RetryAfter { after, class: "retry_after", message: message.to_string() }
    }

    /// A failure retrying cannot fix.
    pub fn permanent(class: &'static str, message: impl fmt::Display) -> Self {
        Self::Permanent { class, message: message.to_string() }
    }

    pub fn class(&self) -> &'static str {
        match self {
            Self::Retryable { class, .. } | Self::RetryAfter { class, .. } | Self::Permanent { class, .. } => class,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Self::Retryable { message, .. } | Self::RetryAfter { message, .. } | Self::Permanent { message, .. } => message,
        }
    }

    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Permanent { .. })
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Retryable { class, message } => write!(f, "retryable ({class}): {message}"),
            Self::RetryAfter { after, class, message } => {
                write!(f, "retry after {}s ({class}): {message}", after.as_secs())
            }
            Self::Permanent { class, message } => write!(f, "permanent ({class}): {message}"),
        }
    }
}

impl std::error::Error for JobError {}
