use std::time::Duration;

use jobfleet_contract::{JobContext, JobError};

use crate::payloads::diag::{Fail, FailMode};

/// Runs `diag.fail`.
pub async fn fail(job: Fail, ctx: JobContext) -> Result<serde_json::Value, JobError> {
    if job.times.is_some_and(|times| ctx.attempt > times) {
        return Ok(serde_json::json!({ "succeeded_on_attempt": ctx.attempt }));
    }
    let attempt = ctx.attempt;
    match job.mode {
        FailMode::Retryable => Err(JobError::retryable_as("diag_retryable", format!("asked to fail (attempt {attempt})"))),
        FailMode::RetryAfter => Err(JobError::retry_after(
            Duration::from_secs(job.retry_after_secs.unwrap_or(1)),
            format!("asked to retry later (attempt {attempt})"),
        )),
        FailMode::Permanent => Err(JobError::permanent("diag_permanent", format!("asked to fail (attempt {attempt})"))),
        FailMode::Panic => panic!("diag.fail asked to panic (attempt {attempt})"),
    }
}

#[cfg(test)]
mod tests {
    use jobfleet_contract::Pool;

    use super::*;

    #[tokio::test]
    async fn fails_for_the_first_times_attempts_then_succeeds() {
        let job = Fail { mode: FailMode::Permanent, times: Some(2), retry_after_secs: None };
        let mut ctx = JobContext::for_test(Pool::MEDIA);
        for attempt in 1..=2 {
            ctx.attempt = attempt;
            let err = fail(job.clone(), ctx.clone()).await.expect_err("fails");
            assert_eq!(err.class(), "diag_permanent");
        }
        ctx.attempt = 3;
        assert!(fail(job, ctx).await.is_ok());
    }

    #[tokio::test]
    async fn retry_after_carries_the_requested_delay() {
        let job = Fail { mode: FailMode::RetryAfter, times: None, retry_after_secs: Some(7) };
        let err = fail(job, JobContext::for_test(Pool::AI)).await.expect_err("fails");
        assert!(matches!(err, JobError::RetryAfter { after, .. } if after == Duration::from_secs(7)));
    }
}
