use jobfleet_contract::{JobContext, JobError};

use crate::payloads::diag::Noop;

/// Runs `diag.noop`.
pub async fn noop(_job: Noop, _ctx: JobContext) -> Result<(), JobError> {
    Ok(())
}
