//! The verdict on one run of a job, decided once.
//!
//! Before this module the outcome of a run was classified four times (the
//! metrics layer, the log line, the retry budget and the processor's ack),
//! and the copies could disagree — e.g. on whether a timeout on the last
//! attempt was a retry or a death. Now the [`judge`](super::middleware::judge)
//! layer turns the handler's result into a [`Verdict`] with [`RetryPolicy::judge`],
//! and everything after it reads that value: the metrics and the log line
//! (its outcome), the ledger (its status and error), SQS (its action).

use std::time::{Duration, Instant};

use jobfleet_contract::JobError;
use serde_json::Value;

use super::Failure;
use crate::config::MAX_VISIBILITY_SECS;
use crate::sqs::visibility::retry_delay_secs;
use crate::store::JobStatus;
use crate::telemetry::Outcome;

/// What becomes of a run, and so of its message.
#[derive(Debug)]
pub enum Verdict {
    /// Record the result; delete the message.
    Succeeded(Value),
    /// Record `retrying`; the message becomes visible again after `after_secs`.
    Retry { failure: Failure, after_secs: u32 },
    /// A permanent failure: record `failed`; dead-letter with the reason.
    Failed(Failure),
    /// A retryable failure on the last allowed attempt: record `dead`;
    /// dead-letter with the last error as the reason.
    Exhausted { attempts: u32, last: Failure },
}

impl Verdict {
    /// The `outcome` label of the job metrics.
    pub fn outcome(&self) -> Outcome {
        match self {
            Verdict::Succeeded(_) => Outcome::Success,
            Verdict::Retry { failure: Failure::Timeout(_), .. } => Outcome::Timeout,
            Verdict::Retry { .. } => Outcome::Retry,
            Verdict::Failed(_) => Outcome::Failed,
            Verdict::Exhausted { .. } => Outcome::Dead,
        }
    }

    /// The ledger status the run ends in.
    pub fn status(&self) -> JobStatus {
        match self {
            Verdict::Succeeded(_) => JobStatus::Succeeded,
            Verdict::Retry { .. } => JobStatus::Retrying,
            Verdict::Failed(_) => JobStatus::Failed,
            Verdict::Exhausted { .. } => JobStatus::Dead,
        }
    }

    /// Stable class for the ledger and the DLQ's `error_class` attribute.
    pub fn error_class(&self) -> Option<&'static str> {
        match self {
            Verdict::Succeeded(_) => None,
            Verdict::Retry { failure, .. } | Verdict::Failed(failure) => Some(failure.class()),
            Verdict::Exhausted { .. } => Some("max_attempts_exceeded"),
        }
    }

    pub fn error_message(&self) -> Option<String> {
        match self {
            Verdict::Succeeded(_) => None,
            Verdict::Retry { failure, .. } | Verdict::Failed(failure) => Some(failure.message()),
            Verdict::Exhausted { attempts, last } => {
                Some(format!("gave up after {attempts} attempts; last error ({}): {}", last.class(), last.message()))
            }
        }
    }

    /// The `kind` label of `jobfleet_job_retries_total`, for a retry.
    pub fn retry_kind(&self) -> Option<&'static str> {
        let Verdict::Retry { failure, .. } = self else { return None };
        Some(match failure {
            Failure::Job(JobError::RetryAfter { .. }) => "retry_after",
            Failure::Job(_) => "retryable",
            Failure::Timeout(_) => "timeout",
            Failure::Panic(_) => "panic",
        })
    }
}

/// How many runs a job gets and how long it waits between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay_secs: u64,
    pub max_delay_secs: u64,
}

impl RetryPolicy {
    /// The verdict on `attempt` (1-based, counted as in
    /// `runtime::process::budget_attempt`) of a message received at
    /// `received`. `unit_random` ∈ [0, 1) is the backoff's jitter.
    pub fn judge(&self, result: Result<Value, Failure>, attempt: u32, received: Instant, unit_random: f64) -> Verdict {
        let failure = match result {
            Ok(value) => return Verdict::Succeeded(value),
            Err(failure) if !failure.is_retryable() => return Verdict::Failed(failure),
            Err(failure) if attempt >= self.max_attempts => return Verdict::Exhausted { attempts: attempt, last: failure },
            Err(failure) => failure,
        };
        let after_secs = match &failure {
            // The handler's own wait, but SQS refuses a visibility beyond 12 h
            // after receive.
            Failure::Job(JobError::RetryAfter { after, .. }) => {
                let remaining = Duration::from_secs(MAX_VISIBILITY_SECS).saturating_sub(received.elapsed());
                (*after).min(remaining).as_secs()
            }
            _ => retry_delay_secs(attempt, self.base_delay_secs, self.max_delay_secs, unit_random),
        };
        Verdict::Retry { failure, after_secs: u32::try_from(after_secs).unwrap_or(u32::MAX) }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const POLICY: RetryPolicy = RetryPolicy { max_attempts: 3, base_delay_secs: 2, max_delay_secs: 60 };

    fn judge(result: Result<Value, Failure>, attempt: u32) -> Verdict {
        POLICY.judge(result, attempt, Instant::now(), 0.5)
    }

    #[test]
    fn each_result_gets_one_verdict_with_matching_outcome_status_and_action() {
        let ok = judge(Ok(json!(1)), 1);
        assert_eq!((ok.outcome(), ok.status(), ok.error_class()), (Outcome::Success, JobStatus::Succeeded, None));

        let permanent = judge(Err(Failure::Job(JobError::permanent("bad_input", "no"))), 1);
        assert_eq!((permanent.outcome(), permanent.status()), (Outcome::Failed, JobStatus::Failed));
        assert_eq!(permanent.error_class(), Some("bad_input"));

        let retry = judge(Err(Failure::Job(JobError::retryable("flaky"))), 2);
        assert!(matches!(retry, Verdict::Retry { after_secs: 2, .. }), "{retry:?}");
        assert_eq!((retry.outcome(), retry.status(), retry.retry_kind()), (Outcome::Retry, JobStatus::Retrying, Some("retryable")));
    }

    #[test]
    fn a_timeout_retries_as_timeout_until_the_last_attempt_where_it_is_dead() {
        let limit = Duration::from_secs(5);
        let early = judge(Err(Failure::Timeout(limit)), 1);
        assert_eq!((early.outcome(), early.retry_kind()), (Outcome::Timeout, Some("timeout")));
        let last = judge(Err(Failure::Timeout(limit)), 3);
        assert_eq!((last.outcome(), last.status(), last.retry_kind()), (Outcome::Dead, JobStatus::Dead, None));
        assert_eq!(last.error_class(), Some("max_attempts_exceeded"));
        assert!(last.error_message().is_some_and(|m| m.contains("gave up after 3 attempts; last error (timeout)")));
    }

    #[test]
    fn a_permanent_failure_on_the_last_attempt_keeps_its_own_class() {
        let verdict = judge(Err(Failure::Job(JobError::permanent("bad_input", "no"))), 3);
        assert_eq!(verdict.error_class(), Some("bad_input"));
    }

    #[test]
    fn retry_after_is_honoured_but_never_past_twelve_hours_from_receive() {
        let after = |secs| Err(Failure::Job(JobError::retry_after(Duration::from_secs(secs), "slow down")));
        let verdict = judge(after(90), 1);
        assert!(matches!(verdict, Verdict::Retry { after_secs: 90, .. }), "{verdict:?}");
        assert_eq!(verdict.retry_kind(), Some("retry_after"));
        let capped = judge(after(MAX_VISIBILITY_SECS + 100), 1);
        assert!(matches!(capped, Verdict::Retry { after_secs, .. } if u64::from(after_secs) <= MAX_VISIBILITY_SECS), "{capped:?}");
    }
}
