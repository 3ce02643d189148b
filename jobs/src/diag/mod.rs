//! Diagnostic job types, accepted by every pool when `diag_enabled` is set:
//! they exercise the runtime's paths (success, slow work, every failure kind)
//! without touching any external system, for tests, demos and load tests.

mod fail;
mod noop;
mod sleep;

pub use fail::{Fail, FailMode, fail};
pub use noop::{Noop, noop};
pub use sleep::{Sleep, sleep};
