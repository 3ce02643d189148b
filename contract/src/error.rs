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

/// One line for a `std::error::Error` and its causes, joined by `": "`.
///
/// The one formatter every crate uses for logs, ledger messages and
/// operator lines: SDK and HTTP-client errors keep the useful part (code,
/// message, OS error) in their source chain, while their own `Display` is
/// often just "service error" or "error sending request". A cause whose
/// text the line already contains is skipped (many errors repeat their
/// source in their own message). The SDK's `DisplayErrorContext` is not
/// used for this: it appends the raw response's `Debug` dump.
pub fn error_chain(error: &(dyn std::error::Error + '_)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !part.is_empty() && !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::error_chain;

    #[derive(Debug, thiserror::Error)]
    #[error("service error")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("AccessDenied: not authorized")]
    struct Inner(#[source] std::io::Error);

    #[test]
    fn causes_are_joined_once_each() {
        let error = Outer(Inner(std::io::Error::other("connection reset")));
        assert_eq!(error_chain(&error), "service error: AccessDenied: not authorized: connection reset");
        #[derive(Debug, thiserror::Error)]
        #[error("wrapped: connection reset")]
        struct Repeats(#[source] std::io::Error);
        assert_eq!(error_chain(&Repeats(std::io::Error::other("connection reset"))), "wrapped: connection reset");
    }
}
