//! Errors for operators: one readable line, then a `hint:` line saying what
//! to check. The hint is advice only; nothing decides on its text.

use std::fmt;

use jobfleet_contract::Pool;
use serde::Serialize;

use jobfleet_runtime::sqs::{SqsError, SqsErrorKind};

/// Exit codes of the operator commands.
pub mod exit {
    /// A runtime failure (SQS, database), or some messages could not be moved.
    pub const FAILURE: u8 = 1;
    /// Bad input, or a destructive action refused for want of confirmation.
    pub const USAGE: u8 = 2;
    /// Stopped by SIGINT/SIGTERM after the current batch (128 + SIGINT).
    pub const INTERRUPTED: u8 = 130;
}

/// What failed, for callers that act on it (the console picks its HTTP
/// status and advice from it); the message and hint are for people only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Bad input, or a destructive action refused for want of confirmation.
    Usage,
    /// The thing asked for (a job, a message, a queue) is not there.
    NotFound,
    /// A pool's queue or dead-letter queue does not exist.
    QueueMissing,
    /// An SQS call failed (credentials, permissions, network, throttling).
    Sqs,
    /// Postgres (the ledger, the audit table) failed or is unreachable.
    Database,
    /// The action cannot run now (one already running, already finished).
    Conflict,
    /// Anything else.
    Failure,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpsError {
    pub message: String,
    pub hint: Option<String>,
    pub exit_code: u8,
    pub kind: ErrorKind,
}

impl fmt::Display for OpsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for OpsError {}

impl OpsError {
    pub fn usage(message: impl Into<String>) -> Self {
        Self { message: message.into(), hint: None, exit_code: exit::USAGE, kind: ErrorKind::Usage }
    }

    pub fn failure(message: impl Into<String>) -> Self {
        Self { message: message.into(), hint: None, exit_code: exit::FAILURE, kind: ErrorKind::Failure }
    }

    /// The same error, classified as `kind`.
    pub fn kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::failure(message).kind(ErrorKind::NotFound)
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// A queue SQS says does not exist: which name was tried and how names are made.
    pub fn queue_missing(name: &str, pool: Pool, env: &str) -> Self {
        Self::failure(format!("queue {name} does not exist (pool {pool}, env {env})")).kind(ErrorKind::QueueMissing).hint(format!(
            "pools map to queues <env>-jobfleet-<pool> and <env>-jobfleet-<pool>-dlq; the env is JOBFLEET_ENV (now {env:?}); \
             check AWS_REGION/AWS_ENDPOINT_URL point at the right account, or set JOBFLEET_QUEUE_URL / JOBFLEET_DLQ_URL"
        ))
    }

    /// Any other SQS failure, with a hint chosen by the error's kind.
    pub fn sqs(error: &SqsError) -> Self {
        let message = SqsError { message: readable(&error.message).to_owned(), ..error.clone() };
        let kind = match error.kind {
            SqsErrorKind::NotFound => ErrorKind::QueueMissing,
            _ => ErrorKind::Sqs,
        };
        Self::failure(message.to_string()).kind(kind).hint(sqs_hint(error))
    }

    pub fn database(what: &str, error: impl fmt::Display, url: &str) -> Self {
        Self::failure(format!("{what}: {error}")).kind(ErrorKind::Database).hint(format!(
            "operator actions are audited in Postgres table dlq_audit; check DATABASE_URL / JOBFLEET_DATABASE_URL (now {}) \
             and that `worker migrate` has run",
            redact_url(url)
        ))
    }
}

impl From<SqsError> for OpsError {
    fn from(error: SqsError) -> Self {
        Self::sqs(&error)
    }
}

/// Where the SDK is pointed, for hints.
pub fn endpoint_description() -> String {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => format!("AWS_ENDPOINT_URL={url}"),
        _ => "the default AWS endpoint (AWS_ENDPOINT_URL unset)".to_owned(),
    }
}

fn sqs_hint(error: &SqsError) -> String {
    match error.kind {
        SqsErrorKind::Credentials => "no usable AWS credentials: set AWS_PROFILE (a profile in ~/.aws/config) or AWS_ACCESS_KEY_ID and \
                AWS_SECRET_ACCESS_KEY (the local stack accepts test/test); in the cluster, run with the pool's ServiceAccount"
            .to_owned(),
        SqsErrorKind::Denied => format!(
            "the credentials lack {} on {}: use the pool's role (its ServiceAccount) or an operator role with \
             sqs:ReceiveMessage, SendMessage, DeleteMessage, ChangeMessageVisibility, GetQueueAttributes, PurgeQueue",
            error.iam_action(),
            error.queue
        ),
        SqsErrorKind::NotFound => format!(
            "queues are named <env>-jobfleet-<pool> and <env>-jobfleet-<pool>-dlq (JOBFLEET_ENV); check AWS_REGION and {} \
             point at the account that has them, or set JOBFLEET_QUEUE_URL / JOBFLEET_DLQ_URL",
            endpoint_description()
        ),
        SqsErrorKind::Unreachable => format!(
            "cannot reach SQS at {}: check AWS_ENDPOINT_URL (locally http://127.0.0.1:4566 — is `make stack-up` running?) and AWS_REGION",
            endpoint_description()
        ),
        SqsErrorKind::Throttled => "SQS is throttling these calls: wait and run the command again, or lower its rate".to_owned(),
        SqsErrorKind::Transient | SqsErrorKind::Invalid => format!(
            "check AWS_REGION, AWS_ENDPOINT_URL and credentials (AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY); now using {}",
            endpoint_description()
        ),
    }
}

/// The SDK's error text ends with a Debug dump of the error value
/// (` (DispatchFailure(DispatchFailure { … }))`): useful in logs, noise in
/// an operator's one line. Cuts from the first ` (` that opens such a dump.
fn readable(message: &str) -> &str {
    let bytes = message.as_bytes();
    let mut from = 0;
    while let Some(at) = message[from..].find(" (").map(|i| i + from) {
        let rest = &message[at + 2..];
        let ident = rest.chars().take_while(|c| c.is_ascii_alphanumeric()).count();
        let opens_dump =
            rest.starts_with(|c: char| c.is_ascii_uppercase()) && rest[ident..].starts_with(['(', ' ']) && rest[ident..].contains('{');
        if opens_dump && bytes.last() == Some(&b')') {
            return message[..at].trim_end();
        }
        from = at + 2;
    }
    message
}

/// `postgres://user:secret@host/db` → `postgres://user@host/db`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    match rest.split_once('@') {
        Some((auth, host)) => {
            let user = auth.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_one_line_plus_a_hint() {
        let e = OpsError::queue_missing("local-jobfleet-ai-dlq", Pool::AI, "local");
        let text = e.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].contains("local-jobfleet-ai-dlq"));
        assert!(lines[1].starts_with("  hint: ") && lines[1].contains("<env>-jobfleet-<pool>"));
    }

    fn sqs(kind: SqsErrorKind, message: &str) -> SqsError {
        SqsError::new("GetQueueUrl", kind, "local-jobfleet-media", message)
    }

    #[test]
    fn sqs_hints_follow_the_kind_not_the_text() {
        // The text says "credentials", the kind says unreachable: the kind wins.
        let net = OpsError::sqs(&sqs(SqsErrorKind::Unreachable, "failed to load credentials"));
        assert!(net.to_string().contains("cannot reach SQS"), "{net}");
        let creds = OpsError::sqs(&sqs(SqsErrorKind::Credentials, "weird"));
        assert!(creds.to_string().contains("AWS_PROFILE"), "{creds}");
        let denied = OpsError::sqs(&SqsError::new("SendMessageBatch", SqsErrorKind::Denied, "local-jobfleet-ai", "AccessDenied"));
        assert!(denied.to_string().contains("sqs:SendMessage on local-jobfleet-ai"), "{denied}");
        let missing = OpsError::sqs(&sqs(SqsErrorKind::NotFound, "weird"));
        assert!(missing.to_string().contains("JOBFLEET_QUEUE_URL"), "{missing}");
        let other = OpsError::sqs(&sqs(SqsErrorKind::Invalid, "access denied"));
        assert!(other.to_string().contains("AWS_REGION") && !other.to_string().contains("lack"), "{other}");
    }

    #[test]
    fn the_sdk_debug_dump_is_cut_from_the_line() {
        let raw = "dispatch failure: io error: client error (Connect): tcp connect error: Connection refused (os error 111) \
                   (DispatchFailure(DispatchFailure { source: ConnectorError { kind: Io } }))";
        assert_eq!(
            readable(raw),
            "dispatch failure: io error: client error (Connect): tcp connect error: Connection refused (os error 111)"
        );
        assert_eq!(readable("service error: QueueDoesNotExist"), "service error: QueueDoesNotExist");
        let e = OpsError::sqs(&SqsError::new("GetQueueUrl", SqsErrorKind::Unreachable, "local-jobfleet-media", raw));
        assert_eq!(e.to_string().lines().count(), 2);
        assert!(e.to_string().starts_with("SQS GetQueueUrl on local-jobfleet-media failed: dispatch failure"), "{e}");
    }

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(redact_url("postgres://app:s3cret@db:5432/jobfleet"), "postgres://app@db:5432/jobfleet");
        assert_eq!(redact_url("postgres://postgres@127.0.0.1/jobfleet"), "postgres://postgres@127.0.0.1/jobfleet");
    }
}
