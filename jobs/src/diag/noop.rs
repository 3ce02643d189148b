use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Job, JobContext, JobError, Pool};

/// `diag.noop`: does nothing, successfully. The load tests' unit of work.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Noop {}

impl Job for Noop {
    const TYPE: &'static str = "diag.noop";
    const POOL: Option<Pool> = None;
}

pub async fn noop(_job: Noop, _ctx: JobContext) -> Result<(), JobError> {
    Ok(())
}
