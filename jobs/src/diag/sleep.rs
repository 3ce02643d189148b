use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Job, JobContext, JobError, Pool};

/// `diag.sleep {ms}`: a job that takes `ms` milliseconds, for heartbeat,
/// timeout, concurrency and drain behaviour.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Sleep {
    pub ms: u64,
}

impl Job for Sleep {
    const TYPE: &'static str = "diag.sleep";
    const POOL: Option<Pool> = None;
}

pub async fn sleep(job: Sleep, ctx: JobContext) -> Result<serde_json::Value, JobError> {
    tokio::select! {
        () = tokio::time::sleep(Duration::from_millis(job.ms)) => Ok(serde_json::json!({ "slept_ms": job.ms })),
        () = ctx.cancel.cancelled() => Err(JobError::retryable_as("cancelled", "worker stopping")),
    }
}
