//! The `diag.*` payloads (the handlers are in `diag`, feature `diag`).
//! `POOL` is `None`: every pool accepts them when `diag_enabled` is on.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use jobfleet_contract::{Job, Pool};

/// `diag.noop`: does nothing, successfully. The load tests' unit of work.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Noop {}

impl Job for Noop {
    const TYPE: &'static str = "diag.noop";
    const POOL: Option<Pool> = None;
}

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

/// `diag.fail {mode, times}`: fails in the given way on the first `times`
/// attempts (every attempt when `times` is absent), then succeeds.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Fail {
    pub mode: FailMode,
    #[serde(default)]
    pub times: Option<u32>,
    /// For `retry_after`: the delay the "peer" asks for.
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailMode {
    Retryable,
    RetryAfter,
    Permanent,
    Panic,
}

impl Job for Fail {
    const TYPE: &'static str = "diag.fail";
    const POOL: Option<Pool> = None;
}
