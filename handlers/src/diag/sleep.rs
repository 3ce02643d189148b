use std::time::Duration;

use jobfleet_contract::{JobContext, JobError};

use crate::payloads::diag::Sleep;

/// Runs `diag.sleep`; a stopping worker cuts the sleep short (retryable).
pub async fn sleep(job: Sleep, ctx: JobContext) -> Result<serde_json::Value, JobError> {
    tokio::select! {
        () = tokio::time::sleep(Duration::from_millis(job.ms)) => Ok(serde_json::json!({ "slept_ms": job.ms })),
        () = ctx.cancel.cancelled() => Err(JobError::retryable_as("cancelled", "worker stopping")),
    }
}
